/*
 * test_spawn_wake.c - what wakes the worker's loop when an attempt
 * starts or ends (worker.c wake_loop, issue 13): the executor calls its
 * notify function for every event it queues, and librdkafka 2.0.2's
 * rd_kafka_queue_yield() on the consumer's queue ends a blocked
 * rd_kafka_consumer_poll() at once (on the mock cluster), so a finished
 * run is written in the same loop pass instead of a poll slice later.
 * And the executor's threads are a pool (worker/executor.c): attempts
 * reuse them instead of each creating and joining its own.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "floq_common.h"
#include <librdkafka/rdkafka_mock.h>

#include "backends/backend.h"
#include "executor.h"
#include "test_util.h"

static _Atomic int notified;

static void count_notify(void *opaque) {
        (void)opaque;
        atomic_fetch_add(&notified, 1);
}

START_TEST(test_notify_per_event) {
        char errstr[256];
        floq_conf_t *conf = floq_conf_new();
        floq_backend_t *be;
        floq_executor_t *ex;
        floq_exec_event_t ev;
        json_t *spec = json_object();
        floq_run_req_t req = { .run_id = "4b0c6a7e-3f5e-4f5e-9a53-0d3a4c1b2e11",
                               .deployment = "dep",
                               .attempt = 1,
                               .spec = spec };
        int64_t end;
        int got = 0;

        ck_assert(floq_conf_set(conf, "noop.backend.enabled", "true", errstr,
                                sizeof(errstr)) == FLOQ_OK);
        be = floq_backend_noop.new_(conf, errstr, sizeof(errstr));
        ck_assert_msg(be != NULL, "%s", errstr);
        ex = floq_executor_new(2, -1, errstr, sizeof(errstr));
        ck_assert(ex != NULL);
        floq_executor_set_notify(ex, count_notify, NULL);
        ck_assert(floq_executor_submit(ex, be, &req, NULL, errstr,
                                       sizeof(errstr)) == FLOQ_OK);
        /* STARTED and FINISHED: each notified when it is queued */
        end = floq_mono_ms() + 5000;
        while (got < 2 && floq_mono_ms() < end) {
                memset(&ev, 0, sizeof(ev));
                if (floq_executor_next_event(ex, &ev, 100)) {
                        ck_assert_int_ge(atomic_load(&notified), got + 1);
                        floq_exec_event_release(&ev);
                        got++;
                }
        }
        ck_assert_int_eq(got, 2);
        ck_assert_int_eq(atomic_load(&notified), 2);
        /* after set_notify(NULL) nothing is called */
        floq_executor_set_notify(ex, NULL, NULL);
        req.attempt = 2;
        ck_assert(floq_executor_submit(ex, be, &req, NULL, errstr,
                                       sizeof(errstr)) == FLOQ_OK);
        for (got = 0, end = floq_mono_ms() + 5000;
             got < 2 && floq_mono_ms() < end;) {
                memset(&ev, 0, sizeof(ev));
                if (floq_executor_next_event(ex, &ev, 100)) {
                        floq_exec_event_release(&ev);
                        got++;
                }
        }
        ck_assert_int_eq(got, 2);
        ck_assert_int_eq(atomic_load(&notified), 2);
        floq_executor_destroy(ex);
        floq_backend_noop.destroy(be);
        json_decref(spec);
        floq_conf_destroy(conf);
}
END_TEST

/* A backend whose start() records the thread it runs on. */
#define TID_MAX 256
static pid_t tids[TID_MAX];
static _Atomic int tid_cnt;

static floq_err_t tid_start(floq_backend_t *be, const floq_run_req_t *req,
                            floq_attempt_t **attp, char *errstr,
                            size_t errstr_size) {
        int i = atomic_fetch_add(&tid_cnt, 1);

        if (i < TID_MAX)
                tids[i] = gettid();
        return floq_backend_noop.start(be, req, attp, errstr, errstr_size);
}

START_TEST(test_threads_reused) {
        char errstr[256], id[40];
        floq_conf_t *conf = floq_conf_new();
        floq_backend_ops_t ops = floq_backend_noop;
        floq_backend_t *be;
        floq_executor_t *ex;
        floq_exec_event_t ev;
        json_t *spec = json_object();
        floq_run_req_t req = { .deployment = "dep", .attempt = 1,
                               .spec = spec };
        int i, j, distinct = 0, finished;

        ck_assert(floq_conf_set(conf, "noop.backend.enabled", "true", errstr,
                                sizeof(errstr)) == FLOQ_OK);
        be = floq_backend_noop.new_(conf, errstr, sizeof(errstr));
        ck_assert(be != NULL);
        ops.start = tid_start;
        be->ops = &ops;
        ex = floq_executor_new(2, -1, errstr, sizeof(errstr));
        ck_assert(ex != NULL);
        /* 100 attempts, two at a time */
        for (i = 0; i < 100; i += 2) {
                for (j = 0; j < 2; j++) {
                        snprintf(id, sizeof(id),
                                 "4b0c6a7e-3f5e-4f5e-9a53-%012d", i + j);
                        req.run_id = id;
                        ck_assert(floq_executor_submit(ex, be, &req, NULL,
                                                       errstr,
                                                       sizeof(errstr)) ==
                                  FLOQ_OK);
                }
                for (finished = 0; finished < 2;) {
                        memset(&ev, 0, sizeof(ev));
                        ck_assert(floq_executor_next_event(ex, &ev, 5000));
                        finished += ev.type == FLOQ_EXEC_FINISHED;
                        floq_exec_event_release(&ev);
                }
        }
        ck_assert_int_eq(atomic_load(&tid_cnt), 100);
        for (i = 0; i < 100; i++) {
                for (j = 0; j < i && tids[j] != tids[i]; j++)
                        ;
                distinct += j == i;
        }
        /* one thread per attempt made 100 */
        ck_assert_msg(distinct <= 2, "%d threads ran 100 attempts",
                      distinct);
        floq_executor_destroy(ex);
        be->ops = &floq_backend_noop;
        floq_backend_noop.destroy(be);
        json_decref(spec);
        floq_conf_destroy(conf);
}
END_TEST

static rd_kafka_queue_t *yield_q;

static void *yield_later(void *arg) {
        struct timespec ts = { 0, 200 * 1000 * 1000 };

        (void)arg;
        nanosleep(&ts, NULL);
        rd_kafka_queue_yield(yield_q);
        return NULL;
}

START_TEST(test_yield_ends_consumer_poll) {
        char errstr[512];
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        rd_kafka_mock_cluster_t *mc;
        rd_kafka_topic_partition_list_t *sub;
        rd_kafka_t *owner, *rk;
        rd_kafka_message_t *m;
        pthread_t thr;
        int64_t t0, took;

        rd_kafka_conf_set(kc, "log_level", "0", NULL, 0);
        owner = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
        ck_assert_msg(owner != NULL, "%s", errstr);
        mc = rd_kafka_mock_cluster_new(owner, 1);
        ck_assert(mc != NULL);
        rd_kafka_mock_topic_create(mc, "wake", 1, 1);
        kc = rd_kafka_conf_new();
        rd_kafka_conf_set(kc, "bootstrap.servers",
                          rd_kafka_mock_cluster_bootstraps(mc), NULL, 0);
        rd_kafka_conf_set(kc, "group.id", "wake", NULL, 0);
        rd_kafka_conf_set(kc, "log_level", "0", NULL, 0);
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, sizeof(errstr));
        ck_assert_msg(rk != NULL, "%s", errstr);
        rd_kafka_poll_set_consumer(rk);
        sub = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(sub, "wake", RD_KAFKA_PARTITION_UA);
        rd_kafka_subscribe(rk, sub);
        rd_kafka_topic_partition_list_destroy(sub);
        yield_q = rd_kafka_queue_get_consumer(rk);
        ck_assert(yield_q != NULL);

        /* an empty topic: only the yield can end this poll early */
        pthread_create(&thr, NULL, yield_later, NULL);
        t0 = floq_mono_ms();
        do {
                m = rd_kafka_consumer_poll(rk, 5000);
                if (m)
                        rd_kafka_message_destroy(m); /* group events */
        } while (m && floq_mono_ms() - t0 < 5000);
        took = floq_mono_ms() - t0;
        pthread_join(thr, NULL);
        ck_assert_msg(took < 2000, "the poll ran %lld ms despite the yield",
                      (long long)took);

        rd_kafka_queue_destroy(yield_q);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(owner);
}
END_TEST

int main(void) {
        Suite *s = suite_create("spawn_wake");
        TCase *tc = tcase_create("wake");

        floq_log_setup("test_spawn_wake", FLOQ_LOG_ERR, 0, stderr);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_notify_per_event);
        tcase_add_test(tc, test_yield_ends_consumer_poll);
        tcase_add_test(tc, test_threads_reused);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
