/*
 * test_kafka.c - the Kafka adapter: Java's murmur2 partitioner against
 * Kafka's and librdkafka's published vectors and against librdkafka's own
 * murmur2_random choice (called directly and through a produce to the mock
 * cluster), role defaults and overrides of floq_kafka_conf_new(), error
 * mapping, and floq_kafka_ensure_topics() against librdkafka's mock
 * cluster and, when FLOQ_BROKERS is set, a real broker.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "floq_common.h" /* rdkafka.h, which rdkafka_mock.h needs first */
#include <librdkafka/rdkafka_mock.h>
#include "test_util.h"

static char errstr[512];

/* toPositive(murmur2(key)) as Java computes it: with INT32_MAX partitions
 * the modulo is the identity for every hash below 0x7fffffff. */
static uint32_t positive_hash(const char *key, size_t len) {
        return (uint32_t)floq_kafka_partition(key, len, INT32_MAX);
}

START_TEST(test_murmur2_kafka_vectors) {
        /* org.apache.kafka.common.utils.UtilsTest#testMurmur2 and the
         * values other Kafka clients check against Utils.murmur2 */
        static const struct {
                const char *key;
                int32_t hash;
        } v[] = {
                { "21", -973932308 },
                { "foobar", -790332482 },
                { "a-little-bit-long-string", -985981536 },
                { "a-little-bit-longer-string", -1486304829 },
                { "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                  -58897971 },
                { "abc", 479470107 },
                { "1", -1993445489 },
                { "12", 126087238 },
                { "123", -267702483 },
                { "1234", -1614185708 },
                { "12345", -1188365604 },
        };
        size_t i;

        for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
                ck_assert_msg(positive_hash(v[i].key, strlen(v[i].key)) ==
                                      ((uint32_t)v[i].hash & 0x7fffffff),
                              "murmur2('%s')", v[i].key);
}
END_TEST

START_TEST(test_murmur2_librdkafka_vectors) {
        /* librdkafka src/rdmurmur2.c unittest_murmur2() */
        static const char *unaligned = "PreAmbleWillBeRemoved,ThePrePartThatIs";
        static const struct {
                const char *key;
                uint32_t hash;
        } v[] = {
                { "kafka", 0xd067cf64 }, { "giberish123456789", 0x8f552b0c },
                { "1234", 0x9fc97b14 },  { "234", 0xe7c009ca },
                { "34", 0x873930da },    { "4", 0x5a4b5ca1 },
                { "", 0x106e08d9 },
        };
        static const uint32_t unaligned_hash[] = { 0x78424f1c, 0x4a62b377,
                                                   0xe0e4e09e, 0x62b8b43f };
        size_t i;

        for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
                ck_assert_msg(positive_hash(v[i].key, strlen(v[i].key)) ==
                                      (v[i].hash & 0x7fffffff),
                              "murmur2('%s')", v[i].key);
        for (i = 0; i < 4; i++)
                ck_assert_uint_eq(positive_hash(unaligned + i,
                                                strlen(unaligned + i)),
                                  unaligned_hash[i] & 0x7fffffff);
        /* NULL is hashed as the empty key, as librdkafka does */
        ck_assert_uint_eq(positive_hash(NULL, 0), 0x106e08d9);
}
END_TEST

START_TEST(test_partition_small_counts) {
        /* 0x5067cf64 = 1348980580; 0x2ab0e07f = 716234879 */
        ck_assert_int_eq(floq_kafka_partition("kafka", 5, 10), 0);
        ck_assert_int_eq(floq_kafka_partition("test", 4, 10), 9);
        ck_assert_int_eq(floq_kafka_partition("kafka", 5, 6),
                         (int)(1348980580u % 6));
        ck_assert_int_eq(floq_kafka_partition("anything", 8, 1), 0);
        ck_assert_int_eq(floq_kafka_partition("k", 1, 0),
                         RD_KAFKA_PARTITION_UA);
        ck_assert_int_eq(floq_kafka_partition("k", 1, -3),
                         RD_KAFKA_PARTITION_UA);
}
END_TEST

/* Our choice equals librdkafka's murmur2_random for many keys and counts:
 * what a Java producer, librdkafka and floq all agree on. */
START_TEST(test_partition_matches_librdkafka) {
        static const int32_t counts[] = { 1, 2, 3, 6, 7, 12, 100, 1009 };
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        rd_kafka_t *rk;
        rd_kafka_topic_t *rkt;
        unsigned seed = 42;
        int i;
        size_t c;

        rd_kafka_conf_set(kc, "log_level", "3", NULL, 0);

        rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
        ck_assert_msg(rk != NULL, "%s", errstr);
        rkt = rd_kafka_topic_new(rk, "t", NULL);
        for (i = 0; i < 5000; i++) {
                char key[48];
                size_t len = (size_t)(rand_r(&seed) % 47), j;

                for (j = 0; j < len; j++)
                        key[j] = (char)(i < 2500 ? 'a' + rand_r(&seed) % 26
                                                 : rand_r(&seed) % 256);
                for (c = 0; c < sizeof(counts) / sizeof(counts[0]); c++)
                        ck_assert_int_eq(
                                floq_kafka_partition(key, len, counts[c]),
                                rd_kafka_msg_partitioner_murmur2_random(
                                        rkt, key, len, counts[c], NULL,
                                        NULL));
        }
        rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(rk);
}
END_TEST

/* ------------------------------------------------------------ mock helpers */

static const char *topic_props[] = { "topic.commands",    "topic.replies",
                                     "topic.lineage",     "topic.deployments",
                                     "topic.schedules",   "topic.runs",
                                     "topic.dlq" };

struct mock {
        rd_kafka_t *owner;
        rd_kafka_mock_cluster_t *mc;
        floq_conf_t *conf;
        rd_kafka_t *rk; /* a client of the mock */
};

static void mock_start(struct mock *m, int create_topics, int partitions) {
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        size_t i;

        memset(m, 0, sizeof(*m));
        rd_kafka_conf_set_log_cb(kc, floq_log_rdkafka_cb);
        /* the mock's owner has no brokers of its own: skip that notice */
        rd_kafka_conf_set(kc, "log_level", "3", NULL, 0);
        m->owner = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
        ck_assert_msg(m->owner != NULL, "%s", errstr);
        m->mc = rd_kafka_mock_cluster_new(m->owner, 1);
        ck_assert_ptr_nonnull(m->mc);
        m->conf = floq_conf_new();
        ck_assert_int_eq(floq_conf_set(m->conf, "brokers",
                                       rd_kafka_mock_cluster_bootstraps(m->mc),
                                       errstr, sizeof(errstr)),
                         FLOQ_OK);
        for (i = 0; create_topics && i < 7; i++)
                ck_assert_int_eq(
                        rd_kafka_mock_topic_create(
                                m->mc, floq_conf_str(m->conf, topic_props[i]),
                                partitions, 1),
                        RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void mock_client(struct mock *m, const char *role) {
        rd_kafka_conf_t *kc = floq_kafka_conf_new(m->conf, role, errstr,
                                                  sizeof(errstr));

        ck_assert_msg(kc != NULL, "%s", errstr);
        m->rk = rd_kafka_new(!strcmp(role, "consumer") ? RD_KAFKA_CONSUMER
                                                       : RD_KAFKA_PRODUCER,
                             kc, errstr, sizeof(errstr));
        ck_assert_msg(m->rk != NULL, "%s", errstr);
}

static void mock_stop(struct mock *m) {
        if (m->rk)
                rd_kafka_destroy(m->rk);
        floq_conf_destroy(m->conf);
        rd_kafka_mock_cluster_destroy(m->mc);
        rd_kafka_destroy(m->owner);
}

static int32_t delivered[64];
static int ndelivered;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg,
                  void *opaque) {
        (void)rk;
        (void)opaque;
        ck_assert_msg(!msg->err, "delivery: %s", rd_kafka_err2str(msg->err));
        delivered[(intptr_t)msg->_private] = msg->partition;
        ndelivered++;
}

/* A producer built by floq_kafka_conf_new() puts each key on
 * floq_kafka_partition()'s partition: the co-partitioning contract. */
START_TEST(test_producer_places_keys) {
        struct mock m;
        rd_kafka_conf_t *kc;
        char key[32];
        int i;
        int64_t deadline;

        mock_start(&m, 0, 0);
        ck_assert_int_eq(rd_kafka_mock_topic_create(m.mc, "placed", 7, 1), 0);
        kc = floq_kafka_conf_new(m.conf, "producer", errstr, sizeof(errstr));
        ck_assert_msg(kc != NULL, "%s", errstr);
        rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
        m.rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
        ck_assert_msg(m.rk != NULL, "%s", errstr);
        ndelivered = 0;
        for (i = 0; i < 64; i++) {
                snprintf(key, sizeof(key), "deployment-%d", i * 7919);
                ck_assert_int_eq(
                        rd_kafka_producev(m.rk, RD_KAFKA_V_TOPIC("placed"),
                                          RD_KAFKA_V_KEY(key, strlen(key)),
                                          RD_KAFKA_V_VALUE("v", 1),
                                          RD_KAFKA_V_OPAQUE((void *)(intptr_t)i),
                                          RD_KAFKA_V_END),
                        RD_KAFKA_RESP_ERR_NO_ERROR);
        }
        deadline = floq_mono_ms() + 20000;
        while (ndelivered < 64 && floq_mono_ms() < deadline)
                rd_kafka_poll(m.rk, 100);
        ck_assert_int_eq(ndelivered, 64);
        for (i = 0; i < 64; i++) {
                snprintf(key, sizeof(key), "deployment-%d", i * 7919);
                ck_assert_int_eq(delivered[i],
                                 floq_kafka_partition(key, strlen(key), 7));
        }
        mock_stop(&m);
}
END_TEST

/* ------------------------------------------------------------ conf roles */

static void assert_prop(rd_kafka_conf_t *kc, const char *key,
                        const char *want) {
        char val[256];
        size_t vlen = sizeof(val);

        ck_assert_msg(rd_kafka_conf_get(kc, key, val, &vlen) ==
                              RD_KAFKA_CONF_OK,
                      "no %s", key);
        ck_assert_msg(!strcmp(val, want), "%s=%s, want %s", key, val, want);
}

START_TEST(test_conf_roles) {
        floq_conf_t *conf = floq_conf_new();
        rd_kafka_conf_t *kc;

        ck_assert_int_eq(floq_conf_set(conf, "client.id", "cid", errstr,
                                       sizeof(errstr)),
                         FLOQ_OK);
        kc = floq_kafka_conf_new(conf, "producer", errstr, sizeof(errstr));
        ck_assert_msg(kc != NULL, "%s", errstr);
        assert_prop(kc, "partitioner", "murmur2_random");
        assert_prop(kc, "acks", "-1");
        assert_prop(kc, "client.id", "cid");
        assert_prop(kc, "bootstrap.servers", "localhost:9092");
        rd_kafka_conf_destroy(kc);

        ck_assert_int_eq(floq_conf_set(conf, "group.instance.id", "w-0",
                                       errstr, sizeof(errstr)),
                         FLOQ_OK);
        kc = floq_kafka_conf_new(conf, "consumer", errstr, sizeof(errstr));
        ck_assert_msg(kc != NULL, "%s", errstr);
        assert_prop(kc, "enable.auto.commit", "false");
        assert_prop(kc, "auto.offset.reset", "smallest");
        assert_prop(kc, "isolation.level", "read_committed");
        assert_prop(kc, "enable.partition.eof", "false");
        assert_prop(kc, "group.id", "floq-workers");
        assert_prop(kc, "group.instance.id", "w-0");
        rd_kafka_conf_destroy(kc);

        kc = floq_kafka_conf_new(conf, "admin", errstr, sizeof(errstr));
        ck_assert_msg(kc != NULL, "%s", errstr);
        assert_prop(kc, "bootstrap.servers", "localhost:9092");
        rd_kafka_conf_destroy(kc);

        ck_assert_ptr_null(
                floq_kafka_conf_new(conf, "spectator", errstr, sizeof(errstr)));
        ck_assert_ptr_nonnull(strstr(errstr, "unknown client role 'spectator'"));
        floq_conf_destroy(conf);
}
END_TEST

/* The operator's -X settings beat our role defaults. */
START_TEST(test_conf_passthrough_overrides) {
        floq_conf_t *conf = floq_conf_new();
        rd_kafka_conf_t *kc;

        ck_assert_int_eq(floq_conf_set_pair(conf,
                                            "isolation.level=read_uncommitted",
                                            1, errstr, sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_conf_set_pair(conf, "partitioner=consistent", 1,
                                            errstr, sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_conf_set_pair(conf, "client.id=xid", 1, errstr,
                                            sizeof(errstr)),
                         FLOQ_OK);
        kc = floq_kafka_conf_new(conf, "consumer", errstr, sizeof(errstr));
        ck_assert_msg(kc != NULL, "%s", errstr);
        assert_prop(kc, "isolation.level", "read_uncommitted");
        assert_prop(kc, "client.id", "xid");
        rd_kafka_conf_destroy(kc);
        kc = floq_kafka_conf_new(conf, "producer", errstr, sizeof(errstr));
        ck_assert_msg(kc != NULL, "%s", errstr);
        assert_prop(kc, "partitioner", "consistent");
        rd_kafka_conf_destroy(kc);
        floq_conf_destroy(conf);
}
END_TEST

START_TEST(test_err_mapping) {
        ck_assert_int_eq(floq_kafka_err(RD_KAFKA_RESP_ERR_NO_ERROR), FLOQ_OK);
        ck_assert_int_eq(floq_kafka_err(RD_KAFKA_RESP_ERR__TIMED_OUT),
                         FLOQ_ERR_TIMED_OUT);
        ck_assert_int_eq(floq_kafka_err(RD_KAFKA_RESP_ERR__TRANSPORT),
                         FLOQ_ERR_TRANSPORT);
        ck_assert_int_eq(floq_kafka_err(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN),
                         FLOQ_ERR_TRANSPORT);
        ck_assert_int_eq(floq_kafka_err(RD_KAFKA_RESP_ERR__FENCED),
                         FLOQ_ERR_FENCED);
        ck_assert_int_eq(floq_kafka_err(RD_KAFKA_RESP_ERR_PRODUCER_FENCED),
                         FLOQ_ERR_FENCED);
        ck_assert_int_eq(floq_kafka_err(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART),
                         FLOQ_ERR_NOT_FOUND);
        ck_assert_int_eq(floq_kafka_err(RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS),
                         FLOQ_ERR_EXISTS);
        ck_assert_int_eq(floq_kafka_err(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE),
                         FLOQ_ERR_TOO_LARGE);
        ck_assert_int_eq(
                floq_kafka_err(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED),
                FLOQ_ERR_UNAUTHORIZED);
        ck_assert_int_eq(floq_kafka_err(RD_KAFKA_RESP_ERR__FATAL),
                         FLOQ_ERR_STATE);
        ck_assert_int_eq(floq_kafka_err(RD_KAFKA_RESP_ERR__QUEUE_FULL),
                         FLOQ_ERR_KAFKA);
        ck_assert(floq_err_is_retriable(
                floq_kafka_err(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION)));
        ck_assert(!floq_err_is_retriable(
                floq_kafka_err(RD_KAFKA_RESP_ERR_PRODUCER_FENCED)));
}
END_TEST

/* --------------------------------------------------------- ensure_topics */

/* ensure_topics on the mock's client; FLOQ_OK expected */
static void ensure_ok(struct mock *m) {
        ck_assert_msg(floq_kafka_ensure_topics(m->rk, m->conf, 10000, errstr,
                                               sizeof(errstr)) == FLOQ_OK,
                      "%s", errstr);
}

START_TEST(test_ensure_existing_ok) {
        struct mock m;

        mock_start(&m, 1, 6);
        mock_client(&m, "producer");
        ensure_ok(&m);
        /* idempotent */
        ensure_ok(&m);
        mock_stop(&m);
}
END_TEST

START_TEST(test_ensure_from_consumer) {
        struct mock m;

        mock_start(&m, 1, 6);
        mock_client(&m, "consumer");
        ensure_ok(&m);
        mock_stop(&m);
}
END_TEST

START_TEST(test_ensure_partition_mismatch) {
        struct mock m;

        mock_start(&m, 0, 0);
        for (size_t i = 0; i < 7; i++)
                rd_kafka_mock_topic_create(
                        m.mc, floq_conf_str(m.conf, topic_props[i]),
                        i == 5 ? 3 : 6, 1);
        mock_client(&m, "producer");
        ck_assert_int_eq(floq_kafka_ensure_topics(m.rk, m.conf, 10000, errstr,
                                                  sizeof(errstr)),
                         FLOQ_ERR_CONFIG);
        ck_assert_msg(strstr(errstr, "topic 'floq.runs' has 3 partitions"),
                      "%s", errstr);

        /* and all of them disagree with a changed topic.partitions */
        ck_assert_int_eq(floq_conf_set(m.conf, "topic.partitions", "3",
                                       errstr, sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(floq_kafka_ensure_topics(m.rk, m.conf, 10000, errstr,
                                                  sizeof(errstr)),
                         FLOQ_ERR_CONFIG);
        ck_assert_msg(strstr(errstr, "topic 'floq.commands' has 6 partitions"),
                      "%s", errstr);
        mock_stop(&m);
}
END_TEST

START_TEST(test_ensure_shared_topic_names) {
        struct mock m;

        mock_start(&m, 1, 6);
        /* two roles on one topic is allowed; it is asked for once */
        ck_assert_int_eq(floq_conf_set(m.conf, "topic.dlq", "floq.replies",
                                       errstr, sizeof(errstr)),
                         FLOQ_OK);
        mock_client(&m, "producer");
        ensure_ok(&m);
        mock_stop(&m);
}
END_TEST

START_TEST(test_ensure_missing_no_create) {
        struct mock m;

        mock_start(&m, 0, 0);
        rd_kafka_mock_topic_create(m.mc, "floq.commands", 6, 1);
        ck_assert_int_eq(floq_conf_set(m.conf, "topic.create", "false",
                                       errstr, sizeof(errstr)),
                         FLOQ_OK);
        mock_client(&m, "producer");
        ck_assert_int_eq(floq_kafka_ensure_topics(m.rk, m.conf, 10000, errstr,
                                                  sizeof(errstr)),
                         FLOQ_ERR_NOT_FOUND);
        ck_assert_msg(strstr(errstr, "topic 'floq.replies' does not exist"),
                      "%s", errstr);
        mock_stop(&m);
}
END_TEST

/* librdkafka 2.0.2's mock has no CreateTopics: the call must still end
 * within its bound with an error; a mock that can create must succeed. */
START_TEST(test_ensure_create_bounded) {
        struct mock m;
        int64_t t0;
        floq_err_t err;

        mock_start(&m, 0, 0);
        mock_client(&m, "admin");
        t0 = floq_mono_ms();
        err = floq_kafka_ensure_topics(m.rk, m.conf, 2000, errstr,
                                       sizeof(errstr));
        ck_assert_int_lt(floq_mono_ms() - t0, 4500);
        if (err == FLOQ_OK)
                ck_assert_int_eq(floq_kafka_ensure_topics(m.rk, m.conf, 5000,
                                                          errstr,
                                                          sizeof(errstr)),
                                 FLOQ_OK);
        else
                ck_assert_msg(strstr(errstr, "creat") || strstr(errstr, "ready"),
                              "%s", errstr);
        mock_stop(&m);
}
END_TEST

START_TEST(test_ensure_unreachable_bounded) {
        floq_conf_t *conf = floq_conf_new();
        rd_kafka_conf_t *kc;
        rd_kafka_t *rk;
        int64_t t0;
        floq_err_t err;

        floq_log_setup("test", FLOQ_LOG_ERR - 1, 0, NULL); /* quiet */
        floq_conf_set(conf, "brokers", "127.0.0.1:1", errstr, sizeof(errstr));
        kc = floq_kafka_conf_new(conf, "admin", errstr, sizeof(errstr));
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
        ck_assert_ptr_nonnull(rk);
        t0 = floq_mono_ms();
        err = floq_kafka_ensure_topics(rk, conf, 1000, errstr, sizeof(errstr));
        ck_assert_int_lt(floq_mono_ms() - t0, 3000);
        ck_assert_int_ne(err, FLOQ_OK);
        ck_assert(floq_err_is_retriable(err));
        rd_kafka_destroy(rk);
        floq_conf_destroy(conf);
        floq_log_setup("floq", FLOQ_LOG_INFO, 0, NULL);
}
END_TEST

/* ------------------------------------------------------------ real broker */

/* The value of topic config @p name of @p topic, into @p out. */
static rd_kafka_resp_err_t describe_config(rd_kafka_t *rk, const char *topic,
                                           const char *name, char *out,
                                           size_t size) {
        rd_kafka_ConfigResource_t *res =
                rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_event_t *ev;
        const rd_kafka_ConfigResource_t **rres;
        const rd_kafka_ConfigEntry_t **entries;
        size_t n, i;
        rd_kafka_resp_err_t err;

        out[0] = '\0';
        rd_kafka_DescribeConfigs(rk, &res, 1, NULL, q);
        ev = rd_kafka_queue_poll(q, 15000);
        ck_assert_ptr_nonnull(ev);
        err = rd_kafka_event_error(ev);
        if (!err) {
                rres = rd_kafka_DescribeConfigs_result_resources(
                        rd_kafka_event_DescribeConfigs_result(ev), &n);
                ck_assert_uint_eq(n, 1);
                entries = rd_kafka_ConfigResource_configs(rres[0], &n);
                for (i = 0; i < n; i++)
                        if (!strcmp(rd_kafka_ConfigEntry_name(entries[i]),
                                    name))
                                snprintf(out, size, "%s",
                                         rd_kafka_ConfigEntry_value(
                                                 entries[i]));
        }
        rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
        rd_kafka_ConfigResource_destroy(res);
        return err;
}

static void delete_topics(rd_kafka_t *rk, const floq_conf_t *conf) {
        rd_kafka_DeleteTopic_t *dt[7];
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_event_t *ev;
        size_t i;

        for (i = 0; i < 7; i++)
                dt[i] = rd_kafka_DeleteTopic_new(
                        floq_conf_str(conf, topic_props[i]));
        rd_kafka_DeleteTopics(rk, dt, 7, NULL, q);
        ev = rd_kafka_queue_poll(q, 15000);
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_DeleteTopic_destroy_array(dt, 7);
        rd_kafka_queue_destroy(q);
}

START_TEST(test_ensure_real_broker) {
        const char *brokers = getenv("FLOQ_BROKERS");
        floq_conf_t *conf;
        rd_kafka_conf_t *kc;
        rd_kafka_t *rk;
        char uuid[37], name[128], policy[64];
        size_t i;
        floq_err_t err;

        if (!brokers || !*brokers)
                return; /* no real broker given: the mock tests cover it */
        conf = floq_conf_new();
        floq_uuid_new(uuid);
        ck_assert_int_eq(floq_conf_set(conf, "brokers", brokers, errstr,
                                       sizeof(errstr)),
                         FLOQ_OK);
        for (i = 0; i < 7; i++) {
                snprintf(name, sizeof(name), "floqtest-%.8s.%s", uuid,
                         topic_props[i] + 6);
                ck_assert_int_eq(floq_conf_set(conf, topic_props[i], name,
                                               errstr, sizeof(errstr)),
                                 FLOQ_OK);
        }
        ck_assert_int_eq(floq_conf_set(conf, "topic.partitions", "4", errstr,
                                       sizeof(errstr)),
                         FLOQ_OK);
        kc = floq_kafka_conf_new(conf, "admin", errstr, sizeof(errstr));
        ck_assert_ptr_nonnull(kc);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
        ck_assert_ptr_nonnull(rk);

        err = floq_kafka_ensure_topics(rk, conf, 30000, errstr,
                                       sizeof(errstr));
        ck_assert_msg(err == FLOQ_OK, "%s", errstr);
        /* second call finds them all */
        err = floq_kafka_ensure_topics(rk, conf, 30000, errstr,
                                       sizeof(errstr));
        ck_assert_msg(err == FLOQ_OK, "%s", errstr);
        ck_assert_int_eq(describe_config(rk, floq_conf_str(conf, "topic.runs"),
                                         "cleanup.policy", policy,
                                         sizeof(policy)),
                         0);
        ck_assert_str_eq(policy, "compact");
        describe_config(rk, floq_conf_str(conf, "topic.commands"),
                        "cleanup.policy", policy, sizeof(policy));
        ck_assert_str_eq(policy, "delete");
        /* The state topics' compaction settings (docs/worker.md, "State"),
         * from the topic.state.* defaults. */
        {
                static const char *const want[][2] = {
                        { "segment.ms", "3600000" },
                        { "max.compaction.lag.ms", "3600000" },
                        { "min.cleanable.dirty.ratio", "0.1" },
                        { "delete.retention.ms", "86400000" },
                };
                size_t k;

                for (k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
                        describe_config(rk,
                                        floq_conf_str(conf,
                                                      "topic.deployments"),
                                        want[k][0], policy, sizeof(policy));
                        ck_assert_msg(!strcmp(policy, want[k][1]),
                                      "%s is '%s', not '%s'", want[k][0],
                                      policy, want[k][1]);
                }
        }

        ck_assert_int_eq(floq_conf_set(conf, "topic.partitions", "5", errstr,
                                       sizeof(errstr)),
                         FLOQ_OK);
        err = floq_kafka_ensure_topics(rk, conf, 30000, errstr,
                                       sizeof(errstr));
        ck_assert_int_eq(err, FLOQ_ERR_CONFIG);
        ck_assert_msg(strstr(errstr, "has 4 partitions"), "%s", errstr);

        delete_topics(rk, conf);
        rd_kafka_destroy(rk);
        floq_conf_destroy(conf);
}
END_TEST

static Suite *kafka_suite(void) {
        Suite *s = suite_create("kafka");
        TCase *tp = tcase_create("partition");
        TCase *tc = tcase_create("conf");
        TCase *tt = tcase_create("topics");

        tcase_set_timeout(tp, 60);
        tcase_add_test(tp, test_murmur2_kafka_vectors);
        tcase_add_test(tp, test_murmur2_librdkafka_vectors);
        tcase_add_test(tp, test_partition_small_counts);
        tcase_add_test(tp, test_partition_matches_librdkafka);
        tcase_add_test(tp, test_producer_places_keys);
        suite_add_tcase(s, tp);

        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_conf_roles);
        tcase_add_test(tc, test_conf_passthrough_overrides);
        tcase_add_test(tc, test_err_mapping);
        suite_add_tcase(s, tc);

        tcase_set_timeout(tt, 90);
        tcase_add_test(tt, test_ensure_existing_ok);
        tcase_add_test(tt, test_ensure_from_consumer);
        tcase_add_test(tt, test_ensure_partition_mismatch);
        tcase_add_test(tt, test_ensure_shared_topic_names);
        tcase_add_test(tt, test_ensure_missing_no_create);
        tcase_add_test(tt, test_ensure_create_bounded);
        tcase_add_test(tt, test_ensure_unreachable_bounded);
        tcase_add_test(tt, test_ensure_real_broker);
        suite_add_tcase(s, tt);
        return s;
}

int main(void) {
        return test_run_suite(kafka_suite());
}
