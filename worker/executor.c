/*
 * executor.c - the bounded pool that runs attempts off the worker's poll
 * loop. Each submitted attempt gets a job record and a thread of the pool
 * (at most `concurrency` threads, created when first needed and kept until
 * the executor is destroyed, so no thread is created or joined per
 * attempt); the thread starts the attempt through its backend, blocks in wait() in slices of at
 * most 200 ms (so timeouts are enforced with stop(FLOQ_STOP_TIMEOUT) and the
 * backend keeps waiting for the outcome), and queues STARTED and FINISHED
 * events the core takes with floq_executor_next_event(). A takeover of a
 * remote run submits a request with attach_ref: its thread re-attaches
 * (job_attach(), the backend's attach() retried with backoff up to its
 * unreachable bound) where it would have called start(), and the rest is
 * the same.
 *
 * A job occupies its slot, and its run_id stays "live", from submit() until
 * the core has taken its FINISHED event: the core always learns the outcome
 * before the same run can be started again, so two attempts of one run never
 * overlap. The FINISHED event is the thread's last touch of the job: the
 * core frees the job when it takes it, and the thread takes the next one.
 *
 * The thread that calls start() is also the one that waits for and destroys
 * the attempt, and it lives until the executor is destroyed, so it outlives
 * any child process the backend started: the process backend's
 * PR_SET_PDEATHSIG is tied to the starting thread and would otherwise kill
 * the job when a short-lived thread exited.
 *
 * Locking: one mutex guards the job list and the event queue. Backend calls
 * are never made under it; stop() from another thread pins the attempt
 * (stops_inflight) so the job's thread cannot destroy it meanwhile.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "executor.h"
#include "prog_int.h"

/* Longest single wait() call: bounds how late a timeout is noticed. */
#define EXEC_WAIT_SLICE_MS 200

/* Re-attach: backoff between tries of a retriable attach() error, and the
 * bound when the backend sets no unreachable_ms. */
#define EXEC_ATTACH_BACKOFF_MIN_MS 200
#define EXEC_ATTACH_BACKOFF_MAX_MS 5000
#define EXEC_ATTACH_BOUND_MS       300000

typedef struct exec_job_s {
        struct exec_job_s *next;
        floq_executor_t *ex;
        floq_backend_t *be;
        /* The deep copy of the request. */
        char run_id[37];
        char *deployment;
        json_t *spec;
        json_t *params;
        int attempt;
        int64_t timeout_ms;
        int64_t scheduled_for;
        char *attach_ref;     /* re-attach instead of start(); NULL: start */
        void *opaque;

        struct exec_job_s *pending_next; /* ex->pending, until a thread
                                          * takes it */
        floq_attempt_t *att;  /* set while the attempt exists */
        int stop_requested;   /* a stop (or the timeout) was asked for */
        floq_stop_why_t why;
        int stops_inflight;   /* other threads inside ops->stop(att) */
        int finished;         /* FINISHED event queued */
} exec_job_t;

typedef struct exec_event_node_s {
        struct exec_event_node_s *next;
        exec_job_t *job; /* FINISHED: the job to retire when taken */
        floq_exec_event_t ev;
} exec_event_node_t;

struct floq_executor_s {
        pthread_mutex_t lock;
        pthread_cond_t cond; /* events queued; stops_inflight dropped */
        int concurrency;
        int wakeup_fd;
        /* called whenever an event is queued (floq_executor_set_notify) */
        void (*notify)(void *opaque);
        void *notify_opaque;
        exec_job_t *jobs;
        int job_cnt;
        exec_event_node_t *ev_head, *ev_tail;
        /* The pool: threads[thread_cnt], thread_idle of them not running
         * a job (waiting on work_cond for one of the pending FIFO); a
         * submit adds a thread unless an idle one is left for its job
         * (thread_idle > pending_cnt), so no job waits for another; quit
         * ends them. */
        pthread_t *threads;
        int thread_cnt, thread_idle, quit;
        int pending_cnt; /* jobs in pending */
        pthread_cond_t work_cond;
        exec_job_t *pending, *pending_tail;
};

/* ------------------------------------------------------------- results */

const char *floq_outcome_name(floq_outcome_t o) {
        switch (o) {
        case FLOQ_OUTCOME_SUCCEEDED:
                return "SUCCEEDED";
        case FLOQ_OUTCOME_FAILED:
                return "FAILED";
        case FLOQ_OUTCOME_CANCELLED:
                return "CANCELLED";
        case FLOQ_OUTCOME_TIMED_OUT:
                return "TIMED_OUT";
        case FLOQ_OUTCOME_ABANDONED:
                return "ABANDONED";
        case FLOQ_OUTCOME_LOST:
                return "LOST";
        }
        return "UNKNOWN";
}

void floq_run_result_release(floq_run_result_t *res) {
        if (!res)
                return;
        free(res->reason);
        free(res->output_tail);
        free(res->backend_ref);
        res->reason = res->output_tail = res->backend_ref = NULL;
}

void floq_exec_event_release(floq_exec_event_t *ev) {
        if (!ev)
                return;
        free(ev->backend_ref);
        free(ev->backend_url);
        ev->backend_ref = ev->backend_url = NULL;
        floq_run_result_release(&ev->result);
}

/* ------------------------------------------------------------- helpers */

static void job_free(exec_job_t *job) {
        if (!job)
                return;
        free(job->deployment);
        free(job->attach_ref);
        json_decref(job->spec);
        json_decref(job->params);
        free(job);
}

static exec_job_t *job_find(floq_executor_t *ex, const char *run_id) {
        exec_job_t *job;

        for (job = ex->jobs; job; job = job->next)
                if (!strcmp(job->run_id, run_id))
                        return job;
        return NULL;
}

static void job_unlink(floq_executor_t *ex, exec_job_t *job) {
        exec_job_t **pp;

        for (pp = &ex->jobs; *pp; pp = &(*pp)->next) {
                if (*pp == job) {
                        *pp = job->next;
                        ex->job_cnt--;
                        return;
                }
        }
}

static void wakeup(floq_executor_t *ex) {
        ssize_t r;

        if (ex->wakeup_fd < 0)
                return;
        /* A full pipe already wakes the reader: EAGAIN is fine. */
        do
                r = write(ex->wakeup_fd, "e", 1);
        while (r == -1 && errno == EINTR);
}

/* Queue @p node (takes ownership); called without the lock. */
static void enqueue(floq_executor_t *ex, exec_event_node_t *node) {
        pthread_mutex_lock(&ex->lock);
        node->next = NULL;
        if (ex->ev_tail)
                ex->ev_tail->next = node;
        else
                ex->ev_head = node;
        ex->ev_tail = node;
        if (node->ev.type == FLOQ_EXEC_FINISHED)
                node->job->finished = 1;
        pthread_cond_broadcast(&ex->cond);
        /* Under the lock: once set_notify() changed it, the old one is
         * never running; and the wakeup byte is written before the core
         * can take the event (a FINISHED job's thread does not touch the
         * executor after it). */
        if (ex->notify)
                ex->notify(ex->notify_opaque);
        wakeup(ex);
        pthread_mutex_unlock(&ex->lock);
}

static exec_event_node_t *event_new(exec_job_t *job,
                                    floq_exec_event_type_t type) {
        exec_event_node_t *node = calloc(1, sizeof(*node));

        if (!node)
                return NULL;
        node->job = job;
        node->ev.type = type;
        memcpy(node->ev.run_id, job->run_id, sizeof(job->run_id));
        node->ev.attempt = job->attempt;
        node->ev.opaque = job->opaque;
        node->ev.backend = job->be->ops->name;
        node->ev.result.exit_code = -1;
        return node;
}

/* The outcome a stop reason produces when the attempt never started. */
static floq_outcome_t stop_outcome(floq_stop_why_t why) {
        switch (why) {
        case FLOQ_STOP_CANCEL:
                return FLOQ_OUTCOME_CANCELLED;
        case FLOQ_STOP_TIMEOUT:
                return FLOQ_OUTCOME_TIMED_OUT;
        case FLOQ_STOP_DRAIN:
                break;
        }
        return FLOQ_OUTCOME_ABANDONED;
}

/*
 * Record a stop of @p job and, when its attempt exists, forward it to the
 * backend outside the lock. Caller holds ex->lock; it is held again on
 * return. Returns 0 when the job had already been asked to stop.
 */
static int job_request_stop(floq_executor_t *ex, exec_job_t *job,
                            floq_stop_why_t why) {
        floq_attempt_t *att;

        if (job->stop_requested)
                return 0;
        job->stop_requested = 1;
        job->why = why;
        if (!(att = job->att))
                return 1; /* the thread stops it once started */
        job->stops_inflight++;
        pthread_mutex_unlock(&ex->lock);
        job->be->ops->stop(job->be, att, why);
        pthread_mutex_lock(&ex->lock);
        job->stops_inflight--;
        pthread_cond_broadcast(&ex->cond);
        return 1;
}

/* ---------------------------------------------------------- the thread */

/* The result of a re-attach that did not attach: @p outcome, the reason,
 * and the stored reference kept as the result's. */
static void attach_result(exec_job_t *job, floq_run_result_t *res,
                          floq_outcome_t outcome, const char *reason) {
        res->outcome = outcome;
        res->reason = strdup(reason);
        res->backend_ref = strdup(job->attach_ref);
}

/*
 * Re-attach @p job to the remote run job->attach_ref names: attach()
 * again with backoff while its error is retriable, for at most the
 * backend's unreachable bound, and not after a stop was asked for.
 * FLOQ_OK with *attp set; else @p res is filled: FAILED when the remote
 * run is gone (FLOQ_ERR_NOT_FOUND: the retry policy decides), the stop's
 * outcome, or LOST (nothing says the remote run ended, so never retried).
 * Runs on the job's thread; takes ex->lock only to read the stop flag.
 */
static floq_err_t job_attach(floq_executor_t *ex, exec_job_t *job,
                             const floq_run_req_t *req, floq_attempt_t **attp,
                             floq_run_result_t *res) {
        const floq_backend_ops_t *ops = job->be->ops;
        int64_t bound = job->be->unreachable_ms > 0 ? job->be->unreachable_ms
                                                    : EXEC_ATTACH_BOUND_MS;
        int64_t since = floq_mono_ms(), backoff = EXEC_ATTACH_BACKOFF_MIN_MS;
        char errstr[512], why[800];
        floq_err_t err;

        for (;;) {
                int64_t elapsed, until;

                errstr[0] = '\0';
                if (!ops->attach) {
                        snprintf(why, sizeof(why),
                                 "backend '%s' cannot re-attach to remote "
                                 "run %s: it may still run",
                                 ops->name, job->attach_ref);
                        attach_result(job, res, FLOQ_OUTCOME_LOST, why);
                        return FLOQ_ERR_UNSUPPORTED;
                }
                err = ops->attach(job->be, req, job->attach_ref, attp,
                                  errstr, sizeof(errstr));
                if (!err)
                        return FLOQ_OK;
                if (!errstr[0])
                        snprintf(errstr, sizeof(errstr), "%s",
                                 floq_err2str(err));
                if (err == FLOQ_ERR_NOT_FOUND) {
                        snprintf(why, sizeof(why),
                                 "remote run %s is gone: %s",
                                 job->attach_ref, errstr);
                        attach_result(job, res, FLOQ_OUTCOME_FAILED, why);
                        return err;
                }
                elapsed = floq_mono_ms() - since;
                if (!floq_err_is_retriable(err) || elapsed >= bound) {
                        snprintf(why, sizeof(why),
                                 "cannot re-attach to remote run %s "
                                 "(tried for %lld ms, bound %lld ms): %s: "
                                 "it may still run",
                                 job->attach_ref, (long long)elapsed,
                                 (long long)bound, errstr);
                        attach_result(job, res, FLOQ_OUTCOME_LOST, why);
                        return err;
                }
                until = floq_mono_ms() +
                        (backoff < bound - elapsed ? backoff : bound - elapsed);
                for (;;) {
                        int64_t now = floq_mono_ms();
                        int pending;
                        floq_stop_why_t stop_why;

                        pthread_mutex_lock(&ex->lock);
                        pending = job->stop_requested;
                        stop_why = job->why;
                        pthread_mutex_unlock(&ex->lock);
                        if (pending) {
                                snprintf(why, sizeof(why),
                                         "stopped while re-attaching to "
                                         "remote run %s (%s): it may still "
                                         "run",
                                         job->attach_ref, errstr);
                                attach_result(job, res,
                                              stop_outcome(stop_why), why);
                                return FLOQ_ERR_STATE;
                        }
                        if (now >= until)
                                break;
                        floq_sleep_ms(until - now < 50 ? until - now : 50);
                }
                backoff = backoff * 2 < EXEC_ATTACH_BACKOFF_MAX_MS
                                  ? backoff * 2
                                  : EXEC_ATTACH_BACKOFF_MAX_MS;
        }
}

static void job_run(exec_job_t *job) {
        floq_executor_t *ex = job->ex;
        const floq_backend_ops_t *ops = job->be->ops;
        floq_run_req_t req = {
                .run_id = job->run_id,
                .deployment = job->deployment,
                .attempt = job->attempt,
                .spec = job->spec,
                .params = job->params,
                .timeout_ms = job->timeout_ms,
                .scheduled_for = job->scheduled_for,
                .attach_ref = job->attach_ref,
        };
        exec_event_node_t *started = event_new(job, FLOQ_EXEC_STARTED);
        exec_event_node_t *finished = event_new(job, FLOQ_EXEC_FINISHED);
        floq_run_result_t *res;
        floq_attempt_t *att = NULL;
        char errstr[512];
        int64_t deadline = 0;
        int timed_out = 0, pending;
        floq_stop_why_t why;
        floq_err_t err;

        if (!started || !finished) {
                /* Without memory for the events the core could never learn
                 * of this attempt: keep trying to allocate. */
                while (!finished) {
                        struct timespec ts = { 0, 10 * 1000 * 1000 };

                        nanosleep(&ts, NULL);
                        finished = event_new(job, FLOQ_EXEC_FINISHED);
                }
                free(started);
                started = NULL;
                finished->ev.result.outcome = FLOQ_OUTCOME_FAILED;
                goto done;
        }
        res = &finished->ev.result;

        pthread_mutex_lock(&ex->lock);
        pending = job->stop_requested;
        why = job->why;
        pthread_mutex_unlock(&ex->lock);
        if (pending) {
                /* Stopped before it started: it never runs. */
                res->outcome = stop_outcome(why);
                res->reason = strdup("stopped before it started");
                free(started);
                goto done;
        }

        errstr[0] = '\0';
        if (job->attach_ref) {
                /* A takeover: the remote run goes on, never a second. */
                err = job_attach(ex, job, &req, &att, res);
        } else if ((err = ops->start(job->be, &req, &att, errstr,
                                     sizeof(errstr)))) {
                res->outcome = FLOQ_OUTCOME_FAILED;
                res->reason = strdup(errstr[0] ? errstr : floq_err2str(err));
        }
        if (err) {
                free(started);
                goto done;
        }
        if (job->timeout_ms > 0)
                deadline = floq_mono_ms() + job->timeout_ms;

        {
                const char *ref = ops->ref ? ops->ref(job->be, att) : NULL;

                const char *url = ops->url ? ops->url(job->be, att) : NULL;

                if (ref)
                        started->ev.backend_ref = strdup(ref);
                if (url)
                        started->ev.backend_url = strdup(url);
        }
        enqueue(ex, started);
        started = NULL;

        pthread_mutex_lock(&ex->lock);
        job->att = att;
        pending = job->stop_requested;
        why = job->why;
        pthread_mutex_unlock(&ex->lock);
        if (pending) /* asked while start() ran */
                ops->stop(job->be, att, why);

        for (;;) {
                int slice = EXEC_WAIT_SLICE_MS;

                if (deadline && !timed_out) {
                        int64_t left = deadline - floq_mono_ms();

                        if (left <= 0) {
                                timed_out = 1;
                                pthread_mutex_lock(&ex->lock);
                                job_request_stop(ex, job, FLOQ_STOP_TIMEOUT);
                                pthread_mutex_unlock(&ex->lock);
                        } else if (left < slice) {
                                slice = (int)left;
                        }
                }
                err = ops->wait(job->be, att, slice, res);
                if (err == FLOQ_OK)
                        break;
                if (err != FLOQ_ERR_TIMED_OUT) {
                        floq_run_result_release(res);
                        memset(res, 0, sizeof(*res));
                        res->outcome = FLOQ_OUTCOME_FAILED;
                        res->exit_code = -1;
                        snprintf(errstr, sizeof(errstr),
                                 "backend wait failed: %s",
                                 floq_err2str(err));
                        res->reason = strdup(errstr);
                        break;
                }
        }
        if (!res->backend_ref && ops->ref) {
                const char *ref = ops->ref(job->be, att);

                if (ref)
                        res->backend_ref = strdup(ref);
        }

        /* Unpin: nobody may be inside stop() when the attempt goes. */
        pthread_mutex_lock(&ex->lock);
        job->att = NULL;
        while (job->stops_inflight > 0)
                pthread_cond_wait(&ex->cond, &ex->lock);
        pthread_mutex_unlock(&ex->lock);
        ops->attempt_destroy(job->be, att);

done:
        /* The job must not be touched after this: the core may retire it
         * (and free it) as soon as the event is queued. */
        enqueue(ex, finished);
}

/* A pool thread: runs pending jobs one after the other until quit and
 * none is left. */
static void *pool_main(void *arg) {
        floq_executor_t *ex = arg;
        exec_job_t *job;

        pthread_mutex_lock(&ex->lock);
        for (;;) {
                while (!ex->pending && !ex->quit)
                        pthread_cond_wait(&ex->work_cond, &ex->lock);
                if (!(job = ex->pending))
                        break; /* quit, nothing left */
                if (!(ex->pending = job->pending_next))
                        ex->pending_tail = NULL;
                ex->pending_cnt--;
                ex->thread_idle--;
                pthread_mutex_unlock(&ex->lock);
                job_run(job);
                pthread_mutex_lock(&ex->lock);
                ex->thread_idle++;
        }
        pthread_mutex_unlock(&ex->lock);
        return NULL;
}

/* ----------------------------------------------------------------- API */

void floq_executor_set_notify(floq_executor_t *ex, void (*fn)(void *opaque),
                              void *opaque) {
        pthread_mutex_lock(&ex->lock);
        ex->notify = fn;
        ex->notify_opaque = opaque;
        pthread_mutex_unlock(&ex->lock);
}

floq_executor_t *floq_executor_new(int concurrency, int wakeup_fd,
                                   char *errstr, size_t errstr_size) {
        floq_executor_t *ex;
        pthread_condattr_t ca;

        if (concurrency < 1) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                            "concurrency must be at least 1 (got %d)",
                            concurrency);
                return NULL;
        }
        if (!(ex = calloc(1, sizeof(*ex)))) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                return NULL;
        }
        ex->concurrency = concurrency;
        ex->wakeup_fd = wakeup_fd;
        if (!(ex->threads = calloc((size_t)concurrency,
                                   sizeof(*ex->threads)))) {
                free(ex);
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                return NULL;
        }
        pthread_mutex_init(&ex->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&ex->cond, &ca);
        pthread_condattr_destroy(&ca);
        pthread_cond_init(&ex->work_cond, NULL);
        return ex;
}

void floq_executor_destroy(floq_executor_t *ex) {
        exec_event_node_t *node;
        exec_job_t *job;
        int i;

        if (!ex)
                return;
        floq_executor_stop_all(ex, FLOQ_STOP_DRAIN);
        /* Each thread ends once it ran what is pending and its backends
         * reported the outcomes. */
        pthread_mutex_lock(&ex->lock);
        ex->quit = 1;
        pthread_cond_broadcast(&ex->work_cond);
        pthread_mutex_unlock(&ex->lock);
        for (i = 0; i < ex->thread_cnt; i++)
                pthread_join(ex->threads[i], NULL);
        free(ex->threads);
        while ((job = ex->jobs)) {
                ex->jobs = job->next;
                job_free(job);
        }
        while ((node = ex->ev_head)) {
                ex->ev_head = node->next;
                floq_exec_event_release(&node->ev);
                free(node);
        }
        pthread_cond_destroy(&ex->work_cond);
        pthread_cond_destroy(&ex->cond);
        pthread_mutex_destroy(&ex->lock);
        free(ex);
}

floq_err_t floq_executor_submit(floq_executor_t *ex, floq_backend_t *be,
                                const floq_run_req_t *req, void *opaque,
                                char *errstr, size_t errstr_size) {
        exec_job_t *job = NULL;
        floq_err_t err = FLOQ_OK;
        sigset_t all, old;
        int rc;

        if (!ex || !be || !req || !req->run_id)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "executor, backend, request and run_id "
                                   "are required");
        if (strlen(req->run_id) >= sizeof(job->run_id) || !req->run_id[0])
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "run_id '%.64s' is not a UUID",
                                   req->run_id);

        if (!(job = calloc(1, sizeof(*job))) ||
            (req->deployment && !(job->deployment = strdup(req->deployment))) ||
            (req->spec && !(job->spec = json_deep_copy(req->spec))) ||
            (req->params && !(job->params = json_deep_copy(req->params))) ||
            (req->attach_ref && !(job->attach_ref = strdup(req->attach_ref)))) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                  "out of memory");
                goto out;
        }
        job->ex = ex;
        job->be = be;
        strcpy(job->run_id, req->run_id);
        job->attempt = req->attempt;
        job->timeout_ms = req->timeout_ms;
        job->scheduled_for = req->scheduled_for;
        job->opaque = opaque;

        pthread_mutex_lock(&ex->lock);
        if (job_find(ex, req->run_id)) {
                pthread_mutex_unlock(&ex->lock);
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_STATE,
                                  "run '%s' already has a live attempt",
                                  req->run_id);
                goto out;
        }
        if (ex->job_cnt >= ex->concurrency) {
                pthread_mutex_unlock(&ex->lock);
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_STATE,
                                  "executor is full (%d attempts running)",
                                  ex->concurrency);
                goto out;
        }
        /* A thread for it: an idle one of the pool, or a new one (at most
         * concurrency, as jobs are). Executor threads take no signals:
         * process signals go to the worker's main thread, and SIGPIPE
         * becomes EPIPE here. */
        if (ex->thread_idle <= ex->pending_cnt &&
            ex->thread_cnt < ex->concurrency) {
                floq_sigset_thread(&all);
                pthread_sigmask(SIG_SETMASK, &all, &old);
                rc = pthread_create(&ex->threads[ex->thread_cnt], NULL,
                                    pool_main, ex);
                pthread_sigmask(SIG_SETMASK, &old, NULL);
                if (rc) {
                        pthread_mutex_unlock(&ex->lock);
                        err = floq_seterr(errstr, errstr_size,
                                          FLOQ_ERR_NOMEM,
                                          "cannot create a thread: %s",
                                          strerror(rc));
                        goto out;
                }
                ex->thread_cnt++;
                ex->thread_idle++;
        }
        job->pending_next = NULL;
        if (ex->pending_tail)
                ex->pending_tail->pending_next = job;
        else
                ex->pending = job;
        ex->pending_tail = job;
        ex->pending_cnt++;
        pthread_cond_signal(&ex->work_cond);
        job->next = ex->jobs;
        ex->jobs = job;
        ex->job_cnt++;
        job = NULL;
        pthread_mutex_unlock(&ex->lock);
out:
        job_free(job);
        return err;
}

int floq_executor_free_slots(floq_executor_t *ex) {
        int n;

        pthread_mutex_lock(&ex->lock);
        n = ex->concurrency - ex->job_cnt;
        pthread_mutex_unlock(&ex->lock);
        return n < 0 ? 0 : n;
}

int floq_executor_active(floq_executor_t *ex) {
        int n;

        pthread_mutex_lock(&ex->lock);
        n = ex->job_cnt;
        pthread_mutex_unlock(&ex->lock);
        return n;
}

int floq_executor_has(floq_executor_t *ex, const char *run_id) {
        int has;

        if (!run_id)
                return 0;
        pthread_mutex_lock(&ex->lock);
        has = job_find(ex, run_id) != NULL;
        pthread_mutex_unlock(&ex->lock);
        return has;
}

floq_err_t floq_executor_stop(floq_executor_t *ex, const char *run_id,
                              floq_stop_why_t why) {
        exec_job_t *job;
        floq_err_t err = FLOQ_OK;

        if (!run_id)
                return FLOQ_ERR_INVALID_ARG;
        pthread_mutex_lock(&ex->lock);
        job = job_find(ex, run_id);
        /* An attempt whose FINISHED event is queued is over already. */
        if (!job || job->finished)
                err = FLOQ_ERR_NOT_FOUND;
        else
                job_request_stop(ex, job, why);
        pthread_mutex_unlock(&ex->lock);
        return err;
}

void floq_executor_stop_all(floq_executor_t *ex, floq_stop_why_t why) {
        exec_job_t *job;
        int again = 1;

        pthread_mutex_lock(&ex->lock);
        /* job_request_stop() drops the lock: restart the scan after each
         * forwarded stop (jobs are only removed by next_event/destroy, but
         * the list may have changed meanwhile). */
        while (again) {
                again = 0;
                for (job = ex->jobs; job; job = job->next) {
                        if (job->finished || job->stop_requested)
                                continue;
                        job_request_stop(ex, job, why);
                        again = 1;
                        break;
                }
        }
        pthread_mutex_unlock(&ex->lock);
}

int floq_executor_next_event(floq_executor_t *ex, floq_exec_event_t *ev,
                             int wait_ms) {
        exec_event_node_t *node;
        exec_job_t *job = NULL;
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (wait_ms > 0) {
                ts.tv_sec += wait_ms / 1000;
                ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
        }
        pthread_mutex_lock(&ex->lock);
        while (!ex->ev_head && wait_ms > 0) {
                if (pthread_cond_timedwait(&ex->cond, &ex->lock, &ts) ==
                    ETIMEDOUT)
                        break;
        }
        if (!(node = ex->ev_head)) {
                pthread_mutex_unlock(&ex->lock);
                return 0;
        }
        ex->ev_head = node->next;
        if (!ex->ev_head)
                ex->ev_tail = NULL;
        if (node->ev.type == FLOQ_EXEC_FINISHED) {
                /* The outcome is known to the core now: free the slot and
                 * the run_id. */
                job = node->job;
                job_unlink(ex, job);
        }
        pthread_mutex_unlock(&ex->lock);

        if (job)
                job_free(job); /* its thread is done with it (job_run) */
        *ev = node->ev;
        free(node);
        return 1;
}
