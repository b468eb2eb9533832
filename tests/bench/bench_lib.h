/*
 * bench_lib.h - what the drivers of tests/bench/ share. Its first part,
 * libc only, reads a process's CPU from /proc; bench_worker.c and
 * bench_spawn.c include just that part (BENCH_LIB_CPU_ONLY defined before
 * the include). The rest: bench_worker.c's pipe, processes, phases, reply
 * reader and driver (included here with its main() left out,
 * BENCH_WORKER_NO_MAIN), plus the few helpers the later drivers
 * (bench_latency, bench_soak, bench_restore) need on top: their set-up, a
 * worker started with extra options, latency percentiles of a phase's
 * first or final replies, a fixed-rate offer, and a /readyz probe. Include
 * it once, from a driver's only .c file; the driver defines main(). Every
 * helper is static: a driver uses a part.
 */
#ifndef BENCH_LIB_CPU_H
#define BENCH_LIB_CPU_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* utime + stime + the reaped children's of @p pid, in µs; -1 when it is
 * gone or its stat does not parse. */
static int64_t bench_pid_cpu_us(pid_t pid) {
        char path[64], buf[2048], *p;
        unsigned long long ut, st, cut, cst;
        FILE *fp;
        size_t n;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        if (!(fp = fopen(path, "r")))
                return -1;
        n = fread(buf, 1, sizeof(buf) - 1, fp);
        fclose(fp);
        buf[n] = '\0';
        if (!(p = strrchr(buf, ')')))
                return -1;
        /* after ") ": state(3) ... utime(14) stime(15) cutime(16)
         * cstime(17) */
        if (sscanf(p + 2,
                   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu "
                   "%llu %llu",
                   &ut, &st, &cut, &cst) != 4)
                return -1;
        return (int64_t)((ut + st + cut + cst) * 1000000ULL /
                         (unsigned long long)sysconf(_SC_CLK_TCK));
}

/*
 * The CPU of the live children of @p pid (of each of its threads), each
 * with its reaped children, in µs; the ones gone meanwhile count 0. The
 * process backend's spawner is such a child: it lives as long as its
 * parent and reaps the supervisors, so their CPU (and their jobs') is in
 * the spawner's cutime, never in the parent's.
 */
static int64_t bench_children_cpu_us(pid_t pid) {
        int64_t total = 0;
        char path[96];
        struct dirent *de;
        DIR *d;

        snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
        if (!(d = opendir(path)))
                return 0;
        while ((de = readdir(d))) {
                char cpath[300];
                FILE *fp;
                long kid;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(cpath, sizeof(cpath), "/proc/%d/task/%s/children",
                         (int)pid, de->d_name);
                if (!(fp = fopen(cpath, "r")))
                        continue;
                while (fscanf(fp, "%ld", &kid) == 1) {
                        int64_t c = bench_pid_cpu_us((pid_t)kid);

                        if (c > 0)
                                total += c;
                }
                fclose(fp);
        }
        closedir(d);
        return total;
}

#endif /* BENCH_LIB_CPU_H */

#if !defined(BENCH_LIB_H) && !defined(BENCH_LIB_CPU_ONLY)
#define BENCH_LIB_H

#define BENCH_WORKER_NO_MAIN 1
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-variable"
#include "bench_worker.c"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* The driver's set-up, as bench_worker's main() does it: FLOQ_* config
 * into conf, the codec, the driver producer (idempotent, linger.ms 1),
 * floq's topics (and @p pconf's when not NULL) created, a log directory
 * /tmp/floq-bench-PID into @p dir. Dies on error. */
static void bench_setup(const char *name, floq_conf_t *pconf, char *dir,
                        size_t dirsz) {
        char errstr[512];
        rd_kafka_conf_t *kc;

        codec = floq_codec_new(1 << 20, errstr, sizeof(errstr));
        if (!(kc = floq_kafka_conf_new(conf, "producer", errstr,
                                       sizeof(errstr))) ||
            rd_kafka_conf_set(kc, "enable.idempotence", "true", errstr,
                              sizeof(errstr)) ||
            rd_kafka_conf_set(kc, "linger.ms", "1", errstr, sizeof(errstr)) ||
            !codec)
                die(name, errstr);
        rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
        if (!(driver = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr,
                                    sizeof(errstr))))
                die(name, errstr);
        if (floq_kafka_ensure_topics(driver, conf, 30000, errstr,
                                     sizeof(errstr)) ||
            (pconf && floq_kafka_ensure_topics(driver, pconf, 30000, errstr,
                                               sizeof(errstr))))
                die("topics", errstr);
        cmd_topic = floq_conf_str(conf, "topic.commands");
        snprintf(dir, dirsz, "/tmp/floq-bench-%d", (int)getpid());
        mkdir(dir, 0700);
}

/* floq-worker number @p k (worker.id bench-PID-k) with @p extra (NULL
 * terminated, at most 16: "-o", "name=value", "-X", "key=value"...),
 * logging to DIR/worker<k>.log (into @p log). */
static pid_t bench_worker_start(const char *dir, int k, char *const extra[],
                                char *log, size_t logsz) {
        const char *bin = getenv("FLOQ_BENCH_WORKER");
        char wbin[4096], wid[64];
        char *wargv[24] = { wbin, "-o", wid };
        int n = 3;

        snprintf(wbin, sizeof(wbin), "%s",
                 bin ? bin : "build/bin/floq-worker");
        snprintf(wid, sizeof(wid), "worker.id=bench-%d-%d", (int)getpid(),
                 k);
        while (extra && *extra && n < 22)
                wargv[n++] = *extra++;
        wargv[n] = NULL;
        snprintf(log, logsz, "%s/worker%d.log", dir, k);
        return proc_start(wargv, log);
}

/* p50/p99/p99.9 of publish -> first (@p final 0) or final reply of @p ph;
 * missing: the commands without that reply. */
/* The deployments answered, then @p warm commands of kind @p kind
 * (named @p name) through the worker just started, answered or not. */
static void bench_warm_up(const char *name, long warm, char kind) {
        phase_t *dep = phase_new("deployments", N_DEPLOYMENTS);
        phase_t *w = phase_new(name, warm);
        long i;

        for (i = 0; i < N_DEPLOYMENTS; i++)
                send_cmd(dep, i, 1, 'D', "nb");
        rd_kafka_flush(driver, 10000);
        if (phase_wait(dep, 1, 60000, NULL))
                die("deployments", "not all answered");
        for (i = 0; i < w->n; i++)
                send_cmd(w, i, 1, kind, "nb");
        rd_kafka_flush(driver, 10000);
        phase_wait(w, 1, 60000, NULL);
}

static lat_t bench_lat(const phase_t *ph, int final) {
        const int64_t *t = final ? ph->t_final : ph->t_first;
        int64_t *d = ph->n > 0 ? calloc((size_t)ph->n, sizeof(*d)) : NULL;
        lat_t l = { 0, 0, 0, ph->n };
        long i, k = 0;

        for (i = 0; d && i < ph->n; i++)
                if (t[i] && ph->t_send[i])
                        d[k++] = t[i] - ph->t_send[i];
        l.missing = ph->n - k;
        lat_percentiles(&l, d, k);
        free(d);
        return l;
}

/* Commands of @p ph (kind @p kind, deployments @p prefix) offered at
 * @p rate/s, to floq (@p floq 1) or the pipe, then flushed. */
static void bench_offer(phase_t *ph, int rate, int floq, char kind,
                        const char *prefix) {
        int64_t t0 = now_us();
        long i;

        for (i = 0; i < ph->n; i++) {
                int64_t due = t0 + (int64_t)((double)i * 1e6 / rate), t;

                while ((t = now_us()) < due) {
                        struct timespec ts = { 0, (long)((due - t) * 1000) };

                        if (due - t > 2000)
                                ts.tv_nsec = 1000 * 1000;
                        nanosleep(&ts, NULL);
                        rd_kafka_poll(driver, 0);
                }
                send_cmd(ph, i, floq, kind, prefix);
        }
        rd_kafka_flush(driver, 10000);
}

/* A free TCP port of 127.0.0.1 (bound, then released), 0 on error. */
static int bench_free_port(void) {
        struct sockaddr_in a = { .sin_family = AF_INET };
        socklen_t len = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
            !getsockname(fd, (struct sockaddr *)&a, &len))
                port = ntohs(a.sin_port);
        if (fd >= 0)
                close(fd);
        return port;
}

/* The HTTP status of GET @p path on 127.0.0.1:@p port, 0 when nothing
 * answers. */
static int bench_http_status(int port, const char *path) {
        struct sockaddr_in a = { .sin_family = AF_INET };
        char req[256], resp[64];
        int fd = socket(AF_INET, SOCK_STREAM, 0), status = 0;
        ssize_t n = 0;

        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\n\r\n", path);
        if (fd >= 0 && !connect(fd, (struct sockaddr *)&a, sizeof(a)) &&
            write(fd, req, strlen(req)) == (ssize_t)strlen(req) &&
            (n = read(fd, resp, sizeof(resp) - 1)) > 0) {
                resp[n] = '\0';
                if (sscanf(resp, "HTTP/%*s %d", &status) != 1)
                        status = 0;
        }
        if (fd >= 0)
                close(fd);
        return status;
}

/* BENCH_QUICK set (tests/bench/run.sh passes it through). */
static int bench_quick(void) {
        const char *q = getenv("BENCH_QUICK");

        return q && *q && strcmp(q, "0");
}

#pragma GCC diagnostic pop
#endif /* BENCH_LIB_H, !BENCH_LIB_CPU_ONLY */
