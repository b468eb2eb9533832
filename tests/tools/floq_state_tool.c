/*
 * floq_state_tool.c - writes floq state records the way a worker would,
 * for the restore tests (0160-0162). Configured from the same FLOQ_*
 * environment as the worker (FLOQ_BROKERS, FLOQ_TOPIC_*).
 *
 *   Input is read from stdin or --input FILE (a background job's stdin
 *   is /dev/null).
 *
 *   hold-txn --txn-id ID --hold-ms H [--group G --partition P --offset O]
 *       records, one JSON object a line:
 *       {"topic": T, "partition": N, "key": K, "type": "RunState"|"Reply",
 *        "value": {...}} (no "value": a tombstone); written in one
 *       transaction of transactional id ID, with the commit of offset O
 *       of partition P of topic.commands for group G when given (as a
 *       worker commits its consumed offsets), then "open" on stdout, the
 *       transaction held open H ms (-1: until killed, like a worker
 *       killed before its commit), committed, "committed" on stdout.
 *   heartbeats --count N [--worker W]
 *       RunState records on stdin (the live runs, one a line, each with
 *       "partition"); N heartbeat records ("<run_id>:hb", heartbeat_only)
 *       written round-robin over them as fast as the broker takes them,
 *       heartbeat_at advancing 2 s per round as a worker's would (days of
 *       heartbeats in seconds, the last round now); prints how many
 *       were written and the last heartbeat_at.
 *   create-topics
 *       floq's topics, created as a worker creates them
 *       (floq_kafka_ensure_topics, topic.* settings).
 *
 * Exit: 0 ok, 1 error, 2 usage.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "floq_common.h"
#include "floq_schemas.h"

static floq_conf_t *conf;
static floq_codec_t *codec;
static int delivery_failures;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void die(const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "floq_state_tool: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\n");
        exit(1);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *op) {
        (void)rk;
        (void)op;
        if (m->err) {
                fprintf(stderr, "floq_state_tool: delivery failed: %s\n",
                        rd_kafka_err2str(m->err));
                delivery_failures++;
        }
}

static rd_kafka_t *new_producer(const char *txn_id) {
        char errstr[512];
        rd_kafka_conf_t *kc = floq_kafka_conf_new(conf, "producer", errstr,
                                                  sizeof(errstr));
        rd_kafka_t *rk;

        if (!kc)
                die("%s", errstr);
        if (txn_id &&
            (rd_kafka_conf_set(kc, "transactional.id", txn_id, errstr,
                               sizeof(errstr)) ||
             rd_kafka_conf_set(kc, "transaction.timeout.ms", "60000", errstr,
                               sizeof(errstr))))
                die("%s", errstr);
        if (!txn_id && (rd_kafka_conf_set(kc, "linger.ms", "20", errstr,
                                          sizeof(errstr)) ||
                        rd_kafka_conf_set(kc, "batch.size", "1000000",
                                          errstr, sizeof(errstr))))
                die("%s", errstr);
        rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
        if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr,
                                sizeof(errstr))))
                die("%s", errstr);
        return rk;
}

static void produce(rd_kafka_t *rk, const char *topic, int32_t partition,
                    const char *key, const void *val, size_t len) {
        rd_kafka_resp_err_t err;

        do {
                err = rd_kafka_producev(
                        rk, RD_KAFKA_V_TOPIC(topic),
                        RD_KAFKA_V_PARTITION(partition),
                        RD_KAFKA_V_KEY(key, strlen(key)),
                        RD_KAFKA_V_VALUE((void *)val, len),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_END);
                if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        rd_kafka_poll(rk, 100);
        } while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
        if (err)
                die("produce: %s", rd_kafka_err2str(err));
        rd_kafka_poll(rk, 0);
}

static void encode_produce(rd_kafka_t *rk, const char *topic,
                           int32_t partition, const char *key,
                           floq_msg_type_t type, json_t *value) {
        char errstr[512];
        void *buf = NULL;
        size_t len = 0;

        if (value && floq_codec_encode(codec, type, value, &buf, &len, errstr,
                                       sizeof(errstr)))
                die("cannot encode for '%s': %s", topic, errstr);
        produce(rk, topic, partition, key, buf, len);
        free(buf);
}

static void check(rd_kafka_error_t *e, const char *what) {
        if (e)
                die("%s: %s", what, rd_kafka_error_string(e));
}

static int cmd_hold_txn(FILE *in, const char *txn_id, long hold_ms,
                        const char *group, int32_t cpart, int64_t offset) {
        rd_kafka_t *rk = new_producer(txn_id);
        static char line[1 << 20];
        int64_t until;
        int n = 0;

        check(rd_kafka_init_transactions(rk, 30000), "init_transactions");
        check(rd_kafka_begin_transaction(rk), "begin_transaction");
        while (fgets(line, sizeof(line), in)) {
                json_error_t jerr;
                json_t *r = json_loads(line, 0, &jerr);
                const char *type;

                if (!r)
                        die("bad input line: %s", jerr.text);
                type = json_string_value(json_object_get(r, "type"));
                encode_produce(
                        rk, json_string_value(json_object_get(r, "topic")),
                        (int32_t)json_integer_value(
                                json_object_get(r, "partition")),
                        json_string_value(json_object_get(r, "key")),
                        type && !strcmp(type, "Reply") ? FLOQ_MSG_REPLY
                                                       : FLOQ_MSG_RUN_STATE,
                        json_object_get(r, "value"));
                json_decref(r);
                n++;
        }
        if (!n)
                die("%s", "no records to write");
        if (rd_kafka_flush(rk, 30000) || delivery_failures)
                die("%s", "records not delivered");
        if (group) {
                rd_kafka_consumer_group_metadata_t *cgmd =
                        rd_kafka_consumer_group_metadata_new(group);
                rd_kafka_topic_partition_list_t *l =
                        rd_kafka_topic_partition_list_new(1);

                rd_kafka_topic_partition_list_add(
                        l, floq_conf_str(conf, "topic.commands"), cpart)
                        ->offset = offset;
                check(rd_kafka_send_offsets_to_transaction(rk, l, cgmd,
                                                           30000),
                      "send_offsets_to_transaction");
                rd_kafka_consumer_group_metadata_destroy(cgmd);
                rd_kafka_topic_partition_list_destroy(l);
        }
        printf("open\n");
        fflush(stdout);
        until = floq_mono_ms() + hold_ms;
        while (hold_ms < 0 || floq_mono_ms() < until)
                rd_kafka_poll(rk, 100); /* holding open is the point */
        check(rd_kafka_commit_transaction(rk, 30000), "commit_transaction");
        printf("committed\n");
        fflush(stdout);
        rd_kafka_destroy(rk);
        return 0;
}

static int cmd_heartbeats(FILE *in, long count, const char *worker) {
        rd_kafka_t *rk = new_producer(NULL);
        const char *topic = floq_conf_str(conf, "topic.runs");
        json_t *runs = json_array(), *rs;
        static char line[1 << 20];
        char key[128];
        int64_t at = floq_now_ms();
        long n = 0;
        size_t i;

        while (fgets(line, sizeof(line), in)) {
                json_error_t jerr;
                json_t *r = json_loads(line, 0, &jerr);

                if (!r)
                        die("bad input line: %s", jerr.text);
                json_array_append_new(runs, r);
        }
        if (!json_array_size(runs))
                die("%s", "no runs on stdin");
        /* The last round is now: the history lies behind it. */
        at -= (int64_t)((count - 1) / (long)json_array_size(runs)) * 2000;
        while (n < count) {
                json_array_foreach(runs, i, rs) {
                        json_t *hb = json_object();
                        const char *id = json_string_value(
                                json_object_get(rs, "run_id"));

                        if (n >= count)
                                break;
                        json_object_set(hb, "run_id",
                                        json_object_get(rs, "run_id"));
                        json_object_set(hb, "deployment",
                                        json_object_get(rs, "deployment"));
                        json_object_set(hb, "command_id",
                                        json_object_get(rs, "command_id"));
                        json_object_set(hb, "status",
                                        json_object_get(rs, "status"));
                        json_object_set(hb, "attempt",
                                        json_object_get(rs, "attempt"));
                        json_object_set_new(
                                hb, "worker",
                                json_string(worker ? worker
                                                   : json_string_value(
                                                             json_object_get(
                                                                     rs,
                                                                     "worker"))));
                        json_object_set_new(hb, "heartbeat_at",
                                            json_integer(at));
                        json_object_set(hb, "created_at",
                                        json_object_get(rs, "created_at"));
                        json_object_set_new(hb, "heartbeat_only",
                                            json_true());
                        snprintf(key, sizeof(key), "%s:hb", id);
                        encode_produce(rk, topic,
                                       (int32_t)json_integer_value(
                                               json_object_get(rs,
                                                               "partition")),
                                       key, FLOQ_MSG_RUN_STATE, hb);
                        json_decref(hb);
                        n++;
                }
                at += 2000;
        }
        if (rd_kafka_flush(rk, 120000) || delivery_failures)
                die("%s", "records not delivered");
        rd_kafka_destroy(rk);
        json_decref(runs);
        printf("%ld %lld\n", n, (long long)(at - 2000));
        return 0;
}

static int cmd_create_topics(void) {
        rd_kafka_t *rk = new_producer(NULL);
        char errstr[512];

        if (floq_kafka_ensure_topics(rk, conf, 60000, errstr, sizeof(errstr)))
                die("%s", errstr);
        rd_kafka_destroy(rk);
        return 0;
}

static void usage(void) {
        fprintf(stderr,
                "usage: floq_state_tool COMMAND [options]\n"
                "  hold-txn --txn-id ID --hold-ms H [--group G --partition P "
                "--offset O] [--input FILE]\n"
                "  heartbeats --count N [--worker W] [--input FILE]\n"
                "  create-topics\n");
        exit(2);
}

int main(int argc, char **argv) {
        const char *cmd, *txn_id = NULL, *group = NULL, *worker = NULL;
        FILE *in = stdin;
        long hold_ms = 0, count = 0;
        int32_t partition = 0;
        int64_t offset = -1;
        char errstr[512];
        int i;

        floq_log_setup("floq_state_tool", FLOQ_LOG_WARN, 0, stderr);
        if (argc < 2)
                usage();
        if (!(conf = floq_conf_new()))
                return 1;
        if (floq_conf_load_env(conf, NULL, errstr, sizeof(errstr)))
                die("%s", errstr);
        cmd = argv[1];
        for (i = 2; i < argc; i++) {
                const char *a = argv[i];

                if (i + 1 >= argc)
                        usage();
                if (!strcmp(a, "--txn-id"))
                        txn_id = argv[++i];
                else if (!strcmp(a, "--hold-ms"))
                        hold_ms = atol(argv[++i]);
                else if (!strcmp(a, "--group"))
                        group = argv[++i];
                else if (!strcmp(a, "--partition"))
                        partition = atoi(argv[++i]);
                else if (!strcmp(a, "--offset"))
                        offset = atoll(argv[++i]);
                else if (!strcmp(a, "--count"))
                        count = atol(argv[++i]);
                else if (!strcmp(a, "--worker"))
                        worker = argv[++i];
                else if (!strcmp(a, "--input")) {
                        if (!(in = fopen(argv[++i], "r")))
                                die("cannot open '%s'", argv[i]);
                }
                else
                        usage();
        }
        if (!(codec = floq_codec_new(16 << 20, errstr, sizeof(errstr))))
                die("%s", errstr);
        if (!strcmp(cmd, "hold-txn") && txn_id)
                return cmd_hold_txn(in, txn_id, hold_ms, group, partition, offset);
        if (!strcmp(cmd, "create-topics"))
                return cmd_create_topics();
        if (!strcmp(cmd, "heartbeats") && count > 0)
                return cmd_heartbeats(in, count, worker);
        usage();
        return 2;
}
