/*
 * restore.c - rebuilding one partition's state from Kafka, Kafka Streams
 * style: partition p of the deployments, schedules and runs topics is read
 * from the beginning to its end with a read_committed consumer of its own
 * (assign() only, never a group member), each record applied in offset
 * order, tombstones removing keys, heartbeat records ("<run_id>:hb")
 * refreshing their run's heartbeat_at. On assignment the loop advances it
 * in bounded steps (worker_restore_tick(), one partition at a time, never
 * a wait on the broker inside a step): first the committed offset of the
 * commands partition, fetched stable (require_stable), then the state
 * partitions; no command of p is processed before it is complete
 * (worker.c). After an aborted transaction every owned partition is
 * restored again the same way (txn.c marks them restoring; the loop
 * drives the steps). A read_committed reader stops at the last stable offset, so
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

/* The longest the loop's poll waits while every restore waits on the
 * broker: short, so that a restore asks again soon after its time. */
#define WRESTORE_IDLE_MAX_MS 20

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

/* An outcome record with no cancelled runs, written with the current
 * schema, read without a decode (most of them: every deploy's); FLOQ_OK
 * when applied, else the caller decodes it. */
static floq_err_t outcome_fast(floq_worker_t *w, int32_t p,
                               const rd_kafka_message_t *m, const char *dep,
                               const char *id) {
        enum { F_STATUS, F_REASON, F_CANCELLED, F_AT, F_CNT };
        static const char *const names[F_CNT] = { "status", "reason",
                                                  "cancelled_runs", "at" };
        floq_codec_field_t f[F_CNT];
        char status[16], reason[1024];
        int current = 0;

        if (floq_codec_read_fields(w->codec, FLOQ_MSG_DEPLOYMENT_OUTCOME,
                                   m->payload, m->len, names, f, F_CNT,
                                   &current, NULL, 0) ||
            !current || !f[F_STATUS].str ||
            f[F_STATUS].str_len >= sizeof(status) ||
            (f[F_REASON].str && f[F_REASON].str_len >= sizeof(reason)) ||
            f[F_CANCELLED].len != 1) /* an empty array: one zero byte */
                return FLOQ_ERR_EXISTS;
        memcpy(status, f[F_STATUS].str, f[F_STATUS].str_len);
        status[f[F_STATUS].str_len] = '\0';
        if (f[F_REASON].str) {
                memcpy(reason, f[F_REASON].str, f[F_REASON].str_len);
                reason[f[F_REASON].str_len] = '\0';
        }
        return wout_put(&w->parts[p].outs, dep, id, status,
                        f[F_REASON].str ? reason : NULL, NULL, f[F_AT].num);
}

/* An outcome record ("<deployment>\n<command_id>", DeploymentOutcome) or
 * its tombstone, into the partition's replay memory. */
static void apply_outcome(floq_worker_t *w, int32_t p,
                          const rd_kafka_message_t *m, char *key) {
        /* the first newline within the key (a NUL before it ends the
         * name early: the key is still split where the newline is) */
        char *id = memchr(key, '\n', m->key_len), errstr[256];
        json_t *o = NULL;

        *id++ = '\0';
        if (!m->payload) {
                wout_del(&w->parts[p].outs, key, id);
                return;
        }
        if (!outcome_fast(w, p, m, key, id))
                return;
        if (floq_codec_decode(w->codec, FLOQ_MSG_DEPLOYMENT_OUTCOME,
                              m->payload, m->len, &o, errstr,
                              sizeof(errstr))) {
                floq_warn("restore", "%s [%d] offset %lld: %s, skipped",
                          rd_kafka_topic_name(m->rkt), (int)p,
                          (long long)m->offset, errstr);
                return;
        }
        if (wout_put(&w->parts[p].outs, key, id,
                     wjs(o, "status") ? wjs(o, "status") : "",
                     wjs(o, "reason"), json_object_get(o, "cancelled_runs"),
                     wji(o, "at", 0)))
                floq_warn("restore", "%s [%d] offset %lld: outcome of '%s' "
                                     "not kept",
                          rd_kafka_topic_name(m->rkt), (int)p,
                          (long long)m->offset, id);
        json_decref(o);
}

static void apply(floq_worker_t *w, int32_t p, int which,
                  const rd_kafka_message_t *m) {
        static const floq_msg_type_t types[R_CNT] = {
                FLOQ_MSG_DEPLOYMENT, FLOQ_MSG_SCHEDULE_SET,
                FLOQ_MSG_RUN_STATE
        };
        char key[512], errstr[256];
        json_t *msg = NULL;
        int fits, hb;

        if (!m->key || m->key_len == 0 || m->key_len >= sizeof(key)) {
                floq_warn("restore", "%s [%d] offset %lld: bad key, skipped",
                          rd_kafka_topic_name(m->rkt), (int)p,
                          (long long)m->offset);
                return;
        }
        memcpy(key, m->key, m->key_len);
        key[m->key_len] = '\0';
        /* no deployment name holds a newline: an outcome record */
        if (which == R_DEP && memchr(key, '\n', m->key_len)) {
                apply_outcome(w, p, m, key);
                return;
        }
        hb = which == R_RUNS && m->key_len > strlen(WRUN_HB_SUFFIX) &&
             !strcmp(key + m->key_len - strlen(WRUN_HB_SUFFIX),
                     WRUN_HB_SUFFIX);
        /* Kept from the record's own bytes, without a decode now (within
         * the decode's bound, w->codec's): a Deployment until it is first
         * used (most of a large restore is deployments no command of this
         * owner reads; its bytes are walked now), and a finished run read once
         * (most of a long history; state.c says which need a decode). */
        fits = m->payload && m->len <= w->max_message + 4096;
        if (which == R_DEP && fits &&
            !wpart_put_deployment_raw(&w->parts[p], key, m->payload, m->len))
                return;
        if (which == R_RUNS && fits && !hb &&
            !wpart_put_run_record(&w->parts[p], key, m->payload, m->len))
                return;
        if (m->payload && floq_codec_decode(w->codec, types[which],
                                            m->payload, m->len, &msg, errstr,
                                            sizeof(errstr))) {
                floq_warn("restore", "%s [%d] offset %lld: %s, skipped",
                          rd_kafka_topic_name(m->rkt), (int)p,
                          (long long)m->offset, errstr);
                return;
        }
        if (hb) {
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

/* A restore starts: partition @p p's state is dropped and rebuilt, the
 * commands partition's stable committed offset first. */
static void restore_start(floq_worker_t *w, wrestore_t *rs, int32_t p) {
        memset(rs, 0, sizeof(*rs));
        rs->p = p;
        rs->stage = WRS_OFFSETS;
        rs->t0 = floq_mono_ms();
        rs->deadline = rs->t0 + w->restore_timeout_ms;
        rs->committed = -1;
        wpart_clear(&w->parts[p]);
}

/* WRS_OFFSETS: the committed offset of commands partition p, from the
 * group coordinator. The consumer is read_committed, so librdkafka asks
 * with require_stable (KIP-447): while a previous owner's transaction
 * over the group's offsets is open the broker answers
 * UNSTABLE_OFFSET_COMMIT, and the state that transaction wrote must not
 * be read yet. One bounded ask per step; 1 when it is known. */
static int step_offsets(floq_worker_t *w, wrestore_t *rs, int ask_ms) {
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(1);
        rd_kafka_resp_err_t err;

        rd_kafka_topic_partition_list_add(l, w->t_commands, rs->p)->offset =
                RD_KAFKA_OFFSET_INVALID;
        err = rd_kafka_committed(w->consumer, l, ask_ms);
        if (!err)
                err = l->elems[0].err;
        if (!err) {
                rs->committed = l->elems[0].offset >= 0 ? l->elems[0].offset
                                                         : -1;
                if (rs->logged)
                        floq_notice("rebalance", "committed offsets stable "
                                                 "after %lld ms",
                                    (long long)(floq_mono_ms() - rs->t0));
                rs->logged = 0;
        } else if (!rs->logged++ ||
                   err != RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT) {
                floq_notice("rebalance", "committed offsets of '%s' [%d]: "
                                         "%s, asking again",
                            w->t_commands, (int)rs->p, rd_kafka_err2str(err));
        }
        rd_kafka_topic_partition_list_destroy(l);
        if (err) {
                /* Unstable: a condition on the broker. A call that timed
                 * out waited already (librdkafka retries an unstable
                 * answer inside it): ask again at the next step, so that
                 * the end of the transaction is seen within librdkafka's
                 * retry back-off; one answered at once, shortly. */
                rs->next_try = err == RD_KAFKA_RESP_ERR__TIMED_OUT
                                       ? 0
                                       : floq_mono_ms() + 100;
                return 0;
        }
        return 1;
}

/* WRS_STABLE, topic rs->topic: wait until its last stable offset has
 * reached the high watermark as it was at the first ask: every
 * transaction that wrote below it (a dead owner's, or one committed whose
 * markers are still pending) has ended, so a read_committed read up to
 * the end sees all it committed. Records written after the first ask are
 * not waited for: only this worker writes p's state now. The coordinator
 * aborts an abandoned transaction after its transaction.timeout.ms, which
 * bounds the wait in practice; worker.restore.timeout.ms bounds it for
 * sure. 1 when this topic is stable, 0 to ask again. */
static int step_stable(floq_worker_t *w, wrestore_t *rs, const char *topic,
                       int ask_ms) {
        int i = rs->topic;
        int64_t hw_lo;
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

        /* Right after topic creation or a leader change the broker
         * answers "not leader" for a while, and a dead leader does not
         * answer: asked again, with fresh metadata, at a later step (the
         * restore's deadline bounds it). */
        if (!rs->hw[i]) {
                err = floq_kafka_watermarks(w->restorer_hw, topic, rs->p,
                                            &hw_lo, &rs->hw[i], ask_ms);
                if (!err && !rs->hw[i])
                        rs->hw[i] = -1; /* empty: asked once */
                if (err)
                        rs->hw[i] = 0;
        }
        if (!err)
                err = floq_kafka_watermarks(w->restorer, topic, rs->p,
                                            &rs->lo[i], &rs->hi[i], ask_ms);
        if (err) {
                floq_debug("restore", "'%s' [%d]: %s, asking again", topic,
                           (int)rs->p, rd_kafka_err2str(err));
                refresh_leaders(rs->hw[i] ? w->restorer : w->restorer_hw,
                                topic);
                rs->next_try = floq_mono_ms() + 200;
                if (rs->next_try > rs->deadline)
                        floq_err("restore", "cannot read the end of '%s' "
                                            "[%d]: %s",
                                 topic, (int)rs->p, rd_kafka_err2str(err));
                return 0;
        }
        if (rs->hi[i] >= rs->hw[i]) {
                if (rs->logged)
                        floq_notice("restore", "'%s' [%d]: stable after "
                                               "%lld ms",
                                    topic, (int)rs->p,
                                    (long long)(floq_mono_ms() - rs->t0));
                rs->logged = 0;
                return 1;
        }
        if (!rs->logged++)
                floq_notice("restore", "'%s' [%d]: waiting for an open "
                                       "transaction (stable offset %lld, "
                                       "end %lld)",
                            topic, (int)rs->p, (long long)rs->hi[i],
                            (long long)rs->hw[i]);
        rs->next_try = floq_mono_ms() + 100;
        return 0;
}

/* WRS_READ: records of the restorer, for up to @p until (mono ms); 1 when
 * every state partition is read to its end. */
static int step_read(floq_worker_t *w, wrestore_t *rs,
                     const char *const *topics, int64_t until) {
        int i;

        while (rs->left > 0) {
                rd_kafka_message_t *m;
                int64_t now = floq_mono_ms();
                int which = -1;

                if (now >= until)
                        return 0;
                if (!(m = rd_kafka_consumer_poll(
                              w->restorer,
                              until - now > 100 ? 100 : (int)(until - now))))
                        continue;
                if (m->rkt)
                        for (i = 0; i < R_CNT; i++)
                                if (!strcmp(rd_kafka_topic_name(m->rkt),
                                            topics[i]))
                                        which = i;
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        if (which >= 0 && !rs->done[which]) {
                                rs->done[which] = 1;
                                rs->left--;
                        }
                } else if (m->err ==
                                   RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED &&
                           !m->rkt) {
                        /* the reader's placeholder group (never joined,
                         * nothing committed: see reader_new) needs no
                         * ACL; librdkafka still looks its coordinator up */
                        floq_debug("restore", "partition %d: %s", (int)rs->p,
                                   rd_kafka_message_errstr(m));
                } else if (m->err) {
                        floq_warn("restore", "partition %d: %s", (int)rs->p,
                                  rd_kafka_message_errstr(m));
                } else if (which >= 0 && !rs->done[which] &&
                           m->partition == rs->p) {
                        apply(w, rs->p, which, m);
                        rs->records++;
                        if (m->offset >= rs->hi[which] - 1) {
                                rs->done[which] = 1;
                                rs->left--;
                        }
                }
                rd_kafka_message_destroy(m);
        }
        return 1;
}

/* The restore log line (0162 reads it). */
static void restore_logged(floq_worker_t *w, const wrestore_t *rs) {
        floq_info("restore", "partition %d: %zu deployments, %zu runs from "
                             "%ld records in %lld ms",
                  (int)rs->p, wpart_deployment_count(&w->parts[rs->p]),
                  wpart_run_count(&w->parts[rs->p]), rs->records,
                  (long long)(floq_mono_ms() - rs->t0));
}

/* The restorer reads for one restore at a time (WRS_READ); the others
 * wait for it at the end of WRS_STABLE. */
static void reader_release(floq_worker_t *w, wrestore_t *rs) {
        if (rs->stage == WRS_READ && w->reading == rs->p) {
                rd_kafka_assign(w->restorer, NULL);
                w->reading = -1;
        }
}

/* Advance @p rs until it is done, it must wait for the broker
 * (rs->next_try), or @p until (mono ms) has come. FLOQ_OK also while it
 * goes on (rs->stage tells); an error ends it. */
static floq_err_t restore_step(floq_worker_t *w, wrestore_t *rs,
                               int64_t until, int ask_ms) {
        const char *topics[R_CNT] = { w->t_deployments, w->t_schedules,
                                      w->t_runs };
        rd_kafka_topic_partition_list_t *l;
        rd_kafka_resp_err_t err;
        int i;

        while (rs->stage != WRS_DONE) {
                int64_t now = floq_mono_ms();

                if (now > rs->deadline) {
                        floq_err("restore", "partition %d: not restored "
                                            "within %lld ms (%s)",
                                 (int)rs->p, (long long)w->restore_timeout_ms,
                                 rs->stage == WRS_OFFSETS
                                         ? "its committed offsets are not "
                                           "stable"
                                 : rs->stage == WRS_STABLE
                                         ? "a transaction is still open"
                                         : "reading");
                        return FLOQ_ERR_TIMED_OUT;
                }
                if (rs->next_try > now || now >= until)
                        return FLOQ_OK;
                switch (rs->stage) {
                case WRS_OFFSETS:
                        if (step_offsets(w, rs, ask_ms))
                                rs->stage = WRS_STABLE;
                        break;
                case WRS_STABLE:
                        if (rs->topic < R_CNT) {
                                if (!step_stable(w, rs, topics[rs->topic],
                                                 ask_ms))
                                        break;
                                if (++rs->topic < R_CNT)
                                        break;
                        }
                        if (w->reading >= 0 && w->reading != rs->p) {
                                /* Another restore is reading. */
                                rs->next_try = now + 20;
                                break;
                        }
                        l = rd_kafka_topic_partition_list_new(R_CNT);
                        for (i = 0; i < R_CNT; i++) {
                                if (rs->hi[i] <= rs->lo[i]) {
                                        rs->done[i] = 1;
                                        continue;
                                }
                                rd_kafka_topic_partition_list_add(
                                        l, topics[i], rs->p)
                                        ->offset = RD_KAFKA_OFFSET_BEGINNING;
                                rs->left++;
                        }
                        err = l->cnt ? rd_kafka_assign(w->restorer, l)
                                     : RD_KAFKA_RESP_ERR_NO_ERROR;
                        rd_kafka_topic_partition_list_destroy(l);
                        if (err) {
                                floq_err("restore", "cannot assign: %s",
                                         rd_kafka_err2str(err));
                                return FLOQ_ERR_KAFKA;
                        }
                        rs->stage = rs->left ? WRS_READ : WRS_DONE;
                        if (rs->left)
                                w->reading = rs->p;
                        break;
                case WRS_READ:
                        if (step_read(w, rs, topics, until)) {
                                reader_release(w, rs);
                                rs->stage = WRS_DONE;
                        }
                        break;
                case WRS_DONE:
                        break;
                }
        }
        restore_logged(w, rs);
        return FLOQ_OK;
}

void worker_restore_cancel(floq_worker_t *w, int32_t p) {
        wrestore_t *rs;

        if (p < 0 || p >= w->part_cnt || !w->restores)
                return;
        rs = &w->restores[p];
        if (rs->p == p) {
                floq_notice("restore", "partition %d: restore abandoned "
                                       "after %lld ms (no longer assigned)",
                            (int)p, (long long)(floq_mono_ms() - rs->t0));
                reader_release(w, rs);
                rs->p = -1;
        }
        wpart_clear(&w->parts[p]);
        w->parts[p].restoring = 0;
}

int32_t worker_restore_tick(floq_worker_t *w, int64_t budget_ms,
                            int64_t *committed) {
        int64_t now = floq_mono_ms(), soonest = now + WRESTORE_IDLE_MAX_MS;
        int64_t spent;
        wrestore_t *rs = NULL;
        floq_err_t err;
        int32_t p = -1, i;

        *committed = -1;
        /* Round robin over the partitions being restored, skipping those
         * that wait on the broker (an open transaction, an election): one
         * restore held for seconds holds no other (after an abort every
         * owned partition is restored again). The one reading goes first:
         * it holds the restorer. */
        if (w->reading >= 0 && w->parts[w->reading].restoring)
                p = w->reading;
        for (i = 0; p < 0 && i < w->part_cnt; i++) {
                int32_t q = (w->restore_next + i) % w->part_cnt;

                if (!w->parts[q].restoring)
                        continue;
                rs = &w->restores[q];
                if (rs->p != q)
                        restore_start(w, rs, q);
                if (rs->next_try > now && now <= rs->deadline) {
                        if (rs->next_try < soonest)
                                soonest = rs->next_try;
                        continue;
                }
                p = q;
        }
        if (p < 0) {
                /* each waits on the broker: the loop may wait until the
                 * soonest asks again instead of spinning */
                w->restore_idle_ms = (int)(soonest > now ? soonest - now : 1);
                return -1;
        }
        w->restore_idle_ms = 0;
        rs = &w->restores[p];
        if (rs->p != p)
                restore_start(w, rs, p);
        w->restore_next = (p + 1) % w->part_cnt;
        worker_busy_begin(w, "restore step");
        err = restore_step(w, rs, now + budget_ms, 500);
        worker_busy_end(w);
        /* The time this step read is not the others' (one reader): their
         * worker.restore.timeout.ms counts only their own waiting. */
        spent = floq_mono_ms() - now;
        for (i = 0; i < w->part_cnt; i++)
                if (i != p && w->restores[i].p == i)
                        w->restores[i].deadline += spent;
        if (err) {
                /* Serving it from half a state could run commands twice:
                 * stop, and let the supervisor restart us. */
                floq_err("rebalance", "partition %d: restore failed",
                         (int)p);
                w->fatal = FLOQ_ERR_KAFKA;
                reader_release(w, rs);
                rs->p = -1;
                return -1;
        }
        if (rs->stage != WRS_DONE)
                return -1;
        *committed = rs->committed;
        rs->p = -1;
        return p;
}
