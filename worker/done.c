/*
 * done.c - the compact table of a partition's finished runs.
 *
 * A worker keeps every finished run for worker.run.retention.ms (repeats
 * of its command id or idempotency key answer from it, status and stop
 * name it). Kept as jansson objects they cost about 4 KB each; here each
 * is its RunState's Avro encoding (the bytes Kafka holds, about 200 B)
 * in an open-addressing table keyed by the 64-bit hash of its run id, and a
 * second one from the hash of its command id to that of its run id (for
 * repeats). A lookup decodes the one record it finds and checks the id it
 * was asked for, so a hash collision costs a decode, never a wrong
 * answer. No per-run allocation but the bytes.
 *
 * Thread-safety: one table is used by one thread (the worker's loop).
 */
#include <stdlib.h>
#include <string.h>

#include "worker_int.h"

/* A slot: hash 0 is "empty", WDONE_GONE "deleted" (the probe goes on). */
#define WDONE_GONE 1u

struct wdone_pair_s {
        uint64_t key; /**< command id hash; 0 empty, 1 deleted */
        uint64_t val; /**< run id hash */
};

struct wdone_slot_s {
        uint64_t id_hash;  /**< of the run id; 0 empty, 1 deleted */
        uint64_t cmd_hash; /**< of the command id, 0 when none */
        unsigned char *blob;
        uint32_t len;
};

/* FNV-1a, kept off the two reserved values. */
uint64_t wdone_hashn(const char *s, size_t n) {
        uint64_t h = 1469598103934665603ull;

        for (; n--; s++) {
                h ^= (unsigned char)*s;
                h *= 1099511628211ull;
        }
        return h > WDONE_GONE ? h : h + 2;
}

uint64_t wdone_hash(const char *s) {
        return wdone_hashn(s, strlen(s));
}

void wdone_init(wdone_t *t) {
        memset(t, 0, sizeof(*t));
}

void wdone_clear(wdone_t *t) {
        size_t i;

        for (i = 0; i < t->cap; i++)
                free(t->slots[i].blob);
        free(t->slots);
        free(t->cmds);
        memset(t, 0, sizeof(*t));
}

/* The run id and command id of a decoded record. */
static json_t *decode(floq_codec_t *codec, const wdone_slot_t *s) {
        json_t *rs = NULL;
        char errstr[256];

        if (floq_codec_decode(codec, FLOQ_MSG_RUN_STATE, s->blob, s->len, &rs,
                              errstr, sizeof(errstr))) {
                floq_err("state", "a finished run kept in memory does not "
                                  "decode: %s", errstr);
                return NULL;
        }
        return rs;
}

/* Grow (or rehash away deleted slots) to keep the load under 3/4. */
static int grow(wdone_t *t) {
        size_t ncap = t->cap ? t->cap : 64, i;
        wdone_slot_t *ns;

        while ((t->cnt + 1) * 4 > ncap * 3)
                ncap *= 2;
        if (!(ns = calloc(ncap, sizeof(*ns))))
                return -1;
        for (i = 0; i < t->cap; i++) {
                wdone_slot_t *s = &t->slots[i];
                size_t j;

                if (s->id_hash <= WDONE_GONE)
                        continue;
                for (j = s->id_hash & (ncap - 1); ns[j].id_hash;
                     j = (j + 1) & (ncap - 1))
                        ;
                ns[j] = *s;
        }
        free(t->slots);
        t->slots = ns;
        t->cap = ncap;
        t->used = t->cnt;
        return 0;
}

/* The slot of run @p run_id, or NULL; *rsp (when given) its decoded
 * record, a new reference. */
static wdone_slot_t *find(wdone_t *t, floq_codec_t *codec, const char *run_id,
                          json_t **rsp) {
        uint64_t h = wdone_hash(run_id);
        size_t j;

        if (rsp)
                *rsp = NULL;
        if (!t->cap)
                return NULL;
        for (j = h & (t->cap - 1); t->slots[j].id_hash;
             j = (j + 1) & (t->cap - 1)) {
                wdone_slot_t *s = &t->slots[j];
                json_t *rs;

                if (s->id_hash != h)
                        continue;
                if (!(rs = decode(codec, s)))
                        continue;
                if (wjs(rs, "run_id") && !strcmp(wjs(rs, "run_id"), run_id)) {
                        if (rsp)
                                *rsp = rs;
                        else
                                json_decref(rs);
                        return s;
                }
                json_decref(rs);
        }
        return NULL;
}

/* The first slot kept under run id hash @p id_hash, or NULL. */
static const wdone_slot_t *first_of_hash(const wdone_t *t, uint64_t id_hash) {
        size_t j;

        if (!t->cap)
                return NULL;
        for (j = id_hash & (t->cap - 1); t->slots[j].id_hash;
             j = (j + 1) & (t->cap - 1))
                if (t->slots[j].id_hash == id_hash)
                        return &t->slots[j];
        return NULL;
}

int wdone_has_hash(const wdone_t *t, uint64_t id_hash) {
        return first_of_hash(t, id_hash) != NULL;
}

json_t *wdone_get_hash(wdone_t *t, floq_codec_t *codec, uint64_t id_hash) {
        const wdone_slot_t *s = first_of_hash(t, id_hash);

        return s ? decode(codec, s) : NULL;
}

json_t *wdone_get(wdone_t *t, floq_codec_t *codec, const char *run_id) {
        json_t *rs;

        find(t, codec, run_id, &rs);
        return rs;
}

/* ------------------------------------------ command id -> run id hash */

/* Grow the command table to keep its load under 3/4. */
static int cmds_grow(wdone_t *t) {
        size_t ncap = t->ccap ? t->ccap : 64, i;
        wdone_pair_t *nc;

        while ((t->ccnt + 1) * 4 > ncap * 3)
                ncap *= 2;
        if (!(nc = calloc(ncap, sizeof(*nc))))
                return -1;
        for (i = 0; i < t->ccap; i++) {
                size_t j;

                if (t->cmds[i].key <= WDONE_GONE)
                        continue;
                for (j = t->cmds[i].key & (ncap - 1); nc[j].key;
                     j = (j + 1) & (ncap - 1))
                        ;
                nc[j] = t->cmds[i];
        }
        free(t->cmds);
        t->cmds = nc;
        t->ccap = ncap;
        t->cused = t->ccnt;
        return 0;
}

static int cmds_add(wdone_t *t, uint64_t cmd, uint64_t id) {
        size_t j;

        if ((t->cused + 1) * 4 > t->ccap * 3 && cmds_grow(t))
                return -1;
        for (j = cmd & (t->ccap - 1); t->cmds[j].key > WDONE_GONE;
             j = (j + 1) & (t->ccap - 1))
                if (t->cmds[j].key == cmd && t->cmds[j].val == id)
                        return 0;
        if (!t->cmds[j].key)
                t->cused++;
        t->cmds[j].key = cmd;
        t->cmds[j].val = id;
        t->ccnt++;
        return 0;
}

static void cmds_del(wdone_t *t, uint64_t cmd, uint64_t id) {
        size_t j;

        if (!t->ccap)
                return;
        for (j = cmd & (t->ccap - 1); t->cmds[j].key;
             j = (j + 1) & (t->ccap - 1))
                if (t->cmds[j].key == cmd && t->cmds[j].val == id) {
                        t->cmds[j].key = WDONE_GONE;
                        t->cmds[j].val = 0;
                        t->ccnt--;
                        return;
                }
}

floq_err_t wdone_put(wdone_t *t, floq_codec_t *codec, const char *run_id,
                     const json_t *rs) {
        const char *cmd;
        char errstr[256];
        void *buf;
        size_t len;

        if (floq_codec_encode(codec, FLOQ_MSG_RUN_STATE, (json_t *)rs, &buf,
                              &len, errstr, sizeof(errstr))) {
                /* kept as an object instead (records of unit tests
                 * lack required fields; a worker's never do) */
                floq_debug("state", "run %s: kept uncompacted: %s", run_id,
                           errstr);
                return FLOQ_ERR_ENCODE;
        }
        cmd = wjs(rs, "command_id");
        return wdone_put_blob(t, codec, run_id,
                              cmd && *cmd ? wdone_hash(cmd) : 0, buf, len);
}

floq_err_t wdone_put_blob(wdone_t *t, floq_codec_t *codec, const char *run_id,
                          uint64_t cmd_hash, void *buf, size_t len) {
        wdone_slot_t *s;
        size_t j;
        uint64_t h = wdone_hash(run_id);

        if (len > UINT32_MAX) {
                free(buf);
                return FLOQ_ERR_TOO_LARGE;
        }
        if ((s = find(t, codec, run_id, NULL))) {
                free(s->blob);
                if (s->cmd_hash)
                        cmds_del(t, s->cmd_hash, s->id_hash);
        } else {
                if ((t->used + 1) * 4 > t->cap * 3 && grow(t)) {
                        free(buf);
                        return FLOQ_ERR_NOMEM;
                }
                for (j = h & (t->cap - 1); t->slots[j].id_hash > WDONE_GONE;
                     j = (j + 1) & (t->cap - 1))
                        ;
                s = &t->slots[j];
                if (!s->id_hash)
                        t->used++;
                t->cnt++;
        }
        s->id_hash = h;
        s->cmd_hash = cmd_hash;
        s->blob = buf;
        s->len = (uint32_t)len;
        /* Out of memory here only loses the repeat answer by command id
         * (the idempotency key index is separate). */
        if (s->cmd_hash && cmds_add(t, s->cmd_hash, h))
                floq_err("state", "run %s: out of memory for its command "
                                  "id index", run_id);
        return FLOQ_OK;
}

void wdone_del(wdone_t *t, floq_codec_t *codec, const char *run_id) {
        wdone_slot_t *s = find(t, codec, run_id, NULL);

        if (!s)
                return;
        if (s->cmd_hash)
                cmds_del(t, s->cmd_hash, s->id_hash);
        free(s->blob);
        memset(s, 0, sizeof(*s));
        s->id_hash = WDONE_GONE;
        t->cnt--;
}

json_t *wdone_find_cmd(wdone_t *t, floq_codec_t *codec,
                       const char *command_id) {
        uint64_t h = wdone_hash(command_id);
        size_t i, j;

        if (!t->ccap)
                return NULL;
        for (i = h & (t->ccap - 1); t->cmds[i].key;
             i = (i + 1) & (t->ccap - 1)) {
                if (t->cmds[i].key != h)
                        continue;
                /* the runs of that id hash: decode, compare */
                for (j = t->cmds[i].val & (t->cap - 1); t->slots[j].id_hash;
                     j = (j + 1) & (t->cap - 1)) {
                        wdone_slot_t *s = &t->slots[j];
                        json_t *rs;

                        if (s->id_hash != t->cmds[i].val ||
                            s->cmd_hash != h || !(rs = decode(codec, s)))
                                continue;
                        if (wjs(rs, "command_id") &&
                            !strcmp(wjs(rs, "command_id"), command_id))
                                return rs;
                        json_decref(rs);
                }
        }
        return NULL;
}
