/*
 * forward.c - `floq-lineage forward`: the lineage topic to an OpenLineage
 * HTTP endpoint (Marquez `POST /api/v1/lineage`), at least once and in
 * order per partition.
 *
 * One consumer in its own group; per assigned partition a FIFO of fetched
 * events of which only the head is ever in flight, so order within a
 * partition holds. Requests of different partitions run concurrently on a
 * curl multi handle, at most max_in_flight at once. An event leaves its
 * queue only when the endpoint answered 2xx, or when it answered a
 * non-retriable 4xx and the event was written to the dead-letter topic
 * (delivery confirmed); only then does the committed offset move past it.
 * 5xx, 408, 429 and connection errors retry the head with exponential
 * backoff and jitter, forever: the partition is paused meanwhile (and when
 * its queue is full), so nothing behind it is fetched, reordered or lost.
 * A kill at any point re-delivers from the last commit: duplicates are
 * possible, losses are not. Everything runs on one thread: the rebalance
 * callback, the curl callbacks and the loop share the state without locks.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "lineage_int.h"

#define FWD_BODY_MAX 1024 /* response body kept for the DLQ header */

typedef struct fwd_msg_s {
        struct fwd_msg_s *next;
        int64_t offset;
        void *key;
        size_t key_len;
        char *value; /* NUL-terminated copy */
        size_t len;
} fwd_msg_t;

typedef struct fwd_part_s {
        int assigned;
        fwd_msg_t *head, *tail;
        int cnt;
        int64_t next_offset; /* after the last queued message; -1 unknown */
        int64_t commit_offset, committed; /* -1: nothing yet */
        int paused;
        int attempt;       /* failed attempts of the head */
        int64_t retry_at;  /* monotonic ms when the head may go again */
        CURL *curl;        /* the head's request while in flight */
        struct curl_slist *headers;
        floq_lineage_buf_t body;
        char body_data[FWD_BODY_MAX + 1];
        char curl_err[CURL_ERROR_SIZE];
} fwd_part_t;

typedef struct fwd_s {
        const floq_lineage_forward_conf_t *fc;
        rd_kafka_t *rk;  /* consumer */
        rd_kafka_t *dlq; /* producer for the dead-letter topic */
        CURLM *multi;
        fwd_part_t *parts;
        int32_t part_cnt;
        int in_flight;
        int64_t last_commit;
        int64_t delivered, dead_lettered, retried;
        int fatal;
        char errstr[512];
} fwd_t;

/* --------------------------------------------------------------- queues */

static void msg_free(fwd_msg_t *m) {
        if (!m)
                return;
        free(m->key);
        free(m->value);
        free(m);
}

static void part_abort(fwd_t *f, fwd_part_t *p) {
        if (p->curl) {
                curl_multi_remove_handle(f->multi, p->curl);
                curl_easy_cleanup(p->curl);
                curl_slist_free_all(p->headers);
                p->curl = NULL;
                p->headers = NULL;
                f->in_flight--;
        }
}

/* Forget a partition: abort its request, drop its queue. */
static void part_clear(fwd_t *f, fwd_part_t *p) {
        fwd_msg_t *m, *next;

        part_abort(f, p);
        for (m = p->head; m; m = next) {
                next = m->next;
                msg_free(m);
        }
        memset(p, 0, sizeof(*p));
        p->next_offset = p->commit_offset = p->committed = -1;
}

static fwd_part_t *part_get(fwd_t *f, int32_t partition) {
        if (partition < 0)
                return NULL;
        if (partition >= f->part_cnt) {
                int32_t n = partition + 1, i;
                fwd_part_t *np = realloc(f->parts, sizeof(*np) * (size_t)n);

                if (!np)
                        return NULL;
                for (i = f->part_cnt; i < n; i++) {
                        memset(&np[i], 0, sizeof(np[i]));
                        np[i].next_offset = np[i].commit_offset =
                                np[i].committed = -1;
                }
                /* curl keeps pointers to body buffers of in-flight
                 * requests: re-point them after the move */
                for (i = 0; i < f->part_cnt; i++)
                        if (np[i].curl) {
                                np[i].body.data = np[i].body_data;
                                curl_easy_setopt(np[i].curl,
                                                 CURLOPT_WRITEDATA,
                                                 &np[i].body);
                                curl_easy_setopt(np[i].curl,
                                                 CURLOPT_ERRORBUFFER,
                                                 np[i].curl_err);
                                curl_easy_setopt(np[i].curl,
                                                 CURLOPT_PRIVATE, &np[i]);
                        }
                f->parts = np;
                f->part_cnt = n;
        }
        return &f->parts[partition];
}

/* ---------------------------------------------------- pause and commit */

static void set_paused(fwd_t *f, int32_t partition, int pause) {
        rd_kafka_topic_partition_list_t *l;
        rd_kafka_resp_err_t err;
        fwd_part_t *p = &f->parts[partition];

        if (p->paused == pause)
                return;
        l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, f->fc->topic, partition);
        err = pause ? rd_kafka_pause_partitions(f->rk, l)
                    : rd_kafka_resume_partitions(f->rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (err)
                floq_warn("forward", "cannot %s partition %d: %s",
                          pause ? "pause" : "resume", (int)partition,
                          rd_kafka_err2str(err));
        else
                p->paused = pause;
}

/* Pause a partition whose queue is full or whose head is waiting to be
 * retried; resume it when it drained. */
static void update_pause(fwd_t *f, int32_t partition) {
        fwd_part_t *p = &f->parts[partition];
        int full = p->cnt >= f->fc->queue_max;

        if (!p->assigned)
                return;
        if (!p->paused && (full || p->attempt > 0))
                set_paused(f, partition, 1);
        else if (p->paused && p->attempt == 0 &&
                 p->cnt <= f->fc->queue_max / 2)
                set_paused(f, partition, 0);
}

/* Commit every partition whose delivered offset moved. */
static void commit(fwd_t *f, int sync) {
        rd_kafka_topic_partition_list_t *l = NULL;
        rd_kafka_resp_err_t err;
        int32_t i;

        for (i = 0; i < f->part_cnt; i++) {
                fwd_part_t *p = &f->parts[i];

                if (!p->assigned || p->commit_offset <= p->committed)
                        continue;
                if (!l)
                        l = rd_kafka_topic_partition_list_new(4);
                rd_kafka_topic_partition_list_add(l, f->fc->topic, i)->offset =
                        p->commit_offset;
                p->committed = p->commit_offset;
        }
        f->last_commit = floq_mono_ms();
        if (!l)
                return;
        err = rd_kafka_commit(f->rk, l, !sync);
        if (err)
                /* the next commit covers it; a crash re-delivers: at least
                 * once either way */
                floq_warn("forward", "cannot commit offsets: %s",
                          rd_kafka_err2str(err));
        rd_kafka_topic_partition_list_destroy(l);
}

/* ------------------------------------------------------------ rebalance */

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts,
                         void *opaque) {
        fwd_t *f = opaque;
        int cooperative =
                !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
        int i;

        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                for (i = 0; i < parts->cnt; i++) {
                        fwd_part_t *p = part_get(f, parts->elems[i].partition);

                        if (!p) {
                                f->fatal = 1;
                                snprintf(f->errstr, sizeof(f->errstr),
                                         "out of memory");
                                continue;
                        }
                        part_clear(f, p);
                        p->assigned = 1;
                }
                floq_info("forward", "assigned %d partition(s) of '%s'",
                          parts->cnt, f->fc->topic);
                if (cooperative)
                        rd_kafka_error_destroy(
                                rd_kafka_incremental_assign(rk, parts));
                else
                        rd_kafka_assign(rk, parts);
                return;
        }
        /* revoked (or lost): what was delivered is committed first, then
         * everything unsent is dropped: the next owner fetches it again
         * from the committed offset */
        if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS &&
            !rd_kafka_assignment_lost(rk))
                commit(f, 1);
        for (i = 0; i < parts->cnt; i++) {
                int32_t n = parts->elems[i].partition;

                if (n >= 0 && n < f->part_cnt)
                        part_clear(f, &f->parts[n]);
        }
        floq_info("forward", "revoked %d partition(s)", parts->cnt);
        if (cooperative)
                rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
        else
                rd_kafka_assign(rk, NULL);
}

/* ------------------------------------------------------------ messages */

static void enqueue(fwd_t *f, rd_kafka_message_t *rkm) {
        fwd_part_t *p;
        fwd_msg_t *m;

        if (rkm->partition < 0 || rkm->partition >= f->part_cnt ||
            !(p = &f->parts[rkm->partition])->assigned)
                return; /* from before a revoke: refetched by the owner */
        /* after a pause/resume librdkafka may hand over again what we
         * hold already */
        if (p->next_offset >= 0 && rkm->offset < p->next_offset)
                return;
        if (!(m = calloc(1, sizeof(*m))))
                goto nomem;
        m->offset = rkm->offset;
        if (rkm->key_len) {
                if (!(m->key = malloc(rkm->key_len)))
                        goto nomem;
                memcpy(m->key, rkm->key, rkm->key_len);
                m->key_len = rkm->key_len;
        }
        if (!(m->value = malloc(rkm->len + 1)))
                goto nomem;
        if (rkm->len)
                memcpy(m->value, rkm->payload, rkm->len);
        m->value[rkm->len] = '\0';
        m->len = rkm->len;
        if (!rkm->payload)
                m->len = (size_t)-1; /* tombstone: nothing to send */
        if (p->tail)
                p->tail->next = m;
        else
                p->head = m;
        p->tail = m;
        p->cnt++;
        p->next_offset = rkm->offset + 1;
        update_pause(f, rkm->partition);
        return;
nomem:
        msg_free(m);
        f->fatal = 1;
        snprintf(f->errstr, sizeof(f->errstr), "out of memory");
}

/* The head is done (delivered or dead-lettered): drop it, commit past it. */
static void pop_head(fwd_t *f, int32_t partition) {
        fwd_part_t *p = &f->parts[partition];
        fwd_msg_t *m = p->head;

        p->head = m->next;
        if (!p->head)
                p->tail = NULL;
        p->cnt--;
        p->commit_offset = m->offset + 1;
        p->attempt = 0;
        p->retry_at = 0;
        msg_free(m);
        update_pause(f, partition);
}

static void dlq_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
                      void *opaque) {
        (void)rk;
        (void)opaque;
        if (rkm->_private)
                *(rd_kafka_resp_err_t *)rkm->_private = rkm->err;
}

/* Write the head to the dead-letter topic and wait for the broker's ack.
 * 0 on success. */
static int dead_letter(fwd_t *f, int32_t partition, long status,
                       const char *body, const char *error) {
        fwd_part_t *p = &f->parts[partition];
        fwd_msg_t *m = p->head;
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(6);
        rd_kafka_resp_err_t err, result = RD_KAFKA_RESP_ERR__IN_PROGRESS;
        char num[32], *clean;

        snprintf(num, sizeof(num), "%ld", status);
        rd_kafka_header_add(hdrs, "floq.http.status", -1, num, -1);
        clean = floq_lineage_utf8_dup(body ? body : "", body ? strlen(body) : 0);
        rd_kafka_header_add(hdrs, "floq.http.body", -1, clean ? clean : "",
                            -1);
        free(clean);
        if (error)
                rd_kafka_header_add(hdrs, "floq.error", -1, error, -1);
        rd_kafka_header_add(hdrs, "floq.source.topic", -1, f->fc->topic, -1);
        snprintf(num, sizeof(num), "%d", (int)partition);
        rd_kafka_header_add(hdrs, "floq.source.partition", -1, num, -1);
        snprintf(num, sizeof(num), "%lld", (long long)m->offset);
        rd_kafka_header_add(hdrs, "floq.source.offset", -1, num, -1);
        err = rd_kafka_producev(
                f->dlq, RD_KAFKA_V_TOPIC(f->fc->dlq_topic),
                RD_KAFKA_V_KEY(m->key, m->key_len),
                RD_KAFKA_V_VALUE(m->value, m->len),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(&result),
                RD_KAFKA_V_END);
        if (err) {
                rd_kafka_headers_destroy(hdrs);
                floq_warn("forward", "cannot produce to '%s': %s",
                          f->fc->dlq_topic, rd_kafka_err2str(err));
                return -1;
        }
        /* the commit that follows must not overtake the dead letter */
        rd_kafka_flush(f->dlq, 30000);
        if (result != RD_KAFKA_RESP_ERR_NO_ERROR) {
                floq_warn("forward", "dead letter to '%s' failed: %s",
                          f->fc->dlq_topic,
                          result == RD_KAFKA_RESP_ERR__IN_PROGRESS
                                  ? "timed out"
                                  : rd_kafka_err2str(result));
                /* a late delivery report must not write to our stack */
                rd_kafka_purge(f->dlq, RD_KAFKA_PURGE_F_QUEUE |
                                               RD_KAFKA_PURGE_F_INFLIGHT);
                rd_kafka_poll(f->dlq, 0);
                return -1;
        }
        f->dead_lettered++;
        return 0;
}

static void retry_later(fwd_t *f, int32_t partition, const char *why) {
        fwd_part_t *p = &f->parts[partition];
        int64_t d = floq_lineage_backoff_ms(p->attempt, f->fc->backoff_ms,
                                            f->fc->backoff_max_ms);

        p->attempt++;
        p->retry_at = floq_mono_ms() + d;
        f->retried++;
        floq_warn("forward",
                  "%s [%d] offset %lld: %s; retry %d in %lld ms",
                  f->fc->topic, (int)partition, (long long)p->head->offset,
                  why, p->attempt, (long long)d);
        update_pause(f, partition);
}

/* Events that cannot be JSON never reach the endpoint. */
static int is_json(const fwd_msg_t *m) {
        json_error_t jerr;
        json_t *j = json_loadb(m->value, m->len, 0, &jerr);
        int ok = json_is_object(j);

        json_decref(j);
        return ok;
}

static void start_request(fwd_t *f, int32_t partition) {
        fwd_part_t *p = &f->parts[partition];
        fwd_msg_t *m = p->head;
        char errstr[256];

        if (m->len == (size_t)-1) { /* tombstone */
                pop_head(f, partition);
                return;
        }
        if (!is_json(m)) {
                floq_warn("forward", "%s [%d] offset %lld: not a JSON object; "
                                     "dead-lettered",
                          f->fc->topic, (int)partition, (long long)m->offset);
                if (dead_letter(f, partition, 0, "", "not a JSON object"))
                        retry_later(f, partition, "dead-letter topic failed");
                else
                        pop_head(f, partition);
                return;
        }
        if (!(p->curl = curl_easy_init())) {
                retry_later(f, partition, "cannot create a curl handle");
                return;
        }
        if (floq_lineage_curl_setup(p->curl, &f->fc->http, m->value, m->len,
                                    &p->headers, errstr, sizeof(errstr))) {
                curl_easy_cleanup(p->curl);
                p->curl = NULL;
                f->fatal = 1;
                snprintf(f->errstr, sizeof(f->errstr), "%s", errstr);
                return;
        }
        p->body.data = p->body_data;
        p->body.len = 0;
        p->body.cap = FWD_BODY_MAX;
        p->body_data[0] = '\0';
        p->curl_err[0] = '\0';
        curl_easy_setopt(p->curl, CURLOPT_WRITEFUNCTION,
                         floq_lineage_buf_write);
        curl_easy_setopt(p->curl, CURLOPT_WRITEDATA, &p->body);
        curl_easy_setopt(p->curl, CURLOPT_ERRORBUFFER, p->curl_err);
        curl_easy_setopt(p->curl, CURLOPT_PRIVATE, p);
        if (curl_multi_add_handle(f->multi, p->curl) != CURLM_OK) {
                curl_easy_cleanup(p->curl);
                curl_slist_free_all(p->headers);
                p->curl = NULL;
                p->headers = NULL;
                retry_later(f, partition, "cannot start the request");
                return;
        }
        f->in_flight++;
}

static void finish_request(fwd_t *f, CURL *curl, CURLcode rc) {
        fwd_part_t *p = NULL;
        int32_t partition;
        long status = 0;
        char why[CURL_ERROR_SIZE + 64];

        curl_easy_getinfo(curl, CURLINFO_PRIVATE, (char **)&p);
        if (!p)
                return;
        partition = (int32_t)(p - f->parts);
        if (rc == CURLE_OK)
                curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        curl_multi_remove_handle(f->multi, curl);
        curl_easy_cleanup(curl);
        curl_slist_free_all(p->headers);
        p->curl = NULL;
        p->headers = NULL;
        f->in_flight--;

        if (rc != CURLE_OK) {
                snprintf(why, sizeof(why), "%s",
                         p->curl_err[0] ? p->curl_err
                                        : curl_easy_strerror(rc));
                retry_later(f, partition, why);
        } else if (status >= 200 && status < 300) {
                floq_debug("forward", "%s [%d] offset %lld: HTTP %ld",
                           f->fc->topic, (int)partition,
                           (long long)p->head->offset, status);
                f->delivered++;
                pop_head(f, partition);
        } else if (floq_lineage_http_retriable(status)) {
                snprintf(why, sizeof(why), "HTTP %ld", status);
                retry_later(f, partition, why);
        } else {
                floq_warn("forward",
                          "%s [%d] offset %lld: HTTP %ld; dead-lettered to "
                          "'%s'",
                          f->fc->topic, (int)partition,
                          (long long)p->head->offset, status,
                          f->fc->dlq_topic);
                if (dead_letter(f, partition, status, p->body_data, NULL))
                        retry_later(f, partition, "dead-letter topic failed");
                else
                        pop_head(f, partition);
        }
}

/* -------------------------------------------------------------- the loop */

static void start_ready(fwd_t *f, int64_t now) {
        int32_t i;

        for (i = 0; i < f->part_cnt && f->in_flight < f->fc->max_in_flight;
             i++) {
                fwd_part_t *p = &f->parts[i];

                if (p->assigned && p->head && !p->curl && now >= p->retry_at)
                        start_request(f, i);
        }
}

static void pump_curl(fwd_t *f, int wait_ms) {
        CURLMsg *msg;
        int running, left;

        if (f->in_flight > 0 && wait_ms > 0)
                curl_multi_poll(f->multi, NULL, 0, wait_ms, NULL);
        curl_multi_perform(f->multi, &running);
        while ((msg = curl_multi_info_read(f->multi, &left)))
                if (msg->msg == CURLMSG_DONE)
                        finish_request(f, msg->easy_handle, msg->data.result);
}

/* Nearest retry time among waiting heads, for the poll timeout. */
static int64_t next_retry(const fwd_t *f, int64_t now) {
        int64_t best = -1;
        int32_t i;

        for (i = 0; i < f->part_cnt; i++) {
                const fwd_part_t *p = &f->parts[i];

                if (p->assigned && p->head && !p->curl) {
                        int64_t d = p->retry_at > now ? p->retry_at - now : 0;

                        if (best < 0 || d < best)
                                best = d;
                }
        }
        return best;
}

static rd_kafka_t *make_consumer(fwd_t *f, char *errstr, size_t errstr_size) {
        rd_kafka_conf_t *kc;
        rd_kafka_t *rk;
        char why[512];

        if (!(kc = floq_kafka_conf_new(f->fc->conf, "consumer", errstr,
                                       errstr_size)))
                return NULL;
        if (rd_kafka_conf_set(kc, "group.id", f->fc->group_id, why,
                              sizeof(why)) ||
            /* offsets are stored and committed by hand, after delivery */
            rd_kafka_conf_set(kc, "enable.auto.commit", "false", why,
                              sizeof(why)) ||
            rd_kafka_conf_set(kc, "enable.auto.offset.store", "false", why,
                              sizeof(why))) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG, "%s", why);
                rd_kafka_conf_destroy(kc);
                return NULL;
        }
        /* a forwarder killed without leaving the group holds its
         * partitions until its session expires: 10 s, not Java's 45 s,
         * unless the operator chose (-X session.timeout.ms=...) */
        if (!floq_conf_get(f->fc->conf, "session.timeout.ms") &&
            rd_kafka_conf_set(kc, "session.timeout.ms", "10000", why,
                              sizeof(why))) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG, "%s", why);
                rd_kafka_conf_destroy(kc);
                return NULL;
        }
        rd_kafka_conf_set_rebalance_cb(kc, rebalance_cb);
        rd_kafka_conf_set_opaque(kc, f);
        if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, why, sizeof(why)))) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_KAFKA,
                            "cannot create consumer: %s", why);
                rd_kafka_conf_destroy(kc);
                return NULL;
        }
        rd_kafka_poll_set_consumer(rk);
        return rk;
}

static rd_kafka_t *make_producer(fwd_t *f, char *errstr, size_t errstr_size) {
        rd_kafka_conf_t *kc;
        rd_kafka_t *rk;
        char why[512];

        if (!(kc = floq_kafka_conf_new(f->fc->conf, "producer", errstr,
                                       errstr_size)))
                return NULL;
        if (rd_kafka_conf_set(kc, "enable.idempotence", "true", why,
                              sizeof(why))) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG, "%s", why);
                rd_kafka_conf_destroy(kc);
                return NULL;
        }
        rd_kafka_conf_set_dr_msg_cb(kc, dlq_dr_cb);
        if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, why, sizeof(why)))) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_KAFKA,
                            "cannot create producer: %s", why);
                rd_kafka_conf_destroy(kc);
                return NULL;
        }
        return rk;
}

floq_err_t floq_lineage_forward(const floq_lineage_forward_conf_t *fc,
                                char *errstr, size_t errstr_size) {
        fwd_t f = { 0 };
        rd_kafka_topic_partition_list_t *topics = NULL;
        rd_kafka_resp_err_t rerr;
        floq_err_t err = FLOQ_OK;
        int64_t deadline;
        int32_t i;

        f.fc = fc;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "cannot initialise libcurl");
        if (!(f.multi = curl_multi_init())) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                  "cannot initialise libcurl");
                goto out;
        }
        if (!(f.dlq = make_producer(&f, errstr, errstr_size)) ||
            !(f.rk = make_consumer(&f, errstr, errstr_size))) {
                err = FLOQ_ERR_KAFKA;
                goto out;
        }
        /* brokers may not auto-create topics: a dead-letter topic that is
         * missing would stall its partition at the first 4xx */
        if (floq_lineage_topic_create(
                    f.dlq, fc->dlq_topic, 1,
                    (int)floq_conf_int(fc->conf, "topic.replication.factor"),
                    10000, f.errstr, sizeof(f.errstr)))
                floq_warn("forward", "%s", f.errstr);
        f.errstr[0] = '\0';
        topics = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(topics, fc->topic,
                                          RD_KAFKA_PARTITION_UA);
        if ((rerr = rd_kafka_subscribe(f.rk, topics))) {
                err = floq_seterr(errstr, errstr_size, floq_kafka_err(rerr),
                                  "cannot subscribe to '%s': %s", fc->topic,
                                  rd_kafka_err2str(rerr));
                goto out;
        }
        floq_notice("forward", "forwarding '%s' (group '%s') to %s",
                    fc->topic, fc->group_id, fc->http.url);

        while (!*fc->stop && !f.fatal) {
                int64_t now = floq_mono_ms(), nr;
                int timeout, n;
                rd_kafka_message_t *rkm;

                start_ready(&f, now);
                pump_curl(&f, f.in_flight > 0 ? 20 : 0);
                /* wait in Kafka when nothing else is pending */
                nr = next_retry(&f, floq_mono_ms());
                timeout = f.in_flight > 0 ? 0
                          : nr < 0        ? 100
                          : nr < 100      ? (int)nr
                                          : 100;
                for (n = 0; n < 1000; n++) {
                        rkm = rd_kafka_consumer_poll(f.rk, n ? 0 : timeout);
                        if (!rkm)
                                break;
                        if (rkm->err ==
                                    RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED ||
                            rkm->err ==
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
                                /* a missing ACL: waiting cannot help */
                                f.fatal = 1;
                                snprintf(f.errstr, sizeof(f.errstr),
                                         "consumer: %s: this principal lacks "
                                         "a Kafka ACL",
                                         rd_kafka_message_errstr(rkm));
                        } else if (rkm->err) {
                                if (rkm->err !=
                                    RD_KAFKA_RESP_ERR__PARTITION_EOF)
                                        floq_warn("forward", "consumer: %s",
                                                  rd_kafka_message_errstr(rkm));
                        } else {
                                enqueue(&f, rkm);
                        }
                        rd_kafka_message_destroy(rkm);
                }
                if (floq_mono_ms() - f.last_commit >= fc->commit_interval_ms)
                        commit(&f, 0);
                rd_kafka_poll(f.dlq, 0);
        }

        /* Drain: fetch nothing more, let requests in flight finish (they
         * may deliver), commit what was delivered, leave the group. */
        deadline = floq_mono_ms() + fc->drain_ms;
        for (i = 0; i < f.part_cnt; i++)
                if (f.parts[i].assigned)
                        set_paused(&f, i, 1);
        while (f.in_flight > 0 && floq_mono_ms() < deadline)
                pump_curl(&f, 50);
        commit(&f, 1);
        floq_notice("forward",
                    "stopping: %lld delivered, %lld dead-lettered, %lld "
                    "retries",
                    (long long)f.delivered, (long long)f.dead_lettered,
                    (long long)f.retried);
        if (f.fatal)
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_STATE, "%s",
                                  f.errstr);
out:
        if (topics)
                rd_kafka_topic_partition_list_destroy(topics);
        if (f.rk) {
                rd_kafka_consumer_close(f.rk);
                rd_kafka_destroy(f.rk);
        }
        for (i = 0; i < f.part_cnt; i++)
                part_clear(&f, &f.parts[i]);
        free(f.parts);
        if (f.dlq) {
                rd_kafka_flush(f.dlq, 10000);
                rd_kafka_destroy(f.dlq);
        }
        if (f.multi)
                curl_multi_cleanup(f.multi);
        curl_global_cleanup();
        return err;
}
