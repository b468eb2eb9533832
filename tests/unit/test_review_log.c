/*
 * test_review_log.c - one log line per call whatever the message holds:
 * a run id, command id, reason or backend answer with a newline (or any
 * control character) cannot forge a second line in the text format, and
 * the JSON format keeps them as data.
 */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "floq_common.h"
#include "test_util.h"

static char *slurp(FILE *out) {
        long len;
        char *buf;

        fflush(out);
        len = ftell(out);
        buf = calloc(1, (size_t)len + 1);
        rewind(out);
        ck_assert_uint_eq(fread(buf, 1, (size_t)len, out), (size_t)len);
        return buf;
}

static size_t lines(const char *s) {
        size_t n = 0;

        for (; *s; s++)
                n += *s == '\n';
        return n;
}

static const char *const forged =
        "r1\n2026-01-01T00:00:00.000Z floq-worker ERROR [run] run r1 "
        "FAILED\r\x1b[2Kspoofed";

START_TEST(test_text_one_line) {
        FILE *out = tmpfile();
        char *buf;

        floq_log_setup("floq-worker", FLOQ_LOG_INFO, 0, out);
        floq_info_ids("run", forged, "c\n1", "run %s: command %s", forged,
                      "c\n1");
        floq_info("run", "reason: %s", forged);
        buf = slurp(out);
        ck_assert_uint_eq(lines(buf), 2);
        ck_assert_ptr_null(strchr(buf, '\r'));
        ck_assert_ptr_null(strchr(buf, '\x1b'));
        /* what was there is still readable */
        ck_assert_ptr_nonnull(strstr(buf, "r1\\n2026-01-01"));
        free(buf);
        floq_log_setup("floq", FLOQ_LOG_INFO, 0, NULL);
        fclose(out);
}
END_TEST

START_TEST(test_json_one_object_per_line) {
        FILE *out = tmpfile();
        json_error_t jerr;
        json_t *o;
        char *buf, *nl;

        floq_log_setup("floq-worker", FLOQ_LOG_INFO, 1, out);
        floq_info_ids("run", forged, "c\"1", "run %s", forged);
        buf = slurp(out);
        ck_assert_uint_eq(lines(buf), 1);
        nl = strchr(buf, '\n');
        o = json_loadb(buf, (size_t)(nl - buf), 0, &jerr);
        ck_assert_ptr_nonnull(o);
        ck_assert_str_eq(json_string_value(json_object_get(o, "run_id")),
                         forged);
        ck_assert_str_eq(json_string_value(json_object_get(o, "command_id")),
                         "c\"1");
        json_decref(o);
        free(buf);
        floq_log_setup("floq", FLOQ_LOG_INFO, 0, NULL);
        fclose(out);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("review_log");
        TCase *tc = tcase_create("log");

        tcase_add_test(tc, test_text_one_line);
        tcase_add_test(tc, test_json_one_object_per_line);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
