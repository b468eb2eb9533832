/*
 * worker.c - floq-worker's clients and loop. One consumer in the fleet's
 * group (cooperative-sticky) reads the commands topic; one transactional
 * producer ("floq-" + worker id) writes everything; a third, group-less
 * consumer restores state. The loop polls in short slices so it stays far
 * inside max.poll.interval.ms whatever runs, handles up to
 * worker.batch.size commands, drains executor events, writes heartbeats and
 * takes over stale runs, and commits one transaction per batch or per
 * worker.commit.interval.ms. Partitions are paused while the executor's
 * queue is full and while draining. The rebalance callback only records
 * an assignment (the new partitions paused, restored by the loop a step at
 * a time while the owned ones go on); on revocation it commits, records
 * the queued runs RETRYING and drops state, and on revocation or a lost
 * assignment it stops the live attempts, whose ends are then announced to
 * the next owner (runs.c): it never waits for them. A drain stops them
 * from the loop and leaves the group once their ends are committed. See
 * docs/worker.md.
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
static void drain_events(floq_worker_t *w);

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

                if (!part->owned || part->awaiting_pos)
                        continue;
                if (w->intake_stopped && !part->paused) {
                        rd_kafka_topic_partition_list_add(pause, w->t_commands,
                                                          p);
                        part->paused = 1;
                } else if (!w->intake_stopped && part->paused &&
                           !part->parked) {
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

/* Partitions assigned: recorded, nothing more. Each one is paused and
 * marked restoring; the loop restores them one by one
 * (worker_restore_tick(): the stable committed offset first, then the
 * state partitions up to their high watermark) while the partitions
 * already owned go on being consumed and committed. A partition becomes
 * owned only when its restore is complete and the consumer stands at its
 * committed offset, so no command of it is decided before (G1). The
 * callback never waits on the broker: a long restore can neither exceed
 * max.poll.interval.ms nor hold the other partitions' commits back. */
static void on_assign(floq_worker_t *w,
                      rd_kafka_topic_partition_list_t *parts) {
        int i;

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
                if (w->parts[p].owned || w->parts[p].restoring)
                        continue; /* an eager re-assign of what we hold */
                wpart_clear(&w->parts[p]);
                w->parts[p].restoring = 1;
                w->parts[p].awaiting_pos = 0;
                w->parts[p].paused = 1;
                w->parts[p].next_offset = -1;
                w->parts[p].skip_from = -1;
                w->parts[p].committed = -1;
                w->parts[p].pos_retry_mono = 0;
        }
        floq_notice("rebalance", "assigned %d partition(s)", parts->cnt);
}

/* The assigned partitions that are not owned yet, paused until their
 * restore is complete (a new assignment arrives unpaused). */
static void pause_restoring(floq_worker_t *w,
                            rd_kafka_topic_partition_list_t *parts) {
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(parts->cnt + 1);
        int i;

        for (i = 0; i < parts->cnt; i++) {
                int32_t p = parts->elems[i].partition;

                if (!strcmp(parts->elems[i].topic, w->t_commands) && p >= 0 &&
                    p < w->part_cnt && w->parts[p].restoring)
                        rd_kafka_topic_partition_list_add(l, w->t_commands, p);
        }
        if (l->cnt)
                rd_kafka_pause_partitions(w->consumer, l);
        rd_kafka_topic_partition_list_destroy(l);
}

/* Partition @p p's restore is complete (@p committed: its stable
 * committed offset, -1 none): the loop positions the consumer there
 * (wtxn_position(), which also absorbs librdkafka 2.0.2's seek time-out,
 * #4230) and only then resumes it (worker_update_intake()). */
static void restored(floq_worker_t *w, int32_t p, int64_t committed) {
        wpart_t *part = &w->parts[p];

        part->restoring = 0;
        part->rewound = 0;
        part->owned = 1;
        part->paused = 1;
        part->committed = committed;
        part->next_offset = -1;
        part->skip_from = -1;
        part->awaiting_pos = 1;
        part->pos_retry_mono = floq_mono_ms();
        /* The schedule timers were looked at while it was not owned yet
         * (and left empty): built now. */
        part->sched_gen++;
        w->next_scan = 0;
}

static int any_restoring(const floq_worker_t *w) {
        int32_t p;

        for (p = 0; w->parts && p < w->part_cnt; p++)
                if (w->parts[p].restoring || w->parts[p].awaiting_pos)
                        return 1;
        return 0;
}

/* /readyz says 503 while a partition is being restored. */
static void restoring_gauge(floq_worker_t *w) {
        if (w->metrics)
                atomic_store(&w->metrics->restoring, any_restoring(w));
}

/* The loop's share of the restores: a bounded step, then the partitions
 * whose restore completed are positioned and resumed. */
static void restore_tick(floq_worker_t *w) {
        int64_t committed;
        int32_t p;
        int i;

        /* Also while draining: a partition restoring again after an
         * abort holds live attempts to hand over. */
        for (i = 0; i < 4 && !w->fatal; i++) {
                int rewound;

                p = worker_restore_tick(w, WPOLL_SLICE_MS, &committed);
                if (p < 0)
                        break;
                rewound = w->parts[p].rewound;
                restored(w, p, committed);
                if (rewound) {
                        /* What the aborted transaction had applied, now
                         * that the state is back. */
                        worker_runs_rewound_done(w, p);
                        wtxn_restops_tick(w);
                }
        }
        wtxn_position(w);
        for (p = 0; p < w->part_cnt; p++)
                if (w->parts[p].awaiting_pos && !w->parts[p].pos_retry_mono) {
                        w->parts[p].awaiting_pos = 0;
                        floq_info("rebalance", "partition %d restored and "
                                               "positioned (committed "
                                               "offset %lld)",
                                  (int)p, (long long)w->parts[p].committed);
                }
        restoring_gauge(w);
}

/* A partition restoring again after an abort (txn.c) leaves: its
 * restore is abandoned, and its live attempts are this worker's, so they
 * are stopped and announced to the next owner (runs.c). */
static void rewound_gone(floq_worker_t *w, int32_t p) {
        worker_runs_rewound_gone(w, p);
        worker_restore_cancel(w, p);
        w->parts[p].rewound = 0;
        wtxn_restops_tick(w);
}

/*
 * Partitions revoked (or lost). Nothing here waits for another process
 * (issue 9, item 5): when this callback returns the partitions are given
 * up, so what must be in Kafka by then is written now (the open
 * transaction with the revoked partitions' offsets, the queued runs'
 * RETRYING), and the live attempts are stopped and, once ended, announced
 * to the next owner by a handover notice (runs.c), as after a lost
 * assignment. A drain does not come here with live attempts: it stops
 * them and records their ends in the loop before it leaves the group.
 */
static void on_revoke(floq_worker_t *w,
                      rd_kafka_topic_partition_list_t *parts, int lost) {
        unsigned char *which = calloc((size_t)w->part_cnt, 1);
        int i, any = 0;
        int32_t p;

        if (!which)
                return;
        for (i = 0; i < parts->cnt; i++) {
                p = parts->elems[i].partition;
                if (strcmp(parts->elems[i].topic, w->t_commands) || p < 0 ||
                    p >= w->part_cnt)
                        continue;
                if (w->parts[p].restoring) {
                        /* Its restore is abandoned: nothing of it was
                         * decided or written. */
                        if (w->parts[p].rewound)
                                rewound_gone(w, p);
                        else
                                worker_restore_cancel(w, p);
                        which[p] = 2; /* its queued runs dropped below */
                        continue;
                }
                if (w->parts[p].owned) {
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
                 * written. The attempts stop, and each is announced to the
                 * next owner once it has ended (a handover notice), so it
                 * is retried without consuming an attempt. */
                worker_runs_lost(w, which);
                wtxn_abort(w);
                goto drop;
        }
        drain_events(w);
        wtxn_commit(w);
        worker_runs_handover(w, which, 1);
        wtxn_commit(w);
        /* An abort in these commits put the partitions to restoring
         * again: they leave all the same. */
        for (p = 0; p < w->part_cnt; p++)
                if (which[p] == 1 && w->parts[p].restoring &&
                    w->parts[p].rewound)
                        rewound_gone(w, p);
drop:
        for (p = 0; p < w->part_cnt; p++) {
                size_t j, k;

                if (!which[p])
                        continue;
                wpart_clear(&w->parts[p]);
                w->parts[p].restoring = 0;
                w->parts[p].rewound = 0;
                w->parts[p].awaiting_pos = 0;
                w->parts[p].pos_retry_mono = 0;
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

/* librdkafka 2.0.2, upstream #4059: a commit made while a cooperative
 * rebalance is under way meets the new generation and loses the
 * assignment. floq commits offsets only through the transaction
 * (TxnOffsetCommit), whose generation error aborts the transaction
 * instead, but that abort costs a rewind and a restore of every owned
 * partition: from a cooperative revoke until the assignment that ends
 * that rebalance, no transaction is committed (bounded, so that the
 * heartbeats of live runs stay far inside the self-fence bound). */
static int64_t rebalance_hold_ms(const floq_worker_t *w) {
        int64_t b = w->hb_timeout_ms / 3;
        int64_t t = floq_conf_int(w->conf, "worker.transaction.timeout.ms") /
                    3;

        if (b > w->session_timeout_ms)
                b = w->session_timeout_ms;
        return b < t ? b : t;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts,
                         void *opaque) {
        floq_worker_t *w = opaque;
        int cooperative = !strcmp(rd_kafka_rebalance_protocol(rk),
                                  "COOPERATIVE");
        rd_kafka_error_t *e = NULL;

        /* Handover waits: the loop's own work (timing.c). */
        worker_busy_begin(w, "rebalance");
        wmetrics_rebalance_begin(w, err);

        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                w->rebalancing = 0;
                if (!w->fatal)
                        on_assign(w, parts);
                if (cooperative)
                        e = rd_kafka_incremental_assign(rk, parts);
                else
                        rd_kafka_assign(rk, parts);
                if (!e)
                        pause_restoring(w, parts);
        } else {
                if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
                        int lost = rd_kafka_assignment_lost(rk);

                        on_revoke(w, parts, lost);
                        if (cooperative && !lost) {
                                w->rebalancing = 1;
                                w->rebalancing_since = floq_mono_ms();
                        }
                } else {
                        floq_err("rebalance", "rebalance error: %s",
                                 rd_kafka_err2str(err));
                }
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
        restoring_gauge(w);
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
/* After a commit the coordinator still writes its markers, and the next
 * transaction's first AddPartitionsToTxn gets CONCURRENT_TRANSACTIONS;
 * librdkafka 2.0.2 retries it after retry.backoff.ms, 100 ms by default,
 * which bounded every single-reply command to one transaction per ~100 ms
 * (issue 13; the Java producer retries that case after 20 ms). */
#define WORKER_PRODUCER_RETRY_BACKOFF_MS "10"

/* Set @p name to @p ours unless the operator set it (-X): left at
 * librdkafka's default. @return 0, or 1 with errstr. */
static int producer_default(rd_kafka_conf_t *kc, const char *name,
                            const char *ours, char *errstr,
                            size_t errstr_size) {
        rd_kafka_conf_t *dflt = rd_kafka_conf_new();
        char cur[32] = "", theirs[32] = "";
        size_t n1 = sizeof(cur), n2 = sizeof(theirs);
        int set;

        /* Left at librdkafka's default: not set by the operator. */
        set = !dflt || rd_kafka_conf_get(kc, name, cur, &n1) ||
              rd_kafka_conf_get(dflt, name, theirs, &n2) ||
              strcmp(cur, theirs);
        if (dflt)
                rd_kafka_conf_destroy(dflt);
        if (set)
                return 0;
        return rd_kafka_conf_set(kc, name, ours, errstr, errstr_size) !=
               RD_KAFKA_CONF_OK;
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
            producer_default(kc, "message.max.bytes",
                             WORKER_PRODUCER_MAX_BYTES, errstr,
                             errstr_size) ||
            producer_default(kc, "retry.backoff.ms",
                             WORKER_PRODUCER_RETRY_BACKOFF_MS, errstr,
                             errstr_size)) {
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

/* An executor event is queued (any thread): end the loop's consumer poll
 * now rather than after its slice, so a finished run is written at once. */
static void wake_loop(void *opaque) {
        floq_worker_t *w = opaque;

        if (w->consumer_q)
                rd_kafka_queue_yield(w->consumer_q);
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
        w->outcomes_legacy = floq_conf_bool(conf, "worker.outcomes.legacy");
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
        w->orphans = json_object();
        w->rewound_live = json_object();
        w->reading = -1;
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
        w->consumer_q = rd_kafka_queue_get_consumer(w->consumer);
        floq_executor_set_notify(w->ex, wake_loop, w);

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
        /* before the consumer (its queue) and the backends (jobs) */
        worker_parked_release(w);
        if (w->ex)
                floq_executor_set_notify(w->ex, NULL, NULL);
        if (w->consumer_q)
                rd_kafka_queue_destroy(w->consumer_q);
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
        worker_runs_notices_close(w);
        for (i = 0; i < w->backend_cnt; i++)
                w->backends[i]->ops->destroy(w->backends[i]);
        free(w->backends);
        if (w->codec)
                floq_codec_destroy(w->codec);
        floq_keyring_destroy(w->keys);
        worker_schedules_destroy(w);
        for (p = 0; p < w->part_cnt; p++)
                wpart_release(&w->parts[p]);
        if (w->part_codec)
                floq_codec_destroy(w->part_codec);
        free(w->parts);
        free(w->restores);
        wevlist_clear(&w->txn.events);
        free(w->txn.events.evs);
        wevlist_clear(&w->replay);
        free(w->replay.evs);
        free(w->restops);
        json_decref(w->rewound_live);
        free(w->txn.after);
        free(w->queue.items);
        json_decref(w->inflight);
        json_decref(w->topics_ok);
        json_decref(w->orphans);
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
                    p >= 0 && p < w->part_cnt &&
                    (w->parts[p].restoring || w->parts[p].awaiting_pos)) {
                        /* Positioned at its committed offset once its
                         * restore is complete (restore_tick()). */
                        floq_debug("worker", "partition %d: %s (being "
                                             "restored)",
                                   (int)p, rd_kafka_message_errstr(m));
                        return;
                }
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
        /* A partition being restored (not owned yet) or not yet back at
         * its committed offset: its messages wait; the consumer is put at
         * the committed offset before any is decided. */
        if (p < 0 || p >= w->part_cnt || !w->parts[p].owned ||
            w->parts[p].awaiting_pos)
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
        if (worker_runs_is_notice(m)) {
                /* A handover notice of a worker that lost p: not a
                 * command, never answered; consumed in the transaction. */
                if (wtxn_begin(w))
                        return;
                worker_runs_notice(w, p, m);
                part->next_offset = m->offset + 1;
                w->txn.commands++;
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
        if (w->rebalancing && !w->draining) {
                int64_t now = floq_mono_ms();

                /* Bounded from the revoke and from the transaction's
                 * start: it must commit long before its own
                 * transaction.timeout.ms. */
                if (now - w->rebalancing_since < rebalance_hold_ms(w) &&
                    now - w->txn.opened_mono < rebalance_hold_ms(w))
                        return 0;
                floq_info("rebalance", "no assignment %lld ms after a "
                                       "revoke: committing again",
                          (long long)rebalance_hold_ms(w));
                w->rebalancing = 0;
        }
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

static int any_rewound(const floq_worker_t *w) {
        int32_t p;

        for (p = 0; p < w->part_cnt; p++)
                if (w->parts[p].restoring && w->parts[p].rewound)
                        return 1;
        return 0;
}

/* The drain's grace is over (or nothing is live): every attempt is
 * stopped and the queued runs are recorded RETRYING. The loop then goes
 * on (heartbeats, events, commits of every partition) while the stopped
 * attempts end, each end recorded RETRYING (same attempt) as it comes,
 * and the worker leaves the group only after that (drain_finish()):
 * no wait for another process on the loop, and the partitions are kept
 * until their handovers are committed. */
static void drain_handover_begin(floq_worker_t *w) {
        unsigned char *all = calloc((size_t)w->part_cnt, 1);
        int32_t p;

        drain_events(w);
        if (all) {
                for (p = 0; p < w->part_cnt; p++)
                        all[p] = (unsigned char)w->parts[p].owned;
                worker_runs_handover(w, all, 0);
                free(all);
        }
        /* Attempts of partitions restoring after an abort too: their
         * ends wait for the restore (worker_run_event()). */
        floq_executor_stop_all(w->ex, FLOQ_STOP_DRAIN);
        w->handing_over = 1;
        /* The process backend needs its kill grace at most; the margin
         * covers the executor's own polling. */
        w->handover_deadline = floq_mono_ms() + w->kill_grace_ms + 5000;
}

/* 1 when the drain's handover is complete or out of time. */
static int drain_handover_done(floq_worker_t *w) {
        return (floq_executor_active(w->ex) == 0 && !any_rewound(w)) ||
               floq_mono_ms() >= w->handover_deadline;
}

/* The last step of a drain: commit what the handover recorded; attempts
 * still live are left RUNNING for the heartbeat timeout to settle. */
static void drain_finish(floq_worker_t *w) {
        drain_events(w);
        if (floq_executor_active(w->ex) > 0)
                floq_err("run", "%d attempt(s) did not stop within %lld ms; "
                                "the next owner takes them over after the "
                                "heartbeat timeout",
                         floq_executor_active(w->ex),
                         (long long)(w->kill_grace_ms + 5000));
        wtxn_commit(w);
}

floq_err_t floq_worker_run(floq_worker_t *w) {
        rd_kafka_topic_partition_list_t *sub;
        rd_kafka_error_t *e;
        rd_kafka_resp_err_t err;
        floq_err_t err2;
        char errstr[512];
        size_t nparts;
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
        if (commands_partitions(w) || w->part_cnt <= 0)
                return FLOQ_ERR_TRANSPORT;
        nparts = (size_t)w->part_cnt;
        if (!(w->parts = calloc(nparts, sizeof(*w->parts))))
                return FLOQ_ERR_NOMEM;
        /* NULL (out of memory): finished runs stay objects */
        w->part_codec = floq_codec_new(WPART_CODEC_MAX, NULL, 0);
        for (p = 0; p < w->part_cnt; p++)
                wpart_init_shared(&w->parts[p], w->part_codec);
        /* (w->part_cnt read before the loop's stores through w->parts) */
        if (!(w->restores = calloc(nparts, sizeof(*w->restores))))
                return FLOQ_ERR_NOMEM;
        for (p = 0; p < w->part_cnt; p++)
                w->restores[p].p = -1;

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
                if (w->draining && !w->handing_over &&
                    (floq_executor_active(w->ex) == 0 ||
                     floq_mono_ms() >= w->drain_deadline))
                        drain_handover_begin(w);
                if (w->handing_over && drain_handover_done(w))
                        break;

                while (n < w->batch_size && !w->fatal) {
                        /* A restore under way gets the time the poll
                         * would wait. */
                        rd_kafka_message_t *m = rd_kafka_consumer_poll(
                                w->consumer,
                                n > 0 ? 0
                                : !any_restoring(w) ? WPOLL_SLICE_MS
                                                    : w->restore_idle_ms);

                        if (!m)
                                break;
                        handle_message(w, m);
                        rd_kafka_message_destroy(m);
                        n++;
                        if (worker_runs_load(w) >=
                            w->concurrency + w->queue_max)
                                break;
                }
                restore_tick(w);
                worker_parked_tick(w);
                drain_events(w);
                worker_runs_orphans_tick(w);
                if (floq_executor_active(w->ex) == 0 && !w->txn.open)
                        atomic_store(&w->last_commit_mono, floq_mono_ms());
                worker_runs_tick(w, 0);
                worker_schedules_tick(w);
                worker_outcomes_tick(w);
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
