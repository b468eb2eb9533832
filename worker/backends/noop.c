/*
 * noop.c - the noop backend: an attempt that succeeds at once and runs
 * nothing. It exists so that the cost of a run's Kafka side alone (its
 * transactions, replies, RunState and lineage records) can be measured
 * (make bench, docs/benchmarks.md) and tested without the cost of
 * starting a process. Its deployments are REJECTED unless
 * noop.backend.enabled is set, so a fleet never reports runs SUCCEEDED
 * that did nothing by accident. A spec is any JSON object; it is not
 * read.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

typedef struct noop_backend_s {
        floq_backend_t base;
        int enabled; /* noop.backend.enabled */
} noop_backend_t;

/* An attempt only remembers whether it was stopped, and why. */
struct floq_attempt_s {
        _Atomic int stopped; /**< 0, or 1 + floq_stop_why_t */
};

static floq_backend_t *noop_new(const floq_conf_t *conf, char *errstr,
                                size_t errstr_size) {
        noop_backend_t *nb;

        if (!(nb = calloc(1, sizeof(*nb)))) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                return NULL;
        }
        nb->base.ops = &floq_backend_noop;
        nb->enabled = floq_conf_bool(conf, "noop.backend.enabled");
        return &nb->base;
}

static void noop_destroy(floq_backend_t *be) { free(be); }

static floq_err_t noop_deploy(floq_backend_t *be, const char *deployment,
                              json_t *spec, char *errstr,
                              size_t errstr_size) {
        (void)deployment;
        if (!((noop_backend_t *)be)->enabled)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "the noop backend is disabled on this "
                                   "worker (noop.backend.enabled)");
        if (!json_is_object(spec))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec must be an object");
        return FLOQ_OK;
}

static floq_err_t noop_start(floq_backend_t *be, const floq_run_req_t *req,
                             floq_attempt_t **attp, char *errstr,
                             size_t errstr_size) {
        (void)req;
        /* a deployment made where it was enabled, restored here */
        if (!((noop_backend_t *)be)->enabled)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "the noop backend is disabled on this "
                                   "worker (noop.backend.enabled)");
        if (!(*attp = calloc(1, sizeof(**attp))))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        return FLOQ_OK;
}

/* Ends at once: SUCCEEDED, or the outcome of a stop() that came first. */
static floq_err_t noop_wait(floq_backend_t *be, floq_attempt_t *att,
                            int wait_ms, floq_run_result_t *res) {
        static const floq_outcome_t by_why[] = {
                [FLOQ_STOP_CANCEL] = FLOQ_OUTCOME_CANCELLED,
                [FLOQ_STOP_TIMEOUT] = FLOQ_OUTCOME_TIMED_OUT,
                [FLOQ_STOP_DRAIN] = FLOQ_OUTCOME_ABANDONED,
        };
        int stopped = atomic_load(&att->stopped);

        (void)be;
        (void)wait_ms;
        memset(res, 0, sizeof(*res));
        res->outcome = stopped ? by_why[stopped - 1] : FLOQ_OUTCOME_SUCCEEDED;
        res->exit_code = stopped ? -1 : 0;
        return FLOQ_OK;
}

static floq_err_t noop_stop(floq_backend_t *be, floq_attempt_t *att,
                            floq_stop_why_t why) {
        int none = 0;

        (void)be;
        atomic_compare_exchange_strong(&att->stopped, &none, 1 + (int)why);
        return FLOQ_OK;
}

static const char *noop_ref(floq_backend_t *be, floq_attempt_t *att) {
        (void)be;
        (void)att;
        return NULL;
}

static void noop_attempt_destroy(floq_backend_t *be, floq_attempt_t *att) {
        (void)be;
        free(att);
}

static floq_err_t noop_validate(floq_backend_t *be, const json_t *spec,
                                char *errstr, size_t errstr_size) {
        (void)be;
        if (spec && !json_is_object(spec))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "spec must be an object");
        return FLOQ_OK;
}

const floq_backend_ops_t floq_backend_noop = {
        .name = "noop",
        .outlives_worker = 0,
        .new_ = noop_new,
        .destroy = noop_destroy,
        .deploy = noop_deploy,
        .start = noop_start,
        .wait = noop_wait,
        .stop = noop_stop,
        .ref = noop_ref,
        .attempt_destroy = noop_attempt_destroy,
        .validate = noop_validate,
};
