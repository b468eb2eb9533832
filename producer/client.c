/*
 * client.c - libfloq's client object: an idempotent producer publishing
 * Avro-encoded commands keyed by deployment name, and an assign()-based
 * read_committed consumer of the reply topic, positioned at the queried
 * high watermarks of every partition before the first command leaves, so
 * that every reply to this client's commands is read. Matching replies to
 * commands is match.c's job; this file owns the Kafka handles, the
 * threading (one poller at a time, waiters on a condition variable) and
 * the delivery accounting.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_int.h"
#include "floq.h"
#include "floq_schemas.h"

#define DEFAULT_TIMEOUT_MS         30000
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_MAX_MESSAGE_SIZE   (1024 * 1024)
#define DEFAULT_MAX_PENDING        1000000
#define POLL_SLICE_MS              100
#define BATCH_MAX                  256

/* One synchronous send waiting for its delivery report; shared by the
 * sender and the delivery callback, freed by whichever lets go last. */
typedef struct send_wait_s {
        int refcnt;
        int done;
        rd_kafka_resp_err_t err;
} send_wait_t;

struct floq_client_s {
        floq_conf_t *conf;
        rd_kafka_t *rk_prod;
        rd_kafka_t *rk_cons;
        rd_kafka_queue_t *cons_q;
        floq_codec_t *enc;  /* under enc_lock */
        floq_codec_t *dec;  /* used by the poller only */
        floq_keyring_t *keys; /* set: commands are signed (G4) */
        pthread_mutex_t enc_lock;

        char *brokers;
        char *topic_commands, *topic_replies, *topic_lineage, *topic_runs;
        int timeout_ms;
        int connect_timeout_ms;

        pthread_mutex_t lock; /* guards everything below */
        pthread_cond_t cond;
        pthread_mutex_t connect_lock;
        int connected;
        int polling;
        floq_pending_t *pend;
        floq_reply_cb_t *reply_cb;
        int reply_cb_flags;
        void *reply_opaque;
        floq_lineage_cb_t *lineage_cb;
        void *lineage_opaque;
        long inflight;              /* queued, no delivery report yet */
        rd_kafka_resp_err_t async_err; /* first failed async delivery */
        char async_errstr[256];
        char broker_errstr[512];    /* last connection error (error_cb) */

        pthread_t thread;
        int thread_started;
        volatile int thread_stop;
};

/* ------------------------------------------------------------ config */

static int conf_known(const char *name) {
        for (const floq_conf_prop_t *p = floq_conf_props(); p && p->name; p++)
                if (!strcmp(p->name, name))
                        return 1;
        return 0;
}

/* The table is common/'s; read our keys only when it has them, so a
 * table without the client.* rows still gives sane defaults. */
static const char *conf_str_or(const floq_conf_t *conf, const char *name,
                               const char *def) {
        const char *v = conf_known(name) ? floq_conf_get(conf, name) : NULL;
        return v && *v ? v : def;
}

static int64_t conf_int_or(const floq_conf_t *conf, const char *name,
                           int64_t def) {
        if (!conf_known(name) || !floq_conf_get(conf, name))
                return def;
        return floq_conf_int(conf, name);
}

static int clamp_ms(int64_t v) {
        if (v < 0)
                return 0;
        return v > 24LL * 3600 * 1000 ? 24 * 3600 * 1000 : (int)v;
}

/* ------------------------------------------------------ producer errors */

/* librdkafka's error callback of the producer (served by rd_kafka_poll).
 * It keeps the last connection-level error, so that a connect that gives
 * up can say why: "Broker transport failure" alone does not tell a wrong
 * SASL password, an untrusted CA or a plaintext client on a TLS port from
 * a broker that is down. "N/N brokers are down" says nothing new and is
 * not kept. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason,
                     void *opaque) {
        floq_client_t *client = opaque;
        (void)rk;
        if (err == RD_KAFKA_RESP_ERR__FATAL)
                floq_err("CLIENT", "producer: %s", reason);
        else
                floq_warn("CLIENT", "producer: %s", reason);
        if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
                return;
        pthread_mutex_lock(&client->lock);
        snprintf(client->broker_errstr, sizeof(client->broker_errstr), "%s",
                 reason ? reason : rd_kafka_err2str(err));
        pthread_mutex_unlock(&client->lock);
}

/* ------------------------------------------------------ delivery reports */

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
                      void *opaque) {
        floq_client_t *client = opaque;
        send_wait_t *w = rkm->_private;
        (void)rk;
        pthread_mutex_lock(&client->lock);
        client->inflight--;
        if (w) {
                w->done = 1;
                w->err = rkm->err;
                if (--w->refcnt == 0)
                        free(w);
        } else if (rkm->err && !client->async_err) {
                client->async_err = rkm->err;
                snprintf(client->async_errstr, sizeof(client->async_errstr),
                         "delivery to '%s' failed: %s",
                         rd_kafka_topic_name(rkm->rkt),
                         rd_kafka_err2str(rkm->err));
        }
        pthread_cond_broadcast(&client->cond);
        pthread_mutex_unlock(&client->lock);
}

static floq_err_t delivery_err(rd_kafka_resp_err_t err) {
        switch (err) {
        case RD_KAFKA_RESP_ERR_NO_ERROR:
                return FLOQ_OK;
        case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
        case RD_KAFKA_RESP_ERR__TIMED_OUT:
        case RD_KAFKA_RESP_ERR__TRANSPORT:
        case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
                return FLOQ_ERR_TRANSPORT;
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
                return FLOQ_ERR_TOO_LARGE;
        default:
                return FLOQ_ERR_KAFKA;
        }
}

/* ------------------------------------------------------------- lifecycle */

static floq_err_t set_rk(rd_kafka_conf_t *rkc, const char *k, const char *v,
                         char *errstr, size_t errstr_size) {
        char buf[256];
        if (rd_kafka_conf_set(rkc, k, v, buf, sizeof(buf)) !=
            RD_KAFKA_CONF_OK)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "cannot set '%s': %s", k, buf);
        return FLOQ_OK;
}

/* Keep a -X setting the user gave; replace librdkafka's default. */
static floq_err_t set_rk_default(rd_kafka_conf_t *rkc, const char *k,
                                 const char *libdef, const char *v,
                                 char *errstr, size_t errstr_size) {
        char cur[64];
        size_t sz = sizeof(cur);
        if (rd_kafka_conf_get(rkc, k, cur, &sz) == RD_KAFKA_CONF_OK &&
            strcmp(cur, libdef))
                return FLOQ_OK;
        return set_rk(rkc, k, v, errstr, errstr_size);
}

floq_client_t *floq_client_new(floq_conf_t *conf, char *errstr,
                               size_t errstr_size) {
        floq_client_t *client = NULL;
        rd_kafka_conf_t *pc = NULL, *cc = NULL;
        char buf[512], num[32];
        floq_err_t err = FLOQ_OK;

        if (!conf) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                            "no configuration given");
                return NULL;
        }
        client = calloc(1, sizeof(*client));
        if (!client) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                return NULL;
        }
        pthread_mutex_init(&client->lock, NULL);
        pthread_mutex_init(&client->enc_lock, NULL);
        pthread_mutex_init(&client->connect_lock, NULL);
        pthread_cond_init(&client->cond, NULL);

        client->brokers = strdup(conf_str_or(conf, "brokers", "(unset)"));
        client->topic_commands = strdup(conf_str_or(conf, "topic.commands",
                                                    "floq.commands"));
        client->topic_replies = strdup(conf_str_or(conf, "topic.replies",
                                                   "floq.replies"));
        client->topic_lineage = strdup(conf_str_or(conf, "topic.lineage",
                                                   "floq.lineage"));
        client->topic_runs = strdup(conf_str_or(conf, "topic.runs",
                                                "floq.runs"));
        client->timeout_ms = clamp_ms(conf_int_or(conf, "client.timeout.ms",
                                                  DEFAULT_TIMEOUT_MS));
        client->connect_timeout_ms = clamp_ms(conf_int_or(
                conf, "client.connect.timeout.ms",
                DEFAULT_CONNECT_TIMEOUT_MS));
        if (client->connect_timeout_ms < 100)
                client->connect_timeout_ms = 100;
        if (!client->brokers || !client->topic_commands ||
            !client->topic_replies || !client->topic_lineage ||
            !client->topic_runs) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                  "out of memory");
                goto out;
        }

        int64_t maxsz = conf_int_or(conf, "message.max.bytes",
                                    DEFAULT_MAX_MESSAGE_SIZE);
        if (maxsz <= 0)
                maxsz = DEFAULT_MAX_MESSAGE_SIZE;
        client->enc = floq_codec_new((size_t)maxsz, errstr, errstr_size);
        client->dec = client->enc ? floq_codec_new((size_t)maxsz, errstr,
                                                   errstr_size)
                                  : NULL;
        if (!client->enc || !client->dec) {
                err = FLOQ_ERR_CONFIG;
                goto out;
        }
        if ((err = floq_conf_check_supported(conf, errstr, errstr_size)) ||
            (err = floq_keyring_from_conf(conf, &client->keys, errstr,
                                          errstr_size)))
                goto out;
        client->pend = floq_pending_new((size_t)conf_int_or(
                conf, "client.max.pending", DEFAULT_MAX_PENDING));
        if (!client->pend) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                  "out of memory");
                goto out;
        }

        /* Producer: idempotent, acks=all, Java's partitioner (set by
         * floq_kafka_conf_new), delivery bounded by client.timeout.ms. */
        pc = floq_kafka_conf_new(conf, "producer", errstr, errstr_size);
        if (!pc) {
                err = FLOQ_ERR_CONFIG;
                goto out;
        }
        snprintf(num, sizeof(num), "%d",
                 client->timeout_ms > 1000 ? client->timeout_ms : 1000);
        if ((err = set_rk(pc, "enable.idempotence", "true", errstr,
                          errstr_size)) ||
            (err = set_rk(pc, "acks", "all", errstr, errstr_size)) ||
            (err = set_rk_default(pc, "message.timeout.ms", "300000", num,
                                  errstr, errstr_size)))
                goto out;
        rd_kafka_conf_set_dr_msg_cb(pc, dr_msg_cb);
        rd_kafka_conf_set_error_cb(pc, error_cb);
        rd_kafka_conf_set_opaque(pc, client);
        client->rk_prod = rd_kafka_new(RD_KAFKA_PRODUCER, pc, buf,
                                       sizeof(buf));
        if (!client->rk_prod) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                  "cannot create producer: %s", buf);
                goto out;
        }
        pc = NULL;

        /* Reply consumer: assign() only. A group id of its own keeps it
         * out of the workers' group; it never commits. */
        cc = floq_kafka_conf_new(conf, "consumer", errstr, errstr_size);
        if (!cc) {
                err = FLOQ_ERR_CONFIG;
                goto out;
        }
        char gid[64], uuid[37];
        floq_uuid_new(uuid);
        snprintf(gid, sizeof(gid), "floq-client-%s", uuid);
        if ((err = set_rk(cc, "group.id", gid, errstr, errstr_size)) ||
            (err = set_rk(cc, "enable.auto.commit", "false", errstr,
                          errstr_size)) ||
            (err = set_rk(cc, "enable.auto.offset.store", "false", errstr,
                          errstr_size)) ||
            (err = set_rk(cc, "isolation.level", "read_committed", errstr,
                          errstr_size)) ||
            (err = set_rk(cc, "auto.offset.reset", "latest", errstr,
                          errstr_size)) ||
            (err = set_rk(cc, "enable.partition.eof", "false", errstr,
                          errstr_size)) ||
            (err = set_rk(cc, "fetch.wait.max.ms", "50", errstr,
                          errstr_size)))
                goto out;
        client->rk_cons = rd_kafka_new(RD_KAFKA_CONSUMER, cc, buf,
                                       sizeof(buf));
        if (!client->rk_cons) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                  "cannot create reply consumer: %s", buf);
                goto out;
        }
        cc = NULL;
        rd_kafka_poll_set_consumer(client->rk_cons);
        client->cons_q = rd_kafka_queue_get_consumer(client->rk_cons);

out:
        if (pc)
                rd_kafka_conf_destroy(pc);
        if (cc)
                rd_kafka_conf_destroy(cc);
        if (err) {
                floq_client_destroy(client);
                return NULL;
        }
        client->conf = conf; /* ours from here on */
        return client;
}

void floq_client_destroy(floq_client_t *client) {
        if (!client)
                return;
        if (client->thread_started) {
                client->thread_stop = 1;
                pthread_join(client->thread, NULL);
        }
        if (client->rk_prod) {
                rd_kafka_flush(client->rk_prod, client->timeout_ms);
                rd_kafka_destroy(client->rk_prod);
        }
        if (client->cons_q)
                rd_kafka_queue_destroy(client->cons_q);
        if (client->rk_cons) {
                rd_kafka_consumer_close(client->rk_cons);
                rd_kafka_destroy(client->rk_cons);
        }
        floq_codec_destroy(client->enc);
        floq_codec_destroy(client->dec);
        floq_keyring_destroy(client->keys);
        floq_pending_destroy(client->pend);
        free(client->brokers);
        free(client->topic_commands);
        free(client->topic_replies);
        free(client->topic_lineage);
        free(client->topic_runs);
        floq_conf_destroy(client->conf);
        pthread_cond_destroy(&client->cond);
        pthread_mutex_destroy(&client->lock);
        pthread_mutex_destroy(&client->enc_lock);
        pthread_mutex_destroy(&client->connect_lock);
        free(client);
}

const floq_conf_t *floq_client_conf(const floq_client_t *client) {
        return client->conf;
}

/* ------------------------------------------------------------ connecting */

static int remaining(int64_t deadline) {
        int64_t r = deadline - floq_mono_ms();
        return r < 0 ? 0 : (int)r;
}

static floq_err_t transport_err(floq_client_t *client, const char *what,
                                rd_kafka_resp_err_t kerr, char *errstr,
                                size_t errstr_size) {
        char last[sizeof(client->broker_errstr)];

        if (kerr == RD_KAFKA_RESP_ERR__TIMED_OUT ||
            kerr == RD_KAFKA_RESP_ERR__TRANSPORT ||
            kerr == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
            kerr == RD_KAFKA_RESP_ERR__RESOLVE) {
                /* Serve the producer's queued errors (error_cb) to learn
                 * the last one: authentication, TLS handshake, ... */
                rd_kafka_poll(client->rk_prod, 0);
                pthread_mutex_lock(&client->lock);
                memcpy(last, client->broker_errstr, sizeof(last));
                pthread_mutex_unlock(&client->lock);
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_TRANSPORT,
                                   "cannot reach Kafka at '%s' within %d ms "
                                   "(%s: %s)%s%s",
                                   client->brokers,
                                   client->connect_timeout_ms, what,
                                   rd_kafka_err2str(kerr),
                                   *last ? ": last error: " : "", last);
        }
        return floq_seterr(errstr, errstr_size, floq_kafka_err(kerr),
                           "%s: %s", what, rd_kafka_err2str(kerr));
}

/* The error for a topic whose metadata said TOPIC_AUTHORIZATION_FAILED:
 * not "does not exist", as the topic may well exist. */
static floq_err_t topic_unauthorized(const char *topic, char *errstr,
                                     size_t errstr_size) {
        return floq_seterr(errstr, errstr_size, FLOQ_ERR_UNAUTHORIZED,
                           "topic '%s': %s (no Kafka ACL lets this principal "
                           "use it)",
                           topic,
                           rd_kafka_err2str(
                                   RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED));
}

/* Partition count of @p topic, 0 when it does not exist. */
static floq_err_t topic_partitions(floq_client_t *client, const char *topic,
                                   int64_t deadline, int *cnt, char *errstr,
                                   size_t errstr_size) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(client->rk_cons, topic,
                                                   NULL);
        if (!rkt)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_KAFKA,
                                   "cannot use topic '%s'", topic);
        rd_kafka_resp_err_t kerr = rd_kafka_metadata(
                client->rk_cons, 0, rkt, &md,
                remaining(deadline) ? remaining(deadline) : 1);
        rd_kafka_topic_destroy(rkt);
        if (kerr)
                return transport_err(client, "metadata", kerr, errstr,
                                     errstr_size);
        *cnt = 0;
        if (md->topic_cnt == 1 && md->topics[0].err ==
                                          RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
                rd_kafka_metadata_destroy(md);
                return topic_unauthorized(topic, errstr, errstr_size);
        }
        if (md->topic_cnt == 1 && !md->topics[0].err)
                *cnt = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
        return FLOQ_OK;
}

/* Add every partition of @p topic at its high watermark to @p parts. */
static floq_err_t add_at_end(floq_client_t *client, const char *topic,
                             int cnt, int64_t deadline,
                             rd_kafka_topic_partition_list_t *parts,
                             char *errstr, size_t errstr_size) {
        for (int p = 0; p < cnt; p++) {
                int64_t lo = 0, hi = 0;
                rd_kafka_resp_err_t kerr;
                /* Leaders of topics just created take a moment. */
                while ((kerr = floq_kafka_watermarks(
                                client->rk_cons, topic, p, &lo, &hi,
                                remaining(deadline) ? remaining(deadline)
                                                    : 1)) &&
                       kerr != RD_KAFKA_RESP_ERR__TIMED_OUT &&
                       kerr != RD_KAFKA_RESP_ERR__TRANSPORT &&
                       remaining(deadline) > 0) {
                        struct timespec ts = {0, 50 * 1000 * 1000};
                        nanosleep(&ts, NULL);
                }
                if (kerr)
                        return transport_err(client, "watermarks", kerr,
                                             errstr, errstr_size);
                rd_kafka_topic_partition_list_add(parts, topic, p)->offset =
                        hi;
        }
        return FLOQ_OK;
}

floq_err_t floq_client_connect(floq_client_t *client, char *errstr,
                               size_t errstr_size) {
        floq_err_t err = FLOQ_OK;
        rd_kafka_topic_partition_list_t *parts = NULL;
        int64_t deadline = floq_mono_ms() + client->connect_timeout_ms;
        int reply_cnt = 0, cmd_cnt = 0, lin_cnt = 0, created = 0;

        pthread_mutex_lock(&client->connect_lock);
        if (client->connected)
                goto out;

        for (;;) {
                if ((err = topic_partitions(client, client->topic_replies,
                                            deadline, &reply_cnt, errstr,
                                            errstr_size)) ||
                    (err = topic_partitions(client, client->topic_commands,
                                            deadline, &cmd_cnt, errstr,
                                            errstr_size)))
                        goto out;
                if (client->lineage_cb &&
                    (err = topic_partitions(client, client->topic_lineage,
                                            deadline, &lin_cnt, errstr,
                                            errstr_size)))
                        goto out;
                if (reply_cnt > 0 && cmd_cnt > 0 &&
                    (lin_cnt > 0 || !client->lineage_cb))
                        break;
                if (!created && conf_known("topic.create") &&
                    !floq_conf_bool(client->conf, "topic.create")) {
                        err = floq_seterr(errstr, errstr_size,
                                          FLOQ_ERR_CONFIG,
                                          "topic '%s' or '%s' does not exist "
                                          "(and topic.create is off)",
                                          client->topic_commands,
                                          client->topic_replies);
                        goto out;
                }
                if (!created) {
                        /* The same call the worker makes at start, so the
                         * partition counts agree whoever comes first. */
                        err = floq_kafka_ensure_topics(
                                client->rk_prod, client->conf,
                                remaining(deadline) ? remaining(deadline) : 1,
                                errstr, errstr_size);
                        if (err)
                                goto out;
                        created = 1;
                        continue;
                }
                if (!remaining(deadline)) {
                        err = floq_seterr(errstr, errstr_size,
                                          FLOQ_ERR_TRANSPORT,
                                          "topics '%s' and '%s' not "
                                          "available within %d ms",
                                          client->topic_commands,
                                          client->topic_replies,
                                          client->connect_timeout_ms);
                        goto out;
                }
                struct timespec ts = {0, 100 * 1000 * 1000};
                nanosleep(&ts, NULL); /* metadata propagation after create */
        }

        /* Warm the producer too: brokers, leaders of the commands topic
         * and the idempotent producer id, so the first send does not pay
         * for them (and a producer that cannot connect fails here). */
        {
                const struct rd_kafka_metadata *md = NULL;
                rd_kafka_topic_t *rkt = rd_kafka_topic_new(
                        client->rk_prod, client->topic_commands, NULL);
                rd_kafka_resp_err_t kerr = rd_kafka_metadata(
                        client->rk_prod, 0, rkt, &md,
                        remaining(deadline) ? remaining(deadline) : 1);
                if (rkt)
                        rd_kafka_topic_destroy(rkt);
                if (kerr) {
                        err = transport_err(client, "producer metadata",
                                            kerr, errstr, errstr_size);
                        goto out;
                }
                rd_kafka_metadata_destroy(md);
        }

        parts = rd_kafka_topic_partition_list_new(reply_cnt + lin_cnt);
        if ((err = add_at_end(client, client->topic_replies, reply_cnt,
                              deadline, parts, errstr, errstr_size)))
                goto out;
        if (client->lineage_cb &&
            (err = add_at_end(client, client->topic_lineage, lin_cnt,
                              deadline, parts, errstr, errstr_size)))
                goto out;
        rd_kafka_resp_err_t kerr = rd_kafka_assign(client->rk_cons, parts);
        if (kerr) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_KAFKA,
                                  "cannot assign '%s': %s",
                                  client->topic_replies,
                                  rd_kafka_err2str(kerr));
                goto out;
        }
        floq_debug("CLIENT", "reply consumer at the end of %d partition(s) "
                   "of '%s'", reply_cnt, client->topic_replies);
        client->connected = 1;
out:
        if (parts)
                rd_kafka_topic_partition_list_destroy(parts);
        pthread_mutex_unlock(&client->connect_lock);
        return err;
}

/* ------------------------------------------------------------ publishing */

static int json_str_set(json_t *obj, const char *key, const char *val) {
        return json_object_set_new(obj, key, val ? json_string(val)
                                                 : json_null());
}

floq_err_t floq_client_send(floq_client_t *client, json_t *command,
                            const floq_send_opts_t *opts,
                            char command_id[37], char *errstr,
                            size_t errstr_size) {
        static const floq_send_opts_t no_opts;
        floq_err_t err = FLOQ_OK;
        void *buf = NULL;
        size_t len = 0;
        send_wait_t *w = NULL;
        char id[37];
        int tracked = 0;

        if (!opts)
                opts = &no_opts;
        if (!json_is_object(command))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "command is not a JSON object");
        const char *dep = json_string_value(json_object_get(command,
                                                            "deployment"));
        if (!dep || !*dep)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "command has no deployment name");
        /* The caller's id is kept or refused, never replaced: a retry
         * with the same id must stay the same command (G3). */
        json_t *have = json_object_get(command, "command_id");
        if (have && !json_is_null(have) &&
            !floq_uuid_valid(json_string_value(have)))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "command_id is not a canonical UUID "
                                   "(8-4-4-4-12 lower-case hex digits, "
                                   "as uuid4() writes it); workers reject "
                                   "any other");

        if ((err = floq_client_connect(client, errstr, errstr_size)))
                return err;

        if (have && !json_is_null(have)) {
                memcpy(id, json_string_value(have), sizeof(id));
        } else {
                floq_uuid_new(id);
                json_str_set(command, "command_id", id);
        }
        if (!json_is_integer(json_object_get(command, "issued_at")))
                json_object_set_new(command, "issued_at",
                                    json_integer(floq_now_ms()));
        if (opts->correlation_id)
                json_str_set(command, "correlation_id", opts->correlation_id);
        else if (!json_is_string(json_object_get(command, "correlation_id")))
                json_str_set(command, "correlation_id", id);
        if (opts->expires_at_ms > 0)
                json_object_set_new(command, "expires_at",
                                    json_integer(opts->expires_at_ms));
        else if (client->keys &&
                 !json_is_integer(json_object_get(command, "expires_at")))
                /* Workers accept a signed command only with an expiry
                 * within security.command.max.lifetime.ms; half of it
                 * leaves room for clocks that disagree. */
                json_object_set_new(
                        command, "expires_at",
                        json_integer(floq_now_ms() +
                                     floq_conf_int(client->conf,
                                                   "security.command.max."
                                                   "lifetime.ms") /
                                             2));
        if (opts->reply_to)
                json_str_set(command, "reply_to", opts->reply_to);
        if (command_id)
                memcpy(command_id, id, sizeof(id));

        pthread_mutex_lock(&client->enc_lock);
        if (client->keys)
                err = floq_command_encode_signed(client->enc, client->keys,
                                                 NULL, command, &buf, &len,
                                                 errstr, errstr_size);
        else
                err = floq_codec_encode(client->enc, FLOQ_MSG_COMMAND,
                                        command, &buf, &len, errstr,
                                        errstr_size);
        pthread_mutex_unlock(&client->enc_lock);
        if (err)
                goto out;

        /* Track before producing: a fast worker may answer before
         * producev() returns. Replies to another topic are not ours to
         * read. */
        const char *rt = json_string_value(json_object_get(command,
                                                           "reply_to"));
        if (!(opts->flags & FLOQ_SEND_NOTRACK) &&
            (!rt || !strcmp(rt, client->topic_replies))) {
                pthread_mutex_lock(&client->lock);
                err = floq_pending_add(
                        client->pend, id,
                        json_string_value(json_object_get(command,
                                                          "correlation_id")),
                        client->reply_cb ? FLOQ_PENDING_CALLBACK
                                         : FLOQ_PENDING_QUEUE);
                pthread_mutex_unlock(&client->lock);
                if (err) {
                        floq_seterr(errstr, errstr_size, err,
                                    "cannot track command '%s': %s", id,
                                    floq_err2str(err));
                        goto out;
                }
                tracked = 1;
        }

        if (!(opts->flags & FLOQ_SEND_ASYNC)) {
                w = calloc(1, sizeof(*w));
                if (!w) {
                        err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                          "out of memory");
                        goto out;
                }
                w->refcnt = 2;
        }

        int64_t deadline = floq_mono_ms() + client->timeout_ms;
        for (;;) {
                pthread_mutex_lock(&client->lock);
                client->inflight++;
                pthread_mutex_unlock(&client->lock);
                rd_kafka_resp_err_t kerr = rd_kafka_producev(
                        client->rk_prod,
                        RD_KAFKA_V_TOPIC(client->topic_commands),
                        RD_KAFKA_V_KEY(dep, strlen(dep)),
                        RD_KAFKA_V_VALUE(buf, len),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                        RD_KAFKA_V_OPAQUE(w), RD_KAFKA_V_END);
                if (!kerr) {
                        buf = NULL; /* librdkafka frees it */
                        break;
                }
                pthread_mutex_lock(&client->lock);
                client->inflight--;
                pthread_mutex_unlock(&client->lock);
                if (kerr != RD_KAFKA_RESP_ERR__QUEUE_FULL ||
                    !remaining(deadline)) {
                        err = floq_seterr(errstr, errstr_size,
                                          kerr == RD_KAFKA_RESP_ERR__QUEUE_FULL
                                                  ? FLOQ_ERR_TIMED_OUT
                                                  : floq_kafka_err(kerr),
                                          "cannot produce to '%s': %s",
                                          client->topic_commands,
                                          rd_kafka_err2str(kerr));
                        goto out;
                }
                rd_kafka_poll(client->rk_prod, 10); /* make room */
        }

        if (w) {
                /* Wait for the broker's ack; message.timeout.ms bounds it,
                 * so the report always comes. */
                for (;;) {
                        pthread_mutex_lock(&client->lock);
                        int done = w->done;
                        rd_kafka_resp_err_t derr = w->err;
                        pthread_mutex_unlock(&client->lock);
                        if (done) {
                                if (derr)
                                        err = floq_seterr(
                                                errstr, errstr_size,
                                                delivery_err(derr),
                                                "command '%s' not delivered "
                                                "to '%s': %s",
                                                id, client->topic_commands,
                                                rd_kafka_err2str(derr));
                                break;
                        }
                        rd_kafka_poll(client->rk_prod, 20);
                }
        } else {
                rd_kafka_poll(client->rk_prod, 0);
        }

out:
        free(buf);
        if (w) {
                pthread_mutex_lock(&client->lock);
                if (--w->refcnt == 0)
                        free(w);
                pthread_mutex_unlock(&client->lock);
        }
        if (err && tracked) {
                pthread_mutex_lock(&client->lock);
                floq_pending_remove(client->pend, id);
                pthread_mutex_unlock(&client->lock);
        }
        return err;
}

floq_err_t floq_client_flush(floq_client_t *client, int timeout_ms,
                             char *errstr, size_t errstr_size) {
        floq_err_t err = FLOQ_OK;
        if (timeout_ms < 0)
                timeout_ms = client->timeout_ms;
        rd_kafka_flush(client->rk_prod, timeout_ms);
        pthread_mutex_lock(&client->lock);
        if (client->async_err) {
                err = floq_seterr(errstr, errstr_size,
                                  delivery_err(client->async_err), "%s",
                                  client->async_errstr);
                client->async_err = 0;
        } else if (client->inflight > 0 ||
                   rd_kafka_outq_len(client->rk_prod) > 0) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_TIMED_OUT,
                                  "%ld command(s) not acknowledged within "
                                  "%d ms",
                                  client->inflight, timeout_ms);
        }
        pthread_mutex_unlock(&client->lock);
        return err;
}

/* ------------------------------------------------------------ typed sends */

static json_t *cmd_new(const char *name, const char *body_type,
                       json_t *body /* stolen */) {
        json_t *cmd = json_object();
        json_t *u = json_object();
        if (!cmd || !u || !body) {
                json_decref(cmd);
                json_decref(u);
                json_decref(body);
                return NULL;
        }
        json_object_set_new(cmd, "deployment", json_string(name ? name : ""));
        json_object_set_new(u, body_type, body);
        json_object_set_new(cmd, "body", u);
        return cmd;
}

static floq_err_t send_built(floq_client_t *client, json_t *cmd,
                             const floq_send_opts_t *opts,
                             char command_id[37], char *errstr,
                             size_t errstr_size) {
        if (!cmd)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        floq_err_t err = floq_client_send(client, cmd, opts, command_id,
                                          errstr, errstr_size);
        json_decref(cmd);
        return err;
}

static floq_err_t need_name(const char *name, char *errstr,
                            size_t errstr_size) {
        if (!name || !*name)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "no deployment name given");
        return FLOQ_OK;
}

/* A copy of @p params holding only string values (the schema's map of
 * strings), or an error naming the first bad one. */
static json_t *params_copy(json_t *params, char *errstr, size_t errstr_size) {
        json_t *out = json_object();
        const char *k;
        json_t *v;
        if (!params)
                return out;
        if (!json_is_object(params)) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                            "params must be a JSON object");
                json_decref(out);
                return NULL;
        }
        json_object_foreach(params, k, v) {
                if (!json_is_string(v)) {
                        floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                    "param '%s' is not a string", k);
                        json_decref(out);
                        return NULL;
                }
                json_object_set(out, k, v);
        }
        return out;
}

floq_err_t floq_deploy(floq_client_t *client, const char *name,
                       const char *backend, const char *spec_json,
                       const floq_deploy_opts_t *dopts,
                       const floq_send_opts_t *opts, char command_id[37],
                       char *errstr, size_t errstr_size) {
        floq_err_t err = need_name(name, errstr, errstr_size);
        if (err)
                return err;
        if (!backend || !*backend || !spec_json)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "deploy needs a backend and a spec");
        json_error_t jerr;
        json_t *parsed = json_loads(spec_json, 0, &jerr);
        int is_obj = json_is_object(parsed);
        json_decref(parsed);
        if (!is_obj)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec is not a JSON object%s%s",
                                   parsed ? "" : ": ",
                                   parsed ? "" : jerr.text);
        json_t *body = json_object();
        json_str_set(body, "backend", backend);
        json_str_set(body, "spec", spec_json);
        if (dopts) {
                if (dopts->artifact_url)
                        json_str_set(body, "artifact_url",
                                     dopts->artifact_url);
                if (dopts->artifact_sha256)
                        json_str_set(body, "artifact_sha256",
                                     dopts->artifact_sha256);
                if (dopts->namespace_)
                        json_str_set(body, "namespace", dopts->namespace_);
                if (dopts->timeout_ms > 0)
                        json_object_set_new(body, "timeout_ms",
                                            json_integer(dopts->timeout_ms));
                if (dopts->inputs)
                        json_object_set(body, "inputs", dopts->inputs);
                if (dopts->outputs)
                        json_object_set(body, "outputs", dopts->outputs);
                if (dopts->max_attempts > 0 || dopts->backoff_ms > 0) {
                        json_t *rp = json_object();
                        json_object_set_new(
                                rp, "max_attempts",
                                json_integer(dopts->max_attempts > 0
                                                     ? dopts->max_attempts
                                                     : 1));
                        if (dopts->backoff_ms > 0)
                                json_object_set_new(
                                        rp, "backoff_ms",
                                        json_integer(dopts->backoff_ms));
                        json_object_set_new(body, "retry", rp);
                }
        }
        return send_built(client, cmd_new(name, "DeployBody", body), opts,
                          command_id, errstr, errstr_size);
}

floq_err_t floq_run(floq_client_t *client, const char *name, json_t *params,
                    const char *idempotency_key, int64_t timeout_ms,
                    const floq_send_opts_t *opts, char command_id[37],
                    char *errstr, size_t errstr_size) {
        floq_err_t err = need_name(name, errstr, errstr_size);
        if (err)
                return err;
        json_t *p = params_copy(params, errstr, errstr_size);
        if (!p)
                return FLOQ_ERR_INVALID_ARG;
        json_t *body = json_object();
        json_object_set_new(body, "params", p);
        if (timeout_ms > 0)
                json_object_set_new(body, "timeout_ms",
                                    json_integer(timeout_ms));
        json_t *cmd = cmd_new(name, "RunBody", body);
        if (cmd && idempotency_key)
                json_str_set(cmd, "idempotency_key", idempotency_key);
        return send_built(client, cmd, opts, command_id, errstr,
                          errstr_size);
}

floq_err_t floq_run_kv(floq_client_t *client, const char *name,
                       const char **params, size_t param_cnt,
                       const char *idempotency_key,
                       const floq_send_opts_t *opts, char command_id[37],
                       char *errstr, size_t errstr_size) {
        json_t *p = json_object();
        floq_err_t err = FLOQ_OK;
        for (size_t i = 0; i < param_cnt; i++) {
                const char *eq = params[i] ? strchr(params[i], '=') : NULL;
                if (!eq || eq == params[i]) {
                        err = floq_seterr(errstr, errstr_size,
                                          FLOQ_ERR_INVALID_ARG,
                                          "bad parameter '%s': expected "
                                          "key=value",
                                          params[i] ? params[i] : "(null)");
                        goto out;
                }
                char *key = strndup(params[i], (size_t)(eq - params[i]));
                json_object_set_new(p, key, json_string(eq + 1));
                free(key);
        }
        err = floq_run(client, name, p, idempotency_key, 0, opts, command_id,
                       errstr, errstr_size);
out:
        json_decref(p);
        return err;
}

floq_err_t floq_stop(floq_client_t *client, const char *name,
                     const char *run_id, const floq_send_opts_t *opts,
                     char command_id[37], char *errstr, size_t errstr_size) {
        floq_err_t err = need_name(name, errstr, errstr_size);
        if (err)
                return err;
        json_t *body = json_object();
        json_str_set(body, "run_id", run_id);
        return send_built(client, cmd_new(name, "StopBody", body), opts,
                          command_id, errstr, errstr_size);
}

floq_err_t floq_schedule(floq_client_t *client, const char *name,
                         const char *cron, const floq_schedule_opts_t *sopts,
                         const floq_send_opts_t *opts, char command_id[37],
                         char *errstr, size_t errstr_size) {
        static const floq_schedule_opts_t none;
        floq_err_t err = need_name(name, errstr, errstr_size);
        if (err)
                return err;
        if (!cron || !*cron)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "schedule needs a cron expression");
        if (!sopts)
                sopts = &none;
        json_t *p = params_copy(sopts->params, errstr, errstr_size);
        if (!p)
                return FLOQ_ERR_INVALID_ARG;
        json_t *body = json_object();
        json_str_set(body, "schedule_id",
                     sopts->schedule_id ? sopts->schedule_id : "default");
        json_str_set(body, "cron", cron);
        json_str_set(body, "timezone",
                     sopts->timezone ? sopts->timezone : "UTC");
        json_str_set(body, "catchup", sopts->catchup ? sopts->catchup
                                                     : "SKIP");
        json_object_set_new(body, "catchup_max",
                            json_integer(sopts->catchup_max > 0
                                                 ? sopts->catchup_max
                                                 : 10));
        json_str_set(body, "overlap", sopts->overlap ? sopts->overlap
                                                     : "ALLOW");
        json_object_set_new(body, "jitter_ms",
                            json_integer(sopts->jitter_ms > 0
                                                 ? sopts->jitter_ms
                                                 : 0));
        json_object_set_new(body, "params", p);
        if (sopts->start_at_ms > 0 && sopts->end_at_ms > 0 &&
            sopts->end_at_ms < sopts->start_at_ms) {
                json_decref(body);
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "schedule end is before its start");
        }
        if (sopts->start_at_ms > 0)
                json_object_set_new(body, "start_at",
                                    json_integer(sopts->start_at_ms));
        if (sopts->end_at_ms > 0)
                json_object_set_new(body, "end_at",
                                    json_integer(sopts->end_at_ms));
        json_object_set_new(body, "paused", json_boolean(sopts->paused));
        return send_built(client, cmd_new(name, "ScheduleBody", body), opts,
                          command_id, errstr, errstr_size);
}

/* UnscheduleBody with @p action REMOVE, PAUSE or RESUME. */
static floq_err_t unschedule_action(floq_client_t *client, const char *name,
                                    const char *schedule_id,
                                    const char *action,
                                    const floq_send_opts_t *opts,
                                    char command_id[37], char *errstr,
                                    size_t errstr_size) {
        floq_err_t err = need_name(name, errstr, errstr_size);
        if (err)
                return err;
        json_t *body = json_object();
        json_str_set(body, "schedule_id", schedule_id);
        json_str_set(body, "action", action);
        return send_built(client, cmd_new(name, "UnscheduleBody", body), opts,
                          command_id, errstr, errstr_size);
}

floq_err_t floq_unschedule(floq_client_t *client, const char *name,
                           const char *schedule_id,
                           const floq_send_opts_t *opts, char command_id[37],
                           char *errstr, size_t errstr_size) {
        return unschedule_action(client, name, schedule_id, "REMOVE", opts,
                                 command_id, errstr, errstr_size);
}

floq_err_t floq_pause(floq_client_t *client, const char *name,
                      const char *schedule_id, const floq_send_opts_t *opts,
                      char command_id[37], char *errstr, size_t errstr_size) {
        return unschedule_action(client, name, schedule_id, "PAUSE", opts,
                                 command_id, errstr, errstr_size);
}

floq_err_t floq_resume(floq_client_t *client, const char *name,
                       const char *schedule_id, const floq_send_opts_t *opts,
                       char command_id[37], char *errstr, size_t errstr_size) {
        return unschedule_action(client, name, schedule_id, "RESUME", opts,
                                 command_id, errstr, errstr_size);
}

floq_err_t floq_status(floq_client_t *client, const char *name,
                       const char *run_id, const floq_send_opts_t *opts,
                       char command_id[37], char *errstr,
                       size_t errstr_size) {
        floq_err_t err = need_name(name, errstr, errstr_size);
        if (err)
                return err;
        json_t *body = json_object();
        json_str_set(body, "run_id", run_id);
        return send_built(client, cmd_new(name, "StatusBody", body), opts,
                          command_id, errstr, errstr_size);
}

floq_err_t floq_validate(floq_client_t *client, const char *deployment,
                         const char *backend, const char *spec_json,
                         const floq_send_opts_t *opts, char command_id[37],
                         char *errstr, size_t errstr_size) {
        if (!backend || !*backend)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "validate needs a backend name");
        json_t *body = json_object();
        json_str_set(body, "backend", backend);
        json_str_set(body, "spec", spec_json);
        return send_built(client,
                          cmd_new(deployment ? deployment : backend,
                                  "ValidateBody", body),
                          opts, command_id, errstr, errstr_size);
}

/* --------------------------------------------------------------- replies */

void floq_client_set_reply_cb(floq_client_t *client, floq_reply_cb_t *cb,
                              int flags, void *opaque) {
        pthread_mutex_lock(&client->lock);
        client->reply_cb = cb;
        client->reply_cb_flags = flags;
        client->reply_opaque = opaque;
        pthread_mutex_unlock(&client->lock);
}

void floq_client_set_lineage_cb(floq_client_t *client, floq_lineage_cb_t *cb,
                                void *opaque) {
        pthread_mutex_lock(&client->lock);
        client->lineage_cb = cb;
        client->lineage_opaque = opaque;
        pthread_mutex_unlock(&client->lock);
}

/* Handle one reply read by the poller (which owns client->dec). */
static void dispatch_reply(floq_client_t *client, json_t *reply) {
        pthread_mutex_lock(&client->lock);
        floq_match_t m = floq_pending_offer(client->pend, reply);
        floq_reply_cb_t *cb = client->reply_cb;
        int all = client->reply_cb_flags & FLOQ_REPLY_CB_ALL;
        void *opaque = client->reply_opaque;
        pthread_mutex_unlock(&client->lock);

        if (m == FLOQ_MATCH_FOREIGN)
                floq_debug("CLIENT", "reply to '%s' with another correlation "
                           "id ignored",
                           json_string_value(json_object_get(reply,
                                                             "command_id")));
        if (cb && (m == FLOQ_MATCH_CALLBACK || (all && m != FLOQ_MATCH_QUEUED)))
                cb(client, reply, m == FLOQ_MATCH_CALLBACK, opaque);
        if (m == FLOQ_MATCH_CALLBACK && floq_reply_is_final(reply)) {
                pthread_mutex_lock(&client->lock);
                floq_pending_remove(client->pend,
                                    json_string_value(json_object_get(
                                            reply, "command_id")));
                pthread_mutex_unlock(&client->lock);
        }
}

/* Read one batch; the caller is the only poller. */
static int poll_batch(floq_client_t *client, int timeout_ms) {
        rd_kafka_message_t *msgs[BATCH_MAX];
        char errbuf[256];
        if (!client->cons_q || !client->connected) {
                struct timespec ts = {timeout_ms / 1000,
                                      (timeout_ms % 1000) * 1000000L};
                nanosleep(&ts, NULL);
                return 0;
        }
        ssize_t n = rd_kafka_consume_batch_queue(client->cons_q, timeout_ms,
                                                 msgs, BATCH_MAX);
        if (n < 0)
                return -1;
        int got = 0;
        for (ssize_t i = 0; i < n; i++) {
                rd_kafka_message_t *rkm = msgs[i];
                if (rkm->err) {
                        if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                                floq_warn("CLIENT", "reply consumer: %s",
                                          rd_kafka_message_errstr(rkm));
                        rd_kafka_message_destroy(rkm);
                        continue;
                }
                const char *topic = rd_kafka_topic_name(rkm->rkt);
                if (!strcmp(topic, client->topic_replies)) {
                        json_t *reply = NULL;
                        if (floq_codec_decode(client->dec, FLOQ_MSG_REPLY,
                                              rkm->payload, rkm->len, &reply,
                                              errbuf, sizeof(errbuf))) {
                                floq_warn("CLIENT", "undecodable reply at "
                                          "%s [%d] offset %lld: %s",
                                          topic, (int)rkm->partition,
                                          (long long)rkm->offset, errbuf);
                        } else {
                                dispatch_reply(client, reply);
                                json_decref(reply);
                                got++;
                        }
                } else if (client->lineage_cb && rkm->payload) {
                        json_error_t jerr;
                        json_t *ev = json_loadb(rkm->payload, rkm->len, 0,
                                                &jerr);
                        if (ev) {
                                client->lineage_cb(client, ev,
                                                   client->lineage_opaque);
                                json_decref(ev);
                                got++;
                        } else {
                                floq_warn("CLIENT", "lineage event at "
                                          "offset %lld is not JSON: %s",
                                          (long long)rkm->offset, jerr.text);
                        }
                }
                rd_kafka_message_destroy(rkm);
        }
        return got;
}

static void abs_deadline(struct timespec *ts, int ms) {
        clock_gettime(CLOCK_REALTIME, ts);
        ts->tv_sec += ms / 1000;
        ts->tv_nsec += (long)(ms % 1000) * 1000000L;
        if (ts->tv_nsec >= 1000000000L) {
                ts->tv_sec++;
                ts->tv_nsec -= 1000000000L;
        }
}

int floq_client_poll(floq_client_t *client, int timeout_ms) {
        int64_t deadline = floq_mono_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
        pthread_mutex_lock(&client->lock);
        while (client->polling) {
                int rem = remaining(deadline);
                if (!rem) {
                        pthread_mutex_unlock(&client->lock);
                        return 0;
                }
                struct timespec ts;
                abs_deadline(&ts, rem);
                pthread_cond_timedwait(&client->cond, &client->lock, &ts);
        }
        client->polling = 1;
        pthread_mutex_unlock(&client->lock);

        int n = poll_batch(client, remaining(deadline));

        pthread_mutex_lock(&client->lock);
        client->polling = 0;
        pthread_cond_broadcast(&client->cond);
        pthread_mutex_unlock(&client->lock);
        return n;
}

floq_err_t floq_client_wait_reply(floq_client_t *client,
                                  const char *command_id, int final_only,
                                  int timeout_ms, json_t **reply) {
        floq_err_t err;
        if (timeout_ms < 0)
                timeout_ms = client->timeout_ms;
        int64_t deadline = floq_mono_ms() + timeout_ms;
        *reply = NULL;

        pthread_mutex_lock(&client->lock);
        for (;;) {
                int r = floq_pending_take(client->pend, command_id,
                                          final_only, reply);
                if (r == 1) {
                        err = FLOQ_OK;
                        break;
                }
                if (r < 0) {
                        err = FLOQ_ERR_NOT_FOUND;
                        break;
                }
                int rem = remaining(deadline);
                if (!rem) {
                        err = FLOQ_ERR_TIMED_OUT;
                        break;
                }
                int slice = rem < POLL_SLICE_MS ? rem : POLL_SLICE_MS;
                if (!client->polling) {
                        client->polling = 1;
                        pthread_mutex_unlock(&client->lock);
                        int n = poll_batch(client, slice);
                        pthread_mutex_lock(&client->lock);
                        client->polling = 0;
                        pthread_cond_broadcast(&client->cond);
                        if (n < 0) {
                                err = FLOQ_ERR_KAFKA;
                                break;
                        }
                } else {
                        struct timespec ts;
                        abs_deadline(&ts, slice);
                        pthread_cond_timedwait(&client->cond, &client->lock,
                                               &ts);
                }
        }
        pthread_mutex_unlock(&client->lock);
        return err;
}

void floq_client_forget(floq_client_t *client, const char *command_id) {
        pthread_mutex_lock(&client->lock);
        floq_pending_remove(client->pend, command_id);
        pthread_mutex_unlock(&client->lock);
}

size_t floq_client_pending_cnt(floq_client_t *client) {
        pthread_mutex_lock(&client->lock);
        size_t n = floq_pending_cnt(client->pend);
        pthread_mutex_unlock(&client->lock);
        return n;
}

static void *poll_thread(void *arg) {
        floq_client_t *client = arg;
        while (!client->thread_stop)
                floq_client_poll(client, POLL_SLICE_MS);
        return NULL;
}

floq_err_t floq_client_start(floq_client_t *client, char *errstr,
                             size_t errstr_size) {
        if (client->thread_started)
                return FLOQ_OK;
        int r = pthread_create(&client->thread, NULL, poll_thread, client);
        if (r)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_STATE,
                                   "cannot start the poll thread: %s",
                                   strerror(r));
        client->thread_started = 1;
        return FLOQ_OK;
}

/* ------------------------------------------------------------- find a run */

floq_err_t floq_client_find_run(floq_client_t *client, const char *run_id,
                                int timeout_ms, char **deployment,
                                char *errstr, size_t errstr_size) {
        floq_err_t err = FLOQ_OK;
        rd_kafka_t *rk = NULL;
        rd_kafka_conf_t *cc = NULL;
        rd_kafka_queue_t *q = NULL;
        rd_kafka_topic_partition_list_t *parts = NULL;
        int64_t *ends = NULL;
        json_t *found = NULL;
        floq_codec_t *codec = NULL;
        int cnt = 0, open_parts = 0;
        char buf[256], gid[64], uuid[37];
        size_t idlen = strlen(run_id);

        *deployment = NULL;
        if (timeout_ms < 0)
                timeout_ms = client->timeout_ms;
        int64_t deadline = floq_mono_ms() + timeout_ms;

        /* A consumer of its own: the reply consumer's assignment must not
         * move. */
        cc = floq_kafka_conf_new(client->conf, "consumer", errstr,
                                 errstr_size);
        if (!cc)
                return FLOQ_ERR_CONFIG;
        floq_uuid_new(uuid);
        snprintf(gid, sizeof(gid), "floq-client-%s", uuid);
        if ((err = set_rk(cc, "group.id", gid, errstr, errstr_size)) ||
            (err = set_rk(cc, "enable.auto.commit", "false", errstr,
                          errstr_size)) ||
            (err = set_rk(cc, "isolation.level", "read_committed", errstr,
                          errstr_size)) ||
            (err = set_rk(cc, "enable.partition.eof", "true", errstr,
                          errstr_size)))
                goto out;
        codec = floq_codec_new(DEFAULT_MAX_MESSAGE_SIZE * 16, errstr,
                               errstr_size);
        if (!codec) {
                err = FLOQ_ERR_CONFIG;
                goto out;
        }
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, cc, buf, sizeof(buf));
        if (!rk) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                  "cannot create consumer: %s", buf);
                goto out;
        }
        cc = NULL;
        rd_kafka_poll_set_consumer(rk);

        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, client->topic_runs,
                                                   NULL);
        rd_kafka_resp_err_t kerr = rd_kafka_metadata(
                rk, 0, rkt, &md, remaining(deadline) ? remaining(deadline)
                                                     : 1);
        rd_kafka_topic_destroy(rkt);
        if (kerr) {
                err = transport_err(client, "metadata", kerr, errstr,
                                    errstr_size);
                goto out;
        }
        if (md->topic_cnt == 1 && !md->topics[0].err)
                cnt = md->topics[0].partition_cnt;
        else if (md->topic_cnt == 1 &&
                 md->topics[0].err ==
                         RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
                cnt = -1;
        rd_kafka_metadata_destroy(md);
        if (cnt < 0) {
                err = topic_unauthorized(client->topic_runs, errstr,
                                         errstr_size);
                goto out;
        }
        if (cnt == 0) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOT_FOUND,
                                  "no runs topic '%s'", client->topic_runs);
                goto out;
        }
        ends = calloc((size_t)cnt, sizeof(*ends));
        parts = rd_kafka_topic_partition_list_new(cnt);
        for (int p = 0; p < cnt; p++) {
                int64_t lo = 0, hi = 0;
                kerr = floq_kafka_watermarks(
                        rk, client->topic_runs, p, &lo, &hi,
                        remaining(deadline) ? remaining(deadline) : 1);
                if (kerr) {
                        err = transport_err(client, "watermarks", kerr,
                                            errstr, errstr_size);
                        goto out;
                }
                ends[p] = hi;
                if (hi > lo) {
                        rd_kafka_topic_partition_list_add(
                                parts, client->topic_runs, p)->offset = lo;
                        open_parts++;
                }
        }
        if ((kerr = rd_kafka_assign(rk, parts))) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_KAFKA,
                                  "cannot assign '%s': %s",
                                  client->topic_runs,
                                  rd_kafka_err2str(kerr));
                goto out;
        }
        q = rd_kafka_queue_get_consumer(rk);
        while (open_parts > 0) {
                if (!remaining(deadline)) {
                        err = floq_seterr(errstr, errstr_size,
                                          FLOQ_ERR_TIMED_OUT,
                                          "run '%s' not found within %d ms",
                                          run_id, timeout_ms);
                        goto out;
                }
                rd_kafka_message_t *rkm = rd_kafka_consume_queue(
                        q, remaining(deadline) < 200 ? remaining(deadline)
                                                     : 200);
                if (!rkm)
                        continue;
                if (!rkm->err && rkm->key_len == idlen &&
                    !memcmp(rkm->key, run_id, idlen)) {
                        json_decref(found);
                        found = NULL;
                        if (rkm->payload) /* else a tombstone */
                                floq_codec_decode(codec, FLOQ_MSG_RUN_STATE,
                                                  rkm->payload, rkm->len,
                                                  &found, NULL, 0);
                }
                /* EOF, not offsets: transaction markers take offsets no
                 * message is returned for. */
                if ((rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF ||
                     (!rkm->err && rkm->offset + 1 >= ends[rkm->partition])) &&
                    rkm->partition >= 0 && rkm->partition < cnt &&
                    ends[rkm->partition] >= 0) {
                        ends[rkm->partition] = -1;
                        open_parts--;
                }
                rd_kafka_message_destroy(rkm);
        }
        const char *dep = json_string_value(json_object_get(found,
                                                            "deployment"));
        if (!dep) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOT_FOUND,
                                  "no run '%s' in '%s'", run_id,
                                  client->topic_runs);
                goto out;
        }
        *deployment = strdup(dep);
out:
        json_decref(found);
        free(ends);
        if (parts)
                rd_kafka_topic_partition_list_destroy(parts);
        if (q)
                rd_kafka_queue_destroy(q);
        if (rk) {
                rd_kafka_consumer_close(rk);
                rd_kafka_destroy(rk);
        }
        if (cc)
                rd_kafka_conf_destroy(cc);
        floq_codec_destroy(codec);
        return err;
}
