/*
 * test_timing.c - the timing rules G2's "never two live attempts" rests on
 * (worker/timing.c) and the worker's identity (worker/identity.c): the
 * margin rule refuses configurations that break it, with the rule in the
 * message, and accepts the defaults; the takeover clock counts this
 * worker's own time since a run's record last changed, whatever its
 * heartbeat_at says; the loop's own blocking work is not counted as
 * Kafka's silence, up to the session timeout; the default worker id is
 * stable (<hostname>-<slot>), and a second worker with an id in use on the
 * host is refused; -X settings reach only the clients they are for.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"
#include "worker_int.h"

static floq_conf_t *conf_with(const char *const *kv) {
        floq_conf_t *c = floq_conf_new();
        char errstr[512];

        ck_assert_ptr_nonnull(c);
        for (; kv && kv[0]; kv += 2)
                ck_assert_msg(floq_conf_set(c, kv[0], kv[1], errstr,
                                            sizeof(errstr)) == FLOQ_OK,
                              "%s=%s: %s", kv[0], kv[1], errstr);
        return c;
}

START_TEST(test_rule_defaults_accepted) {
        floq_conf_t *c = conf_with(NULL);
        char errstr[512] = "";

        ck_assert_int_eq(worker_timing_check(c, errstr, sizeof(errstr)),
                         FLOQ_OK);
        floq_conf_destroy(c);
}
END_TEST

START_TEST(test_rule_old_defaults_refused) {
        /* The defaults before: 5 s grace + 2 s interval > 15 s / 3. */
        static const char *const kv[] = {
                "worker.heartbeat.timeout.ms", "15000", "worker.clock.skew.ms",
                "0", NULL
        };
        floq_conf_t *c = conf_with(kv);
        char errstr[512] = "";

        ck_assert_int_eq(worker_timing_check(c, errstr, sizeof(errstr)),
                         FLOQ_ERR_CONFIG);
        /* The rule and the numbers, so the operator knows what to change. */
        ck_assert_ptr_nonnull(strstr(errstr, "process.kill.grace.ms (5000)"));
        ck_assert_ptr_nonnull(
                strstr(errstr, "worker.heartbeat.interval.ms (2000)"));
        ck_assert_ptr_nonnull(strstr(errstr, "worker.clock.skew.ms (0)"));
        ck_assert_ptr_nonnull(strstr(errstr, "below a third of "
                                             "worker.heartbeat.timeout.ms"));
        ck_assert_ptr_nonnull(strstr(errstr, "more than 21000 ms"));
        floq_conf_destroy(c);
}
END_TEST

START_TEST(test_rule_bounds) {
        char errstr[512];

        /* strictly below a third */
        ck_assert_int_eq(wtiming_check(1000, 1000, 1000, 9000, errstr,
                                       sizeof(errstr)),
                         FLOQ_ERR_CONFIG);
        ck_assert_int_eq(wtiming_check(1000, 1000, 1000, 9001, errstr,
                                       sizeof(errstr)),
                         FLOQ_OK);
        /* the skew allowance counts */
        ck_assert_int_eq(wtiming_check(500, 1000, 0, 5000, errstr,
                                       sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(wtiming_check(500, 1000, 200, 5000, errstr,
                                       sizeof(errstr)),
                         FLOQ_ERR_CONFIG);
        /* an interval alone above a third (the old warning) is refused */
        ck_assert_int_eq(wtiming_check(2000, 0, 0, 6000, errstr,
                                       sizeof(errstr)),
                         FLOQ_ERR_CONFIG);
}
END_TEST

START_TEST(test_worker_new_refuses) {
        static const char *const kv[] = {
                "brokers", "localhost:1", "worker.heartbeat.timeout.ms",
                "15000", NULL
        };
        floq_conf_t *c = conf_with(kv);
        char errstr[512] = "";
        floq_worker_t *w = floq_worker_new(c, errstr, sizeof(errstr));

        ck_assert_ptr_null(w);
        ck_assert_msg(strstr(errstr, "timing rule broken"), "%s", errstr);
        floq_conf_destroy(c);
}
END_TEST

/* ------------------------------------------------------------ takeover */

static json_t *run_state(int64_t heartbeat_at, const char *status) {
        return json_pack("{ss ss sI si ss}", "run_id",
                         "00000000-0000-4000-8000-000000000001", "status",
                         status, "heartbeat_at", (json_int_t)heartbeat_at,
                         "attempt", 1, "worker", "other-host-0");
}

START_TEST(test_takeover_clock_own_time) {
        static const int64_t skews[] = { -86400000LL * 365, -3600000, 0,
                                         3600000, 86400000LL * 365 };
        const char *id = "00000000-0000-4000-8000-000000000001";
        size_t i;
        int mine;

        for (i = 0; i < sizeof(skews) / sizeof(skews[0]); i++) {
                wpart_t part;
                json_t *rs = run_state(floq_now_ms() + skews[i], "RUNNING");

                wpart_init(&part);
                /* First seen: its clock starts now, whatever heartbeat_at
                 * another host's clock wrote. */
                ck_assert_int_eq(wtakeover_age(&part, id, rs, 1000, &mine), 0);
                ck_assert_int_eq(mine, 0);
                ck_assert_int_eq(wtakeover_age(&part, id, rs, 4000, &mine),
                                 3000);
                ck_assert_int_eq(wtakeover_age(&part, id, rs, 31000, &mine),
                                 30000);
                /* A new heartbeat (any value) restarts it. */
                json_object_set_new(rs, "heartbeat_at",
                                    json_integer(json_integer_value(
                                                         json_object_get(
                                                                 rs,
                                                                 "heartbeat_at")) -
                                                 5));
                ck_assert_int_eq(wtakeover_age(&part, id, rs, 32000, &mine),
                                 0);
                ck_assert_int_eq(wtakeover_age(&part, id, rs, 33000, &mine),
                                 1000);
                /* A restore clears the partition: it starts again. */
                wpart_clear(&part);
                ck_assert_int_eq(wtakeover_age(&part, id, rs, 90000, &mine),
                                 0);
                json_decref(rs);
                wpart_release(&part);
        }
}
END_TEST

START_TEST(test_takeover_mine_and_prune) {
        const char *id = "00000000-0000-4000-8000-000000000001";
        json_t *rs = run_state(0, "RETRYING"), *keep = json_object();
        wpart_t part;
        int mine;

        wpart_init(&part);
        wtakeover_mark_mine(&part, id, rs);
        ck_assert_int_ge(wtakeover_age(&part, id, rs, floq_mono_ms(), &mine),
                         0);
        ck_assert_int_eq(mine, 1);
        /* Someone else's version of it is not ours any more. */
        json_object_set_new(rs, "attempt", json_integer(2));
        wtakeover_age(&part, id, rs, floq_mono_ms(), &mine);
        ck_assert_int_eq(mine, 0);
        wtakeover_prune(&part, keep);
        ck_assert_int_eq(json_object_size(part.seen), 0);
        json_decref(keep);
        json_decref(rs);
        wpart_release(&part);
}
END_TEST

/* ------------------------------------------------------------ the loop */

START_TEST(test_busy_not_counted) {
        floq_worker_t *w = calloc(1, sizeof(*w));
        struct timespec ts = { 0, 200 * 1000 * 1000 };
        int64_t q;

        ck_assert_ptr_nonnull(w);
        w->session_timeout_ms = 10000;
        w->hb_timeout_ms = 3000;
        atomic_store(&w->last_commit_mono, floq_mono_ms());
        worker_busy_begin(w, "restore");
        worker_busy_begin(w, "nested");
        nanosleep(&ts, NULL);
        /* Inside its own work: not silence. */
        q = worker_loop_quiet_ms(w, floq_mono_ms());
        ck_assert_int_lt(q, 50);
        worker_busy_end(w);
        worker_busy_end(w);
        q = worker_loop_quiet_ms(w, floq_mono_ms());
        ck_assert_int_lt(q, 50);
        /* Outside it, time counts again. */
        nanosleep(&ts, NULL);
        q = worker_loop_quiet_ms(w, floq_mono_ms());
        ck_assert_int_ge(q, 190);
        free(w);
}
END_TEST

START_TEST(test_busy_capped_by_session_timeout) {
        floq_worker_t *w = calloc(1, sizeof(*w));
        struct timespec ts = { 0, 300 * 1000 * 1000 };
        int64_t q;

        ck_assert_ptr_nonnull(w);
        w->session_timeout_ms = 100;
        w->hb_timeout_ms = 3000;
        atomic_store(&w->last_commit_mono, floq_mono_ms());
        worker_busy_begin(w, "download");
        nanosleep(&ts, NULL);
        /* Beyond the session timeout the group may have moved on. */
        q = worker_loop_quiet_ms(w, floq_mono_ms());
        ck_assert_int_ge(q, 190);
        worker_busy_end(w);
        q = worker_loop_quiet_ms(w, floq_mono_ms());
        ck_assert_int_ge(q, 190);
        /* and the allowance is spent until the next commit */
        worker_busy_begin(w, "download");
        nanosleep(&ts, NULL);
        worker_busy_end(w);
        ck_assert_int_ge(worker_loop_quiet_ms(w, floq_mono_ms()), 490);
        free(w);
}
END_TEST

/* ------------------------------------------------------------ identity */

START_TEST(test_identity_default_stable) {
        static const char *const slot1[] = { "worker.slot", "1", NULL };
        static const char *const idset[] = { "worker.id", "w-7",
                                             "group.instance.id", "g", NULL };
        static const char *const gi[] = { "group.instance.id", "g-3", NULL };
        floq_conf_t *c = conf_with(NULL), *c1 = conf_with(slot1),
                    *ci = conf_with(idset), *cg = conf_with(gi);
        char host[128], want[200], id[200], again[200], errstr[256];

        ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
        snprintf(want, sizeof(want), "%s-0", host);
        ck_assert_int_eq(worker_identity_init(c, id, sizeof(id), errstr,
                                              sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_str_eq(id, want);
        /* the same on every start: no pid in it */
        worker_identity_init(c, again, sizeof(again), errstr, sizeof(errstr));
        ck_assert_str_eq(id, again);
        snprintf(want, sizeof(want), "%s-1", host);
        worker_identity_init(c1, id, sizeof(id), errstr, sizeof(errstr));
        ck_assert_str_eq(id, want);
        worker_identity_init(ci, id, sizeof(id), errstr, sizeof(errstr));
        ck_assert_str_eq(id, "w-7");
        worker_identity_init(cg, id, sizeof(id), errstr, sizeof(errstr));
        ck_assert_str_eq(id, "g-3");
        floq_conf_destroy(c);
        floq_conf_destroy(c1);
        floq_conf_destroy(ci);
        floq_conf_destroy(cg);
}
END_TEST

START_TEST(test_identity_lock) {
        char dir[] = "/tmp/floq-test-lock-XXXXXX", errstr[512] = "";
        const char *kv[] = { "worker.lock.dir", NULL, NULL };
        floq_conf_t *c;
        int fd, fd2, fd3;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        kv[1] = dir;
        c = conf_with(kv);
        fd = worker_identity_lock(c, "host-0", errstr, sizeof(errstr));
        ck_assert_int_ge(fd, 0);
        /* A second worker with the same id on this host: refused, saying
         * why and what to do. */
        fd2 = worker_identity_lock(c, "host-0", errstr, sizeof(errstr));
        ck_assert_int_lt(fd2, 0);
        ck_assert_msg(strstr(errstr, "already in use on this host"), "%s",
                      errstr);
        ck_assert_msg(strstr(errstr, "--slot"), "%s", errstr);
        /* Another slot is another id. */
        fd3 = worker_identity_lock(c, "host-1", errstr, sizeof(errstr));
        ck_assert_int_ge(fd3, 0);
        /* Gone with its holder (close, or any death of the process). */
        close(fd);
        fd = worker_identity_lock(c, "host-0", errstr, sizeof(errstr));
        ck_assert_int_ge(fd, 0);
        close(fd);
        close(fd3);
        floq_conf_destroy(c);
}
END_TEST

/* ------------------------------------------------------------ -X */

static void conf_value(rd_kafka_conf_t *kc, const char *key, char *buf,
                       size_t size) {
        ck_assert_int_eq(rd_kafka_conf_get(kc, key, buf, &size),
                         RD_KAFKA_CONF_OK);
}

START_TEST(test_passthrough_routed) {
        floq_conf_t *c = floq_conf_new();
        rd_kafka_conf_t *pk, *ck, *mk;
        char errstr[512], buf[64];

        ck_assert_int_eq(floq_conf_set_kafka(c, "session.timeout.ms", "6000",
                                             errstr, sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_conf_set_kafka(c, "linger.ms", "7", errstr,
                                             sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_conf_set_kafka(c, "socket.timeout.ms", "12345",
                                             errstr, sizeof(errstr)),
                         FLOQ_OK);
        pk = floq_kafka_conf_new(c, "producer", errstr, sizeof(errstr));
        ck = floq_kafka_conf_new(c, "consumer", errstr, sizeof(errstr));
        mk = floq_kafka_conf_new(c, "member", errstr, sizeof(errstr));
        ck_assert_ptr_nonnull(pk);
        ck_assert_ptr_nonnull(ck);
        ck_assert_ptr_nonnull(mk);
        /* the group member is a consumer too */
        conf_value(mk, "session.timeout.ms", buf, sizeof(buf));
        ck_assert_str_eq(buf, "6000");
        /* consumer-only: not on the producer (it would warn) */
        conf_value(pk, "session.timeout.ms", buf, sizeof(buf));
        ck_assert_str_eq(buf, "45000");
        conf_value(ck, "session.timeout.ms", buf, sizeof(buf));
        ck_assert_str_eq(buf, "6000");
        /* producer-only: not on the consumer */
        conf_value(pk, "linger.ms", buf, sizeof(buf));
        ck_assert_str_eq(buf, "7");
        conf_value(ck, "linger.ms", buf, sizeof(buf));
        ck_assert_str_ne(buf, "7");
        /* both */
        conf_value(pk, "socket.timeout.ms", buf, sizeof(buf));
        ck_assert_str_eq(buf, "12345");
        conf_value(ck, "socket.timeout.ms", buf, sizeof(buf));
        ck_assert_str_eq(buf, "12345");
        rd_kafka_conf_destroy(pk);
        rd_kafka_conf_destroy(ck);
        rd_kafka_conf_destroy(mk);
        floq_conf_destroy(c);
}
END_TEST

static Suite *timing_suite(void) {
        Suite *s = suite_create("timing");
        TCase *tc = tcase_create("core");

        tcase_set_timeout(tc, 20);
        tcase_add_test(tc, test_rule_defaults_accepted);
        tcase_add_test(tc, test_rule_old_defaults_refused);
        tcase_add_test(tc, test_rule_bounds);
        tcase_add_test(tc, test_worker_new_refuses);
        tcase_add_test(tc, test_takeover_clock_own_time);
        tcase_add_test(tc, test_takeover_mine_and_prune);
        tcase_add_test(tc, test_busy_not_counted);
        tcase_add_test(tc, test_busy_capped_by_session_timeout);
        tcase_add_test(tc, test_identity_default_stable);
        tcase_add_test(tc, test_identity_lock);
        tcase_add_test(tc, test_passthrough_routed);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(timing_suite());
}
