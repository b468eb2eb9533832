/*
 * test_log.c - the logger and the time helpers it stamps lines with:
 * level filtering (arguments below the threshold are never evaluated),
 * the text layout, JSON lines that jansson parses back with quotes,
 * newlines and control bytes intact, librdkafka level mapping, whole lines
 * under concurrent writers, and RFC 3339 / UUID v4 formats.
 */
#include <check.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "floq_common.h"
#include "test_util.h"

static FILE *out;

static void setup(void) {
        out = tmpfile();
        ck_assert_ptr_nonnull(out);
}

static void teardown(void) {
        /* back to defaults so CK_FORK=no runs do not leak state */
        floq_log_setup("floq", FLOQ_LOG_INFO, 0, NULL);
        if (out)
                fclose(out);
        out = NULL;
}

/* Everything written so far, NUL-terminated; caller frees. */
static char *slurp(void) { return test_file_text(out); }

static int count_lines(const char *s) {
        int n = 0;

        for (; *s; s++)
                n += *s == '\n';
        return n;
}

static int side_effects;
static int bump(void) {
        return ++side_effects;
}

START_TEST(test_level_parse) {
        ck_assert_int_eq(floq_log_level_parse("err"), FLOQ_LOG_ERR);
        ck_assert_int_eq(floq_log_level_parse("error"), FLOQ_LOG_ERR);
        ck_assert_int_eq(floq_log_level_parse("WARN"), FLOQ_LOG_WARN);
        ck_assert_int_eq(floq_log_level_parse("warning"), FLOQ_LOG_WARN);
        ck_assert_int_eq(floq_log_level_parse("notice"), FLOQ_LOG_NOTICE);
        ck_assert_int_eq(floq_log_level_parse("info"), FLOQ_LOG_INFO);
        ck_assert_int_eq(floq_log_level_parse("debug"), FLOQ_LOG_DEBUG);
        ck_assert_int_eq(floq_log_level_parse("7"), FLOQ_LOG_DEBUG);
        ck_assert_int_eq(floq_log_level_parse("3"), FLOQ_LOG_ERR);
        ck_assert_int_eq(floq_log_level_parse("8"), -1);
        ck_assert_int_eq(floq_log_level_parse("33"), -1);
        ck_assert_int_eq(floq_log_level_parse("verbose"), -1);
        ck_assert_int_eq(floq_log_level_parse(""), -1);
        ck_assert_int_eq(floq_log_level_parse(NULL), -1);
}
END_TEST

START_TEST(test_filter_skips_arguments) {
        char *text;

        floq_log_setup("t", FLOQ_LOG_WARN, 0, out);
        side_effects = 0;
        floq_debug("fac", "debug %d", bump());
        floq_info("fac", "info %d", bump());
        floq_notice("fac", "notice %d", bump());
        ck_assert_int_eq(side_effects, 0);
        floq_warn("fac", "warn %d", bump());
        floq_err("fac", "err %d", bump());
        ck_assert_int_eq(side_effects, 2);
        text = slurp();
        ck_assert_int_eq(count_lines(text), 2);
        ck_assert_ptr_nonnull(strstr(text, "warn 1"));
        ck_assert_ptr_nonnull(strstr(text, "err 2"));
        free(text);
}
END_TEST

START_TEST(test_text_format) {
        char *text;

        floq_log_setup("floq-worker", FLOQ_LOG_DEBUG, 0, out);
        floq_info("fac", "hello %s", "world");
        floq_debug("d", "x");
        text = slurp();
        /* 2026-11-23T10:50:14.123Z floq-worker INFO  [fac] hello world */
        ck_assert_int_eq(text[4], '-');
        ck_assert_int_eq(text[10], 'T');
        ck_assert_int_eq(text[19], '.');
        ck_assert_int_eq(text[23], 'Z');
        ck_assert_msg(!strncmp(text + 24,
                               " floq-worker INFO  [fac] hello world\n", 37),
                      "got '%s'", text);
        ck_assert_ptr_nonnull(strstr(text, " floq-worker DEBUG [d] x\n"));
        free(text);
}
END_TEST

START_TEST(test_long_message) {
        char *big = malloc(5001), *text;

        memset(big, 'a', 5000);
        big[5000] = '\0';
        floq_log_setup("t", FLOQ_LOG_INFO, 0, out);
        floq_info("f", "<%s>", big);
        text = slurp();
        ck_assert_ptr_nonnull(strstr(text, big));
        ck_assert_ptr_nonnull(strstr(text, "a>\n"));
        free(text);
        free(big);
}
END_TEST

START_TEST(test_json_lines) {
        const char *tricky = "say \"hi\"\nback\\slash\ttab \x01 end";
        json_error_t jerr;
        json_t *obj;
        char *text, *nl;

        floq_log_setup("floq-worker", FLOQ_LOG_INFO, 1, out);
        floq_warn("kafka", "%s", tricky);
        floq_debug("kafka", "hidden");
        floq_err("x", "boom");
        text = slurp();
        ck_assert_int_eq(count_lines(text), 2);
        ck_assert_ptr_nonnull(strstr(text, "\"level\":\"error\""));
        nl = strchr(text, '\n');
        ck_assert_ptr_nonnull(nl);
        *nl = '\0';
        obj = json_loads(text, 0, &jerr);
        ck_assert_msg(obj != NULL, "not JSON: %s (%s)", text, jerr.text);
        ck_assert_str_eq(json_string_value(json_object_get(obj, "msg")),
                         tricky);
        ck_assert_str_eq(json_string_value(json_object_get(obj, "level")),
                         "warn");
        ck_assert_str_eq(json_string_value(json_object_get(obj, "program")),
                         "floq-worker");
        ck_assert_str_eq(json_string_value(json_object_get(obj, "facility")),
                         "kafka");
        ck_assert_uint_eq(
                strlen(json_string_value(json_object_get(obj, "ts"))), 24);
        /* field order as documented */
        ck_assert_msg(!strncmp(text, "{\"ts\":", 6), "got %s", text);
        json_decref(obj);
        free(text);
}
END_TEST

START_TEST(test_json_invalid_utf8) {
        json_t *obj;
        char *text;

        floq_log_setup("t", FLOQ_LOG_INFO, 1, out);
        floq_info("f", "bad \xff\xfe bytes");
        text = slurp();
        obj = json_loads(text, JSON_DISABLE_EOF_CHECK, NULL);
        ck_assert_ptr_nonnull(obj);
        ck_assert_ptr_nonnull(
                strstr(json_string_value(json_object_get(obj, "msg")),
                       "bytes"));
        json_decref(obj);
        free(text);
}
END_TEST

START_TEST(test_rdkafka_cb) {
        char *text;

        floq_log_setup("t", FLOQ_LOG_INFO, 0, out);
        floq_log_rdkafka_cb(NULL, 7, "FETCH", "debug line");   /* debug */
        floq_log_rdkafka_cb(NULL, 6, "CGRP", "info line");     /* info */
        floq_log_rdkafka_cb(NULL, 4, "REQTMOUT", "warn line"); /* warn */
        floq_log_rdkafka_cb(NULL, 2, "FAIL", "crit line");     /* err */
        floq_log_rdkafka_cb(NULL, 0, "X", "emerg line");       /* err */
        text = slurp();
        ck_assert_ptr_null(strstr(text, "debug line"));
        ck_assert_ptr_nonnull(strstr(text, " INFO  [rdkafka:CGRP] info line"));
        ck_assert_ptr_nonnull(
                strstr(text, " WARN  [rdkafka:REQTMOUT] warn line"));
        ck_assert_ptr_nonnull(strstr(text, " ERROR [rdkafka:FAIL] crit line"));
        ck_assert_ptr_nonnull(strstr(text, " ERROR [rdkafka:X] emerg line"));
        free(text);
}
END_TEST

#define THREADS 8
#define PER_THREAD 500

static void *writer(void *arg) {
        int i, id = (int)(intptr_t)arg;

        for (i = 0; i < PER_THREAD; i++)
                floq_info("thr", "thread %d line %d with \"quotes\"", id, i);
        return NULL;
}

START_TEST(test_threads_whole_lines) {
        pthread_t th[THREADS];
        char *text, *line, *save = NULL;
        int i, n = 0;

        floq_log_setup("t", FLOQ_LOG_INFO, 1, out);
        for (i = 0; i < THREADS; i++)
                ck_assert_int_eq(pthread_create(&th[i], NULL, writer,
                                                (void *)(intptr_t)i),
                                 0);
        for (i = 0; i < THREADS; i++)
                pthread_join(th[i], NULL);
        text = slurp();
        for (line = strtok_r(text, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
                json_t *obj = json_loads(line, 0, NULL);

                ck_assert_msg(obj != NULL, "torn line: %s", line);
                json_decref(obj);
                n++;
        }
        ck_assert_int_eq(n, THREADS * PER_THREAD);
        free(text);
}
END_TEST

/* What reached an unbuffered stream, write by write (fopencookie). */
static struct {
        int writes;
        char *text;
        size_t len;
} sink;

static ssize_t sink_write(void *cookie, const char *buf, size_t size) {
        char *n = realloc(sink.text, sink.len + size + 1);

        (void)cookie;
        ck_assert_ptr_nonnull(n);
        sink.text = n;
        memcpy(sink.text + sink.len, buf, size);
        sink.len += size;
        sink.text[sink.len] = '\0';
        sink.writes++;
        return (ssize_t)size;
}

/* Each line reaches the stream in one write, as stderr is unbuffered and
 * may be shared with other processes (a service manager's log, a
 * terminal): text with escapes, a message past the stack buffer, JSON. Before, a text line took five
 * write(2)s (one per piece) and more with each escape. */
START_TEST(test_one_write_per_line) {
        cookie_io_functions_t io = { NULL, sink_write, NULL, NULL };
        FILE *f = fopencookie(NULL, "w", io);
        char *big = malloc(3001);

        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(setvbuf(f, NULL, _IONBF, 0), 0);
        memset(&sink, 0, sizeof(sink));
        floq_log_setup("t", FLOQ_LOG_INFO, 0, f);
        floq_info("fac", "run %s ended\nwith \x01 and \r", "r1");
        ck_assert_int_eq(sink.writes, 1);
        ck_assert_ptr_nonnull(
                strstr(sink.text, " t INFO  [fac] run r1 ended\\nwith "
                                  "\\x01 and \\r\n"));
        memset(big, 'b', 3000);
        big[3000] = '\0';
        floq_info("fac", "<%s>", big);
        ck_assert_int_eq(sink.writes, 2);
        ck_assert_ptr_nonnull(strstr(sink.text, big));
        ck_assert_ptr_nonnull(strstr(sink.text, "b>\n"));
        floq_log_setup("t", FLOQ_LOG_INFO, 1, f);
        floq_log_write_ids(FLOQ_LOG_INFO, "fac", "r2", "c2", "json %d", 3);
        ck_assert_int_eq(sink.writes, 3);
        ck_assert_ptr_nonnull(strstr(sink.text, "\"msg\":\"json 3\"}\n"));
        floq_log_setup("floq", FLOQ_LOG_INFO, 0, NULL);
        fclose(f);
        free(big);
        free(sink.text);
        memset(&sink, 0, sizeof(sink));
}
END_TEST

START_TEST(test_ms_to_iso) {
        char buf[32];

        ck_assert_str_eq(floq_ms_to_iso(0, buf, sizeof(buf)),
                         "1970-01-01T00:00:00.000Z");
        ck_assert_str_eq(floq_ms_to_iso(INT64_C(1795431014123), buf,
                                        sizeof(buf)),
                         "2026-11-23T10:50:14.123Z");
        ck_assert_str_eq(floq_ms_to_iso(-1, buf, sizeof(buf)),
                         "1969-12-31T23:59:59.999Z");
        ck_assert_str_eq(floq_ms_to_iso(INT64_C(951782400000), buf,
                                        sizeof(buf)),
                         "2000-02-29T00:00:00.000Z");
        /* truncates rather than overflows */
        floq_ms_to_iso(0, buf, 5);
        ck_assert_str_eq(buf, "1970");
}
END_TEST

START_TEST(test_clocks) {
        int64_t now = floq_now_ms(), m1 = floq_mono_ms(), m2;

        /* after 2024-01-01, before 2100 */
        ck_assert_int_gt(now, INT64_C(1704067200000));
        ck_assert_int_lt(now, INT64_C(4102444800000));
        m2 = floq_mono_ms();
        ck_assert_int_ge(m2, m1);
}
END_TEST

START_TEST(test_uuid) {
        char a[37], b[37];
        int i;

        floq_uuid_new(a);
        floq_uuid_new(b);
        ck_assert_uint_eq(strlen(a), 36);
        ck_assert_str_ne(a, b);
        for (i = 0; i < 36; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23)
                        ck_assert_int_eq(a[i], '-');
                else
                        ck_assert_msg(strchr("0123456789abcdef", a[i]),
                                      "bad char in %s", a);
        }
        ck_assert_int_eq(a[14], '4');               /* version 4 */
        ck_assert_ptr_nonnull(strchr("89ab", a[19])); /* RFC 4122 variant */
}
END_TEST

static Suite *log_suite(void) {
        Suite *s = suite_create("log");
        TCase *tc = tcase_create("log");
        TCase *tt = tcase_create("time");

        tcase_set_timeout(tc, 30);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_level_parse);
        tcase_add_test(tc, test_filter_skips_arguments);
        tcase_add_test(tc, test_text_format);
        tcase_add_test(tc, test_long_message);
        tcase_add_test(tc, test_json_lines);
        tcase_add_test(tc, test_json_invalid_utf8);
        tcase_add_test(tc, test_rdkafka_cb);
        tcase_add_test(tc, test_threads_whole_lines);
        tcase_add_test(tc, test_one_write_per_line);
        suite_add_tcase(s, tc);

        tcase_set_timeout(tt, 10);
        tcase_add_test(tt, test_ms_to_iso);
        tcase_add_test(tt, test_clocks);
        tcase_add_test(tt, test_uuid);
        suite_add_tcase(s, tt);
        return s;
}

int main(void) {
        return test_run_suite(log_suite());
}
