/*
 * topic.c - creating the topics lineage/ writes to when they are missing:
 * the forwarder's dead-letter topic (brokers run with topic auto-creation
 * off, and a dead letter that cannot be written would stall its partition
 * forever) and, for the tests, lineage topics with several partitions.
 */
#include <string.h>

#include "lineage_int.h"

floq_err_t floq_lineage_topic_create(rd_kafka_t *rk, const char *topic,
                                     int partitions, int replication_factor,
                                     int timeout_ms, char *errstr,
                                     size_t errstr_size) {
        rd_kafka_NewTopic_t *nt;
        rd_kafka_AdminOptions_t *opts = NULL;
        rd_kafka_queue_t *q = NULL;
        rd_kafka_event_t *ev = NULL;
        const rd_kafka_CreateTopics_result_t *res;
        const rd_kafka_topic_result_t **tres;
        rd_kafka_resp_err_t terr;
        size_t tcnt = 0;
        char why[512];
        floq_err_t err = FLOQ_OK;

        if (!(nt = rd_kafka_NewTopic_new(topic, partitions, replication_factor,
                                         why, sizeof(why))))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "cannot create topic '%s': %s", topic,
                                   why);
        opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        q = rd_kafka_queue_new(rk);
        if (!opts || !q) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                  "out of memory");
                goto out;
        }
        rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, why,
                                                  sizeof(why));
        rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
        if (!(ev = rd_kafka_queue_poll(q, timeout_ms + 1000))) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_TIMED_OUT,
                                  "timed out creating topic '%s'", topic);
                goto out;
        }
        if (rd_kafka_event_error(ev)) {
                err = floq_seterr(errstr, errstr_size,
                                  floq_kafka_err(rd_kafka_event_error(ev)),
                                  "cannot create topic '%s': %s", topic,
                                  rd_kafka_event_error_string(ev));
                goto out;
        }
        res = rd_kafka_event_CreateTopics_result(ev);
        tres = res ? rd_kafka_CreateTopics_result_topics(res, &tcnt) : NULL;
        if (tres && tcnt == 1 &&
            (terr = rd_kafka_topic_result_error(tres[0])) &&
            terr != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                err = floq_seterr(errstr, errstr_size, floq_kafka_err(terr),
                                  "cannot create topic '%s': %s", topic,
                                  rd_kafka_topic_result_error_string(tres[0])
                                          ? rd_kafka_topic_result_error_string(
                                                    tres[0])
                                          : rd_kafka_err2str(terr));
out:
        if (ev)
                rd_kafka_event_destroy(ev);
        if (q)
                rd_kafka_queue_destroy(q);
        if (opts)
                rd_kafka_AdminOptions_destroy(opts);
        rd_kafka_NewTopic_destroy(nt);
        return err;
}
