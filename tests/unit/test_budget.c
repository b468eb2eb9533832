/*
 * test_budget.c - the worker's size budget (docs/worker.md, "Size
 * budget"), on librdkafka's mock cluster: commands at and over every size
 * limit (exactly the budget, budget + 1, 1,000,000 bytes, Kafka's default
 * broker limit, the codec's bound and one byte more) each get a DLQ record
 * within the budget (cut, with the original's size and coordinates in
 * headers) and a REJECTED reply where a reply address can be read, and the
 * commands after them on the same partition are answered; a STATUS reply
 * over many active runs with large params lists fewer runs and says so;
 * and a command whose records a broker keeps refusing is dead-lettered by
 * reference after bounded retries. Before the budget, the first of these
 * commands made the worker abort and rewind to it forever.
 *
 * The fixture is test_faults.c's (test_mock.h) with one partition per
 * topic (so every command is on the one partition) and a client with
 * limits large enough to publish the oversized commands; everything is
 * logged to a file that a failed assertion prints. The mock shows aborted records too, so replies are asked for
 * "at least one final"; that no transaction aborted is read from the log.
 */
#include "test_mock.h"

#define LOG_ABORT "aborting the transaction"

/* ------------------------------------------------------------ set-up */

static void set(floq_conf_t *c, const char *k, const char *v) {
        char err[512];

        ck_assert_msg(floq_conf_set(c, k, v, err, sizeof(err)) == FLOQ_OK,
                      "%s: %s", k, err);
}

static void set_kafka(floq_conf_t *c, const char *k, const char *v) {
        char err[512];

        ck_assert_msg(floq_conf_set_kafka(c, k, v, err, sizeof(err)) ==
                              FLOQ_OK,
                      "%s: %s", k, err);
}

static void setup(void) {
        char err[512];
        floq_conf_t *c;

        mock_start("test_budget", 2, 1);
        mock_split();
        set(fx.wconf, "worker.drain.grace.ms", "500");
        set(fx.wconf, "process.kill.grace.ms", "200");
        worker_start();

        /* A client that can publish commands far over the worker's
         * limits. */
        c = floq_conf_new();
        set(c, "brokers", fx.brokers);
        set(c, "topic.create", "false");
        set(c, "client.timeout.ms", "15000");
        set(c, "message.max.bytes", "4M");
        set_kafka(c, "message.max.bytes", "4000000");
        fx.client = floq_client_new(c, err, sizeof(err));
        ck_assert_msg(fx.client != NULL, "%s", err);
        fx.codec = floq_codec_new(4 << 20, err, sizeof(err));
        ck_assert_msg(fx.codec != NULL, "%s", err);
}

/* ------------------------------------------------------------ commands */

/* A run command of deployment "d" whose encoded size is exactly @p size
 * bytes (its params one padding string), published; its id in @p id. */
static void send_run_of_size(size_t size, char id[37]) {
        char err[512];
        json_t *cmd = NULL;
        size_t pad = size > 400 ? size - 400 : 1, len = 0;
        void *buf;
        char *text;
        int i;

        floq_uuid_new(id);
        for (i = 0; i < 8; i++) {
                text = malloc(pad + 1);
                ck_assert_ptr_nonnull(text);
                memset(text, 'x', pad);
                text[pad] = '\0';
                json_decref(cmd);
                cmd = json_pack("{s:s,s:s,s:I,s:n,s:n,s:s,s:n,s:{s:{s:{s:s}}}}",
                                "command_id", id, "correlation_id", id,
                                "issued_at", (json_int_t)floq_now_ms(),
                                "expires_at", "reply_to", "deployment", "d",
                                "idempotency_key", "body", "RunBody",
                                "params", "pad", text);
                free(text);
                ck_assert_ptr_nonnull(cmd);
                ck_assert_int_eq(floq_codec_encode(fx.codec, FLOQ_MSG_COMMAND,
                                                   cmd, &buf, &len, err,
                                                   sizeof(err)),
                                 FLOQ_OK);
                free(buf);
                if (len == size)
                        break;
                pad = len > size ? pad - (len - size) : pad + (size - len);
        }
        ck_assert_uint_eq(len, size);
        fx_assert(floq_client_send(fx.client, cmd, NULL, NULL, err,
                                   sizeof(err)) == FLOQ_OK,
                  "send %zu bytes: %s", size, err);
        floq_log_write(FLOQ_LOG_NOTICE, "test", "sent run of %zu bytes: %s",
                       size, id);
        json_decref(cmd);
}

/* ------------------------------------------------------------ the DLQ */

typedef struct dlq_rec_s {
        size_t size;      /* key + value + headers */
        long long original; /* floq.original.size, -1 none */
        char truncated[16];
        char reason[400];
} dlq_rec_t;

static const char *hdr(rd_kafka_headers_t *h, const char *name, char *buf,
                       size_t size) {
        const void *v;
        size_t n;

        buf[0] = '\0';
        if (h && !rd_kafka_header_get_last(h, name, &v, &n) && v) {
                snprintf(buf, size, "%.*s", (int)n, (const char *)v);
                return buf;
        }
        return NULL;
}

/* The records of floq.dlq from offset *@p from on (at most @p max into
 * @p out); the count. *@p from moves past them. (The mock keeps about
 * 5 MB of a partition: read them soon after they are written.) */
static size_t dlq_read(int64_t *from, dlq_rec_t *out, size_t max) {
        char err[512], num[32];
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        rd_kafka_topic_partition_list_t *parts;
        int64_t lo = 0, hi = 0, deadline;
        rd_kafka_message_t *m;
        rd_kafka_t *rk;
        size_t n = 0;

        rd_kafka_conf_set_log_cb(kc, floq_log_rdkafka_cb);
        rd_kafka_conf_set(kc, "bootstrap.servers", fx.brokers, NULL, 0);
        rd_kafka_conf_set(kc, "group.id", "test-budget-dlq", NULL, 0);
        rd_kafka_conf_set(kc, "enable.auto.commit", "false", NULL, 0);
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
        ck_assert_msg(rk != NULL, "%s", err);
        ck_assert_int_eq(rd_kafka_query_watermark_offsets(rk, "floq.dlq", 0,
                                                          &lo, &hi, 5000),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        parts = rd_kafka_topic_partition_list_new(1);
        if (*from > lo)
                lo = *from;
        rd_kafka_topic_partition_list_add(parts, "floq.dlq", 0)->offset = lo;
        ck_assert_int_eq(rd_kafka_assign(rk, parts),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        rd_kafka_topic_partition_list_destroy(parts);
        deadline = floq_mono_ms() + 15000;
        while (lo < hi && floq_mono_ms() < deadline) {
                rd_kafka_headers_t *h = NULL;
                const char *name;
                const void *v;
                size_t i, vs;

                if (!(m = rd_kafka_consumer_poll(rk, 100)))
                        continue;
                if (m->err) {
                        rd_kafka_message_destroy(m);
                        continue;
                }
                lo = m->offset + 1;
                if (n < max) {
                        dlq_rec_t *d = &out[n];

                        rd_kafka_message_headers(m, &h);
                        d->size = m->len + m->key_len;
                        for (i = 0; h && !rd_kafka_header_get_all(
                                                 h, i, &name, &v, &vs);
                             i++)
                                d->size += strlen(name) + vs;
                        d->original = hdr(h, "floq.original.size", num,
                                          sizeof(num))
                                              ? atoll(num)
                                              : -1;
                        hdr(h, "floq.truncated", d->truncated,
                            sizeof(d->truncated));
                        hdr(h, "floq.reason", d->reason, sizeof(d->reason));
                }
                n++;
                rd_kafka_message_destroy(m);
        }
        *from = lo;
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return n;
}

/* High watermark of partition 0 of @p topic. */
static int64_t topic_end(const char *topic) {
        char err[512];
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        int64_t lo = 0, hi = 0;
        rd_kafka_t *rk;

        rd_kafka_conf_set_log_cb(kc, floq_log_rdkafka_cb);
        rd_kafka_conf_set(kc, "bootstrap.servers", fx.brokers, NULL, 0);
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
        ck_assert_msg(rk != NULL, "%s", err);
        ck_assert_int_eq(rd_kafka_query_watermark_offsets(rk, topic, 0, &lo,
                                                          &hi, 5000),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        rd_kafka_destroy(rk);
        return hi;
}

/* ------------------------------------------------------------ cases */

/* Each oversized command: a DLQ record within the budget that points to
 * it, a REJECTED reply where it can be read, and the normal commands
 * published after each of them on the same partition answered. */
START_TEST(test_oversized_commands_dead_lettered) {
        char dep[37], run[37], id[37], after[37];
        size_t sizes[6], budget, i, j, n;
        int64_t from = 0;
        dlq_rec_t recs[64];
        json_t *r;

        mark("warm-up");
        send_deploy("d", "{\"executable\":\"/bin/true\"}", dep);
        send_run("d", NULL, run);
        expect_final(dep, "DEPLOYED", 20000, "warm-up deploy");
        expect_final(run, "SUCCEEDED", 20000, "warm-up run");
        budget = fx.w->budget;
        ck_assert_uint_gt(budget, 64 * 1024);
        /* the producer's message.max.bytes, set by the worker */
        ck_assert_uint_eq(fx.w->record_max, 1000000);

        sizes[0] = budget;
        sizes[1] = budget + 1;
        sizes[2] = 1000000;
        sizes[3] = 1048588;         /* Kafka's default broker limit */
        sizes[4] = 1048576 + 4096;  /* the codec's bound */
        sizes[5] = 1048576 + 4097;  /* past it: cannot be read */
        for (i = 0; i < 6; i++) {
                char what[64];
                int found = 0;

                snprintf(what, sizeof(what), "command of %zu bytes",
                         sizes[i]);
                mark(what);
                send_run_of_size(sizes[i], id);
                send_run("d", NULL, after);
                if (i < 5) {
                        r = final_reply(id, 20000, what);
                        fx_assert(!strcmp(floq_reply_status(r), "REJECTED"),
                                  "%s: %s, expected REJECTED", what,
                                  floq_reply_status(r));
                        json_decref(r);
                }
                snprintf(what, sizeof(what), "run after %zu bytes", sizes[i]);
                expect_final(after, "SUCCEEDED", 20000, what);
                if (i == 5) {
                        /* No reply address could be read: nothing came by
                         * the time the later command was answered. */
                        ck_assert_int_eq(floq_client_wait_reply(fx.client, id,
                                                                1, 0, &r),
                                         FLOQ_ERR_TIMED_OUT);
                }
                n = dlq_read(&from, recs, sizeof(recs) / sizeof(*recs));
                for (j = 0; j < n && j < sizeof(recs) / sizeof(*recs); j++) {
                        fx_assert(recs[j].size <= budget,
                                  "DLQ record of %zu bytes, budget %zu",
                                  recs[j].size, budget);
                        if (recs[j].original == (long long)sizes[i] &&
                            !strcmp(recs[j].truncated, "true"))
                                found = 1;
                }
                fx_assert(found, "no truncated DLQ record of the command of "
                                 "%zu bytes",
                          sizes[i]);
        }
        fx_assert(log_count(LOG_ABORT) == 0,
                  "a transaction aborted: no record may be over the budget");
}
END_TEST

/* A STATUS over more active runs with large params than one reply holds
 * lists as many as fit and says so; a run's own status fits too. Before
 * the budget, the reply was over the codec's bound and never sent. */
START_TEST(test_status_reply_fits) {
        char dep[37], runs[8][37], run0[37], st[37], st1[37];
        json_t *params, *r, *detail;
        json_error_t jerr;
        size_t i, len, listed;
        char *pad;

        send_deploy("long", "{\"executable\":\"/bin/sleep\",\"args\":[\"30\"]}",
                    dep);
        expect_final(dep, "DEPLOYED", 20000, "deploy");
        pad = malloc(200 * 1024 + 1);
        ck_assert_ptr_nonnull(pad);
        memset(pad, 'p', 200 * 1024);
        pad[200 * 1024] = '\0';
        params = json_pack("{s:s}", "pad", pad);
        free(pad);
        for (i = 0; i < 8; i++)
                send_run("long", params, runs[i]);
        json_decref(params);
        for (i = 0; i < 8; i++) {
                r = NULL;
                fx_assert(floq_client_wait_reply(fx.client, runs[i], 0, 20000,
                                                 &r) == FLOQ_OK,
                          "no ACCEPTED for run %zu", i);
                if (i == 0)
                        snprintf(run0, sizeof(run0), "%s",
                                 json_string_value(
                                         json_object_get(r, "run_id")));
                json_decref(r);
        }
        fx_assert(floq_status(fx.client, "long", NULL, NULL, st, NULL, 0) ==
                          FLOQ_OK,
                  "status");
        r = final_reply(st, 20000, "status of 8 large runs");
        ck_assert_str_eq(floq_reply_status(r), "STATUS");
        detail = json_loads(json_string_value(json_object_get(r, "detail")),
                            0, &jerr);
        fx_assert(detail != NULL, "detail is not JSON: %s", jerr.text);
        listed = json_array_size(json_object_get(detail, "active_runs"));
        ck_assert_int_eq(json_integer_value(json_object_get(
                                 detail, "active_runs_total")),
                         8);
        ck_assert(json_is_true(json_object_get(detail,
                                               "active_runs_truncated")));
        ck_assert_uint_gt(listed, 0);
        ck_assert_uint_lt(listed, 8);
        ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(
                                             r, "reason")),
                                     "active runs"));
        len = json_string_length(json_object_get(r, "detail"));
        ck_assert_uint_lt(len, fx.w->budget);
        json_decref(detail);
        json_decref(r);

        /* One run's status, its params included. */
        fx_assert(floq_status(fx.client, "long", run0, NULL, st1, NULL,
                              0) == FLOQ_OK,
                  "status of a run");
        expect_final(st1, "STATUS", 20000, "status of one large run");
        fx_assert(log_count(LOG_ABORT) == 0, "a transaction aborted");
}
END_TEST

/* A run whose params alone could never be written is refused at accept
 * with the reason; a run with params just within is accepted. */
START_TEST(test_run_params_bound) {
        char dep[37], big[37], ok[37];
        json_t *params, *r;
        char *pad;
        size_t n = 1000000 - 4096;

        send_deploy("d", "{\"executable\":\"/bin/true\"}", dep);
        expect_final(dep, "DEPLOYED", 20000, "deploy");
        pad = malloc(n + 1);
        ck_assert_ptr_nonnull(pad);
        memset(pad, 'q', n);
        pad[n] = '\0';
        params = json_pack("{s:s}", "pad", pad);
        send_run("d", params, big);
        json_decref(params);
        pad[500 * 1024] = '\0';
        params = json_pack("{s:s}", "pad", pad);
        free(pad);
        send_run("d", params, ok);
        json_decref(params);
        r = final_reply(big, 20000, "run with too large params");
        ck_assert_str_eq(floq_reply_status(r), "REJECTED");
        fx_assert(strstr(json_string_value(json_object_get(r, "reason")),
                         "run params too large"),
                  "reason: %s",
                  json_string_value(json_object_get(r, "reason")));
        json_decref(r);
        expect_final(ok, "SUCCEEDED", 20000, "run with 500 KiB params");
        fx_assert(log_count(LOG_ABORT) == 0, "a transaction aborted");
}
END_TEST

/* A run whose params take most of the budget and whose output fills the
 * 64 KiB tail: its RunStates keep the params and lose the start of the
 * tail, and its final reply comes with the cut tail. Before the budget
 * the RUNNING state was over the producer's limit: aborts for ever. */
START_TEST(test_run_state_tail_cut) {
        char dep[37], run[37];
        json_t *params, *r;
        const char *tail;
        size_t n;
        char *pad;

        send_deploy("out", "{\"executable\":\"/usr/bin/seq\","
                           "\"args\":[\"1\",\"30000\"]}",
                    dep);
        expect_final(dep, "DEPLOYED", 20000, "deploy");
        n = fx.w->budget - 8192 - 37 - 1024;
        pad = malloc(n + 1);
        ck_assert_ptr_nonnull(pad);
        memset(pad, 't', n);
        pad[n] = '\0';
        params = json_pack("{s:s}", "pad", pad);
        free(pad);
        send_run("out", params, run);
        json_decref(params);
        r = final_reply(run, 30000, "run with large params and output");
        fx_assert(!strcmp(floq_reply_status(r), "SUCCEEDED"),
                  "run: %s (%s)", floq_reply_status(r),
                  json_string_value(json_object_get(r, "reason")));
        tail = json_string_value(json_object_get(r, "output_tail"));
        fx_assert(tail && !strncmp(tail, "[truncated] ", 12),
                  "output tail not cut: %.40s", tail ? tail : "(none)");
        fx_assert(strstr(tail, "\n30000\n") || strstr(tail, "\n30000"),
                  "the tail lost its end");
        json_decref(r);
        fx_assert(log_count(LOG_ABORT) == 0, "a transaction aborted");
}
END_TEST

/* A broker that refuses a record as too large (MSG_SIZE_TOO_LARGE on the
 * Produce request that carries it): the budget is lowered under that
 * record, the command whose record it was is REJECTED (its run's state no
 * longer fits, or it is dead-lettered by reference), and the command
 * behind it is answered. The mock fails a whole request: when the error
 * met a request without the large record (the worker's lineage or a
 * reply sent first), the try is repeated with a new command (up to 8
 * times: under load the requests batch differently, and 3 tries all
 * missed once). */
START_TEST(test_refused_record_dead_lettered) {
        char dep[37], run[37], big[37], after[37];
        size_t budget0;
        json_t *params, *r;
        const char *reason;
        int tries, rejected = 0;
        char *pad;

        send_deploy("d", "{\"executable\":\"/bin/true\"}", dep);
        send_run("d", NULL, run);
        expect_final(dep, "DEPLOYED", 20000, "deploy");
        expect_final(run, "SUCCEEDED", 20000, "run");
        budget0 = fx.w->budget;
        pad = malloc(600 * 1024 + 1);
        ck_assert_ptr_nonnull(pad);
        memset(pad, 'r', 600 * 1024);
        pad[600 * 1024] = '\0';
        params = json_pack("{s:s}", "pad", pad);
        free(pad);
        for (tries = 0; tries < 8 && !rejected; tries++) {
                /* the previous run's lineage written: the worker is idle */
                int64_t want = 2 * (tries + 1);
                int i;

                for (i = 0; i < 500 && topic_end("floq.lineage") < want; i++)
                        usleep(10 * 1000);
                ck_assert_int_eq(
                        rd_kafka_mock_broker_push_request_error_rtts(
                                fx.mc, 2, 0 /* Produce */, 1,
                                RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, 0),
                        RD_KAFKA_RESP_ERR_NO_ERROR);
                send_run("d", params, big);
                send_run("d", NULL, after);
                r = final_reply(big, 30000, "run whose record was refused");
                rejected = !strcmp(floq_reply_status(r), "REJECTED");
                reason = json_string_value(json_object_get(r, "reason"));
                fx_assert(!rejected ||
                                  strstr(reason, "dead-lettered by reference") ||
                                  strstr(reason, "run params too large"),
                          "reason: %s", reason);
                json_decref(r);
                expect_final(after, "SUCCEEDED", 20000, "run after it");
        }
        json_decref(params);
        fx_assert(rejected, "the refused record's command never REJECTED");
        fx_assert(log_count("size budget lowered") >= 1,
                  "budget not lowered");
        fx_assert(fx.w->budget < 600 * 1024 && fx.w->budget < budget0,
                  "budget %zu not lowered under the refused record",
                  fx.w->budget);
}
END_TEST

static Suite *budget_suite(void) {
        Suite *s = suite_create("budget");
        TCase *tc = tcase_create("worker");

        tcase_set_timeout(tc, 180);
        tcase_add_checked_fixture(tc, setup, mock_teardown);
        tcase_add_test(tc, test_oversized_commands_dead_lettered);
        tcase_add_test(tc, test_status_reply_fits);
        tcase_add_test(tc, test_run_params_bound);
        tcase_add_test(tc, test_run_state_tail_cut);
        tcase_add_test(tc, test_refused_record_dead_lettered);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(budget_suite());
}
