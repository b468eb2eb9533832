/*
 * registry.c - the table of built-in backends the worker looks deployments'
 * backend names up in (one line per backend: adding one is a new file in
 * worker/backends/ and a line here), and the `{param}` template helpers of
 * backend_int.h that every backend shares so parameters mean the same thing
 * whichever backend runs a job, with the few helpers every remote backend
 * needs alike (config URLs, secret files, results, poll backoff).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "backend_int.h"

const floq_backend_ops_t *const floq_backends[] = {
        &floq_backend_process,
        &floq_backend_http,
        &floq_backend_airflow,
        &floq_backend_prefect,
        &floq_backend_kubernetes,
        &floq_backend_dagster,
        &floq_backend_noop,
        NULL,
};

const floq_backend_ops_t *floq_backend_find(const char *name) {
        size_t i;

        if (!name)
                return NULL;
        for (i = 0; floq_backends[i]; i++)
                if (!strcmp(floq_backends[i]->name, name))
                        return floq_backends[i];
        return NULL;
}

void floq_secret_free(char *s) {
        if (s) {
                memset(s, 0, strlen(s));
                free(s);
        }
}

char *floq_conf_url_dup(const floq_conf_t *conf, const char *name) {
        char *s = floq_conf_str_dup(conf, name);
        size_t n;

        if (!s)
                return NULL;
        n = strlen(s);
        while (n && s[n - 1] == '/')
                s[--n] = '\0';
        if (!n) {
                free(s);
                return NULL;
        }
        return s;
}

char *floq_conf_str_dup(const floq_conf_t *conf, const char *name) {
        const char *v = floq_conf_str(conf, name);

        return v && *v ? strdup(v) : NULL;
}

int64_t floq_poll_backoff_ms(int64_t poll_ms, int64_t down_since) {
        int64_t down;

        if (!down_since)
                return poll_ms;
        down = floq_mono_ms() - down_since;
        if (down < poll_ms)
                return poll_ms;
        return down < poll_ms * 8 ? down : poll_ms * 8;
}

void floq_poller_init(floq_poller_t *p, int64_t poll_ms) {
        p->poll_ms = poll_ms;
        p->next_poll = floq_mono_ms();
        p->unreachable_since = 0;
        p->stop_seen = 0;
        p->poll = p->stop = NULL;
        p->ref = p->url = p->what = p->id = NULL;
        atomic_store(&p->stop_why, -1);
}

void floq_poller_stop(floq_poller_t *p, floq_stop_why_t why) {
        int none = -1;

        atomic_compare_exchange_strong(&p->stop_why, &none, (int)why);
}

floq_err_t floq_remote_stop(floq_backend_t *be, floq_attempt_t *att,
                            floq_stop_why_t why) {
        (void)be;
        floq_poller_stop((floq_poller_t *)(void *)att, why);
        return FLOQ_OK;
}

const char *floq_remote_ref(floq_backend_t *be, floq_attempt_t *att) {
        (void)be;
        return ((floq_poller_t *)(void *)att)->ref;
}

const char *floq_remote_url(floq_backend_t *be, floq_attempt_t *att) {
        (void)be;
        return ((floq_poller_t *)(void *)att)->url;
}

void floq_poller_track(floq_poller_t *p, floq_poll_fn *poll,
                       floq_poll_fn *stop, const char *ref, const char *url,
                       const char *what, const char *id) {
        p->poll = poll;
        p->stop = stop;
        p->ref = ref;
        p->url = url;
        p->what = what;
        p->id = id;
}

floq_err_t floq_remote_wait(floq_backend_t *be, floq_attempt_t *att,
                            int wait_ms, floq_run_result_t *res) {
        floq_poller_t *p = (floq_poller_t *)(void *)att;
        int64_t deadline = floq_mono_ms() + (wait_ms > 0 ? wait_ms : 0);
        int64_t now, left;

        for (;;) {
                int why = atomic_load(&p->stop_why), done = 0;

                now = floq_mono_ms();
                if (why >= 0 && !p->stop_seen) {
                        p->stop_seen = 1;
                        p->next_poll = now; /* act on a stop at once */
                }
                if (now >= p->next_poll) {
                        if (why == FLOQ_STOP_DRAIN) {
                                floq_run_result_setf(res,
                                                     FLOQ_OUTCOME_ABANDONED,
                                                     p->ref,
                                                     "handed over (%s %s "
                                                     "goes on)",
                                                     p->what, p->id);
                                return FLOQ_OK;
                        }
                        (why >= 0 ? p->stop : p->poll)(be, att, why, &done,
                                                       res);
                        if (done)
                                return FLOQ_OK;
                        p->next_poll = floq_mono_ms() +
                                       floq_poll_backoff_ms(
                                               p->poll_ms,
                                               p->unreachable_since);
                        continue;
                }
                if (now >= deadline)
                        return FLOQ_ERR_TIMED_OUT;
                left = (p->next_poll < deadline ? p->next_poll : deadline) -
                       now;
                floq_sleep_ms(left < 50 ? left : 50);
        }
}

/* ------------------------------------------------------------ templates */

static int tpl_name_first(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int tpl_name_char(char c) {
        return tpl_name_first(c) || (c >= '0' && c <= '9') || c == '.' ||
               c == '-';
}

/*
 * Parse the placeholder starting at tpl[i] == '{' (not "{{"). On success
 * *namelen is the length of the name at tpl + i + 1 and the placeholder
 * spans namelen + 2 characters.
 */
static floq_err_t tpl_placeholder(const char *tpl, size_t i, size_t *namelen,
                                  char *errstr, size_t errstr_size) {
        size_t n = 0;

        if (!tpl_name_first(tpl[i + 1]))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "invalid placeholder at offset %zu: "
                                   "expected a name after '{' (write '{{' "
                                   "for a literal brace)",
                                   i);
        while (tpl_name_char(tpl[i + 1 + n]))
                n++;
        if (tpl[i + 1 + n] != '}')
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "invalid placeholder at offset %zu: "
                                   "names are [A-Za-z_][A-Za-z0-9_.-]* and "
                                   "end with '}'",
                                   i);
        if (n > FLOQ_TPL_NAME_MAX)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "placeholder name at offset %zu is longer "
                                   "than %d characters",
                                   i, FLOQ_TPL_NAME_MAX);
        *namelen = n;
        return FLOQ_OK;
}

floq_err_t floq_tpl_check(const char *tpl, char *errstr, size_t errstr_size) {
        size_t i = 0, n = 0;
        floq_err_t err;

        if (!tpl)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "template is NULL");
        while (tpl[i]) {
                if (tpl[i] == '{' && tpl[i + 1] == '{') {
                        i += 2;
                } else if (tpl[i] == '}' && tpl[i + 1] == '}') {
                        i += 2;
                } else if (tpl[i] == '}') {
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_INVALID_ARG,
                                           "unmatched '}' at offset %zu "
                                           "(write '}}' for a literal brace)",
                                           i);
                } else if (tpl[i] == '{') {
                        if ((err = tpl_placeholder(tpl, i, &n, errstr,
                                                   errstr_size)))
                                return err;
                        i += n + 2;
                } else {
                        i++;
                }
        }
        return FLOQ_OK;
}

/* A growable string: the expansion's output. */
typedef struct tpl_buf_s {
        char *p;
        size_t len, cap;
} tpl_buf_t;

static int tpl_put(tpl_buf_t *b, const char *s, size_t n) {
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 64;
                char *np;

                while (cap < b->len + n + 1)
                        cap *= 2;
                if (!(np = realloc(b->p, cap)))
                        return -1;
                b->p = np;
                b->cap = cap;
        }
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
        return 0;
}

/* Append the text of parameter @p name (namelen bytes) to @p b. */
static floq_err_t tpl_put_param(tpl_buf_t *b, const json_t *params,
                                const char *name, size_t namelen,
                                char *errstr, size_t errstr_size) {
        char key[FLOQ_TPL_NAME_MAX + 1], num[64];
        const json_t *v;
        const char *s;
        size_t n;

        memcpy(key, name, namelen);
        key[namelen] = '\0';
        v = json_is_object(params) ? json_object_get(params, key) : NULL;
        if (!v)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "missing parameter '%s'", key);
        switch (json_typeof(v)) {
        case JSON_STRING:
                s = json_string_value(v);
                n = json_string_length(v);
                if (memchr(s, '\0', n))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_INVALID_ARG,
                                           "parameter '%s' contains a NUL "
                                           "byte",
                                           key);
                break;
        case JSON_INTEGER:
                snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                         json_integer_value(v));
                s = num;
                n = strlen(num);
                break;
        case JSON_REAL:
                snprintf(num, sizeof(num), "%.17g", json_real_value(v));
                s = num;
                n = strlen(num);
                break;
        case JSON_TRUE:
                s = "true";
                n = 4;
                break;
        case JSON_FALSE:
                s = "false";
                n = 5;
                break;
        default:
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "parameter '%s' must be a string", key);
        }
        if (tpl_put(b, s, n))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        return FLOQ_OK;
}

floq_err_t floq_tpl_expand(const char *tpl, const json_t *params, char **outp,
                           char *errstr, size_t errstr_size) {
        tpl_buf_t b = { NULL, 0, 0 };
        floq_err_t err = FLOQ_OK;
        size_t i = 0, lit, n = 0;

        *outp = NULL;
        if ((err = floq_tpl_check(tpl, errstr, errstr_size)))
                return err;
        if (tpl_put(&b, "", 0)) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                  "out of memory");
                goto out;
        }
        while (tpl[i]) {
                /* Copy the run of plain characters in one go. */
                lit = strcspn(tpl + i, "{}");
                if (lit) {
                        if (tpl_put(&b, tpl + i, lit)) {
                                err = floq_seterr(errstr, errstr_size,
                                                  FLOQ_ERR_NOMEM,
                                                  "out of memory");
                                goto out;
                        }
                        i += lit;
                        continue;
                }
                if (tpl[i + 1] == tpl[i]) { /* "{{" or "}}" */
                        if (tpl_put(&b, tpl + i, 1)) {
                                err = floq_seterr(errstr, errstr_size,
                                                  FLOQ_ERR_NOMEM,
                                                  "out of memory");
                                goto out;
                        }
                        i += 2;
                        continue;
                }
                /* A '{' placeholder: syntax was checked above. */
                if ((err = tpl_placeholder(tpl, i, &n, errstr, errstr_size)))
                        goto out;
                if ((err = tpl_put_param(&b, params, tpl + i + 1, n, errstr,
                                         errstr_size)))
                        goto out;
                i += n + 2;
        }
        *outp = b.p;
        b.p = NULL;
out:
        free(b.p);
        return err;
}

json_t *floq_tpl_expand_json(const json_t *v, const json_t *params,
                             char *errstr, size_t errstr_size) {
        const char *k;
        const json_t *x;
        json_t *out = NULL, *y;
        char *s = NULL;
        size_t i;

        if (json_is_string(v)) {
                if (floq_tpl_expand(json_string_value(v), params, &s, errstr,
                                    errstr_size))
                        return NULL;
                out = json_string(s);
                free(s);
                return out;
        }
        if (json_is_object(v)) {
                out = json_object();
                json_object_foreach((json_t *)v, k, x) {
                        if (!(y = floq_tpl_expand_json(x, params, errstr,
                                                       errstr_size)) ||
                            json_object_set_new(out, k, y)) {
                                json_decref(out);
                                return NULL;
                        }
                }
                return out;
        }
        if (json_is_array(v)) {
                out = json_array();
                json_array_foreach(v, i, x) {
                        if (!(y = floq_tpl_expand_json(x, params, errstr,
                                                       errstr_size)) ||
                            json_array_append_new(out, y)) {
                                json_decref(out);
                                return NULL;
                        }
                }
                return out;
        }
        return json_deep_copy(v);
}

/* ------------------------------------- helpers of the remote backends */

floq_err_t floq_secret_read(const char *path, const char *what,
                            const char *key, char **secretp, char *errstr,
                            size_t errstr_size) {
        char *buf = NULL;
        size_t len;
        FILE *f;

        *secretp = NULL;
        if (!path)
                return FLOQ_OK;
        if (!(f = fopen(path, "re")))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "%s: cannot read %s '%s'", what, key,
                                   path);
        if (!(buf = calloc(1, FLOQ_SECRET_MAX + 1))) {
                fclose(f);
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        }
        len = fread(buf, 1, FLOQ_SECRET_MAX, f);
        fclose(f);
        buf[len] = '\0';
        len = strcspn(buf, "\r\n");
        while (len && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
                len--;
        memset(buf + len, 0, FLOQ_SECRET_MAX + 1 - len);
        *secretp = buf;
        return FLOQ_OK;
}

void floq_run_result_setf(floq_run_result_t *res, floq_outcome_t outcome,
                          const char *ref, const char *fmt, ...) {
        char text[1200];
        va_list ap;

        memset(res, 0, sizeof(*res));
        res->outcome = outcome;
        res->exit_code = -1;
        res->backend_ref = ref ? strdup(ref) : NULL;
        if (!fmt)
                return;
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        res->reason = strdup(text);
}

long floq_ms_left(int64_t deadline) {
        int64_t left = deadline - floq_mono_ms();

        return left > 0 ? (long)left : 1;
}
