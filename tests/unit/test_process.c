/*
 * test_process.c - unit tests of the process backend (worker/backends/
 * process.c) against real child processes: the executable allowlist, argv
 * substitution without a shell, the environment allowlist, outcomes, the
 * TERM -> grace -> KILL sequence, process-group cleanup, the bounded output
 * tail, rlimits, exec failures and PR_SET_PDEATHSIG. Attempts started by
 * the test process go through the spawner (the default), those started by
 * a fork of it (standing in for a worker that dies) without it;
 * test_spawn covers the spawner itself. The jobs are the small
 * /bin/sh scripts of tests/unit/data/; tests run from the repository root.
 * Nothing sleeps for a fixed time: every wait is a condition with a deadline.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backends/backend.h"
#include "test_util.h"

/* Under valgrind, rlimits and exec failures of the child are emulated
 * (RLIMIT_NOFILE only changes valgrind's view; a failed execve() past its
 * checks kills the child): those assertions are skipped there. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

static char data_dir[PATH_MAX];
static char tmp_dir[PATH_MAX];
static floq_conf_t *conf;
static floq_backend_t *be;
static const floq_backend_ops_t *ops = &floq_backend_process;

#define RUN_ID "4b0c6a7e-3f5e-4f5e-9a53-0d3a4c1b2e11"

/* ------------------------------------------------------------- helpers */

static void conf_set(const char *name, const char *value) {
        char errstr[256];

        ck_assert_msg(floq_conf_set(conf, name, value, errstr,
                                    sizeof(errstr)) == FLOQ_OK,
                      "set %s: %s", name, errstr);
}

/* (Re)create the backend from the current conf. */
static void backend_renew(void) {
        char errstr[256];

        if (be)
                ops->destroy(be);
        be = ops->new_(conf, errstr, sizeof(errstr));
        ck_assert_msg(be != NULL, "new: %s", errstr);
}

static void setup(void) {
        char dirs[2 * PATH_MAX + 2], tmpl[] = "/tmp/floq-test-process-XXXXXX";

        ck_assert_msg(realpath("tests/unit/data", data_dir) != NULL,
                      "tests must run from the repository root");
        ck_assert(mkdtemp(tmpl) != NULL);
        ck_assert(realpath(tmpl, tmp_dir) != NULL);
        conf = floq_conf_new();
        ck_assert(conf != NULL);
        snprintf(dirs, sizeof(dirs), "%s:%s", data_dir, tmp_dir);
        conf_set("process.allowed.dirs", dirs);
        conf_set("process.env.allow", "PATH,TEST_ALLOWED_VAR,?TEST_OPT_VAR");
        conf_set("process.env.spec.allow", "GREETING,TEST_ALLOWED_VAR");
        conf_set("process.kill.grace.ms", "300");
        be = NULL;
        backend_renew();
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw) {
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path);
}

static void teardown(void) {
        if (be)
                ops->destroy(be);
        be = NULL;
        floq_conf_destroy(conf);
        conf = NULL;
        nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void tmp_path(char *buf, size_t size, const char *name) {
        snprintf(buf, size, "%s/%s", tmp_dir, name);
}

static void nap_ms(long ms) {
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

        nanosleep(&ts, NULL);
}

/* Wait until @p path exists with content; fails the test at the deadline. */
static void wait_file(const char *path, int64_t ms) {
        int64_t end = floq_mono_ms() + ms;
        struct stat st;

        while (stat(path, &st) == -1 || st.st_size == 0) {
                ck_assert_msg(floq_mono_ms() < end, "'%s' did not appear",
                              path);
                nap_ms(5);
        }
}

/* The whole file as a string (caller frees), or NULL. */
static char *slurp(const char *path) {
        FILE *f = fopen(path, "r");
        char *buf = NULL;
        size_t len = 0;

        if (!f)
                return NULL;
        {
                FILE *m = open_memstream(&buf, &len);
                int c;

                while ((c = fgetc(f)) != EOF)
                        fputc(c, m);
                fclose(m);
        }
        fclose(f);
        return buf;
}

static pid_t read_pid(const char *path) {
        char *s;
        pid_t pid;

        wait_file(path, 5000);
        s = slurp(path);
        ck_assert(s != NULL);
        pid = (pid_t)atoi(s);
        free(s);
        ck_assert_int_gt(pid, 1);
        return pid;
}

/* A spec for script @p name of tests/unit/data with string args. */
static json_t *script_spec(const char *name, const char *arg1,
                           const char *arg2) {
        char exe[PATH_MAX + 64];
        json_t *args = json_array();

        snprintf(exe, sizeof(exe), "%s/%s", data_dir, name);
        if (arg1)
                json_array_append_new(args, json_string(arg1));
        if (arg2)
                json_array_append_new(args, json_string(arg2));
        return json_pack("{s:s, s:o}", "executable", exe, "args", args);
}

static floq_err_t deploy(json_t *spec, char *errstr, size_t size) {
        errstr[0] = '\0';
        return ops->deploy(be, "dep", spec, errstr, size);
}

static floq_attempt_t *start_ok(json_t *spec, const json_t *params) {
        floq_run_req_t req = { .run_id = RUN_ID,
                               .deployment = "dep",
                               .attempt = 1,
                               .spec = spec,
                               .params = params };
        floq_attempt_t *att = NULL;
        char errstr[512];

        ck_assert_msg(deploy(spec, errstr, sizeof(errstr)) == FLOQ_OK,
                      "deploy: %s", errstr);
        ck_assert_msg(ops->start(be, &req, &att, errstr, sizeof(errstr)) ==
                              FLOQ_OK,
                      "start: %s", errstr);
        ck_assert(att != NULL);
        return att;
}

/* wait() until the attempt ends; fails the test after @p ms. */
static void wait_end(floq_attempt_t *att, floq_run_result_t *res, int64_t ms) {
        int64_t end = floq_mono_ms() + ms;
        floq_err_t err;

        memset(res, 0, sizeof(*res));
        while ((err = ops->wait(be, att, 100, res)) == FLOQ_ERR_TIMED_OUT)
                ck_assert_msg(floq_mono_ms() < end, "attempt did not end");
        ck_assert_int_eq(err, FLOQ_OK);
}

/* Start, wait, destroy: the result of a whole run. */
static void run_to_end(json_t *spec, const json_t *params,
                       floq_run_result_t *res) {
        floq_attempt_t *att = start_ok(spec, params);

        wait_end(att, res, 20000);
        ops->attempt_destroy(be, att);
}

static void expect_rejected(json_t *spec, const char *needle) {
        char errstr[512];

        ck_assert_int_eq(deploy(spec, errstr, sizeof(errstr)),
                         FLOQ_ERR_REJECTED);
        ck_assert_msg(strstr(errstr, needle), "'%s' not in '%s'", needle,
                      errstr);
        json_decref(spec);
}

/* Is @p pid gone? With this process as subreaper, orphans of a job come
 * back to us as zombies: reap them so they count as gone. */
static int pid_gone(pid_t pid) {
        int st;

        (void)waitpid(pid, &st, WNOHANG);
        return kill(pid, 0) == -1 && errno == ESRCH;
}

static void wait_pid_gone(pid_t pid, int64_t ms) {
        int64_t end = floq_mono_ms() + ms;

        while (!pid_gone(pid)) {
                ck_assert_msg(floq_mono_ms() < end, "pid %d still alive",
                              (int)pid);
                nap_ms(5);
        }
}

/* ----------------------------------------------------------- allowlist */

START_TEST(test_allow_inside) {
        json_t *spec = script_spec("exit.sh", "0", NULL);
        char errstr[512];

        json_object_del(spec, "args");
        ck_assert_msg(deploy(spec, errstr, sizeof(errstr)) == FLOQ_OK, "%s",
                      errstr);
        /* Normalised: "args" is always there. */
        ck_assert(json_is_array(json_object_get(spec, "args")));
        ck_assert_int_eq(ops->validate(be, spec, errstr, sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(ops->validate(be, NULL, errstr, sizeof(errstr)),
                         FLOQ_OK);
        json_decref(spec);
}
END_TEST

START_TEST(test_allow_outside) {
        char errstr[512];
        json_t *spec = json_pack("{s:s}", "executable", "/bin/sh");

        ck_assert_int_eq(deploy(spec, errstr, sizeof(errstr)),
                         FLOQ_ERR_REJECTED);
        ck_assert_msg(strstr(errstr, "executable '/bin/sh'") &&
                              strstr(errstr, "outside the allowed "
                                             "directories") &&
                              strstr(errstr, data_dir),
                      "%s", errstr);
        json_decref(spec);
}
END_TEST

START_TEST(test_allow_symlink_escape) {
        char link[PATH_MAX + 64];
        json_t *spec;

        tmp_path(link, sizeof(link), "true-link");
        ck_assert_int_eq(symlink("/bin/true", link), 0);
        spec = json_pack("{s:s}", "executable", link);
        expect_rejected(spec, "outside the allowed directories");
        /* And a ".." path that leaves the allowed directory. */
        snprintf(link, sizeof(link), "%s/../../../../../../../../bin/true",
                 data_dir);
        expect_rejected(json_pack("{s:s}", "executable", link),
                        "outside the allowed directories");
}
END_TEST

START_TEST(test_allow_symlink_inside) {
        char link[PATH_MAX + 32], target[PATH_MAX + 32], errstr[512];
        json_t *spec;

        /* A symlink that stays inside the allowlist is fine. */
        tmp_path(link, sizeof(link), "exit-link");
        snprintf(target, sizeof(target), "%s/exit.sh", data_dir);
        ck_assert_int_eq(symlink(target, link), 0);
        spec = json_pack("{s:s, s:[s]}", "executable", link, "args", "0");
        ck_assert_msg(deploy(spec, errstr, sizeof(errstr)) == FLOQ_OK, "%s",
                      errstr);
        json_decref(spec);
}
END_TEST

START_TEST(test_allow_relative) {
        expect_rejected(json_pack("{s:s}", "executable",
                                  "tests/unit/data/exit.sh"),
                        "must be an absolute path");
}
END_TEST

START_TEST(test_allow_missing) {
        char path[PATH_MAX + 32];

        snprintf(path, sizeof(path), "%s/no-such-job", data_dir);
        expect_rejected(json_pack("{s:s}", "executable", path),
                        "No such file or directory");
}
END_TEST

START_TEST(test_allow_not_executable) {
        char path[PATH_MAX + 32];

        snprintf(path, sizeof(path), "%s/not_executable.txt", data_dir);
        expect_rejected(json_pack("{s:s}", "executable", path),
                        "is not executable");
        /* A directory is not a regular file. */
        expect_rejected(json_pack("{s:s}", "executable", tmp_dir),
                        "is not a regular file");
}
END_TEST

START_TEST(test_allow_empty_config) {
        char errstr[512];
        json_t *spec = script_spec("exit.sh", "0", NULL);

        conf_set("process.allowed.dirs", "");
        backend_renew();
        expect_rejected(json_incref(spec), "process.allowed.dirs");
        ck_assert_int_eq(ops->validate(be, NULL, errstr, sizeof(errstr)),
                         FLOQ_ERR_CONFIG);
        ck_assert_msg(strstr(errstr, "process.allowed.dirs"), "%s", errstr);

        conf_set("process.allowed.dirs", "/no/such/dir");
        backend_renew();
        ck_assert_int_eq(ops->validate(be, NULL, errstr, sizeof(errstr)),
                         FLOQ_ERR_CONFIG);
        ck_assert_msg(strstr(errstr, "/no/such/dir"), "%s", errstr);
        json_decref(spec);
}
END_TEST

START_TEST(test_spec_errors) {
        char exe[PATH_MAX + 32];

        snprintf(exe, sizeof(exe), "%s/exit.sh", data_dir);
        expect_rejected(json_pack("{s:s, s:s}", "executable", exe, "shell",
                                  "bash"),
                        "unknown key 'shell'");
        expect_rejected(json_pack("{s:s, s:s}", "executable", exe, "args",
                                  "--date"),
                        "'args' must be an array of strings");
        expect_rejected(json_pack("{s:s, s:[i]}", "executable", exe, "args",
                                  1),
                        "args[0] must be a string");
        expect_rejected(json_pack("{s:s, s:[s]}", "executable", exe, "args",
                                  "{1date}"),
                        "args[0]: invalid placeholder");
        expect_rejected(json_pack("{s:s, s:[ss]}", "executable", exe, "args",
                                  "ok", "a}b"),
                        "args[1]: unmatched '}'");
        expect_rejected(json_pack("{s:s, s:{s:s}}", "executable", exe, "env",
                                  "LD_PRELOAD", "/tmp/evil.so"),
                        "'LD_PRELOAD' may not be set");
        expect_rejected(json_pack("{s:s, s:{s:s}}", "executable", exe, "env",
                                  "BASH_ENV", "/tmp/evil"),
                        "'BASH_ENV' may not be set");
        expect_rejected(json_pack("{s:s, s:{s:s}}", "executable", exe, "env",
                                  "A=B", "x"),
                        "not a valid variable name");
        expect_rejected(json_pack("{s:s, s:i}", "executable", exe,
                                  "timeout_ms", -5),
                        "'timeout_ms' must be a non-negative integer");
        expect_rejected(json_pack("{s:s, s:s}", "executable", exe, "cwd",
                                  "relative"),
                        "'cwd' must be an absolute path");
        expect_rejected(json_pack("{s:s}", "args", "x"),
                        "'executable' (an absolute path) is required");
        expect_rejected(json_pack("[s]", "x"), "must be a JSON object");
}
END_TEST

/* ---------------------------------------------------------- parameters */

START_TEST(test_params_verbatim) {
        char out[PATH_MAX + 32], *got;
        const char *nasty = "a b; rm -rf / && echo `id` $(id) $HOME | cat";
        const char *quotes = "it's \"quoted\" \\ and * ? [x] ~";
        char expect[1024];
        json_t *spec, *params;
        floq_run_result_t res;

        tmp_path(out, sizeof(out), "argv.txt");
        spec = json_pack("{s:s+, s:[sssssss]}", "executable", data_dir,
                         "/argv.sh", "args", out, "{nasty}", "pre-{q}-post",
                         "{{literal}} }}", "two words", "{n}{b}",
                         "--date={date}");
        params = json_pack("{s:s, s:s, s:i, s:b, s:s}", "nasty", nasty, "q",
                           quotes, "n", 42, "b", 1, "date", "2026-11-23");
        run_to_end(spec, params, &res);
        ck_assert_msg(res.outcome == FLOQ_OUTCOME_SUCCEEDED, "%s",
                      res.reason);
        got = slurp(out);
        ck_assert(got != NULL);
        snprintf(expect, sizeof(expect),
                 "%s\npre-%s-post\n{literal} }\ntwo words\n42true\n"
                 "--date=2026-11-23\n",
                 nasty, quotes);
        ck_assert_str_eq(got, expect);
        free(got);
        floq_run_result_release(&res);
        json_decref(spec);
        json_decref(params);
}
END_TEST

START_TEST(test_params_missing) {
        floq_run_req_t req = { .run_id = RUN_ID, .deployment = "dep",
                               .attempt = 1 };
        floq_attempt_t *att = NULL;
        char errstr[512];
        json_t *spec = script_spec("argv.sh", "/dev/null", "--date={date}");
        json_t *params = json_pack("{s:s}", "other", "x");

        ck_assert_int_eq(deploy(spec, errstr, sizeof(errstr)), FLOQ_OK);
        req.spec = spec;
        req.params = params;
        ck_assert_int_eq(ops->start(be, &req, &att, errstr, sizeof(errstr)),
                         FLOQ_ERR_INVALID_ARG);
        ck_assert_ptr_null(att);
        ck_assert_str_eq(errstr, "missing parameter 'date'");
        /* No params object at all. */
        req.params = NULL;
        ck_assert_int_eq(ops->start(be, &req, &att, errstr, sizeof(errstr)),
                         FLOQ_ERR_INVALID_ARG);
        ck_assert_str_eq(errstr, "missing parameter 'date'");
        json_decref(spec);
        json_decref(params);
}
END_TEST

/* ---------------------------------------------------------- environment */

static int env_has(const char *env, const char *line) {
        size_t n = strlen(line);
        const char *p = env;

        while (p && *p) {
                if (!strncmp(p, line, n) && (p[n] == '\n' || p[n] == '\0'))
                        return 1;
                p = strchr(p, '\n');
                if (p)
                        p++;
        }
        return 0;
}

static int env_has_name(const char *env, const char *name) {
        size_t n = strlen(name);
        const char *p = env;

        while (p && *p) {
                if (!strncmp(p, name, n) && p[n] == '=')
                        return 1;
                p = strchr(p, '\n');
                if (p)
                        p++;
        }
        return 0;
}

START_TEST(test_env_allowlist) {
        floq_run_req_t req = { .run_id = RUN_ID, .deployment = "nightly",
                               .attempt = 2,
                               .scheduled_for = 1795430400000LL };
        char out[PATH_MAX + 32], errstr[512], *env;
        floq_attempt_t *att = NULL;
        floq_run_result_t res;
        json_t *spec, *params;

        setenv("TEST_SECRET_TOKEN", "s3cret", 1);
        setenv("TEST_ALLOWED_VAR", "visible", 1);
        setenv("TEST_OPT_VAR", "on-request", 1);
        tmp_path(out, sizeof(out), "env.txt");
        spec = script_spec("env.sh", out, NULL);
        json_object_set_new(spec, "env",
                            json_pack("{s:s, s:s}", "GREETING",
                                      "hello {who}", "TEST_ALLOWED_VAR",
                                      "overridden"));
        json_object_set_new(spec, "env_allow",
                            json_pack("[ss]", "TEST_OPT_VAR",
                                      "TEST_SECRET_TOKEN"));
        params = json_pack("{s:s}", "who", "world; echo $HOME");
        ck_assert_int_eq(deploy(spec, errstr, sizeof(errstr)), FLOQ_OK);
        req.spec = spec;
        req.params = params;
        ck_assert_msg(ops->start(be, &req, &att, errstr, sizeof(errstr)) ==
                              FLOQ_OK,
                      "%s", errstr);
        wait_end(att, &res, 10000);
        ops->attempt_destroy(be, att);
        ck_assert_msg(res.outcome == FLOQ_OUTCOME_SUCCEEDED, "%s",
                      res.reason);
        env = slurp(out);
        ck_assert(env != NULL);
        ck_assert_msg(env_has(env, "FLOQ_RUN_ID=" RUN_ID), "%s", env);
        ck_assert(env_has(env, "FLOQ_DEPLOYMENT=nightly"));
        ck_assert(env_has(env, "FLOQ_ATTEMPT=2"));
        ck_assert(env_has(env, "FLOQ_SCHEDULED_FOR=2026-11-23T10:40:00.000Z"));
        ck_assert(env_has(env, "GREETING=hello world; echo $HOME"));
        /* The spec's explicit value wins over the worker's. */
        ck_assert(env_has(env, "TEST_ALLOWED_VAR=overridden"));
        ck_assert(env_has(env, "TEST_OPT_VAR=on-request"));
        ck_assert_msg(!strstr(env, "s3cret"), "secret leaked: %s", env);
        ck_assert(!env_has_name(env, "TEST_SECRET_TOKEN"));
        free(env);
        floq_run_result_release(&res);

        /* Without env_allow the optional variable stays behind, and a
         * worker variable the spec does not override comes through. */
        json_object_del(spec, "env_allow");
        json_object_del(spec, "env");
        req.scheduled_for = 0;
        ck_assert_int_eq(ops->start(be, &req, &att, errstr, sizeof(errstr)),
                         FLOQ_OK);
        wait_end(att, &res, 10000);
        ops->attempt_destroy(be, att);
        env = slurp(out);
        ck_assert(env != NULL);
        ck_assert(env_has(env, "TEST_ALLOWED_VAR=visible"));
        ck_assert(!env_has_name(env, "TEST_OPT_VAR"));
        ck_assert(!env_has_name(env, "TEST_SECRET_TOKEN"));
        ck_assert(!env_has_name(env, "FLOQ_SCHEDULED_FOR"));
        free(env);
        floq_run_result_release(&res);
        json_decref(spec);
        json_decref(params);
}
END_TEST

START_TEST(test_fds_and_stdin) {
        char out[PATH_MAX + 32], *got, *p;
        floq_run_result_t res;
        json_t *spec;
        int fd;

        /* A descriptor of the worker without FD_CLOEXEC must not leak,
         * through the spawner (its default, 0) or without it (1); the
         * backend made after it, so that the spawner had it too. */
        fd = open("/dev/null", O_RDONLY);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(dup2(fd, 77), 77);
        close(fd);
        if (_i == 1)
                conf_set("process.spawner", "false");
        backend_renew();
        tmp_path(out, sizeof(out), "fds.txt");
        spec = script_spec("fds.sh", out, NULL);
        run_to_end(spec, NULL, &res);
        ck_assert_msg(res.outcome == FLOQ_OUTCOME_SUCCEEDED, "%s",
                      res.reason);
        got = slurp(out);
        ck_assert(got != NULL);
        ck_assert_msg(!env_has(got, "77"), "fd 77 leaked: %s", got);
        ck_assert(env_has(got, "0") && env_has(got, "1") && env_has(got, "2"));
        ck_assert_msg(strstr(got, "stdin:eof"), "%s", got);
        /* Nothing but stdio and the shell's own descriptors. */
        for (p = got; *p; p = strchr(p, '\n') + 1) {
                int n = atoi(p);

                if (!strncmp(p, "stdin:", 6))
                        break;
                /* 3: the glob's directory; 10+: dash's script fd. */
                ck_assert_msg(n <= 3 || n >= 10, "unexpected fd %d: %s", n,
                              got);
        }
        free(got);
        close(77);
        floq_run_result_release(&res);
        json_decref(spec);
}
END_TEST

/* ------------------------------------------------------------- outcomes */

START_TEST(test_exit_codes) {
        floq_run_result_t res;
        json_t *spec = script_spec("exit.sh", "0", NULL);
        char pid[32];

        run_to_end(spec, NULL, &res);
        ck_assert_int_eq(res.outcome, FLOQ_OUTCOME_SUCCEEDED);
        ck_assert_int_eq(res.exit_code, 0);
        ck_assert_int_eq(res.term_signal, 0);
        ck_assert_ptr_nonnull(res.backend_ref);
        snprintf(pid, sizeof(pid), "%d", atoi(res.backend_ref));
        ck_assert_str_eq(pid, res.backend_ref);
        floq_run_result_release(&res);
        json_decref(spec);

        spec = script_spec("exit.sh", "3", NULL);
        run_to_end(spec, NULL, &res);
        ck_assert_int_eq(res.outcome, FLOQ_OUTCOME_FAILED);
        ck_assert_int_eq(res.exit_code, 3);
        ck_assert_str_eq(res.reason, "exited with status 3");
        floq_run_result_release(&res);
        json_decref(spec);
}
END_TEST

START_TEST(test_signal_death) {
        floq_run_result_t res;
        json_t *spec = script_spec("selfkill.sh", "SEGV", NULL);

        run_to_end(spec, NULL, &res);
        ck_assert_int_eq(res.outcome, FLOQ_OUTCOME_FAILED);
        ck_assert_int_eq(res.term_signal, SIGSEGV);
        ck_assert_int_eq(res.exit_code, -1);
        ck_assert_msg(!strncmp(res.reason, "killed by signal SIGSEGV", 24),
                      "%s", res.reason);
        floq_run_result_release(&res);
        json_decref(spec);
}
END_TEST

START_TEST(test_timeout_term_then_kill) {
        char out[PATH_MAX + 32], ready[PATH_MAX + 64], *got;
        floq_attempt_t *att;
        floq_run_result_t res;
        int64_t t0;
        json_t *spec;

        tmp_path(out, sizeof(out), "term.txt");
        snprintf(ready, sizeof(ready), "%s.ready", out);
        spec = script_spec("term.sh", out, NULL);
        att = start_ok(spec, NULL);
        wait_file(ready, 5000);
        t0 = floq_mono_ms();
        ck_assert_int_eq(ops->stop(be, att, FLOQ_STOP_TIMEOUT), FLOQ_OK);
        /* Idempotent; the first reason stays. */
        ck_assert_int_eq(ops->stop(be, att, FLOQ_STOP_CANCEL), FLOQ_OK);
        wait_end(att, &res, 10000);
        ck_assert_int_ge(floq_mono_ms() - t0, 300 - 5);
        ck_assert_int_eq(res.outcome, FLOQ_OUTCOME_TIMED_OUT);
        ck_assert_int_eq(res.term_signal, SIGKILL);
        ck_assert_msg(strstr(res.reason, "timed out") &&
                              strstr(res.reason, "SIGKILL"),
                      "%s", res.reason);
        got = slurp(out);
        ck_assert_msg(got && strstr(got, "term"), "TERM not seen first");
        free(got);
        ops->attempt_destroy(be, att);
        floq_run_result_release(&res);
        json_decref(spec);
}
END_TEST

START_TEST(test_timeout_ignore_term) {
        char ready[PATH_MAX + 32];
        floq_attempt_t *att;
        floq_run_result_t res;
        json_t *spec;

        tmp_path(ready, sizeof(ready), "ready");
        spec = script_spec("ignore_term.sh", ready, NULL);
        /* The spec's own grace period and timeout. */
        json_object_set_new(spec, "grace_ms", json_integer(100));
        json_object_set_new(spec, "timeout_ms", json_integer(200));
        att = start_ok(spec, NULL);
        wait_file(ready, 5000);
        wait_end(att, &res, 10000);
        ck_assert_int_eq(res.outcome, FLOQ_OUTCOME_TIMED_OUT);
        ck_assert_int_eq(res.term_signal, SIGKILL);
        ops->attempt_destroy(be, att);
        floq_run_result_release(&res);
        json_decref(spec);
}
END_TEST

START_TEST(test_stop_cancel) {
        char pidf[PATH_MAX + 32];
        floq_attempt_t *att;
        floq_run_result_t res;
        json_t *spec;
        pid_t pid;

        tmp_path(pidf, sizeof(pidf), "pid");
        spec = script_spec("sleep.sh", pidf, "60");
        att = start_ok(spec, NULL);
        pid = read_pid(pidf);
        ck_assert_int_eq(pid, atoi(ops->ref(be, att)));
        /* Still running. */
        ck_assert_int_eq(ops->wait(be, att, 0, &res), FLOQ_ERR_TIMED_OUT);
        ck_assert_int_eq(ops->stop(be, att, FLOQ_STOP_CANCEL), FLOQ_OK);
        wait_end(att, &res, 10000);
        ck_assert_int_eq(res.outcome, FLOQ_OUTCOME_CANCELLED);
        ck_assert_int_eq(res.term_signal, SIGTERM);
        ck_assert_msg(strstr(res.reason, "cancelled"), "%s", res.reason);
        ck_assert(pid_gone(pid));
        /* stop() after the end is harmless. */
        ck_assert_int_eq(ops->stop(be, att, FLOQ_STOP_CANCEL), FLOQ_OK);
        ops->attempt_destroy(be, att);
        floq_run_result_release(&res);
        json_decref(spec);
}
END_TEST

START_TEST(test_stop_drain) {
        char pidf[PATH_MAX + 32];
        floq_attempt_t *att;
        floq_run_result_t res;
        json_t *spec;

        tmp_path(pidf, sizeof(pidf), "pid");
        spec = script_spec("sleep.sh", pidf, "60");
        att = start_ok(spec, NULL);
        read_pid(pidf);
        ops->stop(be, att, FLOQ_STOP_DRAIN);
        wait_end(att, &res, 10000);
        ck_assert_int_eq(res.outcome, FLOQ_OUTCOME_ABANDONED);
        ops->attempt_destroy(be, att);
        floq_run_result_release(&res);
        json_decref(spec);
}
END_TEST

START_TEST(test_grandchildren_killed) {
        char pidf[PATH_MAX + 32];
        floq_run_result_t res;
        json_t *spec;
        pid_t gpid;

        /* Orphans of the job come back to this process (reap them). */
        ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
        tmp_path(pidf, sizeof(pidf), "gpid");
        spec = script_spec("grandchild.sh", pidf, NULL);
        run_to_end(spec, NULL, &res);
        ck_assert_msg(res.outcome == FLOQ_OUTCOME_SUCCEEDED, "%s",
                      res.reason);
        gpid = read_pid(pidf);
        wait_pid_gone(gpid, 5000);
        floq_run_result_release(&res);
        json_decref(spec);
}
END_TEST

START_TEST(test_destroy_running_attempt) {
        char pidf[PATH_MAX + 32];
        floq_attempt_t *att;
        json_t *spec;
        pid_t pid;

        tmp_path(pidf, sizeof(pidf), "pid");
        spec = script_spec("sleep.sh", pidf, "60");
        att = start_ok(spec, NULL);
        pid = read_pid(pidf);
        ops->attempt_destroy(be, att);
        ck_assert(pid_gone(pid));
        json_decref(spec);
}
END_TEST

/* ---------------------------------------------------------------- output */

START_TEST(test_output_tail_bounded) {
        const long count = 2000000;
        floq_run_result_t res;
        char *full, *p;
        size_t full_len = 0, tail_len;
        json_t *spec;
        long i;
        FILE *m;

        conf_set("process.output.max.bytes", "4096");
        backend_renew();
        spec = script_spec("bigout.sh", "2000000", NULL);
        run_to_end(spec, NULL, &res);
        ck_assert_msg(res.outcome == FLOQ_OUTCOME_SUCCEEDED, "%s",
                      res.reason);
        ck_assert_ptr_nonnull(res.output_tail);
        tail_len = strlen(res.output_tail);
        ck_assert_uint_le(tail_len, 4096);
        ck_assert_uint_ge(tail_len, 4000);
        /* Exactly the end of what seq printed. */
        m = open_memstream(&full, &full_len);
        for (i = 1; i <= count; i++)
                fprintf(m, "%ld\n", i);
        fclose(m);
        ck_assert_uint_gt(full_len, 10u * 1024 * 1024);
        p = full + full_len - tail_len;
        ck_assert_msg(!memcmp(p, res.output_tail, tail_len),
                      "tail is not the end of the output");
        free(full);
        floq_run_result_release(&res);
        json_decref(spec);
}
END_TEST

START_TEST(test_output_stderr_merged) {
        char path[PATH_MAX + 32];
        floq_run_result_t res;
        json_t *spec;
        FILE *f;

        /* A script written here: prints to both streams in order, and a
         * byte that is not UTF-8 (the tail must stay valid UTF-8). */
        tmp_path(path, sizeof(path), "both.sh");
        f = fopen(path, "w");
        ck_assert(f != NULL);
        fputs("#!/bin/sh\necho one\necho two >&2\nprintf 'x\\377y\\n'\n"
              "echo three\nexit 1\n",
              f);
        fclose(f);
        ck_assert_int_eq(chmod(path, 0755), 0);
        spec = json_pack("{s:s}", "executable", path);
        run_to_end(spec, NULL, &res);
        ck_assert_int_eq(res.outcome, FLOQ_OUTCOME_FAILED);
        ck_assert_str_eq(res.output_tail, "one\ntwo\nx?y\nthree\n");
        floq_run_result_release(&res);
        json_decref(spec);
}
END_TEST

/* --------------------------------------------------------------- limits */

START_TEST(test_rlimit_nofile) {
        char out[PATH_MAX + 32], *got;
        floq_run_result_t res;
        json_t *spec;

        conf_set("process.rlimit.nofile", "77");
        backend_renew();
        tmp_path(out, sizeof(out), "ulimit.txt");
        spec = script_spec("ulimit.sh", out, NULL);
        run_to_end(spec, NULL, &res);
        ck_assert_msg(res.outcome == FLOQ_OUTCOME_SUCCEEDED, "%s",
                      res.reason);
        got = slurp(out);
        ck_assert(got != NULL);
        if (!RUNNING_ON_VALGRIND)
                ck_assert_str_eq(got, "77\n");
        free(got);
        floq_run_result_release(&res);
        json_decref(spec);
}
END_TEST

START_TEST(test_cwd) {
        char out[PATH_MAX + 32], path[PATH_MAX + 32], *got;
        floq_run_result_t res;
        json_t *spec;
        FILE *f;

        tmp_path(path, sizeof(path), "pwd.sh");
        f = fopen(path, "w");
        ck_assert(f != NULL);
        fputs("#!/bin/sh\npwd -P > \"$1\"\n", f);
        fclose(f);
        ck_assert_int_eq(chmod(path, 0755), 0);
        tmp_path(out, sizeof(out), "pwd.txt");
        spec = json_pack("{s:s, s:[s], s:s}", "executable", path, "args",
                         out, "cwd", data_dir);
        run_to_end(spec, NULL, &res);
        ck_assert_msg(res.outcome == FLOQ_OUTCOME_SUCCEEDED, "%s",
                      res.reason);
        got = slurp(out);
        ck_assert(got != NULL);
        got[strcspn(got, "\n")] = '\0';
        ck_assert_str_eq(got, data_dir);
        free(got);
        floq_run_result_release(&res);
        json_decref(spec);
}
END_TEST

START_TEST(test_exec_failure) {
        floq_run_req_t req = { .run_id = RUN_ID, .deployment = "dep",
                               .attempt = 1 };
        char path[PATH_MAX + 32], errstr[512], expect[PATH_MAX + 128];
        floq_attempt_t *att = NULL;
        json_t *spec;
        FILE *f;

        if (RUNNING_ON_VALGRIND)
                return;
        /* Executable, allowed, but its interpreter does not exist. */
        tmp_path(path, sizeof(path), "bad-interp.sh");
        f = fopen(path, "w");
        ck_assert(f != NULL);
        fputs("#!/nonexistent/interpreter\n", f);
        fclose(f);
        ck_assert_int_eq(chmod(path, 0755), 0);
        spec = json_pack("{s:s}", "executable", path);
        ck_assert_int_eq(deploy(spec, errstr, sizeof(errstr)), FLOQ_OK);
        req.spec = spec;
        ck_assert_int_eq(ops->start(be, &req, &att, errstr, sizeof(errstr)),
                         FLOQ_ERR_BACKEND);
        ck_assert_ptr_null(att);
        snprintf(expect, sizeof(expect),
                 "cannot execute '%s': No such file or directory", path);
        ck_assert_str_eq(errstr, expect);
        json_decref(spec);

        /* No "#!" and not a binary: execve() says ENOEXEC (no shell
         * fallback, unlike execvp()). */
        tmp_path(path, sizeof(path), "garbage");
        f = fopen(path, "w");
        ck_assert(f != NULL);
        fputs("echo this would need a shell\n", f);
        fclose(f);
        ck_assert_int_eq(chmod(path, 0755), 0);
        spec = json_pack("{s:s}", "executable", path);
        ck_assert_int_eq(deploy(spec, errstr, sizeof(errstr)), FLOQ_OK);
        req.spec = spec;
        ck_assert_int_eq(ops->start(be, &req, &att, errstr, sizeof(errstr)),
                         FLOQ_ERR_BACKEND);
        snprintf(expect, sizeof(expect), "cannot execute '%s': %s", path,
                 strerror(ENOEXEC));
        ck_assert_str_eq(errstr, expect);
        json_decref(spec);

        /* Removed after deploy: start() checks again. */
        unlink(path);
        spec = json_pack("{s:s}", "executable", path);
        req.spec = spec;
        ck_assert_int_eq(ops->start(be, &req, &att, errstr, sizeof(errstr)),
                         FLOQ_ERR_REJECTED);
        json_decref(spec);
}
END_TEST

/* ------------------------------------------------------------ pdeathsig */

/*
 * An intermediate process starts a run through the backend and then dies
 * (loop 0: _exit(), loop 1: SIGKILLed by us): PR_SET_PDEATHSIG must take
 * the job with it.
 */
START_TEST(test_pdeathsig) {
        char pidf[PATH_MAX + 32];
        json_t *spec;
        pid_t mid, job;
        int st, ready[2], go[2];
        char c;

        ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
        tmp_path(pidf, sizeof(pidf), "pid");
        spec = script_spec("sleep.sh", pidf, "120");
        ck_assert_int_eq(pipe(ready), 0);
        ck_assert_int_eq(pipe(go), 0);
        mid = fork();
        ck_assert_int_ge(mid, 0);
        if (mid == 0) {
                floq_attempt_t *att = NULL;
                floq_run_req_t req = { .run_id = RUN_ID,
                                       .deployment = "dep",
                                       .attempt = 1,
                                       .spec = spec };
                char errstr[256];

                close(ready[0]);
                close(go[1]);
                if (ops->start(be, &req, &att, errstr, sizeof(errstr)))
                        _exit(2);
                /* Tell the test the job runs, then wait for the word to
                 * die (or to be killed). */
                while (access(pidf, F_OK) == -1)
                        nap_ms(5);
                if (write(ready[1], "r", 1) != 1)
                        _exit(3);
                if (read(go[0], &c, 1) != 1)
                        _exit(4);
                _exit(0);
        }
        close(ready[1]);
        close(go[0]);
        ck_assert_int_eq(read(ready[0], &c, 1), 1);
        close(ready[0]);
        job = read_pid(pidf);
        ck_assert(!pid_gone(job));
        if (_i == 1)
                ck_assert_int_eq(kill(mid, SIGKILL), 0);
        else
                ck_assert_int_eq(write(go[1], "g", 1), 1);
        ck_assert_int_eq(waitpid(mid, &st, 0), mid);
        close(go[1]);
        wait_pid_gone(job, 5000);
        json_decref(spec);
}
END_TEST

/* --------------------------------------------------- the process tree */

/* The descendants of tests/unit/data/tree.sh, each writing <name>.pid. */
static const char *const tree_names[] = { "wrapper", "mid", "grandchild",
                                          "setsid", "child", NULL };
#define TREE_CNT 5

/* Wait for every pidfile of tree.sh in tmp_dir. */
static void read_tree(pid_t *pids) {
        char path[PATH_MAX + 32];
        int i;

        for (i = 0; tree_names[i]; i++) {
                snprintf(path, sizeof(path), "%s/%s.pid", tmp_dir,
                         tree_names[i]);
                pids[i] = read_pid(path);
        }
        /* The setsid one really left the job's session and group. */
        ck_assert_int_ne(getsid(pids[3]), getsid(pids[0]));
        ck_assert_int_ne(getpgid(pids[3]), getpgid(pids[0]));
}

/*
 * No descendant may survive: each must be gone within @p ms (kill -0 with
 * a deadline). Survivors are SIGKILLed before the test fails, so a failure
 * leaves nothing running.
 */
static void assert_tree_gone(const pid_t *pids, int64_t ms) {
        int64_t end = floq_mono_ms() + ms;
        char alive[256];
        int i, left;

        for (;;) {
                alive[0] = '\0';
                left = 0;
                for (i = 0; tree_names[i]; i++)
                        if (!test_pid_dead(pids[i])) {
                                left++;
                                snprintf(alive + strlen(alive),
                                         sizeof(alive) - strlen(alive),
                                         " %s(%d)", tree_names[i],
                                         (int)pids[i]);
                        }
                if (!left || floq_mono_ms() >= end)
                        break;
                nap_ms(5);
        }
        if (left)
                for (i = 0; tree_names[i]; i++)
                        if (!test_pid_dead(pids[i]))
                                (void)kill(pids[i], SIGKILL);
        ck_assert_msg(!left, "survived the attempt:%s", alive);
}

static json_t *tree_spec(void) {
        return script_spec("tree.sh", tmp_dir, NULL);
}

/* stop(): every descendant dies, including one that called setsid. */
START_TEST(test_tree_stop) {
        pid_t pids[TREE_CNT];
        floq_run_result_t res;
        floq_attempt_t *att;
        json_t *spec = tree_spec();

        att = start_ok(spec, NULL);
        read_tree(pids);
        /* The ref is the job's pid, not its supervisor's. */
        ck_assert_int_eq(atoi(ops->ref(be, att)), pids[0]);
        ck_assert_int_eq(ops->stop(be, att, FLOQ_STOP_CANCEL), FLOQ_OK);
        wait_end(att, &res, 10000);
        ck_assert_int_eq(res.outcome, FLOQ_OUTCOME_CANCELLED);
        assert_tree_gone(pids, 5000);
        ops->attempt_destroy(be, att);
        floq_run_result_release(&res);
        json_decref(spec);
}
END_TEST

/* The spec's timeout: the same. */
START_TEST(test_tree_timeout) {
        pid_t pids[TREE_CNT];
        floq_run_result_t res;
        floq_attempt_t *att;
        json_t *spec = tree_spec();

        json_object_set_new(spec, "timeout_ms", json_integer(2000));
        att = start_ok(spec, NULL);
        read_tree(pids);
        wait_end(att, &res, 15000);
        ck_assert_int_eq(res.outcome, FLOQ_OUTCOME_TIMED_OUT);
        assert_tree_gone(pids, 5000);
        ops->attempt_destroy(be, att);
        floq_run_result_release(&res);
        json_decref(spec);
}
END_TEST

/* The main process ends by itself: what it left behind (setsid too) goes. */
START_TEST(test_tree_main_exits) {
        pid_t pids[TREE_CNT];
        floq_run_result_t res;
        floq_attempt_t *att;
        json_t *spec = tree_spec();

        att = start_ok(spec, NULL);
        read_tree(pids);
        /* The wrapper's foreground child ends: the wrapper exits 0. */
        ck_assert_int_eq(kill(pids[4], SIGKILL), 0);
        wait_end(att, &res, 10000);
        ck_assert_msg(res.outcome == FLOQ_OUTCOME_SUCCEEDED, "%s",
                      res.reason);
        assert_tree_gone(pids, 5000);
        ops->attempt_destroy(be, att);
        floq_run_result_release(&res);
        json_decref(spec);
}
END_TEST

/*
 * The worker dies (a process standing in for it starts the attempt and
 * is SIGKILLed): the whole tree goes with it, not only its direct child.
 */
START_TEST(test_tree_worker_killed) {
        pid_t pids[TREE_CNT], mid;
        json_t *spec = tree_spec();
        int st, ready[2];
        char c, errstr[512];

        ck_assert_int_eq(deploy(spec, errstr, sizeof(errstr)), FLOQ_OK);
        ck_assert_int_eq(pipe(ready), 0);
        mid = fork();
        ck_assert_int_ge(mid, 0);
        if (mid == 0) {
                floq_attempt_t *att = NULL;
                floq_run_req_t req = { .run_id = RUN_ID,
                                       .deployment = "dep",
                                       .attempt = 1,
                                       .spec = spec };

                close(ready[0]);
                if (ops->start(be, &req, &att, errstr, sizeof(errstr)))
                        _exit(2);
                if (write(ready[1], "r", 1) != 1)
                        _exit(3);
                for (;;)
                        pause();
        }
        close(ready[1]);
        ck_assert_int_eq(read(ready[0], &c, 1), 1);
        close(ready[0]);
        read_tree(pids);
        ck_assert_int_eq(kill(mid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(mid, &st, 0), mid);
        assert_tree_gone(pids, 5000);
        json_decref(spec);
}
END_TEST

/* ------------------------------------------------------------ the lease */

#define LEASE_MS 1000
#define LEASE_NEEDLE "the worker stopped renewing its lease (process.lease.ms)"

/*
 * A stopped worker (issue 9, G2): a process standing in for the worker
 * starts tree.sh and renews its lease, then is SIGSTOPped (a zombie, as
 * in 0190): within lease + kill grace + a margin every descendant is
 * dead, while the worker is still stopped; after SIGCONT the worker's
 * wait() reports ABANDONED with the lease reason (handed over, no attempt
 * consumed).
 */
START_TEST(test_lease_worker_stopped) {
        pid_t pids[TREE_CNT], mid;
        json_t *spec = tree_spec();
        int st, ready[2], out[2];
        char c, errstr[512], reason[512];
        int64_t stopped_at, dead_in;
        floq_outcome_t outcome;
        ssize_t n;

        conf_set("process.lease.ms", "1000");
        backend_renew();
        ck_assert_int_eq(deploy(spec, errstr, sizeof(errstr)), FLOQ_OK);
        ck_assert_int_eq(pipe(ready), 0);
        ck_assert_int_eq(pipe(out), 0);
        mid = fork();
        ck_assert_int_ge(mid, 0);
        if (mid == 0) {
                floq_attempt_t *att = NULL;
                floq_run_req_t req = { .run_id = RUN_ID,
                                       .deployment = "dep",
                                       .attempt = 1,
                                       .spec = spec };
                floq_run_result_t res;
                floq_err_t err;

                close(ready[0]);
                close(out[0]);
                if (ops->start(be, &req, &att, errstr, sizeof(errstr)))
                        _exit(2);
                if (write(ready[1], "r", 1) != 1)
                        _exit(3);
                memset(&res, 0, sizeof(res));
                while ((err = ops->wait(be, att, 100, &res)) ==
                       FLOQ_ERR_TIMED_OUT)
                        ;
                if (err)
                        _exit(4);
                snprintf(reason, sizeof(reason), "%s",
                         res.reason ? res.reason : "");
                outcome = res.outcome;
                if (write(out[1], &outcome, sizeof(outcome)) !=
                            (ssize_t)sizeof(outcome) ||
                    write(out[1], reason, strlen(reason) + 1) < 1)
                        _exit(5);
                _exit(0);
        }
        close(ready[1]);
        close(out[1]);
        ck_assert_int_eq(read(ready[0], &c, 1), 1);
        close(ready[0]);
        read_tree(pids);
        /* The worker's pid alone, as a debugger, a frozen VM or the
         * fault test do (not its process group: see docs/backends.md). */
        ck_assert_int_eq(kill(mid, SIGSTOP), 0);
        ck_assert_int_eq(waitpid(mid, &st, WUNTRACED), mid);
        ck_assert(WIFSTOPPED(st));
        stopped_at = floq_mono_ms();
        assert_tree_gone(pids, LEASE_MS + 300 + 3000);
        dead_in = floq_mono_ms() - stopped_at;
        /* Not before the lease could have expired (a renewal may have
         * come just before the stop, or up to lease / 4 earlier). */
        ck_assert_msg(dead_in >= LEASE_MS * 3 / 4 - 50,
                      "killed %lld ms after the stop", (long long)dead_in);
        /* Still stopped: the supervisor did it alone. */
        ck_assert_int_eq(waitpid(mid, &st, WNOHANG), 0);
        ck_assert_int_eq(kill(mid, SIGCONT), 0);
        ck_assert_int_eq(read(out[0], &outcome, sizeof(outcome)),
                         (ssize_t)sizeof(outcome));
        n = read(out[0], reason, sizeof(reason) - 1);
        ck_assert_int_gt(n, 0);
        reason[n] = '\0';
        close(out[0]);
        ck_assert_int_eq(waitpid(mid, &st, 0), mid);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                      "stand-in status %d", st);
        ck_assert_msg(outcome == FLOQ_OUTCOME_ABANDONED, "outcome %d: %s",
                      (int)outcome, reason);
        ck_assert_msg(strstr(reason, LEASE_NEEDLE), "reason: %s", reason);
        json_decref(spec);
}
END_TEST

/* A healthy worker renews: a lease much shorter than the job never stops
 * it (the job runs 2 s, ten leases of 200 ms). */
START_TEST(test_lease_renewed_job_runs) {
        char pidfile[PATH_MAX + 32];
        floq_run_result_t res;
        json_t *spec;
        int64_t t0, took;

        conf_set("process.lease.ms", "200");
        backend_renew();
        tmp_path(pidfile, sizeof(pidfile), "sleep.pid");
        spec = script_spec("sleep.sh", pidfile, "2");
        t0 = floq_mono_ms();
        run_to_end(spec, NULL, &res);
        took = floq_mono_ms() - t0;
        ck_assert_msg(res.outcome == FLOQ_OUTCOME_SUCCEEDED, "%d: %s",
                      (int)res.outcome, res.reason ? res.reason : "");
        ck_assert_int_ge(took, 2000);
        floq_run_result_release(&res);
        json_decref(spec);
}
END_TEST

/* The timing rule: lease + kill grace + heartbeat interval + skew below
 * the heartbeat timeout, or the backend (and so the worker) refuses to
 * start, naming the keys; the default lease is a third of the timeout. */
START_TEST(test_lease_rule) {
        char errstr[512] = "";
        floq_backend_t *b;

        conf_set("worker.heartbeat.timeout.ms", "9000");
        conf_set("worker.heartbeat.interval.ms", "1000");
        conf_set("worker.clock.skew.ms", "500");
        conf_set("process.kill.grace.ms", "1000");
        conf_set("process.lease.ms", "6500");
        b = ops->new_(conf, errstr, sizeof(errstr));
        ck_assert_ptr_null(b);
        ck_assert_msg(strstr(errstr, "process.lease.ms (6500)") &&
                              strstr(errstr, "process.kill.grace.ms (1000)") &&
                              strstr(errstr,
                                     "worker.heartbeat.timeout.ms (9000)"),
                      "%s", errstr);
        conf_set("process.lease.ms", "6499");
        b = ops->new_(conf, errstr, sizeof(errstr));
        ck_assert_msg(b != NULL, "%s", errstr);
        ops->destroy(b);
        /* Default: 9000 / 3. */
        conf_set("process.lease.ms", "0");
        b = ops->new_(conf, errstr, sizeof(errstr));
        ck_assert_msg(b != NULL, "%s", errstr);
        ops->destroy(b);
        conf_set("process.kill.grace.ms", "6000");
        b = ops->new_(conf, errstr, sizeof(errstr));
        ck_assert_ptr_null(b);
        ck_assert_msg(strstr(errstr, "process.lease.ms (3000)"), "%s",
                      errstr);
}
END_TEST

/* ------------------------------------------------ deployer's environment */

/* A deployment sets only the variables the operator allows (issue 10). */
START_TEST(test_env_spec_allowlist) {
        static const char *const refused[] = {
                "OPENSSL_CONF", "LD_PRELOAD",   "PATH",
                "JAVA_TOOL_OPTIONS", "GIT_SSH_COMMAND", "PERLLIB",
                "PYTHONPATH",   "FLOQ_RUN_ID", NULL
        };
        char exe[PATH_MAX + 32], errstr[512], needle[128];
        json_t *spec;
        size_t i;

        snprintf(exe, sizeof(exe), "%s/exit.sh", data_dir);
        for (i = 0; refused[i]; i++) {
                snprintf(needle, sizeof(needle),
                         "env: '%s' may not be set by a deployment",
                         refused[i]);
                expect_rejected(json_pack("{s:s, s:{s:s}}", "executable", exe,
                                          "env", refused[i], "/tmp/x"),
                                needle);
        }
        /* The safe set needs no listing. */
        spec = json_pack("{s:s, s:{s:s, s:s, s:s}}", "executable", exe, "env",
                         "TZ", "Europe/Paris", "LANG", "C.UTF-8", "LC_ALL",
                         "C");
        ck_assert_msg(deploy(spec, errstr, sizeof(errstr)) == FLOQ_OK, "%s",
                      errstr);
        json_decref(spec);
        /* The operator's list: names and prefixes; a prefix never lets a
         * loader or interpreter variable through, an exact name does. */
        conf_set("process.env.spec.allow", "APP_*, PATH,LD_*,PYTHON*,"
                                           "PERL5LIB");
        backend_renew();
        spec = json_pack("{s:s, s:{s:s, s:s, s:s}}", "executable", exe, "env",
                         "APP_MODE", "x", "PATH", "/usr/bin", "PERL5LIB",
                         "/opt/lib");
        ck_assert_msg(deploy(spec, errstr, sizeof(errstr)) == FLOQ_OK, "%s",
                      errstr);
        json_decref(spec);
        expect_rejected(json_pack("{s:s, s:{s:s}}", "executable", exe, "env",
                                  "LD_PRELOAD", "/tmp/evil.so"),
                        "only an exact process.env.spec.allow entry");
        expect_rejected(json_pack("{s:s, s:{s:s}}", "executable", exe, "env",
                                  "PYTHONPATH", "/tmp"),
                        "'PYTHONPATH' may not be set");
        expect_rejected(json_pack("{s:s, s:{s:s}}", "executable", exe, "env",
                                  "OPENSSL_CONF", "/tmp/x"),
                        "not in process.env.spec.allow");
        /* {artifact} is never substituted into a value. */
        expect_rejected(json_pack("{s:s, s:{s:s}}", "executable", exe, "env",
                                  "APP_CONF", "{artifact}"),
                        "{artifact} is not substituted in env values");
        spec = json_pack("{s:s, s:{s:s}}", "executable", exe, "env",
                         "APP_CONF", "{{artifact}}");
        ck_assert_msg(deploy(spec, errstr, sizeof(errstr)) == FLOQ_OK, "%s",
                      errstr);
        json_decref(spec);
}
END_TEST

/* A script of @p body in tmp_dir, readable and executable by all. */
static void tmp_script(char *path, size_t size, const char *name,
                       const char *body) {
        FILE *f;

        tmp_path(path, size, name);
        f = fopen(path, "w");
        ck_assert(f != NULL);
        fprintf(f, "#!/bin/sh\n%s", body);
        fclose(f);
        ck_assert_int_eq(chmod(path, 0755), 0);
}

/* no_new_privs, no descriptor beyond stdio, no core files. */
START_TEST(test_job_hardening) {
        char path[PATH_MAX + 32];
        floq_run_result_t res;
        json_t *spec;

        /* ls lists its own descriptors: 0-2 inherited, 3 its directory. */
        tmp_script(path, sizeof(path), "hard.sh",
                   "/bin/grep NoNewPrivs /proc/self/status\n"
                   "echo core=$(ulimit -c)\n"
                   "echo fds:\n"
                   "exec /bin/ls -1 /proc/self/fd\n");
        spec = json_pack("{s:s}", "executable", path);
        run_to_end(spec, NULL, &res);
        ck_assert_msg(res.outcome == FLOQ_OUTCOME_SUCCEEDED, "%s",
                      res.reason);
        ck_assert_ptr_nonnull(res.output_tail);
        ck_assert_msg(strstr(res.output_tail, "NoNewPrivs:\t1\n"), "%s",
                      res.output_tail);
        ck_assert_msg(strstr(res.output_tail, "\nfds:\n0\n1\n2\n3\n") &&
                              !strstr(res.output_tail, "\n3\n4"),
                      "descriptors beyond stdio: %s", res.output_tail);
        ck_assert_msg(strstr(res.output_tail, "core=0\n"), "%s",
                      res.output_tail);
        floq_run_result_release(&res);
        json_decref(spec);
}
END_TEST

/* ---------------------------------------------------------- the job user */

/* uid/gid of nobody/nogroup, or skip the test (not root, no such user). */
static int job_user(uid_t *uid, gid_t *gid) {
        struct passwd *pw;
        struct group *gr;

        if (geteuid() != 0) {
                fprintf(stderr, "SKIP: running jobs as another user needs "
                                "root (this test is not root)\n");
                return 0;
        }
        if (!(pw = getpwnam("nobody")) || !(gr = getgrnam("nogroup"))) {
                fprintf(stderr, "SKIP: no user 'nobody' or group "
                                "'nogroup'\n");
                return 0;
        }
        *uid = pw->pw_uid;
        *gid = gr->gr_gid;
        return 1;
}

/*
 * A job of a deployer runs as process.run.as.user: it cannot read a 0600
 * keys file of the worker's user even where the directory lets it look,
 * and RLIMIT_NPROC applies to it.
 */
START_TEST(test_run_as_user) {
        char keys[PATH_MAX + 32], path[PATH_MAX + 32], body[PATH_MAX + 256];
        char want[64];
        floq_run_result_t res;
        json_t *spec;
        uid_t uid;
        gid_t gid;
        FILE *f;

        if (!job_user(&uid, &gid))
                return;
        ck_assert_int_eq(chmod(tmp_dir, 0755), 0);
        tmp_path(keys, sizeof(keys), "keys");
        f = fopen(keys, "w");
        ck_assert(f != NULL);
        fputs("k1=00112233445566778899aabbccddeeff\n", f);
        fclose(f);
        ck_assert_int_eq(chmod(keys, 0600), 0);
        conf_set("security.hmac.keys.file", keys);
        conf_set("process.run.as.user", "nobody");
        conf_set("process.run.as.group", "nogroup");
        conf_set("process.rlimit.nproc", "333");
        backend_renew();
        snprintf(body, sizeof(body),
                 "echo ids=$(/usr/bin/id -u):$(/usr/bin/id -g):"
                 "$(/usr/bin/id -G)\n"
                 "/bin/grep 'Max processes' /proc/self/limits\n"
                 "/bin/cat '%s' && echo READ-THE-KEYS\n"
                 "exit 0\n",
                 keys);
        tmp_script(path, sizeof(path), "as-user.sh", body);
        spec = json_pack("{s:s}", "executable", path);
        run_to_end(spec, NULL, &res);
        ck_assert_msg(res.outcome == FLOQ_OUTCOME_SUCCEEDED, "%s",
                      res.reason);
        ck_assert_ptr_nonnull(res.output_tail);
        snprintf(want, sizeof(want), "ids=%u:%u:%u\n", (unsigned)uid,
                 (unsigned)gid, (unsigned)gid);
        ck_assert_msg(strstr(res.output_tail, want), "want %s in %s", want,
                      res.output_tail);
        ck_assert_msg(strstr(res.output_tail, "Max processes             333 "),
                      "%s", res.output_tail);
        ck_assert_msg(!strstr(res.output_tail, "READ-THE-KEYS") &&
                              !strstr(res.output_tail, "00112233"),
                      "the job read the keys: %s", res.output_tail);
        ck_assert_msg(strstr(res.output_tail, "Permission denied"), "%s",
                      res.output_tail);
        floq_run_result_release(&res);
        json_decref(spec);
}
END_TEST

/* Without a job user, RLIMIT_NPROC is not applied (it counts per uid:
 * every process of the worker's user). */
START_TEST(test_nproc_needs_job_user) {
        char path[PATH_MAX + 32];
        floq_run_result_t res;
        json_t *spec;

        conf_set("process.rlimit.nproc", "333");
        backend_renew();
        tmp_script(path, sizeof(path), "nproc.sh",
                   "/bin/grep 'Max processes' /proc/self/limits\n");
        spec = json_pack("{s:s}", "executable", path);
        run_to_end(spec, NULL, &res);
        ck_assert_msg(res.outcome == FLOQ_OUTCOME_SUCCEEDED, "%s",
                      res.reason);
        ck_assert_msg(!strstr(res.output_tail, " 333 "), "%s",
                      res.output_tail);
        floq_run_result_release(&res);
        json_decref(spec);
}
END_TEST

static void expect_new_fails(const char *needle) {
        char errstr[512];

        if (be)
                ops->destroy(be);
        be = ops->new_(conf, errstr, sizeof(errstr));
        ck_assert_msg(be == NULL, "started although '%s' was expected",
                      needle);
        ck_assert_msg(strstr(errstr, needle), "'%s' not in '%s'", needle,
                      errstr);
}

/* The worker refuses to start when the job user could read its secrets,
 * or is not a user of its own. */
START_TEST(test_run_as_refusals) {
        char keys[PATH_MAX + 32], sasl[PATH_MAX + 32], pem[PATH_MAX + 32];
        char tok[PATH_MAX + 32];
        char errstr[512];
        uid_t uid;
        gid_t gid;
        FILE *f;

        if (!job_user(&uid, &gid))
                return;
        ck_assert_int_eq(chmod(tmp_dir, 0755), 0);
        tmp_path(keys, sizeof(keys), "keys");
        tmp_path(sasl, sizeof(sasl), "sasl");
        tmp_path(pem, sizeof(pem), "client.key");
        f = fopen(keys, "w");
        fputs("k1=00112233445566778899aabbccddeeff\n", f);
        fclose(f);
        f = fopen(sasl, "w");
        fputs("hunter2\n", f);
        fclose(f);
        f = fopen(pem, "w");
        fputs("-----BEGIN PRIVATE KEY-----\n", f);
        fclose(f);
        ck_assert_int_eq(chmod(keys, 0644), 0);
        ck_assert_int_eq(chmod(sasl, 0600), 0);
        ck_assert_int_eq(chmod(pem, 0640), 0);
        ck_assert_int_eq(chown(pem, 0, gid), 0);
        conf_set("security.hmac.keys.file", keys);
        conf_set("sasl.password.file", sasl);
        ck_assert_int_eq(floq_conf_set_kafka(conf, "ssl.key.location", pem,
                                             errstr, sizeof(errstr)),
                         FLOQ_OK);
        conf_set("process.run.as.group", "nogroup");
        expect_new_fails("process.run.as.group is set without");
        conf_set("process.run.as.user", "nobody");
        expect_new_fails("could read security.hmac.keys.file");
        ck_assert_int_eq(chmod(keys, 0600), 0);
        /* Group-readable by the job's group: refused as well. */
        expect_new_fails("could read ssl.key.location");
        ck_assert_int_eq(chown(pem, 0, 0), 0);
        /* A backend's token file, as the others. */
        tmp_path(tok, sizeof(tok), "token");
        f = fopen(tok, "w");
        fputs("tok-secret\n", f);
        fclose(f);
        ck_assert_int_eq(chmod(tok, 0644), 0);
        conf_set("http.backend.token.file", tok);
        expect_new_fails("could read http.backend.token.file");
        ck_assert_int_eq(chmod(tok, 0600), 0);
        backend_renew();
        /* Not root, not the worker's own. */
        conf_set("process.run.as.user", "root");
        expect_new_fails("root");
        conf_set("process.run.as.user", "no-such-user-floq");
        expect_new_fails("no user 'no-such-user-floq'");
        conf_set("process.run.as.user", "nobody");
        conf_set("process.run.as.group", "root");
        expect_new_fails("gid 0");
}
END_TEST

/* ----------------------------------------------------------------- main */

static Suite *process_suite(void) {
        Suite *s = suite_create("process");
        TCase *tc;

        tc = tcase_create("allowlist");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 20);
        tcase_add_test(tc, test_allow_inside);
        tcase_add_test(tc, test_allow_outside);
        tcase_add_test(tc, test_allow_symlink_escape);
        tcase_add_test(tc, test_allow_symlink_inside);
        tcase_add_test(tc, test_allow_relative);
        tcase_add_test(tc, test_allow_missing);
        tcase_add_test(tc, test_allow_not_executable);
        tcase_add_test(tc, test_allow_empty_config);
        tcase_add_test(tc, test_spec_errors);
        suite_add_tcase(s, tc);

        tc = tcase_create("run");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_params_verbatim);
        tcase_add_test(tc, test_params_missing);
        tcase_add_test(tc, test_env_allowlist);
        tcase_add_loop_test(tc, test_fds_and_stdin, 0, 2);
        tcase_add_test(tc, test_exit_codes);
        tcase_add_test(tc, test_signal_death);
        tcase_add_test(tc, test_cwd);
        tcase_add_test(tc, test_exec_failure);
        tcase_add_test(tc, test_rlimit_nofile);
        suite_add_tcase(s, tc);

        tc = tcase_create("stop");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_timeout_term_then_kill);
        tcase_add_test(tc, test_timeout_ignore_term);
        tcase_add_test(tc, test_stop_cancel);
        tcase_add_test(tc, test_stop_drain);
        tcase_add_test(tc, test_grandchildren_killed);
        tcase_add_test(tc, test_destroy_running_attempt);
        tcase_add_loop_test(tc, test_pdeathsig, 0, 2);
        suite_add_tcase(s, tc);

        tc = tcase_create("tree");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_tree_stop);
        tcase_add_test(tc, test_tree_timeout);
        tcase_add_test(tc, test_tree_main_exits);
        tcase_add_test(tc, test_tree_worker_killed);
        suite_add_tcase(s, tc);

        tc = tcase_create("lease");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_lease_worker_stopped);
        tcase_add_test(tc, test_lease_renewed_job_runs);
        tcase_add_test(tc, test_lease_rule);
        suite_add_tcase(s, tc);

        tc = tcase_create("isolation");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_env_spec_allowlist);
        tcase_add_test(tc, test_job_hardening);
        tcase_add_test(tc, test_run_as_user);
        tcase_add_test(tc, test_nproc_needs_job_user);
        tcase_add_test(tc, test_run_as_refusals);
        suite_add_tcase(s, tc);

        tc = tcase_create("output");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_output_tail_bounded);
        tcase_add_test(tc, test_output_stderr_merged);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(process_suite());
}
