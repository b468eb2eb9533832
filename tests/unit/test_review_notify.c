/*
 * test_review_notify.c - sd_notify (worker/notify.c) during a long
 * start: READY=1 waits for every assigned partition's restore (each up
 * to worker.restore.timeout.ms), which with many partitions outlasts the
 * unit's TimeoutStartSec; while restoring and not ready the worker asks
 * for more time (EXTEND_TIMEOUT_USEC=) each keep-alive period, or systemd
 * kills a worker doing its legitimate work (and again after every
 * restart). The keep-alive stops when the loop does. Also: a hostile
 * NOTIFY_SOCKET (too long for sun_path, abstract) is harmless.
 */
#include <check.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"
#include "test_util.h"
#include "worker_int.h"

static int listen_sock(char *path, size_t size) {
        struct sockaddr_un sa;
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        snprintf(path, size, "/tmp/review-notify-%d.sock", (int)getpid());
        unlink(path);
        memset(&sa, 0, sizeof(sa));
        sa.sun_family = AF_UNIX;
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        return fd;
}

static floq_worker_t *fake_worker(void) {
        floq_worker_t *w = calloc(1, sizeof(*w));

        /* each case as a fresh process (valgrind runs them in one) */
        wnotify_reset();
        ck_assert_ptr_nonnull(w);
        snprintf(w->id, sizeof(w->id), "w-test");
        w->metrics = wmetrics_new(NULL);
        ck_assert_ptr_nonnull(w->metrics);
        return w;
}

/* Datagrams holding @p what received within @p ms, up to @p want. */
static int count_msgs(int fd, const char *what, int want, int ms) {
        int64_t deadline = floq_mono_ms() + ms;
        int n = 0;

        while (n < want) {
                int64_t left = deadline - floq_mono_ms();
                struct pollfd pfd = { fd, POLLIN, 0 };
                char buf[4096];
                ssize_t len;

                if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
                        break;
                if ((len = recv(fd, buf, sizeof(buf) - 1, 0)) <= 0)
                        break;
                buf[len] = '\0';
                if (strstr(buf, what))
                        n++;
        }
        return n;
}

START_TEST(test_start_extended_while_restoring) {
        char path[108], pid[32];
        int fd = listen_sock(path, sizeof(path)), extends = 0;
        floq_worker_t *w;
        int64_t until;

        snprintf(pid, sizeof(pid), "%d", (int)getpid());
        setenv("NOTIFY_SOCKET", path, 1);
        setenv("WATCHDOG_USEC", "200000", 1); /* 0.2 s: every 0.1 s */
        setenv("WATCHDOG_PID", pid, 1);
        w = fake_worker();
        /* the loop passes while it restores (not ready: not in the group
         * until the assignment is restored) */
        atomic_store(&w->metrics->restoring, 1);
        /* the manager reads as it goes (a datagram socket holds only
         * a few unread messages) */
        until = floq_mono_ms() + 3000;
        while (floq_mono_ms() < until && extends < 2) {
                struct pollfd pfd = { fd, POLLIN, 0 };
                char buf[512];
                ssize_t len;

                atomic_store(&w->metrics->loop_pass_mono, floq_mono_ms());
                wnotify_pass(w);
                if (poll(&pfd, 1, 20) == 1 &&
                    (len = recv(fd, buf, sizeof(buf) - 1, 0)) > 0) {
                        buf[len] = '\0';
                        extends += strstr(buf, "EXTEND_TIMEOUT_USEC=400000")
                                   != NULL;
                }
        }
        ck_assert_int_ge(extends, 2);
        wnotify_stopping(FLOQ_OK);
        wmetrics_destroy(w->metrics);
        free(w);
        close(fd);
        unlink(path);
}
END_TEST

START_TEST(test_no_keepalive_when_stuck) {
        /* not restoring and no pass: the keep-alive stops (the loop is
         * stuck), as before */
        char path[108], pid[32];
        int fd = listen_sock(path, sizeof(path));
        floq_worker_t *w;

        snprintf(pid, sizeof(pid), "%d", (int)getpid());
        setenv("NOTIFY_SOCKET", path, 1);
        setenv("WATCHDOG_USEC", "200000", 1);
        setenv("WATCHDOG_PID", pid, 1);
        w = fake_worker();
        /* alive for this one pass even under valgrind (the first pass
         * also opens the socket); then no pass: nothing more is sent */
        w->metrics->alive_bound_ms = 2000;
        atomic_store(&w->metrics->loop_pass_mono, floq_mono_ms());
        wnotify_pass(w);
        ck_assert_int_eq(count_msgs(fd, "WATCHDOG=1", 1, 2000), 1);
        ck_assert_int_le(count_msgs(fd, "WATCHDOG=1", 3, 1500), 1);
        wnotify_stopping(FLOQ_OK);
        wmetrics_destroy(w->metrics);
        free(w);
        close(fd);
        unlink(path);
}
END_TEST

START_TEST(test_hostile_notify_socket) {
        char longpath[400];
        floq_worker_t *w;

        memset(longpath, 'a', sizeof(longpath) - 1);
        longpath[0] = '/';
        longpath[sizeof(longpath) - 1] = '\0';
        setenv("NOTIFY_SOCKET", longpath, 1);
        setenv("WATCHDOG_USEC", "1", 1);
        unsetenv("WATCHDOG_PID");
        w = fake_worker();
        wnotify_pass(w);
        wnotify_pass(w);
        wnotify_stopping(FLOQ_ERR_KAFKA);
        wmetrics_destroy(w->metrics);
        free(w);
}
END_TEST

START_TEST(test_abstract_notify_socket) {
        floq_worker_t *w;

        setenv("NOTIFY_SOCKET", "@floq-review-nobody-listens", 1);
        unsetenv("WATCHDOG_USEC");
        w = fake_worker();
        wnotify_pass(w);
        wnotify_stopping(FLOQ_OK);
        wmetrics_destroy(w->metrics);
        free(w);
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("review_notify");
        TCase *tc = tcase_create("notify");

        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_start_extended_while_restoring);
        tcase_add_test(tc, test_no_keepalive_when_stuck);
        tcase_add_test(tc, test_hostile_notify_socket);
        tcase_add_test(tc, test_abstract_notify_socket);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(suite());
}
