/*
 * restore.c - rebuilding one partition's state from Kafka, Kafka Streams
 * style: partition p of the deployments, schedules and runs topics is read
 * from the beginning to its end with a read_committed consumer of its own
 * (assign() only, never a group member), each record applied in offset
 * order, tombstones removing keys. Called on assignment before any command
 * of p is processed and after an aborted transaction. With read_committed
 * the end is the last stable offset, so an open transaction of a dead owner
 * is neither waited for nor read.
 */
#include <stdlib.h>
#include <string.h>

#include "worker_int.h"

floq_err_t worker_restorer_new(floq_worker_t *w, char *errstr,
                               size_t errstr_size) {
        floq_conf_t *c = floq_conf_dup(w->conf);
        rd_kafka_conf_t *kc = NULL;
        char gid[512];

        if (!c)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        /* Never a member of the fleet's group: a group id only because
         * librdkafka's assign() wants one; nothing is committed. */
        snprintf(gid, sizeof(gid), "%s.restore",
                 floq_conf_str(c, "group.id"));
        if (floq_conf_set(c, "group.id", gid, errstr, errstr_size) ||
            floq_conf_set(c, "group.instance.id", "", errstr, errstr_size))
                goto fail;
        if (!(kc = floq_kafka_conf_new(c, "consumer", errstr, errstr_size)))
                goto fail;
        if (rd_kafka_conf_set(kc, "enable.partition.eof", "true", errstr,
                              errstr_size) ||
            rd_kafka_conf_set(kc, "isolation.level", "read_committed", errstr,
                              errstr_size) ||
            rd_kafka_conf_set(kc, "fetch.wait.max.ms", "10", errstr,
                              errstr_size))
                goto fail;
        if (!(w->restorer = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr,
                                         errstr_size)))
                goto fail;
        kc = NULL;
        floq_conf_destroy(c);
        return FLOQ_OK;
fail:
        if (kc)
                rd_kafka_conf_destroy(kc);
        floq_conf_destroy(c);
        return FLOQ_ERR_KAFKA;
}

enum { R_DEP, R_SCHED, R_RUNS, R_CNT };

/* Ask the cluster where @p topic's partitions lead now: the restorer is
 * idle between restores, so after a failover its metadata cache still
 * names the old leader (dead, or back but a follower answering "not
 * leader") and nothing refreshes it in time on its own. */
static void refresh_leaders(floq_worker_t *w, const char *topic) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(w->restorer, topic, NULL);
        const struct rd_kafka_metadata *md = NULL;

        if (!rkt)
                return;
        if (!rd_kafka_metadata(w->restorer, 0, rkt, &md, 2000) && md)
                rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
}

static void apply(floq_worker_t *w, int32_t p, int which,
                  const rd_kafka_message_t *m) {
        static const floq_msg_type_t types[R_CNT] = {
                FLOQ_MSG_DEPLOYMENT, FLOQ_MSG_SCHEDULE_SET,
                FLOQ_MSG_RUN_STATE
        };
        char key[512], errstr[256];
        json_t *msg = NULL;

        if (!m->key || m->key_len == 0 || m->key_len >= sizeof(key)) {
                floq_warn("restore", "%s [%d] offset %lld: bad key, skipped",
                          rd_kafka_topic_name(m->rkt), (int)p,
                          (long long)m->offset);
                return;
        }
        memcpy(key, m->key, m->key_len);
        key[m->key_len] = '\0';
        if (m->payload && floq_codec_decode(w->codec, types[which],
                                            m->payload, m->len, &msg, errstr,
                                            sizeof(errstr))) {
                floq_warn("restore", "%s [%d] offset %lld: %s, skipped",
                          rd_kafka_topic_name(m->rkt), (int)p,
                          (long long)m->offset, errstr);
                return;
        }
        switch (which) {
        case R_DEP:
                wpart_put_deployment(&w->parts[p], key, msg);
                break;
        case R_SCHED:
                wpart_put_schedules(&w->parts[p], key, msg);
                break;
        default:
                wpart_put_run(&w->parts[p], key, msg);
                break;
        }
}

floq_err_t worker_restore_partition(floq_worker_t *w, int32_t p) {
        const char *topics[R_CNT] = { w->t_deployments, w->t_schedules,
                                      w->t_runs };
        int64_t lo[R_CNT], hi[R_CNT];
        int done[R_CNT] = { 0 }, left = 0, i;
        long records = 0;
        rd_kafka_topic_partition_list_t *l;
        rd_kafka_resp_err_t err;
        int64_t t0 = floq_mono_ms(), deadline;
        floq_err_t ret = FLOQ_OK;

        wpart_clear(&w->parts[p]);
        deadline = t0 + w->restore_timeout_ms;
        l = rd_kafka_topic_partition_list_new(R_CNT);
        for (i = 0; i < R_CNT; i++) {
                /* Right after topic creation or a leader change the
                 * broker answers "not leader" for a while, and a dead
                 * leader does not answer: retry with fresh metadata. */
                while ((err = floq_kafka_watermarks(w->restorer, topics[i],
                                                    p, &lo[i], &hi[i],
                                                    5000)) &&
                       floq_mono_ms() + 200 < deadline) {
                        floq_debug("restore", "'%s' [%d]: %s, retrying",
                                   topics[i], (int)p, rd_kafka_err2str(err));
                        refresh_leaders(w, topics[i]);
                        rd_kafka_poll(w->restorer, 200);
                }
                if (err) {
                        floq_err("restore", "cannot read the end of '%s' "
                                            "[%d]: %s",
                                 topics[i], (int)p, rd_kafka_err2str(err));
                        ret = FLOQ_ERR_KAFKA;
                        goto out;
                }
                if (hi[i] <= lo[i]) {
                        done[i] = 1;
                        continue;
                }
                rd_kafka_topic_partition_list_add(l, topics[i], p)->offset =
                        RD_KAFKA_OFFSET_BEGINNING;
                left++;
        }
        if (!left)
                goto out;
        if ((err = rd_kafka_assign(w->restorer, l))) {
                floq_err("restore", "cannot assign: %s", rd_kafka_err2str(err));
                ret = FLOQ_ERR_KAFKA;
                goto out;
        }
        while (left > 0) {
                rd_kafka_message_t *m;
                int which = -1;

                if (floq_mono_ms() > deadline) {
                        floq_err("restore", "partition %d: not restored "
                                            "within %lld ms",
                                 (int)p, (long long)w->restore_timeout_ms);
                        ret = FLOQ_ERR_TIMED_OUT;
                        break;
                }
                if (!(m = rd_kafka_consumer_poll(w->restorer, 100)))
                        continue;
                if (m->rkt)
                        for (i = 0; i < R_CNT; i++)
                                if (!strcmp(rd_kafka_topic_name(m->rkt),
                                            topics[i]))
                                        which = i;
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        if (which >= 0 && !done[which]) {
                                done[which] = 1;
                                left--;
                        }
                } else if (m->err) {
                        floq_warn("restore", "partition %d: %s", (int)p,
                                  rd_kafka_message_errstr(m));
                } else if (which >= 0 && !done[which] &&
                           m->partition == p) {
                        apply(w, p, which, m);
                        records++;
                        if (m->offset >= hi[which] - 1) {
                                done[which] = 1;
                                left--;
                        }
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_assign(w->restorer, NULL);
out:
        rd_kafka_topic_partition_list_destroy(l);
        floq_info("restore", "partition %d: %zu deployments, %zu runs from "
                             "%ld records in %lld ms",
                  (int)p, json_object_size(w->parts[p].deployments),
                  json_object_size(w->parts[p].runs), records,
                  (long long)(floq_mono_ms() - t0));
        return ret;
}
