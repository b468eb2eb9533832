/*
 * artifacts.c - the deploy artifact cache (see artifacts.h). A download
 * streams through libcurl into a temporary file of the cache directory
 * while OpenSSL's EVP hashes the same bytes; only when the digest matches
 * is the file made read-only, fsync()ed and renamed to its digest, so a
 * file named by a digest always held those bytes when it was written. The
 * directory is opened once per call (O_NOFOLLOW, owner and mode checked)
 * and every file is reached relative to it, so a digest can only ever name
 * a plain file inside it. Eviction (least recently used first, by mtime,
 * which every use touches) runs after each download and skips files a
 * caller holds with a shared flock. Nothing here keeps state between
 * calls: the cache can be deleted at any time and is rebuilt on demand.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "artifacts.h"

#define ART_TMP_PREFIX ".tmp-"
/* A temporary file older than this was left by a worker that died while
 * downloading: removed by the next eviction pass. */
#define ART_TMP_STALE_S 3600
/* A hit that keeps changing under us (evicted, replaced) is retried this
 * many times before giving up. */
#define ART_TRIES 4
#define ART_READ_CHUNK 65536

/* ------------------------------------------------------------- config */

static int is_hex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
               (c >= 'A' && c <= 'F');
}

floq_err_t floq_artifact_sha256_parse(const char *sha256, char *out,
                                      char *errstr, size_t errstr_size) {
        size_t i;

        if (!sha256 || !*sha256)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "artifact_sha256 is required with "
                                   "artifact_url (64 hexadecimal "
                                   "characters)");
        for (i = 0; sha256[i] && i < FLOQ_ARTIFACT_SHA256_LEN; i++)
                if (!is_hex(sha256[i]))
                        break;
        if (i != FLOQ_ARTIFACT_SHA256_LEN || sha256[i])
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "artifact_sha256 '%.80s%s' is not a "
                                   "SHA-256 digest (64 hexadecimal "
                                   "characters)",
                                   sha256, strlen(sha256) > 80 ? "..." : "");
        if (out) {
                for (i = 0; i < FLOQ_ARTIFACT_SHA256_LEN; i++)
                        out[i] = (sha256[i] >= 'A' && sha256[i] <= 'F')
                                         ? (char)(sha256[i] - 'A' + 'a')
                                         : sha256[i];
                out[i] = '\0';
        }
        return FLOQ_OK;
}

/* Is @p scheme (length @p len) one of the comma-separated @p list? */
static int in_list(const char *list, const char *scheme, size_t len) {
        const char *p = list;

        while (*p) {
                size_t n = strcspn(p, ",");

                if (n == len && !strncasecmp(p, scheme, len))
                        return 1;
                p += n;
                if (*p == ',')
                        p++;
        }
        return 0;
}

floq_err_t floq_artifact_conf_init(floq_artifact_conf_t *ac,
                                   const floq_conf_t *conf, char *errstr,
                                   size_t errstr_size) {
        const char *dir = floq_conf_str(conf, "artifact.cache.dir");
        const char *protos = floq_conf_str(conf, "artifact.protocols");
        const char *xdg = getenv("XDG_CACHE_HOME"), *p;
        size_t o = 0;
        int n;

        memset(ac, 0, sizeof(*ac));
        ac->share_gid = -1;
        if (dir && *dir) {
                if (dir[0] != '/')
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_CONFIG,
                                           "artifact.cache.dir '%s' must be "
                                           "an absolute path",
                                           dir);
                n = snprintf(ac->dir, sizeof(ac->dir), "%s", dir);
        } else if (xdg && xdg[0] == '/') {
                n = snprintf(ac->dir, sizeof(ac->dir), "%s/floq/artifacts",
                             xdg);
        } else {
                n = snprintf(ac->dir, sizeof(ac->dir),
                             "/tmp/floq-artifacts-%u", (unsigned)geteuid());
        }
        /* Room for "/" + a digest + a temporary suffix below it. */
        if (n < 0 || (size_t)n + FLOQ_ARTIFACT_SHA256_LEN + 64 >=
                             sizeof(ac->dir))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "artifact.cache.dir is too long");
        while (n > 1 && ac->dir[n - 1] == '/')
                ac->dir[--n] = '\0';

        ac->max_bytes = floq_conf_int(conf, "artifact.max.bytes");
        ac->cache_max_bytes = floq_conf_int(conf, "artifact.cache.max.bytes");
        ac->connect_timeout_ms =
                floq_conf_int(conf, "artifact.connect.timeout.ms");
        ac->fetch_timeout_ms = floq_conf_int(conf, "artifact.fetch.timeout.ms");
        ac->deploy_timeout_ms =
                floq_conf_int(conf, "artifact.deploy.timeout.ms");
        ac->redirects_max = (long)floq_conf_int(conf, "artifact.redirects.max");
        if (ac->max_bytes <= 0)
                ac->max_bytes = 1;
        if (ac->connect_timeout_ms <= 0)
                ac->connect_timeout_ms = 1;
        if (ac->fetch_timeout_ms <= 0)
                ac->fetch_timeout_ms = 1;
        if (ac->deploy_timeout_ms <= 0)
                ac->deploy_timeout_ms = 1;

        /* Only what we know how to fetch safely. */
        for (p = protos ? protos : ""; *p;) {
                size_t len;

                p += strspn(p, ", \t");
                len = strcspn(p, ", \t");
                if (!len)
                        break;
                if (!((len == 4 && !strncasecmp(p, "http", 4)) ||
                      (len == 5 && !strncasecmp(p, "https", 5)) ||
                      (len == 4 && !strncasecmp(p, "file", 4))))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_CONFIG,
                                           "artifact.protocols: '%.*s' is "
                                           "not one of https, http, file",
                                           (int)(len < 40 ? len : 40), p);
                if (!in_list(ac->protocols, p, len)) {
                        if (o + len + 2 > sizeof(ac->protocols))
                                break;
                        if (o)
                                ac->protocols[o++] = ',';
                        for (n = 0; (size_t)n < len; n++)
                                ac->protocols[o++] =
                                        (char)(p[n] | 0x20); /* lower */
                        ac->protocols[o] = '\0';
                }
                p += len;
        }
        return FLOQ_OK;
}

floq_err_t floq_artifact_url_check(const floq_artifact_conf_t *ac,
                                   const char *url, char *errstr,
                                   size_t errstr_size) {
        size_t i, len, slen;

        if (!url || !*url)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "artifact_url is empty");
        len = strlen(url);
        if (len > FLOQ_ARTIFACT_URL_MAX)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "artifact_url is longer than %d bytes",
                                   FLOQ_ARTIFACT_URL_MAX);
        for (i = 0; i < len; i++)
                if ((unsigned char)url[i] <= 0x20 ||
                    (unsigned char)url[i] == 0x7f)
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_INVALID_ARG,
                                           "artifact_url has a space or a "
                                           "control character at offset %zu",
                                           i);
        slen = strcspn(url, ":");
        if (slen == 0 || slen == len || strncmp(url + slen, "://", 3))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "artifact_url '%.200s' is not an absolute "
                                   "URL (scheme://...)",
                                   url);
        if (!in_list(ac->protocols, url, slen))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "artifact_url '%.200s': scheme '%.*s' is "
                                   "not allowed (artifact.protocols: %s)",
                                   url, (int)(slen < 20 ? slen : 20), url,
                                   ac->protocols[0] ? ac->protocols
                                                    : "none");
        return FLOQ_OK;
}

floq_err_t floq_artifact_path(const floq_artifact_conf_t *ac,
                              const char *sha256, char *path,
                              size_t path_size) {
        char sha[FLOQ_ARTIFACT_SHA256_LEN + 1];
        floq_err_t err;
        int n;

        if ((err = floq_artifact_sha256_parse(sha256, sha, NULL, 0)))
                return err;
        n = snprintf(path, path_size, "%s/%s", ac->dir, sha);
        return n < 0 || (size_t)n >= path_size ? FLOQ_ERR_INVALID_ARG
                                               : FLOQ_OK;
}

/* ---------------------------------------------------------- the cache */

/*
 * Open the cache directory, creating it (and missing parents) 0700. It must
 * be ours and writable by nobody else: a file named by a digest is trusted
 * by its name. Returns a descriptor or -1 with errstr.
 */
static int cache_dir_open(const floq_artifact_conf_t *ac, char *errstr,
                          size_t errstr_size) {
        char tmp[PATH_MAX];
        struct stat st;
        size_t i;
        int fd;

        snprintf(tmp, sizeof(tmp), "%s", ac->dir);
        for (i = 1; tmp[i]; i++) {
                if (tmp[i] != '/')
                        continue;
                tmp[i] = '\0';
                /* Parents made here let a job group through to the cache
                 * when shared; existing ones are the operator's. */
                if (mkdir(tmp, ac->share_gid >= 0 ? 0711 : 0700) == -1 &&
                    errno != EEXIST) {
                        floq_seterr(errstr, errstr_size, FLOQ_ERR_IO,
                                    "cannot create artifact cache "
                                    "directory '%s': %s",
                                    tmp, strerror(errno));
                        return -1;
                }
                tmp[i] = '/';
        }
        if (mkdir(ac->dir, 0700) == -1 && errno != EEXIST) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_IO,
                            "cannot create artifact cache directory '%s': %s",
                            ac->dir, strerror(errno));
                return -1;
        }
        fd = open(ac->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd == -1) {
                int e = errno;

                floq_seterr(errstr, errstr_size, FLOQ_ERR_IO,
                            "cannot open artifact cache directory '%s': %s",
                            ac->dir,
                            lstat(ac->dir, &st) == 0 && S_ISLNK(st.st_mode)
                                    ? "it is a symbolic link"
                                    : strerror(e));
                return -1;
        }
        /* Shared with the job group: it may look files up by their digest
         * (x), never list or change them. */
        if (ac->share_gid >= 0 && fstat(fd, &st) == 0 &&
            st.st_uid == geteuid() &&
            ((long)st.st_gid != ac->share_gid ||
             (st.st_mode & 0777) != 0710) &&
            (fchown(fd, (uid_t)-1, (gid_t)ac->share_gid) == -1 ||
             fchmod(fd, 0710) == -1)) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                            "cannot give the job group (gid %ld) access to "
                            "the artifact cache directory '%s': %s (the "
                            "worker needs CAP_CHOWN or membership in that "
                            "group)",
                            ac->share_gid, ac->dir, strerror(errno));
                close(fd);
                return -1;
        }
        if (fstat(fd, &st) == -1 || st.st_uid != geteuid() ||
            (st.st_mode & 022)) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                            "artifact cache directory '%s' must be owned by "
                            "uid %u and not writable by group or others "
                            "(it is owned by uid %u, mode %03o)",
                            ac->dir, (unsigned)geteuid(),
                            (unsigned)st.st_uid,
                            (unsigned)(st.st_mode & 0777));
                close(fd);
                return -1;
        }
        return fd;
}

/* Is @p name a digest, i.e. a cache entry? */
static int is_entry_name(const char *name) {
        size_t i;

        for (i = 0; i < FLOQ_ARTIFACT_SHA256_LEN; i++)
                if (!((name[i] >= '0' && name[i] <= '9') ||
                      (name[i] >= 'a' && name[i] <= 'f')))
                        return 0;
        return name[i] == '\0';
}

typedef struct entry_s {
        char name[FLOQ_ARTIFACT_SHA256_LEN + 1];
        int64_t size;
        struct timespec mtime;
} entry_t;

static int entry_cmp(const void *a, const void *b) {
        const entry_t *x = a, *y = b;

        if (x->mtime.tv_sec != y->mtime.tv_sec)
                return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
        if (x->mtime.tv_nsec != y->mtime.tv_nsec)
                return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
        return strcmp(x->name, y->name);
}

/* Remove @p name if it still is the file @p fd has open. */
static void unlink_if_same(int dfd, const char *name, int fd) {
        struct stat a, b;

        if (fstat(fd, &a) == 0 &&
            fstatat(dfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
            a.st_dev == b.st_dev && a.st_ino == b.st_ino)
                (void)unlinkat(dfd, name, 0);
}

/*
 * Trim the cache to ac->cache_max_bytes, least recently used first, never
 * @p keep (just written) nor a file somebody holds (flock). Also removes
 * temporary files left by dead workers. Best effort: errors are ignored.
 */
static void cache_evict(const floq_artifact_conf_t *ac, int dfd,
                        const char *keep) {
        entry_t *ents = NULL, *t;
        size_t cnt = 0, size = 0, i;
        int64_t total = 0;
        time_t now = time(NULL);
        struct dirent *de;
        struct stat st;
        int fd = dup(dfd);
        DIR *d;

        if (fd == -1 || !(d = fdopendir(fd))) {
                if (fd != -1)
                        close(fd);
                return;
        }
        while ((de = readdir(d))) {
                if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
                    !S_ISREG(st.st_mode))
                        continue;
                if (!strncmp(de->d_name, ART_TMP_PREFIX,
                             strlen(ART_TMP_PREFIX))) {
                        if (st.st_mtime + ART_TMP_STALE_S < now)
                                (void)unlinkat(dfd, de->d_name, 0);
                        continue;
                }
                if (!is_entry_name(de->d_name))
                        continue;
                total += st.st_size;
                if (cnt == size) {
                        size = size ? size * 2 : 16;
                        if (!(t = realloc(ents, size * sizeof(*ents))))
                                goto out;
                        ents = t;
                }
                memcpy(ents[cnt].name, de->d_name,
                       FLOQ_ARTIFACT_SHA256_LEN + 1);
                ents[cnt].size = st.st_size;
                ents[cnt].mtime = st.st_mtim;
                cnt++;
        }
        if (ac->cache_max_bytes <= 0 || total <= ac->cache_max_bytes)
                goto out;
        qsort(ents, cnt, sizeof(*ents), entry_cmp);
        for (i = 0; i < cnt && total > ac->cache_max_bytes; i++) {
                int efd;

                if (keep && !strcmp(ents[i].name, keep))
                        continue;
                efd = openat(dfd, ents[i].name,
                             O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                if (efd == -1)
                        continue;
                if (flock(efd, LOCK_EX | LOCK_NB) == 0) {
                        unlink_if_same(dfd, ents[i].name, efd);
                        total -= ents[i].size;
                        floq_debug("artifact", "evicted '%s/%s' (%" PRId64
                                               " bytes)",
                                   ac->dir, ents[i].name, ents[i].size);
                }
                close(efd);
        }
out:
        free(ents);
        closedir(d);
}

/* Finish the SHA-256 of @p ctx into lower-case @p hex. 0 when libcrypto
 * fails. */
static int digest_hex(EVP_MD_CTX *ctx, char hex[FLOQ_ARTIFACT_SHA256_LEN + 1]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0, i;

        if (!EVP_DigestFinal_ex(ctx, md, &mdlen))
                return 0;
        for (i = 0; i < mdlen && i * 2 < FLOQ_ARTIFACT_SHA256_LEN; i++)
                snprintf(hex + i * 2, 3, "%02x", md[i]);
        hex[FLOQ_ARTIFACT_SHA256_LEN] = '\0';
        return 1;
}

/* Hex SHA-256 of what @p fd holds, from its start. */
static floq_err_t sha256_fd(int fd, char hex[FLOQ_ARTIFACT_SHA256_LEN + 1]) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        floq_err_t err = FLOQ_ERR_IO;
        char *buf = malloc(ART_READ_CHUNK);
        off_t off = 0;
        ssize_t r;

        if (!ctx || !buf || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
                err = FLOQ_ERR_NOMEM;
                goto out;
        }
        for (;;) {
                r = pread(fd, buf, ART_READ_CHUNK, off);
                if (r == -1 && errno == EINTR)
                        continue;
                if (r < 0)
                        goto out;
                if (r == 0)
                        break;
                if (!EVP_DigestUpdate(ctx, buf, (size_t)r))
                        goto out;
                off += r;
        }
        if (!digest_hex(ctx, hex))
                goto out;
        err = FLOQ_OK;
out:
        free(buf);
        EVP_MD_CTX_free(ctx);
        return err;
}

/* ---------------------------------------------------------- download */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void) {
        curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

typedef struct fetch_s {
        int fd;
        EVP_MD_CTX *md;
        int64_t got, max;
        int toobig;
        int werr; /* errno of a failed write */
} fetch_t;

/* curl's write callback: bound, hash, write. Returning less than asked
 * aborts the transfer (CURLE_WRITE_ERROR). */
static size_t fetch_write(char *ptr, size_t size, size_t nmemb, void *ud) {
        fetch_t *f = ud;
        size_t n = size * nmemb, done = 0;

        if ((int64_t)n > f->max - f->got) {
                f->toobig = 1;
                return 0;
        }
        if (!EVP_DigestUpdate(f->md, ptr, n)) {
                f->werr = ENOMEM;
                return 0;
        }
        while (done < n) {
                ssize_t w = write(f->fd, ptr + done, n - done);

                if (w == -1 && errno == EINTR)
                        continue;
                if (w <= 0) {
                        f->werr = w == -1 ? errno : EIO;
                        return 0;
                }
                done += (size_t)w;
        }
        f->got += (int64_t)n;
        return n;
}

/* Redirects may go to http/https when allowed, never to file. */
static void redir_protocols(const floq_artifact_conf_t *ac, char *buf,
                            size_t size) {
        int http = in_list(ac->protocols, "http", 4);
        int https = in_list(ac->protocols, "https", 5);

        snprintf(buf, size, "%s%s%s", https ? "https" : "",
                 https && http ? "," : "", http ? "http" : "");
}

/*
 * Download @p url into a temporary file of the cache, hashing it on the
 * way; keep it as @p sha (mode @p mode) only when the digest matches. An
 * entry already there is kept (it holds the same bytes, and holders may
 * have it open) unless @p replace.
 */
static floq_err_t fetch_into_cache(const floq_artifact_conf_t *ac, int dfd,
                                   const char *url, const char *sha,
                                   mode_t mode, int replace, char *errstr,
                                   size_t errstr_size) {
        char tmp[128], cerr[CURL_ERROR_SIZE] = "", redir[32];
        char got_hex[FLOQ_ARTIFACT_SHA256_LEN + 1];
        unsigned char rnd[8];
        unsigned int i;
        fetch_t f = { .fd = -1 };
        floq_err_t err = FLOQ_OK;
        CURL *curl = NULL;
        long status = 0;
        int64_t t0 = floq_mono_ms();
        CURLcode rc;

        pthread_once(&curl_once, curl_init_once);
        if (curl_init_rc != CURLE_OK)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "cannot initialise libcurl");
        /* A name no other fetcher (thread or process) can pick. */
        for (i = 0; i < 16 && f.fd == -1; i++) {
                if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
                        return floq_seterr(errstr, errstr_size, FLOQ_ERR_IO,
                                           "getrandom: %s", strerror(errno));
                snprintf(tmp, sizeof(tmp),
                         ART_TMP_PREFIX "%.16s-%02x%02x%02x%02x%02x%02x%02x"
                                        "%02x",
                         sha, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5],
                         rnd[6], rnd[7]);
                f.fd = openat(dfd, tmp,
                              O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
                                      O_CLOEXEC,
                              0600);
                if (f.fd == -1 && errno != EEXIST)
                        break;
        }
        if (f.fd == -1)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_IO,
                                   "cannot create a file in the artifact "
                                   "cache '%s': %s",
                                   ac->dir, strerror(errno));
        f.max = ac->max_bytes;
        if (!(f.md = EVP_MD_CTX_new()) ||
            !EVP_DigestInit_ex(f.md, EVP_sha256(), NULL) ||
            !(curl = curl_easy_init())) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                  "out of memory");
                goto out;
        }
        redir_protocols(ac, redir, sizeof(redir));
        if (curl_easy_setopt(curl, CURLOPT_URL, url) != CURLE_OK ||
            curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR,
                             ac->protocols[0] ? ac->protocols : "https") !=
                    CURLE_OK) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                  "cannot use artifact_url '%s'", url);
                goto out;
        }
        if (redir[0] && ac->redirects_max > 0) {
                curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
                curl_easy_setopt(curl, CURLOPT_MAXREDIRS, ac->redirects_max);
                curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, redir);
        } else {
                curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
        }
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                         (long)(ac->connect_timeout_ms < ac->fetch_timeout_ms
                                        ? ac->connect_timeout_ms
                                        : ac->fetch_timeout_ms));
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)ac->fetch_timeout_ms);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
        curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE,
                         (curl_off_t)ac->max_bytes);
        curl_easy_setopt(curl, CURLOPT_USERAGENT,
                         "floq-worker/" FLOQ_VERSION_STR);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, fetch_write);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &f);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, cerr);

        rc = curl_easy_perform(curl);
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (f.toobig || rc == CURLE_FILESIZE_EXCEEDED) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_TOO_LARGE,
                                  "artifact '%s' is larger than "
                                  "artifact.max.bytes (%" PRId64 " bytes)",
                                  url, ac->max_bytes);
                goto out;
        }
        if (f.werr) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_IO,
                                  "cannot write artifact '%s' to the cache "
                                  "'%s': %s",
                                  url, ac->dir, strerror(f.werr));
                goto out;
        }
        if (rc == CURLE_HTTP_RETURNED_ERROR) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_TRANSPORT,
                                  "cannot fetch artifact '%s': HTTP %ld", url,
                                  status);
                goto out;
        }
        if (rc == CURLE_OPERATION_TIMEDOUT) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_TIMED_OUT,
                                  "cannot fetch artifact '%s' within %" PRId64
                                  " ms: %s",
                                  url, ac->fetch_timeout_ms,
                                  cerr[0] ? cerr : curl_easy_strerror(rc));
                goto out;
        }
        if (rc != CURLE_OK) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_TRANSPORT,
                                  "cannot fetch artifact '%s': %s", url,
                                  cerr[0] ? cerr : curl_easy_strerror(rc));
                goto out;
        }
        if (!digest_hex(f.md, got_hex)) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                  "cannot compute a SHA-256 digest");
                goto out;
        }
        if (strcmp(got_hex, sha)) {
                /* The reply goes to whoever deployed: it says no more
                 * than "no", or a deploy would tell the digest and size of
                 * any file or internal URL the worker can read. */
                floq_warn("artifact", "'%s' does not match its sha256: "
                                      "expected %s, got %s (%" PRId64
                                      " bytes)",
                          url, sha, got_hex, f.got);
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                  "artifact '%s' does not match its sha256 "
                                  "%s",
                                  url, sha);
                goto out;
        }
        /* A copy that replaces one keeps its exec bit: a start may be
         * about to run it. */
        if (replace) {
                struct stat old;

                if (fstatat(dfd, sha, &old, AT_SYMLINK_NOFOLLOW) == 0 &&
                    S_ISREG(old.st_mode) && (old.st_mode & S_IXUSR))
                        mode |= S_IXUSR;
        }
        /* Read-only before it gets its name (for the job group too when
         * shared); durable before the rename. */
        if (ac->share_gid >= 0) {
                mode |= (mode & S_IXUSR) ? 0050 : 0040;
                if (fchown(f.fd, (uid_t)-1, (gid_t)ac->share_gid) == -1) {
                        err = floq_seterr(errstr, errstr_size, FLOQ_ERR_IO,
                                          "cannot give artifact '%s' to the "
                                          "job group (gid %ld): %s",
                                          url, ac->share_gid,
                                          strerror(errno));
                        goto out;
                }
        }
        if (fchmod(f.fd, mode) == -1 || fsync(f.fd) == -1) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_IO,
                                  "cannot write artifact '%s' to the cache "
                                  "'%s': %s",
                                  url, ac->dir, strerror(errno));
                goto out;
        }
        close(f.fd);
        f.fd = -1;
        /* An entry another fetcher renamed first holds the same bytes:
         * keep it (holders may have it open). */
        if (renameat2(dfd, tmp, dfd, sha, replace ? 0 : RENAME_NOREPLACE) ==
            -1) {
                if (errno == EEXIST) {
                        (void)unlinkat(dfd, tmp, 0);
                } else if ((errno != EINVAL && errno != ENOSYS) ||
                           renameat(dfd, tmp, dfd, sha) == -1) {
                        err = floq_seterr(errstr, errstr_size, FLOQ_ERR_IO,
                                          "cannot store artifact '%s' in the "
                                          "cache '%s': %s",
                                          url, ac->dir, strerror(errno));
                        goto out;
                }
        }
        tmp[0] = '\0';
        (void)fsync(dfd);
        floq_info("artifact", "fetched '%s' (%" PRId64 " bytes, sha256 %s) "
                              "in %" PRId64 " ms",
                  url, f.got, sha, floq_mono_ms() - t0);
out:
        if (f.fd != -1)
                close(f.fd);
        if (tmp[0] && err)
                (void)unlinkat(dfd, tmp, 0);
        EVP_MD_CTX_free(f.md);
        if (curl)
                curl_easy_cleanup(curl);
        return err;
}

/* ------------------------------------------------------------ ensure */

floq_err_t floq_artifact_ensure(const floq_artifact_conf_t *ac,
                                const char *url, const char *sha256,
                                unsigned flags, char *path, size_t path_size,
                                int *holdp, int *fetchedp, char *errstr,
                                size_t errstr_size) {
        char sha[FLOQ_ARTIFACT_SHA256_LEN + 1];
        char hex[FLOQ_ARTIFACT_SHA256_LEN + 1];
        mode_t mode = (flags & FLOQ_ARTIFACT_F_EXEC) ? 0500 : 0400;
        floq_err_t err;
        int dfd = -1, fd = -1, fetched = 0, tries;
        struct stat st, st2;

        if (holdp)
                *holdp = -1;
        if (fetchedp)
                *fetchedp = 0;
        if ((err = floq_artifact_sha256_parse(sha256, sha, errstr,
                                              errstr_size)) ||
            (err = floq_artifact_url_check(ac, url, errstr, errstr_size)))
                return err;
        if (snprintf(path, path_size, "%s/%s", ac->dir, sha) >=
            (int)path_size)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_INVALID_ARG,
                                   "artifact path too long");
        if ((dfd = cache_dir_open(ac, errstr, errstr_size)) == -1)
                return FLOQ_ERR_IO;

        for (tries = 0; tries < ART_TRIES; tries++) {
                if ((flags & FLOQ_ARTIFACT_F_REFRESH) && !fetched &&
                    !(flags & FLOQ_ARTIFACT_F_CACHED_ONLY)) {
                        fd = -1;
                        errno = ENOENT;
                } else {
                        fd = openat(dfd, sha,
                                    O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                }
                if (fd == -1 && errno != ENOENT) {
                        /* A symlink or something unreadable under a
                         * digest's name: not ours, replace it. */
                        (void)unlinkat(dfd, sha, 0);
                }
                if (fd == -1) {
                        if (flags & FLOQ_ARTIFACT_F_CACHED_ONLY) {
                                err = floq_seterr(
                                        errstr, errstr_size,
                                        FLOQ_ERR_NOT_FOUND,
                                        "artifact sha256 %s is not in the "
                                        "cache '%s'",
                                        sha, ac->dir);
                                goto out;
                        }
                        if ((err = fetch_into_cache(
                                     ac, dfd, url, sha, mode,
                                     !!(flags & FLOQ_ARTIFACT_F_REFRESH),
                                     errstr, errstr_size)))
                                goto out;
                        fetched = 1;
                        cache_evict(ac, dfd, sha);
                        continue;
                }
                /* Held from here: eviction skips it. */
                while (flock(fd, LOCK_SH) == -1 && errno == EINTR)
                        ;
                if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
                    st.st_uid != geteuid() || (st.st_mode & 022)) {
                        floq_warn("artifact", "'%s' is not a read-only file "
                                              "of this user: replacing it",
                                  path);
                        unlink_if_same(dfd, sha, fd);
                        close(fd);
                        fd = -1;
                        continue;
                }
                /* Evicted or replaced between open and lock? */
                if (fstatat(dfd, sha, &st2, AT_SYMLINK_NOFOLLOW) == -1 ||
                    st2.st_ino != st.st_ino || st2.st_dev != st.st_dev) {
                        close(fd);
                        fd = -1;
                        continue;
                }
                if ((flags & FLOQ_ARTIFACT_F_VERIFY) && !fetched) {
                        if ((err = sha256_fd(fd, hex))) {
                                floq_seterr(errstr, errstr_size, err,
                                            "cannot read artifact '%s': %s",
                                            path, strerror(errno));
                                goto out;
                        }
                        if (strcmp(hex, sha)) {
                                floq_warn("artifact", "'%s' no longer "
                                                      "matches its digest "
                                                      "(sha256 %s): fetching "
                                                      "it again",
                                          path, hex);
                                unlink_if_same(dfd, sha, fd);
                                close(fd);
                                fd = -1;
                                continue;
                        }
                }
                /* Executable when asked (it stays so), and the job
                 * group's when shared. */
                {
                        mode_t want = ((flags & FLOQ_ARTIFACT_F_EXEC) ||
                                       (st.st_mode & S_IXUSR))
                                              ? 0500
                                              : 0400;

                        if (ac->share_gid >= 0)
                                want |= (want & S_IXUSR) ? 0050 : 0040;
                        if ((ac->share_gid >= 0 &&
                             (long)st.st_gid != ac->share_gid &&
                             fchown(fd, (uid_t)-1,
                                    (gid_t)ac->share_gid) == -1) ||
                            ((st.st_mode & 0777) != want &&
                             fchmod(fd, want) == -1)) {
                                err = floq_seterr(
                                        errstr, errstr_size, FLOQ_ERR_IO,
                                        "cannot set the mode of artifact "
                                        "'%s' (0%o%s): %s",
                                        path, (unsigned)want,
                                        ac->share_gid >= 0 ? ", job group"
                                                           : "",
                                        strerror(errno));
                                goto out;
                        }
                }
                /* Recently used: last in line for eviction. */
                (void)futimens(fd, NULL);
                err = FLOQ_OK;
                goto out;
        }
        err = floq_seterr(errstr, errstr_size, FLOQ_ERR_IO,
                          "artifact '%s' keeps changing in the cache '%s'",
                          url, ac->dir);
out:
        if (!err && holdp) {
                *holdp = fd;
                fd = -1;
        }
        if (fd != -1)
                close(fd);
        if (dfd != -1)
                close(dfd);
        if (fetchedp)
                *fetchedp = fetched;
        return err;
}
