/*
 * bench_soak.c - the worker's RSS after many commands (issue 13: after
 * 1,000,000): one floq-worker (noop backend) answers `status` commands of
 * 12 noop deployments as fast as it goes, at most SOAK_WINDOW unanswered
 * at a time, until BENCH_SOAK_N commands (default 100,000; 1000000 for
 * the figure, ~3 minutes here) or BENCH_SOAK_SECS seconds of
 * sending (default 120, 500 when BENCH_SOAK_N is set) are reached,
 * whichever comes first. `status`
 * changes no state, so what the RSS gains is what commands leave behind.
 *
 * Printed: the count actually reached, commands/s, CPU per command
 * (utime+stime of the worker from /proc over the soak), VmRSS after the
 * warm-up, at each tenth of the way, its maximum (sampled every 20 ms)
 * and after the last reply, the growth per 100,000 commands from the
 * first tenth on, and
 * PASS/MISS for RSS after <= 32 MB (issue 13's target under load).
 *
 *   bench_soak               (BENCH_QUICK=1: 20,000 commands, 30 s cap)
 *
 * Exit 0 when every command sent was answered, 1 otherwise.
 */
#include "bench_lib.h"

#define SOAK_WINDOW 5000
#define SOAK_MARKS 10

/* The next tenth of @p n answered: its count and the RSS into mark @p m
 * + 1. @return the marks taken. */
static int soak_mark(phase_t *ph, pid_t pid, long n, int m, long *at,
                     long *rss) {
        long got = atomic_load(&ph->n_final);

        if (m < SOAK_MARKS && got >= (m + 1) * (n / SOAK_MARKS)) {
                m++;
                at[m] = got;
                rss[m] = proc_rss_kb(pid);
        }
        return m;
}

int main(int argc, char **argv) {
        char errstr[512], dir[64], log[128];
        char *extra[] = { NULL };
        reader_t rf;
        sample_t s = { 0, 0 };
        int quick = bench_quick(), m = 0, k;
        long n = quick ? 20000 : 100000, sent = 0, i, got;
        long secs = quick ? 30 : 120, mark_rss[SOAK_MARKS + 1];
        long mark_at[SOAK_MARKS + 1], rss0, rss1;
        int64_t t0, t_end, cpu0, cpu1, deadline;
        double slope = 0;
        phase_t *ph;
        pid_t wpid;

        (void)argv;
        if (argc != 1) {
                fprintf(stderr, "usage: bench_soak\n");
                return 2;
        }
        if (getenv("BENCH_SOAK_N")) {
                /* a count asked for: time to reach it, within
                 * tests/bench/run.sh's 600 s per benchmark */
                n = atol(getenv("BENCH_SOAK_N"));
                secs = 500;
        }
        if (getenv("BENCH_SOAK_SECS"))
                secs = atol(getenv("BENCH_SOAK_SECS"));
        if (n < 1 || secs < 1)
                die("BENCH_SOAK_N / BENCH_SOAK_SECS", "must be >= 1");
        floq_log_setup("bench_soak", FLOQ_LOG_ERR, 0, stderr);
        conf = floq_conf_new();
        floq_conf_set_kafka(conf, "log_level", "2", NULL, 0);
        if (floq_conf_load_env(conf, NULL, errstr, sizeof(errstr)))
                die("config", errstr);
        bench_setup("bench_soak", NULL, dir, sizeof(dir));
        setenv("FLOQ_NOOP_BACKEND_ENABLED", "true", 1);
        reader_start(&rf, floq_conf_str(conf, "topic.replies"), 1);
        wpid = bench_worker_start(dir, 1, extra, log, sizeof(log));
        wait_ready("floq-worker", 1, wpid);
        bench_warm_up("warm-up", 1000, 'S');
        rss0 = proc_rss_kb(wpid);
        s.pid = wpid;
        ph = phase_new("soak status", n);
        cpu0 = proc_cpu_us(wpid);
        t0 = now_us();
        deadline = floq_mono_ms() + secs * 1000;
        mark_at[0] = 0;
        mark_rss[0] = rss0;
        while (sent < n && floq_mono_ms() < deadline) {
                if (sent - atomic_load(&ph->n_final) < SOAK_WINDOW) {
                        send_cmd(ph, sent++, 1, 'S', "nb");
                        if (sent % 256)
                                continue;
                } else {
                        struct timespec ts = { 0, 1000 * 1000 };

                        nanosleep(&ts, NULL);
                        rd_kafka_poll(driver, 0);
                }
                {
                        long kb = proc_rss_kb(wpid);

                        if (kb > s.rss_max_kb)
                                s.rss_max_kb = kb;
                }
                m = soak_mark(ph, wpid, n, m, mark_at, mark_rss);
        }
        rd_kafka_flush(driver, 10000);
        /* every reply of what was sent, 60 s at most */
        deadline = floq_mono_ms() + 60000;
        while ((got = atomic_load(&ph->n_final)) < sent &&
               floq_mono_ms() < deadline) {
                struct timespec ts = { 0, 20 * 1000 * 1000 };
                long kb = proc_rss_kb(wpid);

                if (kb > s.rss_max_kb)
                        s.rss_max_kb = kb;
                m = soak_mark(ph, wpid, n, m, mark_at, mark_rss);
                nanosleep(&ts, NULL);
        }
        m = soak_mark(ph, wpid, n, m, mark_at, mark_rss);
        t_end = 0;
        for (i = 0; i < sent; i++)
                if (ph->t_final[i] > t_end)
                        t_end = ph->t_final[i];
        cpu1 = proc_cpu_us(wpid);
        rss1 = proc_rss_kb(wpid);
        got = atomic_load(&ph->n_final);
        proc_stop(wpid);
        stop_flag = 1;

        printf("\n%-34s %ld of %ld sent answered (target count %ld%s)\n",
               "status commands", got, sent, n,
               sent < n ? ", stopped by BENCH_SOAK_SECS" : "");
        printf("%-34s %10.1f /s\n", "status commands/s",
               t_end > t0 ? (double)got * 1e6 / (double)(t_end - t0) : 0);
        printf("%-34s %10.1f us\n", "CPU per status command",
               got ? (double)(cpu1 - cpu0) / (double)got : 0);
        printf("%-34s", "worker RSS at");
        for (k = 0; k <= m; k++)
                printf(" %ld: %.1f MB%s", mark_at[k], mark_rss[k] / 1024.0,
                       k < m ? "," : "");
        printf("\n");
        /* the slope from the first tenth on (the first commands still
         * grow the allocator's arenas and librdkafka's buffers) */
        if (m >= 1 && got > mark_at[1])
                slope = (double)(rss1 - mark_rss[1]) / 1024.0 * 100000.0 /
                        (double)(got - mark_at[1]);
        printf("%-34s after warm-up %6.1f MB   max %6.1f MB   after %ld "
               "commands %6.1f MB   target <=32 MB  %s\n",
               "worker RSS", rss0 / 1024.0, s.rss_max_kb / 1024.0, got,
               rss1 / 1024.0,
               rss1 > 0 && rss1 <= 32 * 1024 ? "PASS" : "MISS");
        printf("%-34s %+.2f MB per 100,000 commands after the first tenth\n",
               "worker RSS growth", slope);
        printf("(logs in %s)\n", dir);
        return got == sent ? 0 : 1;
}
