/*
 * artifacts.h - deploy artifacts (worker/artifacts.c): a deploy's
 * artifact_url is downloaded with libcurl (http, https, file; bounded size,
 * connect and total timeouts, few redirects, TLS verified), its SHA-256
 * computed while it streams, and the bytes kept in a worker-local,
 * content-addressed cache directory: one file per artifact, named by its
 * lower-case hex digest, written under a temporary name and renamed only
 * once the digest matched. The cache is not state: any worker can rebuild
 * an entry from the deployment's URL and digest, so workers stay stateless
 * (a worker that takes a partition over fetches what it lacks at run time).
 *
 * Trust: a file is given its digest's name only after its bytes were
 * hashed while they were written, in a 0700 directory owned by the
 * worker's user, as a read-only file; a hit is therefore trusted by name
 * (floq_artifact_ensure() without FLOQ_ARTIFACT_F_VERIFY), and re-hashed
 * before anything executes it (the process backend passes
 * FLOQ_ARTIFACT_F_VERIFY at every start). The cache is bounded by
 * artifact.cache.max.bytes: least recently used files (mtime, touched on
 * every use) are removed, never one that a caller holds (a shared flock).
 *
 * Every function is thread-safe and may be called from several processes
 * sharing one cache directory; two fetches of one digest at once both
 * download, and the first rename wins (the bytes are the same).
 */
#ifndef FLOQ_WORKER_ARTIFACTS_H
#define FLOQ_WORKER_ARTIFACTS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "floq_common.h"

/** Length of a SHA-256 digest in hex, without the NUL. */
#define FLOQ_ARTIFACT_SHA256_LEN 64
/** Longest artifact URL accepted. */
#define FLOQ_ARTIFACT_URL_MAX 4096

/** The artifact.* settings, as plain data: copy and adjust freely. */
typedef struct floq_artifact_conf_s {
        char dir[PATH_MAX];          /**< cache directory (absolute) */
        int64_t max_bytes;           /**< largest artifact */
        int64_t cache_max_bytes;     /**< cache bound, 0: unbounded */
        int64_t connect_timeout_ms;  /**< TCP/TLS connect */
        int64_t fetch_timeout_ms;    /**< whole download, per attempt */
        int64_t deploy_timeout_ms;   /**< bound of a deploy's fetch (off the
                                      *   loop: commands.c parks the deploy) */
        long redirects_max;          /**< HTTP redirects followed */
        char protocols[64];          /**< "https,http,file" (curl's form) */
        long share_gid;              /**< -1: the cache is the worker's
                                      *   user's alone; else the group
                                      *   (the process backend's job group)
                                      *   that may read and run its files:
                                      *   the directory becomes 0710 and the
                                      *   files 0440 / 0550 of that group */
} floq_artifact_conf_t;

/** floq_artifact_ensure() flags */
#define FLOQ_ARTIFACT_F_EXEC        0x1 /**< file mode 0500, not 0400 */
#define FLOQ_ARTIFACT_F_VERIFY      0x2 /**< re-hash a cache hit */
#define FLOQ_ARTIFACT_F_CACHED_ONLY 0x4 /**< never download: a miss is
                                         *   FLOQ_ERR_NOT_FOUND */
#define FLOQ_ARTIFACT_F_REFRESH     0x8 /**< download even on a hit (a
                                         *   deploy proves the URL serves
                                         *   the bytes); the verified copy
                                         *   replaces the cached one */

/**
 * Fill @p ac from @p conf: artifact.cache.dir (unset or empty:
 * $XDG_CACHE_HOME/floq/artifacts when XDG_CACHE_HOME is an absolute path,
 * else /tmp/floq-artifacts-<euid>), artifact.max.bytes,
 * artifact.cache.max.bytes, artifact.connect.timeout.ms,
 * artifact.fetch.timeout.ms, artifact.deploy.timeout.ms,
 * artifact.redirects.max, artifact.protocols. Touches no file.
 * @return FLOQ_OK, or FLOQ_ERR_CONFIG with errstr (a relative or too long
 *         directory, an unknown protocol). Thread-safe.
 */
floq_err_t floq_artifact_conf_init(floq_artifact_conf_t *ac,
                                   const floq_conf_t *conf, char *errstr,
                                   size_t errstr_size);

/**
 * Check a digest: exactly 64 hex digits (either case). On success @p out
 * (65 bytes) receives it in lower case, the name of its cache file; so no
 * digest can name anything but a plain file inside the cache.
 * @return FLOQ_OK or FLOQ_ERR_INVALID_ARG with the reason.
 */
floq_err_t floq_artifact_sha256_parse(const char *sha256, char *out,
                                      char *errstr, size_t errstr_size);

/**
 * Check a URL before anything is fetched: not empty, at most
 * FLOQ_ARTIFACT_URL_MAX bytes, no control characters or spaces, and a
 * scheme listed in artifact.protocols.
 * @return FLOQ_OK or FLOQ_ERR_INVALID_ARG with the reason.
 */
floq_err_t floq_artifact_url_check(const floq_artifact_conf_t *ac,
                                   const char *url, char *errstr,
                                   size_t errstr_size);

/**
 * Make sure the artifact @p sha256 is in the cache and return its path.
 * A hit is used as it is (its mtime touched, for the LRU), or with
 * FLOQ_ARTIFACT_F_VERIFY hashed again first: a file whose bytes no longer
 * match is removed and fetched again. A miss (or anything with
 * FLOQ_ARTIFACT_F_REFRESH) is downloaded from @p url
 * within ac->fetch_timeout_ms (the caller may lower it in its copy), then
 * the cache is trimmed to ac->cache_max_bytes.
 *
 * @param url     where to fetch it from (checked by
 *                floq_artifact_url_check())
 * @param path    receives the file's path (ac->dir + "/" + digest)
 * @param holdp   when non-NULL, receives a read-only descriptor of the
 *                file holding a shared flock: the file is not evicted
 *                while the caller keeps it open (the caller closes it)
 * @param fetchedp when non-NULL, set to 1 when this call downloaded it
 * @return FLOQ_OK; FLOQ_ERR_INVALID_ARG (bad digest or URL);
 *         FLOQ_ERR_REJECTED when the downloaded bytes do not match, with
 *         "artifact 'URL' does not match its sha256 X" (nothing about
 *         the bytes received: those go to the log only);
 *         FLOQ_ERR_TOO_LARGE past artifact.max.bytes; FLOQ_ERR_TIMED_OUT;
 *         FLOQ_ERR_TRANSPORT (HTTP status >= 400, connection errors);
 *         FLOQ_ERR_NOT_FOUND (FLOQ_ARTIFACT_F_CACHED_ONLY and a miss);
 *         FLOQ_ERR_IO / FLOQ_ERR_CONFIG for the cache directory. errstr
 *         names the URL. Thread-safe; blocks for the download.
 */
floq_err_t floq_artifact_ensure(const floq_artifact_conf_t *ac,
                                const char *url, const char *sha256,
                                unsigned flags, char *path, size_t path_size,
                                int *holdp, int *fetchedp, char *errstr,
                                size_t errstr_size);

/**
 * The path artifact @p sha256 has (or would have) in the cache; no file is
 * touched. @return FLOQ_OK, FLOQ_ERR_INVALID_ARG for a bad digest.
 */
floq_err_t floq_artifact_path(const floq_artifact_conf_t *ac,
                              const char *sha256, char *path,
                              size_t path_size);

#endif /* FLOQ_WORKER_ARTIFACTS_H */
