/*
 * fuzz_codec.c - libFuzzer target for the codec's decoders: the framing,
 * the bounded walker, avro-c's read of walked bytes, the JSON conversion,
 * resolution to the reader's schema, and the schema parser with the
 * canonical form. The first input byte picks what to feed: its low bits a
 * message type, its top bit the schema parser instead. A message that
 * decodes must encode again and decode to the same value. Not built by
 * `make`; see docs/codec.md for the clang command line. Built with
 * -DFLOQ_FUZZ_STANDALONE it gets a main() that replays the files given as
 * arguments, for reproducing a crash without libFuzzer.
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
        char errstr[256];

        if (!codec) {
                codec = floq_codec_new(FUZZ_MAX_MSG, errstr, sizeof(errstr));
                if (!codec ||
                    floq_codec_add_writer_schema(codec, FLOQ_MSG_COMMAND,
                                                 old_command, 1, errstr,
                                                 sizeof(errstr)) ||
                    floq_codec_set_registry_id(codec, FLOQ_MSG_REPLY, 2, 0)) {
                        fprintf(stderr, "fuzz_codec: %s\n", errstr);
                        abort();
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

#ifdef FLOQ_FUZZ_STANDALONE
int main(int argc, char **argv) {
        int i;

        for (i = 1; i < argc; i++) {
                FILE *fp = fopen(argv[i], "rb");
                uint8_t *data;
                long size;

                if (!fp) {
                        fprintf(stderr, "fuzz_codec: cannot open '%s'\n",
                                argv[i]);
                        return 1;
                }
                fseek(fp, 0, SEEK_END);
                size = ftell(fp);
                rewind(fp);
                data = malloc(size > 0 ? (size_t)size : 1);
                if (!data || fread(data, 1, (size_t)size, fp) != (size_t)size)
                        return 1;
                fclose(fp);
                LLVMFuzzerTestOneInput(data, (size_t)size);
                free(data);
        }
        return 0;
}
#endif
