/*
 * test_client_mock.c - libfloq's client against librdkafka's mock cluster
 * with a fake worker thread answering commands: a blocking wait from
 * several threads sharing one client, the callback form, replies already
 * on the topic before connect not taken for ours (the consumer starts at
 * the end), and unreachable brokers failing with FLOQ_ERR_TRANSPORT within
 * client.connect.timeout.ms. The real broker and worker are covered by
 * tests/integration/02xx.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "client_int.h"
#include "floq_schemas.h"

#define PARTS 4

static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mcluster;
static char brokers[256];
static volatile int worker_stop;
static pthread_t worker_thr;

static floq_conf_t *conf_for(const char *bs) {
        floq_conf_t *conf = floq_conf_new();
        ck_assert_ptr_nonnull(conf);
        ck_assert_int_eq(floq_conf_set(conf, "brokers", bs, NULL, 0), 0);
        floq_conf_set(conf, "topic.commands", "m.commands", NULL, 0);
        floq_conf_set(conf, "topic.replies", "m.replies", NULL, 0);
        floq_conf_set(conf, "topic.create", "false", NULL, 0);
        floq_conf_set(conf, "client.timeout.ms", "10000", NULL, 0);
        floq_conf_set_kafka(conf, "log_level", "0", NULL, 0);
        return conf;
}

static void produce_reply(rd_kafka_t *rk, floq_codec_t *codec, json_t *r) {
        void *buf;
        size_t len;
        char err[256];
        ck_assert_int_eq(floq_codec_encode(codec, FLOQ_MSG_REPLY, r, &buf,
                                           &len, err, sizeof(err)),
                         0);
        const char *id = json_string_value(json_object_get(r, "command_id"));
        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("m.replies"),
                          RD_KAFKA_V_KEY(id, strlen(id)),
                          RD_KAFKA_V_VALUE(buf, len),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                          RD_KAFKA_V_END);
}

static json_t *make_reply(json_t *cmd, const char *status, int final) {
        return json_pack("{s:O, s:O, s:O, s:I, s:s, s:b, s:s}", "command_id",
                         json_object_get(cmd, "command_id"), "correlation_id",
                         json_object_get(cmd, "correlation_id"), "deployment",
                         json_object_get(cmd, "deployment"), "produced_at",
                         (json_int_t)floq_now_ms(), "status", status, "final",
                         final, "worker", "fake");
}

/* Answers every run with ACCEPTED then SUCCEEDED, other commands with
 * DEPLOYED; deployment "silent" gets no answer. */
static void *fake_worker(void *arg) {
        char err[256];
        (void)arg;
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "bootstrap.servers", brokers, err, sizeof(err));
        rd_kafka_conf_set(c, "group.id", "fake", err, sizeof(err));
        rd_kafka_conf_set(c, "log_level", "0", err, sizeof(err));
        rd_kafka_t *cons = rd_kafka_new(RD_KAFKA_CONSUMER, c, err,
                                        sizeof(err));
        rd_kafka_conf_t *pc = rd_kafka_conf_new();
        rd_kafka_conf_set(pc, "bootstrap.servers", brokers, err, sizeof(err));
        rd_kafka_conf_set(pc, "log_level", "0", err, sizeof(err));
        rd_kafka_conf_set(pc, "linger.ms", "0", err, sizeof(err));
        rd_kafka_t *prod = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err,
                                        sizeof(err));
        floq_codec_t *codec = floq_codec_new(1 << 20, err, sizeof(err));
        rd_kafka_topic_partition_list_t *parts =
                rd_kafka_topic_partition_list_new(PARTS);
        for (int p = 0; p < PARTS; p++)
                rd_kafka_topic_partition_list_add(parts, "m.commands", p)
                        ->offset = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(cons, parts);
        rd_kafka_topic_partition_list_destroy(parts);
        while (!worker_stop) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 50);
                rd_kafka_poll(prod, 0);
                if (!m)
                        continue;
                json_t *cmd = NULL;
                if (!m->err && !floq_codec_decode(codec, FLOQ_MSG_COMMAND,
                                                  m->payload, m->len, &cmd,
                                                  err, sizeof(err))) {
                        const char *dep = json_string_value(
                                json_object_get(cmd, "deployment"));
                        json_t *body = json_object_get(cmd, "body");
                        if (strcmp(dep, "silent")) {
                                if (json_object_get(body, "RunBody")) {
                                        json_t *r = make_reply(cmd,
                                                               "ACCEPTED", 0);
                                        produce_reply(prod, codec, r);
                                        json_decref(r);
                                        r = make_reply(cmd, "SUCCEEDED", 1);
                                        produce_reply(prod, codec, r);
                                        json_decref(r);
                                } else {
                                        json_t *r = make_reply(cmd,
                                                               "DEPLOYED", 1);
                                        produce_reply(prod, codec, r);
                                        json_decref(r);
                                }
                        }
                        json_decref(cmd);
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_flush(prod, 5000);
        rd_kafka_destroy(prod);
        rd_kafka_consumer_close(cons);
        rd_kafka_destroy(cons);
        floq_codec_destroy(codec);
        return NULL;
}

static void setup(void) {
        char err[256];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_conf_set(c, "log_level", "0", err, sizeof(err));
        mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
        ck_assert_ptr_nonnull(mock_rk);
        mcluster = rd_kafka_mock_cluster_new(mock_rk, 1);
        ck_assert_ptr_nonnull(mcluster);
        snprintf(brokers, sizeof(brokers), "%s",
                 rd_kafka_mock_cluster_bootstraps(mcluster));
        rd_kafka_mock_topic_create(mcluster, "m.commands", PARTS, 1);
        rd_kafka_mock_topic_create(mcluster, "m.replies", PARTS, 1);
        worker_stop = 0;
        pthread_create(&worker_thr, NULL, fake_worker, NULL);
}

static void teardown(void) {
        worker_stop = 1;
        pthread_join(worker_thr, NULL);
        rd_kafka_mock_cluster_destroy(mcluster);
        rd_kafka_destroy(mock_rk);
}

START_TEST(test_send_wait) {
        char err[512], id[37];
        floq_client_t *client = floq_client_new(conf_for(brokers), err,
                                                sizeof(err));
        ck_assert_msg(client != NULL, "%s", err);
        ck_assert_int_eq(floq_client_connect(client, err, sizeof(err)), 0);
        ck_assert_int_eq(floq_deploy(client, "d", "process",
                                     "{\"executable\":\"/bin/true\"}", NULL,
                                     NULL, id, err, sizeof(err)),
                         0);
        json_t *r = NULL;
        ck_assert_int_eq(floq_client_wait_reply(client, id, 1, 10000, &r), 0);
        ck_assert_str_eq(floq_reply_status(r), "DEPLOYED");
        ck_assert_str_eq(json_string_value(json_object_get(r, "command_id")),
                         id);
        json_decref(r);
        ck_assert_int_eq(floq_client_wait_reply(client, id, 1, 10, &r),
                         FLOQ_ERR_NOT_FOUND);

        const char *kv[] = {"a=1", "b=x=y"};
        ck_assert_int_eq(floq_run_kv(client, "d", kv, 2, "idem", NULL, id,
                                     err, sizeof(err)),
                         0);
        ck_assert_int_eq(floq_client_wait_reply(client, id, 0, 10000, &r), 0);
        ck_assert_str_eq(floq_reply_status(r), "ACCEPTED");
        json_decref(r);
        ck_assert_int_eq(floq_client_wait_reply(client, id, 0, 10000, &r), 0);
        ck_assert_str_eq(floq_reply_status(r), "SUCCEEDED");
        json_decref(r);
        ck_assert_int_eq(floq_client_pending_cnt(client), 0);

        const char *bad[] = {"novalue"};
        ck_assert_int_eq(floq_run_kv(client, "d", bad, 1, NULL, NULL, id, err,
                                     sizeof(err)),
                         FLOQ_ERR_INVALID_ARG);
        ck_assert_int_eq(floq_deploy(client, "d", "process", "[1]", NULL,
                                     NULL, id, err, sizeof(err)),
                         FLOQ_ERR_INVALID_ARG);
        ck_assert_int_eq(floq_run(client, "", NULL, NULL, 0, NULL, id, err,
                                  sizeof(err)),
                         FLOQ_ERR_INVALID_ARG);
        floq_client_destroy(client);
}
END_TEST

typedef struct {
        floq_client_t *client;
        int ok;
} thr_arg_t;

static void *runner(void *p) {
        thr_arg_t *a = p;
        char err[512], id[37];
        for (int i = 0; i < 5; i++) {
                json_t *r = NULL;
                if (floq_run(a->client, "d", NULL, NULL, 0, NULL, id, err,
                             sizeof(err)))
                        return NULL;
                if (floq_client_wait_reply(a->client, id, 1, 10000, &r))
                        return NULL;
                int good = !strcmp(floq_reply_status(r), "SUCCEEDED") &&
                           !strcmp(json_string_value(json_object_get(
                                           r, "command_id")),
                                   id);
                json_decref(r);
                if (!good)
                        return NULL;
        }
        a->ok = 1;
        return NULL;
}

START_TEST(test_threads_share_a_client) {
        char err[512];
        floq_client_t *client = floq_client_new(conf_for(brokers), err,
                                                sizeof(err));
        ck_assert_ptr_nonnull(client);
        pthread_t t[6];
        thr_arg_t a[6];
        for (int i = 0; i < 6; i++) {
                a[i].client = client;
                a[i].ok = 0;
                pthread_create(&t[i], NULL, runner, &a[i]);
        }
        for (int i = 0; i < 6; i++) {
                pthread_join(t[i], NULL);
                ck_assert_msg(a[i].ok, "thread %d failed", i);
        }
        ck_assert_int_eq(floq_client_pending_cnt(client), 0);
        floq_client_destroy(client);
}
END_TEST

static pthread_mutex_t cb_lock = PTHREAD_MUTEX_INITIALIZER;
static int cb_final, cb_total;

static void on_reply(floq_client_t *client, json_t *reply, int tracked,
                     void *opaque) {
        (void)client;
        (void)opaque;
        pthread_mutex_lock(&cb_lock);
        cb_total += tracked;
        cb_final += tracked && floq_reply_is_final(reply);
        pthread_mutex_unlock(&cb_lock);
}

START_TEST(test_callback_background) {
        char err[512], id[37];
        floq_client_t *client = floq_client_new(conf_for(brokers), err,
                                                sizeof(err));
        ck_assert_ptr_nonnull(client);
        floq_client_set_reply_cb(client, on_reply, 0, NULL);
        ck_assert_int_eq(floq_client_start(client, err, sizeof(err)), 0);
        floq_send_opts_t so = {.flags = FLOQ_SEND_ASYNC};
        for (int i = 0; i < 20; i++)
                ck_assert_int_eq(floq_run(client, "d", NULL, NULL, 0, &so, id,
                                          err, sizeof(err)),
                                 0);
        ck_assert_int_eq(floq_client_flush(client, 10000, err, sizeof(err)),
                         0);
        int64_t deadline = floq_mono_ms() + 10000;
        int done = 0;
        while (!done && floq_mono_ms() < deadline) {
                pthread_mutex_lock(&cb_lock);
                done = cb_final == 20;
                pthread_mutex_unlock(&cb_lock);
                if (!done)
                        floq_client_poll(client, 50); /* waits: bg polls */
        }
        ck_assert_int_eq(cb_final, 20);
        ck_assert_int_eq(cb_total, 40);
        ck_assert_int_eq(floq_client_pending_cnt(client), 0);
        floq_client_destroy(client);
}
END_TEST

START_TEST(test_starts_at_end) {
        char err[512], id[37];
        /* a reply to the id we will use, already on the topic */
        const char *cid = "11111111-2222-4333-8444-555555555555";
        floq_codec_t *codec = floq_codec_new(1 << 20, err, sizeof(err));
        rd_kafka_conf_t *pc = rd_kafka_conf_new();
        rd_kafka_conf_set(pc, "bootstrap.servers", brokers, err, sizeof(err));
        rd_kafka_conf_set(pc, "log_level", "0", err, sizeof(err));
        rd_kafka_t *prod = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err,
                                        sizeof(err));
        json_t *cmd = json_pack("{s:s, s:n, s:s}", "command_id", cid,
                                "correlation_id", "deployment", "silent");
        json_t *stale = make_reply(cmd, "SUCCEEDED", 1);
        produce_reply(prod, codec, stale);
        ck_assert_int_eq(rd_kafka_flush(prod, 5000), 0);

        floq_client_t *client = floq_client_new(conf_for(brokers), err,
                                                sizeof(err));
        ck_assert_ptr_nonnull(client);
        json_t *send = json_pack("{s:s, s:s, s:{s:{}}}", "command_id", cid,
                                 "deployment", "silent", "body", "StatusBody");
        ck_assert_int_eq(floq_client_send(client, send, NULL, id, err,
                                          sizeof(err)),
                         0);
        ck_assert_str_eq(id, cid);
        json_t *r = NULL;
        ck_assert_int_eq(floq_client_wait_reply(client, id, 1, 1500, &r),
                         FLOQ_ERR_TIMED_OUT);
        /* a new reply after connect is ours */
        produce_reply(prod, codec, stale);
        rd_kafka_flush(prod, 5000);
        ck_assert_int_eq(floq_client_wait_reply(client, id, 1, 10000, &r), 0);
        json_decref(r);
        floq_client_destroy(client);
        json_decref(send);
        json_decref(stale);
        json_decref(cmd);
        rd_kafka_destroy(prod);
        floq_codec_destroy(codec);
}
END_TEST

START_TEST(test_unreachable) {
        char err[512], id[37];
        floq_conf_t *conf = conf_for("127.0.0.1:1");
        floq_conf_set(conf, "client.connect.timeout.ms", "700", NULL, 0);
        floq_client_t *client = floq_client_new(conf, err, sizeof(err));
        ck_assert_ptr_nonnull(client);
        int64_t t0 = floq_mono_ms();
        ck_assert_int_eq(floq_run(client, "d", NULL, NULL, 0, NULL, id, err,
                                  sizeof(err)),
                         FLOQ_ERR_TRANSPORT);
        int64_t took = floq_mono_ms() - t0;
        ck_assert_msg(took < 3000, "took %lld ms", (long long)took);
        ck_assert_ptr_nonnull(strstr(err, "cannot reach Kafka"));
        floq_client_destroy(client);
}
END_TEST

static Suite *mock_suite(void) {
        Suite *s = suite_create("client_mock");
        TCase *tc = tcase_create("mock");
        tcase_set_timeout(tc, 60);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_send_wait);
        tcase_add_test(tc, test_threads_share_a_client);
        tcase_add_test(tc, test_callback_background);
        tcase_add_test(tc, test_starts_at_end);
        tcase_add_test(tc, test_unreachable);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        SRunner *sr = srunner_create(mock_suite());
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
