/*
 * http.c - the one place lineage/ talks to libcurl: how a POST of an
 * OpenLineage event is set up (Content-Type, bearer or basic auth, timeouts,
 * no signals so it is safe in threads), which statuses are worth retrying,
 * the backoff with jitter, and a blocking single POST used by the emitter.
 * The forwarder drives many such requests at once through curl's multi
 * interface but sets each one up here, so the rules are the same.
 */
#include <stdlib.h>
#include <string.h>

#include "lineage_int.h"

size_t floq_lineage_buf_write(char *ptr, size_t size, size_t nmemb,
                              void *userdata) {
        floq_lineage_buf_t *buf = userdata;
        size_t n = size * nmemb, room;

        if (!buf->data)
                return n; /* nobody wants the body */
        room = buf->cap - buf->len;
        if (room > n)
                room = n;
        memcpy(buf->data + buf->len, ptr, room);
        buf->len += room;
        buf->data[buf->len] = '\0';
        return n; /* the rest is dropped, not an error (curl's toobig) */
}

int floq_lineage_http_retriable(long status) {
        /* 0: no response at all (connection refused, reset, timeout);
         * 408/429: the server asks to come back; 5xx: its fault */
        return status == 0 || status == 408 || status == 429 || status >= 500;
}

int64_t floq_lineage_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms) {
        int64_t d = base_ms > 0 ? base_ms : 1;
        double jitter;

        while (attempt-- > 0 && d < max_ms)
                d *= 2;
        if (d > max_ms)
                d = max_ms;
        /* ±20% so that many forwarders do not retry in lock step */
        jitter = ((double)rand() / RAND_MAX) * 0.4 - 0.2;
        d += (int64_t)((double)d * jitter);
        return d < 1 ? 1 : d;
}

floq_err_t floq_lineage_curl_setup(CURL *curl, const floq_lineage_http_t *http,
                                   const char *body, size_t len,
                                   struct curl_slist **headersp, char *errstr,
                                   size_t errstr_size) {
        struct curl_slist *h = NULL, *t;
        long timeout = http->timeout_ms > 0 ? http->timeout_ms : 30000;
        char *auth = NULL;

        *headersp = NULL;
        if (!http->url || !*http->url)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "no lineage endpoint url");
        if (!(t = curl_slist_append(h, "Content-Type: application/json")))
                goto nomem;
        h = t;
        /* no "Expect: 100-continue" round trip for larger events */
        if (!(t = curl_slist_append(h, "Expect:")))
                goto nomem;
        h = t;
        if (http->bearer_token && *http->bearer_token) {
                if (asprintf(&auth, "Authorization: Bearer %s",
                             http->bearer_token) < 0) {
                        auth = NULL;
                        goto nomem;
                }
                t = curl_slist_append(h, auth);
                memset(auth, 0, strlen(auth));
                free(auth);
                if (!t)
                        goto nomem;
                h = t;
        }
        if (curl_easy_setopt(curl, CURLOPT_URL, http->url) != CURLE_OK) {
                curl_slist_free_all(h);
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "cannot use url '%s'", http->url);
        }
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                         timeout < 10000 ? timeout : 10000L);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_USERAGENT,
                         "floq-lineage/" FLOQ_VERSION_STR);
        /* a redirect would turn the POST into a GET: report it instead */
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
        if (http->basic_auth && *http->basic_auth) {
                curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
                curl_easy_setopt(curl, CURLOPT_USERPWD, http->basic_auth);
        }
        *headersp = h;
        return FLOQ_OK;
nomem:
        curl_slist_free_all(h);
        return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                           "out of memory");
}

floq_err_t floq_lineage_http_post(const floq_lineage_http_t *http,
                                  const char *body, size_t len, long *statusp,
                                  char *body_out, size_t body_out_size,
                                  char *errstr, size_t errstr_size) {
        CURL *curl = curl_easy_init();
        struct curl_slist *headers = NULL;
        floq_lineage_buf_t buf = { 0 };
        char cerr[CURL_ERROR_SIZE] = "";
        long status = 0;
        floq_err_t err;
        CURLcode rc;

        if (statusp)
                *statusp = 0;
        if (body_out && body_out_size) {
                body_out[0] = '\0';
                buf.data = body_out;
                buf.cap = body_out_size - 1;
        }
        if (!curl)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "cannot create a curl handle");
        err = floq_lineage_curl_setup(curl, http, body, len, &headers, errstr,
                                      errstr_size);
        if (err)
                goto out;
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, floq_lineage_buf_write);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, cerr);
        rc = curl_easy_perform(curl);
        if (rc != CURLE_OK) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_TRANSPORT,
                                  "cannot post to '%s': %s", http->url,
                                  cerr[0] ? cerr : curl_easy_strerror(rc));
                goto out;
        }
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (statusp)
                *statusp = status;
        if (status >= 200 && status < 300)
                err = FLOQ_OK;
        else if (floq_lineage_http_retriable(status))
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_TRANSPORT,
                                  "'%s' answered HTTP %ld", http->url, status);
        else
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                  "'%s' rejected the event: HTTP %ld",
                                  http->url, status);
out:
        curl_slist_free_all(headers);
        curl_easy_cleanup(curl);
        return err;
}
