/*
 * commands.c - one handler per command, run inside the open transaction.
 * A message of the commands topic goes through the same gate every time:
 * size bound, decode, signature, envelope checks (ids, expiry, the
 * signed-command lifetime), the signing key's scope, reply address (an
 * allowed topic that exists), home partition (forwarded when the producer
 * put it elsewhere), repeats (G3: a known command_id or idempotency key is
 * answered with the original outcome and executes nothing), then its
 * handler. Whatever is wrong ends in the DLQ with the reason and the source
 * coordinates in headers, and in a REJECTED reply when the command could be
 * read (G4): a command the gate refuses is answered on topic.replies only,
 * since nothing it says is trusted yet (docs/security.md); nothing here
 * ever stops the partition.
 */
#include <stdlib.h>
#include <string.h>

#include "artifacts.h"
#include "offload.h"
#include "worker_int.h"

/* Largest spec text accepted in a deploy (the whole command is bounded by
 * message.max.bytes anyway). */
#define WSPEC_MAX (256 * 1024)

/* A refused command's correlation_id is echoed only up to this size. */
#define WCORR_ECHO_MAX 1024

json_t *worker_reply_new(floq_worker_t *w, const char *command_id,
                         const char *correlation_id, const char *deployment,
                         const char *status, int final) {
        json_t *r = json_object();

        json_object_set_new(r, "command_id", json_string(command_id));
        json_object_set_new(r, "correlation_id",
                            correlation_id ? json_string(correlation_id)
                                           : json_null());
        json_object_set_new(r, "deployment",
                            json_string(deployment ? deployment : ""));
        json_object_set_new(r, "produced_at", json_integer(floq_now_ms()));
        json_object_set_new(r, "status", json_string(status));
        json_object_set_new(r, "final", json_boolean(final));
        json_object_set_new(r, "worker", json_string(w->id));
        return r;
}

floq_err_t worker_reply(floq_worker_t *w, const char *reply_to,
                        json_t *reply) {
        const char *topic = reply_to && *reply_to ? reply_to : w->t_replies;
        floq_err_t err;

        err = wtxn_produce_msg(w, topic, RD_KAFKA_PARTITION_UA,
                               wjs(reply, "command_id"), FLOQ_MSG_REPLY,
                               reply);
        if (!err)
                wmetrics_reply(w, reply);
        json_decref(reply);
        return err;
}

static json_t *reply_for(floq_worker_t *w, const json_t *cmd,
                         const char *status, int final) {
        return worker_reply_new(w, wjs(cmd, "command_id"),
                                wjs(cmd, "correlation_id"),
                                wjs(cmd, "deployment"), status, final);
}

/* A DLQ record's key is cut to this when the record would not fit the
 * size budget (a commands key is a deployment name, at most 249 bytes
 * when valid). */
#define WDLQ_KEY_MAX 1024

/* The headers of every DLQ record: the reason and the source coordinates. */
static rd_kafka_headers_t *dlq_headers(floq_worker_t *w,
                                       const rd_kafka_message_t *m,
                                       floq_err_t code, const char *reason) {
        rd_kafka_headers_t *h = rd_kafka_headers_new(10);
        char num[32];

        wmetrics_dlq(w);
        rd_kafka_header_add(h, "floq.reason", -1, reason, -1);
        rd_kafka_header_add(h, "floq.error", -1, floq_err_name(code), -1);
        rd_kafka_header_add(h, "floq.source.topic", -1,
                            rd_kafka_topic_name(m->rkt), -1);
        snprintf(num, sizeof(num), "%d", (int)m->partition);
        rd_kafka_header_add(h, "floq.source.partition", -1, num, -1);
        snprintf(num, sizeof(num), "%lld", (long long)m->offset);
        rd_kafka_header_add(h, "floq.source.offset", -1, num, -1);
        rd_kafka_header_add(h, "floq.worker", -1, w->id, -1);
        floq_notice("command", "%s [%d] offset %lld to the DLQ: %s",
                    rd_kafka_topic_name(m->rkt), (int)m->partition,
                    (long long)m->offset, reason);
        return h;
}

/* Mark @p h as a DLQ record that does not hold all of the original. */
static void dlq_mark_cut(rd_kafka_headers_t *h, const rd_kafka_message_t *m,
                         const char *how) {
        char num[32];

        rd_kafka_header_add(h, "floq.truncated", -1, how, -1);
        snprintf(num, sizeof(num), "%zu", m->len);
        rd_kafka_header_add(h, "floq.original.size", -1, num, -1);
        snprintf(num, sizeof(num), "%zu", m->key_len);
        rd_kafka_header_add(h, "floq.original.key.size", -1, num, -1);
}

/* The DLQ record: original key and bytes, the reason in headers; the
 * bytes cut to the size budget (the headers say so and where the whole
 * command is). */
static void dlq(floq_worker_t *w, const rd_kafka_message_t *m,
                floq_err_t code, const char *reason) {
        rd_kafka_headers_t *h = dlq_headers(w, m, code, reason);
        size_t budget = wtxn_budget(w), keylen = m->key_len, vallen = m->len;
        /* what the headers dlq_mark_cut() adds take, with margin */
        size_t hsize = wtxn_headers_size(h) + 128;
        size_t room = budget > hsize ? budget - hsize : 0;

        if (keylen + vallen > room) {
                if (keylen > WDLQ_KEY_MAX)
                        keylen = WDLQ_KEY_MAX;
                if (keylen > room)
                        keylen = room;
                if (keylen + vallen > room)
                        vallen = room - keylen;
                dlq_mark_cut(h, m, "true");
                floq_notice("command", "%s [%d] offset %lld: DLQ copy cut "
                            "from %zu to %zu bytes (size budget %zu)",
                            rd_kafka_topic_name(m->rkt), (int)m->partition,
                            (long long)m->offset, m->len, vallen, budget);
        }
        wtxn_produce_raw(w, w->t_dlq, RD_KAFKA_PARTITION_UA, m->key, keylen,
                         m->payload, vallen, h);
}

/* A DLQ record by reference: no value, the key cut, the reason and where
 * the command is in headers. For a command whose records could not be
 * written after bounded retries; small enough to always fit. */
static void dlq_ref(floq_worker_t *w, const rd_kafka_message_t *m,
                    const char *reason) {
        rd_kafka_headers_t *h =
                dlq_headers(w, m, FLOQ_ERR_TOO_LARGE, reason);
        size_t keylen = m->key_len > 256 ? 256 : m->key_len;

        dlq_mark_cut(h, m, "reference");
        wtxn_produce_raw(w, w->t_dlq, RD_KAFKA_PARTITION_UA, m->key, keylen,
                         NULL, 0, h);
}

/* REJECTED reply (when the command was read) and, unless @p no_dlq, the
 * DLQ record. */
static void reject(floq_worker_t *w, const rd_kafka_message_t *m,
                   const json_t *cmd, floq_err_t code, const char *reason,
                   int no_dlq) {
        json_t *r;

        if (!no_dlq)
                dlq(w, m, code, reason);
        if (!cmd || !wjs(cmd, "command_id"))
                return;
        r = reply_for(w, cmd, "REJECTED", 1);
        json_object_set_new(r, "reason", json_string(reason));
        worker_reply(w, wjs(cmd, "reply_to"), r);
}

/* FLOQ_OK when @p m may execute as far as signatures go (G4): a signature
 * under a known key must match; with security.require.signature an
 * unsigned command or an unknown key id is refused too. *stp says what
 * was found (FLOQ_SIG_VALID: the key id in the decoded command is
 * authentic). */
static floq_err_t check_signature(floq_worker_t *w,
                                  const rd_kafka_message_t *m,
                                  floq_sig_status_t *stp, char *why,
                                  size_t why_size) {
        floq_sig_status_t st = FLOQ_SIG_UNSIGNED;
        char reason[400];
        floq_err_t err;

        *stp = FLOQ_SIG_UNSIGNED;
        if (!w->keys && !w->require_sig)
                return FLOQ_OK; /* nothing to check against */
        err = floq_command_verify(w->codec, w->keys, m->payload, m->len,
                                  w->require_sig, &st, reason,
                                  sizeof(reason));
        *stp = err ? FLOQ_SIG_BAD : st;
        if (err)
                snprintf(why, why_size, "signature check failed: %s",
                         reason);
        else if (st == FLOQ_SIG_UNKNOWN_KEY)
                floq_info("command", "%s [%d] offset %lld: signed with a "
                          "key this worker does not know; accepted as "
                          "unsigned (security.require.signature=false)",
                          rd_kafka_topic_name(m->rkt), (int)m->partition,
                          (long long)m->offset);
        return err;
}

/* The partition count of @p topic, -1 when unknown, from a metadata
 * request for every topic: naming the topic in a metadata request (or
 * rd_kafka_topic_new() on the producer) makes a broker with
 * auto.create.topics.enable create it. topic_exists(): 1 when @p topic (an
 * allowed reply_to) exists (cached); replies to a missing topic would fail
 * the transaction over and over. */
static int topic_partitions(floq_worker_t *w, const char *topic) {
        const struct rd_kafka_metadata *md = NULL;
        int cnt = -1, i;

        if (!rd_kafka_metadata(w->producer, 1, NULL, &md, 5000) && md) {
                for (i = 0; i < md->topic_cnt; i++)
                        if (!strcmp(md->topics[i].topic, topic)) {
                                if (!md->topics[i].err)
                                        cnt = md->topics[i].partition_cnt;
                                break;
                        }
                rd_kafka_metadata_destroy(md);
        }
        return cnt;
}

static int topic_exists(floq_worker_t *w, const char *topic) {
        int ok;

        if (!strcmp(topic, w->t_replies) || json_object_get(w->topics_ok, topic))
                return 1;
        ok = topic_partitions(w, topic) > 0;
        if (ok && json_object_size(w->topics_ok) < 10000)
                json_object_set_new(w->topics_ok, topic, json_true());
        return ok;
}

/* The partition count of the commands topic as the cluster has it now,
 * asked at most every 10 s (a flood of forged headers costs one metadata
 * request per 10 s); -1 when unknown. */
static int commands_partitions_now(floq_worker_t *w) {
        int64_t now = floq_mono_ms();

        if (!w->fwd_check_mono || now - w->fwd_check_mono >= 10000) {
                w->fwd_check_cnt = topic_partitions(w, w->t_commands);
                w->fwd_check_mono = now;
        }
        return w->fwd_check_cnt;
}

/* FLOQ_OK when @p cmd may be answered on its reply_to (or has none): an
 * allowed topic (wreply_topic_check()) that exists. */
static floq_err_t check_reply_to(floq_worker_t *w, const json_t *cmd,
                                 char *why, size_t why_size) {
        const char *never[] = { w->t_commands, w->t_deployments,
                                w->t_schedules, w->t_runs,
                                w->t_dlq, w->t_lineage };
        const char *reply_to = wjs(cmd, "reply_to");
        floq_err_t err;

        if (!reply_to)
                return FLOQ_OK;
        err = wreply_topic_check(
                reply_to, w->t_replies, never, sizeof(never) / sizeof(*never),
                floq_conf_str(w->conf, "worker.reply.topics.allowed"), why,
                why_size);
        if (!err && !topic_exists(w, reply_to))
                err = floq_seterr(why, why_size, FLOQ_ERR_NOT_FOUND,
                                  "reply_to topic '%s' does not exist",
                                  reply_to);
        return err;
}

/* 1 when @p s can go into a reply's envelope as it is: non-empty, at most
 * @p max bytes, no control characters. */
static int echo_ok(const char *s, size_t max) {
        size_t i;

        for (i = 0; s && s[i]; i++)
                if (i >= max || (unsigned char)s[i] < 0x20)
                        return 0;
        return i > 0;
}

/* The REJECTED reply to a refused command, on topic.replies, never on its
 * reply_to (not trusted: it may name a state topic), when its command_id
 * can key one; @p cmd may be NULL (nothing to answer). */
static void refuse_reply(floq_worker_t *w, const json_t *cmd,
                         const char *reason) {
        const char *id = cmd ? wjs(cmd, "command_id") : NULL;
        const char *dep = cmd ? wjs(cmd, "deployment") : NULL;
        const char *corr = cmd ? wjs(cmd, "correlation_id") : NULL;
        json_t *r;

        if (!echo_ok(id, 128))
                return;
        r = worker_reply_new(w, id, echo_ok(corr, WCORR_ECHO_MAX) ? corr : NULL,
                             echo_ok(dep, 249) ? dep : "", "REJECTED", 1);
        json_object_set_new(r, "reason", json_string(reason));
        worker_reply(w, NULL, r);
}

/* A command the gate refuses: the DLQ record and refuse_reply(). */
static void refuse(floq_worker_t *w, const rd_kafka_message_t *m,
                   const json_t *cmd, floq_err_t code, const char *reason) {
        dlq(w, m, code, reason);
        refuse_reply(w, cmd, reason);
}

/* Name of command kind @p kind as key scopes spell it. */
static const char *kind_name(wcmd_kind_t kind) {
        switch (kind) {
        case WCMD_DEPLOY: return "deploy";
        case WCMD_RUN: return "run";
        case WCMD_STOP: return "stop";
        case WCMD_SCHEDULE: return "schedule";
        case WCMD_UNSCHEDULE: return "unschedule";
        case WCMD_STATUS: return "status";
        case WCMD_VALIDATE: return "validate";
        default: return NULL;
        }
}

/* The command in @p m decoded, when it decodes (within the codec's
 * bound), or NULL. For a command refused before its normal decode (too
 * large, dead-lettered), so that it still gets its REJECTED (on
 * topic.replies: refuse_reply()). */
static json_t *command_for_reply(floq_worker_t *w,
                                 const rd_kafka_message_t *m) {
        json_t *cmd = NULL;

        if (!m->payload || floq_codec_decode(w->codec, FLOQ_MSG_COMMAND,
                                             m->payload, m->len, &cmd, NULL,
                                             0))
                return NULL;
        return cmd;
}

/* A command whose records made WTXN_POISON_TRIES transactions fail
 * (@p stage from wtxn_poisoned()): dead-lettered by reference and, at the
 * first stage, answered REJECTED when it can be read; later stages (the
 * reply itself failed) write the DLQ record alone. */
static void dead_letter(floq_worker_t *w, const rd_kafka_message_t *m,
                        int stage, const char *cause) {
        char reason[400];
        json_t *cmd;

        snprintf(reason, sizeof(reason),
                 "its records could not be written (%.300s); dead-lettered by "
                 "reference",
                 cause);
        dlq_ref(w, m, reason);
        if (stage == 1 && (cmd = command_for_reply(w, m))) {
                refuse_reply(w, cmd, reason);
                json_decref(cmd);
        }
}

/* Fields of a run's reply taken from its RunState. */
static void reply_add_run(floq_worker_t *w, json_t *r, const json_t *rs) {
        const char *id = wjs(rs, "run_id");
        char *url = wurl_expand(w->url_template, id, wjs(rs, "deployment"));
        json_t *v;

        json_object_set_new(r, "run_id", json_string(id));
        if (url)
                json_object_set_new(r, "url", json_string(url));
        free(url);
        json_object_set_new(r, "attempt",
                            json_integer(wji(rs, "attempt", 1)));
        if ((v = json_object_get(rs, "exit_code")) && json_is_integer(v))
                json_object_set(r, "exit_code", v);
        if ((v = json_object_get(rs, "output_tail")) && json_is_string(v))
                json_object_set(r, "output_tail", v);
        if ((v = json_object_get(rs, "reason")) && json_is_string(v))
                json_object_set(r, "reason", v);
}

/* ------------------------------------------------------------ repeats */

/*
 * Replays: an outcome is forgotten only when it is beyond the newest
 * worker.command.history ones *and* older than
 * security.command.max.lifetime.ms; a signed command expires within that
 * lifetime of its processing (wcmd_check_lifetime()), so its id is known
 * for as long as a captured copy could be accepted. WRECENT_MAX bounds the
 * list whatever happens (the gate refuses before it is reached).
 */
static void recent_trim(floq_worker_t *w, json_t *arr, int64_t now) {
        int64_t life = floq_conf_int(w->conf,
                                     "security.command.max.lifetime.ms");

        while (json_array_size(arr) > (size_t)w->command_history) {
                json_t *o = json_array_get(arr, 0);

                if (json_array_size(arr) <= WRECENT_MAX &&
                    wji(o, "at", 0) + life > now)
                        break;
                json_array_remove(arr, 0);
        }
}

/* How many outcomes of @p rec (a Deployment or ScheduleSet) are younger
 * than the lifetime: ids a replay could still use. */
static size_t recent_live(floq_worker_t *w, const json_t *rec, int64_t now) {
        int64_t life = floq_conf_int(w->conf,
                                     "security.command.max.lifetime.ms");
        json_t *arr = json_object_get(rec, "recent_commands"), *o;
        size_t i, n = 0;

        json_array_foreach(arr, i, o)
                if (wji(o, "at", 0) + life > now)
                        n++;
        return n;
}

/* The live outcomes of deployment @p name (its Deployment @p dep, NULL
 * none): its outcome records, and those of dep's recent_commands that
 * are not also one (a record written before them, not yet adopted; with
 * worker.outcomes.legacy every outcome is in both): each counted once. */
static size_t outcomes_live(floq_worker_t *w, int32_t p, const char *name,
                            const json_t *dep, int64_t now) {
        int64_t life = floq_conf_int(w->conf,
                                     "security.command.max.lifetime.ms");
        const wout_t *outs = &w->parts[p].outs;
        size_t i, n = wout_live(outs, name, now, life);
        json_t *o;

        json_array_foreach(json_object_get(dep, "recent_commands"), i, o)
                if (wji(o, "at", 0) + life > now &&
                    !wout_find(outs, name, wjs(o, "command_id")))
                        n++;
        return n;
}

json_t *worker_recent_find(const json_t *rec, const char *command_id) {
        json_t *arr = json_object_get(rec, "recent_commands"), *o;
        size_t i;

        json_array_foreach(arr, i, o)
                if (wjs(o, "command_id") &&
                    !strcmp(wjs(o, "command_id"), command_id))
                        return o;
        return NULL;
}

void worker_recent_add(floq_worker_t *w, json_t *rec, const json_t *cmd,
                       const char *status, const char *reason,
                       json_t *cancelled) {
        json_t *arr = json_object_get(rec, "recent_commands"), *o;

        if (!json_is_array(arr)) {
                arr = json_array();
                json_object_set_new(rec, "recent_commands", arr);
        }
        o = json_object();
        json_object_set_new(o, "command_id",
                            json_string(wjs(cmd, "command_id")));
        json_object_set_new(o, "status", json_string(status));
        json_object_set_new(o, "reason",
                            reason ? json_string(reason) : json_null());
        json_object_set_new(o, "cancelled_runs",
                            cancelled ? json_deep_copy(cancelled)
                                      : json_array());
        json_object_set_new(o, "at", json_integer(floq_now_ms()));
        json_array_append_new(arr, o);
        recent_trim(w, arr, floq_now_ms());
}

/* Answer a repeated run command (same command_id, or same idempotency key
 * when @p by_key) with the original run's outcome. */
static void answer_run_repeat(floq_worker_t *w, const json_t *cmd,
                              const json_t *rs, int by_key) {
        const char *status = wjs(rs, "status");
        int terminal = wrun_status_terminal(status);
        json_t *r;

        if (terminal) {
                r = reply_for(w, cmd, status, 1);
        } else {
                /* Same command: its terminal reply is still to come. Other
                 * command, same key: this is its only (final) answer. */
                r = reply_for(w, cmd, "ACCEPTED", by_key);
        }
        reply_add_run(w, r, rs);
        if (by_key && !terminal) {
                char why[300];

                snprintf(why, sizeof(why),
                         "idempotency key already used by run %s (%s)",
                         wjs(rs, "run_id"), status ? status : "?");
                json_object_set_new(r, "reason", json_string(why));
        }
        /* G3: marked, so that a count of final replies per command
         * (repeat false) is not fooled by a new publish of the same id. */
        json_object_set_new(r, "repeat", json_true());
        floq_info_ids("command", wjs(rs, "run_id"), wjs(cmd, "command_id"),
                      "%s: repeat of run %s answered with %s",
                      wjs(cmd, "command_id"), wjs(rs, "run_id"),
                      terminal ? status : "ACCEPTED");
        worker_reply(w, wjs(cmd, "reply_to"), r);
}

/* Answer a repeated command with the outcome it had: @p status, @p reason
 * (NULL none) and @p cancelled (run ids, NULL none), all borrowed. */
static void answer_outcome(floq_worker_t *w, const json_t *cmd,
                           const char *status, const char *reason,
                           json_t *cancelled) {
        json_t *r = reply_for(w, cmd, status, 1);

        if (reason)
                json_object_set_new(r, "reason", json_string(reason));
        if (json_is_array(cancelled))
                json_object_set(r, "cancelled_runs", cancelled);
        json_object_set_new(r, "repeat", json_true());
        floq_info_ids("command", NULL, wjs(cmd, "command_id"),
                      "%s: repeat answered with %s",
                      wjs(cmd, "command_id"), status);
        worker_reply(w, wjs(cmd, "reply_to"), r);
}

/* 1 when @p status is what a schedule or unschedule is answered with
 * (what worker/schedules.c gives worker_recent_add()). */
static int sched_status_ok(const char *status) {
        return status && (!strcmp(status, "SCHEDULED") ||
                          !strcmp(status, "UNSCHEDULED"));
}

/* The outcome of @p id inside record @p rec (recent_commands), NULL
 * none. One whose status is not one @p ok takes (what the commands of
 * that record are answered with) counts as none, as wout_put() refuses
 * such an outcome record: the field is a string, the Reply's an enum, and
 * a repeat answered with it could not be encoded, so the command would be
 * consumed without any reply (G1, G4). */
static json_t *recent_outcome(const json_t *rec, const char *id,
                              int (*ok)(const char *)) {
        json_t *o = worker_recent_find(rec, id);

        if (o && !ok(wjs(o, "status"))) {
                floq_warn_ids("command", NULL, id,
                              "%s: the outcome recorded for it has status "
                              "'%s', no reply status: not used",
                              id, wjs(o, "status") ? wjs(o, "status") : "");
                return NULL;
        }
        return o;
}

/* ... from an outcome inside a record (recent_outcome()). */
static void answer_recent(floq_worker_t *w, const json_t *cmd,
                          const json_t *o) {
        answer_outcome(w, cmd, wjs(o, "status"), wjs(o, "reason"),
                       json_object_get(o, "cancelled_runs"));
}

/*
 * A Deployment record of the code before the outcome records holds its
 * outcomes inside (recent_commands): before a version without them
 * replaces it, each one this memory does not know becomes a record of its
 * own (once per deployment; the rule of wout_trim() then lets the expired
 * ones go again at once).
 */
static floq_err_t outcomes_adopt(floq_worker_t *w, int32_t p,
                                 const char *name, const json_t *old) {
        floq_err_t err;
        json_t *o;
        size_t i;

        json_array_foreach(json_object_get(old, "recent_commands"), i, o) {
                const char *id = wjs(o, "command_id");

                /* one no repeat could be answered with (no reply status)
                 * is not carried over */
                if (!id || !wout_status_ok(wjs(o, "status")) ||
                    wout_find(&w->parts[p].outs, name, id))
                        continue;
                if ((err = wtxn_put_outcome(
                             w, p, name, id, wjs(o, "status"),
                             wjs(o, "reason"),
                             json_object_get(o, "cancelled_runs"),
                             wji(o, "at", 0))))
                        return err;
        }
        return FLOQ_OK;
}

/*
 * The new version @p ndep (taken) of @p cmd's deployment, replacing @p old
 * (NULL: none), and the command's outcome (@p status, @p reason,
 * @p cancelled: borrowed) as a record of its own; then reply @p r (taken).
 * Nothing is answered when a record cannot be written.
 */
static void put_version(floq_worker_t *w, int32_t p, const json_t *cmd,
                        const json_t *old, json_t *ndep, const char *status,
                        const char *reason, json_t *cancelled, json_t *r) {
        const char *name = wjs(cmd, "deployment");
        json_t *rc = json_object_get(old, "recent_commands");
        floq_err_t err;

        /* worker.outcomes.legacy: the outcomes inside the record too, as
         * the code before the outcome records kept them, for its workers
         * (a rolling upgrade, a rollback): they read only these, so
         * without them a repeat reaching one of them would execute again.
         * Shared as before (an outcome is never changed once added). */
        if (w->outcomes_legacy) {
                json_object_set_new(ndep, "recent_commands",
                                    json_is_array(rc) ? json_copy(rc)
                                                      : json_array());
                worker_recent_add(w, ndep, cmd, status, reason, cancelled);
        }
        /* old goes with the put below: its outcomes first */
        if (!(err = outcomes_adopt(w, p, name, old)))
                err = wtxn_put_deployment(w, p, ndep);
        else
                json_decref(ndep);
        if (!err)
                err = wtxn_put_outcome(w, p, name, wjs(cmd, "command_id"),
                                       status, reason, cancelled,
                                       floq_now_ms());
        if (!err)
                worker_reply(w, wjs(cmd, "reply_to"), r);
        else
                json_decref(r);
}

/* How often the expired outcomes are tombstoned, and at most how many a
 * pass (one transaction stays small). */
#define WOUT_EXPIRE_INTERVAL_MS 1000
#define WOUT_EXPIRE_BATCH 512

void worker_outcomes_tick(floq_worker_t *w) {
        int64_t mono = floq_mono_ms(), now = floq_now_ms();
        int32_t i, p, start;
        size_t n = 0;

        if (w->draining || mono < w->next_outcome_expiry ||
            w->part_cnt <= 0)
                return;
        w->next_outcome_expiry = mono + WOUT_EXPIRE_INTERVAL_MS;
        /* Round robin: a pass starts after the partition where the last
         * one ran out of budget (not at it: a backlog there that grows by
         * a budget a pass would hold every pass). From partition 0 each
         * time, a backlog larger than the budget kept the partitions
         * after it from being expired while it lasted. */
        start = w->outcome_expiry_part % w->part_cnt;
        for (i = 0; i < w->part_cnt && n < WOUT_EXPIRE_BATCH; i++) {
                p = (start + i) % w->part_cnt;
                if (w->parts[p].owned && !w->parts[p].restoring)
                        n += wtxn_expire_outcomes(w, p, now,
                                                  WOUT_EXPIRE_BATCH - n);
        }
        w->outcome_expiry_part = (start + i) % w->part_cnt;
        if (n)
                floq_info("command", "%zu expired command outcome(s) "
                                     "removed", n);
}

/* ------------------------------------------------------------ handlers */

static int check_retry(const json_t *retry, char *why, size_t why_size) {
        json_t *v;

        if (!json_is_object(retry))
                return 0;
        if (wji(retry, "max_attempts", 1) < 1 ||
            wji(retry, "max_attempts", 1) > 1000) {
                snprintf(why, why_size, "retry.max_attempts must be 1..1000");
                return -1;
        }
        if (wji(retry, "backoff_ms", 0) < 0 ||
            wji(retry, "max_backoff_ms", 0) < 0) {
                snprintf(why, why_size, "retry backoff must not be negative");
                return -1;
        }
        v = json_object_get(retry, "backoff_multiplier");
        if (json_is_number(v) && json_number_value(v) < 1.0) {
                snprintf(why, why_size,
                         "retry.backoff_multiplier must be >= 1");
                return -1;
        }
        v = json_object_get(retry, "jitter");
        if (json_is_number(v) &&
            (json_number_value(v) < 0 || json_number_value(v) > 1)) {
                snprintf(why, why_size, "retry.jitter must be in [0, 1]");
                return -1;
        }
        return 0;
}

/*
 * A deploy's artifact (docs/backends.md, "Artifacts"): artifact_url needs
 * artifact_sha256, and the artifact is fetched and verified into this
 * worker's cache before the deploy is answered, even when the cache has
 * it: every other worker will fetch it from that URL, so a deploy proves
 * the URL serves those bytes now. Here only what needs no network: the
 * digest, the URL and the reserved "artifact" of the spec. URL and digest
 * go into the spec as "artifact", which is how the backend learns of them
 * at every start, on whichever worker. *artp gets that object (borrowed
 * from @p spec), NULL when the deploy has no artifact; the download itself
 * is off the loop (deploy_job_run()).
 */
static floq_err_t deploy_artifact_check(floq_worker_t *w, const json_t *body,
                                        json_t *spec, json_t **artp,
                                        char *why, size_t why_size) {
        const char *url = wjs(body, "artifact_url");
        const char *sha = wjs(body, "artifact_sha256");
        json_t *given = json_object_get(spec, "artifact"), *art = NULL;
        char norm[FLOQ_ARTIFACT_SHA256_LEN + 1];
        floq_artifact_conf_t ac;
        floq_err_t err;

        *artp = NULL;
        if (!url && sha)
                return floq_seterr(why, why_size, FLOQ_ERR_INVALID_ARG,
                                   "artifact_sha256 is set but "
                                   "artifact_url is not");
        if (!url && !given)
                return FLOQ_OK;
        if (!url)
                goto reserved;
        if ((err = floq_artifact_sha256_parse(sha, norm, why, why_size)) ||
            (err = floq_artifact_conf_init(&ac, w->conf, why, why_size)) ||
            (err = floq_artifact_url_check(&ac, url, why, why_size)))
                return err;
        art = json_pack("{s:s,s:s}", "url", url, "sha256", norm);
        if (!art)
                return floq_seterr(why, why_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        if (given && !json_equal(given, art))
                goto reserved;
        json_object_set_new(spec, "artifact", art);
        *artp = art;
        return FLOQ_OK;
reserved:
        json_decref(art);
        return floq_seterr(why, why_size, FLOQ_ERR_INVALID_ARG,
                           "'artifact' in a spec is reserved: the worker "
                           "sets it from artifact_url and artifact_sha256");
}

/* ------------------------------------------------------------ parking */

/*
 * A command whose decision needs work that waits on the network (a
 * deploy's artifact download and its backend's deploy hook, a validate) is
 * parked: its partition is paused at it (per-partition order holds; the
 * messages fetched behind it are read again from it on resume, as while
 * intake is stopped), its offset is not committed, and the work goes to the
 * offload pool (offload.c) with copies of what it needs. The loop goes on
 * consuming, deciding and committing the other partitions, heartbeats and
 * executor events included. When the work comes back (or
 * worker.offload.timeout.ms passed: answered without it, the late result
 * dropped) the command is decided in the open transaction, its offset with
 * it, and the partition resumes. A partition revoked or rewound meanwhile
 * (wpart_clear() bumps its epoch) drops the parked command: whoever owns
 * the partition reads it again from the committed offset and redoes it.
 */

/* What the pool thread works on: its own copies, nothing of the loop's. */
typedef struct wjob_s {
        floq_offload_job_t base;
        uint64_t id;
        wcmd_kind_t kind;
        floq_backend_t *be;     /* thread-safe ops (backend.h) */
        char *name;             /* deployment */
        json_t *spec;           /* owned; the deploy hook may normalise it */
        int has_artifact;       /* spec.artifact to download first */
        floq_artifact_conf_t ac;
        floq_err_t err;         /* the outcome, with why */
        int hook_failed;        /* the backend refused (not the download) */
        char why[512];
} wjob_t;

/* The loop's half of a parked command. */
typedef struct wpark_s {
        struct wpark_s *next;
        uint64_t id;
        int32_t partition;
        unsigned epoch;         /* the partition's park_epoch then */
        int64_t offset;
        int64_t parked_mono, deadline_mono;
        json_t *cmd;            /* the decoded command (owned) */
        rd_kafka_message_t msg; /* what the DLQ record needs: topic,
                                 * partition, offset, key and payload
                                 * copies (owned; no librdkafka op) */
} wpark_t;

static void job_free(floq_offload_job_t *base) {
        wjob_t *job = (wjob_t *)base;

        free(job->name);
        json_decref(job->spec);
        free(job);
}

static void deploy_job_run(floq_offload_job_t *base) {
        wjob_t *job = (wjob_t *)base;
        const json_t *art = json_object_get(job->spec, "artifact");
        char path[PATH_MAX];

        job->why[0] = '\0';
        if (job->has_artifact) {
                job->err = floq_artifact_ensure(
                        &job->ac, json_string_value(json_object_get(art, "url")),
                        json_string_value(json_object_get(art, "sha256")),
                        FLOQ_ARTIFACT_F_REFRESH, path, sizeof(path), NULL,
                        NULL, job->why, sizeof(job->why));
                if (job->err)
                        return;
        }
        if (job->be->ops->deploy(job->be, job->name, job->spec, job->why,
                                 sizeof(job->why))) {
                job->err = FLOQ_ERR_REJECTED;
                job->hook_failed = 1;
        }
}

static void validate_job_run(floq_offload_job_t *base) {
        wjob_t *job = (wjob_t *)base;

        job->why[0] = '\0';
        job->err = job->be->ops->validate(job->be, job->spec, job->why,
                                          sizeof(job->why));
}

static void park_free(wpark_t *pk) {
        if (!pk)
                return;
        json_decref(pk->cmd);
        free(pk->msg.key);
        free(pk->msg.payload);
        if (pk->msg.rkt)
                rd_kafka_topic_destroy(pk->msg.rkt);
        free(pk);
}

/* The pool's wake-up: the loop's consumer poll returns at once. */
static void park_wake(void *opaque) {
        rd_kafka_queue_t *q = opaque;

        rd_kafka_queue_yield(q);
}

static floq_err_t offload_ready(floq_worker_t *w, char *why,
                                size_t why_size) {
        int threads;

        if (w->offload)
                return FLOQ_OK;
        threads = (int)floq_conf_int(w->conf, "worker.offload.threads");
        if (!w->offload_q)
                w->offload_q = rd_kafka_queue_get_consumer(w->consumer);
        /* One parked command per partition at most, and as many again
         * for work that outlived its deadline (still running). */
        w->offload = floq_offload_new(threads,
                                      (size_t)w->part_cnt + 2 * (size_t)threads,
                                      w->offload_q ? park_wake : NULL,
                                      w->offload_q, why, why_size);
        return w->offload ? FLOQ_OK : FLOQ_ERR_NOMEM;
}

/* Park command @p cmd (message @p m of partition @p p) for @p job (taken).
 * FLOQ_OK: parked (the caller does not advance the partition's offset);
 * else nothing was parked, @p job is freed and why says why. */
static floq_err_t park(floq_worker_t *w, const rd_kafka_message_t *m,
                       int32_t p, const json_t *cmd, wjob_t *job, char *why,
                       size_t why_size) {
        wpart_t *part = &w->parts[p];
        wpark_t *pk = calloc(1, sizeof(*pk));
        rd_kafka_topic_partition_list_t *l;
        floq_err_t err;

        if (!pk || (m->key_len && !(pk->msg.key = malloc(m->key_len))) ||
            (m->len && !(pk->msg.payload = malloc(m->len)))) {
                err = floq_seterr(why, why_size, FLOQ_ERR_NOMEM,
                                  "out of memory");
                goto fail;
        }
        if ((err = offload_ready(w, why, why_size)))
                goto fail;
        if (m->key_len)
                memcpy(pk->msg.key, m->key, m->key_len);
        if (m->len)
                memcpy(pk->msg.payload, m->payload, m->len);
        pk->msg.key_len = m->key_len;
        pk->msg.len = m->len;
        pk->msg.partition = m->partition;
        pk->msg.offset = m->offset;
        pk->msg.rkt = rd_kafka_topic_new(w->consumer,
                                         rd_kafka_topic_name(m->rkt), NULL);
        pk->id = job->id = ++w->park_seq;
        pk->partition = p;
        pk->epoch = part->park_epoch;
        pk->offset = m->offset;
        pk->parked_mono = floq_mono_ms();
        pk->deadline_mono = pk->parked_mono +
                            floq_conf_int(w->conf, "worker.offload.timeout.ms");
        pk->cmd = json_deep_copy(cmd);
        if (!pk->msg.rkt || !pk->cmd) {
                err = floq_seterr(why, why_size, FLOQ_ERR_NOMEM,
                                  "out of memory");
                goto fail;
        }
        if (floq_offload_submit(w->offload, &job->base)) {
                err = floq_seterr(why, why_size, FLOQ_ERR_TOO_LARGE,
                                  "the worker has %zu deploy/validate jobs "
                                  "under way already: retry later",
                                  floq_offload_held(w->offload));
                goto fail;
        }
        job = NULL;
        /* Stop the partition here: what is fetched behind it is skipped
         * (skip_from) and read again once it is decided. */
        if (!part->paused) {
                l = rd_kafka_topic_partition_list_new(1);
                rd_kafka_topic_partition_list_add(l, w->t_commands, p);
                rd_kafka_pause_partitions(w->consumer, l);
                rd_kafka_topic_partition_list_destroy(l);
                part->paused = 1;
        }
        part->parked = 1;
        pk->next = w->parks;
        w->parks = pk;
        floq_info("command", "%s: parked at partition %d offset %lld until "
                             "its off-loop work is done",
                  wjs(cmd, "command_id"), (int)p, (long long)m->offset);
        return FLOQ_OK;
fail:
        park_free(pk);
        if (job)
                job_free(&job->base);
        return err;
}

/* A new job of @p kind for backend @p be; @p spec is taken. */
static wjob_t *job_new(wcmd_kind_t kind, floq_backend_t *be,
                       const char *name, json_t *spec) {
        wjob_t *job = calloc(1, sizeof(*job));

        if (!job || !(job->name = strdup(name ? name : ""))) {
                free(job);
                json_decref(spec);
                return NULL;
        }
        job->base.run = kind == WCMD_DEPLOY ? deploy_job_run
                                            : validate_job_run;
        job->base.free_ = job_free;
        job->kind = kind;
        job->be = be;
        job->spec = spec;
        return job;
}

/* The deploy's outcome, once its checks, download and hook are done: the
 * Deployment record and DEPLOYED, or REJECTED with @p err and @p why. */
static void deploy_decide(floq_worker_t *w, const rd_kafka_message_t *m,
                          int32_t p, const json_t *cmd, json_t *spec,
                          floq_err_t err, const char *why_in) {
        const char *name = wjs(cmd, "deployment");
        json_t *body = NULL, *old, *dep, *r, *v;
        const char *backend, *sha;
        char why[512], *norm = NULL;
        static const char *const copied[] = { "artifact_url",
                                              "artifact_sha256", "namespace",
                                              "inputs", "outputs",
                                              "timeout_ms", "retry" };
        size_t i;

        if (err) {
                reject(w, m, cmd, err, why_in, 0);
                return;
        }
        wcmd_kind(cmd, &body);
        backend = wjs(body, "backend");
        old = wpart_deployment(&w->parts[p], name);
        norm = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);

        dep = json_object();
        json_object_set_new(dep, "name", json_string(name));
        json_object_set_new(dep, "backend", json_string(backend));
        json_object_set_new(dep, "spec", json_string(norm ? norm : "{}"));
        for (i = 0; i < sizeof(copied) / sizeof(copied[0]); i++)
                if ((v = json_object_get(body, copied[i])))
                        json_object_set(dep, copied[i], v);
        /* the digest as the cache names it */
        if ((sha = wjs(json_object_get(spec, "artifact"), "sha256")))
                json_object_set_new(dep, "artifact_sha256", json_string(sha));
        json_object_set_new(dep, "enabled", json_true());
        json_object_set_new(dep, "generation",
                            json_integer(wji(old, "generation", 0) + 1));
        json_object_set_new(dep, "updated_at", json_integer(floq_now_ms()));
        json_object_set_new(dep, "command_id",
                            json_string(wjs(cmd, "command_id")));
        /* No recent_commands: the outcomes are records of their own
         * (outcomes.c); rewriting all of them with every deploy made a
         * deploy weigh its deployment's last hour of deploys. */
        r = reply_for(w, cmd, "DEPLOYED", 1);
        snprintf(why, sizeof(why), "generation %lld",
                 (long long)wji(dep, "generation", 1));
        json_object_set_new(r, "reason", json_string(why));
        floq_info_ids("command", NULL, wjs(cmd, "command_id"),
                      "%s: deployed '%s' (%s, %s)",
                      wjs(cmd, "command_id"), name, backend, why);
        put_version(w, p, cmd, old, dep, "DEPLOYED", NULL, NULL, r);
        free(norm);
}

/* The validate's outcome: VALID, or INVALID with @p why. */
static void validate_decide(floq_worker_t *w, const json_t *cmd,
                            floq_err_t err, const char *why) {
        json_t *r = reply_for(w, cmd, err ? "INVALID" : "VALID", 1);

        if (err)
                json_object_set_new(r, "reason",
                                    json_string(why && why[0]
                                                        ? why
                                                        : floq_err2str(err)));
        worker_reply(w, wjs(cmd, "reply_to"), r);
}

/* Returns 1 when the command was parked (decided later). */
static int cmd_deploy(floq_worker_t *w, const rd_kafka_message_t *m,
                      int32_t p, const json_t *cmd, const json_t *body) {
        const char *name = wjs(cmd, "deployment");
        const char *backend = wjs(body, "backend");
        const char *spec_text = wjs(body, "spec");
        json_t *spec = NULL, *art = NULL;
        floq_backend_t *be;
        json_error_t jerr;
        char why[512];
        floq_err_t err;
        wjob_t *job;
        int parked = 0;

        if (!backend || !(be = worker_backend(w, backend))) {
                snprintf(why, sizeof(why), "unknown backend '%s'",
                         backend ? backend : "");
                reject(w, m, cmd, FLOQ_ERR_INVALID_ARG, why, 0);
                return 0;
        }
        if (!spec_text || strlen(spec_text) > WSPEC_MAX) {
                reject(w, m, cmd, FLOQ_ERR_TOO_LARGE,
                       "spec is missing or too large", 0);
                return 0;
        }
        spec = json_loads(spec_text, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(spec)) {
                snprintf(why, sizeof(why), "spec is not a JSON object: %s",
                         spec ? "wrong type" : jerr.text);
                reject(w, m, cmd, FLOQ_ERR_INVALID_ARG, why, 0);
                goto out;
        }
        if (json_is_integer(json_object_get(body, "timeout_ms")) &&
            wji(body, "timeout_ms", 0) < 0) {
                reject(w, m, cmd, FLOQ_ERR_INVALID_ARG,
                       "timeout_ms must not be negative", 0);
                goto out;
        }
        if (check_retry(json_object_get(body, "retry"), why, sizeof(why))) {
                reject(w, m, cmd, FLOQ_ERR_INVALID_ARG, why, 0);
                goto out;
        }
        if ((err = deploy_artifact_check(w, body, spec, &art, why,
                                         sizeof(why)))) {
                reject(w, m, cmd, err, why, 0);
                goto out;
        }
        if (art || be->ops->outlives_worker) {
                /* A download, or a backend whose deploy hook asks a
                 * remote service: off the loop. */
                if (!(job = job_new(WCMD_DEPLOY, be, name, spec))) {
                        spec = NULL;
                        reject(w, m, cmd, FLOQ_ERR_NOMEM, "out of memory", 1);
                        goto out;
                }
                spec = NULL;
                if (art) {
                        job->has_artifact = 1;
                        if ((err = floq_artifact_conf_init(&job->ac, w->conf,
                                                           why,
                                                           sizeof(why)))) {
                                job_free(&job->base);
                                reject(w, m, cmd, err, why, 0);
                                goto out;
                        }
                        job->ac.fetch_timeout_ms = job->ac.deploy_timeout_ms;
                }
                if ((err = park(w, m, p, cmd, job, why, sizeof(why))))
                        reject(w, m, cmd, err, why, 0);
                else
                        parked = 1;
                goto out;
        }
        why[0] = '\0';
        err = FLOQ_OK;
        if (be->ops->deploy(be, name, spec, why, sizeof(why))) {
                err = FLOQ_ERR_REJECTED;
                if (!why[0])
                        snprintf(why, sizeof(why),
                                 "the backend rejected the spec");
        }
        deploy_decide(w, m, p, cmd, spec, err, why);
out:
        json_decref(spec);
        return parked;
}
static void cmd_run(floq_worker_t *w, const rd_kafka_message_t *m, int32_t p,
                    const json_t *cmd, const json_t *body) {
        const char *name = wjs(cmd, "deployment");
        const char *key = wjs(cmd, "idempotency_key");
        json_t *dep = wpart_deployment(&w->parts[p], name);
        const json_t *gone;
        json_t *rs, *r;
        const char *rid;
        char why[512], gone_run[64];

        if (!dep) {
                snprintf(why, sizeof(why), "unknown deployment '%s'", name);
                reject(w, m, cmd, FLOQ_ERR_NOT_FOUND, why, 0);
                return;
        }
        if (key && (rid = wpart_find_idem(&w->parts[p], name, key)) &&
            (rs = wpart_run(&w->parts[p], rid))) {
                answer_run_repeat(w, cmd, rs, 1);
                return;
        }
        if (!json_is_true(json_object_get(dep, "enabled"))) {
                snprintf(why, sizeof(why),
                         "deployment '%s' is disabled by a stop; deploy it "
                         "again to enable it",
                         name);
                reject(w, m, cmd, FLOQ_ERR_REJECTED, why, 0);
                return;
        }
        if (json_is_integer(json_object_get(body, "timeout_ms")) &&
            wji(body, "timeout_ms", 0) < 0) {
                reject(w, m, cmd, FLOQ_ERR_INVALID_ARG,
                       "timeout_ms must not be negative", 0);
                return;
        }
        /* A run that could never be written (its RunState over the size
         * budget) is refused here rather than failing every transaction. */
        if (worker_run_check_size(w, cmd, body, why, sizeof(why))) {
                reject(w, m, cmd, FLOQ_ERR_TOO_LARGE, why, 0);
                return;
        }
        /* G3 holds for a key only while its run is kept: say so when the
         * key's run was removed by retention. */
        gone = key ? wpart_find_idem_gone(&w->parts[p], name, key) : NULL;
        /* the accept forgets the entry (the key is used again) */
        snprintf(gone_run, sizeof(gone_run), "%s",
                 !gone ? "" : wjs(gone, "run_id") ? wjs(gone, "run_id") : "?");
        if (!(rs = worker_run_accept(w, p, cmd, body)))
                return;
        r = reply_for(w, cmd, "ACCEPTED", 0);
        reply_add_run(w, r, rs);
        if (gone_run[0]) {
                snprintf(why, sizeof(why),
                         "idempotency key older than the retention window "
                         "of %lld ms (worker.run.retention.ms): its run %s "
                         "finished and was removed; a new run was created",
                         (long long)w->run_retention_ms, gone_run);
                json_object_set_new(r, "reason", json_string(why));
                floq_notice_ids("command", wjs(rs, "run_id"),
                                wjs(cmd, "command_id"), "%s: %s",
                                wjs(cmd, "command_id"), why);
        }
        floq_info_ids("command", wjs(rs, "run_id"), wjs(cmd, "command_id"),
                      "%s: run %s of '%s' accepted",
                      wjs(cmd, "command_id"), wjs(rs, "run_id"), name);
        worker_reply(w, wjs(cmd, "reply_to"), r);
        json_decref(rs);
}

static void cmd_stop(floq_worker_t *w, const rd_kafka_message_t *m,
                     int32_t p, const json_t *cmd, const json_t *body) {
        const char *name = wjs(cmd, "deployment");
        const char *run_id = wjs(body, "run_id");
        json_t *dep = wpart_deployment(&w->parts[p], name);
        json_t *cancelled = json_array(), *ids = json_array(), *ndep, *r,
               *rs, *v;
        const char *k, *reason = NULL;
        char why[512];
        size_t i;

        if (!dep) {
                snprintf(why, sizeof(why), "unknown deployment '%s'", name);
                reject(w, m, cmd, FLOQ_ERR_NOT_FOUND, why, 0);
                goto out;
        }
        if (run_id) {
                rs = wpart_run(&w->parts[p], run_id);
                if (!rs || !wjs(rs, "deployment") ||
                    strcmp(wjs(rs, "deployment"), name)) {
                        snprintf(why, sizeof(why),
                                 "no run '%s' of deployment '%s'", run_id,
                                 name);
                        reject(w, m, cmd, FLOQ_ERR_NOT_FOUND, why, 0);
                        goto out;
                }
                json_array_append_new(ids, json_string(run_id));
        } else {
                json_object_foreach((json_t *)wpart_live_runs(&w->parts[p],
                                                              name),
                                    k, v)
                        json_array_append_new(ids, json_string(k));
        }
        json_array_foreach(ids, i, v) {
                rs = wpart_run(&w->parts[p], json_string_value(v));
                if (rs && worker_run_cancel(w, p, rs,
                                            "cancelled by a stop command"))
                        json_array_append(cancelled, v);
                else if (rs && run_id) {
                        snprintf(why, sizeof(why), "run already %s",
                                 wjs(rs, "status") ? wjs(rs, "status")
                                                   : "ended");
                        reason = why;
                }
        }
        if (!run_id && !reason)
                reason = "deployment disabled until it is deployed again";

        /* Shallow: the values are never changed once in a record, so
         * they are shared; the outcomes are records of their own. */
        if (!(ndep = json_copy(dep))) {
                reject(w, m, cmd, FLOQ_ERR_NOMEM, "out of memory", 1);
                goto out;
        }
        json_object_del(ndep, "recent_commands");
        if (!run_id) {
                json_object_set_new(ndep, "enabled", json_false());
                json_object_set_new(ndep, "command_id",
                                    json_string(wjs(cmd, "command_id")));
        }
        json_object_set_new(ndep, "updated_at", json_integer(floq_now_ms()));
        r = reply_for(w, cmd, "STOPPED", 1);
        json_object_set(r, "cancelled_runs", cancelled);
        if (reason)
                json_object_set_new(r, "reason", json_string(reason));
        floq_info_ids("command", run_id, wjs(cmd, "command_id"),
                      "%s: stop of '%s' cancelled %zu run(s)",
                      wjs(cmd, "command_id"), name, json_array_size(cancelled));
        put_version(w, p, cmd, dep, ndep, "STOPPED", reason, cancelled, r);
out:
        json_decref(ids);
        json_decref(cancelled);
}

/* Bytes a STATUS reply @p r leaves for its detail text within the size
 * budget (the reply encoded with an empty detail, its key and margin). */
static size_t status_room(floq_worker_t *w, json_t *r) {
        size_t base;

        json_object_set_new(r, "detail", json_string(""));
        base = wtxn_msg_size(w, FLOQ_MSG_REPLY, r) +
               strlen(wjs(r, "command_id")) + 64;
        return base < wtxn_budget(w) ? wtxn_budget(w) - base : 0;
}

/* JSON text of @p o, its length in *lenp; malloc()ed, NULL on ENOMEM. */
static char *status_text(const json_t *o, size_t *lenp) {
        char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);

        *lenp = text ? strlen(text) : 0;
        return text;
}

/* detail {"run": RunState} that fits @p room: the output tail (the reply
 * has it in output_tail) and then the params left out when it would not,
 * with what was left out said. */
static char *status_run_detail(const json_t *rs, size_t room) {
        json_t *copy = json_deep_copy(rs), *detail;
        size_t len;
        char *text;

        detail = json_pack("{s:o}", "run", copy);
        text = status_text(detail, &len);
        if (text && len > room && json_object_get(copy, "output_tail")) {
                free(text);
                json_object_set_new(copy, "output_tail", json_null());
                json_object_set_new(detail, "output_tail_omitted",
                                    json_true());
                text = status_text(detail, &len);
        }
        if (text && len > room) {
                free(text);
                json_object_set_new(copy, "params", json_object());
                json_object_set_new(detail, "params_omitted", json_true());
                text = status_text(detail, &len);
        }
        json_decref(detail);
        return text;
}

static void cmd_status(floq_worker_t *w, const rd_kafka_message_t *m,
                       int32_t p, const json_t *cmd, const json_t *body) {
        const char *name = wjs(cmd, "deployment");
        const char *run_id = wjs(body, "run_id");
        json_t *dep = wpart_deployment(&w->parts[p], name);
        json_t *detail, *r, *rs = NULL, *active, *v;
        size_t room, used, len, total = 0, listed = 0;
        const char *k;
        char why[512], *text, *one;

        if (run_id) {
                rs = wpart_run(&w->parts[p], run_id);
                if (!rs || !wjs(rs, "deployment") ||
                    strcmp(wjs(rs, "deployment"), name)) {
                        snprintf(why, sizeof(why),
                                 "no run '%s' of deployment '%s'", run_id,
                                 name);
                        reject(w, m, cmd, FLOQ_ERR_NOT_FOUND, why, 0);
                        return;
                }
                r = reply_for(w, cmd, "STATUS", 1);
                reply_add_run(w, r, rs);
                text = status_run_detail(rs, status_room(w, r));
                json_object_set_new(r, "detail",
                                    json_string(text ? text : "{}"));
                free(text);
                worker_reply(w, wjs(cmd, "reply_to"), r);
                return;
        }
        if (!dep) {
                snprintf(why, sizeof(why), "unknown deployment '%s'", name);
                reject(w, m, cmd, FLOQ_ERR_NOT_FOUND, why, 0);
                return;
        }
        r = reply_for(w, cmd, "STATUS", 1);
        /* room for the reason below */
        json_object_set_new(r, "reason", json_string(
                "listing 1000000 of 1000000 active runs: the reply would "
                "be larger than the size budget (1000000000 bytes)"));
        room = status_room(w, r);
        json_object_del(r, "reason");
        /* The fixed part first, then as many active runs as fit; the rest
         * are counted and the reply says so. The deployment without its
         * recent_commands (the replay memory, up to WRECENT_MAX outcomes):
         * serialising them into every status made a status cost, and its
         * reply weigh, as much as the deployment's last hour of deploys. */
        if (!(dep = json_copy(dep))) {
                json_decref(r);
                reject(w, m, cmd, FLOQ_ERR_NOMEM, "out of memory", 0);
                return;
        }
        json_object_del(dep, "recent_commands");
        active = json_array();
        detail = json_pack("{s:o,s:o,s:O?,s:I,s:b}", "deployment", dep,
                           "active_runs", active, "schedules",
                           json_object_get(w->parts[p].schedules, name),
                           "active_runs_total", (json_int_t)0,
                           "active_runs_truncated", 0);
        text = status_text(detail, &used);
        free(text);
        json_object_foreach((json_t *)wpart_live_runs(&w->parts[p], name), k,
                            v) {
                if (!(rs = wpart_run(&w->parts[p], k)))
                        continue;
                total++;
                if (listed < total - 1)
                        continue; /* one did not fit: the rest are counted */
                one = status_text(rs, &len);
                free(one);
                /* + a comma, and the counts' digits */
                if (used + len + 1 + 20 > room)
                        continue;
                used += len + 1;
                json_array_append(active, rs);
                listed++;
        }
        json_object_set_new(detail, "active_runs_total",
                            json_integer((json_int_t)total));
        json_object_set_new(detail, "active_runs_truncated",
                            json_boolean(listed < total));
        if (listed < total) {
                snprintf(why, sizeof(why),
                         "listing %zu of %zu active runs: the reply would be "
                         "larger than the size budget (%zu bytes)",
                         listed, total, wtxn_budget(w));
                json_object_set_new(r, "reason", json_string(why));
                floq_notice_ids("command", NULL, wjs(cmd, "command_id"),
                                "%s: status of '%s' %s",
                                wjs(cmd, "command_id"), name, why);
        }
        text = status_text(detail, &len);
        json_decref(detail);
        json_object_set_new(r, "detail", json_string(text ? text : "{}"));
        free(text);
        worker_reply(w, wjs(cmd, "reply_to"), r);
}

/* Returns 1 when the command was parked (decided later). */
static int cmd_validate(floq_worker_t *w, const rd_kafka_message_t *m,
                        int32_t p, const json_t *cmd, const json_t *body) {
        const char *backend = wjs(body, "backend");
        const char *spec_text = wjs(body, "spec");
        floq_backend_t *be = backend ? worker_backend(w, backend) : NULL;
        json_t *spec = NULL;
        json_error_t jerr;
        char why[512] = "";
        floq_err_t err = FLOQ_OK;
        wjob_t *job;

        /* Not inside json_is_object(): the macro evaluates its argument
         * twice (two parses, the first one leaked). */
        if (be && spec_text)
                spec = json_loads(spec_text, 0, &jerr);
        if (!be) {
                snprintf(why, sizeof(why), "unknown backend '%s'",
                         backend ? backend : "");
                err = FLOQ_ERR_NOT_FOUND;
        } else if (spec_text && !json_is_object(spec)) {
                snprintf(why, sizeof(why), "spec is not a JSON object");
                err = FLOQ_ERR_INVALID_ARG;
        } else if (be->ops->validate) {
                /* Connectivity: off the loop, always. */
                job = job_new(WCMD_VALIDATE, be, wjs(cmd, "deployment"),
                              spec);
                spec = NULL;
                if (!job)
                        err = floq_seterr(why, sizeof(why), FLOQ_ERR_NOMEM,
                                          "out of memory");
                else if (!(err = park(w, m, p, cmd, job, why, sizeof(why))))
                        return 1;
        }
        json_decref(spec);
        validate_decide(w, cmd, err, why);
        return 0;
}

/* Decide parked command @p pk with the outcome @p err / @p why (@p spec:
 * the deploy's spec after its hook, NULL when it did not come back). */
static void park_decide(floq_worker_t *w, wpark_t *pk, json_t *spec,
                        floq_err_t err, const char *why) {
        json_t *body = NULL;
        wcmd_kind_t kind = wcmd_kind(pk->cmd, &body);
        int32_t p = pk->partition;

        wtxn_source(w, p, pk->offset);
        if (kind == WCMD_DEPLOY)
                deploy_decide(w, &pk->msg, p, pk->cmd, spec, err, why);
        else
                validate_decide(w, pk->cmd, err, why);
        wmetrics_command(w, pk->cmd);
        wtxn_source(w, -1, -1);
        w->parts[p].next_offset = pk->offset + 1;
        w->parts[p].parked = 0; /* the intake resumes it (worker.c) */
        w->txn.commands++;
}

/* Unlink @p pk from the parked list (found through *link). */
static void park_unlink(wpark_t **link, wpark_t *pk) {
        *link = pk->next;
        pk->next = NULL;
}

void worker_parked_tick(floq_worker_t *w) {
        floq_offload_job_t *base;
        wpark_t **link, *pk;
        int64_t now = floq_mono_ms();

        if (!w->offload && !w->parks)
                return;
        /* Work that came back. */
        while (w->offload && (base = floq_offload_next(w->offload))) {
                wjob_t *job = (wjob_t *)base;

                for (link = &w->parks; (pk = *link); link = &pk->next)
                        if (pk->id == job->id)
                                break;
                if (!pk) {
                        floq_debug("command", "off-loop job %llu came back "
                                              "after its command was "
                                              "answered or dropped",
                                   (unsigned long long)job->id);
                } else if (!w->parts[pk->partition].owned ||
                           w->parts[pk->partition].park_epoch != pk->epoch) {
                        park_unlink(link, pk);
                        floq_info("command", "%s: partition %d revoked or "
                                             "rewound while parked: its "
                                             "result is dropped",
                                  wjs(pk->cmd, "command_id"),
                                  (int)pk->partition);
                        park_free(pk);
                } else if (!wtxn_begin(w)) {
                        park_unlink(link, pk);
                        floq_info("command", "%s: off-loop work done in %lld "
                                             "ms",
                                  wjs(pk->cmd, "command_id"),
                                  (long long)(now - pk->parked_mono));
                        park_decide(w, pk, job->spec,
                                    job->err,
                                    job->why[0] ? job->why
                                    : job->hook_failed
                                            ? "the backend rejected the spec"
                                            : floq_err2str(job->err));
                        park_free(pk);
                } else {
                        /* No transaction: the rewind that follows drops
                         * it and the command is read again. */
                }
                job_free(base);
        }
        /* Deadlines, and partitions gone. */
        for (link = &w->parks; (pk = *link);) {
                wpart_t *part = &w->parts[pk->partition];
                char why[300];

                if (!part->owned || part->park_epoch != pk->epoch) {
                        park_unlink(link, pk);
                        park_free(pk);
                        continue;
                }
                if (now < pk->deadline_mono || wtxn_begin(w)) {
                        link = &pk->next;
                        continue;
                }
                park_unlink(link, pk);
                snprintf(why, sizeof(why),
                         "the %s did not finish within "
                         "worker.offload.timeout.ms (%lld ms)",
                         wcmd_kind(pk->cmd, NULL) == WCMD_DEPLOY
                                 ? "deploy's artifact download and backend "
                                   "check"
                                 : "backend's validate",
                         (long long)(pk->deadline_mono - pk->parked_mono));
                floq_warn("command", "%s: %s", wjs(pk->cmd, "command_id"),
                          why);
                park_decide(w, pk, NULL, FLOQ_ERR_TIMED_OUT, why);
                park_free(pk);
        }
}

void worker_parked_release(floq_worker_t *w) {
        wpark_t *pk;

        floq_offload_destroy(w->offload);
        w->offload = NULL;
        while ((pk = w->parks)) {
                w->parks = pk->next;
                park_free(pk);
        }
        if (w->offload_q)
                rd_kafka_queue_destroy(w->offload_q);
        w->offload_q = NULL;
}

/* ------------------------------------------------------------ the gate */

/* The header a forwarded command carries: "<from partition>/<partition
 * count>" as the forwarding worker saw them. */
#define WFWD_HEADER "floq.forwarded"

/* 1 when @p m was forwarded by a worker; *countp gets the partition count
 * that worker saw (0 when unreadable). */
static int forwarded_mark(const rd_kafka_message_t *m, int *countp) {
        rd_kafka_headers_t *src = NULL;
        const void *val = NULL;
        size_t len = 0;
        char text[32];
        const char *slash;

        *countp = 0;
        if (rd_kafka_message_headers(m, &src) || !src ||
            rd_kafka_header_get_last(src, WFWD_HEADER, &val, &len))
                return 0;
        snprintf(text, sizeof(text), "%.*s", (int)(len < 31 ? len : 31),
                 val ? (const char *)val : "");
        if ((slash = strchr(text, '/')))
                *countp = atoi(slash + 1);
        return 1;
}

/* Send @p cmd (message @p m, off its home partition) to partition @p home
 * in the open transaction, once: a command that was forwarded already and
 * is still off its home partition means two workers disagree on the
 * partition count of the commands topic (it changed under a running
 * fleet), and forwarding it again could go on forever. */
static void forward_home(floq_worker_t *w, const rd_kafka_message_t *m,
                         const json_t *cmd, int32_t home) {
        rd_kafka_headers_t *h = NULL, *src = NULL;
        char mark[32], why[300];
        int count;

        if (forwarded_mark(m, &count)) {
                snprintf(why, sizeof(why),
                         "forwarded already (by a worker that saw %d "
                         "partitions) and still off its home partition %d "
                         "of %d: workers disagree on the partition count "
                         "of '%s'",
                         count, (int)home, (int)w->part_cnt, w->t_commands);
                floq_err_ids("command", NULL, wjs(cmd, "command_id"), "%s: %s",
                             wjs(cmd, "command_id"), why);
                reject(w, m, cmd, FLOQ_ERR_INVALID_ARG, why, 0);
                return;
        }
        if (!rd_kafka_message_headers(m, &src) && src)
                h = rd_kafka_headers_copy(src);
        else
                h = rd_kafka_headers_new(1);
        snprintf(mark, sizeof(mark), "%d/%d", (int)m->partition,
                 (int)w->part_cnt);
        rd_kafka_header_add(h, WFWD_HEADER, -1, mark, -1);
        if (m->key_len + m->len + wtxn_headers_size(h) > wtxn_budget(w)) {
                rd_kafka_headers_destroy(h);
                snprintf(why, sizeof(why),
                         "command of %zu bytes cannot be forwarded to its "
                         "home partition %d: larger than the size budget "
                         "(%zu bytes)",
                         m->len, (int)home, wtxn_budget(w));
                reject(w, m, cmd, FLOQ_ERR_TOO_LARGE, why, 0);
                return;
        }
        floq_info_ids("command", NULL, wjs(cmd, "command_id"),
                      "%s: forwarded from partition %d to its home "
                      "partition %d",
                      wjs(cmd, "command_id"), (int)m->partition, (int)home);
        wtxn_produce_raw(w, w->t_commands, home, m->key, m->key_len,
                         m->payload, m->len, h);
}

void worker_handle_command(floq_worker_t *w, const rd_kafka_message_t *m) {
        int32_t p = m->partition, home;
        json_t *cmd = NULL, *body = NULL, *dep, *sset, *o;
        const wout_entry_t *out;
        const char *rid, *id;
        size_t live;
        floq_sig_status_t sig;
        int stage;
        wcmd_kind_t kind;
        char why[600];
        int64_t now;
        floq_err_t err;
        int fwd_count, parked = 0;

        w->n_commands++;
        if (wtxn_begin(w)) {
                /* Not processed: fetch it again rather than let a later
                 * offset of this partition commit past it. */
                rd_kafka_topic_partition_list_t *l =
                        rd_kafka_topic_partition_list_new(1);
                rd_kafka_error_t *e;

                rd_kafka_topic_partition_list_add(l, w->t_commands, p)
                        ->offset = m->offset;
                if ((e = rd_kafka_seek_partitions(w->consumer, l, 10000)))
                        rd_kafka_error_destroy(e);
                rd_kafka_topic_partition_list_destroy(l);
                return;
        }
        wtxn_source(w, p, m->offset);
        if ((stage = wtxn_poisoned(w, p, m->offset, why, sizeof(why)))) {
                dead_letter(w, m, stage, why);
                goto done;
        }
        if (!m->payload || m->len == 0) {
                dlq(w, m, FLOQ_ERR_DECODE, "empty command");
                goto done;
        }
        if (m->len > w->max_message) {
                snprintf(why, sizeof(why),
                         "command of %zu bytes is larger than "
                         "message.max.bytes (%zu)",
                         m->len, w->max_message);
                /* Answered when it can be read all the same (G4). */
                cmd = command_for_reply(w, m);
                refuse(w, m, cmd, FLOQ_ERR_TOO_LARGE, why);
                goto done;
        }
        err = floq_codec_decode(w->codec, FLOQ_MSG_COMMAND, m->payload, m->len,
                                &cmd, why, sizeof(why));
        if (err) {
                char full[700];

                snprintf(full, sizeof(full), "undecodable command: %s", why);
                dlq(w, m, err, full);
                goto done;
        }
        id = wjs(cmd, "command_id");
        now = floq_now_ms();
        kind = wcmd_kind(cmd, &body);
        /* G4: the signature before anything else, forwarding included,
         * so an unverified command never executes nor travels (sign.c);
         * then the envelope (names, expiry, the retention window), the
         * lifetime of a signed command and its key's scope, and only then
         * the reply address it asks for (docs/security.md). */
        if ((err = check_signature(w, m, &sig, why, sizeof(why))) ||
            (err = wcmd_check(cmd, now, w->run_retention_ms, why,
                              sizeof(why))) ||
            (sig == FLOQ_SIG_VALID &&
             ((err = wcmd_check_lifetime(
                       cmd, now,
                       floq_conf_int(w->conf,
                                     "security.command.max.lifetime.ms"),
                       why, sizeof(why))) ||
              (kind != WCMD_UNKNOWN &&
               (err = floq_keyring_authorize(w->keys, wjs(cmd, "key_id"),
                                             wjs(cmd, "deployment"),
                                             kind_name(kind), why,
                                             sizeof(why)))))) ||
            (err = check_reply_to(w, cmd, why, sizeof(why)))) {
                refuse(w, m, cmd, err, why);
                goto done;
        }
        if (forwarded_mark(m, &fwd_count) && fwd_count > w->part_cnt) {
                /* The header is a hint, not covered by the signature: the
                 * cluster says whether the topic really grew. */
                int now_cnt = commands_partitions_now(w);

                if (now_cnt > w->part_cnt) {
                        /* It grew under this worker: every home partition
                         * it computes is stale. Leave the message
                         * unprocessed and stop; a restart reads the new
                         * count (and checks the state topics match it). */
                        floq_err("worker", "the partition count of '%s' "
                                           "changed: it has %d partitions, "
                                           "this worker started with %d; "
                                           "stopping (restart it to use "
                                           "the new count)",
                                 w->t_commands, now_cnt, (int)w->part_cnt);
                        w->fatal = FLOQ_ERR_CONFIG;
                        json_decref(cmd);
                        return;
                }
                snprintf(why, sizeof(why),
                         "forwarded by a worker that saw %d partitions, but "
                         "'%s' has %d: a stale or forged floq.forwarded "
                         "header",
                         fwd_count, w->t_commands,
                         now_cnt > 0 ? now_cnt : (int)w->part_cnt);
                refuse(w, m, cmd, FLOQ_ERR_INVALID_ARG, why);
                goto done;
        }
        home = whome_partition(wjs(cmd, "deployment"), w->part_cnt);
        if (home != p) {
                wmetrics_forwarded(w);
                forward_home(w, m, cmd, home);
                goto done;
        }
        if (kind == WCMD_UNKNOWN) {
                reject(w, m, cmd, FLOQ_ERR_INVALID_ARG, "unknown command body",
                       0);
                goto done;
        }

        /* G3: a command already processed executes nothing. */
        if ((rid = wpart_find_cmd(&w->parts[p], wjs(cmd, "command_id"))) &&
            (o = wpart_run(&w->parts[p], rid))) {
                answer_run_repeat(w, cmd, o, 0);
                goto done;
        }
        dep = wpart_deployment(&w->parts[p], wjs(cmd, "deployment"));
        sset = json_object_get(w->parts[p].schedules, wjs(cmd, "deployment"));
        if ((out = wout_find(&w->parts[p].outs, wjs(cmd, "deployment"),
                             id))) {
                answer_outcome(w, cmd, out->status, out->reason,
                               out->cancelled);
                goto done;
        }
        if ((dep && (o = recent_outcome(dep, id, wout_status_ok))) ||
            (sset && (o = recent_outcome(sset, id, sched_status_ok)))) {
                answer_recent(w, cmd, o);
                goto done;
        }
        o = kind == WCMD_DEPLOY || kind == WCMD_STOP ? dep
            : kind == WCMD_SCHEDULE || kind == WCMD_UNSCHEDULE ? sset
                                                               : NULL;
        live = kind == WCMD_DEPLOY || kind == WCMD_STOP
                       ? outcomes_live(w, p, wjs(cmd, "deployment"), dep, now)
               : o ? recent_live(w, o, now)
                   : 0;
        if (live >= WRECENT_MAX) {
                snprintf(why, sizeof(why),
                         "deployment '%s' changed %d times within "
                         "security.command.max.lifetime.ms: retry when "
                         "older commands have expired",
                         wjs(cmd, "deployment"), WRECENT_MAX);
                reject(w, m, cmd, FLOQ_ERR_REJECTED, why, 0);
                goto done;
        }

        switch (kind) {
        case WCMD_DEPLOY:
                parked = cmd_deploy(w, m, p, cmd, body);
                break;
        case WCMD_RUN:
                cmd_run(w, m, p, cmd, body);
                break;
        case WCMD_STOP:
                cmd_stop(w, m, p, cmd, body);
                break;
        case WCMD_STATUS:
                cmd_status(w, m, p, cmd, body);
                break;
        case WCMD_VALIDATE:
                parked = cmd_validate(w, m, p, cmd, body);
                break;
        case WCMD_SCHEDULE:
                if ((err = worker_cmd_schedule(w, p, cmd, body, why,
                                               sizeof(why))))
                        reject(w, m, cmd, err, why, 0);
                break;
        case WCMD_UNSCHEDULE:
                if ((err = worker_cmd_unschedule(w, p, cmd, body, why,
                                                 sizeof(why))))
                        reject(w, m, cmd, err, why, 0);
                break;
        default:
                reject(w, m, cmd, FLOQ_ERR_UNSUPPORTED, "not implemented yet",
                       1);
                break;
        }
done:
        /* A parked command is counted and its offset committed when it
         * is decided (worker_parked_tick()). */
        if (!parked)
                wmetrics_command(w, cmd);
        wtxn_source(w, -1, -1);
        json_decref(cmd);
        if (!parked)
                w->parts[p].next_offset = m->offset + 1;
        w->txn.commands++;
}
