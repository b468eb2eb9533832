/*
 * floq-mock-broker - the embedded default broker: librdkafka's mock cluster
 * in a process of its own, so floq-worker and floq (separate processes) can
 * share it for the demo and fast tests without a JVM. It creates floq's
 * topics (the mock cluster has no CreateTopics API) with the configured
 * names and partition count, prints the bootstrap address as one line on
 * stdout and serves until SIGTERM/SIGINT. The mock cluster supports
 * producers (idempotent, transactional), consumer groups and offset
 * commits, but not compaction, ACLs or CreateTopics: integration tests
 * run against Apache Kafka (ops/kafka/kafka.sh).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "floq_common.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
        (void)sig;
        stop_requested = 1;
}

static void usage(FILE *out) {
        fprintf(out,
                "usage: floq-mock-broker [-n BROKERS] [-o NAME=VALUE]... "
                "[-F FILE] [-v]\n"
                "\n"
                "Start librdkafka's in-process mock Kafka cluster, create "
                "floq's topics on it\n"
                "(topic.* names, topic.partitions partitions) and print its "
                "bootstrap address\n"
                "on stdout. Serves until SIGTERM or SIGINT.\n"
                "\n"
                "  -n BROKERS      number of mock brokers (default 1)\n"
                "  -o NAME=VALUE   any floq property (see floq-worker "
                "--help), e.g. -o topic.partitions=3\n"
                "  -F FILE         properties file\n"
                "  -t TOPIC[:N]    also create TOPIC with N partitions "
                "(repeatable)\n"
                "  -v              log the mock cluster's activity\n"
                "\n"
                "Environment: FLOQ_* variables as for every floq program.\n"
                "Example:\n"
                "  export FLOQ_BROKERS=$(floq-mock-broker & ) # see "
                "ops/demo.sh\n");
}

int main(int argc, char **argv) {
        char errstr[512];
        int broker_cnt = 1, verbose = 0, opt, rc = 1;
        const char *extra[64];
        int extra_cnt = 0;
        floq_conf_t *conf = floq_conf_new();
        rd_kafka_conf_t *kconf = NULL;
        rd_kafka_t *rk = NULL;
        rd_kafka_mock_cluster_t *mcluster = NULL;
        static const struct option longopts[] = {
                {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};

        if (!conf) {
                fprintf(stderr, "floq-mock-broker: out of memory\n");
                return 1;
        }
        if (floq_conf_load_env(conf, NULL, errstr, sizeof(errstr))) {
                fprintf(stderr, "floq-mock-broker: %s\n", errstr);
                goto out;
        }
        while ((opt = getopt_long(argc, argv, "n:o:F:t:vh", longopts,
                                  NULL)) != -1) {
                switch (opt) {
                case 'n':
                        broker_cnt = atoi(optarg);
                        if (broker_cnt < 1 || broker_cnt > 16) {
                                fprintf(stderr,
                                        "floq-mock-broker: -n must be 1..16\n");
                                rc = 2;
                                goto out;
                        }
                        break;
                case 'o':
                        if (floq_conf_set_pair(conf, optarg, 0, errstr,
                                               sizeof(errstr))) {
                                fprintf(stderr, "floq-mock-broker: %s\n",
                                        errstr);
                                rc = 2;
                                goto out;
                        }
                        break;
                case 'F':
                        if (floq_conf_load_file(conf, optarg, errstr,
                                                sizeof(errstr))) {
                                fprintf(stderr, "floq-mock-broker: %s\n",
                                        errstr);
                                rc = 2;
                                goto out;
                        }
                        break;
                case 't':
                        if (extra_cnt < 64)
                                extra[extra_cnt++] = optarg;
                        break;
                case 'v':
                        verbose = 1;
                        break;
                case 'h':
                        usage(stdout);
                        rc = 0;
                        goto out;
                default:
                        usage(stderr);
                        rc = 2;
                        goto out;
                }
        }

        floq_log_setup("floq-mock-broker", verbose ? FLOQ_LOG_DEBUG
                                                    : FLOQ_LOG_NOTICE,
                       0, stderr);

        kconf = rd_kafka_conf_new();
        rd_kafka_conf_set_log_cb(kconf, floq_log_rdkafka_cb);
        /* The handle only carries the cluster; it never connects. */
        if (rd_kafka_conf_set(kconf, "bootstrap.servers", "",
                              errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            /* quiet the "no bootstrap.servers" notice of that handle */
            rd_kafka_conf_set(kconf, "log_level", verbose ? "7" : "4",
                              errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
                goto kerr;
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, errstr, sizeof(errstr));
        if (!rk)
                goto kerr;
        kconf = NULL; /* owned by rk now */

        mcluster = rd_kafka_mock_cluster_new(rk, broker_cnt);
        if (!mcluster) {
                fprintf(stderr, "floq-mock-broker: cannot create the mock "
                                "cluster\n");
                goto out;
        }

        {
                static const char *const topics[] = {
                        "topic.commands",    "topic.replies",
                        "topic.lineage",     "topic.deployments",
                        "topic.schedules",   "topic.runs",
                        "topic.dlq"};
                int parts = (int)floq_conf_int(conf, "topic.partitions");
                for (size_t i = 0; i < sizeof(topics) / sizeof(*topics);
                     i++) {
                        const char *name = floq_conf_str(conf, topics[i]);
                        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(
                                mcluster, name, parts, 1);
                        if (err) {
                                fprintf(stderr,
                                        "floq-mock-broker: cannot create "
                                        "'%s': %s\n",
                                        name, rd_kafka_err2str(err));
                                goto out;
                        }
                }
                for (int i = 0; i < extra_cnt; i++) {
                        char name[256];
                        const char *colon = strrchr(extra[i], ':');
                        int n = colon ? atoi(colon + 1) : parts;
                        size_t len = colon ? (size_t)(colon - extra[i])
                                           : strlen(extra[i]);
                        if (len == 0 || len >= sizeof(name) || n < 1) {
                                fprintf(stderr,
                                        "floq-mock-broker: bad -t '%s'\n",
                                        extra[i]);
                                rc = 2;
                                goto out;
                        }
                        memcpy(name, extra[i], len);
                        name[len] = '\0';
                        rd_kafka_mock_topic_create(mcluster, name, n, 1);
                }
        }

        signal(SIGTERM, on_signal);
        signal(SIGINT, on_signal);
        printf("%s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
        fflush(stdout);

        while (!stop_requested)
                pause();
        rc = 0;
        goto out;

kerr:
        fprintf(stderr, "floq-mock-broker: %s\n", errstr);
out:
        if (mcluster)
                rd_kafka_mock_cluster_destroy(mcluster);
        if (rk)
                rd_kafka_destroy(rk);
        if (kconf)
                rd_kafka_conf_destroy(kconf);
        floq_conf_destroy(conf);
        return rc;
}
