/*
 * floq_sign_tool.c - command signatures from the shell, for the signing
 * cross-check with another implementation (tests/unit/test_signing.sh)
 * and the integration test that forges commands (0212):
 *
 *   floq_sign_tool sign KEYS [KEY_ID]   Command JSON on stdin -> signed
 *                                       single-object bytes on stdout
 *   floq_sign_tool verify KEYS [-r]     Command bytes on stdin -> prints
 *                                       VALID, UNSIGNED or UNKNOWN_KEY
 *                                       (-r: security.require.signature)
 *
 * KEYS is a keys file (key-id=hex-secret lines, mode 600). Exit status 0
 * on success, 1 when the signature is refused or on a codec error (the
 * reason on stderr), 2 on usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "floq_schemas.h"

#define MAX_MSG (1024 * 1024)

static unsigned char *slurp(size_t *lenp) {
        unsigned char *buf = malloc(MAX_MSG + 1);
        size_t n;

        if (!buf)
                return NULL;
        n = fread(buf, 1, MAX_MSG + 1, stdin);
        if (n > MAX_MSG) {
                free(buf);
                return NULL;
        }
        buf[n] = '\0';
        *lenp = n;
        return buf;
}

int main(int argc, char **argv) {
        static const char *const names[] = {"VALID", "UNSIGNED",
                                            "UNKNOWN_KEY", "BAD"};
        floq_keyring_t *keys = NULL;
        floq_codec_t *codec = NULL;
        unsigned char *in = NULL;
        void *out = NULL;
        json_t *cmd = NULL;
        char errstr[512];
        floq_sig_status_t st;
        size_t len = 0, out_len = 0;
        floq_err_t err;
        int rc = 1;

        if (argc < 3 || argc > 4 ||
            (strcmp(argv[1], "sign") && strcmp(argv[1], "verify")) ||
            (!strcmp(argv[1], "verify") && argc == 4 &&
             strcmp(argv[3], "-r"))) {
                fprintf(stderr, "usage: floq_sign_tool sign KEYS [KEY_ID] "
                                "| verify KEYS [-r]\n");
                return 2;
        }
        if (!(keys = floq_keyring_new()) ||
            floq_keyring_load(keys, argv[2], errstr, sizeof(errstr)) ||
            !(codec = floq_codec_new(MAX_MSG, errstr, sizeof(errstr))) ||
            !(in = slurp(&len))) {
                fprintf(stderr, "floq_sign_tool: %s\n", errstr);
                goto out;
        }
        if (!strcmp(argv[1], "sign")) {
                json_error_t jerr;

                if (!(cmd = json_loadb((const char *)in, len, 0, &jerr))) {
                        fprintf(stderr, "floq_sign_tool: bad JSON: %s\n",
                                jerr.text);
                        goto out;
                }
                err = floq_command_encode_signed(codec, keys,
                                                 argc == 4 ? argv[3] : NULL,
                                                 cmd, &out, &out_len, errstr,
                                                 sizeof(errstr));
                if (err) {
                        fprintf(stderr, "floq_sign_tool: %s: %s\n",
                                floq_err_name(err), errstr);
                        goto out;
                }
                fwrite(out, 1, out_len, stdout);
                rc = 0;
                goto out;
        }
        err = floq_command_verify(codec, keys, in, len, argc == 4, &st,
                                  errstr, sizeof(errstr));
        if (err) {
                fprintf(stderr, "floq_sign_tool: %s: %s\n",
                        floq_err_name(err), errstr);
                goto out;
        }
        printf("%s\n", names[st]);
        rc = 0;
out:
        json_decref(cmd);
        free(out);
        free(in);
        floq_codec_destroy(codec);
        floq_keyring_destroy(keys);
        return rc;
}
