/*
 * test_prog.c - the signals of every floq daemon (common/prog.c,
 * floq_prog_signals): a crash says so in the log, with its stack, before
 * the process dies of it (a worker that segfaulted in CI left nothing but
 * the shell's "Segmentation fault"); and a stop signal that arrives after
 * the program has reset its stop callback (before freeing its object)
 * never calls the old callback, i.e. never writes into freed memory.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "floq_common.h"
#include "prog_int.h"
#include "test_util.h"

/* run @p body in a child whose stderr goes to a pipe; the child's output
 * (up to @p size - 1 bytes) in @p out; its wait status returned */
static int in_child(void (*body)(void), char *out, size_t size) {
        int fds[2], status = 0;
        size_t len = 0;
        ssize_t n;
        pid_t pid;

        ck_assert_int_eq(pipe(fds), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                dup2(fds[1], 2);
                close(fds[0]);
                body();
                _exit(0);
        }
        close(fds[1]);
        while (len + 1 < size &&
               (n = read(fds[0], out + len, size - 1 - len)) > 0)
                len += (size_t)n;
        out[len] = '\0';
        close(fds[0]);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        return status;
}

static volatile sig_atomic_t stopped;
static void stop(void *arg) {
        (void)arg;
        stopped = 1;
}

static void crash_body(void) {
        floq_prog_signals(stop, NULL);
        raise(SIGSEGV);
}

START_TEST(test_crash_is_logged_with_its_stack) {
        char out[8192];
        int status = in_child(crash_body, out, sizeof(out));

        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
                      "the child dies of the crash signal (status %d)",
                      status);
        ck_assert_msg(strstr(out, "floq: fatal signal 11; stack:\n"),
                      "the crash is named: %s", out);
        /* at least one frame after the head: "binary(+0x...)[0x...]" */
        ck_assert_msg(strstr(out, ")[0x"), "a stack is printed: %s", out);
}
END_TEST

/* A real fault on this thread: a store to an unmapped page (not NULL,
 * and not instrumented, so that UBSan's null check or ASan's own report
 * does not end the process first under make asan). */
__attribute__((no_sanitize_address, no_sanitize_undefined))
static void *faulting_thread(void *arg) {
        volatile int *volatile nowhere = (volatile int *)((char *)arg + 16);

        *nowhere = 1;
        return NULL;
}

static void thread_crash_body(void) {
        sigset_t mask, old;
        pthread_t t;

        floq_prog_signals(stop, NULL);
        floq_sigset_thread(&mask); /* as the worker's helper threads */
        pthread_sigmask(SIG_SETMASK, &mask, &old);
        pthread_create(&t, NULL, faulting_thread, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_join(t, NULL);
}

/* A fault on a helper thread is reported too: a thread that blocks the
 * crash signals gets them forced to their default action, silently (the
 * executor's and offload threads blocked every signal). */
START_TEST(test_crash_on_helper_thread_is_logged) {
        char out[8192];
        int status = in_child(thread_crash_body, out, sizeof(out));

        ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
        ck_assert_msg(strstr(out, "floq: fatal signal 11; stack:\n"),
                      "the crash on the thread is named: %s", out);
}
END_TEST

static void abort_body(void) {
        floq_prog_signals(stop, NULL);
        abort();
}

START_TEST(test_abort_is_logged) {
        char out[8192];
        int status = in_child(abort_body, out, sizeof(out));

        ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
        ck_assert_msg(strstr(out, "floq: fatal signal 6; stack:\n"), "%s",
                      out);
}
END_TEST

static void late_stop_body(void) {
        floq_prog_signals(stop, NULL);
        floq_prog_signals(NULL, NULL); /* as main does before destroy */
        raise(SIGTERM);
        /* the first signal only marks; exit 3 if the old stop ran */
        _exit(stopped ? 3 : 0);
}

START_TEST(test_stop_after_reset_calls_nothing) {
        char out[256];
        int status = in_child(late_stop_body, out, sizeof(out));

        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "the reset stop callback is not called (status %d)",
                      status);
}
END_TEST

static void stop_body(void) {
        floq_prog_signals(stop, NULL);
        raise(SIGTERM);
        _exit(stopped ? 0 : 3);
}

START_TEST(test_stop_calls_the_callback) {
        char out[256];
        int status = in_child(stop_body, out, sizeof(out));

        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

static Suite *prog_suite(void) {
        Suite *s = suite_create("prog");
        TCase *tc = tcase_create("signals");

        tcase_add_test(tc, test_crash_is_logged_with_its_stack);
        tcase_add_test(tc, test_abort_is_logged);
        tcase_add_test(tc, test_crash_on_helper_thread_is_logged);
        tcase_add_test(tc, test_stop_after_reset_calls_nothing);
        tcase_add_test(tc, test_stop_calls_the_callback);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(prog_suite());
}
