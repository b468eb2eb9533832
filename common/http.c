/*
 * http.c - the one HTTP adapter of floq's HTTP backends (airflow, dagster,
 * prefect, kubernetes, webhooks), over libcurl's easy interface. A call is
 * a loop of tries inside one total deadline: each try has its own connect
 * timeout and what is left of the deadline; connection errors, 429 and 5xx
 * are tried again after an exponential backoff with jitter (or the
 * server's Retry-After, when it fits in the deadline), any other answer is
 * final. The response body is bounded (curl's "toobig"), parsed as JSON
 * when it is JSON, and every failure becomes one message that says which
 * call failed and why, with the server's own words when it gave some.
 * Credentials go into headers built here and wiped after use; they never
 * reach a message.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>

#include "floq_common.h"

#define HTTP_CONNECT_MS   5000
#define HTTP_TIMEOUT_MS   30000
#define HTTP_RETRIES      4
#define HTTP_BACKOFF_MS   200
#define HTTP_BACKOFF_MAX  5000
#define HTTP_MAX_BODY     (1024 * 1024)
#define HTTP_DETAIL_MAX   200 /* characters of a server's message kept */

static pthread_once_t http_once = PTHREAD_ONCE_INIT;
static CURLcode http_init_rc;

static void http_init(void) {
        http_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int floq_http_global_init(void) {
        pthread_once(&http_once, http_init);
        return http_init_rc == CURLE_OK ? 0 : -1;
}

void floq_http_resp_release(floq_http_resp_t *resp) {
        if (!resp)
                return;
        free(resp->body);
        json_decref(resp->json);
        memset(resp, 0, sizeof(*resp));
}

/* The body being received, bounded by max. */
typedef struct hbuf_s {
        char *data;
        size_t len, cap, max;
        int toobig;
} hbuf_t;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata) {
        hbuf_t *b = userdata;
        size_t n = size * nmemb;

        if (b->len + n > b->max) {
                b->toobig = 1;
                return 0; /* CURLE_WRITE_ERROR: stop reading */
        }
        if (b->len + n + 1 > b->cap) {
                size_t nc = b->cap ? b->cap : 4096;
                char *d;

                while (nc < b->len + n + 1)
                        nc *= 2;
                if (!(d = realloc(b->data, nc)))
                        return 0;
                b->data = d;
                b->cap = nc;
        }
        memcpy(b->data + b->len, ptr, n);
        b->len += n;
        b->data[b->len] = '\0';
        return n;
}

/* The reason phrase of the status line ("Unauthorized"), kept per try. */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata) {
        char *reason = userdata;
        size_t n = size * nmemb, i = 0, j;

        if (n > 5 && !strncmp(ptr, "HTTP/", 5)) {
                /* "HTTP/1.1 401 Unauthorized\r\n": after the 2nd space */
                while (i < n && ptr[i] != ' ')
                        i++;
                i++;
                while (i < n && ptr[i] != ' ' && ptr[i] != '\r')
                        i++;
                if (i < n && ptr[i] == ' ')
                        i++;
                for (j = 0; i < n && ptr[i] != '\r' && ptr[i] != '\n' &&
                            j < 63;
                     i++)
                        reason[j++] = ptr[i];
                reason[j] = '\0';
        }
        return n;
}

/* Delay before retry @p n (1-based): backoff doubling to the cap, then
 * -20%..+20% so that many workers do not come back in step. */
static int64_t backoff(const floq_http_opts_t *o, int n) {
        int64_t d = o->backoff_ms > 0 ? o->backoff_ms : HTTP_BACKOFF_MS;
        int64_t cap = o->max_backoff_ms > 0 ? o->max_backoff_ms
                                            : HTTP_BACKOFF_MAX;
        uint32_t r = 0;

        while (--n > 0 && d < cap)
                d *= 2;
        if (d > cap)
                d = cap;
        if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
                r = (uint32_t)floq_mono_ms() * 2654435761u;
        d += (int64_t)((double)d * (((double)r / 4294967295.0) * 0.4 - 0.2));
        return d < 1 ? 1 : d;
}

/* The path of @p url for messages: no scheme, host or query string (a
 * query may hold a token). */
static void url_path(const char *url, char *out, size_t out_size) {
        const char *p = strstr(url, "://");
        size_t n;

        p = p ? strchr(p + 3, '/') : NULL;
        if (!p)
                p = "/";
        n = strcspn(p, "?#");
        snprintf(out, out_size, "%.*s", (int)n, p);
}

/* The server's own words: "detail", "message", "error" or "title" of a
 * JSON body (a string, or the first error of an array), else the start of
 * the body on one line. */
static void detail_of(const floq_http_resp_t *r, char *out, size_t out_size) {
        static const char *const keys[] = { "detail", "message", "error",
                                            "title", "reason" };
        const char *text = NULL;
        size_t i, j;

        out[0] = '\0';
        for (i = 0; r->json && json_is_object(r->json) &&
                    i < sizeof(keys) / sizeof(keys[0]) && !text;
             i++) {
                json_t *v = json_object_get(r->json, keys[i]);

                if (json_is_array(v))
                        v = json_array_get(v, 0);
                if (json_is_object(v))
                        v = json_object_get(v, "message")
                                    ? json_object_get(v, "message")
                                    : json_object_get(v, "msg");
                if (json_is_string(v))
                        text = json_string_value(v);
        }
        if (!text)
                text = r->body;
        if (!text)
                return;
        for (i = 0, j = 0; text[i] && j + 1 < out_size && i < HTTP_DETAIL_MAX;
             i++)
                out[j++] = (text[i] == '\n' || text[i] == '\r' ||
                            text[i] == '\t')
                                   ? ' '
                                   : text[i];
        while (j > 0 && out[j - 1] == ' ')
                j--;
        out[j] = '\0';
}

static floq_err_t status_err(long status) {
        switch (status) {
        case 401:
        case 403:
                return FLOQ_ERR_UNAUTHORIZED;
        case 404:
                return FLOQ_ERR_NOT_FOUND;
        case 409:
                return FLOQ_ERR_EXISTS;
        default:
                return status >= 500 || status == 429 ? FLOQ_ERR_BACKEND
                                                      : FLOQ_ERR_REJECTED;
        }
}

static int curl_retriable(CURLcode rc) {
        switch (rc) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
                return 1;
        default:
                return 0;
        }
}

/* The request headers: content type, credentials, the caller's. The
 * credential lines are wiped before they are freed. */
static struct curl_slist *headers_new(const floq_http_opts_t *o,
                                      int has_body, char **authp) {
        struct curl_slist *h = NULL, *t;
        size_t i;

        *authp = NULL;
        if (!(h = curl_slist_append(NULL, "Accept: application/json")))
                return NULL;
        if (has_body) {
                if (!(t = curl_slist_append(h, "Content-Type: "
                                               "application/json")))
                        goto fail;
                h = t;
        }
        if (!(t = curl_slist_append(h, "Expect:")))
                goto fail;
        h = t;
        if (o->bearer && *o->bearer) {
                if (asprintf(authp, "Authorization: Bearer %s", o->bearer) < 0) {
                        *authp = NULL;
                        goto fail;
                }
                if (!(t = curl_slist_append(h, *authp)))
                        goto fail;
                h = t;
        }
        for (i = 0; o->headers && o->headers[i]; i++) {
                if (!(t = curl_slist_append(h, o->headers[i])))
                        goto fail;
                h = t;
        }
        return h;
fail:
        curl_slist_free_all(h);
        return NULL;
}

/* Wipe the header list (credentials, and callers' headers that may be
 * tokens too) before it is freed. */
static void headers_free(struct curl_slist *h, char *auth) {
        struct curl_slist *t;

        for (t = h; t; t = t->next)
                memset(t->data, 0, strlen(t->data));
        curl_slist_free_all(h);
        if (auth) {
                memset(auth, 0, strlen(auth));
                free(auth);
        }
}

floq_err_t floq_http_request(const floq_http_opts_t *opts, const char *method,
                             const char *url, const json_t *body,
                             floq_http_resp_t *resp, char *errstr,
                             size_t errstr_size) {
        static const floq_http_opts_t none;
        const floq_http_opts_t *o = opts ? opts : &none;
        const char *what = o->what && *o->what ? o->what : "http";
        long connect_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms
                                                    : HTTP_CONNECT_MS;
        long total_ms = o->timeout_ms > 0 ? o->timeout_ms : HTTP_TIMEOUT_MS;
        int retries = o->max_retries < 0 ? 0
                      : o->max_retries > 0 ? o->max_retries
                                           : HTTP_RETRIES;
        int64_t deadline = floq_mono_ms() + total_ms;
        char path[256], cerr[CURL_ERROR_SIZE], reason[64], detail[256];
        char *payload = NULL, *auth = NULL;
        struct curl_slist *hdrs = NULL;
        CURL *curl = NULL;
        floq_err_t err = FLOQ_OK;
        CURLcode rc = CURLE_OK;

        memset(resp, 0, sizeof(*resp));
        url_path(url ? url : "", path, sizeof(path));
        if (!method || !url || !*url)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "%s: no method or url", what);
        if (floq_http_global_init())
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "%s: cannot initialise libcurl", what);
        if (body && !(payload = json_dumps(body, JSON_COMPACT)))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "%s: out of memory", what);
        if (!(curl = curl_easy_init()) ||
            !(hdrs = headers_new(o, payload != NULL, &auth))) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                  "%s: out of memory", what);
                goto out;
        }
        if (curl_easy_setopt(curl, CURLOPT_URL, url) != CURLE_OK ||
            curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") !=
                    CURLE_OK) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                  "%s: cannot use url '%s'", what, url);
                goto out;
        }
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
        if (payload) {
                curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload);
                curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                                 (curl_off_t)strlen(payload));
        } else if (!strcmp(method, "GET")) {
                curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
        } else if (!strcmp(method, "HEAD")) {
                curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
        }
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(curl, CURLOPT_USERAGENT, "floq/" FLOQ_VERSION_STR);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, cerr);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, o->insecure ? 0L : 1L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, o->insecure ? 0L : 2L);
        if (o->ca_file && *o->ca_file)
                curl_easy_setopt(curl, CURLOPT_CAINFO, o->ca_file);
        if (o->basic && *o->basic) {
                curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
                curl_easy_setopt(curl, CURLOPT_USERPWD, o->basic);
        }
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, reason);

        for (;;) {
                hbuf_t b = { .max = o->max_body ? o->max_body : HTTP_MAX_BODY };
                int64_t left = deadline - floq_mono_ms(), wait_ms;
                curl_off_t retry_after = -1;
                int retry;

                if (left <= 0) {
                        err = floq_seterr(errstr, errstr_size,
                                          FLOQ_ERR_TIMED_OUT,
                                          "%s: %s %s: no answer within %ld ms "
                                          "(%d tries)",
                                          what, method, path, total_ms,
                                          resp->attempts);
                        break;
                }
                cerr[0] = reason[0] = '\0';
                curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)left);
                curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                                 connect_ms < left ? connect_ms : (long)left);
                curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
                curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
                resp->attempts++;
                rc = curl_easy_perform(curl);
                free(resp->body);
                json_decref(resp->json);
                resp->body = b.data;
                resp->len = b.len;
                resp->json = NULL;
                resp->status = 0;
                if (rc == CURLE_OK || rc == CURLE_WRITE_ERROR)
                        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE,
                                          &resp->status);
                if (b.toobig) {
                        err = floq_seterr(errstr, errstr_size,
                                          FLOQ_ERR_TOO_LARGE,
                                          "%s: %s %s: answer larger than "
                                          "%zu bytes",
                                          what, method, path, b.max);
                        break;
                }
                if (resp->body)
                        resp->json = json_loadb(resp->body, resp->len, 0,
                                                NULL);
                if (rc == CURLE_OK && resp->status >= 200 &&
                    resp->status < 300) {
                        err = FLOQ_OK;
                        break;
                }
                if (rc != CURLE_OK) {
                        retry = curl_retriable(rc);
                        err = floq_seterr(
                                errstr, errstr_size,
                                rc == CURLE_OPERATION_TIMEDOUT
                                        ? FLOQ_ERR_TIMED_OUT
                                        : FLOQ_ERR_TRANSPORT,
                                "%s: %s %s: %s", what, method, path,
                                cerr[0] ? cerr : curl_easy_strerror(rc));
                } else {
                        retry = resp->status == 429 || resp->status >= 500;
                        detail_of(resp, detail, sizeof(detail));
                        err = floq_seterr(errstr, errstr_size,
                                          status_err(resp->status),
                                          "%s: %s %s: %ld%s%s%s%s", what,
                                          method, path, resp->status,
                                          reason[0] ? " " : "", reason,
                                          detail[0] ? ": " : "", detail);
                        curl_easy_getinfo(curl, CURLINFO_RETRY_AFTER,
                                          &retry_after);
                }
                if (!retry || resp->attempts > retries)
                        break;
                wait_ms = retry_after > 0 ? (int64_t)retry_after * 1000
                                          : backoff(o, resp->attempts);
                left = deadline - floq_mono_ms();
                if (wait_ms >= left) {
                        /* The server asks for more time than is left:
                         * say so rather than try at the last moment. */
                        size_t n = strlen(errstr);

                        if (n < errstr_size)
                                snprintf(errstr + n, errstr_size - n,
                                         " (next try in %lld ms would pass "
                                         "the %ld ms timeout)",
                                         (long long)wait_ms, total_ms);
                        break;
                }
                floq_sleep_ms(wait_ms);
        }
out:
        headers_free(hdrs, auth);
        if (curl)
                curl_easy_cleanup(curl);
        free(payload);
        return err;
}

/* ------------------------------------------------------------ URLs */

/* The parts of an http(s) URL that decide where a request goes, as curl
 * itself will read them (dot segments removed); 0 on success. A URL with
 * user info ("http://allowed:80@evil/") or another scheme is refused. */
typedef struct hb_url_s {
        char *scheme, *host, *port, *path;
} hb_url_t;

static void hb_url_release(hb_url_t *u) {
        curl_free(u->scheme);
        curl_free(u->host);
        curl_free(u->port);
        curl_free(u->path);
        memset(u, 0, sizeof(*u));
}

static int hb_url_parse(const char *url, hb_url_t *u) {
        CURLU *h = curl_url();
        char *user = NULL, *pw = NULL;
        int rc = -1;

        memset(u, 0, sizeof(*u));
        if (!h || curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK)
                goto out;
        curl_url_get(h, CURLUPART_USER, &user, 0);
        curl_url_get(h, CURLUPART_PASSWORD, &pw, 0);
        if (user || pw)
                goto out;
        if (curl_url_get(h, CURLUPART_SCHEME, &u->scheme, 0) ||
            curl_url_get(h, CURLUPART_HOST, &u->host, 0) ||
            curl_url_get(h, CURLUPART_PORT, &u->port, CURLU_DEFAULT_PORT) ||
            curl_url_get(h, CURLUPART_PATH, &u->path, 0))
                goto out;
        if (strcmp(u->scheme, "http") && strcmp(u->scheme, "https"))
                goto out;
        rc = 0;
out:
        curl_free(user);
        curl_free(pw);
        if (h)
                curl_url_cleanup(h);
        if (rc)
                hb_url_release(u);
        return rc;
}

/* 1 when @p url goes where one of the comma-separated @p prefixes allows:
 * the same scheme, host and port, and a path under the prefix's path on a
 * boundary ("https://api.example.com/v1" allows "/v1" and "/v1/x", never
 * "/v10", "https://api.example.com.evil.org/" or
 * "https://api.example.com:80@evil/"). Both are parsed as curl will send
 * them, so "/v1/../admin" is "/admin". */
int floq_http_url_allowed(const char *prefixes, const char *url) {
        const char *p = prefixes;
        hb_url_t u, a;
        int ok = 0;

        if (hb_url_parse(url, &u))
                return 0;
        /* Encoded dots and slashes are resolved by many servers and
         * proxies after this check (RFC 3986 6.2.2.2): refuse them. */
        if (strcasestr(u.path, "%2e") || strcasestr(u.path, "%2f") ||
            strcasestr(u.path, "%5c")) {
                hb_url_release(&u);
                return 0;
        }
        while (!ok && p && *p) {
                size_t n = strcspn(p, ",");
                char one[1024];

                snprintf(one, sizeof(one), "%.*s", (int)(n < 1023 ? n : 1023),
                         p);
                p += n + (p[n] == ',');
                if (!hb_url_parse(one + strspn(one, " "), &a)) {
                        size_t pl = strlen(a.path);

                        while (pl && a.path[pl - 1] == '/')
                                pl--;
                        ok = !strcmp(u.scheme, a.scheme) &&
                             !strcasecmp(u.host, a.host) &&
                             !strcmp(u.port, a.port) &&
                             !strncmp(u.path, a.path, pl) &&
                             (u.path[pl] == '\0' || u.path[pl] == '/');
                        hb_url_release(&a);
                }
        }
        hb_url_release(&u);
        return ok;
}
