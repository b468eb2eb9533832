/*
 * test_codec_evolution.c - schema evolution (schemas/resolve.c). Two codecs
 * play two programs: A built against an older Command and Reply (the
 * .old.avsc files in tests/unit/data/codec/) and B against newer ones (the
 * .new.avsc files: extra fields with defaults, extra enum symbols, a
 * widened type). Each
 * reads what the other wrote once it was taught the other's schema:
 * reader fields the writer lacks get the reader's defaults, writer fields
 * the reader lacks are dropped, symbols the reader lacks become its enum
 * default, ints widen. Further cases cover promotions, field aliases,
 * missing defaults, unmatched union branches and Confluent ids of writer
 * versions. FLOQ_SRCDIR points at the source tree when not run from it.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "floq_schemas.h"
#include "test_util.h"

#define MAX_MSG (64 * 1024)

static floq_codec_t *old_codec, *new_codec;
static char *cmd_old, *cmd_new, *reply_old, *reply_new;
static char errstr[512];

static char *read_data(const char *name) {
        const char *dir = getenv("FLOQ_SRCDIR");
        char path[1024];
        char *text;
        long len;
        FILE *fp;

        snprintf(path, sizeof(path), "%s/tests/unit/data/codec/%s",
                 dir ? dir : ".", name);
        fp = fopen(path, "rb");
        ck_assert_msg(fp != NULL, "cannot open '%s'", path);
        fseek(fp, 0, SEEK_END);
        len = ftell(fp);
        rewind(fp);
        text = malloc((size_t)len + 1);
        ck_assert_ptr_nonnull(text);
        ck_assert_uint_eq(fread(text, 1, (size_t)len, fp), (size_t)len);
        text[len] = '\0';
        fclose(fp);
        return text;
}

static floq_codec_t *codec_with(const char *cmd, const char *reply) {
        floq_codec_t *c = floq_codec_new(MAX_MSG, errstr, sizeof(errstr));

        ck_assert_ptr_nonnull(c);
        ck_assert_msg(floq_codec_set_schema(c, FLOQ_MSG_COMMAND, cmd, errstr,
                                            sizeof(errstr)) == FLOQ_OK,
                      "%s", errstr);
        ck_assert_msg(floq_codec_set_schema(c, FLOQ_MSG_REPLY, reply, errstr,
                                            sizeof(errstr)) == FLOQ_OK,
                      "%s", errstr);
        return c;
}

static void teach(floq_codec_t *c, const char *cmd, const char *reply) {
        ck_assert_msg(floq_codec_add_writer_schema(c, FLOQ_MSG_COMMAND, cmd,
                                                   -1, errstr,
                                                   sizeof(errstr)) == FLOQ_OK,
                      "%s", errstr);
        ck_assert_msg(floq_codec_add_writer_schema(c, FLOQ_MSG_REPLY, reply,
                                                   -1, errstr,
                                                   sizeof(errstr)) == FLOQ_OK,
                      "%s", errstr);
}

static void setup(void) {
        cmd_old = read_data("Command.old.avsc");
        cmd_new = read_data("Command.new.avsc");
        reply_old = read_data("Reply.old.avsc");
        reply_new = read_data("Reply.new.avsc");
        old_codec = codec_with(cmd_old, reply_old);
        new_codec = codec_with(cmd_new, reply_new);
}

static void teardown(void) {
        floq_codec_destroy(old_codec);
        floq_codec_destroy(new_codec);
        free(cmd_old);
        free(cmd_new);
        free(reply_old);
        free(reply_new);
}

static json_t *parse(const char *text) {
        json_error_t jerr;
        json_t *j = json_loads(text, 0, &jerr);

        ck_assert_msg(j != NULL, "bad test JSON: %s", jerr.text);
        return j;
}

/** @p from encodes @p text as @p type, @p to decodes it (or fails with
 *  @p want_err); returns the decoded value. */
static json_t *carry(floq_codec_t *from, floq_codec_t *to,
                     floq_msg_type_t type, const char *text,
                     floq_err_t want_err) {
        json_t *in = parse(text), *out = NULL;
        floq_err_t err;
        void *buf;
        size_t len;

        err = floq_codec_encode(from, type, in, &buf, &len, errstr,
                                sizeof(errstr));
        ck_assert_msg(err == FLOQ_OK, "encode: %s", errstr);
        err = floq_codec_decode(to, type, buf, len, &out, errstr,
                                sizeof(errstr));
        ck_assert_msg(err == want_err, "decode: got %s (%s), want %s",
                      floq_err_name(err), errstr, floq_err_name(want_err));
        json_decref(in);
        free(buf);
        return out;
}

static void assert_json(json_t *got, const char *want_text) {
        json_t *want = parse(want_text);
        char *g = json_dumps(got, JSON_SORT_KEYS | JSON_ENCODE_ANY);

        ck_assert_msg(json_equal(got, want), "got %s\nwant %s", g, want_text);
        free(g);
        json_decref(want);
}

#define RUN_NEW                                                                \
        "{\"command_id\":\"c\",\"issued_at\":1,\"deployment\":\"d\","          \
        "\"trace\":{\"id\":\"t-1\"},\"body\":{\"RunBody\":{\"params\":"        \
        "{\"a\":\"b\"},\"timeout_ms\":5,\"schedule_id\":\"s\","                \
        "\"priority\":9,\"labels\":{}}}}"

START_TEST(test_old_reads_new_command) {
        json_t *out;

        /* unknown until taught */
        out = carry(new_codec, old_codec, FLOQ_MSG_COMMAND, RUN_NEW,
                    FLOQ_ERR_UNKNOWN_SCHEMA);
        ck_assert_ptr_null(out);
        teach(old_codec, cmd_new, reply_new);
        out = carry(new_codec, old_codec, FLOQ_MSG_COMMAND, RUN_NEW, FLOQ_OK);
        assert_json(out, "{\"command_id\":\"c\",\"correlation_id\":null,"
                         "\"issued_at\":1,\"expires_at\":null,"
                         "\"reply_to\":null,\"deployment\":\"d\","
                         "\"idempotency_key\":null,\"key_id\":null,"
                         "\"signature\":null,\"body\":{\"RunBody\":"
                         "{\"params\":{\"a\":\"b\"},"
                         "\"scheduled_for\":null}}}");
        json_decref(out);

        /* a symbol the old reader lacks becomes its default */
        out = carry(new_codec, old_codec, FLOQ_MSG_COMMAND,
                    "{\"command_id\":\"c\",\"issued_at\":1,"
                    "\"deployment\":\"d\",\"body\":{\"ScheduleBody\":"
                    "{\"cron\":\"@daily\",\"overlap\":\"QUEUE\","
                    "\"catchup\":\"ALL\"}}}",
                    FLOQ_OK);
        ck_assert_str_eq(
                json_string_value(json_object_get(
                        json_object_get(json_object_get(out, "body"),
                                        "ScheduleBody"),
                        "overlap")),
                "ALLOW");
        ck_assert_str_eq(
                json_string_value(json_object_get(
                        json_object_get(json_object_get(out, "body"),
                                        "ScheduleBody"),
                        "catchup")),
                "ALL");
        json_decref(out);
}
END_TEST

START_TEST(test_new_reads_old_command) {
        json_t *out;

        teach(new_codec, cmd_old, reply_old);
        out = carry(old_codec, new_codec, FLOQ_MSG_COMMAND,
                    "{\"command_id\":\"c\",\"issued_at\":1,"
                    "\"deployment\":\"d\",\"body\":{\"RunBody\":"
                    "{\"params\":{\"a\":\"b\"},\"scheduled_for\":7}}}",
                    FLOQ_OK);
        assert_json(json_object_get(out, "body"),
                    "{\"RunBody\":{\"params\":{\"a\":\"b\"},"
                    "\"timeout_ms\":null,\"scheduled_for\":7,"
                    "\"schedule_id\":null,\"parent_run_id\":null,"
                    "\"priority\":5,\"labels\":{\"team\":\"data\"}}}");
        ck_assert(json_is_null(json_object_get(out, "trace")));
        json_decref(out);
}
END_TEST

START_TEST(test_replies_both_ways) {
        json_t *out;

        teach(new_codec, cmd_old, reply_old);
        teach(old_codec, cmd_new, reply_new);
        /* old -> new: int exit_code widens to long, new fields default */
        out = carry(old_codec, new_codec, FLOQ_MSG_REPLY,
                    "{\"command_id\":\"c\",\"deployment\":\"d\","
                    "\"produced_at\":1,\"status\":\"FAILED\","
                    "\"exit_code\":3}",
                    FLOQ_OK);
        assert_json(out, "{\"command_id\":\"c\",\"correlation_id\":null,"
                         "\"deployment\":\"d\",\"produced_at\":1,"
                         "\"status\":\"FAILED\",\"final\":true,"
                         "\"reason\":null,\"run_id\":null,\"url\":null,"
                         "\"worker\":null,\"attempt\":0,\"exit_code\":3,"
                         "\"output_tail\":null,\"cancelled_runs\":[],"
                         "\"next_fire_times\":[],\"detail\":null,"
                         "\"duration_ms\":null}");
        json_decref(out);

        /* new -> old: unknown symbols become UNKNOWN, extra fields go */
        out = carry(new_codec, old_codec, FLOQ_MSG_REPLY,
                    "{\"command_id\":\"c\",\"deployment\":\"d\","
                    "\"produced_at\":1,\"status\":\"PAUSED\","
                    "\"detail\":\"{}\",\"next_fire_times\":[5],"
                    "\"duration_ms\":10}",
                    FLOQ_OK);
        ck_assert_str_eq(json_string_value(json_object_get(out, "status")),
                         "UNKNOWN");
        ck_assert_ptr_null(json_object_get(out, "detail"));
        ck_assert_ptr_null(json_object_get(out, "duration_ms"));
        json_decref(out);
        out = carry(new_codec, old_codec, FLOQ_MSG_REPLY,
                    "{\"command_id\":\"c\",\"deployment\":\"d\","
                    "\"produced_at\":1,\"status\":\"VALID\"}",
                    FLOQ_OK);
        ck_assert_str_eq(json_string_value(json_object_get(out, "status")),
                         "UNKNOWN");
        json_decref(out);

        /* a long cannot narrow to the old int: a clear error */
        out = carry(new_codec, old_codec, FLOQ_MSG_REPLY,
                    "{\"command_id\":\"c\",\"deployment\":\"d\","
                    "\"produced_at\":1,\"status\":\"FAILED\","
                    "\"exit_code\":5}",
                    FLOQ_ERR_DECODE);
        ck_assert_ptr_null(out);
        ck_assert_ptr_nonnull(strstr(errstr, "Reply.exit_code: the reader's "
                                             "union has no branch for the "
                                             "writer's long"));
}
END_TEST

START_TEST(test_builtin_reads_both) {
        floq_codec_t *cur = floq_codec_new(MAX_MSG, errstr, sizeof(errstr));
        json_t *out;

        ck_assert_ptr_nonnull(cur);
        teach(cur, cmd_old, reply_old);
        teach(cur, cmd_new, reply_new);
        out = carry(new_codec, cur, FLOQ_MSG_COMMAND, RUN_NEW, FLOQ_OK);
        ck_assert_int_eq(json_integer_value(json_object_get(
                                 json_object_get(json_object_get(out, "body"),
                                                 "RunBody"),
                                 "timeout_ms")),
                         5);
        json_decref(out);
        out = carry(old_codec, cur, FLOQ_MSG_REPLY,
                    "{\"command_id\":\"c\",\"deployment\":\"d\","
                    "\"produced_at\":1,\"status\":\"LOST\"}",
                    FLOQ_OK);
        ck_assert(json_is_array(json_object_get(out, "next_fire_times")));
        json_decref(out);
        floq_codec_destroy(cur);
}
END_TEST

static const char promo_writer[] =
        "{\"type\":\"record\",\"name\":\"w.P\",\"fields\":["
        "{\"name\":\"a\",\"type\":\"int\"},"
        "{\"name\":\"b\",\"type\":\"long\"},"
        "{\"name\":\"c\",\"type\":\"float\"},"
        "{\"name\":\"s\",\"type\":\"string\"},"
        "{\"name\":\"y\",\"type\":\"bytes\"},"
        "{\"name\":\"old_name\",\"type\":\"string\"},"
        "{\"name\":\"arr\",\"type\":{\"type\":\"array\",\"items\":\"int\"}},"
        "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"int\"}},"
        "{\"name\":\"u\",\"type\":[\"string\",\"int\"]},"
        "{\"name\":\"dropped\",\"type\":\"string\"}]}";

static const char promo_reader[] =
        "{\"type\":\"record\",\"name\":\"r.P\",\"fields\":["
        "{\"name\":\"a\",\"type\":\"double\"},"
        "{\"name\":\"b\",\"type\":\"float\"},"
        "{\"name\":\"c\",\"type\":\"double\"},"
        "{\"name\":\"s\",\"type\":\"bytes\"},"
        "{\"name\":\"y\",\"type\":\"string\"},"
        "{\"name\":\"new_name\",\"aliases\":[\"old_name\"],"
        "\"type\":\"string\"},"
        "{\"name\":\"arr\",\"type\":{\"type\":\"array\",\"items\":\"long\"}},"
        "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"double\"}},"
        "{\"name\":\"u\",\"type\":[\"null\",\"long\"]},"
        "{\"name\":\"z\",\"type\":\"string\",\"default\":\"zz\"}]}";

START_TEST(test_promotions_and_aliases) {
        floq_codec_t *w = floq_codec_new(MAX_MSG, errstr, sizeof(errstr));
        json_t *out;

        ck_assert_int_eq(floq_codec_set_schema(w, FLOQ_MSG_RUN_STATE,
                                               promo_writer, errstr,
                                               sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_codec_set_schema(old_codec, FLOQ_MSG_RUN_STATE,
                                               promo_reader, errstr,
                                               sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_codec_add_writer_schema(
                                 old_codec, FLOQ_MSG_RUN_STATE, promo_writer,
                                 -1, errstr, sizeof(errstr)),
                         FLOQ_OK);
        out = carry(w, old_codec, FLOQ_MSG_RUN_STATE,
                    "{\"a\":1,\"b\":2,\"c\":0.5,\"s\":\"hi\",\"y\":\"6f6b\","
                    "\"old_name\":\"n\",\"arr\":[1,2],\"m\":{\"k\":3},"
                    "\"u\":{\"int\":4},\"dropped\":\"x\"}",
                    FLOQ_OK);
        assert_json(out, "{\"a\":1.0,\"b\":2.0,\"c\":0.5,\"s\":\"6869\","
                         "\"y\":\"ok\",\"new_name\":\"n\",\"arr\":[1,2],"
                         "\"m\":{\"k\":3.0},\"u\":4,\"z\":\"zz\"}");
        json_decref(out);
        /* a writer branch the reader's union lacks */
        out = carry(w, old_codec, FLOQ_MSG_RUN_STATE,
                    "{\"a\":1,\"b\":2,\"c\":0.5,\"s\":\"hi\",\"y\":\"ff\","
                    "\"old_name\":\"n\",\"arr\":[],\"m\":{},"
                    "\"u\":{\"int\":4},\"dropped\":\"x\"}",
                    FLOQ_ERR_DECODE);
        ck_assert_ptr_nonnull(strstr(errstr, "RunState.y: bytes are not "
                                             "UTF-8 text for a string"));
        out = carry(w, old_codec, FLOQ_MSG_RUN_STATE,
                    "{\"a\":1,\"b\":2,\"c\":0.5,\"s\":\"hi\",\"y\":\"\","
                    "\"old_name\":\"n\",\"arr\":[],\"m\":{},"
                    "\"u\":{\"string\":\"4\"},\"dropped\":\"x\"}",
                    FLOQ_ERR_DECODE);
        ck_assert_ptr_nonnull(strstr(errstr, "RunState.u.string: the "
                                             "reader's union has no branch"));
        floq_codec_destroy(w);
}
END_TEST

START_TEST(test_missing_default) {
        static const char reader[] =
                "{\"type\":\"record\",\"name\":\"P\",\"fields\":["
                "{\"name\":\"a\",\"type\":\"int\"},"
                "{\"name\":\"q\",\"type\":\"string\"}]}";
        static const char writer[] =
                "{\"type\":\"record\",\"name\":\"P\",\"fields\":["
                "{\"name\":\"a\",\"type\":\"int\"}]}";
        floq_codec_t *w = floq_codec_new(MAX_MSG, errstr, sizeof(errstr));
        json_t *out;

        ck_assert_int_eq(floq_codec_set_schema(w, FLOQ_MSG_RUN_STATE, writer,
                                               errstr, sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_codec_set_schema(old_codec, FLOQ_MSG_RUN_STATE,
                                               reader, errstr,
                                               sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_codec_add_writer_schema(old_codec,
                                                      FLOQ_MSG_RUN_STATE,
                                                      writer, -1, errstr,
                                                      sizeof(errstr)),
                         FLOQ_OK);
        out = carry(w, old_codec, FLOQ_MSG_RUN_STATE, "{\"a\":1}",
                    FLOQ_ERR_DECODE);
        ck_assert_ptr_null(out);
        ck_assert_ptr_nonnull(strstr(errstr, "RunState.q: the writer has no "
                                             "such field and the reader no "
                                             "default"));
        floq_codec_destroy(w);
}
END_TEST

START_TEST(test_confluent_writer_id) {
        json_t *in = parse(RUN_NEW), *out = NULL;
        unsigned char *buf, *conf;
        size_t len;

        ck_assert_int_eq(floq_codec_add_writer_schema(old_codec,
                                                      FLOQ_MSG_COMMAND,
                                                      cmd_new, 7, errstr,
                                                      sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_codec_encode(new_codec, FLOQ_MSG_COMMAND, in,
                                           (void **)&buf, &len, errstr,
                                           sizeof(errstr)),
                         FLOQ_OK);
        /* same body behind a Confluent header naming id 7 */
        conf = malloc(len - 5);
        memcpy(conf, "\x00\x00\x00\x00\x07", 5);
        memcpy(conf + 5, buf + 10, len - 10);
        ck_assert_int_eq(floq_codec_peek_type(old_codec, conf, len - 5),
                         FLOQ_MSG_COMMAND);
        ck_assert_int_eq(floq_codec_decode(old_codec, FLOQ_MSG_COMMAND, conf,
                                           len - 5, &out, errstr,
                                           sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_ptr_null(json_object_get(json_object_get(
                                                   json_object_get(out,
                                                                   "body"),
                                                   "RunBody"),
                                           "priority"));
        json_decref(out);
        json_decref(in);
        free(conf);
        free(buf);
}
END_TEST

static Suite *evolution_suite(void) {
        Suite *s = suite_create("codec_evolution");
        TCase *tc = tcase_create("evolution");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_old_reads_new_command);
        tcase_add_test(tc, test_new_reads_old_command);
        tcase_add_test(tc, test_replies_both_ways);
        tcase_add_test(tc, test_builtin_reads_both);
        tcase_add_test(tc, test_promotions_and_aliases);
        tcase_add_test(tc, test_missing_default);
        tcase_add_test(tc, test_confluent_writer_id);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(evolution_suite());
}
