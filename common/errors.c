/*
 * errors.c - the one floq error enum: names, descriptions and the
 * retriable/fatal split every caller uses to decide whether to try again
 * (librdkafka's rd_kafka_error_is_retriable()). One table, indexed by code,
 * so a new code cannot be added without its name, text and class.
 */
#include <stdarg.h>
#include <stdio.h>

#include "floq_common.h"

static const struct {
        const char *name;
        const char *desc;
        int retriable;
} err_descs[FLOQ_ERR__CNT] = {
#define ERR(code, desc, retriable) [code] = { #code, desc, retriable }
        ERR(FLOQ_OK, "success", 0),
        ERR(FLOQ_ERR_INVALID_ARG, "invalid argument", 0),
        ERR(FLOQ_ERR_NOMEM, "out of memory", 0),
        ERR(FLOQ_ERR_IO, "i/o error", 1),
        ERR(FLOQ_ERR_CONFIG, "configuration error", 0),
        ERR(FLOQ_ERR_DECODE, "malformed message", 0),
        ERR(FLOQ_ERR_ENCODE, "value does not fit the schema", 0),
        ERR(FLOQ_ERR_TOO_LARGE, "too large", 0),
        ERR(FLOQ_ERR_TRUNCATED, "input truncated", 0),
        ERR(FLOQ_ERR_UNKNOWN_SCHEMA, "unknown schema", 0),
        ERR(FLOQ_ERR_KAFKA, "kafka error", 1),
        ERR(FLOQ_ERR_TRANSPORT, "cannot reach the brokers", 1),
        ERR(FLOQ_ERR_TIMED_OUT, "timed out", 1),
        ERR(FLOQ_ERR_FENCED, "producer fenced by a newer instance", 0),
        ERR(FLOQ_ERR_NOT_FOUND, "not found", 0),
        ERR(FLOQ_ERR_EXISTS, "already exists", 0),
        ERR(FLOQ_ERR_REJECTED, "rejected", 0),
        ERR(FLOQ_ERR_EXPIRED, "expired", 0),
        ERR(FLOQ_ERR_UNAUTHORIZED, "unauthorized", 0),
        ERR(FLOQ_ERR_UNSUPPORTED, "not supported", 0),
        ERR(FLOQ_ERR_BACKEND, "backend error", 1),
        ERR(FLOQ_ERR_STATE, "invalid state for this call", 0),
#undef ERR
};

static int err_valid(floq_err_t err) {
        return (int)err >= 0 && err < FLOQ_ERR__CNT && err_descs[err].name;
}

const char *floq_err2str(floq_err_t err) {
        return err_valid(err) ? err_descs[err].desc : "unknown error";
}

const char *floq_err_name(floq_err_t err) {
        return err_valid(err) ? err_descs[err].name : "FLOQ_ERR_UNKNOWN";
}

int floq_err_is_retriable(floq_err_t err) {
        return err_valid(err) ? err_descs[err].retriable : 0;
}

floq_err_t floq_seterr(char *errstr, size_t errstr_size, floq_err_t err,
                       const char *fmt, ...) {
        va_list ap;

        if (!errstr || errstr_size == 0)
                return err;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
        return err;
}
