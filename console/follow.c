/*
 * follow.c - the console's one consumer. It assigns itself every
 * partition of the six floq topics it shows (not the commands topic; no
 * group membership, nothing
 * committed: a console never writes to Kafka): the compacted deployments,
 * schedules and runs topics from their beginning (the restore), the
 * replies, lineage and DLQ topics from console.history.ms ago, and then
 * follows them all, read_committed. Values go through the schemas codec
 * (lineage is JSON); what cannot be read is counted and skipped. The
 * store is "restored" once every partition of the state topics reached
 * its end once. Topics that do not exist yet are looked for again every
 * few seconds.
 */
#include <stdlib.h>
#include <string.h>

#include "console_int.h"
#include "floq_schemas.h"

#define RETRY_MS 2000

enum { T_DEPLOYMENTS, T_SCHEDULES, T_RUNS, T_REPLIES, T_LINEAGE, T_DLQ,
       T__CNT };

static const char *const topic_keys[T__CNT] = {
        "topic.deployments", "topic.schedules", "topic.runs",
        "topic.replies",     "topic.lineage",   "topic.dlq",
};

struct cfollow_s {
        const floq_conf_t *conf;
        cstore_t *store;
        rd_kafka_t *rk;
        floq_codec_t *codec;
        const char *topics[T__CNT];
        int assigned;
        int64_t next_try_ms;
        int oft_failures;     /* offsets_for_times that failed */
        int state_parts;      /* partitions of the state topics */
        int state_eof;        /* of those, how many reached their end */
        unsigned char *eof_seen; /* per state partition */
        int32_t part_cnt[T__CNT];
        size_t max_bytes;
};

cfollow_t *cfollow_new(const floq_conf_t *conf, cstore_t *s, char *errstr,
                       size_t errstr_size) {
        cfollow_t *f = calloc(1, sizeof(*f));
        rd_kafka_conf_t *kc = NULL;
        char group[64], uuid[37];
        int i;

        if (!f) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                return NULL;
        }
        f->conf = conf;
        f->store = s;
        for (i = 0; i < T__CNT; i++)
                f->topics[i] = floq_conf_str(conf, topic_keys[i]);
        /* State records can be larger than one command (a run holds its
         * output tail): read what a broker may hold. */
        f->max_bytes = (size_t)floq_conf_int(conf, "message.max.bytes") * 8;
        if (f->max_bytes < (size_t)8 << 20)
                f->max_bytes = (size_t)8 << 20;
        if (!(f->codec = floq_codec_new(f->max_bytes, errstr, errstr_size)))
                goto fail;
        if (!(kc = floq_kafka_conf_new(conf, "consumer", errstr, errstr_size)))
                goto fail;
        floq_uuid_new(uuid);
        /* Never used to join (assign() only); unique so that nothing of
         * the workers' group is ever touched. */
        snprintf(group, sizeof(group), "floq-console-%s", uuid);
        if (rd_kafka_conf_set(kc, "group.id", group, errstr, errstr_size) ||
            rd_kafka_conf_set(kc, "enable.auto.commit", "false", errstr,
                              errstr_size) ||
            rd_kafka_conf_set(kc, "enable.auto.offset.store", "false", errstr,
                              errstr_size) ||
            rd_kafka_conf_set(kc, "enable.partition.eof", "true", errstr,
                              errstr_size) ||
            rd_kafka_conf_set(kc, "isolation.level", "read_committed", errstr,
                              errstr_size))
                goto fail;
        if (!(f->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr,
                                   errstr_size)))
                goto fail;
        kc = NULL;
        rd_kafka_poll_set_consumer(f->rk);
        return f;
fail:
        if (kc)
                rd_kafka_conf_destroy(kc);
        cfollow_destroy(f);
        return NULL;
}

void cfollow_destroy(cfollow_t *f) {
        if (!f)
                return;
        if (f->rk) {
                rd_kafka_consumer_close(f->rk);
                rd_kafka_destroy(f->rk);
        }
        floq_codec_destroy(f->codec);
        free(f->eof_seen);
        free(f);
}

/* Partition counts of every topic; -1 when one is missing. */
static int read_counts(cfollow_t *f) {
        int i;

        for (i = 0; i < T__CNT; i++) {
                const struct rd_kafka_metadata *md = NULL;
                rd_kafka_topic_t *rkt = rd_kafka_topic_new(f->rk, f->topics[i],
                                                           NULL);
                rd_kafka_resp_err_t err;

                if (!rkt)
                        return -1;
                err = rd_kafka_metadata(f->rk, 0, rkt, &md, 5000);
                rd_kafka_topic_destroy(rkt);
                /* /dlq is optional: a console without Read on the DLQ
                 * (docs/security.md) shows the rest. */
                if (i == T_DLQ && !err && md->topic_cnt == 1 &&
                    md->topics[0].err ==
                            RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
                        floq_warn("console", "topic '%s': not authorized: "
                                  "/dlq stays empty", f->topics[i]);
                        f->part_cnt[i] = 0;
                        rd_kafka_metadata_destroy(md);
                        continue;
                }
                if (err || md->topic_cnt != 1 || md->topics[0].err ||
                    md->topics[0].partition_cnt < 1) {
                        floq_notice("console", "topic '%s' not readable yet: "
                                    "%s", f->topics[i],
                                    rd_kafka_err2str(err ? err
                                                     : md->topics[0].err));
                        if (md)
                                rd_kafka_metadata_destroy(md);
                        return -1;
                }
                f->part_cnt[i] = md->topics[0].partition_cnt;
                rd_kafka_metadata_destroy(md);
        }
        return 0;
}

static floq_err_t try_assign(cfollow_t *f) {
        rd_kafka_topic_partition_list_t *l, *times;
        int64_t from = floq_now_ms() - floq_conf_int(f->conf,
                                                     "console.history.ms");
        rd_kafka_resp_err_t err;
        int i, j, k;

        if (read_counts(f))
                return FLOQ_ERR_NOT_FOUND;
        l = rd_kafka_topic_partition_list_new(64);
        times = rd_kafka_topic_partition_list_new(64);
        f->state_parts = 0;
        for (i = 0; i < T__CNT; i++)
                for (j = 0; j < f->part_cnt[i]; j++) {
                        if (i <= T_RUNS) {
                                rd_kafka_topic_partition_list_add(
                                        l, f->topics[i], j)->offset =
                                        RD_KAFKA_OFFSET_BEGINNING;
                                f->state_parts++;
                        } else {
                                rd_kafka_topic_partition_list_add(
                                        times, f->topics[i], j)->offset =
                                        from < 0 ? 0 : from;
                        }
                }
        /* The event topics from history.ms ago: offsets by time. */
        err = rd_kafka_offsets_for_times(f->rk, times, 10000);
        for (k = 0; !err && k < times->cnt; k++)
                err = times->elems[k].err;
        /* Leaders move right after topics are made: ask again a few times
         * before reading the event topics whole (which any console would
         * then show alike, only more of). */
        if (err && ++f->oft_failures < 5) {
                floq_notice("console", "offsets for times: %s: trying again",
                            rd_kafka_err2str(err));
                rd_kafka_topic_partition_list_destroy(times);
                rd_kafka_topic_partition_list_destroy(l);
                return FLOQ_ERR_KAFKA;
        }
        if (err) {
                floq_warn("console", "offsets for times: %s: reading the "
                          "event topics from their beginning",
                          rd_kafka_err2str(err));
                for (k = 0; k < times->cnt; k++)
                        times->elems[k].offset = RD_KAFKA_OFFSET_BEGINNING;
        }
        for (k = 0; k < times->cnt; k++) {
                int64_t off = times->elems[k].offset;

                /* -1: nothing that recent, start at the end; -2 (the
                 * fallback): the beginning */
                rd_kafka_topic_partition_list_add(l, times->elems[k].topic,
                                                  times->elems[k].partition)
                        ->offset = off == RD_KAFKA_OFFSET_BEGINNING ? off
                                   : off < 0 ? RD_KAFKA_OFFSET_END : off;
        }
        rd_kafka_topic_partition_list_destroy(times);
        free(f->eof_seen);
        f->eof_seen = calloc((size_t)f->state_parts + 1, 1);
        f->state_eof = 0;
        err = rd_kafka_assign(f->rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (err || !f->eof_seen) {
                floq_warn("console", "cannot assign: %s",
                          rd_kafka_err2str(err));
                return FLOQ_ERR_KAFKA;
        }
        f->assigned = 1;
        floq_notice("console", "reading %d state partitions and the event "
                    "topics from %lld ms ago", f->state_parts,
                    (long long)floq_conf_int(f->conf, "console.history.ms"));
        return FLOQ_OK;
}

static int topic_index(cfollow_t *f, const char *name) {
        int i;

        for (i = 0; i < T__CNT; i++)
                if (!strcmp(f->topics[i], name))
                        return i;
        return -1;
}

/* The index of state partition (@p t, @p p) in eof_seen, or -1. */
static int state_slot(cfollow_t *f, int t, int32_t p) {
        int i, n = 0;

        if (t < 0 || t > T_RUNS || p < 0 || p >= f->part_cnt[t])
                return -1;
        for (i = 0; i < t; i++)
                n += f->part_cnt[i];
        return n + p;
}

static char *header(rd_kafka_headers_t *h, const char *name, char *buf,
                    size_t size) {
        const void *v;
        size_t n;

        if (!h || rd_kafka_header_get_last(h, name, &v, &n) || !v)
                return NULL;
        if (n >= size)
                n = size - 1;
        memcpy(buf, v, n);
        buf[n] = '\0';
        return buf;
}

static void apply_dlq(cfollow_t *f, rd_kafka_message_t *m) {
        rd_kafka_headers_t *h = NULL;
        char reason[4096], error[128], topic[256], part[32], off[32],
                worker[256], source[400];
        const char *t, *p, *o;

        rd_kafka_message_headers(m, &h);
        t = header(h, "floq.source.topic", topic, sizeof(topic));
        p = header(h, "floq.source.partition", part, sizeof(part));
        o = header(h, "floq.source.offset", off, sizeof(off));
        snprintf(source, sizeof(source), "%s [%s] @%s", t ? t : "?",
                 p ? p : "?", o ? o : "?");
        cstore_apply_dlq(f->store, m->key, m->key_len,
                         header(h, "floq.reason", reason, sizeof(reason)),
                         header(h, "floq.error", error, sizeof(error)),
                         source, header(h, "floq.worker", worker,
                                        sizeof(worker)),
                         m->len, rd_kafka_message_timestamp(m, NULL));
}

static void apply(cfollow_t *f, int t, rd_kafka_message_t *m) {
        static const floq_msg_type_t types[] = {
                FLOQ_MSG_DEPLOYMENT, FLOQ_MSG_SCHEDULE_SET, FLOQ_MSG_RUN_STATE,
                FLOQ_MSG_REPLY,
        };
        char errstr[256];
        json_t *msg = NULL;

        if (t == T_DLQ) {
                apply_dlq(f, m);
                return;
        }
        if (t == T_LINEAGE) {
                json_error_t jerr;

                if (!m->payload || m->len > f->max_bytes ||
                    !(msg = json_loadb(m->payload, m->len, 0, &jerr)) ||
                    !json_is_object(msg)) {
                        cstore_count_bad(f->store);
                        json_decref(msg);
                        return;
                }
                cstore_apply_lineage(f->store, msg);
                json_decref(msg);
                return;
        }
        /* A deploy or stop outcome (DeploymentOutcome, keyed
         * "deployment\n command_id"): the worker's replay memory, not a
         * deployment; no deployment name holds a newline. */
        if (t == T_DEPLOYMENTS && m->key && memchr(m->key, '\n', m->key_len))
                return;
        if (m->payload && floq_codec_decode(f->codec, types[t], m->payload,
                                            m->len, &msg, errstr,
                                            sizeof(errstr))) {
                floq_debug("console", "%s [%d] @%lld: %s", f->topics[t],
                           (int)m->partition, (long long)m->offset, errstr);
                cstore_count_bad(f->store);
                return;
        }
        if (!m->payload && t == T_REPLIES)
                return;
        switch (t) {
        case T_DEPLOYMENTS:
                cstore_apply_deployment(f->store, m->key, m->key_len, msg);
                break;
        case T_SCHEDULES:
                cstore_apply_schedules(f->store, m->key, m->key_len, msg);
                break;
        case T_RUNS:
                cstore_apply_run(f->store, m->key, m->key_len, msg);
                break;
        case T_REPLIES:
                cstore_apply_reply(f->store, msg);
                break;
        }
        json_decref(msg);
}

floq_err_t cfollow_poll(cfollow_t *f, int timeout_ms) {
        int64_t deadline = floq_mono_ms() + timeout_ms;
        rd_kafka_message_t *m;

        if (!f->assigned) {
                if (floq_mono_ms() < f->next_try_ms) {
                        floq_sleep_ms(timeout_ms < 100 ? timeout_ms : 100);
                        return FLOQ_OK;
                }
                f->next_try_ms = floq_mono_ms() + RETRY_MS;
                if (try_assign(f))
                        return FLOQ_OK;
        }
        while ((m = rd_kafka_consumer_poll(f->rk, timeout_ms))) {
                int t = m->rkt ? topic_index(f, rd_kafka_topic_name(m->rkt))
                               : -1;

                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        int slot = state_slot(f, t, m->partition);

                        if (slot >= 0 && !f->eof_seen[slot]) {
                                f->eof_seen[slot] = 1;
                                if (++f->state_eof == f->state_parts) {
                                        pthread_mutex_lock(&f->store->lock);
                                        f->store->restored = 1;
                                        pthread_mutex_unlock(
                                                &f->store->lock);
                                        floq_notice("console", "restored "
                                                    "the state topics");
                                }
                        }
                } else if (m->err) {
                        floq_warn("console", "consume: %s",
                                  rd_kafka_message_errstr(m));
                } else if (t >= 0) {
                        apply(f, t, m);
                }
                rd_kafka_message_destroy(m);
                timeout_ms = (int)(deadline - floq_mono_ms());
                if (timeout_ms <= 0)
                        break;
        }
        return FLOQ_OK;
}
