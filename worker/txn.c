/*
 * txn.c - the worker's unit of work on Kafka. Everything one step produces
 * (replies, Deployment and RunState records, DLQ and forwarded commands,
 * lineage) and the consumer offsets of the commands it consumed go into one
 * transaction (KIP-98), with the offsets sent through
 * rd_kafka_send_offsets_to_transaction() and the consumer's group metadata
 * (KIP-447), so a zombie that lost its partitions cannot commit. State is
 * changed in memory as records are produced; side effects outside Kafka
 * (starting and stopping attempts) wait in an after-commit list. When a
 * transaction aborts, the owned partitions are restored from Kafka, the
 * consumer is rewound to the committed offsets and the executor events the
 * transaction had applied are applied again: nothing outside Kafka ever got
 * ahead of it. librdkafka's rules for the blocking calls are followed as
 * documented: a retriable error (a timeout) is answered by the same call
 * again, abortable by an abort, fatal by a new producer; a worker whose
 * transactions have not committed for worker.progress.timeout.ms gives up
 * (FLOQ_ERR_TIMED_OUT) so that another takes its partitions. A commands
 * partition is only ever positioned at its committed offset, fetched
 * again until Kafka gives a stable one; only a partition that has none
 * starts at the beginning.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "worker_int.h"

#define WTXN_TIMEOUT_MS 60000

/* A blocking transactional call may take this long: short enough that the
 * loop gets back to its self-fence check well within the heartbeat
 * timeout. */
static int txn_op_timeout(floq_worker_t *w) {
        int64_t t = w->hb_timeout_ms / 3;

        if (t < 1000)
                t = 1000;
        return t > WTXN_TIMEOUT_MS ? WTXN_TIMEOUT_MS : (int)t;
}

/* A blocking call that keeps failing retriably is logged at its 1st, 2nd,
 * 4th, 8th... attempt: a lasting outage costs a few lines, not thousands. */
static int retry_log_due(int attempt) {
        return attempt > 0 && (attempt & (attempt - 1)) == 0;
}

/* Between calls that failed retriably at once: nothing after the first,
 * then 50 ms doubling to 1 s (a call that timed out waited already). */
static void retry_pause(int attempt, int64_t call_ms) {
        int64_t ms = 50;
        int i;

        if (attempt < 2 || call_ms >= 1000)
                return;
        for (i = 2; i < attempt && ms < 1000; i++)
                ms *= 2;
        if (ms > 1000)
                ms = 1000;
        nanosleep(&(struct timespec){ .tv_sec = ms / 1000,
                                      .tv_nsec = (ms % 1000) * 1000000L },
                  NULL);
}

/* A failure on the transactional path. Progress stopped at the first one
 * since the last commit; once nothing has committed for
 * worker.progress.timeout.ms the worker gives up: w->fatal =
 * FLOQ_ERR_TIMED_OUT, the loop ends, the live attempts are stopped and the
 * group is left, so another worker takes the partitions over. Only failure
 * points call this, so an idle worker never times out. Returns 1 when the
 * worker must stop. */
static int txn_stalled(floq_worker_t *w) {
        int64_t now = floq_mono_ms();

        if (w->fatal)
                return 1;
        if (!w->stuck_since)
                w->stuck_since = now;
        if (w->progress_timeout_ms <= 0 ||
            now - w->stuck_since < w->progress_timeout_ms)
                return 0;
        floq_err("txn", "no transaction committed for %lld ms "
                        "(worker.progress.timeout.ms %lld): giving up the "
                        "partitions to another worker",
                 (long long)(now - w->stuck_since),
                 (long long)w->progress_timeout_ms);
        w->fatal = FLOQ_ERR_TIMED_OUT;
        return 1;
}

void wevlist_clear(wevlist_t *l) {
        size_t i;

        for (i = 0; i < l->cnt; i++)
                floq_exec_event_release(&l->evs[i]);
        l->cnt = 0;
}

void wevlist_push(wevlist_t *l, floq_exec_event_t *ev) {
        if (l->cnt == l->size) {
                size_t ns = l->size ? l->size * 2 : 16;
                floq_exec_event_t *n = realloc(l->evs, ns * sizeof(*n));

                if (!n) {
                        /* Without room the event cannot be replayed after
                         * an abort; its run is then retried by takeover. */
                        floq_exec_event_release(ev);
                        return;
                }
                l->evs = n;
                l->size = ns;
        }
        l->evs[l->cnt++] = *ev;
        memset(ev, 0, sizeof(*ev));
}

void wtxn_keep_event(floq_worker_t *w, floq_exec_event_t *ev) {
        wevlist_push(&w->txn.events, ev);
}

void wtxn_after(floq_worker_t *w, wafter_op_t op, int32_t p,
                const char *run_id) {
        wtxn_t *t = &w->txn;

        if (t->after_cnt == t->after_size) {
                size_t ns = t->after_size ? t->after_size * 2 : 32;
                wafter_t *n = realloc(t->after, ns * sizeof(*n));

                if (!n) {
                        floq_err("txn", "out of memory queueing an "
                                        "after-commit action");
                        t->failed = 1;
                        return;
                }
                t->after = n;
                t->after_size = ns;
        }
        t->after[t->after_cnt].op = op;
        t->after[t->after_cnt].partition = p;
        snprintf(t->after[t->after_cnt].run_id,
                 sizeof(t->after[t->after_cnt].run_id), "%s", run_id);
        t->after_cnt++;
        if (op == WAFTER_SUBMIT)
                json_object_set_new(w->inflight, run_id, json_true());
}

/* The producer has a fatal error (@p code, or @p code_e the failed call's
 * own): fenced (another instance with our transactional.id) twice within
 * a minute sets w->fatal, the worker must go; any other fatal error, or a
 * first fence, marks the producer for replacement (w->producer_broken). */
static void producer_fatal(floq_worker_t *w, rd_kafka_resp_err_t code,
                           rd_kafka_resp_err_t code_e) {
        if (code == RD_KAFKA_RESP_ERR__FENCED ||
            code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
            code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH ||
            code_e == RD_KAFKA_RESP_ERR__FENCED) {
                /* Either a newer instance with our id, or the coordinator
                 * timed our transaction out (the broker was unreachable):
                 * librdkafka cannot tell. Replace the producer once;
                 * fenced again within a minute means the id really is
                 * taken. */
                int64_t now = floq_mono_ms();

                wmetrics_fenced(w);
                if (w->last_fenced_mono && now - w->last_fenced_mono < 60000)
                        w->fatal = FLOQ_ERR_FENCED;
                else
                        w->producer_broken = 1;
                w->last_fenced_mono = now;
        } else {
                w->producer_broken = 1;
        }
}

/* 1 when the producer itself holds a fatal error (rd_kafka_fatal_error()),
 * now marked as producer_fatal() says. librdkafka 2.0.2 raises some fatal
 * errors (a batch it cannot rebuild for a retry, __INCONSISTENT; its own
 * rd_kafka_test_fatal_error()) without moving the transaction state
 * machine to its fatal state: begin_transaction() and
 * abort_transaction() still succeed and every produce fails with
 * __FATAL, so only this check stops an abort loop that would last until
 * worker.progress.timeout.ms ends the worker (test_faults, "fatal error
 * of an idle producer"). */
static int producer_fatal_seen(floq_worker_t *w) {
        char why[512];
        rd_kafka_resp_err_t code;

        if (w->producer_broken || !w->producer ||
            !(code = rd_kafka_fatal_error(w->producer, why, sizeof(why))))
                return 0;
        floq_err("txn", "the producer has a fatal error: %s: %s",
                 rd_kafka_err2name(code), why);
        producer_fatal(w, code, RD_KAFKA_RESP_ERR_NO_ERROR);
        return 1;
}

/* Log and classify a transactional error (producer_fatal() when fatal).
 * Returns 1 when fatal. */
static int txn_error(floq_worker_t *w, const char *what, rd_kafka_error_t *e) {
        int fatal = rd_kafka_error_is_fatal(e);

        if (fatal) {
                floq_err("txn", "%s: fatal: %s", what,
                         rd_kafka_error_string(e));
                producer_fatal(w, rd_kafka_fatal_error(w->producer, NULL, 0),
                               rd_kafka_error_code(e));
        } else {
                floq_warn("txn", "%s: %s", what, rd_kafka_error_string(e));
        }
        rd_kafka_error_destroy(e);
        return fatal;
}

/* Replace a producer that hit a fatal (not fenced) error: a new one with
 * the same transactional.id; its init_transactions() aborts whatever the
 * old one left open. */
static floq_err_t txn_reset_producer(floq_worker_t *w) {
        char errstr[512];
        rd_kafka_error_t *e;
        rd_kafka_t *rk;

        floq_warn("txn", "replacing the transactional producer after a "
                         "fatal error");
        rd_kafka_purge(w->producer,
                       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_destroy(w->producer);
        w->producer = NULL;
        w->producer_broken = 0;
        w->txn.open = 0;
        if (!(rk = worker_producer_new(w, errstr, sizeof(errstr)))) {
                floq_err("txn", "cannot create a producer: %s", errstr);
                w->fatal = FLOQ_ERR_KAFKA;
                return w->fatal;
        }
        w->producer = rk;
        if ((e = rd_kafka_init_transactions(rk, WTXN_TIMEOUT_MS))) {
                floq_err("txn", "cannot initialise transactions: %s",
                         rd_kafka_error_string(e));
                w->fatal = rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__FENCED
                                   ? FLOQ_ERR_FENCED
                                   : FLOQ_ERR_KAFKA;
                rd_kafka_error_destroy(e);
                return w->fatal;
        }
        return FLOQ_OK;
}

floq_err_t wtxn_begin(floq_worker_t *w) {
        rd_kafka_error_t *e;

        if (w->txn.open)
                return FLOQ_OK;
        if (w->fatal)
                return w->fatal;
        (void)producer_fatal_seen(w);
        if (w->fatal)
                return w->fatal;
        if (w->producer_broken && txn_reset_producer(w))
                return w->fatal;
        if ((e = rd_kafka_begin_transaction(w->producer))) {
                txn_error(w, "cannot begin transaction", e);
                /* No transaction was open, so nothing is lost by replacing
                 * a broken producer right here and trying once more. */
                if (w->fatal || !w->producer_broken || txn_reset_producer(w) ||
                    (e = rd_kafka_begin_transaction(w->producer))) {
                        if (e)
                                txn_error(w, "cannot begin transaction", e);
                        /* What the step consumed got no records: it must
                         * be read again (wtxn_commit rewinds). */
                        w->txn.begin_failed = 1;
                        txn_stalled(w);
                        return w->fatal ? w->fatal : FLOQ_ERR_KAFKA;
                }
        }
        w->txn.open = 1;
        w->txn.opened_mono = floq_mono_ms();
        w->txn.records = 0;
        w->txn.commands = 0;
        w->txn.failed = 0;
        return FLOQ_OK;
}

/* ------------------------------------------------------------ size budget */

/* Room a record needs beyond its key, value and headers: librdkafka's
 * worst-case framing of a v2 record (RD_KAFKAP_MESSAGE_V2_MAX_OVERHEAD is
 * well below this) with margin. The batch header (61 bytes) is the
 * broker's concern: librdkafka never builds a batch over message.max.bytes
 * plus that, and Kafka's default limit (1048588) leaves room for it. */
#define WTXN_RECORD_OVERHEAD 512

/* The budget never drops below this when a broker refuses records: a
 * record this small is refused for another reason. */
#define WTXN_BUDGET_MIN (64 * 1024)

/* Transactions a command may make fail before it is dead-lettered by
 * reference: enough for a failure that was not its own (a broker refusing
 * a batch it shared) to pass. */
#define WTXN_POISON_TRIES 3

size_t wtxn_budget(floq_worker_t *w) {
        char buf[32];
        size_t n = sizeof(buf), codec_max;

        if (w->budget)
                return w->budget;
        w->record_max = 1000000;
        if (w->producer &&
            rd_kafka_conf_get(rd_kafka_conf(w->producer), "message.max.bytes",
                              buf, &n) == RD_KAFKA_CONF_OK &&
            strtoul(buf, NULL, 10) > 0)
                w->record_max = (size_t)strtoul(buf, NULL, 10);
        w->budget = w->record_max > 2 * WTXN_RECORD_OVERHEAD
                            ? w->record_max - WTXN_RECORD_OVERHEAD
                            : w->record_max / 2;
        /* The codec encodes nothing larger than this (worker.c). */
        codec_max = w->max_message + 4096;
        if (w->max_message && w->budget > codec_max)
                w->budget = codec_max;
        return w->budget;
}

size_t wtxn_headers_size(const rd_kafka_headers_t *hdrs) {
        const char *name;
        const void *val;
        size_t i, size, total = 0;

        if (!hdrs)
                return 0;
        /* Name and value with their varint lengths (5 bytes at most). */
        for (i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size);
             i++)
                total += strlen(name) + size + 10;
        return total + 5;
}

size_t wtxn_msg_size(floq_worker_t *w, floq_msg_type_t type,
                     json_t *msg) {
        void *buf = NULL;
        size_t len = 0;

        if (floq_codec_encode(w->codec, type, msg, &buf, &len, NULL, 0))
                return 0;
        free(buf);
        return len;
}

void wtxn_source(floq_worker_t *w, int32_t p, int64_t offset) {
        w->src_active = p >= 0;
        w->src_partition = p;
        w->src_offset = offset;
}

static wpoison_t *poison_find(floq_worker_t *w, int32_t p, int64_t offset) {
        size_t i;

        for (i = 0; i < WPOISON_SLOTS; i++)
                if (w->poison[i].failures > 0 &&
                    w->poison[i].partition == p &&
                    w->poison[i].offset == offset)
                        return &w->poison[i];
        return NULL;
}

/* Count a failure of the command at (p, offset) in the open transaction
 * (once per transaction), or @p failures at once for one that can never
 * succeed. */
static void poison_mark(floq_worker_t *w, int32_t p, int64_t offset,
                        int failures, const char *why) {
        uint64_t seq = w->n_commits + w->n_aborts + 1;
        wpoison_t *e = poison_find(w, p, offset);

        if (!e) {
                e = &w->poison[w->poison_next++ % WPOISON_SLOTS];
                memset(e, 0, sizeof(*e));
                e->partition = p;
                e->offset = offset;
        }
        if (failures >= WTXN_POISON_TRIES && e->failures < failures)
                e->failures = failures;
        else if (e->txn_seq != seq || !e->failures)
                e->failures++;
        e->txn_seq = seq;
        snprintf(e->why, sizeof(e->why), "%s", why);
        floq_warn("txn", "%s [%d] offset %lld: %s (failure %d of %d before "
                         "it is dead-lettered by reference)",
                  w->t_commands, (int)p, (long long)offset, why, e->failures,
                  WTXN_POISON_TRIES);
}

int wtxn_poisoned(floq_worker_t *w, int32_t p, int64_t offset, char *why,
                  size_t why_size) {
        wpoison_t *e = poison_find(w, p, offset);

        if (!e || e->failures < WTXN_POISON_TRIES)
                return 0;
        snprintf(why, why_size, "%s", e->why);
        return e->failures - WTXN_POISON_TRIES + 1;
}

/* The message opaque carries the command a record was produced for:
 * (partition + 1) << 44 | (offset + 1), 0 for none. */
static void *src_opaque(const floq_worker_t *w) {
        if (sizeof(uintptr_t) < 8 || !w->src_active || w->src_offset < 0 ||
            w->src_offset >= ((int64_t)1 << 44) - 1)
                return NULL;
        return (void *)(((uintptr_t)(w->src_partition + 1) << 44) |
                        (uintptr_t)(w->src_offset + 1));
}

/* Errors that refuse a record for its size, so that producing it again
 * fails again. Other refusals (INVALID_RECORD, an authorization or policy
 * error) may pass, or concern the topic rather than one command: they
 * keep the abort and back-off, as before. */
static int record_refused(rd_kafka_resp_err_t err) {
        return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
               err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE ||
               err == RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE;
}

void wtxn_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
                void *opaque) {
        floq_worker_t *w = opaque;
        rd_kafka_headers_t *h = NULL;
        uintptr_t src = (uintptr_t)rkm->_private;
        size_t size;
        char why[256];

        (void)rk;
        if (!w || !rkm->err || !record_refused(rkm->err))
                return;
        rd_kafka_message_headers(rkm, &h);
        size = rkm->len + rkm->key_len + wtxn_headers_size(h);
        snprintf(why, sizeof(why), "a record of %zu bytes for '%s' was "
                                   "refused: %s",
                 size, rd_kafka_topic_name(rkm->rkt),
                 rd_kafka_err2str(rkm->err));
        if (rkm->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE &&
            size <= wtxn_budget(w) && size > wtxn_budget(w) / 2 &&
            size > WTXN_BUDGET_MIN) {
                /* The broker's limit (or the topic's max.message.bytes)
                 * is below the producer's: records are built smaller
                 * from now on. */
                w->budget = size - size / 16;
                if (w->budget < WTXN_BUDGET_MIN)
                        w->budget = WTXN_BUDGET_MIN;
                floq_warn("txn", "%s: size budget lowered to %zu bytes", why,
                          w->budget);
        }
        /* A batch refused as too large fails its small records too:
         * only a record that can be the cause counts against its
         * command (the lowered budget settles the rest). */
        if (src && size > wtxn_budget(w) / 2)
                poison_mark(w, (int32_t)(src >> 44) - 1,
                            (int64_t)(src & (((uintptr_t)1 << 44) - 1)) - 1, 1,
                            why);
        else
                floq_err("txn", "%s", why);
}

floq_err_t wtxn_produce_raw(floq_worker_t *w, const char *topic,
                            int32_t partition, const void *key,
                            size_t keylen, const void *val, size_t vallen,
                            rd_kafka_headers_t *hdrs) {
        rd_kafka_resp_err_t err;
        size_t size;
        int tries = 0;

        if (wtxn_begin(w)) {
                if (hdrs)
                        rd_kafka_headers_destroy(hdrs);
                return FLOQ_ERR_KAFKA;
        }
        size = keylen + vallen + wtxn_headers_size(hdrs);
        if (size > wtxn_budget(w)) {
                char why[256];

                snprintf(why, sizeof(why),
                         "a record of %zu bytes for '%s' is larger than the "
                         "size budget (%zu bytes)",
                         size, topic, wtxn_budget(w));
                if (hdrs)
                        rd_kafka_headers_destroy(hdrs);
                if (!w->src_active) {
                        /* Nothing to dead-letter it with; failing the
                         * transaction would fail it again, forever. */
                        floq_err("txn", "%s: not written", why);
                        return FLOQ_ERR_TOO_LARGE;
                }
                poison_mark(w, w->src_partition, w->src_offset,
                            WTXN_POISON_TRIES, why);
                w->txn.failed = 1;
                return FLOQ_ERR_TOO_LARGE;
        }
        for (;;) {
                err = rd_kafka_producev(
                        w->producer, RD_KAFKA_V_TOPIC(topic),
                        RD_KAFKA_V_PARTITION(partition),
                        RD_KAFKA_V_KEY(key, keylen),
                        RD_KAFKA_V_VALUE((void *)val, vallen),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_OPAQUE(src_opaque(w)),
                        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || ++tries > 600)
                        break;
                rd_kafka_poll(w->producer, 100);
        }
        if (err) {
                floq_warn("txn", "cannot produce to '%s': %s", topic,
                          rd_kafka_err2str(err));
                if (hdrs)
                        rd_kafka_headers_destroy(hdrs);
                if (w->src_active && record_refused(err))
                        poison_mark(w, w->src_partition, w->src_offset, 1,
                                    rd_kafka_err2str(err));
                if (err == RD_KAFKA_RESP_ERR__FATAL)
                        (void)producer_fatal_seen(w); /* the abort replaces it */
                w->txn.failed = 1;
                return FLOQ_ERR_KAFKA;
        }
        w->txn.records++;
        return FLOQ_OK;
}

/* Keep the last @p keep bytes of string member @p field of @p msg (whole
 * UTF-8 characters), marked as cut. 0 when there was nothing to cut. */
static int cut_tail(json_t *msg, const char *field, size_t keep) {
        static const char mark[] = "[truncated] ";
        json_t *v = json_object_get(msg, field);
        const char *s;
        size_t len, from;
        char *n;

        if (!json_is_string(v) || !(len = json_string_length(v)))
                return 0;
        s = json_string_value(v);
        if (keep <= sizeof(mark) - 1) {
                json_object_set_new(msg, field, json_string(""));
                return 1;
        }
        keep -= sizeof(mark) - 1;
        if (keep >= len)
                return 0;
        from = len - keep;
        while (from < len && ((unsigned char)s[from] & 0xC0) == 0x80)
                from++;
        if (!(n = malloc(sizeof(mark) + len - from)))
                return 0;
        memcpy(n, mark, sizeof(mark) - 1);
        memcpy(n + sizeof(mark) - 1, s + from, len - from);
        n[sizeof(mark) - 1 + len - from] = '\0';
        json_object_set_new(msg, field, json_stringn_nocheck(
                                                n, sizeof(mark) - 1 + len - from));
        free(n);
        return 1;
}

/* One step that makes a too large RunState or Reply smaller by about
 * @p excess bytes, in the order docs/worker.md gives; 0 when nothing is
 * left to cut. */
static int shrink_step(floq_msg_type_t type, json_t *msg, size_t excess) {
        json_t *v;
        size_t len;
        char note[160];

        v = json_object_get(msg, "output_tail");
        len = json_is_string(v) ? json_string_length(v) : 0;
        if (len > 0 && (type == FLOQ_MSG_RUN_STATE || type == FLOQ_MSG_REPLY))
                return cut_tail(msg, "output_tail",
                                len > excess + 64 ? len - excess - 64 : 0);
        if (type != FLOQ_MSG_REPLY)
                goto reason;
        v = json_object_get(msg, "detail");
        if (json_is_string(v) && json_string_length(v) > 200) {
                snprintf(note, sizeof(note),
                         "{\"truncated\":true,\"detail_bytes\":%zu,"
                         "\"why\":\"larger than the size budget\"}",
                         json_string_length(v));
                json_object_set_new(msg, "detail", json_string(note));
                return 1;
        }
        v = json_object_get(msg, "cancelled_runs");
        if (json_is_array(v) && json_array_size(v) > 0) {
                snprintf(note, sizeof(note),
                         "%zu runs cancelled; their list is larger than the "
                         "size budget",
                         json_array_size(v));
                json_object_set_new(msg, "cancelled_runs", json_array());
                json_object_set_new(msg, "reason", json_string(note));
                return 1;
        }
reason:
        v = json_object_get(msg, "reason");
        if (json_is_string(v) && json_string_length(v) > 1024) {
                const char *s = json_string_value(v);

                for (len = 1000; len > 0 &&
                                 ((unsigned char)s[len] & 0xC0) == 0x80;
                     len--)
                        ;
                json_object_set_new(msg, "reason", json_stringn_nocheck(s, len));
                return 1;
        }
        return 0;
}

floq_err_t wtxn_produce_msg(floq_worker_t *w, const char *topic,
                            int32_t partition, const char *key,
                            floq_msg_type_t type, json_t *msg) {
        size_t keylen = key ? strlen(key) : 0, len = 0;
        void *buf = NULL;
        char errstr[512];
        floq_err_t err;
        int cuts = 0;

        for (;;) {
                err = floq_codec_encode(w->codec, type, msg, &buf, &len,
                                        errstr, sizeof(errstr));
                if (err == FLOQ_ERR_TOO_LARGE) {
                        /* Over the codec's own bound: shrink as for the
                         * budget, from a length that is at least that. */
                        len = w->max_message + 4096 + 1;
                } else if (err) {
                        /* Our own record does not fit the schema: a bug,
                         * never a reason to loop. Log it with the record
                         * and go on. */
                        char *text = json_dumps(msg, JSON_COMPACT);

                        floq_err("txn", "cannot encode %s for '%s': %s: %.2000s",
                                 floq_msg_type_name(type), topic, errstr,
                                 text ? text : "?");
                        free(text);
                        return err;
                }
                if (!err && len + keylen <= wtxn_budget(w))
                        break;
                free(buf);
                buf = NULL;
                if (cuts++ >= 8 ||
                    !shrink_step(type, msg, len + keylen - wtxn_budget(w))) {
                        if (!err)
                                break; /* wtxn_produce_raw refuses it */
                        floq_err("txn", "cannot encode %s for '%s': %s",
                                 floq_msg_type_name(type), topic, errstr);
                        return err;
                }
        }
        if (cuts)
                floq_notice("txn", "%s for '%s' cut to %zu bytes to fit the "
                                   "size budget (%zu bytes)",
                            floq_msg_type_name(type), topic, len,
                            wtxn_budget(w));
        err = wtxn_produce_raw(w, topic, partition, key, keylen, buf, len,
                               NULL);
        free(buf);
        return err;
}

floq_err_t wtxn_put_deployment(floq_worker_t *w, int32_t p, json_t *dep) {
        const char *name = wjs(dep, "name");
        floq_err_t err;

        if (!name) {
                json_decref(dep);
                return FLOQ_ERR_INVALID_ARG;
        }
        err = wtxn_produce_msg(w, w->t_deployments, p, name,
                               FLOQ_MSG_DEPLOYMENT, dep);
        if (!err)
                wpart_put_deployment(&w->parts[p], name, dep);
        else
                json_decref(dep);
        return err;
}

/* Tombstones for the outcome record keys in @p keys. */
static floq_err_t outcome_tombstones(floq_worker_t *w, int32_t p,
                                     const json_t *keys) {
        floq_err_t err = FLOQ_OK;
        json_t *k;
        size_t i;

        json_array_foreach(keys, i, k)
                if ((err = wtxn_produce_raw(w, w->t_deployments, p,
                                            json_string_value(k),
                                            json_string_length(k), NULL, 0,
                                            NULL)))
                        break;
        return err;
}

floq_err_t wtxn_put_outcome(floq_worker_t *w, int32_t p,
                            const char *deployment, const char *command_id,
                            const char *status, const char *reason,
                            const json_t *cancelled, int64_t at) {
        int64_t life = floq_conf_int(w->conf,
                                     "security.command.max.lifetime.ms");
        wout_t *o = &w->parts[p].outs;
        json_t *msg, *gone;
        floq_err_t err;
        char *key;
        size_t a, b;

        /* refused before anything is written: a record the memory
         * refuses would answer nothing on the next owner either */
        if (!deployment || !command_id || !wout_status_ok(status))
                return FLOQ_ERR_INVALID_ARG;
        a = strlen(deployment);
        b = strlen(command_id);
        msg = json_pack("{s:s,s:s,s:s,s:s?,s:o,s:I}", "deployment",
                        deployment, "command_id", command_id, "status",
                        status, "reason", reason, "cancelled_runs",
                        json_is_array(cancelled)
                                ? json_incref((json_t *)cancelled)
                                : json_array(),
                        "at", (json_int_t)at);
        key = malloc(a + b + 2);
        if (!msg || !key) {
                json_decref(msg);
                free(key);
                return FLOQ_ERR_NOMEM;
        }
        memcpy(key, deployment, a);
        key[a] = '\n';
        memcpy(key + a + 1, command_id, b + 1);
        err = wtxn_produce_msg(w, w->t_deployments, p, key,
                               FLOQ_MSG_DEPLOYMENT_OUTCOME, msg);
        json_decref(msg);
        free(key);
        if (!err)
                err = wout_put(o, deployment, command_id, status, reason,
                               cancelled, at);
        if (err)
                return err;
        if (!(gone = json_array()))
                return FLOQ_ERR_NOMEM;
        wout_trim(o, deployment, floq_now_ms(), life,
                  (size_t)w->command_history, gone);
        err = outcome_tombstones(w, p, gone);
        json_decref(gone);
        return err;
}

size_t wtxn_expire_outcomes(floq_worker_t *w, int32_t p, int64_t now,
                            size_t max) {
        int64_t life = floq_conf_int(w->conf,
                                     "security.command.max.lifetime.ms");
        const wout_entry_t *next = w->parts[p].outs.qnext;
        json_t *gone;
        size_t n;

        /* nothing due: no transaction; one that cannot begin: nothing
         * forgotten without its tombstone */
        if (!next || next->at + life > now || wtxn_begin(w) ||
            !(gone = json_array()))
                return 0;
        n = wout_expire(&w->parts[p].outs, now, life,
                        (size_t)w->command_history, max, gone);
        outcome_tombstones(w, p, gone);
        json_decref(gone);
        return n;
}

floq_err_t wtxn_put_run(floq_worker_t *w, int32_t p, json_t *rs) {
        const char *id = wjs(rs, "run_id");
        floq_err_t err;
        char key[37];

        if (!id) {
                json_decref(rs);
                return FLOQ_ERR_INVALID_ARG;
        }
        snprintf(key, sizeof(key), "%s", id);
        err = wtxn_produce_msg(w, w->t_runs, p, key, FLOQ_MSG_RUN_STATE, rs);
        if (!err)
                wpart_put_run(&w->parts[p], key, rs);
        else
                json_decref(rs);
        return err;
}

floq_err_t wtxn_del_run(floq_worker_t *w, int32_t p, const char *run_id) {
        floq_err_t err = wtxn_produce_raw(w, w->t_runs, p, run_id,
                                          strlen(run_id), NULL, 0, NULL);

        if (!err)
                wpart_put_run(&w->parts[p], run_id, NULL);
        return err;
}

/* Fill in the committed offset of every partition of @p l (commands
 * topic) from the group coordinator (require_stable: librdkafka asks with
 * the read_committed isolation level, so an open transaction over the
 * group's offsets answers UNSTABLE_OFFSET_COMMIT, never an old offset).
 * A partition without a committed offset gets RD_KAFKA_OFFSET_INVALID.
 * Returns the request's error, or the first partition's. */
static rd_kafka_resp_err_t txn_fetch_committed(
        floq_worker_t *w, rd_kafka_topic_partition_list_t *l) {
        rd_kafka_resp_err_t err;
        int i;

        for (i = 0; i < l->cnt; i++)
                l->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
        if ((err = rd_kafka_committed(w->consumer, l, txn_op_timeout(w))))
                return err;
        for (i = 0; i < l->cnt; i++) {
                if (l->elems[i].err)
                        return l->elems[i].err;
                if (l->elems[i].offset >= 0)
                        w->parts[l->elems[i].partition].committed =
                                l->elems[i].offset;
        }
        return RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* The log start, as the committed offset, of every partition of @p l that
 * has none (the consumer starts there, so that is where we stand): one
 * ListOffsets for them all, through the producer. On the group member's
 * connection a ListOffsets queues behind the member's fetch, which the
 * broker holds up to fetch.wait.max.ms (500 ms) when there is nothing to
 * read: two of them per idle partition held the loop ~1 s for each, on
 * the first commit of a new group (5 s for six partitions, and the due
 * times of that time misfired). */
static rd_kafka_resp_err_t txn_log_starts(
        floq_worker_t *w, const rd_kafka_topic_partition_list_t *l) {
        rd_kafka_topic_partition_list_t *starts;
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
        int i;

        starts = rd_kafka_topic_partition_list_new(l->cnt > 0 ? l->cnt : 1);
        for (i = 0; i < l->cnt; i++)
                if (w->parts[l->elems[i].partition].committed < 0)
                        rd_kafka_topic_partition_list_add(
                                starts, w->t_commands, l->elems[i].partition)
                                ->offset = RD_KAFKA_OFFSET_BEGINNING;
        if (starts->cnt > 0)
                err = rd_kafka_offsets_for_times(w->producer, starts,
                                                 txn_op_timeout(w));
        for (i = 0; !err && i < starts->cnt; i++) {
                if ((err = starts->elems[i].err))
                        break;
                if (starts->elems[i].offset < 0) {
                        err = RD_KAFKA_RESP_ERR__BAD_MSG;
                        break;
                }
                w->parts[starts->elems[i].partition].committed =
                        starts->elems[i].offset;
        }
        rd_kafka_topic_partition_list_destroy(starts);
        return err;
}

/* The offsets to commit, for every owned partition (KIP-447: each one's
 * group-metadata check fences this transaction if another worker owns it
 * by now): the next offset of a partition that consumed something, else
 * its committed offset (fetched when not known; the log start when it has
 * none). Never an invalid offset: when one cannot be had, nothing may be
 * written (FLOQ_ERR_KAFKA: the caller aborts). *out NULL: nothing owned. */
static floq_err_t txn_offsets(floq_worker_t *w,
                              rd_kafka_topic_partition_list_t **out) {
        rd_kafka_topic_partition_list_t *l, *need;
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
        int32_t p;
        int i;

        *out = NULL;
        l = rd_kafka_topic_partition_list_new(8);
        need = rd_kafka_topic_partition_list_new(8);
        for (p = 0; p < w->part_cnt; p++) {
                if (!w->parts[p].owned)
                        continue;
                if (w->parts[p].next_offset >= 0)
                        rd_kafka_topic_partition_list_add(l, w->t_commands, p)
                                ->offset = w->parts[p].next_offset;
                else if (w->parts[p].committed >= 0)
                        rd_kafka_topic_partition_list_add(l, w->t_commands, p)
                                ->offset = w->parts[p].committed;
                else
                        rd_kafka_topic_partition_list_add(need, w->t_commands,
                                                          p);
        }
        if (need->cnt > 0)
                err = txn_fetch_committed(w, need);
        if (!err)
                err = txn_log_starts(w, need);
        for (i = 0; !err && i < need->cnt; i++) {
                p = need->elems[i].partition;
                rd_kafka_topic_partition_list_add(l, w->t_commands, p)
                        ->offset = w->parts[p].committed;
        }
        rd_kafka_topic_partition_list_destroy(need);
        if (err) {
                floq_warn("txn", "cannot read the committed offsets the "
                                 "transaction must carry: %s",
                          rd_kafka_err2str(err));
                rd_kafka_topic_partition_list_destroy(l);
                return FLOQ_ERR_KAFKA;
        }
        if (l->cnt == 0) {
                rd_kafka_topic_partition_list_destroy(l);
                return FLOQ_OK;
        }
        *out = l;
        return FLOQ_OK;
}

static void run_after_actions(floq_worker_t *w) {
        wtxn_t *t = &w->txn;
        size_t i;

        for (i = 0; i < t->after_cnt; i++) {
                wafter_t *a = &t->after[i];

                if (a->op == WAFTER_STOP) {
                        floq_executor_stop(w->ex, a->run_id,
                                           FLOQ_STOP_CANCEL);
                        continue;
                }
                if (w->queue.cnt == w->queue.size) {
                        size_t ns = w->queue.size ? w->queue.size * 2 : 64;
                        wafter_t *n =
                                realloc(w->queue.items, ns * sizeof(*n));

                        if (!n) {
                                /* The run stays ACCEPTED/RETRYING in Kafka;
                                 * takeover starts it later. */
                                json_object_del(w->inflight, a->run_id);
                                continue;
                        }
                        w->queue.items = n;
                        w->queue.size = ns;
                }
                w->queue.items[w->queue.cnt++] = *a;
        }
        t->after_cnt = 0;
}

static void discard_after_actions(floq_worker_t *w) {
        wtxn_t *t = &w->txn;
        size_t i;

        for (i = 0; i < t->after_cnt; i++)
                if (t->after[i].op == WAFTER_SUBMIT)
                        json_object_del(w->inflight, t->after[i].run_id);
        t->after_cnt = 0;
}

/* The stop actions of the open transaction (malloc()ed copies, *cntp of
 * them; NULL when none), taken before an abort discards them. */
static wafter_t *stops_take(floq_worker_t *w, size_t *cntp) {
        wtxn_t *t = &w->txn;
        wafter_t *out = NULL;
        size_t i, n = 0;

        *cntp = 0;
        for (i = 0; i < t->after_cnt; i++)
                n += t->after[i].op == WAFTER_STOP;
        if (!n || !(out = malloc(n * sizeof(*out))))
                return NULL;
        for (i = 0, n = 0; i < t->after_cnt; i++)
                if (t->after[i].op == WAFTER_STOP)
                        out[n++] = t->after[i];
        *cntp = n;
        return out;
}

/*
 * After an abort and its rewind: the stops the aborted transaction had
 * queued. When Kafka holds the stop (the commit's outcome was unknown to
 * librdkafka, say a fatal error after the broker had committed it, and the
 * restore found the stop's outcome in the Deployment), its command will
 * not be read again, so the stop is done now; otherwise the transaction
 * really aborted, the stop command is read again from the committed offset
 * and decided anew. Either way no stop is silently lost.
 */
static void stop_rederive(floq_worker_t *w, const wafter_t *a) {
        wpart_t *part = &w->parts[a->partition];
        json_t *rs = json_object_get(part->runs, a->run_id);

        if (!part->owned || !rs || wrun_status_terminal(wjs(rs, "status")) ||
            !floq_executor_has(w->ex, a->run_id) ||
            !wpart_stop_recorded(part, rs, a->run_id))
                return;
        floq_notice("txn", "run %s: its stop is in Kafka although "
                           "the commit that carried it failed "
                           "(outcome unknown): stopping it now",
                    a->run_id);
        floq_executor_stop(w->ex, a->run_id, FLOQ_STOP_CANCEL);
}

void wtxn_restops_tick(floq_worker_t *w) {
        size_t i, k;

        for (i = 0, k = 0; i < w->restop_cnt; i++) {
                const wafter_t *a = &w->restops[i];

                if (a->partition < 0 || a->partition >= w->part_cnt)
                        continue;
                if (w->parts[a->partition].restoring &&
                    w->parts[a->partition].rewound) {
                        w->restops[k++] = *a; /* not restored yet */
                        continue;
                }
                /* Restored (decided now) or no longer ours (dropped). */
                stop_rederive(w, a);
        }
        w->restop_cnt = k;
}

/* Keep @p cnt stops (taken) for wtxn_restops_tick(). */
static void restops_add(floq_worker_t *w, wafter_t *stops, size_t cnt) {
        wafter_t *n;

        if (!cnt)
                return;
        n = realloc(w->restops, (w->restop_cnt + cnt) * sizeof(*n));
        if (!n) {
                floq_warn("txn", "out of memory: %zu stop(s) of the aborted "
                                 "transaction are decided again when their "
                                 "commands are read again",
                          cnt);
                return;
        }
        memcpy(n + w->restop_cnt, stops, cnt * sizeof(*n));
        w->restops = n;
        w->restop_cnt += cnt;
}

void wtxn_abort(floq_worker_t *w) {
        rd_kafka_error_t *e;
        int attempt = 0;

        if (!w->txn.open)
                return;
        /* A timed-out abort goes on in the background and must be called
         * again until it succeeds (librdkafka 2.0.2): treating it as done
         * left every later begin_transaction() failing, for good. */
        while (!w->producer_broken &&
               (e = rd_kafka_abort_transaction(w->producer,
                                               txn_op_timeout(w)))) {
                if (rd_kafka_error_is_fatal(e) ||
                    !rd_kafka_error_is_retriable(e)) {
                        int state = rd_kafka_error_code(e) ==
                                    RD_KAFKA_RESP_ERR__STATE;

                        txn_error(w, "cannot abort transaction", e);
                        /* Not in a transaction any more (__STATE) is what
                         * we wanted; anything else: start clean with a new
                         * producer, whose init_transactions() aborts. */
                        if (!w->fatal && !state)
                                w->producer_broken = 1;
                        break;
                }
                if (retry_log_due(++attempt))
                        floq_warn("txn", "abort not finished (attempt %d), "
                                         "calling it again: %s",
                                  attempt, rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
                if (txn_stalled(w))
                        break;
                retry_pause(attempt, txn_op_timeout(w));
        }
        if (w->producer_broken && !w->fatal)
                txn_reset_producer(w);
        w->txn.open = 0;
        w->n_aborts++;
        wmetrics_txn_aborted(w);
        discard_after_actions(w);
        /* A reply topic deleted since it was cached would fail every
         * retry of the same commands: look topics up afresh. */
        json_object_clear(w->topics_ok);
        wevlist_clear(&w->txn.events);
}

/* How often a retriable error of sending the offsets or of the commit is
 * answered by the same call again, as librdkafka asks, before it aborts. */
#define WTXN_RETRIES 10

/* Aborts in a row wait before the rewind: 50 ms after the second,
 * doubling up to 2 s. An error that lasts (a topic the worker may not
 * write, a broker refusing records) then costs a restore every 2 s instead
 * of ten a second; the first abort, usually a one-off, waits nothing. */
#define WTXN_BACKOFF_MIN_MS 50
#define WTXN_BACKOFF_MAX_MS 2000

static void abort_backoff(floq_worker_t *w) {
        int64_t ms = WTXN_BACKOFF_MIN_MS;
        int i;

        if (++w->abort_streak < 2)
                return;
        for (i = 2; i < w->abort_streak && ms < WTXN_BACKOFF_MAX_MS; i++)
                ms *= 2;
        if (ms > WTXN_BACKOFF_MAX_MS)
                ms = WTXN_BACKOFF_MAX_MS;
        floq_warn("txn", "%d aborts in a row: backing off %lld ms before "
                         "the next transaction", w->abort_streak,
                  (long long)ms);
        nanosleep(&(struct timespec){ .tv_sec = ms / 1000,
                                      .tv_nsec = (ms % 1000) * 1000000L },
                  NULL);
}

/* Partitions of @p redo whose fetcher stopped (auto.offset.reset=error
 * leaves it so, and a seek then answers __STATE): assigned again at the
 * given offsets. Outside a rebalance that takes the incremental calls
 * with the cooperative protocol, a whole assign() with the eager one
 * (every other partition kept at its position). */
static void txn_reassign(floq_worker_t *w,
                         rd_kafka_topic_partition_list_t *redo) {
        const char *proto = rd_kafka_rebalance_protocol(w->consumer);
        rd_kafka_topic_partition_list_t *cur = NULL, *pause;
        rd_kafka_error_t *e = NULL;
        rd_kafka_resp_err_t err;
        int i;

        if (proto && !strcmp(proto, "COOPERATIVE")) {
                if (!(e = rd_kafka_incremental_unassign(w->consumer, redo)))
                        e = rd_kafka_incremental_assign(w->consumer, redo);
        } else if (!(err = rd_kafka_assignment(w->consumer, &cur))) {
                rd_kafka_position(w->consumer, cur);
                for (i = 0; i < cur->cnt; i++) {
                        rd_kafka_topic_partition_t *r =
                                rd_kafka_topic_partition_list_find(
                                        redo, cur->elems[i].topic,
                                        cur->elems[i].partition);
                        int32_t p = cur->elems[i].partition;

                        if (r)
                                cur->elems[i].offset = r->offset;
                        else if (cur->elems[i].offset < 0 &&
                                 !strcmp(cur->elems[i].topic,
                                         w->t_commands) &&
                                 p < w->part_cnt &&
                                 w->parts[p].committed >= 0)
                                cur->elems[i].offset = w->parts[p].committed;
                }
                if ((err = rd_kafka_assign(w->consumer, cur)))
                        e = rd_kafka_error_new(err, "%s",
                                               rd_kafka_err2str(err));
        } else {
                e = rd_kafka_error_new(err, "%s", rd_kafka_err2str(err));
        }
        if (cur)
                rd_kafka_topic_partition_list_destroy(cur);
        if (e) {
                floq_warn("txn", "cannot assign %d partition(s) again at "
                                 "their committed offsets: %s",
                          redo->cnt, rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
                for (i = 0; i < redo->cnt; i++)
                        w->parts[redo->elems[i].partition].pos_retry_mono =
                                floq_mono_ms() + 1000;
                return;
        }
        /* A new assignment arrives unpaused. */
        pause = rd_kafka_topic_partition_list_new(redo->cnt);
        for (i = 0; i < redo->cnt; i++)
                if (w->parts[redo->elems[i].partition].paused)
                        rd_kafka_topic_partition_list_add(
                                pause, w->t_commands, redo->elems[i].partition);
        if (pause->cnt)
                rd_kafka_pause_partitions(w->consumer, pause);
        rd_kafka_topic_partition_list_destroy(pause);
}

#define WPOS_BACKOFF_MIN_MS 100
#define WPOS_BACKOFF_MAX_MS 5000

void wtxn_position(floq_worker_t *w) {
        rd_kafka_topic_partition_list_t *l, *seek, *redo;
        rd_kafka_resp_err_t err;
        rd_kafka_error_t *e;
        int64_t now = floq_mono_ms();
        int32_t p;
        int i, waiting = 0;

        l = rd_kafka_topic_partition_list_new(8);
        for (p = 0; p < w->part_cnt; p++)
                if (w->parts[p].owned && w->parts[p].pos_retry_mono &&
                    w->parts[p].pos_retry_mono <= now)
                        rd_kafka_topic_partition_list_add(l, w->t_commands, p)
                                ->offset = RD_KAFKA_OFFSET_INVALID;
        if (l->cnt == 0) {
                rd_kafka_topic_partition_list_destroy(l);
                return;
        }
        seek = rd_kafka_topic_partition_list_new(l->cnt);
        redo = rd_kafka_topic_partition_list_new(l->cnt);
        err = rd_kafka_committed(w->consumer, l, txn_op_timeout(w));
        for (i = 0; i < l->cnt; i++) {
                rd_kafka_resp_err_t perr = err ? err : l->elems[i].err;

                p = l->elems[i].partition;
                if (perr) {
                        /* Unstable (a transaction is open over the group's
                         * offsets: a dead worker's, until its timeout) or
                         * unreachable: ask again, never guess. */
                        if (!waiting++) {
                                int64_t b = w->pos_backoff_ms * 2;

                                if (b < WPOS_BACKOFF_MIN_MS)
                                        b = WPOS_BACKOFF_MIN_MS;
                                if (b > WPOS_BACKOFF_MAX_MS)
                                        b = WPOS_BACKOFF_MAX_MS;
                                if (b != w->pos_backoff_ms ||
                                    b == WPOS_BACKOFF_MAX_MS)
                                        floq_warn("txn",
                                                  "committed offset of "
                                                  "partition %d not known "
                                                  "yet (%s): asking again in "
                                                  "%lld ms",
                                                  (int)p,
                                                  rd_kafka_err2str(perr),
                                                  (long long)b);
                                w->pos_backoff_ms = b;
                        }
                        w->parts[p].pos_retry_mono = now + w->pos_backoff_ms;
                        continue;
                }
                w->parts[p].pos_retry_mono = 0;
                if (l->elems[i].offset >= 0) {
                        int64_t to = l->elems[i].offset, lo, hi;

                        /* Out of range (retention deleted what was never
                         * consumed, or the topic was recreated) would
                         * come back as the same reset error, for ever:
                         * the nearest offset that exists instead. Asked
                         * through the restorer (read_committed too, its
                         * fetches wait 10 ms): on the group member's
                         * connection each ListOffsets queued behind the
                         * member's fetch, which waits up to
                         * fetch.wait.max.ms (500 ms) for records, and
                         * that held the loop up to a second for every
                         * partition positioned. */
                        if (!floq_kafka_watermarks(w->restorer ? w->restorer
                                                               : w->consumer,
                                                   w->t_commands,
                                                   p, &lo, &hi,
                                                   txn_op_timeout(w)) &&
                            (to < lo || to > hi)) {
                                floq_warn("txn", "partition %d: committed "
                                                 "offset %lld outside "
                                                 "%lld..%lld: from %lld",
                                          (int)p, (long long)to,
                                          (long long)lo, (long long)hi,
                                          (long long)(to < lo ? lo : hi));
                                to = to < lo ? lo : hi;
                        }
                        w->parts[p].committed = to;
                        rd_kafka_topic_partition_list_add(seek, w->t_commands,
                                                          p)
                                ->offset = to;
                } else {
                        /* Kafka says: no committed offset at all. */
                        floq_info("txn", "partition %d has no committed "
                                         "offset: from the beginning",
                                  (int)p);
                        rd_kafka_topic_partition_list_add(seek, w->t_commands,
                                                          p)
                                ->offset = RD_KAFKA_OFFSET_BEGINNING;
                }
        }
        if (!waiting)
                w->pos_backoff_ms = 0;
        if (seek->cnt > 0) {
                if ((e = rd_kafka_seek_partitions(w->consumer, seek,
                                                  txn_op_timeout(w)))) {
                        floq_warn("txn", "cannot rewind the consumer: %s",
                                  rd_kafka_error_string(e));
                        rd_kafka_error_destroy(e);
                        for (i = 0; i < seek->cnt; i++)
                                w->parts[seek->elems[i].partition]
                                        .pos_retry_mono = now + 1000;
                } else {
                        for (i = 0; i < seek->cnt; i++)
                                if (seek->elems[i].err)
                                        rd_kafka_topic_partition_list_add(
                                                redo, w->t_commands,
                                                seek->elems[i].partition)
                                                ->offset =
                                                seek->elems[i].offset;
                }
        }
        if (redo->cnt > 0)
                txn_reassign(w, redo);
        rd_kafka_topic_partition_list_destroy(redo);
        rd_kafka_topic_partition_list_destroy(seek);
        rd_kafka_topic_partition_list_destroy(l);
}

/* After an abort: every owned partition is restored again from Kafka,
 * through the same stepped restore as an assignment (restore.c, driven by
 * the loop: worker.c's restore_tick()), never here: a restore held by an
 * open transaction of someone else must not hold the other partitions.
 * Each partition is paused, marked restoring (not owned: none of its
 * commands decided, none of its state written) and positioned at its
 * committed offset once restored. What the aborted transaction had
 * applied waits for its partition: the executor events in w->replay
 * (worker_runs_rewound_done()), the stops in w->restops
 * (wtxn_restops_tick()); the live attempts are remembered in
 * w->rewound_live, so that a revocation meanwhile can still hand them
 * over. */
static void txn_rewind(floq_worker_t *w, wevlist_t *replay, wafter_t *stops,
                       size_t stop_cnt) {
        rd_kafka_topic_partition_list_t *pause =
                rd_kafka_topic_partition_list_new(w->part_cnt + 1);
        int32_t p;
        size_t i;

        for (p = 0; p < w->part_cnt; p++) {
                wpart_t *part = &w->parts[p];
                const char *dep, *k;
                json_t *set, *v, *rs;

                if (!part->owned)
                        continue;
                json_object_foreach(part->live, dep, set) {
                        json_object_foreach(set, k, v) {
                                if (!floq_executor_has(w->ex, k) ||
                                    !(rs = wpart_run(part, k)))
                                        continue;
                                json_object_set_new(
                                        w->rewound_live, k,
                                        json_pack("{s:i, s:I, s:s, s:s}", "p",
                                                  (int)p, "attempt",
                                                  (json_int_t)wji(rs, "attempt",
                                                                  1),
                                                  "deployment",
                                                  wjs(rs, "deployment")
                                                          ? wjs(rs, "deployment")
                                                          : "",
                                                  "command_id",
                                                  wjs(rs, "command_id")
                                                          ? wjs(rs, "command_id")
                                                          : ""));
                        }
                }
                wpart_clear(part);
                part->restoring = 1;
                part->rewound = 1;
                part->awaiting_pos = 0;
                part->paused = 1;
                part->next_offset = -1;
                part->skip_from = -1;
                part->committed = -1;
                part->pos_retry_mono = 0;
                rd_kafka_topic_partition_list_add(pause, w->t_commands, p);
        }
        if (pause->cnt) {
                floq_notice("txn", "restoring %d partition(s) again after "
                                   "the abort (from the loop)",
                            pause->cnt);
                rd_kafka_pause_partitions(w->consumer, pause);
        }
        rd_kafka_topic_partition_list_destroy(pause);
        w->pos_backoff_ms = 0;
        for (i = 0; i < replay->cnt; i++)
                wevlist_push(&w->replay, &replay->evs[i]);
        replay->cnt = 0;
        restops_add(w, stops, stop_cnt);
}

floq_err_t wtxn_commit(floq_worker_t *w) {
        rd_kafka_topic_partition_list_t *offsets = NULL;
        rd_kafka_consumer_group_metadata_t *cgmd;
        rd_kafka_error_t *e = NULL;
        wevlist_t replay;
        wafter_t *stops = NULL;
        size_t stop_cnt = 0;
        int tries;
        int32_t p;

        if (w->txn.begin_failed)
                goto abort;
        if (!w->txn.open) {
                run_after_actions(w);
                return FLOQ_OK;
        }
        if (w->txn.failed)
                goto abort;

        if (txn_offsets(w, &offsets)) {
                txn_stalled(w);
                goto abort;
        }
        if (!offsets && w->txn.records > 0) {
                /* Nothing would fence it (KIP-447): not written. */
                floq_warn("txn", "%d record(s) of no owned partition: not "
                                 "written",
                          w->txn.records);
                goto abort;
        }
        wmetrics_txn_commit_begin(w);
        if (offsets) {
                cgmd = rd_kafka_consumer_group_metadata(w->consumer);
                /* A retriable error (coordinator loading or slower than
                 * the call's timeout) leaves the transaction intact:
                 * librdkafka asks for the same call again with the same
                 * offsets, as the commit below does, not for an abort
                 * and a rewind of every owned partition. */
                for (tries = 0;; tries++) {
                        e = rd_kafka_send_offsets_to_transaction(
                                w->producer, offsets, cgmd,
                                txn_op_timeout(w));
                        if (!e || !rd_kafka_error_is_retriable(e) ||
                            tries >= WTXN_RETRIES)
                                break;
                        txn_error(w, "cannot send offsets, retrying", e);
                        e = NULL; /* destroyed by txn_error() */
                        if (txn_stalled(w))
                                break;
                        retry_pause(tries + 1, txn_op_timeout(w));
                }
                rd_kafka_consumer_group_metadata_destroy(cgmd);
                rd_kafka_topic_partition_list_destroy(offsets);
                if (w->fatal) {
                        if (e)
                                rd_kafka_error_destroy(e);
                        return w->fatal;
                }
                /* Abortable or not (a rebalance is under way, or this
                 * worker is no longer the partitions' owner), the
                 * transaction cannot commit without its offsets. */
                if (e) {
                        txn_error(w, "cannot send offsets", e);
                        if (w->fatal)
                                return w->fatal;
                        txn_stalled(w);
                        goto abort;
                }
        }
        /* A retriable error (the coordinator gone for longer than the
         * call's timeout) is answered by the same call again until it
         * succeeds, as librdkafka asks: the commit goes on in the
         * background. Bounded by worker.progress.timeout.ms. */
        for (tries = 0;; tries++) {
                if (!(e = rd_kafka_commit_transaction(
                              w->producer, txn_op_timeout(w))))
                        break;
                if (rd_kafka_error_is_retriable(e)) {
                        if (retry_log_due(tries + 1))
                                txn_error(w, "commit failed, retrying", e);
                        else
                                rd_kafka_error_destroy(e);
                        if (txn_stalled(w))
                                return w->fatal;
                        retry_pause(tries + 1, txn_op_timeout(w));
                        continue;
                }
                txn_stalled(w);
                if (rd_kafka_error_txn_requires_abort(e)) {
                        txn_error(w, "commit failed", e);
                        goto abort;
                }
                /* Fatal: fenced ends the worker; anything else replaces
                 * the producer (in wtxn_abort) and rewinds. */
                txn_error(w, "commit failed", e);
                if (w->fatal)
                        return w->fatal;
                if (!w->producer_broken)
                        w->producer_broken = 1;
                goto abort;
        }
        for (p = 0; p < w->part_cnt; p++)
                if (w->parts[p].owned && w->parts[p].next_offset >= 0)
                        w->parts[p].committed = w->parts[p].next_offset;
        w->txn.open = 0;
        w->n_commits++;
        wmetrics_txn_committed(w);
        w->abort_streak = 0;
        w->stuck_since = 0;
        atomic_store(&w->last_commit_mono, floq_mono_ms());
        atomic_store(&w->self_fenced, 0);
        wevlist_clear(&w->txn.events);
        run_after_actions(w);
        return FLOQ_OK;

abort:
        floq_warn("txn", "aborting the transaction (%d records, %d commands) "
                         "and rewinding to the committed offsets",
                  w->txn.records, w->txn.commands);
        /* Keep the applied events: the executor will not send them again. */
        replay = w->txn.events;
        memset(&w->txn.events, 0, sizeof(w->txn.events));
        w->txn.begin_failed = 0;
        stops = stops_take(w, &stop_cnt);
        if (w->txn.open)
                wtxn_abort(w);
        else
                discard_after_actions(w);
        if (!w->fatal) {
                abort_backoff(w);
                txn_rewind(w, &replay, stops, stop_cnt);
        }
        free(stops);
        wevlist_clear(&replay);
        free(replay.evs);
        return w->fatal ? w->fatal : FLOQ_ERR_KAFKA;
}
