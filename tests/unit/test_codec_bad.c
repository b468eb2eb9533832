/*
 * test_codec_bad.c - bad bytes are safe. avro-c 1.11.1 allocates whatever
 * a length prefix claims and leaks on truncated input, so the codec walks
 * every body before avro-c sees it (schemas/walk.c). These cases feed the
 * codec the five bytes that would make avro-c allocate 2 GiB, every bad
 * varint, index, length, block count and string the walker must catch,
 * every truncation of valid messages and a few thousand seeded random
 * mutations of them, and check each answer is a clear error (right code,
 * field path) or a value that encodes again. Run under `make asan` and
 * `make valgrind` they also prove nothing crashes, reads out of bounds or
 * leaks.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "floq_schemas.h"
#include "test_util.h"

#define MAX_MSG (64 * 1024)

static floq_codec_t *codec;
static char errstr[512];

static void setup(void) {
        codec = floq_codec_new(MAX_MSG, errstr, sizeof(errstr));
        ck_assert_msg(codec != NULL, "%s", errstr);
}

static void teardown(void) {
        floq_codec_destroy(codec);
        codec = NULL;
}

/** A growing byte buffer for crafting messages. */
typedef struct bytes_s {
        unsigned char b[4096];
        size_t len;
} bytes_t;

static void put(bytes_t *m, const void *p, size_t n) {
        ck_assert_uint_le(m->len + n, sizeof(m->b));
        memcpy(m->b + m->len, p, n);
        m->len += n;
}

/** Avro long: zigzag varint. */
static void put_long(bytes_t *m, int64_t v) {
        uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
        unsigned char c;

        do {
                c = u & 0x7f;
                u >>= 7;
                if (u)
                        c |= 0x80;
                put(m, &c, 1);
        } while (u);
}

static void put_soe_header(bytes_t *m, const char *schema) {
        char *pcf = floq_avro_canonical_form(schema, errstr, sizeof(errstr));
        uint64_t fp;
        unsigned char c;
        int i;

        ck_assert_ptr_nonnull(pcf);
        fp = floq_avro_fingerprint64(pcf, strlen(pcf));
        free(pcf);
        put(m, "\xc3\x01", 2);
        for (i = 0; i < 8; i++) {
                c = (unsigned char)(fp >> (8 * i));
                put(m, &c, 1);
        }
}

/** Decoding @p m as @p type fails with @p want, naming @p needle. */
static void decode_fails(floq_msg_type_t type, const bytes_t *m,
                         floq_err_t want, const char *needle) {
        json_t *out = (json_t *)1;
        floq_err_t err;

        errstr[0] = '\0';
        err = floq_codec_decode(codec, type, m->b, m->len, &out, errstr,
                                sizeof(errstr));
        ck_assert_msg(err == want, "got %s (%s), want %s", floq_err_name(err),
                      errstr, floq_err_name(want));
        ck_assert_msg(strstr(errstr, needle), "'%s' lacks '%s'", errstr,
                      needle);
        ck_assert_ptr_null(out);
}

START_TEST(test_two_gib_string) {
        bytes_t m = {.len = 0};

        /* five body bytes claim a 2 GiB command_id */
        put_soe_header(&m, floq_schema_json(FLOQ_MSG_COMMAND));
        put(&m, "\xfe\xff\xff\xff\x0f", 5);
        decode_fails(FLOQ_MSG_COMMAND, &m, FLOQ_ERR_TRUNCATED,
                     "Command.command_id: string length 2147483647 exceeds "
                     "0 bytes left");
}
END_TEST

START_TEST(test_huge_map_key) {
        json_t *in = json_pack("{s:s,s:i,s:s,s:{s:{s:{s:s}}}}", "command_id",
                               "c", "issued_at", 1, "deployment", "d", "body",
                               "RunBody", "params", "k", "v");
        unsigned char *buf, *at;
        bytes_t m = {.len = 0};
        size_t len, off;

        ck_assert_int_eq(floq_codec_encode(codec, FLOQ_MSG_COMMAND, in,
                                           (void **)&buf, &len, errstr,
                                           sizeof(errstr)),
                         FLOQ_OK);
        /* params block: count 1, key "k", value "v", end */
        at = memmem(buf, len, "\x02\x02k\x02v\x00", 6);
        ck_assert_ptr_nonnull(at);
        off = (size_t)(at - buf);
        put(&m, buf, off + 1);
        put_long(&m, 4294967295); /* the key length */
        put(&m, at + 2, len - off - 2);
        decode_fails(FLOQ_MSG_COMMAND, &m, FLOQ_ERR_TRUNCATED,
                     "Command.body.RunBody.params: map key length 4294967295 "
                     "exceeds 8 bytes left");
        json_decref(in);
        free(buf);
}
END_TEST

/* A test schema with one field of each checked kind, in the RunState slot. */
static const char test_schema[] =
        "{\"type\":\"record\",\"name\":\"T\",\"fields\":["
        "{\"name\":\"b\",\"type\":\"boolean\"},"
        "{\"name\":\"i\",\"type\":\"int\"},"
        "{\"name\":\"l\",\"type\":\"long\"},"
        "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\","
        "\"symbols\":[\"A\",\"B\"]}},"
        "{\"name\":\"u\",\"type\":[\"null\",\"int\",\"string\"]},"
        "{\"name\":\"s\",\"type\":\"string\"},"
        "{\"name\":\"n\",\"type\":{\"type\":\"array\",\"items\":\"null\"}},"
        "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"int\"}},"
        "{\"name\":\"d\",\"type\":\"double\"}]}";

enum { F_B, F_I, F_L, F_E, F_U, F_S, F_N, F_A, F_D, F__CNT };

/** The test schema's message with field @p which replaced by @p repl. */
static bytes_t craft(int which, const void *repl, size_t rlen) {
        static const struct {
                const char *p;
                size_t n;
        } good[F__CNT] = {
                {"\x00", 1}, {"\x02", 1}, {"\x04", 1}, {"\x02", 1},
                {"\x02\x02", 2}, {"\x02x", 2}, {"\x00", 1}, {"\x00", 1},
                {"\0\0\0\0\0\0\0\0", 8},
        };
        bytes_t m = {.len = 0};
        int f;

        put_soe_header(&m, test_schema);
        for (f = 0; f < F__CNT; f++) {
                if (f == which)
                        put(&m, repl, rlen);
                else
                        put(&m, good[f].p, good[f].n);
        }
        return m;
}

#define CRAFT(field, lit) craft(field, lit, sizeof(lit) - 1)

START_TEST(test_bad_values) {
        bytes_t m;
        json_t *out = NULL;

        ck_assert_int_eq(floq_codec_set_schema(codec, FLOQ_MSG_RUN_STATE,
                                               test_schema, errstr,
                                               sizeof(errstr)),
                         FLOQ_OK);
        m = craft(-1, NULL, 0);
        ck_assert_int_eq(floq_codec_decode(codec, FLOQ_MSG_RUN_STATE, m.b,
                                           m.len, &out, errstr,
                                           sizeof(errstr)),
                         FLOQ_OK);
        json_decref(out);

        m = CRAFT(F_B, "\x02");
        decode_fails(FLOQ_MSG_RUN_STATE, &m, FLOQ_ERR_DECODE,
                     "RunState.b: boolean byte 2 is not 0 or 1");
        m = CRAFT(F_I, "\x80\x80\x80\x80\x80\x00");
        decode_fails(FLOQ_MSG_RUN_STATE, &m, FLOQ_ERR_DECODE,
                     "RunState.i: int varint longer than 5 bytes");
        m = CRAFT(F_I, "\xfe\xff\xff\xff\x1f");
        decode_fails(FLOQ_MSG_RUN_STATE, &m, FLOQ_ERR_DECODE,
                     "RunState.i: int out of int range");
        m = CRAFT(F_L, "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00");
        decode_fails(FLOQ_MSG_RUN_STATE, &m, FLOQ_ERR_DECODE,
                     "RunState.l: long varint longer than 10 bytes");
        m = CRAFT(F_L, "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x02");
        decode_fails(FLOQ_MSG_RUN_STATE, &m, FLOQ_ERR_DECODE,
                     "RunState.l: long varint longer than 10 bytes");
        m = CRAFT(F_E, "\x04");
        decode_fails(FLOQ_MSG_RUN_STATE, &m, FLOQ_ERR_DECODE,
                     "RunState.e: enum index 2 not in 0..1");
        m = CRAFT(F_E, "\x01");
        decode_fails(FLOQ_MSG_RUN_STATE, &m, FLOQ_ERR_DECODE,
                     "RunState.e: enum index -1 not in 0..1");
        m = CRAFT(F_U, "\x06\x02");
        decode_fails(FLOQ_MSG_RUN_STATE, &m, FLOQ_ERR_DECODE,
                     "RunState.u: union index 3 not in 0..2");
        m = CRAFT(F_U, "\x04\x04\xff\xfe");
        decode_fails(FLOQ_MSG_RUN_STATE, &m, FLOQ_ERR_DECODE,
                     "RunState.u.string: string is not UTF-8");
        m = CRAFT(F_S, "\x02\xff");
        decode_fails(FLOQ_MSG_RUN_STATE, &m, FLOQ_ERR_DECODE,
                     "RunState.s: string is not UTF-8");
        m = CRAFT(F_S, "\x04\xc0\xaf"); /* overlong '/' */
        decode_fails(FLOQ_MSG_RUN_STATE, &m, FLOQ_ERR_DECODE,
                     "RunState.s: string is not UTF-8");
        m = CRAFT(F_S, "\x06\xed\xa0\x80"); /* a UTF-16 surrogate */
        decode_fails(FLOQ_MSG_RUN_STATE, &m, FLOQ_ERR_DECODE,
                     "RunState.s: string is not UTF-8");
        m = CRAFT(F_S, "\x02\x00");
        decode_fails(FLOQ_MSG_RUN_STATE, &m, FLOQ_ERR_DECODE,
                     "RunState.s: string is not UTF-8 (or holds a NUL)");
        m = CRAFT(F_S, "\x03");
        decode_fails(FLOQ_MSG_RUN_STATE, &m, FLOQ_ERR_DECODE,
                     "RunState.s: negative string length -2");
        /* 2^40 nulls take no bytes: only the item bound stops them */
        {
                bytes_t v = {.len = 0};
                put_long(&v, INT64_C(1) << 40);
                put(&v, "\x00", 1);
                m = craft(F_N, v.b, v.len);
                decode_fails(FLOQ_MSG_RUN_STATE, &m, FLOQ_ERR_TOO_LARGE,
                             "RunState.n: 1099511627776 more items exceed "
                             "the bound");
        }
        {
                bytes_t v = {.len = 0};
                put_long(&v, 1000);
                m = craft(F_A, v.b, v.len);
                decode_fails(FLOQ_MSG_RUN_STATE, &m, FLOQ_ERR_TRUNCATED,
                             "RunState.a: block of 1000 items exceeds 8 "
                             "bytes left");
        }
        m = CRAFT(F_A, "\x01\x0a\x02\x00"); /* count -1, size 5, item 1 */
        decode_fails(FLOQ_MSG_RUN_STATE, &m, FLOQ_ERR_DECODE,
                     "RunState.a: block size 5 but its items take 1 bytes");
        m = CRAFT(F_A, "\x01\x02\x02\x00"); /* negative block, right size */
        ck_assert_int_eq(floq_codec_decode(codec, FLOQ_MSG_RUN_STATE, m.b,
                                           m.len, &out, errstr,
                                           sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(json_integer_value(json_array_get(
                                 json_object_get(out, "a"), 0)),
                         1);
        json_decref(out);
        m = CRAFT(F_A, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01");
        decode_fails(FLOQ_MSG_RUN_STATE, &m, FLOQ_ERR_DECODE,
                     "RunState.a: block count out of range");
        m = CRAFT(F_A, "\x02\x80\x80\x80\x80\x80");
        decode_fails(FLOQ_MSG_RUN_STATE, &m, FLOQ_ERR_DECODE,
                     "RunState.a[0]: int varint longer than 5 bytes");
        m = CRAFT(F_D, "\0\0\0");
        decode_fails(FLOQ_MSG_RUN_STATE, &m, FLOQ_ERR_TRUNCATED,
                     "RunState.d: double of 8 bytes exceeds 3 bytes left");
        m = CRAFT(F_D, "\0\0\0\0\0\0\xf8\x7f"); /* NaN */
        decode_fails(FLOQ_MSG_RUN_STATE, &m, FLOQ_ERR_DECODE,
                     "RunState.d: NaN or infinity has no JSON form");
        m = craft(-1, NULL, 0);
        put(&m, "\x00", 1);
        decode_fails(FLOQ_MSG_RUN_STATE, &m, FLOQ_ERR_DECODE,
                     "RunState: 1 trailing bytes after the value");
}
END_TEST

START_TEST(test_framing) {
        bytes_t m = {.len = 0};

        decode_fails(FLOQ_MSG_COMMAND, &m, FLOQ_ERR_TRUNCATED, "empty");
        put(&m, "\xc3", 1);
        decode_fails(FLOQ_MSG_COMMAND, &m, FLOQ_ERR_TRUNCATED,
                     "too short for the single-object header");
        put(&m, "\x01\x00\x00", 3);
        decode_fails(FLOQ_MSG_COMMAND, &m, FLOQ_ERR_TRUNCATED,
                     "too short for the single-object header");
        m.len = 0;
        put(&m, "\x00\x00\x01", 3);
        decode_fails(FLOQ_MSG_COMMAND, &m, FLOQ_ERR_TRUNCATED,
                     "too short for the Confluent header");
        put(&m, "\xff\xff", 2);
        decode_fails(FLOQ_MSG_COMMAND, &m, FLOQ_ERR_UNKNOWN_SCHEMA,
                     "unknown schema id 131071");
        m.len = 0;
        put(&m, "{\"json\":1}", 10);
        decode_fails(FLOQ_MSG_COMMAND, &m, FLOQ_ERR_DECODE,
                     "first byte 7b");
        m.len = 0;
        put(&m, "\xc3\x02\x00\x00\x00\x00\x00\x00\x00\x00", 10);
        decode_fails(FLOQ_MSG_COMMAND, &m, FLOQ_ERR_DECODE, "first byte c3");
}
END_TEST

START_TEST(test_depth_limit) {
        static const char list[] =
                "{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":"
                "\"next\",\"type\":[\"null\",\"L\"]}]}";
        bytes_t m = {.len = 0};
        json_t *out = NULL;
        int i;

        ck_assert_int_eq(floq_codec_set_schema(codec, FLOQ_MSG_REPLY, list,
                                               errstr, sizeof(errstr)),
                         FLOQ_OK);
        put_soe_header(&m, list);
        for (i = 0; i < 20; i++)
                put(&m, "\x02", 1);
        put(&m, "\x00", 1);
        ck_assert_int_eq(floq_codec_decode(codec, FLOQ_MSG_REPLY, m.b, m.len,
                                           &out, errstr, sizeof(errstr)),
                         FLOQ_OK);
        json_decref(out);
        m.len = 0;
        put_soe_header(&m, list);
        for (i = 0; i < 1000; i++)
                put(&m, "\x02", 1);
        put(&m, "\x00", 1);
        decode_fails(FLOQ_MSG_REPLY, &m, FLOQ_ERR_DECODE,
                     "nested deeper than 64");
}
END_TEST

/* ---- truncations and seeded mutations of valid messages ---- */

static const struct {
        floq_msg_type_t type;
        const char *json;
} samples[] = {
        {FLOQ_MSG_COMMAND,
         "{\"command_id\":\"c1\",\"issued_at\":1700000000000,"
         "\"deployment\":\"etl\",\"signature\":\"0102\",\"body\":{\"RunBody\":"
         "{\"params\":{\"a\":\"1\",\"bb\":\"22\"},\"timeout_ms\":5}}}"},
        {FLOQ_MSG_COMMAND,
         "{\"command_id\":\"c2\",\"issued_at\":1,\"deployment\":\"d\","
         "\"body\":{\"DeployBody\":{\"backend\":\"process\",\"spec\":\"{}\","
         "\"inputs\":[{\"namespace\":\"a\",\"name\":\"b\"}],"
         "\"retry\":{\"jitter\":0.5}}}}"},
        {FLOQ_MSG_REPLY,
         "{\"command_id\":\"c\",\"deployment\":\"d\",\"produced_at\":5,"
         "\"status\":\"FAILED\",\"exit_code\":3,\"reason\":\"boom\","
         "\"cancelled_runs\":[\"x\"],\"next_fire_times\":[1,2,3]}"},
        {FLOQ_MSG_SCHEDULE_SET,
         "{\"deployment\":\"d\",\"schedules\":[{\"schedule_id\":\"s\","
         "\"cron\":\"@daily\",\"created_at\":1,\"params\":{\"k\":\"v\"}}],"
         "\"updated_at\":2}"},
        {FLOQ_MSG_RUN_STATE,
         "{\"run_id\":\"r\",\"deployment\":\"d\",\"command_id\":\"c\","
         "\"status\":\"RUNNING\",\"heartbeat_at\":1,\"created_at\":2,"
         "\"params\":{\"x\":\"y\"}}"},
};

#define SAMPLE_CNT (sizeof(samples) / sizeof(samples[0]))

static unsigned char *encode_sample(size_t i, size_t *lenp) {
        json_t *in = json_loads(samples[i].json, 0, NULL);
        unsigned char *buf;

        ck_assert_ptr_nonnull(in);
        ck_assert_msg(floq_codec_encode(codec, samples[i].type, in,
                                        (void **)&buf, lenp, errstr,
                                        sizeof(errstr)) == FLOQ_OK,
                      "sample %zu: %s", i, errstr);
        json_decref(in);
        return buf;
}

/** Decode and judge: an error must be one of the decode errors and name
 *  the type; a success must be a value that encodes again. */
static floq_err_t judge(floq_msg_type_t type, const void *buf, size_t len) {
        json_t *out = NULL;
        floq_err_t err;
        void *again;
        size_t alen;

        errstr[0] = '\0';
        err = floq_codec_decode(codec, type, buf, len, &out, errstr,
                                sizeof(errstr));
        if (err) {
                ck_assert_msg(err == FLOQ_ERR_DECODE ||
                                      err == FLOQ_ERR_TRUNCATED ||
                                      err == FLOQ_ERR_TOO_LARGE ||
                                      err == FLOQ_ERR_UNKNOWN_SCHEMA,
                              "unexpected %s: %s", floq_err_name(err),
                              errstr);
                ck_assert_ptr_null(out);
                ck_assert_msg(!strncmp(errstr, floq_msg_type_name(type),
                                       strlen(floq_msg_type_name(type))),
                              "error without path: %s", errstr);
                return err;
        }
        ck_assert_ptr_nonnull(out);
        ck_assert_msg(floq_codec_encode(codec, type, out, &again, &alen,
                                        errstr, sizeof(errstr)) == FLOQ_OK,
                      "decoded value does not encode: %s", errstr);
        free(again);
        json_decref(out);
        return FLOQ_OK;
}

START_TEST(test_truncations) {
        size_t i, cut, len;

        for (i = 0; i < SAMPLE_CNT; i++) {
                unsigned char *buf = encode_sample(i, &len);
                ck_assert_int_eq(judge(samples[i].type, buf, len), FLOQ_OK);
                for (cut = 0; cut < len; cut++) {
                        /* a private copy so ASan sees reads past the cut */
                        unsigned char *part = malloc(cut ? cut : 1);
                        memcpy(part, buf, cut);
                        ck_assert_msg(judge(samples[i].type, part, cut) !=
                                              FLOQ_OK,
                                      "sample %zu cut at %zu decoded", i,
                                      cut);
                        free(part);
                }
                free(buf);
        }
}
END_TEST

static uint64_t rng_state;

static uint64_t rng(void) {
        /* xorshift64*: deterministic across runs and platforms */
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * UINT64_C(2685821657736338717);
}

START_TEST(test_mutations) {
        const int iterations = 4000;
        size_t lens[SAMPLE_CNT], i;
        unsigned char *bufs[SAMPLE_CNT];
        int it, ok = 0, bad = 0;

        rng_state = UINT64_C(0x5eed0f10c0dec);
        for (i = 0; i < SAMPLE_CNT; i++)
                bufs[i] = encode_sample(i, &lens[i]);
        for (it = 0; it < iterations; it++) {
                size_t s = rng() % SAMPLE_CNT, len = lens[s], k, n;
                unsigned char *m = malloc(len + 16);
                int op = (int)(rng() % 4);

                memcpy(m, bufs[s], len);
                n = 1 + rng() % 4;
                for (k = 0; k < n; k++) {
                        /* keep the header mostly intact so bodies get
                         * walked: mutate bytes after it */
                        size_t at = 10 + rng() % (len - 10);
                        if (op == 0)
                                m[at] = (unsigned char)rng();
                        else if (op == 1)
                                m[at] ^= (unsigned char)(1u << (rng() % 8));
                        else if (op == 2)
                                m[at] = (unsigned char)(rng() % 2 ? 0xff
                                                                  : 0x80);
                }
                if (op == 3) { /* insert or delete a run of bytes */
                        size_t at = 10 + rng() % (len - 10);
                        size_t run = 1 + rng() % 8;
                        if (rng() % 2 && len + run <= lens[s] + 16) {
                                memmove(m + at + run, m + at, len - at);
                                for (k = 0; k < run; k++)
                                        m[at + k] = (unsigned char)rng();
                                len += run;
                        } else if (at + run <= len) {
                                memmove(m + at, m + at + run,
                                        len - at - run);
                                len -= run;
                        }
                }
                if (judge(samples[s].type, m, len) == FLOQ_OK)
                        ok++;
                else
                        bad++;
                free(m);
        }
        for (i = 0; i < SAMPLE_CNT; i++)
                free(bufs[i]);
        /* both outcomes must occur, or the mutations test nothing */
        ck_assert_int_gt(ok, 0);
        ck_assert_int_gt(bad, iterations / 4);
}
END_TEST

static Suite *codec_bad_suite(void) {
        Suite *s = suite_create("codec_bad");
        TCase *tc = tcase_create("bad_bytes");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_two_gib_string);
        tcase_add_test(tc, test_huge_map_key);
        tcase_add_test(tc, test_bad_values);
        tcase_add_test(tc, test_framing);
        tcase_add_test(tc, test_depth_limit);
        tcase_add_test(tc, test_truncations);
        tcase_add_test(tc, test_mutations);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(codec_bad_suite());
}
