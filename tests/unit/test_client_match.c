/*
 * test_client_match.c - pairing replies with commands (producer/match.c)
 * without Kafka: queueing per command id, final replies ending tracking,
 * correlation ids rejecting foreign replies, callback mode, bounds, and
 * the reply-status helpers of floq.h.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

static json_t *reply(const char *id, const char *corr, const char *status,
                     int final) {
        return json_pack("{s:s, s:o, s:s, s:s, s:b}", "command_id", id,
                         "correlation_id",
                         corr ? json_string(corr) : json_null(),
                         "deployment", "d", "status", status, "final",
                         final);
}

/* Offer and drop our reference: the table keeps its own. */
static floq_match_t offer(floq_pending_t *p, json_t *r) {
        floq_match_t m = floq_pending_offer(p, r);
        json_decref(r);
        return m;
}

START_TEST(test_run_sequence) {
        floq_pending_t *p = floq_pending_new(0);
        json_t *r = NULL;
        ck_assert_int_eq(floq_pending_add(p, "c1", "c1", FLOQ_PENDING_QUEUE),
                         FLOQ_OK);
        ck_assert_int_eq(floq_pending_take(p, "c1", 0, &r), 0);
        ck_assert_int_eq(offer(p, reply("c1", "c1", "ACCEPTED", 0)),
                         FLOQ_MATCH_QUEUED);
        ck_assert_int_eq(offer(p, reply("c1", "c1", "RUNNING", 0)),
                         FLOQ_MATCH_QUEUED);
        ck_assert_int_eq(offer(p, reply("c1", "c1", "SUCCEEDED", 1)),
                         FLOQ_MATCH_QUEUED);
        /* in order */
        ck_assert_int_eq(floq_pending_take(p, "c1", 0, &r), 1);
        ck_assert_str_eq(floq_reply_status(r), "ACCEPTED");
        json_decref(r);
        ck_assert_int_eq(floq_pending_take(p, "c1", 0, &r), 1);
        ck_assert_str_eq(floq_reply_status(r), "RUNNING");
        json_decref(r);
        ck_assert_int_eq(floq_pending_cnt(p), 1);
        ck_assert_int_eq(floq_pending_take(p, "c1", 0, &r), 1);
        ck_assert_str_eq(floq_reply_status(r), "SUCCEEDED");
        json_decref(r);
        /* the final reply ended tracking */
        ck_assert_int_eq(floq_pending_cnt(p), 0);
        ck_assert_int_eq(floq_pending_take(p, "c1", 0, &r), -1);
        ck_assert_int_eq(offer(p, reply("c1", "c1", "SUCCEEDED", 1)),
                         FLOQ_MATCH_NONE);
        floq_pending_destroy(p);
}
END_TEST

START_TEST(test_final_only) {
        floq_pending_t *p = floq_pending_new(0);
        json_t *r = NULL;
        floq_pending_add(p, "c1", NULL, FLOQ_PENDING_QUEUE);
        offer(p, reply("c1", NULL, "ACCEPTED", 0));
        offer(p, reply("c1", NULL, "RUNNING", 0));
        ck_assert_int_eq(floq_pending_take(p, "c1", 1, &r), 0);
        offer(p, reply("c1", NULL, "FAILED", 1));
        ck_assert_int_eq(floq_pending_take(p, "c1", 1, &r), 1);
        ck_assert_str_eq(floq_reply_status(r), "FAILED");
        json_decref(r);
        ck_assert_int_eq(floq_pending_cnt(p), 0);
        floq_pending_destroy(p);
}
END_TEST

START_TEST(test_correlation) {
        floq_pending_t *p = floq_pending_new(0);
        json_t *r = NULL;
        floq_pending_add(p, "c1", "mine", FLOQ_PENDING_QUEUE);
        /* someone else's command that reused our id */
        ck_assert_int_eq(offer(p, reply("c1", "theirs", "REJECTED", 1)),
                         FLOQ_MATCH_FOREIGN);
        ck_assert_int_eq(floq_pending_take(p, "c1", 0, &r), 0);
        /* a reply without correlation id (a minimal worker) still counts */
        ck_assert_int_eq(offer(p, reply("c1", NULL, "ACCEPTED", 0)),
                         FLOQ_MATCH_QUEUED);
        ck_assert_int_eq(offer(p, reply("c1", "mine", "SUCCEEDED", 1)),
                         FLOQ_MATCH_QUEUED);
        ck_assert_int_eq(floq_pending_take(p, "c1", 1, &r), 1);
        ck_assert_str_eq(floq_reply_status(r), "SUCCEEDED");
        json_decref(r);
        /* unknown ids and garbage */
        ck_assert_int_eq(offer(p, reply("c9", "mine", "DEPLOYED", 1)),
                         FLOQ_MATCH_NONE);
        ck_assert_int_eq(offer(p, json_pack("{s:s}", "status", "X")),
                         FLOQ_MATCH_INVALID);
        ck_assert_int_eq(offer(p, json_pack("{s:i}", "command_id", 5)),
                         FLOQ_MATCH_INVALID);
        floq_pending_destroy(p);
}
END_TEST

START_TEST(test_many_and_interleaved) {
        floq_pending_t *p = floq_pending_new(0);
        char id[32];
        json_t *r = NULL;
        for (int i = 0; i < 20000; i++) {
                snprintf(id, sizeof(id), "cmd-%d", i);
                ck_assert_int_eq(floq_pending_add(p, id, id,
                                                  FLOQ_PENDING_QUEUE),
                                 FLOQ_OK);
        }
        ck_assert_int_eq(floq_pending_add(p, "cmd-7", NULL,
                                          FLOQ_PENDING_QUEUE),
                         FLOQ_ERR_EXISTS);
        for (int i = 19999; i >= 0; i--) {
                snprintf(id, sizeof(id), "cmd-%d", i);
                ck_assert_int_eq(offer(p, reply(id, id, "DEPLOYED", 1)),
                                 FLOQ_MATCH_QUEUED);
        }
        for (int i = 0; i < 20000; i++) {
                snprintf(id, sizeof(id), "cmd-%d", i);
                ck_assert_int_eq(floq_pending_take(p, id, 0, &r), 1);
                ck_assert_str_eq(json_string_value(json_object_get(
                                         r, "command_id")),
                                 id);
                json_decref(r);
        }
        ck_assert_int_eq(floq_pending_cnt(p), 0);
        floq_pending_destroy(p);
}
END_TEST

START_TEST(test_bounds_remove_callback) {
        floq_pending_t *p = floq_pending_new(2);
        json_t *r = NULL;
        ck_assert_int_eq(floq_pending_add(p, "a", NULL, FLOQ_PENDING_QUEUE),
                         FLOQ_OK);
        ck_assert_int_eq(floq_pending_add(p, "b", NULL,
                                          FLOQ_PENDING_CALLBACK),
                         FLOQ_OK);
        ck_assert_int_eq(floq_pending_add(p, "c", NULL, FLOQ_PENDING_QUEUE),
                         FLOQ_ERR_TOO_LARGE);
        ck_assert_int_eq(floq_pending_add(p, "", NULL, FLOQ_PENDING_QUEUE),
                         FLOQ_ERR_INVALID_ARG);
        /* callback mode: nothing queued, the caller calls back */
        ck_assert_int_eq(offer(p, reply("b", NULL, "ACCEPTED", 0)),
                         FLOQ_MATCH_CALLBACK);
        ck_assert_int_eq(floq_pending_take(p, "b", 0, &r), 0);
        /* queued replies are freed with their command (no leak: ASan) */
        offer(p, reply("a", NULL, "ACCEPTED", 0));
        ck_assert_int_eq(floq_pending_remove(p, "a"), 1);
        ck_assert_int_eq(floq_pending_remove(p, "a"), 0);
        ck_assert_int_eq(floq_pending_cnt(p), 1);
        offer(p, reply("b", NULL, "ACCEPTED", 0));
        floq_pending_destroy(p); /* with "b" still tracked */
}
END_TEST

START_TEST(test_status_helpers) {
        json_t *r = json_pack("{s:s}", "command_id", "x");
        ck_assert_str_eq(floq_reply_status(r), "UNKNOWN");
        ck_assert_int_eq(floq_reply_is_final(r), 1); /* schema default */
        json_object_set_new(r, "final", json_false());
        ck_assert_int_eq(floq_reply_is_final(r), 0);
        json_decref(r);
        ck_assert_int_eq(floq_reply_status_is_terminal("ACCEPTED"), 0);
        ck_assert_int_eq(floq_reply_status_is_terminal("RUNNING"), 0);
        ck_assert_int_eq(floq_reply_status_is_terminal("LOST"), 1);
        ck_assert_int_eq(floq_reply_status_is_ok("SCHEDULED"), 1);
        ck_assert_int_eq(floq_reply_status_is_ok("UNSCHEDULED"), 1);
        ck_assert_int_eq(floq_reply_status_is_ok("TIMED_OUT"), 0);
        ck_assert_int_eq(floq_reply_status_is_ok(NULL), 0);
}
END_TEST

static Suite *match_suite(void) {
        Suite *s = suite_create("client_match");
        TCase *tc = tcase_create("match");
        tcase_set_timeout(tc, 20);
        tcase_add_test(tc, test_run_sequence);
        tcase_add_test(tc, test_final_only);
        tcase_add_test(tc, test_correlation);
        tcase_add_test(tc, test_many_and_interleaved);
        tcase_add_test(tc, test_bounds_remove_callback);
        tcase_add_test(tc, test_status_helpers);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(match_suite());
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
