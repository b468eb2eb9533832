/*
 * http.c - the generic webhook backend: an attempt is one HTTP call that
 * starts the work somewhere else (POST of a JSON body templated from the
 * run's parameters, with an Idempotency-Key derived from the run id and
 * attempt, so a retried call or a restarted attempt names the same remote
 * run), optionally followed by polling a status URL whose answer is mapped
 * to floq's run states through the deployment's own table, and a cancel
 * URL called on stop. Every call goes through the HTTP adapter
 * (common/http.c: timeouts, retries, bounded bodies, messages).
 *
 * The worker's bearer token (http.backend.token.file, read at each call so
 * it can rotate) is sent only to URLs under http.backend.allowed.urls: a
 * deployer chooses the URL, and must not be able to send the worker's
 * credential to a server of their own. A status URL that stays unreachable
 * for http.backend.unreachable.ms ends the run LOST with the last error,
 * never RUNNING forever; a status URL answering 404 (the remote run was
 * removed) ends it FAILED.
 *
 * Threads: start(), wait() and attempt_destroy() of an attempt run on its
 * executor thread; stop() may come from any thread and only sets a flag
 * that wait() acts on (the cancel call is made by the attempt's thread).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "backend.h"
#include "backend_int.h"

#define HB_POLL_MS_DEFAULT 2000
#define HB_POLL_MS_MIN     100
#define HB_VALIDATE_MS     10000
#define HB_HEADERS_MAX     32
#define HB_REF_MAX         256 /* longest remote id kept */

typedef struct http_backend_s {
        floq_backend_t base;
        char *token_file;    /**< NULL: no token */
        char *allowed;       /**< comma-separated URL prefixes, "" any */
        char *ca_file;
        long timeout_ms;
        int retries;
        int64_t unreachable_ms;
} http_backend_t;

typedef struct floq_attempt_s {
        floq_poller_t poll; /**< first: floq_remote_stop() finds it */
        char key[64];          /**< Idempotency-Key: run id + attempt */
        char *ref;             /**< remote id (id_path) or the key */
        char *status_url;      /**< expanded; NULL: done at start */
        char *cancel_url;      /**< expanded; NULL: none */
        char *cancel_method;
        json_t *spec;          /**< for state_path, states, headers */
        char last_error[512];
} hb_attempt_t;

/* An attempt's poll and its stop path, for floq_remote_wait(). */
static void poll_once(floq_backend_t *be, hb_attempt_t *a, int why, int *donep,
                      floq_run_result_t *res);
static void stop_step(floq_backend_t *be, hb_attempt_t *a, int why, int *donep,
                      floq_run_result_t *res);

/* @p tpl expanded for a URL: every parameter value percent-encoded (all
 * but RFC 3986's unreserved [A-Za-z0-9._~-]), so a value can add neither a
 * path segment ("../x" is one segment "..%2Fx"), a query nor a fragment. A
 * value that is a dot segment itself ("..") stays one, unencoded: curl and
 * floq_http_url_allowed() both remove it, so the allowed prefix is
 * checked on where the request really goes (an encoded "%2E%2E" would be
 * resolved by the server behind the check's back). NULL with errstr on
 * error. */
static char *expand_url_tpl(const char *tpl, const json_t *params,
                            char *errstr, size_t errstr_size) {
        static const char hex[] = "0123456789ABCDEF";
        json_t *enc = json_object(), *v;
        const char *k;
        char *out = NULL;

        json_object_foreach((json_t *)params, k, v) {
                const char *in = json_string_value(v);
                char *e, *q;
                size_t i;

                if (!in)
                        continue;
                if (!(e = q = malloc(strlen(in) * 3 + 1)))
                        goto out;
                for (i = 0; in[i]; i++) {
                        unsigned char c = (unsigned char)in[i];

                        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '_' || c == '~' ||
                            c == '-' || c == '.') {
                                *q++ = (char)c;
                        } else {
                                *q++ = '%';
                                *q++ = hex[c >> 4];
                                *q++ = hex[c & 15];
                        }
                }
                *q = '\0';
                json_object_set_new(enc, k, json_string(e));
                free(e);
        }
        if (floq_tpl_expand(tpl, enc, &out, errstr, errstr_size))
                out = NULL;
out:
        json_decref(enc);
        return out;
}

/* The methods a deployment may use for its calls. */
static int method_ok(const char *m, int with_delete) {
        return m && (!strcmp(m, "POST") || !strcmp(m, "PUT") ||
                     !strcmp(m, "PATCH") ||
                     (with_delete && !strcmp(m, "DELETE")));
}

/* 1 when a spec header (@p name, @p val) may be sent: a header name, a
 * one-line value, and not one of the worker's own. */
static int header_ok(const char *name, const char *val) {
        return val && *name && !name[strcspn(name, ":\r\n \t")] &&
               !strpbrk(val, "\r\n") && strcasecmp(name, "Authorization") &&
               strcasecmp(name, "Idempotency-Key") &&
               strcasecmp(name, "Cookie") &&
               strcasecmp(name, "Proxy-Authorization") &&
               strcasecmp(name, "Host");
}

static floq_backend_t *hb_new(const floq_conf_t *conf, char *errstr,
                              size_t errstr_size) {
        http_backend_t *hb = calloc(1, sizeof(*hb));
        const char *allowed = floq_conf_str(conf, "http.backend.allowed.urls");

        if (!hb) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                return NULL;
        }
        hb->base.ops = &floq_backend_http;
        hb->token_file = floq_conf_str_dup(conf, "http.backend.token.file");
        hb->ca_file = floq_conf_str_dup(conf, "http.backend.ca.file");
        hb->allowed = strdup(allowed ? allowed : "");
        hb->timeout_ms = (long)floq_conf_int(conf, "http.timeout.ms");
        hb->retries = (int)floq_conf_int(conf, "http.retries");
        hb->unreachable_ms = floq_conf_int(conf, "http.backend.unreachable.ms");
        hb->base.unreachable_ms = hb->unreachable_ms;
        if (!hb->allowed) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                goto fail;
        }
        if (hb->token_file && !*hb->allowed) {
                /* Any URL plus a token: a deployer could send the worker's
                 * credential to a server of their own. */
                floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                            "http.backend.token.file is set but "
                            "http.backend.allowed.urls is empty: list the "
                            "URL prefixes the token may be sent to");
                goto fail;
        }
        return &hb->base;
fail:
        free(hb->token_file);
        free(hb->ca_file);
        free(hb->allowed);
        free(hb);
        return NULL;
}

static void hb_destroy(floq_backend_t *be) {
        http_backend_t *hb = (http_backend_t *)be;

        if (!hb)
                return;
        free(hb->token_file);
        free(hb->ca_file);
        free(hb->allowed);
        free(hb);
}

/* The token into *tokp, read afresh (rotation); NULL when none. The
 * caller frees it with floq_secret_free(). */
static floq_err_t token_read(const http_backend_t *hb, char **tokp,
                             char *errstr, size_t errstr_size) {
        return floq_secret_read(hb->token_file, "http",
                                "http.backend.token.file", tokp, errstr,
                                errstr_size);
}

/* Options of one call to @p url: the token only where it may go; extra
 * header lines from the spec's "headers". @p lines has room for
 * HB_HEADERS_MAX + 2 entries; each line is malloc()ed (hb_lines_free). */
static void call_opts(const http_backend_t *hb, const json_t *spec,
                      const char *url, const char *token, const char *key,
                      long timeout_ms, floq_http_opts_t *o, char **lines) {
        const char *name;
        json_t *v;
        size_t n = 0;

        memset(o, 0, sizeof(*o));
        o->what = "http";
        o->timeout_ms = timeout_ms > 0 ? timeout_ms : hb->timeout_ms;
        o->max_retries = hb->retries > 0 ? hb->retries : -1;
        o->ca_file = hb->ca_file;
        if (token && *hb->allowed && floq_http_url_allowed(hb->allowed, url))
                o->bearer = token;
        if (key && asprintf(&lines[n], "Idempotency-Key: %s", key) >= 0)
                n++;
        json_object_foreach((json_t *)json_object_get(spec, "headers"), name,
                            v) {
                if (n >= HB_HEADERS_MAX)
                        break;
                if (header_ok(name, json_string_value(v)) &&
                    asprintf(&lines[n], "%s: %s", name,
                             json_string_value(v)) >= 0)
                        n++;
        }
        lines[n] = NULL;
        o->headers = (const char *const *)lines;
}

static void lines_free(char **lines) {
        size_t i;

        for (i = 0; lines[i]; i++)
                free(lines[i]);
        lines[0] = NULL;
}

/* The value at dotted @p path of @p v ("data.state"), or NULL. */
static const json_t *json_path(const json_t *v, const char *path) {
        char part[128];

        while (v && path && *path) {
                size_t n = strcspn(path, ".");

                if (n >= sizeof(part))
                        return NULL;
                memcpy(part, path, n);
                part[n] = '\0';
                v = json_object_get(v, part);
                path += n + (path[n] == '.');
        }
        return v;
}

/* Checks the templates inside @p tpl (a JSON value). */
static floq_err_t check_json_tpl(const json_t *tpl, char *errstr,
                                 size_t errstr_size) {
        const char *k;
        json_t *v;
        size_t i;
        floq_err_t err;

        if (json_is_string(tpl))
                return floq_tpl_check(json_string_value(tpl), errstr,
                                      errstr_size);
        json_object_foreach((json_t *)tpl, k, v)
                if ((err = check_json_tpl(v, errstr, errstr_size)))
                        return err;
        if (json_is_array(tpl))
                json_array_foreach(tpl, i, v)
                        if ((err = check_json_tpl(v, errstr, errstr_size)))
                                return err;
        return FLOQ_OK;
}

/* The run statuses a status table may map to. */
static int state_known(const char *s) {
        static const char *const ok[] = { "SUCCEEDED", "FAILED", "CANCELLED",
                                          "RUNNING", "PENDING" };
        size_t i;

        for (i = 0; s && i < sizeof(ok) / sizeof(ok[0]); i++)
                if (!strcmp(s, ok[i]))
                        return 1;
        return 0;
}

static floq_err_t check_url(const http_backend_t *hb, const char *field,
                            const char *url, char *errstr,
                            size_t errstr_size) {
        const char *host;
        floq_err_t err;

        if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.%s must be an http:// or https:// "
                                   "URL",
                                   field);
        if ((err = floq_tpl_check(url, errstr, errstr_size)))
                return err;
        /* No parameter in the host part (a deployer's run parameters
         * must not choose the server), and the prefix check is on the
         * template, so a parameter only fills in what comes after it. */
        host = strstr(url, "://") + 3;
        if (memchr(host, '{', strcspn(host, "/?#")))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                   "spec.%s: no parameter may stand in the "
                                   "host part",
                                   field);
        if (*hb->allowed) {
                /* The template with every parameter as "x": where it goes
                 * whatever the values (they are percent-encoded, so they
                 * cannot leave their path segment). */
                json_t *dummy = json_object();
                char *probe;
                size_t i, n;
                int ok;

                for (i = 0; url[i]; i++) {
                        if (url[i] == '{' && url[i + 1] == '{') {
                                i++;
                                continue;
                        }
                        if (url[i] != '{')
                                continue;
                        n = strcspn(url + i + 1, "}");
                        {
                                char name[FLOQ_TPL_NAME_MAX + 1];

                                snprintf(name, sizeof(name), "%.*s", (int)n,
                                         url + i + 1);
                                json_object_set_new(dummy, name,
                                                    json_string("x"));
                        }
                        i += n + 1;
                }
                probe = expand_url_tpl(url, dummy, errstr, errstr_size);
                json_decref(dummy);
                ok = probe && floq_http_url_allowed(hb->allowed, probe);
                free(probe);
                if (!ok)
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_REJECTED,
                                           "spec.%s '%s' is not under "
                                           "http.backend.allowed.urls",
                                           field, url);
        }
        return FLOQ_OK;
}

static floq_err_t hb_deploy(floq_backend_t *be, const char *deployment,
                            json_t *spec, char *errstr, size_t errstr_size) {
        http_backend_t *hb = (http_backend_t *)be;
        static const char *const urls[] = { "url", "status_url",
                                            "cancel_url" };
        const char *k, *m;
        json_t *v;
        size_t i;
        floq_err_t err;

        (void)deployment;
        if (!json_is_string(json_object_get(spec, "url")))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.url is required");
        for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
                v = json_object_get(spec, urls[i]);
                if (!v || json_is_null(v))
                        continue;
                if (!json_is_string(v))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_INVALID_ARG,
                                           "spec.%s must be a string",
                                           urls[i]);
                if ((err = check_url(hb, urls[i], json_string_value(v), errstr,
                                     errstr_size)))
                        return err;
        }
        m = json_string_value(json_object_get(spec, "method"));
        if (json_object_get(spec, "method") && !method_ok(m, 0))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.method must be POST, PUT or PATCH");
        m = json_string_value(json_object_get(spec, "cancel_method"));
        if (json_object_get(spec, "cancel_method") && !method_ok(m, 1))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.cancel_method must be POST, PUT, "
                                   "PATCH or DELETE");
        v = json_object_get(spec, "headers");
        if (v && !json_is_object(v))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.headers must be an object");
        if (json_object_size(v) > HB_HEADERS_MAX)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.headers has more than %d entries",
                                   HB_HEADERS_MAX);
        json_object_foreach(v, k, v) {
                /* credentials are the worker's, from its config */
                if (!header_ok(k, json_string_value(v)))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_REJECTED,
                                           "spec.headers: '%s' is not a "
                                           "header name with a one-line "
                                           "string value, or one the worker "
                                           "sets itself (Authorization, "
                                           "Cookie, Host, Idempotency-Key)",
                                           k);
        }
        if ((err = check_json_tpl(json_object_get(spec, "body"), errstr,
                                  errstr_size)))
                return err;
        v = json_object_get(spec, "status_url");
        if (json_is_string(v)) {
                json_t *states = json_object_get(spec, "states");

                if (!json_is_object(states) || !json_object_size(states))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_INVALID_ARG,
                                           "spec.states (remote state -> "
                                           "SUCCEEDED|FAILED|CANCELLED|"
                                           "RUNNING|PENDING) is required "
                                           "with spec.status_url");
                json_object_foreach(states, k, v)
                        if (!state_known(json_string_value(v)))
                                return floq_seterr(
                                        errstr, errstr_size,
                                        FLOQ_ERR_INVALID_ARG,
                                        "spec.states['%s'] must be one of "
                                        "SUCCEEDED, FAILED, CANCELLED, "
                                        "RUNNING, PENDING",
                                        k);
        }
        v = json_object_get(spec, "poll_interval_ms");
        if (v && (!json_is_integer(v) ||
                  json_integer_value(v) < HB_POLL_MS_MIN))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.poll_interval_ms must be an integer "
                                   ">= %d",
                                   HB_POLL_MS_MIN);
        return FLOQ_OK;
}

/* The parameters templates see: the run's, plus run_id, attempt,
 * attempt_id, deployment and (after the trigger) id. */
static json_t *tpl_params(const floq_run_req_t *req, const char *key,
                          const char *id) {
        json_t *p = json_is_object(req->params) ? json_deep_copy(req->params)
                                                : json_object();
        char num[16];

        snprintf(num, sizeof(num), "%d", req->attempt);
        json_object_set_new(p, "run_id", json_string(req->run_id));
        json_object_set_new(p, "deployment", json_string(req->deployment));
        json_object_set_new(p, "attempt", json_string(num));
        json_object_set_new(p, "attempt_id", json_string(key));
        if (id)
                json_object_set_new(p, "id", json_string(id));
        return p;
}

static char *expand_url(const json_t *spec, const char *field,
                        const json_t *params, char *errstr,
                        size_t errstr_size) {
        const char *tpl = json_string_value(json_object_get(spec, field));

        return tpl ? expand_url_tpl(tpl, params, errstr, errstr_size) : NULL;
}

static void attempt_free(hb_attempt_t *a) {
        if (!a)
                return;
        free(a->ref);
        free(a->status_url);
        free(a->cancel_url);
        free(a->cancel_method);
        json_decref(a->spec);
        free(a);
}

/* The status and cancel URLs of attempt @p a (a->ref known), expanded
 * from its spec, and its polling interval. */
static floq_err_t attempt_urls(const floq_run_req_t *req, hb_attempt_t *a,
                               char *errstr, size_t errstr_size) {
        const json_t *spec = a->spec;
        json_t *params = tpl_params(req, a->key, a->ref);
        const char *cm = json_string_value(json_object_get(spec,
                                                           "cancel_method"));
        floq_err_t err = FLOQ_OK;
        int64_t poll_ms;

        if (json_is_string(json_object_get(spec, "status_url")) &&
            !(a->status_url = expand_url(spec, "status_url", params, errstr,
                                         errstr_size))) {
                err = FLOQ_ERR_INVALID_ARG;
                goto out;
        }
        if (json_is_string(json_object_get(spec, "cancel_url")) &&
            !(a->cancel_url = expand_url(spec, "cancel_url", params, errstr,
                                         errstr_size))) {
                err = FLOQ_ERR_INVALID_ARG;
                goto out;
        }
        if (!(a->cancel_method = strdup(method_ok(cm, 1) ? cm : "POST"))) {
                err = FLOQ_ERR_NOMEM;
                goto out;
        }
        poll_ms = json_integer_value(json_object_get(spec,
                                                     "poll_interval_ms"));
        floq_poller_init(&a->poll, poll_ms < HB_POLL_MS_MIN
                                           ? HB_POLL_MS_DEFAULT
                                           : poll_ms);
out:
        json_decref(params);
        return err;
}

/* Tracked from here on: start() and attach() end with this once the
 * remote run is known (floq_poller_track()). */
static void attempt_track(hb_attempt_t *a) {
        floq_poller_track(&a->poll, poll_once, stop_step, a->ref, NULL,
                          "remote job", a->ref);
}

static floq_err_t hb_start(floq_backend_t *be, const floq_run_req_t *req,
                           floq_attempt_t **attp, char *errstr,
                           size_t errstr_size) {
        http_backend_t *hb = (http_backend_t *)be;
        const json_t *spec = req->spec;
        const char *method = json_string_value(json_object_get(spec, "method"));
        const char *url_tpl = json_string_value(json_object_get(spec, "url"));
        const char *id_path = json_string_value(json_object_get(spec,
                                                                "id_path"));
        hb_attempt_t *a = calloc(1, sizeof(*a));
        json_t *params = NULL, *body = NULL;
        const json_t *idv;
        char *url = NULL, *token = NULL, *lines[HB_HEADERS_MAX + 2];
        floq_http_opts_t o;
        floq_http_resp_t resp = { 0 };
        floq_err_t err = FLOQ_OK;

        *attp = NULL;
        lines[0] = NULL;
        if (!a)
                return FLOQ_ERR_NOMEM;
        snprintf(a->key, sizeof(a->key), "%s-%d", req->run_id, req->attempt);
        a->spec = json_deep_copy(spec);
        params = tpl_params(req, a->key, NULL);
        if (!url_tpl ||
            !(url = expand_url_tpl(url_tpl, params, errstr, errstr_size))) {
                err = FLOQ_ERR_INVALID_ARG;
                goto out;
        }
        if (json_object_get(spec, "body"))
                body = floq_tpl_expand_json(json_object_get(spec, "body"),
                                            params, errstr, errstr_size);
        else
                body = json_pack("{s:s,s:s,s:i,s:s,s:O}", "run_id",
                                 req->run_id, "deployment", req->deployment,
                                 "attempt", req->attempt, "attempt_id", a->key,
                                 "params", req->params ? req->params
                                                       : json_object());
        if (!body) {
                err = FLOQ_ERR_INVALID_ARG;
                goto out;
        }
        if ((err = token_read(hb, &token, errstr, errstr_size)))
                goto out;
        call_opts(hb, spec, url, token, a->key, 0, &o, lines);
        if ((err = floq_http_request(&o, method_ok(method, 0) ? method : "POST",
                                     url, body,
                                     &resp, errstr, errstr_size)))
                goto out;
        idv = json_path(resp.json, id_path ? id_path : "id");
        /* the remote id goes into URLs and the run's state: a bounded,
         * printable one, else the attempt key names the job */
        a->ref = strdup(json_is_string(idv) &&
                                json_string_length(idv) <= HB_REF_MAX &&
                                json_string_length(idv) > 0 &&
                                !strpbrk(json_string_value(idv), "\r\n\t")
                        ? json_string_value(idv)
                        : a->key);
        err = attempt_urls(req, a, errstr, errstr_size);
out:
        lines_free(lines);
        floq_secret_free(token);
        floq_http_resp_release(&resp);
        json_decref(body);
        json_decref(params);
        free(url);
        if (err) {
                attempt_free(a);
                return err;
        }
        attempt_track(a);
        *attp = a;
        return FLOQ_OK;
}

/* Call the cancel URL once (best effort: the outcome is CANCELLED or
 * TIMED_OUT whatever it answers; a failure is in the reason). */
static void cancel_remote(http_backend_t *hb, hb_attempt_t *a, char *note,
                          size_t note_size) {
        floq_http_opts_t o;
        floq_http_resp_t resp = { 0 };
        char *token, *lines[HB_HEADERS_MAX + 2];

        note[0] = '\0';
        if (!a->cancel_url)
                return;
        if (token_read(hb, &token, note, note_size))
                return;
        call_opts(hb, a->spec, a->cancel_url, token, a->key, 0, &o, lines);
        if (floq_http_request(&o, a->cancel_method, a->cancel_url, NULL,
                              &resp, note, note_size) == FLOQ_OK)
                note[0] = '\0';
        lines_free(lines);
        floq_secret_free(token);
        floq_http_resp_release(&resp);
}

/* One poll of the status URL: *donep set and @p res filled when the
 * remote run ended (or is gone, or its state cannot be known: LOST). */
static void poll_once(floq_backend_t *be, hb_attempt_t *a, int stop_why,
                      int *donep, floq_run_result_t *res) {
        http_backend_t *hb = (http_backend_t *)be;
        const char *state_path =
                json_string_value(json_object_get(a->spec, "state_path"));
        floq_http_opts_t o;
        floq_http_resp_t resp = { 0 };
        char *token, *lines[HB_HEADERS_MAX + 2], err[512], why[700];
        const json_t *sv;
        const char *state, *mapped;
        floq_err_t e;

        (void)stop_why; /* -1: the stop path is stop_step() */
        *donep = 0;
        if (!a->status_url) {
                /* no status URL: the trigger's 2xx was the end */
                floq_run_result_setf(res, FLOQ_OUTCOME_SUCCEEDED, a->ref,
                                     NULL);
                *donep = 1;
                return;
        }
        if ((e = token_read(hb, &token, err, sizeof(err)))) {
                snprintf(why, sizeof(why), "%s: the remote job may still run",
                         err);
                floq_run_result_setf(res, FLOQ_OUTCOME_LOST, a->ref, "%s", why);
                *donep = 1;
                return;
        }
        /* one poll may take 4 intervals, at least 5 s, at most the
         * configured HTTP timeout */
        call_opts(hb, a->spec, a->status_url, token, NULL,
                  a->poll.poll_ms * 4 > 5000 ? (long)a->poll.poll_ms * 4 : 5000L, &o,
                  lines);
        if (hb->timeout_ms > 0 && o.timeout_ms > hb->timeout_ms)
                o.timeout_ms = hb->timeout_ms;
        e = floq_http_request(&o, "GET", a->status_url, NULL, &resp, err,
                              sizeof(err));
        lines_free(lines);
        floq_secret_free(token);
        if (e == FLOQ_ERR_NOT_FOUND) {
                snprintf(why, sizeof(why), "the remote run is gone: %s", err);
                floq_run_result_setf(res, FLOQ_OUTCOME_FAILED, a->ref, "%s", why);
                *donep = 1;
                goto out;
        }
        if (e == FLOQ_ERR_TRANSPORT || e == FLOQ_ERR_TIMED_OUT ||
            e == FLOQ_ERR_BACKEND) {
                int64_t now = floq_mono_ms();

                if (!a->poll.unreachable_since)
                        a->poll.unreachable_since = now;
                snprintf(a->last_error, sizeof(a->last_error), "%s", err);
                if (now - a->poll.unreachable_since >= hb->unreachable_ms) {
                        snprintf(why, sizeof(why),
                                 "status unknown for %lld ms "
                                 "(http.backend.unreachable.ms): %s",
                                 (long long)(now - a->poll.unreachable_since),
                                 a->last_error);
                        floq_run_result_setf(res, FLOQ_OUTCOME_LOST, a->ref, "%s", why);
                        *donep = 1;
                }
                goto out;
        }
        if (e) {
                /* refused (401, 403, 400, ...): the status is unknown, and
                 * a retry could run a second job beside this one (G2) */
                snprintf(why, sizeof(why),
                         "status unknown: %s: the remote job may still run",
                         err);
                floq_run_result_setf(res, FLOQ_OUTCOME_LOST, a->ref, "%s", why);
                *donep = 1;
                goto out;
        }
        a->poll.unreachable_since = 0;
        sv = json_path(resp.json, state_path ? state_path : "state");
        state = json_string_value(sv);
        mapped = state ? json_string_value(json_object_get(
                                 json_object_get(a->spec, "states"), state))
                       : NULL;
        if (!mapped) {
                /* Nothing says the remote job ended: a retry could run a
                 * second one beside it (G2), so LOST, which is final. */
                snprintf(why, sizeof(why),
                         "the status answer has %s '%s' not in spec.states: "
                         "the remote job may still run",
                         state ? "state" : "no string at",
                         state ? state : (state_path ? state_path : "state"));
                floq_run_result_setf(res, FLOQ_OUTCOME_LOST, a->ref, "%s", why);
                *donep = 1;
                goto out;
        }
        if (!strcmp(mapped, "SUCCEEDED") || !strcmp(mapped, "FAILED") ||
            !strcmp(mapped, "CANCELLED")) {
                snprintf(why, sizeof(why), "remote state '%s'", state);
                if (!strcmp(mapped, "SUCCEEDED"))
                        floq_run_result_setf(res, FLOQ_OUTCOME_SUCCEEDED,
                                             a->ref, NULL);
                else
                        floq_run_result_setf(res,
                                             !strcmp(mapped, "FAILED")
                                                     ? FLOQ_OUTCOME_FAILED
                                                     : FLOQ_OUTCOME_CANCELLED,
                                             a->ref, "%s", why);
                *donep = 1;
        }
out:
        floq_http_resp_release(&resp);
}

/* The stop path: the cancel URL called once, then the attempt ends. A
 * timeout that cannot be known to have ended the remote job is LOST. */
static void stop_step(floq_backend_t *be, hb_attempt_t *a, int why,
                      int *donep, floq_run_result_t *res) {
        char note[512];

        *donep = 1;
        cancel_remote((http_backend_t *)be, a, note, sizeof(note));
        if (why == FLOQ_STOP_TIMEOUT && (note[0] || !a->cancel_url)) {
                /* Timed out and not known to have ended: a retry would
                 * run a second job beside it (G2). LOST is final. */
                floq_run_result_setf(res, FLOQ_OUTCOME_LOST, a->ref,
                                     "timed out; the remote job was %s and "
                                     "may still run%s%s",
                                     note[0] ? "not cancelled"
                                             : "not told (no cancel_url)",
                                     note[0] ? ": " : "", note);
                return;
        }
        floq_run_result_setf(res,
                             why == FLOQ_STOP_TIMEOUT ? FLOQ_OUTCOME_TIMED_OUT
                                                      : FLOQ_OUTCOME_CANCELLED,
                             a->ref, "%s",
                             note[0]         ? note
                             : a->cancel_url ? "cancelled remotely"
                                             : "stopped (no cancel_url: the "
                                               "remote run was not told)");
}

/*
 * Re-attach to remote job @p ref (the id the trigger answered, as hb_ref()
 * gave it): only with a status URL in the spec, which is then polled as
 * after hb_start(); the trigger is never sent again. One GET of the status
 * URL first: 404 is FLOQ_ERR_NOT_FOUND (the remote job is gone), the
 * adapter's retriable errors say try again. Without a status URL nothing
 * can tell how the job ends: FLOQ_ERR_UNSUPPORTED (the run ends LOST).
 */
static floq_err_t hb_attach(floq_backend_t *be, const floq_run_req_t *req,
                            const char *ref, floq_attempt_t **attp,
                            char *errstr, size_t errstr_size) {
        http_backend_t *hb = (http_backend_t *)be;
        hb_attempt_t *a = NULL;
        floq_http_opts_t o;
        floq_http_resp_t resp = { 0 };
        char *token = NULL, *lines[HB_HEADERS_MAX + 2];
        floq_err_t err = FLOQ_OK;

        *attp = NULL;
        lines[0] = NULL;
        if (!json_is_string(json_object_get(req->spec, "status_url")))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_UNSUPPORTED,
                                   "http: the deployment has no status_url "
                                   "to follow the remote job by");
        if (!ref || !*ref || strlen(ref) > HB_REF_MAX ||
            strpbrk(ref, "\r\n\t"))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "http: '%.200s' is not a remote job id",
                                   ref ? ref : "");
        if (!(a = calloc(1, sizeof(*a))) || !(a->ref = strdup(ref)) ||
            !(a->spec = json_deep_copy(req->spec))) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                  "out of memory");
                goto out;
        }
        snprintf(a->key, sizeof(a->key), "%s-%d", req->run_id, req->attempt);
        if ((err = attempt_urls(req, a, errstr, errstr_size)))
                goto out;
        if ((err = token_read(hb, &token, errstr, errstr_size)))
                goto out;
        call_opts(hb, a->spec, a->status_url, token, NULL, 0, &o, lines);
        err = floq_http_request(&o, "GET", a->status_url, NULL, &resp, errstr,
                                errstr_size);
out:
        lines_free(lines);
        floq_secret_free(token);
        floq_http_resp_release(&resp);
        if (err) {
                attempt_free(a);
                return err;
        }
        attempt_track(a);
        *attp = a;
        return FLOQ_OK;
}

static void hb_attempt_destroy(floq_backend_t *be, floq_attempt_t *att) {
        (void)be;
        attempt_free(att);
}

/* Reachable within 10 s: any HTTP answer but 401/403 (the credentials
 * are refused) means the URL's server is there; a TLS failure or a
 * closed port says so. */
static floq_err_t hb_validate(floq_backend_t *be, const json_t *spec,
                              char *errstr, size_t errstr_size) {
        http_backend_t *hb = (http_backend_t *)be;
        const char *url = json_string_value(
                json_object_get(spec, "validate_url"));
        floq_http_opts_t o;
        floq_http_resp_t resp = { 0 };
        char *token, *lines[HB_HEADERS_MAX + 2], err[512];
        floq_err_t e;

        if (spec) {
                /* the deploy checks first: validate may not do what a
                 * deploy would refuse (headers, methods, URLs) */
                json_t *copy = json_deep_copy(spec);

                e = hb_deploy(be, "validate", copy, errstr, errstr_size);
                json_decref(copy);
                if (e)
                        return e;
        }
        if (!url)
                url = json_string_value(json_object_get(spec, "url"));
        if (!url)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.url is required");
        if (strchr(url, '{'))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.url has parameters: give a "
                                   "spec.validate_url to check");
        if ((e = check_url(hb, "url", url, errstr, errstr_size)))
                return e;
        if ((e = token_read(hb, &token, errstr, errstr_size)))
                return e;
        call_opts(hb, spec, url, token, NULL, HB_VALIDATE_MS, &o, lines);
        o.max_retries = -1;
        e = floq_http_request(&o, "GET", url, NULL, &resp, err, sizeof(err));
        lines_free(lines);
        floq_secret_free(token);
        floq_http_resp_release(&resp);
        if (e == FLOQ_OK || e == FLOQ_ERR_NOT_FOUND || e == FLOQ_ERR_REJECTED ||
            e == FLOQ_ERR_EXISTS)
                return FLOQ_OK; /* the server answered */
        if (e == FLOQ_ERR_UNAUTHORIZED)
                return floq_seterr(errstr, errstr_size, e,
                                   "%s (check http.backend.token.file)", err);
        return floq_seterr(errstr, errstr_size, e, "%s", err);
}

const floq_backend_ops_t floq_backend_http = {
        .name = "http",
        .outlives_worker = 1,
        .new_ = hb_new,
        .destroy = hb_destroy,
        .deploy = hb_deploy,
        .start = hb_start,
        .wait = floq_remote_wait,
        .stop = floq_remote_stop,
        .ref = floq_remote_ref,
        .attach = hb_attach,
        .attempt_destroy = hb_attempt_destroy,
        .validate = hb_validate,
};
