/*
 * test_schedules.c - the pure parts of the worker's schedule timers
 * (worker/schedules.c): the timer min-heap, the ids derived from a due time
 * (stable, UUID-shaped, distinct per schedule, due time and kind), the
 * deterministic jitter, the catch-up selection (skip / latest / all up
 * to a bound) and the start/end window and pause decisions.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "worker_int.h"
#include "test_util.h"

START_TEST(test_heap_order) {
        wsched_heap_t h;
        wsched_ent_t e;
        int64_t prev = -1;
        unsigned x = 12345;
        int i, n = 0;

        wsched_heap_init(&h);
        ck_assert_ptr_null(wsched_heap_peek(&h));
        ck_assert_int_eq(wsched_heap_pop(&h, &e), -1);
        for (i = 0; i < 1000; i++) {
                x = x * 1103515245u + 12345u;
                ck_assert_int_eq(wsched_heap_push(&h, (int64_t)(x % 5000),
                                                  (int32_t)(i % 6), "dep",
                                                  "sid"),
                                 0);
        }
        while (!wsched_heap_pop(&h, &e)) {
                ck_assert_int_ge(e.at, prev);
                ck_assert_str_eq(e.deployment, "dep");
                ck_assert_str_eq(e.schedule_id, "sid");
                prev = e.at;
                wsched_ent_release(&e);
                n++;
        }
        ck_assert_int_eq(n, 1000);
        wsched_heap_release(&h);
}
END_TEST

START_TEST(test_heap_remove_partition) {
        wsched_heap_t h;
        wsched_ent_t e;
        int64_t prev = -1;
        int i, n = 0;

        wsched_heap_init(&h);
        for (i = 0; i < 300; i++)
                wsched_heap_push(&h, (int64_t)((i * 7919) % 1000),
                                 (int32_t)(i % 3), "d", "s");
        wsched_heap_remove_partition(&h, 1);
        ck_assert_uint_eq(h.cnt, 200);
        while (!wsched_heap_pop(&h, &e)) {
                ck_assert_int_ne(e.p, 1);
                ck_assert_int_ge(e.at, prev);
                prev = e.at;
                wsched_ent_release(&e);
                n++;
        }
        ck_assert_int_eq(n, 200);
        wsched_heap_remove_partition(&h, 0); /* empty: fine */
        wsched_heap_release(&h);
}
END_TEST

static int is_uuid5(const char *s) {
        int i;

        if (strlen(s) != 36 || s[14] != '5' ||
            !strchr("89ab", s[19]))
                return 0;
        for (i = 0; i < 36; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-')
                                return 0;
                } else if (!strchr("0123456789abcdef", s[i])) {
                        return 0;
                }
        }
        return 1;
}

START_TEST(test_derived_id) {
        char a[37], b[37], c[37];
        const int64_t due = INT64_C(1767225600000);

        wsched_derive_id("nightly", "default", due, "command", a);
        wsched_derive_id("nightly", "default", due, "command", b);
        ck_assert(is_uuid5(a));
        ck_assert_str_eq(a, b); /* stable: any worker, any time */
        wsched_derive_id("nightly", "default", due + 1000, "command", c);
        ck_assert_str_ne(a, c);
        wsched_derive_id("nightly", "other", due, "command", c);
        ck_assert_str_ne(a, c);
        wsched_derive_id("nightly2", "default", due, "command", c);
        ck_assert_str_ne(a, c);
        wsched_derive_id("nightly", "default", due, "run", c);
        ck_assert_str_ne(a, c);
        ck_assert(is_uuid5(c));
        /* The separators keep ("a\nb", "c") and ("a", "b\nc") apart in
         * practice; names with a newline are not accepted anyway. */
        wsched_derive_id("ab", "c", due, "command", b);
        wsched_derive_id("a", "bc", due, "command", c);
        ck_assert_str_ne(b, c);
}
END_TEST

START_TEST(test_derived_id_fixed) {
        char a[37];

        /* Pinned: changing the derivation would make a worker of a new
         * version fire again what an old one fired during an upgrade. */
        wsched_derive_id("d", "s", 0, "command", a);
        ck_assert(is_uuid5(a));
        /* = Python uuid.uuid5(UUID(bytes=ns), "d\ns\n0\ncommand") */
        ck_assert_str_eq(a, "a14ea4cd-8ab9-5f59-b242-f3024dcab334");
}
END_TEST

START_TEST(test_jitter) {
        int64_t due, j, lo = 1000, hi = -1;
        int distinct = 0, i;

        ck_assert_int_eq(wsched_jitter_ms("d", "s", 1000, 0), 0);
        ck_assert_int_eq(wsched_jitter_ms("d", "s", 1000, -5), 0);
        for (i = 0, due = 0; i < 2000; i++, due += 1000) {
                j = wsched_jitter_ms("d", "s", due, 999);
                ck_assert_int_ge(j, 0);
                ck_assert_int_le(j, 999);
                ck_assert_int_eq(j, wsched_jitter_ms("d", "s", due, 999));
                if (j < lo)
                        lo = j;
                if (j > hi)
                        hi = j;
                if (j != wsched_jitter_ms("d", "s", due + 1000, 999))
                        distinct++;
        }
        /* spread over the range, different from one due time to the next */
        ck_assert_int_lt(lo, 50);
        ck_assert_int_gt(hi, 950);
        ck_assert_int_gt(distinct, 1900);
}
END_TEST

START_TEST(test_catchup) {
        const int64_t now = 100000, mf = 5000;

        /* nothing ready */
        ck_assert_uint_eq(wsched_catchup_select(WCATCHUP_ALL, 10, 0, 0, now,
                                                mf),
                          0);
        /* on time: every policy fires the one due time */
        ck_assert_uint_eq(wsched_catchup_select(WCATCHUP_SKIP, 10, 1,
                                                now - 10, now, mf),
                          0);
        ck_assert_uint_eq(wsched_catchup_select(WCATCHUP_LATEST, 10, 1,
                                                now - 10, now, mf),
                          0);
        ck_assert_uint_eq(wsched_catchup_select(WCATCHUP_ALL, 10, 1,
                                                now - 10, now, mf),
                          0);
        /* exactly at the misfire bound: still on time */
        ck_assert_uint_eq(wsched_catchup_select(WCATCHUP_SKIP, 10, 1,
                                                now - mf, now, mf),
                          0);
        /* missed (late): SKIP fires none */
        ck_assert_uint_eq(wsched_catchup_select(WCATCHUP_SKIP, 10, 1,
                                                now - mf - 1, now, mf),
                          1);
        ck_assert_uint_eq(wsched_catchup_select(WCATCHUP_SKIP, 10, 7,
                                                now - 60000, now, mf),
                          7);
        /* a backlog with an on-time newest: SKIP fires only the newest */
        ck_assert_uint_eq(wsched_catchup_select(WCATCHUP_SKIP, 10, 7,
                                                now - 1, now, mf),
                          6);
        /* LATEST: the newest, late or not */
        ck_assert_uint_eq(wsched_catchup_select(WCATCHUP_LATEST, 10, 7,
                                                now - 60000, now, mf),
                          6);
        /* ALL: every one up to the bound, the newest ones */
        ck_assert_uint_eq(wsched_catchup_select(WCATCHUP_ALL, 10, 7,
                                                now - 60000, now, mf),
                          0);
        ck_assert_uint_eq(wsched_catchup_select(WCATCHUP_ALL, 3, 7,
                                                now - 60000, now, mf),
                          4);
        ck_assert_uint_eq(wsched_catchup_select(WCATCHUP_ALL, 0, 7,
                                                now - 60000, now, mf),
                          6);
}
END_TEST

START_TEST(test_window) {
        wsched_window_t none = { -1, -1, 0 }, win = { 5000, 8000, 0 },
                        paused = { -1, -1, 1 }, w;
        json_t *sch;

        /* no window: everything fires, the enumeration start is kept */
        ck_assert(wsched_window_allows(&none, 1));
        ck_assert_int_eq(wsched_window_after(&none, 1234), 1234);
        /* [start, end], both inclusive */
        ck_assert(!wsched_window_allows(&win, 4999));
        ck_assert(wsched_window_allows(&win, 5000));
        ck_assert(wsched_window_allows(&win, 8000));
        ck_assert(!wsched_window_allows(&win, 8001));
        /* before the start: enumerate from just before it (start fires) */
        ck_assert_int_eq(wsched_window_after(&win, 1000), 4999);
        ck_assert_int_eq(wsched_window_after(&win, 6000), 6000);
        /* paused: nothing */
        ck_assert(!wsched_window_allows(&paused, 1));
        /* resume: the paused period is handled, never moved back */
        ck_assert_int_eq(wsched_resume_mark(1000, 9000), 9000);
        ck_assert_int_eq(wsched_resume_mark(9500, 9000), 9500);

        sch = json_pack("{s:I,s:n,s:b}", "start_at", (json_int_t)42,
                        "end_at", "paused", 1);
        wsched_window_of(sch, &w);
        ck_assert_int_eq(w.start_at, 42);
        ck_assert_int_eq(w.end_at, -1);
        ck_assert_int_eq(w.paused, 1);
        json_decref(sch);
        sch = json_object(); /* an old record: no such fields */
        wsched_window_of(sch, &w);
        ck_assert_int_eq(w.start_at, -1);
        ck_assert_int_eq(w.end_at, -1);
        ck_assert_int_eq(w.paused, 0);
        json_decref(sch);
}
END_TEST

START_TEST(test_next_times_window) {
        floq_cron_t c;
        floq_tz_t *tz;
        char err[256];
        int64_t t[5];
        /* 2026-01-01T00:00:00Z */
        const int64_t t0 = 1767225600000LL;
        wsched_window_t w = { -1, -1, 0 };

        ck_assert_int_eq(floq_cron_parse("* * * * * *", &c, err,
                                         sizeof(err)),
                         0);
        ck_assert_ptr_nonnull(tz = floq_tz_load("UTC", err, sizeof(err)));
        /* no window: the next five seconds */
        ck_assert_uint_eq(wsched_next_times(&c, tz, &w, t0, t, 5), 5);
        ck_assert_int_eq(t[0], t0 + 1000);
        ck_assert_int_eq(t[4], t0 + 5000);
        /* start ahead, inclusive; end inclusive cuts the list */
        w.start_at = t0 + 10000;
        w.end_at = t0 + 12000;
        ck_assert_uint_eq(wsched_next_times(&c, tz, &w, t0, t, 5), 3);
        ck_assert_int_eq(t[0], t0 + 10000);
        ck_assert_int_eq(t[1], t0 + 11000);
        ck_assert_int_eq(t[2], t0 + 12000);
        /* a start between two due times: the first one after it */
        w.start_at = t0 + 10500;
        w.end_at = -1;
        ck_assert_uint_eq(wsched_next_times(&c, tz, &w, t0, t, 2), 2);
        ck_assert_int_eq(t[0], t0 + 11000);
        /* ended */
        w.start_at = -1;
        w.end_at = t0 - 1;
        ck_assert_uint_eq(wsched_next_times(&c, tz, &w, t0, t, 5), 0);
        /* paused */
        w.end_at = -1;
        w.paused = 1;
        ck_assert_uint_eq(wsched_next_times(&c, tz, &w, t0, t, 5), 0);
        floq_tz_destroy(tz);
}
END_TEST

START_TEST(test_policy_names) {
        ck_assert_int_eq(wsched_catchup_of("SKIP"), WCATCHUP_SKIP);
        ck_assert_int_eq(wsched_catchup_of("LATEST"), WCATCHUP_LATEST);
        ck_assert_int_eq(wsched_catchup_of("ALL"), WCATCHUP_ALL);
        ck_assert_int_eq(wsched_catchup_of(NULL), WCATCHUP_SKIP);
        ck_assert_int_eq(wsched_overlap_of("ALLOW"), WOVERLAP_ALLOW);
        ck_assert_int_eq(wsched_overlap_of("SKIP"), WOVERLAP_SKIP);
        ck_assert_int_eq(wsched_overlap_of("BUFFER_ONE"),
                         WOVERLAP_BUFFER_ONE);
        ck_assert_int_eq(wsched_overlap_of("CANCEL_PREVIOUS"),
                         WOVERLAP_CANCEL_PREVIOUS);
        ck_assert_int_eq(wsched_overlap_of("bogus"), WOVERLAP_ALLOW);
}
END_TEST

int main(void) {
        Suite *s = suite_create("schedules");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_heap_order);
        tcase_add_test(tc, test_heap_remove_partition);
        tcase_add_test(tc, test_derived_id);
        tcase_add_test(tc, test_derived_id_fixed);
        tcase_add_test(tc, test_jitter);
        tcase_add_test(tc, test_catchup);
        tcase_add_test(tc, test_window);
        tcase_add_test(tc, test_next_times_window);
        tcase_add_test(tc, test_policy_names);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
