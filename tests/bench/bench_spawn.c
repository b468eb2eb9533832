/*
 * bench_spawn.c - the process backend's own cost per attempt, without
 * Kafka: N attempts of /usr/bin/true through start()/wait()/
 * attempt_destroy(), with the spawner (process.spawner=true, the default)
 * and without it (one posix_spawn() of floq-supervise per attempt),
 * against a bare posix_spawn() + waitpid() loop of /usr/bin/true, in
 * rounds that alternate the three; the best round of each is printed
 * (the machine is shared: the least disturbed round is the steadiest
 * figure). CPU is this process's and all its children's, the spawner's
 * included (it reaps the supervisors, so their time is in its children's
 * time). No broker needed; BENCH_QUICK=1 runs fewer attempts.
 *
 *   bench_spawn [-n N] [-r ROUNDS] [--spawner-only]
 *
 * --spawner-only: only attempts through the spawner (for perf record).
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/backend.h"
#include "floq_common.h"

#define BENCH_LIB_CPU_ONLY 1 /* the CPU reader, no broker */
#include "bench_lib.h"

#define TRUE_EXE "/usr/bin/true"

extern char **environ;

static int64_t tv_us(const struct timeval *tv) {
        return (int64_t)tv->tv_sec * 1000000 + tv->tv_usec;
}

/* This process, its reaped children and its live ones (the spawner). */
static int64_t cpu_us(void) {
        struct rusage self, kids;

        getrusage(RUSAGE_SELF, &self);
        getrusage(RUSAGE_CHILDREN, &kids);
        return tv_us(&self.ru_utime) + tv_us(&self.ru_stime) +
               tv_us(&kids.ru_utime) + tv_us(&kids.ru_stime) +
               bench_children_cpu_us(getpid());
}

static floq_backend_t *backend(const char *spawner) {
        floq_conf_t *conf = floq_conf_new();
        floq_backend_t *be;
        char errstr[256];

        if (floq_conf_set(conf, "process.allowed.dirs", "/usr/bin", errstr,
                          sizeof(errstr)) ||
            floq_conf_set(conf, "process.spawner", spawner, errstr,
                          sizeof(errstr)) ||
            !(be = floq_backend_process.new_(conf, errstr, sizeof(errstr)))) {
                fprintf(stderr, "bench_spawn: %s\n", errstr);
                exit(1);
        }
        floq_conf_destroy(conf);
        return be;
}

/* µs of CPU per attempt of /bin/true through @p be. */
static double attempts(floq_backend_t *be, long n) {
        const floq_backend_ops_t *ops = &floq_backend_process;
        json_t *spec = json_pack("{s:s, s:[]}", "executable", TRUE_EXE,
                                 "args");
        floq_run_req_t req = { .run_id = "4b0c6a7e-3f5e-4f5e-9a53-0d3a4c1b2e11",
                               .deployment = "dep",
                               .attempt = 1,
                               .spec = spec };
        char errstr[512];
        int64_t c0;
        long i;

        if (ops->deploy(be, "dep", spec, errstr, sizeof(errstr))) {
                fprintf(stderr, "bench_spawn: deploy: %s\n", errstr);
                exit(1);
        }
        c0 = cpu_us();
        for (i = 0; i < n; i++) {
                floq_attempt_t *att = NULL;
                floq_run_result_t res;

                if (ops->start(be, &req, &att, errstr, sizeof(errstr))) {
                        fprintf(stderr, "bench_spawn: start: %s\n", errstr);
                        exit(1);
                }
                memset(&res, 0, sizeof(res));
                while (ops->wait(be, att, 10000, &res) == FLOQ_ERR_TIMED_OUT)
                        ;
                if (res.outcome != FLOQ_OUTCOME_SUCCEEDED) {
                        fprintf(stderr, "bench_spawn: attempt: %s\n",
                                res.reason ? res.reason : "?");
                        exit(1);
                }
                floq_run_result_release(&res);
                ops->attempt_destroy(be, att);
        }
        json_decref(spec);
        return (double)(cpu_us() - c0) / (double)n;
}

static double spawn_loop(long n) {
        char *argv[] = { TRUE_EXE, NULL };
        int64_t c0 = cpu_us();
        long i;

        for (i = 0; i < n; i++) {
                pid_t pid;
                int st;

                if (posix_spawn(&pid, TRUE_EXE, NULL, NULL, argv, environ)) {
                        perror("posix_spawn");
                        exit(1);
                }
                waitpid(pid, &st, 0);
        }
        return (double)(cpu_us() - c0) / (double)n;
}

int main(int argc, char **argv) {
        long n = getenv("BENCH_QUICK") ? 300 : 2000, rounds = 3, r, i;
        double best_sp = 1e18, best_ps = 1e18, best_loop = 1e18;
        floq_backend_t *with, *without;
        int only = 0;

        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "-n") && i + 1 < argc)
                        n = atol(argv[++i]);
                else if (!strcmp(argv[i], "-r") && i + 1 < argc)
                        rounds = atol(argv[++i]);
                else if (!strcmp(argv[i], "--spawner-only"))
                        only = 1;
                else {
                        fprintf(stderr, "usage: bench_spawn [-n N] "
                                        "[-r ROUNDS] [--spawner-only]\n");
                        return 2;
                }
        }
        floq_log_setup("bench_spawn", FLOQ_LOG_ERR, 0, stderr);
        with = backend("true");
        without = backend("false");
        for (r = 0; r < rounds; r++) {
                double sp = attempts(with, n);
                double ps = only ? 0 : attempts(without, n);
                double loop = only ? 1 : spawn_loop(n);

                fprintf(stderr, "round %ld: spawner %.0f us, posix_spawn "
                                "per attempt %.0f us, spawn loop %.0f us\n",
                        r + 1, sp, ps, loop);
                if (sp < best_sp)
                        best_sp = sp;
                if (ps < best_ps)
                        best_ps = ps;
                if (loop < best_loop)
                        best_loop = loop;
        }
        printf("CPU per /bin/true attempt, spawner    %7.0f us  ratio %.2f "
               "to the spawn loop\n",
               best_sp, best_sp / best_loop);
        printf("CPU per /bin/true attempt, no spawner %7.0f us  ratio %.2f "
               "to the spawn loop\n",
               best_ps, best_ps / best_loop);
        printf("CPU per posix_spawn + waitpid         %7.0f us\n", best_loop);
        floq_backend_process.destroy(with);
        floq_backend_process.destroy(without);
        return 0;
}
