/*
 * schedules.c - schedules on the worker: the schedule/unschedule commands
 * and the timers that fire due schedules exactly once (G5).
 *
 * The ScheduleSet of a deployment (every schedule with its last_fired) is a
 * state record on the deployment's partition, so the worker owning that
 * partition owns its schedules. It keeps one min-heap of timers (next fire
 * instant, partition, deployment, schedule id) for all its partitions; a
 * timer is only a hint to look again: when one is due the schedule is
 * evaluated from the state itself (every due time in (last_fired, now]),
 * so stale or duplicate timers are harmless and the heap of a partition is
 * simply rebuilt whenever its ScheduleSets change under us (restore after
 * an assignment or an aborted transaction). Firing writes, in the open
 * transaction, the run (RunState ACCEPTED through worker_run_accept(),
 * command id and run id derived from the due time, created only when no
 * run has that command id) and the ScheduleSet with last_fired = the due
 * time: both commit or neither does, and a due time maps to one command id
 * whoever evaluates it. See docs/schedules.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "worker_int.h"

/* Most due times enumerated per evaluation: a backlog longer than this
 * (a month of every-second fires) is consumed over several ticks. */
#define WSCHED_ENUM_MAX 200000
/* Bounds accepted in a schedule command. */
#define WSCHED_ID_MAX        128
#define WSCHED_CATCHUP_MAX   10000
#define WSCHED_JITTER_MAX_MS (24LL * 3600 * 1000)
/* How often a schedule held back by an active run (BUFFER_ONE) is looked
 * at again. */
#define WSCHED_RECHECK_MS 200
/* Most timers evaluated per tick, so the loop keeps polling. */
#define WSCHED_TICK_MAX 2000
/* Zones kept loaded. */
#define WSCHED_TZ_CACHE 64

/* ------------------------------------------------------------ heap */

void wsched_heap_init(wsched_heap_t *h) { memset(h, 0, sizeof(*h)); }

void wsched_ent_release(wsched_ent_t *e) {
        free(e->deployment);
        free(e->schedule_id);
        e->deployment = e->schedule_id = NULL;
}

void wsched_heap_release(wsched_heap_t *h) {
        size_t i;

        for (i = 0; i < h->cnt; i++)
                wsched_ent_release(&h->v[i]);
        free(h->v);
        memset(h, 0, sizeof(*h));
}

static void heap_swap(wsched_heap_t *h, size_t a, size_t b) {
        wsched_ent_t t = h->v[a];

        h->v[a] = h->v[b];
        h->v[b] = t;
}

static void heap_up(wsched_heap_t *h, size_t i) {
        while (i > 0) {
                size_t parent = (i - 1) / 2;

                if (h->v[parent].at <= h->v[i].at)
                        break;
                heap_swap(h, parent, i);
                i = parent;
        }
}

static void heap_down(wsched_heap_t *h, size_t i) {
        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, m = i;

                if (l < h->cnt && h->v[l].at < h->v[m].at)
                        m = l;
                if (r < h->cnt && h->v[r].at < h->v[m].at)
                        m = r;
                if (m == i)
                        break;
                heap_swap(h, i, m);
                i = m;
        }
}

int wsched_heap_push(wsched_heap_t *h, int64_t at, int32_t p,
                     const char *deployment, const char *schedule_id) {
        wsched_ent_t e;

        if (h->cnt == h->size) {
                size_t n = h->size ? h->size * 2 : 16;
                wsched_ent_t *v = realloc(h->v, n * sizeof(*v));

                if (!v)
                        return -1;
                h->v = v;
                h->size = n;
        }
        e.at = at;
        e.p = p;
        e.deployment = strdup(deployment);
        e.schedule_id = strdup(schedule_id);
        if (!e.deployment || !e.schedule_id) {
                wsched_ent_release(&e);
                return -1;
        }
        h->v[h->cnt] = e;
        heap_up(h, h->cnt++);
        return 0;
}

const wsched_ent_t *wsched_heap_peek(const wsched_heap_t *h) {
        return h->cnt ? &h->v[0] : NULL;
}

int wsched_heap_pop(wsched_heap_t *h, wsched_ent_t *out) {
        if (!h->cnt)
                return -1;
        *out = h->v[0];
        h->v[0] = h->v[--h->cnt];
        if (h->cnt)
                heap_down(h, 0);
        return 0;
}

void wsched_heap_remove_partition(wsched_heap_t *h, int32_t p) {
        size_t i, j;

        for (i = 0, j = 0; i < h->cnt; i++) {
                if (h->v[i].p == p)
                        wsched_ent_release(&h->v[i]);
                else
                        h->v[j++] = h->v[i];
        }
        h->cnt = j;
        for (i = h->cnt / 2; i-- > 0;)
                heap_down(h, i);
}

/* ------------------------------------------------------------ ids */

void wsched_derive_id(const char *deployment, const char *schedule_id,
                      int64_t due_ms, const char *kind, char out[37]) {
        /* A fixed namespace UUID for floq's schedule-derived ids. */
        static const unsigned char ns[16] = { 0x6f, 0x1c, 0x9e, 0x4a, 0x2b,
                                              0x7d, 0x5e, 0x31, 0x8a, 0x40,
                                              0x0c, 0x5f, 0x13, 0x96, 0xd2,
                                              0x7b };
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        char num[32];
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        int i, o = 0;

        snprintf(num, sizeof(num), "%lld", (long long)due_ms);
        memset(md, 0, sizeof(md));
        if (ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL)) {
                EVP_DigestUpdate(ctx, ns, sizeof(ns));
                EVP_DigestUpdate(ctx, deployment, strlen(deployment));
                EVP_DigestUpdate(ctx, "\n", 1);
                EVP_DigestUpdate(ctx, schedule_id, strlen(schedule_id));
                EVP_DigestUpdate(ctx, "\n", 1);
                EVP_DigestUpdate(ctx, num, strlen(num));
                EVP_DigestUpdate(ctx, "\n", 1);
                EVP_DigestUpdate(ctx, kind, strlen(kind));
                EVP_DigestFinal_ex(ctx, md, &mdlen);
        }
        EVP_MD_CTX_free(ctx);
        md[6] = (unsigned char)((md[6] & 0x0f) | 0x50); /* version 5 */
        md[8] = (unsigned char)((md[8] & 0x3f) | 0x80); /* RFC 4122 */
        for (i = 0; i < 16; i++) {
                static const char hex[] = "0123456789abcdef";

                if (i == 4 || i == 6 || i == 8 || i == 10)
                        out[o++] = '-';
                out[o++] = hex[md[i] >> 4];
                out[o++] = hex[md[i] & 0xf];
        }
        out[o] = '\0';
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t len) {
        const unsigned char *s = data;
        size_t i;

        for (i = 0; i < len; i++) {
                h ^= s[i];
                h *= UINT64_C(0x100000001b3);
        }
        return h;
}

int64_t wsched_jitter_ms(const char *deployment, const char *schedule_id,
                         int64_t due_ms, int64_t jitter_ms) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);
        char num[32];

        if (jitter_ms <= 0)
                return 0;
        snprintf(num, sizeof(num), "%lld", (long long)due_ms);
        h = fnv1a(h, deployment, strlen(deployment) + 1);
        h = fnv1a(h, schedule_id, strlen(schedule_id) + 1);
        h = fnv1a(h, num, strlen(num));
        /* FNV's low bits mix poorly: fold the high half in. */
        h ^= h >> 29;
        h *= UINT64_C(0xbf58476d1ce4e5b9);
        h ^= h >> 32;
        return (int64_t)(h % (uint64_t)(jitter_ms + 1));
}

/* ------------------------------------------------------------ catch-up */

wcatchup_t wsched_catchup_of(const char *s) {
        if (s && !strcmp(s, "LATEST"))
                return WCATCHUP_LATEST;
        if (s && !strcmp(s, "ALL"))
                return WCATCHUP_ALL;
        return WCATCHUP_SKIP;
}

woverlap_t wsched_overlap_of(const char *s) {
        if (s && !strcmp(s, "SKIP"))
                return WOVERLAP_SKIP;
        if (s && !strcmp(s, "BUFFER_ONE"))
                return WOVERLAP_BUFFER_ONE;
        if (s && !strcmp(s, "CANCEL_PREVIOUS"))
                return WOVERLAP_CANCEL_PREVIOUS;
        return WOVERLAP_ALLOW;
}

size_t wsched_catchup_select(wcatchup_t pol, int max, size_t n,
                             int64_t last_fire_at, int64_t now,
                             int64_t misfire_ms) {
        if (n == 0)
                return 0;
        switch (pol) {
        case WCATCHUP_LATEST:
                return n - 1;
        case WCATCHUP_ALL:
                if (max < 1)
                        max = 1;
                return n > (size_t)max ? n - (size_t)max : 0;
        case WCATCHUP_SKIP:
        default:
                return now - last_fire_at <= misfire_ms ? n - 1 : n;
        }
}

/* ------------------------------------------------------------ window */

void wsched_window_of(const json_t *sch, wsched_window_t *win) {
        json_t *v;

        v = json_object_get(sch, "start_at");
        win->start_at = json_is_integer(v) ? json_integer_value(v) : -1;
        v = json_object_get(sch, "end_at");
        win->end_at = json_is_integer(v) ? json_integer_value(v) : -1;
        win->paused = json_is_true(json_object_get(sch, "paused"));
}

int wsched_window_allows(const wsched_window_t *win, int64_t due) {
        if (win->paused)
                return 0;
        if (win->start_at >= 0 && due < win->start_at)
                return 0;
        if (win->end_at >= 0 && due > win->end_at)
                return 0;
        return 1;
}

int64_t wsched_window_after(const wsched_window_t *win, int64_t after) {
        /* floq_cron_next() is strictly after: start_at itself may fire */
        if (win->start_at > 0 && win->start_at - 1 > after)
                return win->start_at - 1;
        return after;
}

int64_t wsched_resume_mark(int64_t last, int64_t now) {
        return now > last ? now : last;
}

size_t wsched_next_times(const floq_cron_t *c, const floq_tz_t *tz,
                         const wsched_window_t *win, int64_t now,
                         int64_t *out, size_t max) {
        size_t n = 0;
        int64_t t;

        if (win->paused)
                return 0;
        for (t = wsched_window_after(win, now); n < max;) {
                if ((t = floq_cron_next(c, tz, t)) < 0)
                        break;
                if (win->end_at >= 0 && t > win->end_at)
                        break;
                out[n++] = t;
        }
        return n;
}

/* ------------------------------------------------------------ state */

struct wsched_s {
        wsched_heap_t heap;
        unsigned *seen;     /**< per partition: sched_gen of the timers */
        int32_t part_cnt;
        int64_t misfire_ms;
        struct {
                char *name;
                floq_tz_t *tz;
        } tzs[WSCHED_TZ_CACHE];
        int tz_cnt;
};

static wsched_t *sched_get(floq_worker_t *w) {
        wsched_t *s = w->sched;
        int32_t p;

        if (s)
                return s;
        if (!(s = calloc(1, sizeof(*s))) ||
            !(s->seen = calloc((size_t)(w->part_cnt > 0 ? w->part_cnt : 1),
                               sizeof(*s->seen)))) {
                free(s);
                return NULL;
        }
        wsched_heap_init(&s->heap);
        s->part_cnt = w->part_cnt;
        /* Never equal to a partition's generation: rebuild them all. */
        for (p = 0; p < w->part_cnt; p++)
                s->seen[p] = w->parts[p].sched_gen - 1;
        s->misfire_ms = floq_conf_int(w->conf, "worker.schedule.misfire.ms");
        if (s->misfire_ms < 0)
                s->misfire_ms = 0;
        w->sched = s;
        return s;
}

void worker_schedules_destroy(floq_worker_t *w) {
        wsched_t *s = w->sched;
        int i;

        if (!s)
                return;
        wsched_heap_release(&s->heap);
        for (i = 0; i < s->tz_cnt; i++) {
                free(s->tzs[i].name);
                floq_tz_destroy(s->tzs[i].tz);
        }
        free(s->seen);
        free(s);
        w->sched = NULL;
}

/* A loaded zone, cached (zones are immutable). Borrowed. */
static const floq_tz_t *zone(wsched_t *s, const char *name, char *errstr,
                             size_t errstr_size) {
        floq_tz_t *tz;
        int i;

        for (i = 0; i < s->tz_cnt; i++)
                if (!strcmp(s->tzs[i].name, name))
                        return s->tzs[i].tz;
        if (!(tz = floq_tz_load(name, errstr, errstr_size)))
                return NULL;
        if (s->tz_cnt == WSCHED_TZ_CACHE) {
                for (i = 0; i < s->tz_cnt; i++) {
                        free(s->tzs[i].name);
                        floq_tz_destroy(s->tzs[i].tz);
                }
                s->tz_cnt = 0;
        }
        s->tzs[s->tz_cnt].name = strdup(name);
        if (!s->tzs[s->tz_cnt].name) {
                floq_tz_destroy(tz);
                return NULL;
        }
        s->tzs[s->tz_cnt].tz = tz;
        return s->tzs[s->tz_cnt++].tz;
}

/* The schedule @p id inside ScheduleSet @p set, or NULL; *idx gets its
 * index. Borrowed. */
static json_t *find_schedule(const json_t *set, const char *id,
                             size_t *idx) {
        json_t *arr = json_object_get(set, "schedules"), *o;
        size_t i;

        json_array_foreach(arr, i, o) {
                const char *sid = wjs(o, "schedule_id");

                if (sid && !strcmp(sid, id)) {
                        if (idx)
                                *idx = i;
                        return o;
                }
        }
        return NULL;
}

/* Write ScheduleSet @p set (taken) of @p name to partition @p p in the open
 * transaction and apply it. */
static floq_err_t put_set(floq_worker_t *w, int32_t p, const char *name,
                          json_t *set) {
        floq_err_t err;

        json_object_set_new(set, "updated_at", json_integer(floq_now_ms()));
        err = wtxn_produce_msg(w, w->t_schedules, p, name,
                               FLOQ_MSG_SCHEDULE_SET, set);
        if (!err)
                wpart_put_schedules(&w->parts[p], name, set);
        else
                json_decref(set);
        return err;
}

/* ------------------------------------------------------------ commands */

/* A ScheduleSet of deployment @p name with no schedules. */
static json_t *empty_set(const char *name) {
        return json_pack("{s:s, s:[]}", "deployment", name, "schedules");
}

/* The next five fire times of stored Schedule @p sch after @p now, as a
 * JSON array appended to @p times (merged, ascending, at most five). */
static void next_times_add(wsched_t *s, const json_t *sch, int64_t now,
                           json_t *times) {
        const char *tzname = wjs(sch, "timezone") ? wjs(sch, "timezone")
                                                  : "UTC";
        const floq_tz_t *tz;
        wsched_window_t win;
        floq_cron_t c;
        char err[256];
        int64_t t[5], merged[10];
        size_t n, m = 0, i, j, k;

        if (!wjs(sch, "cron") ||
            floq_cron_parse(wjs(sch, "cron"), &c, err, sizeof(err)) ||
            !(tz = zone(s, tzname, err, sizeof(err))))
                return;
        wsched_window_of(sch, &win);
        n = wsched_next_times(&c, tz, &win, now, t, 5);
        /* merge two ascending lists, dropping repeats */
        for (i = j = 0; (i < json_array_size(times) || j < n) && m < 5;) {
                int64_t a = i < json_array_size(times)
                                    ? json_integer_value(
                                              json_array_get(times, i))
                                    : INT64_MAX;
                int64_t b = j < n ? t[j] : INT64_MAX;

                if (a <= b)
                        i++;
                if (b <= a)
                        j++;
                merged[m++] = a < b ? a : b;
        }
        json_array_clear(times);
        for (k = 0; k < m; k++)
                json_array_append_new(times, json_integer(merged[k]));
}

/* The reply detail of a schedule command: {"paused", "start_at",
 * "end_at"} of @p sch as JSON text. */
static void set_detail(json_t *r, const json_t *sch) {
        json_t *d = json_object();
        char *text;

        json_object_set_new(d, "paused", json_boolean(json_is_true(
                                                 json_object_get(sch,
                                                                 "paused"))));
        json_object_set(d, "start_at", json_object_get(sch, "start_at"));
        json_object_set(d, "end_at", json_object_get(sch, "end_at"));
        if ((text = json_dumps(d, JSON_COMPACT)))
                json_object_set_new(r, "detail", json_string(text));
        free(text);
        json_decref(d);
}

floq_err_t worker_cmd_schedule(floq_worker_t *w, int32_t p,
                               const json_t *cmd, const json_t *body,
                               char *why, size_t why_size) {
        const char *name = wjs(cmd, "deployment");
        const char *sid = wjs(body, "schedule_id");
        const char *expr = wjs(body, "cron");
        const char *tzname = wjs(body, "timezone");
        json_t *old_set = json_object_get(w->parts[p].schedules, name);
        json_t *set, *sch, *old, *times, *r, *v;
        const floq_tz_t *tz;
        wsched_t *s = sched_get(w);
        wsched_window_t win;
        floq_cron_t c;
        char err[256];
        int64_t now = floq_now_ms(), catchup_max, jitter, next[5];
        size_t idx = 0, n, i;

        if (!s) {
                snprintf(why, why_size, "out of memory");
                return FLOQ_ERR_NOMEM;
        }
        if (!sid || !*sid)
                sid = "default";
        if (!tzname || !*tzname)
                tzname = "UTC";
        if (strlen(sid) > WSCHED_ID_MAX) {
                snprintf(why, why_size, "schedule_id longer than %d bytes",
                         WSCHED_ID_MAX);
                return FLOQ_ERR_INVALID_ARG;
        }
        if (!wpart_deployment(&w->parts[p], name)) {
                snprintf(why, why_size, "unknown deployment '%s'", name);
                return FLOQ_ERR_NOT_FOUND;
        }
        if (!expr || floq_cron_parse(expr, &c, err, sizeof(err))) {
                snprintf(why, why_size, "invalid cron expression '%s': %s",
                         expr ? expr : "", expr ? err : "missing");
                return FLOQ_ERR_INVALID_ARG;
        }
        if (!(tz = zone(s, tzname, err, sizeof(err)))) {
                snprintf(why, why_size, "invalid time zone '%s': %s", tzname,
                         err);
                return FLOQ_ERR_INVALID_ARG;
        }
        catchup_max = wji(body, "catchup_max", 10);
        jitter = wji(body, "jitter_ms", 0);
        if (catchup_max < 1 || catchup_max > WSCHED_CATCHUP_MAX) {
                snprintf(why, why_size, "catchup_max must be 1..%d",
                         WSCHED_CATCHUP_MAX);
                return FLOQ_ERR_INVALID_ARG;
        }
        if (jitter < 0 || jitter > WSCHED_JITTER_MAX_MS) {
                snprintf(why, why_size,
                         "jitter_ms must be 0..%lld (one day)",
                         (long long)WSCHED_JITTER_MAX_MS);
                return FLOQ_ERR_INVALID_ARG;
        }
        wsched_window_of(body, &win);
        if (win.start_at >= 0 && win.end_at >= 0 &&
            win.end_at < win.start_at) {
                snprintf(why, why_size, "end_at is before start_at");
                return FLOQ_ERR_INVALID_ARG;
        }
        if (floq_cron_next(&c, tz, now) < 0) {
                snprintf(why, why_size,
                         "cron expression '%s' never fires in %s", expr,
                         tzname);
                return FLOQ_ERR_INVALID_ARG;
        }
        /* Empty when paused or when the window has no fire time left. */
        times = json_array();
        n = wsched_next_times(&c, tz, &win, now, next, 5);
        for (i = 0; i < n; i++)
                json_array_append_new(times, json_integer(next[i]));

        set = old_set ? json_deep_copy(old_set) : json_object();
        json_object_set_new(set, "deployment", json_string(name));
        if (!json_is_array(json_object_get(set, "schedules")))
                json_object_set_new(set, "schedules", json_array());
        old = find_schedule(set, sid, &idx);
        sch = json_object();
        json_object_set_new(sch, "schedule_id", json_string(sid));
        json_object_set_new(sch, "cron", json_string(expr));
        json_object_set_new(sch, "timezone", json_string(tzname));
        json_object_set_new(sch, "catchup",
                            json_string(wjs(body, "catchup")
                                                ? wjs(body, "catchup")
                                                : "SKIP"));
        json_object_set_new(sch, "catchup_max", json_integer(catchup_max));
        json_object_set_new(sch, "overlap",
                            json_string(wjs(body, "overlap")
                                                ? wjs(body, "overlap")
                                                : "ALLOW"));
        json_object_set_new(sch, "jitter_ms", json_integer(jitter));
        v = json_object_get(body, "params");
        json_object_set_new(sch, "params", json_is_object(v)
                                                   ? json_deep_copy(v)
                                                   : json_object());
        json_object_set_new(sch, "start_at", win.start_at >= 0
                                                     ? json_integer(
                                                               win.start_at)
                                                     : json_null());
        json_object_set_new(sch, "end_at", win.end_at >= 0
                                                   ? json_integer(win.end_at)
                                                   : json_null());
        json_object_set_new(sch, "paused", json_boolean(win.paused));
        /* Same times (expression and zone): the schedule keeps its place;
         * new times start from now, with no backlog of the old ones. */
        if (old && wjs(old, "cron") && !strcmp(wjs(old, "cron"), expr) &&
            wjs(old, "timezone") && !strcmp(wjs(old, "timezone"), tzname)) {
                json_object_set_new(sch, "created_at",
                                    json_integer(wji(old, "created_at",
                                                     now)));
                v = json_object_get(old, "last_fired");
                json_object_set_new(sch, "last_fired",
                                    json_is_integer(v) ? json_incref(v)
                                                       : json_null());
                /* Replaced unpaused: a resume, the paused period is not
                 * backfilled. */
                if (json_is_true(json_object_get(old, "paused")) &&
                    !win.paused)
                        json_object_set_new(
                                sch, "last_fired",
                                json_integer(wsched_resume_mark(
                                        json_is_integer(v)
                                                ? json_integer_value(v)
                                                : wji(old, "created_at",
                                                      now),
                                        now)));
        } else {
                json_object_set_new(sch, "created_at", json_integer(now));
                json_object_set_new(sch, "last_fired", json_null());
        }
        if (old)
                json_array_set_new(json_object_get(set, "schedules"), idx,
                                   sch);
        else
                json_array_append_new(json_object_get(set, "schedules"),
                                      sch);
        snprintf(err, sizeof(err), "schedule '%s' %s%s", sid,
                 old ? "replaced" : "added", win.paused ? " (paused)" : "");
        worker_recent_add(w, set, cmd, "SCHEDULED", err, NULL);
        if (put_set(w, p, name, set)) {
                json_decref(times);
                snprintf(why, why_size, "cannot write the schedule");
                return FLOQ_ERR_KAFKA;
        }
        r = worker_reply_new(w, wjs(cmd, "command_id"),
                             wjs(cmd, "correlation_id"), name, "SCHEDULED",
                             1);
        json_object_set_new(r, "next_fire_times", times);
        set_detail(r, sch);
        json_object_set_new(r, "reason", json_string(err));
        floq_info_ids("schedule", NULL, wjs(cmd, "command_id"),
                      "%s: schedule '%s' of '%s' %s: '%s' in %s",
                      wjs(cmd, "command_id"), sid, name,
                      old ? "replaced" : "added", expr, tzname);
        worker_reply(w, wjs(cmd, "reply_to"), r);
        return FLOQ_OK;
}

/* unschedule with action PAUSE (@p pause 1) or RESUME (0) of schedule
 * @p sid, or of all with NULL: SCHEDULED with detail {"paused": ...} and,
 * for RESUME, the next five fire times. A resume moves last_fired to now
 * so the due times that fell while paused are skipped (Temporal's
 * unpause: no backfill of the paused period); pausing a paused schedule
 * or resuming a running one changes nothing. */
static floq_err_t pause_resume(floq_worker_t *w, int32_t p,
                               const json_t *cmd, const char *sid, int pause,
                               char *why, size_t why_size) {
        const char *name = wjs(cmd, "deployment");
        json_t *old_set = json_object_get(w->parts[p].schedules, name);
        json_t *set, *o, *r, *times, *v, *d;
        wsched_t *s = sched_get(w);
        int64_t now = floq_now_ms();
        size_t i, changed = 0, cnt = 0;
        char reason[300], *text;

        if (!s) {
                snprintf(why, why_size, "out of memory");
                return FLOQ_ERR_NOMEM;
        }
        set = old_set ? json_deep_copy(old_set) : empty_set(name);
        times = json_array();
        json_array_foreach(json_object_get(set, "schedules"), i, o) {
                const char *id = wjs(o, "schedule_id");

                if (!id || (sid && strcmp(id, sid)))
                        continue;
                cnt++;
                if (json_is_true(json_object_get(o, "paused")) != pause) {
                        changed++;
                        if (!pause) {
                                v = json_object_get(o, "last_fired");
                                json_object_set_new(
                                        o, "last_fired",
                                        json_integer(wsched_resume_mark(
                                                json_is_integer(v)
                                                        ? json_integer_value(
                                                                  v)
                                                        : wji(o,
                                                              "created_at",
                                                              now),
                                                now)));
                        }
                        json_object_set_new(o, "paused",
                                            json_boolean(pause));
                }
                if (!pause)
                        next_times_add(s, o, now, times);
        }
        if (sid)
                snprintf(reason, sizeof(reason), "schedule '%s' %s%s", sid,
                         pause ? "paused" : "resumed",
                         changed ? "" : pause ? " (already)" : " (was not paused)");
        else
                snprintf(reason, sizeof(reason),
                         "%zu schedule(s) %s, %zu already", changed,
                         pause ? "paused" : "resumed", cnt - changed);
        /* Written even when nothing changed: the outcome is recorded. */
        worker_recent_add(w, set, cmd, "SCHEDULED", reason, NULL);
        if (put_set(w, p, name, set)) {
                json_decref(times);
                snprintf(why, why_size, "cannot write the schedules");
                return FLOQ_ERR_KAFKA;
        }
        r = worker_reply_new(w, wjs(cmd, "command_id"),
                             wjs(cmd, "correlation_id"), name, "SCHEDULED",
                             1);
        json_object_set_new(r, "next_fire_times", times);
        d = json_pack("{s:b}", "paused", pause);
        if ((text = json_dumps(d, JSON_COMPACT)))
                json_object_set_new(r, "detail", json_string(text));
        free(text);
        json_decref(d);
        json_object_set_new(r, "reason", json_string(reason));
        floq_info_ids("schedule", NULL, wjs(cmd, "command_id"),
                      "%s: '%s': %s", wjs(cmd, "command_id"), name,
                      reason);
        worker_reply(w, wjs(cmd, "reply_to"), r);
        return FLOQ_OK;
}

floq_err_t worker_cmd_unschedule(floq_worker_t *w, int32_t p,
                                 const json_t *cmd, const json_t *body,
                                 char *why, size_t why_size) {
        const char *name = wjs(cmd, "deployment");
        const char *sid = wjs(body, "schedule_id");
        const char *action = wjs(body, "action");
        json_t *old_set = json_object_get(w->parts[p].schedules, name);
        json_t *set, *arr, *r;
        size_t idx = 0, removed;
        char reason[300];

        if (sid && !(old_set && find_schedule(old_set, sid, &idx))) {
                snprintf(why, why_size, "no schedule '%s' of deployment '%s'",
                         sid, name);
                return FLOQ_ERR_NOT_FOUND;
        }
        if (!old_set && !wpart_deployment(&w->parts[p], name)) {
                snprintf(why, why_size, "unknown deployment '%s'", name);
                return FLOQ_ERR_NOT_FOUND;
        }
        if (action && !strcmp(action, "PAUSE"))
                return pause_resume(w, p, cmd, sid, 1, why, why_size);
        if (action && !strcmp(action, "RESUME"))
                return pause_resume(w, p, cmd, sid, 0, why, why_size);
        set = old_set ? json_deep_copy(old_set) : empty_set(name);
        arr = json_object_get(set, "schedules");
        if (sid) {
                json_array_remove(arr, idx);
                removed = 1;
        } else {
                removed = json_array_size(arr);
                json_array_clear(arr);
        }
        if (sid)
                snprintf(reason, sizeof(reason), "schedule '%s' removed",
                         sid);
        else
                snprintf(reason, sizeof(reason), "%zu schedule(s) removed",
                         removed);
        /* The set is kept (with no schedules) to hold the outcome. */
        worker_recent_add(w, set, cmd, "UNSCHEDULED", reason, NULL);
        if (put_set(w, p, name, set)) {
                snprintf(why, why_size, "cannot write the schedules");
                return FLOQ_ERR_KAFKA;
        }
        r = worker_reply_new(w, wjs(cmd, "command_id"),
                             wjs(cmd, "correlation_id"), name, "UNSCHEDULED",
                             1);
        json_object_set_new(r, "reason", json_string(reason));
        floq_info_ids("schedule", NULL, wjs(cmd, "command_id"),
                      "%s: '%s': %s", wjs(cmd, "command_id"), name,
                      reason);
        worker_reply(w, wjs(cmd, "reply_to"), r);
        return FLOQ_OK;
}

/* ------------------------------------------------------------ firing */

/* The runs of one schedule: the non-terminal ones and the latest (by
 * scheduled_for). */
typedef struct sruns_s {
        json_t *active;     /**< array of RunStates (borrowed refs held) */
        const json_t *prev; /**< latest run, borrowed */
} sruns_t;

static void schedule_runs(floq_worker_t *w, int32_t p, const char *name,
                          const char *sid, sruns_t *sr) {
        const json_t *active;
        const char *k;
        json_t *v, *rs;

        sr->active = json_array();
        sr->prev = wpart_schedule_runs(&w->parts[p], name, sid, &active);
        json_object_foreach((json_t *)active, k, v)
                if ((rs = wpart_run(&w->parts[p], k)))
                        json_array_append(sr->active, rs);
}

/* Create the run of due time @p due (unless it exists): RunState ACCEPTED
 * and the ACCEPTED reply to the reply topic, keyed by the derived command
 * id. */
static void fire(floq_worker_t *w, int32_t p, const char *name,
                 const json_t *sch, int64_t due) {
        const char *sid = wjs(sch, "schedule_id");
        char cmd_id[37], run_id[37], corr[300];
        json_t *cmd, *body, *rs, *r, *params;
        char *url;

        wsched_derive_id(name, sid, due, "command", cmd_id);
        if (wpart_find_cmd(&w->parts[p], cmd_id)) {
                floq_debug("schedule", "'%s'/'%s' due %lld: run exists",
                           name, sid, (long long)due);
                return;
        }
        wmetrics_sched_fire(w);
        wsched_derive_id(name, sid, due, "run", run_id);
        snprintf(corr, sizeof(corr), "schedule:%s", sid);
        cmd = json_pack("{s:s,s:s,s:s}", "command_id", cmd_id, "deployment",
                        name, "correlation_id", corr);
        params = json_object_get(sch, "params");
        params = json_is_object(params) ? json_incref(params) : json_object();
        /* run_id: not a RunBody field; worker_run_accept() takes it from
         * this in-memory body only, so a re-evaluation names the same run. */
        body = json_pack("{s:o,s:I,s:s,s:s}", "params", params,
                         "scheduled_for", (json_int_t)due, "schedule_id", sid,
                         "run_id", run_id);
        rs = worker_run_accept(w, p, cmd, body);
        json_decref(cmd);
        json_decref(body);
        if (!rs)
                return;
        r = worker_reply_new(w, cmd_id, corr, name, "ACCEPTED", 0);
        json_object_set_new(r, "run_id", json_string(wjs(rs, "run_id")));
        if ((url = wurl_expand(w->url_template, wjs(rs, "run_id"), name)))
                json_object_set_new(r, "url", json_string(url));
        free(url);
        json_object_set_new(r, "attempt", json_integer(1));
        floq_info_ids("schedule", wjs(rs, "run_id"), cmd_id,
                      "'%s'/'%s' due %lld: run %s (command %s)",
                      name, sid, (long long)due, wjs(rs, "run_id"), cmd_id);
        worker_reply(w, NULL, r);
        json_decref(rs);
}

/* Ready due times of one evaluation. */
typedef struct sready_s {
        int64_t *tail;   /**< ring of the newest cap ready due times */
        size_t cap, cnt; /**< cnt: how many were seen in all */
        int64_t first;   /**< oldest ready due time */
        int64_t last;    /**< newest */
        int64_t below;   /**< newest ready one < the threshold, or -1 */
        int64_t next;    /**< first due time not ready yet, or -1 */
        int truncated;   /**< WSCHED_ENUM_MAX reached */
} sready_t;

static int64_t ready_at(const sready_t *r, size_t i) {
        /* i-th of the kept tail, oldest first */
        size_t kept = r->cnt < r->cap ? r->cnt : r->cap;
        size_t start = (r->cnt - kept) % r->cap;

        return r->tail[(start + i) % r->cap];
}

/* Evaluate schedule @p sid of @p name on partition @p p at @p now: fire
 * what is due, record last_fired. @return when to look again, -1 never. */
static int64_t evaluate(floq_worker_t *w, wsched_t *s, int32_t p,
                        const char *name, const char *sid, int64_t now) {
        json_t *set = json_object_get(w->parts[p].schedules, name);
        json_t *sch = set ? find_schedule(set, sid, NULL) : NULL;
        json_t *dep = wpart_deployment(&w->parts[p], name);
        json_t *nset, *v;
        const char *expr, *tzname;
        const floq_tz_t *tz;
        floq_cron_t c;
        char err[256];
        wcatchup_t cu;
        woverlap_t ov;
        int64_t base, d, jit, threshold = -1, new_last, again;
        int catchup_max;
        sready_t rd;
        wsched_window_t win;
        sruns_t sr = { NULL, NULL };
        size_t first, i, kept, idx;
        int64_t *fires = NULL;
        size_t nfires = 0;

        if (!sch || !w->parts[p].owned)
                return -1;
        /* Paused: no timer until a resume (a ScheduleSet change) rebuilds
         * the partition's timers; the resume skips the paused period. */
        wsched_window_of(sch, &win);
        if (win.paused)
                return -1;
        expr = wjs(sch, "cron");
        tzname = wjs(sch, "timezone") ? wjs(sch, "timezone") : "UTC";
        if (!expr || floq_cron_parse(expr, &c, err, sizeof(err)) ||
            !(tz = zone(s, tzname, err, sizeof(err)))) {
                floq_warn("schedule", "'%s'/'%s': cannot evaluate: %s", name,
                          sid, err);
                return -1;
        }
        cu = wsched_catchup_of(wjs(sch, "catchup"));
        ov = wsched_overlap_of(wjs(sch, "overlap"));
        catchup_max = (int)wji(sch, "catchup_max", 10);
        if (catchup_max < 1)
                catchup_max = 1;
        jit = wji(sch, "jitter_ms", 0);
        v = json_object_get(sch, "last_fired");
        base = json_is_integer(v) ? json_integer_value(v)
                                  : wji(sch, "created_at", now);
        /* Due times before start_at never come up; the enumeration stops
         * at end_at (below), so those after it never do either. */
        base = wsched_window_after(&win, base);

        schedule_runs(w, p, name, sid, &sr);
        if (ov == WOVERLAP_BUFFER_ONE && sr.prev &&
            wrun_status_terminal(wjs(sr.prev, "status")))
                threshold = wji(sr.prev, "finished_at", -1);

        memset(&rd, 0, sizeof(rd));
        rd.cap = cu == WCATCHUP_ALL ? (size_t)catchup_max : 1;
        rd.below = rd.next = -1;
        if (!(rd.tail = malloc(rd.cap * sizeof(*rd.tail))))
                goto out_retry;
        for (d = floq_cron_next(&c, tz, base); d >= 0;
             d = floq_cron_next(&c, tz, d)) {
                if (!wsched_window_allows(&win, d))
                        break; /* past end_at: ended, rd.next stays -1 */
                if (d + wsched_jitter_ms(name, sid, d, jit) > now) {
                        rd.next = d;
                        break;
                }
                if (rd.cnt == 0)
                        rd.first = d;
                rd.last = d;
                if (threshold >= 0 && d < threshold)
                        rd.below = d;
                rd.tail[rd.cnt % rd.cap] = d;
                if (++rd.cnt >= WSCHED_ENUM_MAX) {
                        rd.truncated = 1;
                        break;
                }
        }
        if (rd.cnt == 0) {
                again = rd.next < 0 ? -1
                                    : rd.next + wsched_jitter_ms(name, sid,
                                                                 rd.next,
                                                                 jit);
                goto out;
        }
        kept = rd.cnt < rd.cap ? rd.cnt : rd.cap;
        if (!(fires = calloc(kept + 1, sizeof(*fires))))
                goto out_retry;
        new_last = rd.last;
        again = now; /* look again at once: more may be ready */
        if (!rd.truncated)
                again = rd.next < 0 ? -1
                                    : rd.next + wsched_jitter_ms(name, sid,
                                                                 rd.next,
                                                                 jit);

        if (rd.truncated) {
                /* An enormous backlog: only its newest part can fire;
                 * record the rest as handled and go on. */
                new_last = rd.last;
        } else if (!dep || !json_is_true(json_object_get(dep, "enabled"))) {
                floq_info("schedule", "'%s'/'%s': %zu due time(s) skipped: "
                                      "deployment %s",
                          name, sid, rd.cnt, dep ? "disabled" : "missing");
        } else if (ov == WOVERLAP_BUFFER_ONE && json_array_size(sr.active)) {
                /* Held: the oldest ready due time is the buffered one;
                 * nothing is recorded until the active run ends. */
                free(fires);
                fires = NULL;
                again = now + WSCHED_RECHECK_MS;
                goto out;
        } else if (ov == WOVERLAP_BUFFER_ONE && rd.below >= 0) {
                /* Due while the previous run was active: the buffered one
                 * (the oldest) starts now; the others of that time are
                 * dropped; later ones wait for it. */
                fires[nfires++] = rd.first;
                new_last = rd.below;
                again = now;
        } else {
                int64_t fire_at =
                        rd.last + wsched_jitter_ms(name, sid, rd.last, jit);

                /* CANCEL_PREVIOUS held this due time until the previous
                 * run had ended (below): it could fire from then on, so a
                 * long kill grace is no misfire. */
                if (ov == WOVERLAP_CANCEL_PREVIOUS && sr.prev &&
                    wrun_status_terminal(wjs(sr.prev, "status")) &&
                    wji(sr.prev, "finished_at", -1) > fire_at)
                        fire_at = wji(sr.prev, "finished_at", -1);
                first = wsched_catchup_select(cu, catchup_max, kept, fire_at,
                                              now, s->misfire_ms);
                if (first < kept && ov != WOVERLAP_ALLOW)
                        first = kept - 1; /* one run at a time */
                if (ov == WOVERLAP_SKIP && json_array_size(sr.active)) {
                        floq_info("schedule", "'%s'/'%s': due %lld skipped: "
                                              "previous run still active",
                                  name, sid, (long long)rd.last);
                        first = kept;
                }
                if (first < kept && ov == WOVERLAP_CANCEL_PREVIOUS &&
                    json_array_size(sr.active)) {
                        char why[300];
                        int live = 0;

                        snprintf(why, sizeof(why),
                                 "cancelled by schedule '%s': due time %lld "
                                 "started a new run",
                                 sid, (long long)ready_at(&rd, kept - 1));
                        /* As Temporal's CANCEL_OTHER: the new run starts
                         * once the previous one has really stopped. A live
                         * attempt is stopped after this transaction
                         * commits (asking again is a no-op); the due time
                         * waits, unrecorded, until it has ended. */
                        for (i = 0; i < json_array_size(sr.active); i++) {
                                json_t *rs = json_array_get(sr.active, i);

                                if (floq_executor_has(w->ex, wjs(rs, "run_id")))
                                        live = 1;
                                worker_run_cancel(w, p, rs, why);
                        }
                        if (live) {
                                free(fires);
                                fires = NULL;
                                again = now + WSCHED_RECHECK_MS;
                                goto out;
                        }
                }
                for (i = first; i < kept; i++)
                        fires[nfires++] = ready_at(&rd, i);
                wmetrics_sched_misfires(w, rd.cnt - nfires);
                if (rd.cnt - nfires > 0)
                        floq_info("schedule", "'%s'/'%s': %zu of %zu due "
                                              "time(s) up to %lld fire",
                                  name, sid, nfires, rd.cnt,
                                  (long long)rd.last);
        }

        /* One transaction: the runs and the new last_fired. */
        if (wtxn_begin(w))
                goto out_retry;
        for (i = 0; i < nfires; i++)
                fire(w, p, name, sch, fires[i]);
        nset = json_deep_copy(set);
        if (find_schedule(nset, sid, &idx)) {
                json_t *ns = json_array_get(json_object_get(nset,
                                                            "schedules"),
                                            idx);

                json_object_set_new(ns, "last_fired", json_integer(new_last));
        }
        {
                unsigned before = w->parts[p].sched_gen;

                put_set(w, p, name, nset);
                /* Our own write: the timers stay as they are. */
                if (s->seen[p] == before)
                        s->seen[p] = w->parts[p].sched_gen;
        }
        goto out;
out_retry:
        again = now + WSCHED_RECHECK_MS;
out:
        free(fires);
        free(rd.tail);
        json_decref(sr.active);
        return again;
}

/* Timers of partition @p p from its ScheduleSets (look at each now). */
static void rebuild(floq_worker_t *w, wsched_t *s, int32_t p, int64_t now) {
        const char *name;
        json_t *set, *o;
        size_t i;

        wsched_heap_remove_partition(&s->heap, p);
        s->seen[p] = w->parts[p].sched_gen;
        if (!w->parts[p].owned)
                return;
        json_object_foreach(w->parts[p].schedules, name, set) {
                json_array_foreach(json_object_get(set, "schedules"), i, o)
                        if (wjs(o, "schedule_id"))
                                wsched_heap_push(&s->heap, now, p, name,
                                                 wjs(o, "schedule_id"));
        }
}

void worker_schedules_tick(floq_worker_t *w) {
        wsched_t *s;
        int64_t now = floq_now_ms(), again;
        const wsched_ent_t *top;
        wsched_ent_t e;
        int32_t p;
        int n = 0;

        if (w->draining || w->fatal || !(s = sched_get(w)))
                return;
        for (p = 0; p < w->part_cnt && p < s->part_cnt; p++)
                if (s->seen[p] != w->parts[p].sched_gen)
                        rebuild(w, s, p, now);
        while ((top = wsched_heap_peek(&s->heap)) && top->at <= now &&
               n++ < WSCHED_TICK_MAX && !w->fatal) {
                wsched_heap_pop(&s->heap, &e);
                if (e.p < w->part_cnt && s->seen[e.p] == w->parts[e.p].sched_gen) {
                        again = evaluate(w, s, e.p, e.deployment,
                                         e.schedule_id, now);
                        /* An evaluation that changed the timers of its
                         * partition (a restore) leaves them to rebuild. */
                        if (again >= 0 &&
                            s->seen[e.p] == w->parts[e.p].sched_gen)
                                wsched_heap_push(&s->heap,
                                                 again > now ? again
                                                             : now + 1,
                                                 e.p, e.deployment,
                                                 e.schedule_id);
                }
                wsched_ent_release(&e);
        }
}
