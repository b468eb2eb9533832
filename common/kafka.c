/*
 * kafka.c - the one adapter between floq and librdkafka's set-up: building
 * rd_kafka_conf_t objects from a floq config (role defaults first, then the
 * operator's passthrough settings so they win), creating and checking the
 * co-partitioned topic set through the Admin API, Java's murmur2 key
 * partitioner, and the mapping of librdkafka errors onto floq's enum.
 * Produce/consume/transaction code lives with its users (producer/,
 * worker/); everything that decides how a client is configured lives here.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config_int.h"
#include "floq_common.h"

/* ------------------------------------------------------------ conf set-up */

static int kc_set(rd_kafka_conf_t *kc, const char *key, const char *value,
                  char *errstr, size_t errstr_size) {
        char why[512];

        if (rd_kafka_conf_set(kc, key, value, why, sizeof(why)) ==
            RD_KAFKA_CONF_OK)
                return 0;
        if (floq_conf_kafka_key_is_secret(key))
                floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                            "invalid value for librdkafka property '%s'",
                            key);
        else
                floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                            "librdkafka property '%s': %s", key, why);
        return -1;
}

/* librdkafka's own table of properties (rd_kafka_conf_properties_show():
 * "name | C/P | ..."), read once, so that an -X setting goes only to the
 * clients it is for: a consumer-only key set on a producer (or the other
 * way round) makes librdkafka warn at every start. */
static char *prop_table;
static pthread_once_t prop_table_once = PTHREAD_ONCE_INIT;

static void prop_table_load(void) {
        size_t size = 0;
        FILE *fp = open_memstream(&prop_table, &size);

        if (!fp)
                return;
        rd_kafka_conf_properties_show(fp);
        fclose(fp);
}

/* 'C' (consumer only), 'P' (producer only), '*' or 0 (not known). */
static char prop_scope(const char *key) {
        size_t len = strlen(key);
        const char *line;

        pthread_once(&prop_table_once, prop_table_load);
        for (line = prop_table; line && *line;) {
                const char *end = strchr(line, '\n');

                if (!strncmp(line, key, len) && line[len] == ' ') {
                        const char *bar = strchr(line, '|');

                        if (bar && (!end || bar < end))
                                for (bar++; *bar == ' '; bar++)
                                        ;
                        if (bar && (*bar == 'C' || *bar == 'P') &&
                            bar[1] == ' ')
                                return *bar;
                        return '*';
                }
                line = end ? end + 1 : NULL;
        }
        return 0;
}

/* First line of @p path, without the newline, into buf. */
static int read_secret_file(const char *path, char *buf, size_t size,
                            char *errstr, size_t errstr_size) {
        FILE *fp = fopen(path, "r");
        size_t len;

        if (!fp) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                            "cannot open '%s': %s", path, strerror(errno));
                return -1;
        }
        if (!fgets(buf, (int)size, fp)) {
                buf[0] = '\0';
                if (ferror(fp)) {
                        floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                    "cannot read '%s': %s", path,
                                    strerror(errno));
                        fclose(fp);
                        return -1;
                }
        }
        fclose(fp);
        len = strlen(buf);
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
                buf[--len] = '\0';
        return 0;
}

rd_kafka_conf_t *floq_kafka_conf_new(const floq_conf_t *conf,
                                     const char *role, char *errstr,
                                     size_t errstr_size) {
        static const char *producer_defaults[][2] = {
                /* Java's DefaultPartitioner, so co-partitioning holds with
                 * any client (design.md, "Co-partitioning"). */
                { "partitioner", "murmur2_random" },
                { "acks", "all" },
        };
        static const char *consumer_defaults[][2] = {
                { "enable.auto.commit", "false" },
                { "auto.offset.reset", "earliest" },
                { "isolation.level", "read_committed" },
                { "enable.partition.eof", "false" },
        };
        /* The worker's group member: never a reset to the beginning of a
         * commands partition that has committed offsets (librdkafka 2.0.2
         * turns an UNSTABLE_OFFSET_COMMIT answer into INVALID, which
         * "earliest" reads as "from offset 0"). The worker handles the
         * __AUTO_OFFSET_RESET error by fetching the committed offset
         * again (worker/txn.c, wtxn_position). */
        static const char *member_defaults[][2] = {
                { "enable.auto.commit", "false" },
                { "auto.offset.reset", "error" },
                { "isolation.level", "read_committed" },
                { "enable.partition.eof", "false" },
        };
        /* No floq client creates a topic by naming it (docs/security.md):
         * librdkafka 2.0.2 asks brokers to auto-create the topics a
         * producer (or admin) handle looks up or produces to unless told
         * not to. Consumers do not ask by default, and setting it on one
         * makes librdkafka warn against brokers (and the mock cluster)
         * without Metadata v4, so only these roles get it. */
        static const char *producer_admin_defaults[][2] = {
                { "allow.auto.create.topics", "false" },
        };
        const char *(*defaults)[2] = NULL;
        size_t ndefaults = 0, i;
        int is_consumer = role && (!strcmp(role, "consumer") ||
                                   !strcmp(role, "member"));
        rd_kafka_conf_t *kc = NULL;
        const char *v;
        char password[1024];

        if (!conf || !role)
                goto bad_role;
        if (!strcmp(role, "producer")) {
                defaults = producer_defaults;
                ndefaults = sizeof(producer_defaults) /
                            sizeof(producer_defaults[0]);
        } else if (!strcmp(role, "consumer")) {
                defaults = consumer_defaults;
                ndefaults = sizeof(consumer_defaults) /
                            sizeof(consumer_defaults[0]);
        } else if (!strcmp(role, "member")) {
                defaults = member_defaults;
                ndefaults = sizeof(member_defaults) /
                            sizeof(member_defaults[0]);
        } else if (strcmp(role, "admin")) {
                goto bad_role;
        }

        if (!(kc = rd_kafka_conf_new())) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                return NULL;
        }
        rd_kafka_conf_set_log_cb(kc, floq_log_rdkafka_cb);
        if ((v = floq_conf_str(conf, "brokers")) && *v &&
            kc_set(kc, "bootstrap.servers", v, errstr, errstr_size))
                goto fail;
        if ((v = floq_conf_str(conf, "client.id")) && *v &&
            kc_set(kc, "client.id", v, errstr, errstr_size))
                goto fail;
        if (!strcmp(role, "consumer") || !strcmp(role, "member")) {
                if ((v = floq_conf_str(conf, "group.id")) && *v &&
                    kc_set(kc, "group.id", v, errstr, errstr_size))
                        goto fail;
                if ((v = floq_conf_str(conf, "group.instance.id")) && *v &&
                    kc_set(kc, "group.instance.id", v, errstr, errstr_size))
                        goto fail;
        }
        for (i = 0; strcmp(role, "consumer") && strcmp(role, "member") &&
                    i < sizeof(producer_admin_defaults) /
                                sizeof(producer_admin_defaults[0]);
             i++)
                if (kc_set(kc, producer_admin_defaults[i][0],
                           producer_admin_defaults[i][1], errstr,
                           errstr_size))
                        goto fail;
        for (i = 0; i < ndefaults; i++)
                if (kc_set(kc, defaults[i][0], defaults[i][1], errstr,
                           errstr_size))
                        goto fail;

        /* The operator's settings come last so they override ours; each
         * only to the kind of client it is for. */
        for (i = 0; i < floq_conf_kafka_cnt(conf); i++) {
                const char *key, *value;
                char scope;

                floq_conf_kafka_get(conf, i, &key, &value);
                scope = prop_scope(key);
                if ((scope == 'C' && !is_consumer) ||
                    (scope == 'P' && is_consumer))
                        continue;
                if (kc_set(kc, key, value, errstr, errstr_size))
                        goto fail;
        }
        if ((v = floq_conf_str(conf, "sasl.password.file")) && *v) {
                if (read_secret_file(v, password, sizeof(password), errstr,
                                     errstr_size))
                        goto fail;
                i = (size_t)kc_set(kc, "sasl.password", password, errstr,
                                   errstr_size);
                memset(password, 0, sizeof(password));
                if (i)
                        goto fail;
        }
        return kc;

fail:
        rd_kafka_conf_destroy(kc);
        return NULL;
bad_role:
        floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                    "unknown client role '%s': expected producer, consumer, "
                    "member or admin",
                    role ? role : "(null)");
        return NULL;
}

/* ---------------------------------------------------------------- topics */

static const struct {
        const char *prop;
        int compact;
} floq_topics[] = {
        { "topic.commands", 0 },    { "topic.replies", 0 },
        { "topic.lineage", 0 },     { "topic.deployments", 1 },
        { "topic.schedules", 1 },   { "topic.runs", 1 },
        { "topic.dlq", 0 },
};
#define FLOQ_TOPIC_CNT (sizeof(floq_topics) / sizeof(floq_topics[0]))

static int remaining_ms(int64_t deadline) {
        int64_t left = deadline - floq_mono_ms();

        return left > 0 ? (int)left : 0;
}

static const rd_kafka_metadata_topic_t *
md_find(const rd_kafka_metadata_t *md, const char *name) {
        int i;

        for (i = 0; i < md->topic_cnt; i++)
                if (!strcmp(md->topics[i].topic, name))
                        return &md->topics[i];
        return NULL;
}

static void sleep_ms(int ms) {
        struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
                ;
}

/* The configs of a compacted state topic. Compaction alone would leave
 * the active segment (default segment.ms 7 days) uncompacted, so a restore
 * would read every heartbeat of a week: roll segments and compact within
 * topic.state.segment.ms / max.compaction.lag.ms, at a low dirty ratio,
 * so what a restore reads stays about one segment beyond the live keys. */
static rd_kafka_resp_err_t set_state_configs(rd_kafka_NewTopic_t *nt,
                                             const floq_conf_t *conf) {
        static const char *const ms[][2] = {
                { "segment.ms", "topic.state.segment.ms" },
                { "max.compaction.lag.ms", "topic.state.max.compaction.lag.ms" },
                { "delete.retention.ms", "topic.state.delete.retention.ms" },
        };
        rd_kafka_resp_err_t err;
        char buf[32];
        size_t i;

        if ((err = rd_kafka_NewTopic_set_config(nt, "cleanup.policy",
                                                "compact")) ||
            (err = rd_kafka_NewTopic_set_config(
                     nt, "min.cleanable.dirty.ratio",
                     floq_conf_str(conf,
                                   "topic.state.min.cleanable.dirty.ratio"))))
                return err;
        for (i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
                snprintf(buf, sizeof(buf), "%lld",
                         (long long)floq_conf_int(conf, ms[i][1]));
                if ((err = rd_kafka_NewTopic_set_config(nt, ms[i][0], buf)))
                        return err;
        }
        return RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* Create the topics named in @p create[0..cnt). */
static floq_err_t create_topics(rd_kafka_t *rk, const floq_conf_t *conf,
                                const char **names, const int *compact,
                                size_t cnt, int64_t deadline, char *errstr,
                                size_t errstr_size) {
        rd_kafka_NewTopic_t *nt[FLOQ_TOPIC_CNT] = { 0 };
        rd_kafka_AdminOptions_t *opts = NULL;
        rd_kafka_queue_t *q = NULL;
        rd_kafka_event_t *ev = NULL;
        const rd_kafka_CreateTopics_result_t *res;
        const rd_kafka_topic_result_t **tres;
        size_t i, tcnt;
        char why[512];
        floq_err_t err = FLOQ_OK;
        int partitions = (int)floq_conf_int(conf, "topic.partitions");
        int rf = (int)floq_conf_int(conf, "topic.replication.factor");

        for (i = 0; i < cnt; i++) {
                nt[i] = rd_kafka_NewTopic_new(names[i], partitions, rf, why,
                                              sizeof(why));
                if (!nt[i]) {
                        err = floq_seterr(errstr, errstr_size,
                                          FLOQ_ERR_CONFIG,
                                          "cannot create topic '%s': %s",
                                          names[i], why);
                        goto out;
                }
                if (compact[i] && set_state_configs(nt[i], conf)) {
                        err = floq_seterr(errstr, errstr_size,
                                          FLOQ_ERR_NOMEM, "out of memory");
                        goto out;
                }
        }
        opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        q = rd_kafka_queue_new(rk);
        if (!opts || !q) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                  "out of memory");
                goto out;
        }
        rd_kafka_AdminOptions_set_request_timeout(
                opts, remaining_ms(deadline) ? remaining_ms(deadline) : 1,
                why, sizeof(why));
        rd_kafka_AdminOptions_set_operation_timeout(
                opts, remaining_ms(deadline), why, sizeof(why));
        rd_kafka_CreateTopics(rk, nt, cnt, opts, q);

        /* The request carries its own timeout, so the event always comes;
         * the extra second only guards against a lost wake-up. */
        ev = rd_kafka_queue_poll(q, remaining_ms(deadline) + 1000);
        if (!ev) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_TIMED_OUT,
                                  "timed out creating topics");
                goto out;
        }
        if (rd_kafka_event_error(ev)) {
                err = floq_seterr(errstr, errstr_size,
                                  floq_kafka_err(rd_kafka_event_error(ev)),
                                  "cannot create topics: %s",
                                  rd_kafka_event_error_string(ev));
                goto out;
        }
        res = rd_kafka_event_CreateTopics_result(ev);
        tres = res ? rd_kafka_CreateTopics_result_topics(res, &tcnt) : NULL;
        for (i = 0; tres && i < tcnt; i++) {
                rd_kafka_resp_err_t terr = rd_kafka_topic_result_error(tres[i]);
                const char *tname = rd_kafka_topic_result_name(tres[i]);
                const char *msg = rd_kafka_topic_result_error_string(tres[i]);

                if (!terr) {
                        floq_info("kafka", "created topic '%s' (%d partitions, "
                                  "replication factor %d)",
                                  tname, partitions, rf);
                        continue;
                }
                if (terr == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                        continue; /* another worker won the race */
                err = floq_seterr(errstr, errstr_size, floq_kafka_err(terr),
                                  "cannot create topic '%s': %s", tname,
                                  msg ? msg : rd_kafka_err2str(terr));
                goto out;
        }
out:
        if (ev)
                rd_kafka_event_destroy(ev);
        if (q)
                rd_kafka_queue_destroy(q);
        if (opts)
                rd_kafka_AdminOptions_destroy(opts);
        for (i = 0; i < cnt; i++)
                if (nt[i])
                        rd_kafka_NewTopic_destroy(nt[i]);
        return err;
}

floq_err_t floq_kafka_ensure_topics(rd_kafka_t *rk, const floq_conf_t *conf,
                                    int timeout_ms, char *errstr,
                                    size_t errstr_size) {
        const char *names[FLOQ_TOPIC_CNT];
        int compact[FLOQ_TOPIC_CNT];
        const char *missing[FLOQ_TOPIC_CNT];
        int missing_compact[FLOQ_TOPIC_CNT];
        size_t cnt = 0, nmissing, i, j;
        const rd_kafka_metadata_t *md = NULL;
        int64_t deadline = floq_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
        int64_t partitions = floq_conf_int(conf, "topic.partitions");
        int created = 0;
        rd_kafka_resp_err_t kerr;
        floq_err_t err = FLOQ_OK;

        /* The same topic may be configured for two roles; ask once. */
        for (i = 0; i < FLOQ_TOPIC_CNT; i++) {
                const char *name = floq_conf_str(conf, floq_topics[i].prop);

                if (!name || !*name)
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_CONFIG,
                                           "'%s' must name a topic",
                                           floq_topics[i].prop);
                for (j = 0; j < cnt && strcmp(names[j], name); j++)
                        ;
                if (j < cnt) {
                        compact[j] |= floq_topics[i].compact;
                        continue;
                }
                names[cnt] = name;
                compact[cnt++] = floq_topics[i].compact;
        }

        for (;;) {
                const rd_kafka_metadata_topic_t *mt;
                const char *pending = NULL;
                rd_kafka_resp_err_t pending_err = RD_KAFKA_RESP_ERR_NO_ERROR;

                /* all_topics=1: asking for the topics by name would make a
                 * broker with auto.create.topics.enable create them with
                 * its own default partition count. */
                kerr = rd_kafka_metadata(rk, 1, NULL, &md,
                                         remaining_ms(deadline)
                                                 ? remaining_ms(deadline)
                                                 : 1);
                if (kerr) {
                        err = floq_seterr(errstr, errstr_size,
                                          floq_kafka_err(kerr),
                                          "cannot read cluster metadata: %s",
                                          rd_kafka_err2str(kerr));
                        goto out;
                }

                nmissing = 0;
                for (i = 0; i < cnt; i++) {
                        mt = md_find(md, names[i]);
                        if (!mt || mt->err ==
                                           RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
                                missing[nmissing] = names[i];
                                missing_compact[nmissing++] = compact[i];
                                continue;
                        }
                        if (mt->err || mt->partition_cnt == 0) {
                                /* being created: leader not elected yet */
                                pending = names[i];
                                pending_err = mt->err;
                                continue;
                        }
                        if (mt->partition_cnt != partitions) {
                                err = floq_seterr(
                                        errstr, errstr_size, FLOQ_ERR_CONFIG,
                                        "topic '%s' has %d partitions but "
                                        "topic.partitions is %lld: floq "
                                        "topics must be co-partitioned",
                                        names[i], mt->partition_cnt,
                                        (long long)partitions);
                                goto out;
                        }
                }
                if (!nmissing && !pending)
                        goto out; /* all there, all the same size */

                if (nmissing && !created) {
                        if (!floq_conf_bool(conf, "topic.create")) {
                                err = floq_seterr(
                                        errstr, errstr_size,
                                        FLOQ_ERR_NOT_FOUND,
                                        "topic '%s' does not exist and "
                                        "topic.create is false",
                                        missing[0]);
                                goto out;
                        }
                        rd_kafka_metadata_destroy(md);
                        md = NULL;
                        err = create_topics(rk, conf, missing,
                                            missing_compact, nmissing,
                                            deadline, errstr, errstr_size);
                        if (err)
                                goto out;
                        created = 1;
                        continue; /* check what the cluster now says */
                }

                if (!remaining_ms(deadline)) {
                        err = floq_seterr(
                                errstr, errstr_size, FLOQ_ERR_TIMED_OUT,
                                "topic '%s' not ready after %d ms%s%s",
                                nmissing ? missing[0] : pending, timeout_ms,
                                pending_err ? ": " : "",
                                pending_err ? rd_kafka_err2str(pending_err)
                                            : "");
                        goto out;
                }
                rd_kafka_metadata_destroy(md);
                md = NULL;
                /* Metadata propagates to all brokers shortly after a
                 * create; poll for it rather than guess a delay. */
                sleep_ms(remaining_ms(deadline) < 100 ? remaining_ms(deadline)
                                                      : 100);
        }
out:
        if (md)
                rd_kafka_metadata_destroy(md);
        return err;
}

/* ------------------------------------------------------------ partitioner */

/* Kafka's Utils.murmur2(): seed 0x9747b28c, little-endian 4-byte blocks.
 * Unsigned arithmetic gives Java's wrapping int results bit for bit. */
static uint32_t murmur2(const unsigned char *data, size_t len) {
        const uint32_t m = 0x5bd1e995;
        const int r = 24;
        uint32_t h = 0x9747b28c ^ (uint32_t)len;
        size_t i, len4 = len / 4;

        for (i = 0; i < len4; i++) {
                const unsigned char *p = data + i * 4;
                uint32_t k = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
                             (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;

                k *= m;
                k ^= k >> r;
                k *= m;
                h *= m;
                h ^= k;
        }
        data += len4 * 4;
        switch (len & 3) {
        case 3:
                h ^= (uint32_t)data[2] << 16;
                /* fall through */
        case 2:
                h ^= (uint32_t)data[1] << 8;
                /* fall through */
        case 1:
                h ^= data[0];
                h *= m;
        }
        h ^= h >> 13;
        h *= m;
        h ^= h >> 15;
        return h;
}

int32_t floq_kafka_partition(const char *key, size_t keylen,
                             int32_t partition_cnt) {
        if (partition_cnt <= 0)
                return RD_KAFKA_PARTITION_UA;
        if (!key)
                keylen = 0;
        /* Utils.toPositive(): mask the sign bit, not abs() */
        return (int32_t)((murmur2((const unsigned char *)key, keylen) &
                          0x7fffffff) %
                         (uint32_t)partition_cnt);
}

/* ----------------------------------------------------------------- errors */

floq_err_t floq_kafka_err(rd_kafka_resp_err_t err) {
        switch (err) {
        case RD_KAFKA_RESP_ERR_NO_ERROR:
                return FLOQ_OK;
        case RD_KAFKA_RESP_ERR__TIMED_OUT:
        case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
        case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
        case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
                return FLOQ_ERR_TIMED_OUT;
        case RD_KAFKA_RESP_ERR__TRANSPORT:
        case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
        case RD_KAFKA_RESP_ERR__RESOLVE:
        case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
        case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
                return FLOQ_ERR_TRANSPORT;
        case RD_KAFKA_RESP_ERR__FENCED:
        case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
        case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
                return FLOQ_ERR_FENCED;
        case RD_KAFKA_RESP_ERR__NOENT:
        case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
        case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
        case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
                return FLOQ_ERR_NOT_FOUND;
        case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
                return FLOQ_ERR_EXISTS;
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
                return FLOQ_ERR_TOO_LARGE;
        case RD_KAFKA_RESP_ERR__INVALID_ARG:
        case RD_KAFKA_RESP_ERR__INVALID_TYPE:
                return FLOQ_ERR_INVALID_ARG;
        case RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED:
        case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
        case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
                return FLOQ_ERR_UNSUPPORTED;
        case RD_KAFKA_RESP_ERR__BAD_MSG:
        case RD_KAFKA_RESP_ERR__BAD_COMPRESSION:
        case RD_KAFKA_RESP_ERR_INVALID_MSG:
                return FLOQ_ERR_DECODE;
        case RD_KAFKA_RESP_ERR__AUTHENTICATION:
        case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
                return FLOQ_ERR_UNAUTHORIZED;
        case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
        case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
        case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
        case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
        case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
                return FLOQ_ERR_CONFIG;
        /* A handle in a fatal state, or being destroyed, takes no calls. */
        case RD_KAFKA_RESP_ERR__FATAL:
        case RD_KAFKA_RESP_ERR__DESTROY:
        case RD_KAFKA_RESP_ERR__STATE:
        case RD_KAFKA_RESP_ERR_INVALID_TXN_STATE:
                return FLOQ_ERR_STATE;
        default:
                return FLOQ_ERR_KAFKA;
        }
}

rd_kafka_resp_err_t floq_kafka_watermarks(rd_kafka_t *rk, const char *topic,
                                          int32_t partition, int64_t *lo,
                                          int64_t *hi, int timeout_ms) {
        rd_kafka_topic_partition_list_t *l;
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
        int64_t *out[2] = { lo, hi };
        int i;

        for (i = 0; i < 2 && !err; i++) {
                l = rd_kafka_topic_partition_list_new(1);
                rd_kafka_topic_partition_list_add(l, topic, partition)
                        ->offset = i ? RD_KAFKA_OFFSET_END
                                     : RD_KAFKA_OFFSET_BEGINNING;
                err = rd_kafka_offsets_for_times(rk, l, timeout_ms);
                if (!err)
                        err = l->elems[0].err;
                *out[i] = l->elems[0].offset;
                rd_kafka_topic_partition_list_destroy(l);
        }
        return err;
}
