/*
 * fuzz_codec.c - libFuzzer target for the codec's decoders: the framing,
 * the bounded walker, avro-c's read of walked bytes, the JSON conversion,
 * resolution to the reader's schema, and the schema parser with the
 * canonical form. The first input byte picks what to feed: its low bits a
 * message type, its top bit the schema parser instead. A message that
 * decodes must encode again and decode to the same value. Every type
 * has a Confluent schema id (100 + type; the old Command writer has 1), so
 * both framings reach every record type. `make fuzz` builds and runs it
 * (tests/fuzz/fuzz.mk, docs/fuzzing.md); `make fuzz-replay` links it with
 * tests/fuzz/replay.c under gcc to replay tests/fuzz/corpus/codec/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "floq_schemas.h"

#define FUZZ_MAX_MSG (256 * 1024)

/* An older Command the codec resolves from, so resolution gets fuzzed. */
static const char old_command[] =
        "{\"type\":\"record\",\"name\":\"Command\",\"namespace\":\"io.floq."
        "v1\",\"fields\":[{\"name\":\"command_id\",\"type\":\"string\"},"
        "{\"name\":\"issued_at\",\"type\":\"int\"},"
        "{\"name\":\"deployment\",\"type\":\"string\"},"
        "{\"name\":\"body\",\"type\":[{\"type\":\"record\",\"name\":"
        "\"RunBody\",\"fields\":[{\"name\":\"params\",\"type\":{\"type\":"
        "\"map\",\"values\":\"string\"}}]},{\"type\":\"record\",\"name\":"
        "\"StopBody\",\"fields\":[{\"name\":\"run_id\",\"type\":[\"null\","
        "\"string\"]}]}]}]}";

static floq_codec_t *fuzz_codec(void) {
        static floq_codec_t *codec;
        char errstr[256] = "";
        int t;

        if (!codec) {
                codec = floq_codec_new(FUZZ_MAX_MSG, errstr, sizeof(errstr));
                if (!codec ||
                    floq_codec_add_writer_schema(codec, FLOQ_MSG_COMMAND,
                                                 old_command, 1, errstr,
                                                 sizeof(errstr))) {
                        fprintf(stderr, "fuzz_codec: %s\n", errstr);
                        abort();
                }
                for (t = 0; t < FLOQ_MSG__CNT; t++) {
                        if (floq_codec_set_registry_id(
                                    codec, (floq_msg_type_t)t, 100 + t, 0)) {
                                fprintf(stderr, "fuzz_codec: cannot set "
                                                "registry id %d\n",
                                        100 + t);
                                abort();
                        }
                }
        }
        return codec;
}

static void fuzz_schema(const uint8_t *data, size_t size) {
        char errstr[256];
        char *text = malloc(size + 1), *pcf, *again;

        if (!text)
                return;
        memcpy(text, data, size);
        text[size] = '\0';
        pcf = floq_avro_canonical_form(text, errstr, sizeof(errstr));
        if (pcf) {
                /* the canonical form is a fixed point */
                again = floq_avro_canonical_form(pcf, errstr, sizeof(errstr));
                if (!again || strcmp(again, pcf))
                        abort();
                free(again);
                (void)floq_avro_fingerprint64(pcf, strlen(pcf));
        }
        free(pcf);
        free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        floq_codec_t *codec = fuzz_codec();
        floq_msg_type_t type;
        json_t *msg = NULL, *again = NULL;
        char errstr[256];
        void *buf = NULL;
        size_t len;

        if (size < 1)
                return 0;
        if (data[0] & 0x80) {
                fuzz_schema(data + 1, size - 1);
                return 0;
        }
        type = (floq_msg_type_t)(data[0] % FLOQ_MSG__CNT);
        (void)floq_codec_peek_type(codec, data + 1, size - 1);
        if (floq_codec_decode(codec, type, data + 1, size - 1, &msg, errstr,
                              sizeof(errstr)))
                return 0;
        /* what decodes is a value of the reader schema: it must encode,
         * and decode to itself */
        if (floq_codec_encode(codec, type, msg, &buf, &len, errstr,
                              sizeof(errstr)) ||
            floq_codec_decode(codec, type, buf, len, &again, errstr,
                              sizeof(errstr)) ||
            !json_equal(msg, again)) {
                fprintf(stderr, "fuzz_codec: round trip broke: %s\n", errstr);
                abort();
        }
        json_decref(again);
        json_decref(msg);
        free(buf);
        return 0;
}
