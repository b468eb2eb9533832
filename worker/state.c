/*
 * state.c - the worker's in-memory picture of one partition (deployments,
 * schedules, runs and the indexes that answer repeats: idempotency keys and
 * run command ids), plus the small pure rules the core applies to it: which
 * statuses are terminal, where a deployment lives (its home partition), how
 * long to back off before a retry, how a run URL is built and which
 * command envelopes are acceptable. Nothing here talks to Kafka, so the
 * unit tests exercise it directly.
 */
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker_int.h"

/* Bounds on envelope strings: a command id is a UUID, names are short. */
#define WCMD_NAME_MAX 249 /* Kafka's own topic/key manners */

const char *wjs(const json_t *obj, const char *key) {
        json_t *v = json_object_get(obj, key);

        return json_is_string(v) ? json_string_value(v) : NULL;
}

int64_t wji(const json_t *obj, const char *key, int64_t def) {
        json_t *v = json_object_get(obj, key);

        if (json_is_integer(v))
                return (int64_t)json_integer_value(v);
        if (json_is_real(v))
                return (int64_t)json_real_value(v);
        return def;
}

/* ------------------------------------------------- the ended queue */

/* Each entry is three words: the run id's hash, the end the record said
 * when it was queued (wrun_ended_at(), -1 for none: a later end of the
 * same run queues it again and makes this entry stale), and when it is
 * due: that end, but never later than the clock when it was queued, so
 * that one record stamped far ahead (a fast clock) holds back nothing
 * queued after it. */
#define RUNQ_WORDS 3

static void runq_clear(wrunq_t *q) {
        q->head = q->cnt = 0;
}

/* Append run @p run_id that ended with record @p rs; out of memory loses
 * the entry (the run is then kept past its retention, never removed
 * early). */
static void runq_push_at(wrunq_t *q, const char *run_id, int64_t ended) {
        int64_t now = floq_now_ms();

        if (q->head && q->head * 2 >= q->cnt) {
                memmove(q->ids, q->ids + q->head,
                        (q->cnt - q->head) * sizeof(*q->ids));
                q->cnt -= q->head;
                q->head = 0;
        }
        if (q->cnt + RUNQ_WORDS > q->cap) {
                size_t ncap = q->cap ? q->cap * 2 : 64 * RUNQ_WORDS;
                uint64_t *n = realloc(q->ids, ncap * sizeof(*n));

                if (!n)
                        return;
                q->ids = n;
                q->cap = ncap;
        }
        q->ids[q->cnt++] = wdone_hash(run_id);
        q->ids[q->cnt++] = (uint64_t)ended;
        q->ids[q->cnt++] = (uint64_t)(ended < 0 || ended > now ? now : ended);
}

static void runq_push(wrunq_t *q, const char *run_id, const json_t *rs) {
        runq_push_at(q, run_id, wrun_ended_at(rs, -1));
}

void wpart_init_shared(wpart_t *part, floq_codec_t *codec) {
        memset(part, 0, sizeof(*part));
        part->deployments = json_object();
        part->dep_raw = json_object();
        part->schedules = json_object();
        part->runs = json_object();
        part->idem = json_object();
        part->idem_gone = json_object();
        part->cmds = json_object();
        part->sched_active = json_object();
        part->sched_last = json_object();
        part->seen = json_object();
        part->live = json_object();
        part->decoded = json_object();
        part->decoded_old = json_object();
        wdone_init(&part->done);
        wout_init(&part->outs);
        part->codec = codec;
        part->next_offset = -1;
        part->skip_from = -1;
        part->committed = -1;
}

void wpart_init(wpart_t *part) {
        wpart_init_shared(part, floq_codec_new(WPART_CODEC_MAX, NULL, 0));
        part->codec_owned = part->codec != NULL;
}

void wpart_clear(wpart_t *part) {
        json_object_clear(part->deployments);
        json_object_clear(part->dep_raw);
        json_object_clear(part->schedules);
        json_object_clear(part->runs);
        json_object_clear(part->idem);
        json_object_clear(part->idem_gone);
        json_object_clear(part->cmds);
        json_object_clear(part->sched_active);
        json_object_clear(part->sched_last);
        json_object_clear(part->seen);
        json_object_clear(part->live);
        json_object_clear(part->decoded);
        json_object_clear(part->decoded_old);
        wdone_clear(&part->done);
        wout_clear(&part->outs);
        runq_clear(&part->ended);
        part->owned = 0;
        part->next_offset = -1;
        part->skip_from = -1;
        part->committed = -1;
        part->pos_retry_mono = 0;
        part->paused = 0;
        part->parked = 0;
        part->park_epoch++;
        part->sched_gen++;
}

void wpart_release(wpart_t *part) {
        json_decref(part->deployments);
        json_decref(part->dep_raw);
        json_decref(part->schedules);
        json_decref(part->runs);
        json_decref(part->idem);
        json_decref(part->idem_gone);
        json_decref(part->cmds);
        json_decref(part->sched_active);
        json_decref(part->sched_last);
        json_decref(part->seen);
        json_decref(part->live);
        json_decref(part->decoded);
        json_decref(part->decoded_old);
        wdone_clear(&part->done);
        wout_clear(&part->outs);
        if (part->codec && part->codec_owned)
                floq_codec_destroy(part->codec);
        runq_clear(&part->ended);
        free(part->ended.ids);
        memset(part, 0, sizeof(*part));
}

void wpart_put_deployment(wpart_t *part, const char *name, json_t *dep) {
        json_object_del(part->dep_raw, name);
        if (dep)
                json_object_set_new(part->deployments, name, dep);
        else
                json_object_del(part->deployments, name);
}

floq_err_t wpart_put_deployment_raw(wpart_t *part, const char *name,
                                    const void *buf, size_t len) {
        floq_codec_field_t none;
        json_t *raw;
        floq_err_t err;

        /* Within what part->codec decodes, and every byte walked now as a
         * decode walks it: a record that cannot be kept this way is
         * decoded by the caller, which skips a bad one and keeps the
         * version before it. */
        if (!part->codec || len > WPART_CODEC_MAX)
                return FLOQ_ERR_TOO_LARGE;
        err = floq_codec_read_fields(part->codec, FLOQ_MSG_DEPLOYMENT, buf,
                                     len, NULL, &none, 0, NULL, NULL, 0);
        if (err)
                return err;
        if (!(raw = json_stringn_nocheck(buf, len)))
                return FLOQ_ERR_NOMEM;
        if (json_object_set_new(part->dep_raw, name, raw))
                return FLOQ_ERR_NOMEM;
        json_object_del(part->deployments, name);
        return FLOQ_OK;
}

json_t *wpart_deployment(wpart_t *part, const char *name) {
        json_t *dep = NULL, *raw;
        char errstr[256];

        if (!name || (dep = json_object_get(part->deployments, name)) || !(raw = json_object_get(part->dep_raw, name)))
                return dep;
        if (floq_codec_decode(part->codec, FLOQ_MSG_DEPLOYMENT,
                              json_string_value(raw), json_string_length(raw),
                              &dep, errstr, sizeof(errstr))) {
                floq_warn("state", "deployment '%s': its record does not "
                                   "decode (%s): treated as absent",
                          name, errstr);
                json_object_del(part->dep_raw, name);
                return NULL;
        }
        if (json_object_set_new(part->deployments, name, dep)) {
                /* No room to keep it decoded: the record stays, and the
                 * caller borrows nothing it would have to free. */
                return NULL;
        }
        json_object_del(part->dep_raw, name);
        return dep;
}

size_t wpart_deployment_count(const wpart_t *part) {
        return json_object_size(part->deployments) +
               json_object_size(part->dep_raw);
}

void wpart_put_schedules(wpart_t *part, const char *name, json_t *set) {
        part->sched_gen++;
        if (set)
                json_object_set_new(part->schedules, name, set);
        else
                json_object_del(part->schedules, name);
}

/* "deployment\n key": neither part may hold a newline in practice, and a
 * collision would only merge two keys of one deployment. */
static char *idem_keyn(const char *deployment, size_t a, const char *key,
                       size_t b) {
        char *k = malloc(a + b + 2);

        if (!k)
                return NULL;
        memcpy(k, deployment, a);
        k[a] = '\n';
        memcpy(k + a + 1, key, b);
        k[a + 1 + b] = '\0';
        return k;
}

static char *idem_key(const char *deployment, const char *key) {
        return idem_keyn(deployment, strlen(deployment), key, strlen(key));
}

/* Keep the schedule index in step with RunState @p rs of @p run_id (NULL:
 * the run goes away; @p old: the version it replaces, or NULL). */
static void sched_index(wpart_t *part, const char *run_id, const json_t *old,
                        const json_t *rs) {
        const json_t *cur = rs ? rs : old;
        const char *dep = wjs(cur, "deployment"), *sid = wjs(cur, "schedule_id");
        json_t *active, *last;
        const char *last_id;
        char *k;

        if (!dep || !sid || !(k = idem_key(dep, sid)))
                return;
        active = json_object_get(part->sched_active, k);
        if (rs && !wrun_status_terminal(wjs(rs, "status"))) {
                if (!active) {
                        active = json_object();
                        json_object_set_new(part->sched_active, k, active);
                }
                json_object_set_new(active, run_id, json_true());
        } else if (active) {
                json_object_del(active, run_id);
                if (!json_object_size(active))
                        json_object_del(part->sched_active, k);
        }
        last_id = json_string_value(json_object_get(part->sched_last, k));
        last = last_id ? wpart_run(part, last_id) : NULL;
        if (!rs) {
                /* Past retention: the latest one goes without a successor
                 * (only BUFFER_ONE looks at it, for a finished time). */
                if (last == old)
                        json_object_del(part->sched_last, k);
        } else if (!last || last == old ||
                   wji(rs, "scheduled_for", 0) >= wji(last, "scheduled_for", 0)) {
                json_object_set_new(part->sched_last, k, json_string(run_id));
        }
        free(k);
}

/* Keep the live index and the ended queue in step with RunState @p rs of
 * @p run_id (NULL: the run goes away) replacing @p old (or NULL). */
static void live_index(wpart_t *part, const char *run_id, const json_t *old,
                       const json_t *rs) {
        int was = old && !wrun_status_terminal(wjs(old, "status"));
        int is = rs && !wrun_status_terminal(wjs(rs, "status"));
        const char *od = old ? wjs(old, "deployment") : NULL;
        const char *nd = rs ? wjs(rs, "deployment") : NULL;
        json_t *set;

        if (was && od && (!is || !nd || strcmp(od, nd)) &&
            (set = json_object_get(part->live, od))) {
                json_object_del(set, run_id);
                if (!json_object_size(set))
                        json_object_del(part->live, od);
        }
        if (is && nd) {
                if (!(set = json_object_get(part->live, nd))) {
                        set = json_object();
                        json_object_set_new(part->live, nd, set);
                }
                json_object_set_new(set, run_id, json_true());
        }
        /* A run enters the queue when it becomes finished (or is first
         * seen finished, as in a restore). */
        if (rs && !is && (!old || was))
                runq_push(&part->ended, run_id, rs);
}

const json_t *wpart_live_runs(const wpart_t *part, const char *deployment) {
        return deployment ? json_object_get(part->live, deployment) : NULL;
}

int64_t wrun_ended_at(const json_t *rs, int64_t now) {
        int64_t ended = wji(rs, "finished_at", -1);

        if (ended < 0)
                ended = wji(rs, "heartbeat_at", wji(rs, "created_at", now));
        return ended;
}

size_t wpart_expired(wpart_t *part, int64_t now, int64_t retention_ms,
                     size_t max, json_t *ids) {
        wrunq_t *q = &part->ended;
        size_t i, n = 0;

        for (i = q->head; i + RUNQ_WORDS <= q->cnt && n < max;
             i += RUNQ_WORDS) {
                json_t *rs = part->codec ? wdone_get_hash(&part->done,
                                                          part->codec,
                                                          q->ids[i])
                                         : NULL;
                int64_t due = (int64_t)q->ids[i + 2];

                if (!rs || !wjs(rs, "run_id") ||
                    wrun_ended_at(rs, -1) != (int64_t)q->ids[i + 1]) {
                        /* gone, live again, or ended again (queued again
                         * then): drop it (only from the front, so the
                         * entries handed out stay put) */
                        json_decref(rs);
                        if (i == q->head)
                                q->head += RUNQ_WORDS;
                        continue;
                }
                if (now - due <= retention_ms) {
                        json_decref(rs);
                        break; /* the rest are due later (near enough) */
                }
                json_array_append_new(ids, json_string(wjs(rs, "run_id")));
                json_decref(rs);
                n++;
        }
        return n;
}

/* Remember @p rs as the object borrowed for finished run @p run_id (a
 * new reference is taken), in the current generation. @p rs and @p
 * run_id may live in the older generation, which a turnover frees: both
 * are held until they are in the new one. An object already borrowed for
 * @p run_id is never replaced (callers may hold it): the caller uses the
 * one returned. */
static json_t *decoded_keep(wpart_t *part, const char *run_id, json_t *rs) {
        json_t *have = json_object_get(part->decoded, run_id);
        char *id;

        if (have)
                return have;
        if (!(id = strdup(run_id)))
                return rs; /* not kept: valid while the caller's ref is */
        if ((have = json_object_get(part->decoded_old, run_id)))
                rs = have; /* the borrowed one moves to the new generation */
        json_incref(rs);
        if (json_object_size(part->decoded) >= WPART_DECODED_MAX) {
                json_t *t = part->decoded_old;

                part->decoded_old = part->decoded;
                part->decoded = t;
                json_object_clear(part->decoded);
        }
        json_object_set(part->decoded, id, rs);
        json_decref(rs);
        free(id);
        return rs;
}

static void decoded_forget(wpart_t *part, const char *run_id) {
        json_object_del(part->decoded, run_id);
        json_object_del(part->decoded_old, run_id);
}

json_t *wpart_run(wpart_t *part, const char *run_id) {
        json_t *rs, *kept;

        if (!run_id)
                return NULL;
        if ((rs = json_object_get(part->runs, run_id)) ||
            (rs = json_object_get(part->decoded, run_id)))
                return rs;
        if ((rs = json_object_get(part->decoded_old, run_id)))
                return decoded_keep(part, run_id, rs); /* in use: younger */
        if (!part->codec || !(rs = wdone_get(&part->done, part->codec, run_id)))
                return NULL;
        kept = decoded_keep(part, run_id, rs);
        if (kept != rs) {
                json_decref(rs);
                return kept;
        }
        /* kept holds a reference unless strdup failed: then rs leaks
         * rather than dangles */
        if (json_object_get(part->decoded, run_id) == rs)
                json_decref(rs);
        return rs;
}

int wpart_stop_recorded(wpart_t *part, const json_t *rs,
                        const char *run_id) {
        const char *name = wjs(rs, "deployment");
        json_t *dep = name ? wpart_deployment(part, name) : NULL;
        const wout_entry_t *e;
        json_t *o, *v;
        size_t i, j;

        for (e = name ? wout_first(&part->outs, name) : NULL; e;
             e = e->dnext) {
                if (strcmp(e->status, "STOPPED"))
                        continue;
                json_array_foreach(e->cancelled, j, v)
                        if (json_is_string(v) &&
                            !strcmp(json_string_value(v), run_id))
                                return 1;
        }
        /* a record of the previous code keeps them inside */
        json_array_foreach(json_object_get(dep, "recent_commands"), i, o) {
                if (!wjs(o, "status") || strcmp(wjs(o, "status"), "STOPPED"))
                        continue;
                json_array_foreach(json_object_get(o, "cancelled_runs"), j, v)
                        if (json_is_string(v) &&
                            !strcmp(json_string_value(v), run_id))
                                return 1;
        }
        return 0;
}

size_t wpart_run_count(const wpart_t *part) {
        return json_object_size(part->runs) + part->done.cnt;
}

/* Remember that idempotency key @p k (idem_key()) went away with its
 * finished run @p old (retention): a later run command with it is told
 * (commands.c). Bounded: the oldest entries go first. */
static void idem_gone_add(wpart_t *part, const char *k, const char *run_id,
                          const json_t *old) {
        void *it;

        while (json_object_size(part->idem_gone) >= WIDEM_GONE_MAX &&
               (it = json_object_iter(part->idem_gone)))
                json_object_del(part->idem_gone, json_object_iter_key(it));
        json_object_set_new(part->idem_gone, k,
                            json_pack("{s:s,s:I}", "run_id", run_id,
                                      "finished_at",
                                      (json_int_t)wji(old, "finished_at",
                                                      0)));
}

const json_t *wpart_find_idem_gone(const wpart_t *part,
                                   const char *deployment,
                                   const char *idempotency_key) {
        char *k = idem_key(deployment, idempotency_key);
        const json_t *o;

        if (!k)
                return NULL;
        o = json_object_get(part->idem_gone, k);
        free(k);
        return o;
}

void wpart_put_run(wpart_t *part, const char *run_id_arg, json_t *rs) {
        /* the caller's id may be borrowed from the version this replaces,
         * which goes below */
        char *run_id = strdup(run_id_arg);
        json_t *old;
        const char *dep, *key, *cmd;
        int old_live, keep_compact;
        char *k;

        if (!run_id) {
                json_decref(rs); /* out of memory: the record is lost */
                return;
        }
        old = wpart_run(part, run_id);

        json_incref(old); /* it may leave runs below */
        old_live = old && json_object_get(part->runs, run_id) == old;
        sched_index(part, run_id, old, rs);
        live_index(part, run_id, old, rs);

        if (old && !rs) {
                /* An older version's index entries point at the same run;
                 * drop them only when the run goes away. */
                dep = wjs(old, "deployment");
                key = wjs(old, "idempotency_key");
                if (dep && key && (k = idem_key(dep, key))) {
                        json_object_del(part->idem, k);
                        if (wrun_status_terminal(wjs(old, "status")))
                                idem_gone_add(part, k, run_id, old);
                        free(k);
                }
        }
        /* The live command index follows live runs only (the finished
         * ones answer from done): the entry goes when the run goes, ends
         * or names another command. */
        if (old_live && (cmd = wjs(old, "command_id")) &&
            (!rs || wrun_status_terminal(wjs(rs, "status")) ||
             !wjs(rs, "command_id") || strcmp(cmd, wjs(rs, "command_id"))))
                json_object_del(part->cmds, cmd);
        json_decref(old);
        decoded_forget(part, run_id);
        if (!rs) {
                json_object_del(part->runs, run_id);
                if (part->codec)
                        wdone_del(&part->done, part->codec, run_id);
                free(run_id);
                return;
        }
        dep = wjs(rs, "deployment");
        key = wjs(rs, "idempotency_key");
        cmd = wjs(rs, "command_id");
        if (dep && key && (k = idem_key(dep, key))) {
                json_object_set_new(part->idem, k, json_string(run_id));
                json_object_del(part->idem_gone, k);
                free(k);
        }
        /* A finished run is kept compact (its Avro bytes); the object put
         * stays borrowable as a decoded one. */
        keep_compact = wrun_status_terminal(wjs(rs, "status")) &&
                       part->codec &&
                       !wdone_put(&part->done, part->codec, run_id, rs);
        if (keep_compact) {
                json_object_del(part->runs, run_id);
                decoded_keep(part, run_id, rs);
                json_decref(rs);
                free(run_id);
                return;
        }
        if (part->codec)
                wdone_del(&part->done, part->codec, run_id);
        if (cmd && *cmd)
                json_object_set_new(part->cmds, cmd, json_string(run_id));
        json_object_set_new(part->runs, run_id, rs);
        free(run_id);
}

/* The fields of a RunState record wpart_put_run_record() reads. */
enum {
        RF_DEPLOYMENT, RF_COMMAND_ID, RF_IDEM, RF_STATUS, RF_SCHEDULE_ID,
        RF_FINISHED_AT, RF_HEARTBEAT_AT, RF_CREATED_AT, RF_PARAMS, RF_CNT
};

floq_err_t wpart_put_run_record(wpart_t *part, const char *run_id,
                                const void *buf, size_t len) {
        static const char *const names[RF_CNT] = {
                "deployment", "command_id", "idempotency_key", "status",
                "schedule_id", "finished_at", "heartbeat_at", "created_at",
                "params"
        };
        floq_codec_field_t f[RF_CNT];
        const floq_codec_field_t *pf = &f[RF_PARAMS];
        char *k;
        unsigned char *blob;
        size_t blen;
        int64_t ended;
        int current = 0;
        floq_err_t err;

        if (!part->codec)
                return FLOQ_ERR_INVALID_ARG;
        err = floq_codec_read_fields(part->codec, FLOQ_MSG_RUN_STATE, buf,
                                     len, names, f, RF_CNT, &current, NULL, 0);
        if (err)
                return err;
        /* What only a decoded run can do: another version of the run to
         * replace, a schedule's index (it compares with the latest run),
         * an older writer's record (resolved to the current schema). */
        if (!current || !f[RF_STATUS].str ||
            !wrun_status_terminal(f[RF_STATUS].str) ||
            !f[RF_DEPLOYMENT].str || !f[RF_COMMAND_ID].str ||
            (f[RF_SCHEDULE_ID].found && !f[RF_SCHEDULE_ID].is_null) ||
            !pf->found || json_object_get(part->runs, run_id) ||
            wdone_has_hash(&part->done, wdone_hash(run_id)))
                return FLOQ_ERR_EXISTS;

        /* kept without its params (as wpart_put_run() keeps a finished
         * run): their value becomes the empty map, one zero byte */
        blen = len - pf->len + 1;
        if (!(blob = malloc(blen)))
                return FLOQ_ERR_NOMEM;
        memcpy(blob, buf, pf->off);
        blob[pf->off] = 0;
        memcpy(blob + pf->off + 1, (const unsigned char *)buf + pf->off +
                                           pf->len, len - pf->off - pf->len);

        err = wdone_put_blob(&part->done, part->codec, run_id,
                             f[RF_COMMAND_ID].str_len
                                     ? wdone_hashn(f[RF_COMMAND_ID].str,
                                                   f[RF_COMMAND_ID].str_len)
                                     : 0,
                             blob, blen);
        if (err)
                return err;

        decoded_forget(part, run_id);
        if (f[RF_IDEM].str &&
            (k = idem_keyn(f[RF_DEPLOYMENT].str, f[RF_DEPLOYMENT].str_len,
                           f[RF_IDEM].str, f[RF_IDEM].str_len))) {
                json_object_set_new(part->idem, k, json_string(run_id));
                json_object_del(part->idem_gone, k);
                free(k);
        }
        /* wrun_ended_at() of the record */
        ended = f[RF_FINISHED_AT].found && !f[RF_FINISHED_AT].is_null
                        ? f[RF_FINISHED_AT].num
                        : -1;
        if (ended < 0)
                ended = f[RF_HEARTBEAT_AT].found ? f[RF_HEARTBEAT_AT].num
                        : f[RF_CREATED_AT].found ? f[RF_CREATED_AT].num
                                                 : -1;
        runq_push_at(&part->ended, run_id, ended);
        return FLOQ_OK;
}

const char *wpart_find_idem(const wpart_t *part, const char *deployment,
                            const char *idempotency_key) {
        char *k = idem_key(deployment, idempotency_key);
        const char *id;

        if (!k)
                return NULL;
        id = json_string_value(json_object_get(part->idem, k));
        free(k);
        return id;
}

const char *wpart_find_cmd(wpart_t *part, const char *command_id) {
        const char *id = json_string_value(json_object_get(part->cmds,
                                                           command_id));
        json_t *rs, *kept;

        if (id || !part->codec ||
            !(rs = wdone_find_cmd(&part->done, part->codec, command_id)))
                return id;
        /* borrowed from the decoded object, kept like wpart_run()'s (the
         * one already borrowed for that run, if any, stays) */
        if (!wjs(rs, "run_id")) {
                json_decref(rs);
                return NULL;
        }
        kept = decoded_keep(part, wjs(rs, "run_id"), rs);
        if (json_object_get(part->decoded, wjs(kept, "run_id")) == kept)
                json_decref(rs);
        return wjs(kept, "run_id");
}

const json_t *wpart_schedule_runs(wpart_t *part, const char *deployment,
                                  const char *schedule_id,
                                  const json_t **activep) {
        char *k = idem_key(deployment, schedule_id);
        const char *last;

        *activep = NULL;
        if (!k)
                return NULL;
        *activep = json_object_get(part->sched_active, k);
        last = json_string_value(json_object_get(part->sched_last, k));
        free(k);
        return last ? wpart_run(part, last) : NULL;
}

int wrun_status_terminal(const char *status) {
        static const char *const terminal[] = { "SUCCEEDED", "FAILED",
                                                "CANCELLED", "TIMED_OUT",
                                                "LOST" };
        size_t i;

        if (!status)
                return 0;
        for (i = 0; i < sizeof(terminal) / sizeof(terminal[0]); i++)
                if (!strcmp(status, terminal[i]))
                        return 1;
        return 0;
}

int32_t whome_partition(const char *deployment, int32_t partition_cnt) {
        return floq_kafka_partition(deployment, strlen(deployment),
                                    partition_cnt);
}

static double jnum(const json_t *obj, const char *key, double def) {
        json_t *v = json_object_get(obj, key);

        return json_is_number(v) ? json_number_value(v) : def;
}

int wretry_max_attempts(const json_t *retry) {
        int64_t n;

        if (!json_is_object(retry))
                return 1;
        n = wji(retry, "max_attempts", 1);
        if (n < 1)
                return 1;
        return n > 1000000 ? 1000000 : (int)n;
}

int64_t wretry_delay_ms(const json_t *retry, int failed_attempt, double u) {
        double base = 1000, mult = 2.0, cap = 60000, jitter = 0.2, d;

        if (json_is_object(retry)) {
                base = jnum(retry, "backoff_ms", base);
                mult = jnum(retry, "backoff_multiplier", mult);
                cap = jnum(retry, "max_backoff_ms", cap);
                jitter = jnum(retry, "jitter", jitter);
        }
        if (base < 0)
                base = 0;
        if (mult < 1)
                mult = 1;
        if (cap < 0)
                cap = 0;
        if (jitter < 0)
                jitter = 0;
        if (jitter > 1)
                jitter = 1;
        if (u < -1)
                u = -1;
        if (u > 1)
                u = 1;
        if (failed_attempt < 1)
                failed_attempt = 1;
        d = base * pow(mult, failed_attempt - 1);
        if (!(d <= cap)) /* also catches inf and nan */
                d = cap;
        d *= 1.0 + jitter * u;
        if (d < 0)
                d = 0;
        return (int64_t)llround(d);
}

/* Append @p len bytes to a growing buffer. */
static int buf_add(char **buf, size_t *len, size_t *size, const char *s,
                   size_t n) {
        if (*len + n + 1 > *size) {
                size_t ns = (*size ? *size * 2 : 128);
                char *nb;

                while (ns < *len + n + 1)
                        ns *= 2;
                if (!(nb = realloc(*buf, ns)))
                        return -1;
                *buf = nb;
                *size = ns;
        }
        memcpy(*buf + *len, s, n);
        *len += n;
        (*buf)[*len] = '\0';
        return 0;
}

static int buf_add_encoded(char **buf, size_t *len, size_t *size,
                           const char *s) {
        static const char hex[] = "0123456789ABCDEF";

        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                char esc[3];

                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                    c == '_' || c == '~') {
                        if (buf_add(buf, len, size, (const char *)&c, 1))
                                return -1;
                        continue;
                }
                esc[0] = '%';
                esc[1] = hex[c >> 4];
                esc[2] = hex[c & 15];
                if (buf_add(buf, len, size, esc, 3))
                        return -1;
        }
        return 0;
}

char *wurl_expand(const char *tmpl, const char *run_id,
                  const char *deployment) {
        char *buf = NULL;
        size_t len = 0, size = 0;
        const char *p = tmpl ? tmpl : "";

        if (buf_add(&buf, &len, &size, "", 0))
                return NULL;
        while (*p) {
                if (!strncmp(p, "{run_id}", 8)) {
                        if (buf_add_encoded(&buf, &len, &size,
                                            run_id ? run_id : ""))
                                goto fail;
                        p += 8;
                } else if (!strncmp(p, "{deployment}", 12)) {
                        if (buf_add_encoded(&buf, &len, &size,
                                            deployment ? deployment : ""))
                                goto fail;
                        p += 12;
                } else {
                        if (buf_add(&buf, &len, &size, p, 1))
                                goto fail;
                        p++;
                }
        }
        return buf;
fail:
        free(buf);
        return NULL;
}

wcmd_kind_t wcmd_kind(const json_t *cmd, json_t **bodyp) {
        static const struct {
                const char *branch;
                wcmd_kind_t kind;
        } kinds[] = {
                { "DeployBody", WCMD_DEPLOY },
                { "RunBody", WCMD_RUN },
                { "StopBody", WCMD_STOP },
                { "ScheduleBody", WCMD_SCHEDULE },
                { "UnscheduleBody", WCMD_UNSCHEDULE },
                { "StatusBody", WCMD_STATUS },
                { "ValidateBody", WCMD_VALIDATE },
        };
        json_t *body = json_object_get(cmd, "body");
        const char *branch;
        json_t *value;
        size_t i;

        if (bodyp)
                *bodyp = NULL;
        if (!json_is_object(body) || json_object_size(body) != 1)
                return WCMD_UNKNOWN;
        json_object_foreach(body, branch, value) {
                /* Full names ("io.floq.v1.RunBody") are accepted too. */
                const char *dot = strrchr(branch, '.');
                const char *shortname = dot ? dot + 1 : branch;

                for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
                        if (strcmp(shortname, kinds[i].branch))
                                continue;
                        if (!json_is_object(value))
                                return WCMD_UNKNOWN;
                        if (bodyp)
                                *bodyp = value;
                        return kinds[i].kind;
                }
        }
        return WCMD_UNKNOWN;
}

int wtopic_name_ok(const char *topic) {
        size_t i, n = topic ? strlen(topic) : 0;

        if (n == 0 || n > WCMD_NAME_MAX || !strcmp(topic, ".") ||
            !strcmp(topic, ".."))
                return 0;
        for (i = 0; i < n; i++) {
                char c = topic[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                      c == '-'))
                        return 0;
        }
        return 1;
}

floq_err_t wcmd_check(const json_t *cmd, int64_t now_ms, int64_t retention_ms,
                      char *reason, size_t reason_size) {
        const char *id = wjs(cmd, "command_id");
        const char *dep = wjs(cmd, "deployment");
        const char *reply_to = wjs(cmd, "reply_to");
        json_t *exp = json_object_get(cmd, "expires_at");
        size_t i;

        if (!id || !*id)
                return floq_seterr(reason, reason_size, FLOQ_ERR_INVALID_ARG,
                                   "command_id is empty");
        /* The schema says uuid: readers with generated classes (Java's
         * UUID conversion) throw on anything else. Not echoed: it is
         * whatever the writer put there. */
        if (!floq_uuid_valid(id))
                return floq_seterr(reason, reason_size, FLOQ_ERR_INVALID_ARG,
                                   "command_id is not a canonical UUID "
                                   "(8-4-4-4-12 lower-case hex digits)");
        if (!dep || !*dep)
                return floq_seterr(reason, reason_size, FLOQ_ERR_INVALID_ARG,
                                   "deployment is empty");
        if (strlen(dep) > WCMD_NAME_MAX)
                return floq_seterr(reason, reason_size, FLOQ_ERR_INVALID_ARG,
                                   "deployment name is longer than %d bytes",
                                   WCMD_NAME_MAX);
        for (i = 0; dep[i]; i++)
                if ((unsigned char)dep[i] < 0x20)
                        return floq_seterr(reason, reason_size,
                                           FLOQ_ERR_INVALID_ARG,
                                           "deployment name holds a "
                                           "control character");
        if (reply_to && !wtopic_name_ok(reply_to))
                return floq_seterr(reason, reason_size, FLOQ_ERR_INVALID_ARG,
                                   "reply_to is not a valid topic name");
        if (json_is_integer(exp) && json_integer_value(exp) < now_ms)
                return floq_seterr(reason, reason_size, FLOQ_ERR_EXPIRED,
                                   "command expired at %" JSON_INTEGER_FORMAT
                                   " (now %lld)",
                                   json_integer_value(exp),
                                   (long long)now_ms);
        if (retention_ms > 0 &&
            wji(cmd, "issued_at", 0) < now_ms - retention_ms)
                return floq_seterr(reason, reason_size, FLOQ_ERR_EXPIRED,
                                   "command issued more than "
                                   "worker.run.retention.ms (%lld ms) ago: "
                                   "its outcome may no longer be known",
                                   (long long)retention_ms);
        return FLOQ_OK;
}

floq_err_t wcmd_check_lifetime(const json_t *cmd, int64_t now_ms,
                               int64_t max_lifetime_ms, char *reason,
                               size_t reason_size) {
        json_t *exp = json_object_get(cmd, "expires_at");
        int64_t ahead;

        if (max_lifetime_ms <= 0)
                return FLOQ_OK;
        if (!json_is_integer(exp))
                return floq_seterr(reason, reason_size, FLOQ_ERR_REJECTED,
                                   "a signed command needs expires_at, at "
                                   "most security.command.max.lifetime.ms "
                                   "(%lld ms) ahead",
                                   (long long)max_lifetime_ms);
        ahead = (int64_t)json_integer_value(exp) - now_ms;
        if (ahead > max_lifetime_ms)
                return floq_seterr(reason, reason_size, FLOQ_ERR_REJECTED,
                                   "expires_at is %lld ms ahead, more than "
                                   "security.command.max.lifetime.ms "
                                   "(%lld ms)",
                                   (long long)ahead,
                                   (long long)max_lifetime_ms);
        return FLOQ_OK;
}

/* 1 when @p topic matches one entry of the comma-separated @p list of
 * names and fnmatch(3) globs (blanks around entries ignored). */
static int topic_listed(const char *list, const char *topic) {
        char entry[WCMD_NAME_MAX + 1];
        const char *p = list ? list : "", *e;
        size_t n;

        while (*p) {
                while (*p == ' ' || *p == '\t' || *p == ',')
                        p++;
                e = p + strcspn(p, ",");
                n = (size_t)(e - p);
                while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
                        n--;
                if (n && n < sizeof(entry)) {
                        memcpy(entry, p, n);
                        entry[n] = '\0';
                        if (!fnmatch(entry, topic, 0))
                                return 1;
                }
                p = e;
        }
        return 0;
}

floq_err_t wreply_topic_check(const char *topic, const char *default_topic,
                              const char *const *never, size_t never_cnt,
                              const char *allowed, char *reason,
                              size_t reason_size) {
        size_t i;

        if (!wtopic_name_ok(topic))
                return floq_seterr(reason, reason_size, FLOQ_ERR_INVALID_ARG,
                                   "reply_to is not a valid topic name");
        if (default_topic && !strcmp(topic, default_topic))
                return FLOQ_OK;
        for (i = 0; i < never_cnt; i++)
                if (never[i] && !strcmp(topic, never[i]))
                        return floq_seterr(reason, reason_size,
                                           FLOQ_ERR_UNAUTHORIZED,
                                           "reply_to '%s' is one of floq's "
                                           "own topics: never a reply topic",
                                           topic);
        if (topic[0] == '_')
                return floq_seterr(reason, reason_size, FLOQ_ERR_UNAUTHORIZED,
                                   "reply_to '%s' is an internal topic "
                                   "(starts with '_'): never a reply topic",
                                   topic);
        if (!topic_listed(allowed, topic))
                return floq_seterr(reason, reason_size, FLOQ_ERR_UNAUTHORIZED,
                                   "reply_to '%s' is not allowed "
                                   "(worker.reply.topics.allowed)",
                                   topic);
        return FLOQ_OK;
}
