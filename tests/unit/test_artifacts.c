/*
 * test_artifacts.c - unit tests of the deploy artifact cache
 * (worker/artifacts.c) and of how the process backend runs an artifact.
 * Downloads go to a real HTTP server started in each test (libmicrohttpd
 * on a free loopback port) and to file:// URLs in the test's own scratch
 * directory: a good fetch, a digest mismatch, sizes past the bound (with
 * and without Content-Length), 404, redirects, a refused port, a host that
 * never answers and a server that never replies (each bounded in time),
 * cache hits without a request, re-verification of a tampered file,
 * concurrent fetches of one digest, path-traversal-looking digests and
 * URLs, a symlink planted in the cache, the cache directory's ownership
 * rules, and LRU eviction that spares held files. Nothing sleeps for a
 * fixed time.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/evp.h>

#include "artifacts.h"
#include "backends/backend.h"
#include "test_util.h"

/* The artifact the tests run: prints its first argument and where it is. */
static const char GOOD[] = "#!/bin/sh\necho \"artifact $1 $FLOQ_ARTIFACT\"\n";
static const char OTHER[] = "#!/bin/sh\necho other\n";
#define BIG_SIZE 4096
#define CHUNKED_SIZE (1024 * 1024)

/* Scratch paths are short (mkdtemp under /tmp), which keeps every path
 * built from them within PATH_MAX. */
#define SHORT_PATH 256
static char tmp_dir[SHORT_PATH];   /* scratch, removed by teardown */
static char cache_dir[SHORT_PATH + 32]; /* tmp_dir/cache/artifacts */
static char good_sha[FLOQ_ARTIFACT_SHA256_LEN + 1];
static char other_sha[FLOQ_ARTIFACT_SHA256_LEN + 1];
static char big_sha[FLOQ_ARTIFACT_SHA256_LEN + 1];
static floq_conf_t *conf;
static struct MHD_Daemon *httpd;
static int http_port;
static atomic_int hits;

/* ------------------------------------------------------------- helpers */

static void sha_hex(const void *data, size_t len, char *hex) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0, i;

        ck_assert(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL));
        for (i = 0; i < n; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void conf_set(const char *name, const char *value) {
        char errstr[256];

        ck_assert_msg(floq_conf_set(conf, name, value, errstr,
                                    sizeof(errstr)) == FLOQ_OK,
                      "set %s: %s", name, errstr);
}

static floq_artifact_conf_t aconf(void) {
        floq_artifact_conf_t ac;
        char errstr[256];

        ck_assert_msg(floq_artifact_conf_init(&ac, conf, errstr,
                                              sizeof(errstr)) == FLOQ_OK,
                      "conf: %s", errstr);
        return ac;
}

static void url_of(char *buf, size_t size, const char *path) {
        snprintf(buf, size, "http://127.0.0.1:%d%s", http_port, path);
}

static void write_file(const char *path, const void *data, size_t len) {
        FILE *f = fopen(path, "w");

        ck_assert_msg(f != NULL, "cannot write '%s'", path);
        ck_assert_uint_eq(fwrite(data, 1, len, f), len);
        fclose(f);
}

static char *slurp(const char *path, size_t *lenp) {
        FILE *f = fopen(path, "r");
        char *buf = NULL;
        size_t len = 0;
        FILE *m;
        int c;

        if (!f)
                return NULL;
        m = open_memstream(&buf, &len);
        while ((c = fgetc(f)) != EOF)
                fputc(c, m);
        fclose(m);
        fclose(f);
        if (lenp)
                *lenp = len;
        return buf;
}

/* Entries of @p dir whose name starts with @p prefix ("" for all). */
static int count_entries(const char *dir, const char *prefix) {
        DIR *d = opendir(dir);
        struct dirent *de;
        int n = 0;

        if (!d)
                return 0;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
                    !strncmp(de->d_name, prefix, strlen(prefix)))
                        n++;
        closedir(d);
        return n;
}

static void cache_file(char *buf, size_t size, const char *sha) {
        snprintf(buf, size, "%s/%s", cache_dir, sha);
}

static int exists(const char *path) {
        struct stat st;

        return lstat(path, &st) == 0;
}

static void expect_has(const char *hay, const char *needle) {
        ck_assert_msg(strstr(hay, needle) != NULL, "'%s' not in '%s'", needle,
                      hay);
}

/* ---------------------------------------------------------- the server */

static ssize_t chunked_cb(void *cls, uint64_t pos, char *buf, size_t max) {
        (void)cls;
        if (pos >= CHUNKED_SIZE)
                return MHD_CONTENT_READER_END_OF_STREAM;
        if (max > CHUNKED_SIZE - pos)
                max = (size_t)(CHUNKED_SIZE - pos);
        memset(buf, 'c', max);
        return (ssize_t)max;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c,
                              const char *url, const char *method,
                              const char *version, const char *upload,
                              size_t *upload_size, void **con_cls) {
        static char big[BIG_SIZE];
        struct MHD_Response *r;
        unsigned int status = MHD_HTTP_OK;
        enum MHD_Result ret;
        char loc[SHORT_PATH + 64];

        (void)cls;
        (void)method;
        (void)version;
        (void)upload;
        (void)upload_size;
        if (!*con_cls) { /* first call: headers only */
                *con_cls = c;
                return MHD_YES;
        }
        atomic_fetch_add(&hits, 1);
        memset(big, 'b', sizeof(big));
        if (!strcmp(url, "/good")) {
                r = MHD_create_response_from_buffer(strlen(GOOD),
                                                    (void *)GOOD,
                                                    MHD_RESPMEM_PERSISTENT);
        } else if (!strcmp(url, "/other")) {
                r = MHD_create_response_from_buffer(strlen(OTHER),
                                                    (void *)OTHER,
                                                    MHD_RESPMEM_PERSISTENT);
        } else if (!strcmp(url, "/big")) {
                r = MHD_create_response_from_buffer(sizeof(big), big,
                                                    MHD_RESPMEM_MUST_COPY);
        } else if (!strcmp(url, "/chunked")) {
                r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 8192,
                                                      chunked_cb, NULL, NULL);
        } else if (!strcmp(url, "/redirect") ||
                   !strcmp(url, "/loop") || !strcmp(url, "/to-file")) {
                r = MHD_create_response_from_buffer(0, NULL,
                                                    MHD_RESPMEM_PERSISTENT);
                if (!strcmp(url, "/redirect"))
                        snprintf(loc, sizeof(loc), "/good");
                else if (!strcmp(url, "/loop"))
                        snprintf(loc, sizeof(loc), "/loop");
                else
                        snprintf(loc, sizeof(loc), "file://%s/www/good",
                                 tmp_dir);
                MHD_add_response_header(r, "Location", loc);
                status = MHD_HTTP_FOUND;
        } else {
                r = MHD_create_response_from_buffer(9, (void *)"not found",
                                                    MHD_RESPMEM_PERSISTENT);
                status = MHD_HTTP_NOT_FOUND;
        }
        ret = MHD_queue_response(c, status, r);
        MHD_destroy_response(r);
        return ret;
}

static void server_start(void) {
        struct sockaddr_in sa;
        const union MHD_DaemonInfo *info;

        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        httpd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
                                         MHD_USE_POLL,
                                 0, NULL, NULL, answer, NULL,
                                 MHD_OPTION_SOCK_ADDR, &sa,
                                 MHD_OPTION_CONNECTION_TIMEOUT,
                                 (unsigned int)10, MHD_OPTION_END);
        ck_assert_msg(httpd != NULL, "cannot start the HTTP server");
        info = MHD_get_daemon_info(httpd, MHD_DAEMON_INFO_BIND_PORT);
        ck_assert(info != NULL && info->port > 0);
        http_port = info->port;
}

/* ------------------------------------------------------------- fixture */

static void setup(void) {
        char tmpl[] = "/tmp/floq-test-artifacts-XXXXXX", path[SHORT_PATH + 32];
        char real[PATH_MAX];
        static char big[BIG_SIZE];

        ck_assert(mkdtemp(tmpl) != NULL);
        ck_assert(realpath(tmpl, real) != NULL);
        ck_assert(strlen(real) < SHORT_PATH - 32);
        memcpy(tmp_dir, real, strlen(real) + 1);
        snprintf(cache_dir, sizeof(cache_dir), "%s/cache/artifacts", tmp_dir);
        snprintf(path, sizeof(path), "%s/www", tmp_dir);
        ck_assert(mkdir(path, 0755) == 0);
        snprintf(path, sizeof(path), "%s/www/good", tmp_dir);
        write_file(path, GOOD, strlen(GOOD));
        memset(big, 'b', sizeof(big));
        snprintf(path, sizeof(path), "%s/www/big", tmp_dir);
        write_file(path, big, sizeof(big));
        sha_hex(GOOD, strlen(GOOD), good_sha);
        sha_hex(OTHER, strlen(OTHER), other_sha);
        sha_hex(big, sizeof(big), big_sha);
        conf = floq_conf_new();
        ck_assert(conf != NULL);
        conf_set("artifact.cache.dir", cache_dir);
        /* The tests use file: URLs too; the default allows http(s) only. */
        conf_set("artifact.protocols", "https,http,file");
        atomic_store(&hits, 0);
        server_start();
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw) {
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path);
}

static void teardown(void) {
        if (httpd)
                MHD_stop_daemon(httpd);
        httpd = NULL;
        floq_conf_destroy(conf);
        conf = NULL;
        chmod(cache_dir, 0700);
        nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ensure() that must succeed; returns whether it downloaded. */
static int ensure_ok(const floq_artifact_conf_t *ac, const char *url,
                     const char *sha, unsigned flags, char *path,
                     size_t path_size) {
        char errstr[512];
        int fetched = -1;
        floq_err_t err;

        err = floq_artifact_ensure(ac, url, sha, flags, path, path_size,
                                   NULL, &fetched, errstr, sizeof(errstr));
        ck_assert_msg(err == FLOQ_OK, "ensure %s: %s", url, errstr);
        return fetched;
}

/* ensure() that must fail with @p want; errstr gets the reason. */
static void ensure_fails(const floq_artifact_conf_t *ac, const char *url,
                         const char *sha, unsigned flags, floq_err_t want,
                         char *errstr, size_t errstr_size) {
        char path[PATH_MAX];
        floq_err_t err;

        err = floq_artifact_ensure(ac, url, sha, flags, path, sizeof(path),
                                   NULL, NULL, errstr, errstr_size);
        ck_assert_msg(err == want, "ensure %s: %s, not %s (%s)", url,
                      floq_err_name(err), floq_err_name(want), errstr);
}

/* ------------------------------------------------------------ parsing */

START_TEST(test_sha256_parse) {
        char out[FLOQ_ARTIFACT_SHA256_LEN + 1], errstr[256], upper[80];
        char traversal[80];
        size_t i;

        ck_assert_int_eq(floq_artifact_sha256_parse(good_sha, out, errstr,
                                                    sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_str_eq(out, good_sha);
        for (i = 0; good_sha[i]; i++)
                upper[i] = (char)(good_sha[i] >= 'a' ? good_sha[i] - 32
                                                     : good_sha[i]);
        upper[i] = '\0';
        ck_assert_int_eq(floq_artifact_sha256_parse(upper, out, NULL, 0),
                         FLOQ_OK);
        ck_assert_str_eq(out, good_sha);

        ck_assert_int_eq(floq_artifact_sha256_parse(NULL, out, errstr,
                                                    sizeof(errstr)),
                         FLOQ_ERR_INVALID_ARG);
        expect_has(errstr, "artifact_sha256 is required");
        ck_assert_int_eq(floq_artifact_sha256_parse("", out, NULL, 0),
                         FLOQ_ERR_INVALID_ARG);
        ck_assert_int_eq(floq_artifact_sha256_parse(good_sha + 1, out, errstr,
                                                    sizeof(errstr)),
                         FLOQ_ERR_INVALID_ARG);
        expect_has(errstr, "64 hexadecimal");
        snprintf(upper, sizeof(upper), "%s0", good_sha);
        ck_assert_int_eq(floq_artifact_sha256_parse(upper, out, NULL, 0),
                         FLOQ_ERR_INVALID_ARG);
        /* Names that would leave the cache directory. */
        ck_assert_int_eq(floq_artifact_sha256_parse("../../../../etc/passwd",
                                                    out, NULL, 0),
                         FLOQ_ERR_INVALID_ARG);
        snprintf(traversal, sizeof(traversal), "../%.61s", good_sha);
        ck_assert_int_eq(strlen(traversal), 64);
        ck_assert_int_eq(floq_artifact_sha256_parse(traversal, out, NULL, 0),
                         FLOQ_ERR_INVALID_ARG);
        snprintf(traversal, sizeof(traversal), "%.63s/", good_sha);
        ck_assert_int_eq(floq_artifact_sha256_parse(traversal, out, NULL, 0),
                         FLOQ_ERR_INVALID_ARG);
        ck_assert_int_eq(floq_artifact_path(&(floq_artifact_conf_t){ 0 },
                                            "../x", traversal,
                                            sizeof(traversal)),
                         FLOQ_ERR_INVALID_ARG);
}
END_TEST

/* floq_artifact_url_check() must answer @p want. */
static void url_check_is(const floq_artifact_conf_t *ac, const char *url,
                         floq_err_t want, char *errstr, size_t errstr_size) {
        ck_assert_msg(floq_artifact_url_check(ac, url, errstr, errstr_size) ==
                              want,
                      "url check of '%.100s' is not %s", url,
                      floq_err_name(want));
}

START_TEST(test_conf_and_url_check) {
        floq_artifact_conf_t ac;
        char errstr[256], longurl[FLOQ_ARTIFACT_URL_MAX + 32];

        /* file: is off by default (it reads any file the worker can). */
        {
                floq_conf_t *fresh = floq_conf_new();

                ck_assert(fresh != NULL);
                ck_assert_int_eq(floq_artifact_conf_init(&ac, fresh, errstr,
                                                         sizeof(errstr)),
                                 FLOQ_OK);
                ck_assert_str_eq(ac.protocols, "https,http");
                url_check_is(&ac, "file:///etc/passwd", FLOQ_ERR_INVALID_ARG,
                             errstr, sizeof(errstr));
                expect_has(errstr, "'file' is not allowed");
                floq_conf_destroy(fresh);
        }
        ac = aconf();
        ck_assert_str_eq(ac.dir, cache_dir);
        ck_assert_str_eq(ac.protocols, "https,http,file");
        url_check_is(&ac, "https://h/a", FLOQ_OK, errstr, sizeof(errstr));
        url_check_is(&ac, "FILE:///a", FLOQ_OK, errstr, sizeof(errstr));
        url_check_is(&ac, "ftp://h/a", FLOQ_ERR_INVALID_ARG, errstr, sizeof(errstr));
        expect_has(errstr, "scheme 'ftp' is not allowed");
        url_check_is(&ac, "/etc/passwd", FLOQ_ERR_INVALID_ARG, errstr, sizeof(errstr));
        expect_has(errstr, "not an absolute URL");
        url_check_is(&ac, "http://h/a b", FLOQ_ERR_INVALID_ARG, errstr, sizeof(errstr));
        url_check_is(&ac, "http://h/a\nb", FLOQ_ERR_INVALID_ARG, errstr, sizeof(errstr));
        url_check_is(&ac, "", FLOQ_ERR_INVALID_ARG, errstr, sizeof(errstr));
        memset(longurl, 'a', sizeof(longurl) - 1);
        memcpy(longurl, "http://", 7);
        longurl[sizeof(longurl) - 1] = '\0';
        url_check_is(&ac, longurl, FLOQ_ERR_INVALID_ARG, errstr, sizeof(errstr));

        conf_set("artifact.protocols", "HTTPS");
        ac = aconf();
        ck_assert_str_eq(ac.protocols, "https");
        url_check_is(&ac, "http://h/a", FLOQ_ERR_INVALID_ARG, errstr, sizeof(errstr));
        conf_set("artifact.protocols", "https,gopher");
        ck_assert_int_eq(floq_artifact_conf_init(&ac, conf, errstr,
                                                 sizeof(errstr)),
                         FLOQ_ERR_CONFIG);
        expect_has(errstr, "gopher");
        conf_set("artifact.protocols", "https,http,file");
        conf_set("artifact.cache.dir", "relative/dir");
        ck_assert_int_eq(floq_artifact_conf_init(&ac, conf, errstr,
                                                 sizeof(errstr)),
                         FLOQ_ERR_CONFIG);
        /* Unset: $XDG_CACHE_HOME/floq/artifacts, else /tmp. */
        conf_set("artifact.cache.dir", "");
        setenv("XDG_CACHE_HOME", "/var/cache/x", 1);
        ac = aconf();
        ck_assert_str_eq(ac.dir, "/var/cache/x/floq/artifacts");
        unsetenv("XDG_CACHE_HOME");
        ac = aconf();
        ck_assert_int_eq(strncmp(ac.dir, "/tmp/floq-artifacts-", 20), 0);
}
END_TEST

/* ------------------------------------------------------------ fetching */

START_TEST(test_fetch_http_good) {
        floq_artifact_conf_t ac = aconf();
        char url[128], path[PATH_MAX], want[PATH_MAX + 80], parent[PATH_MAX];
        struct stat st;
        size_t len;
        char *body;

        url_of(url, sizeof(url), "/good");
        ck_assert_int_eq(ensure_ok(&ac, url, good_sha, 0, path, sizeof(path)),
                         1);
        cache_file(want, sizeof(want), good_sha);
        ck_assert_str_eq(path, want);
        body = slurp(path, &len);
        ck_assert(body != NULL);
        ck_assert_uint_eq(len, strlen(GOOD));
        ck_assert_int_eq(memcmp(body, GOOD, len), 0);
        free(body);
        ck_assert_int_eq(lstat(path, &st), 0);
        ck_assert(S_ISREG(st.st_mode));
        ck_assert_int_eq(st.st_mode & 0777, 0400); /* read-only, no exec */
        ck_assert_int_eq(stat(cache_dir, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0700);
        snprintf(parent, sizeof(parent), "%s/cache", tmp_dir);
        ck_assert_int_eq(stat(parent, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0700);
        ck_assert_int_eq(count_entries(cache_dir, ""), 1);
        ck_assert_int_eq(atomic_load(&hits), 1);

        /* A redirect is followed; the file gets the exec bit when asked. */
        url_of(url, sizeof(url), "/redirect");
        ck_assert_int_eq(ensure_ok(&ac, url, good_sha,
                                   FLOQ_ARTIFACT_F_EXEC, path, sizeof(path)),
                         0); /* a hit: the same digest */
        ck_assert_int_eq(lstat(path, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0500);
        chmod(cache_dir, 0700);
        unlink(path);
        ck_assert_int_eq(ensure_ok(&ac, url, good_sha, FLOQ_ARTIFACT_F_EXEC,
                                   path, sizeof(path)),
                         1);
        ck_assert_int_eq(lstat(path, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0500);
}
END_TEST

START_TEST(test_fetch_file_url) {
        floq_artifact_conf_t ac = aconf();
        char url[PATH_MAX + 32], path[PATH_MAX];
        char *body;

        snprintf(url, sizeof(url), "file://%s/www/good", tmp_dir);
        ck_assert_int_eq(ensure_ok(&ac, url, good_sha, 0, path, sizeof(path)),
                         1);
        body = slurp(path, NULL);
        ck_assert_str_eq(body, GOOD);
        free(body);
        /* file: is off when not listed. */
        conf_set("artifact.protocols", "https,http");
        ac = aconf();
        {
                char errstr[256];

                ensure_fails(&ac, url, big_sha, 0, FLOQ_ERR_INVALID_ARG, errstr, sizeof(errstr));
                expect_has(errstr, "'file' is not allowed");
        }
}
END_TEST

START_TEST(test_digest_mismatch) {
        floq_artifact_conf_t ac = aconf();
        char url[128], errstr[512], furl[PATH_MAX + 32];

        url_of(url, sizeof(url), "/good");
        ensure_fails(&ac, url, other_sha, 0, FLOQ_ERR_REJECTED, errstr, sizeof(errstr));
        expect_has(errstr, url);
        expect_has(errstr, other_sha); /* the deployer's own digest */
        expect_has(errstr, "does not match");
        /* Nothing about the bytes the URL served (issue 10 item 5): not
         * their digest, not their size. */
        ck_assert_msg(!strstr(errstr, good_sha), "digest leaked: %s", errstr);
        ck_assert_msg(!strstr(errstr, "bytes"), "size leaked: %s", errstr);
        ck_assert_msg(!strstr(errstr, "got"), "content leaked: %s", errstr);
        ck_assert_int_eq(count_entries(cache_dir, ""), 0); /* no tmp left */

        snprintf(furl, sizeof(furl), "file://%s/www/good", tmp_dir);
        ensure_fails(&ac, furl, big_sha, 0, FLOQ_ERR_REJECTED, errstr, sizeof(errstr));
        expect_has(errstr, big_sha);
        ck_assert_msg(!strstr(errstr, good_sha), "digest leaked: %s", errstr);
        ck_assert_msg(!strstr(errstr, "bytes"), "size leaked: %s", errstr);
        ck_assert_int_eq(count_entries(cache_dir, ""), 0);
}
END_TEST

START_TEST(test_oversize) {
        floq_artifact_conf_t ac;
        char url[128], path[PATH_MAX], errstr[512], furl[PATH_MAX + 32];

        conf_set("artifact.max.bytes", "1k");
        ac = aconf();
        /* Content-Length says so. */
        url_of(url, sizeof(url), "/big");
        ensure_fails(&ac, url, big_sha, 0, FLOQ_ERR_TOO_LARGE, errstr, sizeof(errstr));
        expect_has(errstr, "artifact.max.bytes");
        expect_has(errstr, url);
        /* No length announced: cut while streaming. */
        url_of(url, sizeof(url), "/chunked");
        ensure_fails(&ac, url, big_sha, 0, FLOQ_ERR_TOO_LARGE, errstr, sizeof(errstr));
        snprintf(furl, sizeof(furl), "file://%s/www/big", tmp_dir);
        ensure_fails(&ac, furl, big_sha, 0, FLOQ_ERR_TOO_LARGE, errstr, sizeof(errstr));
        ck_assert_int_eq(count_entries(cache_dir, ""), 0);
        /* At the bound exactly is fine. */
        conf_set("artifact.max.bytes", "4096");
        ac = aconf();
        ensure_ok(&ac, furl, big_sha, 0, path, sizeof(path));
}
END_TEST

START_TEST(test_http_errors) {
        floq_artifact_conf_t ac = aconf();
        char url[128], path[PATH_MAX], errstr[512], furl[PATH_MAX + 32];

        url_of(url, sizeof(url), "/missing");
        ensure_fails(&ac, url, good_sha, 0, FLOQ_ERR_TRANSPORT, errstr, sizeof(errstr));
        expect_has(errstr, "HTTP 404");
        expect_has(errstr, url);
        /* Redirects are bounded, and never lead to file:. */
        url_of(url, sizeof(url), "/loop");
        ensure_fails(&ac, url, good_sha, 0, FLOQ_ERR_TRANSPORT, errstr, sizeof(errstr));
        ck_assert_int_le(atomic_load(&hits), 1 + 1 + 3);
        url_of(url, sizeof(url), "/to-file");
        ck_assert_int_ne(floq_artifact_ensure(&ac, url, good_sha, 0, path,
                                              sizeof(path), NULL, NULL,
                                              errstr, sizeof(errstr)),
                         FLOQ_OK);
        snprintf(furl, sizeof(furl), "file://%s/www/none", tmp_dir);
        ensure_fails(&ac, furl, good_sha, 0, FLOQ_ERR_TRANSPORT, errstr, sizeof(errstr));
        expect_has(errstr, furl);
        ck_assert_int_eq(count_entries(cache_dir, ""), 0);
}
END_TEST

START_TEST(test_unreachable_bounded) {
        floq_artifact_conf_t ac;
        char url[128], path[PATH_MAX], errstr[512];
        struct sockaddr_in sa;
        socklen_t salen = sizeof(sa);
        int64_t t0;
        int s;

        conf_set("artifact.connect.timeout.ms", "300");
        conf_set("artifact.fetch.timeout.ms", "800");
        ac = aconf();

        /* A port nobody listens on: refused at once. */
        s = socket(AF_INET, SOCK_STREAM, 0);
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
        ck_assert_int_eq(getsockname(s, (struct sockaddr *)&sa, &salen), 0);
        close(s);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/a",
                 ntohs(sa.sin_port));
        t0 = floq_mono_ms();
        ensure_fails(&ac, url, good_sha, 0, FLOQ_ERR_TRANSPORT, errstr, sizeof(errstr));
        expect_has(errstr, url);
        ck_assert_int_lt(floq_mono_ms() - t0, 3000);

        /* A host that never answers (TEST-NET-1, RFC 5737): the connect
         * timeout, or at once where there is no route. */
        t0 = floq_mono_ms();
        ck_assert_int_ne(floq_artifact_ensure(&ac, "http://192.0.2.1:9/a",
                                              good_sha, 0, path,
                                              sizeof(path), NULL, NULL,
                                              errstr, sizeof(errstr)),
                         FLOQ_OK);
        expect_has(errstr, "192.0.2.1");
        ck_assert_int_lt(floq_mono_ms() - t0, 3000);

        /* Connected, but no reply ever: the total timeout. */
        s = socket(AF_INET, SOCK_STREAM, 0);
        sa.sin_port = 0;
        ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
        ck_assert_int_eq(listen(s, 8), 0);
        salen = sizeof(sa);
        ck_assert_int_eq(getsockname(s, (struct sockaddr *)&sa, &salen), 0);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/a",
                 ntohs(sa.sin_port));
        t0 = floq_mono_ms();
        ensure_fails(&ac, url, good_sha, 0, FLOQ_ERR_TIMED_OUT, errstr, sizeof(errstr));
        expect_has(errstr, "within 800 ms");
        ck_assert_int_ge(floq_mono_ms() - t0, 700);
        ck_assert_int_lt(floq_mono_ms() - t0, 3000);
        close(s);
        ck_assert_int_eq(count_entries(cache_dir, ""), 0);
}
END_TEST

/* -------------------------------------------------------------- cache */

START_TEST(test_cache_hit) {
        floq_artifact_conf_t ac = aconf();
        char url[128], bad[128], path[PATH_MAX], errstr[512];

        url_of(url, sizeof(url), "/good");
        ck_assert_int_eq(ensure_ok(&ac, url, good_sha, 0, path, sizeof(path)),
                         1);
        ck_assert_int_eq(atomic_load(&hits), 1);
        ck_assert_int_eq(ensure_ok(&ac, url, good_sha, FLOQ_ARTIFACT_F_VERIFY,
                                   path, sizeof(path)),
                         0);
        /* Trusted by name: the URL is not asked again. */
        url_of(bad, sizeof(bad), "/missing");
        ck_assert_int_eq(ensure_ok(&ac, bad, good_sha, 0, path, sizeof(path)),
                         0);
        ck_assert_int_eq(ensure_ok(&ac, url, good_sha,
                                   FLOQ_ARTIFACT_F_CACHED_ONLY, path,
                                   sizeof(path)),
                         0);
        ck_assert_int_eq(atomic_load(&hits), 1);
        /* A miss with CACHED_ONLY asks nobody. */
        ensure_fails(&ac, url, other_sha, FLOQ_ARTIFACT_F_CACHED_ONLY, FLOQ_ERR_NOT_FOUND, errstr, sizeof(errstr));
        ck_assert_int_eq(atomic_load(&hits), 1);
        /* A deploy refreshes a hit: the URL must serve the bytes now. */
        ensure_fails(&ac, bad, good_sha, FLOQ_ARTIFACT_F_REFRESH, FLOQ_ERR_TRANSPORT, errstr, sizeof(errstr));
        expect_has(errstr, "HTTP 404");
        ck_assert_int_eq(ensure_ok(&ac, url, good_sha, FLOQ_ARTIFACT_F_REFRESH,
                                   path, sizeof(path)),
                         1);
        ck_assert_int_eq(atomic_load(&hits), 3);
        ck_assert_int_eq(count_entries(cache_dir, ""), 1);
}
END_TEST

START_TEST(test_verify_tampered) {
        floq_artifact_conf_t ac = aconf();
        char url[128], path[PATH_MAX];
        char *body;

        url_of(url, sizeof(url), "/good");
        ensure_ok(&ac, url, good_sha, 0, path, sizeof(path));
        chmod(path, 0600);
        write_file(path, OTHER, strlen(OTHER));
        chmod(path, 0400);
        /* By name only: as documented, the bytes are not read. */
        ck_assert_int_eq(ensure_ok(&ac, url, good_sha, 0, path, sizeof(path)),
                         0);
        /* Before anything runs it: hashed, found wrong, fetched again. */
        ck_assert_int_eq(ensure_ok(&ac, url, good_sha, FLOQ_ARTIFACT_F_VERIFY,
                                   path, sizeof(path)),
                         1);
        body = slurp(path, NULL);
        ck_assert_str_eq(body, GOOD);
        free(body);
        ck_assert_int_eq(atomic_load(&hits), 2);
        /* A group-writable entry is not trusted at all. */
        chmod(path, 0664);
        ck_assert_int_eq(ensure_ok(&ac, url, good_sha, 0, path, sizeof(path)),
                         1);
}
END_TEST

typedef struct conc_s {
        const floq_artifact_conf_t *ac;
        const char *url;
        floq_err_t err;
        char errstr[256];
} conc_t;

static void *conc_main(void *arg) {
        conc_t *c = arg;
        char path[PATH_MAX];

        c->err = floq_artifact_ensure(c->ac, c->url, good_sha,
                                      FLOQ_ARTIFACT_F_VERIFY, path,
                                      sizeof(path), NULL, NULL, c->errstr,
                                      sizeof(c->errstr));
        return NULL;
}

START_TEST(test_concurrent_same_digest) {
        floq_artifact_conf_t ac = aconf();
        char url[128], path[PATH_MAX];
        pthread_t th[8];
        conc_t c[8];
        char *body;
        int i;

        url_of(url, sizeof(url), "/good");
        for (i = 0; i < 8; i++) {
                memset(&c[i], 0, sizeof(c[i]));
                c[i].ac = &ac;
                c[i].url = url;
                ck_assert_int_eq(pthread_create(&th[i], NULL, conc_main,
                                                &c[i]),
                                 0);
        }
        for (i = 0; i < 8; i++) {
                pthread_join(th[i], NULL);
                ck_assert_msg(c[i].err == FLOQ_OK, "thread %d: %s", i,
                              c[i].errstr);
        }
        ck_assert_int_eq(count_entries(cache_dir, ""), 1);
        ck_assert_int_eq(count_entries(cache_dir, ".tmp-"), 0);
        cache_file(path, sizeof(path), good_sha);
        body = slurp(path, NULL);
        ck_assert_str_eq(body, GOOD);
        free(body);
        ck_assert_int_ge(atomic_load(&hits), 1);
}
END_TEST

START_TEST(test_traversal) {
        floq_artifact_conf_t ac = aconf();
        char url[256], path[PATH_MAX], errstr[512], outside[PATH_MAX + 32];
        char want[PATH_MAX + 80];
        struct stat st;
        char *body;

        /* A URL full of dot segments names nothing on our side: the file
         * is the digest. */
        url_of(url, sizeof(url), "/a/../../../../good");
        ensure_ok(&ac, url, good_sha, 0, path, sizeof(path));
        cache_file(want, sizeof(want), good_sha);
        ck_assert_str_eq(path, want);
        ck_assert_int_eq(count_entries(tmp_dir, ""), 2); /* www, cache */
        ck_assert_int_eq(count_entries(cache_dir, ""), 1);
        /* A digest that is a path is refused before anything happens. */
        url_of(url, sizeof(url), "/good");
        ensure_fails(&ac, url, "../../../../tmp/x", 0, FLOQ_ERR_INVALID_ARG, errstr, sizeof(errstr));
        ck_assert_int_eq(atomic_load(&hits), 1);
        /* A symlink planted under a digest's name is not followed: it is
         * replaced by the verified file, its target untouched. */
        snprintf(outside, sizeof(outside), "%s/outside", tmp_dir);
        write_file(outside, "precious", 8);
        cache_file(want, sizeof(want), other_sha);
        ck_assert_int_eq(symlink(outside, want), 0);
        url_of(url, sizeof(url), "/other");
        ck_assert_int_eq(ensure_ok(&ac, url, other_sha, 0, path, sizeof(path)),
                         1);
        ck_assert_int_eq(lstat(want, &st), 0);
        ck_assert(S_ISREG(st.st_mode));
        body = slurp(outside, NULL);
        ck_assert_str_eq(body, "precious");
        free(body);
}
END_TEST

START_TEST(test_cache_dir_rules) {
        floq_artifact_conf_t ac = aconf();
        char url[128], path[PATH_MAX], errstr[512], link[PATH_MAX + 32];

        url_of(url, sizeof(url), "/good");
        ensure_ok(&ac, url, good_sha, 0, path, sizeof(path));
        ck_assert_int_eq(chmod(cache_dir, 0777), 0);
        ensure_fails(&ac, url, good_sha, 0, FLOQ_ERR_IO, errstr, sizeof(errstr));
        expect_has(errstr, "not writable by group or others");
        ck_assert_int_eq(chmod(cache_dir, 0700), 0);
        /* The directory itself may not be a symlink. */
        snprintf(link, sizeof(link), "%s/link", tmp_dir);
        ck_assert_int_eq(symlink(cache_dir, link), 0);
        conf_set("artifact.cache.dir", link);
        ac = aconf();
        ensure_fails(&ac, url, good_sha, 0, FLOQ_ERR_IO, errstr, sizeof(errstr));
        expect_has(errstr, "symbolic link");
}
END_TEST

/* Set @p sha's mtime to @p ago seconds in the past. */
static void age(const char *sha, int ago) {
        struct timespec ts[2];
        char path[PATH_MAX + 80];

        clock_gettime(CLOCK_REALTIME, &ts[0]);
        ts[0].tv_sec -= ago;
        ts[1] = ts[0];
        cache_file(path, sizeof(path), sha);
        ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW),
                         0);
}

START_TEST(test_evict_lru) {
        floq_artifact_conf_t ac;
        char shas[4][FLOQ_ARTIFACT_SHA256_LEN + 1], url[4][PATH_MAX + 32];
        char path[PATH_MAX], stale[PATH_MAX + 80], fresh[PATH_MAX + 80];
        char data[1000];
        struct timespec ts[2];
        int i, hold = -1;

        for (i = 0; i < 4; i++) {
                char f[SHORT_PATH + 32];

                memset(data, 'A' + i, sizeof(data));
                snprintf(f, sizeof(f), "%s/www/f%d", tmp_dir, i);
                write_file(f, data, sizeof(data));
                sha_hex(data, sizeof(data), shas[i]);
                snprintf(url[i], sizeof(url[i]), "file://%s", f);
        }
        conf_set("artifact.cache.max.bytes", "2500");
        ac = aconf();
        ensure_ok(&ac, url[0], shas[0], 0, path, sizeof(path));
        ensure_ok(&ac, url[1], shas[1], 0, path, sizeof(path));
        age(shas[0], 300);
        age(shas[1], 200);
        /* A use makes 0 the most recent; 1 is now the least. */
        ensure_ok(&ac, url[0], shas[0], 0, path, sizeof(path));
        /* Temporary files of dead fetchers go; a fresh one stays. */
        snprintf(stale, sizeof(stale), "%s/.tmp-dead", cache_dir);
        snprintf(fresh, sizeof(fresh), "%s/.tmp-live", cache_dir);
        write_file(stale, "x", 1);
        write_file(fresh, "x", 1);
        clock_gettime(CLOCK_REALTIME, &ts[0]);
        ts[0].tv_sec -= 7200;
        ts[1] = ts[0];
        ck_assert_int_eq(utimensat(AT_FDCWD, stale, ts, 0), 0);

        ensure_ok(&ac, url[2], shas[2], 0, path, sizeof(path));
        cache_file(path, sizeof(path), shas[1]);
        ck_assert_msg(!exists(path), "the least recently used stays");
        cache_file(path, sizeof(path), shas[0]);
        ck_assert(exists(path));
        cache_file(path, sizeof(path), shas[2]);
        ck_assert(exists(path));
        ck_assert(!exists(stale));
        ck_assert(exists(fresh));

        /* A held file is spared even when it is the least recent. */
        age(shas[0], 500);
        age(shas[2], 400);
        {
                char errstr[256];

                ck_assert_int_eq(floq_artifact_ensure(&ac, url[0], shas[0], 0,
                                                      path, sizeof(path),
                                                      &hold, NULL, errstr,
                                                      sizeof(errstr)),
                                 FLOQ_OK);
        }
        ck_assert_int_ge(hold, 0);
        age(shas[0], 500); /* the use touched it: make it oldest again */
        ensure_ok(&ac, url[3], shas[3], 0, path, sizeof(path));
        cache_file(path, sizeof(path), shas[0]);
        ck_assert_msg(exists(path), "a held file was evicted");
        cache_file(path, sizeof(path), shas[2]);
        ck_assert(!exists(path));
        close(hold);
}
END_TEST

/* --------------------------------------------- the process backend */

static const floq_backend_ops_t *ops = &floq_backend_process;

#define RUN_ID "4b0c6a7e-3f5e-4f5e-9a53-0d3a4c1b2e11"

static floq_backend_t *proc_new(const char *allowed) {
        floq_backend_t *be;
        char errstr[256];

        conf_set("process.allowed.dirs", allowed);
        conf_set("process.env.allow", "PATH");
        be = ops->new_(conf, errstr, sizeof(errstr));
        ck_assert_msg(be != NULL, "new: %s", errstr);
        return be;
}

/* A spec as the worker stores it after a deploy with an artifact. */
static json_t *art_spec(const char *exe, const char *url, const char *sha) {
        return json_pack("{s:s, s:[s], s:{s:s, s:s}}", "executable", exe,
                         "args", "{who}", "artifact", "url", url, "sha256",
                         sha);
}

/* Start, wait, destroy. */
static floq_err_t run_it(floq_backend_t *be, const json_t *spec,
                         const json_t *params, floq_run_result_t *res,
                         char *errstr, size_t errstr_size) {
        floq_run_req_t req = { .run_id = RUN_ID,
                               .deployment = "dep",
                               .attempt = 1,
                               .spec = spec,
                               .params = params };
        floq_attempt_t *att = NULL;
        int64_t end = floq_mono_ms() + 20000;
        floq_err_t err;

        memset(res, 0, sizeof(*res));
        if ((err = ops->start(be, &req, &att, errstr, errstr_size)))
                return err;
        while ((err = ops->wait(be, att, 100, res)) == FLOQ_ERR_TIMED_OUT)
                ck_assert_msg(floq_mono_ms() < end, "attempt did not end");
        ops->attempt_destroy(be, att);
        return err;
}

START_TEST(test_process_allowlist) {
        floq_artifact_conf_t ac = aconf();
        char url[128], path[PATH_MAX], errstr[1024], dirs[2 * PATH_MAX];
        floq_backend_t *be;
        json_t *spec;

        url_of(url, sizeof(url), "/good");
        ensure_ok(&ac, url, good_sha, 0, path, sizeof(path));
        /* The cache is not allowlisted: the reason says what to do. */
        snprintf(dirs, sizeof(dirs), "%s/www", tmp_dir);
        be = proc_new(dirs);
        spec = art_spec("{artifact}", url, good_sha);
        ck_assert_int_eq(ops->deploy(be, "dep", spec, errstr, sizeof(errstr)),
                         FLOQ_ERR_REJECTED);
        expect_has(errstr, "is the artifact");
        expect_has(errstr, "artifact.cache.dir");
        expect_has(errstr, cache_dir);
        expect_has(errstr, "process.allowed.dirs");
        json_decref(spec);
        ops->destroy(be);

        snprintf(dirs, sizeof(dirs), "%s/www:%s", tmp_dir, cache_dir);
        be = proc_new(dirs);
        /* {artifact} without an artifact. */
        spec = json_pack("{s:s}", "executable", "{artifact}");
        ck_assert_int_eq(ops->deploy(be, "dep", spec, errstr, sizeof(errstr)),
                         FLOQ_ERR_REJECTED);
        expect_has(errstr, "has none");
        json_decref(spec);
        /* Run parameters cannot pick the executable. */
        spec = art_spec("{who}", url, good_sha);
        ck_assert_int_eq(ops->deploy(be, "dep", spec, errstr, sizeof(errstr)),
                         FLOQ_ERR_REJECTED);
        expect_has(errstr, "only {artifact}");
        json_decref(spec);
        /* A malformed "artifact". */
        spec = json_pack("{s:s, s:{s:s, s:s}}", "executable", "{artifact}",
                         "artifact", "url", url, "sha256", "../../x");
        ck_assert_int_eq(ops->deploy(be, "dep", spec, errstr, sizeof(errstr)),
                         FLOQ_ERR_INVALID_ARG);
        json_decref(spec);
        /* Listed: deployed, and the cached file became executable. */
        spec = art_spec("{artifact}", url, good_sha);
        ck_assert_msg(ops->deploy(be, "dep", spec, errstr, sizeof(errstr)) ==
                              FLOQ_OK,
                      "deploy: %s", errstr);
        {
                struct stat st;

                ck_assert_int_eq(stat(path, &st), 0);
                ck_assert_int_eq(st.st_mode & 0777, 0500);
        }
        json_decref(spec);
        ops->destroy(be);
}
END_TEST

START_TEST(test_process_runs_artifact) {
        char url[128], path[PATH_MAX], errstr[1024], dirs[2 * PATH_MAX];
        char want[PATH_MAX + 200];
        floq_run_result_t res;
        floq_backend_t *be;
        json_t *spec, *params;

        url_of(url, sizeof(url), "/good");
        snprintf(dirs, sizeof(dirs), "%s", cache_dir);
        be = proc_new(dirs);
        cache_file(path, sizeof(path), good_sha);
        /* This worker never had it: start() fetches it (a partition that
         * moved), substitutes {artifact}, sets FLOQ_ARTIFACT. A parameter
         * named "artifact" does not override the path. */
        spec = art_spec("{artifact}", url, good_sha);
        params = json_pack("{s:s, s:s}", "who", "world", "artifact", "/evil");
        ck_assert_msg(run_it(be, spec, params, &res, errstr,
                             sizeof(errstr)) == FLOQ_OK,
                      "run: %s", errstr);
        ck_assert_int_eq(res.outcome, FLOQ_OUTCOME_SUCCEEDED);
        snprintf(want, sizeof(want), "artifact world %s\n", path);
        ck_assert_str_eq(res.output_tail, want);
        ck_assert_int_eq(atomic_load(&hits), 1);
        floq_run_result_release(&res);
        /* Again: a hit, re-verified, no download. */
        ck_assert_int_eq(run_it(be, spec, params, &res, errstr,
                                sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_int_eq(res.outcome, FLOQ_OUTCOME_SUCCEEDED);
        ck_assert_int_eq(atomic_load(&hits), 1);
        floq_run_result_release(&res);
        json_decref(spec);

        /* As an argument of an allowlisted interpreter. */
        ops->destroy(be);
        snprintf(dirs, sizeof(dirs), "/usr/bin:/bin");
        be = proc_new(dirs);
        spec = json_pack("{s:s, s:[s,s], s:{s:s, s:s}}", "executable",
                         "/bin/sh", "args", "{artifact}", "{who}",
                         "artifact", "url", url, "sha256", good_sha);
        ck_assert_msg(run_it(be, spec, params, &res, errstr,
                             sizeof(errstr)) == FLOQ_OK,
                      "run: %s", errstr);
        ck_assert_int_eq(res.outcome, FLOQ_OUTCOME_SUCCEEDED);
        ck_assert_str_eq(res.output_tail, want);
        floq_run_result_release(&res);
        json_decref(spec);
        json_decref(params);
        ops->destroy(be);
}
END_TEST

/*
 * With process.run.as.user the job runs its artifact through the job
 * group: the cache directory becomes 0710 and the file 0550 of that
 * group, still the worker's to write (root only: skipped otherwise).
 */
START_TEST(test_process_artifact_job_user) {
        char url[128], path[PATH_MAX + 80], errstr[1024], dir[PATH_MAX];
        char want[PATH_MAX + 200];
        floq_run_result_t res;
        floq_backend_t *be;
        struct group *gr;
        struct stat st;
        json_t *spec, *params;

        if (geteuid() != 0 || !getpwnam("nobody") ||
            !(gr = getgrnam("nogroup"))) {
                fprintf(stderr, "SKIP: running jobs as another user needs "
                                "root and the user nobody / group "
                                "nogroup\n");
                return;
        }
        ck_assert_int_eq(chmod(tmp_dir, 0755), 0);
        snprintf(dir, sizeof(dir), "%s/shared/artifacts", tmp_dir);
        conf_set("artifact.cache.dir", dir);
        conf_set("process.run.as.user", "nobody");
        conf_set("process.run.as.group", "nogroup");
        be = proc_new(dir);
        url_of(url, sizeof(url), "/good");
        spec = art_spec("{artifact}", url, good_sha);
        params = json_pack("{s:s}", "who", "nobody");
        ck_assert_msg(run_it(be, spec, params, &res, errstr,
                             sizeof(errstr)) == FLOQ_OK,
                      "run: %s", errstr);
        ck_assert_msg(res.outcome == FLOQ_OUTCOME_SUCCEEDED, "%s: %s",
                      res.reason, res.output_tail);
        snprintf(path, sizeof(path), "%s/%s", dir, good_sha);
        snprintf(want, sizeof(want), "artifact nobody %s\n", path);
        ck_assert_str_eq(res.output_tail, want);
        floq_run_result_release(&res);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0550);
        ck_assert_int_eq(st.st_uid, 0);
        ck_assert_int_eq(st.st_gid, gr->gr_gid);
        ck_assert_int_eq(stat(dir, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0710);
        ck_assert_int_eq(st.st_gid, gr->gr_gid);
        /* A hit from an unshared download (the deploy's) is shared too. */
        ck_assert_int_eq(chown(path, 0, 0), 0);
        ck_assert_int_eq(chmod(path, 0400), 0);
        ck_assert_int_eq(run_it(be, spec, params, &res, errstr,
                                sizeof(errstr)),
                         FLOQ_OK);
        ck_assert_msg(res.outcome == FLOQ_OUTCOME_SUCCEEDED, "%s",
                      res.reason);
        floq_run_result_release(&res);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0550);
        ck_assert_int_eq(st.st_gid, gr->gr_gid);
        json_decref(spec);
        json_decref(params);
        ops->destroy(be);
}
END_TEST

START_TEST(test_process_fetch_failure) {
        char url[128], errstr[1024], dirs[2 * PATH_MAX];
        floq_run_result_t res;
        floq_backend_t *be;
        json_t *spec, *params;

        url_of(url, sizeof(url), "/missing");
        snprintf(dirs, sizeof(dirs), "%s", cache_dir);
        be = proc_new(dirs);
        spec = art_spec("{artifact}", url, good_sha);
        params = json_pack("{s:s}", "who", "x");
        ck_assert_int_eq(run_it(be, spec, params, &res, errstr,
                                sizeof(errstr)),
                         FLOQ_ERR_TRANSPORT);
        expect_has(errstr, url);
        expect_has(errstr, "HTTP 404");
        json_decref(spec);
        /* Wrong bytes at run time: the reason (it goes into the FAILED
         * reply) names the expected digest only, not what was served. */
        url_of(url, sizeof(url), "/other");
        spec = art_spec("{artifact}", url, good_sha);
        ck_assert_int_eq(run_it(be, spec, params, &res, errstr,
                                sizeof(errstr)),
                         FLOQ_ERR_REJECTED);
        expect_has(errstr, good_sha);
        ck_assert_msg(!strstr(errstr, other_sha), "digest leaked: %s",
                      errstr);
        json_decref(spec);
        json_decref(params);
        ops->destroy(be);
}
END_TEST

static Suite *artifacts_suite(void) {
        Suite *s = suite_create("artifacts");
        TCase *tc = tcase_create("cache");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_sha256_parse);
        tcase_add_test(tc, test_conf_and_url_check);
        tcase_add_test(tc, test_fetch_http_good);
        tcase_add_test(tc, test_fetch_file_url);
        tcase_add_test(tc, test_digest_mismatch);
        tcase_add_test(tc, test_oversize);
        tcase_add_test(tc, test_http_errors);
        tcase_add_test(tc, test_unreachable_bounded);
        tcase_add_test(tc, test_cache_hit);
        tcase_add_test(tc, test_verify_tampered);
        tcase_add_test(tc, test_concurrent_same_digest);
        tcase_add_test(tc, test_traversal);
        tcase_add_test(tc, test_cache_dir_rules);
        tcase_add_test(tc, test_evict_lru);
        suite_add_tcase(s, tc);

        tc = tcase_create("process");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_process_allowlist);
        tcase_add_test(tc, test_process_runs_artifact);
        tcase_add_test(tc, test_process_fetch_failure);
        tcase_add_test(tc, test_process_artifact_job_user);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return test_run_suite(artifacts_suite());
}
