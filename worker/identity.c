/*
 * identity.c - who this worker is. The worker id names the transactional
 * producer ("floq-" + id), so it must survive a restart: a restarted
 * worker with the same id fences its previous incarnation (KIP-98) and
 * finishes what that one left open. The id is worker.id when set, else
 * group.instance.id, else "<hostname>-<worker.slot>". Several workers on
 * one host need distinct slots (or ids): a lock file per id in
 * worker.lock.dir, held for the process's life (flock(2), released by the
 * kernel however the process ends), refuses a second worker with an id
 * already in use on the host.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "worker_int.h"

floq_err_t worker_identity_init(const floq_conf_t *conf, char *id,
                                size_t id_size, char *errstr,
                                size_t errstr_size) {
        const char *v;
        char host[128];

        if ((v = floq_conf_get(conf, "worker.id")) && *v) {
                snprintf(id, id_size, "%s", v);
        } else if ((v = floq_conf_get(conf, "group.instance.id")) && *v) {
                snprintf(id, id_size, "%s", v);
        } else {
                if (gethostname(host, sizeof(host)))
                        snprintf(host, sizeof(host), "localhost");
                host[sizeof(host) - 1] = '\0';
                snprintf(id, id_size, "%s-%lld", host,
                         (long long)floq_conf_int(conf, "worker.slot"));
        }
        /* It becomes part of a transactional id and of a file name. */
        for (v = id; *v; v++)
                if (*v == '/' || (unsigned char)*v < 0x20)
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_CONFIG,
                                           "worker id '%s' must not contain "
                                           "'/' or control characters",
                                           id);
        if (!*id)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "the worker id is empty");
        return FLOQ_OK;
}

int worker_identity_lock(const floq_conf_t *conf, const char *id,
                         char *errstr, size_t errstr_size) {
        const char *dir = floq_conf_str(conf, "worker.lock.dir");
        const char *group = floq_conf_str(conf, "group.id");
        char path[1024], pid[32];
        int fd;
        ssize_t n;

        if (!dir || !*dir)
                dir = "/tmp";
        snprintf(path, sizeof(path), "%s/floq-worker.%s.%s.lock", dir,
                 group ? group : "", id);
        for (char *c = path + strlen(dir) + 1; *c; c++)
                if (*c == '/')
                        *c = '_';
        if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                            "cannot open lock file '%s': %s", path,
                            strerror(errno));
                return -1;
        }
        if (flock(fd, LOCK_EX | LOCK_NB)) {
                int e = errno;

                n = pread(fd, pid, sizeof(pid) - 1, 0);
                pid[n > 0 ? n : 0] = '\0';
                pid[strcspn(pid, "\n")] = '\0';
                close(fd);
                if (e == EWOULDBLOCK)
                        floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                    "worker id '%s' is already in use on "
                                    "this host (pid %s holds '%s'): give "
                                    "each worker on a host its own "
                                    "worker.slot (--slot N) or worker.id",
                                    id, *pid ? pid : "?", path);
                else
                        floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                    "cannot lock '%s': %s", path,
                                    strerror(e));
                return -1;
        }
        n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
        if (ftruncate(fd, 0) || pwrite(fd, pid, (size_t)n, 0) != n)
                floq_warn("worker", "cannot write '%s': %s", path,
                          strerror(errno));
        return fd;
}
