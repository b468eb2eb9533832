/*
 * test_mhd.h - what the unit tests' fake HTTP servers (libmicrohttpd)
 * share: starting one on a free port, a JSON answer, and a request body
 * gathered across the handler's calls and freed when the request
 * completes. Static inline, like test_util.h, so that no Makefile rule is
 * needed.
 */
#ifndef FLOQ_TEST_MHD_H
#define FLOQ_TEST_MHD_H

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** Answer @p status with @p body (copied) as application/json. */
static inline enum MHD_Result test_mhd_answer(struct MHD_Connection *c,
                                              unsigned status,
                                              const char *body) {
        struct MHD_Response *r = MHD_create_response_from_buffer(
                strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
        enum MHD_Result ret;

        MHD_add_response_header(r, "Content-Type", "application/json");
        ret = MHD_queue_response(c, status, r);
        MHD_destroy_response(r);
        return ret;
}

/** A request's body, NUL-terminated (data NULL when there is none). */
typedef struct test_mhd_body_s {
        char *data;
        size_t len;
} test_mhd_body_t;

/**
 * Gather the body in the handler: returns 1 when the handler must return
 * MHD_YES now (the first call, or a chunk taken), 0 when the request is
 * complete and *@p con_cls holds its test_mhd_body_t.
 */
static inline int test_mhd_gather(void **con_cls, const char *data,
                                  size_t *data_size) {
        test_mhd_body_t *b = *con_cls;
        char *d;

        if (!b) {
                *con_cls = calloc(1, sizeof(test_mhd_body_t));
                return 1;
        }
        if (!*data_size)
                return 0;
        if ((d = realloc(b->data, b->len + *data_size + 1))) {
                b->data = d;
                memcpy(b->data + b->len, data, *data_size);
                b->len += *data_size;
                b->data[b->len] = '\0';
        }
        *data_size = 0;
        return 1;
}

/** MHD_OPTION_NOTIFY_COMPLETED callback freeing what test_mhd_gather
 *  kept. */
static inline void test_mhd_done(void *cls, struct MHD_Connection *c,
                                 void **con_cls,
                                 enum MHD_RequestTerminationCode toe) {
        test_mhd_body_t *b = *con_cls;

        (void)cls;
        (void)c;
        (void)toe;
        if (b)
                free(b->data);
        free(b);
        *con_cls = NULL;
}

/**
 * A fake server on a free port of 127.0.0.1 (a thread per connection)
 * calling @p handler, bodies freed by test_mhd_done; its base URL
 * "http://127.0.0.1:PORT" into @p url. NULL when it cannot start.
 */
static inline struct MHD_Daemon *test_mhd_start(MHD_AccessHandlerCallback
                                                        handler,
                                                char *url, size_t url_size) {
        struct MHD_Daemon *d = MHD_start_daemon(
                MHD_USE_THREAD_PER_CONNECTION |
                        MHD_USE_INTERNAL_POLLING_THREAD,
                0, NULL, NULL, handler, NULL, MHD_OPTION_NOTIFY_COMPLETED,
                test_mhd_done, NULL, MHD_OPTION_END);

        if (d)
                snprintf(url, url_size, "http://127.0.0.1:%u",
                         MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)
                                 ->port);
        return d;
}

#endif /* FLOQ_TEST_MHD_H */
