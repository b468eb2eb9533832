/*
 * schedules.h - the worker's schedule timers (worker/schedules.c): the
 * schedule/unschedule commands, the per-worker timer heap that fires due
 * schedules exactly once (run + ScheduleSet.last_fired in one
 * transaction, the run's command id derived from the due time), and the
 * pure rules the unit tests exercise directly (heap, derived ids, jitter,
 * catch-up selection). Semantics: docs/schedules.md, "Exactly once".
 * Everything here runs on the worker's loop thread.
 */
#ifndef FLOQ_WORKER_SCHEDULES_H
#define FLOQ_WORKER_SCHEDULES_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "floq_common.h"

struct floq_worker_s;

/* ------------------------------------------------------------ pure parts */

/** One timer: schedule @p schedule_id of @p deployment (partition @p p) is
 *  to be looked at when the wall clock reaches @p at (Unix ms). */
typedef struct wsched_ent_s {
        int64_t at;
        int32_t p;
        char *deployment;  /**< owned */
        char *schedule_id; /**< owned */
} wsched_ent_t;

/** A binary min-heap of timers on @c at (ties: insertion order is not
 *  kept; the firing rules do not depend on it). Caller-owned. */
typedef struct wsched_heap_s {
        wsched_ent_t *v;
        size_t cnt, size;
} wsched_heap_t;

void wsched_heap_init(wsched_heap_t *h);
/** Free every entry and the array; the heap stays usable (empty). */
void wsched_heap_release(wsched_heap_t *h);
/** Add a timer (the strings are copied). @return 0, -1 on ENOMEM. */
int wsched_heap_push(wsched_heap_t *h, int64_t at, int32_t p,
                     const char *deployment, const char *schedule_id);
/** The earliest timer, or NULL when empty. Borrowed. */
const wsched_ent_t *wsched_heap_peek(const wsched_heap_t *h);
/** Remove the earliest timer into @p out (the caller then owns its
 *  strings: wsched_ent_release()). @return 0, -1 when empty. */
int wsched_heap_pop(wsched_heap_t *h, wsched_ent_t *out);
/** Drop every timer of partition @p p. */
void wsched_heap_remove_partition(wsched_heap_t *h, int32_t p);
void wsched_ent_release(wsched_ent_t *e);

/**
 * A UUID (version 5 layout: SHA-1 over a fixed floq namespace and
 * "deployment \n schedule_id \n due_ms \n kind") derived from one due time
 * of one schedule. @p kind "command" gives the scheduled run's command id,
 * "run" its run id: the same due time always gives the same ids, on any
 * worker, so a due time can never create two runs.
 */
void wsched_derive_id(const char *deployment, const char *schedule_id,
                      int64_t due_ms, const char *kind, char out[37]);

/** Deterministic jitter of one due time: in [0, @p jitter_ms], from a hash
 *  of (deployment, schedule_id, due_ms). 0 when @p jitter_ms <= 0. */
int64_t wsched_jitter_ms(const char *deployment, const char *schedule_id,
                         int64_t due_ms, int64_t jitter_ms);

/** Catch-up policies (ScheduleSet's CatchUp enum). */
typedef enum wcatchup_e {
        WCATCHUP_SKIP,
        WCATCHUP_LATEST,
        WCATCHUP_ALL,
} wcatchup_t;

/** Overlap policies (ScheduleSet's Overlap enum). */
typedef enum woverlap_e {
        WOVERLAP_ALLOW,
        WOVERLAP_SKIP,
        WOVERLAP_BUFFER_ONE,
        WOVERLAP_CANCEL_PREVIOUS,
} woverlap_t;

wcatchup_t wsched_catchup_of(const char *s);
woverlap_t wsched_overlap_of(const char *s);

/**
 * Which of the due times that are ready at once to fire. @p n ready due
 * times end the backlog (ascending; older ones, beyond what any policy can
 * fire, may have been dropped by the caller); the newest, @p due[n-1], is
 * *on time* when its fire instant (due + jitter) @p last_fire_at is at most
 * @p misfire_ms before @p now, every other one was missed.
 *  - SKIP: only an on-time newest one;
 *  - LATEST: the newest one;
 *  - ALL: the newest min(n, @p max) (max < 1 counts as 1).
 * @return the index of the first selected; due[first..n-1] fire (first ==
 *         n: none).
 */
size_t wsched_catchup_select(wcatchup_t pol, int max, size_t n,
                             int64_t last_fire_at, int64_t now,
                             int64_t misfire_ms);

/** The window and pause state of one schedule (Schedule.start_at, end_at,
 *  paused): due times outside [start_at, end_at] and every due time while
 *  paused never fire. */
typedef struct wsched_window_s {
        int64_t start_at; /**< first instant a firing due time may be;
                               -1: no start date */
        int64_t end_at;   /**< last instant; -1: no end date */
        int paused;
} wsched_window_t;

/** The window of Schedule (or ScheduleBody) @p sch, borrowed JSON. */
void wsched_window_of(const json_t *sch, wsched_window_t *win);

/** Whether due time @p due may fire: not paused and inside the window. */
int wsched_window_allows(const wsched_window_t *win, int64_t due);

/** Where the enumeration of due times starts (exclusive): @p after, or
 *  just before start_at when that is later, so due times before the start
 *  never come up. */
int64_t wsched_window_after(const wsched_window_t *win, int64_t after);

/** The handled-through mark (Schedule.last_fired) after a resume at @p now
 *  of a schedule handled through @p last: the later of the two, so the due
 *  times that fell while paused are skipped, not backfilled. */
int64_t wsched_resume_mark(int64_t last, int64_t now);

/**
 * Up to @p max fire times (due times, ascending) strictly after @p now
 * that @p win lets fire; none when paused or past end_at. @return how many
 * were written to @p out.
 */
size_t wsched_next_times(const floq_cron_t *c, const floq_tz_t *tz,
                         const wsched_window_t *win, int64_t now,
                         int64_t *out, size_t max);

/* ------------------------------------------------------------ worker */

/** The worker's schedule timers (in floq_worker_s.sched). */
typedef struct wsched_s wsched_t;

/**
 * Fire every due schedule of the owned partitions, in the open (or a new)
 * transaction; rebuild a partition's timers when its ScheduleSets changed
 * (restore, abort, schedule commands). Called from the loop.
 */
void worker_schedules_tick(struct floq_worker_s *w);
/** Free the timers (at worker destruction). */
void worker_schedules_destroy(struct floq_worker_s *w);

/**
 * The schedule / unschedule commands, inside the open transaction. On
 * success they wrote the ScheduleSet and the final reply (SCHEDULED with
 * the next five fire times / UNSCHEDULED; unschedule with action PAUSE or
 * RESUME answers SCHEDULED with detail {"paused": ...}) and return FLOQ_OK; otherwise
 * they wrote nothing and return the error with the reason in @p why, for
 * the caller's REJECTED reply and DLQ record.
 */
floq_err_t worker_cmd_schedule(struct floq_worker_s *w, int32_t p,
                               const json_t *cmd, const json_t *body,
                               char *why, size_t why_size);
floq_err_t worker_cmd_unschedule(struct floq_worker_s *w, int32_t p,
                                 const json_t *cmd, const json_t *body,
                                 char *why, size_t why_size);

#endif /* FLOQ_WORKER_SCHEDULES_H */
