/*
 * match.c - pairs replies with the commands a client sent. A chained hash
 * table keyed by command id holds, per command, its correlation id and a
 * FIFO of replies not yet taken. Replies are matched by command id; when
 * both the command and the reply carry a correlation id they must agree,
 * so a reply produced for someone else's command that reused our id (a
 * buggy or hostile producer) is not taken for ours. No locking here: the
 * client serialises access with its own mutex.
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

typedef struct reply_node_s {
        json_t *reply;
        struct reply_node_s *next;
} reply_node_t;

typedef struct pend_cmd_s {
        char *id;
        char *corr;
        floq_pending_mode_t mode;
        reply_node_t *head, *tail;
        struct pend_cmd_s *next; /* hash chain */
} pend_cmd_t;

struct floq_pending_s {
        pend_cmd_t **buckets;
        size_t bucket_cnt;
        size_t cnt;
        size_t max_cmds;
};

static size_t hash_str(const char *s) {
        size_t h = 1469598103934665603ULL; /* FNV-1a */
        while (*s) {
                h ^= (unsigned char)*s++;
                h *= 1099511628211ULL;
        }
        return h;
}

floq_pending_t *floq_pending_new(size_t max_cmds) {
        floq_pending_t *pend = calloc(1, sizeof(*pend));
        if (!pend)
                return NULL;
        pend->bucket_cnt = 1024;
        pend->buckets = calloc(pend->bucket_cnt, sizeof(*pend->buckets));
        if (!pend->buckets) {
                free(pend);
                return NULL;
        }
        pend->max_cmds = max_cmds;
        return pend;
}

static void cmd_free(pend_cmd_t *cmd) {
        reply_node_t *n = cmd->head;
        while (n) {
                reply_node_t *next = n->next;
                json_decref(n->reply);
                free(n);
                n = next;
        }
        free(cmd->id);
        free(cmd->corr);
        free(cmd);
}

void floq_pending_destroy(floq_pending_t *pend) {
        if (!pend)
                return;
        for (size_t i = 0; i < pend->bucket_cnt; i++) {
                pend_cmd_t *cmd = pend->buckets[i];
                while (cmd) {
                        pend_cmd_t *next = cmd->next;
                        cmd_free(cmd);
                        cmd = next;
                }
        }
        free(pend->buckets);
        free(pend);
}

/* Grow to keep chains short when many commands are in flight (a
 * publisher of 10,000 runs that waits for all of them). */
static void maybe_grow(floq_pending_t *pend) {
        if (pend->cnt < pend->bucket_cnt * 2)
                return;
        size_t ncnt = pend->bucket_cnt * 4;
        pend_cmd_t **nb = calloc(ncnt, sizeof(*nb));
        if (!nb)
                return; /* longer chains, still correct */
        for (size_t i = 0; i < pend->bucket_cnt; i++) {
                pend_cmd_t *cmd = pend->buckets[i];
                while (cmd) {
                        pend_cmd_t *next = cmd->next;
                        size_t b = hash_str(cmd->id) % ncnt;
                        cmd->next = nb[b];
                        nb[b] = cmd;
                        cmd = next;
                }
        }
        free(pend->buckets);
        pend->buckets = nb;
        pend->bucket_cnt = ncnt;
}

static pend_cmd_t **find(floq_pending_t *pend, const char *id) {
        pend_cmd_t **pp = &pend->buckets[hash_str(id) % pend->bucket_cnt];
        while (*pp && strcmp((*pp)->id, id))
                pp = &(*pp)->next;
        return pp;
}

floq_err_t floq_pending_add(floq_pending_t *pend, const char *command_id,
                            const char *correlation_id,
                            floq_pending_mode_t mode) {
        if (!command_id || !*command_id)
                return FLOQ_ERR_INVALID_ARG;
        if (*find(pend, command_id))
                return FLOQ_ERR_EXISTS;
        if (pend->max_cmds && pend->cnt >= pend->max_cmds)
                return FLOQ_ERR_TOO_LARGE;
        pend_cmd_t *cmd = calloc(1, sizeof(*cmd));
        if (!cmd)
                return FLOQ_ERR_NOMEM;
        cmd->id = strdup(command_id);
        cmd->corr = correlation_id ? strdup(correlation_id) : NULL;
        cmd->mode = mode;
        if (!cmd->id || (correlation_id && !cmd->corr)) {
                cmd_free(cmd);
                return FLOQ_ERR_NOMEM;
        }
        maybe_grow(pend);
        pend_cmd_t **head = &pend->buckets[hash_str(command_id) %
                                           pend->bucket_cnt];
        cmd->next = *head;
        *head = cmd;
        pend->cnt++;
        return FLOQ_OK;
}

floq_match_t floq_pending_offer(floq_pending_t *pend, json_t *reply) {
        const char *id = json_string_value(json_object_get(reply,
                                                           "command_id"));
        if (!id)
                return FLOQ_MATCH_INVALID;
        pend_cmd_t *cmd = *find(pend, id);
        if (!cmd)
                return FLOQ_MATCH_NONE;
        const char *corr = json_string_value(json_object_get(
                reply, "correlation_id"));
        if (cmd->corr && corr && strcmp(cmd->corr, corr))
                return FLOQ_MATCH_FOREIGN;
        if (cmd->mode == FLOQ_PENDING_CALLBACK)
                return FLOQ_MATCH_CALLBACK;
        reply_node_t *n = calloc(1, sizeof(*n));
        if (!n)
                return FLOQ_MATCH_NONE;
        n->reply = json_incref(reply);
        if (cmd->tail)
                cmd->tail->next = n;
        else
                cmd->head = n;
        cmd->tail = n;
        return FLOQ_MATCH_QUEUED;
}

int floq_pending_take(floq_pending_t *pend, const char *command_id,
                      int final_only, json_t **reply) {
        pend_cmd_t **pp = find(pend, command_id);
        pend_cmd_t *cmd = *pp;
        if (!cmd)
                return -1;
        while (cmd->head) {
                reply_node_t *n = cmd->head;
                cmd->head = n->next;
                if (!cmd->head)
                        cmd->tail = NULL;
                json_t *r = n->reply;
                free(n);
                int fin = floq_reply_is_final(r);
                if (final_only && !fin) {
                        json_decref(r);
                        continue;
                }
                *reply = r;
                if (fin) {
                        *pp = cmd->next;
                        cmd_free(cmd);
                        pend->cnt--;
                }
                return 1;
        }
        return 0;
}

int floq_pending_remove(floq_pending_t *pend, const char *command_id) {
        pend_cmd_t **pp = find(pend, command_id);
        pend_cmd_t *cmd = *pp;
        if (!cmd)
                return 0;
        *pp = cmd->next;
        cmd_free(cmd);
        pend->cnt--;
        return 1;
}

size_t floq_pending_cnt(const floq_pending_t *pend) {
        return pend->cnt;
}

/* ---- reply helpers (public, floq.h) ---- */

static const char *const ok_states[] = {
        "DEPLOYED", "ACCEPTED", "SUCCEEDED", "STOPPED",
        "SCHEDULED", "UNSCHEDULED", "STATUS", "VALID", NULL};

int floq_reply_status_is_ok(const char *status) {
        if (!status)
                return 0;
        for (size_t i = 0; ok_states[i]; i++)
                if (!strcmp(status, ok_states[i]))
                        return 1;
        return 0;
}

int floq_reply_status_is_terminal(const char *status) {
        if (!status)
                return 0;
        return strcmp(status, "ACCEPTED") && strcmp(status, "RUNNING");
}

const char *floq_reply_status(const json_t *reply) {
        const char *s = json_string_value(json_object_get(reply, "status"));
        return s ? s : "UNKNOWN";
}

int floq_reply_is_final(const json_t *reply) {
        json_t *f = json_object_get(reply, "final");
        /* The schema's default is true: a reply without the field is a
         * command's only answer. */
        return f ? json_is_true(f) : 1;
}
