/*
 * worker_int.h - the private model of floq-worker shared by its files:
 * worker.c (clients, loop, rebalance, drain), state.c (per-partition state
 * and the pure rules: retry backoff, run URL, home partition, command
 * checks), restore.c (rebuilding a partition's state from the compacted
 * topics), txn.c (the transaction that carries each step's records and
 * offsets), commands.c (one function per command) and runs.c (a run's life:
 * submit, executor events, heartbeats, takeover, retries, drain).
 *
 * Threading: everything here runs on the worker's one loop thread, except
 * worker_runs_self_fence(), which the watchdog thread calls (it touches
 * only atomics and the executor's locked calls); the executor's threads
 * only meet the loop through floq_executor_next_event().
 */
#ifndef FLOQ_WORKER_INT_H
#define FLOQ_WORKER_INT_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "floq_common.h"
#include "floq_schemas.h"
#include "floq_worker.h"
#include "executor.h"
#include "backends/backend.h"
#include "schedules.h"

/* ------------------------------------------------------------- state */

/** State of one partition of the co-partitioned topic set. */
typedef struct wpart_s {
        int owned;            /**< assigned to this worker and restored */
        json_t *deployments;  /**< name -> Deployment */
        json_t *schedules;    /**< name -> ScheduleSet */
        json_t *runs;         /**< run_id -> RunState */
        json_t *idem;         /**< "deployment\n key" -> run_id */
        json_t *cmds;         /**< run command_id -> run_id */
        json_t *sched_active; /**< "deployment\n schedule_id" -> object of
                               *   the run ids of its non-terminal runs */
        json_t *sched_last;   /**< "deployment\n schedule_id" -> run id of
                               *   its latest run (by scheduled_for) */
        int64_t next_offset;  /**< next commands offset to commit, -1 none */
        int64_t skip_from;    /**< first offset left unprocessed while
                               *   intake was stopped, -1 none */
        int paused;           /**< rd_kafka_pause_partitions() in force */
        int64_t committed;    /**< the group's committed offset as last
                               *   fetched or committed by us, -1 unknown
                               *   (G1: every transaction carries an offset
                               *   for every owned partition) */
        int64_t pos_retry_mono; /**< mono ms: fetch the committed offset
                                 *   again and re-position, 0 none */
        unsigned sched_gen;   /**< bumped when schedules change (the
                               *   schedule timers rebuild) */
        json_t *seen;         /**< run_id -> [signature, mono ms, mine]:
                               *   the takeover clock (timing.c); cleared
                               *   with the partition, so after a restore
                               *   it starts at the restore */
} wpart_t;

void wpart_init(wpart_t *part);
/** Drop every record; the struct stays usable (owned is cleared). */
void wpart_clear(wpart_t *part);
void wpart_release(wpart_t *part);

/** Apply a Deployment record (NULL: tombstone); takes a reference. */
void wpart_put_deployment(wpart_t *part, const char *name, json_t *dep);
/** Apply a ScheduleSet record (NULL: tombstone); takes a reference. */
void wpart_put_schedules(wpart_t *part, const char *name, json_t *set);
/**
 * Apply a RunState record (NULL: tombstone) and keep the idempotency and
 * command indexes in step; takes a reference.
 */
void wpart_put_run(wpart_t *part, const char *run_id, json_t *rs);

/** Run id that @p idempotency_key of @p deployment already started, or
 *  NULL. Borrowed. */
const char *wpart_find_idem(const wpart_t *part, const char *deployment,
                            const char *idempotency_key);
/** Run id created by run command @p command_id, or NULL. Borrowed. */
const char *wpart_find_cmd(const wpart_t *part, const char *command_id);
/**
 * The runs of schedule @p schedule_id of @p deployment, from the index
 * wpart_put_run() keeps (no scan of the partition's runs): *activep gets
 * the object of the run ids of its non-terminal runs (borrowed, NULL when
 * none), and the return value is its latest RunState by scheduled_for
 * (borrowed, NULL when none is kept).
 */
const json_t *wpart_schedule_runs(const wpart_t *part, const char *deployment,
                                  const char *schedule_id,
                                  const json_t **activep);

/** 1 when @p status is one of SUCCEEDED/FAILED/CANCELLED/TIMED_OUT/LOST. */
int wrun_status_terminal(const char *status);

/** Home partition of @p deployment among @p partition_cnt (murmur2). */
int32_t whome_partition(const char *deployment, int32_t partition_cnt);

/**
 * Delay before attempt @p failed_attempt + 1 of a run whose deployment has
 * retry policy @p retry (Deployment.retry, may be NULL or JSON null):
 * backoff_ms * multiplier^(failed_attempt-1), capped at max_backoff_ms,
 * then scaled by (1 + jitter * @p u), @p u uniform in [-1, 1].
 */
int64_t wretry_delay_ms(const json_t *retry, int failed_attempt, double u);
/** max_attempts of @p retry (1 when none). */
int wretry_max_attempts(const json_t *retry);

/**
 * Expand @p tmpl: {run_id} and {deployment} (percent-encoded) replaced.
 * @return malloc()ed text, NULL on ENOMEM.
 */
char *wurl_expand(const char *tmpl, const char *run_id,
                  const char *deployment);

/** Command kinds, from the body union's branch. */
typedef enum wcmd_kind_e {
        WCMD_UNKNOWN,
        WCMD_DEPLOY,
        WCMD_RUN,
        WCMD_STOP,
        WCMD_SCHEDULE,
        WCMD_UNSCHEDULE,
        WCMD_STATUS,
        WCMD_VALIDATE,
} wcmd_kind_t;

/** Kind of decoded Command @p cmd; *bodyp gets the body record (borrowed). */
wcmd_kind_t wcmd_kind(const json_t *cmd, json_t **bodyp);

/**
 * Envelope checks every command passes before it is executed: command_id
 * and deployment present and bounded, not expired at @p now_ms, and, with
 * @p retention_ms > 0 (worker.run.retention.ms), not issued longer ago
 * than that: its run may have been removed, and running it again could
 * break G3.
 * @return FLOQ_OK, FLOQ_ERR_EXPIRED or FLOQ_ERR_INVALID_ARG with the reason.
 */
floq_err_t wcmd_check(const json_t *cmd, int64_t now_ms, int64_t retention_ms,
                      char *reason, size_t reason_size);

/**
 * Replays (docs/security.md): a command with a valid signature must carry
 * an expires_at no more than @p max_lifetime_ms
 * (security.command.max.lifetime.ms) after @p now_ms, so that remembering
 * its id for that long (worker_recent_add()) makes a captured copy
 * useless. @return FLOQ_OK or FLOQ_ERR_REJECTED with the reason.
 */
floq_err_t wcmd_check_lifetime(const json_t *cmd, int64_t now_ms,
                               int64_t max_lifetime_ms, char *reason,
                               size_t reason_size);

/** 1 when @p topic is a legal Kafka topic name (1..249 of A-Z a-z 0-9 . _
 *  -, not "." or ".."). */
int wtopic_name_ok(const char *topic);

/**
 * May a command's reply_to name @p topic? @p default_topic (topic.replies)
 * always; the @p never_cnt names in @p never (the commands, state, DLQ and
 * lineage topics) and any name starting with '_' (Kafka's internal topics)
 * never; else only when it matches an entry of @p allowed
 * (worker.reply.topics.allowed: comma-separated names and fnmatch globs).
 * @return FLOQ_OK, FLOQ_ERR_INVALID_ARG (not a topic name) or
 *         FLOQ_ERR_UNAUTHORIZED, with the reason.
 */
floq_err_t wreply_topic_check(const char *topic, const char *default_topic,
                              const char *const *never, size_t never_cnt,
                              const char *allowed, char *reason,
                              size_t reason_size);

/** String member @p key of @p obj, NULL when missing or not a string. */
const char *wjs(const json_t *obj, const char *key);
/** Integer member, @p def when missing or null. */
int64_t wji(const json_t *obj, const char *key, int64_t def);

/* ------------------------------------------------------------ worker */

/** What to do once the open transaction has committed. */
typedef enum wafter_op_e {
        WAFTER_SUBMIT, /**< queue the run for the executor */
        WAFTER_STOP,   /**< stop the live attempt (CANCEL) */
} wafter_op_t;

typedef struct wafter_s {
        wafter_op_t op;
        int32_t partition;
        char run_id[37];
} wafter_t;

/** Events applied in the open transaction, kept to be re-applied if it
 *  aborts (the executor will not send them again). */
typedef struct wevlist_s {
        floq_exec_event_t *evs;
        size_t cnt, size;
} wevlist_t;

typedef struct wtxn_s {
        int open;             /**< begin_transaction() done */
        int64_t opened_mono;  /**< when it was opened */
        int records;          /**< records produced in it */
        int commands;         /**< commands consumed in it */
        int failed;           /**< a produce failed: it must abort */
        int begin_failed;     /**< begin_transaction() failed: what was
                               *   consumed meanwhile must be read again */
        wafter_t *after;      /**< after-commit actions */
        size_t after_cnt, after_size;
        wevlist_t events;     /**< executor events applied in it */
} wtxn_t;

/** A command whose records could not be written: counted per aborted
 *  transaction; past WTXN_POISON_TRIES it is dead-lettered by reference
 *  (txn.c, "Size budget" in docs/worker.md). */
typedef struct wpoison_s {
        int32_t partition;   /**< commands partition, -1: free slot */
        int64_t offset;      /**< the command's offset */
        int failures;        /**< transactions it made fail */
        uint64_t txn_seq;    /**< the last one counted */
        char why[256];       /**< the last reason */
} wpoison_t;

#define WPOISON_SLOTS 16

/** Pending submissions: committed runs waiting for an executor slot. */
typedef struct wqueue_s {
        wafter_t *items;
        size_t cnt, size;
} wqueue_t;

struct floq_worker_s {
        floq_conf_t *conf;
        char id[200];         /**< worker id */
        char txn_id[256];     /**< transactional.id */
        int lock_fd;          /**< holds the id's lock file (identity.c) */

        const char *t_commands, *t_replies, *t_deployments, *t_schedules,
                *t_runs, *t_dlq, *t_lineage;

        rd_kafka_t *consumer;  /**< group member on topic.commands */
        rd_kafka_t *producer;  /**< transactional */
        rd_kafka_t *restorer;  /**< assign()-only read_committed reader */
        rd_kafka_t *restorer_hw; /**< read_uncommitted: high watermarks */

        floq_codec_t *codec;
        floq_keyring_t *keys;  /**< security.hmac.keys.file; NULL: none */
        int require_sig;       /**< security.require.signature */
        floq_executor_t *ex;
        floq_backend_t **backends;
        size_t backend_cnt;

        int32_t part_cnt;
        wpart_t *parts;
        int64_t fwd_check_mono; /**< when the commands topic's partition
                                 *   count was last asked (commands.c) */
        int fwd_check_cnt;      /**< what it was, -1 unknown */

        wtxn_t txn;
        wqueue_t queue;        /**< committed runs waiting for a slot */
        json_t *inflight;      /**< run_id -> true: queued or to be queued */
        json_t *topics_ok;     /**< reply_to topics known to exist */

        int intake_stopped;    /**< partitions paused (full or draining) */
        volatile sig_atomic_t stop_requested;
        int draining;
        int64_t drain_deadline;   /**< mono ms: grace ends */
        int64_t next_heartbeat;   /**< mono ms */
        int64_t next_scan;        /**< mono ms */
        floq_err_t fatal;         /**< set when the loop must end */
        _Atomic int64_t last_commit_mono; /**< last successful commit, or
                                           *   now while nothing is live */
        _Atomic int self_fenced;  /**< live attempts stopped: no commit
                                   *   for too long */
        _Atomic int watchdog_stop;
        _Atomic int64_t busy_since_mono; /**< the loop entered its own
                                          *   blocking work; 0: not */
        _Atomic int64_t busy_credit;     /**< busy time credited since
                                          *   the last commit */
        _Atomic int64_t busy_credit_lc;  /**< last_commit_mono after it */
        int busy_depth;           /**< nesting of worker_busy_begin() */
        const char *busy_what;    /**< what the loop is busy with */
        pthread_t watchdog;       /**< runs worker_runs_self_fence() */
        int watchdog_started;
        int64_t last_fenced_mono; /**< when the producer was last fenced */
        int producer_broken;      /**< fatal producer error, not fenced:
                                   *   replace the producer */
        uint64_t rng;             /**< xorshift state for jitter */
        struct wsched_s *sched;   /**< schedule timers (schedules.c) */

        /* config, read once */
        int batch_size;
        int concurrency;
        int queue_max;
        int64_t commit_interval_ms, hb_interval_ms, hb_timeout_ms,
                drain_grace_ms, restore_timeout_ms, kill_grace_ms,
                session_timeout_ms; /**< the consumer's: busy credit cap */
        size_t max_message;
        int command_history;
        int64_t run_retention_ms; /**< 0: finished runs are kept */
        const char *url_template;

        /* the size budget (txn.c): records are built to fit it */
        size_t record_max;     /**< the producer's message.max.bytes */
        size_t budget;         /**< largest key + value + headers of one
                                *   record; 0: not read yet */
        int src_active;        /**< a command is being handled: */
        int32_t src_partition; /**< its partition */
        int64_t src_offset;    /**< and offset */
        wpoison_t poison[WPOISON_SLOTS];
        unsigned poison_next;  /**< next slot to reuse */

        /* counters for logs and tests */
        uint64_t n_commands, n_commits, n_aborts;
        int abort_streak; /**< aborts since the last commit (backoff) */
        int64_t progress_timeout_ms; /**< worker.progress.timeout.ms */
        int64_t stuck_since;  /**< mono ms of the first transactional
                               *   failure since the last commit, 0 none */
        int64_t pos_backoff_ms; /**< committed-offset fetch retry delay */
        struct wmetrics_s *metrics; /**< counters for /metrics (metrics.c) */
};

/* worker.c */
/** A new transactional producer for this worker (not initialised). */
rd_kafka_t *worker_producer_new(floq_worker_t *w, char *errstr,
                                size_t errstr_size);
/** Uniform double in [-1, 1] from the worker's generator. */
double worker_rand_unit(floq_worker_t *w);
/** Pause or resume intake on every owned partition (full or draining). */
void worker_update_intake(floq_worker_t *w);
/** Backend instance named @p name, or NULL. */
floq_backend_t *worker_backend(floq_worker_t *w, const char *name);

/* restore.c */
floq_err_t worker_restorer_new(floq_worker_t *w, char *errstr,
                               size_t errstr_size);
/** Rebuild the state of partition @p p from the state topics (read
 *  committed, beginning to end, once no transaction of a previous owner
 *  is open on them: see docs/worker.md, "Restore"). */
floq_err_t worker_restore_partition(floq_worker_t *w, int32_t p);
/** The suffix of a heartbeat record's key on topic.runs: "<run_id>:hb"
 *  holds a small RunState with heartbeat_only=true (runs.c writes it,
 *  restore.c applies it to the run's state). */
#define WRUN_HB_SUFFIX ":hb"

/* txn.c */
/** Open a transaction unless one is open. FLOQ_ERR_FENCED when fatal. */
floq_err_t wtxn_begin(floq_worker_t *w);
/**
 * Commit the open transaction with the consumer offsets of every owned
 * partition; run the after-commit actions. On an abortable error: abort,
 * rebuild the owned partitions' state from Kafka, rewind the consumer to the
 * committed offsets and re-apply the kept executor events (returns
 * FLOQ_ERR_KAFKA). Fatal errors set w->fatal.
 */
floq_err_t wtxn_commit(floq_worker_t *w);
/** Abort the open transaction without rewinding (assignment lost). A
 *  timed-out abort is called again until it succeeds, or until
 *  worker.progress.timeout.ms without a commit sets w->fatal. */
void wtxn_abort(floq_worker_t *w);
/**
 * Position the consumer of the owned commands partitions marked
 * (pos_retry_mono set and due) at their committed offsets: fetched from
 * the group coordinator, and fetched again later (backed off) while Kafka
 * cannot say (unstable, timed out); only a partition with no committed
 * offset starts at the beginning. Used after an abort and for
 * RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET (auto.offset.reset=error).
 */
void wtxn_position(floq_worker_t *w);
/**
 * Produce @p msg of @p type to (@p topic, @p partition or UA) keyed @p key
 * in the open transaction, fitted to the size budget first: a RunState or
 * Reply that would be too large loses the start of its output_tail, then
 * (a Reply) its detail and cancelled_runs list, changed in @p msg itself
 * so that what is kept in memory is what was written. Borrows @p msg.
 * FLOQ_ERR_TOO_LARGE when it still does not fit (see wtxn_produce_raw).
 */
floq_err_t wtxn_produce_msg(floq_worker_t *w, const char *topic,
                            int32_t partition, const char *key,
                            floq_msg_type_t type, json_t *msg);
/**
 * Produce raw bytes (forward, DLQ) with optional headers (taken). A record
 * over the size budget is not produced (FLOQ_ERR_TOO_LARGE): while a
 * command is handled (wtxn_source) the transaction fails and the command
 * is dead-lettered by reference when it is read again; otherwise the
 * record is dropped with an error in the log.
 */
floq_err_t wtxn_produce_raw(floq_worker_t *w, const char *topic,
                            int32_t partition, const void *key,
                            size_t keylen, const void *val, size_t vallen,
                            rd_kafka_headers_t *hdrs);
/**
 * The size budget: the largest key + value + headers a record may have,
 * the producer's message.max.bytes (read back from its configuration)
 * minus the record framing, bounded by the codec's limit, and lowered
 * when a broker refuses a record as too large. Every record is built to
 * fit it (docs/worker.md, "Size budget").
 */
size_t wtxn_budget(floq_worker_t *w);
/** Serialized size of @p hdrs (NULL: 0), as the budget counts it. */
size_t wtxn_headers_size(const rd_kafka_headers_t *hdrs);
/** Encoded size of @p msg as @p type (before any fitting), 0 when it does
 *  not encode. Borrows @p msg (not changed). */
size_t wtxn_msg_size(floq_worker_t *w, floq_msg_type_t type,
                     json_t *msg);
/**
 * The command at (@p p, @p offset) is handled now (@p p < 0: none): the
 * records produced until the next call are its, and a failure to write
 * them counts against it.
 */
void wtxn_source(floq_worker_t *w, int32_t p, int64_t offset);
/**
 * How far the command at (@p p, @p offset) is past its bounded retries:
 * 0 handle it as usual; 1 dead-letter it by reference with a REJECTED
 * reply; 2 or more dead-letter it by reference alone. @p why gets the
 * last reason its records failed.
 */
int wtxn_poisoned(floq_worker_t *w, int32_t p, int64_t offset, char *why,
                  size_t why_size);
/** The producer's delivery report callback (opaque: the worker): counts
 *  refused records against their command, lowers the budget when a
 *  broker refused a record as too large. */
void wtxn_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque);
/** Write Deployment / RunState @p msg to its state topic (partition p) and
 *  apply it to the in-memory state. Takes a reference to @p msg. */
floq_err_t wtxn_put_deployment(floq_worker_t *w, int32_t p, json_t *dep);
floq_err_t wtxn_put_run(floq_worker_t *w, int32_t p, json_t *rs);
/** Remove run @p run_id of partition @p p: a tombstone on topic.runs. */
floq_err_t wtxn_del_run(floq_worker_t *w, int32_t p, const char *run_id);
/** Queue an after-commit action. */
void wtxn_after(floq_worker_t *w, wafter_op_t op, int32_t p,
                const char *run_id);
/** Keep a copy of @p ev for re-application after an abort (takes it). */
void wtxn_keep_event(floq_worker_t *w, floq_exec_event_t *ev);
void wevlist_clear(wevlist_t *l);

/* commands.c */
/** Handle one message of the commands topic inside the open transaction. */
void worker_handle_command(floq_worker_t *w, const rd_kafka_message_t *m);
/**
 * Reply to a command. @p reply: a Reply object missing only the envelope
 * fields, which are filled from @p cmd (command_id, correlation_id,
 * deployment, produced_at, worker); taken.
 */
floq_err_t worker_reply(floq_worker_t *w, const char *reply_to,
                        json_t *reply);
/**
 * G3 for commands that change a state record (deploy, stop, schedule,
 * unschedule): @p rec (a Deployment or a ScheduleSet) keeps the outcomes of
 * its latest commands in "recent_commands". worker_recent_add() appends the
 * outcome of @p cmd to @p rec (bounded by worker.command.history), before
 * @p rec is written; worker_recent_find() returns the outcome recorded for
 * @p command_id, or NULL.
 */
void worker_recent_add(floq_worker_t *w, json_t *rec, const json_t *cmd,
                       const char *status, const char *reason,
                       json_t *cancelled);
json_t *worker_recent_find(const json_t *rec, const char *command_id);
/** A Reply object for @p status to the command @p command_id. */
json_t *worker_reply_new(floq_worker_t *w, const char *command_id,
                         const char *correlation_id, const char *deployment,
                         const char *status, int final);

/* runs.c */
/**
 * FLOQ_ERR_TOO_LARGE with the reason when a run of @p cmd (@p body its run
 * body) could never be written: its RunState, params included, leaves too
 * little of the size budget for what the run adds later.
 */
floq_err_t worker_run_check_size(floq_worker_t *w, const json_t *cmd,
                                 const json_t *body, char *why,
                                 size_t why_size);
/** Create and accept a run (RunState ACCEPTED), submitted after commit. */
json_t *worker_run_accept(floq_worker_t *w, int32_t p, const json_t *cmd,
                          const json_t *body);
/** Apply one executor event in the open transaction. */
void worker_run_event(floq_worker_t *w, floq_exec_event_t *ev);
/** Submit queued runs while the executor has slots. */
void worker_runs_pump(floq_worker_t *w);
/** Heartbeats for live runs, takeover of stale ones, due retries. */
void worker_runs_tick(floq_worker_t *w, int force);
/**
 * Cancel run @p rs of partition @p p (stop command): live attempts are
 * stopped after commit, the rest end CANCELLED now. Returns 1 when it was
 * active.
 */
int worker_run_cancel(floq_worker_t *w, int32_t p, json_t *rs,
                      const char *reason);
/**
 * Hand over the runs of partitions with @p which[p] set: stop live ones
 * with FLOQ_STOP_DRAIN, wait (bounded) for them to end, record them
 * RETRYING without consuming an attempt. Runs in the open transaction.
 */
void worker_runs_handover(floq_worker_t *w, const unsigned char *which);
/** End run @p rs now with terminal @p status (RunState + final reply). */
void worker_run_terminal(floq_worker_t *w, int32_t p, json_t *rs,
                         const char *status, const char *reason,
                         const floq_run_result_t *res);
/** Number of live or queued runs (load on the executor). */
int worker_runs_load(floq_worker_t *w);

/* identity.c */
/**
 * This worker's id into @p id: worker.id, else group.instance.id, else
 * "<hostname>-<worker.slot>". FLOQ_ERR_CONFIG when it cannot be one.
 */
floq_err_t worker_identity_init(const floq_conf_t *conf, char *id,
                                size_t id_size, char *errstr,
                                size_t errstr_size);
/**
 * Take the host-wide lock of worker id @p id (a file in worker.lock.dir,
 * locked with flock(2) for the process's life). Returns the descriptor,
 * which the caller owns and closes to release it, or -1 with the reason
 * (a second worker with the same id on this host) in @p errstr.
 */
int worker_identity_lock(const floq_conf_t *conf, const char *id,
                         char *errstr, size_t errstr_size);

/* timing.c */
/**
 * The margin rule: @p interval_ms + @p kill_grace_ms + @p skew_ms must be
 * below a third of @p timeout_ms (see timing.c). FLOQ_ERR_CONFIG with the
 * rule and the numbers in @p errstr when it is broken.
 */
floq_err_t wtiming_check(int64_t interval_ms, int64_t kill_grace_ms,
                         int64_t skew_ms, int64_t timeout_ms, char *errstr,
                         size_t errstr_size);
/** wtiming_check() on worker.heartbeat.interval.ms, process.kill.grace.ms,
 *  worker.clock.skew.ms and worker.heartbeat.timeout.ms of @p conf. */
floq_err_t worker_timing_check(const floq_conf_t *conf, char *errstr,
                               size_t errstr_size);
/**
 * The takeover clock of run @p run_id (RunState @p rs, not live here) of
 * @p part: how long this worker has seen the record unchanged, on its own
 * monotonic clock (@p now_mono); 0 when it changed (or is seen) now.
 * *mine is 1 when this worker wrote the record itself (since the last
 * restore). Loop thread only.
 */
int64_t wtakeover_age(wpart_t *part, const char *run_id, const json_t *rs,
                      int64_t now_mono, int *mine);
/** Record that this worker just wrote @p rs for @p run_id itself. */
void wtakeover_mark_mine(wpart_t *part, const char *run_id,
                         const json_t *rs);
/** Forget the takeover clocks of runs not in @p keep (an object whose
 *  keys are run ids; borrowed). */
void wtakeover_prune(wpart_t *part, json_t *keep);
/**
 * The loop enters (begin) or leaves (end) blocking work of its own choice
 * (@p what: a static string such as "restore"): the watchdog does not count
 * it as Kafka's silence, up to session.timeout.ms since the last commit.
 * Nests. Loop thread only.
 */
void worker_busy_begin(floq_worker_t *w, const char *what);
void worker_busy_end(floq_worker_t *w);
/** Milliseconds since the last commit, less the loop's credited own work,
 *  at @p now (mono ms). Thread-safe. */
int64_t worker_loop_quiet_ms(floq_worker_t *w, int64_t now);
/**
 * Self-fencing: with live attempts and no successful commit for 2/3 of
 * worker.heartbeat.timeout.ms (less the loop's own blocking work, see
 * worker_busy_begin()), this worker's heartbeats are not reaching Kafka
 * and another worker may soon own its partitions; stop the attempts (DRAIN)
 * so that two never overlap. Called from the watchdog thread, since the
 * loop itself may be blocked inside librdkafka exactly then. Thread-safe
 * (only atomics and the executor's locked calls).
 */
void worker_runs_self_fence(floq_worker_t *w);

/**
 * The lineage hook (lineage_hook.c): called with "START" when the first
 * attempt starts (no started_at yet), "RUNNING" when a later one does, and
 * "COMPLETE", "FAIL" or "ABORT" when a run ends, right after the RunState
 * @p rs was written into the open transaction. When lineage.enabled, the
 * OpenLineage event is produced to topic.lineage in that transaction; a
 * terminal event's type follows rs's status, and a run that never started
 * gets its START first. Errors building an event are logged, never fatal.
 */
void worker_lineage_emit(floq_worker_t *w, int32_t p, const json_t *rs,
                         const char *event);

/* metrics.c */
#define WM_KINDS 8      /**< wcmd_kind_t values */
#define WM_OUTCOMES 19  /**< the 16 reply statuses, dlq, forwarded, none */
#define WM_TERMINALS 5  /**< SUCCEEDED FAILED CANCELLED TIMED_OUT LOST */
#define WM_BACKENDS 8   /**< floq_backends[] names, the last one "other" */
#define WM_BROKERS 16   /**< brokers kept from one statistics JSON */

/** A histogram: counts per bucket (not cumulative: the render adds them
 *  up), the sum in microseconds. Updated with relaxed atomics. */
typedef struct wm_hist_s {
        const double *bounds; /**< upper bounds in seconds, ascending */
        int n;                /**< number of bounds; counts[n] is +Inf */
        _Atomic uint64_t counts[16];
        _Atomic uint64_t sum_us;
} wm_hist_t;

/** One broker of one client's statistics. */
typedef struct wm_broker_s {
        char name[256];
        int64_t rtt_us, outbuf, waitresp;
} wm_broker_t;

/** What one client's (consumer 0, producer 1) last statistics said. */
typedef struct wm_client_s {
        int valid;
        int64_t msg_cnt, replyq;
        int broker_cnt;
        wm_broker_t brokers[WM_BROKERS];
} wm_client_t;

/**
 * The worker's metrics. Counters, gauges and histograms are atomics the
 * loop updates and the HTTP thread reads; cur_outcome and the *_start_mono
 * fields are the loop's alone; clients[] and lag[] are under lock.
 */
typedef struct wmetrics_s {
        int enabled;            /**< metrics.listen is set */
        int concurrency;        /**< worker.concurrency */
        int64_t alive_bound_ms; /**< /healthz: worker.progress.timeout.ms */
        struct MHD_Daemon *mhd;

        _Atomic uint64_t commands[WM_KINDS][WM_OUTCOMES];
        _Atomic uint64_t replies[WM_OUTCOMES];
        _Atomic uint64_t dlq;
        _Atomic uint64_t runs_started[WM_BACKENDS];
        _Atomic uint64_t runs_ended[WM_TERMINALS][WM_BACKENDS];
        _Atomic uint64_t commits, aborts;
        _Atomic uint64_t rebalances[3]; /**< assign, revoke, lost */
        _Atomic uint64_t sched_fires, sched_misfires;
        wm_hist_t run_duration, commit_latency, restore_duration;

        _Atomic int slots_used; /**< live attempts, at the last pass */
        _Atomic int owned;      /**< partitions owned */
        _Atomic int joined;     /**< assigned (even nothing) and not lost */
        _Atomic int restoring;  /**< inside an assignment's restore */
        _Atomic int fenced;     /**< fenced since the last commit */
        _Atomic int stopping;   /**< the loop ended: its floq_err_t, -1 */
        _Atomic int64_t loop_pass_mono; /**< the loop's last pass */

        int cur_outcome;        /**< outcome of the command being handled,
                                 *   -1 none yet */
        int64_t commit_start_mono, rebalance_start_mono;

        pthread_mutex_t lock;
        wm_client_t clients[2];
        int64_t *lag;           /**< per commands partition, -1 unknown */
        int32_t lag_cnt;
} wmetrics_t;

/** New metrics for a worker configured by @p conf (may be NULL: tests);
 *  NULL on ENOMEM. The server is not started. */
wmetrics_t *wmetrics_new(const floq_conf_t *conf);
/** Stop the server (if started) and free @p m. */
void wmetrics_destroy(wmetrics_t *m);
/** Start serving on metrics.listen (no-op when unset). FLOQ_ERR_CONFIG with
 *  the reason when the address is bad or taken. */
floq_err_t wmetrics_start(floq_worker_t *w, char *errstr,
                          size_t errstr_size);
/** With metrics.listen set: statistics every 5 s (unless -X
 *  statistics.interval.ms says otherwise) into wmetrics_stats(); the
 *  conf's opaque must be the worker. */
void wmetrics_kafka_conf(floq_worker_t *w, rd_kafka_conf_t *kc);
/** Parse librdkafka's statistics JSON of client 0 (consumer: loop thread,
 *  reads the partitions' offsets for the lag) or 1 (producer). Borrows. */
void wmetrics_stats(floq_worker_t *w, int client, const char *json,
                    size_t len);
/** The exposition text (malloc()ed, NULL on ENOMEM). Thread-safe. */
char *wmetrics_render(wmetrics_t *m);
/** Why /readyz says 503 (static text), NULL when ready. Thread-safe. */
const char *wmetrics_not_ready(wmetrics_t *m);
/** /healthz: the loop made a pass within the bound. Thread-safe. */
int wmetrics_alive(wmetrics_t *m, int64_t now_mono);
void wmetrics_hist_observe(wm_hist_t *h, double seconds);

/* The hooks: loop thread, cheap, NULL-safe (w->metrics may be NULL). */
void wmetrics_loop_pass(floq_worker_t *w);
/** The command being handled is done (@p cmd decoded or NULL): counted by
 *  type and the outcome its first reply or DLQ record set. */
void wmetrics_command(floq_worker_t *w, const json_t *cmd);
void wmetrics_forwarded(floq_worker_t *w);
/** A Reply @p reply is written (borrowed). */
void wmetrics_reply(floq_worker_t *w, const json_t *reply);
void wmetrics_dlq(floq_worker_t *w);
/** Attempt started / run ended: @p rs the RunState written (borrowed). */
void wmetrics_run_start(floq_worker_t *w, int32_t p, const json_t *rs);
void wmetrics_run_end(floq_worker_t *w, int32_t p, const json_t *rs);
void wmetrics_txn_commit_begin(floq_worker_t *w);
void wmetrics_txn_committed(floq_worker_t *w);
void wmetrics_txn_aborted(floq_worker_t *w);
void wmetrics_fenced(floq_worker_t *w);
void wmetrics_rebalance_begin(floq_worker_t *w, rd_kafka_resp_err_t err);
void wmetrics_rebalance_end(floq_worker_t *w, rd_kafka_resp_err_t err);
void wmetrics_sched_fire(floq_worker_t *w);
void wmetrics_sched_misfires(floq_worker_t *w, size_t n);
/** The loop ended with @p why (FLOQ_OK: a drain). */
void wmetrics_stopping(floq_worker_t *w, floq_err_t why);

#endif /* FLOQ_WORKER_INT_H */
