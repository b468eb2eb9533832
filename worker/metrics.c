/*
 * metrics.c - the worker's operator endpoint: /metrics (Prometheus text
 * format), /healthz and /readyz, served by libmicrohttpd on metrics.listen
 * (off when unset). The loop and its handlers update the counters and
 * histograms here through small wmetrics_*() calls that only touch atomics
 * (no lock on the hot path); the HTTP thread reads them when scraped. What
 * librdkafka's statistics bring (broker round-trip times, queue depths,
 * the consumer's fetch positions for the lag) arrives every
 * statistics.interval.ms in the stats callback, on the loop thread, and is
 * kept under one mutex that the loop takes every few seconds and the HTTP
 * thread once per scrape. docs/worker.md, "Metrics and probes", lists every
 * metric.
 */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "notify.h"
#include "worker_int.h"

/* ------------------------------------------------------------- labels */

/* Command kinds, indexed by wcmd_kind_t. */
static const char *const kind_label[WM_KINDS] = {
        "unknown", "deploy", "run", "stop", "schedule", "unschedule",
        "status", "validate",
};

/* Outcomes of a command: the status of its first reply, or what happened
 * to it without one. Replies are counted by the same statuses. */
static const char *const outcome_label[WM_OUTCOMES] = {
        "UNKNOWN", "DEPLOYED", "REJECTED", "ACCEPTED", "RUNNING",
        "SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT", "LOST", "STOPPED",
        "SCHEDULED", "UNSCHEDULED", "STATUS", "VALID", "INVALID",
        "dlq", "forwarded", "none",
};
#define WM_OUT_DLQ (WM_OUTCOMES - 3)
#define WM_OUT_FORWARDED (WM_OUTCOMES - 2)
#define WM_OUT_NONE (WM_OUTCOMES - 1)

static const char *const terminal_label[WM_TERMINALS] = {
        "SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT", "LOST",
};

static const double run_bounds[] = { 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900,
                                     3600 };
static const double commit_bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25, 0.5, 1, 2.5, 5, 10 };
static const double restore_bounds[] = { 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5,
                                         10, 30, 60, 120 };

static int label_index(const char *const *labels, int n, const char *s) {
        int i;

        for (i = 0; s && i < n; i++)
                if (!strcmp(labels[i], s))
                        return i;
        return -1;
}

static void hist_init(wm_hist_t *h, const double *bounds, int n) {
        h->bounds = bounds;
        h->n = n;
}

void wmetrics_hist_observe(wm_hist_t *h, double seconds) {
        int i;

        if (seconds < 0)
                seconds = 0;
        for (i = 0; i < h->n && seconds > h->bounds[i]; i++)
                ;
        atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&h->sum_us,
                                  (uint64_t)(seconds * 1e6 + 0.5),
                                  memory_order_relaxed);
}

/* ------------------------------------------------------------- life */

wmetrics_t *wmetrics_new(const floq_conf_t *conf) {
        wmetrics_t *m = calloc(1, sizeof(*m));
        const char *l;

        if (!m)
                return NULL;
        pthread_mutex_init(&m->lock, NULL);
        m->cur_outcome = -1;
        hist_init(&m->run_duration, run_bounds,
                  (int)(sizeof(run_bounds) / sizeof(run_bounds[0])));
        hist_init(&m->commit_latency, commit_bounds,
                  (int)(sizeof(commit_bounds) / sizeof(commit_bounds[0])));
        hist_init(&m->restore_duration, restore_bounds,
                  (int)(sizeof(restore_bounds) / sizeof(restore_bounds[0])));
        l = conf ? floq_conf_str(conf, "metrics.listen") : NULL;
        m->enabled = l && *l;
        m->concurrency = conf ? (int)floq_conf_int(conf, "worker.concurrency")
                              : 0;
        m->alive_bound_ms =
                conf ? floq_conf_int(conf, "worker.progress.timeout.ms") : 0;
        if (m->alive_bound_ms <= 0)
                m->alive_bound_ms = 60000;
        atomic_store(&m->loop_pass_mono, floq_mono_ms());
        return m;
}

void wmetrics_destroy(wmetrics_t *m) {
        if (!m)
                return;
        if (m->mhd)
                MHD_stop_daemon(m->mhd);
        pthread_mutex_destroy(&m->lock);
        free(m->lag);
        free(m);
}

/* ------------------------------------------------------------- hooks */

#define M(w) ((w) ? (w)->metrics : NULL)
#define INC(x) atomic_fetch_add_explicit(&(x), 1, memory_order_relaxed)

void wmetrics_loop_pass(floq_worker_t *w) {
        wmetrics_t *m = M(w);

        if (!m)
                return;
        atomic_store_explicit(&m->loop_pass_mono, floq_mono_ms(),
                              memory_order_relaxed);
        if (w->ex)
                atomic_store_explicit(&m->slots_used,
                                      floq_executor_active(w->ex),
                                      memory_order_relaxed);
        wnotify_pass(w);
}

void wmetrics_command(floq_worker_t *w, const json_t *cmd) {
        wmetrics_t *m = M(w);
        json_t *body;
        int k;

        if (!m)
                return;
        k = cmd ? (int)wcmd_kind(cmd, &body) : WCMD_UNKNOWN;
        if (k < 0 || k >= WM_KINDS)
                k = WCMD_UNKNOWN;
        INC(m->commands[k][m->cur_outcome >= 0 ? m->cur_outcome
                                               : WM_OUT_NONE]);
        m->cur_outcome = -1;
}

void wmetrics_reply(floq_worker_t *w, const json_t *reply) {
        wmetrics_t *m = M(w);
        int i;

        if (!m)
                return;
        i = label_index(outcome_label, WM_OUT_DLQ, wjs(reply, "status"));
        INC(m->replies[i >= 0 ? i : 0]);
        if (w->src_active && m->cur_outcome < 0)
                m->cur_outcome = i >= 0 ? i : 0;
}

void wmetrics_dlq(floq_worker_t *w) {
        wmetrics_t *m = M(w);

        if (!m)
                return;
        INC(m->dlq);
        if (w->src_active && m->cur_outcome < 0)
                m->cur_outcome = WM_OUT_DLQ;
}

void wmetrics_forwarded(floq_worker_t *w) {
        wmetrics_t *m = M(w);

        if (m && m->cur_outcome < 0)
                m->cur_outcome = WM_OUT_FORWARDED;
}

/* Index of the backend of run @p rs's deployment (partition p). */
static int run_backend(floq_worker_t *w, int32_t p, const json_t *rs) {
        const json_t *dep = NULL;
        int i;

        if (w->parts && p >= 0 && p < w->part_cnt)
                dep = wpart_deployment(&w->parts[p],
                                      wjs(rs, "deployment"));
        for (i = 0; i < WM_BACKENDS - 1 && floq_backends[i]; i++)
                if (dep && wjs(dep, "backend") &&
                    !strcmp(wjs(dep, "backend"), floq_backends[i]->name))
                        return i;
        return WM_BACKENDS - 1; /* "other" */
}

static const char *backend_label(int i) {
        int n;

        for (n = 0; n < WM_BACKENDS - 1 && floq_backends[n]; n++)
                ;
        return i < n ? floq_backends[i]->name : "other";
}

void wmetrics_run_start(floq_worker_t *w, int32_t p, const json_t *rs) {
        wmetrics_t *m = M(w);

        if (m)
                INC(m->runs_started[run_backend(w, p, rs)]);
}

void wmetrics_run_end(floq_worker_t *w, int32_t p, const json_t *rs) {
        wmetrics_t *m = M(w);
        int t;
        int64_t started, finished;

        if (!m)
                return;
        t = label_index(terminal_label, WM_TERMINALS, wjs(rs, "status"));
        if (t < 0)
                return;
        INC(m->runs_ended[t][run_backend(w, p, rs)]);
        started = wji(rs, "started_at", -1);
        finished = wji(rs, "finished_at", -1);
        if (started > 0 && finished >= started)
                wmetrics_hist_observe(&m->run_duration,
                                      (double)(finished - started) / 1000.0);
}

void wmetrics_txn_commit_begin(floq_worker_t *w) {
        wmetrics_t *m = M(w);

        if (m)
                m->commit_start_mono = floq_mono_ms();
}

void wmetrics_txn_committed(floq_worker_t *w) {
        wmetrics_t *m = M(w);

        if (!m)
                return;
        INC(m->commits);
        if (m->commit_start_mono > 0)
                wmetrics_hist_observe(&m->commit_latency,
                                      (double)(floq_mono_ms() -
                                               m->commit_start_mono) /
                                              1000.0);
        m->commit_start_mono = 0;
        atomic_store(&m->fenced, 0);
}

void wmetrics_txn_aborted(floq_worker_t *w) {
        wmetrics_t *m = M(w);

        if (m) {
                INC(m->aborts);
                m->commit_start_mono = 0;
        }
}

void wmetrics_fenced(floq_worker_t *w) {
        wmetrics_t *m = M(w);

        if (m)
                atomic_store(&m->fenced, 1);
}

void wmetrics_rebalance_begin(floq_worker_t *w, rd_kafka_resp_err_t err) {
        wmetrics_t *m = M(w);

        if (!m)
                return;
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                INC(m->rebalances[0]);
                atomic_store(&m->restoring, 1);
                m->rebalance_start_mono = floq_mono_ms();
        } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS &&
                   w->consumer && rd_kafka_assignment_lost(w->consumer)) {
                INC(m->rebalances[2]);
                atomic_store(&m->joined, 0);
        } else {
                INC(m->rebalances[1]);
        }
}

void wmetrics_rebalance_end(floq_worker_t *w, rd_kafka_resp_err_t err) {
        wmetrics_t *m = M(w);
        int32_t p;
        int owned = 0;

        if (!m)
                return;
        for (p = 0; w->parts && p < w->part_cnt; p++)
                owned += w->parts[p].owned != 0;
        atomic_store(&m->owned, owned);
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                if (!w->fatal)
                        wmetrics_hist_observe(
                                &m->restore_duration,
                                (double)(floq_mono_ms() -
                                         m->rebalance_start_mono) /
                                        1000.0);
                atomic_store(&m->joined, 1);
                atomic_store(&m->restoring, 0);
        }
}

void wmetrics_sched_fire(floq_worker_t *w) {
        wmetrics_t *m = M(w);

        if (m)
                INC(m->sched_fires);
}

void wmetrics_sched_misfires(floq_worker_t *w, size_t n) {
        wmetrics_t *m = M(w);

        if (m && n)
                atomic_fetch_add(&m->sched_misfires, (uint64_t)n);
}

void wmetrics_stopping(floq_worker_t *w, floq_err_t why) {
        wmetrics_t *m = M(w);

        if (m)
                atomic_store(&m->stopping, why ? (int)why : -1);
        wnotify_stopping(why);
}

/* ------------------------------------------------------------- stats */

/* The consumer's lag of partition @p p that counts records: the high
 * watermark less the committed offset, less what the fetcher passed
 * without delivering (transaction markers, aborted records) when nothing
 * fetched waits in its queue. -1: unknown. Loop thread. */
static int64_t part_lag(floq_worker_t *w, int32_t p, const json_t *st) {
        const wpart_t *part = &w->parts[p];
        int64_t hi = wji(st, "hi_offset", -1);
        int64_t fetch = wji(st, "next_offset", -1);
        int64_t fetchq = wji(st, "fetchq_cnt", 0);
        int64_t committed = part->committed, delivered, lag;

        if (!part->owned || hi < 0)
                return -1;
        if (committed < 0)
                committed = wji(st, "committed_offset", -1);
        if (committed < 0) /* nothing committed yet: all of it */
                committed = wji(st, "lo_offset", -1);
        if (committed < 0)
                committed = 0;
        lag = hi - committed;
        delivered = part->next_offset > committed ? part->next_offset
                                                  : committed;
        if (fetchq == 0 && part->skip_from < 0 && fetch > delivered)
                lag -= (fetch < hi ? fetch : hi) - delivered;
        return lag > 0 ? lag : 0;
}

void wmetrics_stats(floq_worker_t *w, int client, const char *json,
                    size_t len) {
        wmetrics_t *m = M(w);
        json_error_t jerr;
        json_t *root, *brokers, *b, *parts, *t;
        const char *name;
        wm_client_t c;
        int32_t p;

        if (!m || client < 0 || client > 1)
                return;
        if (!(root = json_loadb(json, len, 0, &jerr)))
                return;
        memset(&c, 0, sizeof(c));
        c.valid = 1;
        c.msg_cnt = wji(root, "msg_cnt", 0);
        c.replyq = wji(root, "replyq", 0);
        brokers = json_object_get(root, "brokers");
        json_object_foreach(brokers, name, b) {
                wm_broker_t *wb;
                const char *src;

                src = wjs(b, "source");
                if (wji(b, "nodeid", -1) < 0 || c.broker_cnt >= WM_BROKERS ||
                    (src && (!strcmp(src, "logical") ||
                             !strcmp(src, "internal"))))
                        continue; /* bootstrap, coordinator, internal */
                wb = &c.brokers[c.broker_cnt++];
                snprintf(wb->name, sizeof(wb->name), "%s", name);
                wb->rtt_us = wji(json_object_get(b, "rtt"), "avg", 0);
                wb->outbuf = wji(b, "outbuf_cnt", 0);
                wb->waitresp = wji(b, "waitresp_cnt", 0);
        }
        t = json_object_get(json_object_get(root, "topics"), w->t_commands
                                                                   ? w->t_commands
                                                                   : "");
        parts = json_object_get(t, "partitions");
        pthread_mutex_lock(&m->lock);
        m->clients[client] = c;
        if (client == 0 && w->parts && w->part_cnt > 0) {
                if (m->lag_cnt != w->part_cnt) {
                        int64_t *l = realloc(m->lag, sizeof(*l) *
                                                     (size_t)w->part_cnt);

                        if (l) {
                                m->lag = l;
                                m->lag_cnt = w->part_cnt;
                        }
                }
                for (p = 0; p < m->lag_cnt; p++) {
                        char key[16];
                        const json_t *st;

                        snprintf(key, sizeof(key), "%d", (int)p);
                        st = json_object_get(parts, key);
                        m->lag[p] = st ? part_lag(w, p, st) : -1;
                }
        }
        pthread_mutex_unlock(&m->lock);
        json_decref(root);
}

static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
        wmetrics_stats(opaque, rd_kafka_type(rk) == RD_KAFKA_CONSUMER ? 0 : 1,
                       json, len);
        return 0; /* librdkafka frees json */
}

void wmetrics_kafka_conf(floq_worker_t *w, rd_kafka_conf_t *kc) {
        wmetrics_t *m = M(w);
        char buf[32], errstr[256];
        size_t n = sizeof(buf);

        if (!m || !m->enabled)
                return;
        /* -X statistics.interval.ms wins; else every 5 s. */
        if (rd_kafka_conf_get(kc, "statistics.interval.ms", buf, &n) !=
                    RD_KAFKA_CONF_OK ||
            !strcmp(buf, "0"))
                rd_kafka_conf_set(kc, "statistics.interval.ms", "5000",
                                  errstr, sizeof(errstr));
        rd_kafka_conf_set_stats_cb(kc, stats_cb);
}

/* ------------------------------------------------------------- render */

typedef struct wbuf_s {
        char *p;
        size_t len, size;
        int oom;
} wbuf_t;

static void out(wbuf_t *b, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void out(wbuf_t *b, const char *fmt, ...) {
        va_list ap;
        int n;

        if (b->oom)
                return;
        for (;;) {
                va_start(ap, fmt);
                n = vsnprintf(b->p + b->len, b->size - b->len, fmt, ap);
                va_end(ap);
                if (n < 0) {
                        b->oom = 1;
                        return;
                }
                if ((size_t)n < b->size - b->len) {
                        b->len += (size_t)n;
                        return;
                }
                char *np = realloc(b->p, b->size * 2 + (size_t)n);

                if (!np) {
                        b->oom = 1;
                        return;
                }
                b->p = np;
                b->size = b->size * 2 + (size_t)n;
        }
}

static void family(wbuf_t *b, const char *name, const char *type,
                   const char *help) {
        out(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

#define LD(x) ((unsigned long long)atomic_load_explicit(&(x), \
                                                         memory_order_relaxed))

static void hist(wbuf_t *b, const char *name, const char *help,
                 wm_hist_t *h) {
        unsigned long long cum = 0;
        int i;

        family(b, name, "histogram", help);
        for (i = 0; i <= h->n; i++) {
                cum += LD(h->counts[i]);
                if (i < h->n)
                        out(b, "%s_bucket{le=\"%g\"} %llu\n", name,
                            h->bounds[i], cum);
                else
                        out(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, cum);
        }
        out(b, "%s_sum %.6f\n", name, (double)LD(h->sum_us) / 1e6);
        out(b, "%s_count %llu\n", name, cum);
}

/* A label value escaped for the exposition format (\\, \", \n). */
static void label_value(char *dst, size_t size, const char *s) {
        size_t j = 0;

        for (; s && *s && j + 3 < size; s++) {
                if (*s == '\\' || *s == '"') {
                        dst[j++] = '\\';
                        dst[j++] = *s;
                } else if (*s == '\n') {
                        dst[j++] = '\\';
                        dst[j++] = 'n';
                } else {
                        dst[j++] = *s;
                }
        }
        dst[j] = '\0';
}

const char *wmetrics_not_ready(wmetrics_t *m) {
        int s = atomic_load(&m->stopping);

        if (s > 0 && s == FLOQ_ERR_FENCED)
                return "stopping: the producer is fenced (another instance "
                       "with the same worker id)";
        if (s)
                return "stopping";
        if (atomic_load(&m->fenced))
                return "the producer is fenced: replacing it";
        if (atomic_load(&m->restoring))
                return "restoring partitions";
        if (!atomic_load(&m->joined))
                return "not in the consumer group";
        return NULL;
}

int wmetrics_alive(wmetrics_t *m, int64_t now_mono) {
        /* A restore is the loop's own bounded work (worker.restore.
         * timeout.ms), as the watchdog counts it. */
        return atomic_load(&m->restoring) ||
               now_mono - atomic_load(&m->loop_pass_mono) <= m->alive_bound_ms;
}

char *wmetrics_render(wmetrics_t *m) {
        static const char *const client_label[2] = { "consumer", "producer" };
        wbuf_t b = { malloc(8192), 0, 8192, 0 };
        int i, j, used, nb;
        wm_client_t cl[2];
        int64_t *lag = NULL;
        int32_t lag_cnt;

        if (!b.p)
                return NULL;
        for (nb = 0; nb < WM_BACKENDS - 1 && floq_backends[nb]; nb++)
                ;
        family(&b, "floq_build_info", "gauge",
               "the worker's version; always 1");
        out(&b, "floq_build_info{version=\"%s\"} 1\n", FLOQ_VERSION_STR);

        family(&b, "floq_commands_total", "counter",
               "commands handled, by type and outcome (the status of the "
               "first reply, dlq, forwarded or none)");
        for (i = 0; i < WM_KINDS; i++)
                for (j = 0; j < WM_OUTCOMES; j++)
                        if (LD(m->commands[i][j]) || (i == WCMD_RUN &&
                                                      j == 3))
                                out(&b, "floq_commands_total{type=\"%s\","
                                        "outcome=\"%s\"} %llu\n",
                                    kind_label[i], outcome_label[j],
                                    LD(m->commands[i][j]));

        family(&b, "floq_replies_total", "counter",
               "replies written, by status");
        for (j = 0; j < WM_OUT_DLQ; j++)
                if (LD(m->replies[j]))
                        out(&b, "floq_replies_total{status=\"%s\"} %llu\n",
                            outcome_label[j], LD(m->replies[j]));

        family(&b, "floq_dlq_records_total", "counter",
               "records written to the dead-letter topic");
        out(&b, "floq_dlq_records_total %llu\n", LD(m->dlq));

        used = atomic_load(&m->slots_used);
        family(&b, "floq_runs_active", "gauge",
               "live attempts on this worker");
        out(&b, "floq_runs_active %d\n", used);
        family(&b, "floq_runs_started_total", "counter",
               "attempts started, by backend");
        for (i = 0; i <= nb; i++)
                if (i < nb || LD(m->runs_started[WM_BACKENDS - 1]))
                        out(&b, "floq_runs_started_total{backend=\"%s\"} "
                                "%llu\n",
                            backend_label(i < nb ? i : WM_BACKENDS - 1),
                            LD(m->runs_started[i < nb ? i
                                                      : WM_BACKENDS - 1]));
        family(&b, "floq_runs_finished_total", "counter",
               "runs ended, by terminal state and backend");
        for (j = 0; j < WM_TERMINALS; j++)
                for (i = 0; i < WM_BACKENDS; i++) {
                        if (i >= nb && i != WM_BACKENDS - 1)
                                continue;
                        if (!LD(m->runs_ended[j][i]))
                                continue;
                        out(&b, "floq_runs_finished_total{state=\"%s\","
                                "backend=\"%s\"} %llu\n",
                            terminal_label[j], backend_label(i),
                            LD(m->runs_ended[j][i]));
                }
        hist(&b, "floq_run_duration_seconds",
             "duration of the last attempt of ended runs (started to "
             "finished)",
             &m->run_duration);

        family(&b, "floq_executor_slots_used", "gauge",
               "executor slots in use (worker.concurrency)");
        out(&b, "floq_executor_slots_used %d\n", used);
        family(&b, "floq_executor_slots_free", "gauge",
               "executor slots free");
        out(&b, "floq_executor_slots_free %d\n",
            m->concurrency > used ? m->concurrency - used : 0);

        family(&b, "floq_transaction_commits_total", "counter",
               "transactions committed");
        out(&b, "floq_transaction_commits_total %llu\n", LD(m->commits));
        family(&b, "floq_transaction_aborts_total", "counter",
               "transactions aborted");
        out(&b, "floq_transaction_aborts_total %llu\n", LD(m->aborts));
        hist(&b, "floq_transaction_commit_duration_seconds",
             "time to commit a transaction (its offsets and the commit)",
             &m->commit_latency);

        family(&b, "floq_rebalances_total", "counter",
               "rebalance callbacks, by type (assign, revoke, lost)");
        out(&b, "floq_rebalances_total{type=\"assign\"} %llu\n",
            LD(m->rebalances[0]));
        out(&b, "floq_rebalances_total{type=\"revoke\"} %llu\n",
            LD(m->rebalances[1]));
        out(&b, "floq_rebalances_total{type=\"lost\"} %llu\n",
            LD(m->rebalances[2]));
        family(&b, "floq_owned_partitions", "gauge",
               "commands partitions owned and restored");
        out(&b, "floq_owned_partitions %d\n", atomic_load(&m->owned));
        hist(&b, "floq_restore_duration_seconds",
             "time to restore the partitions of one assignment",
             &m->restore_duration);

        family(&b, "floq_schedule_fires_total", "counter",
               "schedule due times that started a run");
        out(&b, "floq_schedule_fires_total %llu\n", LD(m->sched_fires));
        family(&b, "floq_schedule_misfires_total", "counter",
               "schedule due times skipped (catch-up policy, overlap, "
               "disabled deployment)");
        out(&b, "floq_schedule_misfires_total %llu\n", LD(m->sched_misfires));

        family(&b, "floq_ready", "gauge", "1 when /readyz answers 200");
        out(&b, "floq_ready %d\n", wmetrics_not_ready(m) ? 0 : 1);

        pthread_mutex_lock(&m->lock);
        cl[0] = m->clients[0];
        cl[1] = m->clients[1];
        lag_cnt = m->lag_cnt;
        if (lag_cnt > 0 && (lag = malloc(sizeof(*lag) * (size_t)lag_cnt)))
                memcpy(lag, m->lag, sizeof(*lag) * (size_t)lag_cnt);
        pthread_mutex_unlock(&m->lock);

        family(&b, "floq_consumer_lag", "gauge",
               "records of an owned commands partition not yet committed "
               "(high watermark - committed offset, transaction markers "
               "not counted)");
        for (i = 0; lag && i < lag_cnt; i++)
                if (lag[i] >= 0)
                        out(&b, "floq_consumer_lag{partition=\"%d\"} %lld\n",
                            i, (long long)lag[i]);
        free(lag);

        family(&b, "floq_kafka_broker_rtt_seconds", "gauge",
               "librdkafka: average request round-trip time, by client "
               "and broker");
        for (i = 0; i < 2; i++)
                for (j = 0; cl[i].valid && j < cl[i].broker_cnt; j++) {
                        char lv[300];

                        label_value(lv, sizeof(lv), cl[i].brokers[j].name);
                        out(&b, "floq_kafka_broker_rtt_seconds{client=\"%s\","
                                "broker=\"%s\"} %.6f\n",
                            client_label[i], lv,
                            (double)cl[i].brokers[j].rtt_us / 1e6);
                }
        family(&b, "floq_kafka_broker_outbuf_requests", "gauge",
               "librdkafka: requests waiting to be sent, by client and "
               "broker");
        for (i = 0; i < 2; i++)
                for (j = 0; cl[i].valid && j < cl[i].broker_cnt; j++) {
                        char lv[300];

                        label_value(lv, sizeof(lv), cl[i].brokers[j].name);
                        out(&b, "floq_kafka_broker_outbuf_requests{client="
                                "\"%s\",broker=\"%s\"} %lld\n",
                            client_label[i], lv,
                            (long long)cl[i].brokers[j].outbuf);
                }
        family(&b, "floq_kafka_broker_waitresp_requests", "gauge",
               "librdkafka: requests sent and awaiting a response, by "
               "client and broker");
        for (i = 0; i < 2; i++)
                for (j = 0; cl[i].valid && j < cl[i].broker_cnt; j++) {
                        char lv[300];

                        label_value(lv, sizeof(lv), cl[i].brokers[j].name);
                        out(&b, "floq_kafka_broker_waitresp_requests{client="
                                "\"%s\",broker=\"%s\"} %lld\n",
                            client_label[i], lv,
                            (long long)cl[i].brokers[j].waitresp);
                }
        family(&b, "floq_kafka_queue_messages", "gauge",
               "librdkafka: messages in the client's queues (msg_cnt)");
        for (i = 0; i < 2; i++)
                if (cl[i].valid)
                        out(&b, "floq_kafka_queue_messages{client=\"%s\"} "
                                "%lld\n",
                            client_label[i], (long long)cl[i].msg_cnt);
        family(&b, "floq_kafka_reply_queue_ops", "gauge",
               "librdkafka: operations waiting to be served (replyq)");
        for (i = 0; i < 2; i++)
                if (cl[i].valid)
                        out(&b, "floq_kafka_reply_queue_ops{client=\"%s\"} "
                                "%lld\n",
                            client_label[i], (long long)cl[i].replyq);
        if (b.oom) {
                free(b.p);
                return NULL;
        }
        return b.p;
}

/* ------------------------------------------------------------- server */

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status,
                               const char *ctype, char *body) {
        struct MHD_Response *r;
        enum MHD_Result ret;

        r = MHD_create_response_from_buffer(strlen(body), body,
                                            MHD_RESPMEM_MUST_FREE);
        if (!r) {
                free(body);
                return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", ctype);
        ret = MHD_queue_response(c, status, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c,
                              const char *url, const char *method,
                              const char *version, const char *data,
                              size_t *data_size, void **con_cls) {
        wmetrics_t *m = cls;
        const char *why;
        char *body;

        (void)version;
        (void)data;
        (void)data_size;
        (void)con_cls;
        if (strcmp(method, "GET") && strcmp(method, "HEAD"))
                return respond(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
                               strdup("method not allowed\n"));
        if (!strcmp(url, "/metrics")) {
                if (!(body = wmetrics_render(m)))
                        return MHD_NO;
                return respond(c, MHD_HTTP_OK,
                               "text/plain; version=0.0.4; charset=utf-8",
                               body);
        }
        if (!strcmp(url, "/healthz")) {
                int alive = wmetrics_alive(m, floq_mono_ms());

                return respond(c, alive ? MHD_HTTP_OK
                                        : MHD_HTTP_SERVICE_UNAVAILABLE,
                               "text/plain",
                               strdup(alive ? "ok\n"
                                            : "the loop made no pass within "
                                              "worker.progress.timeout.ms\n"));
        }
        if (!strcmp(url, "/readyz")) {
                char txt[300];

                why = wmetrics_not_ready(m);
                snprintf(txt, sizeof(txt), "%s\n", why ? why : "ready");
                return respond(c, why ? MHD_HTTP_SERVICE_UNAVAILABLE
                                      : MHD_HTTP_OK,
                               "text/plain", strdup(txt));
        }
        return respond(c, MHD_HTTP_NOT_FOUND, "text/plain",
                       strdup("not found: /metrics, /healthz, /readyz\n"));
}

floq_err_t wmetrics_start(floq_worker_t *w, char *errstr,
                          size_t errstr_size) {
        wmetrics_t *m = M(w);
        const char *listen;
        struct addrinfo *ai = NULL;

        if (!m || !m->enabled || m->mhd)
                return FLOQ_OK;
        listen = floq_conf_str(w->conf, "metrics.listen");
        if (floq_listen_resolve("metrics.listen", listen, &ai, errstr,
                                errstr_size))
                return FLOQ_ERR_CONFIG;
        m->mhd = MHD_start_daemon(
                MHD_USE_INTERNAL_POLLING_THREAD |
                        (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0),
                0, NULL, NULL, answer, m, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                /* Idle or slow clients must not hold the probes off
                 * (a liveness probe that fails restarts a healthy
                 * worker): a few connections per address, a short idle
                 * timeout, room for many addresses. */
                MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
                MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)4,
                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)3, MHD_OPTION_END);
        freeaddrinfo(ai);
        if (!m->mhd) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                            "metrics.listen '%s': cannot listen: %s", listen,
                            strerror(errno));
                return FLOQ_ERR_CONFIG;
        }
        floq_notice("metrics", "serving /metrics, /healthz and /readyz on %s",
                    listen);
        return FLOQ_OK;
}
