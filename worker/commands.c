/*
 * commands.c - one handler per command, run inside the open transaction.
 * A message of the commands topic goes through the same gate every time:
 * size bound, decode, envelope checks (expiry, ids), reply address, home
 * partition (forwarded when the producer put it elsewhere), repeats (G3:
 * a known command_id or idempotency key is answered with the original
 * outcome and executes nothing), then its handler. Whatever is wrong ends
 * in the DLQ with the reason and the source coordinates in headers, and in
 * a REJECTED reply when the command could be read (G4); nothing here ever
 * stops the partition.
 */
#include <stdlib.h>
#include <string.h>

#include "artifacts.h"
#include "worker_int.h"

/* Largest spec text accepted in a deploy (the whole command is bounded by
 * message.max.bytes anyway). */
#define WSPEC_MAX (256 * 1024)

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
        json_decref(reply);
        return err;
}

static json_t *reply_for(floq_worker_t *w, const json_t *cmd,
                         const char *status, int final) {
        return worker_reply_new(w, wjs(cmd, "command_id"),
                                wjs(cmd, "correlation_id"),
                                wjs(cmd, "deployment"), status, final);
}

/* The DLQ record: original key and bytes, the reason in headers. */
static void dlq(floq_worker_t *w, const rd_kafka_message_t *m,
                floq_err_t code, const char *reason) {
        rd_kafka_headers_t *h = rd_kafka_headers_new(6);
        char num[32];

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
        wtxn_produce_raw(w, w->t_dlq, RD_KAFKA_PARTITION_UA, m->key,
                         m->key_len, m->payload, m->len, h);
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
 * unsigned command or an unknown key id is refused too. */
static floq_err_t check_signature(floq_worker_t *w,
                                         const rd_kafka_message_t *m,
                                         char *why, size_t why_size) {
        floq_sig_status_t st;
        char reason[400];
        floq_err_t err;

        if (!w->keys && !w->require_sig)
                return FLOQ_OK; /* nothing to check against */
        err = floq_command_verify(w->codec, w->keys, m->payload, m->len,
                                  w->require_sig, &st, reason,
                                  sizeof(reason));
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

/* 1 when @p topic exists (cached); replies to a missing topic would fail
 * the transaction over and over. */
static int topic_exists(floq_worker_t *w, const char *topic) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt;
        int ok = 0;

        size_t i, n = strlen(topic);

        if (!strcmp(topic, w->t_replies) || json_object_get(w->topics_ok, topic))
                return 1;
        if (n == 0 || n > 249)
                return 0;
        for (i = 0; i < n; i++) {
                char c = topic[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                      c == '-'))
                        return 0;
        }
        if (!(rkt = rd_kafka_topic_new(w->producer, topic, NULL)))
                return 0;
        if (!rd_kafka_metadata(w->producer, 0, rkt, &md, 5000) && md) {
                ok = md->topic_cnt == 1 && !md->topics[0].err &&
                     md->topics[0].partition_cnt > 0;
                rd_kafka_metadata_destroy(md);
        }
        rd_kafka_topic_destroy(rkt);
        if (ok && json_object_size(w->topics_ok) < 10000)
                json_object_set_new(w->topics_ok, topic, json_true());
        return ok;
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
        while (json_array_size(arr) > (size_t)w->command_history)
                json_array_remove(arr, 0);
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
        if ((err = floq_artifact_ensure(&ac, url, norm,
                                        FLOQ_ARTIFACT_F_REFRESH, path,
                                        sizeof(path), NULL, NULL, why,
                                        why_size))) {
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

static void cmd_status(floq_worker_t *w, const rd_kafka_message_t *m,
                       int32_t p, const json_t *cmd, const json_t *body) {
        const char *name = wjs(cmd, "deployment");
        const char *run_id = wjs(body, "run_id");
        json_t *dep = json_object_get(w->parts[p].deployments, name);
        json_t *detail, *r, *rs = NULL, *active;
        const char *k;
        char why[512], *text;

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
                detail = json_pack("{s:O}", "run", rs);
        } else {
                if (!dep) {
                        snprintf(why, sizeof(why), "unknown deployment '%s'",
                                 name);
                        reject(w, m, cmd, FLOQ_ERR_NOT_FOUND, why, 0);
                        return;
                }
                active = json_array();
                json_object_foreach(w->parts[p].runs, k, rs) {
                        const char *d = wjs(rs, "deployment");

                        if (d && !strcmp(d, name) &&
                            !wrun_status_terminal(wjs(rs, "status")))
                                json_array_append(active, rs);
                }
                detail = json_pack("{s:O,s:o,s:O?}", "deployment", dep,
                                   "active_runs", active, "schedules",
                                   json_object_get(w->parts[p].schedules,
                                                   name));
        }
        text = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(detail);
        r = reply_for(w, cmd, "STATUS", 1);
        json_object_set_new(r, "detail", json_string(text ? text : "{}"));
        free(text);
        if (run_id)
                reply_add_run(w, r, rs);
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
                err = be->ops->validate(be, spec, why, sizeof(why));
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

void worker_handle_command(floq_worker_t *w, const rd_kafka_message_t *m) {
        int32_t p = m->partition, home;
        json_t *cmd = NULL, *body = NULL, *dep, *sset, *o;
        const char *rid, *reply_to, *id;
        int reply_ok;
        wcmd_kind_t kind;
        char why[600];
        floq_err_t err;

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
        if (!m->payload || m->len == 0) {
                dlq(w, m, FLOQ_ERR_DECODE, "empty command");
                goto done;
        }
        if (m->len > w->max_message) {
                snprintf(why, sizeof(why),
                         "command of %zu bytes is larger than "
                         "message.max.bytes (%zu)",
                         m->len, w->max_message);
                dlq(w, m, FLOQ_ERR_TOO_LARGE, why);
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
        reply_to = wjs(cmd, "reply_to");
        reply_ok = !reply_to || topic_exists(w, reply_to);
        /* G4: the signature before anything else, forwarding included,
         * so an unverified command never executes nor travels (sign.c);
         * then the envelope (names, expiry, the retention window). */
        if ((err = check_signature(w, m, why, sizeof(why))) ||
            (err = wcmd_check(cmd, floq_now_ms(), w->run_retention_ms, why,
                              sizeof(why)))) {
                /* Reply when there is an id to key it by and a topic. */
                int can_reply = reply_ok && id && *id && strlen(id) <= 128;

                reject(w, m, can_reply ? cmd : NULL, err, why, 0);
                goto done;
        }
        if (!reply_ok) {
                snprintf(why, sizeof(why), "reply_to topic '%s' does not exist",
                         reply_to);
                dlq(w, m, FLOQ_ERR_INVALID_ARG, why);
                goto done;
        }
        home = whome_partition(wjs(cmd, "deployment"), w->part_cnt);
        if (home != p) {
                rd_kafka_headers_t *h = NULL, *src = NULL;

                if (!rd_kafka_message_headers(m, &src) && src)
                        h = rd_kafka_headers_copy(src);
                floq_info("command", "%s: forwarded from partition %d to "
                                      "its home partition %d",
                           wjs(cmd, "command_id"), (int)p, (int)home);
                wtxn_produce_raw(w, w->t_commands, home, m->key, m->key_len,
                                 m->payload, m->len, h);
                goto done;
        }
        kind = wcmd_kind(cmd, &body);
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
        json_decref(cmd);
        w->parts[p].next_offset = m->offset + 1;
        w->txn.commands++;
}
