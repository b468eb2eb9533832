/*
 * lineage_int.h - private helpers shared by the files of lineage/: the
 * libcurl request set-up (one place for auth headers and timeouts), UTF-8
 * and UUID checks, and the topic reader behind `tail` and `graph`. Not
 * installed; not part of the libfloq API.
 */
#ifndef FLOQ_LINEAGE_INT_H
#define FLOQ_LINEAGE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "floq_lineage.h"

/* Facet schema URLs: each facet file's $id plus the pointer to its
 * definition, as the OpenLineage clients write them. The versions are
 * those of the facet files of spec 2-0-2 (tests/data/openlineage/). */
#define OL_FACET_BASE "https://openlineage.io/spec/facets/"
#define OL_PROCESSING_ENGINE_URL                                               \
        OL_FACET_BASE "1-1-1/ProcessingEngineRunFacet.json"                    \
                      "#/$defs/ProcessingEngineRunFacet"
#define OL_NOMINAL_TIME_URL                                                    \
        OL_FACET_BASE "1-0-1/NominalTimeRunFacet.json"                         \
                      "#/$defs/NominalTimeRunFacet"
#define OL_PARENT_URL                                                          \
        OL_FACET_BASE "1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet"
#define OL_ERROR_MESSAGE_URL                                                   \
        OL_FACET_BASE "1-0-1/ErrorMessageRunFacet.json"                        \
                      "#/$defs/ErrorMessageRunFacet"
#define OL_ENV_URL                                                             \
        OL_FACET_BASE "1-0-0/EnvironmentVariablesRunFacet.json"                \
                      "#/$defs/EnvironmentVariablesRunFacet"
#define OL_JOB_TYPE_URL                                                        \
        OL_FACET_BASE "2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet"
/* floq's own run facet (floq_backend): the remote run behind a floq run.
 * Its schema is in the repository, next to the spec's facets it is
 * validated with. */
#define FLOQ_BACKEND_FACET_URL                                                 \
        "https://raw.githubusercontent.com/floq-io/floq/main/tests/data/"      \
        "openlineage/spec/facets/FloqBackendRunFacet.json"                     \
        "#/$defs/FloqBackendRunFacet"

/** 1 if @p s is a UUID in 8-4-4-4-12 hex form. */
int floq_lineage_is_uuid(const char *s);

/**
 * A NUL-terminated copy of @p s[0..len) that is valid UTF-8: invalid
 * sequences become '?', NUL bytes are dropped. NULL on ENOMEM.
 */
char *floq_lineage_utf8_dup(const char *s, size_t len);

/**
 * Set the common options of a POST of a JSON body on @p curl: URL,
 * Content-Type, auth, timeouts, no signals, body (not copied: must outlive
 * the transfer). *headersp receives the list to free with
 * curl_slist_free_all() after the transfer.
 */
floq_err_t floq_lineage_curl_setup(CURL *curl, const floq_lineage_http_t *http,
                                   const char *body, size_t len,
                                   struct curl_slist **headersp, char *errstr,
                                   size_t errstr_size);

/** 1 if HTTP @p status (0: no response) is worth retrying. */
int floq_lineage_http_retriable(long status);

/** Exponential backoff with ±20% jitter: base * 2^attempt, capped. */
int64_t floq_lineage_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms);

/** Bounded response-body collector for libcurl's write callback. */
typedef struct floq_lineage_buf_s {
        char *data;
        size_t len, cap; /* cap: the bound; data has cap + 1 bytes */
} floq_lineage_buf_t;

/** CURLOPT_WRITEFUNCTION writing into a floq_lineage_buf_t (truncates). */
size_t floq_lineage_buf_write(char *ptr, size_t size, size_t nmemb,
                              void *userdata);

/* ------------------------------------------------------------ forwarder */

#include <signal.h>

/** Settings of floq_lineage_forward(); all borrowed for its duration. */
typedef struct floq_lineage_forward_conf_s {
        const floq_conf_t *conf;  /**< brokers, -X passthrough */
        const char *topic;        /**< lineage topic to read */
        const char *group_id;     /**< the forwarder's own consumer group */
        const char *dlq_topic;    /**< where 4xx events go */
        floq_lineage_http_t http; /**< endpoint and auth */
        int max_in_flight;        /**< concurrent requests (partitions) */
        int queue_max;            /**< events buffered per partition */
        int64_t backoff_ms;       /**< first retry delay */
        int64_t backoff_max_ms;   /**< longest retry delay */
        int64_t commit_interval_ms;
        int64_t drain_ms;         /**< on stop, wait this long for requests */
        volatile sig_atomic_t *stop; /**< set by a signal handler: stop */
} floq_lineage_forward_conf_t;

/**
 * Run the forwarder until *fc->stop is set (then drain, commit, leave the
 * group) or a fatal error. At least once, in order per partition.
 */
floq_err_t floq_lineage_forward(const floq_lineage_forward_conf_t *fc,
                                char *errstr, size_t errstr_size);

/**
 * Create @p topic unless it exists (TOPIC_ALREADY_EXISTS is success).
 * Blocks up to about @p timeout_ms.
 */
floq_err_t floq_lineage_topic_create(rd_kafka_t *rk, const char *topic,
                                     int partitions, int replication_factor,
                                     int timeout_ms, char *errstr,
                                     size_t errstr_size);

/** `floq-lineage` itself: argument parsing and the commands. */
int floq_lineage_cli_main(int argc, char **argv);

#endif /* FLOQ_LINEAGE_INT_H */
