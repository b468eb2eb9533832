/*
 * backend_int.h - helpers shared by the backends in worker/backends/ and not
 * part of the worker's public interface: the `{param}` template language
 * every backend uses to put run parameters into its spec (process argv and
 * environment today; URLs and request bodies of the HTTP backends later),
 * and the small things every remote backend does alike (base URLs from the
 * config, secrets read from files, results, poll backoff). Implemented in
 * registry.c, next to the table of built-in backends.
 *
 * Template syntax: `{name}` is replaced by the run parameter `name`, where a
 * name is [A-Za-z_][A-Za-z0-9_.-]*; `{{` and `}}` stand for literal braces;
 * any other brace is an error. Substitution is textual and happens once: a
 * parameter value is never re-scanned, so `{x}` inside a value stays as is.
 */
#ifndef FLOQ_BACKEND_INT_H
#define FLOQ_BACKEND_INT_H

#include <stddef.h>

#include <jansson.h>

#include "backend.h"
#include "floq_common.h"

/** Longest placeholder name accepted. */
#define FLOQ_TPL_NAME_MAX 128

/**
 * Check the syntax of template @p tpl. On error errstr names the offending
 * character position, e.g. "unmatched '}' at offset 4".
 * @return FLOQ_OK or FLOQ_ERR_INVALID_ARG. Thread-safe.
 */
floq_err_t floq_tpl_check(const char *tpl, char *errstr, size_t errstr_size);

/**
 * Expand @p tpl with the values of @p params (an object; may be NULL when
 * the template has no placeholders). Strings are used verbatim (a value with
 * a NUL byte is refused), integers, reals and booleans as their JSON text.
 * @param outp  receives a malloc()ed string the caller frees
 * @return FLOQ_OK; FLOQ_ERR_INVALID_ARG with "missing parameter 'date'" when
 *         a placeholder has no parameter, or a syntax error; FLOQ_ERR_NOMEM.
 * Thread-safe; @p params is only read.
 */
floq_err_t floq_tpl_expand(const char *tpl, const json_t *params, char **outp,
                           char *errstr, size_t errstr_size);

/**
 * A copy of @p v (any JSON value) with every string in it expanded by
 * floq_tpl_expand() with @p params, objects and arrays recursively, other
 * values copied. NULL with @p errstr set on a template error.
 */
json_t *floq_tpl_expand_json(const json_t *v, const json_t *params,
                             char *errstr, size_t errstr_size);

/**
 * Overwrite the secret string @p s (a token, a password read from a
 * file) and free it; NULL is fine. Every backend frees its credentials
 * this way, so none stays readable in freed memory.
 */
void floq_secret_free(char *s);

/**
 * Read the secret in file @p path: its first line, trailing blanks and
 * the line end dropped, at most 8 KiB. @p what names the backend and
 * @p key the config property in the message ("kubernetes: cannot read
 * kubernetes.token.file '/x'"); the content never reaches a message.
 * @param secretp receives a malloc()ed string the caller frees with
 *                floq_secret_free(); NULL when @p path is NULL
 * @return FLOQ_OK, FLOQ_ERR_CONFIG (unreadable) or FLOQ_ERR_NOMEM.
 * Thread-safe. Backends call it at each request, so a rotated file is
 * picked up at once.
 */
floq_err_t floq_secret_read(const char *path, const char *what,
                            const char *key, char **secretp, char *errstr,
                            size_t errstr_size);

/**
 * Fill @p res (memset first) as a remote backend ends an attempt:
 * @p outcome, exit_code -1, backend_ref a copy of @p ref (may be NULL),
 * reason the printf-formatted text (NULL @p fmt: none). Allocation
 * failures leave the strings NULL.
 */
void floq_run_result_setf(floq_run_result_t *res, floq_outcome_t outcome,
                          const char *ref, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* ---- what every remote (HTTP) backend does the same way ---- */

/** Longest secret read from a file (a token, "user:password"). */
#define FLOQ_SECRET_MAX 8192

/**
 * The config string @p name as a malloc()ed base URL without its trailing
 * '/'s; NULL when unset, empty or out of memory. Thread-safe.
 */
char *floq_conf_url_dup(const floq_conf_t *conf, const char *name);

/** The config string @p name malloc()ed; NULL when unset or empty. */
char *floq_conf_str_dup(const floq_conf_t *conf, const char *name);

/**
 * The delay before the next poll of a remote run: @p poll_ms while the
 * server answers; while it has been unreachable since @p down_since (mono
 * ms, 0: reachable) the time it has been down, between one and eight
 * intervals, so a server that is down is not hammered and one back up is
 * seen soon.
 */
int64_t floq_poll_backoff_ms(int64_t poll_ms, int64_t down_since);

/** Milliseconds from now to @p deadline (mono ms), at least 1: the
 *  timeout of the next call of a sequence that shares one deadline. */
long floq_ms_left(int64_t deadline);

/**
 * The polling state of one remote attempt (a DAG run, a flow run, a
 * Dagster run), embedded in the backend's attempt: when the next poll is
 * due, since when the server has not answered, and the stop asked for.
 */
typedef struct floq_poller_s {
        int64_t poll_ms;           /**< interval while the server answers */
        int64_t next_poll;         /**< mono ms */
        int64_t unreachable_since; /**< mono ms, 0 when reachable */
        _Atomic int stop_why;      /**< -1 none, else floq_stop_why_t */
        int stop_seen;             /**< the stop was polled for at once */
        /* set by floq_poller_track() */
        void (*poll)(floq_backend_t *, floq_attempt_t *, int, int *,
                     floq_run_result_t *);
        void (*stop)(floq_backend_t *, floq_attempt_t *, int, int *,
                     floq_run_result_t *);
        const char *ref;           /**< floq_remote_ref() */
        const char *url;           /**< floq_remote_url(), NULL none */
        const char *what, *id;     /**< "flow run", its id: the drain */
} floq_poller_t;

/** Ready to poll at once, every @p poll_ms, no stop asked. */
void floq_poller_init(floq_poller_t *p, int64_t poll_ms);

/** A backend's stop(): record @p why; the first one wins. Any thread. */
void floq_poller_stop(floq_poller_t *p, floq_stop_why_t why);

/**
 * The stop() op of every remote backend whose attempt struct has its
 * floq_poller_t as first member: floq_poller_stop() on it. Any thread;
 * returns at once, FLOQ_OK.
 */
floq_err_t floq_remote_stop(floq_backend_t *be, floq_attempt_t *att,
                            floq_stop_why_t why);

/** The ref() op of those backends: the poller's ref, the backend's id
 *  of the remote run. */
const char *floq_remote_ref(floq_backend_t *be, floq_attempt_t *att);

/** The url() op of those backends: the poller's url (the run's page in
 *  the backend's UI), NULL when it has none. */
const char *floq_remote_url(floq_backend_t *be, floq_attempt_t *att);

/**
 * One poll of a remote attempt, or one step of its stop path: @p why is
 * the stop asked for (-1 none); set *@p donep and fill @p res when the
 * attempt is over.
 */
typedef void floq_poll_fn(floq_backend_t *be, floq_attempt_t *att, int why,
                          int *donep, floq_run_result_t *res);

/**
 * What an attempt's start() or attach() sets once it tracks a remote run:
 * its @p poll and @p stop steps, its reference @p ref and page @p url
 * (NULL: none; both must live as long as the attempt), and for the drain
 * reason "handed over (@p what @p id goes on)".
 */
void floq_poller_track(floq_poller_t *p, floq_poll_fn *poll,
                       floq_poll_fn *stop, const char *ref, const char *url,
                       const char *what, const char *id);

/**
 * The wait() op of the remote backends (attempt struct with its
 * floq_poller_t first, set up by floq_poller_track()): whenever a poll is
 * due (at once when a stop comes) call the stop step when a stop is asked
 * for, else the poll, until one sets done (then FLOQ_OK, @p res filled)
 * or @p wait_ms pass (FLOQ_ERR_TIMED_OUT). A drain (FLOQ_STOP_DRAIN) ends
 * the attempt ABANDONED, backend_ref the poller's ref: the remote run goes
 * on and the next owner re-attaches to it. Between polls it sleeps in
 * slices of at most 50 ms, so a stop is acted on promptly; while
 * p->unreachable_since is set (the poll sets it) the interval grows as
 * floq_poll_backoff_ms() says. The attempt's thread only.
 */
floq_err_t floq_remote_wait(floq_backend_t *be, floq_attempt_t *att,
                            int wait_ms, floq_run_result_t *res);

#endif /* FLOQ_BACKEND_INT_H */
