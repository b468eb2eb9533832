/*
 * fuzz_codec.c - libFuzzer target for the codec's decoders: the framing,
 * the bounded walker, avro-c's read of walked bytes, the JSON conversion,
 * resolution to the reader's schema, and the schema parser with the
 * canonical form. The first input byte picks what to feed: its low bits a
 * message type, its top bit the schema parser instead. A message that
 * decodes must encode again and decode to the same value. Command bytes
 * also go through signature verification (schemas/sign.c, which walks the
 * untrusted bytes to find the signature's span); a Command that decodes
 * is signed and must then verify, and fail to once a byte it covers
 * changes. Every type
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

static floq_keyring_t *fuzz_keys(void) {
        static floq_keyring_t *keys;
        static const char secret[] = "fuzz-secret-0123456789abcdef";
        char errstr[256] = "";

        if (!keys && (!(keys = floq_keyring_new()) ||
                      floq_keyring_add(keys, "k1", secret, sizeof(secret) - 1,
                                       errstr, sizeof(errstr)) ||
                      floq_keyring_set_signer(keys, "k1", errstr,
                                              sizeof(errstr)))) {
                fprintf(stderr, "fuzz_codec: keyring: %s\n", errstr);
                abort();
        }
        return keys;
}

/* A decoded Command signed with the fuzz key verifies; with its last
 * byte (in the body, covered by the MAC) changed it does not. */
static void fuzz_sign_round_trip(floq_codec_t *codec, json_t *cmd) {
        floq_sig_status_t st;
        char errstr[256];
        unsigned char *buf = NULL;
        size_t len = 0;

        if (floq_command_encode_signed(codec, fuzz_keys(), NULL, cmd,
                                       (void **)&buf, &len, errstr,
                                       sizeof(errstr)))
                return; /* e.g. larger than the codec's bound once signed */
        if (floq_command_verify(codec, fuzz_keys(), buf, len, 1, &st, errstr,
                                sizeof(errstr)) ||
            st != FLOQ_SIG_VALID) {
                fprintf(stderr, "fuzz_codec: own signature refused: %s\n",
                        errstr);
                abort();
        }
        buf[len - 1] ^= 1;
        if (!floq_command_verify(codec, fuzz_keys(), buf, len, 1, &st,
                                 errstr, sizeof(errstr))) {
                fprintf(stderr, "fuzz_codec: a changed MAC verified\n");
                abort();
        }
        free(buf);
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
        if (type == FLOQ_MSG_COMMAND) {
                floq_sig_status_t st;

                (void)floq_command_verify(codec, fuzz_keys(), data + 1,
                                          size - 1, 1, &st, errstr,
                                          sizeof(errstr));
        }
        if (floq_codec_decode(codec, type, data + 1, size - 1, &msg, errstr,
                              sizeof(errstr)))
                return 0;
        if (type == FLOQ_MSG_COMMAND)
                fuzz_sign_round_trip(codec, msg);
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
