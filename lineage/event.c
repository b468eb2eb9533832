/*
 * event.c - floq runs as OpenLineage 2-0-2 RunEvents. The worker hands over
 * the Deployment and RunState records (jansson objects shaped by the .avsc
 * files) and an event type; this file turns them into the event (job from
 * the deployment, run.runId = floq run id, facets where they apply) and the
 * Kafka key the OpenLineage transports use. Producers' own jobs go through
 * floq_lineage_job_event_new(), which shares the skeleton. Nothing here does
 * I/O: the caller produces the result inside its own transaction.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lineage_int.h"

static const char *const type_names[FLOQ_LINEAGE__CNT] = {
        "START", "RUNNING", "COMPLETE", "FAIL", "ABORT", "OTHER",
};

const char *floq_lineage_event_type_name(floq_lineage_event_type_t type) {
        if ((int)type < 0 || type >= FLOQ_LINEAGE__CNT)
                return NULL;
        return type_names[type];
}

int floq_lineage_event_type_parse(const char *name) {
        int i;

        if (!name)
                return -1;
        for (i = 0; i < FLOQ_LINEAGE__CNT; i++)
                if (!strcasecmp(name, type_names[i]))
                        return i;
        return -1;
}

int floq_lineage_event_type_for_status(const char *status) {
        static const struct {
                const char *status;
                floq_lineage_event_type_t type;
        } map[] = {
                { "RUNNING", FLOQ_LINEAGE_RUNNING },
                { "SUCCEEDED", FLOQ_LINEAGE_COMPLETE },
                { "FAILED", FLOQ_LINEAGE_FAIL },
                { "TIMED_OUT", FLOQ_LINEAGE_FAIL },
                { "CANCELLED", FLOQ_LINEAGE_ABORT },
                { "LOST", FLOQ_LINEAGE_ABORT },
        };
        size_t i;

        if (!status)
                return -1;
        for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
                if (!strcmp(status, map[i].status))
                        return (int)map[i].type;
        return -1;
}

void floq_lineage_opts_init(floq_lineage_opts_t *opts) {
        memset(opts, 0, sizeof(*opts));
}

void floq_lineage_opts_from_conf(floq_lineage_opts_t *opts,
                                 const floq_conf_t *conf) {
        const char *ns;

        floq_lineage_opts_init(opts);
        if (conf && (ns = floq_conf_get(conf, "lineage.namespace")) && *ns)
                opts->namespace_default = ns;
}

/* ---------------------------------------------------------------- helpers */

int floq_lineage_is_uuid(const char *s) {
        int i;

        if (!s || strlen(s) != 36)
                return 0;
        for (i = 0; i < 36; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-')
                                return 0;
                } else if (!isxdigit((unsigned char)s[i])) {
                        return 0;
                }
        }
        return 1;
}

/* Length of the valid UTF-8 sequence at s (0 if invalid). */
static size_t utf8_seq(const unsigned char *s, size_t left) {
        size_t n, i;
        unsigned cp;

        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xC2 && s[0] <= 0xDF) {
                n = 2;
                cp = s[0] & 0x1F;
        } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
                n = 3;
                cp = s[0] & 0x0F;
        } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
                n = 4;
                cp = s[0] & 0x07;
        } else {
                return 0;
        }
        if (n > left)
                return 0;
        for (i = 1; i < n; i++) {
                if ((s[i] & 0xC0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3F);
        }
        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
                return 0;
        return n;
}

char *floq_lineage_utf8_dup(const char *s, size_t len) {
        const unsigned char *u = (const unsigned char *)s;
        char *out = malloc(len + 1), *o = out;
        size_t i = 0, n;

        if (!out)
                return NULL;
        while (i < len) {
                if (u[i] == 0) {
                        i++;
                        continue;
                }
                if ((n = utf8_seq(u + i, len - i)) == 0) {
                        *o++ = '?';
                        i++;
                        continue;
                }
                memcpy(o, u + i, n);
                o += n;
                i += n;
        }
        *o = '\0';
        return out;
}

/* A string field that is set (not null, not missing); NULL otherwise. */
static const char *str_field(const json_t *obj, const char *name) {
        const json_t *v = json_object_get(obj, name);

        return json_is_string(v) ? json_string_value(v) : NULL;
}

/* An integer field that is set: 1 and *out; 0 when null or missing. */
static int int_field(const json_t *obj, const char *name, int64_t *out) {
        const json_t *v = json_object_get(obj, name);

        if (!json_is_integer(v))
                return 0;
        *out = (int64_t)json_integer_value(v);
        return 1;
}

/* {"_producer": producer, "_schemaURL": url}: every facet starts so. */
static json_t *facet_new(const char *producer, const char *url) {
        return json_pack("{s:s, s:s}", "_producer", producer, "_schemaURL",
                         url);
}

/* The floq_backend run facet of a remote run: the backend, its own id of
 * the run (RunState.backend_ref) and its page of it (backend_url). NULL
 * without a backend and a reference or URL (the worker leaves them out of
 * runs whose backend is local, lineage_hook.c), and on ENOMEM (*nomem). */
static json_t *backend_facet(const char *producer, const json_t *run_state,
                             int *nomem) {
        const char *name = str_field(run_state, "backend");
        const char *ref = str_field(run_state, "backend_ref");
        const char *url = str_field(run_state, "backend_url");
        json_t *f;

        *nomem = 0;
        if (!name || !*name || (!ref && !url))
                return NULL;
        if (!(f = facet_new(producer, FLOQ_BACKEND_FACET_URL)) ||
            json_object_set_new(f, "backend", json_string(name)) ||
            (ref && json_object_set_new(f, "runId", json_string(ref))) ||
            (url && json_object_set_new(f, "url", json_string(url)))) {
                json_decref(f);
                *nomem = 1;
                return NULL;
        }
        return f;
}

/* Set key to a new reference; 0, or -1 (ENOMEM) after dropping it. */
static int set_new(json_t *obj, const char *key, json_t *value) {
        return value ? json_object_set_new(obj, key, value) : -1;
}

static int dataset_in(const json_t *arr, const char *ns, const char *name) {
        size_t i;
        json_t *d;

        json_array_foreach(arr, i, d) {
                const char *dn = str_field(d, "namespace");
                const char *dm = str_field(d, "name");

                if (dn && dm && !strcmp(dn, ns) && !strcmp(dm, name))
                        return 1;
        }
        return 0;
}

/* Append {"namespace","name"} unless present. 1 added, 0 not, -1 ENOMEM */
static int dataset_add(json_t *arr, const char *ns, const char *name) {
        json_t *d;

        if (!ns || !*ns || !name || !*name || dataset_in(arr, ns, name) ||
            json_array_size(arr) >= FLOQ_LINEAGE_DATASETS_MAX)
                return 0;
        if (!(d = json_pack("{s:s, s:s}", "namespace", ns, "name", name)))
                return -1;
        return json_array_append_new(arr, d) ? -1 : 1;
}

/* Declared datasets of a Deployment ("inputs"/"outputs") into arr. */
static int datasets_from_deployment(json_t *arr, const json_t *deployment,
                                    const char *field) {
        const json_t *src = json_object_get(deployment, field);
        size_t i;
        json_t *d;

        json_array_foreach(src, i, d) {
                if (dataset_add(arr, str_field(d, "namespace"),
                                str_field(d, "name")) < 0)
                        return -1;
        }
        return 0;
}

/* ------------------------------------------------------------- the parts */

/*
 * The skeleton every event shares: eventType, eventTime, run (runId,
 * processing_engine), job (namespace, name, jobType), inputs, outputs,
 * producer, schemaURL.
 */
static json_t *event_skeleton(floq_lineage_event_type_t type,
                              const char *job_ns, const char *job_name,
                              const char *run_id, const char *producer,
                              int64_t time_ms) {
        char when[40];
        json_t *ev, *pe, *jt;

        floq_ms_to_iso(time_ms, when, sizeof(when));
        pe = facet_new(producer, OL_PROCESSING_ENGINE_URL);
        jt = facet_new(producer, OL_JOB_TYPE_URL);
        if (!pe || !jt)
                goto fail;
        if (json_object_set_new(pe, "name", json_string("floq")) ||
            json_object_set_new(pe, "version",
                                json_string(FLOQ_VERSION_STR)) ||
            json_object_set_new(pe, "openlineageAdapterVersion",
                                json_string(FLOQ_VERSION_STR)))
                goto fail;
        /* BATCH: a run has a clear start and end; FLOQ: the integration
         * that observed it; JOB: what Airflow calls a task, the unit floq
         * runs (there is no DAG level in floq). */
        if (json_object_set_new(jt, "processingType", json_string("BATCH")) ||
            json_object_set_new(jt, "integration", json_string("FLOQ")) ||
            json_object_set_new(jt, "jobType", json_string("JOB")))
                goto fail;
        ev = json_pack("{s:s, s:s, s:{s:s, s:{s:o}}, s:{s:s, s:s, s:{s:o}},"
                       " s:[], s:[], s:s, s:s}",
                       "eventType", type_names[type], "eventTime", when,
                       "run", "runId", run_id, "facets", "processing_engine",
                       pe, "job", "namespace", job_ns, "name", job_name,
                       "facets", "jobType", jt, "inputs", "outputs",
                       "producer", producer, "schemaURL",
                       FLOQ_LINEAGE_SCHEMA_URL);
        /* json_pack's "o" steals pe and jt even on failure */
        return ev;
fail:
        json_decref(pe);
        json_decref(jt);
        return NULL;
}

static int64_t event_time(floq_lineage_event_type_t type,
                          const json_t *run_state,
                          const floq_lineage_opts_t *opts) {
        const char *field = NULL;
        int64_t t;

        if (opts->event_time_ms > 0)
                return opts->event_time_ms;
        switch (type) {
        case FLOQ_LINEAGE_START: field = "started_at"; break;
        case FLOQ_LINEAGE_RUNNING: field = "heartbeat_at"; break;
        case FLOQ_LINEAGE_COMPLETE:
        case FLOQ_LINEAGE_FAIL:
        case FLOQ_LINEAGE_ABORT: field = "finished_at"; break;
        default: break;
        }
        if (field && int_field(run_state, field, &t) && t > 0)
                return t;
        return floq_now_ms();
}

static json_t *parent_facet(const char *producer, const char *parent_run_id,
                            const floq_lineage_opts_t *opts) {
        json_t *f = facet_new(producer, OL_PARENT_URL);

        if (!f)
                return NULL;
        if (set_new(f, "run", json_pack("{s:s}", "runId", parent_run_id)) ||
            set_new(f, "job",
                    json_pack("{s:s, s:s}", "namespace",
                              opts->parent_job_namespace, "name",
                              opts->parent_job_name)))
                goto fail;
        if (opts->root_run_id && opts->root_job_namespace &&
            opts->root_job_name && floq_lineage_is_uuid(opts->root_run_id) &&
            set_new(f, "root",
                    json_pack("{s:{s:s}, s:{s:s, s:s}}", "run", "runId",
                              opts->root_run_id, "job", "namespace",
                              opts->root_job_namespace, "name",
                              opts->root_job_name)))
                goto fail;
        return f;
fail:
        json_decref(f);
        return NULL;
}

/* The run's failure as text: reason, exit status, or the bare status. */
static char *error_message_text(const json_t *run_state) {
        const char *reason = str_field(run_state, "reason");
        const char *status = str_field(run_state, "status");
        int64_t code;
        int has_code = int_field(run_state, "exit_code", &code);
        char *msg = NULL;
        int n;

        if (reason && *reason && has_code)
                n = asprintf(&msg, "%s (exit status %lld)", reason,
                             (long long)code);
        else if (reason && *reason)
                n = asprintf(&msg, "%s", reason);
        else if (has_code)
                n = asprintf(&msg, "exit status %lld", (long long)code);
        else if (status && !strcmp(status, "TIMED_OUT"))
                n = asprintf(&msg, "run timed out");
        else if (status && !strcmp(status, "LOST"))
                n = asprintf(&msg, "run lost: its worker stopped sending "
                                   "heartbeats");
        else if (status && !strcmp(status, "CANCELLED"))
                n = asprintf(&msg, "run cancelled");
        else
                n = asprintf(&msg, "run failed");
        return n < 0 ? NULL : msg;
}

static json_t *error_facet(const char *producer, const json_t *run_state,
                           const floq_lineage_opts_t *opts) {
        const char *tail = str_field(run_state, "output_tail");
        size_t max = opts->error_tail_max ? opts->error_tail_max : 4096;
        char *msg = error_message_text(run_state), *clean = NULL;
        json_t *f = facet_new(producer, OL_ERROR_MESSAGE_URL);

        if (!msg || !f)
                goto fail;
        if (!(clean = floq_lineage_utf8_dup(msg, strlen(msg))) ||
            set_new(f, "message", json_string(clean)))
                goto fail;
        /* floq runs arbitrary programs and cannot know their language; the
         * "stack trace" is the end of their output (docs/lineage.md). */
        if (set_new(f, "programmingLanguage", json_string("unknown")))
                goto fail;
        if (tail && *tail) {
                size_t len = strlen(tail), off = len > max ? len - max : 0;

                /* start the kept end on a character boundary */
                while (off < len && ((unsigned char)tail[off] & 0xC0) == 0x80)
                        off++;
                free(clean);
                if (!(clean = floq_lineage_utf8_dup(tail + off, len - off)) ||
                    set_new(f, "stackTrace", json_string(clean)))
                        goto fail;
        }
        free(msg);
        free(clean);
        return f;
fail:
        free(msg);
        free(clean);
        json_decref(f);
        return NULL;
}

/* Names that must never reach lineage, whatever the allowlist says. */
static int env_name_is_secret(const char *name, size_t len) {
        static const char *const words[] = {
                "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASS", "KEY",
                "CREDENTIAL", "AUTH", "PRIVATE", "SESSION", "COOKIE", "SIG",
        };
        char up[256];
        size_t i;

        if (len >= sizeof(up))
                return 1;
        for (i = 0; i < len; i++)
                up[i] = (char)toupper((unsigned char)name[i]);
        up[len] = '\0';
        for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
                if (strstr(up, words[i]))
                        return 1;
        return 0;
}

static int env_name_allowed(const char *allow, const char *name, size_t len) {
        const char *p = allow;

        while (*p) {
                const char *end = strchr(p, ',');
                size_t n = end ? (size_t)(end - p) : strlen(p);

                while (n && isspace((unsigned char)*p)) {
                        p++;
                        n--;
                }
                while (n && isspace((unsigned char)p[n - 1]))
                        n--;
                if (n == len && !strncmp(p, name, len))
                        return 1;
                if (!end)
                        break;
                p = end + 1;
        }
        return 0;
}

/* environmentVariables with allowed, non-secret names; NULL facet when
 * nothing qualifies (*errp stays 0) or on ENOMEM (*errp = 1). */
static json_t *env_facet(const char *producer, const floq_lineage_opts_t *opts,
                         int *errp) {
        const char *allow =
                opts->env_allow ? opts->env_allow : "PATH,HOME,LANG,LC_ALL,TZ";
        json_t *arr = json_array(), *f = NULL;
        size_t i;

        *errp = 0;
        if (!arr)
                goto nomem;
        for (i = 0; opts->envp[i]; i++) {
                const char *kv = opts->envp[i], *eq = strchr(kv, '=');
                char *name = NULL, *value = NULL;
                json_t *e;

                if (!eq || eq == kv)
                        continue;
                if (!env_name_allowed(allow, kv, (size_t)(eq - kv)) ||
                    env_name_is_secret(kv, (size_t)(eq - kv)))
                        continue;
                /* a URL with credentials in it is a secret too */
                if (strstr(eq + 1, "://") && strchr(eq + 1, '@'))
                        continue;
                name = floq_lineage_utf8_dup(kv, (size_t)(eq - kv));
                value = floq_lineage_utf8_dup(eq + 1, strlen(eq + 1));
                e = name && value ? json_pack("{s:s, s:s}", "name", name,
                                              "value", value)
                                  : NULL;
                free(name);
                free(value);
                if (!e || json_array_append_new(arr, e))
                        goto nomem;
        }
        if (json_array_size(arr) == 0) {
                json_decref(arr);
                return NULL;
        }
        if (!(f = facet_new(producer, OL_ENV_URL)))
                goto nomem;
        /* json_object_set_new() takes arr even when it fails */
        if (json_object_set_new(f, "environmentVariables", arr)) {
                arr = NULL;
                goto nomem;
        }
        return f;
nomem:
        json_decref(arr);
        json_decref(f);
        *errp = 1;
        return NULL;
}

/* --------------------------------------------------------------- builders */

/* floq_lineage_event_new() with the error code in *errp. */
static json_t *event_build(floq_lineage_event_type_t type,
                           const json_t *deployment, const json_t *run_state,
                           const floq_lineage_opts_t *opts_in,
                           floq_err_t *errp, char *errstr,
                           size_t errstr_size) {
        floq_lineage_opts_t defaults;
        const floq_lineage_opts_t *opts = opts_in;
        const char *run_id, *job_name, *job_ns = NULL, *producer, *parent;
        const char *status, *tail;
        json_t *ev = NULL, *run_facets, *inputs, *outputs;
        int64_t nominal;

        *errp = FLOQ_ERR_INVALID_ARG;
        if (!opts) {
                floq_lineage_opts_init(&defaults);
                opts = &defaults;
        }
        if ((int)type < 0 || type >= FLOQ_LINEAGE__CNT) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                            "unknown lineage event type %d", (int)type);
                return NULL;
        }
        if (!json_is_object(run_state)) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                            "run state is not an object");
                return NULL;
        }
        if (deployment && !json_is_object(deployment)) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                            "deployment is not an object");
                return NULL;
        }
        run_id = str_field(run_state, "run_id");
        if (!floq_lineage_is_uuid(run_id)) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                            "run id '%s' is not a UUID",
                            run_id ? run_id : "(none)");
                return NULL;
        }
        job_name = deployment ? str_field(deployment, "name") : NULL;
        if (!job_name || !*job_name)
                job_name = str_field(run_state, "deployment");
        if (!job_name || !*job_name) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                            "run '%s' names no deployment", run_id);
                return NULL;
        }
        if (deployment)
                job_ns = str_field(deployment, "namespace");
        if (!job_ns || !*job_ns)
                job_ns = opts->namespace_default && *opts->namespace_default
                                 ? opts->namespace_default
                                 : FLOQ_LINEAGE_NAMESPACE_DEFAULT;
        producer = opts->producer && *opts->producer ? opts->producer
                                                     : FLOQ_PRODUCER_URI;

        ev = event_skeleton(type, job_ns, job_name, run_id, producer,
                            event_time(type, run_state, opts));
        if (!ev)
                goto nomem;
        run_facets = json_object_get(json_object_get(ev, "run"), "facets");
        inputs = json_object_get(ev, "inputs");
        outputs = json_object_get(ev, "outputs");

        /* nominalTime: the due time of the schedule that started the run */
        if (int_field(run_state, "scheduled_for", &nominal)) {
                char when[40];
                json_t *f = facet_new(producer, OL_NOMINAL_TIME_URL);

                floq_ms_to_iso(nominal, when, sizeof(when));
                if (!f || json_object_set_new(f, "nominalStartTime",
                                              json_string(when)) ||
                    json_object_set_new(run_facets, "nominalTime", f))
                        goto nomem;
        }

        /* parent: only a run started by another run has one; a schedule is
         * not a run (no events of its own), see docs/lineage.md */
        parent = str_field(run_state, "parent_run_id");
        if (parent && floq_lineage_is_uuid(parent) &&
            opts->parent_job_namespace && *opts->parent_job_namespace &&
            opts->parent_job_name && *opts->parent_job_name) {
                if (set_new(run_facets, "parent",
                            parent_facet(producer, parent, opts)))
                        goto nomem;
        }

        status = str_field(run_state, "status");
        if (type == FLOQ_LINEAGE_FAIL ||
            (type == FLOQ_LINEAGE_ABORT &&
             ((status && !strcmp(status, "LOST")) ||
              str_field(run_state, "reason")))) {
                if (set_new(run_facets, "errorMessage",
                            error_facet(producer, run_state, opts)))
                        goto nomem;
        }

        {
                int err;
                json_t *f = backend_facet(producer, run_state, &err);

                if (err || (f && json_object_set_new(run_facets,
                                                     "floq_backend", f)))
                        goto nomem;
        }

        if (opts->envp) {
                int err;
                json_t *f = env_facet(producer, opts, &err);

                if (err)
                        goto nomem;
                if (f && json_object_set_new(run_facets,
                                             "environmentVariables", f))
                        goto nomem;
        }

        if (deployment &&
            (datasets_from_deployment(inputs, deployment, "inputs") ||
             datasets_from_deployment(outputs, deployment, "outputs")))
                goto nomem;
        tail = str_field(run_state, "output_tail");
        if (!opts->ignore_reported_datasets && tail &&
            (type == FLOQ_LINEAGE_COMPLETE || type == FLOQ_LINEAGE_FAIL ||
             type == FLOQ_LINEAGE_ABORT) &&
            floq_lineage_parse_datasets(tail, strlen(tail), inputs, outputs) <
                    0)
                goto nomem;
        *errp = FLOQ_OK;
        return ev;

nomem:
        json_decref(ev);
        *errp = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
        return NULL;
}

json_t *floq_lineage_event_new(floq_lineage_event_type_t type,
                               const json_t *deployment,
                               const json_t *run_state,
                               const floq_lineage_opts_t *opts, char *errstr,
                               size_t errstr_size) {
        floq_err_t err;

        return event_build(type, deployment, run_state, opts, &err, errstr,
                           errstr_size);
}

json_t *floq_lineage_job_event_new(floq_lineage_event_type_t type,
                                   const char *job_namespace,
                                   const char *job_name, const char *run_id,
                                   const floq_lineage_dataset_t *inputs,
                                   size_t input_cnt,
                                   const floq_lineage_dataset_t *outputs,
                                   size_t output_cnt,
                                   const floq_lineage_opts_t *opts,
                                   char *errstr, size_t errstr_size) {
        const char *producer = FLOQ_PRODUCER_URI;
        int64_t when = 0;
        json_t *ev, *arr;
        size_t i;

        if ((int)type < 0 || type >= FLOQ_LINEAGE__CNT) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                            "unknown lineage event type %d", (int)type);
                return NULL;
        }
        if (!job_name || !*job_name) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                            "job name is empty");
                return NULL;
        }
        if (!floq_lineage_is_uuid(run_id)) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                            "run id '%s' is not a UUID",
                            run_id ? run_id : "(none)");
                return NULL;
        }
        if (!job_namespace || !*job_namespace)
                job_namespace = opts && opts->namespace_default &&
                                                *opts->namespace_default
                                        ? opts->namespace_default
                                        : FLOQ_LINEAGE_NAMESPACE_DEFAULT;
        if (opts && opts->producer && *opts->producer)
                producer = opts->producer;
        if (opts && opts->event_time_ms > 0)
                when = opts->event_time_ms;
        ev = event_skeleton(type, job_namespace, job_name, run_id, producer,
                            when ? when : floq_now_ms());
        if (!ev)
                goto nomem;
        arr = json_object_get(ev, "inputs");
        for (i = 0; i < input_cnt; i++)
                if (dataset_add(arr, inputs[i].namespace, inputs[i].name) < 0)
                        goto nomem;
        arr = json_object_get(ev, "outputs");
        for (i = 0; i < output_cnt; i++)
                if (dataset_add(arr, outputs[i].namespace, outputs[i].name) <
                    0)
                        goto nomem;
        return ev;
nomem:
        json_decref(ev);
        floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM, "out of memory");
        return NULL;
}

/* ------------------------------------------------------------------- key */

static char *job_key(const json_t *job) {
        const char *ns = str_field(job, "namespace");
        const char *name = str_field(job, "name");
        char *key = NULL;

        if (!ns || !name)
                return NULL;
        if (asprintf(&key, "run:%s/%s", ns, name) < 0)
                return NULL;
        return key;
}

char *floq_lineage_key(const json_t *event) {
        const json_t *parent = json_object_get(
                json_object_get(json_object_get(event, "run"), "facets"),
                "parent");
        char *key;

        /* root job, then parent job, then the event's own job: the order
         * of the OpenLineage Java KafkaTransport */
        if (parent) {
                if ((key = job_key(json_object_get(
                             json_object_get(parent, "root"), "job"))))
                        return key;
                if ((key = job_key(json_object_get(parent, "job"))))
                        return key;
        }
        return job_key(json_object_get(event, "job"));
}

floq_err_t floq_lineage_record_new(floq_lineage_event_type_t type,
                                   const json_t *deployment,
                                   const json_t *run_state,
                                   const floq_lineage_opts_t *opts,
                                   char **keyp, char **valuep, char *errstr,
                                   size_t errstr_size) {
        json_t *ev;
        char *key = NULL, *value = NULL;
        floq_err_t err;

        *keyp = NULL;
        *valuep = NULL;
        if (!(ev = event_build(type, deployment, run_state, opts, &err,
                               errstr, errstr_size)))
                return err;
        key = floq_lineage_key(ev);
        value = json_dumps(ev, JSON_COMPACT);
        json_decref(ev);
        if (!key || !value) {
                free(key);
                free(value);
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        }
        *keyp = key;
        *valuep = value;
        return FLOQ_OK;
}
