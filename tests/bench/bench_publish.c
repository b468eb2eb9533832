/*
 * bench_publish.c - publish throughput of libfloq against its baseline.
 * Publishes N `run` commands through one floq client (asynchronous sends,
 * one flush at the end: delivery confirmed, acks=all, idempotent) and the
 * same number of identical pre-encoded command bytes through a bare
 * librdkafka producer with the same settings, to the same topic, and
 * prints both rates and their ratio. Each side first sends one
 * acknowledged message (not counted) so both are timed warm. The gap is what libfloq adds per
 * command: building the JSON, the Avro encoding, tracking.
 *
 *   bench_publish [-n COUNT] [-b BROKERS] [--libfloq-only]
 *
 * Topics and brokers come from FLOQ_* like every floq program. Exit 0
 * when every message was acknowledged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "floq.h"
#include "floq_schemas.h"

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
                  void *opaque) {
        long *failed = opaque;
        (void)rk;
        if (rkm->err)
                (*failed)++;
}

/* The baseline: identical bytes, same producer settings as libfloq. */
static int baseline(const floq_conf_t *conf, long n, double *secs) {
        char errstr[512];
        floq_codec_t *codec = floq_codec_new(1 << 20, errstr, sizeof(errstr));
        json_t *cmd = json_pack("{s:s, s:I, s:s, s:s, s:{s:{s:{}}}}",
                                "command_id",
                                "00000000-0000-4000-8000-000000000000",
                                "issued_at", (json_int_t)floq_now_ms(),
                                "correlation_id",
                                "00000000-0000-4000-8000-000000000000",
                                "deployment", "bench", "body", "RunBody",
                                "params");
        void *buf = NULL;
        size_t len = 0;
        long failed = 0;
        if (!codec || floq_codec_encode(codec, FLOQ_MSG_COMMAND, cmd, &buf,
                                        &len, errstr, sizeof(errstr))) {
                fprintf(stderr, "bench_publish: encode: %s\n", errstr);
                return -1;
        }
        rd_kafka_conf_t *kc = floq_kafka_conf_new(conf, "producer", errstr,
                                                  sizeof(errstr));
        if (!kc ||
            rd_kafka_conf_set(kc, "enable.idempotence", "true", errstr,
                              sizeof(errstr)) ||
            rd_kafka_conf_set(kc, "acks", "all", errstr, sizeof(errstr))) {
                fprintf(stderr, "bench_publish: conf: %s\n", errstr);
                return -1;
        }
        rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
        rd_kafka_conf_set_opaque(kc, &failed);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr,
                                      sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "bench_publish: %s\n", errstr);
                return -1;
        }
        const char *topic = floq_conf_str(conf, "topic.commands");
        /* connect (and create the topics) first, as libfloq's connect
         * does before its clock starts */
        if (floq_kafka_ensure_topics(rk, conf, 30000, errstr,
                                     sizeof(errstr))) {
                fprintf(stderr, "bench_publish: topics: %s\n", errstr);
                rd_kafka_destroy(rk);
                return -1;
        }
        /* one acknowledged message first: leaders elected, producer id
         * assigned; the clock measures the steady state */
        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                          RD_KAFKA_V_KEY("bench", 5),
                          RD_KAFKA_V_VALUE(buf, len),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_END);
        rd_kafka_flush(rk, 30000);
        int64_t t0 = floq_mono_ms();
        for (long i = 0; i < n; i++) {
                while (rd_kafka_producev(
                               rk, RD_KAFKA_V_TOPIC(topic),
                               RD_KAFKA_V_KEY("bench", 5),
                               RD_KAFKA_V_VALUE(buf, len),
                               RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                               RD_KAFKA_V_END) ==
                       RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        rd_kafka_poll(rk, 10);
                rd_kafka_poll(rk, 0);
        }
        rd_kafka_flush(rk, 60000);
        *secs = (double)(floq_mono_ms() - t0) / 1000.0;
        long left = rd_kafka_outq_len(rk);
        rd_kafka_destroy(rk);
        free(buf);
        json_decref(cmd);
        floq_codec_destroy(codec);
        return failed || left ? -1 : 0;
}

static int libfloq(floq_conf_t *conf, long n, double *secs) {
        char errstr[512], id[37];
        floq_client_t *client = floq_client_new(conf, errstr, sizeof(errstr));
        floq_send_opts_t so = {.flags = FLOQ_SEND_ASYNC | FLOQ_SEND_NOTRACK};
        int rc = 0;
        if (!client) {
                fprintf(stderr, "bench_publish: %s\n", errstr);
                floq_conf_destroy(conf);
                return -1;
        }
        if (floq_client_connect(client, errstr, sizeof(errstr))) {
                fprintf(stderr, "bench_publish: %s\n", errstr);
                floq_client_destroy(client);
                return -1;
        }
        floq_send_opts_t warm = {.flags = FLOQ_SEND_NOTRACK};
        if (floq_run(client, "bench", NULL, NULL, 0, &warm, id, errstr,
                     sizeof(errstr))) {
                fprintf(stderr, "bench_publish: warm-up: %s\n", errstr);
                floq_client_destroy(client);
                return -1;
        }
        int64_t t0 = floq_mono_ms();
        for (long i = 0; i < n && !rc; i++)
                if (floq_run(client, "bench", NULL, NULL, 0, &so, id, errstr,
                             sizeof(errstr))) {
                        fprintf(stderr, "bench_publish: send %ld: %s\n", i,
                                errstr);
                        rc = -1;
                }
        if (!rc && floq_client_flush(client, 60000, errstr, sizeof(errstr))) {
                fprintf(stderr, "bench_publish: flush: %s\n", errstr);
                rc = -1;
        }
        *secs = (double)(floq_mono_ms() - t0) / 1000.0;
        floq_client_destroy(client);
        return rc;
}

int main(int argc, char **argv) {
        long n = 10000;
        int only = 0;
        char errstr[512];
        floq_conf_t *conf = floq_conf_new();
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "-n") && i + 1 < argc)
                        n = atol(argv[++i]);
                else if (!strcmp(argv[i], "-b") && i + 1 < argc)
                        floq_conf_set(conf, "brokers", argv[++i], NULL, 0);
                else if (!strcmp(argv[i], "--libfloq-only"))
                        only = 1;
                else {
                        fprintf(stderr, "usage: bench_publish [-n COUNT] "
                                        "[-b BROKERS] [--libfloq-only]\n");
                        return 2;
                }
        }
        floq_log_setup("bench_publish", FLOQ_LOG_ERR, 0, stderr);
        floq_conf_set_kafka(conf, "log_level", "2", NULL, 0);
        if (floq_conf_load_env(conf, NULL, errstr, sizeof(errstr))) {
                fprintf(stderr, "bench_publish: %s\n", errstr);
                return 2;
        }
        double tb = 0, tf = 0;
        if (!only && baseline(conf, n, &tb)) {
                fprintf(stderr, "bench_publish: baseline failed\n");
                return 1;
        }
        if (libfloq(floq_conf_dup(conf), n, &tf)) {
                floq_conf_destroy(conf);
                return 1;
        }
        floq_conf_destroy(conf);
        printf("publish libfloq: %ld commands acknowledged in %.3f s = "
               "%.0f commands/s\n",
               n, tf, tf > 0 ? (double)n / tf : 0.0);
        if (!only) {
                printf("publish baseline (bare librdkafka, same bytes and "
                       "settings): %ld in %.3f s = %.0f msgs/s\n",
                       n, tb, tb > 0 ? (double)n / tb : 0.0);
                printf("publish ratio libfloq/baseline: %.2f\n",
                       tf > 0 ? tb / tf : 0.0);
        }
        return 0;
}
