/*
 * executor.c - the bounded pool that runs attempts off the worker's poll
 * loop. Each submitted attempt gets a job record and one thread; the thread
 * starts the attempt through its backend, blocks in wait() in slices of at
 * most 200 ms (so timeouts are enforced with stop(FLOQ_STOP_TIMEOUT) and the
 * backend keeps waiting for the outcome), and queues STARTED and FINISHED
 * events the core takes with floq_executor_next_event().
 *
 * A job occupies its slot, and its run_id stays "live", from submit() until
 * the core has taken its FINISHED event: the core always learns the outcome
 * before the same run can be started again, so two attempts of one run never
 * overlap. Taking the FINISHED event joins the (then exiting) thread.
 *
 * The thread that calls start() is also the one that waits for and destroys
 * the attempt, so it outlives any child process the backend forked: the
 * process backend's PR_SET_PDEATHSIG is tied to the forking thread and would
 * otherwise kill the job when a short-lived thread exited.
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

/* Longest single wait() call: bounds how late a timeout is noticed. */
#define EXEC_WAIT_SLICE_MS 200

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
        void *opaque;

        pthread_t thread;
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
        exec_job_t *jobs;
        int job_cnt;
        exec_event_node_t *ev_head, *ev_tail;
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
        ev->backend_ref = NULL;
        floq_run_result_release(&ev->result);
}

/* ------------------------------------------------------------- helpers */

static void job_free(exec_job_t *job) {
        if (!job)
                return;
        free(job->deployment);
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
        pthread_mutex_unlock(&ex->lock);
        wakeup(ex);
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

static void *job_main(void *arg) {
        exec_job_t *job = arg;
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
        if ((err = ops->start(job->be, &req, &att, errstr, sizeof(errstr)))) {
                res->outcome = FLOQ_OUTCOME_FAILED;
                res->reason = strdup(errstr[0] ? errstr : floq_err2str(err));
                free(started);
                goto done;
        }
        if (job->timeout_ms > 0)
                deadline = floq_mono_ms() + job->timeout_ms;

        {
                const char *ref = ops->ref ? ops->ref(job->be, att) : NULL;

                if (ref)
                        started->ev.backend_ref = strdup(ref);
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
        return NULL;
}

/* ----------------------------------------------------------------- API */

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
        pthread_mutex_init(&ex->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&ex->cond, &ca);
        pthread_condattr_destroy(&ca);
        return ex;
}

void floq_executor_destroy(floq_executor_t *ex) {
        exec_event_node_t *node;
        exec_job_t *job;

        if (!ex)
                return;
        floq_executor_stop_all(ex, FLOQ_STOP_DRAIN);
        /* Every job's thread ends once its backend reports the outcome. */
        for (job = ex->jobs; job; job = job->next)
                pthread_join(job->thread, NULL);
        while ((job = ex->jobs)) {
                ex->jobs = job->next;
                job_free(job);
        }
        while ((node = ex->ev_head)) {
                ex->ev_head = node->next;
                floq_exec_event_release(&node->ev);
                free(node);
        }
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
            (req->params && !(job->params = json_deep_copy(req->params)))) {
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
        /* Executor threads take no signals: process signals go to the
         * worker's main thread, and SIGPIPE becomes EPIPE here. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        rc = pthread_create(&job->thread, NULL, job_main, job);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc) {
                pthread_mutex_unlock(&ex->lock);
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                  "cannot create a thread: %s", strerror(rc));
                goto out;
        }
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

        if (job) {
                pthread_join(job->thread, NULL); /* it is returning */
                job_free(job);
        }
        *ev = node->ev;
        free(node);
        return 1;
}
