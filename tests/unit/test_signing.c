/*
 * test_signing.c - command signatures (schemas/sign.c, G4). The signed
 * bytes M0 are the message value with key_id set and signature null; a
 * verifier rebuilds M0 from the received bytes by splicing the signature
 * union's null branch in (no re-encoding). The cases check: a sign/verify
 * round trip; that flipping any single bit of any byte of a signed message
 * makes verification fail; a wrong secret, an unknown key id (refused when
 * signatures are required, let through as unsigned otherwise), a forgery
 * under a known key refused even when signatures are not required;
 * rotation (two keys, either verifies, the signer picks one); the keys-file
 * parser's errors (file:line, never the secret) and its mode check; the
 * configuration glue; messages of the older writer schema Command.v1 and in
 * Confluent framing verify; malformed signatures (no key id, wrong length);
 * key scopes (deployments= globs, kinds=): the keys-file syntax, old
 * lines unchanged, the refusal naming key and rule and never the secret,
 * rotation with a scoped key.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "floq_common.h"
#include "floq_schemas.h"
#include "test_util.h"

#define MAX_MSG (1024 * 1024)

static const unsigned char secret_a[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char secret_b[20] = "BBBBBBBBBBBBBBBBBBBB";
static const unsigned char secret_c[16] = "cccccccccccccccc";

static char errstr[512];
static floq_codec_t *codec;
/* What the cases work on: setup makes the sample command, a case the
 * verifiers' keyring and the message under test, and teardown releases
 * whatever of the three there is. */
static json_t *cmd;
static floq_keyring_t *keys;
static void *buf;
static size_t len;
static floq_sig_status_t st;

static json_t *sample(void) {
        json_error_t jerr;
        json_t *j = json_loads(
                "{\"command_id\":\"0c5e1f1e-8d9a-4a55-9a51-1b2c3d4e5f60\","
                "\"correlation_id\":\"corr\",\"issued_at\":1700000000000,"
                "\"expires_at\":1700000060000,\"deployment\":\"etl\","
                "\"idempotency_key\":\"k-1\",\"body\":{\"RunBody\":{"
                "\"params\":{\"a\":\"1\",\"who\":\"world\"},"
                "\"timeout_ms\":5000}}}", 0, &jerr);

        ck_assert_msg(j, "%s", jerr.text);
        return j;
}

static void setup(void) {
        codec = floq_codec_new(MAX_MSG, errstr, sizeof(errstr));
        ck_assert_msg(codec, "%s", errstr);
        cmd = sample();
}

static void teardown(void) {
        json_decref(cmd);
        cmd = NULL;
        floq_keyring_destroy(keys);
        keys = NULL;
        free(buf);
        buf = NULL;
        floq_codec_destroy(codec);
}

/* A keyring of the keys named in @p ids ("AB": keys A and B). */
static floq_keyring_t *ring(const char *ids) {
        floq_keyring_t *kr = floq_keyring_new();

        ck_assert_ptr_nonnull(kr);
        for (; *ids; ids++) {
                const unsigned char *s = *ids == 'A'   ? secret_a
                                         : *ids == 'B' ? secret_b
                                                       : secret_c;
                size_t n = *ids == 'A'   ? sizeof(secret_a)
                           : *ids == 'B' ? sizeof(secret_b)
                                         : sizeof(secret_c);
                char id[2] = {*ids, 0};

                ck_assert_int_eq(floq_keyring_add(kr, id, s, n, errstr,
                                                  sizeof(errstr)),
                                 FLOQ_OK);
        }
        return kr;
}

static void sign(floq_codec_t *c, const floq_keyring_t *signers,
                 const char *key_id, json_t *in, void **bufp,
                 size_t *lenp) {
        floq_err_t err = floq_command_encode_signed(c, signers, key_id, in,
                                                    bufp, lenp, errstr,
                                                    sizeof(errstr));

        ck_assert_msg(err == FLOQ_OK, "sign: %s", errstr);
}

static floq_err_t verify(const floq_keyring_t *verifiers, const void *msg,
                         size_t msg_len, int required,
                         floq_sig_status_t *stp) {
        errstr[0] = '\0';
        return floq_command_verify(codec, verifiers, msg, msg_len, required,
                                   stp, errstr, sizeof(errstr));
}

/* ------------------------------------------------------------------ cases */

START_TEST(round_trip) {
        json_t *dec = NULL;

        keys = ring("A");
        sign(codec, keys, NULL, cmd, &buf, &len);
        ck_assert_int_eq(verify(keys, buf, len, 1, &st), FLOQ_OK);
        ck_assert_int_eq(st, FLOQ_SIG_VALID);
        ck_assert_int_eq(verify(keys, buf, len, 0, &st), FLOQ_OK);
        ck_assert_int_eq(st, FLOQ_SIG_VALID);
        /* the caller's command is not modified; the message carries both */
        ck_assert(json_is_null(json_object_get(cmd, "key_id")) ||
                  !json_object_get(cmd, "key_id"));
        ck_assert_int_eq(floq_codec_decode(codec, FLOQ_MSG_COMMAND, buf, len,
                                           &dec, errstr, sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_str_eq(json_string_value(json_object_get(dec, "key_id")),
                         "A");
        ck_assert_uint_eq(strlen(json_string_value(
                                  json_object_get(dec, "signature"))),
                          64);
        ck_assert_str_eq(json_string_value(json_object_get(dec, "deployment")),
                         "etl");
        json_decref(dec);
}
END_TEST

/* Unsigned commands pass only when signatures are not required. */
START_TEST(unsigned_command) {
        keys = ring("A");
        ck_assert_int_eq(floq_codec_encode(codec, FLOQ_MSG_COMMAND, cmd, &buf,
                                           &len, errstr, sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(verify(keys, buf, len, 0, &st), FLOQ_OK);
        ck_assert_int_eq(st, FLOQ_SIG_UNSIGNED);
        ck_assert_int_eq(verify(keys, buf, len, 1, &st),
                         FLOQ_ERR_UNAUTHORIZED);
        ck_assert_ptr_nonnull(strstr(errstr, "not signed"));
        ck_assert_int_eq(verify(NULL, buf, len, 1, &st),
                         FLOQ_ERR_UNAUTHORIZED);
}
END_TEST

/* Any single changed bit anywhere (framing, fields, key id, signature)
 * fails verification. */
START_TEST(every_tampered_byte_fails) {
        unsigned char *b;
        size_t i;
        int bit;

        keys = ring("AB");
        sign(codec, keys, "A", cmd, &buf, &len);
        b = buf;
        for (i = 0; i < len; i++)
                for (bit = 0; bit < 8; bit++) {
                        b[i] ^= (unsigned char)(1u << bit);
                        ck_assert_msg(verify(keys, b, len, 1, &st) != FLOQ_OK,
                                      "byte %zu bit %d flipped: verified", i,
                                      bit);
                        b[i] ^= (unsigned char)(1u << bit);
                }
        /* dropping or adding a byte fails too */
        ck_assert_int_ne(verify(keys, b, len - 1, 1, &st), FLOQ_OK);
        ck_assert_int_eq(verify(keys, b, len, 1, &st), FLOQ_OK);
}
END_TEST

/* Same key id, another secret: refused even when signatures are not
 * required (a forgery under a known key). */
START_TEST(wrong_secret) {
        floq_keyring_t *signer = floq_keyring_new();

        keys = ring("A");
        ck_assert_int_eq(floq_keyring_add(signer, "A", secret_b,
                                          sizeof(secret_b), errstr,
                                          sizeof(errstr)),
                         FLOQ_OK);
        sign(codec, signer, NULL, cmd, &buf, &len);
        ck_assert_int_eq(verify(keys, buf, len, 1, &st),
                         FLOQ_ERR_UNAUTHORIZED);
        ck_assert_ptr_nonnull(strstr(errstr, "does not match"));
        ck_assert_ptr_nonnull(strstr(errstr, "'A'"));
        ck_assert_int_eq(verify(keys, buf, len, 0, &st),
                         FLOQ_ERR_UNAUTHORIZED);
        floq_keyring_destroy(signer);
}
END_TEST

START_TEST(unknown_key_id) {
        floq_keyring_t *signer = ring("C");

        keys = ring("AB");
        sign(codec, signer, NULL, cmd, &buf, &len);
        ck_assert_int_eq(verify(keys, buf, len, 1, &st),
                         FLOQ_ERR_UNAUTHORIZED);
        ck_assert_ptr_nonnull(strstr(errstr, "unknown key id 'C'"));
        /* not required: let through as unsigned, the status says why */
        ck_assert_int_eq(verify(keys, buf, len, 0, &st), FLOQ_OK);
        ck_assert_int_eq(st, FLOQ_SIG_UNKNOWN_KEY);
        ck_assert_int_eq(verify(NULL, buf, len, 1, &st),
                         FLOQ_ERR_UNAUTHORIZED);
        /* signing with a key the ring lacks is an error */
        ck_assert_int_eq(floq_command_encode_signed(codec, keys, "C", cmd,
                                                    &(void *){NULL}, &len,
                                                    errstr, sizeof(errstr)),
                         FLOQ_ERR_NOT_FOUND);
        floq_keyring_destroy(signer);
}
END_TEST

/* Verifiers know A and B; a signer with B only, or choosing B, verifies;
 * the default signer is the first key. */
START_TEST(rotation) {
        floq_keyring_t *new_only = ring("B");
        json_t *dec;

        keys = ring("AB");
        ck_assert_str_eq(floq_keyring_signer(keys), "A");
        ck_assert_int_eq(floq_keyring_set_signer(keys, "B", errstr,
                                                 sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_str_eq(floq_keyring_signer(keys), "B");
        ck_assert_int_eq(floq_keyring_set_signer(keys, "Z", errstr,
                                                 sizeof(errstr)),
                         FLOQ_ERR_NOT_FOUND);
        ck_assert_uint_eq(floq_keyring_cnt(keys), 2);

        sign(codec, new_only, NULL, cmd, &buf, &len);
        ck_assert_int_eq(verify(keys, buf, len, 1, &st), FLOQ_OK);
        ck_assert_int_eq(st, FLOQ_SIG_VALID);
        ck_assert_int_eq(floq_codec_decode(codec, FLOQ_MSG_COMMAND, buf, len,
                                           &dec, errstr, sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_str_eq(json_string_value(json_object_get(dec, "key_id")),
                         "B");
        json_decref(dec);
        free(buf);
        buf = NULL;
        sign(codec, keys, "A", cmd, &buf, &len);
        ck_assert_int_eq(verify(keys, buf, len, 1, &st), FLOQ_OK);
        /* A retired: verifiers with B only refuse A's commands */
        ck_assert_int_eq(verify(new_only, buf, len, 1, &st),
                         FLOQ_ERR_UNAUTHORIZED);
        floq_keyring_destroy(new_only);
}
END_TEST

static floq_err_t parse(const char *text) {
        floq_keyring_t *parsed = floq_keyring_new();
        floq_err_t err;

        errstr[0] = '\0';
        err = floq_keyring_parse(parsed, text, "keys.txt", errstr,
                                 sizeof(errstr));
        floq_keyring_destroy(parsed);
        return err;
}

#define HEX16 "00112233445566778899aabbccddeeff"

START_TEST(keys_file_parser) {
        static const struct {
                const char *text, *want;
        } bad[] = {
                {"A=" HEX16 "\nnoequals\n", "keys.txt:2: expected"},
                {"bad id=" HEX16 "\n", "keys.txt:1: bad key id"},
                {"=" HEX16 "\n", "keys.txt:1: bad key id"},
                {"# c\nA=" HEX16 "0\n", "keys.txt:2: key 'A': secret is not "
                                        "an even"},
                {"A=" HEX16 "zz\n", "keys.txt:1: key 'A': secret is not hex"},
                {"\n\nA=00112233445566778899aabbccddee\n",
                 "keys.txt:3: key 'A': secret of 15 bytes"},
                {"A=" HEX16 "\nA=" HEX16 "\n", "keys.txt:2: key 'A' given "
                                               "twice"},
                {"", "keys.txt: no keys"},
                {"# only comments\n\n   \n", "keys.txt: no keys"},
        };
        size_t i;

        keys = floq_keyring_new();
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                ck_assert_int_eq(parse(bad[i].text), FLOQ_ERR_CONFIG);
                ck_assert_msg(strstr(errstr, bad[i].want),
                              "case %zu: '%s' lacks '%s'", i, errstr,
                              bad[i].want);
                ck_assert_msg(!strstr(errstr, "00112233445566"),
                              "case %zu: secret in error '%s'", i, errstr);
        }
        /* comments, blank lines, spaces, CRLF, upper-case hex */
        ck_assert_int_eq(floq_keyring_parse(keys,
                                            "# keys\r\n\r\n  k-1.a:b = "
                                            HEX16 "\r\n"
                                            "K2=00112233445566778899AABBCCDD"
                                            "EEFF00\n", "k", errstr,
                                            sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_uint_eq(floq_keyring_cnt(keys), 2);
        ck_assert(floq_keyring_has(keys, "k-1.a:b"));
        ck_assert(floq_keyring_has(keys, "K2"));
        ck_assert_str_eq(floq_keyring_signer(keys), "k-1.a:b");
}
END_TEST

START_TEST(keys_file_mode_and_conf) {
        char dir[] = "/tmp/floq-sign-XXXXXX", path[128], missing[160];
        floq_conf_t *conf = floq_conf_new();
        FILE *f;

        keys = floq_keyring_new();
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/keys", dir);
        snprintf(missing, sizeof(missing), "%s/none", dir);
        ck_assert_ptr_nonnull(f = fopen(path, "w"));
        fputs("old=" HEX16 "\nnew=" HEX16 "aa\n", f);
        fclose(f);

        ck_assert_int_eq(chmod(path, 0640), 0);
        ck_assert_int_eq(floq_keyring_load(keys, path, errstr,
                                           sizeof(errstr)),
                         FLOQ_ERR_CONFIG);
        ck_assert_ptr_nonnull(strstr(errstr, "chmod 600"));
        ck_assert_int_eq(chmod(path, 0600), 0);
        ck_assert_int_eq(floq_keyring_load(keys, path, errstr,
                                           sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_uint_eq(floq_keyring_cnt(keys), 2);
        floq_keyring_destroy(keys);
        keys = floq_keyring_new();
        ck_assert_int_eq(floq_keyring_load(keys, missing, errstr,
                                           sizeof(errstr)),
                         FLOQ_ERR_CONFIG);
        ck_assert_ptr_nonnull(strstr(errstr, "cannot open keys file"));
        floq_keyring_destroy(keys);
        keys = NULL;

        /* no keys file: no keyring, unless signatures are required */
        ck_assert_int_eq(floq_keyring_from_conf(conf, &keys, errstr,
                                                sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_ptr_null(keys);
        ck_assert_int_eq(floq_conf_set(conf, "security.require.signature",
                                       "true", errstr, sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_keyring_from_conf(conf, &keys, errstr,
                                                sizeof(errstr)),
                         FLOQ_ERR_CONFIG);
        ck_assert_ptr_nonnull(strstr(errstr, "security.hmac.keys.file"));
        ck_assert_int_eq(floq_conf_set(conf, "security.hmac.keys.file", path,
                                       errstr, sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_conf_set(conf, "security.hmac.key.id", "nope",
                                       errstr, sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_keyring_from_conf(conf, &keys, errstr,
                                                sizeof(errstr)),
                         FLOQ_ERR_CONFIG);
        ck_assert_ptr_nonnull(strstr(errstr, "'nope' is not in"));
        ck_assert_int_eq(floq_conf_set(conf, "security.hmac.key.id", "new",
                                       errstr, sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_keyring_from_conf(conf, &keys, errstr,
                                                sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_str_eq(floq_keyring_signer(keys), "new");

        /* the registry is refused at start-up, not silently ignored */
        ck_assert_int_eq(floq_conf_check_supported(conf, errstr,
                                                   sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_conf_set(conf, "schema.registry.url",
                                       "http://registry:8081", errstr,
                                       sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_conf_check_supported(conf, errstr,
                                                   sizeof(errstr)),
                         FLOQ_ERR_CONFIG);
        ck_assert_ptr_nonnull(strstr(errstr, "not supported yet"));
        floq_conf_destroy(conf);
        unlink(path);
        rmdir(dir);
}
END_TEST

/* A producer still on Command.v1 signs with its own encoding; the current
 * codec verifies it from the bytes, without re-encoding. */
START_TEST(older_writer_schema) {
        const char *v1 = floq_schema_history_json(FLOQ_MSG_COMMAND, 0, NULL);
        floq_codec_t *old = floq_codec_new(MAX_MSG, errstr, sizeof(errstr));
        unsigned char *b;
        void *cur;
        size_t cur_len, i;

        keys = ring("A");
        ck_assert_ptr_nonnull(v1);
        ck_assert_int_eq(floq_codec_set_schema(old, FLOQ_MSG_COMMAND, v1,
                                               errstr, sizeof(errstr)),
                         FLOQ_OK);
        sign(old, keys, NULL, cmd, &buf, &len);
        sign(codec, keys, NULL, cmd, &cur, &cur_len);
        /* another fingerprint than the current schema's */
        ck_assert(memcmp((char *)buf + 2, (char *)cur + 2, 8));
        ck_assert_int_eq(verify(keys, buf, len, 1, &st), FLOQ_OK);
        ck_assert_int_eq(st, FLOQ_SIG_VALID);
        b = buf;
        for (i = 0; i < len; i++) {
                b[i] ^= 0x10;
                ck_assert_int_ne(verify(keys, b, len, 1, &st), FLOQ_OK);
                b[i] ^= 0x10;
        }
        free(cur);
        floq_codec_destroy(old);
}
END_TEST

/* Confluent framing (0, schema id) is signed over the same way. */
START_TEST(confluent_framing) {
        floq_codec_t *cw = floq_codec_new(MAX_MSG, errstr, sizeof(errstr));

        keys = ring("A");
        ck_assert_int_eq(floq_codec_set_registry_id(cw, FLOQ_MSG_COMMAND, 42,
                                                    1),
                         FLOQ_OK);
        ck_assert_int_eq(floq_codec_set_registry_id(codec, FLOQ_MSG_COMMAND,
                                                    42, 0),
                         FLOQ_OK);
        sign(cw, keys, NULL, cmd, &buf, &len);
        ck_assert_uint_eq(((unsigned char *)buf)[0], 0);
        ck_assert_int_eq(verify(keys, buf, len, 1, &st), FLOQ_OK);
        ck_assert_int_eq(st, FLOQ_SIG_VALID);
        ((unsigned char *)buf)[4] = 43; /* another schema id */
        ck_assert_int_ne(verify(keys, buf, len, 1, &st), FLOQ_OK);
        floq_codec_destroy(cw);
}
END_TEST

static void encode_with(json_t *in, const char *key_id, const char *sig,
                        void **bufp, size_t *lenp) {
        json_object_set_new(in, "key_id",
                            key_id ? json_string(key_id) : json_null());
        json_object_set_new(in, "signature", json_string(sig));
        ck_assert_int_eq(floq_codec_encode(codec, FLOQ_MSG_COMMAND, in, bufp,
                                           lenp, errstr, sizeof(errstr)),
                         FLOQ_OK);
}

START_TEST(malformed_signatures) {
        char sig31[63];

        keys = ring("A");
        memset(sig31, 'a', 62);
        sig31[62] = '\0';
        encode_with(cmd, NULL, sig31, &buf, &len);
        ck_assert_int_eq(verify(keys, buf, len, 0, &st),
                         FLOQ_ERR_UNAUTHORIZED);
        ck_assert_ptr_nonnull(strstr(errstr, "no key_id"));
        free(buf);
        buf = NULL;
        encode_with(cmd, "A", sig31, &buf, &len);
        ck_assert_int_eq(verify(keys, buf, len, 0, &st),
                         FLOQ_ERR_UNAUTHORIZED);
        ck_assert_ptr_nonnull(strstr(errstr, "31 bytes"));
        /* undecodable bytes: the codec's error, not a verdict */
        ck_assert_int_eq(verify(keys, "\xc3\x01", 2, 1, &st),
                         FLOQ_ERR_TRUNCATED);
}
END_TEST

/* Key scopes: `id=hex deployments=... kinds=...`; a key without them may do
 * anything (old files keep their meaning). */
START_TEST(key_scope) {
        static const char text[] =
                "# ops may do anything, ci runs etl-* only, next = ci rotated\n"
                "ops=000102030405060708090a0b0c0d0e0f\n"
                "ci=101112131415161718191a1b1c1d1e1f  kinds=run,status "
                "deployments=etl-*,report\n"
                "next=202122232425262728292a2b2c2d2e2f kinds=run,status "
                "deployments=etl-*,report\n";
        static const char *const bad[] = {
                "k=000102030405060708090a0b0c0d0e0f kinds=launch\n",
                "k=000102030405060708090a0b0c0d0e0f kinds=\n",
                "k=000102030405060708090a0b0c0d0e0f deployments=,\n",
                "k=000102030405060708090a0b0c0d0e0f owner=me\n",
                "k=000102030405060708090a0b0c0d0e0f kinds=run kinds=stop\n",
                "k=000102030405060708090a0b0c0d0e0f kinds\n",
        };
        static const struct {
                const char *key, *deployment, *kind;
                floq_err_t want;
                const char *why; /* in the reason, when refused */
        } cases[] = {
                /* unscoped: everything */
                { "ops", "anything", "deploy", FLOQ_OK, NULL },
                /* scoped: run/status on etl-* and report */
                { "ci", "etl-daily", "run", FLOQ_OK, NULL },
                { "ci", "report", "status", FLOQ_OK, NULL },
                { "ci", "etl-daily", "deploy", FLOQ_ERR_UNAUTHORIZED,
                  "key 'ci' may not send deploy commands (its rule: "
                  "kinds=run,status)" },
                { "ci", "payroll", "run", FLOQ_ERR_UNAUTHORIZED,
                  "key 'ci' may not act on deployment 'payroll' (its "
                  "rule: deployments=etl-*,report)" },
                { "ci", "reports", "run", FLOQ_ERR_UNAUTHORIZED, NULL },
                { "ci", "etl-x", "nonsense", FLOQ_ERR_UNAUTHORIZED, NULL },
                /* rotation: the next key carries the same scope */
                { "next", "etl-daily", "run", FLOQ_OK, NULL },
                { "next", "etl-daily", "stop", FLOQ_ERR_UNAUTHORIZED,
                  "kinds=run,status" },
                { "gone", "etl-daily", "run", FLOQ_ERR_NOT_FOUND, NULL },
        };
        size_t i;

        keys = floq_keyring_new();
        ck_assert_int_eq(floq_keyring_parse(keys, text, "keys", errstr,
                                            sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_keyring_cnt(keys), 3);
        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                floq_err_t err = floq_keyring_authorize(
                        keys, cases[i].key, cases[i].deployment,
                        cases[i].kind, errstr, sizeof(errstr));

                ck_assert_msg(err == cases[i].want, "%s %s %s: %s (%s)",
                              cases[i].key, cases[i].kind,
                              cases[i].deployment, floq_err_name(err),
                              errstr);
                if (cases[i].why)
                        ck_assert_msg(strstr(errstr, cases[i].why),
                                      "'%s' lacks '%s'", errstr,
                                      cases[i].why);
                /* never key material */
                ck_assert_ptr_null(strstr(errstr, "1011121314"));
                ck_assert_ptr_null(strstr(errstr, "2021222324"));
        }
        /* a scoped key still signs, and its signature verifies */
        ck_assert_int_eq(floq_command_encode_signed(codec, keys, "ci", cmd,
                                                    &buf, &len, errstr,
                                                    sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(verify(keys, buf, len, 1, &st), FLOQ_OK);
        ck_assert_int_eq(st, FLOQ_SIG_VALID);
        /* the API: scope set after add, reset to any */
        ck_assert_int_eq(floq_keyring_set_scope(keys, "ops", "a*", "stop",
                                                errstr, sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_keyring_authorize(keys, "ops", "b", "stop",
                                                errstr, sizeof(errstr)),
                         FLOQ_ERR_UNAUTHORIZED);
        ck_assert_int_eq(floq_keyring_set_scope(keys, "ops", NULL, NULL,
                                                errstr, sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_keyring_authorize(keys, "ops", "b", "deploy",
                                                errstr, sizeof(errstr)),
                         FLOQ_OK);

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                floq_keyring_t *k = floq_keyring_new();

                ck_assert_msg(floq_keyring_parse(k, bad[i], "keys", errstr,
                                                 sizeof(errstr)) ==
                                      FLOQ_ERR_CONFIG,
                              "line accepted: %s", bad[i]);
                ck_assert_ptr_nonnull(strstr(errstr, "keys:1"));
                ck_assert_ptr_null(strstr(errstr, "0001020304"));
                floq_keyring_destroy(k);
        }
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("signing");
        TCase *tc = tcase_create("signing");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, round_trip);
        tcase_add_test(tc, unsigned_command);
        tcase_add_test(tc, every_tampered_byte_fails);
        tcase_add_test(tc, wrong_secret);
        tcase_add_test(tc, unknown_key_id);
        tcase_add_test(tc, rotation);
        tcase_add_test(tc, keys_file_parser);
        tcase_add_test(tc, keys_file_mode_and_conf);
        tcase_add_test(tc, older_writer_schema);
        tcase_add_test(tc, confluent_framing);
        tcase_add_test(tc, malformed_signatures);
        tcase_add_test(tc, key_scope);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
