/*
 * outcomes.c - a partition's replay memory of deploy and stop commands
 * (G3): the outcome each one was answered with, kept as a record of its
 * own on the deployments topic (DeploymentOutcome, keyed "deployment\n
 * command_id") and here, typed, in two chained hash tables (by command id,
 * and by deployment: its outcomes oldest first) and one queue of every
 * outcome in the order it was recorded (the expiry reads its front). A
 * deploy writes its Deployment record without the memory plus one small
 * outcome record, where it used to rewrite every unexpired outcome of
 * the deployment with it (docs/benchmarks.md). Nothing here talks to
 * Kafka: txn.c writes the records and their tombstones, restore.c applies
 * them, commands.c asks.
 *
 * Thread-safety: one table is used by one thread (the worker's loop).
 */
#include <stdlib.h>
#include <string.h>

#include "worker_int.h"

struct wout_dep_s {
        wout_dep_t *hnext;
        wout_entry_t *head, *tail; /* oldest, youngest */
        size_t cnt;
        uint64_t hash;
        char name[];
};

static size_t bucket(uint64_t h, size_t cap) {
        return (size_t)(h & (cap - 1));
}

void wout_init(wout_t *o) {
        memset(o, 0, sizeof(*o));
}

static void entry_free(wout_entry_t *e) {
        free(e->reason);
        json_decref(e->cancelled);
        free(e);
}

void wout_clear(wout_t *o) {
        wout_entry_t *e, *next;
        size_t i;

        for (e = o->qhead; e; e = next) {
                next = e->qnext_all;
                entry_free(e);
        }
        for (i = 0; i < o->dcap; i++) {
                wout_dep_t *d, *dn;

                for (d = o->dbuckets[i]; d; d = dn) {
                        dn = d->hnext;
                        free(d);
                }
        }
        free(o->ebuckets);
        free(o->dbuckets);
        memset(o, 0, sizeof(*o));
}

/* Double @p *cap (from 64) and rehash the chains of @p *b; @p next_of
 * gives a node's chain link, @p hash_of its hash. */
#define REHASH(b, cap, type, link)                                         \
        do {                                                               \
                size_t ncap_ = *(cap) ? *(cap) * 2 : 64, i_;               \
                type **nb_ = calloc(ncap_, sizeof(*nb_));                  \
                if (!nb_)                                                  \
                        return FLOQ_ERR_NOMEM;                             \
                for (i_ = 0; i_ < *(cap); i_++) {                          \
                        type *n_ = (*(b))[i_], *nx_;                       \
                        for (; n_; n_ = nx_) {                             \
                                nx_ = n_->link;                            \
                                n_->link = nb_[bucket(n_->hash, ncap_)];   \
                                nb_[bucket(n_->hash, ncap_)] = n_;         \
                        }                                                  \
                }                                                          \
                free(*(b));                                                \
                *(b) = nb_;                                                \
                *(cap) = ncap_;                                            \
        } while (0)

static floq_err_t grow_entries(wout_t *o) {
        REHASH(&o->ebuckets, &o->ecap, wout_entry_t, hnext);
        return FLOQ_OK;
}

static floq_err_t grow_deps(wout_t *o) {
        REHASH(&o->dbuckets, &o->dcap, wout_dep_t, hnext);
        return FLOQ_OK;
}

static wout_dep_t *dep_find(const wout_t *o, const char *name, uint64_t h) {
        wout_dep_t *d;

        if (!o->dcap)
                return NULL;
        for (d = o->dbuckets[bucket(h, o->dcap)]; d; d = d->hnext)
                if (d->hash == h && !strcmp(d->name, name))
                        return d;
        return NULL;
}

/* The deployment @p name (NULL: none), or NULL. */
static wout_dep_t *dep_of(const wout_t *o, const char *name) {
        return name ? dep_find(o, name, wdone_hash(name)) : NULL;
}

static wout_dep_t *dep_get(wout_t *o, const char *name) {
        uint64_t h = wdone_hash(name);
        wout_dep_t *d = dep_find(o, name, h);
        size_t len = strlen(name);

        if (d)
                return d;
        if ((o->dcnt + 1) * 4 > o->dcap * 3 && grow_deps(o))
                return NULL;
        if (!(d = calloc(1, sizeof(*d) + len + 1)))
                return NULL;
        memcpy(d->name, name, len + 1);
        d->hash = h;
        d->hnext = o->dbuckets[bucket(h, o->dcap)];
        o->dbuckets[bucket(h, o->dcap)] = d;
        o->dcnt++;
        return d;
}

static void dep_drop(wout_t *o, wout_dep_t *d) {
        wout_dep_t **pp = &o->dbuckets[bucket(d->hash, o->dcap)];

        for (; *pp; pp = &(*pp)->hnext)
                if (*pp == d) {
                        *pp = d->hnext;
                        o->dcnt--;
                        free(d);
                        return;
                }
}

const wout_entry_t *wout_find(const wout_t *o, const char *deployment,
                              const char *command_id) {
        uint64_t h;
        wout_entry_t *e;

        if (!o->ecap || !deployment || !command_id)
                return NULL;
        h = wdone_hash(command_id);
        for (e = o->ebuckets[bucket(h, o->ecap)]; e; e = e->hnext)
                if (e->hash == h && !strcmp(e->command_id, command_id) &&
                    !strcmp(e->dep->name, deployment))
                        return e;
        return NULL;
}

/* Unlink @p e from one of its two lists (its deployment's, the
 * partition's): @p prev and @p next name its links in that list,
 * @p head and @p tail are the list's ends. */
#define UNLINK(e, prev, next, head, tail)                                  \
        do {                                                               \
                if ((e)->prev)                                             \
                        (e)->prev->next = (e)->next;                       \
                else                                                       \
                        (head) = (e)->next;                                \
                if ((e)->next)                                             \
                        (e)->next->prev = (e)->prev;                       \
                else                                                       \
                        (tail) = (e)->prev;                                \
        } while (0)

/* Append @p e at the tail of a list (links prev/next, ends head/tail). */
#define APPEND(e, prev, next, head, tail)                                  \
        do {                                                               \
                (e)->prev = (tail);                                        \
                if (tail)                                                  \
                        (tail)->next = (e);                                \
                else                                                       \
                        (head) = (e);                                      \
                (tail) = (e);                                              \
        } while (0)

/* Unlink @p e from everything and free it (its deployment too when it was
 * the last one). */
static void entry_remove(wout_t *o, wout_entry_t *e) {
        wout_entry_t **pp = &o->ebuckets[bucket(e->hash, o->ecap)];
        wout_dep_t *d = e->dep;

        for (; *pp; pp = &(*pp)->hnext)
                if (*pp == e) {
                        *pp = e->hnext;
                        break;
                }
        o->ecnt--;
        UNLINK(e, dprev, dnext, d->head, d->tail);
        /* the partition's list, and the expiry queue within it */
        UNLINK(e, qprev_all, qnext_all, o->qhead, o->qtail);
        if (o->qnext == e)
                o->qnext = e->qnext_all;
        entry_free(e);
        if (--d->cnt == 0)
                dep_drop(o, d);
}

/* 1 when @p status is what a deploy or stop is answered with: the
 * record's field is a string, the Reply's an enum, and a repeat answered
 * with anything else could not be encoded (no reply at all). */
int wout_status_ok(const char *status) {
        return status &&
               (!strcmp(status, "DEPLOYED") || !strcmp(status, "STOPPED"));
}

floq_err_t wout_put(wout_t *o, const char *deployment, const char *command_id,
                    const char *status, const char *reason,
                    const json_t *cancelled, int64_t at) {
        size_t idlen = command_id ? strlen(command_id) : 0;
        const wout_entry_t *old;
        wout_entry_t *e;
        wout_dep_t *d;

        if (!deployment || !command_id || !wout_status_ok(status))
                return FLOQ_ERR_INVALID_ARG;
        if ((old = wout_find(o, deployment, command_id)))
                entry_remove(o, (wout_entry_t *)old);
        if ((o->ecnt + 1) * 4 > o->ecap * 3 && grow_entries(o))
                return FLOQ_ERR_NOMEM;
        if (!(e = calloc(1, sizeof(*e) + idlen + 1)))
                return FLOQ_ERR_NOMEM;
        if ((reason && !(e->reason = strdup(reason))) ||
            !(d = dep_get(o, deployment))) {
                entry_free(e);
                return FLOQ_ERR_NOMEM;
        }
        memcpy(e->command_id, command_id, idlen + 1);
        strcpy(e->status, status);
        if (json_is_array(cancelled) && json_array_size(cancelled))
                e->cancelled = json_deep_copy(cancelled);
        e->at = at;
        e->hash = wdone_hash(command_id);
        e->dep = d;
        e->hnext = o->ebuckets[bucket(e->hash, o->ecap)];
        o->ebuckets[bucket(e->hash, o->ecap)] = e;
        o->ecnt++;
        APPEND(e, dprev, dnext, d->head, d->tail);
        d->cnt++;
        APPEND(e, qprev_all, qnext_all, o->qhead, o->qtail);
        if (!o->qnext)
                o->qnext = e;
        return FLOQ_OK;
}

void wout_del(wout_t *o, const char *deployment, const char *command_id) {
        const wout_entry_t *e = wout_find(o, deployment, command_id);

        if (e)
                entry_remove(o, (wout_entry_t *)e);
}

size_t wout_count(const wout_t *o, const char *deployment) {
        wout_dep_t *d = dep_of(o, deployment);

        return d ? d->cnt : 0;
}

size_t wout_live(const wout_t *o, const char *deployment, int64_t now,
                 int64_t life) {
        wout_dep_t *d = dep_of(o, deployment);
        const wout_entry_t *e;
        size_t n;

        if (!d)
                return 0;
        /* oldest first: the expired ones are at the front */
        for (n = d->cnt, e = d->head; e && e->at + life <= now; e = e->dnext)
                n--;
        return n;
}

const wout_entry_t *wout_first(const wout_t *o, const char *deployment) {
        wout_dep_t *d = dep_of(o, deployment);

        return d ? d->head : NULL;
}

/* "deployment\n command_id" of @p e into @p out (a JSON array). */
static void key_out(json_t *out, const wout_entry_t *e) {
        size_t a = strlen(e->dep->name), b = strlen(e->command_id);
        char *k = malloc(a + b + 2);

        if (!k)
                return;
        memcpy(k, e->dep->name, a);
        k[a] = '\n';
        memcpy(k + a + 1, e->command_id, b + 1);
        json_array_append_new(out, json_stringn_nocheck(k, a + b + 1));
        free(k);
}

/* Forget the oldest outcomes of @p d that the rule lets go. */
static size_t trim(wout_t *o, wout_dep_t *d, int64_t now, int64_t life,
                   size_t history, size_t max, json_t *out) {
        size_t n = 0, cnt = d->cnt;

        while (cnt > history && n < max) {
                wout_entry_t *e = d->head;

                if (cnt <= WRECENT_MAX && e->at + life > now)
                        break;
                key_out(out, e);
                n++;
                /* the deployment goes with its last outcome: never here,
                 * cnt stays above history >= 1 */
                entry_remove(o, e);
                cnt--;
        }
        return n;
}

size_t wout_trim(wout_t *o, const char *deployment, int64_t now,
                 int64_t life, size_t history, json_t *out) {
        wout_dep_t *d = dep_of(o, deployment);

        return d ? trim(o, d, now, life, history, (size_t)-1, out) : 0;
}

size_t wout_expire(wout_t *o, int64_t now, int64_t life, size_t history,
                   size_t max, json_t *out) {
        size_t n = 0;

        if (history < 1)
                history = 1;
        /* o->qnext: the oldest outcome not yet seen expired; those before
         * it are kept by the history rule until a younger one of their
         * deployment lets them go. */
        while (o->qnext && o->qnext->at + life <= now && n < max) {
                wout_dep_t *d = o->qnext->dep;

                o->qnext = o->qnext->qnext_all;
                n += trim(o, d, now, life, history, max - n, out);
        }
        return n;
}

size_t wout_total(const wout_t *o) {
        return o->ecnt;
}
