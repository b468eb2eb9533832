/*
 * server.c - the console's HTTP side over libmicrohttpd: GET and HEAD
 * only, the Accept header choosing JSON or HTML, query arguments handed
 * to the renderer through a lookup, and on every answer the headers that
 * keep a browser from doing more than the page says: a
 * Content-Security-Policy allowing no script but the page's own inline
 * one (by hash), nosniff, no referrer, no caching. Answers waiting for
 * their clients to read them are bounded in bytes (CSERVER_INFLIGHT_MAX):
 * past it a request gets a short 503, so clients that ask for big pages
 * and never read cannot hold a page each.
 */
#include <errno.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "console_int.h"

/* Bytes of answers not yet sent that the server may hold: 64 MiB, or a
 * quarter of the store's byte budget when that is less. */
#define CSERVER_INFLIGHT_MAX ((int64_t)64 << 20)

/* An answer this small is always sent (the health check, errors). */
#define CSERVER_SMALL 4096

struct cserver_s {
        struct MHD_Daemon *mhd;
        cstore_t *store;
        char csp[256];
        int64_t inflight_max;
        atomic_llong inflight; /**< bytes of answers queued, not freed */
};

/* One answer's body, freed by libmicrohttpd when it is sent (or the
 * connection goes). */
typedef struct cbody_s {
        cserver_t *srv;
        size_t len;
        char *p;
} cbody_t;

static void body_free(void *cls) {
        cbody_t *b = cls;

        atomic_fetch_sub(&b->srv->inflight, (long long)b->len);
        free(b->p);
        free(b);
}

static const char *query_get(void *ctx, const char *name) {
        return MHD_lookup_connection_value((struct MHD_Connection *)ctx,
                                           MHD_GET_ARGUMENT_KIND, name);
}

/* 1 when the client prefers JSON: an Accept naming application/json
 * before (or without) text/html. */
static int wants_json(const char *accept) {
        const char *j, *h;

        if (!accept || !(j = strstr(accept, "application/json")))
                return 0;
        h = strstr(accept, "text/html");
        return !h || j < h;
}

static enum MHD_Result answer_busy(struct MHD_Connection *c) {
        static const char busy[] = "busy: too many answers waiting to be "
                                   "read; try again\n";
        struct MHD_Response *r = MHD_create_response_from_buffer(
                sizeof(busy) - 1, (void *)busy, MHD_RESPMEM_PERSISTENT);
        enum MHD_Result ret;

        if (!r)
                return MHD_NO;
        MHD_add_response_header(r, "Retry-After", "1");
        MHD_add_response_header(r, "Cache-Control", "no-store");
        ret = MHD_queue_response(c, MHD_HTTP_SERVICE_UNAVAILABLE, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c,
                              const char *url, const char *method,
                              const char *version, const char *data,
                              size_t *data_size, void **con_cls) {
        cserver_t *srv = cls;
        struct MHD_Response *r;
        enum MHD_Result ret;
        cbody_t *body;
        cpage_t page;
        creq_t req;
        size_t len;
        long long prev;

        (void)version;
        (void)data;
        (void)data_size;
        (void)con_cls;
        if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
                static const char msg[] = "method not allowed\n";

                r = MHD_create_response_from_buffer(sizeof(msg) - 1,
                                                    (void *)msg,
                                                    MHD_RESPMEM_PERSISTENT);
                if (!r)
                        return MHD_NO;
                MHD_add_response_header(r, "Allow", "GET, HEAD");
                ret = MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, r);
                MHD_destroy_response(r);
                return ret;
        }
        /* the answers already waiting fill the bound: not even rendered
         * (but the health check, small, still answers what it is) */
        if (atomic_load(&srv->inflight) >= srv->inflight_max &&
            strcmp(url, "/healthz"))
                return answer_busy(c);
        memset(&req, 0, sizeof(req));
        req.path = url;
        req.json = wants_json(MHD_lookup_connection_value(
                c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT));
        req.query = query_get;
        req.query_ctx = c;
        req.now_ms = floq_now_ms();
        crender(srv->store, &req, &page);
        if (!page.body)
                return MHD_NO;
        len = strlen(page.body);
        /* one answer is always let through, however big (the page bound
         * is the renderer's): only more beside it count */
        prev = atomic_fetch_add(&srv->inflight, (long long)len);
        if (prev > 0 && prev + (long long)len > srv->inflight_max &&
            len > CSERVER_SMALL) {
                atomic_fetch_sub(&srv->inflight, (long long)len);
                free(page.body);
                return answer_busy(c);
        }
        if (!(body = malloc(sizeof(*body)))) {
                atomic_fetch_sub(&srv->inflight, (long long)len);
                free(page.body);
                return MHD_NO;
        }
        body->srv = srv;
        body->len = len;
        body->p = page.body;
        r = MHD_create_response_from_buffer_with_free_callback_cls(
                len, page.body, body_free, body);
        if (!r) {
                body_free(body);
                return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", page.ctype);
        MHD_add_response_header(r, "Content-Security-Policy", srv->csp);
        MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
        MHD_add_response_header(r, "X-Frame-Options", "DENY");
        MHD_add_response_header(r, "Cache-Control", "no-store");
        MHD_add_response_header(r, "Vary", "Accept");
        ret = MHD_queue_response(c, page.status, r);
        MHD_destroy_response(r);
        return ret;
}

cserver_t *cserver_new(const char *listen, cstore_t *s, char *errstr,
                       size_t errstr_size) {
        cserver_t *srv = calloc(1, sizeof(*srv));
        struct addrinfo *ai = NULL;

        if (!srv) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                return NULL;
        }
        srv->store = s;
        srv->inflight_max = CSERVER_INFLIGHT_MAX;
        if (s->lim.bytes_max / 4 < srv->inflight_max)
                srv->inflight_max = s->lim.bytes_max / 4;
        snprintf(srv->csp, sizeof(srv->csp),
                 "default-src 'none'; script-src %s; style-src "
                 "'unsafe-inline'; connect-src 'self'; img-src 'self'; "
                 "form-action 'self'; base-uri 'none'; frame-ancestors "
                 "'none'",
                 crender_script_csp());
        if (floq_listen_resolve("console.listen", listen, &ai, errstr,
                                errstr_size))
                goto fail;
        srv->mhd = MHD_start_daemon(
                MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                        (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0),
                0, NULL, NULL, answer, srv, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                MHD_OPTION_CONNECTION_LIMIT, (unsigned)512,
                MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)64,
                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
                MHD_OPTION_END);
        freeaddrinfo(ai);
        if (!srv->mhd) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                            "console.listen '%s': cannot listen: %s", listen,
                            strerror(errno));
                goto fail;
        }
        return srv;
fail:
        free(srv);
        return NULL;
}

void cserver_destroy(cserver_t *srv) {
        if (!srv)
                return;
        if (srv->mhd)
                MHD_stop_daemon(srv->mhd);
        free(srv);
}
