/*
 * offload.c - the pool of threads for network work a command's decision
 * waits for (see offload.h): one mutex, a FIFO of jobs to run and a FIFO of
 * finished ones, and a condition variable the threads sleep on. The loop
 * submits and takes; the threads run and hand back; the wake-up tells the
 * loop that something came back.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "offload.h"
#include "prog_int.h"

typedef struct jobq_s {
        floq_offload_job_t *head, *tail;
} jobq_t;

struct floq_offload_s {
        pthread_mutex_t lock;
        pthread_cond_t cond;  /**< a job queued, or stopping */
        jobq_t todo, done;
        size_t held, max_jobs;
        int stopping;
        void (*wake)(void *);
        void *wake_opaque;
        pthread_t *threads;
        int thread_cnt;
};

static void jobq_push(jobq_t *q, floq_offload_job_t *job) {
        job->next = NULL;
        if (q->tail)
                q->tail->next = job;
        else
                q->head = job;
        q->tail = job;
}

static floq_offload_job_t *jobq_pop(jobq_t *q) {
        floq_offload_job_t *job = q->head;

        if (job) {
                q->head = job->next;
                if (!q->head)
                        q->tail = NULL;
                job->next = NULL;
        }
        return job;
}

static void *offload_main(void *arg) {
        floq_offload_t *o = arg;
        floq_offload_job_t *job;

        pthread_mutex_lock(&o->lock);
        for (;;) {
                while (!o->stopping && !o->todo.head)
                        pthread_cond_wait(&o->cond, &o->lock);
                if (o->stopping)
                        break;
                job = jobq_pop(&o->todo);
                pthread_mutex_unlock(&o->lock);
                job->run(job);
                pthread_mutex_lock(&o->lock);
                jobq_push(&o->done, job);
                if (o->wake) {
                        /* outside the lock: the wake-up may take the
                         * caller's own locks */
                        pthread_mutex_unlock(&o->lock);
                        o->wake(o->wake_opaque);
                        pthread_mutex_lock(&o->lock);
                }
        }
        pthread_mutex_unlock(&o->lock);
        return NULL;
}

floq_offload_t *floq_offload_new(int threads, size_t max_jobs,
                                 void (*wake)(void *), void *wake_opaque,
                                 char *errstr, size_t errstr_size) {
        floq_offload_t *o = calloc(1, sizeof(*o));
        sigset_t mask, old;
        int i;

        if (threads < 1)
                threads = 1;
        if (!o || !(o->threads = calloc((size_t)threads, sizeof(pthread_t)))) {
                free(o);
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                return NULL;
        }
        pthread_mutex_init(&o->lock, NULL);
        pthread_cond_init(&o->cond, NULL);
        o->max_jobs = max_jobs ? max_jobs : 1;
        o->wake = wake;
        o->wake_opaque = wake_opaque;
        /* no stop signal handled there (common/prog.c) */
        floq_sigset_thread(&mask);
        pthread_sigmask(SIG_SETMASK, &mask, &old);
        for (i = 0; i < threads; i++) {
                if (pthread_create(&o->threads[i], NULL, offload_main, o))
                        break;
                o->thread_cnt++;
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (o->thread_cnt == 0) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "cannot start the offload threads");
                floq_offload_destroy(o);
                return NULL;
        }
        return o;
}

void floq_offload_destroy(floq_offload_t *o) {
        floq_offload_job_t *job;
        int i;

        if (!o)
                return;
        pthread_mutex_lock(&o->lock);
        o->stopping = 1;
        pthread_cond_broadcast(&o->cond);
        pthread_mutex_unlock(&o->lock);
        for (i = 0; i < o->thread_cnt; i++)
                pthread_join(o->threads[i], NULL);
        while ((job = jobq_pop(&o->todo)))
                job->free_(job);
        while ((job = jobq_pop(&o->done)))
                job->free_(job);
        pthread_cond_destroy(&o->cond);
        pthread_mutex_destroy(&o->lock);
        free(o->threads);
        free(o);
}

floq_err_t floq_offload_submit(floq_offload_t *o, floq_offload_job_t *job) {
        floq_err_t err = FLOQ_OK;

        pthread_mutex_lock(&o->lock);
        if (o->held >= o->max_jobs || o->stopping) {
                err = FLOQ_ERR_TOO_LARGE;
        } else {
                o->held++;
                jobq_push(&o->todo, job);
                pthread_cond_signal(&o->cond);
        }
        pthread_mutex_unlock(&o->lock);
        return err;
}

floq_offload_job_t *floq_offload_next(floq_offload_t *o) {
        floq_offload_job_t *job;

        pthread_mutex_lock(&o->lock);
        if ((job = jobq_pop(&o->done)))
                o->held--;
        pthread_mutex_unlock(&o->lock);
        return job;
}

size_t floq_offload_held(floq_offload_t *o) {
        size_t n;

        pthread_mutex_lock(&o->lock);
        n = o->held;
        pthread_mutex_unlock(&o->lock);
        return n;
}
