/*
 * test_bench_lib.c - the helpers tests/bench/bench_lib.h adds for the
 * drivers (bench_latency, bench_soak, bench_restore): the latency
 * percentiles of a phase and the /readyz probe.
 */
#include <check.h>

#include "../bench/bench_lib.h"
#include "test_util.h"

/* A phase of 1,000 commands, command i answered (i + 1) ms after its
 * send, the first @p unanswered without a reply. */
static phase_t *phase_of(long unanswered) {
        phase_t *ph = phase_new("test", 1000);
        long i;

        for (i = 0; i < ph->n; i++) {
                ph->t_send[i] = 1000000 + i;
                if (i >= unanswered) {
                        ph->t_first[i] = ph->t_send[i] + (i + 1) * 1000;
                        ph->t_final[i] = ph->t_first[i] + 5000;
                }
        }
        return ph;
}

/* The phases of a test released (bench_worker.c's table, static). */
static void phases_free(void) {
        int i;

        for (i = 0; i < atomic_load(&phase_cnt); i++) {
                free(phases[i].t_send);
                free(phases[i].t_first);
                free(phases[i].t_final);
        }
        memset(phases, 0, sizeof(phases));
        atomic_store(&phase_cnt, 0);
}

START_TEST(test_lat_percentiles) {
        phase_t *ph = phase_of(0);
        lat_t a = bench_lat(ph, 0), t = bench_lat(ph, 1);

        ck_assert_int_eq(a.missing, 0);
        ck_assert_double_eq_tol(a.p50, 501.0, 1e-9);
        ck_assert_double_eq_tol(a.p99, 991.0, 1e-9);
        ck_assert_double_eq_tol(a.p999, 1000.0, 1e-9);
        /* the final replies: 5 ms later each */
        ck_assert_double_eq_tol(t.p50, 506.0, 1e-9);
        ck_assert_double_eq_tol(t.p999, 1005.0, 1e-9);
        phases_free();
}
END_TEST

START_TEST(test_lat_missing) {
        phase_t *ph = phase_of(100);
        lat_t a = bench_lat(ph, 0);

        /* 900 answered (101 .. 1000 ms): the percentiles are theirs */
        ck_assert_int_eq(a.missing, 100);
        ck_assert_double_eq_tol(a.p50, 551.0, 1e-9);
        ck_assert_double_eq_tol(a.p999, 1000.0, 1e-9);
        phases_free();
}
END_TEST

/* A one-shot HTTP server on @p port answering @p status_line. */
typedef struct http1_s {
        int fd;
        const char *answer;
} http1_t;

static void *http1_main(void *arg) {
        http1_t *h = arg;
        char buf[512];
        int c = accept(h->fd, NULL, NULL);

        if (c >= 0) {
                ck_assert(read(c, buf, sizeof(buf)) > 0);
                ck_assert(write(c, h->answer, strlen(h->answer)) ==
                          (ssize_t)strlen(h->answer));
                close(c);
        }
        return NULL;
}

static int http1_listen(int *port) {
        struct sockaddr_in a = { .sin_family = AF_INET };
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ck_assert(fd >= 0);
        ck_assert(!bind(fd, (struct sockaddr *)&a, sizeof(a)));
        ck_assert(!listen(fd, 1));
        ck_assert(!getsockname(fd, (struct sockaddr *)&a, &len));
        *port = ntohs(a.sin_port);
        return fd;
}

static int probe(const char *answer) {
        http1_t h = { 0, answer };
        pthread_t thr;
        int port, status;

        h.fd = http1_listen(&port);
        pthread_create(&thr, NULL, http1_main, &h);
        status = bench_http_status(port, "/readyz");
        pthread_join(thr, NULL);
        close(h.fd);
        return status;
}

START_TEST(test_http_status) {
        int port = bench_free_port();

        ck_assert_int_gt(port, 0);
        ck_assert_int_eq(probe("HTTP/1.1 200 OK\r\n\r\nready\n"), 200);
        ck_assert_int_eq(probe("HTTP/1.1 503 Service Unavailable\r\n\r\n"
                               "restoring\n"),
                         503);
        ck_assert_int_eq(probe("garbage"), 0);
        /* nothing listening: 0 */
        ck_assert_int_eq(bench_http_status(port, "/readyz"), 0);
}
END_TEST

int main(void) {
        Suite *s = suite_create("bench_lib");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_lat_percentiles);
        tcase_add_test(tc, test_lat_missing);
        tcase_add_test(tc, test_http_status);
        suite_add_tcase(s, tc);
        return test_run_suite(s);
}
