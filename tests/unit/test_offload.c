/*
 * test_offload.c - what must not wait on the worker's consume -> transact
 * loop, and what must survive a commit whose outcome is unknown, driven by
 * librdkafka's mock cluster (2.0.2) with the worker library on a thread
 * (the fixture of test_faults.c, one broker):
 *
 * - a deploy whose artifact server holds the download, and a validate
 *   whose backend (http) holds its request, are parked off the loop
 *   (worker/offload.c): meanwhile a run of another partition is decided
 *   and committed, a live run's heartbeats commit with no gap longer than
 *   the heartbeat interval plus margin, and the parked command gets its
 *   right reply afterwards (G1, issue 9 item 5, issue 11 item 2);
 * - a stop whose transaction's commit fails fatally (INVALID_TXN_STATE on
 *   EndTxn: the producer is replaced and the worker rewinds) while Kafka
 *   keeps its records (the 2.0.2 mock keeps aborted records visible, which
 *   is what a commit that did succeed at the broker looks like) still
 *   stops the run (issue 9 item 10);
 * - a run command with an idempotency key whose run retention removed is
 *   told so in its ACCEPTED reply (issue 9 item 10).
 *
 * The mock's own limits (test_faults.c): it drops transactional offsets
 * (a rewind re-reads from the beginning, answered as repeats) and writes
 * no abort markers. The slow HTTP server here is a thread that accepts one
 * connection at a time and holds it until the test releases it.
 */
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

#define PARTS 2
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

/* What the worker logs when it takes its error paths (worker/txn.c). */
#define LOG_REPLACE "replacing the transactional producer"

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
        floq_conf_t *wconf;
        floq_worker_t *w;
        pthread_t thr;
        int started;
        _Atomic int done;  /* floq_worker_run() returned */
        floq_err_t rc;     /* its result, read once done is set */
        floq_client_t *client;
        rd_kafka_t *probe; /* reads watermarks */
        FILE *log;
} fx;

/* Deadlines and slack: valgrind runs everything many times slower. */
static int64_t scaled(int64_t ms) {
        return RUNNING_ON_VALGRIND ? ms * 10 : ms;
}

/* ------------------------------------------------------------ the log */

/* Everything logged so far (malloc()ed, NUL-terminated). The logger
 * flushes every line under its lock, so reading the file is safe. */
static char *log_text(void) {
        size_t size = 0, cap = 65536;
        char *buf = malloc(cap + 1);
        ssize_t n;

        ck_assert_ptr_nonnull(buf);
        while ((n = pread(fileno(fx.log), buf + size, cap - size,
                          (off_t)size)) > 0) {
                size += (size_t)n;
                if (size == cap) {
                        cap *= 2;
                        buf = realloc(buf, cap + 1);
                        ck_assert_ptr_nonnull(buf);
                }
        }
        buf[size] = '\0';
        return buf;
}

static int log_count(const char *needle) {
        char *text = log_text(), *p = text;
        int n = 0;

        while ((p = strstr(p, needle))) {
                n++;
                p += strlen(needle);
        }
        free(text);
        return n;
}

/* The end of the log on stderr, to see why an assertion failed (all of
 * it with FLOQ_FAULTS_LOG set). */
static void dump_log(void) {
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
static void mark(const char *step) {
        floq_log_write(FLOQ_LOG_NOTICE, "test", "---- %s", step);
}

/* ------------------------------------------------------------ waiting */

typedef int(cond_fn)(void *arg);

/* Poll @p fn every 10 ms until it holds or @p ms (scaled) passed. */
static int wait_for(cond_fn *fn, void *arg, int64_t ms) {
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

static size_t stack_cnt(int32_t broker, int key) {
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

static int stack_empty(void *arg) {
        const errstack_t *s = arg;

        return stack_cnt(s->broker, s->key) == 0;
}

static void wait_stack_empty(int32_t broker, int key, const char *what) {
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
static void probe_start(void) {
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
        parts = rd_kafka_topic_partition_list_new(PARTS);
        for (p = 0; p < PARTS; p++)
                rd_kafka_topic_partition_list_add(parts, "floq.commands", p)
                        ->offset = RD_KAFKA_OFFSET_END;
        ck_assert_int_eq(rd_kafka_assign(fx.probe, parts),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        rd_kafka_topic_partition_list_destroy(parts);
}

static void mock_start(int broker_cnt) {
        char err[512];
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        size_t i;

        memset(&fx, 0, sizeof(fx));
        fx.log = tmpfile();
        ck_assert_ptr_nonnull(fx.log);
        floq_log_setup("test_faults", FLOQ_LOG_INFO, 0, fx.log);

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
                                         PARTS, 1),
                                 RD_KAFKA_RESP_ERR_NO_ERROR);
                if (i == 0)
                        probe_start();
        }
        {
                const char *set[][2] = {
                        { "topic.create", "false" },
                        { "topic.partitions", "2" },
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
                floq_log_setup("test_faults", FLOQ_LOG_DEBUG, 0, fx.log);
                ck_assert_int_eq(floq_conf_set_kafka(
                                         fx.wconf, "debug",
                                         getenv("FLOQ_FAULTS_DEBUG"), err,
                                         sizeof(err)),
                                 FLOQ_OK);
        }
}

static void *worker_main(void *arg) {
        (void)arg;
        fx.rc = floq_worker_run(fx.w);
        atomic_store(&fx.done, 1);
        return NULL;
}

static void worker_start(void) {
        char err[512];

        fx.w = floq_worker_new(fx.wconf, err, sizeof(err));
        ck_assert_msg(fx.w != NULL, "%s", err);
        ck_assert_int_eq(pthread_create(&fx.thr, NULL, worker_main, NULL), 0);
        fx.started = 1;
}

/* Join the worker's thread, asking it to drain first unless it ended on
 * its own; returns what floq_worker_run() returned. The worker is freed
 * in teardown(), so its counters can still be read. */
static floq_err_t worker_join(void) {
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
static floq_client_t *client_new(int timeout_ms, int connect_ms) {
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

static void setup(void) {
        memset(&fx, 0, sizeof(fx));
}

static void srv_stop(void);

static void teardown(void) {
        srv_stop();
        if (fx.client)
                floq_client_destroy(fx.client);
        worker_join();
        if (fx.w)
                floq_worker_destroy(fx.w);
        floq_conf_destroy(fx.wconf);
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

static void send_run(const char *name, char id[37]) {
        char err[512];

        fx_assert(floq_run(fx.client, name, NULL, NULL, 0, NULL, id, err,
                           sizeof(err)) == FLOQ_OK,
                  "run '%s': %s", name, err);
        floq_log_write(FLOQ_LOG_NOTICE, "test", "sent run %s: %s", name, id);
}

/* The first final reply to @p id within @p ms (scaled); the caller
 * decrefs. */
static json_t *final_reply(const char *id, int64_t ms, const char *what) {
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
static void expect_final(const char *id, const char *status, int64_t ms,
                         const char *what) {
        json_t *r = final_reply(id, ms, what);

        fx_assert(!strcmp(floq_reply_status(r), status),
                  "%s: final reply %s, expected %s", what,
                  floq_reply_status(r), status);
        json_decref(r);
}

/* Push one error per entry of @p errs (each answered after @p rtt_ms) onto
 * @p broker's stack for request type @p key. */
static void inject(int32_t broker, int key, const rd_kafka_resp_err_t *errs,
                   size_t cnt, int rtt_ms) {
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

/* A run of "d" after the injection: it must succeed, which needs the
 * transaction that accepted it to have committed, and the injected
 * errors must all have been returned to someone. */

/* ------------------------------------------------------------ helpers */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

/* The held HTTP server: answers "x" (200) to each request once released. */
static struct {
        int fd, port;
        pthread_t thr;
        int started;
        _Atomic int stop, release, accepted, answered;
} srv;

static void *srv_main(void *arg) {
        static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
                                 "Connection: close\r\n\r\nx";
        struct pollfd pfd;
        char buf[4096];

        (void)arg;
        while (!atomic_load(&srv.stop)) {
                int c;

                pfd.fd = srv.fd;
                pfd.events = POLLIN;
                if (poll(&pfd, 1, 50) <= 0)
                        continue;
                if ((c = accept(srv.fd, NULL, NULL)) < 0)
                        continue;
                atomic_fetch_add(&srv.accepted, 1);
                /* the request (its headers fit one read here) */
                pfd.fd = c;
                if (poll(&pfd, 1, 2000) > 0)
                        (void)!recv(c, buf, sizeof(buf), 0);
                /* the fault: no answer until released */
                while (!atomic_load(&srv.release) && !atomic_load(&srv.stop))
                        poll(NULL, 0, 10);
                if (!atomic_load(&srv.stop) &&
                    send(c, ok, sizeof(ok) - 1, MSG_NOSIGNAL) > 0)
                        atomic_fetch_add(&srv.answered, 1);
                close(c);
        }
        return NULL;
}

static void srv_start(void) {
        struct sockaddr_in a;
        socklen_t len = sizeof(a);

        memset(&srv, 0, sizeof(srv)); /* CK_FORK=no runs every case here */
        memset(&a, 0, sizeof(a));
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        srv.fd = socket(AF_INET, SOCK_STREAM, 0);
        ck_assert_int_ge(srv.fd, 0);
        ck_assert_int_eq(bind(srv.fd, (struct sockaddr *)&a, sizeof(a)), 0);
        ck_assert_int_eq(listen(srv.fd, 8), 0);
        ck_assert_int_eq(getsockname(srv.fd, (struct sockaddr *)&a, &len), 0);
        srv.port = ntohs(a.sin_port);
        ck_assert_int_eq(pthread_create(&srv.thr, NULL, srv_main, NULL), 0);
        srv.started = 1;
}

static void srv_stop(void) {
        if (!srv.started)
                return;
        atomic_store(&srv.stop, 1);
        pthread_join(srv.thr, NULL);
        close(srv.fd);
        srv.started = 0;
}

static int srv_accepted(void *arg) {
        (void)arg;
        return atomic_load(&srv.accepted) >= 1;
}

/* The longest time without a commit while a run is live, sampled every
 * 5 ms beside the worker (last_commit_mono is what the watchdog reads). */
static struct {
        pthread_t thr;
        _Atomic int stop;
        _Atomic int64_t max_gap;
} gap;

static void *gap_main(void *arg) {
        struct timespec ts = { 0, 5 * 1000 * 1000 };

        (void)arg;
        while (!atomic_load(&gap.stop)) {
                int64_t g = floq_mono_ms() -
                            atomic_load(&fx.w->last_commit_mono);

                if (g > atomic_load(&gap.max_gap))
                        atomic_store(&gap.max_gap, g);
                nanosleep(&ts, NULL);
        }
        return NULL;
}

static void gap_start(void) {
        atomic_store(&gap.stop, 0);
        atomic_store(&gap.max_gap, 0);
        ck_assert_int_eq(pthread_create(&gap.thr, NULL, gap_main, NULL), 0);
}

static int64_t gap_stop(void) {
        atomic_store(&gap.stop, 1);
        pthread_join(gap.thr, NULL);
        return atomic_load(&gap.max_gap);
}

/* A deployment name whose home is partition @p p (into @p out). */
static void name_on(int32_t p, const char *prefix, char *out, size_t size) {
        int i;

        for (i = 0; i < 1000; i++) {
                snprintf(out, size, "%s%d", prefix, i);
                if (whome_partition(out, PARTS) == p)
                        return;
        }
        ck_abort_msg("no name on partition %d", (int)p);
}

static void deploy_spec(const char *name, const char *spec,
                        const floq_deploy_opts_t *dopts, char id[37]) {
        char err[512];

        fx_assert(floq_deploy(fx.client, name, "process", spec, dopts, NULL,
                              id, err, sizeof(err)) == FLOQ_OK,
                  "deploy '%s': %s", name, err);
        floq_log_write(FLOQ_LOG_NOTICE, "test", "sent deploy %s: %s", name,
                       id);
}

static int attempt_live(void *arg) {
        (void)arg;
        return floq_executor_active(fx.w->ex) > 0;
}


/* The world every case here starts from: one broker, the worker, a
 * client, the held server; "long" (sleep @p secs) and "quick" (true)
 * deployed on partition 1, a run of "long" live. */
static char long_name[32], quick_name[32], slow_name[32];

static void world_start(const char *const (*extra)[2], size_t extra_cnt,
                        const char *secs, char long_run[37]) {
        char err[512], id1[37], id2[37], spec[128];
        size_t i;

        mock_start(1);
        for (i = 0; i < extra_cnt; i++)
                ck_assert_int_eq(floq_conf_set(fx.wconf, extra[i][0],
                                               extra[i][1], err, sizeof(err)),
                                 FLOQ_OK);
        srv_start();
        worker_start();
        fx.client = client_new(10000, 5000);
        name_on(1, "long", long_name, sizeof(long_name));
        name_on(1, "quick", quick_name, sizeof(quick_name));
        name_on(0, "slow", slow_name, sizeof(slow_name));
        snprintf(spec, sizeof(spec),
                 "{\"executable\":\"/bin/sleep\",\"args\":[\"%s\"]}", secs);
        deploy_spec(long_name, spec, NULL, id1);
        deploy_spec(quick_name, "{\"executable\":\"/bin/true\"}", NULL, id2);
        expect_final(id1, "DEPLOYED", 20000, "deploy long");
        expect_final(id2, "DEPLOYED", 20000, "deploy quick");
        send_run(long_name, long_run);
        fx_assert(wait_for(attempt_live, NULL, 15000),
                  "the long run never started");
}

/* A run of "quick" (partition 1) answered SUCCEEDED while the server
 * still holds the parked command's request. */
static void other_partition_served(const char *what) {
        char id[37];

        send_run(quick_name, id);
        expect_final(id, "SUCCEEDED", 10000, what);
        fx_assert(atomic_load(&srv.answered) == 0,
                  "%s: the server answered before the other partition's run "
                  "was: nothing was shown",
                  what);
}

/* Commits while the parked command waited: none further apart than the
 * heartbeat interval (300 ms) plus margin (the 2.0.2 mock serves an EndTxn
 * up to 1 s late now and then). Blocked on the loop, the wait (2.5 s, or
 * for ever) shows whole. */
#define GAP_MAX_MS 1600

/* ------------------------------------------------------------ G1 */

START_TEST(test_g1_slow_artifact_download_off_the_loop) {
        char long_run[37], dep[37], url[128];
        char dir[] = "/tmp/floq-offload-XXXXXX";
        const char *const extra[][2] = {
                { "artifact.deploy.timeout.ms", "2500" },
                { "artifact.protocols", "http" },
                { "artifact.cache.dir", dir },
                /* so that nothing but artifact.deploy.timeout.ms bounded
                 * the download when it ran on the loop (a third of this) */
                { "worker.heartbeat.timeout.ms", "9000" },
        };
        floq_deploy_opts_t dopts = { 0 };
        int64_t max_gap;
        json_t *r;

        ck_assert_ptr_nonnull(mkdtemp(dir));
        world_start(extra, 4, "6", long_run);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/job.sh", srv.port);
        dopts.artifact_url = url;
        /* sha256 of "x", what the server sends once released */
        dopts.artifact_sha256 = "2d711642b726b04401627ca9fbac32f5"
                                "c8530fb1903cc4db02258717921a4881";
        mark("a deploy whose artifact server holds the download");
        gap_start();
        deploy_spec(slow_name, "{\"executable\":\"{artifact}\"}", &dopts,
                    dep);
        fx_assert(wait_for(srv_accepted, NULL, 15000),
                  "the download never reached the server");
        other_partition_served("a run of another partition during the "
                               "download");
        r = final_reply(dep, 20000, "the parked deploy");
        max_gap = gap_stop();
        fx_assert(!strcmp(floq_reply_status(r), "REJECTED") &&
                          json_is_string(json_object_get(r, "reason")),
                  "the parked deploy: %s, expected REJECTED with a reason",
                  floq_reply_status(r));
        json_decref(r);
        fx_assert(max_gap < scaled(GAP_MAX_MS),
                  "no commit for %lld ms while the download waited (at most "
                  "%d allowed): the loop waited for it",
                  (long long)max_gap, GAP_MAX_MS);
        fx_assert(log_count("parked at partition 0") >= 1,
                  "the deploy was not parked");
        atomic_store(&srv.release, 1);
        expect_final(long_run, "SUCCEEDED", 20000, "the live run");
        fx_assert(log_count("no transaction committed") == 0,
                  "the watchdog self-fenced");
        srv_stop();
}
END_TEST

START_TEST(test_g1_hung_validate_off_the_loop) {
        char long_run[37], id[37], spec[160], err[512];
        int64_t max_gap;
        json_t *r;

        world_start(NULL, 0, "6", long_run);
        snprintf(spec, sizeof(spec), "{\"url\":\"http://127.0.0.1:%d/hook\"}",
                 srv.port);
        mark("a validate whose backend's server holds the request");
        gap_start();
        fx_assert(floq_validate(fx.client, slow_name, "http", spec, NULL, id,
                                err, sizeof(err)) == FLOQ_OK,
                  "validate: %s", err);
        fx_assert(wait_for(srv_accepted, NULL, 15000),
                  "the validate never reached the server");
        other_partition_served("a run of another partition during the "
                               "validate");
        /* the parked validate gets its right answer once the server
         * answers */
        atomic_store(&srv.release, 1);
        r = final_reply(id, 15000, "the parked validate");
        max_gap = gap_stop();
        fx_assert(!strcmp(floq_reply_status(r), "VALID"),
                  "the parked validate: %s (%s), expected VALID",
                  floq_reply_status(r),
                  json_string_value(json_object_get(r, "reason"))
                          ? json_string_value(json_object_get(r, "reason"))
                          : "");
        json_decref(r);
        fx_assert(max_gap < scaled(GAP_MAX_MS),
                  "no commit for %lld ms while the validate waited (at most "
                  "%d allowed): the loop waited for it",
                  (long long)max_gap, GAP_MAX_MS);
        expect_final(long_run, "SUCCEEDED", 20000, "the live run");
        srv_stop();
}
END_TEST

/* ------------------------------------------------------------ stops */

static int committed_since(void *arg) {
        return atomic_load(&fx.w->last_commit_mono) > *(const int64_t *)arg;
}

START_TEST(test_g1_stop_survives_unknown_commit_outcome) {
        /* heartbeats rare enough that the stop's transaction is the next
         * one to commit (the timing rule: 5000 + 500 + 500 < 30000 / 3) */
        static const char *const extra[][2] = {
                { "worker.heartbeat.interval.ms", "5000" },
                { "worker.heartbeat.timeout.ms", "30000" },
        };
        char long_run[37], stop[37], err[512], run_id[37];
        int64_t since;
        int replaced0;
        json_t *r;

        world_start(extra, 2, "30", long_run);
        /* its run id; and the RUNNING event's transaction is behind us */
        do {
                r = NULL;
                fx_assert(floq_client_wait_reply(fx.client, long_run, 0,
                                                 (int)scaled(10000),
                                                 &r) == FLOQ_OK,
                          "no RUNNING reply");
                snprintf(run_id, sizeof(run_id), "%s",
                         json_string_value(json_object_get(r, "run_id"))
                                 ? json_string_value(
                                           json_object_get(r, "run_id"))
                                 : "");
                ck_assert(!floq_reply_is_final(r));
                if (!strcmp(floq_reply_status(r), "RUNNING")) {
                        json_decref(r);
                        break;
                }
                json_decref(r);
        } while (1);
        /* ... committed: a commit after the reply was seen */
        since = floq_mono_ms();
        fx_assert(wait_for(committed_since, &since, 10000),
                  "the RUNNING transaction never committed");
        mark("INVALID_TXN_STATE on the EndTxn of a stop");
        replaced0 = log_count(LOG_REPLACE);
        INJECT(1, K_END_TXN, 0, RD_KAFKA_RESP_ERR_INVALID_TXN_STATE);
        fx_assert(floq_stop(fx.client, long_name, run_id, NULL, stop, err,
                            sizeof(err)) == FLOQ_OK,
                  "stop: %s", err);
        expect_final(stop, "STOPPED", 15000, "the stop");
        wait_stack_empty(1, K_END_TXN, "INVALID_TXN_STATE on EndTxn");
        fx_assert(log_count(LOG_REPLACE) == replaced0 + 1,
                  "the commit did not fail fatally");
        /* the run was sleeping 30 s: CANCELLED well before */
        expect_final(long_run, "CANCELLED", 10000,
                     "the stopped run after the unknown commit");
        srv_stop();
}
END_TEST

/* ------------------------------------------------------------ G3 */

static int retention_swept(void *arg) {
        (void)arg;
        return log_count("retention: ") >= 1;
}

START_TEST(test_g3_expired_idempotency_key_said) {
        static const char *const extra[][2] = {
                { "worker.run.retention.ms", "5000" },
        };
        char long_run[37], id[37], err[512];
        const char *reason;
        json_t *r;

        world_start(extra, 1, "1", long_run);
        mark("a keyed run, its retention, the key again");
        fx_assert(floq_run(fx.client, quick_name, NULL, "nightly-1", 0, NULL,
                           id, err, sizeof(err)) == FLOQ_OK,
                  "run: %s", err);
        expect_final(id, "SUCCEEDED", 15000, "the keyed run");
        fx_assert(wait_for(retention_swept, NULL, 15000),
                  "retention never removed the finished runs");
        fx_assert(floq_run(fx.client, quick_name, NULL, "nightly-1", 0, NULL,
                           id, err, sizeof(err)) == FLOQ_OK,
                  "run: %s", err);
        r = NULL;
        fx_assert(floq_client_wait_reply(fx.client, id, 0,
                                         (int)scaled(15000), &r) == FLOQ_OK,
                  "no reply to the second keyed run");
        reason = json_string_value(json_object_get(r, "reason"));
        fx_assert(!strcmp(floq_reply_status(r), "ACCEPTED") && reason &&
                          strstr(reason, "idempotency key older than the "
                                         "retention window of 5000 ms"),
                  "the second keyed run: %s (%s), expected ACCEPTED saying "
                  "the key outlived the retention window",
                  floq_reply_status(r), reason ? reason : "no reason");
        json_decref(r);
        expect_final(id, "SUCCEEDED", 15000, "the new keyed run");
        srv_stop();
}
END_TEST

static Suite *offload_suite(void) {
        Suite *s = suite_create("offload");
        TCase *tc = tcase_create("worker");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, RUNNING_ON_VALGRIND ? 900 : 90);
        /* Timing cases: under valgrind (CK_FORK=no, every case in one
         * process, 10x the bounds) they would say nothing and cost
         * minutes of CI; ASan runs them. */
        if (!RUNNING_ON_VALGRIND) {
                tcase_add_test(tc, test_g1_slow_artifact_download_off_the_loop);
                tcase_add_test(tc, test_g1_hung_validate_off_the_loop);
        }
        tcase_add_test(tc, test_g1_stop_survives_unknown_commit_outcome);
        tcase_add_test(tc, test_g3_expired_idempotency_key_said);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) { return test_run_suite(offload_suite()); }
