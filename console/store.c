/*
 * store.c - the console's picture of the topics, bounded. Runs are keyed
 * by run id and hold their latest RunState, a timeline of attempts built
 * from RunState records, heartbeats and replies, the last replies and
 * lineage events (console.run.events.max per run, console.events.max over
 * all), the command ids that touched them, the datasets lineage named and
 * the latest output tail. Deployments and schedule sets are the latest
 * record of their key; the DLQ is the last console.dlq.max rejects. Every
 * text that came from Kafka is cut to console.field.max.bytes on the way
 * in, every map and array to a fixed count, so no record can grow the
 * process beyond its bounds; the renderer escapes them on the way out.
 */
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "console_int.h"

#define ID_MAX 256        /* longest run id / key kept */
#define ITEMS_MAX 200     /* members kept of any map or array */
#define DEPTH_MAX 8       /* nesting kept of any value */
#define COMMANDS_MAX 64   /* command ids kept per run */
#define DATASETS_MAX 100  /* lineage datasets kept per run and direction */

/* The counts of runs, events and members bound what is kept, not how
 * big each is: a record's texts may each be console.field.max.bytes, so
 * 200,000 hostile replies alone could hold ~13 GB. The bytes every
 * jansson value holds are counted here instead (glibc's
 * malloc_usable_size(), so a value allocated before the count began and
 * freed after only makes it lower) and the store keeps within
 * climits_t.bytes_max. */
static atomic_llong json_bytes;
static pthread_once_t alloc_once = PTHREAD_ONCE_INIT;

static void *counted_malloc(size_t n) {
        void *p = malloc(n);

        if (p)
                atomic_fetch_add(&json_bytes,
                                 (long long)malloc_usable_size(p));
        return p;
}

static void counted_free(void *p) {
        if (!p)
                return;
        atomic_fetch_sub(&json_bytes, (long long)malloc_usable_size(p));
        free(p);
}

static void alloc_install(void) {
        json_set_alloc_funcs(counted_malloc, counted_free);
}

int64_t cstore_bytes(void) {
        long long n = atomic_load(&json_bytes);

        return n > 0 ? (int64_t)n : 0;
}

void cstore_json_free(void *p) {
        json_free_t f;

        json_get_alloc_funcs(NULL, &f);
        (f ? f : free)(p);
}

floq_err_t cstore_init(cstore_t *s, const climits_t *lim) {
        pthread_once(&alloc_once, alloc_install);
        memset(s, 0, sizeof(*s));
        s->lim = *lim;
        if (s->lim.runs_max < 1)
                s->lim.runs_max = 1;
        if (s->lim.run_events_max < 1)
                s->lim.run_events_max = 1;
        if (s->lim.events_max < 1)
                s->lim.events_max = 1;
        if (s->lim.field_max < 16)
                s->lim.field_max = 16;
        if (s->lim.page_size < 1)
                s->lim.page_size = 50;
        if (s->lim.bytes_max < 1)
                s->lim.bytes_max = CSTORE_BYTES_DEFAULT;
        s->runs = json_object();
        s->deployments = json_object();
        s->schedules = json_object();
        s->dlq = json_array();
        s->event_ring = json_array();
        s->started_ms = floq_now_ms();
        if (!s->runs || !s->deployments || !s->schedules || !s->dlq ||
            !s->event_ring || pthread_mutex_init(&s->lock, NULL)) {
                json_decref(s->runs);
                json_decref(s->deployments);
                json_decref(s->schedules);
                json_decref(s->dlq);
                json_decref(s->event_ring);
                return FLOQ_ERR_NOMEM;
        }
        return FLOQ_OK;
}

void cstore_release(cstore_t *s) {
        json_decref(s->runs);
        json_decref(s->deployments);
        json_decref(s->schedules);
        json_decref(s->dlq);
        json_decref(s->event_ring);
        pthread_mutex_destroy(&s->lock);
        memset(s, 0, sizeof(*s));
}

json_t *cstore_text(const cstore_t *s, const char *text) {
        size_t len, cut;
        char *tmp;
        json_t *v;

        if (!text)
                return NULL;
        len = strlen(text);
        if ((int64_t)len <= s->lim.field_max)
                return json_string(text);
        cut = (size_t)s->lim.field_max;
        while (cut > 0 && ((unsigned char)text[cut] & 0xC0) == 0x80)
                cut--; /* not inside a UTF-8 sequence */
        if (!(tmp = malloc(cut + 4)))
                return NULL;
        memcpy(tmp, text, cut);
        memcpy(tmp + cut, "\xe2\x80\xa6", 4); /* U+2026 */
        v = json_string(tmp);
        free(tmp);
        return v;
}

/* A bounded deep copy of @p v: strings cut, maps and arrays capped. */
static json_t *sanitize(const cstore_t *s, json_t *v, int depth) {
        json_t *out, *x;
        const char *k;
        size_t i, n = 0;

        if (!v)
                return json_null();
        if (depth > DEPTH_MAX)
                return json_null();
        switch (json_typeof(v)) {
        case JSON_STRING:
                return cstore_text(s, json_string_value(v));
        case JSON_OBJECT:
                if (!(out = json_object()))
                        return NULL;
                json_object_foreach(v, k, x) {
                        if (n++ >= ITEMS_MAX)
                                break;
                        if (strlen(k) > ID_MAX)
                                continue;
                        json_object_set_new(out, k, sanitize(s, x, depth + 1));
                }
                return out;
        case JSON_ARRAY:
                if (!(out = json_array()))
                        return NULL;
                json_array_foreach(v, i, x) {
                        if (i >= ITEMS_MAX)
                                break;
                        json_array_append_new(out, sanitize(s, x, depth + 1));
                }
                return out;
        default:
                return json_incref(v);
        }
}

/* A key or id as a C string, or NULL when empty, too long or not text. */
static int key_copy(char *dst, const char *key, size_t keylen) {
        if (!key || !keylen || keylen >= ID_MAX || memchr(key, 0, keylen))
                return -1;
        memcpy(dst, key, keylen);
        dst[keylen] = '\0';
        return 0;
}

static int id_ok(const char *id) {
        return id && *id && strlen(id) < ID_MAX;
}

/* ---------------------------------------------------------------- runs */

static int64_t run_events(json_t *run) {
        return (int64_t)json_array_size(json_object_get(run, "events"));
}

static void run_delete(cstore_t *s, const char *id) {
        json_t *run = json_object_get(s->runs, id);

        if (!run)
                return;
        s->events_total -= run_events(run);
        json_object_del(s->runs, id);
}

typedef struct victim_s {
        int64_t created;
        int done;
        const char *id;
} victim_t;

static int cmp_victim(const void *a, const void *b) {
        const victim_t *x = a, *y = b;

        if (x->done != y->done)
                return y->done - x->done; /* finished ones first */
        return x->created < y->created ? -1 : x->created > y->created;
}

/* Make room for more runs: one scan drops the oldest 1% (at least one),
 * finished runs (by creation) before unfinished ones, so that a full
 * store does not scan every run for every new one. */
static void runs_evict(cstore_t *s) {
        size_t n = json_object_size(s->runs), i = 0, k;
        victim_t *v = calloc(n + 1, sizeof(*v));
        char **ids = NULL;
        const char *key;
        json_t *run;

        if (!v || !n)
                goto out;
        json_object_foreach(s->runs, key, run) {
                v[i].created = cjson_int(run, "created_at");
                v[i].done = crun_state_terminal(
                        cjson_str(json_object_get(run, "state"), "status"));
                v[i++].id = key;
        }
        qsort(v, i, sizeof(*v), cmp_victim);
        k = i / 100 ? i / 100 : 1;
        /* copy the ids: deleting frees the keys */
        if (!(ids = calloc(k, sizeof(*ids))))
                goto out;
        for (i = 0; i < k; i++)
                ids[i] = strdup(v[i].id);
        for (i = 0; i < k; i++) {
                if (ids[i])
                        run_delete(s, ids[i]);
                free(ids[i]);
        }
out:
        free(ids);
        free(v);
}

static int over_budget(const cstore_t *s) {
        return cstore_bytes() > s->lim.bytes_max;
}

/* Within the byte budget again: the oldest runs go (finished first), a
 * percent per sweep, as many sweeps as it takes. Called with the lock
 * held after every record that may have grown the store. */
static void budget(cstore_t *s) {
        while (over_budget(s) && json_object_size(s->runs) > 0)
                runs_evict(s);
}

static json_t *run_get(cstore_t *s, const char *id) {
        json_t *run = json_object_get(s->runs, id);

        if (run)
                return run;
        if ((int64_t)json_object_size(s->runs) >= s->lim.runs_max)
                runs_evict(s);
        if ((int64_t)json_object_size(s->runs) >= s->lim.runs_max)
                return NULL; /* out of memory while evicting */
        run = json_pack("{s:s, s:n, s:n, s:{}, s:[], s:[], s:[], s:[], s:n, "
                        "s:I, s:I}",
                        "run_id", id, "deployment", "state", "attempts",
                        "events", "command_ids", "inputs", "outputs",
                        "output_tail", "created_at", (json_int_t)0,
                        "updated_at", (json_int_t)0);
        if (!run || json_object_set_new(s->runs, id, run))
                return NULL;
        return run;
}

static void set_if(json_t *o, const char *k, json_t *v) {
        if (v && !json_is_null(v))
                json_object_set(o, k, v);
}

/* @p k of @p o set to a bounded copy of @p text, unless it is NULL. */
static void set_text(const cstore_t *s, json_t *o, const char *k,
                     const char *text) {
        json_t *v = cstore_text(s, text);

        if (v)
                json_object_set_new(o, k, v);
}

/* The attempt @p n of @p run, created empty. */
static json_t *attempt_get(json_t *run, int64_t n) {
        json_t *atts = json_object_get(run, "attempts"), *a;
        char key[24];

        if (n < 1 || n > 1000000)
                return NULL;
        snprintf(key, sizeof(key), "%lld", (long long)n);
        if ((a = json_object_get(atts, key)))
                return a;
        /* A runaway attempt counter must not grow the timeline. */
        if (json_object_size(atts) >= ITEMS_MAX)
                return NULL;
        a = json_pack("{s:I}", "attempt", (json_int_t)n);
        if (!a || json_object_set_new(atts, key, a))
                return NULL;
        return a;
}

/* @p v into the sorted array of strings @p arr, once, within @p max: the
 * order does not depend on the order the topics were read in. */
static void add_unique_str(json_t *arr, const char *v, size_t max) {
        size_t i, n = json_array_size(arr);
        int c = 1;

        if (!id_ok(v))
                return;
        for (i = 0; i < n; i++)
                if ((c = strcmp(json_string_value(json_array_get(arr, i)),
                                v)) >= 0)
                        break;
        if (c != 0 && n < max)
                json_array_insert_new(arr, i, json_string(v));
}

static void ring_push(cstore_t *s, const char *run_id) {
        size_t n = json_array_size(s->event_ring);
        json_t *old, *run;

        if ((int64_t)n < s->lim.events_max) {
                json_array_append_new(s->event_ring, json_string(run_id));
                return;
        }
        old = json_incref(json_array_get(s->event_ring, s->ring_head));
        json_array_set_new(s->event_ring, s->ring_head, json_string(run_id));
        s->ring_head = (s->ring_head + 1) % n;
        if (s->events_total > s->lim.events_max &&
            (run = json_object_get(s->runs, json_string_value(old))) &&
            run_events(run) > 0) {
                json_array_remove(json_object_get(run, "events"), 0);
                s->events_total--;
        }
        json_decref(old);
}

/* Events in order of their time; a tie is broken by attempt, kind,
 * status, command and worker and at last by the whole event, so that two
 * consoles that read the replies and lineage topics interleaved
 * differently show one timeline. */
static int event_cmp(const json_t *a, const json_t *b) {
        static const char *const keys[] = { "kind", "status", "command_id",
                                            "worker", NULL };
        int64_t x = cjson_int(a, "at"), y = cjson_int(b, "at");
        char *da, *db;
        int i, c;

        if (x != y)
                return x < y ? -1 : 1;
        x = cjson_int(a, "attempt");
        y = cjson_int(b, "attempt");
        if (x != y)
                return x < y ? -1 : 1;
        for (i = 0; keys[i]; i++) {
                const char *p = cjson_str(a, keys[i]), *q = cjson_str(b, keys[i]);

                if ((c = strcmp(p ? p : "", q ? q : "")))
                        return c;
        }
        da = json_dumps(a, JSON_SORT_KEYS | JSON_COMPACT);
        db = json_dumps(b, JSON_SORT_KEYS | JSON_COMPACT);
        c = strcmp(da ? da : "", db ? db : "");
        free(da);
        free(db);
        return c;
}

/* @p ev (stolen) into @p run's events at its place in time, within both
 * bounds (past them the earliest goes). */
static void event_push(cstore_t *s, json_t *run, json_t *ev) {
        json_t *events = json_object_get(run, "events");
        size_t i;

        if (!ev)
                return;
        for (i = json_array_size(events); i > 0; i--)
                if (event_cmp(json_array_get(events, i - 1), ev) <= 0)
                        break;
        if (json_array_insert_new(events, i, ev))
                return;
        s->events_total++;
        if (run_events(run) > s->lim.run_events_max) {
                json_array_remove(events, 0);
                s->events_total--;
        }
        ring_push(s, cjson_str(run, "run_id"));
}

/* The run's output tail: a RunState's (the record the worker keeps) over
 * a reply's (which the reply's size limit may have cut), and of replies
 * the newest, whichever order the runs and replies topics were read in.
 * "tail_from_state" and "tail_at" are the store's own; no page shows
 * them. */
static void tail_set(const cstore_t *s, json_t *run, const char *tail,
                     int state, int64_t at) {
        if (!tail)
                return;
        if (!state && (json_is_true(json_object_get(run, "tail_from_state")) ||
                       at < cjson_int(run, "tail_at")))
                return;
        set_text(s, run, "output_tail", tail);
        json_object_set_new(run, "tail_from_state", json_boolean(state));
        json_object_set_new(run, "tail_at", json_integer(at));
}

static void touch(json_t *run, int64_t at) {
        if (at > cjson_int(run, "updated_at"))
                json_object_set_new(run, "updated_at", json_integer(at));
}

void cstore_apply_run(cstore_t *s, const char *key, size_t keylen,
                      json_t *msg) {
        char id[ID_MAX];
        size_t idlen = keylen;
        int hb = keylen > 3 && !memcmp(key + keylen - 3, ":hb", 3);
        json_t *run, *st, *a;
        int64_t n;

        if (hb)
                idlen -= 3;
        if (key_copy(id, key, idlen))
                return;
        pthread_mutex_lock(&s->lock);
        s->records++;
        if (!msg) {
                if (!hb)
                        run_delete(s, id);
                goto out;
        }
        if (!(run = run_get(s, id)))
                goto out;
        n = cjson_int(msg, "attempt");
        if (hb) {
                if ((a = attempt_get(run, n))) {
                        set_if(a, "worker", json_object_get(msg, "worker"));
                        set_if(a, "last_heartbeat_at",
                               json_object_get(msg, "heartbeat_at"));
                }
                touch(run, cjson_int(msg, "heartbeat_at"));
                goto out;
        }
        if (!(st = sanitize(s, msg, 0)))
                goto out;
        json_object_set_new(run, "state", st);
        set_if(run, "deployment", json_object_get(st, "deployment"));
        if (cjson_int(st, "created_at"))
                json_object_set(run, "created_at",
                                json_object_get(st, "created_at"));
        tail_set(s, run, cjson_str(st, "output_tail"), 1, 0);
        add_unique_str(json_object_get(run, "command_ids"),
                       cjson_str(st, "command_id"), COMMANDS_MAX);
        touch(run, cjson_int(st, "heartbeat_at"));
        touch(run, cjson_int(st, "finished_at"));
        if (cjson_str(st, "status") &&
            !strcmp(cjson_str(st, "status"), "RETRYING")) {
                /* Attempt n is due later; the record still holds the
                 * previous attempt's times, worker and result, and its
                 * reason says why that one ended. */
                json_t *prev;
                char pk[24];

                snprintf(pk, sizeof(pk), "%lld", (long long)(n - 1));
                prev = json_object_get(json_object_get(run, "attempts"), pk);
                if (prev && !crun_state_terminal(cjson_str(prev, "status")) &&
                    strcmp(cjson_str(prev, "status") ? cjson_str(prev, "status")
                                                     : "", "RETRIED")) {
                        json_object_set_new(prev, "status",
                                            json_string("RETRIED"));
                        set_if(prev, "reason", json_object_get(st, "reason"));
                        set_if(prev, "exit_code",
                               json_object_get(st, "exit_code"));
                        set_if(prev, "finished_at",
                               json_object_get(st, "finished_at"));
                }
                if ((a = attempt_get(run, n))) {
                        set_if(a, "next_attempt_at",
                               json_object_get(st, "next_attempt_at"));
                        if (!json_object_get(a, "started_at"))
                                json_object_set_new(a, "status",
                                                    json_string("RETRYING"));
                }
        } else if ((a = attempt_get(run, n))) {
                static const char *const keys[] = {
                        "worker", "started_at", "finished_at",
                        "next_attempt_at", "reason", "exit_code", NULL,
                };
                int i;

                for (i = 0; keys[i]; i++)
                        set_if(a, keys[i], json_object_get(st, keys[i]));
                set_if(a, "status", json_object_get(st, "status"));
        }
out:
        budget(s);
        pthread_mutex_unlock(&s->lock);
}

void cstore_apply_reply(cstore_t *s, json_t *msg) {
        const char *run_id = cjson_str(msg, "run_id"), *status = cjson_str(msg, "status");
        const char *cmd = cjson_str(msg, "command_id"), *u;
        json_t *run, *a, *ev, *cancelled = json_object_get(msg, "cancelled_runs");
        int64_t at = cjson_int(msg, "produced_at");
        size_t i;
        json_t *x;

        pthread_mutex_lock(&s->lock);
        s->records++;
        /* A stop names the runs it cancelled: they were touched by it. */
        json_array_foreach(cancelled, i, x) {
                json_t *r;

                if (i >= ITEMS_MAX)
                        break;
                if ((r = json_object_get(s->runs, json_string_value(x))))
                        add_unique_str(json_object_get(r, "command_ids"), cmd,
                                       COMMANDS_MAX);
        }
        if (!id_ok(run_id) || !(run = run_get(s, run_id)))
                goto out;
        if (json_is_null(json_object_get(run, "deployment")))
                set_text(s, run, "deployment", cjson_str(msg, "deployment"));
        if (!cjson_int(run, "created_at") && at)
                json_object_set_new(run, "created_at", json_integer(at));
        add_unique_str(json_object_get(run, "command_ids"), cmd, COMMANDS_MAX);
        tail_set(s, run, cjson_str(msg, "output_tail"), 0, at);
        touch(run, at);
        /* The ACCEPTED reply's url is the run URL (a console page); a
         * later reply's other http(s) url is the backend's own page of
         * the run (the airflow backend's DAG run). */
        if ((u = cjson_str(msg, "url")) && status) {
                const char *mine = cjson_str(run, "run_url");

                if (!strcmp(status, "ACCEPTED"))
                        set_text(s, run, "run_url", u);
                else if ((!strncmp(u, "https://", 8) ||
                          !strncmp(u, "http://", 7)) &&
                         (!mine || strcmp(mine, u)))
                        set_text(s, run, "backend_url", u);
        }
        if ((a = attempt_get(run, cjson_int(msg, "attempt"))) && status) {
                set_text(s, a, "worker", cjson_str(msg, "worker"));
                if (!strcmp(status, "RUNNING") &&
                    !json_object_get(a, "started_at"))
                        json_object_set_new(a, "started_at", json_integer(at));
                if (crun_state_terminal(status)) {
                        json_object_set_new(a, "status", json_string(status));
                        if (!json_object_get(a, "finished_at"))
                                json_object_set_new(a, "finished_at",
                                                    json_integer(at));
                }
        }
        ev = json_pack("{s:s, s:I, s:s?}", "kind", "reply", "at",
                       (json_int_t)at, "status", status);
        if (ev) {
                json_object_set_new(ev, "command_id", cstore_text(s, cmd));
                set_if(ev, "attempt", json_object_get(msg, "attempt"));
                json_object_set_new(ev, "worker",
                                    cstore_text(s, cjson_str(msg, "worker")));
                json_object_set_new(ev, "reason",
                                    cstore_text(s, cjson_str(msg, "reason")));
                set_if(ev, "exit_code", json_object_get(msg, "exit_code"));
                json_object_set_new(ev, "repeat",
                                    json_boolean(json_is_true(
                                            json_object_get(msg, "repeat"))));
        }
        event_push(s, run, ev);
out:
        budget(s);
        pthread_mutex_unlock(&s->lock);
}

/* Datasets of @p arr ({namespace, name}) into the run's @p dst array,
 * once each, sorted by namespace and name. */
static void datasets_add(cstore_t *s, json_t *dst, json_t *arr) {
        size_t i, j, n;
        json_t *d, *x;

        json_array_foreach(arr, i, d) {
                const char *ns = cjson_str(d, "namespace"), *name = cjson_str(d, "name");
                int c = 1;

                if (i >= ITEMS_MAX || json_array_size(dst) >= DATASETS_MAX)
                        break;
                if (!ns || !name)
                        continue;
                n = json_array_size(dst);
                for (j = 0; j < n; j++) {
                        x = json_array_get(dst, j);
                        if ((c = strcmp(cjson_str(x, "namespace"), ns)) == 0)
                                c = strcmp(cjson_str(x, "name"), name);
                        if (c >= 0)
                                break;
                }
                if (c != 0) {
                        json_t *o = json_object();

                        json_object_set_new(o, "namespace",
                                            cstore_text(s, ns));
                        json_object_set_new(o, "name", cstore_text(s, name));
                        json_array_insert_new(dst, j, o);
                }
        }
}

/* How many bytes of @p text to keep for at most @p max, not inside a
 * UTF-8 sequence (a cut one would make the whole text invalid: jansson
 * refuses it and the field would be lost). */
static int utf8_cut(const char *text, size_t max) {
        size_t n = text ? strlen(text) : 0;

        if (n <= max)
                return (int)n;
        while (max > 0 && ((unsigned char)text[max] & 0xC0) == 0x80)
                max--;
        return (int)max;
}

void cstore_apply_lineage(cstore_t *s, json_t *ev) {
        const char *run_id = cjson_str(json_object_get(ev, "run"), "runId");
        const char *type = cjson_str(ev, "eventType");
        const char *when = cjson_str(ev, "eventTime");
        json_t *job = json_object_get(ev, "job"), *run, *e;
        int64_t at = 0;
        char jobname[2 * ID_MAX + 2];

        if (when && floq_iso_parse(when, &at))
                at = 0;
        snprintf(jobname, sizeof(jobname), "%.*s/%.*s",
                 utf8_cut(cjson_str(job, "namespace"), ID_MAX),
                 cjson_str(job, "namespace") ? cjson_str(job, "namespace") : "",
                 utf8_cut(cjson_str(job, "name"), ID_MAX),
                 cjson_str(job, "name") ? cjson_str(job, "name") : "");
        pthread_mutex_lock(&s->lock);
        s->records++;
        if (!id_ok(run_id) || !(run = run_get(s, run_id)))
                goto out;
        datasets_add(s, json_object_get(run, "inputs"),
                     json_object_get(ev, "inputs"));
        datasets_add(s, json_object_get(run, "outputs"),
                     json_object_get(ev, "outputs"));
        touch(run, at);
        e = json_pack("{s:s, s:I}", "kind", "lineage", "at", (json_int_t)at);
        if (e) {
                json_object_set_new(e, "status",
                                    cstore_text(s, type ? type : "?"));
                json_object_set_new(e, "job", cstore_text(s, jobname));
        }
        event_push(s, run, e);
out:
        budget(s);
        pthread_mutex_unlock(&s->lock);
}

static void keyed_apply(cstore_t *s, json_t *obj, const char *key,
                        size_t keylen, json_t *msg) {
        char k[ID_MAX];
        json_t *v;

        if (key_copy(k, key, keylen))
                return;
        pthread_mutex_lock(&s->lock);
        s->records++;
        if (!msg) {
                json_object_del(obj, k);
        } else if ((v = sanitize(s, msg, 0))) {
                int known = json_object_get(obj, k) != NULL;

                json_object_set_new(obj, k, v);
                budget(s);
                /* Deployments and schedule sets are not evicted (they
                 * are the state); a new one past the budget is refused. */
                if (over_budget(s) && !known) {
                        json_object_del(obj, k);
                        s->refused++;
                }
        }
        pthread_mutex_unlock(&s->lock);
}

void cstore_apply_deployment(cstore_t *s, const char *key, size_t keylen,
                             json_t *msg) {
        keyed_apply(s, s->deployments, key, keylen, msg);
}

void cstore_apply_schedules(cstore_t *s, const char *key, size_t keylen,
                            json_t *msg) {
        keyed_apply(s, s->schedules, key, keylen, msg);
}

/* @p text (header bytes) as a bounded JSON string; when it is not UTF-8
 * (jansson refuses it, and the whole reason would be lost) every byte
 * past ASCII becomes '?', as the logger does. */
static json_t *header_text(const cstore_t *s, const char *text) {
        json_t *v;
        char *copy, *p;

        if (!text)
                return NULL;
        if ((v = json_string(text))) {
                json_decref(v);
                return cstore_text(s, text);
        }
        if (!(copy = strdup(text)))
                return NULL;
        for (p = copy; *p; p++)
                if ((unsigned char)*p >= 0x80)
                        *p = '?';
        v = cstore_text(s, copy);
        free(copy);
        return v;
}

void cstore_apply_dlq(cstore_t *s, const char *key, size_t keylen,
                      const char *reason, const char *error,
                      const char *source, const char *worker, size_t size,
                      int64_t ts_ms) {
        json_t *rec = json_object();
        char *k = NULL;

        if (!rec)
                return;
        if (key && keylen && (k = malloc(keylen + 1))) {
                size_t i;

                /* keys are bytes: keep printable ASCII, '?' for the rest */
                for (i = 0; i < keylen; i++)
                        k[i] = key[i] >= 0x20 && key[i] < 0x7f ? key[i] : '?';
                k[keylen] = '\0';
        }
        json_object_set_new(rec, "at", json_integer(ts_ms));
        json_object_set_new(rec, "key", cstore_text(s, k));
        json_object_set_new(rec, "reason", header_text(s, reason));
        json_object_set_new(rec, "error", header_text(s, error));
        json_object_set_new(rec, "source", header_text(s, source));
        json_object_set_new(rec, "worker", header_text(s, worker));
        json_object_set_new(rec, "size", json_integer((json_int_t)size));
        free(k);
        pthread_mutex_lock(&s->lock);
        s->records++;
        json_array_append_new(s->dlq, rec);
        while ((int64_t)json_array_size(s->dlq) > s->lim.dlq_max)
                json_array_remove(s->dlq, 0);
        budget(s);
        pthread_mutex_unlock(&s->lock);
}

void cstore_count_bad(cstore_t *s) {
        pthread_mutex_lock(&s->lock);
        s->undecodable++;
        pthread_mutex_unlock(&s->lock);
}
