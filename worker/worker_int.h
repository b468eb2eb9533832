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
 * only meet the loop through floq_executor_next_event(), and the offload
 * pool's (offload.c: a parked command's network work) through
 * floq_offload_next(), with copies of what they need.
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

/** The run id hashes (wdone_hash) of finished runs in the order they
 *  ended (a FIFO; entries whose run has gone or is live again are
 *  dropped when met). */
typedef struct wrunq_s {
        uint64_t *ids;        /**< [head, cnt) used */
        size_t head, cnt, cap;
} wrunq_t;

/** The compact table of a partition's finished runs (done.c): each kept
 *  as its RunState's Avro bytes, keyed by the hashes of its ids. */
typedef struct wdone_slot_s wdone_slot_t;
typedef struct wdone_pair_s wdone_pair_t;
typedef struct wdone_s {
        wdone_slot_t *slots; /**< by run id hash */
        size_t cap, cnt, used; /**< slots, runs, runs + deleted */
        wdone_pair_t *cmds;  /**< command id hash -> run id hash */
        size_t ccap, ccnt, cused;
} wdone_t;

void wdone_init(wdone_t *t);
/** Free every record; the table is empty and usable again. */
void wdone_clear(wdone_t *t);
/** Keep finished run @p rs (not stolen) of @p run_id, replacing any. */
floq_err_t wdone_put(wdone_t *t, floq_codec_t *codec, const char *run_id,
                     const json_t *rs);
/** wdone_put() of a run already encoded: @p buf (malloc()ed, taken, freed
 *  on error) is its RunState record, @p cmd_hash its command id's
 *  wdone_hash(), 0 for none (or an empty one). */
floq_err_t wdone_put_blob(wdone_t *t, floq_codec_t *codec, const char *run_id,
                          uint64_t cmd_hash, void *buf, size_t len);
/** 1 when a finished run is kept under run id hash @p id_hash. */
int wdone_has_hash(const wdone_t *t, uint64_t id_hash);
/** The finished run @p run_id decoded (a new reference), or NULL. */
json_t *wdone_get(wdone_t *t, floq_codec_t *codec, const char *run_id);
/** The hash the table keys a run id by (never 0 or 1). */
uint64_t wdone_hash(const char *s);
/** wdone_hash() of the @p n bytes at @p s. */
uint64_t wdone_hashn(const char *s, size_t n);
/** The first finished run kept under run id hash @p id_hash decoded (a new
 *  reference), or NULL; the caller checks its run_id. */
json_t *wdone_get_hash(wdone_t *t, floq_codec_t *codec, uint64_t id_hash);
void wdone_del(wdone_t *t, floq_codec_t *codec, const char *run_id);
/** The finished run created by run command @p command_id decoded (a new
 *  reference), or NULL. */
json_t *wdone_find_cmd(wdone_t *t, floq_codec_t *codec,
                       const char *command_id);

/* Most unexpired outcomes one Deployment or ScheduleSet remembers
 * (recent_commands, the outcome records): past it, state-changing commands
 * of that deployment are refused until some expire, rather than forgetting
 * an id that could still be replayed (docs/security.md, "Replays"). */
#define WRECENT_MAX 1000

/** One outcome of the replay memory (outcomes.c). */
typedef struct wout_dep_s wout_dep_t;
typedef struct wout_entry_s wout_entry_t;
struct wout_entry_s {
        wout_entry_t *hnext;            /**< chain by command id */
        wout_entry_t *dprev, *dnext;    /**< its deployment's, by age */
        wout_entry_t *qprev_all, *qnext_all; /**< the partition's, by age */
        wout_dep_t *dep;
        uint64_t hash;                  /**< wdone_hash(command_id) */
        int64_t at;                     /**< when it was answered, ms */
        char *reason;                   /**< NULL none */
        json_t *cancelled;              /**< array of run ids, NULL none */
        char status[16];                /**< the ReplyStatus symbol */
        char command_id[];
};

/**
 * A partition's replay memory of deploy and stop commands: the outcome
 * records (DeploymentOutcome) of the deployments topic, typed. Entries
 * are borrowed until the next wout_put(), wout_del(), wout_trim(),
 * wout_expire() or wout_clear().
 */
typedef struct wout_s {
        wout_entry_t **ebuckets; /**< by command id hash */
        size_t ecap, ecnt;
        wout_dep_t **dbuckets;   /**< by deployment name hash */
        size_t dcap, dcnt;
        wout_entry_t *qhead, *qtail; /**< every entry, oldest first */
        wout_entry_t *qnext;     /**< the oldest not yet seen expired */
} wout_t;

void wout_init(wout_t *o);
/** 1 when @p status is one an outcome may have (wout_put()). */
int wout_status_ok(const char *status);
void wout_clear(wout_t *o);
/** Record (or replace) the outcome of @p command_id of @p deployment;
 *  copies everything. @p status must be DEPLOYED or STOPPED (what a deploy
 *  or stop is answered with; a record with another is refused).
 *  FLOQ_ERR_NOMEM / INVALID_ARG change nothing. */
floq_err_t wout_put(wout_t *o, const char *deployment, const char *command_id,
                    const char *status, const char *reason,
                    const json_t *cancelled, int64_t at);
/** Forget one outcome (a tombstone). */
void wout_del(wout_t *o, const char *deployment, const char *command_id);
const wout_entry_t *wout_find(const wout_t *o, const char *deployment,
                              const char *command_id);
/** The oldest outcome of @p deployment (walk on with ->dnext), or NULL. */
const wout_entry_t *wout_first(const wout_t *o, const char *deployment);
/** Outcomes of @p deployment, and those younger than @p life at @p now. */
size_t wout_count(const wout_t *o, const char *deployment);
size_t wout_live(const wout_t *o, const char *deployment, int64_t now,
                 int64_t life);
/** Outcomes kept in all. */
size_t wout_total(const wout_t *o);
/**
 * The rule by which an outcome is forgotten: beyond the newest @p history
 * of its deployment and older than @p life (or beyond WRECENT_MAX).
 * wout_trim() applies it to @p deployment, wout_expire() to the oldest
 * outcomes of the partition (at most @p max); both remove what they let go
 * and append its record key ("deployment\n command_id") to @p out (an
 * array) for its tombstone. They return how many went.
 */
size_t wout_trim(wout_t *o, const char *deployment, int64_t now,
                 int64_t life, size_t history, json_t *out);
size_t wout_expire(wout_t *o, int64_t now, int64_t life, size_t history,
                   size_t max, json_t *out);

/** State of one partition of the co-partitioned topic set. */
typedef struct wpart_s {
        int owned;            /**< assigned to this worker and restored */
        json_t *deployments;  /**< name -> Deployment decoded; read it
                               *   through wpart_deployment() */
        json_t *dep_raw;      /**< name -> a restored Deployment record's
                               *   bytes (a string), not decoded until
                               *   wpart_deployment() first asks: a
                               *   restore of many deployments keeps ~1/5
                               *   of their decoded size and skips their
                               *   decode */
        json_t *schedules;    /**< name -> ScheduleSet */
        json_t *runs;         /**< run_id -> RunState of its non-terminal
                               *   runs (the finished ones are in done;
                               *   wpart_run() finds either) */
        wdone_t done;         /**< the finished runs, compact */
        wout_t outs;          /**< deploy and stop outcomes (G3) */
        floq_codec_t *codec;  /**< encodes and decodes done's records; NULL
                               *   (out of memory): finished runs stay in
                               *   runs as objects. The worker's partitions
                               *   share one (wpart_init_shared()): a
                               *   codec's schemas are ~300 kB */
        int codec_owned;      /**< wpart_release() destroys codec */
        json_t *decoded;      /**< run_id -> finished RunState decoded by
                               *   wpart_run(), and the object last put for
                               *   it: what callers borrow */
        json_t *decoded_old;  /**< the generation before (a borrowed
                               *   finished run stays valid for at least
                               *   WPART_DECODED_MAX more lookups) */
        json_t *idem;         /**< "deployment\n key" -> run_id */
        json_t *idem_gone;    /**< "deployment\n key" -> {run_id,
                               *   finished_at} of keys whose finished run
                               *   retention removed (bounded by
                               *   WIDEM_GONE_MAX; known while the records
                               *   are on topic.runs) */
        json_t *cmds;         /**< run command_id -> run_id, live runs */
        json_t *sched_active; /**< "deployment\n schedule_id" -> object of
                               *   the run ids of its non-terminal runs */
        json_t *sched_last;   /**< "deployment\n schedule_id" -> run id of
                               *   its latest run (by scheduled_for) */
        json_t *live;         /**< deployment -> object of the run ids of
                               *   its non-terminal runs (status, stop
                               *   and the runs passes walk these, never
                               *   every retained run) */
        wrunq_t ended;        /**< run ids in the order they ended: the
                               *   retention pass reads its front */
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
        int restoring;        /**< assigned and paused, its restore not
                               *   finished yet (restore.c): not owned,
                               *   none of its commands decided */
        int awaiting_pos;     /**< restored; its messages are dropped until
                               *   the consumer stands at the committed
                               *   offset (pos_retry_mono back to 0) */
        int parked;           /**< a command of it waits for off-loop
                               *   work (commands.c): paused at it, the
                               *   intake must not resume it */
        unsigned park_epoch;  /**< bumped by wpart_clear(): a parked
                               *   command of an earlier epoch is dropped
                               *   (revoked, or rewound: read again) */
        int rewound;          /**< restoring again after an aborted
                               *   transaction (txn.c): its live attempts
                               *   are this worker's, their events wait in
                               *   w->replay until it is restored */
} wpart_t;

/** Bound of part->codec (a kept finished run's or deployment's record):
 *  far above the size budget, which every record written meets. */
#define WPART_CODEC_MAX (16u << 20)

/** A partition with a codec of its own (part->codec, bound
 *  WPART_CODEC_MAX). */
void wpart_init(wpart_t *part);
/** A partition using @p codec (bound WPART_CODEC_MAX, not owned: it
 *  outlives the partition; NULL: finished runs stay objects). The worker's
 *  partitions share one: per partition, 100,000 partitions would take
 *  30 GB of schemas. */
void wpart_init_shared(wpart_t *part, floq_codec_t *codec);
/** Drop every record; the struct stays usable (owned is cleared). */
void wpart_clear(wpart_t *part);
void wpart_release(wpart_t *part);

/** Apply a Deployment record (NULL: tombstone); takes a reference. */
void wpart_put_deployment(wpart_t *part, const char *name, json_t *dep);
/**
 * Apply a Deployment record as its encoded bytes (checked as a decode
 * checks them, copied, decoded on first use with part->codec). An error
 * (bytes that do not decode, over part->codec's bound, no codec, out of
 * memory) changes nothing: the caller decodes them then.
 */
floq_err_t wpart_put_deployment_raw(wpart_t *part, const char *name,
                                    const void *buf, size_t len);
/**
 * Deployment @p name, or NULL. Borrowed: it lives until the next
 * wpart_put_deployment() or wpart_put_deployment_raw() of that name. A
 * kept record that no longer decodes is logged once and dropped (NULL).
 */
json_t *wpart_deployment(wpart_t *part, const char *name);
/** Number of deployments kept, decoded or not. */
size_t wpart_deployment_count(const wpart_t *part);
/** Apply a ScheduleSet record (NULL: tombstone); takes a reference. */
void wpart_put_schedules(wpart_t *part, const char *name, json_t *set);
/**
 * Apply a RunState record (NULL: tombstone) and keep the idempotency and
 * command indexes in step; takes a reference.
 */
void wpart_put_run(wpart_t *part, const char *run_id, json_t *rs);

/**
 * Apply a RunState record as its encoded bytes, when that needs no decode:
 * a finished run, not scheduled, seen for the first time, written with
 * the current schema; it is then kept as wpart_put_run() keeps it (its
 * params cut, the indexes in step). FLOQ_OK when applied; otherwise
 * nothing changed and the caller decodes it and calls wpart_put_run()
 * (FLOQ_ERR_DECODE and the like: the bytes do not decode).
 */
floq_err_t wpart_put_run_record(wpart_t *part, const char *run_id,
                                const void *buf, size_t len);

/**
 * RunState of run @p run_id, live or finished, or NULL. Borrowed: a live
 * run's object lives until the run's next wpart_put_run(); a finished
 * one's (decoded from the compact table) for at least WPART_DECODED_MAX
 * further lookups of other finished runs, and until its next put. Change
 * a run only through wpart_put_run() (a copy), never in place unless it
 * is live.
 */
json_t *wpart_run(wpart_t *part, const char *run_id);
/** 1 when the replay memory of run @p rs's deployment records a stop that
 *  cancelled it: a STOPPED outcome listing the run (its outcome record,
 *  wtxn_put_outcome(), or the recent_commands of a Deployment written
 *  before those); a stop whose attempt ended on a
 *  worker that could no longer record it (a handover, a takeover). */
int wpart_stop_recorded(wpart_t *part, const json_t *rs,
                        const char *run_id);
/* Per partition and generation: what a caller may borrow at once is far
 * less (the lineage walk holds WLINEAGE_PARENT_DEPTH + 1, checked there),
 * and the two generations hold up to 2 x this many decoded objects (~3 kB
 * each) in every partition that saw finished runs; 256 kept ~9 MB of
 * them on 6 partitions after a burst of runs (docs/benchmarks.md). */
#define WPART_DECODED_MAX 64

/** Number of runs kept, live and finished. */
size_t wpart_run_count(const wpart_t *part);

/** Run id that @p idempotency_key of @p deployment already started, or
 *  NULL. Borrowed. */
const char *wpart_find_idem(const wpart_t *part, const char *deployment,
                            const char *idempotency_key);
/** Most expired idempotency keys remembered per partition. */
#define WIDEM_GONE_MAX 10000
/** {run_id, finished_at} of the finished run that @p idempotency_key of
 *  @p deployment started and that retention removed, or NULL. Borrowed. */
const json_t *wpart_find_idem_gone(const wpart_t *part,
                                   const char *deployment,
                                   const char *idempotency_key);
/** Run id created by run command @p command_id, or NULL. Borrowed. */
const char *wpart_find_cmd(wpart_t *part, const char *command_id);
/**
 * The runs of schedule @p schedule_id of @p deployment, from the index
 * wpart_put_run() keeps (no scan of the partition's runs): *activep gets
 * the object of the run ids of its non-terminal runs (borrowed, NULL when
 * none), and the return value is its latest RunState by scheduled_for
 * (borrowed, NULL when none is kept).
 */
const json_t *wpart_schedule_runs(wpart_t *part, const char *deployment,
                                  const char *schedule_id,
                                  const json_t **activep);

/**
 * The non-terminal runs of @p deployment: an object whose keys are their
 * run ids (values true), kept by wpart_put_run(); borrowed, NULL when the
 * deployment has none. NULL @p deployment: NULL.
 */
const json_t *wpart_live_runs(const wpart_t *part, const char *deployment);

/**
 * Append to @p ids (an array) the ids of at most @p max finished runs that
 * ended more than @p retention_ms before @p now, oldest first, without a
 * scan: the front of the ended queue. Entries of runs that have gone (or
 * are live again) are dropped from the queue on the way. Returns how many
 * were appended.
 */
size_t wpart_expired(wpart_t *part, int64_t now, int64_t retention_ms,
                     size_t max, json_t *ids);

/** When finished run @p rs ended (finished_at, else its last stamp). */
int64_t wrun_ended_at(const json_t *rs, int64_t now);

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

/** Stages of a partition's restore (restore.c). */
typedef enum wrestore_stage_e {
        WRS_OFFSETS, /**< the commands partition's committed offset,
                      *   stable (require_stable) */
        WRS_STABLE,  /**< each state partition's last stable offset up to
                      *   its high watermark */
        WRS_READ,    /**< reading the state partitions */
        WRS_DONE,
} wrestore_stage_t;

/** One partition's restore, advanced a step at a time from the loop
 *  (worker_restore_tick()), after an assignment or an abort; several may
 *  be under way, one of them reading at a time. */
typedef struct wrestore_s {
        int32_t p;             /**< partition, -1: none in progress */
        wrestore_stage_t stage;
        int topic;             /**< WRS_STABLE: the state topic at hand */
        int64_t t0, deadline;  /**< mono ms */
        int64_t next_try;      /**< mono ms: ask the broker again */
        int64_t committed;     /**< WRS_OFFSETS' answer, -1 none */
        int64_t lo[3], hi[3], hw[3];
        int done[3], left, logged;
        long records;
} wrestore_t;

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
        rd_kafka_queue_t *consumer_q; /**< its queue: executor events
                                       *   yield the loop's poll on it */
        rd_kafka_t *producer;  /**< transactional */
        rd_kafka_t *restorer;  /**< assign()-only read_committed reader */
        rd_kafka_t *restorer_hw; /**< read_uncommitted: high watermarks */

        floq_codec_t *codec;
        floq_codec_t *part_codec; /**< the partitions' (wpart_init_shared()) */
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
        struct floq_offload_s *offload; /**< the off-loop pool (commands.c,
                                         *   created on first use) */
        rd_kafka_queue_t *offload_q;    /**< the consumer's queue, yielded
                                         *   when a job finished */
        struct wpark_s *parks; /**< parked commands (commands.c) */
        uint64_t park_seq;     /**< ids of parked commands */

        int intake_stopped;    /**< partitions paused (full or draining) */
        volatile sig_atomic_t stop_requested;
        int draining;
        int64_t drain_deadline;   /**< mono ms: grace ends */
        int64_t next_heartbeat;   /**< mono ms */
        int64_t next_scan;        /**< mono ms */
        int64_t next_outcome_expiry; /**< mono ms (commands.c) */
        int32_t outcome_expiry_part; /**< where the next expiry pass
                                      *   starts (commands.c) */
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
        int outcomes_legacy;      /**< worker.outcomes.legacy */
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

        wrestore_t *restores;     /**< per partition: its restore under
                                   *   way (p -1: none), advanced by the
                                   *   loop (restore.c) */
        int32_t reading;          /**< the partition whose restore reads
                                   *   with the restorer, -1 none */
        int32_t restore_next;     /**< round robin of the restore steps */
        int restore_idle_ms;      /**< every restore waits on the broker:
                                   *   the loop may poll this long (0: a
                                   *   step ran, poll without waiting) */
        int rebalancing;          /**< a cooperative revoke was served and
                                   *   its assignment is not: no commit */
        int64_t rebalancing_since; /**< mono ms */
        wevlist_t replay;         /**< executor events of partitions
                                   *   restoring after an abort, applied
                                   *   once their partition is restored */
        wafter_t *restops;        /**< stops of an aborted transaction
                                   *   whose partition is restoring */
        size_t restop_cnt;
        json_t *rewound_live;     /**< run_id -> {p, attempt, deployment,
                                   *   command_id}: live attempts of
                                   *   partitions restoring after an abort */
        int handing_over;         /**< a drain stopped every attempt and
                                   *   waits (in the loop) for their ends */
        int64_t handover_deadline; /**< mono ms */
        json_t *orphans;          /**< run_id -> {p, attempt, deadline}:
                                   *   attempts of lost partitions whose end
                                   *   is awaited to hand them over */
        rd_kafka_t *notices;      /**< plain producer of handover notices,
                                   *   created on first use */
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
/**
 * Advance the restores of the partitions marked restoring, one partition
 * at a time, for about @p budget_ms (never a wait on the broker: a
 * condition still unmet is asked again at a later call). Returns the
 * partition whose restore finished in this call (its state complete, its
 * stable committed offset in *committed, -1 none), or -1. A restore past
 * worker.restore.timeout.ms sets w->fatal. Loop thread only.
 */
int32_t worker_restore_tick(floq_worker_t *w, int64_t budget_ms,
                            int64_t *committed);
/** Abandon partition @p p's restore (revoked or lost meanwhile): the
 *  restorer lets its partitions go, the half state is dropped. */
void worker_restore_cancel(floq_worker_t *w, int32_t p);
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
/**
 * Record the outcome of command @p command_id of deployment @p deployment
 * (answered with @p status, @p reason, @p cancelled run ids, all borrowed):
 * a DeploymentOutcome record on the deployments topic (partition p),
 * applied to the partition's replay memory, and tombstones for the
 * outcomes of the deployment that rule lets go now (wout_trim()).
 */
floq_err_t wtxn_put_outcome(floq_worker_t *w, int32_t p,
                            const char *deployment, const char *command_id,
                            const char *status, const char *reason,
                            const json_t *cancelled, int64_t at);
/** Tombstone up to @p max expired outcomes of partition @p p
 *  (wout_expire()); returns how many. */
size_t wtxn_expire_outcomes(floq_worker_t *w, int32_t p, int64_t now,
                            size_t max);
/** Queue an after-commit action. */
void wtxn_after(floq_worker_t *w, wafter_op_t op, int32_t p,
                const char *run_id);
/** Keep a copy of @p ev for re-application after an abort (takes it). */
void wtxn_keep_event(floq_worker_t *w, floq_exec_event_t *ev);
void wevlist_clear(wevlist_t *l);
/** Append @p ev to @p l (takes it; released when out of memory). */
void wevlist_push(wevlist_t *l, floq_exec_event_t *ev);
/** The stops of an aborted transaction whose partition was restoring
 *  (w->restops): decided now for partitions restored since (see
 *  docs/worker.md, "A commit whose outcome is unknown keeps its stops"),
 *  dropped for partitions no longer assigned. */
void wtxn_restops_tick(floq_worker_t *w);

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
 * G3 for commands that change a ScheduleSet (schedule, unschedule): @p rec
 * keeps the outcomes of its latest commands in "recent_commands" (as a
 * Deployment did before its outcomes became records of their own, which
 * worker_recent_find() still reads). worker_recent_add() appends the
 * outcome of @p cmd to @p rec (bounded by worker.command.history), before
 * @p rec is written; worker_recent_find() returns the outcome recorded for
 * @p command_id, or NULL.
 */
void worker_recent_add(floq_worker_t *w, json_t *rec, const json_t *cmd,
                       const char *status, const char *reason,
                       json_t *cancelled);
json_t *worker_recent_find(const json_t *rec, const char *command_id);
/**
 * Parked commands (a deploy or validate whose decision waits for work on
 * the network, done off the loop by worker/offload.c): decide those whose
 * work came back or whose worker.offload.timeout.ms passed, each in the
 * open transaction with its partition's offset; drop those of partitions
 * revoked or rewound since (the command is read again, by whoever owns
 * it). Loop thread; never blocks.
 */
void worker_parked_tick(floq_worker_t *w);
/** Stop the pool (waits for running jobs, bounded by their own timeouts)
 *  and free every parked command. */
void worker_parked_release(floq_worker_t *w);
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
/** Tombstone the expired deploy and stop outcomes of the owned partitions
 *  (about once a second, a bounded batch each time; commands.c). */
void worker_outcomes_tick(floq_worker_t *w);
/**
 * Cancel run @p rs of partition @p p (stop command): live attempts are
 * stopped after commit, the rest end CANCELLED now. Returns 1 when it was
 * active.
 */
int worker_run_cancel(floq_worker_t *w, int32_t p, json_t *rs,
                      const char *reason);
/**
 * Hand over the runs of partitions with @p which[p] set, without waiting:
 * queued runs that never started are recorded RETRYING (same attempt) in
 * the open transaction and their live attempts are stopped with
 * FLOQ_STOP_DRAIN. Each attempt's end (ABANDONED) is then recorded
 * RETRYING by worker_run_event() while the partition is still owned (a
 * drain: the loop waits for the ends before it leaves the group). With
 * @p announce (a revocation: the partitions go when the callback returns)
 * each stopped attempt is also announced to the next owner by a handover
 * notice once it has ended (worker_runs_orphans_tick()). Returns the
 * number of attempts stopped.
 */
int worker_runs_handover(floq_worker_t *w, const unsigned char *which,
                         int announce);
/** End run @p rs now with terminal @p status (RunState + final reply). */
void worker_run_terminal(floq_worker_t *w, int32_t p, json_t *rs,
                         const char *status, const char *reason,
                         const floq_run_result_t *res);
/**
 * Partitions with @p which[p] set were *lost* (someone else owns them):
 * nothing of theirs may be written. The live attempts of their runs are
 * stopped, and each one, once it has ended, is announced to the
 * partition's next owner by a handover notice (worker_runs_orphans_tick()),
 * so that it retries the attempt instead of declaring the run LOST. Call
 * before the open transaction is aborted (its applied events count).
 */
void worker_runs_lost(floq_worker_t *w, const unsigned char *which);
/**
 * Partition @p p, restoring again after an aborted transaction, is
 * revoked or lost before its restore completed: its live attempts (known
 * from w->rewound_live) are stopped and announced to the next owner once
 * ended, as worker_runs_lost() does, and its waiting events are dropped
 * (their attempts announced too). Loop thread only.
 */
void worker_runs_rewound_gone(floq_worker_t *w, int32_t p);
/** Partition @p p is restored again after an abort: its waiting events
 *  (w->replay) are applied and its live attempts forgotten from
 *  w->rewound_live. */
void worker_runs_rewound_done(floq_worker_t *w, int32_t p);
/** Send the handover notices of lost attempts that have ended; give up on
 *  those that do not end in time. Loop thread only. */
void worker_runs_orphans_tick(floq_worker_t *w);
/** 1 when @p m (commands topic) is a handover notice, not a command. */
int worker_runs_is_notice(const rd_kafka_message_t *m);
/**
 * A handover notice of partition @p p read by its owner: when the run it
 * names is still RUNNING at that attempt on that worker, and not live
 * here, it is recorded RETRYING at the same attempt (no attempt consumed),
 * still naming that worker, so the takeover clock's heartbeat timeout
 * still applies before it starts again (never two live attempts). In the
 * open transaction; the message's offset is the caller's.
 */
void worker_runs_notice(floq_worker_t *w, int32_t p,
                        const rd_kafka_message_t *m);
/** Destroy the notice producer, delivering what it holds (bounded). */
void worker_runs_notices_close(floq_worker_t *w);
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
