/*
 * floq_console.h - floq-console, the web console behind every run URL. A
 * console is stateless: it restores the compacted deployments, schedules
 * and runs topics (every partition, read_committed, through the schemas
 * codec), follows them and the replies, lineage and DLQ topics, keeps a
 * bounded picture of them in memory and serves it over HTTP
 * (libmicrohttpd): /runs/{run_id}, /runs, /deployments, /dlq, /healthz,
 * as server-rendered HTML or, for `Accept: application/json`, JSON. It
 * never writes to Kafka (assign(), no group membership, no commits), so
 * any number of consoles reading the same topics answer alike.
 */
#ifndef FLOQ_CONSOLE_H
#define FLOQ_CONSOLE_H

#include "floq_common.h"

typedef struct floq_console_s floq_console_t;

/**
 * A console configured by @p conf (brokers, topic.*, console.*, -X
 * passthrough), not started yet. @p conf is borrowed and must outlive the
 * console. @return NULL with the reason in errstr.
 */
floq_console_t *floq_console_new(const floq_conf_t *conf, char *errstr,
                                 size_t errstr_size);

/**
 * Start serving console.listen and follow the topics until
 * floq_console_stop(). Blocks. @return FLOQ_OK after a stop, or the error
 * that ended it (FLOQ_ERR_CONFIG: cannot listen; FLOQ_ERR_KAFKA: the
 * topics cannot be read) with the reason in errstr.
 */
floq_err_t floq_console_run(floq_console_t *con, char *errstr,
                            size_t errstr_size);

/** Ask floq_console_run() to return. Async-signal-safe. */
void floq_console_stop(floq_console_t *con);

/** Free @p con (NULL is fine); it must not be running. */
void floq_console_destroy(floq_console_t *con);

/** The program floq-console: flags, config, logger, run (console/cli.c). */
int floq_console_main(int argc, char **argv);

#endif /* FLOQ_CONSOLE_H */
