/*
 * test_metrics.c - unit tests of the worker's exposition (worker/metrics.c):
 * the rendered text is Prometheus's text format (HELP and TYPE once per
 * family, floq_ prefix, counters ending in _total), counters by type and
 * outcome, histogram buckets cumulative up to +Inf with _sum and _count,
 * label values escaped, librdkafka statistics turned into broker and queue
 * gauges, and the readiness and liveness rules. No Kafka: a worker struct
 * with only the metrics set.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "worker_int.h"

static floq_worker_t w;

static void setup(void) {
        memset(&w, 0, sizeof(w));
        w.metrics = wmetrics_new(NULL);
        ck_assert_ptr_nonnull(w.metrics);
}

static void teardown(void) { wmetrics_destroy(w.metrics); }

static char *render(void) {
        char *t = wmetrics_render(w.metrics);

        ck_assert_ptr_nonnull(t);
        return t;
}

/* The value of sample line @p sample ("name{labels}") in @p text, -1 when
 * missing. */
static double sample(const char *text, const char *name) {
        size_t n = strlen(name);
        const char *p = text;

        while ((p = strstr(p, name))) {
                if ((p == text || p[-1] == '\n') && p[n] == ' ')
                        return strtod(p + n + 1, NULL);
                p += n;
        }
        return -1;
}

static json_t *cmd_of(const char *body) {
        json_t *c = json_pack("{s:s, s:{s:{}}}", "command_id", "c1", "body",
                              body);

        ck_assert_ptr_nonnull(c);
        return c;
}

START_TEST(build_info_and_families) {
        char *t = render(), *line, *save = NULL;
        int helps = 0, types = 0;

        ck_assert_ptr_nonnull(strstr(t, "floq_build_info{version=\"" FLOQ_VERSION_STR
                                        "\"} 1\n"));
        /* every sample and family is floq_; counters end in _total */
        for (line = strtok_r(t, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
                if (!strncmp(line, "# HELP ", 7)) {
                        helps++;
                        ck_assert_msg(!strncmp(line + 7, "floq_", 5), "%s",
                                      line);
                } else if (!strncmp(line, "# TYPE ", 7)) {
                        char name[128], type[32];

                        types++;
                        ck_assert_int_eq(sscanf(line + 7, "%127s %31s", name,
                                                type),
                                         2);
                        if (!strcmp(type, "counter"))
                                ck_assert_msg(strlen(name) > 6 &&
                                                      !strcmp(name + strlen(name) - 6,
                                                              "_total"),
                                              "counter %s", name);
                        ck_assert_msg(!strcmp(type, "counter") ||
                                              !strcmp(type, "gauge") ||
                                              !strcmp(type, "histogram"),
                                      "%s", line);
                } else {
                        ck_assert_msg(!strncmp(line, "floq_", 5), "%s", line);
                }
        }
        ck_assert_int_gt(helps, 20);
        ck_assert_int_eq(helps, types);
        free(t);
}
END_TEST

START_TEST(commands_by_type_and_outcome) {
        json_t *run = cmd_of("RunBody"), *dep = cmd_of("DeployBody");
        json_t *acc = json_pack("{s:s}", "status", "ACCEPTED");
        json_t *rej = json_pack("{s:s}", "status", "REJECTED");
        json_t *running = json_pack("{s:s}", "status", "RUNNING");
        char *t;

        /* a run command answered ACCEPTED, then RUNNING (its first reply
         * sets the outcome) */
        w.src_active = 1;
        wmetrics_reply(&w, acc);
        wmetrics_reply(&w, running);
        wmetrics_command(&w, run);
        /* a deploy refused: REJECTED and a DLQ record */
        wmetrics_reply(&w, rej);
        wmetrics_dlq(&w);
        wmetrics_command(&w, dep);
        /* an undecodable one: the DLQ only */
        wmetrics_dlq(&w);
        wmetrics_command(&w, NULL);
        /* a forwarded one, and one without any reply */
        wmetrics_forwarded(&w);
        wmetrics_command(&w, run);
        wmetrics_command(&w, run);
        /* replies outside a command (a run's events) set no outcome */
        w.src_active = 0;
        wmetrics_reply(&w, acc);
        wmetrics_command(&w, run);
        t = render();
        ck_assert_double_eq(sample(t, "floq_commands_total{type=\"run\",outcome=\"ACCEPTED\"}"), 1);
        ck_assert_double_eq(sample(t, "floq_commands_total{type=\"deploy\",outcome=\"REJECTED\"}"), 1);
        ck_assert_double_eq(sample(t, "floq_commands_total{type=\"unknown\",outcome=\"dlq\"}"), 1);
        ck_assert_double_eq(sample(t, "floq_commands_total{type=\"run\",outcome=\"forwarded\"}"), 1);
        ck_assert_double_eq(sample(t, "floq_commands_total{type=\"run\",outcome=\"none\"}"), 2);
        ck_assert_double_eq(sample(t, "floq_replies_total{status=\"ACCEPTED\"}"), 2);
        ck_assert_double_eq(sample(t, "floq_replies_total{status=\"RUNNING\"}"), 1);
        ck_assert_double_eq(sample(t, "floq_replies_total{status=\"REJECTED\"}"), 1);
        ck_assert_double_eq(sample(t, "floq_dlq_records_total"), 2);
        free(t);
        json_decref(run);
        json_decref(dep);
        json_decref(acc);
        json_decref(rej);
        json_decref(running);
}
END_TEST

START_TEST(histogram_cumulative) {
        wm_hist_t *h = &w.metrics->commit_latency;
        char *t;

        wmetrics_hist_observe(h, 0.001);  /* le 0.005 */
        wmetrics_hist_observe(h, 0.005);  /* le 0.005: the bound is in */
        wmetrics_hist_observe(h, 0.2);    /* le 0.25 */
        wmetrics_hist_observe(h, 99.0);   /* +Inf only */
        t = render();
        ck_assert_double_eq(sample(t, "floq_transaction_commit_duration_seconds_bucket{le=\"0.005\"}"), 2);
        ck_assert_double_eq(sample(t, "floq_transaction_commit_duration_seconds_bucket{le=\"0.1\"}"), 2);
        ck_assert_double_eq(sample(t, "floq_transaction_commit_duration_seconds_bucket{le=\"0.25\"}"), 3);
        ck_assert_double_eq(sample(t, "floq_transaction_commit_duration_seconds_bucket{le=\"10\"}"), 3);
        ck_assert_double_eq(sample(t, "floq_transaction_commit_duration_seconds_bucket{le=\"+Inf\"}"), 4);
        ck_assert_double_eq(sample(t, "floq_transaction_commit_duration_seconds_count"), 4);
        ck_assert_double_eq_tol(sample(t, "floq_transaction_commit_duration_seconds_sum"),
                                99.206, 1e-5);
        /* buckets ascend and never decrease */
        {
                const char *p = strstr(t, "floq_transaction_commit_duration_seconds_bucket");
                double prev = -1;

                while (p && !strncmp(p, "floq_transaction_commit_duration_seconds_bucket", 47)) {
                        double v = strtod(strchr(p, ' ') + 1, NULL);

                        ck_assert(v >= prev);
                        prev = v;
                        p = strchr(p, '\n') + 1;
                }
        }
        ck_assert_ptr_nonnull(strstr(t, "# TYPE floq_transaction_commit_duration_seconds histogram\n"));
        free(t);
}
END_TEST

START_TEST(runs_and_txn) {
        json_t *rs = json_pack("{s:s, s:s, s:I, s:I}", "run_id",
                               "00000000-0000-4000-8000-000000000001",
                               "status", "SUCCEEDED", "started_at",
                               (json_int_t)1000, "finished_at",
                               (json_int_t)3500);
        char *t;

        wmetrics_run_start(&w, 0, rs);
        wmetrics_run_end(&w, 0, rs);
        json_object_set_new(rs, "status", json_string("RETRYING"));
        wmetrics_run_end(&w, 0, rs); /* not terminal: not counted */
        wmetrics_txn_commit_begin(&w);
        wmetrics_txn_committed(&w);
        wmetrics_txn_aborted(&w);
        wmetrics_sched_fire(&w);
        wmetrics_sched_misfires(&w, 3);
        t = render();
        /* no deployment known: the backend is "other" */
        ck_assert_double_eq(sample(t, "floq_runs_started_total{backend=\"other\"}"), 1);
        ck_assert_double_eq(sample(t, "floq_runs_finished_total{state=\"SUCCEEDED\",backend=\"other\"}"), 1);
        ck_assert_double_eq(sample(t, "floq_run_duration_seconds_bucket{le=\"1\"}"), 0);
        ck_assert_double_eq(sample(t, "floq_run_duration_seconds_bucket{le=\"5\"}"), 1);
        ck_assert_double_eq_tol(sample(t, "floq_run_duration_seconds_sum"), 2.5, 1e-6);
        ck_assert_double_eq(sample(t, "floq_transaction_commits_total"), 1);
        ck_assert_double_eq(sample(t, "floq_transaction_aborts_total"), 1);
        ck_assert_double_eq(sample(t, "floq_schedule_fires_total"), 1);
        ck_assert_double_eq(sample(t, "floq_schedule_misfires_total"), 3);
        /* run ids are never labels */
        ck_assert_ptr_null(strstr(t, "00000000-0000"));
        free(t);
        json_decref(rs);
}
END_TEST

START_TEST(librdkafka_stats) {
        const char *js =
                "{\"msg_cnt\":7,\"replyq\":2,\"brokers\":{"
                "\"b\\\"1:9092/1\":{\"nodeid\":1,\"source\":\"learned\","
                "\"rtt\":{\"avg\":2500},\"outbuf_cnt\":3,\"waitresp_cnt\":1},"
                "\"GroupCoordinator\":{\"nodeid\":1,\"source\":\"logical\","
                "\"rtt\":{\"avg\":1}},"
                "\"b:9092/bootstrap\":{\"nodeid\":-1,\"source\":\"configured\"}}}";
        char *t;

        wmetrics_stats(&w, 1, js, strlen(js));
        wmetrics_stats(&w, 0, "not json", 8); /* ignored */
        t = render();
        ck_assert_double_eq_tol(sample(t, "floq_kafka_broker_rtt_seconds{client=\"producer\",broker=\"b\\\"1:9092/1\"}"),
                                0.0025, 1e-9);
        ck_assert_double_eq(sample(t, "floq_kafka_broker_outbuf_requests{client=\"producer\",broker=\"b\\\"1:9092/1\"}"), 3);
        ck_assert_double_eq(sample(t, "floq_kafka_broker_waitresp_requests{client=\"producer\",broker=\"b\\\"1:9092/1\"}"), 1);
        ck_assert_double_eq(sample(t, "floq_kafka_queue_messages{client=\"producer\"}"), 7);
        ck_assert_double_eq(sample(t, "floq_kafka_reply_queue_ops{client=\"producer\"}"), 2);
        ck_assert_ptr_null(strstr(t, "GroupCoordinator"));
        ck_assert_ptr_null(strstr(t, "bootstrap"));
        ck_assert_ptr_null(strstr(t, "client=\"consumer\""));
        free(t);
}
END_TEST

/* The lag counts records, not the commit marker that ends a
 * transactional partition. */
START_TEST(lag_without_markers) {
        wpart_t parts[2];
        const char *js =
                "{\"topics\":{\"c\":{\"partitions\":{"
                "\"0\":{\"hi_offset\":11,\"next_offset\":11,\"fetchq_cnt\":0},"
                "\"1\":{\"hi_offset\":20,\"next_offset\":15,\"fetchq_cnt\":0},"
                "\"-1\":{}}}}}";
        char *t;

        memset(parts, 0, sizeof(parts));
        w.parts = parts;
        w.part_cnt = 2;
        w.t_commands = "c";
        /* 0: everything up to 10 handled and committed, 10 a marker */
        parts[0].owned = 1;
        parts[0].committed = 10;
        parts[0].next_offset = 10;
        parts[0].skip_from = -1;
        /* 1: committed 12, fetched to 15 (13 and 14 delivered, not
         * committed), 15..19 not fetched yet: 8 records */
        parts[1].owned = 1;
        parts[1].committed = 12;
        parts[1].next_offset = 15;
        parts[1].skip_from = -1;
        wmetrics_stats(&w, 0, js, strlen(js));
        t = render();
        ck_assert_double_eq(sample(t, "floq_consumer_lag{partition=\"0\"}"), 0);
        ck_assert_double_eq(sample(t, "floq_consumer_lag{partition=\"1\"}"), 8);
        free(t);
        /* fetched records still queued: nothing is subtracted */
        js = "{\"topics\":{\"c\":{\"partitions\":{"
             "\"0\":{\"hi_offset\":14,\"next_offset\":14,\"fetchq_cnt\":2}}}}}";
        wmetrics_stats(&w, 0, js, strlen(js));
        t = render();
        ck_assert_double_eq(sample(t, "floq_consumer_lag{partition=\"0\"}"), 4);
        ck_assert_double_eq(sample(t, "floq_consumer_lag{partition=\"1\"}"), -1);
        free(t);
        w.parts = NULL;
}
END_TEST

START_TEST(readiness) {
        wmetrics_t *m = w.metrics;

        ck_assert_str_eq(wmetrics_not_ready(m), "not in the consumer group");
        wmetrics_rebalance_begin(&w, RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS);
        ck_assert_str_eq(wmetrics_not_ready(m), "restoring partitions");
        wmetrics_rebalance_end(&w, RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS);
        ck_assert_ptr_null(wmetrics_not_ready(m));
        wmetrics_fenced(&w);
        ck_assert_ptr_nonnull(strstr(wmetrics_not_ready(m), "fenced"));
        wmetrics_txn_committed(&w);
        ck_assert_ptr_null(wmetrics_not_ready(m));
        wmetrics_stopping(&w, FLOQ_ERR_FENCED);
        ck_assert_ptr_nonnull(strstr(wmetrics_not_ready(m), "fenced"));
        wmetrics_stopping(&w, FLOQ_OK);
        ck_assert_str_eq(wmetrics_not_ready(m), "stopping");
        /* alive: a pass within worker.progress.timeout.ms (60 s here) */
        wmetrics_loop_pass(&w);
        ck_assert(wmetrics_alive(m, floq_mono_ms()));
        ck_assert(!wmetrics_alive(m, floq_mono_ms() + 61000));
}
END_TEST

START_TEST(listen_address) {
        floq_conf_t *c = floq_conf_new();
        char errstr[256];

        ck_assert_int_eq(floq_conf_set(c, "metrics.listen", "no-port", errstr,
                                       sizeof(errstr)),
                         0);
        w.conf = c;
        wmetrics_destroy(w.metrics);
        w.metrics = wmetrics_new(c);
        ck_assert_int_eq(wmetrics_start(&w, errstr, sizeof(errstr)),
                         FLOQ_ERR_CONFIG);
        ck_assert_ptr_nonnull(strstr(errstr, "host:port"));
        floq_conf_destroy(c);
        w.conf = NULL;
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("metrics");
        TCase *tc = tcase_create("core");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, build_info_and_families);
        tcase_add_test(tc, commands_by_type_and_outcome);
        tcase_add_test(tc, histogram_cumulative);
        tcase_add_test(tc, runs_and_txn);
        tcase_add_test(tc, librdkafka_stats);
        tcase_add_test(tc, lag_without_markers);
        tcase_add_test(tc, readiness);
        tcase_add_test(tc, listen_address);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) { return test_run_suite(suite()); }
