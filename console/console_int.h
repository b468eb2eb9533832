/*
 * console_int.h - the console's private parts: the bounded in-memory
 * picture of the topics (store.c), the consumer that fills it (follow.c),
 * the pages (render.c) and the HTTP server (server.c). Only the console
 * library and its unit tests include it.
 */
#ifndef FLOQ_CONSOLE_INT_H
#define FLOQ_CONSOLE_INT_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "floq_common.h"
#include "floq_console.h"

/* ------------------------------------------------------------ buffer */

/** A growable text buffer with a bound; once over it, `over` is set and
 *  further appends are dropped (the page says it was cut). */
typedef struct cbuf_s {
        char *p;
        size_t len, size, max;
        int over;
        int oom;
} cbuf_t;

void cbuf_init(cbuf_t *b, size_t max);
void cbuf_release(cbuf_t *b);
void cbuf_add(cbuf_t *b, const char *s, size_t n);
void cbuf_puts(cbuf_t *b, const char *s);
void cbuf_printf(cbuf_t *b, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/** @p s (NULL: nothing) escaped for HTML text and quoted attributes:
 *  & < > " ' become entities, control characters but \n and \t are
 *  dropped. */
void cbuf_html(cbuf_t *b, const char *s);
/** @p s percent-encoded as one URL path segment or query value. */
void cbuf_url(cbuf_t *b, const char *s);
/** Hands the text over (NUL-terminated, caller frees); the buffer is
 *  empty after. NULL when out of memory. */
char *cbuf_take(cbuf_t *b);

/* ------------------------------------------------------------- store */

/** Bounds of what a console keeps (console.* properties). */
typedef struct climits_s {
        int64_t runs_max;       /**< runs kept; the oldest finished go first */
        int64_t run_events_max; /**< replies + lineage events per run */
        int64_t events_max;     /**< events kept over all runs */
        int64_t dlq_max;        /**< DLQ records kept */
        int64_t field_max;      /**< longest text field kept, bytes */
        int64_t page_size;      /**< default page size of /runs */
        int64_t bytes_max;      /**< heap the store's values may hold (0:
                                 *  CSTORE_BYTES_DEFAULT); past it the
                                 *  oldest runs go, as when runs_max is
                                 *  reached, and new deployments or
                                 *  schedule sets are refused */
} climits_t;

/** The store's byte budget when climits_t.bytes_max is 0: 1 GiB. */
#define CSTORE_BYTES_DEFAULT ((int64_t)1 << 30)

/** The byte budget of a console whose cgroup allows @p limit bytes (0:
 *  no limit): CSTORE_BYTES_DEFAULT, or three fifths of the limit when
 *  that is less (a container's memory limit, systemd's MemoryMax). */
int64_t floq_console_bytes_budget(int64_t limit);

/**
 * Everything a console knows, all jansson values owned by the store:
 * runs (object run id -> run), deployments (name -> Deployment),
 * schedules (deployment -> ScheduleSet), dlq (array, newest last).
 * A run is an object: run_id, deployment, state (its latest RunState or
 * null), attempts (object "N" -> attempt), events (array), command_ids,
 * inputs, outputs (arrays), output_tail, created_at, updated_at.
 * Every access holds `lock`.
 */
typedef struct cstore_s {
        pthread_mutex_t lock;
        climits_t lim;
        json_t *runs;
        json_t *deployments;
        json_t *schedules;
        json_t *dlq;
        json_t *event_ring; /**< run ids in event order, for events_max */
        size_t ring_head;
        int64_t events_total;
        int64_t undecodable;    /**< records that could not be read */
        int64_t records;        /**< records applied */
        int64_t refused;        /**< records refused by the byte budget */
        int restored;           /**< the state topics were read to their end */
        int64_t started_ms;
} cstore_t;

floq_err_t cstore_init(cstore_t *s, const climits_t *lim);
void cstore_release(cstore_t *s);

/* The apply functions take the lock themselves; @p msg is borrowed. */

/** A record of the runs topic: @p msg the decoded RunState, NULL for a
 *  tombstone; keys ending ":hb" are heartbeats. */
void cstore_apply_run(cstore_t *s, const char *key, size_t keylen,
                      json_t *msg);
/** A Deployment (NULL: tombstone of @p key). */
void cstore_apply_deployment(cstore_t *s, const char *key, size_t keylen,
                             json_t *msg);
/** A ScheduleSet (NULL: tombstone of @p key). */
void cstore_apply_schedules(cstore_t *s, const char *key, size_t keylen,
                            json_t *msg);
/** A Reply. */
void cstore_apply_reply(cstore_t *s, json_t *msg);
/** An OpenLineage RunEvent, as parsed JSON. */
void cstore_apply_lineage(cstore_t *s, json_t *ev);
/** A DLQ record: its key, the reason and error headers, its size, when
 *  it was written. Each text may be NULL. */
void cstore_apply_dlq(cstore_t *s, const char *key, size_t keylen,
                      const char *reason, const char *error,
                      const char *source, const char *worker, size_t size,
                      int64_t ts_ms);
/** Count a record that could not be read. */
void cstore_count_bad(cstore_t *s);

/** Bytes of heap jansson values hold in this process now (every json_t,
 *  string and table, counted by the allocator cstore_init() installs
 *  once per process with json_set_alloc_funcs()). Thread-safe. */
int64_t cstore_bytes(void);
/** Frees text allocated by jansson (json_dumps()) so that the count
 *  above stays true. */
void cstore_json_free(void *p);

/** A copy of @p s cut to the field bound at a UTF-8 boundary, with
 *  "…" appended when cut; NULL for NULL. */
json_t *cstore_text(const cstore_t *s, const char *text);

/* ----------------------------------------------------------- filters */

/** The query of /runs. Strings point into the request (borrowed). */
typedef struct cfilter_s {
        const char *deployment; /**< exact name, NULL: any */
        const char *state;      /**< RunStatus symbol, NULL: any */
        int64_t since_ms;       /**< created at or after; -1: no bound */
        int64_t until_ms;       /**< created before; -1: no bound */
        int64_t page;           /**< from 1 */
        int64_t per_page;       /**< 1..200 */
} cfilter_t;

/** Looks a query argument up by name; NULL when absent. */
typedef const char *(*cquery_fn)(void *ctx, const char *name);

/**
 * Parse the /runs query through @p get: deployment, state (a RunStatus,
 * any case), since and until (RFC 3339 with an offset, or Unix ms), page
 * (>= 1), per_page (1..200; default @p default_per_page).
 * @return FLOQ_OK, or FLOQ_ERR_INVALID_ARG with errstr naming the argument.
 */
floq_err_t cfilter_parse(cfilter_t *f, cquery_fn get, void *ctx,
                         int64_t default_per_page, char *errstr,
                         size_t errstr_size);

/** 1 when @p s is a RunStatus symbol (upper case), else 0. */
int crun_state_valid(const char *s);
/** 1 when @p s is a terminal RunStatus (SUCCEEDED ... LOST), else 0. */
int crun_state_terminal(const char *s);

/** Member @p k of @p o as text, NULL when absent or not a string. */
const char *cjson_str(const json_t *o, const char *k);
/** Member @p k of @p o as an integer, 0 when absent or not one. */
int64_t cjson_int(const json_t *o, const char *k);

/* ------------------------------------------------------------ render */

/** What a page request asks for. */
typedef struct creq_s {
        int json;               /**< Accept: application/json */
        const char *path;       /**< "/runs/ID" ... (decoded) */
        cquery_fn query;
        void *query_ctx;
        int64_t now_ms;
} creq_t;

/** One rendered answer: status, content type (static) and the body the
 *  caller frees. */
typedef struct cpage_s {
        unsigned status;
        const char *ctype;
        char *body;
} cpage_t;

/** Render the answer to @p req from @p s (takes the lock). The body is
 *  NULL only when out of memory. */
void crender(cstore_t *s, const creq_t *req, cpage_t *page);

/** The inline script of every HTML page and its CSP source
 *  ('sha256-...'), computed once. */
const char *crender_script(void);
const char *crender_script_csp(void);

/** The link to a run's own page at its backend: @p ref itself when it is
 *  an http(s) URL, the "url" member when it is a JSON object text with
 *  one, else NULL. Never any other scheme. Returns a pointer into @p ref
 *  or into *tmp (a json_t the caller json_decref()s). */
const char *crun_backend_url(const char *ref, json_t **tmp);

/* ------------------------------------------------------ follow / serve */

typedef struct cfollow_s cfollow_t;

/** The consumer of every topic, filling @p s; borrowed @p conf and
 *  @p s outlive it. */
cfollow_t *cfollow_new(const floq_conf_t *conf, cstore_t *s, char *errstr,
                       size_t errstr_size);
/** Poll for up to @p timeout_ms, applying what came. */
floq_err_t cfollow_poll(cfollow_t *f, int timeout_ms);
void cfollow_destroy(cfollow_t *f);

typedef struct cserver_s cserver_t;

/** Listen on @p listen ("host:port") and answer from @p s. */
cserver_t *cserver_new(const char *listen, cstore_t *s, char *errstr,
                       size_t errstr_size);
void cserver_destroy(cserver_t *srv);

#endif /* FLOQ_CONSOLE_INT_H */
