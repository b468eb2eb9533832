/*
 * test_spawn.c - how the process backend starts an attempt's supervisor
 * (worker/backends/supervise.h): posix_spawn() of the embedded
 * floq-supervise program, not a fork() of the worker. The supervisor is
 * then a fresh image (its /proc/PID/exe the sealed memfd), holds no
 * descriptor of the worker beyond its stdio, control pipe and lease
 * socket, and is much smaller than the worker; and the isolation it sets
 * up still holds (its own process group, the job below it, a stop ends
 * both). test_process covers the rest of the backend.
 */
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/backend.h"
#include "test_util.h"

static floq_conf_t *conf;
static floq_backend_t *be;
static const floq_backend_ops_t *ops = &floq_backend_process;

static void setup(void) {
        char errstr[256];

        conf = floq_conf_new();
        ck_assert(conf != NULL);
        ck_assert(floq_conf_set(conf, "process.allowed.dirs", "/usr/bin",
                                errstr, sizeof(errstr)) == FLOQ_OK);
        ck_assert(floq_conf_set(conf, "process.kill.grace.ms", "300", errstr,
                                sizeof(errstr)) == FLOQ_OK);
        be = ops->new_(conf, errstr, sizeof(errstr));
        ck_assert_msg(be != NULL, "new: %s", errstr);
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

START_TEST(test_supervisor_is_not_a_fork) {
        floq_attempt_t *att = start_sleep();
        pid_t job = (pid_t)atoi(ops->ref(be, att));
        pid_t sup = (pid_t)stat_field(job, 4);
        char path[64], exe[PATH_MAX], self[PATH_MAX];
        ssize_t n;

        ck_assert_int_gt(job, 1);
        /* The supervisor is our child, in a process group of its own, and
         * the job's parent. */
        ck_assert_int_eq(stat_field(sup, 4), getpid());
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
        tcase_add_test(tc, test_supervisor_is_not_a_fork);
        tcase_add_test(tc, test_supervisor_small_and_closed);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
