/*
 * kubernetes.c - the Kubernetes backend (batch/v1 Jobs): each attempt of a
 * run is one Job, built from the template in the deployment's spec (image,
 * command, args and env with {param} placeholders, resources, namespace,
 * service account, ttlSecondsAfterFinished) with backoffLimit 0 and
 * restartPolicy Never, since floq owns the retries. The Job's name is
 * derived from the run id and the attempt number (a DNS-1123 label), so a
 * repeated create (a retry, the next owner starting the same attempt after
 * a handover) answers 409 and the backend reads and tracks that same Job
 * instead of making a second one.
 *
 * wait() polls the Job's status.conditions (Complete, Failed); a failed
 * Job's reason is completed with its pods' (listed by the job-name label):
 * the container's terminated reason, exit code and message. stop() deletes
 * the Job with propagationPolicy=Background (the API's default for Jobs
 * orphans the pods) and polls until it is gone. A Job deleted from outside
 * ends the run FAILED; an API server that stays unreachable (or keeps
 * refusing the token) for kubernetes.unreachable.ms ends it LOST with the
 * last error. Status mapping and RBAC: docs/backends.md, "The kubernetes
 * backend".
 *
 * Credentials: kubernetes.api.url with kubernetes.token.file and
 * kubernetes.ca.file, or, when kubernetes.api.url is unset, the pod's own
 * (in-cluster): https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT
 * and the service account's token, ca.crt and namespace files. The token
 * is read from its file at every request (bound service-account tokens
 * are rotated by the kubelet) and once more on a 401; it goes only to the
 * configured API server and never into a message.
 *
 * Threads: start(), wait() and attempt_destroy() of an attempt run on its
 * executor thread; stop() may come from any thread and only sets a flag
 * that wait() acts on.
 */
#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "backend_int.h"

#define K8S_WHAT        "kubernetes"
#define K8S_VALIDATE_MS 10000
#define K8S_POLL_MS_MIN 100
#define K8S_NAME_MAX    63  /* a DNS-1123 label; the pods' job-name label */
#define K8S_SA_DIR      "/var/run/secrets/kubernetes.io/serviceaccount"
#define K8S_CONTAINER   "job"
#define K8S_VALIDATE_JOB "floq-validate"

typedef struct k8s_backend_s {
        floq_backend_t base;
        char *api;            /**< API server without a trailing '/';
                               *   NULL: none configured nor in-cluster */
        char *token_file;     /**< NULL: no token */
        char *ca_file;        /**< NULL: the system's CAs */
        char *ns;             /**< namespace of specs that name none */
        char *ns_allowed;     /**< comma-separated; "" only ns */
        long timeout_ms;
        int retries;
        int64_t poll_ms;
        int64_t unreachable_ms;
        int64_t stop_wait_ms;
} k8s_backend_t;

typedef struct floq_attempt_s {
        floq_poller_t poll; /**< first: floq_remote_stop() finds it */
        char run_id[128];          /**< floq run id (annotation check) */
        int attempt;
        char ns[K8S_NAME_MAX + 1];
        char name[K8S_NAME_MAX + 1];
        char ref[2 * K8S_NAME_MAX + 2]; /**< "namespace/name" */
        char *url;                 /**< the Job's API URL */
        char last_error[512];
        int delete_sent;           /**< DELETE accepted (or already gone) */
        int64_t delete_deadline;   /**< mono ms: report after */
        char delete_note[512];     /**< what the DELETE answered */
} k8s_attempt_t;

/* An attempt's poll and its stop path, for floq_remote_wait(). */
static void poll_once(floq_backend_t *be, k8s_attempt_t *a, int why, int *donep,
                      floq_run_result_t *res);
static void stop_step(floq_backend_t *be, k8s_attempt_t *a, int why, int *donep,
                      floq_run_result_t *res);

/* ---------------------------------------------------------- config */

/* A malloc()ed copy of @p path when the file exists, else NULL. */
static char *existing(const char *dir, const char *file) {
        char *p = NULL;

        if (asprintf(&p, "%s/%s", dir, file) < 0)
                return NULL;
        if (access(p, R_OK)) {
                free(p);
                return NULL;
        }
        return p;
}

static void k8s_destroy(floq_backend_t *be) {
        k8s_backend_t *kb = (k8s_backend_t *)be;

        if (!kb)
                return;
        free(kb->api);
        free(kb->token_file);
        free(kb->ca_file);
        free(kb->ns);
        free(kb->ns_allowed);
        free(kb);
}

/* The in-cluster API URL from the service environment, or NULL. */
static char *in_cluster_url(void) {
        const char *host = getenv("KUBERNETES_SERVICE_HOST");
        const char *port = getenv("KUBERNETES_SERVICE_PORT");
        char *u = NULL;

        if (!host || !*host)
                return NULL;
        if (!port || !*port)
                port = "443";
        if (asprintf(&u, strchr(host, ':') ? "https://[%s]:%s"
                                           : "https://%s:%s",
                     host, port) < 0)
                return NULL;
        return u;
}

static floq_backend_t *k8s_new(const floq_conf_t *conf, char *errstr,
                               size_t errstr_size) {
        k8s_backend_t *kb = calloc(1, sizeof(*kb));
        const char *sa_dir = floq_conf_str(conf,
                                           "kubernetes.serviceaccount.dir");
        char *nsfile = NULL, *nsval = NULL;
        size_t n;
        int in_cluster;

        if (!kb) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                return NULL;
        }
        kb->base.ops = &floq_backend_kubernetes;
        if (!sa_dir || !*sa_dir)
                sa_dir = K8S_SA_DIR;
        kb->api = floq_conf_str_dup(conf, "kubernetes.api.url");
        in_cluster = !kb->api;
        if (in_cluster)
                kb->api = in_cluster_url();
        if (kb->api) {
                n = strlen(kb->api);
                while (n && kb->api[n - 1] == '/')
                        kb->api[--n] = '\0';
                if (strncmp(kb->api, "http://", 7) &&
                    strncmp(kb->api, "https://", 8)) {
                        floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                    "kubernetes.api.url must be an http:// "
                                    "or https:// URL");
                        k8s_destroy(&kb->base);
                        return NULL;
                }
        }
        kb->token_file = floq_conf_str_dup(conf, "kubernetes.token.file");
        kb->ca_file = floq_conf_str_dup(conf, "kubernetes.ca.file");
        kb->ns = floq_conf_str_dup(conf, "kubernetes.namespace");
        if (in_cluster && kb->api) {
                if (!kb->token_file)
                        kb->token_file = existing(sa_dir, "token");
                if (!kb->ca_file)
                        kb->ca_file = existing(sa_dir, "ca.crt");
                if (!kb->ns && (nsfile = existing(sa_dir, "namespace")) &&
                    floq_secret_read(nsfile, K8S_WHAT, "namespace", &nsval,
                                     errstr, errstr_size) == FLOQ_OK &&
                    nsval && *nsval)
                        kb->ns = strdup(nsval);
        }
        free(nsfile);
        floq_secret_free(nsval);
        if (!kb->ns)
                kb->ns = strdup("default");
        kb->ns_allowed = floq_conf_str_dup(conf, "kubernetes.namespaces.allowed");
        kb->timeout_ms = (long)floq_conf_int(conf, "http.timeout.ms");
        kb->retries = (int)floq_conf_int(conf, "http.retries");
        kb->poll_ms = floq_conf_int(conf, "kubernetes.poll.interval.ms");
        if (kb->poll_ms < K8S_POLL_MS_MIN)
                kb->poll_ms = K8S_POLL_MS_MIN;
        kb->unreachable_ms = floq_conf_int(conf, "kubernetes.unreachable.ms");
        kb->stop_wait_ms = floq_conf_int(conf, "kubernetes.stop.wait.ms");
        if (!kb->ns) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                k8s_destroy(&kb->base);
                return NULL;
        }
        /* No API server is not an error: the worker builds every backend,
         * and deploy/validate say what is missing. */
        return &kb->base;
}

/* ------------------------------------------------------------ names */

/* 1 when @p s is a DNS-1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most
 * 63 characters. Namespaces and Job names are; they go into URL paths. */
static int dns_label_ok(const char *s) {
        size_t n = s ? strlen(s) : 0, i;

        if (!n || n > K8S_NAME_MAX || s[0] == '-' || s[n - 1] == '-')
                return 0;
        for (i = 0; i < n; i++)
                if (!islower((unsigned char)s[i]) &&
                    !isdigit((unsigned char)s[i]) && s[i] != '-')
                        return 0;
        return 1;
}

/* 1 when @p s is a DNS-1123 subdomain (service account names): labels
 * joined by '.', at most 253 characters. */
static int dns_subdomain_ok(const char *s) {
        char label[K8S_NAME_MAX + 2];
        size_t n = s ? strlen(s) : 0, len;
        const char *p = s, *dot;

        if (!n || n > 253)
                return 0;
        for (;;) {
                dot = strchr(p, '.');
                len = dot ? (size_t)(dot - p) : strlen(p);
                if (len > K8S_NAME_MAX)
                        return 0;
                memcpy(label, p, len);
                label[len] = '\0';
                if (!dns_label_ok(label))
                        return 0;
                if (!dot)
                        return 1;
                p = dot + 1;
        }
}

/* 1 when namespace @p ns may be used: the default namespace, or one of
 * kubernetes.namespaces.allowed ("*": any). */
static int ns_allowed(const k8s_backend_t *kb, const char *ns) {
        const char *p = kb->ns_allowed;
        size_t n = strlen(ns), len;

        if (!strcmp(ns, kb->ns))
                return 1;
        while (p && *p) {
                while (*p == ',' || *p == ' ')
                        p++;
                len = strcspn(p, ", ");
                if ((len == 1 && *p == '*') || (len == n && !strncmp(p, ns, n)))
                        return 1;
                p += len;
        }
        return 0;
}

/* FNV-1a of @p s: a short stable suffix for names that had to change. */
static unsigned fnv1a(const char *s) {
        unsigned h = 2166136261u;

        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * 16777619u;
        return h;
}

/**
 * The Job name of attempt @p attempt of run @p run_id: "floq-<run id>-<n>"
 * when the run id is already a DNS-1123 label part (floq's UUIDs are);
 * otherwise the run id is lowercased, its other characters become '-',
 * it is cut to fit 63 characters, and an 8-hex hash of the original id
 * keeps distinct ids distinct. Deterministic: the same attempt always has
 * the same name, on any worker.
 */
static void job_name(const char *run_id, int attempt,
                     char out[K8S_NAME_MAX + 1]) {
        char s[K8S_NAME_MAX + 1], tail[32], full[160];
        size_t i, n = 0, room;
        int changed = 0, dash = 1;

        snprintf(tail, sizeof(tail), "-%d", attempt);
        for (i = 0; run_id[i] && n < sizeof(s) - 1; i++) {
                char c = run_id[i];

                if (isupper((unsigned char)c)) {
                        c = (char)tolower((unsigned char)c);
                        changed = 1;
                }
                if (!islower((unsigned char)c) && !isdigit((unsigned char)c)) {
                        changed |= c != '-';
                        if (dash) {
                                changed = 1;
                                continue;
                        }
                        c = '-';
                }
                dash = c == '-';
                s[n++] = c;
        }
        if (run_id[i])
                changed = 1;
        while (n && s[n - 1] == '-') {
                n--;
                changed = 1;
        }
        s[n] = '\0';
        if (changed) {
                /* room for "floq-", "-" hash, tail */
                room = K8S_NAME_MAX - 5 - 9 - strlen(tail);
                if (n > room)
                        n = room;
                while (n && s[n - 1] == '-')
                        n--;
                s[n] = '\0';
                snprintf(full, sizeof(full), "floq-%s%s%08x%s", s, n ? "-" : "",
                         fnv1a(run_id), tail);
                goto out;
        }
        room = K8S_NAME_MAX - 5 - strlen(tail);
        if (n > room) { /* unchanged but long: cut, hashed */
                snprintf(full, sizeof(full), "floq-%.*s-%08x%s",
                         (int)(room - 9), s, fnv1a(run_id), tail);
                goto out;
        }
        snprintf(full, sizeof(full), "floq-%s%s", s, tail);
out:
        n = strnlen(full, K8S_NAME_MAX); /* fits by construction */
        memcpy(out, full, n);
        out[n] = '\0';
}

/* --------------------------------------------------------- requests */

/* 1 when the adapter's message @p err is a TLS failure (curl's words). */
static int tls_failure(const char *err) {
        return strstr(err, "SSL") || strstr(err, "certificate") ||
               strstr(err, "TLS");
}

static floq_err_t no_api(char *errstr, size_t errstr_size) {
        return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                           "kubernetes: no API server: set "
                           "kubernetes.api.url (and kubernetes.token.file), "
                           "or run the worker in a pod "
                           "(KUBERNETES_SERVICE_HOST is unset)");
}

/*
 * One call: @p method {api}@p path with @p body. @p timeout_ms bounds the
 * whole call (0: http.timeout.ms), @p retries -1 for none (0:
 * http.retries). The token is read from its file for the call; on a 401
 * it is read again and the call made once more (the kubelet may have
 * rotated it between). The answer is in @p resp (the caller releases it).
 */
static floq_err_t k8s_call(const k8s_backend_t *kb, const char *method,
                           const char *path, const json_t *body,
                           long timeout_ms, int retries,
                           floq_http_resp_t *resp, char *errstr,
                           size_t errstr_size) {
        floq_http_opts_t o;
        char *url = NULL, *token = NULL;
        floq_err_t err;
        int tries = 0;

        memset(resp, 0, sizeof(*resp));
        if (!kb->api)
                return no_api(errstr, errstr_size);
        if (asprintf(&url, "%s%s", kb->api, path) < 0)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        do {
                floq_secret_free(token);
                floq_http_resp_release(resp);
                if ((err = floq_secret_read(kb->token_file, K8S_WHAT,
                                            "kubernetes.token.file", &token,
                                            errstr, errstr_size)))
                        break;
                memset(&o, 0, sizeof(o));
                o.what = K8S_WHAT;
                o.timeout_ms = timeout_ms > 0 ? timeout_ms : kb->timeout_ms;
                o.connect_timeout_ms = o.timeout_ms < 5000 ? o.timeout_ms
                                                           : 5000;
                o.max_retries = retries ? retries
                                        : (kb->retries > 0 ? kb->retries
                                                           : -1);
                o.ca_file = kb->ca_file;
                o.bearer = token && *token ? token : NULL;
                err = floq_http_request(&o, method, url, body, resp, errstr,
                                        errstr_size);
        } while (err == FLOQ_ERR_UNAUTHORIZED && resp->status == 401 &&
                 kb->token_file && ++tries < 2);
        floq_secret_free(token);
        free(url);
        return err;
}

/*
 * Turn the adapter's @p err / @p msg of a call into what to fix: TLS,
 * unreachable, a refused token, missing RBAC, each its own words.
 */
static floq_err_t k8s_explain(const k8s_backend_t *kb, floq_err_t err,
                              const floq_http_resp_t *resp, const char *ns,
                              const char *msg, char *errstr,
                              size_t errstr_size) {
        if (err == FLOQ_ERR_TRANSPORT && tls_failure(msg))
                return floq_seterr(errstr, errstr_size, err,
                                   "%s (TLS: check kubernetes.ca.file and "
                                   "the API server's certificate for %s)",
                                   msg, kb->api);
        if (err == FLOQ_ERR_TRANSPORT || err == FLOQ_ERR_TIMED_OUT)
                return floq_seterr(errstr, errstr_size, err,
                                   "%s (is the API server at %s reachable?)",
                                   msg, kb->api);
        if (err == FLOQ_ERR_UNAUTHORIZED && resp->status == 401)
                return floq_seterr(errstr, errstr_size, err,
                                   "%s (the token is refused: check "
                                   "kubernetes.token.file)",
                                   msg);
        if (err == FLOQ_ERR_UNAUTHORIZED)
                return floq_seterr(errstr, errstr_size, err,
                                   "%s (forbidden: the worker's identity "
                                   "needs RBAC create/get/delete on "
                                   "jobs.batch and list on pods in "
                                   "namespace '%s')",
                                   msg, ns);
        return floq_seterr(errstr, errstr_size, err, "%s", msg);
}

/* ------------------------------------------------------------ specs */

static const char *const spec_keys[] = {
        "image", "command", "args", "env", "resources", "namespace",
        "service_account", "ttl_seconds_after_finished", "poll_interval_ms",
        NULL,
};

/* An array of template strings, or absent. */
static floq_err_t check_tpl_array(const json_t *spec, const char *key,
                                  char *errstr, size_t errstr_size) {
        const json_t *a = json_object_get(spec, key), *v;
        char why[256];
        size_t i;

        if (!a)
                return FLOQ_OK;
        if (!json_is_array(a))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.%s must be an array of strings",
                                   key);
        json_array_foreach(a, i, v) {
                if (!json_is_string(v))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_INVALID_ARG,
                                           "spec.%s[%zu] must be a string",
                                           key, i);
                if (floq_tpl_check(json_string_value(v), why, sizeof(why)))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_INVALID_ARG,
                                           "spec.%s[%zu]: %s", key, i, why);
        }
        return FLOQ_OK;
}

/* An environment variable name as the API accepts it. */
static int env_name_ok(const char *s) {
        size_t i;

        if (!*s || isdigit((unsigned char)s[0]))
                return 0;
        for (i = 0; s[i]; i++)
                if (!isalnum((unsigned char)s[i]) && !strchr("-._", s[i]))
                        return 0;
        return 1;
}

static floq_err_t check_env(const json_t *spec, char *errstr,
                            size_t errstr_size) {
        const json_t *env = json_object_get(spec, "env"), *v;
        const char *k;
        char why[256];

        if (!env)
                return FLOQ_OK;
        if (!json_is_object(env))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.env must be an object of strings");
        json_object_foreach((json_t *)env, k, v) {
                if (!env_name_ok(k))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_INVALID_ARG,
                                           "spec.env: '%s' is not a valid "
                                           "environment variable name",
                                           k);
                if (!json_is_string(v))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_INVALID_ARG,
                                           "spec.env.%s must be a string", k);
                if (floq_tpl_check(json_string_value(v), why, sizeof(why)))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_INVALID_ARG,
                                           "spec.env.%s: %s", k, why);
        }
        return FLOQ_OK;
}

/* resources: {"requests": {...}, "limits": {...}} of quantity strings
 * ("500m", "1Gi"); integers are accepted and sent as strings. */
static floq_err_t check_resources(json_t *spec, char *errstr,
                                  size_t errstr_size) {
        json_t *r = json_object_get(spec, "resources"), *m, *v;
        const char *k, *q;

        if (!r)
                return FLOQ_OK;
        if (!json_is_object(r))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.resources must be an object");
        json_object_foreach(r, k, m) {
                if (strcmp(k, "requests") && strcmp(k, "limits"))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_INVALID_ARG,
                                           "spec.resources.%s: only "
                                           "'requests' and 'limits' are "
                                           "known",
                                           k);
                if (!json_is_object(m))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_INVALID_ARG,
                                           "spec.resources.%s must be an "
                                           "object",
                                           k);
                json_object_foreach(m, q, v) {
                        if (json_is_integer(v)) {
                                char num[32];

                                snprintf(num, sizeof(num), "%lld",
                                         (long long)json_integer_value(v));
                                json_object_set_new(m, q, json_string(num));
                        } else if (!json_is_string(v) ||
                                   !*json_string_value(v)) {
                                return floq_seterr(
                                        errstr, errstr_size,
                                        FLOQ_ERR_INVALID_ARG,
                                        "spec.resources.%s.%s must be a "
                                        "quantity such as \"500m\" or "
                                        "\"1Gi\"",
                                        k, q);
                        }
                }
        }
        return FLOQ_OK;
}

/* The namespace of @p spec's Jobs: spec.namespace or the default. */
static const char *spec_ns(const k8s_backend_t *kb, const json_t *spec) {
        const char *ns = json_string_value(json_object_get(spec,
                                                           "namespace"));

        return ns ? ns : kb->ns;
}

static floq_err_t k8s_deploy(floq_backend_t *be, const char *deployment,
                             json_t *spec, char *errstr, size_t errstr_size) {
        k8s_backend_t *kb = (k8s_backend_t *)be;
        const char *k, *s;
        json_t *v;
        size_t i;
        floq_err_t err;

        (void)deployment;
        json_object_foreach(spec, k, v) {
                for (i = 0; spec_keys[i] && strcmp(spec_keys[i], k); i++)
                        ;
                if (!spec_keys[i])
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_INVALID_ARG,
                                           "spec.%s is not a kubernetes "
                                           "spec field (image, command, "
                                           "args, env, resources, "
                                           "namespace, service_account, "
                                           "ttl_seconds_after_finished, "
                                           "poll_interval_ms)",
                                           k);
        }
        s = json_string_value(json_object_get(spec, "image"));
        if (!s || !*s || strpbrk(s, " \t\r\n"))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.image (the container image, e.g. "
                                   "\"busybox:1.36\") is required");
        if ((err = check_tpl_array(spec, "command", errstr, errstr_size)) ||
            (err = check_tpl_array(spec, "args", errstr, errstr_size)) ||
            (err = check_env(spec, errstr, errstr_size)) ||
            (err = check_resources(spec, errstr, errstr_size)))
                return err;
        v = json_object_get(spec, "namespace");
        if (v && !dns_label_ok(json_string_value(v)))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.namespace must be a DNS-1123 label "
                                   "(lowercase letters, digits, '-')");
        if (!ns_allowed(kb, spec_ns(kb, spec)))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                   "spec.namespace '%s' is not allowed: the "
                                   "worker runs Jobs in '%s' and in "
                                   "kubernetes.namespaces.allowed only",
                                   spec_ns(kb, spec), kb->ns);
        v = json_object_get(spec, "service_account");
        if (v && !dns_subdomain_ok(json_string_value(v)))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.service_account must be a DNS-1123 "
                                   "subdomain");
        v = json_object_get(spec, "ttl_seconds_after_finished");
        if (v && (!json_is_integer(v) || json_integer_value(v) < 0 ||
                  json_integer_value(v) > INT32_MAX))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.ttl_seconds_after_finished must be "
                                   "an integer >= 0");
        v = json_object_get(spec, "poll_interval_ms");
        if (v && (!json_is_integer(v) ||
                  json_integer_value(v) < K8S_POLL_MS_MIN))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec.poll_interval_ms must be an integer "
                                   ">= %d",
                                   K8S_POLL_MS_MIN);
        return FLOQ_OK;
}

/* spec[@p key], each string expanded with @p params, as a new array in
 * @p out[@p key]; nothing when absent. */
static floq_err_t put_expanded(json_t *out, const char *key,
                               const json_t *spec, const json_t *params,
                               char *errstr, size_t errstr_size) {
        const json_t *a = json_object_get(spec, key), *v;
        json_t *arr;
        char *s = NULL, why[256];
        size_t i;

        if (!a)
                return FLOQ_OK;
        if (!(arr = json_array()))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        json_array_foreach(a, i, v) {
                if (floq_tpl_expand(json_string_value(v), params, &s, why,
                                    sizeof(why))) {
                        json_decref(arr);
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_INVALID_ARG,
                                           "spec.%s[%zu]: %s", key, i, why);
                }
                json_array_append_new(arr, json_string(s));
                free(s);
                s = NULL;
        }
        json_object_set_new(out, key, arr);
        return FLOQ_OK;
}

/**
 * The Job of attempt @p req named @p name in @p ns, from the spec's
 * template with the run's params substituted. *jobp is a new reference.
 */
static floq_err_t job_new(const floq_run_req_t *req, const char *ns,
                          const char *name, const char *image, json_t **jobp,
                          char *errstr, size_t errstr_size) {
        const json_t *spec = req->spec, *env = json_object_get(spec, "env");
        const json_t *v;
        json_t *job = NULL, *ctr = NULL, *pod, *envs, *labels;
        const char *k;
        char *s = NULL, why[256], attempt[16];
        floq_err_t err = FLOQ_OK;

        *jobp = NULL;
        snprintf(attempt, sizeof(attempt), "%d", req->attempt);
        labels = json_pack("{s:s,s:s}", "app.kubernetes.io/managed-by",
                           "floq", "floq.io/attempt", attempt);
        ctr = json_pack("{s:s,s:s}", "name", K8S_CONTAINER, "image", image);
        if (!labels || !ctr)
                goto nomem;
        if ((err = put_expanded(ctr, "command", spec, req->params, errstr,
                                errstr_size)) ||
            (err = put_expanded(ctr, "args", spec, req->params, errstr,
                                errstr_size)))
                goto out;
        if (json_is_object(env)) {
                if (!(envs = json_array()))
                        goto nomem;
                json_object_set_new(ctr, "env", envs);
                json_object_foreach((json_t *)env, k, v) {
                        if (floq_tpl_expand(json_string_value(v), req->params,
                                            &s, why, sizeof(why))) {
                                err = floq_seterr(errstr, errstr_size,
                                                  FLOQ_ERR_INVALID_ARG,
                                                  "spec.env.%s: %s", k, why);
                                goto out;
                        }
                        json_array_append_new(envs,
                                              json_pack("{s:s,s:s}", "name",
                                                        k, "value", s));
                        free(s);
                        s = NULL;
                }
        }
        if ((v = json_object_get(spec, "resources")))
                json_object_set(ctr, "resources", (json_t *)v);
        pod = json_pack("{s:s,s:[O]}", "restartPolicy", "Never",
                        "containers", ctr);
        if (!pod)
                goto nomem;
        if ((v = json_object_get(spec, "service_account")))
                json_object_set(pod, "serviceAccountName", (json_t *)v);
        job = json_pack("{s:s,s:s,s:{s:s,s:s,s:O,s:{s:s,s:s,s:s}},"
                        "s:{s:i,s:{s:{s:O},s:o}}}",
                        "apiVersion", "batch/v1", "kind", "Job", "metadata",
                        "name", name, "namespace", ns, "labels", labels,
                        "annotations", "floq.io/run-id", req->run_id,
                        "floq.io/attempt", attempt, "floq.io/deployment",
                        req->deployment ? req->deployment : "", "spec",
                        "backoffLimit", 0, "template", "metadata", "labels",
                        labels, "spec", pod);
        if (!job)
                goto nomem;
        if ((v = json_object_get(spec, "ttl_seconds_after_finished")))
                json_object_set(json_object_get(job, "spec"),
                                "ttlSecondsAfterFinished", (json_t *)v);
        goto out;
nomem:
        err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                          "out of memory");
out:
        free(s);
        json_decref(labels);
        json_decref(ctr);
        if (err) {
                json_decref(job);
                return err;
        }
        *jobp = job;
        return FLOQ_OK;
}

/* ---------------------------------------------------------- attempts */

static void attempt_free(k8s_attempt_t *a) {
        if (!a)
                return;
        free(a->url);
        free(a);
}

/* A new attempt tracking Job @p ns / @p name. */
static k8s_attempt_t *attempt_new(const k8s_backend_t *kb,
                                  const floq_run_req_t *req, const char *ns,
                                  const char *name) {
        k8s_attempt_t *a = calloc(1, sizeof(*a));
        int64_t poll_ms;

        if (!a)
                return NULL;
        snprintf(a->run_id, sizeof(a->run_id), "%s", req->run_id);
        a->attempt = req->attempt;
        snprintf(a->ns, sizeof(a->ns), "%s", ns);
        snprintf(a->name, sizeof(a->name), "%s", name);
        snprintf(a->ref, sizeof(a->ref), "%s/%s", ns, name);
        if (asprintf(&a->url, "%s/apis/batch/v1/namespaces/%s/jobs/%s",
                     kb->api, ns, name) < 0) {
                free(a);
                return NULL;
        }
        poll_ms = json_integer_value(json_object_get(req->spec,
                                                     "poll_interval_ms"));
        floq_poller_init(&a->poll, poll_ms < K8S_POLL_MS_MIN ? kb->poll_ms
                                                             : poll_ms);
        return a;
}

/* 1 when @p job carries the annotations of attempt @p a (a Job of the
 * same name that floq made for another run would not). */
static int job_is_ours(const json_t *job, const k8s_attempt_t *a) {
        const json_t *ann = json_object_get(json_object_get(job, "metadata"),
                                            "annotations");
        const char *rid = json_string_value(json_object_get(ann,
                                                            "floq.io/run-id"));
        const char *att = json_string_value(
                json_object_get(ann, "floq.io/attempt"));

        return rid && att && !strcmp(rid, a->run_id) &&
               atoi(att) == a->attempt;
}

/* GET the attempt's Job; FLOQ_ERR_REJECTED when it is not this attempt's. */
static floq_err_t get_own_job(const k8s_backend_t *kb, const k8s_attempt_t *a,
                              long timeout_ms, char *errstr,
                              size_t errstr_size) {
        floq_http_resp_t resp;
        char path[256], msg[512];
        floq_err_t err;

        snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs/%s",
                 a->ns, a->name);
        err = k8s_call(kb, "GET", path, NULL, timeout_ms, 0, &resp, msg,
                       sizeof(msg));
        if (err == FLOQ_ERR_NOT_FOUND)
                floq_seterr(errstr, errstr_size, err,
                            "the Job %s no longer exists (%s)", a->ref, msg);
        else if (err)
                k8s_explain(kb, err, &resp, a->ns, msg, errstr, errstr_size);
        else if (!job_is_ours(resp.json, a))
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                  "kubernetes: a Job %s exists that floq did "
                                  "not create for run %s attempt %d "
                                  "(its floq.io/run-id and floq.io/attempt "
                                  "annotations differ)",
                                  a->ref, a->run_id, a->attempt);
        floq_http_resp_release(&resp);
        return err;
}

/* Tracked from here on: start() and attach() end with this once the
 * remote run is known (floq_poller_track()). */
static void attempt_track(k8s_attempt_t *a) {
        floq_poller_track(&a->poll, poll_once, stop_step, a->ref, a->url,
                          "Job", a->ref);
}

static floq_err_t k8s_start(floq_backend_t *be, const floq_run_req_t *req,
                            floq_attempt_t **attp, char *errstr,
                            size_t errstr_size) {
        k8s_backend_t *kb = (k8s_backend_t *)be;
        const char *ns = spec_ns(kb, req->spec);
        const char *image = json_string_value(json_object_get(req->spec,
                                                              "image"));
        floq_http_resp_t resp = { 0 };
        k8s_attempt_t *a = NULL;
        json_t *job = NULL;
        char name[K8S_NAME_MAX + 1], path[160], msg[512];
        floq_err_t err;

        *attp = NULL;
        if (!image || !dns_label_ok(ns) || !ns_allowed(kb, ns)) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                  "kubernetes: the spec has no image or a "
                                  "namespace not allowed: deploy the "
                                  "deployment again");
                goto out;
        }
        if (!kb->api) {
                err = no_api(errstr, errstr_size);
                goto out;
        }
        job_name(req->run_id, req->attempt, name);
        if (!(a = attempt_new(kb, req, ns, name))) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                  "out of memory");
                goto out;
        }
        if ((err = job_new(req, ns, name, image, &job, errstr, errstr_size)))
                goto out;
        snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs", ns);
        err = k8s_call(kb, "POST", path, job, 0, 0, &resp, msg, sizeof(msg));
        if (err == FLOQ_ERR_EXISTS) {
                /* 409: this attempt's Job exists already (an earlier try or
                 * worker made it): track it, make no other. */
                if ((err = get_own_job(kb, a, 0, errstr, errstr_size)))
                        goto out;
                floq_info(K8S_WHAT, "run %s attempt %d: Job %s exists "
                          "already: tracking it",
                          req->run_id, req->attempt, a->ref);
        } else if (err) {
                if (err == FLOQ_ERR_NOT_FOUND)
                        floq_seterr(errstr, errstr_size, err,
                                    "%s (does namespace '%s' exist?)", msg,
                                    ns);
                else
                        k8s_explain(kb, err, &resp, ns, msg, errstr,
                                    errstr_size);
                goto out;
        } else {
                floq_info(K8S_WHAT, "run %s attempt %d: created Job %s",
                          req->run_id, req->attempt, a->ref);
        }
out:
        floq_http_resp_release(&resp);
        json_decref(job);
        if (err) {
                attempt_free(a);
                return err;
        }
        attempt_track(a);
        *attp = a;
        return FLOQ_OK;
}

static floq_err_t k8s_attach(floq_backend_t *be, const floq_run_req_t *req,
                             const char *ref, floq_attempt_t **attp,
                             char *errstr, size_t errstr_size) {
        k8s_backend_t *kb = (k8s_backend_t *)be;
        const char *slash = ref ? strchr(ref, '/') : NULL;
        char ns[K8S_NAME_MAX + 1], name[K8S_NAME_MAX + 1];
        k8s_attempt_t *a;
        floq_err_t err;

        *attp = NULL;
        if (!slash || (size_t)(slash - ref) > K8S_NAME_MAX ||
            strlen(slash + 1) > K8S_NAME_MAX)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "kubernetes: '%s' is not a Job reference "
                                   "(namespace/name)",
                                   ref ? ref : "");
        snprintf(ns, sizeof(ns), "%.*s", (int)(slash - ref), ref);
        snprintf(name, sizeof(name), "%s", slash + 1);
        if (!dns_label_ok(ns) || !dns_label_ok(name) || !ns_allowed(kb, ns))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "kubernetes: '%s' is not a Job reference "
                                   "this worker may follow",
                                   ref);
        if (!kb->api)
                return no_api(errstr, errstr_size);
        if (!(a = attempt_new(kb, req, ns, name)))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        if ((err = get_own_job(kb, a, 0, errstr, errstr_size))) {
                attempt_free(a);
                return err;
        }
        floq_info(K8S_WHAT, "run %s attempt %d: attached to Job %s",
                  req->run_id, req->attempt, a->ref);
        attempt_track(a);
        *attp = a;
        return FLOQ_OK;
}

/* --------------------------------------------------------------- poll */

/* The first item of the pod list @p pods that says why it failed, into
 * @p buf; *exitp the container's exit code when one is known. */
static void pod_reason_of(const json_t *pods, char *buf, size_t size,
                          int *exitp) {
        const json_t *pod, *cs, *term;
        size_t i, j;

        buf[0] = '\0';
        json_array_foreach(json_object_get(pods, "items"), i, pod) {
                const json_t *st = json_object_get(pod, "status");
                const char *pname = json_string_value(json_object_get(
                        json_object_get(pod, "metadata"), "name"));
                const char *r;

                json_array_foreach(json_object_get(st, "containerStatuses"),
                                   j, cs) {
                        const char *msg, *cname;
                        json_int_t code;

                        term = json_object_get(json_object_get(cs, "state"),
                                               "terminated");
                        if (!term)
                                term = json_object_get(
                                        json_object_get(cs, "lastState"),
                                        "terminated");
                        code = json_integer_value(json_object_get(term,
                                                                  "exitCode"));
                        r = json_string_value(json_object_get(term,
                                                              "reason"));
                        if (!term || (!code && r && !strcmp(r, "Completed")))
                                continue;
                        msg = json_string_value(json_object_get(term,
                                                                "message"));
                        cname = json_string_value(json_object_get(cs,
                                                                  "name"));
                        snprintf(buf, size,
                                 "pod %s container %s terminated: %s, exit "
                                 "code %lld%s%.200s",
                                 pname ? pname : "?", cname ? cname : "?",
                                 r ? r : "no reason", (long long)code,
                                 msg && *msg ? ": " : "", msg ? msg : "");
                        *exitp = (int)code;
                        return;
                }
                /* Evicted, DeadlineExceeded, ...: the pod's own reason. */
                if ((r = json_string_value(json_object_get(st, "reason")))) {
                        const char *msg = json_string_value(
                                json_object_get(st, "message"));

                        snprintf(buf, size, "pod %s: %s%s%.200s",
                                 pname ? pname : "?", r, msg ? ": " : "",
                                 msg ? msg : "");
                        return;
                }
        }
}

/* Why the Job's pods failed (listed by the job-name label), into @p buf;
 * empty when the pods say nothing (or cannot be read: then why). */
static void pod_reason(const k8s_backend_t *kb, const k8s_attempt_t *a,
                       char *buf, size_t size, int *exitp) {
        floq_http_resp_t resp;
        char path[256], msg[512];
        floq_err_t err;

        snprintf(path, sizeof(path),
                 "/api/v1/namespaces/%s/pods?labelSelector=job-name%%3D%s"
                 "&limit=20",
                 a->ns, a->name);
        err = k8s_call(kb, "GET", path, NULL, (long)a->poll.poll_ms * 4, -1,
                       &resp, msg, sizeof(msg));
        if (err)
                snprintf(buf, size, "its pods cannot be read: %s", msg);
        else
                pod_reason_of(resp.json, buf, size, exitp);
        floq_http_resp_release(&resp);
}

/* The condition of @p type in @p job's status with status "True". */
static const json_t *condition(const json_t *job, const char *type) {
        const json_t *c;
        size_t i;

        json_array_foreach(json_object_get(json_object_get(job, "status"),
                                           "conditions"),
                           i, c) {
                const char *t = json_string_value(json_object_get(c, "type"));
                const char *s = json_string_value(json_object_get(c,
                                                                  "status"));

                if (t && s && !strcmp(t, type) && !strcmp(s, "True"))
                        return c;
        }
        return NULL;
}

/* Count an unreachable poll; *donep when past kubernetes.unreachable.ms. */
static void unreachable(const k8s_backend_t *kb, k8s_attempt_t *a,
                        const char *msg, int *donep, floq_run_result_t *res) {
        int64_t now = floq_mono_ms();

        if (!a->poll.unreachable_since)
                a->poll.unreachable_since = now;
        snprintf(a->last_error, sizeof(a->last_error), "%s", msg);
        if (now - a->poll.unreachable_since < kb->unreachable_ms)
                return;
        floq_run_result_setf(res, FLOQ_OUTCOME_LOST, a->ref,
                             "the state of Job %s is unknown: the API server "
                             "has not answered for %lld ms "
                             "(kubernetes.unreachable.ms): %s",
                             a->ref, (long long)(now - a->poll.unreachable_since),
                             a->last_error);
        *donep = 1;
}

/*
 * One poll of the Job. *donep set and @p res filled when the attempt is
 * over: the Job completed or failed, is gone, or the API server has been
 * unreachable for too long. @p why is the stop asked for, -1 none.
 */
static void poll_once(floq_backend_t *be, k8s_attempt_t *a, int why,
                      int *donep, floq_run_result_t *res) {
        const k8s_backend_t *kb = (const k8s_backend_t *)be;
        floq_http_resp_t resp;
        const json_t *c;
        char path[256], msg[512], pods[600];
        floq_outcome_t stopped = why == FLOQ_STOP_TIMEOUT
                                         ? FLOQ_OUTCOME_TIMED_OUT
                                         : FLOQ_OUTCOME_CANCELLED;
        floq_err_t err;
        int code = -1;

        *donep = 0;
        snprintf(path, sizeof(path), "/apis/batch/v1/namespaces/%s/jobs/%s",
                 a->ns, a->name);
        err = k8s_call(kb, "GET", path, NULL,
                       a->poll.poll_ms * 4 < kb->timeout_ms ? (long)a->poll.poll_ms * 4
                                                       : 0,
                       0, &resp, msg, sizeof(msg));
        if (err == FLOQ_ERR_NOT_FOUND) {
                if (why >= 0 && a->delete_sent)
                        floq_run_result_setf(res, stopped, a->ref,
                                             "Job %s deleted "
                                             "(propagationPolicy=Background)",
                                             a->ref);
                else
                        floq_run_result_setf(res,
                                             why >= 0 ? stopped
                                                      : FLOQ_OUTCOME_FAILED,
                                             a->ref,
                                             "the Job %s was deleted from "
                                             "outside floq",
                                             a->ref);
                *donep = 1;
        } else if (err == FLOQ_ERR_TRANSPORT || err == FLOQ_ERR_TIMED_OUT ||
                   err == FLOQ_ERR_BACKEND || err == FLOQ_ERR_UNAUTHORIZED) {
                /* A refused token counts as unreachable: the kubelet may
                 * not have rotated it yet; past the bound it is LOST. */
                unreachable(kb, a, msg, donep, res);
        } else if (err) {
                floq_run_result_setf(res,
                                     why >= 0 ? stopped : FLOQ_OUTCOME_FAILED,
                                     a->ref, "%s", msg);
                *donep = 1;
        } else if (a->poll.unreachable_since = 0, why >= 0) {
                /* Stopping: over once the Job is gone (poll until 404). */
        } else if (condition(resp.json, "Complete")) {
                floq_run_result_setf(res, FLOQ_OUTCOME_SUCCEEDED, a->ref,
                                     "Job %s complete", a->ref);
                res->exit_code = 0;
                *donep = 1;
        } else if ((c = condition(resp.json, "Failed"))) {
                const char *r = json_string_value(json_object_get(c,
                                                                  "reason"));
                const char *m = json_string_value(json_object_get(c,
                                                                  "message"));

                pod_reason(kb, a, pods, sizeof(pods), &code);
                floq_run_result_setf(res, FLOQ_OUTCOME_FAILED, a->ref,
                                     "Job %s failed: %s%s%.200s%s%s", a->ref,
                                     r ? r : "Failed", m && *m ? ": " : "",
                                     m ? m : "", pods[0] ? "; " : "", pods);
                res->exit_code = code;
                *donep = 1;
        }
        /* No Complete/Failed condition (active, suspended, FailureTarget
         * still terminating pods): still going. */
        floq_http_resp_release(&resp);
}

/* The stop path: DELETE with propagationPolicy=Background once (again
 * after a transient error), then poll until the Job is gone; past
 * kubernetes.stop.wait.ms report what is known. */
static void stop_step(floq_backend_t *be, k8s_attempt_t *a, int why,
                      int *donep, floq_run_result_t *res) {
        const k8s_backend_t *kb = (const k8s_backend_t *)be;
        floq_http_resp_t resp;
        char path[256];
        floq_err_t err;

        *donep = 0;
        if (!a->delete_deadline)
                a->delete_deadline = floq_mono_ms() + kb->stop_wait_ms;
        if (!a->delete_sent) {
                snprintf(path, sizeof(path),
                         "/apis/batch/v1/namespaces/%s/jobs/%s"
                         "?propagationPolicy=Background",
                         a->ns, a->name);
                err = k8s_call(kb, "DELETE", path, NULL, 0, 0, &resp,
                               a->delete_note, sizeof(a->delete_note));
                floq_http_resp_release(&resp);
                if (!err || err == FLOQ_ERR_NOT_FOUND) {
                        a->delete_sent = 1;
                        a->delete_note[0] = '\0';
                } else {
                        floq_notice(K8S_WHAT, "Job %s: %s", a->ref,
                                    a->delete_note);
                }
        }
        poll_once(be, a, why, donep, res);
        if (*donep || floq_mono_ms() < a->delete_deadline)
                return;
        floq_run_result_setf(res,
                             why == FLOQ_STOP_TIMEOUT ? FLOQ_OUTCOME_TIMED_OUT
                                                      : FLOQ_OUTCOME_CANCELLED,
                             a->ref,
                             "Job %s: %s within kubernetes.stop.wait.ms%s%s",
                             a->ref,
                             a->delete_sent ? "deleted but still present "
                                              "(finalizers?)"
                                            : "could not be deleted",
                             a->delete_note[0] ? ": " : "", a->delete_note);
        *donep = 1;
}

static void k8s_attempt_destroy(floq_backend_t *be, floq_attempt_t *att) {
        (void)be;
        attempt_free(att);
}

/* ----------------------------------------------------------- validate */

/* What the answer to GET /readyz says is wrong, NULL when nothing
 * (a 403 there is for the RBAC check to explain); *hintp what to check. */
static const char *readyz_problem(floq_err_t err, const floq_http_resp_t *resp,
                                  const char *msg, const char **hintp) {
        *hintp = "";
        if (err == FLOQ_ERR_TRANSPORT && tls_failure(msg)) {
                *hintp = " (check kubernetes.ca.file)";
                return "cannot be trusted (TLS failure)";
        }
        if (err == FLOQ_ERR_TRANSPORT || err == FLOQ_ERR_TIMED_OUT ||
            err == FLOQ_ERR_NOT_FOUND || err == FLOQ_ERR_TOO_LARGE)
                return "is unreachable or not a Kubernetes API";
        if (err == FLOQ_ERR_UNAUTHORIZED && resp->status == 401) {
                *hintp = " (check kubernetes.token.file)";
                return "refuses the token";
        }
        if (err == FLOQ_ERR_BACKEND)
                return "is not ready";
        return NULL;
}

/*
 * Within 10 s: the API server answers GET /readyz (else unreachable, or a
 * TLS failure, or a refused token), then a dry-run create of a Job in the
 * spec's namespace (dryRun=All: nothing is stored) proves the worker may
 * create Jobs there (else forbidden, with the RBAC to grant).
 */
static floq_err_t k8s_validate(floq_backend_t *be, const json_t *spec,
                               char *errstr, size_t errstr_size) {
        k8s_backend_t *kb = (k8s_backend_t *)be;
        int64_t deadline = floq_mono_ms() + K8S_VALIDATE_MS - 300;
        const char *ns = spec ? spec_ns(kb, spec) : kb->ns;
        const char *image = spec ? json_string_value(json_object_get(
                                           spec, "image"))
                                 : NULL;
        floq_http_resp_t resp;
        const char *problem, *hint;
        json_t *job;
        char msg[512], path[160];
        floq_err_t err;

        if (!dns_label_ok(ns) || !ns_allowed(kb, ns))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "kubernetes: namespace '%s' is not "
                                   "allowed (kubernetes.namespace, "
                                   "kubernetes.namespaces.allowed)",
                                   ns);
        err = k8s_call(kb, "GET", "/readyz", NULL, floq_ms_left(deadline),
                       -1, &resp, msg, sizeof(msg));
        if (err == FLOQ_ERR_CONFIG) {
                floq_http_resp_release(&resp);
                return floq_seterr(errstr, errstr_size, err, "%s", msg);
        }
        if ((problem = readyz_problem(err, &resp, msg, &hint))) {
                floq_http_resp_release(&resp);
                return floq_seterr(errstr, errstr_size, err,
                                   "kubernetes: the API server at %s %s: "
                                   "%s%s",
                                   kb->api, problem, msg, hint);
        }
        floq_http_resp_release(&resp); /* 403 on /readyz: the RBAC check
                                          below says what is missing */
        job = json_pack("{s:s,s:s,s:{s:s,s:{s:s}},s:{s:i,s:{s:{s:s,s:[{s:s,"
                        "s:s}]}}}}",
                        "apiVersion", "batch/v1", "kind", "Job", "metadata",
                        "name", K8S_VALIDATE_JOB, "labels",
                        "app.kubernetes.io/managed-by", "floq", "spec",
                        "backoffLimit", 0, "template", "spec",
                        "restartPolicy", "Never", "containers", "name",
                        K8S_CONTAINER, "image",
                        image ? image : "registry.k8s.io/pause:3.9");
        if (!job)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        snprintf(path, sizeof(path),
                 "/apis/batch/v1/namespaces/%s/jobs?dryRun=All", ns);
        err = k8s_call(kb, "POST", path, job, floq_ms_left(deadline), -1,
                       &resp, msg, sizeof(msg));
        json_decref(job);
        if (err == FLOQ_ERR_EXISTS) {
                err = FLOQ_OK; /* allowed; the name is taken, that is all */
        } else if (err == FLOQ_ERR_UNAUTHORIZED && resp.status == 403) {
                err = floq_seterr(errstr, errstr_size, err,
                                  "kubernetes: forbidden: the worker may not "
                                  "create Jobs in namespace '%s' (grant its "
                                  "service account a Role with create, get, "
                                  "delete on jobs.batch and list on pods "
                                  "there): %s",
                                  ns, msg);
        } else if (err == FLOQ_ERR_NOT_FOUND) {
                err = floq_seterr(errstr, errstr_size, err,
                                  "kubernetes: namespace '%s' does not exist "
                                  "or batch/v1 is not served: %s",
                                  ns, msg);
        } else if (err) {
                k8s_explain(kb, err, &resp, ns, msg, errstr, errstr_size);
        }
        floq_http_resp_release(&resp);
        return err;
}

const floq_backend_ops_t floq_backend_kubernetes = {
        .name = "kubernetes",
        .outlives_worker = 1, /* a Job goes on without its worker */
        .new_ = k8s_new,
        .destroy = k8s_destroy,
        .deploy = k8s_deploy,
        .start = k8s_start,
        .wait = floq_remote_wait,
        .stop = floq_remote_stop,
        .ref = floq_remote_ref,
        .attempt_destroy = k8s_attempt_destroy,
        .validate = k8s_validate,
        .attach = k8s_attach,
        .url = floq_remote_url,
};
