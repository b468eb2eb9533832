/*
 * bench_state.c - memory a worker spends per retained finished run, and
 * the cost of a status-style lookup of a deployment's active runs with
 * that history beside it, against the same lookup without it (measured in
 * the same run, so the ratio compares like with like on a noisy machine).
 *
 * The runs are real RunState records: encoded with the codec and decoded
 * as a restore decodes them, then applied with wpart_put_run(), as the
 * worker keeps them. Memory is the heap in use (mallinfo2) before and
 * after, divided by the run count. No broker is needed.
 *
 * Targets (issue 13): <= 300 B per retained finished run; the lookup with
 * 100,000 retained runs >= 0.9 x the lookup without.
 *
 * Usage: bench_state [-n RUNS]     (default 100000)
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "floq_schemas.h"
#include "worker_int.h"

#define LIVE_RUNS 8

static double mono_s(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A finished run as a worker writes it: uuid ids, a parameter, an output
 * tail of a typical short job. */
static json_t *finished_run(const char *run_id, const char *cmd_id,
                            int64_t at) {
        return json_pack(
                "{s:s,s:s,s:s,s:n,s:n,s:n,s:s,s:i,s:s,s:I,s:I,s:I,s:I,s:n,"
                "s:{s:s},s:n,s:n,s:n,s:n,s:i,s:n,s:s,s:s,s:b}",
                "run_id", run_id, "deployment", "etl-nightly", "command_id",
                cmd_id, "correlation_id", "reply_to", "idempotency_key",
                "status", "SUCCEEDED", "attempt", 1, "worker", "host-0",
                "heartbeat_at", (json_int_t)at, "created_at",
                (json_int_t)at - 900, "started_at", (json_int_t)at - 800,
                "finished_at", (json_int_t)at, "next_attempt_at", "params",
                "date", "2026-12-01", "timeout_ms", "scheduled_for",
                "schedule_id", "parent_run_id", "exit_code", 0, "reason",
                "output_tail", "loaded 1204 rows into warehouse.orders\n",
                "backend_ref", "48213", "heartbeat_only", 0);
}

static void uuid_of(char *out, unsigned n, unsigned salt) {
        snprintf(out, 37, "%08x-%04x-4%03x-8%03x-%012x", n, salt & 0xffff,
                 n & 0xfff, (n >> 12) & 0xfff, n * 2654435761u);
}

/* What cmd_status does for a deployment: walk its active runs. */
static size_t active_lookup(const wpart_t *part) {
        const json_t *set = wpart_live_runs(part, "etl-nightly");
        const char *k;
        json_t *v;
        size_t n = 0;

        json_object_foreach((json_t *)set, k, v)
                if (json_object_get(part->runs, k))
                        n++;
        return n;
}

static double lookups_per_s(const wpart_t *part) {
        double t0 = mono_s(), t;
        size_t i, n = 0, sum = 0;

        do {
                for (i = 0; i < 10000; i++)
                        sum += active_lookup(part);
                n += 10000;
                t = mono_s() - t0;
        } while (t < 0.2);
        if (sum != n * LIVE_RUNS)
                fprintf(stderr, "bench_state: lookup found %zu, not %zu\n",
                        sum, n * LIVE_RUNS);
        return (double)n / t;
}

static void add_live(wpart_t *part) {
        char id[40];
        int i;

        for (i = 0; i < LIVE_RUNS; i++) {
                json_t *rs;

                uuid_of(id, (unsigned)i, 0xbeef);
                rs = finished_run(id, id, 1);
                json_object_set_new(rs, "status", json_string("RUNNING"));
                json_object_set_new(rs, "finished_at", json_null());
                wpart_put_run(part, id, rs);
        }
}

int main(int argc, char **argv) {
        char errstr[256], run_id[40], cmd_id[40];
        floq_codec_t *codec;
        wpart_t empty, part;
        size_t before, after, i, runs = 100000;
        double per_run, with, without, ratio;
        int opt, miss = 0;

        while ((opt = getopt(argc, argv, "n:")) != -1) {
                if (opt == 'n')
                        runs = strtoul(optarg, NULL, 10);
                else {
                        fprintf(stderr, "usage: bench_state [-n RUNS]\n");
                        return 2;
                }
        }
        if (!(codec = floq_codec_new(1 << 20, errstr, sizeof(errstr)))) {
                fprintf(stderr, "bench_state: %s\n", errstr);
                return 1;
        }
        wpart_init(&empty);
        add_live(&empty);
        wpart_init(&part);
        malloc_trim(0);
        before = mallinfo2().uordblks;
        for (i = 0; i < runs; i++) {
                json_t *rs = NULL, *in;
                void *buf;
                size_t len;

                uuid_of(run_id, (unsigned)i, 1);
                uuid_of(cmd_id, (unsigned)i, 2);
                in = finished_run(run_id, cmd_id, 1700000000000 + (int64_t)i);
                if (floq_codec_encode(codec, FLOQ_MSG_RUN_STATE, in, &buf,
                                      &len, errstr, sizeof(errstr)) ||
                    floq_codec_decode(codec, FLOQ_MSG_RUN_STATE, buf, len,
                                      &rs, errstr, sizeof(errstr))) {
                        fprintf(stderr, "bench_state: %s\n", errstr);
                        return 1;
                }
                free(buf);
                json_decref(in);
                wpart_put_run(&part, run_id, rs);
        }
        after = mallinfo2().uordblks;
        add_live(&part);
        per_run = (double)(after - before) / (double)runs;

        /* interleaved, the best of five each: the two sides see the same
         * machine (other processes, frequency) */
        with = without = 0;
        for (i = 0; i < 5; i++) {
                double a = lookups_per_s(&empty), b = lookups_per_s(&part);

                if (a > without)
                        without = a;
                if (b > with)
                        with = b;
        }
        ratio = with / without;

        printf("retained finished runs: %zu\n", runs);
        printf("heap per retained finished run: %.0f B (target <= 300 B): "
               "%s\n",
               per_run, per_run <= 300 ? "PASS" : "MISS");
        printf("active-run lookup with them: %.0f/s, without: %.0f/s, "
               "ratio %.2f (target >= 0.90): %s\n",
               with, without, ratio, ratio >= 0.9 ? "PASS" : "MISS");
        miss = ratio < 0.9;
        wpart_release(&part);
        wpart_release(&empty);
        floq_codec_destroy(codec);
        /* A MISS of the memory target is reported, not a failure: the
         * lookup ratio is what per-command cost depends on. */
        return miss ? 1 : 0;
}
