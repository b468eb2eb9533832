/*
 * test_avro_path.c - the field paths the codec builds while it walks a
 * value (schemas/schema.c floq_avro_path_push/_pop): ".name" and "[index]"
 * (appended without printf since the codec pushes one per field and item),
 * any other format through printf, and a path longer than its buffer cut,
 * still NUL-terminated, and popped back to where it was.
 */
#include <check.h>
#include <string.h>

#include "codec_int.h"
#include "test_util.h"

START_TEST(fields_and_indexes) {
        floq_avro_path_t p;
        size_t m1, m2, m3;

        floq_avro_path_init(&p, "Deployment");
        m1 = floq_avro_path_push(&p, ".%s", "recent_commands");
        m2 = floq_avro_path_push(&p, "[%zu]", (size_t)0);
        ck_assert_str_eq(p.buf, "Deployment.recent_commands[0]");
        floq_avro_path_pop(&p, m2);
        m2 = floq_avro_path_push(&p, "[%zu]", (size_t)18446744073709551615UL);
        ck_assert_str_eq(p.buf,
                         "Deployment.recent_commands[18446744073709551615]");
        floq_avro_path_pop(&p, m2);
        m2 = floq_avro_path_push(&p, "[%zu]", (size_t)907);
        m3 = floq_avro_path_push(&p, "[\"%s\"]", "k");
        ck_assert_str_eq(p.buf, "Deployment.recent_commands[907][\"k\"]");
        ck_assert_uint_eq(p.len, strlen(p.buf));
        floq_avro_path_pop(&p, m3);
        floq_avro_path_pop(&p, m2);
        ck_assert_str_eq(p.buf, "Deployment.recent_commands");
        floq_avro_path_pop(&p, m1);
        ck_assert_str_eq(p.buf, "Deployment");
}
END_TEST

START_TEST(long_path_is_cut) {
        char name[200];
        floq_avro_path_t p;
        size_t mark;
        int i;

        memset(name, 'n', sizeof(name) - 1);
        name[sizeof(name) - 1] = '\0';
        floq_avro_path_init(&p, "R");
        mark = floq_avro_path_push(&p, ".%s", name);
        ck_assert_uint_eq(p.len, 1 + 1 + strlen(name));
        for (i = 0; i < 10; i++)
                floq_avro_path_push(&p, ".%s", name);
        ck_assert_uint_eq(p.len, sizeof(p.buf) - 1);
        ck_assert_uint_eq(strlen(p.buf), sizeof(p.buf) - 1);
        floq_avro_path_push(&p, "[%zu]", (size_t)5);
        ck_assert_uint_eq(strlen(p.buf), sizeof(p.buf) - 1);
        floq_avro_path_pop(&p, mark);
        ck_assert_str_eq(p.buf, "R");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("avro_path");
        TCase *tc = tcase_create("path");

        tcase_add_test(tc, fields_and_indexes);
        tcase_add_test(tc, long_path_is_cut);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
