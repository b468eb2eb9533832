/*
 * bench_worker.c - floq-worker against the limits it sits on, measured in
 * the same run on the same broker (docs/benchmarks.md):
 *
 *  - the spawn limit: a bare posix_spawn + waitpid loop of /usr/bin/true;
 *  - the Kafka limit: a bare librdkafka transactional consume -> produce
 *    pipe (this program again, `--pipe`, in its own process) with floq's
 *    fan-out per command type (status: 1 reply; deploy: 1 reply + 1
 *    Deployment + 1 DeploymentOutcome keyed "deployment\n command_id";
 *    run: 3 replies + 3 RunState + 2 lineage events, the
 *    records a run's lifecycle must write), floq's batching (up to
 *    worker.batch.size commands, a 50 ms poll slice) and commit interval
 *    (worker.commit.interval.ms), the same client settings (floq's
 *    FLOQ_* / -X configuration);
 *  - floq: one floq-worker started here (the noop backend enabled, the
 *    process backend allowed to run /usr/bin/true), then a fleet of
 *    BENCH_WORKERS (default 2) for status and noop runs again.
 *
 * Throughput phases publish a backlog of N commands and time from the
 * first send to the last final reply read (read_committed). Latency phases
 * offer run commands at a fixed rate and time each publish -> first reply
 * (ACCEPTED for floq). CPU is utime+stime (+ children's) of the worker
 * and of its live children (the process backend's spawner, whose
 * reaped supervisors are in its own children's time),
 * the pipe and the spawn loop from /proc and getrusage(); RSS is the
 * worker's VmRSS, sampled. Every figure is printed beside its limit with
 * the ratio and PASS/MISS against issue 13's targets. The broker is warmed
 * (topics created, leaders elected, a pass of the pipe) before any figure
 * is taken. Exit 0 when every phase completed (a MISS is not a failure);
 * 1 when a phase lost replies or a process could not start.
 *
 *   bench_worker [-n N] [--quick] [--fleet-only [--fleet-after N]]
 *   bench_worker --pipe      (internal: the bare pipe)
 *
 * --fleet-only skips the 1-worker figures (the pipe is measured once) and
 * goes to the fleet phase, after N noop runs (--fleet-after) and the
 * phases BENCH_PRE names ("D3000 S3000": D deploys, S status, R noop
 * runs, T /bin/true runs; each phase's rate printed) through one worker:
 * to find what an earlier phase leaves behind. BENCH_DEBUG=1 prints each
 * backlog's first and last final reply per deployment (so per partition).
 *
 * Topics, group and brokers come from FLOQ_* like every floq program
 * (tests/bench/run.sh gives each run topics of its own). FLOQ_BENCH_WORKER
 * names the floq-worker binary (default build/bin/floq-worker);
 * BENCH_PERF=FILE records a perf profile of the /bin/true phase;
 * BENCH_WORKER_X=key=value passes one -X to the workers, and
 * BENCH_PIPE_RETRY_BACKOFF_MS the pipe's retry.backoff.ms (default 10, as
 * the worker's), to compare cadences.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

#include "floq_common.h"
#include "floq_schemas.h"

/* only the CPU reader: this file is itself the rest of bench_lib.h */
#define BENCH_LIB_CPU_ONLY 1
#include "bench_lib.h"

extern char **environ;

#define PIPE_SLICE_MS 50
#define MAX_PHASES 64
#define TRUE_EXE "/usr/bin/true"
#define N_DEPLOYMENTS 12

static floq_conf_t *conf;
static volatile sig_atomic_t stop_flag;

static int64_t now_us(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *what, const char *why) {
        fprintf(stderr, "bench_worker: %s: %s\n", what, why);
        exit(1);
}

/* ------------------------------------------------------------ the pipe */

/* Record sizes close to floq's (a Reply, a RunState, an OpenLineage
 * RunEvent, a Deployment and a DeploymentOutcome, in bytes on the wire;
 * the last two as the bench's noop deploys write them: 76 and 68 bytes
 * measured with floq_avro_tool encode). */
#define SZ_REPLY 160
#define SZ_RUNSTATE 260
#define SZ_LINEAGE 1300
#define SZ_DEPLOY 80
#define SZ_OUTCOME 70

static void pipe_put(rd_kafka_t *rk, const char *topic, const char *key,
                     size_t keylen, const char *val, size_t len) {
        while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                                 RD_KAFKA_V_KEY(key, keylen),
                                 RD_KAFKA_V_VALUE((void *)val, len),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_END) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(rk, 10);
}

/* One input: its kind ('S' status, 'D' deploy, 'R' run) then its id. The
 * first reply is "A<id>" (the final one "F<id>"), as floq's ACCEPTED and
 * terminal replies. */
static void pipe_fan_out(rd_kafka_t *rk, const rd_kafka_message_t *m,
                         const char *t_rep, const char *t_runs,
                         const char *t_lin, const char *t_dep) {
        static char filler[SZ_LINEAGE];
        const char *v = m->payload;
        char buf[SZ_LINEAGE];
        size_t idlen;
        int i;

        if (!v || m->len < 2)
                return;
        idlen = m->len - 1;
        if (idlen > 64)
                idlen = 64;
        memset(filler, 'x', sizeof(filler));
        memcpy(buf, filler, sizeof(buf));
        switch (v[0]) {
        case 'R':
                /* ACCEPTED, RUNNING, terminal: a reply and a RunState
                 * each; START and COMPLETE on the lineage topic. */
                for (i = 0; i < 3; i++) {
                        buf[0] = i == 2 ? 'F' : 'A';
                        memcpy(buf + 1, v + 1, idlen);
                        pipe_put(rk, t_rep, v + 1, idlen, buf, SZ_REPLY);
                        pipe_put(rk, t_runs, v + 1, idlen, filler,
                                 SZ_RUNSTATE);
                }
                pipe_put(rk, t_lin, v + 1, idlen, filler, SZ_LINEAGE);
                pipe_put(rk, t_lin, v + 1, idlen, filler, SZ_LINEAGE);
                break;
        case 'D':
                pipe_put(rk, t_dep, m->key, m->key_len, filler, SZ_DEPLOY);
                if (m->key_len < sizeof(buf) - 66) {
                        char okey[sizeof(buf)];

                        memcpy(okey, m->key, m->key_len);
                        okey[m->key_len] = '\n';
                        memcpy(okey + m->key_len + 1, v + 1, idlen);
                        pipe_put(rk, t_dep, okey, m->key_len + 1 + idlen,
                                 filler, SZ_OUTCOME);
                }
                /* fall through */
        default:
                buf[0] = 'F';
                memcpy(buf + 1, v + 1, idlen);
                pipe_put(rk, t_rep, v + 1, idlen, buf, SZ_REPLY);
                break;
        }
}

static void on_term(int sig) {
        (void)sig;
        stop_flag = 1;
}

static void pipe_check(rd_kafka_error_t *e, const char *what) {
        if (e) {
                fprintf(stderr, "bench_worker --pipe: %s: %s\n", what,
                        rd_kafka_error_string(e));
                exit(1);
        }
}

/* The bare pipe: floq's consume -> transact loop with nothing decided. */
static int pipe_main(void) {
        char errstr[512], txn_id[64];
        rd_kafka_conf_t *pc, *cc;
        rd_kafka_t *prod, *cons;
        rd_kafka_topic_partition_list_t *sub, *pos;
        int64_t batch = floq_conf_int(conf, "worker.batch.size");
        int64_t interval = floq_conf_int(conf, "worker.commit.interval.ms");
        int64_t opened = 0;
        long in_txn = 0;
        int open = 0;

        signal(SIGTERM, on_term);
        snprintf(txn_id, sizeof(txn_id), "bench-pipe-%d", (int)getpid());
        if (!(pc = floq_kafka_conf_new(conf, "producer", errstr,
                                       sizeof(errstr))) ||
            rd_kafka_conf_set(pc, "transactional.id", txn_id, errstr,
                              sizeof(errstr)) ||
            rd_kafka_conf_set(pc, "transaction.timeout.ms", "10000", errstr,
                              sizeof(errstr)) ||
            /* as the worker's producer (worker.c,
             * WORKER_PRODUCER_RETRY_BACKOFF_MS) */
            rd_kafka_conf_set(pc, "retry.backoff.ms",
                              getenv("BENCH_PIPE_RETRY_BACKOFF_MS")
                                      ? getenv("BENCH_PIPE_RETRY_BACKOFF_MS")
                                      : "10",
                              errstr, sizeof(errstr)) ||
            !(prod = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr,
                                  sizeof(errstr))))
                die("pipe producer", errstr);
        if (!(cc = floq_kafka_conf_new(conf, "consumer", errstr,
                                       sizeof(errstr))) ||
            rd_kafka_conf_set(cc, "group.id", "bench-pipe", errstr,
                              sizeof(errstr)) ||
            rd_kafka_conf_set(cc, "partition.assignment.strategy",
                              "cooperative-sticky", errstr, sizeof(errstr)) ||
            !(cons = rd_kafka_new(RD_KAFKA_CONSUMER, cc, errstr,
                                  sizeof(errstr))))
                die("pipe consumer", errstr);
        rd_kafka_poll_set_consumer(cons);
        pipe_check(rd_kafka_init_transactions(prod, 60000), "init");
        sub = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(
                sub, floq_conf_str(conf, "topic.commands"),
                RD_KAFKA_PARTITION_UA);
        rd_kafka_subscribe(cons, sub);
        rd_kafka_topic_partition_list_destroy(sub);
        printf("ready\n");
        fflush(stdout);

        while (!stop_flag) {
                long n = 0;

                while (n < batch) {
                        rd_kafka_message_t *m = rd_kafka_consumer_poll(
                                cons, n == 0 ? PIPE_SLICE_MS : 0);

                        if (!m)
                                break;
                        if (!m->err) {
                                if (!open) {
                                        pipe_check(rd_kafka_begin_transaction(
                                                           prod),
                                                   "begin");
                                        open = 1;
                                        opened = floq_mono_ms();
                                }
                                pipe_fan_out(
                                        prod, m,
                                        floq_conf_str(conf, "topic.replies"),
                                        floq_conf_str(conf, "topic.runs"),
                                        floq_conf_str(conf, "topic.lineage"),
                                        floq_conf_str(conf,
                                                      "topic.deployments"));
                                in_txn++;
                        }
                        rd_kafka_message_destroy(m);
                        n++;
                }
                if (open && (in_txn >= batch ||
                             floq_mono_ms() - opened >= interval)) {
                        rd_kafka_consumer_group_metadata_t *gm =
                                rd_kafka_consumer_group_metadata(cons);

                        pos = NULL;
                        rd_kafka_assignment(cons, &pos);
                        rd_kafka_position(cons, pos);
                        pipe_check(rd_kafka_send_offsets_to_transaction(
                                           prod, pos, gm, 30000),
                                   "send offsets");
                        rd_kafka_consumer_group_metadata_destroy(gm);
                        rd_kafka_topic_partition_list_destroy(pos);
                        pipe_check(rd_kafka_commit_transaction(prod, 30000),
                                   "commit");
                        open = 0;
                        in_txn = 0;
                }
                rd_kafka_poll(prod, 0);
        }
        if (open)
                rd_kafka_error_destroy(rd_kafka_abort_transaction(prod, 5000));
        rd_kafka_consumer_close(cons);
        rd_kafka_destroy(cons);
        rd_kafka_destroy(prod);
        return 0;
}

/* ------------------------------------------------------------ processes */

typedef struct proc_s {
        pid_t pid;
        const char *name;
} proc_t;

/*
 * The CPU of @p pid and of its live children (bench_lib.h): the process
 * backend's spawner, a child of the worker, reaps the supervisors, so
 * their CPU (and their jobs') is in the spawner's cutime, never in the
 * worker's. -1 when @p pid is gone.
 */
static int64_t proc_cpu_us(pid_t pid) {
        int64_t total = bench_pid_cpu_us(pid);

        return total < 0 ? total : total + bench_children_cpu_us(pid);
}

/* VmRSS of @p pid in KiB. */
static long proc_rss_kb(pid_t pid) {
        char path[64], line[256];
        long kb = -1;
        FILE *fp;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        if (!(fp = fopen(path, "r")))
                return -1;
        while (fgets(line, sizeof(line), fp))
                if (sscanf(line, "VmRSS: %ld", &kb) == 1)
                        break;
        fclose(fp);
        return kb;
}

/* Start @p argv with stdout+stderr to @p log. */
static pid_t proc_start(char *const argv[], const char *log) {
        posix_spawn_file_actions_t fa;
        pid_t pid;
        int rc;

        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, log,
                                         O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (rc)
                die(argv[0], strerror(rc));
        return pid;
}

static void proc_stop(pid_t pid) {
        int st;

        if (pid <= 0)
                return;
        kill(pid, SIGTERM);
        waitpid(pid, &st, 0);
}

/* ------------------------------------------------------------ phases */

/* One measured phase: command i's id is "<phase>-0000-4000-8000-<i>", so
 * the reply reader finds its slot without a map. */
typedef struct phase_s {
        const char *name;
        long n;
        int64_t *t_send, *t_first, *t_final; /* µs, 0 = not yet */
        _Atomic long n_first, n_final;
} phase_t;

static phase_t phases[MAX_PHASES];
static _Atomic int phase_cnt;

static phase_t *phase_new(const char *name, long n) {
        int i = atomic_load(&phase_cnt);
        phase_t *ph = &phases[i];

        if (i + 1 >= MAX_PHASES)
                die("phases", "too many");
        ph->name = name;
        ph->n = n;
        ph->t_send = calloc((size_t)n, sizeof(int64_t));
        ph->t_first = calloc((size_t)n, sizeof(int64_t));
        ph->t_final = calloc((size_t)n, sizeof(int64_t));
        if (!ph->t_send || !ph->t_first || !ph->t_final)
                die("phase", "out of memory");
        atomic_store(&phase_cnt, i + 1);
        return ph;
}

static void phase_id(const phase_t *ph, long i, char id[40]) {
        snprintf(id, 40, "%08x-0000-4000-8000-%012lx",
                 ((unsigned)(ph - phases) + 1) & 0xffu,
                 (unsigned long)i & 0xffffffffffffUL);
}

static void phase_mark(const char *id, size_t len, int final) {
        char ph_hex[9], seq_hex[13];
        unsigned long pi, seq;
        int64_t t = now_us();
        phase_t *ph;

        if (len != 36)
                return;
        memcpy(ph_hex, id, 8);
        ph_hex[8] = '\0';
        memcpy(seq_hex, id + 24, 12);
        seq_hex[12] = '\0';
        pi = strtoul(ph_hex, NULL, 16);
        seq = strtoul(seq_hex, NULL, 16);
        if (pi < 1 || (int)pi > atomic_load(&phase_cnt))
                return;
        ph = &phases[pi - 1];
        if (seq >= (unsigned long)ph->n)
                return;
        if (!ph->t_first[seq]) {
                ph->t_first[seq] = t;
                atomic_fetch_add(&ph->n_first, 1);
        }
        if (final && !ph->t_final[seq]) {
                ph->t_final[seq] = t;
                atomic_fetch_add(&ph->n_final, 1);
        }
}

/* ------------------------------------------------------------ reader */

typedef struct reader_s {
        const char *topic;
        int floq; /* 1: floq Replies (Avro); 0: the pipe's "A|F<id>" */
        pthread_t thr;
        rd_kafka_t *rk;
} reader_t;

static void *reader_main(void *arg) {
        reader_t *r = arg;
        char errstr[512];
        floq_codec_t *codec = floq_codec_new(1 << 20, errstr, sizeof(errstr));

        while (!stop_flag) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, 100);
                json_t *rep = NULL;

                if (!m)
                        continue;
                if (!m->err && m->payload && !r->floq && m->len > 1) {
                        const char *v = m->payload;
                        size_t len = m->len - 1 > 36 ? 36 : m->len - 1;

                        phase_mark(v + 1, len, v[0] == 'F');
                } else if (!m->err && m->payload && r->floq && codec &&
                           !floq_codec_decode(codec, FLOQ_MSG_REPLY,
                                              m->payload, m->len, &rep,
                                              errstr, sizeof(errstr))) {
                        const char *id = json_string_value(
                                json_object_get(rep, "command_id"));

                        if (id)
                                phase_mark(id, strlen(id),
                                           json_is_true(json_object_get(
                                                   rep, "final")));
                        json_decref(rep);
                }
                rd_kafka_message_destroy(m);
        }
        floq_codec_destroy(codec);
        return NULL;
}

static void reader_start(reader_t *r, const char *topic, int floq) {
        rd_kafka_topic_partition_list_t *as;
        char errstr[512];
        rd_kafka_conf_t *kc;
        int32_t p, cnt = (int32_t)floq_conf_int(conf, "topic.partitions");

        r->topic = topic;
        r->floq = floq;
        if (!(kc = floq_kafka_conf_new(conf, "consumer", errstr,
                                       sizeof(errstr))) ||
            rd_kafka_conf_set(kc, "group.id", "bench-reader", errstr,
                              sizeof(errstr)) ||
            rd_kafka_conf_set(kc, "fetch.wait.max.ms", "5", errstr,
                              sizeof(errstr)) ||
            !(r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr,
                                   sizeof(errstr))))
                die("reader", errstr);
        rd_kafka_poll_set_consumer(r->rk);
        as = rd_kafka_topic_partition_list_new(cnt);
        for (p = 0; p < cnt; p++)
                rd_kafka_topic_partition_list_add(as, topic, p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(r->rk, as);
        rd_kafka_topic_partition_list_destroy(as);
        pthread_create(&r->thr, NULL, reader_main, r);
}

/* ------------------------------------------------------------ driver */

static rd_kafka_t *driver;
static floq_codec_t *codec;
static const char *cmd_topic;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *op) {
        (void)rk;
        (void)op;
        if (m->err)
                fprintf(stderr, "bench_worker: delivery: %s\n",
                        rd_kafka_err2str(m->err));
}

static void send_raw(const char *key, const void *val, size_t len) {
        while (rd_kafka_producev(driver, RD_KAFKA_V_TOPIC(cmd_topic),
                                 RD_KAFKA_V_KEY(key, strlen(key)),
                                 RD_KAFKA_V_VALUE((void *)val, len),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_END) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(driver, 5);
        rd_kafka_poll(driver, 0);
}

/* Command i of @p ph: to floq (an Avro Command) or to the pipe (kind + id).
 * kind: 'S' status, 'D' deploy (noop), 'R' run; @p prefix names the
 * deployments ("nb" noop, "tb" /bin/true). */
static void send_cmd(phase_t *ph, long i, int floq, char kind,
                     const char *prefix) {
        char id[40], dep[32], errstr[512], raw[64];
        json_t *cmd, *body;
        void *buf = NULL;
        size_t len = 0;

        phase_id(ph, i, id);
        snprintf(dep, sizeof(dep), "%s%ld", prefix, i % N_DEPLOYMENTS);
        if (!floq) {
                raw[0] = kind;
                memcpy(raw + 1, id, 36);
                ph->t_send[i] = now_us();
                send_raw(dep, raw, 37);
                return;
        }
        if (kind == 'S')
                body = json_pack("{s:{s:n}}", "StatusBody", "run_id");
        else if (kind == 'R')
                body = json_pack("{s:{s:{}}}", "RunBody", "params");
        else if (!strcmp(prefix, "tb"))
                body = json_pack(
                        "{s:{s:s,s:s}}", "DeployBody", "backend", "process",
                        "spec", "{\"executable\":\"" TRUE_EXE "\",\"args\":[]}");
        else
                body = json_pack("{s:{s:s,s:s}}", "DeployBody", "backend",
                                 "noop", "spec", "{}");
        cmd = json_pack("{s:s,s:I,s:s,s:s,s:o}", "command_id", id,
                        "issued_at", (json_int_t)floq_now_ms(),
                        "correlation_id", id, "deployment", dep, "body",
                        body);
        if (!cmd || floq_codec_encode(codec, FLOQ_MSG_COMMAND, cmd, &buf,
                                      &len, errstr, sizeof(errstr)))
                die("encode", errstr);
        ph->t_send[i] = now_us();
        send_raw(dep, buf, len);
        free(buf);
        json_decref(cmd);
}

typedef struct sample_s {
        pid_t pid;
        long rss_max_kb;
} sample_t;

/* Wait until @p ph has @p want (first or final) replies, up to @p
 * timeout_ms after the last send; samples the RSS of @p s meanwhile. */
static int phase_wait(phase_t *ph, int finals, int timeout_ms, sample_t *s) {
        int64_t deadline = floq_mono_ms() + timeout_ms;
        struct timespec ts = { 0, 20 * 1000 * 1000 };

        while (floq_mono_ms() < deadline) {
                long got = finals ? atomic_load(&ph->n_final)
                                  : atomic_load(&ph->n_first);

                if (s && s->pid > 0) {
                        long kb = proc_rss_kb(s->pid);

                        if (kb > s->rss_max_kb)
                                s->rss_max_kb = kb;
                }
                rd_kafka_poll(driver, 0);
                if (got >= ph->n)
                        return 0;
                nanosleep(&ts, NULL);
        }
        return -1;
}

/* Throughput: N commands as fast as they go; rate = N / (last final -
 * first send). */
static double run_backlog(const char *name, long n, int floq, char kind,
                          const char *prefix, pid_t pid, int timeout_ms,
                          double *cpu_us_per, sample_t *s, int *failed) {
        phase_t *ph = phase_new(name, n);
        int64_t cpu0 = proc_cpu_us(pid), t_last = 0;
        long i;

        for (i = 0; i < n; i++)
                send_cmd(ph, i, floq, kind, prefix);
        rd_kafka_flush(driver, 10000);
        if (phase_wait(ph, 1, timeout_ms, s)) {
                fprintf(stderr, "bench_worker: %s: %ld of %ld final replies\n",
                        name, atomic_load(&ph->n_final), n);
                (*failed)++;
        }
        *cpu_us_per = (double)(proc_cpu_us(pid) - cpu0) / (double)n;
        for (i = 0; i < n; i++)
                if (ph->t_final[i] > t_last)
                        t_last = ph->t_final[i];
        if (getenv("BENCH_DEBUG")) {
                /* per deployment (so per partition): first and last final
                 * reply, ms after the first send */
                int64_t lo[N_DEPLOYMENTS] = { 0 }, hi[N_DEPLOYMENTS] = { 0 };
                int d;

                for (i = 0; i < n; i++) {
                        int64_t t = ph->t_final[i] - ph->t_send[0];

                        d = (int)(i % N_DEPLOYMENTS);
                        if (!ph->t_final[i])
                                continue;
                        if (!lo[d] || t < lo[d])
                                lo[d] = t;
                        if (t > hi[d])
                                hi[d] = t;
                }
                for (d = 0; d < N_DEPLOYMENTS; d++)
                        fprintf(stderr, "%s: %s%d first %.1f last %.1f ms\n",
                                name, prefix, d, lo[d] / 1e3, hi[d] / 1e3);
        }
        return t_last > ph->t_send[0]
                       ? (double)atomic_load(&ph->n_final) * 1e6 /
                                 (double)(t_last - ph->t_send[0])
                       : 0.0;
}

static int cmp_i64(const void *a, const void *b) {
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

        return x < y ? -1 : x > y;
}

typedef struct lat_s {
        double p50, p99, p999; /* ms */
        long missing;
} lat_t;

/* Latency: run commands offered at @p rate/s for @p secs; publish -> first
 * reply. */
/* p50, p99 and p99.9 (ms) of the @p k latencies (µs) in @p d, sorted
 * in place, into @p l. */
static void lat_percentiles(lat_t *l, int64_t *d, long k) {
        if (!k)
                return;
        qsort(d, (size_t)k, sizeof(*d), cmp_i64);
        l->p50 = (double)d[k / 2] / 1000.0;
        l->p99 = (double)d[(k * 99) / 100] / 1000.0;
        l->p999 = (double)d[(k * 999) / 1000] / 1000.0;
}

static lat_t run_rate(const char *name, int rate, double secs, int floq,
                      const char *prefix, sample_t *s, int *failed) {
        long n = (long)(rate * secs), i, k = 0;
        phase_t *ph = phase_new(name, n);
        int64_t t0 = now_us(), *d;
        lat_t l = { 0, 0, 0, 0 };

        for (i = 0; i < n; i++) {
                int64_t due = t0 + (int64_t)((double)i * 1e6 / rate);
                int64_t t;

                while ((t = now_us()) < due) {
                        struct timespec ts = { 0, (long)((due - t) * 1000) };

                        if (due - t > 2000)
                                ts.tv_nsec = 1000 * 1000;
                        nanosleep(&ts, NULL);
                        rd_kafka_poll(driver, 0);
                }
                send_cmd(ph, i, floq, 'R', prefix);
        }
        rd_kafka_flush(driver, 10000);
        /* every first reply of the phase (or 30 s), so the next phase
         * starts on a quieter worker; what is missing then is reported,
         * a MISS and not a failure of the bench */
        (void)failed;
        phase_wait(ph, 0, 30000, s);
        l.missing = n - atomic_load(&ph->n_first);
        d = n > 0 ? calloc((size_t)n, sizeof(*d)) : NULL;
        for (i = 0; d && i < n; i++)
                if (ph->t_first[i])
                        d[k++] = ph->t_first[i] - ph->t_send[i];
        lat_percentiles(&l, d, k);
        free(d);
        return l;
}

/* ------------------------------------------------------------ spawn loop */

static double spawn_loop(long n, double *cpu_us_per) {
        char *argv[] = { TRUE_EXE, NULL };
        struct rusage r0, r1, c0, c1;
        int64_t t0, t1;
        long i;

        getrusage(RUSAGE_THREAD, &r0);
        getrusage(RUSAGE_CHILDREN, &c0);
        t0 = now_us();
        for (i = 0; i < n; i++) {
                pid_t pid;
                int st;

                if (posix_spawn(&pid, TRUE_EXE, NULL, NULL, argv, environ))
                        die("posix_spawn", strerror(errno));
                waitpid(pid, &st, 0);
        }
        t1 = now_us();
        getrusage(RUSAGE_THREAD, &r1);
        getrusage(RUSAGE_CHILDREN, &c1);
#define TV(t) ((int64_t)(t).tv_sec * 1000000 + (t).tv_usec)
        *cpu_us_per =
                (double)(TV(r1.ru_utime) + TV(r1.ru_stime) - TV(r0.ru_utime) -
                         TV(r0.ru_stime) + TV(c1.ru_utime) + TV(c1.ru_stime) -
                         TV(c0.ru_utime) - TV(c0.ru_stime)) /
                (double)n;
#undef TV
        return (double)n * 1e6 / (double)(t1 - t0);
}

/* What one pass over the pipe measured. */
typedef struct pipe_res_s {
        double status, deploy, run;             /* /s */
        double status_cpu, deploy_cpu, run_cpu; /* µs per input */
        lat_t l100, l1000;
} pipe_res_t;

static void pipe_measure(pipe_res_t *r, pid_t ppid, long n, long nrun,
                         double secs, int *failed) {
        r->status = run_backlog("pipe status", n, 0, 'S', "nb", ppid, 60000,
                                &r->status_cpu, NULL, failed);
        r->deploy = run_backlog("pipe deploy", n, 0, 'D', "nb", ppid, 60000,
                                &r->deploy_cpu, NULL, failed);
        r->run = run_backlog("pipe run", nrun, 0, 'R', "nb", ppid, 60000,
                             &r->run_cpu, NULL, failed);
        r->l100 = run_rate("pipe 100/s", 100, secs, 0, "nb", NULL, failed);
        r->l1000 = run_rate("pipe 1000/s", 1000, secs, 0, "nb", NULL, failed);
}

/* The tighter limit of @p a and @p b into @p a: higher rates, less CPU,
 * the latency run with the lower p99 (and no reply missing). */
static void pipe_best(pipe_res_t *a, const pipe_res_t *b) {
#define BEST_MAX(f) (a->f = a->f > b->f ? a->f : b->f)
#define BEST_MIN(f) (a->f = a->f < b->f ? a->f : b->f)
        BEST_MAX(status);
        BEST_MAX(deploy);
        BEST_MAX(run);
        BEST_MIN(status_cpu);
        BEST_MIN(deploy_cpu);
        BEST_MIN(run_cpu);
#undef BEST_MAX
#undef BEST_MIN
        if (b->l100.missing <= a->l100.missing && b->l100.p99 < a->l100.p99)
                a->l100 = b->l100;
        if (b->l1000.missing <= a->l1000.missing &&
            b->l1000.p99 < a->l1000.p99)
                a->l1000 = b->l1000;
}

static const char *const topic_names[] = { "commands",    "replies",
                                           "lineage",     "deployments",
                                           "schedules",   "runs",
                                           "dlq" };

/* FLOQ_TOPIC_* of the processes started next: @p c's topics. */
static void topics_env(const floq_conf_t *c) {
        char ev[64], key[64];
        size_t i, j;

        for (i = 0; i < 7; i++) {
                snprintf(key, sizeof(key), "topic.%s", topic_names[i]);
                snprintf(ev, sizeof(ev), "FLOQ_TOPIC_%s", topic_names[i]);
                for (j = 11; ev[j]; j++)
                        if (ev[j] >= 'a' && ev[j] <= 'z')
                                ev[j] = (char)(ev[j] - 'a' + 'A');
                setenv(ev, floq_conf_str(c, key), 1);
        }
}

/* ------------------------------------------------------------ report */

/* ratio >= target (or, when @p lower, ratio <= target) */
static void row(const char *what, double floq, double limit,
                const char *limit_name, double target, int lower,
                const char *unit) {
        double ratio = limit > 0 ? floq / limit : 0;
        int pass = lower ? ratio <= target : ratio >= target;

        printf("%-34s %10.1f %-9s %-22s %10.1f  ratio %6.3f  target %s%.2f  "
               "%s\n",
               what, floq, unit, limit_name, limit, ratio, lower ? "<=" : ">=",
               target, pass ? "PASS" : "MISS");
}

static void lat_row(const char *what, lat_t f, lat_t p) {
        double ratio = p.p99 > 0 ? f.p99 / p.p99 : 0;
        int pass = f.missing == 0 && ratio <= 1.5;

        printf("%-34s floq p50 %7.1f p99 %7.1f p99.9 %7.1f ms (missing %ld) | "
               "pipe p50 %6.1f p99 %6.1f p99.9 %6.1f ms (missing %ld) | p99 "
               "ratio %.2f target <=1.50, none missing  %s\n",
               what, f.p50, f.p99, f.p999, f.missing, p.p50, p.p99, p.p999,
               p.missing, ratio, pass ? "PASS" : "MISS");
}

/* 1 once @p log says the worker took partitions ("assigned N ..."). */
static int log_assigned(const char *log) {
        char line[512];
        int yes = 0;
        FILE *f = fopen(log, "r");

        while (f && !yes && fgets(line, sizeof(line), f)) {
                const char *a = strstr(line, "] assigned ");

                yes = a && a[11] >= '1' && a[11] <= '9';
        }
        if (f)
                fclose(f);
        return yes;
}

static pid_t worker_start(const char *dir, int k, char *log, size_t logsz) {
        const char *bin = getenv("FLOQ_BENCH_WORKER");
        char wbin[4096], wid[64];
        char *x = getenv("BENCH_WORKER_X");
        char *wargv[] = { wbin, "-o", wid, x ? "-X" : NULL, x, NULL };

        snprintf(wbin, sizeof(wbin), "%s",
                 bin ? bin : "build/bin/floq-worker");
        snprintf(wid, sizeof(wid), "worker.id=bench-%d-%d", (int)getpid(),
                 k);
        snprintf(log, logsz, "%s/worker%d.log", dir, k);
        return proc_start(wargv, log);
}

static void wait_ready(const char *what, int floq, pid_t pid) {
        phase_t *ph = phase_new("ready", 1);
        int64_t deadline = floq_mono_ms() + 120000;
        int st;

        /* a status command answered: joined, assigned, restored */
        send_cmd(ph, 0, floq, 'S', "warm");
        rd_kafka_flush(driver, 10000);
        while (atomic_load(&ph->n_final) < 1) {
                struct timespec ts = { 0, 50 * 1000 * 1000 };

                if (floq_mono_ms() > deadline ||
                    waitpid(pid, &st, WNOHANG) == pid)
                        die(what, "did not answer a first command");
                nanosleep(&ts, NULL);
        }
}

#ifndef BENCH_WORKER_NO_MAIN
int main(int argc, char **argv) {
        char errstr[512], dir[64], log[128], self[4096];
        floq_conf_t *pconf;
        rd_kafka_conf_t *kc;
        reader_t rf, rp;
        sample_t s = { 0, 0 };
        pid_t wpid, ppid;
        long n = 3000, nrun = 2000, ntrue = 600, i;
        double secs = 5.0;
        int failed = 0, quick = 0, is_pipe = 0, fleet_only = 0;
        long fleet_after = 0;
        ssize_t sl;

        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--pipe"))
                        is_pipe = 1;
                else if (!strcmp(argv[i], "--quick"))
                        quick = 1;
                else if (!strcmp(argv[i], "--fleet-only"))
                        fleet_only = 1;
                else if (!strcmp(argv[i], "--fleet-after") && i + 1 < argc)
                        fleet_after = atol(argv[++i]);
                else if (!strcmp(argv[i], "-n") && i + 1 < argc)
                        n = atol(argv[++i]);
                else {
                        fprintf(stderr,
                                "usage: bench_worker [-n N] [--quick] "
                                "[--fleet-only]\n");
                        return 2;
                }
        }
        if (quick) {
                n = 500;
                nrun = 300;
                ntrue = 100;
                secs = 2.0;
        }
        floq_log_setup("bench_worker", FLOQ_LOG_ERR, 0, stderr);
        conf = floq_conf_new();
        floq_conf_set_kafka(conf, "log_level", "2", NULL, 0);
        if (floq_conf_load_env(conf, NULL, errstr, sizeof(errstr)))
                die("config", errstr);
        if (is_pipe) {
                /* the pipe's own topics: "<commands topic>.pipe.*" */
                return pipe_main();
        }
        if ((sl = readlink("/proc/self/exe", self, sizeof(self) - 1)) < 0)
                die("/proc/self/exe", strerror(errno));
        self[sl] = '\0';

        /* The spawn limit first, while this process has no threads. */
        double spawn_cpu, spawn_rate = spawn_loop(quick ? 300 : 1500,
                                                  &spawn_cpu);

        /* The pipe's topics beside floq's: "<floq's topic>.pipe". */
        pconf = floq_conf_dup(conf);
        for (i = 0; i < 7; i++) {
                char name[256], key[64];

                snprintf(key, sizeof(key), "topic.%s", topic_names[i]);
                snprintf(name, sizeof(name), "%s.pipe",
                         floq_conf_str(conf, key));
                floq_conf_set(pconf, key, name, NULL, 0);
        }
        codec = floq_codec_new(1 << 20, errstr, sizeof(errstr));
        if (!(kc = floq_kafka_conf_new(conf, "producer", errstr,
                                       sizeof(errstr))) ||
            rd_kafka_conf_set(kc, "enable.idempotence", "true", errstr,
                              sizeof(errstr)) ||
            rd_kafka_conf_set(kc, "linger.ms", "1", errstr, sizeof(errstr)) ||
            !codec)
                die("driver", errstr);
        rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
        if (!(driver = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr,
                                    sizeof(errstr))))
                die("driver", errstr);
        if (floq_kafka_ensure_topics(driver, conf, 30000, errstr,
                                     sizeof(errstr)) ||
            floq_kafka_ensure_topics(driver, pconf, 30000, errstr,
                                     sizeof(errstr)))
                die("topics", errstr);

        snprintf(dir, sizeof(dir), "/tmp/floq-bench-%d", (int)getpid());
        mkdir(dir, 0700);

        /* ---- the pipe, warmed, then measured */
        {
                char *pargv[] = { self, "--pipe", NULL };

                /* its own process, with the pipe's topics in its env */
                topics_env(pconf);
                snprintf(log, sizeof(log), "%s/pipe.log", dir);
                ppid = proc_start(pargv, log);
                topics_env(conf);
        }
        cmd_topic = floq_conf_str(pconf, "topic.commands");
        reader_start(&rp, floq_conf_str(pconf, "topic.replies"), 0);
        wait_ready("the pipe", 0, ppid);
        {
                /* a fresh broker's JVM takes more than the topics and a
                 * few records to reach its pace */
                phase_t *warm = phase_new("pipe warm-up", quick ? 2000 : 10000);

                for (i = 0; i < warm->n; i++)
                        send_cmd(warm, i, 0, "SDR"[i % 3], "w");
                rd_kafka_flush(driver, 10000);
                phase_wait(warm, 1, 60000, NULL);
        }
        /* The pipe measured before floq and again after it (below), the
         * better of the two kept: the limit is never the colder side. */
        pipe_res_t pr;
        pipe_measure(&pr, ppid, n, nrun, secs, &failed);

        /* ---- floq */
        setenv("FLOQ_NOOP_BACKEND_ENABLED", "true", 1);
        setenv("FLOQ_PROCESS_ALLOWED_DIRS", "/usr/bin", 1);
        wpid = worker_start(dir, 1, log, sizeof(log));
        cmd_topic = floq_conf_str(conf, "topic.commands");
        reader_start(&rf, floq_conf_str(conf, "topic.replies"), 1);
        wait_ready("floq-worker", 1, wpid);
        {
                /* deployments of the runs, and a warm-up pass */
                phase_t *dep = phase_new("deployments", 2 * N_DEPLOYMENTS);
                phase_t *warm = phase_new("floq warm-up", 300);

                for (i = 0; i < N_DEPLOYMENTS; i++) {
                        send_cmd(dep, i, 1, 'D', "nb");
                        send_cmd(dep, N_DEPLOYMENTS + i, 1, 'D', "tb");
                }
                rd_kafka_flush(driver, 10000);
                if (phase_wait(dep, 1, 60000, NULL))
                        die("deployments", "not all answered");
                for (i = 0; i < warm->n; i++)
                        send_cmd(warm, i, 1, i % 3 ? 'S' : 'R', "nb");
                rd_kafka_flush(driver, 10000);
                phase_wait(warm, 1, 60000, NULL);
        }
        /* the RSS idle: after a quiet period with every deployment known */
        long rss_idle = proc_rss_kb(wpid);
        s.pid = wpid;
        double f_status_cpu = 0, f_deploy_cpu = 0, f_run_cpu = 0;
        double f_true_cpu = 0, f_status = 0, f_deploy = 0, f_run = 0;
        double f_true = 0;
        lat_t f_l100 = { 0 }, f_l1000 = { 0 };
        pid_t perf = 0;

        if (fleet_only) {
                /* --fleet-after N: N noop runs through 1 worker first;
                 * BENCH_PRE="D3000 T600 S100": these phases first (D
                 * deploys, R noop runs, T /bin/true runs, S status) */
                const char *pre = getenv("BENCH_PRE");

                if (fleet_after > 0)
                        run_backlog("floq noop run", fleet_after, 1, 'R',
                                    "nb", wpid, 180000, &f_run_cpu, &s,
                                    &failed);
                while (pre && *pre) {
                        char kind = *pre == 'T' ? 'R' : *pre;
                        const char *pfx = *pre == 'T' ? "tb" : "nb";
                        long cnt = atol(pre + 1);

                        double rate = 0, cpu = 0;

                        if (cnt > 0)
                                rate = run_backlog("pre", cnt, 1, kind, pfx,
                                                   wpid, 180000, &cpu, &s,
                                                   &failed);
                        fprintf(stderr, "pre %c%ld: %.1f/s, %.0f us CPU "
                                        "each\n", *pre, cnt, rate, cpu);
                        pre = strchr(pre, ' ');
                        pre = pre ? pre + 1 : NULL;
                }
                goto fleet;
        }
        f_status = run_backlog("floq status", n, 1, 'S', "nb", wpid,
                                      120000, &f_status_cpu, &s, &failed);
        f_deploy = run_backlog("floq deploy", n, 1, 'D', "nb", wpid,
                                      120000, &f_deploy_cpu, &s, &failed);
        f_run = run_backlog("floq noop run", nrun, 1, 'R', "nb", wpid,
                                   180000, &f_run_cpu, &s, &failed);
        /* BENCH_PERF=FILE: perf record of the worker (and what it
         * forks) during the /bin/true phase, for docs/benchmarks.md */
        if (getenv("BENCH_PERF")) {
                char pidarg[24], plog[160];
                char *pargv[] = { "/usr/bin/perf", "record", "-q", "-g",
                                  "-F", "1999", "-o", getenv("BENCH_PERF"),
                                  "-p", pidarg, NULL };

                snprintf(pidarg, sizeof(pidarg), "%d", (int)wpid);
                snprintf(plog, sizeof(plog), "%s/perf.log", dir);
                perf = proc_start(pargv, plog);
                sleep(1); /* perf has no ready signal; a profile only */
        }
        f_true = run_backlog("floq /bin/true run", ntrue, 1, 'R', "tb",
                                    wpid, 180000, &f_true_cpu, &s, &failed);
        if (perf > 0) {
                int st;

                kill(perf, SIGINT);
                waitpid(perf, &st, 0);
        }
        f_l100 = run_rate("floq 100/s", 100, secs, 1, "nb", &s,
                                &failed);
        f_l1000 = run_rate("floq 1000/s", 1000, secs, 1, "nb", &s,
                                 &failed);
        /* ---- the pipe again, now that the broker ran floq too */
        {
                pipe_res_t again;

                cmd_topic = floq_conf_str(pconf, "topic.commands");
                pipe_measure(&again, ppid, n, nrun, secs, &failed);
                cmd_topic = floq_conf_str(conf, "topic.commands");
                pipe_best(&pr, &again);
        }
fleet:
        proc_stop(ppid);
        double p_status = pr.status, p_deploy = pr.deploy, p_run = pr.run;
        double p_status_cpu = pr.status_cpu, p_deploy_cpu = pr.deploy_cpu;
        double p_run_cpu = pr.run_cpu;
        lat_t p_l100 = pr.l100, p_l1000 = pr.l1000;

        /* ---- a fleet: BENCH_WORKERS (default 2) workers in the group */
        int nw = getenv("BENCH_WORKERS") ? atoi(getenv("BENCH_WORKERS")) : 2;
        pid_t more[8];
        int k, nmore = 0;
        double m_status = 0, m_run = 0, m_cpu;

        if (nw > 9)
                nw = 9;
        for (k = 2; k <= nw; k++) {
                char wlog[128];
                int64_t deadline = floq_mono_ms() + 60000;

                more[nmore++] = worker_start(dir, k, wlog, sizeof(wlog));
                while (!log_assigned(wlog) && floq_mono_ms() < deadline) {
                        struct timespec ts = { 0, 100 * 1000 * 1000 };

                        nanosleep(&ts, NULL);
                }
                if (!log_assigned(wlog))
                        die("fleet", "a worker took no partitions");
        }
        if (nmore) {
                /* one round of commands through every worker first */
                phase_t *warm = phase_new("fleet warm-up", 120);

                for (i = 0; i < warm->n; i++)
                        send_cmd(warm, i, 1, 'S', "nb");
                rd_kafka_flush(driver, 10000);
                phase_wait(warm, 1, 60000, NULL);
                m_status = run_backlog("fleet status", n, 1, 'S', "nb", wpid,
                                       120000, &m_cpu, NULL, &failed);
                m_run = run_backlog("fleet noop run", nrun, 1, 'R', "nb",
                                    wpid, 180000, &m_cpu, NULL, &failed);
        }
        for (k = 0; k < nmore; k++)
                proc_stop(more[k]);
        proc_stop(wpid);
        stop_flag = 1;

        printf("\n%-34s %10s %-9s %-22s %10s\n", "measure (1 worker)", "floq",
               "", "limit", "limit");
        row("status commands/s", f_status, p_status, "pipe, 1 reply", 0.8, 0,
            "/s");
        row("deploy commands/s", f_deploy, p_deploy, "pipe, 3 records", 0.8,
            0, "/s");
        row("noop run lifecycles/s", f_run, p_run, "pipe, 8 records", 0.5, 0,
            "/s");
        row("/bin/true run lifecycles/s", f_true, spawn_rate,
            "posix_spawn loop", 0.7, 0, "/s");
        row("CPU per /bin/true run", f_true_cpu, spawn_cpu,
            "per posix_spawn", 2.0, 1, "us");
        printf("%-34s floq %8.0f us   pipe %6.0f us   (ratio %.1f)\n",
               "CPU per status command", f_status_cpu, p_status_cpu,
               p_status_cpu > 0 ? f_status_cpu / p_status_cpu : 0);
        printf("%-34s floq %8.0f us   pipe %6.0f us   (ratio %.1f)\n",
               "CPU per deploy command", f_deploy_cpu, p_deploy_cpu,
               p_deploy_cpu > 0 ? f_deploy_cpu / p_deploy_cpu : 0);
        printf("%-34s floq %8.0f us   pipe %6.0f us   (ratio %.1f)\n",
               "CPU per noop run", f_run_cpu, p_run_cpu,
               p_run_cpu > 0 ? f_run_cpu / p_run_cpu : 0);
        lat_row("run -> ACCEPTED at 100/s", f_l100, p_l100);
        lat_row("run -> ACCEPTED at 1000/s", f_l1000, p_l1000);
        if (nmore) {
                char what[64];

                snprintf(what, sizeof(what), "status commands/s, %d workers",
                         nw);
                row(what, m_status, p_status, "pipe, 1 reply", 0.8, 0, "/s");
                snprintf(what, sizeof(what), "noop runs/s, %d workers", nw);
                row(what, m_run, p_run, "pipe, 8 records", 0.5, 0, "/s");
                printf("%-34s status x%.2f, noop runs x%.2f of 1 worker\n",
                       "scaling", f_status > 0 ? m_status / f_status : 0,
                       f_run > 0 ? m_run / f_run : 0);
        }
        printf("%-34s idle %6.1f MB   under load (max) %6.1f MB   target "
               "<=32 MB under load  %s\n",
               "worker RSS", rss_idle / 1024.0, s.rss_max_kb / 1024.0,
               s.rss_max_kb <= 32 * 1024 ? "PASS" : "MISS");
        printf("(logs in %s)\n", dir);
        floq_conf_destroy(pconf);
        return failed ? 1 : 0;
}
#endif /* BENCH_WORKER_NO_MAIN */
