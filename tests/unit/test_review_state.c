/*
 * test_review_state.c - the finished runs a worker borrows from the
 * compact table (worker/state.c, worker/done.c): a borrowed decoded run
 * stays valid as documented, and its memory is never freed under a
 * caller. jansson's free is replaced by one that scribbles over what it
 * frees, so a use after free fails without ASan too.
 */
#include <check.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "worker_int.h"

static void *plain_malloc(size_t n) {
        return malloc(n);
}

static void scribble_free(void *p) {
        if (p) {
                memset(p, 0x5a, malloc_usable_size(p));
                free(p);
        }
}

static json_t *run(const char *id, const char *cmd, const char *status,
                   int64_t finished) {
        json_t *rs = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "run_id", id,
                               "deployment", "d", "status", status,
                               "command_id", cmd, "created_at",
                               (json_int_t)1, "heartbeat_at",
                               (json_int_t)1);

        if (finished >= 0)
                json_object_set_new(rs, "finished_at",
                                    json_integer(finished));
        return rs;
}

static void put_finished(wpart_t *part, int from, int to) {
        char id[32], cmd[32];
        int i;

        for (i = from; i < to; i++) {
                snprintf(id, sizeof(id), "f%d", i);
                snprintf(cmd, sizeof(cmd), "c%d", i);
                wpart_put_run(part, id, run(id, cmd, "SUCCEEDED", i));
        }
}

/* The older generation's run looked up when the newer one is full: the
 * generations turn over and the one being moved must not be freed. */
START_TEST(test_old_generation_lookup_when_full) {
        wpart_t part;
        json_t *rs;

        wpart_init(&part);
        wpart_put_run(&part, "x", run("x", "cx", "SUCCEEDED", 5));
        /* x and 255 more fill the generation; one more turns it over */
        put_finished(&part, 0, WPART_DECODED_MAX);
        ck_assert_ptr_nonnull(json_object_get(part.decoded_old, "x"));
        /* fill the new generation again */
        put_finished(&part, WPART_DECODED_MAX, 2 * WPART_DECODED_MAX - 1);
        ck_assert_uint_eq(json_object_size(part.decoded), WPART_DECODED_MAX);
        rs = wpart_run(&part, "x");
        ck_assert_ptr_nonnull(rs);
        ck_assert_str_eq(wjs(rs, "run_id"), "x");
        ck_assert_str_eq(wjs(rs, "status"), "SUCCEEDED");
        ck_assert_ptr_eq(wpart_run(&part, "x"), rs);
        wpart_release(&part);
}
END_TEST

/* A run borrowed through wpart_run() and then found by its command id
 * (a repeat): the first borrow stays valid. */
START_TEST(test_borrow_survives_find_cmd) {
        wpart_t part;
        json_t *rs;

        wpart_init(&part);
        wpart_put_run(&part, "x", run("x", "cx", "FAILED", 5));
        /* push x out of both generations: the next lookup decodes it */
        put_finished(&part, 0, 3 * WPART_DECODED_MAX);
        ck_assert_ptr_null(json_object_get(part.decoded, "x"));
        ck_assert_ptr_null(json_object_get(part.decoded_old, "x"));
        rs = wpart_run(&part, "x");
        ck_assert_ptr_nonnull(rs);
        ck_assert_str_eq(wpart_find_cmd(&part, "cx"), "x");
        ck_assert_str_eq(wjs(rs, "status"), "FAILED");
        ck_assert_str_eq(wjs(rs, "run_id"), "x");
        ck_assert_ptr_eq(wpart_run(&part, "x"), rs);
        wpart_release(&part);
}
END_TEST

/* Many lookups mixing run ids and command ids, old and new: every
 * answer is the run asked for. */
START_TEST(test_lookup_churn) {
        char id[32], cmd[32];
        wpart_t part;
        int i;

        wpart_init(&part);
        put_finished(&part, 0, 2000);
        for (i = 0; i < 4000; i++) {
                int k = (i * 7919) % 2000;
                const char *rid;
                json_t *rs;

                snprintf(id, sizeof(id), "f%d", k);
                snprintf(cmd, sizeof(cmd), "c%d", k);
                if (i % 3) {
                        rs = wpart_run(&part, id);
                        ck_assert_ptr_nonnull(rs);
                        ck_assert_str_eq(wjs(rs, "run_id"), id);
                } else {
                        rid = wpart_find_cmd(&part, cmd);
                        ck_assert_ptr_nonnull(rid);
                        ck_assert_str_eq(rid, id);
                }
        }
        wpart_release(&part);
}
END_TEST

static int ids_has(const json_t *ids, const char *id) {
        size_t i, n = 0;

        for (i = 0; i < json_array_size(ids); i++)
                if (!strcmp(json_string_value(json_array_get(ids, i)), id))
                        n++;
        return (int)n;
}

/* A run that ended, was retried and ended again: its first place in the
 * queue neither holds back the runs that ended after it the first time
 * nor hands it out twice. */
START_TEST(test_expiry_refinished_run) {
        json_t *ids = json_array();
        wpart_t part;

        wpart_init(&part);
        wpart_put_run(&part, "a", run("a", "ca", "FAILED", 100));
        wpart_put_run(&part, "b", run("b", "cb", "SUCCEEDED", 150));
        wpart_put_run(&part, "a", run("a", "ca", "RETRYING", -1));
        wpart_put_run(&part, "a", run("a", "ca", "SUCCEEDED", 1000));
        wpart_put_run(&part, "c", run("c", "cc", "SUCCEEDED", 1100));
        /* retention 50 at 300: b (150) is due, a (1000) and c not */
        wpart_expired(&part, 300, 50, 10, ids);
        ck_assert_int_eq(ids_has(ids, "b"), 1);
        ck_assert_int_eq(ids_has(ids, "a"), 0);
        ck_assert_int_eq(ids_has(ids, "c"), 0);
        /* much later: each once */
        json_array_clear(ids);
        wpart_expired(&part, 5000, 50, 10, ids);
        ck_assert_int_eq(ids_has(ids, "a"), 1);
        ck_assert_int_eq(ids_has(ids, "b"), 1);
        ck_assert_int_eq(ids_has(ids, "c"), 1);
        json_decref(ids);
        wpart_release(&part);
}
END_TEST

/* A run stamped far ahead of the clock (a worker's clock running
 * fast) holds back no run that ended after it was seen. */
START_TEST(test_expiry_future_stamp) {
        json_t *ids = json_array();
        int64_t now = floq_now_ms();
        wpart_t part;

        wpart_init(&part);
        wpart_put_run(&part, "skewed",
                      run("skewed", "cs", "SUCCEEDED", now + 86400000));
        wpart_put_run(&part, "b", run("b", "cb", "SUCCEEDED", now - 1000));
        /* retention 10 s, a minute on: b is due */
        wpart_expired(&part, now + 60000, 10000, 10, ids);
        ck_assert_int_eq(ids_has(ids, "b"), 1);
        json_decref(ids);
        wpart_release(&part);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("review_state");
        TCase *tc = tcase_create("borrow");

        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_old_generation_lookup_when_full);
        tcase_add_test(tc, test_borrow_survives_find_cmd);
        tcase_add_test(tc, test_lookup_churn);
        tcase_add_test(tc, test_expiry_refinished_run);
        tcase_add_test(tc, test_expiry_future_stamp);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        json_set_alloc_funcs(plain_malloc, scribble_free);
        return test_run_suite(suite());
}
