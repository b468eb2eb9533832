/*
 * test_executor.c - unit tests of the attempt pool (worker/executor.c)
 * driving the real process backend with the /bin/sh scripts of
 * tests/unit/data/: the concurrency bound, one live attempt per run_id,
 * STARTED-then-FINISHED events, start failures, timeouts, stop and
 * stop_all, destroy with attempts still running, the wakeup fd and the deep
 * copy of requests. Tests run from the repository root; every wait is a
 * condition with a deadline.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "executor.h"
#include "test_util.h"

static char data_dir[PATH_MAX];
static char tmp_dir[PATH_MAX];
static floq_conf_t *conf;
static floq_backend_t *be;

static const char *const ids[] = {
        "00000000-0000-4000-8000-000000000001",
        "00000000-0000-4000-8000-000000000002",
        "00000000-0000-4000-8000-000000000003",
        "00000000-0000-4000-8000-000000000004",
};

/* ------------------------------------------------------------- helpers */

static void setup(void) {
        char dirs[PATH_MAX + 8], tmpl[] = "/tmp/floq-test-executor-XXXXXX",
                                 errstr[256];

        ck_assert_msg(realpath("tests/unit/data", data_dir) != NULL,
                      "tests must run from the repository root");
        ck_assert(mkdtemp(tmpl) != NULL);
        ck_assert(realpath(tmpl, tmp_dir) != NULL);
        conf = floq_conf_new();
        ck_assert(conf != NULL);
        snprintf(dirs, sizeof(dirs), "%s", data_dir);
        ck_assert(floq_conf_set(conf, "process.allowed.dirs", dirs, errstr,
                                sizeof(errstr)) == FLOQ_OK);
        ck_assert(floq_conf_set(conf, "process.kill.grace.ms", "200", errstr,
                                sizeof(errstr)) == FLOQ_OK);
        be = floq_backend_process.new_(conf, errstr, sizeof(errstr));
        ck_assert_msg(be != NULL, "%s", errstr);
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw) {
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path);
}

static void teardown(void) {
        floq_backend_process.destroy(be);
        be = NULL;
        floq_conf_destroy(conf);
        conf = NULL;
        nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void nap_ms(long ms) {
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

        nanosleep(&ts, NULL);
}

static json_t *script_spec(const char *name, const char *arg1,
                           const char *arg2) {
        char exe[PATH_MAX + 64], errstr[256];
        json_t *args = json_array(), *spec;

        snprintf(exe, sizeof(exe), "%s/%s", data_dir, name);
        if (arg1)
                json_array_append_new(args, json_string(arg1));
        if (arg2)
                json_array_append_new(args, json_string(arg2));
        spec = json_pack("{s:s, s:o}", "executable", exe, "args", args);
        ck_assert_msg(floq_backend_process.deploy(be, "dep", spec, errstr,
                                                  sizeof(errstr)) == FLOQ_OK,
                      "%s", errstr);
        return spec;
}

/* A sleep.sh run writing its pid to tmp_dir/pid-<n>. */
static json_t *sleep_spec(int n, char *pidf, size_t size) {
        snprintf(pidf, size, "%s/pid-%d", tmp_dir, n);
        return script_spec("sleep.sh", pidf, "60");
}

static floq_err_t submit(floq_executor_t *ex, const char *run_id,
                         const json_t *spec, const json_t *params,
                         int64_t timeout_ms, void *opaque) {
        floq_run_req_t req = { .run_id = run_id,
                               .deployment = "dep",
                               .attempt = 1,
                               .spec = spec,
                               .params = params,
                               .timeout_ms = timeout_ms };
        char errstr[256];

        return floq_executor_submit(ex, be, &req, opaque, errstr,
                                    sizeof(errstr));
}

/* The next event within @p ms, or a test failure. */
static void next_event(floq_executor_t *ex, floq_exec_event_t *ev, int ms) {
        memset(ev, 0, sizeof(*ev));
        ck_assert_msg(floq_executor_next_event(ex, ev, ms) == 1,
                      "no event within %d ms", ms);
}

/* Take events until the FINISHED one of @p run_id; returns its result
 * (caller releases). STARTED must come first. */
static floq_run_result_t finish_of(floq_executor_t *ex, const char *run_id,
                                   int ms) {
        int64_t end = floq_mono_ms() + ms;
        floq_exec_event_t ev;
        floq_run_result_t res;

        for (;;) {
                int left = (int)(end - floq_mono_ms());

                ck_assert_msg(left > 0, "run %s did not finish", run_id);
                next_event(ex, &ev, left);
                if (ev.type == FLOQ_EXEC_FINISHED &&
                    !strcmp(ev.run_id, run_id)) {
                        res = ev.result;
                        memset(&ev.result, 0, sizeof(ev.result));
                        floq_exec_event_release(&ev);
                        return res;
                }
                floq_exec_event_release(&ev);
        }
}

/* Take events until @p n FINISHED ones, each with @p outcome; returns how
 * many STARTED events came along. */
static int finish_all(floq_executor_t *ex, int n, floq_outcome_t outcome,
                      int ms) {
        int64_t end = floq_mono_ms() + ms;
        floq_exec_event_t ev;
        int started = 0;

        while (n > 0) {
                int left = (int)(end - floq_mono_ms());

                ck_assert_msg(left > 0, "%d runs did not finish", n);
                next_event(ex, &ev, left);
                if (ev.type == FLOQ_EXEC_STARTED) {
                        started++;
                } else {
                        ck_assert_msg(ev.result.outcome == outcome,
                                      "%s: %s (%s)", ev.run_id,
                                      floq_outcome_name(ev.result.outcome),
                                      ev.result.reason);
                        n--;
                }
                floq_exec_event_release(&ev);
        }
        return started;
}

static pid_t read_pid(const char *path) {
        int64_t end = floq_mono_ms() + 5000;
        char buf[32] = "";
        FILE *f;

        while (!(f = fopen(path, "r"))) {
                ck_assert_msg(floq_mono_ms() < end, "'%s' did not appear",
                              path);
                nap_ms(5);
        }
        ck_assert(fgets(buf, sizeof(buf), f) != NULL);
        fclose(f);
        ck_assert_int_gt(atoi(buf), 1);
        return (pid_t)atoi(buf);
}

static int pid_gone(pid_t pid) {
        return kill(pid, 0) == -1 && errno == ESRCH;
}

/* --------------------------------------------------------------- tests */

START_TEST(test_new_args) {
        char errstr[128];

        ck_assert_ptr_null(floq_executor_new(0, -1, errstr, sizeof(errstr)));
        ck_assert_msg(strstr(errstr, "concurrency"), "%s", errstr);
        floq_executor_destroy(NULL);
        ck_assert_str_eq(floq_outcome_name(FLOQ_OUTCOME_TIMED_OUT),
                         "TIMED_OUT");
        ck_assert_str_eq(floq_outcome_name(FLOQ_OUTCOME_ABANDONED),
                         "ABANDONED");
}
END_TEST

START_TEST(test_events_order) {
        floq_executor_t *ex = floq_executor_new(2, -1, NULL, 0);
        json_t *spec = script_spec("exit.sh", "0", NULL);
        floq_exec_event_t ev;
        int token;

        ck_assert_ptr_nonnull(ex);
        ck_assert_int_eq(floq_executor_next_event(ex, &ev, 0), 0);
        ck_assert_int_eq(submit(ex, ids[0], spec, NULL, 0, &token), FLOQ_OK);
        ck_assert_int_eq(floq_executor_active(ex), 1);
        ck_assert_int_eq(floq_executor_free_slots(ex), 1);

        next_event(ex, &ev, 10000);
        ck_assert_int_eq(ev.type, FLOQ_EXEC_STARTED);
        ck_assert_str_eq(ev.run_id, ids[0]);
        ck_assert_int_eq(ev.attempt, 1);
        ck_assert_ptr_eq(ev.opaque, &token);
        ck_assert_ptr_nonnull(ev.backend_ref);
        ck_assert_int_gt(atoi(ev.backend_ref), 1);
        floq_exec_event_release(&ev);

        next_event(ex, &ev, 10000);
        ck_assert_int_eq(ev.type, FLOQ_EXEC_FINISHED);
        ck_assert_str_eq(ev.run_id, ids[0]);
        ck_assert_ptr_eq(ev.opaque, &token);
        ck_assert_int_eq(ev.result.outcome, FLOQ_OUTCOME_SUCCEEDED);
        ck_assert_int_eq(ev.result.exit_code, 0);
        ck_assert_ptr_nonnull(ev.result.backend_ref);
        floq_exec_event_release(&ev);

        /* Taking FINISHED freed the slot and the run_id. */
        ck_assert_int_eq(floq_executor_active(ex), 0);
        ck_assert_int_eq(floq_executor_free_slots(ex), 2);
        ck_assert_int_eq(floq_executor_has(ex, ids[0]), 0);
        ck_assert_int_eq(floq_executor_next_event(ex, &ev, 0), 0);
        floq_executor_destroy(ex);
        json_decref(spec);
}
END_TEST

START_TEST(test_start_failure) {
        floq_executor_t *ex = floq_executor_new(1, -1, NULL, 0);
        json_t *spec = script_spec("argv.sh", "/dev/null", "{date}");
        floq_exec_event_t ev;

        ck_assert_int_eq(submit(ex, ids[0], spec, NULL, 0, NULL), FLOQ_OK);
        /* No STARTED: the FINISHED event carries the reason. */
        next_event(ex, &ev, 10000);
        ck_assert_int_eq(ev.type, FLOQ_EXEC_FINISHED);
        ck_assert_int_eq(ev.result.outcome, FLOQ_OUTCOME_FAILED);
        ck_assert_str_eq(ev.result.reason, "missing parameter 'date'");
        ck_assert_ptr_null(ev.backend_ref);
        floq_exec_event_release(&ev);
        ck_assert_int_eq(floq_executor_free_slots(ex), 1);
        floq_executor_destroy(ex);
        json_decref(spec);
}
END_TEST

START_TEST(test_concurrency_bound) {
        floq_executor_t *ex = floq_executor_new(2, -1, NULL, 0);
        char pidf[3][PATH_MAX + 32];
        json_t *spec[3];
        floq_run_result_t res;
        int i;

        for (i = 0; i < 3; i++)
                spec[i] = sleep_spec(i, pidf[i], sizeof(pidf[i]));
        ck_assert_int_eq(submit(ex, ids[0], spec[0], NULL, 0, NULL), FLOQ_OK);
        ck_assert_int_eq(submit(ex, ids[1], spec[1], NULL, 0, NULL), FLOQ_OK);
        ck_assert_int_eq(floq_executor_free_slots(ex), 0);
        ck_assert_int_eq(submit(ex, ids[2], spec[2], NULL, 0, NULL),
                         FLOQ_ERR_STATE);
        ck_assert_int_eq(floq_executor_active(ex), 2);
        ck_assert_int_eq(floq_executor_has(ex, ids[2]), 0);
        read_pid(pidf[0]);
        read_pid(pidf[1]);
        /* The refused one never ran. */
        ck_assert_int_eq(access(pidf[2], F_OK), -1);

        ck_assert_int_eq(floq_executor_stop(ex, ids[0], FLOQ_STOP_CANCEL),
                         FLOQ_OK);
        res = finish_of(ex, ids[0], 10000);
        ck_assert_int_eq(res.outcome, FLOQ_OUTCOME_CANCELLED);
        floq_run_result_release(&res);
        /* Taking its FINISHED event freed one slot. */
        ck_assert_int_eq(floq_executor_free_slots(ex), 1);
        ck_assert_int_eq(submit(ex, ids[2], spec[2], NULL, 0, NULL), FLOQ_OK);
        ck_assert_int_eq(floq_executor_free_slots(ex), 0);
        read_pid(pidf[2]);
        floq_executor_stop_all(ex, FLOQ_STOP_CANCEL);
        finish_all(ex, 2, FLOQ_OUTCOME_CANCELLED, 10000);
        ck_assert_int_eq(floq_executor_free_slots(ex), 2);
        floq_executor_destroy(ex);
        for (i = 0; i < 3; i++)
                json_decref(spec[i]);
}
END_TEST

START_TEST(test_duplicate_run_id) {
        floq_executor_t *ex = floq_executor_new(4, -1, NULL, 0);
        char pidf[PATH_MAX + 32], errstr[256];
        json_t *spec = sleep_spec(0, pidf, sizeof(pidf));
        floq_run_req_t req = { .run_id = ids[0], .deployment = "dep",
                               .attempt = 2, .spec = spec };
        floq_run_result_t res;

        ck_assert_int_eq(submit(ex, ids[0], spec, NULL, 0, NULL), FLOQ_OK);
        ck_assert_int_eq(floq_executor_has(ex, ids[0]), 1);
        ck_assert_int_eq(floq_executor_submit(ex, be, &req, NULL, errstr,
                                              sizeof(errstr)),
                         FLOQ_ERR_STATE);
        ck_assert_msg(strstr(errstr, ids[0]), "%s", errstr);
        ck_assert_int_eq(floq_executor_active(ex), 1);
        ck_assert_int_eq(floq_executor_stop(ex, ids[1], FLOQ_STOP_CANCEL),
                         FLOQ_ERR_NOT_FOUND);
        ck_assert_int_eq(floq_executor_stop(ex, ids[0], FLOQ_STOP_CANCEL),
                         FLOQ_OK);
        /* Until its FINISHED event is taken, the run is still live. */
        {
                int64_t end = floq_mono_ms() + 10000;
                floq_exec_event_t ev;
                int finished = 0;

                while (!finished) {
                        next_event(ex, &ev, (int)(end - floq_mono_ms()));
                        if (ev.type == FLOQ_EXEC_STARTED) {
                                ck_assert_int_eq(
                                        floq_executor_has(ex, ids[0]), 1);
                        } else {
                                finished = 1;
                                ck_assert_int_eq(ev.result.outcome,
                                                 FLOQ_OUTCOME_CANCELLED);
                        }
                        floq_exec_event_release(&ev);
                }
        }
        ck_assert_int_eq(floq_executor_has(ex, ids[0]), 0);
        ck_assert_int_eq(floq_executor_stop(ex, ids[0], FLOQ_STOP_CANCEL),
                         FLOQ_ERR_NOT_FOUND);
        /* A new attempt of the run may start now. */
        unlink(pidf);
        ck_assert_int_eq(floq_executor_submit(ex, be, &req, NULL, errstr,
                                              sizeof(errstr)),
                         FLOQ_OK);
        read_pid(pidf);
        floq_executor_stop(ex, ids[0], FLOQ_STOP_CANCEL);
        res = finish_of(ex, ids[0], 10000);
        floq_run_result_release(&res);
        floq_executor_destroy(ex);
        json_decref(spec);
}
END_TEST

START_TEST(test_timeout) {
        floq_executor_t *ex = floq_executor_new(2, -1, NULL, 0);
        char pidf[PATH_MAX + 32], ready[PATH_MAX + 32];
        json_t *spec = sleep_spec(0, pidf, sizeof(pidf));
        json_t *stubborn;
        floq_run_result_t res;
        int64_t t0 = floq_mono_ms();

        ck_assert_int_eq(submit(ex, ids[0], spec, NULL, 300, NULL), FLOQ_OK);
        res = finish_of(ex, ids[0], 10000);
        ck_assert_int_ge(floq_mono_ms() - t0, 300);
        ck_assert_int_eq(res.outcome, FLOQ_OUTCOME_TIMED_OUT);
        ck_assert_int_eq(res.term_signal, SIGTERM);
        floq_run_result_release(&res);

        /* One that ignores SIGTERM: killed after the 200 ms grace. */
        snprintf(ready, sizeof(ready), "%s/ready", tmp_dir);
        stubborn = script_spec("ignore_term.sh", ready, NULL);
        t0 = floq_mono_ms();
        ck_assert_int_eq(submit(ex, ids[1], stubborn, NULL, 300, NULL),
                         FLOQ_OK);
        res = finish_of(ex, ids[1], 10000);
        ck_assert_int_ge(floq_mono_ms() - t0, 500);
        ck_assert_int_eq(res.outcome, FLOQ_OUTCOME_TIMED_OUT);
        ck_assert_int_eq(res.term_signal, SIGKILL);
        floq_run_result_release(&res);
        floq_executor_destroy(ex);
        json_decref(spec);
        json_decref(stubborn);
}
END_TEST

START_TEST(test_stop_all) {
        floq_executor_t *ex = floq_executor_new(4, -1, NULL, 0);
        char pidf[3][PATH_MAX + 32];
        json_t *spec[3];
        pid_t pid[3];
        int i, started;

        for (i = 0; i < 3; i++) {
                spec[i] = sleep_spec(i, pidf[i], sizeof(pidf[i]));
                ck_assert_int_eq(submit(ex, ids[i], spec[i], NULL, 0, NULL),
                                 FLOQ_OK);
        }
        for (i = 0; i < 3; i++)
                pid[i] = read_pid(pidf[i]);
        floq_executor_stop_all(ex, FLOQ_STOP_DRAIN);
        started = finish_all(ex, 3, FLOQ_OUTCOME_ABANDONED, 10000);
        ck_assert_int_eq(started, 3);
        ck_assert_int_eq(floq_executor_active(ex), 0);
        for (i = 0; i < 3; i++) {
                ck_assert(pid_gone(pid[i]));
                json_decref(spec[i]);
        }
        floq_executor_destroy(ex);
}
END_TEST

START_TEST(test_destroy_live) {
        floq_executor_t *ex = floq_executor_new(4, -1, NULL, 0);
        char pidf[2][PATH_MAX + 32];
        json_t *spec[2];
        pid_t pid[2];
        int64_t t0;

        spec[0] = sleep_spec(0, pidf[0], sizeof(pidf[0]));
        snprintf(pidf[1], sizeof(pidf[1]), "%s/ready", tmp_dir);
        spec[1] = script_spec("ignore_term.sh", pidf[1], NULL);
        ck_assert_int_eq(submit(ex, ids[0], spec[0], NULL, 0, NULL), FLOQ_OK);
        ck_assert_int_eq(submit(ex, ids[1], spec[1], NULL, 0, NULL), FLOQ_OK);
        pid[0] = read_pid(pidf[0]);
        {
                /* ignore_term.sh writes "ready", not its pid: take the
                 * pid from the STARTED events instead. */
                floq_exec_event_t ev;
                int64_t end = floq_mono_ms() + 10000;
                int got = 0;

                pid[1] = 0;
                while (got < 2) {
                        next_event(ex, &ev, (int)(end - floq_mono_ms()));
                        if (ev.type == FLOQ_EXEC_STARTED &&
                            !strcmp(ev.run_id, ids[1]))
                                pid[1] = (pid_t)atoi(ev.backend_ref);
                        got += ev.type == FLOQ_EXEC_STARTED;
                        floq_exec_event_release(&ev);
                }
        }
        ck_assert_int_gt(pid[1], 1);
        /* Its TERM trap is in place once the file has content. */
        t0 = floq_mono_ms();
        for (;;) {
                struct stat st;

                if (stat(pidf[1], &st) == 0 && st.st_size > 0)
                        break;
                ck_assert_msg(floq_mono_ms() - t0 < 5000, "not ready");
                nap_ms(5);
        }
        /* Events left in the queue are dropped by destroy. */
        t0 = floq_mono_ms();
        floq_executor_destroy(ex);
        ck_assert_int_lt(floq_mono_ms() - t0, 5000);
        ck_assert(pid_gone(pid[0]));
        ck_assert(pid_gone(pid[1]));
        json_decref(spec[0]);
        json_decref(spec[1]);
}
END_TEST

START_TEST(test_wakeup_fd) {
        floq_executor_t *ex;
        json_t *spec = script_spec("exit.sh", "0", NULL);
        floq_run_result_t res;
        struct pollfd pfd;
        int fds[2], n = 0;
        char buf[16];
        ssize_t r;

        ck_assert_int_eq(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
        ex = floq_executor_new(1, fds[1], NULL, 0);
        ck_assert_int_eq(submit(ex, ids[0], spec, NULL, 0, NULL), FLOQ_OK);
        pfd.fd = fds[0];
        pfd.events = POLLIN;
        ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
        res = finish_of(ex, ids[0], 10000);
        floq_run_result_release(&res);
        /* One byte per event: STARTED and FINISHED. */
        while ((r = read(fds[0], buf, sizeof(buf))) > 0)
                n += (int)r;
        ck_assert_int_eq(n, 2);
        floq_executor_destroy(ex);
        close(fds[0]);
        close(fds[1]);
        json_decref(spec);
}
END_TEST

START_TEST(test_request_deep_copied) {
        floq_executor_t *ex = floq_executor_new(1, -1, NULL, 0);
        char out[PATH_MAX + 32], buf[64] = "";
        json_t *spec, *params;
        floq_run_result_t res;
        char run_id[37];
        FILE *f;

        snprintf(out, sizeof(out), "%s/argv.txt", tmp_dir);
        spec = script_spec("argv.sh", out, "{day}");
        params = json_pack("{s:s}", "day", "monday");
        strcpy(run_id, ids[0]);
        ck_assert_int_eq(submit(ex, run_id, spec, params, 0, NULL), FLOQ_OK);
        /* The caller's request is its own again at once. */
        json_object_set_new(params, "day", json_string("sunday"));
        json_array_clear(json_object_get(spec, "args"));
        json_decref(spec);
        json_decref(params);
        memset(run_id, 'x', 36);
        res = finish_of(ex, ids[0], 10000);
        ck_assert_msg(res.outcome == FLOQ_OUTCOME_SUCCEEDED, "%s",
                      res.reason);
        floq_run_result_release(&res);
        f = fopen(out, "r");
        ck_assert(f != NULL);
        ck_assert(fgets(buf, sizeof(buf), f) != NULL);
        fclose(f);
        ck_assert_str_eq(buf, "monday\n");
        floq_executor_destroy(ex);
}
END_TEST

START_TEST(test_bad_submit) {
        floq_executor_t *ex = floq_executor_new(1, -1, NULL, 0);
        floq_run_req_t req = { .run_id = "not-a-uuid-but-far-too-long-to-be-"
                                         "one-at-all",
                               .deployment = "dep" };
        char errstr[128];

        ck_assert_int_eq(floq_executor_submit(ex, be, &req, NULL, errstr,
                                              sizeof(errstr)),
                         FLOQ_ERR_INVALID_ARG);
        req.run_id = NULL;
        ck_assert_int_eq(floq_executor_submit(ex, be, &req, NULL, errstr,
                                              sizeof(errstr)),
                         FLOQ_ERR_INVALID_ARG);
        ck_assert_int_eq(floq_executor_active(ex), 0);
        floq_executor_destroy(ex);
}
END_TEST

static Suite *executor_suite(void) {
        Suite *s = suite_create("executor");
        TCase *tc = tcase_create("pool");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_new_args);
        tcase_add_test(tc, test_events_order);
        tcase_add_test(tc, test_start_failure);
        tcase_add_test(tc, test_concurrency_bound);
        tcase_add_test(tc, test_duplicate_run_id);
        tcase_add_test(tc, test_timeout);
        tcase_add_test(tc, test_stop_all);
        tcase_add_test(tc, test_destroy_live);
        tcase_add_test(tc, test_wakeup_fd);
        tcase_add_test(tc, test_request_deep_copied);
        tcase_add_test(tc, test_bad_submit);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(executor_suite());
}
