/*
 * floq_itest_tool.c - the integration tests' own Kafka client, independent
 * of libfloq's producer API and the floq CLI so that the worker is tested
 * against the wire contract only. Configured from the same FLOQ_*
 * environment as the worker (FLOQ_BROKERS, FLOQ_TOPIC_*).
 *
 *   produce [--partition N]      JSON Command objects on stdin, one per
 *                                line -> encoded, keyed by deployment;
 *                                command_id/issued_at filled when missing,
 *                                "expires_in_ms" turned into expires_at;
 *                                prints each command_id
 *   encode                       the first JSON command on stdin, encoded,
 *                                to stdout (for truncation tests)
 *   produce-raw FILE [--key K] [--partition N]   raw bytes as one record
 *   replies [--count N] [--timeout-ms T]   decoded replies as JSON lines
 *   runs [--latest]              RunState records (latest per run id,
 *                                heartbeat records folded into their run)
 *   deployments                  Deployment records
 *   schedules [--latest]         ScheduleSet records (latest per deployment)
 *   dlq                          DLQ records with headers, as JSON lines
 *   create-topic --key NAME / delete-topic --key NAME   (1 partition)
 *   partition --key NAME         home partition of a deployment (murmur2
 *                                over topic.partitions)
 *   hold-offsets --timeout-ms T  a transaction over the group's offsets
 *                                (group.id), held open: sends the committed
 *                                offsets of every commands partition, prints
 *                                "held", then waits to be killed; the
 *                                coordinator aborts it after T ms
 *                                (transaction.timeout.ms), until then the
 *                                group's offsets are UNSTABLE (KIP-447)
 *
 * Readers are read_committed, start at the beginning and stop at the end
 * of every partition (or after --count records / --timeout-ms).
 * Exit: 0 ok, 1 error or count not reached, 2 usage.
 */
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "floq_common.h"
#include "floq_schemas.h"

static floq_conf_t *conf;
static floq_codec_t *codec;
static int delivery_failures;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void die(const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "floq_itest_tool: ");
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
                fprintf(stderr, "floq_itest_tool: delivery failed: %s\n",
                        rd_kafka_err2str(m->err));
                delivery_failures++;
        }
}

static rd_kafka_t *new_producer(void) {
        char errstr[512];
        rd_kafka_conf_t *kc = floq_kafka_conf_new(conf, "producer", errstr,
                                                  sizeof(errstr));
        rd_kafka_t *rk;

        if (!kc)
                die("%s", errstr);
        rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
        if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr,
                                sizeof(errstr))))
                die("%s", errstr);
        return rk;
}

static int finish_producer(rd_kafka_t *rk) {
        if (rd_kafka_flush(rk, 30000))
                die("%s", "timed out waiting for delivery");
        rd_kafka_destroy(rk);
        return delivery_failures ? 1 : 0;
}

static void produce(rd_kafka_t *rk, const char *topic, int32_t partition,
                    const void *key, size_t keylen, const void *val,
                    size_t len) {
        rd_kafka_resp_err_t err;

        do {
                err = rd_kafka_producev(
                        rk, RD_KAFKA_V_TOPIC(topic),
                        RD_KAFKA_V_PARTITION(partition),
                        RD_KAFKA_V_KEY(key, keylen),
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

/* Fill what a test may leave out of a command: command_id, issued_at;
 * "expires_in_ms" becomes expires_at. */
static void complete_command(json_t *cmd) {
        char id[37];
        json_t *v;

        if (!json_object_get(cmd, "command_id")) {
                floq_uuid_new(id);
                json_object_set_new(cmd, "command_id", json_string(id));
        }
        if (!json_object_get(cmd, "issued_at"))
                json_object_set_new(cmd, "issued_at",
                                    json_integer(floq_now_ms()));
        if ((v = json_object_get(cmd, "expires_in_ms"))) {
                json_object_set_new(cmd, "expires_at",
                                    json_integer(floq_now_ms() +
                                                 json_integer_value(v)));
                json_object_del(cmd, "expires_in_ms");
        }
}

/* encode: the first JSON command on stdin, encoded, to stdout. */
static int cmd_encode(void) {
        char line[1 << 16], errstr[512];
        json_error_t jerr;
        json_t *cmd;
        void *buf;
        size_t len;

        if (!fgets(line, sizeof(line), stdin))
                die("no input");
        if (!(cmd = json_loads(line, 0, &jerr)))
                die("bad JSON: %s", jerr.text);
        complete_command(cmd);
        if (floq_codec_encode(codec, FLOQ_MSG_COMMAND, cmd, &buf, &len, errstr,
                              sizeof(errstr)))
                die("encode: %s", errstr);
        fwrite(buf, 1, len, stdout);
        free(buf);
        json_decref(cmd);
        return 0;
}

static int cmd_produce(int32_t partition) {
        rd_kafka_t *rk = new_producer();
        const char *topic = floq_conf_str(conf, "topic.commands");
        char line[1 << 20], errstr[512];

        while (fgets(line, sizeof(line), stdin)) {
                json_error_t jerr;
                json_t *cmd;
                void *buf;
                size_t len;
                const char *dep;

                if (line[strspn(line, " \t\r\n")] == '\0')
                        continue;
                if (!(cmd = json_loads(line, 0, &jerr)))
                        die("bad JSON: %s", jerr.text);
                complete_command(cmd);
                if (floq_codec_encode(codec, FLOQ_MSG_COMMAND, cmd, &buf, &len,
                                      errstr, sizeof(errstr)))
                        die("encode: %s", errstr);
                dep = json_string_value(json_object_get(cmd, "deployment"));
                produce(rk, topic, partition, dep, dep ? strlen(dep) : 0, buf,
                        len);
                printf("%s\n", json_string_value(
                                       json_object_get(cmd, "command_id")));
                free(buf);
                json_decref(cmd);
        }
        fflush(stdout);
        return finish_producer(rk);
}

static int cmd_produce_raw(const char *path, const char *key,
                           int32_t partition) {
        rd_kafka_t *rk = new_producer();
        FILE *fp = fopen(path, "rb");
        char *buf;
        long len;

        if (!fp)
                die("cannot open '%s'", path);
        fseek(fp, 0, SEEK_END);
        len = ftell(fp);
        fseek(fp, 0, SEEK_SET);
        buf = malloc((size_t)len + 1);
        if (!buf || fread(buf, 1, (size_t)len, fp) != (size_t)len)
                die("cannot read '%s'", path);
        fclose(fp);
        produce(rk, floq_conf_str(conf, "topic.commands"), partition, key,
                key ? strlen(key) : 0, buf, (size_t)len);
        free(buf);
        return finish_producer(rk);
}

/* create-topic / delete-topic NAME through the Admin API. */
static int cmd_topic(const char *name, int create) {
        char errstr[512];
        rd_kafka_t *rk = new_producer();
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_event_t *ev;
        const rd_kafka_topic_result_t **res;
        size_t cnt = 0;
        int rc = 0;

        if (create) {
                rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(
                        name, 1, 1, errstr, sizeof(errstr));

                if (!nt)
                        die("%s", errstr);
                rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
                rd_kafka_NewTopic_destroy(nt);
        } else {
                rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(name);

                rd_kafka_DeleteTopics(rk, &dt, 1, NULL, q);
                rd_kafka_DeleteTopic_destroy(dt);
        }
        if (!(ev = rd_kafka_queue_poll(q, 30000)))
                die("timed out on topic '%s'", name);
        if (rd_kafka_event_error(ev)) {
                fprintf(stderr, "floq_itest_tool: %s\n",
                        rd_kafka_event_error_string(ev));
                rc = 1;
        } else {
                res = create ? rd_kafka_CreateTopics_result_topics(
                                       rd_kafka_event_CreateTopics_result(ev),
                                       &cnt)
                             : rd_kafka_DeleteTopics_result_topics(
                                       rd_kafka_event_DeleteTopics_result(ev),
                                       &cnt);
                if (cnt == 1 && rd_kafka_topic_result_error(res[0])) {
                        fprintf(stderr, "floq_itest_tool: '%s': %s\n", name,
                                rd_kafka_topic_result_error_string(res[0]));
                        rc = 1;
                }
        }
        rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
        return rc;
}

typedef void(read_cb_t)(const rd_kafka_message_t *m);

/* Read @p topic from the beginning: until every partition reached its end
 * (count < 0), or until @p count records were seen; @p timeout_ms bounds
 * both. Returns the number of records. */
static long read_topic(const char *topic, long count, int timeout_ms,
                       read_cb_t *cb) {
        char errstr[512], gid[64];
        rd_kafka_conf_t *kc;
        rd_kafka_t *rk;
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_partition_list_t *l;
        rd_kafka_topic_t *rkt;
        int64_t deadline = floq_mono_ms() + timeout_ms;
        int i, pcnt = 0, eofs = 0;
        long seen = 0;
        char *eof;

        if (floq_conf_set(conf, "group.instance.id", "", errstr,
                          sizeof(errstr)))
                die("%s", errstr);
        snprintf(gid, sizeof(gid), "itest-tool-%lld",
                 (long long)floq_now_ms());
        floq_conf_set(conf, "group.id", gid, errstr, sizeof(errstr));
        if (!(kc = floq_kafka_conf_new(conf, "consumer", errstr,
                                       sizeof(errstr))))
                die("%s", errstr);
        rd_kafka_conf_set(kc, "enable.partition.eof", "true", NULL, 0);
        rd_kafka_conf_set(kc, "isolation.level", "read_committed", NULL, 0);
        if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr,
                                sizeof(errstr))))
                die("%s", errstr);
        rkt = rd_kafka_topic_new(rk, topic, NULL);
        while (floq_mono_ms() < deadline) {
                if (!rd_kafka_metadata(rk, 0, rkt, &md, 5000)) {
                        if (md->topic_cnt == 1 && !md->topics[0].err)
                                pcnt = md->topics[0].partition_cnt;
                        rd_kafka_metadata_destroy(md);
                }
                if (pcnt > 0)
                        break;
                rd_kafka_poll(rk, 200);
        }
        rd_kafka_topic_destroy(rkt);
        if (pcnt <= 0) {
                rd_kafka_destroy(rk);
                return count < 0 ? 0 : -1;
        }
        l = rd_kafka_topic_partition_list_new(pcnt);
        for (i = 0; i < pcnt; i++)
                rd_kafka_topic_partition_list_add(l, topic, i)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        eof = calloc((size_t)pcnt, 1);
        while (floq_mono_ms() < deadline) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

                if (!m)
                        continue;
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        if (m->partition < pcnt && !eof[m->partition]) {
                                eof[m->partition] = 1;
                                eofs++;
                        }
                } else if (!m->err) {
                        cb(m);
                        seen++;
                } else {
                        fprintf(stderr, "floq_itest_tool: %s\n",
                                rd_kafka_message_errstr(m));
                }
                rd_kafka_message_destroy(m);
                if (count >= 0 ? seen >= count : eofs >= pcnt)
                        break;
        }
        free(eof);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return seen;
}

static void print_json(json_t *o) {
        char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);

        printf("%s\n", s);
        free(s);
        json_decref(o);
}

static floq_msg_type_t decode_type;
static json_t *latest; /* key -> record, for --latest */

static void decoded_cb(const rd_kafka_message_t *m) {
        char errstr[512];
        json_t *msg = NULL;

        /* the deploy/stop outcomes beside the Deployment records (key
         * "deployment\n command_id"): not deployments */
        if (decode_type == FLOQ_MSG_DEPLOYMENT && m->key &&
            memchr(m->key, '\n', m->key_len))
                return;
        if (!m->payload) {
                if (latest && m->key) {
                        char *k = strndup(m->key, m->key_len);

                        json_object_del(latest, k);
                        free(k);
                }
                return;
        }
        if (floq_codec_decode(codec, decode_type, m->payload, m->len, &msg,
                              errstr, sizeof(errstr))) {
                fprintf(stderr, "floq_itest_tool: offset %lld: %s\n",
                        (long long)m->offset, errstr);
                return;
        }
        if (latest && m->key &&
            json_is_true(json_object_get(msg, "heartbeat_only"))) {
                /* "<run_id>:hb": only heartbeat_at and worker, folded into
                 * the run's latest state as the worker's restore does. */
                json_t *rs = json_object_get(
                        latest, json_string_value(json_object_get(msg,
                                                                  "run_id")));

                if (rs && json_integer_value(json_object_get(
                                  rs, "attempt")) ==
                                  json_integer_value(
                                          json_object_get(msg, "attempt"))) {
                        json_object_set(rs, "heartbeat_at",
                                        json_object_get(msg, "heartbeat_at"));
                        json_object_set(rs, "worker",
                                        json_object_get(msg, "worker"));
                }
                json_decref(msg);
                return;
        }
        if (latest && m->key) {
                char *k = strndup(m->key, m->key_len);

                json_object_set_new(latest, k, msg);
                free(k);
                return;
        }
        print_json(msg);
}

static void dlq_cb(const rd_kafka_message_t *m) {
        json_t *o = json_object(), *h = json_object();
        rd_kafka_headers_t *hdrs = NULL;
        const char *name;
        const void *val;
        size_t size, i;

        json_object_set_new(o, "key",
                            m->key ? json_stringn(m->key, m->key_len)
                                   : json_null());
        json_object_set_new(o, "len", json_integer((json_int_t)m->len));
        json_object_set_new(o, "partition", json_integer(m->partition));
        json_object_set_new(o, "offset", json_integer(m->offset));
        if (!rd_kafka_message_headers(m, &hdrs))
                for (i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val,
                                                     &size);
                     i++)
                        json_object_set_new(h, name,
                                            val ? json_stringn(val, size)
                                                : json_null());
        json_object_set_new(o, "headers", h);
        print_json(o);
}

static void usage(void) {
        fprintf(stderr,
                "usage: floq_itest_tool [-b BROKERS] COMMAND [options]\n"
                "  produce [--partition N]\n"
                "  encode < JSON > BYTES\n"
                "  produce-raw FILE [--key K] [--partition N]\n"
                "  replies [--count N] [--timeout-ms T]\n"
                "  runs [--latest] | deployments [--latest] |\n"
                "  schedules [--latest] | dlq\n"
                "  partition --key DEPLOYMENT\n"
                "  create-topic --key NAME | delete-topic --key NAME\n");
        exit(2);
}

/* hold-offsets: what a worker killed in the middle of its transaction
 * leaves behind, on demand: pending transactional offsets of the group. */
static int cmd_hold_offsets(int timeout_ms) {
        char errstr[512], buf[32], txn_id[64];
        rd_kafka_conf_t *kc;
        rd_kafka_t *prod, *cons;
        rd_kafka_topic_partition_list_t *l;
        rd_kafka_consumer_group_metadata_t *cgmd;
        rd_kafka_error_t *e;
        const char *group = floq_conf_str(conf, "group.id");
        int32_t p, n = (int32_t)floq_conf_int(conf, "topic.partitions");

        if (!(kc = floq_kafka_conf_new(conf, "consumer", errstr,
                                       sizeof(errstr))) ||
            !(cons = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr,
                                  sizeof(errstr))))
                die("%s", errstr);
        l = rd_kafka_topic_partition_list_new(n);
        for (p = 0; p < n; p++)
                rd_kafka_topic_partition_list_add(
                        l, floq_conf_str(conf, "topic.commands"), p);
        if (rd_kafka_committed(cons, l, 30000))
                die("cannot read the committed offsets");
        for (p = 0; p < n; p++)
                if (l->elems[p].offset < 0)
                        l->elems[p].offset = 0;
        if (!(kc = floq_kafka_conf_new(conf, "producer", errstr,
                                       sizeof(errstr))))
                die("%s", errstr);
        snprintf(txn_id, sizeof(txn_id), "floq-itest-hold-%d", (int)getpid());
        snprintf(buf, sizeof(buf), "%d", timeout_ms > 0 ? timeout_ms : 60000);
        if (rd_kafka_conf_set(kc, "transactional.id", txn_id, errstr,
                              sizeof(errstr)) ||
            rd_kafka_conf_set(kc, "transaction.timeout.ms", buf, errstr,
                              sizeof(errstr)) ||
            !(prod = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr,
                                  sizeof(errstr))))
                die("%s", errstr);
        if ((e = rd_kafka_init_transactions(prod, 30000)) ||
            (e = rd_kafka_begin_transaction(prod)))
                die("%s", rd_kafka_error_string(e));
        cgmd = rd_kafka_consumer_group_metadata_new(group);
        if ((e = rd_kafka_send_offsets_to_transaction(prod, l, cgmd, 30000)))
                die("%s", rd_kafka_error_string(e));
        rd_kafka_consumer_group_metadata_destroy(cgmd);
        printf("held\n");
        fflush(stdout);
        for (;;)
                pause();
        return 0;
}

int main(int argc, char **argv) {
        const char *cmd, *key = NULL, *file = NULL;
        int32_t partition = RD_KAFKA_PARTITION_UA;
        long count = -1, got;
        int timeout_ms = 30000, opt, want_latest = 0, rc = 0, i;
        char errstr[512];

        floq_log_setup("floq_itest_tool", FLOQ_LOG_WARN, 0, stderr);
        if (!(conf = floq_conf_new()))
                return 1;
        if (floq_conf_load_env(conf, NULL, errstr, sizeof(errstr)))
                die("%s", errstr);
        while ((opt = getopt(argc, argv, "+b:X:")) != -1) {
                if (opt == 'b')
                        floq_conf_set(conf, "brokers", optarg, errstr,
                                      sizeof(errstr));
                else if (opt == 'X')
                        floq_conf_set_pair(conf, optarg, 1, errstr,
                                           sizeof(errstr));
                else
                        usage();
        }
        if (optind >= argc)
                usage();
        cmd = argv[optind++];
        for (i = optind; i < argc; i++) {
                const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

                if (!strcmp(a, "--partition") && v)
                        partition = atoi(argv[++i]);
                else if (!strcmp(a, "--key") && v)
                        key = argv[++i];
                else if (!strcmp(a, "--count") && v)
                        count = atol(argv[++i]);
                else if (!strcmp(a, "--timeout-ms") && v)
                        timeout_ms = atoi(argv[++i]);
                else if (!strcmp(a, "--latest"))
                        want_latest = 1;
                else if (!file && !strcmp(cmd, "produce-raw") && a[0] != '-')
                        file = a;
                else
                        usage();
        }
        if (!strcmp(cmd, "produce-raw") && !file)
                usage();
        if (!(codec = floq_codec_new(16 << 20, errstr, sizeof(errstr))))
                die("%s", errstr);

        if (!strcmp(cmd, "produce")) {
                rc = cmd_produce(partition);
        } else if (!strcmp(cmd, "create-topic") ||
                   !strcmp(cmd, "delete-topic")) {
                if (!key)
                        usage();
                rc = cmd_topic(key, cmd[0] == 'c');
        } else if (!strcmp(cmd, "encode")) {
                rc = cmd_encode();
        } else if (!strcmp(cmd, "produce-raw")) {
                rc = cmd_produce_raw(file, key, partition);
        } else if (!strcmp(cmd, "replies") || !strcmp(cmd, "runs") ||
                   !strcmp(cmd, "deployments") ||
                   !strcmp(cmd, "schedules")) {
                const char *topic;

                if (!strcmp(cmd, "replies")) {
                        decode_type = FLOQ_MSG_REPLY;
                        topic = floq_conf_str(conf, "topic.replies");
                } else if (!strcmp(cmd, "runs")) {
                        decode_type = FLOQ_MSG_RUN_STATE;
                        topic = floq_conf_str(conf, "topic.runs");
                } else if (!strcmp(cmd, "schedules")) {
                        decode_type = FLOQ_MSG_SCHEDULE_SET;
                        topic = floq_conf_str(conf, "topic.schedules");
                } else {
                        decode_type = FLOQ_MSG_DEPLOYMENT;
                        topic = floq_conf_str(conf, "topic.deployments");
                }
                if (want_latest)
                        latest = json_object();
                got = read_topic(topic, count, timeout_ms, decoded_cb);
                if (latest) {
                        const char *k;
                        json_t *v;

                        json_object_foreach(latest, k, v)
                                print_json(json_incref(v));
                        json_decref(latest);
                }
                if (count >= 0 && got < count)
                        rc = 1;
        } else if (!strcmp(cmd, "partition")) {
                /* the home partition of a deployment name (key) */
                if (!key)
                        usage();
                printf("%d\n", (int)floq_kafka_partition(
                                        key, strlen(key),
                                        (int32_t)floq_conf_int(
                                                conf, "topic.partitions")));
        } else if (!strcmp(cmd, "hold-offsets")) {
                rc = cmd_hold_offsets(timeout_ms);
        } else if (!strcmp(cmd, "dlq")) {
                got = read_topic(floq_conf_str(conf, "topic.dlq"), count,
                                 timeout_ms, dlq_cb);
                if (count >= 0 && got < count)
                        rc = 1;
        } else {
                usage();
        }
        fflush(stdout);
        floq_codec_destroy(codec);
        floq_conf_destroy(conf);
        return rc;
}
