/*
 * worker.c - floq-worker's clients and loop. One consumer in the fleet's
 * group (cooperative-sticky) reads the commands topic; one transactional
 * producer ("floq-" + worker id) writes everything; a third, group-less
 * consumer restores state. The loop polls in short slices so it stays far
 * inside max.poll.interval.ms whatever runs, handles up to
 * worker.batch.size commands, drains executor events, writes heartbeats and
 * takes over stale runs, and commits one transaction per batch or per
 * worker.commit.interval.ms. Partitions are paused while the executor's
 * queue is full and while draining. The rebalance callback restores state
 * on assignment and commits, hands runs over and drops state on
 * revocation. See docs/worker.md.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "worker_int.h"

#define WPOLL_SLICE_MS 50
/* The group timeouts the worker sets unless -X does (docs/worker.md). */
#define WSESSION_TIMEOUT_MS "10000"
#define WGROUP_HEARTBEAT_MS "1000"

static void watchdog_join(floq_worker_t *w);

const char *floq_worker_id(const floq_worker_t *w) { return w->id; }

void floq_worker_stop(floq_worker_t *w) {
        if (w)
                w->stop_requested = 1;
}

double worker_rand_unit(floq_worker_t *w) {
        uint64_t x = w->rng;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w->rng = x;
        return (double)(x >> 11) / (double)(UINT64_C(1) << 53) * 2.0 - 1.0;
}

floq_backend_t *worker_backend(floq_worker_t *w, const char *name) {
        size_t i;

        if (!name)
                return NULL;
        for (i = 0; i < w->backend_cnt; i++)
                if (!strcmp(w->backends[i]->ops->name, name))
                        return w->backends[i];
        return NULL;
}

/* ------------------------------------------------------------ intake */

void worker_update_intake(floq_worker_t *w) {
        rd_kafka_topic_partition_list_t *pause, *resume, *seek = NULL;
        int load = worker_runs_load(w);
        int32_t p;

        /* Queue up to worker.queue.max runs beyond the running attempts
         * (so stop and status commands still get through while the pool is
         * busy); stop taking commands past that, start again when the
         * queue is half gone. */
        if (w->draining || load >= w->concurrency + w->queue_max)
                w->intake_stopped = 1;
        else if (load < w->concurrency + w->queue_max / 2)
                w->intake_stopped = 0;

        pause = rd_kafka_topic_partition_list_new(4);
        resume = rd_kafka_topic_partition_list_new(4);
        for (p = 0; p < w->part_cnt; p++) {
                wpart_t *part = &w->parts[p];

                if (!part->owned)
                        continue;
                if (w->intake_stopped && !part->paused) {
                        rd_kafka_topic_partition_list_add(pause, w->t_commands,
                                                          p);
                        part->paused = 1;
                } else if (!w->intake_stopped && part->paused) {
                        rd_kafka_topic_partition_list_add(resume,
                                                          w->t_commands, p);
                        part->paused = 0;
                        if (part->skip_from >= 0) {
                                if (!seek)
                                        seek = rd_kafka_topic_partition_list_new(
                                                4);
                                rd_kafka_topic_partition_list_add(
                                        seek, w->t_commands, p)
                                        ->offset = part->skip_from;
                                part->skip_from = -1;
                        }
                }
        }
        if (pause->cnt) {
                floq_debug("intake", "pausing %d partition(s), load %d",
                           pause->cnt, load);
                rd_kafka_pause_partitions(w->consumer, pause);
        }
        if (resume->cnt) {
                floq_debug("intake", "resuming %d partition(s), load %d",
                           resume->cnt, load);
                rd_kafka_resume_partitions(w->consumer, resume);
        }
        if (seek) {
                rd_kafka_error_t *e =
                        rd_kafka_seek_partitions(w->consumer, seek, 10000);

                if (e) {
                        floq_warn("intake", "cannot seek back: %s",
                                  rd_kafka_error_string(e));
                        rd_kafka_error_destroy(e);
                }
                rd_kafka_topic_partition_list_destroy(seek);
        }
        rd_kafka_topic_partition_list_destroy(pause);
        rd_kafka_topic_partition_list_destroy(resume);
}

/* ------------------------------------------------------------ rebalance */

/* The committed offsets of the commands partitions in @p parts, into
 * their offset fields. The consumer is read_committed, so librdkafka asks
 * with require_stable (KIP-447): while a previous owner's transaction over
 * these offsets is open the broker answers UNSTABLE_OFFSET_COMMIT, and the
 * fetch is asked again until it is stable (the coordinator aborts an
 * abandoned transaction after its transaction.timeout.ms), bounded by
 * worker.restore.timeout.ms. Only then does the restore read the state
 * that transaction may have written. A partition without a committed
 * offset keeps RD_KAFKA_OFFSET_INVALID (auto.offset.reset applies). */
static floq_err_t fetch_stable_offsets(floq_worker_t *w,
                                       rd_kafka_topic_partition_list_t *parts) {
        int64_t t0 = floq_mono_ms(), deadline = t0 + w->restore_timeout_ms;
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(parts->cnt);
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
        floq_err_t ret = FLOQ_OK;
        int i, tries = 0;

        for (i = 0; i < parts->cnt; i++)
                if (!strcmp(parts->elems[i].topic, w->t_commands))
                        rd_kafka_topic_partition_list_add(
                                l, parts->elems[i].topic,
                                parts->elems[i].partition);
        while (l->cnt > 0) {
                int64_t left = deadline - floq_mono_ms();

                err = rd_kafka_committed(w->consumer, l,
                                         left < 100 ? 100
                                         : left > 5000 ? 5000 : (int)left);
                for (i = 0; !err && i < l->cnt; i++)
                        if (l->elems[i].err)
                                err = l->elems[i].err;
                tries++;
                if (!err)
                        break;
                if (floq_mono_ms() >= deadline) {
                        floq_err("rebalance", "committed offsets of '%s' "
                                              "not stable within %lld ms: "
                                              "%s",
                                 w->t_commands,
                                 (long long)w->restore_timeout_ms,
                                 rd_kafka_err2str(err));
                        ret = FLOQ_ERR_TIMED_OUT;
                        goto out;
                }
                if (tries == 1 || err != RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT)
                        floq_notice("rebalance", "committed offsets of '%s': "
                                                 "%s, asking again",
                                    w->t_commands, rd_kafka_err2str(err));
                /* Unstable: a previous owner's transaction is still open;
                 * ask again shortly (a condition on the broker). */
                rd_kafka_poll(w->restorer, 200);
        }
        for (i = 0; i < l->cnt; i++) {
                rd_kafka_topic_partition_t *rp = rd_kafka_topic_partition_list_find(
                        parts, l->elems[i].topic, l->elems[i].partition);

                if (rp && l->elems[i].offset >= 0)
                        rp->offset = l->elems[i].offset;
        }
        if (tries > 1)
                floq_notice("rebalance", "committed offsets stable after "
                                         "%lld ms",
                            (long long)(floq_mono_ms() - t0));
out:
        rd_kafka_topic_partition_list_destroy(l);
        return ret;
}

static void on_assign(floq_worker_t *w,
                      rd_kafka_topic_partition_list_t *parts) {
        int i;

        if (fetch_stable_offsets(w, parts)) {
                /* Restoring now could miss what the previous owner
                 * committed: stop, and let the supervisor restart us. */
                w->fatal = FLOQ_ERR_KAFKA;
        }
        for (i = 0; i < parts->cnt; i++) {
                int32_t p = parts->elems[i].partition;

                if (strcmp(parts->elems[i].topic, w->t_commands) || p < 0)
                        continue;
                if (p >= w->part_cnt) {
                        /* The topic grew: this worker's home partitions
                         * are stale (commands.c checks forwarded ones
                         * too). */
                        floq_err("rebalance", "partition %d of '%s' "
                                              "assigned, but it had %d at "
                                              "start: its partition count "
                                              "changed; stopping (restart "
                                              "to use the new count)",
                                 (int)p, w->t_commands, (int)w->part_cnt);
                        w->fatal = FLOQ_ERR_CONFIG;
                        continue;
                }
                if (!w->fatal && worker_restore_partition(w, p)) {
                        /* Serving it from half a state could run commands
                         * twice: stop, and let the supervisor restart us. */
                        floq_err("rebalance", "partition %d: restore failed",
                                 (int)p);
                        w->fatal = FLOQ_ERR_KAFKA;
                }
                w->parts[p].owned = 1;
                w->parts[p].paused = 0;
                w->parts[p].next_offset = -1;
                w->parts[p].skip_from = -1;
        }
        floq_notice("rebalance", "assigned %d partition(s)", parts->cnt);
}

static void on_revoke(floq_worker_t *w,
                      rd_kafka_topic_partition_list_t *parts, int lost) {
        unsigned char *which = calloc((size_t)w->part_cnt, 1);
        int i, any = 0;
        int32_t p;

        if (!which)
                return;
        for (i = 0; i < parts->cnt; i++) {
                p = parts->elems[i].partition;
                if (!strcmp(parts->elems[i].topic, w->t_commands) && p >= 0 &&
                    p < w->part_cnt && w->parts[p].owned) {
                        which[p] = 1;
                        any = 1;
                }
        }
        floq_notice("rebalance", "%s %d partition(s)",
                    lost ? "lost" : "revoked", parts->cnt);
        if (!any || w->fatal)
                goto drop;
        if (lost) {
                /* Someone else owns them already: nothing of ours may be
                 * written; the runs stop, the new owner takes over after the
                 * heartbeat timeout. */
                const char *k;
                json_t *v;

                wtxn_abort(w);
                for (p = 0; p < w->part_cnt; p++)
                        if (which[p])
                                json_object_foreach(w->parts[p].runs, k, v)
                                        floq_executor_stop(w->ex, k,
                                                           FLOQ_STOP_DRAIN);
                goto drop;
        }
        wtxn_commit(w);
        worker_runs_handover(w, which);
        wtxn_commit(w);
drop:
        for (p = 0; p < w->part_cnt; p++) {
                size_t j, k;

                if (!which[p])
                        continue;
                wpart_clear(&w->parts[p]);
                for (j = 0, k = 0; j < w->queue.cnt; j++) {
                        if (w->queue.items[j].partition == p)
                                json_object_del(w->inflight,
                                                w->queue.items[j].run_id);
                        else
                                w->queue.items[k++] = w->queue.items[j];
                }
                w->queue.cnt = k;
        }
        free(which);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts,
                         void *opaque) {
        floq_worker_t *w = opaque;
        int cooperative = !strcmp(rd_kafka_rebalance_protocol(rk),
                                  "COOPERATIVE");
        rd_kafka_error_t *e = NULL;

        /* Restores and handover waits: the loop's own work (timing.c). */
        worker_busy_begin(w, "rebalance");
        wmetrics_rebalance_begin(w, err);

        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                if (!w->fatal)
                        on_assign(w, parts);
                if (cooperative)
                        e = rd_kafka_incremental_assign(rk, parts);
                else
                        rd_kafka_assign(rk, parts);
                /* Partitions arrive unpaused: apply the intake state. */
                for (int i = 0; i < parts->cnt; i++)
                        if (parts->elems[i].partition < w->part_cnt)
                                w->parts[parts->elems[i].partition].paused = 0;
                if (w->intake_stopped)
                        worker_update_intake(w);
                w->next_scan = 0;
        } else {
                if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
                        on_revoke(w, parts, rd_kafka_assignment_lost(rk));
                else
                        floq_err("rebalance", "rebalance error: %s",
                                 rd_kafka_err2str(err));
                if (cooperative)
                        e = rd_kafka_incremental_unassign(rk, parts);
                else
                        rd_kafka_assign(rk, NULL);
        }
        if (e) {
                floq_err("rebalance", "cannot apply the assignment: %s",
                         rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
        }
        wmetrics_rebalance_end(w, err);
        worker_busy_end(w);
}

/* ------------------------------------------------------------ set-up */

static int conf_ms(const floq_conf_t *c, const char *name) {
        int64_t v = floq_conf_int(c, name);

        return v > INT32_MAX ? INT32_MAX : (int)v;
}

/* The producer's largest record, which the size budget derives from
 * (txn.c): set here rather than left to librdkafka's default, unless the
 * operator set it (-X message.max.bytes). Kafka's default broker and topic
 * limit (1048588 bytes for a batch) holds a record of this size. */
#define WORKER_PRODUCER_MAX_BYTES "1000000"

static int producer_max_bytes(rd_kafka_conf_t *kc, char *errstr,
                              size_t errstr_size) {
        rd_kafka_conf_t *dflt = rd_kafka_conf_new();
        char ours[32] = "", theirs[32] = "";
        size_t n1 = sizeof(ours), n2 = sizeof(theirs);
        int set;

        /* Left at librdkafka's default: not set by the operator. */
        set = !dflt ||
              rd_kafka_conf_get(kc, "message.max.bytes", ours, &n1) ||
              rd_kafka_conf_get(dflt, "message.max.bytes", theirs, &n2) ||
              strcmp(ours, theirs);
        if (dflt)
                rd_kafka_conf_destroy(dflt);
        if (set)
                return 0;
        return rd_kafka_conf_set(kc, "message.max.bytes",
                                 WORKER_PRODUCER_MAX_BYTES, errstr,
                                 errstr_size) != RD_KAFKA_CONF_OK;
}

rd_kafka_t *worker_producer_new(floq_worker_t *w, char *errstr,
                                size_t errstr_size) {
        rd_kafka_conf_t *kc;
        rd_kafka_t *rk;
        char buf[32];

        if (!(kc = floq_kafka_conf_new(w->conf, "producer", errstr,
                                       errstr_size)))
                return NULL;
        snprintf(buf, sizeof(buf), "%d",
                 conf_ms(w->conf, "worker.transaction.timeout.ms"));
        if (rd_kafka_conf_set(kc, "transactional.id", w->txn_id, errstr,
                              errstr_size) ||
            rd_kafka_conf_set(kc, "transaction.timeout.ms", buf, errstr,
                              errstr_size) ||
            producer_max_bytes(kc, errstr, errstr_size)) {
                rd_kafka_conf_destroy(kc);
                return NULL;
        }
        /* Refused records count against their command (txn.c). */
        rd_kafka_conf_set_dr_msg_cb(kc, wtxn_dr_cb);
        wmetrics_kafka_conf(w, kc);
        rd_kafka_conf_set_opaque(kc, w);
        if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errstr_size)))
                rd_kafka_conf_destroy(kc);
        return rk;
}

/* A dead worker's partitions stay idle for its session timeout, and
 * librdkafka's default is 45 s: ours are shorter (docs/worker.md,
 * "Clients"), unless the operator set them with -X. */
static floq_err_t consumer_timeouts(floq_worker_t *w, rd_kafka_conf_t *kc,
                                    char *errstr, size_t errstr_size) {
        /* name, librdkafka's default (left alone: not set by -X), ours */
        static const char *const ours[][3] = {
                { "session.timeout.ms", "45000", WSESSION_TIMEOUT_MS },
                { "heartbeat.interval.ms", "3000", WGROUP_HEARTBEAT_MS },
        };
        char buf[32];
        size_t i, n;

        for (i = 0; i < sizeof(ours) / sizeof(ours[0]); i++) {
                n = sizeof(buf);
                if (rd_kafka_conf_get(kc, ours[i][0], buf, &n) ==
                            RD_KAFKA_CONF_OK &&
                    strcmp(buf, ours[i][1]))
                        continue;
                if (rd_kafka_conf_set(kc, ours[i][0], ours[i][2], errstr,
                                      errstr_size))
                        return FLOQ_ERR_CONFIG;
        }
        n = sizeof(buf);
        if (rd_kafka_conf_get(kc, "session.timeout.ms", buf, &n) ==
            RD_KAFKA_CONF_OK)
                w->session_timeout_ms = strtoll(buf, NULL, 10);
        return FLOQ_OK;
}

floq_worker_t *floq_worker_new(const floq_conf_t *conf, char *errstr,
                               size_t errstr_size) {
        floq_worker_t *w = calloc(1, sizeof(*w));
        rd_kafka_conf_t *kc = NULL;
        char buf[256];
        size_t i, n;

        if (w)
                w->lock_fd = -1;
        if (!w || !(w->conf = floq_conf_dup(conf))) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                goto fail;
        }
        conf = w->conf;
        /* G2's margin, a stable identity, one worker per id on a host:
         * refused at start, before anything joins the group. */
        if (worker_timing_check(conf, errstr, errstr_size) ||
            worker_identity_init(conf, w->id, sizeof(w->id), errstr,
                                 errstr_size) ||
            (w->lock_fd = worker_identity_lock(conf, w->id, errstr,
                                               errstr_size)) < 0)
                goto fail;
        snprintf(w->txn_id, sizeof(w->txn_id), "floq-%s", w->id);

        w->t_commands = floq_conf_str(conf, "topic.commands");
        w->t_replies = floq_conf_str(conf, "topic.replies");
        w->t_deployments = floq_conf_str(conf, "topic.deployments");
        w->t_schedules = floq_conf_str(conf, "topic.schedules");
        w->t_runs = floq_conf_str(conf, "topic.runs");
        w->t_dlq = floq_conf_str(conf, "topic.dlq");
        w->t_lineage = floq_conf_str(conf, "topic.lineage");
        w->batch_size = (int)floq_conf_int(conf, "worker.batch.size");
        w->concurrency = (int)floq_conf_int(conf, "worker.concurrency");
        w->queue_max = (int)floq_conf_int(conf, "worker.queue.max");
        w->commit_interval_ms = floq_conf_int(conf, "worker.commit.interval.ms");
        w->hb_interval_ms = floq_conf_int(conf, "worker.heartbeat.interval.ms");
        w->hb_timeout_ms = floq_conf_int(conf, "worker.heartbeat.timeout.ms");
        w->drain_grace_ms = floq_conf_int(conf, "worker.drain.grace.ms");
        w->restore_timeout_ms = floq_conf_int(conf, "worker.restore.timeout.ms");
        w->kill_grace_ms = floq_conf_int(conf, "process.kill.grace.ms");
        w->max_message = (size_t)floq_conf_int(conf, "message.max.bytes");
        w->command_history = (int)floq_conf_int(conf, "worker.command.history");
        w->run_retention_ms = floq_conf_int(conf, "worker.run.retention.ms");
        w->url_template = floq_conf_str(conf, "worker.run.url.template");
        if (w->batch_size < 1)
                w->batch_size = 1;
        if (w->concurrency < 1)
                w->concurrency = 1;
        if (w->queue_max < 1)
                w->queue_max = 1;
        if (w->command_history < 1)
                w->command_history = 1;
        w->rng = (uint64_t)floq_now_ms() * 0x9E3779B97F4A7C15ULL ^
                 (uint64_t)getpid();
        if (!w->rng)
                w->rng = 1;
        w->inflight = json_object();
        w->topics_ok = json_object();
        w->metrics = wmetrics_new(conf);

        if (!(w->codec = floq_codec_new(w->max_message + 4096, errstr,
                                        errstr_size)))
                goto fail;
        /* G4: commands verified against these keys (sign.c). */
        w->require_sig = floq_conf_bool(conf, "security.require.signature");
        if (floq_conf_check_supported(conf, errstr, errstr_size) ||
            floq_keyring_from_conf(conf, &w->keys, errstr, errstr_size))
                goto fail;

        for (n = 0; floq_backends[n]; n++)
                ;
        w->backends = calloc(n ? n : 1, sizeof(*w->backends));
        for (i = 0; i < n; i++) {
                char why[512];
                floq_backend_t *be = floq_backends[i]->new_(conf, why,
                                                            sizeof(why));

                if (!be && floq_backends[i] == &floq_backend_process) {
                        /* The embedded backend refuses an unsafe job
                         * isolation (a job user that could read the
                         * worker's keys): so does the worker. */
                        floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                    "process backend: %s", why);
                        goto fail;
                }
                if (!be) {
                        floq_warn("worker", "backend '%s' not available: %s",
                                  floq_backends[i]->name, why);
                        continue;
                }
                w->backends[w->backend_cnt++] = be;
        }
        if (!(w->ex = floq_executor_new(w->concurrency, -1, errstr,
                                        errstr_size)))
                goto fail;

        if (!(w->producer = worker_producer_new(w, errstr, errstr_size)))
                goto fail;

        /* The group member. */
        if (!(kc = floq_kafka_conf_new(conf, "member", errstr, errstr_size)))
                goto fail;
        n = sizeof(buf);
        if (rd_kafka_conf_get(kc, "partition.assignment.strategy", buf, &n) !=
                    RD_KAFKA_CONF_OK ||
            !strcmp(buf, "range,roundrobin")) {
                /* Not set by the operator (-X): ours. */
                if (rd_kafka_conf_set(kc, "partition.assignment.strategy",
                                      "cooperative-sticky", errstr,
                                      errstr_size))
                        goto fail;
        }
        if (rd_kafka_conf_set(kc, "enable.auto.offset.store", "false", errstr,
                              errstr_size) ||
            consumer_timeouts(w, kc, errstr, errstr_size))
                goto fail;
        rd_kafka_conf_set_rebalance_cb(kc, rebalance_cb);
        wmetrics_kafka_conf(w, kc);
        rd_kafka_conf_set_opaque(kc, w);
        if (!(w->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr,
                                         errstr_size)))
                goto fail;
        kc = NULL;
        rd_kafka_poll_set_consumer(w->consumer);

        if (worker_restorer_new(w, errstr, errstr_size))
                goto fail;
        if (wmetrics_start(w, errstr, errstr_size))
                goto fail;
        return w;

fail:
        if (kc)
                rd_kafka_conf_destroy(kc);
        floq_worker_destroy(w);
        return NULL;
}

void floq_worker_destroy(floq_worker_t *w) {
        size_t i;
        int32_t p;

        if (!w)
                return;
        watchdog_join(w);
        if (w->consumer)
                rd_kafka_destroy(w->consumer);
        if (w->ex)
                floq_executor_destroy(w->ex);
        if (w->restorer) {
                rd_kafka_consumer_close(w->restorer);
                rd_kafka_destroy(w->restorer);
        }
        if (w->restorer_hw)
                rd_kafka_destroy(w->restorer_hw);
        if (w->producer) {
                rd_kafka_flush(w->producer, 5000);
                rd_kafka_destroy(w->producer);
        }
        for (i = 0; i < w->backend_cnt; i++)
                w->backends[i]->ops->destroy(w->backends[i]);
        free(w->backends);
        if (w->codec)
                floq_codec_destroy(w->codec);
        floq_keyring_destroy(w->keys);
        worker_schedules_destroy(w);
        for (p = 0; p < w->part_cnt; p++)
                wpart_release(&w->parts[p]);
        free(w->parts);
        wevlist_clear(&w->txn.events);
        free(w->txn.events.evs);
        free(w->txn.after);
        free(w->queue.items);
        json_decref(w->inflight);
        json_decref(w->topics_ok);
        floq_conf_destroy(w->conf);
        if (w->lock_fd >= 0)
                close(w->lock_fd); /* releases the id's lock */
        wmetrics_destroy(w->metrics);
        free(w);
}

/* Partition count of the commands topic, from the cluster. */
static floq_err_t commands_partitions(floq_worker_t *w) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(w->producer, w->t_commands,
                                                   NULL);
        int64_t deadline = floq_mono_ms() + 30000;
        rd_kafka_resp_err_t err;

        while (floq_mono_ms() < deadline) {
                err = rd_kafka_metadata(w->producer, 0, rkt, &md, 5000);
                if (!err && md->topic_cnt == 1 && !md->topics[0].err &&
                    md->topics[0].partition_cnt > 0) {
                        w->part_cnt = md->topics[0].partition_cnt;
                        rd_kafka_metadata_destroy(md);
                        break;
                }
                if (!err)
                        err = md->topic_cnt == 1 ? md->topics[0].err
                                                 : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
                if (md)
                        rd_kafka_metadata_destroy(md);
                md = NULL;
                floq_warn("worker", "waiting for topic '%s': %s",
                          w->t_commands, rd_kafka_err2str(err));
                usleep(500 * 1000);
        }
        rd_kafka_topic_destroy(rkt);
        if (w->part_cnt <= 0) {
                floq_err("worker", "topic '%s' is not available",
                         w->t_commands);
                return FLOQ_ERR_TRANSPORT;
        }
        return FLOQ_OK;
}

/* ------------------------------------------------------------ loop */

/* The self-fence check runs beside the loop: the loop may sit inside a
 * blocking librdkafka call for many seconds exactly when the broker cannot
 * be reached. */
static void *watchdog_main(void *arg) {
        floq_worker_t *w = arg;
        struct timespec ts = { 0, 100 * 1000 * 1000 };

        while (!atomic_load(&w->watchdog_stop)) {
                worker_runs_self_fence(w);
                nanosleep(&ts, NULL);
        }
        return NULL;
}

static void watchdog_join(floq_worker_t *w) {
        if (!w->watchdog_started)
                return;
        atomic_store(&w->watchdog_stop, 1);
        pthread_join(w->watchdog, NULL);
        w->watchdog_started = 0;
}

static void handle_message(floq_worker_t *w, rd_kafka_message_t *m) {
        int32_t p = m->partition;
        wpart_t *part;

        if (m->err) {
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        return;
                if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET &&
                    m->rkt && !strcmp(rd_kafka_topic_name(m->rkt),
                                      w->t_commands) &&
                    p >= 0 && p < w->part_cnt && w->parts[p].owned) {
                        /* auto.offset.reset=error: librdkafka had no
                         * usable committed offset (none, or the fetch
                         * answered UNSTABLE_OFFSET_COMMIT and 2.0.2 went on
                         * with INVALID, or out of range). The fetcher is
                         * stopped; the loop asks for the committed offset
                         * again (wtxn_position), never the beginning of a
                         * partition that has one. */
                        floq_warn("worker", "partition %d: %s: fetching its "
                                            "committed offset again",
                                  (int)p, rd_kafka_message_errstr(m));
                        w->parts[p].pos_retry_mono = floq_mono_ms();
                        return;
                }
                if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
                        char why[512];

                        rd_kafka_fatal_error(w->consumer, why, sizeof(why));
                        floq_err("worker", "consumer fatal error: %s", why);
                        w->fatal = FLOQ_ERR_KAFKA;
                        return;
                }
                if (m->err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED ||
                    m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
                        /* A missing ACL: retrying cannot help, and a worker
                         * left in the group without partitions would look
                         * healthy (docs/security.md, "Kafka ACLs per component"). */
                        floq_err("worker", "consumer: %s: the worker's "
                                           "principal lacks a Kafka ACL",
                                 rd_kafka_message_errstr(m));
                        w->fatal = FLOQ_ERR_UNAUTHORIZED;
                        return;
                }
                floq_warn("worker", "consumer: %s",
                          rd_kafka_message_errstr(m));
                return;
        }
        if (p < 0 || p >= w->part_cnt || !w->parts[p].owned)
                return;
        part = &w->parts[p];
        /* G1/G3: a command below the partition's committed offset was
         * answered in a committed transaction already; its re-delivery
         * (a consumer put back behind the committed offset) gets no second
         * reply. Only a new publish of the same command id is a repeat. */
        if (part->committed >= 0 && m->offset < part->committed) {
                floq_debug("worker", "partition %d offset %lld: below the "
                                     "committed offset %lld, skipped",
                           (int)p, (long long)m->offset,
                           (long long)part->committed);
                return;
        }
        /* Intake stopped: leave it for later (or the next owner), and
         * everything after it on this partition too. */
        if (part->paused || part->skip_from >= 0) {
                if (part->skip_from < 0)
                        part->skip_from = m->offset;
                return;
        }
        worker_handle_command(w, m);
}

static void drain_events(floq_worker_t *w) {
        floq_exec_event_t ev;

        memset(&ev, 0, sizeof(ev));
        while (floq_executor_next_event(w->ex, &ev, 0)) {
                worker_run_event(w, &ev);
                memset(&ev, 0, sizeof(ev));
        }
}

static int commit_due(floq_worker_t *w) {
        if (!w->txn.open)
                return 0;
        return w->txn.commands >= w->batch_size ||
               floq_mono_ms() - w->txn.opened_mono >= w->commit_interval_ms ||
               w->draining;
}

/* On a fatal error: the live attempts end before the worker's partitions
 * can go to another worker (never two live attempts of one run), bounded
 * as a handover is. Nothing is written for them: the next owner takes them
 * over after the heartbeat timeout. */
static void fatal_stop_attempts(floq_worker_t *w) {
        int64_t deadline = floq_mono_ms() + w->kill_grace_ms + 5000;
        int active = floq_executor_active(w->ex);
        floq_exec_event_t ev;

        if (active == 0)
                return;
        floq_warn("worker", "stopping %d live attempt(s)", active);
        floq_executor_stop_all(w->ex, FLOQ_STOP_DRAIN);
        /* An attempt counts until its last event is taken; the events are
         * dropped (nothing can be written any more). */
        while (floq_executor_active(w->ex) > 0 &&
               floq_mono_ms() < deadline) {
                memset(&ev, 0, sizeof(ev));
                if (floq_executor_next_event(w->ex, &ev, 100))
                        floq_exec_event_release(&ev);
        }
        if (floq_executor_active(w->ex) > 0)
                floq_err("worker", "%d attempt(s) still live after %lld ms",
                         floq_executor_active(w->ex),
                         (long long)(w->kill_grace_ms + 5000));
}

/* The last step of a drain: hand over what is left and commit. */
static void drain_finish(floq_worker_t *w) {
        unsigned char *all = calloc((size_t)w->part_cnt, 1);
        int32_t p;

        drain_events(w);
        wtxn_commit(w);
        if (all) {
                for (p = 0; p < w->part_cnt; p++)
                        all[p] = (unsigned char)w->parts[p].owned;
                worker_runs_handover(w, all);
                free(all);
        }
        wtxn_commit(w);
}

floq_err_t floq_worker_run(floq_worker_t *w) {
        rd_kafka_topic_partition_list_t *sub;
        rd_kafka_error_t *e;
        rd_kafka_resp_err_t err;
        floq_err_t err2;
        char errstr[512];
        int32_t p;

        if (floq_conf_bool(w->conf, "topic.create") &&
            (err2 = floq_kafka_ensure_topics(w->producer, w->conf, 30000,
                                             errstr, sizeof(errstr)))) {
                floq_err("worker", "cannot create topics: %s", errstr);
                /* A partition count that breaks co-partitioning is the
                 * operator's to fix; anything else may pass. */
                return err2 == FLOQ_ERR_CONFIG ? FLOQ_ERR_CONFIG
                                               : FLOQ_ERR_TRANSPORT;
        }
        w->progress_timeout_ms =
                floq_conf_int(w->conf, "worker.progress.timeout.ms");
        if (commands_partitions(w))
                return FLOQ_ERR_TRANSPORT;
        if (!(w->parts = calloc((size_t)w->part_cnt, sizeof(*w->parts))))
                return FLOQ_ERR_NOMEM;
        for (p = 0; p < w->part_cnt; p++)
                wpart_init(&w->parts[p]);

        if ((e = rd_kafka_init_transactions(w->producer, 60000))) {
                floq_err("worker", "cannot initialise transactions as '%s': "
                                   "%s",
                         w->txn_id, rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
                return FLOQ_ERR_KAFKA;
        }
        sub = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(sub, w->t_commands,
                                          RD_KAFKA_PARTITION_UA);
        err = rd_kafka_subscribe(w->consumer, sub);
        rd_kafka_topic_partition_list_destroy(sub);
        if (err) {
                floq_err("worker", "cannot subscribe to '%s': %s",
                         w->t_commands, rd_kafka_err2str(err));
                return FLOQ_ERR_KAFKA;
        }
        atomic_store(&w->last_commit_mono, floq_mono_ms());
        if (pthread_create(&w->watchdog, NULL, watchdog_main, w) == 0)
                w->watchdog_started = 1;
        else
                floq_warn("worker", "cannot start the watchdog thread");
        floq_notice("worker", "worker %s started: group '%s', topic '%s' "
                              "(%d partitions), concurrency %d",
                    w->id, floq_conf_str(w->conf, "group.id"), w->t_commands,
                    (int)w->part_cnt, w->concurrency);

        while (!w->fatal) {
                int n = 0;

                wmetrics_loop_pass(w);
                if (w->stop_requested && !w->draining) {
                        w->draining = 1;
                        wmetrics_stopping(w, FLOQ_OK);
                        w->drain_deadline = floq_mono_ms() + w->drain_grace_ms;
                        floq_notice("worker", "draining: intake stopped, %d "
                                              "run(s) get up to %lld ms",
                                    floq_executor_active(w->ex),
                                    (long long)w->drain_grace_ms);
                        worker_update_intake(w);
                }
                if (w->draining &&
                    (floq_executor_active(w->ex) == 0 ||
                     floq_mono_ms() >= w->drain_deadline))
                        break;

                while (n < w->batch_size && !w->fatal) {
                        rd_kafka_message_t *m = rd_kafka_consumer_poll(
                                w->consumer, n == 0 ? WPOLL_SLICE_MS : 0);

                        if (!m)
                                break;
                        handle_message(w, m);
                        rd_kafka_message_destroy(m);
                        n++;
                        if (worker_runs_load(w) >=
                            w->concurrency + w->queue_max)
                                break;
                }
                wtxn_position(w);
                drain_events(w);
                if (floq_executor_active(w->ex) == 0 && !w->txn.open)
                        atomic_store(&w->last_commit_mono, floq_mono_ms());
                worker_runs_tick(w, 0);
                worker_schedules_tick(w);
                /* A failed begin_transaction() left consumed commands
                 * unanswered: wtxn_commit() rewinds to read them again. */
                if (commit_due(w) ||
                    (!w->txn.open &&
                     (w->txn.after_cnt || w->txn.begin_failed)))
                        wtxn_commit(w);
                worker_runs_pump(w);
                worker_update_intake(w);
                rd_kafka_poll(w->producer, 0);
        }

        if (w->fatal) {
                wmetrics_stopping(w, w->fatal);
                watchdog_join(w);
                floq_err("worker", "stopping on a fatal error: %s%s",
                         floq_err2str(w->fatal),
                         w->fatal == FLOQ_ERR_FENCED
                                 ? " (another instance with the same "
                                   "worker id took over)"
                         : w->fatal == FLOQ_ERR_TIMED_OUT
                                 ? " (no progress: leaving the group so "
                                   "that another worker takes the "
                                   "partitions)"
                                 : "");
                fatal_stop_attempts(w);
                if (w->fatal == FLOQ_ERR_TIMED_OUT)
                        rd_kafka_consumer_close(w->consumer);
                return w->fatal;
        }
        drain_finish(w);
        watchdog_join(w);
        floq_notice("worker", "drained: leaving the group (%llu commands, "
                              "%llu commits, %llu aborts)",
                    (unsigned long long)w->n_commands,
                    (unsigned long long)w->n_commits,
                    (unsigned long long)w->n_aborts);
        rd_kafka_consumer_close(w->consumer);
        return w->fatal ? w->fatal : FLOQ_OK;
}
