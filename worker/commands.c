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
#include "worker_int.h"

/* Largest spec text accepted in a deploy (the whole command is bounded by
 * message.max.bytes anyway). */
#define WSPEC_MAX (256 * 1024)

/* Most unexpired outcomes one Deployment or ScheduleSet remembers
 * (recent_commands): past it, state-changing commands of that deployment
 * are refused until some expire, rather than forgetting an id that could
 * still be replayed (docs/security.md, "Replays"). */
#define WRECENT_MAX 1000

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
        floq_info("command", "%s: repeat of run %s answered with %s",
                  wjs(cmd, "command_id"), wjs(rs, "run_id"),
                  terminal ? status : "ACCEPTED");
        worker_reply(w, wjs(cmd, "reply_to"), r);
}

static void answer_recent(floq_worker_t *w, const json_t *cmd,
                          const json_t *o) {
        json_t *r = reply_for(w, cmd, wjs(o, "status"), 1), *v;

        if ((v = json_object_get(o, "reason")) && json_is_string(v))
                json_object_set(r, "reason", v);
        if ((v = json_object_get(o, "cancelled_runs")) && json_is_array(v))
                json_object_set(r, "cancelled_runs", v);
        json_object_set_new(r, "repeat", json_true());
        floq_info("command", "%s: repeat answered with %s",
                  wjs(cmd, "command_id"), wjs(o, "status"));
        worker_reply(w, wjs(cmd, "reply_to"), r);
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
 * the URL serves those bytes now. The fetch runs on the loop
 * inside the open transaction, so it is bounded by
 * artifact.deploy.timeout.ms, and never more than half the transaction
 * timeout or a third of the heartbeat timeout (the watchdog self-fences
 * after two thirds without a commit). URL and digest go into the spec as
 * "artifact", which is how the backend learns of them at every start, on
 * whichever worker. @p sha_out (65 bytes) gets the digest in lower case, or
 * "" when the deploy has no artifact.
 */
static floq_err_t deploy_artifact(floq_worker_t *w, const json_t *body,
                                  json_t *spec, char *sha_out, char *why,
                                  size_t why_size) {
        const char *url = wjs(body, "artifact_url");
        const char *sha = wjs(body, "artifact_sha256");
        json_t *given = json_object_get(spec, "artifact"), *art = NULL;
        char path[PATH_MAX], norm[FLOQ_ARTIFACT_SHA256_LEN + 1];
        floq_artifact_conf_t ac;
        int64_t bound, t;
        floq_err_t err;

        sha_out[0] = '\0';
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
        bound = ac.deploy_timeout_ms;
        t = floq_conf_int(w->conf, "worker.transaction.timeout.ms") / 2;
        if (t > 0 && t < bound)
                bound = t;
        t = w->hb_timeout_ms / 3;
        if (t > 0 && t < bound)
                bound = t;
        if (bound < ac.deploy_timeout_ms)
                floq_notice("command", "artifact download bounded to %lld ms "
                                       "(artifact.deploy.timeout.ms is %lld)",
                            (long long)bound,
                            (long long)ac.deploy_timeout_ms);
        ac.fetch_timeout_ms = bound;
        /* On the loop, but the watchdog knows (timing.c). */
        worker_busy_begin(w, "artifact download");
        err = floq_artifact_ensure(&ac, url, norm, FLOQ_ARTIFACT_F_REFRESH,
                                   path, sizeof(path), NULL, NULL, why,
                                   why_size);
        worker_busy_end(w);
        if (err) {
                json_decref(art);
                return err;
        }
        json_object_set_new(spec, "artifact", art);
        memcpy(sha_out, norm, sizeof(norm));
        return FLOQ_OK;
reserved:
        json_decref(art);
        return floq_seterr(why, why_size, FLOQ_ERR_INVALID_ARG,
                           "'artifact' in a spec is reserved: the worker "
                           "sets it from artifact_url and artifact_sha256");
}

static void cmd_deploy(floq_worker_t *w, const rd_kafka_message_t *m,
                       int32_t p, const json_t *cmd, const json_t *body) {
        const char *name = wjs(cmd, "deployment");
        const char *backend = wjs(body, "backend");
        const char *spec_text = wjs(body, "spec");
        json_t *old = json_object_get(w->parts[p].deployments, name);
        json_t *spec = NULL, *dep = NULL, *r;
        floq_backend_t *be;
        json_error_t jerr;
        char why[512], *norm = NULL;
        char sha[FLOQ_ARTIFACT_SHA256_LEN + 1];
        floq_err_t err;
        static const char *const copied[] = { "artifact_url",
                                              "artifact_sha256", "namespace",
                                              "inputs", "outputs",
                                              "timeout_ms", "retry" };
        size_t i;

        if (!backend || !(be = worker_backend(w, backend))) {
                snprintf(why, sizeof(why), "unknown backend '%s'",
                         backend ? backend : "");
                reject(w, m, cmd, FLOQ_ERR_INVALID_ARG, why, 0);
                return;
        }
        if (!spec_text || strlen(spec_text) > WSPEC_MAX) {
                reject(w, m, cmd, FLOQ_ERR_TOO_LARGE,
                       "spec is missing or too large", 0);
                return;
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
        if ((err = deploy_artifact(w, body, spec, sha, why, sizeof(why)))) {
                reject(w, m, cmd, err, why, 0);
                goto out;
        }
        why[0] = '\0';
        if (be->ops->deploy(be, name, spec, why, sizeof(why))) {
                reject(w, m, cmd, FLOQ_ERR_REJECTED,
                       why[0] ? why : "the backend rejected the spec", 0);
                goto out;
        }
        norm = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);

        dep = json_object();
        json_object_set_new(dep, "name", json_string(name));
        json_object_set_new(dep, "backend", json_string(backend));
        json_object_set_new(dep, "spec", json_string(norm ? norm : "{}"));
        for (i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
                json_t *v = json_object_get(body, copied[i]);

                if (v)
                        json_object_set(dep, copied[i], v);
        }
        if (sha[0]) /* the digest as the cache names it */
                json_object_set_new(dep, "artifact_sha256", json_string(sha));
        json_object_set_new(dep, "enabled", json_true());
        json_object_set_new(dep, "generation",
                            json_integer(wji(old, "generation", 0) + 1));
        json_object_set_new(dep, "updated_at", json_integer(floq_now_ms()));
        json_object_set_new(dep, "command_id",
                            json_string(wjs(cmd, "command_id")));
        if (old && json_is_array(json_object_get(old, "recent_commands")))
                json_object_set_new(dep, "recent_commands",
                                    json_deep_copy(json_object_get(
                                            old, "recent_commands")));
        worker_recent_add(w, dep, cmd, "DEPLOYED", NULL, NULL);

        r = reply_for(w, cmd, "DEPLOYED", 1);
        snprintf(why, sizeof(why), "generation %lld",
                 (long long)wji(dep, "generation", 1));
        json_object_set_new(r, "reason", json_string(why));
        floq_info("command", "%s: deployed '%s' (%s, %s)",
                  wjs(cmd, "command_id"), name, backend, why);
        if (!wtxn_put_deployment(w, p, dep))
                worker_reply(w, wjs(cmd, "reply_to"), r);
        else
                json_decref(r);
out:
        free(norm);
        json_decref(spec);
}

static void cmd_run(floq_worker_t *w, const rd_kafka_message_t *m, int32_t p,
                    const json_t *cmd, const json_t *body) {
        const char *name = wjs(cmd, "deployment");
        const char *key = wjs(cmd, "idempotency_key");
        json_t *dep = json_object_get(w->parts[p].deployments, name);
        json_t *rs, *r;
        const char *rid;
        char why[512];

        if (!dep) {
                snprintf(why, sizeof(why), "unknown deployment '%s'", name);
                reject(w, m, cmd, FLOQ_ERR_NOT_FOUND, why, 0);
                return;
        }
        if (key && (rid = wpart_find_idem(&w->parts[p], name, key)) &&
            (rs = json_object_get(w->parts[p].runs, rid))) {
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
        if (!(rs = worker_run_accept(w, p, cmd, body)))
                return;
        r = reply_for(w, cmd, "ACCEPTED", 0);
        reply_add_run(w, r, rs);
        floq_info("command", "%s: run %s of '%s' accepted",
                  wjs(cmd, "command_id"), wjs(rs, "run_id"), name);
        worker_reply(w, wjs(cmd, "reply_to"), r);
        json_decref(rs);
}

static void cmd_stop(floq_worker_t *w, const rd_kafka_message_t *m,
                     int32_t p, const json_t *cmd, const json_t *body) {
        const char *name = wjs(cmd, "deployment");
        const char *run_id = wjs(body, "run_id");
        json_t *dep = json_object_get(w->parts[p].deployments, name);
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
                rs = json_object_get(w->parts[p].runs, run_id);
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
                json_object_foreach(w->parts[p].runs, k, v) {
                        const char *d = wjs(v, "deployment");

                        if (d && !strcmp(d, name) &&
                            !wrun_status_terminal(wjs(v, "status")))
                                json_array_append_new(ids, json_string(k));
                }
        }
        json_array_foreach(ids, i, v) {
                rs = json_object_get(w->parts[p].runs, json_string_value(v));
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

        ndep = json_deep_copy(dep);
        if (!run_id) {
                json_object_set_new(ndep, "enabled", json_false());
                json_object_set_new(ndep, "command_id",
                                    json_string(wjs(cmd, "command_id")));
        }
        json_object_set_new(ndep, "updated_at", json_integer(floq_now_ms()));
        worker_recent_add(w, ndep, cmd, "STOPPED", reason, cancelled);
        r = reply_for(w, cmd, "STOPPED", 1);
        json_object_set(r, "cancelled_runs", cancelled);
        if (reason)
                json_object_set_new(r, "reason", json_string(reason));
        floq_info("command", "%s: stop of '%s' cancelled %zu run(s)",
                  wjs(cmd, "command_id"), name, json_array_size(cancelled));
        if (!wtxn_put_deployment(w, p, ndep))
                worker_reply(w, wjs(cmd, "reply_to"), r);
        else
                json_decref(r);
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
        json_t *dep = json_object_get(w->parts[p].deployments, name);
        json_t *detail, *r, *rs = NULL, *active;
        size_t room, used, len, total = 0, listed = 0;
        const char *k;
        char why[512], *text, *one;

        if (run_id) {
                rs = json_object_get(w->parts[p].runs, run_id);
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
         * are counted and the reply says so. */
        active = json_array();
        detail = json_pack("{s:O,s:o,s:O?,s:I,s:b}", "deployment", dep,
                           "active_runs", active, "schedules",
                           json_object_get(w->parts[p].schedules, name),
                           "active_runs_total", (json_int_t)0,
                           "active_runs_truncated", 0);
        text = status_text(detail, &used);
        free(text);
        json_object_foreach(w->parts[p].runs, k, rs) {
                const char *d = wjs(rs, "deployment");

                if (!d || strcmp(d, name) ||
                    wrun_status_terminal(wjs(rs, "status")))
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
                floq_notice("command", "%s: status of '%s' %s",
                            wjs(cmd, "command_id"), name, why);
        }
        text = status_text(detail, &len);
        json_decref(detail);
        json_object_set_new(r, "detail", json_string(text ? text : "{}"));
        free(text);
        worker_reply(w, wjs(cmd, "reply_to"), r);
}

static void cmd_validate(floq_worker_t *w, const json_t *cmd,
                         const json_t *body) {
        const char *backend = wjs(body, "backend");
        const char *spec_text = wjs(body, "spec");
        floq_backend_t *be = backend ? worker_backend(w, backend) : NULL;
        json_t *spec = NULL, *r;
        json_error_t jerr;
        char why[512] = "";
        floq_err_t err = FLOQ_OK;

        if (!be) {
                snprintf(why, sizeof(why), "unknown backend '%s'",
                         backend ? backend : "");
                err = FLOQ_ERR_NOT_FOUND;
        } else if (spec_text &&
                   !json_is_object(spec = json_loads(spec_text, 0, &jerr))) {
                snprintf(why, sizeof(why), "spec is not a JSON object");
                err = FLOQ_ERR_INVALID_ARG;
        } else if (be->ops->validate) {
                worker_busy_begin(w, "validate");
                err = be->ops->validate(be, spec, why, sizeof(why));
                worker_busy_end(w);
        }
        r = reply_for(w, cmd, err ? "INVALID" : "VALID", 1);
        if (err)
                json_object_set_new(r, "reason",
                                    json_string(why[0] ? why
                                                       : floq_err2str(err)));
        json_decref(spec);
        worker_reply(w, wjs(cmd, "reply_to"), r);
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
                floq_err("command", "%s: %s", wjs(cmd, "command_id"), why);
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
        floq_info("command", "%s: forwarded from partition %d to its home "
                             "partition %d",
                  wjs(cmd, "command_id"), (int)m->partition, (int)home);
        wtxn_produce_raw(w, w->t_commands, home, m->key, m->key_len,
                         m->payload, m->len, h);
}

void worker_handle_command(floq_worker_t *w, const rd_kafka_message_t *m) {
        int32_t p = m->partition, home;
        json_t *cmd = NULL, *body = NULL, *dep, *sset, *o;
        const char *rid, *id;
        floq_sig_status_t sig;
        int stage;
        wcmd_kind_t kind;
        char why[600];
        int64_t now;
        floq_err_t err;
        int fwd_count;

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
            (o = json_object_get(w->parts[p].runs, rid))) {
                answer_run_repeat(w, cmd, o, 0);
                goto done;
        }
        dep = json_object_get(w->parts[p].deployments, wjs(cmd, "deployment"));
        sset = json_object_get(w->parts[p].schedules, wjs(cmd, "deployment"));
        if ((dep && (o = worker_recent_find(dep, id))) ||
            (sset && (o = worker_recent_find(sset, id)))) {
                answer_recent(w, cmd, o);
                goto done;
        }
        o = kind == WCMD_DEPLOY || kind == WCMD_STOP ? dep
            : kind == WCMD_SCHEDULE || kind == WCMD_UNSCHEDULE ? sset
                                                               : NULL;
        if (o && recent_live(w, o, now) >= WRECENT_MAX) {
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
                cmd_deploy(w, m, p, cmd, body);
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
                cmd_validate(w, cmd, body);
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
        wmetrics_command(w, cmd);
        wtxn_source(w, -1, -1);
        json_decref(cmd);
        w->parts[p].next_offset = m->offset + 1;
        w->txn.commands++;
}
