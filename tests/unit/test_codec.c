/*
 * test_codec.c - the codec's normal life (schemas/codec.c): every message
 * type survives encode and decode unchanged, the single-object header is
 * C3 01 plus the little-endian fingerprint of the schema's canonical form,
 * missing fields take their defaults, the JSON shape of unions, enums and
 * bytes is as floq_schemas.h says, unknown keys and wrong types are
 * FLOQ_ERR_ENCODE naming the field path, output is bounded, the Confluent
 * framing is written and read for registered ids, and messages of the
 * wrong type or an unknown schema are refused as such.
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

static json_t *parse(const char *text) {
        json_error_t jerr;
        json_t *j = json_loads(text, JSON_ALLOW_NUL, &jerr);

        ck_assert_msg(j != NULL, "bad test JSON: %s", jerr.text);
        return j;
}

/** Messages of each type with (nearly) every field given. */
static const char *const full_msgs[FLOQ_MSG__CNT] = {
        [FLOQ_MSG_COMMAND] =
                "{\"command_id\":\"0c5e1f1e-8d9a-4a55-9a51-1b2c3d4e5f60\","
                "\"correlation_id\":\"corr-1\",\"issued_at\":1700000000000,"
                "\"expires_at\":1700000060000,\"reply_to\":\"replies\","
                "\"deployment\":\"etl\",\"idempotency_key\":null,"
                "\"key_id\":\"k1\",\"signature\":\"00ff10ab\","
                "\"body\":{\"DeployBody\":{\"backend\":\"process\","
                "\"spec\":\"{\\\"cmd\\\":[\\\"true\\\"]}\","
                "\"artifact_url\":null,\"artifact_sha256\":null,"
                "\"namespace\":\"ns\",\"inputs\":[{\"namespace\":\"s3\","
                "\"name\":\"in\"}],\"outputs\":[],\"timeout_ms\":30000,"
                "\"retry\":{\"max_attempts\":3,\"backoff_ms\":500,"
                "\"backoff_multiplier\":1.5,\"max_backoff_ms\":9000,"
                "\"jitter\":0.25}}}}",
        [FLOQ_MSG_REPLY] =
                "{\"command_id\":\"c1\",\"correlation_id\":null,"
                "\"deployment\":\"etl\",\"produced_at\":1700000000001,"
                "\"status\":\"SCHEDULED\",\"final\":false,\"reason\":null,"
                "\"run_id\":\"r1\",\"url\":null,\"worker\":\"w-1\","
                "\"attempt\":2,\"exit_code\":-1,\"output_tail\":\"h\xc3\xa9\","
                "\"cancelled_runs\":[\"a\",\"b\"],"
                "\"next_fire_times\":[1,-2,9007199254740993],"
                "\"detail\":\"{}\"}",
        [FLOQ_MSG_DEPLOYMENT] =
                "{\"name\":\"etl\",\"backend\":\"http\",\"spec\":\"{}\","
                "\"artifact_url\":\"https://x/y\",\"artifact_sha256\":\"ab\","
                "\"namespace\":null,\"inputs\":[],\"outputs\":["
                "{\"namespace\":\"pg\",\"name\":\"t\"}],\"timeout_ms\":null,"
                "\"retry\":null,\"enabled\":false,\"generation\":7,"
                "\"updated_at\":1,\"command_id\":\"c\"}",
        [FLOQ_MSG_SCHEDULE_SET] =
                "{\"deployment\":\"etl\",\"schedules\":[{\"schedule_id\":"
                "\"s1\",\"cron\":\"*/5 * * * *\",\"timezone\":\"Europe/Oslo\","
                "\"catchup\":\"ALL\",\"catchup_max\":3,\"overlap\":"
                "\"CANCEL_PREVIOUS\",\"jitter_ms\":100,\"params\":{\"a\":"
                "\"1\"},\"created_at\":5,\"last_fired\":null}],"
                "\"updated_at\":6}",
        [FLOQ_MSG_RUN_STATE] =
                "{\"run_id\":\"0c5e1f1e-8d9a-4a55-9a51-1b2c3d4e5f61\","
                "\"deployment\":\"etl\",\"command_id\":\"c\","
                "\"correlation_id\":null,\"reply_to\":null,"
                "\"idempotency_key\":\"idem\",\"status\":\"RETRYING\","
                "\"attempt\":2,\"worker\":\"w\",\"heartbeat_at\":3,"
                "\"created_at\":1,\"started_at\":2,\"finished_at\":null,"
                "\"next_attempt_at\":4,\"params\":{},\"timeout_ms\":10,"
                "\"scheduled_for\":null,\"schedule_id\":null,"
                "\"parent_run_id\":null,\"exit_code\":null,\"reason\":null,"
                "\"output_tail\":null,\"backend_ref\":\"pid:42\"}",
        [FLOQ_MSG_DEPLOYMENT_OUTCOME] =
                "{\"deployment\":\"etl\",\"command_id\":\"c\","
                "\"status\":\"STOPPED\",\"reason\":\"r\","
                "\"cancelled_runs\":[\"a\"],\"at\":1700000000000}",
};

static void encode_ok(floq_msg_type_t type, json_t *msg, void **bufp,
                      size_t *lenp) {
        floq_err_t err = floq_codec_encode(codec, type, msg, bufp, lenp,
                                           errstr, sizeof(errstr));
        ck_assert_msg(err == FLOQ_OK, "encode %s: %s: %s",
                      floq_msg_type_name(type), floq_err_name(err), errstr);
}

static json_t *decode_ok(floq_msg_type_t type, const void *buf, size_t len) {
        json_t *msg = NULL;
        floq_err_t err = floq_codec_decode(codec, type, buf, len, &msg,
                                           errstr, sizeof(errstr));
        ck_assert_msg(err == FLOQ_OK, "decode %s: %s: %s",
                      floq_msg_type_name(type), floq_err_name(err), errstr);
        return msg;
}

static uint64_t schema_fingerprint(const char *text) {
        char *pcf = floq_avro_canonical_form(text, errstr, sizeof(errstr));
        uint64_t fp;

        ck_assert_ptr_nonnull(pcf);
        fp = floq_avro_fingerprint64(pcf, strlen(pcf));
        free(pcf);
        return fp;
}

START_TEST(test_roundtrip_all_types) {
        int t;

        for (t = 0; t < FLOQ_MSG__CNT; t++) {
                json_t *in = parse(full_msgs[t]), *out;
                uint64_t fp = schema_fingerprint(
                        floq_schema_json((floq_msg_type_t)t));
                unsigned char *buf;
                size_t len;
                int i;

                encode_ok((floq_msg_type_t)t, in, (void **)&buf, &len);
                ck_assert_uint_gt(len, 10);
                ck_assert_uint_eq(buf[0], 0xc3);
                ck_assert_uint_eq(buf[1], 0x01);
                for (i = 0; i < 8; i++)
                        ck_assert_uint_eq(buf[2 + i],
                                          (unsigned)(fp >> (8 * i)) & 0xff);
                ck_assert_int_eq(floq_codec_peek_type(codec, buf, len), t);
                out = decode_ok((floq_msg_type_t)t, buf, len);
                ck_assert_msg(test_json_subset(in, out),
                              "%s changed in transit",
                              floq_msg_type_name((floq_msg_type_t)t));
                json_decref(out);
                json_decref(in);
                free(buf);
        }
}
END_TEST

START_TEST(test_defaults_filled) {
        json_t *in = parse("{\"command_id\":\"c\",\"deployment\":\"d\","
                           "\"produced_at\":5,\"status\":\"RUNNING\"}");
        json_t *out, *want;
        void *buf;
        size_t len;

        encode_ok(FLOQ_MSG_REPLY, in, &buf, &len);
        out = decode_ok(FLOQ_MSG_REPLY, buf, len);
        want = parse("{\"command_id\":\"c\",\"correlation_id\":null,"
                     "\"deployment\":\"d\",\"produced_at\":5,"
                     "\"status\":\"RUNNING\",\"final\":true,\"reason\":null,"
                     "\"run_id\":null,\"url\":null,\"worker\":null,"
                     "\"attempt\":0,\"exit_code\":null,\"output_tail\":null,"
                     "\"cancelled_runs\":[],\"next_fire_times\":[],"
                     "\"detail\":null}");
        ck_assert(test_json_subset(want, out));
        json_decref(want);
        json_decref(out);
        json_decref(in);
        free(buf);

        /* nested record defaults: RetryPolicy given as {} */
        in = parse("{\"name\":\"n\",\"backend\":\"b\",\"spec\":\"{}\","
                   "\"retry\":{},\"updated_at\":1,\"command_id\":\"c\"}");
        encode_ok(FLOQ_MSG_DEPLOYMENT, in, &buf, &len);
        out = decode_ok(FLOQ_MSG_DEPLOYMENT, buf, len);
        want = parse("{\"max_attempts\":1,\"backoff_ms\":1000,"
                     "\"backoff_multiplier\":2.0,\"max_backoff_ms\":60000,"
                     "\"jitter\":0.2}");
        ck_assert(test_json_subset(want, json_object_get(out, "retry")));
        ck_assert(json_is_true(json_object_get(out, "enabled")));
        ck_assert_int_eq(json_integer_value(json_object_get(out,
                                                            "generation")),
                         1);
        json_decref(want);
        json_decref(out);
        json_decref(in);
        free(buf);
}
END_TEST

/** Encoding @p text as @p type fails with @p want and a message holding
 *  @p needle. */
static void encode_fails(floq_msg_type_t type, const char *text,
                         floq_err_t want, const char *needle) {
        json_t *in = parse(text);
        void *buf = (void *)1;
        size_t len = 1;
        floq_err_t err;

        errstr[0] = '\0';
        err = floq_codec_encode(codec, type, in, &buf, &len, errstr,
                                sizeof(errstr));
        ck_assert_msg(err == want, "%s: got %s (%s), want %s", text,
                      floq_err_name(err), errstr, floq_err_name(want));
        ck_assert_msg(strstr(errstr, needle), "'%s' lacks '%s'", errstr,
                      needle);
        ck_assert_ptr_null(buf);
        ck_assert_uint_eq(len, 0);
        json_decref(in);
}

#define CMD_HEAD "{\"command_id\":\"c\",\"issued_at\":1,\"deployment\":\"d\","

START_TEST(test_encode_errors) {
        encode_fails(FLOQ_MSG_COMMAND,
                     CMD_HEAD "\"body\":{\"RunBody\":{\"bogus\":1}}}",
                     FLOQ_ERR_ENCODE,
                     "Command.body.RunBody: unknown field 'bogus'");
        encode_fails(FLOQ_MSG_COMMAND,
                     CMD_HEAD "\"body\":{\"RunBody\":{\"params\":{\"a\":1}}}}",
                     FLOQ_ERR_ENCODE,
                     "Command.body.RunBody.params[\"a\"]: expected string, "
                     "got an integer");
        encode_fails(FLOQ_MSG_COMMAND, CMD_HEAD "\"body\":{\"Nope\":{}}}",
                     FLOQ_ERR_ENCODE,
                     "Command.body: 'Nope' is no branch of the union");
        encode_fails(FLOQ_MSG_COMMAND, CMD_HEAD "\"body\":{}}",
                     FLOQ_ERR_ENCODE, "Command.body: a union value must be");
        encode_fails(FLOQ_MSG_COMMAND,
                     "{\"command_id\":\"c\",\"issued_at\":1,"
                     "\"body\":{\"StopBody\":{}}}",
                     FLOQ_ERR_ENCODE, "Command.deployment: missing");
        encode_fails(FLOQ_MSG_COMMAND,
                     CMD_HEAD "\"signature\":\"0g\",\"body\":{\"StopBody\":{}}}",
                     FLOQ_ERR_ENCODE, "Command.signature: not a hex string");
        encode_fails(FLOQ_MSG_COMMAND,
                     CMD_HEAD "\"reply_to\":\"a\\u0000b\","
                     "\"body\":{\"StopBody\":{}}}",
                     FLOQ_ERR_ENCODE, "Command.reply_to: string holds a NUL");
        encode_fails(FLOQ_MSG_REPLY,
                     "{\"command_id\":\"c\",\"deployment\":\"d\","
                     "\"produced_at\":5,\"status\":\"RUNNING\","
                     "\"attempt\":\"2\"}",
                     FLOQ_ERR_ENCODE,
                     "Reply.attempt: expected int, got a string");
        encode_fails(FLOQ_MSG_REPLY,
                     "{\"command_id\":\"c\",\"deployment\":\"d\","
                     "\"produced_at\":5,\"status\":\"RUNNING\","
                     "\"attempt\":2147483648}",
                     FLOQ_ERR_ENCODE, "Reply.attempt: 2147483648 does not "
                                      "fit an int");
        encode_fails(FLOQ_MSG_REPLY,
                     "{\"command_id\":\"c\",\"deployment\":\"d\","
                     "\"produced_at\":5,\"status\":\"NOPE\"}",
                     FLOQ_ERR_ENCODE,
                     "Reply.status: 'NOPE' is not a symbol of ReplyStatus");
        encode_fails(FLOQ_MSG_REPLY,
                     "{\"command_id\":\"c\",\"deployment\":\"d\","
                     "\"produced_at\":5,\"status\":\"RUNNING\","
                     "\"cancelled_runs\":[\"a\",null]}",
                     FLOQ_ERR_ENCODE, "Reply.cancelled_runs[1]: expected "
                                      "string, got null");
        encode_fails(FLOQ_MSG_REPLY, "[]", FLOQ_ERR_ENCODE,
                     "Reply: expected Reply, got an array");
}
END_TEST

START_TEST(test_union_and_bytes_shapes) {
        json_t *in = parse(CMD_HEAD "\"signature\":\"00FF\","
                                    "\"body\":{\"ScheduleBody\":{\"cron\":"
                                    "\"@hourly\"}}}");
        json_t *out, *body;
        void *buf;
        size_t len;

        encode_ok(FLOQ_MSG_COMMAND, in, &buf, &len);
        out = decode_ok(FLOQ_MSG_COMMAND, buf, len);
        /* bytes come back as lower-case hex */
        ck_assert_str_eq(json_string_value(json_object_get(out, "signature")),
                         "00ff");
        body = json_object_get(json_object_get(out, "body"), "ScheduleBody");
        ck_assert_ptr_nonnull(body);
        ck_assert_str_eq(json_string_value(json_object_get(body,
                                                           "schedule_id")),
                         "default");
        ck_assert_str_eq(json_string_value(json_object_get(body, "catchup")),
                         "SKIP");
        ck_assert_str_eq(json_string_value(json_object_get(body, "overlap")),
                         "ALLOW");
        ck_assert(json_is_null(json_object_get(out, "correlation_id")));
        json_decref(out);
        json_decref(in);
        free(buf);
}
END_TEST

START_TEST(test_too_large) {
        floq_codec_t *small = floq_codec_new(64, errstr, sizeof(errstr));
        char text[512];
        json_t *in;
        void *buf = NULL;
        size_t len = 0;

        ck_assert_ptr_nonnull(small);
        snprintf(text, sizeof(text), CMD_HEAD "\"reply_to\":\"%0100d\","
                 "\"body\":{\"StopBody\":{}}}", 7);
        in = parse(text);
        ck_assert_int_eq(floq_codec_encode(small, FLOQ_MSG_COMMAND, in, &buf,
                                           &len, errstr, sizeof(errstr)),
                         FLOQ_ERR_TOO_LARGE);
        ck_assert_ptr_nonnull(strstr(errstr, "exceeds max message size 64"));
        ck_assert_ptr_null(buf);

        /* and the reader refuses input over the bound before parsing */
        encode_ok(FLOQ_MSG_COMMAND, in, &buf, &len);
        json_decref(in);
        in = NULL;
        ck_assert_int_eq(floq_codec_decode(small, FLOQ_MSG_COMMAND, buf, len,
                                           &in, errstr, sizeof(errstr)),
                         FLOQ_ERR_TOO_LARGE);
        ck_assert_ptr_null(in);
        free(buf);
        floq_codec_destroy(small);
        ck_assert_ptr_null(floq_codec_new(0, errstr, sizeof(errstr)));
}
END_TEST

START_TEST(test_confluent) {
        floq_codec_t *other = floq_codec_new(MAX_MSG, errstr, sizeof(errstr));
        json_t *in = parse(full_msgs[FLOQ_MSG_REPLY]), *out = NULL;
        unsigned char *buf;
        size_t len;

        ck_assert_int_eq(floq_codec_set_registry_id(codec, FLOQ_MSG_REPLY, 42,
                                                    1),
                         FLOQ_OK);
        encode_ok(FLOQ_MSG_REPLY, in, (void **)&buf, &len);
        ck_assert_uint_eq(buf[0], 0);
        ck_assert_uint_eq(buf[1], 0);
        ck_assert_uint_eq(buf[2], 0);
        ck_assert_uint_eq(buf[3], 0);
        ck_assert_uint_eq(buf[4], 42);
        ck_assert_int_eq(floq_codec_peek_type(codec, buf, len),
                         FLOQ_MSG_REPLY);
        out = decode_ok(FLOQ_MSG_REPLY, buf, len);
        ck_assert(test_json_subset(in, out));
        json_decref(out);
        out = NULL;

        /* a codec that does not know id 42 refuses it ... */
        ck_assert_int_eq(floq_codec_decode(other, FLOQ_MSG_REPLY, buf, len,
                                           &out, errstr, sizeof(errstr)),
                         FLOQ_ERR_UNKNOWN_SCHEMA);
        ck_assert_ptr_nonnull(strstr(errstr, "unknown schema id 42"));
        ck_assert_int_eq(floq_codec_peek_type(other, buf, len), -1);
        /* ... until told, and still encodes single-object */
        ck_assert_int_eq(floq_codec_set_registry_id(other, FLOQ_MSG_REPLY, 42,
                                                    0),
                         FLOQ_OK);
        ck_assert_int_eq(floq_codec_decode(other, FLOQ_MSG_REPLY, buf, len,
                                           &out, errstr, sizeof(errstr)),
                         FLOQ_OK);
        ck_assert(test_json_subset(in, out));
        json_decref(out);
        free(buf);
        ck_assert_int_eq(floq_codec_encode(other, FLOQ_MSG_REPLY, in,
                                           (void **)&buf, &len, errstr,
                                           sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_uint_eq(buf[0], 0xc3);
        free(buf);
        /* a registered writer version can carry an id too */
        ck_assert_int_eq(floq_codec_add_writer_schema(
                                 other, FLOQ_MSG_REPLY,
                                 floq_schema_json(FLOQ_MSG_REPLY), 43, errstr,
                                 sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_codec_set_registry_id(other, FLOQ_MSG_REPLY, -1,
                                                    0),
                         FLOQ_ERR_INVALID_ARG);
        json_decref(in);
        floq_codec_destroy(other);
}
END_TEST

START_TEST(test_wrong_type_and_unknown_schema) {
        json_t *in = parse(full_msgs[FLOQ_MSG_REPLY]), *out = NULL;
        unsigned char *buf;
        size_t len;

        encode_ok(FLOQ_MSG_REPLY, in, (void **)&buf, &len);
        ck_assert_int_eq(floq_codec_decode(codec, FLOQ_MSG_COMMAND, buf, len,
                                           &out, errstr, sizeof(errstr)),
                         FLOQ_ERR_UNKNOWN_SCHEMA);
        ck_assert_ptr_nonnull(strstr(errstr, "it is a schema of Reply"));
        ck_assert_ptr_null(out);
        buf[5] ^= 0x40;
        ck_assert_int_eq(floq_codec_decode(codec, FLOQ_MSG_REPLY, buf, len,
                                           &out, errstr, sizeof(errstr)),
                         FLOQ_ERR_UNKNOWN_SCHEMA);
        ck_assert_ptr_nonnull(strstr(errstr, "unknown schema fingerprint"));
        ck_assert_int_eq(floq_codec_peek_type(codec, buf, len), -1);
        ck_assert_int_eq(floq_codec_peek_type(codec, "xy", 2), -1);
        json_decref(in);
        free(buf);
}
END_TEST

START_TEST(test_read_fields) {
        /* Top-level fields read from the bytes, as a decode gives them:
         * each kind of value, null branches, a map only located, an
         * unknown name not found; the writer's version told; bad bytes
         * refused as a decode refuses them. */
        static const char *const names[] = {
                "run_id", "status", "attempt", "heartbeat_at",
                "heartbeat_only", "finished_at", "idempotency_key", "params",
                "no_such_field"
        };
        floq_codec_field_t f[9];
        json_t *rs = json_pack(
                "{s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:b, s:s, s:{s:s}}",
                "run_id", "6c1f0a00-0000-4000-8000-000000000001",
                "deployment", "d", "command_id",
                "6c1f0a00-0000-4000-8000-000000000002", "status", "TIMED_OUT",
                "attempt", 3, "heartbeat_at", (json_int_t)-1234567890123,
                "created_at", (json_int_t)1, "heartbeat_only", 1,
                "idempotency_key", "", "params", "a", "b");
        floq_codec_t *v1;
        void *buf;
        size_t len;
        int current = -1;

        encode_ok(FLOQ_MSG_RUN_STATE, rs, &buf, &len);
        ck_assert_int_eq(floq_codec_read_fields(codec, FLOQ_MSG_RUN_STATE,
                                                buf, len, names, f, 9,
                                                &current, errstr,
                                                sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(current, 1);
        ck_assert(f[0].found && !f[0].is_null);
        ck_assert_uint_eq(f[0].str_len, 36);
        ck_assert_mem_eq(f[0].str, "6c1f0a00-0000-4000-8000-000000000001",
                         36);
        ck_assert_str_eq(f[1].str, "TIMED_OUT");
        ck_assert_int_eq(f[2].num, 3);
        ck_assert_int_eq(f[3].num, -1234567890123);
        ck_assert_int_eq(f[4].num, 1);
        ck_assert(f[5].found && f[5].is_null && !f[5].str);
        ck_assert(f[6].found && !f[6].is_null && f[6].str);
        ck_assert_uint_eq(f[6].str_len, 0);
        /* the map: located (count 1, "a", "b", end), not read */
        ck_assert(f[7].found && !f[7].str);
        ck_assert_uint_eq(f[7].len, 6);
        ck_assert_int_eq(((unsigned char *)buf)[f[7].off], 2); /* zigzag 1 */
        ck_assert(!f[8].found);
        ck_assert_int_ne(floq_codec_read_fields(codec, FLOQ_MSG_RUN_STATE,
                                                buf, len - 1, names, f, 9,
                                                NULL, errstr, sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_ne(floq_codec_read_fields(codec, FLOQ_MSG_DEPLOYMENT,
                                                buf, len, names, f, 9, NULL,
                                                errstr, sizeof(errstr)),
                         FLOQ_OK);
        free(buf);

        /* an older writer's bytes: read, and said to be older */
        v1 = test_codec_v1(FLOQ_MSG_RUN_STATE);
        json_object_del(rs, "heartbeat_only");
        ck_assert_int_eq(floq_codec_encode(v1, FLOQ_MSG_RUN_STATE, rs, &buf,
                                           &len, errstr, sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_codec_read_fields(codec, FLOQ_MSG_RUN_STATE,
                                                buf, len, names, f, 9,
                                                &current, errstr,
                                                sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(current, 0);
        ck_assert_str_eq(f[1].str, "TIMED_OUT");
        free(buf);
        floq_codec_destroy(v1);
        json_decref(rs);
}
END_TEST

/* The restore's fast path for outcome records (worker/restore.c,
 * outcome_fast()) trusts floq_codec_read_fields() where it would
 * otherwise decode: on 20,000 mutations of a DeploymentOutcome (bytes
 * changed, cut, grown), whatever read_fields accepts as the current
 * schema decodes too, its strings lie within the buffer and equal the
 * decode's. Under ASan this is the path's fuzz. */
START_TEST(test_read_fields_outcome_mutations) {
        static const char *const names[] = { "status", "reason",
                                             "cancelled_runs", "at" };
        floq_codec_t *cdc = floq_codec_new(1 << 20, NULL, 0);
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:[s],s:I}", "deployment",
                              "dep", "command_id",
                              "6c1f0a00-0000-4000-8000-0000000000b1",
                              "status", "STOPPED", "reason", "why",
                              "cancelled_runs", "r-1", "at",
                              (json_int_t)1700000000000);
        unsigned char *buf = NULL, m[512];
        unsigned seed = 7;
        size_t len, mlen, i;
        int round, accepted = 0;

        ck_assert_ptr_nonnull(cdc);
        ck_assert_int_eq(floq_codec_encode(cdc, FLOQ_MSG_DEPLOYMENT_OUTCOME,
                                           o, (void **)&buf, &len, NULL, 0),
                         FLOQ_OK);
        ck_assert_uint_lt(len, sizeof(m) - 16);
        for (round = 0; round < 20000; round++) {
                floq_codec_field_t f[4];
                json_t *d = NULL;
                int current = 0, k, changes;

                memcpy(m, buf, len);
                mlen = len;
                seed = seed * 1103515245u + 12345u;
                changes = 1 + (int)((seed >> 16) % 3);
                for (k = 0; k < changes; k++) {
                        seed = seed * 1103515245u + 12345u;
                        i = 10 + (seed >> 8) % (mlen - 10); /* past the header */
                        switch ((seed >> 4) % 4) {
                        case 0: m[i] = (unsigned char)(seed >> 20); break;
                        case 1: m[i] ^= (unsigned char)(1u << ((seed >> 12) % 8)); break;
                        case 2: mlen = i; break;
                        default:
                                if (mlen < sizeof(m))
                                        m[mlen++] = (unsigned char)(seed >> 20);
                        }
                        if (mlen <= 10)
                                break;
                }
                if (floq_codec_read_fields(cdc, FLOQ_MSG_DEPLOYMENT_OUTCOME,
                                           m, mlen, names, f, 4, &current,
                                           NULL, 0) ||
                    !current)
                        continue;
                accepted++;
                for (k = 0; k < 4; k++)
                        if (f[k].str &&
                            ((const unsigned char *)f[k].str < m ||
                             (const unsigned char *)f[k].str + f[k].str_len >
                                     m + mlen))
                                ck_abort_msg("round %d: field %d outside the "
                                             "buffer", round, k);
                if (floq_codec_decode(cdc, FLOQ_MSG_DEPLOYMENT_OUTCOME, m,
                                      mlen, &d, NULL, 0))
                        ck_abort_msg("round %d: read_fields accepts what "
                                     "decode refuses", round);
                if (!f[0].str || !json_is_string(json_object_get(d, "status")) ||
                    f[0].str_len != json_string_length(json_object_get(d, "status")) ||
                    memcmp(f[0].str, json_string_value(json_object_get(d, "status")),
                           f[0].str_len) ||
                    f[3].num != json_integer_value(json_object_get(d, "at")))
                        ck_abort_msg("round %d: read_fields and decode differ",
                                     round);
                json_decref(d);
        }
        ck_assert_int_gt(accepted, 0);
        free(buf);
        json_decref(o);
        floq_codec_destroy(cdc);
}
END_TEST

START_TEST(test_schema_admin) {
        ck_assert_str_eq(floq_msg_type_name(FLOQ_MSG_RUN_STATE), "RunState");
        ck_assert_ptr_null(floq_msg_type_name(FLOQ_MSG__CNT));
        ck_assert_ptr_null(floq_schema_json(FLOQ_MSG__CNT));
        ck_assert_int_eq(floq_codec_add_writer_schema(codec, FLOQ_MSG_COMMAND,
                                                      "{", -1, errstr,
                                                      sizeof(errstr)),
                         FLOQ_ERR_INVALID_ARG);
        ck_assert_ptr_nonnull(strstr(errstr, "not JSON"));
        ck_assert_int_eq(floq_codec_add_writer_schema(
                                 codec, FLOQ_MSG_COMMAND,
                                 floq_schema_json(FLOQ_MSG_REPLY), -1, errstr,
                                 sizeof(errstr)),
                         FLOQ_ERR_INVALID_ARG);
        ck_assert_ptr_nonnull(strstr(errstr, "does not match reader"));
        ck_assert_int_eq(floq_codec_set_schema(codec, FLOQ_MSG_COMMAND,
                                               "\"int\"", errstr,
                                               sizeof(errstr)),
                         FLOQ_ERR_INVALID_ARG);
        ck_assert_int_eq(floq_codec_set_schema(
                                 codec, FLOQ_MSG_COMMAND,
                                 "{\"type\":\"record\",\"name\":\"Command\","
                                 "\"fields\":[{\"name\":\"a\",\"type\":"
                                 "\"int\",\"default\":\"x\"}]}",
                                 errstr, sizeof(errstr)),
                         FLOQ_ERR_INVALID_ARG);
        ck_assert_ptr_nonnull(strstr(errstr, "field 'a'"));
}
END_TEST

static Suite *codec_suite(void) {
        Suite *s = suite_create("codec");
        TCase *tc = tcase_create("codec");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_roundtrip_all_types);
        tcase_add_test(tc, test_defaults_filled);
        tcase_add_test(tc, test_encode_errors);
        tcase_add_test(tc, test_union_and_bytes_shapes);
        tcase_add_test(tc, test_too_large);
        tcase_add_test(tc, test_confluent);
        tcase_add_test(tc, test_wrong_type_and_unknown_schema);
        tcase_add_test(tc, test_schema_admin);
        tcase_add_test(tc, test_read_fields);
        tcase_add_test(tc, test_read_fields_outcome_mutations);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(codec_suite());
}
