/*
 * floq_lineage.h - floq's OpenLineage component: building OpenLineage 2-0-2
 * RunEvents for floq runs (the worker calls it inside its transaction), the
 * Kafka message key the OpenLineage Kafka transports use, the stdout line
 * format by which a run reports extra datasets, the lineage graph that
 * `floq-lineage graph` draws, and a small emitter for producers that want
 * their own jobs in the same graph (Kafka or HTTP). Callers never need to
 * know OpenLineage: they hand over floq records (jansson objects shaped by
 * the schemas/ .avsc files) and get back a key and a JSON text to produce.
 *
 * Everything here is reentrant: no function keeps global state, so any
 * thread may call any function on objects it owns. Strings returned as
 * `char *` are malloc()ed and freed with free(); json_t results carry one
 * reference the caller owns (json_decref()).
 */
#ifndef FLOQ_LINEAGE_H
#define FLOQ_LINEAGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "floq_common.h"

/** The RunEvent schema every event names (OpenLineage spec 2-0-2). */
#define FLOQ_LINEAGE_SCHEMA_URL                                                \
        "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"

/** Default job namespace when neither deployment nor options name one. */
#define FLOQ_LINEAGE_NAMESPACE_DEFAULT "floq"

/** Default dead-letter topic of `floq-lineage forward`. */
#define FLOQ_LINEAGE_DLQ_DEFAULT "floq.lineage.dlq"

/* ------------------------------------------------------------ event types */

typedef enum floq_lineage_event_type_e {
        FLOQ_LINEAGE_START,
        FLOQ_LINEAGE_RUNNING,
        FLOQ_LINEAGE_COMPLETE,
        FLOQ_LINEAGE_FAIL,
        FLOQ_LINEAGE_ABORT,
        FLOQ_LINEAGE_OTHER,
        FLOQ_LINEAGE__CNT
} floq_lineage_event_type_t;

/** "START", "COMPLETE", ...; NULL when out of range. */
const char *floq_lineage_event_type_name(floq_lineage_event_type_t type);

/** Parse "START" (case-insensitive) etc.; -1 when unknown. */
int floq_lineage_event_type_parse(const char *name);

/**
 * The event a run in RunState status @p status emits: RUNNING → RUNNING,
 * SUCCEEDED → COMPLETE, FAILED and TIMED_OUT → FAIL, CANCELLED and LOST →
 * ABORT. Other statuses (UNKNOWN, ACCEPTED, RETRYING) emit nothing: -1.
 * START is not derived from a status: the worker emits it when the first
 * attempt begins (later attempts may emit RUNNING), so a retried run still
 * has one START and one terminal event.
 */
int floq_lineage_event_type_for_status(const char *status);

/* ---------------------------------------------------------------- options */

/**
 * What the event builder needs beyond the two floq records. Initialise with
 * floq_lineage_opts_init() (every field to its default), then set what
 * applies. Strings are borrowed for the duration of the call only.
 */
typedef struct floq_lineage_opts_s {
        /** job namespace when the deployment has none (lineage.namespace);
         *  NULL: FLOQ_LINEAGE_NAMESPACE_DEFAULT */
        const char *namespace_default;
        /** `producer` and every facet's `_producer`; NULL: FLOQ_PRODUCER_URI */
        const char *producer;
        /** eventTime in Unix ms; 0: from the RunState (START: started_at,
         *  RUNNING: heartbeat_at, terminal: finished_at), else now */
        int64_t event_time_ms;
        /** the parent run's job, when RunState.parent_run_id is set; both
         *  NULL (unknown): the parent facet is left out (it requires the
         *  job), see docs/lineage.md */
        const char *parent_job_namespace;
        const char *parent_job_name;
        /** the root of the parent chain, when the parent has a parent
         *  itself; all three or none */
        const char *root_run_id;
        const char *root_job_namespace;
        const char *root_job_name;
        /** environment of the run ("NAME=value" strings, NULL-terminated);
         *  NULL: no environmentVariables facet. Only names in @p env_allow
         *  that do not look like secrets are reported. */
        const char *const *envp;
        /** comma-separated names allowed into environmentVariables;
         *  NULL: "PATH,HOME,LANG,LC_ALL,TZ" */
        const char *env_allow;
        /** most bytes of RunState.output_tail kept as the errorMessage
         *  stackTrace (the end is kept); 0: 4096 */
        size_t error_tail_max;
        /** 0: merge the datasets a run reported on stdout (see
         *  floq_lineage_parse_datasets()) into COMPLETE/FAIL/ABORT events;
         *  1: only the declared ones */
        int ignore_reported_datasets;
} floq_lineage_opts_t;

/** Every field of @p opts to its default. */
void floq_lineage_opts_init(floq_lineage_opts_t *opts);

/**
 * floq_lineage_opts_init() then namespace_default from the configuration
 * (lineage.namespace). @p conf is borrowed: the strings stay valid while
 * @p conf is unchanged.
 */
void floq_lineage_opts_from_conf(floq_lineage_opts_t *opts,
                                 const floq_conf_t *conf);

/* ------------------------------------------------------------- run events */

/**
 * Build the OpenLineage 2-0-2 RunEvent of a floq run.
 *
 * @param type        START when the first attempt begins, RUNNING for later
 *                    attempts or long runs, then exactly one of COMPLETE /
 *                    FAIL / ABORT
 *                    (floq_lineage_event_type_for_status() maps a status)
 * @param deployment  the run's Deployment record (json shaped by
 *                    Deployment.avsc), or NULL when it is gone: the job is
 *                    then run_state.deployment in the default namespace and
 *                    the event has no datasets
 * @param run_state   the run's RunState record (RunState.avsc): run_id (a
 *                    UUID) is required and becomes run.runId
 * @param opts        NULL for defaults
 * @return a new event (caller owns the reference) or NULL with the reason
 *         in errstr (FLOQ_ERR_INVALID_ARG: a required field is missing or
 *         the run id is not a UUID).
 * Borrows every argument. Thread-safe.
 */
json_t *floq_lineage_event_new(floq_lineage_event_type_t type,
                               const json_t *deployment,
                               const json_t *run_state,
                               const floq_lineage_opts_t *opts, char *errstr,
                               size_t errstr_size);

/**
 * The Kafka message key of @p event, as the OpenLineage Java and Python
 * Kafka transports make it: "run:{namespace}/{name}" of the root job
 * (run.facets.parent.root.job) if there is one, else of the parent job
 * (run.facets.parent.job), else of the event's own job. So a parent and all
 * its children share a partition and stay in order. NULL when @p event has
 * no job (ENOMEM too). Caller frees.
 */
char *floq_lineage_key(const json_t *event);

/**
 * What the worker calls inside its transaction: floq_lineage_event_new(),
 * then the key and the compact UTF-8 JSON text to produce to topic.lineage.
 * On success *keyp and *valuep are malloc()ed (caller frees both, or hands
 * them to rd_kafka_producev() with RD_KAFKA_MSG_F_COPY and then frees);
 * on error both are NULL and errstr says why.
 */
floq_err_t floq_lineage_record_new(floq_lineage_event_type_t type,
                                   const json_t *deployment,
                                   const json_t *run_state,
                                   const floq_lineage_opts_t *opts,
                                   char **keyp, char **valuep, char *errstr,
                                   size_t errstr_size);

/* --------------------------------------------------- datasets from stdout */

/**
 * A run reports datasets beyond the deployment's declared ones by printing
 * lines on stdout (kept in RunState.output_tail, so print them near the
 * end):
 *
 *     ::openlineage-input  NAMESPACE NAME
 *     ::openlineage-output NAMESPACE NAME
 *
 * NAMESPACE has no blanks (e.g. "postgres://db:5432", "s3://bucket");
 * NAME is the rest of the line, surrounding blanks trimmed (it may contain
 * blanks). Other lines are ignored, and so are malformed reporting lines
 * (control characters, over FLOQ_LINEAGE_DATASET_NAME_MAX bytes).
 *
 * Appends {"namespace","name"} objects to @p inputs / @p outputs (JSON
 * arrays; either may be NULL to skip that direction), skipping ones already
 * present, at most FLOQ_LINEAGE_DATASETS_MAX per array.
 * @return number of datasets added, or -1 on ENOMEM.
 */
int floq_lineage_parse_datasets(const char *text, size_t len, json_t *inputs,
                                json_t *outputs);

#define FLOQ_LINEAGE_DATASETS_MAX 256
#define FLOQ_LINEAGE_DATASET_NAME_MAX 1024

/* --------------------------------------------------- emitting (producers) */

/** A dataset for floq_lineage_emit(). */
typedef struct floq_lineage_dataset_s {
        const char *namespace;
        const char *name;
} floq_lineage_dataset_t;

/**
 * An event for a producer's own job (floe's emit_lineage_event()): same
 * facets as the worker's events (processing_engine, jobType; no
 * floq-run-specific ones), run.runId = @p run_id (a UUID: make one with
 * floq_uuid_new() for START and keep it for the terminal event).
 * @p opts: namespace_default, producer, event_time_ms are used.
 * Returns NULL with errstr on bad arguments. Borrows everything.
 */
json_t *floq_lineage_job_event_new(floq_lineage_event_type_t type,
                                   const char *job_namespace,
                                   const char *job_name, const char *run_id,
                                   const floq_lineage_dataset_t *inputs,
                                   size_t input_cnt,
                                   const floq_lineage_dataset_t *outputs,
                                   size_t output_cnt,
                                   const floq_lineage_opts_t *opts,
                                   char *errstr, size_t errstr_size);

/** HTTP settings of an emitter or the forwarder. */
typedef struct floq_lineage_http_s {
        /** full endpoint, e.g. "http://marquez:5000/api/v1/lineage" */
        const char *url;
        /** "Authorization: Bearer <token>" when non-NULL */
        const char *bearer_token;
        /** "user:password" for basic auth when non-NULL */
        const char *basic_auth;
        /** whole-request timeout, ms; 0: 30000 */
        long timeout_ms;
} floq_lineage_http_t;

/**
 * Where floq_lineage_emit() sends: Kafka when @p rk is set (produce to
 * @p topic with the OpenLineage key; not flushed: the caller's producer
 * flushes, transactions apply), else HTTP POST to @p http.url (retried
 * @p http_retries times with backoff and jitter on 5xx and connection
 * errors, never on 4xx).
 */
typedef struct floq_lineage_target_s {
        rd_kafka_t *rk;
        const char *topic;
        floq_lineage_http_t http;
        int http_retries;
} floq_lineage_target_t;

/**
 * Build an event for a producer's job and send it to @p target.
 * Thread-safe for distinct targets (librdkafka handles are thread-safe).
 */
floq_err_t floq_lineage_emit(const floq_lineage_target_t *target,
                             floq_lineage_event_type_t type,
                             const char *job_namespace, const char *job_name,
                             const char *run_id,
                             const floq_lineage_dataset_t *inputs,
                             size_t input_cnt,
                             const floq_lineage_dataset_t *outputs,
                             size_t output_cnt, char *errstr,
                             size_t errstr_size);

/** Send an already built @p event to @p target (see floq_lineage_emit()). */
floq_err_t floq_lineage_emit_event(const floq_lineage_target_t *target,
                                   const json_t *event, char *errstr,
                                   size_t errstr_size);

/**
 * One blocking HTTP POST of @p body (JSON) to @p http. Returns FLOQ_OK on
 * 2xx; otherwise *statusp is the HTTP status (0: no response) and the
 * first bytes of the response body are copied to @p body_out (may be
 * NULL). FLOQ_ERR_TRANSPORT for connection errors and 5xx/408/429
 * (retriable), FLOQ_ERR_REJECTED for other 4xx.
 */
floq_err_t floq_lineage_http_post(const floq_lineage_http_t *http,
                                  const char *body, size_t len, long *statusp,
                                  char *body_out, size_t body_out_size,
                                  char *errstr, size_t errstr_size);

/* ------------------------------------------------------------------ graph */

typedef struct floq_lineage_graph_s floq_lineage_graph_t;

/** An empty graph; NULL on ENOMEM. */
floq_lineage_graph_t *floq_lineage_graph_new(void);
void floq_lineage_graph_destroy(floq_lineage_graph_t *graph);

/**
 * Fold one RunEvent into @p graph: its job and datasets become nodes,
 * every input an edge dataset→job and every output an edge job→dataset;
 * the run's state is its latest event (by eventTime, then arrival). Events
 * that are not RunEvents (no job or run) are counted and skipped:
 * FLOQ_ERR_INVALID_ARG. Borrows @p event.
 */
floq_err_t floq_lineage_graph_add(floq_lineage_graph_t *graph,
                                  const json_t *event);

/**
 * The graph as JSON: {"nodes":[{"id","kind":"job"|"dataset","namespace",
 * "name", jobs: "runs", "lastRunId", "lastState"}], "edges":[{"from","to",
 * "kind":"input"|"output", "lastState"}], "runs":[{"runId","job","state",
 * "eventTime"}], "skipped": N}. Node ids are "job:NS/NAME" and
 * "dataset:NS/NAME"; arrays are sorted so output is stable.
 */
json_t *floq_lineage_graph_to_json(const floq_lineage_graph_t *graph);

/** The graph as Graphviz DOT on @p out. Returns 0, or -1 on write error. */
int floq_lineage_graph_write_dot(const floq_lineage_graph_t *graph,
                                 FILE *out);

#endif /* FLOQ_LINEAGE_H */
