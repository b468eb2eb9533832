/*
 * test_errors.c - the error enum: every code has a distinct name and a
 * description, the retriable/fatal split is the documented one, and
 * floq_seterr() formats, truncates and tolerates a NULL buffer.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "floq_common.h"
#include "test_util.h"

START_TEST(test_every_code_named) {
        int i, j;

        for (i = 0; i < FLOQ_ERR__CNT; i++) {
                const char *name = floq_err_name((floq_err_t)i);
                const char *desc = floq_err2str((floq_err_t)i);

                ck_assert_ptr_nonnull(name);
                ck_assert_ptr_nonnull(desc);
                ck_assert_msg(!strncmp(name, i ? "FLOQ_ERR_" : "FLOQ_OK", 7),
                              "bad name '%s' for %d", name, i);
                ck_assert_msg(strcmp(name, "FLOQ_ERR_UNKNOWN") != 0,
                              "code %d has no table row", i);
                ck_assert_int_gt(strlen(desc), 0);
                for (j = 0; j < i; j++) {
                        ck_assert_str_ne(name, floq_err_name((floq_err_t)j));
                        ck_assert_str_ne(desc, floq_err2str((floq_err_t)j));
                }
        }
        ck_assert_str_eq(floq_err_name(FLOQ_ERR_DECODE), "FLOQ_ERR_DECODE");
        ck_assert_str_eq(floq_err2str(FLOQ_OK), "success");
}
END_TEST

START_TEST(test_unknown_codes) {
        ck_assert_str_eq(floq_err_name(FLOQ_ERR__CNT), "FLOQ_ERR_UNKNOWN");
        ck_assert_str_eq(floq_err2str((floq_err_t)-1), "unknown error");
        ck_assert_str_eq(floq_err2str((floq_err_t)9999), "unknown error");
        ck_assert_int_eq(floq_err_is_retriable((floq_err_t)9999), 0);
}
END_TEST

START_TEST(test_retriable) {
        static const floq_err_t retriable[] = {
                FLOQ_ERR_IO,        FLOQ_ERR_KAFKA,   FLOQ_ERR_TRANSPORT,
                FLOQ_ERR_TIMED_OUT, FLOQ_ERR_BACKEND,
        };
        int i;
        size_t j;

        for (i = 0; i < FLOQ_ERR__CNT; i++) {
                int want = 0;

                for (j = 0; j < sizeof(retriable) / sizeof(retriable[0]); j++)
                        if (retriable[j] == (floq_err_t)i)
                                want = 1;
                ck_assert_msg(floq_err_is_retriable((floq_err_t)i) == want,
                              "%s: retriable should be %d",
                              floq_err_name((floq_err_t)i), want);
        }
}
END_TEST

START_TEST(test_seterr) {
        char buf[16];

        ck_assert_int_eq(floq_seterr(buf, sizeof(buf), FLOQ_ERR_CONFIG,
                                     "cannot open '%s'", "x"),
                         FLOQ_ERR_CONFIG);
        ck_assert_str_eq(buf, "cannot open 'x'");
        /* truncates, always terminated */
        floq_seterr(buf, sizeof(buf), FLOQ_ERR_IO, "%s",
                    "0123456789abcdefghijkl");
        ck_assert_str_eq(buf, "0123456789abcde");
        /* no buffer: just the code */
        ck_assert_int_eq(floq_seterr(NULL, 0, FLOQ_ERR_NOMEM, "x"),
                         FLOQ_ERR_NOMEM);
        buf[0] = 'Q';
        floq_seterr(buf, 0, FLOQ_ERR_NOMEM, "x");
        ck_assert_int_eq(buf[0], 'Q');
}
END_TEST

static Suite *errors_suite(void) {
        Suite *s = suite_create("errors");
        TCase *tc = tcase_create("errors");

        tcase_set_timeout(tc, 10);
        tcase_add_test(tc, test_every_code_named);
        tcase_add_test(tc, test_unknown_codes);
        tcase_add_test(tc, test_retriable);
        tcase_add_test(tc, test_seterr);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(errors_suite());
}
