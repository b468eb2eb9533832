/*
 * test_state_live.c - the indexes that keep per-command work independent
 * of retained history (worker/state.c): the live index (a deployment's
 * non-terminal runs, walked by status, stop and the runs passes) and the
 * ended queue (the retention pass reads its front, never every run).
 */
#include <check.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker_int.h"
#include "test_util.h"

/* A RunState of @p dep in @p status, ended at @p finished (-1: not). */
static json_t *run(const char *id, const char *dep, const char *status,
                   int64_t finished) {
        json_t *rs = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "run_id", id,
                               "deployment", dep, "status", status,
                               "command_id", id, "created_at",
                               (json_int_t)1, "heartbeat_at",
                               (json_int_t)1);

        if (finished >= 0)
                json_object_set_new(rs, "finished_at",
                                    json_integer(finished));
        return rs;
}

static size_t live_cnt(const wpart_t *part, const char *dep) {
        const json_t *set = wpart_live_runs(part, dep);

        return set ? json_object_size(set) : 0;
}

static int live_has(const wpart_t *part, const char *dep, const char *id) {
        const json_t *set = wpart_live_runs(part, dep);

        return set && json_object_get(set, id) != NULL;
}

START_TEST(test_live_follows_status) {
        wpart_t part;

        wpart_init(&part);
        ck_assert_ptr_null(wpart_live_runs(&part, "d"));
        ck_assert_ptr_null(wpart_live_runs(&part, NULL));
        wpart_put_run(&part, "r1", run("r1", "d", "ACCEPTED", -1));
        wpart_put_run(&part, "r2", run("r2", "d", "RUNNING", -1));
        wpart_put_run(&part, "r3", run("r3", "e", "RETRYING", -1));
        wpart_put_run(&part, "r4", run("r4", "d", "SUCCEEDED", 10));
        ck_assert_uint_eq(live_cnt(&part, "d"), 2);
        ck_assert_uint_eq(live_cnt(&part, "e"), 1);
        ck_assert(!live_has(&part, "d", "r4"));

        /* a new version of a live run keeps it once; finishing drops it */
        wpart_put_run(&part, "r1", run("r1", "d", "RUNNING", -1));
        ck_assert_uint_eq(live_cnt(&part, "d"), 2);
        wpart_put_run(&part, "r1", run("r1", "d", "FAILED", 20));
        ck_assert(!live_has(&part, "d", "r1"));
        ck_assert_uint_eq(live_cnt(&part, "d"), 1);

        /* the last live run of a deployment takes its set with it */
        wpart_put_run(&part, "r3", NULL);
        ck_assert_ptr_null(wpart_live_runs(&part, "e"));

        /* a record moving a run to another deployment moves the entry */
        wpart_put_run(&part, "r2", run("r2", "e", "RUNNING", -1));
        ck_assert(!live_has(&part, "d", "r2"));
        ck_assert(live_has(&part, "e", "r2"));

        /* a finished run written again live (a restore reading an older
         * owner's records in order never does, a retry of a run does) */
        wpart_put_run(&part, "r4", run("r4", "d", "RETRYING", -1));
        ck_assert(live_has(&part, "d", "r4"));

        wpart_clear(&part);
        ck_assert_ptr_null(wpart_live_runs(&part, "e"));
        ck_assert_ptr_null(wpart_live_runs(&part, "d"));
        wpart_release(&part);
}
END_TEST

START_TEST(test_expired_front_only) {
        json_t *ids = json_array();
        wpart_t part;

        wpart_init(&part);
        wpart_put_run(&part, "a", run("a", "d", "SUCCEEDED", 100));
        wpart_put_run(&part, "b", run("b", "d", "FAILED", 200));
        wpart_put_run(&part, "live", run("live", "d", "RUNNING", -1));
        wpart_put_run(&part, "c", run("c", "d", "LOST", 300));
        /* a version of an already finished run does not queue it twice */
        wpart_put_run(&part, "a", run("a", "d", "SUCCEEDED", 100));

        /* retention 50: at 260, a (100) and b (200) are due, c is not */
        ck_assert_uint_eq(wpart_expired(&part, 260, 50, 10, ids), 2);
        ck_assert_str_eq(json_string_value(json_array_get(ids, 0)), "a");
        ck_assert_str_eq(json_string_value(json_array_get(ids, 1)), "b");

        /* the batch bound holds */
        json_array_clear(ids);
        ck_assert_uint_eq(wpart_expired(&part, 260, 50, 1, ids), 1);
        ck_assert_str_eq(json_string_value(json_array_get(ids, 0)), "a");

        /* removed runs leave the queue: only c remains, due at 351 */
        wpart_put_run(&part, "a", NULL);
        wpart_put_run(&part, "b", NULL);
        json_array_clear(ids);
        ck_assert_uint_eq(wpart_expired(&part, 350, 50, 10, ids), 0);
        ck_assert_uint_eq(wpart_expired(&part, 351, 50, 10, ids), 1);
        ck_assert_str_eq(json_string_value(json_array_get(ids, 0)), "c");

        /* a finished run that is live again is not expired */
        wpart_put_run(&part, "c", run("c", "d", "RETRYING", -1));
        json_array_clear(ids);
        ck_assert_uint_eq(wpart_expired(&part, 10000, 50, 10, ids), 0);
        /* and when it ends again it is queued again */
        wpart_put_run(&part, "c", run("c", "d", "SUCCEEDED", 400));
        ck_assert_uint_eq(wpart_expired(&part, 10000, 50, 10, ids), 1);
        json_decref(ids);
        wpart_release(&part);
}
END_TEST

START_TEST(test_expired_without_finished_at) {
        json_t *ids = json_array();
        json_t *rs = run("x", "d", "LOST", -1);
        wpart_t part;

        /* no finished_at: its last stamp counts (as retention always did) */
        json_object_set_new(rs, "heartbeat_at", json_integer(500));
        json_object_set_new(rs, "finished_at", json_null());
        ck_assert_int_eq(wrun_ended_at(rs, 9), 500);
        wpart_init(&part);
        wpart_put_run(&part, "x", rs);
        ck_assert_uint_eq(wpart_expired(&part, 540, 50, 10, ids), 0);
        ck_assert_uint_eq(wpart_expired(&part, 551, 50, 10, ids), 1);
        json_decref(ids);
        wpart_release(&part);
}
END_TEST

START_TEST(test_many_retained) {
        /* 20,000 finished runs and 3 live ones: the live index holds 3,
         * and the queue, drained, frees what it held. */
        json_t *ids = json_array();
        char id[32];
        wpart_t part;
        int i;

        wpart_init(&part);
        for (i = 0; i < 20000; i++) {
                snprintf(id, sizeof(id), "f%d", i);
                wpart_put_run(&part, id, run(id, "d", "SUCCEEDED", i));
        }
        for (i = 0; i < 3; i++) {
                snprintf(id, sizeof(id), "l%d", i);
                wpart_put_run(&part, id, run(id, "d", "RUNNING", -1));
        }
        ck_assert_uint_eq(live_cnt(&part, "d"), 3);
        ck_assert_uint_eq(wpart_expired(&part, 1000000, 0, 512, ids), 512);
        for (i = 0; i < 20000; i++) {
                snprintf(id, sizeof(id), "f%d", i);
                wpart_put_run(&part, id, NULL);
        }
        json_array_clear(ids);
        ck_assert_uint_eq(wpart_expired(&part, 1000000, 0, 512, ids), 0);
        ck_assert_uint_eq(part.ended.cnt - part.ended.head, 0);
        ck_assert_uint_eq(live_cnt(&part, "d"), 3);
        json_decref(ids);
        wpart_release(&part);
}
END_TEST

START_TEST(test_finished_compact) {
        /* finished runs leave the object table for the compact one, and
         * answer lookups by run id and by command id alike */
        json_t *rs, *first;
        char id[32], cmd[32];
        wpart_t part;
        int i;

        wpart_init(&part);
        ck_assert_ptr_nonnull(part.codec);
        rs = run("r1", "d", "RUNNING", -1);
        json_object_set_new(rs, "command_id", json_string("c1"));
        json_object_set_new(rs, "idempotency_key", json_string("k1"));
        json_object_set_new(rs, "params", json_pack("{s:s}", "day", "mon"));
        wpart_put_run(&part, "r1", rs);
        ck_assert_ptr_eq(json_object_get(part.runs, "r1"), rs);
        ck_assert_str_eq(wpart_find_cmd(&part, "c1"), "r1");

        rs = json_deep_copy(rs);
        json_object_set_new(rs, "status", json_string("SUCCEEDED"));
        json_object_set_new(rs, "finished_at", json_integer(77));
        json_object_set_new(rs, "output_tail", json_string("done\n"));
        wpart_put_run(&part, "r1", rs);
        ck_assert_ptr_null(json_object_get(part.runs, "r1"));
        ck_assert_uint_eq(part.done.cnt, 1);
        ck_assert_uint_eq(wpart_run_count(&part), 1);
        /* the object put is what is borrowed until it is pushed out */
        ck_assert_ptr_eq(wpart_run(&part, "r1"), rs);
        ck_assert_str_eq(wpart_find_cmd(&part, "c1"), "r1");
        ck_assert_str_eq(wpart_find_idem(&part, "d", "k1"), "r1");

        /* WPART_DECODED_MAX lookups of other finished runs later, the
         * first borrow is still valid; much later it is decoded anew */
        first = wpart_run(&part, "r1");
        for (i = 0; i < 3 * WPART_DECODED_MAX; i++) {
                snprintf(id, sizeof(id), "x%d", i);
                snprintf(cmd, sizeof(cmd), "cx%d", i);
                rs = run(id, "d", "FAILED", i);
                json_object_set_new(rs, "command_id", json_string(cmd));
                wpart_put_run(&part, id, rs);
                if (i < WPART_DECODED_MAX)
                        ck_assert_str_eq(wjs(first, "status"), "SUCCEEDED");
        }
        rs = wpart_run(&part, "r1");
        ck_assert_ptr_nonnull(rs);
        ck_assert_str_eq(wjs(rs, "status"), "SUCCEEDED");
        ck_assert_str_eq(wjs(rs, "output_tail"), "done\n");
        ck_assert_int_eq(wji(rs, "finished_at", 0), 77);
        ck_assert_str_eq(wjs(json_object_get(rs, "params"), "day"), "mon");
        ck_assert_str_eq(wpart_find_cmd(&part, "cx5"), "x5");
        ck_assert_ptr_null(wpart_find_cmd(&part, "nope"));
        ck_assert_ptr_null(wpart_run(&part, "nope"));

        /* a finished run written live again leaves the compact table */
        rs = run("x7", "d", "RETRYING", -1);
        json_object_set_new(rs, "command_id", json_string("cx7"));
        wpart_put_run(&part, "x7", rs);
        ck_assert_ptr_eq(json_object_get(part.runs, "x7"), rs);
        ck_assert_str_eq(wpart_find_cmd(&part, "cx7"), "x7");
        ck_assert_uint_eq(part.done.cnt, 3 * WPART_DECODED_MAX);

        /* and a tombstone removes it from both, and its command id */
        wpart_put_run(&part, "x9", NULL);
        ck_assert_ptr_null(wpart_run(&part, "x9"));
        ck_assert_ptr_null(wpart_find_cmd(&part, "cx9"));
        wpart_put_run(&part, "r1", NULL);
        ck_assert_ptr_null(wpart_find_idem(&part, "d", "k1"));
        ck_assert_ptr_null(wpart_find_cmd(&part, "c1"));
        ck_assert_uint_eq(wpart_run_count(&part), 3 * WPART_DECODED_MAX - 1);
        wpart_clear(&part);
        ck_assert_uint_eq(wpart_run_count(&part), 0);
        wpart_release(&part);
}
END_TEST

/* A finished run as the worker writes it (runs.c: the params dropped once
 * it is put), of the usual size. */
static json_t *full_run(int i) {
        char id[40];

        snprintf(id, sizeof(id), "%08x-0000-4000-8000-%012x", (unsigned)i,
                 (unsigned)i * 2654435761u);
        return json_pack(
                "{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:I,s:I,s:I,s:I,s:n,"
                "s:{s:s},s:i,s:s,s:s,s:s,s:s,s:b}",
                "run_id", id, "deployment", "etl-nightly", "command_id", id,
                "correlation_id", "order-batch-2026-12-01", "reply_to",
                "floq.replies", "status", "SUCCEEDED", "attempt", 1, "worker",
                "host-0.example.internal", "heartbeat_at",
                (json_int_t)1700000000000, "created_at",
                (json_int_t)1699999999100, "started_at",
                (json_int_t)1699999999200, "finished_at",
                (json_int_t)1700000000000, "next_attempt_at", "params",
                "date", "2026-12-01", "exit_code", 0, "output_tail",
                "loaded 1204 rows into warehouse.orders\n", "backend_ref",
                "48213", "backend", "process", "backend_url",
                "process://host-0/48213", "heartbeat_only", 0);
}

/* What a worker's partitions hold on the heap once a burst of runs ended:
 * the compact records (~300 B each, test_many_retained's bound) plus the
 * decoded objects borrowable from the last WPART_DECODED_MAX x 2 puts of
 * each partition, which share one codec. 6 partitions (the default) and
 * 1,000 runs each: 4.7 MB, under 6 MB. Before, each partition had a codec
 * of its own (~300 kB of schemas) and 2 x 256 decoded objects of 3-4 kB:
 * 17.7 MB, most of it kept after every burst of runs (the bench's RSS
 * under load, 37 MB against 32: docs/benchmarks.md). */
START_TEST(test_partitions_memory_bounded) {
        enum { PARTS = 6, PER_PART = 1000 };
        floq_codec_t *codec = floq_codec_new(WPART_CODEC_MAX, NULL, 0);
        wpart_t parts[PARTS];
        size_t before, used, kept = 0;
        int p, i;

        ck_assert_ptr_nonnull(codec);
        malloc_trim(0);
        before = mallinfo2().uordblks;
        for (p = 0; p < PARTS; p++)
                wpart_init_shared(&parts[p], codec);
        for (i = 0; i < PARTS * PER_PART; i++) {
                json_t *rs = full_run(i);
                wpart_t *part = &parts[i % PARTS];

                json_incref(rs);
                wpart_put_run(part, wjs(rs, "run_id"), rs);
                json_object_del(rs, "params");
                json_decref(rs);
        }
        used = mallinfo2().uordblks - before;
        for (p = 0; p < PARTS; p++) {
                kept += wpart_run_count(&parts[p]);
                ck_assert_uint_le(json_object_size(parts[p].decoded) +
                                          json_object_size(
                                                  parts[p].decoded_old),
                                  2 * WPART_DECODED_MAX);
        }
        ck_assert_uint_eq(kept, PARTS * PER_PART);
        ck_assert_msg(used < 6u << 20,
                      "%d partitions with %d finished runs each hold %zu "
                      "bytes of heap",
                      PARTS, PER_PART, used);
        for (p = 0; p < PARTS; p++)
                wpart_release(&parts[p]);
        /* the codec is the caller's: still usable after the partitions */
        {
                json_t *rs = full_run(1);
                void *buf = NULL;
                size_t len = 0;

                ck_assert_int_eq(floq_codec_encode(codec, FLOQ_MSG_RUN_STATE,
                                                   rs, &buf, &len, NULL, 0),
                                 FLOQ_OK);
                ck_assert_uint_gt(len, 0);
                free(buf);
                json_decref(rs);
        }
        floq_codec_destroy(codec);
}
END_TEST

static Suite *state_live_suite(void) {
        Suite *s = suite_create("state_live");
        TCase *tc = tcase_create("state_live");

        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_live_follows_status);
        tcase_add_test(tc, test_expired_front_only);
        tcase_add_test(tc, test_expired_without_finished_at);
        tcase_add_test(tc, test_many_retained);
        tcase_add_test(tc, test_finished_compact);
        tcase_add_test(tc, test_partitions_memory_bounded);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(state_live_suite());
}
