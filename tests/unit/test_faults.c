/*
 * test_faults.c - the error paths of the worker and of libfloq's client,
 * driven by librdkafka's mock cluster (2.0.2): request errors pushed onto
 * a mock broker's error stack (rd_kafka_mock_broker_push_request_error_rtts)
 * and brokers set down and up. The worker is the library floq-worker runs
 * (floq_worker_new() + floq_worker_run() on a thread, stopped with
 * floq_worker_stop(), the drain main.c's SIGTERM handler starts).
 *
 * The worker tests use two mock brokers: broker 1 leads the commands topic
 * and coordinates the workers' group, broker 2 leads every topic the worker
 * writes and coordinates its transactions. Errors injected on broker 2 (or
 * on a transactional request, which only the worker sends) therefore hit
 * the worker and never the client that publishes the commands. The
 * "coordinator" case adds broker 3, the worker's transaction coordinator
 * and nothing else, to take it down alone. A fault
 * counts as taken when the broker's error stack drained (the requests
 * really failed) and, where the worker itself acts, when its log says so.
 * A run's SUCCEEDED reply proves that the transaction holding its ACCEPTED
 * record committed: the worker hands a run to the executor only after that
 * commit.
 *
 * What the 2.0.2 mock cannot do, and these tests therefore never assert:
 * it drops transactional offsets (a rewind goes back to the beginning and
 * the re-read commands are answered as repeats), writes no abort markers
 * (aborted records stay visible, so a command may show two final replies:
 * the tests ask for at least one) and fences no zombie. Exactly once is
 * proven on the real broker (tests/integration/01NN-*.sh). The mock's
 * consumer group waits 3 s for the first members of a group, so each
 * worker test runs several faults one after the other against one worker.
 *
 * Everything the clients log goes to a file; a failed assertion prints its
 * end. FLOQ_FAULTS_LOG=1 prints all of it after each test,
 * FLOQ_FAULTS_DEBUG=eos,protocol,... adds librdkafka's debug contexts.
 */
#include <errno.h>
#include <limits.h>

#include "test_mock.h"

#define PARTS 2
#define OUTAGE_MS 1500 /* how long broker 2 stays down at least */
#define TXN_CALL_MS 1500 /* the worker's transactional call timeout */

/* What the worker logs when it takes its error paths (worker/txn.c). */
#define LOG_ABORT "aborting the transaction"
#define LOG_COMMIT_RETRY "commit failed, retrying"
#define LOG_SEND_OFFSETS "cannot send offsets"
#define LOG_OFFSETS_RETRY "cannot send offsets, retrying"
#define LOG_REPLACE "replacing the transactional producer"
#define LOG_FENCED "another instance with the same worker id took over"

/* The worker's own error-path lines (not librdkafka's). */
static int fault_path_count(void) {
        return log_count(LOG_ABORT) + log_count(LOG_COMMIT_RETRY) +
               log_count(LOG_SEND_OFFSETS);
}

/* The outage of test_worker_survives_retriable_faults: over once it has
 * lasted OUTAGE_MS and the worker logged one of its error paths since it
 * began. */
typedef struct outage_s {
        int64_t since;
        int faults_before;
} outage_t;

static int outage_over(void *arg) {
        const outage_t *o = arg;

        return floq_mono_ms() - o->since >= OUTAGE_MS &&
               fault_path_count() > o->faults_before;
}

static int worker_done(void *arg) {
        (void)arg;
        return atomic_load(&fx.done);
}

/* ------------------------------------------------------------ commands */

/* Records on @p topic (high minus low watermarks of every partition). */
static int64_t topic_records(const char *topic) {
        int64_t total = 0, lo, hi;
        int32_t p;

        for (p = 0; p < PARTS; p++) {
                ck_assert_int_eq(rd_kafka_query_watermark_offsets(
                                         fx.probe, topic, p, &lo, &hi,
                                         (int)scaled(5000)),
                                 RD_KAFKA_RESP_ERR_NO_ERROR);
                total += hi - lo;
        }
        return total;
}

static int lineage_written(void *arg) {
        return topic_records("floq.lineage") >= *(const int64_t *)arg;
}

/* Warm the worker up: a deployment "d" of /bin/true, one run of it and a
 * deployment @p extra (NULL: none), all published while the group forms,
 * so one batch writes to every topic but the lineage, and the run's
 * lineage follows. librdkafka learns a topic's leaders on a 1 s timer the
 * first time it produces to it; the faults must meet a worker past that,
 * and one with no transaction of its own still writing. */
static void worker_warm(const char *extra) {
        char dep[37], run[37], dep2[37];
        int64_t two = 2;

        mark("warm-up");
        fx.client = client_new(10000, 5000);
        send_deploy("d", NULL, dep);
        send_run("d", NULL, run);
        if (extra)
                send_deploy(extra, NULL, dep2);
        expect_final(dep, "DEPLOYED", 15000, "warm-up deploy");
        expect_final(run, "SUCCEEDED", 15000, "warm-up run");
        if (extra)
                expect_final(dep2, "DEPLOYED", 15000, "warm-up deploy");
        fx_assert(wait_for(lineage_written, &two, 15000),
                  "warm-up: the run's START and COMPLETE not written");
}

/* A run of "d" after the injection: it must succeed, which needs the
 * transaction that accepted it to have committed, and the injected
 * errors must all have been returned to someone. */
static void run_through(int32_t broker, int key, const char *what) {
        char id[37];

        mark(what);
        send_run("d", NULL, id);
        expect_final(id, "SUCCEEDED", 15000, what);
        wait_stack_empty(broker, key, what);
}

/* ------------------------------------------------------------ worker */

/* Retriable errors on every request of a transaction, and the broker
 * holding the worker's output and transaction coordinator set down and
 * up: the worker keeps serving, and a fault is absorbed where it should
 * be (librdkafka's retries, the worker's commit retry, an abort and
 * rewind when the broker is gone). */
START_TEST(test_worker_survives_retriable_faults) {
        char before[37], during[37], after[37], id[37];
        int aborts0, retries0;
        outage_t outage;
        size_t fc;

        mock_start("test_faults", 2, PARTS);
        mock_split();
        worker_start();
        worker_warm("d2");
        aborts0 = log_count(LOG_ABORT);

        /* librdkafka retries these itself: the worker sees nothing. (One
         * or two of each: its retry timers are 0.5-1 s for some.) */
        INJECT(2, K_PRODUCE, 0, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
               RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
               RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE);
        run_through(2, K_PRODUCE, "Produce");

        INJECT(2, K_ADD_PARTITIONS_TO_TXN, 0,
               RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS);
        run_through(2, K_ADD_PARTITIONS_TO_TXN, "AddPartitionsToTxn");


        INJECT(1, K_TXN_OFFSET_COMMIT, 0,
               RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS);
        run_through(1, K_TXN_OFFSET_COMMIT, "TxnOffsetCommit");

        INJECT(2, K_END_TXN, 0, RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
               RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS);
        run_through(2, K_END_TXN, "EndTxn");

        /* A coordinator that answers EndTxn late (and with a retriable
         * error): commit_transaction() returns at its timeout, and the
         * worker calls it again rather than abort. */
        retries0 = log_count(LOG_COMMIT_RETRY);
        INJECT(2, K_END_TXN, TXN_CALL_MS + 200,
               RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS);
        run_through(2, K_END_TXN, "slow EndTxn");
        fx_assert(log_count(LOG_COMMIT_RETRY) > retries0,
                  "slow EndTxn: the worker did not retry its commit");

        /* The same for the offsets: an AddOffsetsToTxn answered late
         * (retriable) makes send_offsets_to_transaction() return a
         * retriable error, and the worker calls it again. (It used to
         * abort and rewind: this phase failed before the fix in txn.c.) */
        retries0 = log_count(LOG_OFFSETS_RETRY);
        INJECT(2, K_ADD_OFFSETS_TO_TXN, TXN_CALL_MS + 200,
               RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS);
        run_through(2, K_ADD_OFFSETS_TO_TXN, "slow AddOffsetsToTxn");
        fx_assert(log_count(LOG_OFFSETS_RETRY) > retries0,
                  "slow AddOffsetsToTxn: the worker did not retry sending "
                  "its offsets");

        /* NOT_COORDINATOR on EndTxn makes the producer look its
         * coordinator up again, and lookups fail too. The producer asks
         * any broker, so each has one error; at least one must have been
         * returned (to whom, the mock cannot tell: every group member
         * looks its coordinator up now and then). Last before the outage:
         * the other error waits for anyone's next lookup, and a lookup
         * that fails cuts an outstanding slow request short. */
        INJECT(1, K_FIND_COORDINATOR, 0,
               RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE);
        INJECT(2, K_FIND_COORDINATOR, 0,
               RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE);
        INJECT(2, K_END_TXN, 0, RD_KAFKA_RESP_ERR_NOT_COORDINATOR);
        run_through(2, K_END_TXN, "FindCoordinator");
        fc = stack_cnt(1, K_FIND_COORDINATOR) +
             stack_cnt(2, K_FIND_COORDINATOR);
        fx_assert(fc < 2, "FindCoordinator: no lookup failed");

        /* None of that needed an abort. (Under valgrind a slow call can
         * pass the transactional call timeout, and a TxnOffsetCommit error
         * that comes after it is abortable to librdkafka: the point is
         * then not made.) */
        if (!RUNNING_ON_VALGRIND)
                fx_assert(log_count(LOG_ABORT) == aborts0,
                          "retriable errors aborted a transaction");

        /* Broker 2 down: a run sent just before may be in the middle of
         * its transaction, one sent meanwhile (to broker 1) is consumed
         * and cannot be answered. Up again once the worker has met the
         * failure and OUTAGE_MS passed; one more after that. */
        mark("broker 2 down");
        send_run("d", NULL, before);
        outage.faults_before = fault_path_count();
        ck_assert_int_eq(rd_kafka_mock_broker_set_down(fx.mc, 2),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        outage.since = floq_mono_ms();
        send_run("d", NULL, during);
        fx_assert(wait_for(outage_over, &outage, 15000),
                  "broker down: the worker never met the failure");
        ck_assert_int_eq(rd_kafka_mock_broker_set_up(fx.mc, 2),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        mark("broker 2 up");
        send_run("d", NULL, after);
        expect_final(before, "SUCCEEDED", 20000, "run sent before the outage");
        expect_final(during, "SUCCEEDED", 20000, "run sent during the outage");
        expect_final(after, "SUCCEEDED", 20000, "run sent after the outage");
        send_deploy("d3", NULL, id);
        expect_final(id, "DEPLOYED", 15000, "deploy after the outage");

        /* And it still drains cleanly. */
        ck_assert_int_eq(worker_join(), FLOQ_OK);
}
END_TEST

/* The transaction errors that are not retriable, each followed by the
 * path docs/worker.md documents: abortable -> abort, rewind, process
 * again (and the aborted transaction's run never starts); fatal ->
 * replace the producer and rewind; fenced -> replace once, and fenced
 * again within a minute -> floq_worker_run() returns FLOQ_ERR_FENCED
 * (floq-worker exits 1). */
typedef struct logwait_s {
        const char *needle;
        int more_than;
} logwait_t;

static int log_grew(void *arg) {
        const logwait_t *l = arg;

        return log_count(l->needle) > l->more_than;
}

/* The worker committed since @p arg's count and holds no transaction: a
 * fault injected now meets the next begin_transaction(). (Read from the
 * test's thread; the worker's loop writes both.) */
typedef struct idle_s {
        uint64_t commits;
} idle_t;

static int worker_idle(void *arg) {
        const idle_t *i = arg;

        return __atomic_load_n(&fx.w->n_commits, __ATOMIC_ACQUIRE) >
                       i->commits &&
               !__atomic_load_n(&fx.w->txn.open, __ATOMIC_ACQUIRE);
}

START_TEST(test_worker_txn_errors) {
        char id[37];
        int aborts0, replaced0;

        mock_start("test_faults", 2, PARTS);
        mock_split();
        worker_start();
        worker_warm("ab");

        /* Abortable: a produce the broker refuses for good. */
        mark("INVALID_RECORD on Produce");
        aborts0 = log_count(LOG_ABORT);
        /* Two: librdkafka sends one request per partition, and both the
         * RunState and the reply must fail, or the mock would keep the
         * ACCEPTED record of the aborted transaction visible and the run
         * would only start once its heartbeat is stale (takeover). */
        INJECT(2, K_PRODUCE, 0, RD_KAFKA_RESP_ERR_INVALID_RECORD,
               RD_KAFKA_RESP_ERR_INVALID_RECORD);
        send_run("ab", NULL, id);
        expect_final(id, "SUCCEEDED", 15000, "abortable Produce error");
        wait_stack_empty(2, K_PRODUCE, "abortable Produce error");
        fx_assert(log_count(LOG_ABORT) > aborts0,
                  "abortable Produce error: no abort");
        /* The command was accepted more than once (each abort rewinds to
         * it), but a run starts only after the transaction that accepted
         * it committed: one start. */
        fx_assert(log_count("of 'ab' started") == 1,
                  "abortable Produce error: 'ab' started %d times",
                  log_count("of 'ab' started"));
        fx_assert(!atomic_load(&fx.done), "the worker stopped: %s",
                  floq_err2str(fx.rc));

        /* An error that lasts: aborts in a row back off, doubling from
         * 50 ms, instead of restoring every partition ten times a second;
         * the run still gets through once the broker takes records. */
        mark("UNKNOWN (server) error on Produce, 12 times");
        INJECT(2, K_PRODUCE, 0, RD_KAFKA_RESP_ERR_UNKNOWN,
               RD_KAFKA_RESP_ERR_UNKNOWN,
               RD_KAFKA_RESP_ERR_UNKNOWN,
               RD_KAFKA_RESP_ERR_UNKNOWN,
               RD_KAFKA_RESP_ERR_UNKNOWN,
               RD_KAFKA_RESP_ERR_UNKNOWN,
               RD_KAFKA_RESP_ERR_UNKNOWN,
               RD_KAFKA_RESP_ERR_UNKNOWN,
               RD_KAFKA_RESP_ERR_UNKNOWN,
               RD_KAFKA_RESP_ERR_UNKNOWN,
               RD_KAFKA_RESP_ERR_UNKNOWN,
               RD_KAFKA_RESP_ERR_UNKNOWN);
        send_run("ab", NULL, id);
        expect_final(id, "SUCCEEDED", 30000, "lasting Produce error");
        wait_stack_empty(2, K_PRODUCE, "lasting Produce error");
        fx_assert(log_count("2 aborts in a row: backing off 50 ms") >= 1 &&
                          log_count("3 aborts in a row: backing off 100 ms") >= 1,
                  "lasting Produce error: no doubling back-off in the log");

        /* Fatal, not fenced: a new producer, same transactional.id.
         * (EndTxn fails after the records were written, and the mock
         * keeps them visible: a deploy, answered again from the state
         * the rewind restores, shows the way through quicker than a run
         * would, whose visible ACCEPTED waits for the takeover.) */
        replaced0 = log_count(LOG_REPLACE);
        mark("INVALID_TXN_STATE on EndTxn");
        INJECT(2, K_END_TXN, 0, RD_KAFKA_RESP_ERR_INVALID_TXN_STATE);
        send_deploy("f1", NULL, id);
        expect_final(id, "DEPLOYED", 15000, "INVALID_TXN_STATE on EndTxn");
        wait_stack_empty(2, K_END_TXN, "INVALID_TXN_STATE on EndTxn");
        {
                /* (the mock shows the aborted reply: it can come before
                 * the worker has met the EndTxn error) */
                logwait_t lw = { LOG_REPLACE, replaced0 + 0 };

                fx_assert(wait_for(log_grew, &lw, 15000) &&
                                  log_count(LOG_REPLACE) == replaced0 + 1,
                          "INVALID_TXN_STATE: the producer was not replaced");
        }
        fx_assert(!atomic_load(&fx.done), "the worker stopped: %s",
                  floq_err2str(fx.rc));

        /* Fenced once: librdkafka cannot tell a newer instance from a
         * coordinator that timed us out, so the producer is replaced.
         * (The new producer of the step before meets this error in its
         * EndTxn, so it got that far; this one must commit a run.) */
        mark("PRODUCER_FENCED on EndTxn");
        INJECT(2, K_END_TXN, 0, RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
        send_deploy("f2", NULL, id);
        expect_final(id, "DEPLOYED", 15000, "PRODUCER_FENCED on EndTxn");
        wait_stack_empty(2, K_END_TXN, "PRODUCER_FENCED on EndTxn");
        {
                /* (the mock shows the aborted reply: it can come before
                 * the worker has met the EndTxn error) */
                logwait_t lw = { LOG_REPLACE, replaced0 + 1 };

                fx_assert(wait_for(log_grew, &lw, 15000) &&
                                  log_count(LOG_REPLACE) == replaced0 + 2,
                          "PRODUCER_FENCED: the producer was not replaced");
        }
        run_through(2, K_END_TXN, "a run with the new producer");
        fx_assert(!atomic_load(&fx.done), "the worker stopped: %s",
                  floq_err2str(fx.rc));

        /* Fatal while no transaction is open: librdkafka's own fault
         * injection (rd_kafka_test_fatal_error()) makes the idle producer
         * fatal the way its __INCONSISTENT error does, without moving the
         * transaction state machine: begin_transaction() and
         * abort_transaction() still succeed, every produce fails with
         * __FATAL. The next transaction is an executor event's (the run's
         * end): the worker sees the producer's fatal error before it
         * begins, replaces the producer, and the event is written by the
         * new one; the run ends once, with no takeover. Before the fix:
         * no final reply, the worker aborting and rewinding every 2 s
         * ("13 aborts in a row") until worker.progress.timeout.ms. */
        {
                char flag[PATH_MAX], spec[PATH_MAX + 200], dep[37];
                idle_t idle;
                int seen0 = log_count("the producer has a fatal error");
                FILE *f;

                mark("fatal error of an idle producer");
                snprintf(flag, sizeof(flag), "/tmp/floq-faults-gate-%d.flag",
                         (int)getpid());
                unlink(flag);
                snprintf(spec, sizeof(spec),
                         "{\"executable\":\"/bin/sh\",\"args\":[\"-c\","
                         "\"while [ ! -e \\\"$0\\\" ]; do /bin/sleep 0.02; "
                         "done\",\"%s\"]}",
                         flag);
                send_deploy("gate", spec, dep);
                expect_final(dep, "DEPLOYED", 15000, "deploy gate");
                send_run("gate", NULL, id);
                {
                        logwait_t lw = { "of 'gate' started", 0 };

                        fx_assert(wait_for(log_grew, &lw, 15000),
                                  "the gated run did not start");
                }
                idle.commits = __atomic_load_n(&fx.w->n_commits,
                                               __ATOMIC_ACQUIRE);
                fx_assert(wait_for(worker_idle, &idle, 15000),
                          "the RUNNING record was not committed");
                ck_assert_int_eq(
                        rd_kafka_test_fatal_error(
                                fx.w->producer,
                                RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                "test: fatal while idle"),
                        RD_KAFKA_RESP_ERR_NO_ERROR);
                fx_assert((f = fopen(flag, "w")) != NULL, "%s: %s", flag,
                          strerror(errno));
                fclose(f);
                expect_final(id, "SUCCEEDED", 15000,
                             "fatal error of an idle producer");
                unlink(flag);
                fx_assert(log_count("the producer has a fatal error") ==
                                  seen0 + 1,
                          "idle fatal: not seen before a transaction");
                fx_assert(log_count(LOG_REPLACE) == replaced0 + 3,
                          "idle fatal: the producer was not replaced");
                fx_assert(log_count("of 'gate' started") == 1,
                          "idle fatal: 'gate' started %d times",
                          log_count("of 'gate' started"));
                fx_assert(!atomic_load(&fx.done), "the worker stopped: %s",
                          floq_err2str(fx.rc));
        }

        /* Fenced again within a minute: the id is taken; the worker ends. */
        mark("INVALID_PRODUCER_EPOCH on Produce");
        INJECT(2, K_PRODUCE, 0, RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH);
        send_run("d", NULL, id);
        fx_assert(wait_for(worker_done, NULL, 15000),
                  "fenced twice: the worker is still running");
        ck_assert_int_eq(worker_join(), FLOQ_ERR_FENCED);
        fx_assert(log_count(LOG_FENCED) == 1, "fenced: the reason not logged");
        fx_assert(log_count(LOG_REPLACE) == replaced0 + 3,
                  "fenced twice: the producer was replaced again");
        ck_assert_uint_ge(fx.w->n_aborts, 3);
}
END_TEST

/* ------------------------------------------------------------ G1/G2:
 * the transaction coordinator alone on broker 3 */

/* Broker 1: the commands and the group; broker 2: what the worker writes;
 * broker 3: nothing but the worker's transaction coordinator, so taking it
 * down fails only the transactional calls (EndTxn, AddPartitionsToTxn,
 * AddOffsetsToTxn). */
static void mock_split_coordinator(void) {
        mock_split();
        ck_assert_int_eq(rd_kafka_mock_coordinator_set(fx.mc, "transaction",
                                                       TXN_ID, 3),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
}

static int64_t env_ms(const char *name, int64_t def) {
        const char *v = getenv(name);

        return v && *v ? strtoll(v, NULL, 10) : def;
}

/* G1 coordinator outage: a transaction that must abort while its
 * coordinator is unreachable for longer than the transactional call
 * timeout. The timed-out abort is called again until it succeeds (before
 * the fix it was taken as done, and every later begin_transaction()
 * failed: the worker was wedged for good, its runs without final reply).
 * The abortable error is an INVALID_RECORD answer to the run's Produce,
 * held back 1 s by the mock, and broker 3 goes down in that second, so the
 * abort's EndTxn finds it gone. FLOQ_FAULTS_COORD_OUTAGE_MS (default 5000)
 * sets the outage; 65000 is the reproduction at full scale, past
 * the 60 s abort timeout of the unfixed code. */
/* The outage has lasted faults_before (its length in ms) since since, or
 * the worker ended. */
static int outage_long_enough(void *arg) {
        const outage_t *o = arg;

        return floq_mono_ms() - o->since >= o->faults_before ||
               atomic_load(&fx.done);
}

START_TEST(test_g1_coordinator_outage_abort_retried) {
        outage_t outage_lasted;
        int64_t outage_ms = env_ms("FLOQ_FAULTS_COORD_OUTAGE_MS", 5000);
        char before[37], during[37], after[37];
        char err[512], num[32];
        int64_t t0;
        int aborts0;

        mock_start("test_faults", 3, PARTS);
        mock_split_coordinator();
        /* Not the point here: the worker must wait the outage out. */
        snprintf(num, sizeof(num), "%lld", (long long)(outage_ms + 60000));
        ck_assert_int_eq(floq_conf_set(fx.wconf, "worker.progress.timeout.ms",
                                       num, err, sizeof(err)),
                         FLOQ_OK);
        worker_start();
        worker_warm(NULL);

        mark("Produce held 1 s then refused, coordinator down meanwhile");
        aborts0 = log_count(LOG_ABORT);
        INJECT(2, K_PRODUCE, 1000, RD_KAFKA_RESP_ERR_INVALID_RECORD);
        send_run("d", NULL, before);
        wait_stack_empty(2, K_PRODUCE, "held Produce");
        ck_assert_int_eq(rd_kafka_mock_broker_set_down(fx.mc, 3),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        t0 = floq_mono_ms();
        {
                logwait_t lw = { LOG_ABORT, aborts0 };

                fx_assert(wait_for(log_grew, &lw, 15000),
                          "the refused Produce did not abort");
        }
        send_run("d", NULL, during);
        outage_lasted.since = t0;
        outage_lasted.faults_before = (int)outage_ms;
        wait_for(outage_long_enough, &outage_lasted, outage_ms + 1000);
        mark("coordinator up");
        ck_assert_int_eq(rd_kafka_mock_broker_set_up(fx.mc, 3),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        expect_final(before, "SUCCEEDED", 30000, "run sent before the outage");
        expect_final(during, "SUCCEEDED", 30000, "run sent during the outage");
        send_run("d", NULL, after);
        expect_final(after, "SUCCEEDED", 15000, "run sent after the outage");
        fx_assert(!atomic_load(&fx.done), "the worker stopped: %s",
                  floq_err2str(fx.rc));
        /* The abort's EndTxn timed out at least once: the point of the
         * test. */
        fx_assert(log_count("abort not finished") >= 1,
                  "the abort never timed out: no outage seen");
        /* Bounded logging: the retries of one outage are logged at the
         * 1st, 2nd, 4th... attempt, not once per call. */
        fx_assert(log_count("abort not finished") <= 8,
                  "%d 'abort not finished' lines for one outage",
                  log_count("abort not finished"));
        fx_assert(log_count("cannot begin transaction") == 0,
                  "begin_transaction failed after the outage (wedged)");
}
END_TEST

/* G2 no progress: with its transaction coordinator gone for good, a worker
 * whose transactions cannot commit for worker.progress.timeout.ms stops
 * its live attempts, leaves the group and returns FLOQ_ERR_TIMED_OUT, so
 * that another worker takes its partitions over (before the fix it kept
 * them, retrying, with a live attempt whose heartbeats never landed). */
START_TEST(test_g2_no_progress_leaves_group) {
        char dep[37], run[37], err[512];
        int64_t t0, took;

        mock_start("test_faults", 3, PARTS);
        mock_split_coordinator();
        ck_assert_int_eq(floq_conf_set(fx.wconf, "worker.progress.timeout.ms",
                                       "4000", err, sizeof(err)),
                         FLOQ_OK);
        worker_start();
        worker_warm(NULL);

        mark("a long run");
        fx_assert(floq_deploy(fx.client, "long", "process",
                              "{\"executable\":\"/bin/sleep\","
                              "\"args\":[\"60\"]}",
                              NULL, NULL, dep, err, sizeof(err)) == FLOQ_OK,
                  "deploy: %s", err);
        expect_final(dep, "DEPLOYED", 15000, "deploy long");
        send_run("long", NULL, run);
        {
                logwait_t lw = { "of 'long' started", 0 };

                fx_assert(wait_for(log_grew, &lw, 15000),
                          "the long run did not start");
        }
        ck_assert_int_eq(floq_executor_active(fx.w->ex), 1);

        mark("coordinator down for good");
        ck_assert_int_eq(rd_kafka_mock_broker_set_down(fx.mc, 3),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        t0 = floq_mono_ms();
        fx_assert(wait_for(worker_done, NULL, 4000 + 15000),
                  "no progress for worker.progress.timeout.ms: the worker "
                  "still runs");
        took = floq_mono_ms() - t0;
        ck_assert_int_eq(worker_join(), FLOQ_ERR_TIMED_OUT);
        fx_assert(took >= 3900, "gave up after %lld ms, before the bound",
                  (long long)took);
        fx_assert(log_count("giving up the partitions") == 1,
                  "the reason was not logged");
        /* Its attempt ended before the worker let its partitions go. */
        fx_assert(floq_executor_active(fx.w->ex) == 0,
                  "%d attempt(s) live after the worker gave up",
                  floq_executor_active(fx.w->ex));
}
END_TEST

/* ------------------------------------------------------------ G2: the
 * KIP-447 fence on every transaction */

/* Produce @p msg of @p type to (@p topic, @p partition) keyed @p key, as a
 * worker that died would have left it. */
static void put_record(const char *topic, int32_t partition, const char *key,
                       floq_msg_type_t type, json_t *msg) {
        char err[512];
        floq_codec_t *codec = floq_codec_new(1 << 20, err, sizeof(err));
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        rd_kafka_t *prod;
        void *buf;
        size_t len;

        ck_assert_ptr_nonnull(codec);
        ck_assert_msg(floq_codec_encode(codec, type, msg, &buf, &len, err,
                                        sizeof(err)) == FLOQ_OK,
                      "%s", err);
        rd_kafka_conf_set(kc, "bootstrap.servers", fx.brokers, NULL, 0);
        rd_kafka_conf_set(kc, "log_level", "3", NULL, 0);
        prod = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
        ck_assert_msg(prod != NULL, "%s", err);
        ck_assert_int_eq(rd_kafka_producev(
                                 prod, RD_KAFKA_V_TOPIC(topic),
                                 RD_KAFKA_V_PARTITION(partition),
                                 RD_KAFKA_V_KEY(key, strlen(key)),
                                 RD_KAFKA_V_VALUE(buf, len),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                                 RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        ck_assert_int_eq(rd_kafka_flush(prod, (int)scaled(5000)),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        rd_kafka_destroy(prod);
        floq_codec_destroy(codec);
        json_decref(msg);
}

/* G2 zombie fenced: a worker that consumed no command at all (it only took
 * a run over from the state a dead worker left) still carries every owned
 * partition's offsets with its group metadata in each transaction, so the
 * group coordinator's refusal (UNKNOWN_MEMBER_ID: this member lost its
 * partitions) stops its heartbeats: the transaction aborts, nothing
 * commits. Before the fix such a worker sent no offsets at all, so nothing
 * checked its membership and a zombie's heartbeats and executor events
 * committed (the mock cannot fence for real: its TxnOffsetCommit checks no
 * generation, so the refusal is injected). */
START_TEST(test_g2_zombie_heartbeats_fenced) {
        int32_t p = floq_kafka_partition("zd", 2, PARTS);
        int64_t now = floq_now_ms();
        int fenced0;

        mock_start("test_faults", 2, PARTS);
        mock_split();
        put_record("floq.deployments", p, "zd", FLOQ_MSG_DEPLOYMENT,
                   json_pack("{s:s, s:s, s:s, s:b, s:i, s:I, s:s}", "name",
                             "zd", "backend", "process", "spec",
                             "{\"executable\":\"/bin/sleep\","
                             "\"args\":[\"30\"]}",
                             "enabled", 1, "generation", 1, "updated_at",
                             (json_int_t)now, "command_id",
                             "5b0b2c7e-0000-4000-8000-000000000001"));
        /* Accepted by a worker that died before it started the run. */
        put_record("floq.runs", p, "5b0b2c7e-0000-4000-8000-0000000000aa",
                   FLOQ_MSG_RUN_STATE,
                   json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:I, s:I}",
                             "run_id", "5b0b2c7e-0000-4000-8000-0000000000aa",
                             "deployment", "zd", "command_id",
                             "5b0b2c7e-0000-4000-8000-000000000002",
                             "status", "ACCEPTED", "attempt", 1, "worker",
                             "dead", "heartbeat_at",
                             (json_int_t)(now - 60000), "created_at",
                             (json_int_t)(now - 60000)));
        /* The coordinator refuses this member's offsets, three times. */
        INJECT(1, K_TXN_OFFSET_COMMIT, 0, RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID,
               RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID,
               RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID);
        fenced0 = log_count(LOG_SEND_OFFSETS);
        mark("a worker that will consume nothing");
        worker_start();
        {
                logwait_t lw = { "of 'zd' started", 0 };

                fx_assert(wait_for(log_grew, &lw, 30000),
                          "the accepted run was not taken over");
        }
        /* Every refusal was met by a transaction of the taken-over run
         * (its ACCEPTED, then heartbeats), and each aborted. */
        wait_stack_empty(1, K_TXN_OFFSET_COMMIT,
                         "transactions without consumed offsets");
        fx_assert(log_count(LOG_SEND_OFFSETS) >= fenced0 + 3,
                  "the refused offsets did not abort the transactions");
        ck_assert_uint_ge(fx.w->n_aborts, 3);
        fx_assert(!atomic_load(&fx.done), "the worker stopped: %s",
                  floq_err2str(fx.rc));
}
END_TEST

/* ------------------------------------------------------------ client */

/* Publishing while the only broker is down fails within client.timeout.ms
 * with FLOQ_ERR_TRANSPORT; connecting fails within
 * client.connect.timeout.ms; once the broker is back, the same client
 * publishes again. */
START_TEST(test_client_broker_down) {
        char err[512], id[37];
        floq_client_t *fresh;
        int64_t t0, took;
        floq_err_t e;

        mock_start("test_faults", 1, PARTS);
        fx.client = client_new(1000, 1000);
        ck_assert_int_eq(floq_client_connect(fx.client, err, sizeof(err)),
                         FLOQ_OK);
        ck_assert_int_eq(rd_kafka_mock_broker_set_down(fx.mc, 1),
                         RD_KAFKA_RESP_ERR_NO_ERROR);

        t0 = floq_mono_ms();
        e = floq_run(fx.client, "d", NULL, NULL, 0, NULL, id, err,
                     sizeof(err));
        took = floq_mono_ms() - t0;
        ck_assert_msg(e == FLOQ_ERR_TRANSPORT, "publish while down: %s (%s)",
                      floq_err2str(e), err);
        ck_assert_msg(strstr(err, "not delivered") && strstr(err, id),
                      "unclear error: %s", err);
        ck_assert_msg(took >= 900 && took < 1000 + scaled(2000),
                      "publish while down took %lld ms (bound 1000 ms)",
                      (long long)took);
        ck_assert_int_eq(floq_client_pending_cnt(fx.client), 0);

        /* A client that never reached the brokers. */
        fresh = client_new(1000, 500);
        t0 = floq_mono_ms();
        e = floq_client_connect(fresh, err, sizeof(err));
        took = floq_mono_ms() - t0;
        ck_assert_msg(e == FLOQ_ERR_TRANSPORT, "connect while down: %s (%s)",
                      floq_err2str(e), err);
        ck_assert_msg(strstr(err, "cannot reach Kafka"), "unclear error: %s",
                      err);
        ck_assert_msg(took < 500 + scaled(1500),
                      "connect while down took %lld ms (bound 500 ms)",
                      (long long)took);
        t0 = floq_mono_ms();
        floq_client_destroy(fresh);
        ck_assert_int_lt(floq_mono_ms() - t0, scaled(3000));

        /* Back up: the same client publishes again. */
        ck_assert_int_eq(rd_kafka_mock_broker_set_up(fx.mc, 1),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        e = floq_run(fx.client, "d", NULL, NULL, 0, NULL, id, err,
                     sizeof(err));
        ck_assert_msg(e == FLOQ_OK, "publish after the broker came back: %s",
                      err);
}
END_TEST

/* Records on the commands topic, and how many carry @p command_id. */
static int64_t commands_count(const char *command_id, int *matching) {
        char err[512];
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        rd_kafka_t *rk;
        rd_kafka_topic_partition_list_t *parts;
        floq_codec_t *codec = floq_codec_new(1 << 20, err, sizeof(err));
        int64_t total = 0, lo, hi, left = 0;
        int32_t p;
        int64_t deadline = floq_mono_ms() + scaled(10000);

        ck_assert_ptr_nonnull(codec);
        rd_kafka_conf_set(kc, "bootstrap.servers", fx.brokers, NULL, 0);
        rd_kafka_conf_set(kc, "group.id", "test-faults-reader", NULL, 0);
        rd_kafka_conf_set(kc, "log_level", "3", NULL, 0);
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
        ck_assert_msg(rk != NULL, "%s", err);
        parts = rd_kafka_topic_partition_list_new(PARTS);
        for (p = 0; p < PARTS; p++) {
                ck_assert_int_eq(rd_kafka_query_watermark_offsets(
                                         rk, "floq.commands", p, &lo, &hi,
                                         (int)scaled(5000)),
                                 RD_KAFKA_RESP_ERR_NO_ERROR);
                total += hi - lo;
                rd_kafka_topic_partition_list_add(parts, "floq.commands", p)
                        ->offset = lo;
        }
        left = total;
        ck_assert_int_eq(rd_kafka_assign(rk, parts), 0);
        rd_kafka_topic_partition_list_destroy(parts);
        *matching = 0;
        while (left > 0 && floq_mono_ms() < deadline) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                json_t *cmd = NULL;

                if (!m)
                        continue;
                if (!m->err) {
                        left--;
                        if (!floq_codec_decode(codec, FLOQ_MSG_COMMAND,
                                               m->payload, m->len, &cmd, err,
                                               sizeof(err)) &&
                            !strcmp(json_string_value(json_object_get(
                                            cmd, "command_id")),
                                    command_id))
                                (*matching)++;
                        json_decref(cmd);
                }
                rd_kafka_message_destroy(m);
        }
        ck_assert_int_eq(left, 0);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        floq_codec_destroy(codec);
        return total;
}

/* Retriable Produce errors: the idempotent producer retries them, the
 * publish succeeds, and the command is on the topic once. */
START_TEST(test_client_produce_retried) {
        char err[512], id[37];
        int matching = 0;

        mock_start("test_faults", 1, PARTS);
        fx.client = client_new(10000, 5000);
        ck_assert_int_eq(floq_client_connect(fx.client, err, sizeof(err)),
                         FLOQ_OK);
        INJECT(1, K_PRODUCE, 0, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
               RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
               RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
               RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS);
        ck_assert_msg(floq_run(fx.client, "d", NULL, NULL, 0, NULL, id, err,
                               sizeof(err)) == FLOQ_OK,
                      "publish with retriable errors: %s", err);
        /* the client is the only producer: it met every error */
        ck_assert_uint_eq(stack_cnt(1, K_PRODUCE), 0);
        ck_assert_int_eq(commands_count(id, &matching), 1);
        ck_assert_int_eq(matching, 1);
}
END_TEST

/* No worker: the reply wait ends with FLOQ_ERR_TIMED_OUT after the given
 * time (client.timeout.ms for -1), also while the broker is down, and the
 * command stays tracked, so a reply that comes later is still its. */
START_TEST(test_client_reply_timeout) {
        char err[512], id[37];
        json_t *r = NULL, *reply;
        int64_t t0, took;
        floq_codec_t *codec;
        rd_kafka_conf_t *kc;
        rd_kafka_t *prod;
        void *buf;
        size_t len;

        mock_start("test_faults", 1, PARTS);
        fx.client = client_new(700, 5000);
        ck_assert_int_eq(floq_status(fx.client, "d", NULL, NULL, id, err,
                                     sizeof(err)),
                         FLOQ_OK);

        t0 = floq_mono_ms();
        ck_assert_int_eq(floq_client_wait_reply(fx.client, id, 1, 300, &r),
                         FLOQ_ERR_TIMED_OUT);
        took = floq_mono_ms() - t0;
        ck_assert_ptr_null(r);
        ck_assert_msg(took >= 290 && took < 300 + scaled(1000),
                      "300 ms wait took %lld ms", (long long)took);

        t0 = floq_mono_ms();
        ck_assert_int_eq(floq_client_wait_reply(fx.client, id, 1, -1, &r),
                         FLOQ_ERR_TIMED_OUT);
        took = floq_mono_ms() - t0;
        ck_assert_msg(took >= 690 && took < 700 + scaled(1000),
                      "client.timeout.ms (700) wait took %lld ms",
                      (long long)took);
        ck_assert_int_eq(floq_client_pending_cnt(fx.client), 1);

        ck_assert_int_eq(rd_kafka_mock_broker_set_down(fx.mc, 1),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        t0 = floq_mono_ms();
        ck_assert_int_eq(floq_client_wait_reply(fx.client, id, 1, 300, &r),
                         FLOQ_ERR_TIMED_OUT);
        took = floq_mono_ms() - t0;
        ck_assert_msg(took < 300 + scaled(1000),
                      "300 ms wait while down took %lld ms", (long long)took);
        ck_assert_int_eq(rd_kafka_mock_broker_set_up(fx.mc, 1),
                         RD_KAFKA_RESP_ERR_NO_ERROR);

        /* The answer comes late: still delivered to the waiter. */
        codec = floq_codec_new(1 << 20, err, sizeof(err));
        ck_assert_ptr_nonnull(codec);
        reply = json_pack("{s:s, s:s, s:s, s:I, s:s, s:b, s:s}", "command_id",
                          id, "correlation_id", id, "deployment", "d",
                          "produced_at", (json_int_t)floq_now_ms(), "status",
                          "STATUS", "final", 1, "worker", "test");
        ck_assert_int_eq(floq_codec_encode(codec, FLOQ_MSG_REPLY, reply, &buf,
                                           &len, err, sizeof(err)),
                         FLOQ_OK);
        kc = rd_kafka_conf_new();
        rd_kafka_conf_set(kc, "bootstrap.servers", fx.brokers, NULL, 0);
        rd_kafka_conf_set(kc, "log_level", "3", NULL, 0);
        prod = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
        ck_assert_msg(prod != NULL, "%s", err);
        ck_assert_int_eq(rd_kafka_producev(
                                 prod, RD_KAFKA_V_TOPIC("floq.replies"),
                                 RD_KAFKA_V_KEY(id, strlen(id)),
                                 RD_KAFKA_V_VALUE(buf, len),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                                 RD_KAFKA_V_END),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        ck_assert_int_eq(rd_kafka_flush(prod, (int)scaled(5000)),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        ck_assert_int_eq(floq_client_wait_reply(fx.client, id, 1,
                                                (int)scaled(10000), &r),
                         FLOQ_OK);
        ck_assert_str_eq(floq_reply_status(r), "STATUS");
        json_decref(r);
        ck_assert_int_eq(floq_client_wait_reply(fx.client, id, 1, 0, &r),
                         FLOQ_ERR_NOT_FOUND);
        rd_kafka_destroy(prod);
        floq_codec_destroy(codec);
        json_decref(reply);
}
END_TEST

static Suite *faults_suite(void) {
        Suite *s = suite_create("faults");
        TCase *tw = tcase_create("worker");
        TCase *tc = tcase_create("client");
        TCase *tk = tcase_create("coordinator");

        tcase_set_timeout(tw, 120);
        tcase_add_checked_fixture(tw, mock_setup, mock_teardown);
        tcase_add_test(tw, test_worker_survives_retriable_faults);
        tcase_add_test(tw, test_worker_txn_errors);

        suite_add_tcase(s, tw);

        /* CK_RUN_CASE=coordinator runs these alone */
        tcase_set_timeout(tk, 150);
        tcase_add_checked_fixture(tk, mock_setup, mock_teardown);
        tcase_add_test(tk, test_g1_coordinator_outage_abort_retried);
        tcase_add_test(tk, test_g2_no_progress_leaves_group);
        tcase_add_test(tk, test_g2_zombie_heartbeats_fenced);
        suite_add_tcase(s, tk);

        tcase_set_timeout(tc, 60);
        tcase_add_checked_fixture(tc, mock_setup, mock_teardown);
        tcase_add_test(tc, test_client_broker_down);
        tcase_add_test(tc, test_client_produce_retried);
        tcase_add_test(tc, test_client_reply_timeout);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(faults_suite());
}
