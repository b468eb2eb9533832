/*
 * test_spawn.c - how the process backend starts an attempt's supervisor
 * (worker/backends/supervise.h): posix_spawn() of the embedded
 * floq-supervise program, not a fork() of the worker. The supervisor is
 * then a fresh image (its /proc/PID/exe the sealed memfd), holds no
 * descriptor of the worker beyond its stdio, control pipe and lease
 * socket, and is much smaller than the worker; and the isolation it sets
 * up still holds (its own process group, the job below it, a stop ends
 * both). By default the supervisors are forked by the spawner
 * (worker/backends/spawner.h), started once with the backend: it holds
 * nothing of the worker, dies with it, and when it dies attempts end,
 * are reported and new ones start with posix_spawn(). test_process
 * covers the rest of the backend (its tests' attempts go through the
 * spawner, those started by a fork of the test process without it).
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/backend.h"
#include "backends/supervise.h" /* SYS_pidfd_open */
#include "test_util.h"

static floq_conf_t *conf;
static floq_backend_t *be;
static const floq_backend_ops_t *ops = &floq_backend_process;

static void setup_with(const char *spawner) {
        char errstr[256];

        conf = floq_conf_new();
        ck_assert(conf != NULL);
        ck_assert(floq_conf_set(conf, "process.allowed.dirs", "/usr/bin",
                                errstr, sizeof(errstr)) == FLOQ_OK);
        ck_assert(floq_conf_set(conf, "process.kill.grace.ms", "300", errstr,
                                sizeof(errstr)) == FLOQ_OK);
        ck_assert(floq_conf_set(conf, "process.spawner", spawner, errstr,
                                sizeof(errstr)) == FLOQ_OK);
        be = ops->new_(conf, errstr, sizeof(errstr));
        ck_assert_msg(be != NULL, "new: %s", errstr);
}

static void setup(void) {
        setup_with("true");
}

static void teardown(void) {
        ops->destroy(be);
        floq_conf_destroy(conf);
}

/* Field 4 (ppid) or 5 (pgrp) of /proc/@p pid/stat. */
static long stat_field(pid_t pid, int field) {
        char path[64], buf[1024], *p;
        long v[2];
        FILE *f;
        size_t n;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        f = fopen(path, "r");
        ck_assert_msg(f != NULL, "no %s", path);
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        p = strrchr(buf, ')');
        ck_assert(p != NULL);
        ck_assert(sscanf(p + 2, "%*c %ld %ld", &v[0], &v[1]) == 2);
        return v[field - 4];
}

/* 1 when /proc/@p pid/@p name (NUL-separated) holds @p needle. */
static int proc_file_has(pid_t pid, const char *name, const char *needle) {
        char path[64], buf[65536];
        size_t n, i, nl = strlen(needle);
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
        f = fopen(path, "r");
        ck_assert_msg(f != NULL, "no %s", path);
        n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        for (i = 0; i + nl <= n; i++)
                if (!memcmp(buf + i, needle, nl))
                        return 1;
        return 0;
}

static long rss_kb(pid_t pid) {
        char path[64], line[256];
        long kb = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        f = fopen(path, "r");
        ck_assert(f != NULL);
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld", &kb) == 1)
                        break;
        fclose(f);
        return kb;
}

static floq_attempt_t *start_sleep(void) {
        json_t *spec = json_pack("{s:s, s:[s]}", "executable",
                                 "/usr/bin/sleep", "args", "30");
        floq_run_req_t req = { .run_id = "4b0c6a7e-3f5e-4f5e-9a53-0d3a4c1b2e11",
                               .deployment = "dep",
                               .attempt = 1,
                               .spec = spec,
                               .params = NULL };
        floq_attempt_t *att = NULL;
        char errstr[512];

        ck_assert_msg(ops->deploy(be, "dep", spec, errstr, sizeof(errstr)) ==
                              FLOQ_OK,
                      "deploy: %s", errstr);
        ck_assert_msg(ops->start(be, &req, &att, errstr, sizeof(errstr)) ==
                              FLOQ_OK,
                      "start: %s", errstr);
        json_decref(spec);
        return att;
}

static void stop_and_wait(floq_attempt_t *att) {
        int64_t end = floq_mono_ms() + 10000;
        floq_run_result_t res;

        ck_assert(ops->stop(be, att, FLOQ_STOP_CANCEL) == FLOQ_OK);
        memset(&res, 0, sizeof(res));
        while (ops->wait(be, att, 100, &res) == FLOQ_ERR_TIMED_OUT)
                ck_assert_msg(floq_mono_ms() < end, "attempt did not end");
        ck_assert_int_eq(res.outcome, FLOQ_OUTCOME_CANCELLED);
        floq_run_result_release(&res);
        ops->attempt_destroy(be, att);
}

static int spawner_here(void);

START_TEST(test_supervisor_is_not_a_fork) {
        floq_attempt_t *att;
        pid_t job, sup, parent;
        char path[64], exe[PATH_MAX], self[PATH_MAX];
        ssize_t n;

        if (_i == 1) { /* process.spawner false */
                teardown();
                setup_with("false");
        }
        att = start_sleep();
        job = (pid_t)atoi(ops->ref(be, att));
        sup = (pid_t)stat_field(job, 4);
        ck_assert_int_gt(job, 1);
        /* The supervisor is in a process group of its own and the job's
         * parent; its parent is the spawner, our child in a group of its
         * own, or without it ourselves. */
        parent = (pid_t)stat_field(sup, 4);
        if (_i == 0 && spawner_here()) {
                ck_assert_int_ne(parent, getpid());
                ck_assert_int_eq(stat_field(parent, 4), getpid());
                ck_assert_int_eq(stat_field(parent, 5), parent);
                ck_assert_msg(proc_file_has(parent, "comm", "floq-spawner"),
                              "the supervisor's parent is no spawner");
        } else {
                ck_assert_int_eq(parent, getpid());
        }
        ck_assert_int_eq(stat_field(sup, 5), sup);
        snprintf(path, sizeof(path), "/proc/%d/exe", (int)sup);
        n = readlink(path, exe, sizeof(exe) - 1);
        ck_assert(n > 0);
        exe[n] = '\0';
        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        ck_assert(n > 0);
        self[n] = '\0';
        /* A fork() would run this test binary's image. */
        ck_assert_msg(strcmp(exe, self) != 0,
                      "the supervisor is a fork of the worker (%s)", exe);
        ck_assert_msg(strstr(exe, "floq-supervise") != NULL,
                      "supervisor runs '%s'", exe);
        /* The job's environment (FLOQ_RUN_ID, ...) is the job's alone:
         * not in the supervisor's environment, where a scan of
         * /proc/PID/environ would take it for the job, nor in its
         * command line, which every user can read. */
        ck_assert_msg(proc_file_has(sup, "environ", "FLOQ_RUN_ID") == 0,
                      "the supervisor's environment has the job's");
        ck_assert_msg(proc_file_has(sup, "cmdline", "FLOQ_RUN_ID") == 0,
                      "the supervisor's command line has the job's env");
        ck_assert_msg(proc_file_has(job, "environ", "FLOQ_RUN_ID=") == 1,
                      "the job lacks FLOQ_RUN_ID");
        stop_and_wait(att);
}
END_TEST

static void on_usr2(int sig) {
        (void)sig;
}

/*
 * The job starts with no signal ignored, caught or blocked, whatever the
 * worker has (SIGPIPE ignored, a handler): through the spawner and
 * without it (the supervisors skip resetting the dispositions, which
 * their own start already did).
 */
START_TEST(test_job_signals_default) {
        json_t *spec;
        floq_run_req_t req = { .run_id = "4b0c6a7e-3f5e-4f5e-9a53-0d3a4c1b2e11",
                               .deployment = "dep",
                               .attempt = 1 };
        int64_t end = floq_mono_ms() + 10000;
        floq_attempt_t *att = NULL;
        floq_run_result_t res;
        unsigned long long ign;
        char errstr[512];
        const char *p;

        ck_assert(signal(SIGPIPE, SIG_IGN) != SIG_ERR);
        ck_assert(signal(SIGUSR2, on_usr2) != SIG_ERR);
        teardown();
        setup_with(_i == 0 ? "true" : "false");
        spec = json_pack("{s:s, s:[s]}", "executable", "/usr/bin/cat",
                         "args", "/proc/self/status");
        req.spec = spec;
        ck_assert_msg(ops->deploy(be, "dep", spec, errstr, sizeof(errstr)) ==
                              FLOQ_OK,
                      "deploy: %s", errstr);
        ck_assert_msg(ops->start(be, &req, &att, errstr, sizeof(errstr)) ==
                              FLOQ_OK,
                      "start: %s", errstr);
        memset(&res, 0, sizeof(res));
        while (ops->wait(be, att, 100, &res) == FLOQ_ERR_TIMED_OUT)
                ck_assert_msg(floq_mono_ms() < end, "attempt did not end");
        ck_assert_int_eq(res.outcome, FLOQ_OUTCOME_SUCCEEDED);
        ck_assert(res.output_tail != NULL);
        /* Signals 32 and 33 are glibc's own (below SIGRTMIN): its
         * posix_spawn() leaves them ignored, and no program may use
         * them. */
        p = strstr(res.output_tail, "SigIgn:\t");
        ck_assert(p != NULL);
        ign = strtoull(p + 8, NULL, 16) & ~0x180000000ULL;
        ck_assert_msg(ign == 0, "%s", res.output_tail);
        ck_assert_msg(strstr(res.output_tail, "SigCgt:\t0000000000000000"),
                      "%s", res.output_tail);
        ck_assert_msg(strstr(res.output_tail, "SigBlk:\t0000000000000000"),
                      "%s", res.output_tail);
        floq_run_result_release(&res);
        ops->attempt_destroy(be, att);
        json_decref(spec);
}
END_TEST

static void nap_ms(long ms) {
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

        nanosleep(&ts, NULL);
}

static void wait_dead(pid_t pid, int64_t ms, const char *what) {
        int64_t end = floq_mono_ms() + ms;

        while (!test_pid_dead(pid)) {
                if (floq_mono_ms() >= end) {
                        (void)kill(pid, SIGKILL);
                        ck_abort_msg("%s (pid %d) still alive", what,
                                     (int)pid);
                }
                nap_ms(5);
        }
}

/* 1 when this process can use the spawner: it needs pidfd_open(), which
 * valgrind (3.19) does not implement, so under valgrind the backend falls
 * back to posix_spawn() per attempt and the tests check that instead. */
static int spawner_here(void) {
        int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);

        if (fd < 0)
                return 0;
        close(fd);
        return 1;
}

/* The spawner of this process: the parent of a live attempt's
 * supervisor. */
static pid_t spawner_of(floq_attempt_t *att) {
        pid_t job = (pid_t)atoi(ops->ref(be, att));
        pid_t sp = (pid_t)stat_field((pid_t)stat_field(job, 4), 4);

        ck_assert_msg(sp != getpid() && proc_file_has(sp, "comm",
                                                       "floq-spawner"),
                      "attempt not started by the spawner");
        return sp;
}

/*
 * The spawner holds nothing of the worker: /dev/null as stdio, its
 * socket, its signalfd and the control pipe of each live attempt; a
 * descriptor the worker left without close-on-exec (fd 77) is closed
 * (it was passed to the spawner before its close_range()).
 */
/* Without pidfds (valgrind): the fallback, the supervisor our child. */
static int no_spawner_fallback(void) {
        floq_attempt_t *att;
        pid_t job;

        if (spawner_here())
                return 0;
        att = start_sleep();
        job = (pid_t)atoi(ops->ref(be, att));
        ck_assert_int_eq(stat_field((pid_t)stat_field(job, 4), 4), getpid());
        stop_and_wait(att);
        fprintf(stderr, "%s: no pidfd_open() here: the fallback checked, "
                        "not the spawner\n", __func__);
        return 1;
}

START_TEST(test_spawner_holds_nothing) {
        floq_attempt_t *att;
        char path[64];
        struct dirent *de;
        DIR *d;
        int fd, pipes = 0;
        pid_t sp;

        if (no_spawner_fallback())
                return;

        fd = open("/dev/null", O_RDONLY);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(dup2(fd, 77), 77);
        close(fd);
        teardown();
        setup();
        att = start_sleep();
        sp = spawner_of(att);
        snprintf(path, sizeof(path), "/proc/%d/fd", (int)sp);
        d = opendir(path);
        ck_assert(d != NULL);
        while ((de = readdir(d))) {
                char link[PATH_MAX + 64], to[PATH_MAX];
                ssize_t n;

                if (de->d_name[0] == '.')
                        continue;
                fd = atoi(de->d_name);
                snprintf(link, sizeof(link), "%s/%s", path, de->d_name);
                n = readlink(link, to, sizeof(to) - 1);
                to[n > 0 ? n : 0] = '\0';
                if (fd <= 2)
                        ck_assert_msg(!strcmp(to, "/dev/null"),
                                      "spawner fd %d: %s", fd, to);
                else if (fd == 3)
                        ck_assert_msg(!strncmp(to, "socket:", 7),
                                      "spawner fd 3: %s", to);
                else if (!strncmp(to, "pipe:", 5))
                        pipes++;
                else
                        ck_assert_msg(!strcmp(to, "anon_inode:[signalfd]"),
                                      "spawner holds fd %d: %s", fd, to);
        }
        closedir(d);
        ck_assert_int_le(pipes, 1);
        stop_and_wait(att);
        close(77);
}
END_TEST

/*
 * kill -9 of the spawner while an attempt runs: that attempt ends (its
 * supervisor dies with the spawner and takes the job with it) and is
 * reported as failed, and the next attempt starts, with posix_spawn().
 */
START_TEST(test_spawner_killed) {
        int64_t end = floq_mono_ms() + 10000;
        floq_run_result_t res;
        floq_attempt_t *att;
        pid_t job, sp;

        if (no_spawner_fallback())
                return;
        att = start_sleep();
        job = (pid_t)atoi(ops->ref(be, att));
        sp = spawner_of(att);

        ck_assert_int_eq(kill(sp, SIGKILL), 0);
        memset(&res, 0, sizeof(res));
        while (ops->wait(be, att, 100, &res) == FLOQ_ERR_TIMED_OUT)
                ck_assert_msg(floq_mono_ms() < end, "attempt did not end");
        ck_assert_int_eq(res.outcome, FLOQ_OUTCOME_FAILED);
        ck_assert_msg(res.reason && strstr(res.reason, "parent died"),
                      "reason: %s", res.reason ? res.reason : "(none)");
        floq_run_result_release(&res);
        ops->attempt_destroy(be, att);
        wait_dead(job, 5000, "the job");
        /* The next one starts all the same, its supervisor our child. */
        att = start_sleep();
        job = (pid_t)atoi(ops->ref(be, att));
        ck_assert_int_eq(stat_field((pid_t)stat_field(job, 4), 4),
                         getpid());
        stop_and_wait(att);
        wait_dead(job, 5000, "the second job");
}
END_TEST

/*
 * The worker (a process standing in for it, with a backend of its own)
 * is SIGKILLed: its spawner dies with it, and so do the attempt's
 * supervisor and job.
 */
START_TEST(test_spawner_dies_with_worker) {
        pid_t mid, pids[3];
        int st, out[2];

        ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
        ck_assert_int_eq(pipe(out), 0);
        mid = fork();
        ck_assert_int_ge(mid, 0);
        if (mid == 0) {
                floq_attempt_t *att;
                pid_t p[3];

                close(out[0]);
                teardown();
                setup();
                att = start_sleep();
                p[2] = (pid_t)atoi(ops->ref(be, att));
                p[1] = (pid_t)stat_field(p[2], 4);
                p[0] = (pid_t)stat_field(p[1], 4);
                if (write(out[1], p, sizeof(p)) != (ssize_t)sizeof(p))
                        _exit(3);
                for (;;)
                        pause();
        }
        close(out[1]);
        ck_assert_int_eq(read(out[0], pids, sizeof(pids)),
                         (ssize_t)sizeof(pids));
        close(out[0]);
        if (!spawner_here()) {
                /* the fallback: the supervisor is the worker's child */
                ck_assert_int_eq(pids[0], mid);
        } else {
                ck_assert_int_eq(stat_field(pids[0], 4), mid);
                ck_assert_msg(proc_file_has(pids[0], "comm", "floq-spawner"),
                              "no spawner");
        }
        ck_assert_int_eq(kill(mid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(mid, &st, 0), mid);
        if (pids[0] != mid)
                wait_dead(pids[0], 5000, "the spawner");
        wait_dead(pids[1], 5000, "the supervisor");
        wait_dead(pids[2], 5000, "the job");
}
END_TEST

START_TEST(test_supervisor_small_and_closed) {
        floq_attempt_t *att = start_sleep();
        pid_t job = (pid_t)atoi(ops->ref(be, att));
        pid_t sup = (pid_t)stat_field(job, 4);
        char path[64];
        struct dirent *de;
        DIR *d;
        int extra = 0;
        /* Memory the worker has (this test), and a fork would map. */
        size_t big = 64u << 20;
        char *hog = malloc(big);

        ck_assert(hog != NULL);
        memset(hog, 1, big);
        stop_and_wait(att);
        att = start_sleep();
        job = (pid_t)atoi(ops->ref(be, att));
        sup = (pid_t)stat_field(job, 4);
        ck_assert_msg(rss_kb(sup) < 16 * 1024,
                      "supervisor RSS %ld KiB: a copy of the worker",
                      rss_kb(sup));
        snprintf(path, sizeof(path), "/proc/%d/fd", (int)sup);
        d = opendir(path);
        ck_assert(d != NULL);
        /* stdio, control pipe, lease socket; beyond them only its own
         * signalfd, nothing of the worker (this test's 64 MiB and its
         * descriptors) */
        while ((de = readdir(d))) {
                char link[PATH_MAX + 64], to[PATH_MAX];
                ssize_t n;
                int fd = atoi(de->d_name);

                if (de->d_name[0] == '.' || fd <= 4)
                        continue;
                snprintf(link, sizeof(link), "%s/%s", path, de->d_name);
                n = readlink(link, to, sizeof(to) - 1);
                to[n > 0 ? n : 0] = '\0';
                ck_assert_msg(!strcmp(to, "anon_inode:[signalfd]"),
                              "supervisor holds fd %d: %s", fd, to);
                extra++;
        }
        closedir(d);
        ck_assert_int_le(extra, 1);
        stop_and_wait(att);
        free(hog);
}
END_TEST

int main(void) {
        Suite *s = suite_create("spawn");
        TCase *tc = tcase_create("supervisor");

        floq_log_setup("test_spawn", FLOQ_LOG_ERR, 0, stderr);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_loop_test(tc, test_supervisor_is_not_a_fork, 0, 2);
        tcase_add_test(tc, test_spawner_holds_nothing);
        tcase_add_loop_test(tc, test_job_signals_default, 0, 2);
        tcase_add_test(tc, test_spawner_killed);
        tcase_add_test(tc, test_spawner_dies_with_worker);
        tcase_add_test(tc, test_supervisor_small_and_closed);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
