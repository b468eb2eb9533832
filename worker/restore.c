/*
 * restore.c - rebuilding one partition's state from Kafka, Kafka Streams
 * style: partition p of the deployments, schedules and runs topics is read
 * from the beginning to its end with a read_committed consumer of its own
 * (assign() only, never a group member), each record applied in offset
 * order, tombstones removing keys, heartbeat records ("<run_id>:hb")
 * refreshing their run's heartbeat_at. Called on assignment, after the
 * committed offsets of the commands partition were fetched stable
 * (worker.c), before any command of p is processed, and after an aborted
 * transaction. A read_committed reader stops at the last stable offset, so
 * an open transaction of a previous owner (killed, or committed with its
 * markers not yet written) would hide what it wrote: the restore first
 * waits until the last stable offset of each partition has reached the
 * high watermark seen when it started (a second, read_uncommitted handle
 * reads that), i.e. until every such transaction is committed or aborted
 * by the coordinator, bounded by worker.restore.timeout.ms.
 */
#include <stdlib.h>
#include <string.h>

#include "worker_int.h"

/* One assign()-only reader; @p isolation: read_committed for the records,
 * read_uncommitted for the high watermark (a read_committed ListOffsets
 * answers the last stable offset instead). */
static rd_kafka_t *reader_new(floq_worker_t *w, const char *isolation,
                              char *errstr, size_t errstr_size) {
        floq_conf_t *c = floq_conf_dup(w->conf);
        rd_kafka_conf_t *kc = NULL;
        rd_kafka_t *rk = NULL;
        char gid[512];

        if (!c) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                return NULL;
        }
        /* Never a member of the fleet's group: a group id only because
         * librdkafka's assign() wants one; nothing is committed. */
        snprintf(gid, sizeof(gid), "%s.restore",
                 floq_conf_str(c, "group.id"));
        if (floq_conf_set(c, "group.id", gid, errstr, errstr_size) ||
            floq_conf_set(c, "group.instance.id", "", errstr, errstr_size))
                goto out;
        if (!(kc = floq_kafka_conf_new(c, "consumer", errstr, errstr_size)))
                goto out;
        if (rd_kafka_conf_set(kc, "enable.partition.eof", "true", errstr,
                              errstr_size) ||
            rd_kafka_conf_set(kc, "isolation.level", isolation, errstr,
                              errstr_size) ||
            rd_kafka_conf_set(kc, "fetch.wait.max.ms", "10", errstr,
                              errstr_size))
                goto out;
        if ((rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, errstr_size)))
                kc = NULL;
out:
        if (kc)
                rd_kafka_conf_destroy(kc);
        floq_conf_destroy(c);
        return rk;
}

floq_err_t worker_restorer_new(floq_worker_t *w, char *errstr,
                               size_t errstr_size) {
        if (!(w->restorer = reader_new(w, "read_committed", errstr,
                                       errstr_size)) ||
            !(w->restorer_hw = reader_new(w, "read_uncommitted", errstr,
                                          errstr_size)))
                return FLOQ_ERR_KAFKA;
        return FLOQ_OK;
}

enum { R_DEP, R_SCHED, R_RUNS, R_CNT };

/* Ask the cluster where @p topic's partitions lead now: the restorer is
 * idle between restores, so after a failover its metadata cache still
 * names the old leader (dead, or back but a follower answering "not
 * leader") and nothing refreshes it in time on its own. */
static void refresh_leaders(rd_kafka_t *rk, const char *topic) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        const struct rd_kafka_metadata *md = NULL;

        if (!rkt)
                return;
        if (!rd_kafka_metadata(rk, 0, rkt, &md, 2000) && md)
                rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
}

/* First offset and end of @p topic [@p p] as @p rk sees it (the last
 * stable offset for the restorer, the high watermark for restorer_hw).
 * Right after topic creation or a leader change the broker answers "not
 * leader" for a while, and a dead leader does not answer: retried with
 * fresh metadata until @p deadline. */
static rd_kafka_resp_err_t query_end(rd_kafka_t *rk, const char *topic,
                                     int32_t p,
                                     int64_t deadline, int64_t *lo,
                                     int64_t *end) {
        rd_kafka_resp_err_t err;

        while ((err = floq_kafka_watermarks(rk, topic, p, lo, end, 5000)) &&
               floq_mono_ms() + 200 < deadline) {
                floq_debug("restore", "'%s' [%d]: %s, retrying", topic,
                           (int)p, rd_kafka_err2str(err));
                refresh_leaders(rk, topic);
                rd_kafka_poll(rk, 200);
        }
        if (err)
                floq_err("restore", "cannot read the end of '%s' [%d]: %s",
                         topic, (int)p, rd_kafka_err2str(err));
        return err;
}

/* Wait until the last stable offset of @p topic [@p p] has reached the
 * high watermark as it is now: every transaction that wrote below it (a
 * dead owner's, or one committed whose markers are still pending) has
 * ended, so a read_committed read up to @p end sees all it committed.
 * Records written after the start are not waited for: only this worker
 * writes p's state now. The coordinator aborts an abandoned transaction
 * after its transaction.timeout.ms, which bounds the wait in practice;
 * worker.restore.timeout.ms (@p deadline) bounds it for sure. */
static floq_err_t wait_stable(floq_worker_t *w, const char *topic,
                              int32_t p, int64_t deadline, int64_t *lo,
                              int64_t *end) {
        int64_t hw, hw_lo, t0 = floq_mono_ms();
        int logged = 0;

        if (query_end(w->restorer_hw, topic, p, deadline, &hw_lo, &hw) ||
            query_end(w->restorer, topic, p, deadline, lo, end))
                return FLOQ_ERR_KAFKA;
        while (*end < hw) {
                if (!logged++)
                        floq_notice("restore", "'%s' [%d]: waiting for an "
                                               "open transaction (stable "
                                               "offset %lld, end %lld)",
                                    topic, (int)p, (long long)*end,
                                    (long long)hw);
                if (floq_mono_ms() > deadline) {
                        floq_err("restore", "'%s' [%d]: a transaction is "
                                            "still open after %lld ms "
                                            "(stable offset %lld, end %lld)",
                                 topic, (int)p,
                                 (long long)(floq_mono_ms() - t0),
                                 (long long)*end, (long long)hw);
                        return FLOQ_ERR_TIMED_OUT;
                }
                /* The condition is on the broker: ask again shortly. */
                rd_kafka_poll(w->restorer, 100);
                if (query_end(w->restorer, topic, p, deadline, lo, end))
                        return FLOQ_ERR_KAFKA;
        }
        if (logged)
                floq_notice("restore", "'%s' [%d]: stable after %lld ms",
                            topic, (int)p, (long long)(floq_mono_ms() - t0));
        return FLOQ_OK;
}

/* A heartbeat record ("<run_id>:hb", heartbeat_only): attempt `attempt`
 * of the run was alive on `worker` at `heartbeat_at`. Only that is taken
 * from it, and only into a run that is still at that attempt and not
 * finished; a record of the run's state written later carries its own
 * heartbeat_at and replaces all of it. */
static void apply_heartbeat(wpart_t *part, const char *run_id,
                            const json_t *hb) {
        json_t *rs = json_object_get(part->runs, run_id);
        int64_t at = wji(hb, "heartbeat_at", 0);

        if (!rs || wrun_status_terminal(wjs(rs, "status")) ||
            wji(rs, "attempt", 1) != wji(hb, "attempt", 1) ||
            at <= wji(rs, "heartbeat_at", 0))
                return;
        json_object_set_new(rs, "heartbeat_at", json_integer(at));
        if (wjs(hb, "worker"))
                json_object_set_new(rs, "worker",
                                    json_string(wjs(hb, "worker")));
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
        if (which == R_RUNS && m->key_len > strlen(WRUN_HB_SUFFIX) &&
            !strcmp(key + m->key_len - strlen(WRUN_HB_SUFFIX),
                    WRUN_HB_SUFFIX)) {
                key[m->key_len - strlen(WRUN_HB_SUFFIX)] = '\0';
                if (msg)
                        apply_heartbeat(&w->parts[p], key, msg);
                json_decref(msg);
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
                /* A finished run is kept for repeats and status: its
                 * outcome, not its params (see runs.c). */
                if (msg && wrun_status_terminal(wjs(msg, "status")))
                        json_object_del(msg, "params");
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
                if ((ret = wait_stable(w, topics[i], p, deadline, &lo[i],
                                       &hi[i])))
                        goto out;
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
