/*
 * test_log_ids.c - log lines about a run or a command (floq_*_ids()): in
 * JSON the ids are the fields run_id and command_id (left out when NULL or
 * empty), the text format prints the message alone, and the level filter
 * skips the arguments as floq_log() does.
 */
#include <check.h>
#include <jansson.h>
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
        floq_log_setup("floq", FLOQ_LOG_INFO, 0, NULL);
        if (out)
                fclose(out);
        out = NULL;
}

/* Everything written so far, NUL-terminated; caller frees. */
static char *slurp(void) { return test_file_text(out); }

static int side_effects;
static const char *bump(void) {
        side_effects++;
        return "x";
}

START_TEST(test_json_fields) {
        char *buf, *nl;
        json_t *a, *b;
        json_error_t e;

        floq_log_setup("floq-test", FLOQ_LOG_DEBUG, 1, out);
        floq_info_ids("run", "r-1", "c-1", "run %s of '%s' started", "r-1",
                      "etl");
        floq_warn_ids("command", NULL, "c-2", "%s: deployed", "c-2");
        buf = slurp();
        nl = strchr(buf, '\n');
        ck_assert_ptr_nonnull(nl);
        *nl = '\0';
        a = json_loads(buf, 0, &e);
        b = json_loads(nl + 1, JSON_DISABLE_EOF_CHECK, &e);
        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_nonnull(b);
        ck_assert_str_eq(json_string_value(json_object_get(a, "run_id")),
                         "r-1");
        ck_assert_str_eq(json_string_value(json_object_get(a, "command_id")),
                         "c-1");
        ck_assert_str_eq(json_string_value(json_object_get(a, "msg")),
                         "run r-1 of 'etl' started");
        ck_assert_str_eq(json_string_value(json_object_get(a, "facility")),
                         "run");
        ck_assert_ptr_null(json_object_get(b, "run_id"));
        ck_assert_str_eq(json_string_value(json_object_get(b, "command_id")),
                         "c-2");
        ck_assert_str_eq(json_string_value(json_object_get(b, "level")),
                         "warn");
        json_decref(a);
        json_decref(b);
        free(buf);
}
END_TEST

START_TEST(test_empty_and_plain) {
        char *buf;
        json_t *a;
        json_error_t e;

        floq_log_setup("floq-test", FLOQ_LOG_INFO, 1, out);
        floq_info_ids("run", "", NULL, "no ids");
        buf = slurp();
        a = json_loads(buf, JSON_DISABLE_EOF_CHECK, &e);
        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_null(json_object_get(a, "run_id"));
        ck_assert_ptr_null(json_object_get(a, "command_id"));
        json_decref(a);
        free(buf);
        /* floq_log() lines keep their layout: no id fields */
        rewind(out);
        floq_info("run", "plain");
        buf = slurp();
        ck_assert_ptr_null(strstr(buf, "run_id"));
        free(buf);
}
END_TEST

START_TEST(test_text_unchanged) {
        char *buf;

        floq_log_setup("floq-test", FLOQ_LOG_INFO, 0, out);
        floq_notice_ids("run", "r-9", "c-9", "run %s ended", "r-9");
        buf = slurp();
        ck_assert_ptr_nonnull(strstr(buf, " floq-test NOTE  [run] run r-9 "
                                          "ended\n"));
        ck_assert_ptr_null(strstr(buf, "c-9"));
        free(buf);
}
END_TEST

START_TEST(test_filter_skips_arguments) {
        char *buf;

        floq_log_setup("floq-test", FLOQ_LOG_INFO, 1, out);
        side_effects = 0;
        floq_debug_ids("run", bump(), bump(), "%s", bump());
        ck_assert_int_eq(side_effects, 0);
        buf = slurp();
        ck_assert_str_eq(buf, "");
        free(buf);
}
END_TEST

static Suite *log_ids_suite(void) {
        Suite *s = suite_create("log_ids");
        TCase *tc = tcase_create("log_ids");

        tcase_set_timeout(tc, 10);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_json_fields);
        tcase_add_test(tc, test_empty_and_plain);
        tcase_add_test(tc, test_text_unchanged);
        tcase_add_test(tc, test_filter_skips_arguments);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(log_ids_suite());
}
