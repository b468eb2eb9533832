/*
 * emit.c - lineage for producers' own jobs, without the worker (floe's
 * emit_lineage_event(event_type, job, inputs, outputs)). An event goes to
 * the lineage topic with the same key the worker uses, so the consumers'
 * graph holds floq runs and producers' jobs alike, or straight to an
 * OpenLineage HTTP endpoint (Marquez) with retries on 5xx and connection
 * errors.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lineage_int.h"

static void sleep_ms(int64_t ms) {
        struct timespec ts = { (time_t)(ms / 1000),
                               (long)(ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) == -1)
                ;
}

static floq_err_t emit_kafka(const floq_lineage_target_t *target,
                             const char *key, const char *value, char *errstr,
                             size_t errstr_size) {
        rd_kafka_resp_err_t rerr;

        if (!target->topic || !*target->topic)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "no lineage topic");
        rerr = rd_kafka_producev(
                target->rk, RD_KAFKA_V_TOPIC(target->topic),
                RD_KAFKA_V_KEY(key, strlen(key)),
                RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (rerr)
                return floq_seterr(errstr, errstr_size, floq_kafka_err(rerr),
                                   "cannot produce to '%s': %s",
                                   target->topic, rd_kafka_err2str(rerr));
        return FLOQ_OK;
}

static floq_err_t emit_http(const floq_lineage_target_t *target,
                            const char *value, char *errstr,
                            size_t errstr_size) {
        int attempt = 0;
        floq_err_t err;

        for (;;) {
                err = floq_lineage_http_post(&target->http, value,
                                             strlen(value), NULL, NULL, 0,
                                             errstr, errstr_size);
                if (err != FLOQ_ERR_TRANSPORT || attempt >= target->http_retries)
                        return err;
                sleep_ms(floq_lineage_backoff_ms(attempt++, 200, 10000));
        }
}

floq_err_t floq_lineage_emit_event(const floq_lineage_target_t *target,
                                   const json_t *event, char *errstr,
                                   size_t errstr_size) {
        char *key = NULL, *value = NULL;
        floq_err_t err;

        if (!target || !event)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "no lineage target or event");
        if (!(key = floq_lineage_key(event))) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                  "event has no job");
                goto out;
        }
        if (!(value = json_dumps(event, JSON_COMPACT))) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                  "out of memory");
                goto out;
        }
        if (target->rk)
                err = emit_kafka(target, key, value, errstr, errstr_size);
        else
                err = emit_http(target, value, errstr, errstr_size);
out:
        free(key);
        free(value);
        return err;
}

floq_err_t floq_lineage_emit(const floq_lineage_target_t *target,
                             floq_lineage_event_type_t type,
                             const char *job_namespace, const char *job_name,
                             const char *run_id,
                             const floq_lineage_dataset_t *inputs,
                             size_t input_cnt,
                             const floq_lineage_dataset_t *outputs,
                             size_t output_cnt, char *errstr,
                             size_t errstr_size) {
        json_t *ev;
        floq_err_t err;

        ev = floq_lineage_job_event_new(type, job_namespace, job_name, run_id,
                                        inputs, input_cnt, outputs,
                                        output_cnt, NULL, errstr, errstr_size);
        if (!ev)
                return FLOQ_ERR_INVALID_ARG;
        err = floq_lineage_emit_event(target, ev, errstr, errstr_size);
        json_decref(ev);
        return err;
}
