/*
 * test_mock.h - the world of the unit tests that drive a worker against
 * librdkafka's mock cluster (2.0.2): test_faults, test_offload and
 * test_budget. One test's world is `fx`: the mock cluster and the handle
 * it lives in, the worker's configuration, the worker on its thread, a
 * client, a probe that reads watermarks, and the log all of them write
 * to (a failed fx_assert() prints its end). mock_start() makes the cluster
 * and the worker's configuration, mock_split() puts the commands topic and
 * the group on broker 1 and everything the worker writes on broker 2,
 * worker_start() runs the worker; mock_teardown() frees whatever was
 * made. Static inline, as test_util.h.
 *
 * FLOQ_FAULTS_LOG=1 prints the whole log after each test,
 * FLOQ_FAULTS_DEBUG=eos,protocol,... adds librdkafka's debug contexts.
 */
#ifndef FLOQ_TEST_MOCK_H
#define FLOQ_TEST_MOCK_H

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "floq_common.h" /* rdkafka.h, which rdkafka_mock.h needs first */
#include <librdkafka/rdkafka_mock.h>

#include "floq.h"
#include "floq_schemas.h"
#include "test_util.h"
#include "worker_int.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#define WORKER_ID "w1"
#define TXN_ID "floq-" WORKER_ID
#define GROUP "floq-workers"

/* Kafka protocol request types (ApiKey), for the mock's error stacks. */
enum {
        K_PRODUCE = 0,
        K_FIND_COORDINATOR = 10,
        K_ADD_PARTITIONS_TO_TXN = 24,
        K_ADD_OFFSETS_TO_TXN = 25,
        K_END_TXN = 26,
        K_TXN_OFFSET_COMMIT = 28,
};

static const char *topic_props[] = { "topic.commands",    "topic.replies",
                                     "topic.lineage",     "topic.deployments",
                                     "topic.schedules",   "topic.runs",
                                     "topic.dlq" };

/* One test's world: the mock cluster, the worker and its thread, a
 * client, and the log they all write to. */
static struct {
        rd_kafka_t *owner; /* the handle the mock cluster lives in */
        rd_kafka_mock_cluster_t *mc;
        char brokers[256];
        int parts;         /* of every topic */
        floq_conf_t *wconf;
        floq_worker_t *w;
        pthread_t thr;
        int started;
        _Atomic int done;  /* floq_worker_run() returned */
        floq_err_t rc;     /* its result, read once done is set */
        floq_client_t *client;
        floq_codec_t *codec; /* the test's own, if it needs one */
        rd_kafka_t *probe; /* reads watermarks */
        FILE *log;
} fx;

/* Deadlines and slack: valgrind runs everything many times slower. */
static inline int64_t scaled(int64_t ms) {
        return RUNNING_ON_VALGRIND ? ms * 10 : ms;
}

/* ------------------------------------------------------------ the log */

/* Everything logged so far (malloc()ed, NUL-terminated). */
static inline char *log_text(void) { return test_file_text(fx.log); }

static inline int log_count(const char *needle) {
        return test_file_count(fx.log, needle);
}

/* The end of the log on stderr, to see why an assertion failed (all of
 * it with FLOQ_FAULTS_LOG set). */
static inline void dump_log(void) {
        char *text = log_text();
        size_t len = strlen(text);
        const char *from = len > 32768 && !getenv("FLOQ_FAULTS_LOG")
                                   ? text + len - 32768
                                   : text;

        fprintf(stderr, "---- log (last %zu bytes) ----\n%s---- end ----\n",
                strlen(from), from);
        free(text);
}

#define fx_assert(cond, ...)                                                   \
        do {                                                                   \
                if (!(cond)) {                                                 \
                        dump_log();                                            \
                        ck_abort_msg(__VA_ARGS__);                             \
                }                                                              \
        } while (0)

/* A line in the log where a step of a test begins. */
static inline void mark(const char *step) {
        floq_log_write(FLOQ_LOG_NOTICE, "test", "---- %s", step);
}

/* ------------------------------------------------------------ waiting */

typedef int(cond_fn)(void *arg);

/* Poll @p fn every 10 ms until it holds or @p ms (scaled) passed. */
static inline int wait_for(cond_fn *fn, void *arg, int64_t ms) {
        int64_t deadline = floq_mono_ms() + scaled(ms);
        struct timespec ts = { 0, 10 * 1000 * 1000 };

        for (;;) {
                if (fn(arg))
                        return 1;
                if (floq_mono_ms() >= deadline)
                        return 0;
                nanosleep(&ts, NULL);
        }
}

static inline size_t stack_cnt(int32_t broker, int key) {
        size_t n = 0;

        ck_assert_int_eq(rd_kafka_mock_broker_error_stack_cnt(
                                 fx.mc, broker, (int16_t)key, &n),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        return n;
}

typedef struct errstack_s {
        int32_t broker;
        int key;
} errstack_t;

static inline int stack_empty(void *arg) {
        const errstack_t *s = arg;

        return stack_cnt(s->broker, s->key) == 0;
}

static inline void wait_stack_empty(int32_t broker, int key,
                                    const char *what) {
        errstack_t s = { broker, key };

        fx_assert(wait_for(stack_empty, &s, 15000),
                  "%s: %zu injected error(s) never consumed on broker %d",
                  what, stack_cnt(broker, key), (int)broker);
}

/* ------------------------------------------------------------ set-up */

/* The probe: a consumer that fetches the end of the commands topic every
 * 10 ms for the whole test, and reads watermarks. The 2.0.2 mock thread
 * sometimes misses the wake-up of a control call (topic create, set
 * leader, error stack count, ...) and serves it only at its next 1 s
 * poll timeout, unless a request from a client wakes it first. */
static inline void probe_start(void) {
        char err[512];
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        rd_kafka_topic_partition_list_t *parts;
        int32_t p;

        rd_kafka_conf_set_log_cb(kc, floq_log_rdkafka_cb);
        rd_kafka_conf_set(kc, "bootstrap.servers", fx.brokers, NULL, 0);
        rd_kafka_conf_set(kc, "group.id", "test-faults-probe", NULL, 0);
        rd_kafka_conf_set(kc, "fetch.wait.max.ms", "10", NULL, 0);
        rd_kafka_conf_set(kc, "reconnect.backoff.max.ms", "200", NULL, 0);
        fx.probe = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
        ck_assert_msg(fx.probe != NULL, "%s", err);
        parts = rd_kafka_topic_partition_list_new(fx.parts);
        for (p = 0; p < fx.parts; p++)
                rd_kafka_topic_partition_list_add(parts, "floq.commands", p)
                        ->offset = RD_KAFKA_OFFSET_END;
        ck_assert_int_eq(rd_kafka_assign(fx.probe, parts),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        rd_kafka_topic_partition_list_destroy(parts);
}

static inline void mock_start(const char *name, int broker_cnt,
                              int parts) {
        char err[512], num[16];
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        size_t i;

        memset(&fx, 0, sizeof(fx));
        fx.parts = parts;
        fx.log = tmpfile();
        ck_assert_ptr_nonnull(fx.log);
        floq_log_setup(name, FLOQ_LOG_INFO, 0, fx.log);

        rd_kafka_conf_set_log_cb(kc, floq_log_rdkafka_cb);
        /* the mock's owner has no brokers of its own: skip that notice */
        rd_kafka_conf_set(kc, "log_level", "3", NULL, 0);
        fx.owner = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
        ck_assert_msg(fx.owner != NULL, "%s", err);
        fx.mc = rd_kafka_mock_cluster_new(fx.owner, broker_cnt);
        ck_assert_ptr_nonnull(fx.mc);
        snprintf(fx.brokers, sizeof(fx.brokers), "%s",
                 rd_kafka_mock_cluster_bootstraps(fx.mc));

        /* The worker's configuration: the mock has no CreateTopics, so
         * the topics are made here; timings short enough for a test. */
        fx.wconf = floq_conf_new();
        ck_assert_ptr_nonnull(fx.wconf);
        ck_assert_int_eq(floq_conf_set(fx.wconf, "brokers", fx.brokers, err,
                                       sizeof(err)),
                         FLOQ_OK);
        for (i = 0; i < sizeof(topic_props) / sizeof(*topic_props); i++) {
                ck_assert_int_eq(rd_kafka_mock_topic_create(
                                         fx.mc,
                                         floq_conf_str(fx.wconf,
                                                       topic_props[i]),
                                         parts, 1),
                                 RD_KAFKA_RESP_ERR_NO_ERROR);
                if (i == 0)
                        probe_start();
        }
        snprintf(num, sizeof(num), "%d", parts);
        {
                const char *set[][2] = {
                        { "topic.create", "false" },
                        { "topic.partitions", num },
                        { "worker.id", WORKER_ID },
                        { "worker.lock.dir", test_lock_dir() },
                        { "group.id", GROUP },
                        { "worker.commit.interval.ms", "20" },
                        { "worker.heartbeat.interval.ms", "300" },
                        /* the transactional calls' timeout is a third of
                         * this: 1.5 s */
                        { "worker.heartbeat.timeout.ms", "4500" },
                        { "worker.drain.grace.ms", "2000" },
                        { "process.allowed.dirs", "/bin:/usr/bin" },
                        { "process.kill.grace.ms", "500" },
                };
                static const char *kafka[][2] = {
                        { "session.timeout.ms", "6000" },
                        { "heartbeat.interval.ms", "300" },
                        /* the mock answers an empty fetch after the full
                         * wait: keep the worker's loop responsive */
                        { "fetch.wait.max.ms", "10" },
                        /* back within ms of a broker coming back up */
                        { "reconnect.backoff.ms", "10" },
                        { "reconnect.backoff.max.ms", "200" },
                };

                for (i = 0; i < sizeof(set) / sizeof(*set); i++)
                        ck_assert_int_eq(floq_conf_set(fx.wconf, set[i][0],
                                                       set[i][1], err,
                                                       sizeof(err)),
                                         FLOQ_OK);
                for (i = 0; i < sizeof(kafka) / sizeof(*kafka); i++)
                        ck_assert_int_eq(floq_conf_set_kafka(
                                                 fx.wconf, kafka[i][0],
                                                 kafka[i][1], err,
                                                 sizeof(err)),
                                         FLOQ_OK);
        }
        /* FLOQ_FAULTS_DEBUG=eos,... : librdkafka's debug contexts for the
         * worker's clients, in the log */
        if (getenv("FLOQ_FAULTS_DEBUG")) {
                floq_log_setup(name, FLOQ_LOG_DEBUG, 0, fx.log);
                ck_assert_int_eq(floq_conf_set_kafka(
                                         fx.wconf, "debug",
                                         getenv("FLOQ_FAULTS_DEBUG"), err,
                                         sizeof(err)),
                                 FLOQ_OK);
        }
}

/* Broker 1: the commands and the group; broker 2: everything the worker
 * writes and its transactions. Before any client looks them up. */
static inline void mock_split(void) {
        size_t i;
        int32_t p;

        for (i = 0; i < sizeof(topic_props) / sizeof(*topic_props); i++)
                for (p = 0; p < fx.parts; p++)
                        ck_assert_int_eq(
                                rd_kafka_mock_partition_set_leader(
                                        fx.mc,
                                        floq_conf_str(fx.wconf,
                                                      topic_props[i]),
                                        p, i == 0 ? 1 : 2),
                                RD_KAFKA_RESP_ERR_NO_ERROR);
        ck_assert_int_eq(rd_kafka_mock_coordinator_set(fx.mc, "transaction",
                                                       TXN_ID, 2),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        ck_assert_int_eq(rd_kafka_mock_coordinator_set(fx.mc, "group", GROUP,
                                                       1),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
}

static inline void *worker_main(void *arg) {
        (void)arg;
        fx.rc = floq_worker_run(fx.w);
        atomic_store(&fx.done, 1);
        return NULL;
}

static inline void worker_start(void) {
        char err[512];

        fx.w = floq_worker_new(fx.wconf, err, sizeof(err));
        ck_assert_msg(fx.w != NULL, "%s", err);
        ck_assert_int_eq(pthread_create(&fx.thr, NULL, worker_main, NULL), 0);
        fx.started = 1;
}

/* Join the worker's thread, asking it to drain first unless it ended on
 * its own; returns what floq_worker_run() returned. The worker is freed
 * in teardown(), so its counters can still be read. */
static inline floq_err_t worker_join(void) {
        if (!fx.started)
                return FLOQ_OK;
        if (!atomic_load(&fx.done))
                floq_worker_stop(fx.w);
        pthread_join(fx.thr, NULL);
        fx.started = 0;
        return fx.rc;
}

/* A client of the mock; @p timeout_ms is client.timeout.ms (the delivery
 * and reply bound), @p connect_ms client.connect.timeout.ms. */
static inline floq_client_t *client_new(int timeout_ms, int connect_ms) {
        char err[512], num[32];
        floq_conf_t *c = floq_conf_new();
        floq_client_t *client;

        ck_assert_ptr_nonnull(c);
        floq_conf_set(c, "brokers", fx.brokers, NULL, 0);
        floq_conf_set(c, "topic.create", "false", NULL, 0);
        snprintf(num, sizeof(num), "%d", timeout_ms);
        floq_conf_set(c, "client.timeout.ms", num, NULL, 0);
        snprintf(num, sizeof(num), "%d", connect_ms);
        floq_conf_set(c, "client.connect.timeout.ms", num, NULL, 0);
        floq_conf_set_kafka(c, "reconnect.backoff.ms", "10", NULL, 0);
        floq_conf_set_kafka(c, "reconnect.backoff.max.ms", "200", NULL, 0);
        client = floq_client_new(c, err, sizeof(err));
        ck_assert_msg(client != NULL, "%s", err);
        return client;
}

static inline void mock_setup(void) {
        memset(&fx, 0, sizeof(fx));
}

static inline void mock_teardown(void) {
        if (fx.client)
                floq_client_destroy(fx.client);
        worker_join();
        if (fx.w)
                floq_worker_destroy(fx.w);
        floq_conf_destroy(fx.wconf);
        floq_codec_destroy(fx.codec);
        if (fx.mc)
                rd_kafka_mock_cluster_destroy(fx.mc);
        if (fx.owner)
                rd_kafka_destroy(fx.owner);
        /* after the cluster: it woke the mock thread to the end */
        if (fx.probe)
                rd_kafka_destroy(fx.probe);
        /* back to defaults so CK_FORK=no runs do not leak state */
        floq_log_setup("floq", FLOQ_LOG_INFO, 0, NULL);
        if (fx.log) {
                if (getenv("FLOQ_FAULTS_LOG"))
                        dump_log();
                fclose(fx.log);
        }
        memset(&fx, 0, sizeof(fx));
}

/* ------------------------------------------------------------ commands */

/* Publish a deploy of @p name, process backend, @p spec (NULL: /bin/true);
 * its command id in @p id. */
static inline void send_deploy(const char *name, const char *spec,
                               char id[37]) {
        char err[512];

        fx_assert(floq_deploy(fx.client, name, "process",
                              spec ? spec : "{\"executable\":\"/bin/true\"}",
                              NULL, NULL, id, err, sizeof(err)) == FLOQ_OK,
                  "deploy '%s': %s", name, err);
        floq_log_write(FLOQ_LOG_NOTICE, "test", "sent deploy %s: %s", name,
                       id);
}

/* Publish a run of @p name with @p params (borrowed; NULL: none). */
static inline void send_run(const char *name, json_t *params, char id[37]) {
        char err[512];

        fx_assert(floq_run(fx.client, name, params, NULL, 0, NULL, id, err,
                           sizeof(err)) == FLOQ_OK,
                  "run '%s': %s", name, err);
        floq_log_write(FLOQ_LOG_NOTICE, "test", "sent run %s: %s", name, id);
}

/* The first final reply to @p id within @p ms (scaled); the caller
 * decrefs. */
static inline json_t *final_reply(const char *id, int64_t ms,
                                  const char *what) {
        json_t *r = NULL;
        floq_err_t err = floq_client_wait_reply(fx.client, id, 1,
                                                (int)scaled(ms), &r);

        fx_assert(err == FLOQ_OK, "%s: no final reply to %s: %s", what, id,
                  floq_err2str(err));
        floq_log_write(FLOQ_LOG_NOTICE, "test", "final %s to %s",
                       floq_reply_status(r), id);
        return r;
}

/* The first final reply to @p id must come within @p ms (scaled) and be
 * @p status. (The mock shows aborted replies too: later ones may follow.) */
static inline void expect_final(const char *id, const char *status,
                                int64_t ms, const char *what) {
        json_t *r = final_reply(id, ms, what);

        fx_assert(!strcmp(floq_reply_status(r), status),
                  "%s: final reply %s, expected %s (reason: %s)", what,
                  floq_reply_status(r), status,
                  json_string_value(json_object_get(r, "reason")));
        json_decref(r);
}

/* Push one error per entry of @p errs (each answered after @p rtt_ms) onto
 * @p broker's stack for request type @p key. */
static inline void inject(int32_t broker, int key,
                          const rd_kafka_resp_err_t *errs, size_t cnt,
                          int rtt_ms) {
        size_t i;

        for (i = 0; i < cnt; i++)
                ck_assert_int_eq(rd_kafka_mock_broker_push_request_error_rtts(
                                         fx.mc, broker, (int16_t)key, 1,
                                         errs[i], rtt_ms),
                                 RD_KAFKA_RESP_ERR_NO_ERROR);
}

#define INJECT(broker, key, rtt, ...)                                          \
        do {                                                                   \
                static const rd_kafka_resp_err_t errs_[] = { __VA_ARGS__ };    \
                inject((broker), (key), errs_,                                 \
                       sizeof(errs_) / sizeof(errs_[0]), (rtt));               \
        } while (0)

#endif
