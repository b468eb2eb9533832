/*
 * process.c - the embedded default backend: runs a deployment as a local
 * process. It is the one backend that executes code on the worker's host,
 * so it is built to be boring from a security point of view: argv only
 * (never a shell: a parameter is one argv element, verbatim), executables
 * confined to the operator's process.allowed.dirs (checked on the
 * realpath, so symlinks cannot escape), an environment built from
 * allowlists instead of inherited (the names a spec may set included:
 * process.env.spec.allow), optionally a user and group of its own
 * (process.run.as.user; the backend refuses to start if that user could
 * read the worker's secrets), PR_SET_NO_NEW_PRIVS, rlimits, and nothing of
 * the worker's descriptors. A deployment with an artifact (the worker puts
 * "artifact": {url, sha256} into the spec) gets it from the worker's
 * artifact cache at every start, fetched if this worker lacks it and
 * re-hashed before it runs; its path replaces {artifact} in the executable
 * and args (never in env values) and is FLOQ_ARTIFACT. The artifact as the
 * executable is held to process.allowed.dirs like any other, so the
 * operator must list the cache directory to allow it.
 *
 * Process tree: each attempt has a supervisor, the worker's child, which
 * is a child subreaper and forks the job. The supervisor is the
 * floq-supervise program (supervise.h, supervise.c), embedded, loaded into
 * a sealed memfd by proc_new() and started with posix_spawn(), so a start
 * copies nothing of the worker (a fork() of the multi-threaded worker cost
 * ten times the process it started: docs/benchmarks.md); without a memfd
 * it runs in a fork() as before. Normally the supervisors are not exec'd
 * per attempt but forked by the spawner (spawner.h, spawner.c):
 * floq-supervise --spawner, started once by proc_new() the same way
 * (spawner_start()), single-threaded and small, gets each attempt's
 * descriptors with SCM_RIGHTS and its argv, environment and numbers as
 * bytes, forks, and the child runs floq_sup_main() with no exec (half the
 * CPU of a /bin/true run was that exec). It hands back the supervisor's
 * pidfd, through which alone the worker signals it and sees its end; the
 * supervisor's status comes on the control pipe (its EXIT record, or the
 * spawner's REAPED one). The spawner dies with proc_new()'s thread (the
 * worker's main thread), each supervisor with the spawner. When the
 * spawner cannot start or dies, attempts start with posix_spawn() again
 * (spawner_request(): a start under way waits until nothing the dead
 * spawner forked for it is left). Whatever the job starts stays
 * below it (setsid() and double forks included); on the worker's SIGTERM
 * it passes SIGTERM to every descendant, on SUP_SIG_KILL (after the grace
 * period, or its parent-death signal when the worker dies) or when the
 * job's main process ended it SIGKILLs every descendant until none is
 * left, then reports the job's wait status on a control pipe and exits.
 * So nothing of an attempt outlives its stop, its timeout or its worker.
 *
 * Lease: a worker that is stopped (SIGSTOP, a debugger), not dead, sends
 * no parent-death signal and its watchdog is frozen with it, while another
 * worker takes its runs over after the heartbeat timeout. So a renewer
 * thread of the worker process writes a byte to each live attempt's lease
 * socket every process.lease.ms / 4, and a supervisor that got none for
 * process.lease.ms stops the tree by itself (SIGTERM, kill grace, SIGKILL)
 * and marks its EXIT record; wait() then reports ABANDONED. The supervisor
 * is in a process group of its own, so a SIGSTOP of the worker's pid or
 * group does not stop it. proc_new() refuses a lease that breaks
 * lease + kill grace + heartbeat interval + skew < heartbeat timeout.
 *
 * Threads: proc_new() starts the spawner from the calling thread, which
 * must live as long as the backend (the worker's main thread does); a
 * supervisor without the spawner is started from the thread calling
 * start(), and PR_SET_PDEATHSIG fires when that *thread* exits, not the
 * process. The executor calls start(),
 * wait() and attempt_destroy() of an attempt from one thread that lives
 * until the supervisor is reaped, which is what makes this safe; any other
 * caller must do the same (start from a thread that outlives the attempt).
 * stop() and ref() may be called from any thread; an attempt's mutable state
 * is guarded by its own mutex, and the supervisor is signalled through its
 * pidfd or, when it is our child, only while it is known unreaped (so a
 * recycled pid can never be signalled). Requests to the spawner are one
 * at a time (sp_lock).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "artifacts.h"
#include "backend.h"
#include "spawner.h"
#include "supervise.h"
#include "backend_int.h"
#include "config_int.h"
#include "prog_int.h"


extern char **environ;

/* Bounds on what a deployment spec may ask for. */
#define PROC_ARGS_MAX     4096
#define PROC_ENV_MAX      1024
#define PROC_ENV_NAME_MAX 256
/* Poll slice when no pidfd tells us about the child's exit. */
#define PROC_POLL_SLICE_MS 20
/* How long wait() keeps draining output after the main child exited. */
#define PROC_DRAIN_MS 100
#define PROC_READ_CHUNK 65536
/* Bound on the spawner's hello and on each exchange with it. */
#define PROC_SPAWNER_TIMEOUT_MS 10000
/* How long a failed start waits for what the spawner may have forked. */
#define PROC_ORPHAN_WAIT_MS 30000
/* How long reap() waits for the spawner's REAPED record. */
#define PROC_REAPED_WAIT_MS 2000

typedef struct proc_backend_s {
        floq_backend_t base; /* must be first */
        char *allowed_dirs;  /* process.allowed.dirs as configured */
        char *env_allow;     /* process.env.allow as configured */
        size_t output_max;
        int64_t grace_ms;
        int64_t rl_cpu, rl_as, rl_nofile, rl_nproc;
        char *env_spec_allow; /* process.env.spec.allow as configured */
        int run_as;           /* process.run.as.user is set */
        uid_t uid;            /* ... its uid */
        gid_t gid;            /* ... and the job group */
        floq_artifact_conf_t art; /* artifact.* settings */
        char art_err[256];        /* why art is unusable, "" when fine */
        int64_t lease_ms;         /* process.lease.ms, resolved */
        /* The lease renewer: a thread that writes a byte to the lease
         * socket of every live attempt each lease_ms / 4. */
        pthread_mutex_t lease_lock; /* guards the fields marked (R) */
        pthread_cond_t lease_cond;  /* (R) wakes the renewer to exit */
        pthread_t lease_thread;
        int lease_running;          /* (R) the thread was started ... */
        pid_t lease_pid;            /* (R) ... in this process */
        int lease_quit;             /* (R) the thread must exit */
        struct floq_attempt_s *live; /* (R) attempts renewed, linked */
        /* floq-supervise (supervise.h) in a sealed memfd, run as
         * sup_path with posix_spawn(); -1: fork() instead */
        int sup_fd;
        char sup_path[40];
        /* The spawner (spawner.h): the supervisors are its children */
        pthread_mutex_t sp_lock; /* guards sp_sock and sp_pid, one
                                  * request at a time */
        int sp_sock;             /* its socket; -1: none (or dead) */
        pid_t sp_pid;            /* our child */
        pid_t sp_owner;          /* the process that started it */
        int devnull;             /* /dev/null, the jobs' stdin */
        int max_fd;              /* RLIMIT_NOFILE at proc_new() */
} proc_backend_t;



struct floq_attempt_s {
        pthread_mutex_t lock; /* guards the fields marked (L) */
        pid_t pid;            /* the attempt's supervisor (our child) */
        pid_t job_pid;        /* the job's main process (its child) */
        char ref[24];
        int pidfd;            /* of the supervisor; -1 without pidfd_open */
        int spawned;          /* forked by the spawner: not our child, so
                               * signalled through pidfd, its end seen on
                               * pidfd and its status read from ctlfd */
        int orphan;           /* it reported its parent's death */
        int ctlfd;            /* control pipe from the supervisor */
        int outfd;            /* read end of stdout+stderr, -1 at EOF */
        int wakefd;           /* eventfd: stop() wakes wait() */
        int leasefd;          /* lease socket to the supervisor, or -1 */
        int lease_expired;    /* the supervisor reported its lease expired */
        struct floq_attempt_s *lease_next; /* pb->live list (R) */
        int exited;           /* child seen exited (not yet reaped) */
        int reaped;           /* (L) waitpid() done: pid may be reused */
        int status;           /* waitpid() status once reaped */
        int stop_requested;   /* (L) */
        floq_stop_why_t why;  /* (L) first stop()'s reason */
        int killed;           /* (L) SIGKILL sent after the grace period */
        int64_t kill_at;      /* (L) mono ms of the SIGKILL, when stopping */
        int64_t grace_ms;
        int64_t run_deadline; /* mono ms of the spec's timeout_ms, or 0 */
        /* Ring buffer holding the last output_max bytes of output. */
        char *ring;
        size_t ring_cap, ring_start, ring_len;
        char *chunk; /* read buffer */
};

/* ------------------------------------------------------------- helpers */

static int valid_env_name(const char *s) {
        size_t i;

        if (!s || !((s[0] >= 'A' && s[0] <= 'Z') ||
                    (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
                return 0;
        for (i = 1; s[i]; i++)
                if (!((s[i] >= 'A' && s[i] <= 'Z') ||
                      (s[i] >= 'a' && s[i] <= 'z') ||
                      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
                        return 0;
        return i <= PROC_ENV_NAME_MAX;
}

/*
 * Variables a deployment may not set through its spec's "env": they make
 * the dynamic loader, libc or a shell run code the operator did not
 * allowlist (LD_PRELOAD, BASH_ENV, ...), or they are floq's own.
 */
static const char *denied_env_name(const char *name) {
        static const char *const exact[] = {
                "BASH_ENV", "ENV",       "SHELLOPTS",  "BASHOPTS",
                "PS4",      "IFS",       "CDPATH",     "GCONV_PATH",
                "GETCONF_DIR", "HOSTALIASES", "LOCALDOMAIN", "LOCPATH",
                "NIS_PATH", "NLSPATH",   "RESOLV_HOST_CONF", "RES_OPTIONS",
                "TMPDIR",   "TZDIR",     "PYTHONSTARTUP", "PERL5OPT",
                "PERL5LIB", "PYTHONPATH", "NODE_OPTIONS", "RUBYOPT",
                NULL,
        };
        static const char *const prefix[] = { "LD_", "MALLOC_", "GLIBC_",
                                              "FLOQ_", NULL };
        size_t i;

        for (i = 0; exact[i]; i++)
                if (!strcmp(name, exact[i]))
                        return "it can make the job run code that is not "
                               "allowlisted";
        for (i = 0; prefix[i]; i++)
                if (!strncmp(name, prefix[i], strlen(prefix[i])))
                        return !strcmp(prefix[i], "FLOQ_")
                                       ? "FLOQ_ variables are set by the "
                                         "worker"
                                       : "it can make the job run code that "
                                         "is not allowlisted";
        return NULL;
}

/* Variables every spec may set: they only choose a locale or time zone. */
static const char *const spec_env_safe[] = {
        "TZ",          "LANG",       "LANGUAGE",    "LC_ALL",
        "LC_CTYPE",    "LC_COLLATE", "LC_MESSAGES", "LC_MONETARY",
        "LC_NUMERIC",  "LC_TIME",    NULL,
};

/*
 * May a deployment's spec "env" set @p name? NULL when it may, else the
 * reason. The rule is an allowlist: the safe set above, then the names of
 * process.env.spec.allow (an entry "APP_*" allows a prefix). A name of the
 * denylist (the loader, libc, shells, interpreters) is allowed only by an
 * exact entry, never by a prefix; FLOQ_* never (the worker sets those).
 */
static const char *spec_env_refused(const proc_backend_t *pb,
                                    const char *name) {
        const char *p = pb->env_spec_allow ? pb->env_spec_allow : "";
        const char *denied;
        size_t i, nl = strlen(name);

        if (!strncmp(name, "FLOQ_", 5))
                return "FLOQ_ variables are set by the worker";
        for (i = 0; spec_env_safe[i]; i++)
                if (!strcmp(name, spec_env_safe[i]))
                        return NULL;
        denied = denied_env_name(name);
        while (*p) {
                size_t len;

                p += strspn(p, ", \t");
                len = strcspn(p, ", \t");
                if (len == nl && !strncmp(p, name, len))
                        return NULL;
                if (len > 1 && p[len - 1] == '*' && len - 1 <= nl &&
                    !strncmp(p, name, len - 1) && !denied)
                        return NULL;
                p += len;
        }
        if (denied)
                return "it can make the job run code that is not "
                       "allowlisted (only an exact process.env.spec.allow "
                       "entry allows it)";
        return "it is not in process.env.spec.allow (the operator's list "
               "of variables a deployment may set; always allowed: TZ, "
               "LANG, LANGUAGE, LC_*)";
}

/* Does template @p tpl (its syntax checked) use the placeholder {@p name}? */
static int tpl_uses(const char *tpl, const char *name) {
        size_t nl = strlen(name);
        const char *p = tpl;

        while (*p) {
                if ((p[0] == '{' && p[1] == '{') ||
                    (p[0] == '}' && p[1] == '}')) {
                        p += 2;
                        continue;
                }
                if (p[0] == '{' && !strncmp(p + 1, name, nl) &&
                    p[1 + nl] == '}')
                        return 1;
                p++;
        }
        return 0;
}

/* Move fd above stdio so dup2() onto 0..2 in the child cannot clobber it. */
static int fd_above_stdio(int fd) {
        int nfd;

        if (fd < 0 || fd > 2)
                return fd;
        nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        close(fd);
        return nfd;
}

/*
 * Is process.env.allow entry @p entry (a name, or "?NAME" for variables
 * passed only to deployments that list them in env_allow) the variable
 * @p name? *optional is set for "?NAME" entries.
 */
static int env_allow_entry_is(const char *entry, size_t len, const char *name,
                              int *optional) {
        *optional = len > 0 && entry[0] == '?';
        if (*optional) {
                entry++;
                len--;
        }
        return len == strlen(name) && !strncmp(entry, name, len);
}

/*
 * Whether worker variable @p name goes to the job: -1 not listed in
 * process.env.allow, 0 listed as optional ("?NAME"), 1 passed to all jobs.
 */
static int env_allow_lookup(const proc_backend_t *pb, const char *name) {
        const char *p = pb->env_allow ? pb->env_allow : "";
        int optional;

        while (*p) {
                size_t len;

                p += strspn(p, ", \t");
                len = strcspn(p, ", \t");
                if (len && env_allow_entry_is(p, len, name, &optional))
                        return optional ? 0 : 1;
                p += len;
        }
        return -1;
}

/* ------------------------------------------------------------ allowlist */

/*
 * Is realpath @p real inside one of the colon-separated directories of
 * @p dirs (each realpath()ed now, so the config may name symlinks)?
 */
static int path_in_allowed_dirs(const char *dirs, const char *real) {
        const char *p = dirs;

        while (p && *p) {
                size_t len = strcspn(p, ":");
                char dir[PATH_MAX], rdir[PATH_MAX];

                if (len > 0 && len < sizeof(dir)) {
                        size_t rlen;

                        memcpy(dir, p, len);
                        dir[len] = '\0';
                        if (realpath(dir, rdir)) {
                                rlen = strlen(rdir);
                                /* "/" allows everything below it. */
                                if (rlen == 1 && rdir[0] == '/')
                                        return 1;
                                if (!strncmp(real, rdir, rlen) &&
                                    real[rlen] == '/')
                                        return 1;
                        }
                }
                p += len;
                if (*p == ':')
                        p++;
        }
        return 0;
}

/*
 * The executable checks of deploy() and start(): absolute, exists, regular,
 * executable, realpath inside the allowlist. On success the resolved path
 * goes to @p real (PATH_MAX bytes).
 */
static floq_err_t check_executable(const proc_backend_t *pb, const char *exe,
                                   char *real, char *errstr,
                                   size_t errstr_size) {
        struct stat st;

        if (!pb->allowed_dirs || !*pb->allowed_dirs)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                   "executable '%s' refused: no directory is "
                                   "allowed (the operator must set "
                                   "process.allowed.dirs to the "
                                   "colon-separated directories holding job "
                                   "executables)",
                                   exe);
        if (exe[0] != '/')
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                   "executable '%s' must be an absolute path",
                                   exe);
        if (!realpath(exe, real))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                   "executable '%s': %s", exe,
                                   strerror(errno));
        if (stat(real, &st) == -1)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                   "executable '%s': %s", exe,
                                   strerror(errno));
        if (!S_ISREG(st.st_mode))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                   "executable '%s' is not a regular file",
                                   exe);
        if (access(real, X_OK) == -1)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                   "executable '%s' is not executable: %s",
                                   exe, strerror(errno));
        if (!path_in_allowed_dirs(pb->allowed_dirs, real)) {
                if (strcmp(real, exe))
                        return floq_seterr(
                                errstr, errstr_size, FLOQ_ERR_REJECTED,
                                "executable '%s' (resolves to '%s') is "
                                "outside the allowed directories (%s)",
                                exe, real, pb->allowed_dirs);
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                   "executable '%s' is outside the allowed "
                                   "directories (%s)",
                                   exe, pb->allowed_dirs);
        }
        return FLOQ_OK;
}

/* ----------------------------------------------------------------- spec */

static floq_err_t spec_int(const json_t *spec, const char *key,
                           int64_t *out, char *errstr, size_t errstr_size) {
        const json_t *v = json_object_get(spec, key);

        if (!v)
                return FLOQ_OK;
        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                   "'%s' must be a non-negative integer "
                                   "(milliseconds)",
                                   key);
        *out = json_integer_value(v);
        return FLOQ_OK;
}

/* ------------------------------------------------------------ artifact */

/* The spec's "artifact" as the worker wrote it: {"url": .., "sha256": ..}. */
static floq_err_t check_artifact(const proc_backend_t *pb, const json_t *art,
                                 char *errstr, size_t errstr_size) {
        const char *key;
        json_t *v;

        if (!json_is_object(art) ||
            !json_is_string(json_object_get(art, "url")) ||
            !json_is_string(json_object_get(art, "sha256")))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                   "'artifact' must be an object with 'url' "
                                   "and 'sha256' (set by the worker from "
                                   "artifact_url and artifact_sha256)");
        json_object_foreach((json_t *)art, key, v) {
                if (strcmp(key, "url") && strcmp(key, "sha256"))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_REJECTED,
                                           "unknown key '%s' in 'artifact'",
                                           key);
        }
        if (pb->art_err[0])
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "artifacts are unusable on this worker: "
                                   "%s",
                                   pb->art_err);
        return floq_artifact_sha256_parse(
                json_string_value(json_object_get(art, "sha256")), NULL,
                errstr, errstr_size);
}

/* The spec's artifact into the cache (floq_artifact_ensure() with @p flags;
 * @p holdp may be NULL); its path into @p path (PATH_MAX bytes). */
static floq_err_t artifact_ensure(const proc_backend_t *pb, const json_t *art,
                                  unsigned flags, char *path, int *holdp,
                                  char *errstr, size_t errstr_size) {
        floq_err_t err;

        if ((err = check_artifact(pb, art, errstr, errstr_size)))
                return err;
        return floq_artifact_ensure(
                &pb->art, json_string_value(json_object_get(art, "url")),
                json_string_value(json_object_get(art, "sha256")), flags,
                path, PATH_MAX, holdp, NULL, errstr, errstr_size);
}

/*
 * The executable to run, into @p exe (PATH_MAX bytes): the spec's own, or,
 * for a deployment with an artifact, the spec's with {artifact} replaced by
 * the artifact's path in the cache (nothing else is substituted: run
 * parameters never choose the program). *is_artifact is set when that
 * changed it. Checks the result like any executable, with a reason that
 * says what to do when the cache directory is not allowlisted.
 */
static floq_err_t spec_executable(const proc_backend_t *pb, const json_t *spec,
                                  char *exe, char *real, int *is_artifact,
                                  char *errstr, size_t errstr_size) {
        const char *given = json_string_value(json_object_get(spec,
                                                              "executable"));
        const json_t *art = json_object_get(spec, "artifact");
        char apath[PATH_MAX], msg[512], *x = NULL;
        json_t *only;
        floq_err_t err;

        *is_artifact = 0;
        if (!given || !*given)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                   "'executable' (an absolute path) is "
                                   "required");
        if (!art) {
                if (strstr(given, "{artifact}"))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_REJECTED,
                                           "executable '%s' names the "
                                           "artifact, but the deployment has "
                                           "none (set artifact_url and "
                                           "artifact_sha256)",
                                           given);
                if (strlen(given) >= PATH_MAX)
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_REJECTED,
                                           "executable path too long");
                strcpy(exe, given);
                return check_executable(pb, exe, real, errstr, errstr_size);
        }
        if ((err = check_artifact(pb, art, errstr, errstr_size)))
                return err;
        if (floq_artifact_path(&pb->art,
                               json_string_value(json_object_get(art,
                                                                 "sha256")),
                               apath, sizeof(apath)))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                   "bad artifact digest");
        if (!(only = json_pack("{s:s}", "artifact", apath)))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        err = floq_tpl_expand(given, only, &x, msg, sizeof(msg));
        json_decref(only);
        if (err)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                   "executable '%s': %s (only {artifact} "
                                   "may be substituted in it)",
                                   given, msg);
        if (strlen(x) >= PATH_MAX) {
                free(x);
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                   "executable path too long");
        }
        strcpy(exe, x);
        free(x);
        if (!strstr(given, "{artifact}"))
                return check_executable(pb, exe, real, errstr, errstr_size);
        *is_artifact = 1;
        if (pb->allowed_dirs && *pb->allowed_dirs && exe[0] == '/') {
                if (!realpath(exe, real))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_REJECTED,
                                           "executable '%s': the artifact is "
                                           "not in this worker's cache "
                                           "('%s'): %s",
                                           given, exe, strerror(errno));
                if (!path_in_allowed_dirs(pb->allowed_dirs, real))
                        return floq_seterr(
                                errstr, errstr_size, FLOQ_ERR_REJECTED,
                                "executable '%s' is the artifact, cached at "
                                "'%s', which is outside the allowed "
                                "directories (%s): the operator must add "
                                "the artifact cache directory "
                                "(artifact.cache.dir, '%s') to "
                                "process.allowed.dirs to run artifacts",
                                given, real, pb->allowed_dirs, pb->art.dir);
        }
        return check_executable(pb, exe, real, errstr, errstr_size);
}

/*
 * Every check of a spec; deploy() and start() both run it (the file system
 * may have changed in between). @p real receives the executable's realpath
 * and @p exe (PATH_MAX bytes, may be NULL) the executable as argv[0]
 * ({artifact} substituted).
 */
static floq_err_t check_spec(const proc_backend_t *pb, const json_t *spec,
                             char *real, char *exe, char *errstr,
                             size_t errstr_size) {
        static const char *const keys[] = { "executable", "args", "cwd",
                                            "env", "env_allow", "timeout_ms",
                                            "grace_ms", "artifact", NULL };
        const char *key;
        const json_t *v, *args, *env, *allow;
        char msg[512], exe_buf[PATH_MAX];
        int64_t dummy;
        floq_err_t err;
        int is_artifact;
        size_t i;

        if (!json_is_object(spec))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                   "process spec must be a JSON object");
        json_object_foreach((json_t *)spec, key, v) {
                for (i = 0; keys[i]; i++)
                        if (!strcmp(key, keys[i]))
                                break;
                if (!keys[i])
                        return floq_seterr(
                                errstr, errstr_size, FLOQ_ERR_REJECTED,
                                "unknown key '%s' in process spec (known: "
                                "executable, args, cwd, env, env_allow, "
                                "timeout_ms, grace_ms, artifact)",
                                key);
        }

        if ((err = spec_executable(pb, spec, exe ? exe : exe_buf, real,
                                   &is_artifact, errstr, errstr_size)))
                return err;

        args = json_object_get(spec, "args");
        if (args && !json_is_array(args))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                   "'args' must be an array of strings");
        if (json_array_size(args) > PROC_ARGS_MAX)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                   "'args' has more than %d elements",
                                   PROC_ARGS_MAX);
        json_array_foreach(args, i, v) {
                if (!json_is_string(v) ||
                    memchr(json_string_value(v), '\0', json_string_length(v)))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_REJECTED,
                                           "args[%zu] must be a string "
                                           "without NUL bytes",
                                           i);
                if (floq_tpl_check(json_string_value(v), msg, sizeof(msg)))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_REJECTED, "args[%zu]: %s",
                                           i, msg);
        }

        if ((v = json_object_get(spec, "cwd"))) {
                struct stat st;
                const char *cwd = json_string_value(v);

                if (!cwd || cwd[0] != '/')
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_REJECTED,
                                           "'cwd' must be an absolute path");
                if (stat(cwd, &st) == -1 || !S_ISDIR(st.st_mode))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_REJECTED,
                                           "cwd '%s' is not a directory", cwd);
        }

        env = json_object_get(spec, "env");
        if (env && !json_is_object(env))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                   "'env' must be an object of strings");
        if (json_object_size(env) > PROC_ENV_MAX)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                   "'env' has more than %d variables",
                                   PROC_ENV_MAX);
        json_object_foreach((json_t *)env, key, v) {
                const char *why;

                if (!valid_env_name(key))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_REJECTED,
                                           "env: '%s' is not a valid variable "
                                           "name ([A-Za-z_][A-Za-z0-9_]*)",
                                           key);
                if ((why = spec_env_refused(pb, key)))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_REJECTED,
                                           "env: '%s' may not be set by a "
                                           "deployment: %s",
                                           key, why);
                if (!json_is_string(v) ||
                    memchr(json_string_value(v), '\0', json_string_length(v)))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_REJECTED,
                                           "env: '%s' must be a string "
                                           "without NUL bytes",
                                           key);
                if (floq_tpl_check(json_string_value(v), msg, sizeof(msg)))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_REJECTED, "env '%s': %s",
                                           key, msg);
                /* A path a deployer controls in a variable makes it code
                 * (OPENSSL_CONF, JAVA_TOOL_OPTIONS, ...): never. */
                if (tpl_uses(json_string_value(v), "artifact"))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_REJECTED,
                                           "env '%s': {artifact} is not "
                                           "substituted in env values (the "
                                           "job finds the artifact's path in "
                                           "FLOQ_ARTIFACT)",
                                           key);
        }

        allow = json_object_get(spec, "env_allow");
        if (allow && !json_is_array(allow))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                   "'env_allow' must be an array of variable "
                                   "names");
        if (json_array_size(allow) > PROC_ENV_MAX)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_REJECTED,
                                   "'env_allow' has more than %d names",
                                   PROC_ENV_MAX);
        json_array_foreach(allow, i, v) {
                if (!valid_env_name(json_string_value(v)))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_REJECTED,
                                           "env_allow[%zu] must be a variable "
                                           "name ([A-Za-z_][A-Za-z0-9_]*)",
                                           i);
        }

        if ((err = spec_int(spec, "timeout_ms", &dummy, errstr, errstr_size)) ||
            (err = spec_int(spec, "grace_ms", &dummy, errstr, errstr_size)))
                return err;
        return FLOQ_OK;
}

/* ---------------------------------------------------------- lifecycle */

static void proc_destroy(floq_backend_t *be) {
        proc_backend_t *pb = (proc_backend_t *)be;

        if (!pb)
                return;
        if (pb->lease_running && pb->lease_pid == getpid()) {
                pthread_mutex_lock(&pb->lease_lock);
                pb->lease_quit = 1;
                pthread_cond_broadcast(&pb->lease_cond);
                pthread_mutex_unlock(&pb->lease_lock);
                pthread_join(pb->lease_thread, NULL);
        }
        pthread_cond_destroy(&pb->lease_cond);
        pthread_mutex_destroy(&pb->lease_lock);
        if (pb->sp_sock >= 0 && pb->sp_owner == getpid()) {
                /* Its supervisors (none should be left) die with it.
                 * SIGKILL, not only the end of its socket: a fork of
                 * the worker may hold a copy of that. */
                close(pb->sp_sock);
                (void)kill(pb->sp_pid, SIGKILL);
                while (waitpid(pb->sp_pid, NULL, 0) == -1 && errno == EINTR)
                        ;
        } else if (pb->sp_sock >= 0) {
                close(pb->sp_sock); /* a fork's copy: not ours to end */
        }
        pthread_mutex_destroy(&pb->sp_lock);
        if (pb->devnull >= 0)
                close(pb->devnull);
        if (pb->sup_fd >= 0)
                close(pb->sup_fd);
        free(pb->allowed_dirs);
        free(pb->env_allow);
        free(pb->env_spec_allow);
        free(pb);
}

static const char *conf_str(const floq_conf_t *conf, const char *name) {
        const char *s = floq_conf_str(conf, name);

        return s ? s : "";
}

/* A user or group given as a number. */
static int parse_id(const char *s, unsigned long *out) {
        char *end;

        if (!*s || *s < '0' || *s > '9')
                return 0;
        errno = 0;
        *out = strtoul(s, &end, 10);
        return !errno && !*end && *out < (unsigned long)(uid_t)-1;
}

/*
 * process.run.as.user / process.run.as.group into pb->uid / pb->gid (names
 * or numbers; the group defaults to the user's primary group). Neither may
 * be root's or the worker's own: the point is that the job cannot read
 * what the worker can.
 */
static floq_err_t resolve_job_user(proc_backend_t *pb, const char *user,
                                   const char *group, char *errstr,
                                   size_t errstr_size) {
        char buf[16384];
        struct passwd pw, *pwp = NULL;
        struct group gr, *grp = NULL;
        unsigned long id;
        int have_gid = 0;

        if (group && *group && !(user && *user))
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "process.run.as.group is set without "
                                   "process.run.as.user");
        if (!user || !*user)
                return FLOQ_OK;
        if (parse_id(user, &id)) {
                pb->uid = (uid_t)id;
                (void)getpwuid_r(pb->uid, &pw, buf, sizeof(buf), &pwp);
        } else {
                (void)getpwnam_r(user, &pw, buf, sizeof(buf), &pwp);
                if (!pwp)
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_CONFIG,
                                           "process.run.as.user: no user "
                                           "'%s'",
                                           user);
                pb->uid = pwp->pw_uid;
        }
        if (pwp) {
                pb->gid = pwp->pw_gid;
                have_gid = 1;
        }
        if (group && *group) {
                if (parse_id(group, &id)) {
                        pb->gid = (gid_t)id;
                } else {
                        (void)getgrnam_r(group, &gr, buf, sizeof(buf), &grp);
                        if (!grp)
                                return floq_seterr(errstr, errstr_size,
                                                   FLOQ_ERR_CONFIG,
                                                   "process.run.as.group: "
                                                   "no group '%s'",
                                                   group);
                        pb->gid = grp->gr_gid;
                }
                have_gid = 1;
        }
        if (!have_gid)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "process.run.as.user: uid %lu has no "
                                   "passwd entry: set process.run.as.group "
                                   "too",
                                   (unsigned long)pb->uid);
        if (pb->uid == 0 || pb->uid == geteuid())
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "process.run.as.user '%s' is uid %lu, %s: "
                                   "jobs must run as an unprivileged user of "
                                   "their own",
                                   user, (unsigned long)pb->uid,
                                   pb->uid == 0 ? "root"
                                                : "the worker's own user");
        if (pb->gid == 0 || pb->gid == getegid())
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "the job group (process.run.as.group, or "
                                   "the primary group of '%s') is gid %lu, "
                                   "%s: choose a group of its own",
                                   user, (unsigned long)pb->gid,
                                   pb->gid == 0 ? "root's"
                                                : "the worker's own group");
        pb->run_as = 1;
        return FLOQ_OK;
}


/*
 * Could the job user read @p path (NULL: only switch to it)? Tried for
 * real: a child takes the job's credentials and open()s the file, so ACLs,
 * directory permissions and capabilities all count.
 * @return 1 readable, 0 not, -1 when the worker cannot switch users.
 */
static int job_user_can_read(const proc_backend_t *pb, const char *path) {
        pid_t pid;
        int st;

        pid = fork();
        if (pid == 0) {
                if (floq_sup_take_creds(pb->uid, pb->gid) == -1)
                        _exit(3);
                if (!path)
                        _exit(1);
                _exit(open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
                                         O_NONBLOCK) >= 0
                              ? 0
                              : 1);
        }
        if (pid == -1)
                return -1;
        while (waitpid(pid, &st, 0) == -1)
                if (errno != EINTR)
                        return -1;
        if (!WIFEXITED(st) || WEXITSTATUS(st) == 3)
                return -1;
        return WEXITSTATUS(st) == 0;
}

/*
 * The worker's secrets must be out of the job user's reach, or running
 * jobs as another user protects nothing: the signing keys, the SASL
 * password, TLS private keys and keytabs given to librdkafka, the
 * backends' token and password files, and the properties file (it may
 * hold any of them inline).
 */
static floq_err_t check_secrets_unreadable(const proc_backend_t *pb,
                                           const floq_conf_t *conf,
                                           char *errstr, size_t errstr_size) {
        /* Every file of a credential the worker's config may name: the
         * backends' tokens and passwords too (a key not in this build's
         * table is simply unset). */
        static const char *const props[] = {
                "security.hmac.keys.file", "sasl.password.file", "config",
                "http.backend.token.file", "prefect.api.key.file",
                "prefect.api.auth.string.file",
                "airflow.auth.file", "kubernetes.token.file", NULL
        };
        static const char *const kafka_keys[] = {
                "ssl.key.location", "ssl.keystore.location",
                "sasl.kerberos.keytab", NULL
        };
        const char *files[16], *what[16], *v, *key;
        size_t n = 0, i, j, cnt;
        struct stat st;

        if (job_user_can_read(pb, NULL) == -1)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "process.run.as.user: the worker cannot "
                                   "switch to uid %lu gid %lu (run it as "
                                   "root, or with CAP_SETUID, CAP_SETGID and "
                                   "CAP_KILL)",
                                   (unsigned long)pb->uid,
                                   (unsigned long)pb->gid);
        for (i = 0; props[i]; i++)
                if ((v = floq_conf_get(conf, props[i])) && *v) {
                        files[n] = v;
                        what[n++] = props[i];
                }
        cnt = floq_conf_kafka_cnt(conf);
        for (j = 0; j < cnt && n < sizeof(files) / sizeof(files[0]); j++) {
                floq_conf_kafka_get(conf, j, &key, &v);
                for (i = 0; kafka_keys[i]; i++)
                        if (!strcmp(key, kafka_keys[i]) && v && *v) {
                                files[n] = v;
                                what[n++] = kafka_keys[i];
                        }
        }
        for (i = 0; i < n; i++) {
                int r = job_user_can_read(pb, files[i]);

                if (r == 0)
                        continue;
                if (stat(files[i], &st) == -1)
                        memset(&st, 0, sizeof(st));
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "process.run.as.user (uid %lu gid %lu) "
                                   "could read %s '%s' (owner uid %lu gid "
                                   "%lu, mode %03o): make it readable by the "
                                   "worker's user only (chmod 600), or run "
                                   "jobs as another user",
                                   (unsigned long)pb->uid,
                                   (unsigned long)pb->gid, what[i], files[i],
                                   (unsigned long)st.st_uid,
                                   (unsigned long)st.st_gid,
                                   (unsigned)(st.st_mode & 07777));
        }
        return FLOQ_OK;
}

/*
 * process.lease.ms into pb->lease_ms (0: a third of
 * worker.heartbeat.timeout.ms), held to the rule that makes a stopped
 * worker's job dead before another worker takes its run over: the takeover
 * waits worker.heartbeat.timeout.ms on the new owner's clock after the last
 * heartbeat it saw, which may be a heartbeat interval older than the last
 * renewal; the job is dead at most lease + kill grace after that renewal;
 * the clocks may run apart by the skew allowance. So lease + kill grace +
 * heartbeat interval + skew must stay below the heartbeat timeout.
 */
static floq_err_t lease_conf(proc_backend_t *pb, const floq_conf_t *conf,
                             char *errstr, size_t errstr_size) {
        int64_t hb_timeout = floq_conf_int(conf, "worker.heartbeat.timeout.ms");
        int64_t hb_interval =
                floq_conf_int(conf, "worker.heartbeat.interval.ms");
        int64_t skew = floq_conf_int(conf, "worker.clock.skew.ms");

        pb->lease_ms = floq_conf_int(conf, "process.lease.ms");
        if (pb->lease_ms <= 0)
                pb->lease_ms = hb_timeout / 3;
        if (pb->lease_ms < 1)
                pb->lease_ms = 1;
        if (pb->lease_ms + pb->grace_ms + hb_interval + skew >= hb_timeout)
                return floq_seterr(
                        errstr, errstr_size, FLOQ_ERR_CONFIG,
                        "timing rule broken: process.lease.ms (%" PRId64
                        ") + process.kill.grace.ms (%" PRId64
                        ") + worker.heartbeat.interval.ms (%" PRId64
                        ") + worker.clock.skew.ms (%" PRId64
                        ") must be below worker.heartbeat.timeout.ms (%" PRId64
                        "), or the job of a stopped worker may still run "
                        "when another worker takes its run over",
                        pb->lease_ms, pb->grace_ms, hb_interval, skew,
                        hb_timeout);
        return FLOQ_OK;
}

/*
 * The lease renewer: every lease / 4 one byte to the lease socket of each
 * live attempt (non-blocking: a full socket holds renewals enough). It
 * runs in the worker process, so a worker that is stopped (SIGSTOP, a
 * frozen VM) renews nothing and its jobs' supervisors stop them.
 */
static void *lease_main(void *arg) {
        proc_backend_t *pb = arg;
        int64_t period = pb->lease_ms / 4 > 0 ? pb->lease_ms / 4 : 1;
        floq_attempt_t *a;
        struct timespec ts;

        pthread_mutex_lock(&pb->lease_lock);
        while (!pb->lease_quit) {
                for (a = pb->live; a; a = a->lease_next)
                        (void)send(a->leasefd, "r", 1,
                                   MSG_NOSIGNAL | MSG_DONTWAIT);
                (void)clock_gettime(CLOCK_MONOTONIC, &ts);
                ts.tv_sec += (time_t)(period / 1000);
                ts.tv_nsec += (long)(period % 1000) * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000L;
                }
                while (!pb->lease_quit &&
                       pthread_cond_timedwait(&pb->lease_cond,
                                              &pb->lease_lock, &ts) == 0)
                        ;
        }
        pthread_mutex_unlock(&pb->lease_lock);
        return NULL;
}

/* Renew @p att's lease from now on, starting the renewer if this process
 * has none (a fork() of the worker does not inherit its threads). */
static floq_err_t lease_add(proc_backend_t *pb, floq_attempt_t *att) {
        sigset_t all, old;
        int rc = 0;

        pthread_mutex_lock(&pb->lease_lock);
        if (!pb->lease_running || pb->lease_pid != getpid()) {
                /* No signal of the worker's is ever handled there. */
                floq_sigset_thread(&all);
                pthread_sigmask(SIG_SETMASK, &all, &old);
                rc = pthread_create(&pb->lease_thread, NULL, lease_main, pb);
                pthread_sigmask(SIG_SETMASK, &old, NULL);
                pb->lease_running = rc == 0;
                pb->lease_pid = getpid();
                pb->live = NULL; /* a forked parent's: not ours */
        }
        if (rc == 0) {
                att->lease_next = pb->live;
                pb->live = att;
                /* At once: the supervisor's lease runs since STARTED. */
                (void)send(att->leasefd, "r", 1,
                           MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        pthread_mutex_unlock(&pb->lease_lock);
        return rc == 0 ? FLOQ_OK : FLOQ_ERR_BACKEND;
}

static void lease_remove(proc_backend_t *pb, floq_attempt_t *att) {
        floq_attempt_t **pp;

        pthread_mutex_lock(&pb->lease_lock);
        for (pp = &pb->live; *pp; pp = &(*pp)->lease_next)
                if (*pp == att) {
                        *pp = att->lease_next;
                        break;
                }
        pthread_mutex_unlock(&pb->lease_lock);
}

/*
 * The supervisor program into a sealed memfd, run through
 * /proc/self/fd/N: starting it with posix_spawn() (vfork-based) copies
 * nothing of the worker, where a fork() of the multi-threaded worker
 * copied its page tables and made every later write of the worker fault
 * (docs/benchmarks.md). Without memfd or /proc the supervisor runs in a
 * fork() as before: the same code, the same isolation.
 */
static void sup_load(proc_backend_t *pb) {
        size_t len = (size_t)(floq_supervise_elf_end - floq_supervise_elf);
        size_t off = 0;
        int fd = (int)syscall(SYS_memfd_create, "floq-supervise",
                              MFD_CLOEXEC | MFD_ALLOW_SEALING);

        /* Above the descriptors sup_spawn() puts in place before the
         * exec, which would replace it. */
        if (fd >= 0 && fd <= SUP_BLOCK_FD) {
                int nfd = fcntl(fd, F_DUPFD_CLOEXEC, SUP_BLOCK_FD + 1);

                close(fd);
                fd = nfd;
        }

        while (fd >= 0 && off < len) {
                ssize_t w = write(fd, floq_supervise_elf + off, len - off);

                if (w <= 0 && errno != EINTR)
                        break;
                if (w > 0)
                        off += (size_t)w;
        }
        if (fd >= 0 && off == len &&
            fcntl(fd, F_ADD_SEALS,
                  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) ==
                    0) {
                snprintf(pb->sup_path, sizeof(pb->sup_path),
                         "/proc/self/fd/%d", fd);
                if (access(pb->sup_path, X_OK) == 0) {
                        pb->sup_fd = fd;
                        return;
                }
        }
        floq_notice("process", "cannot load the supervisor program (%s): "
                               "attempts start with fork()",
                    strerror(errno));
        if (fd >= 0)
                close(fd);
        pb->sup_path[0] = '\0';
}

/*
 * posix_spawn() floq-supervise with argv @p av and the descriptors of
 * @p fa: an empty environment, every signal blocked (it takes them from
 * a signalfd) and at its default, a process group of its own.
 * @return its pid, -1 with *errp.
 */
static pid_t sup_exec(const proc_backend_t *pb,
                      const posix_spawn_file_actions_t *fa, char **av,
                      int *errp) {
        char *noenv[1] = { NULL };
        posix_spawnattr_t at;
        sigset_t all, dfl;
        pid_t pid = -1;
        int rc;

        sigfillset(&all);
        sigfillset(&dfl);
        sigdelset(&dfl, SIGKILL);
        sigdelset(&dfl, SIGSTOP);
        posix_spawnattr_init(&at);
        if ((rc = posix_spawnattr_setflags(
                     &at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                  POSIX_SPAWN_SETPGROUP)) ||
            (rc = posix_spawnattr_setsigmask(&at, &all)) ||
            (rc = posix_spawnattr_setsigdefault(&at, &dfl)) ||
            (rc = posix_spawnattr_setpgroup(&at, 0)) ||
            (rc = posix_spawn(&pid, pb->sup_path, fa, &at, av, noenv)))
                pid = -1;
        posix_spawnattr_destroy(&at);
        *errp = rc;
        return pid;
}

/* Start floq-supervise for @p sp (supervise_main.c: its arguments and
 * descriptors). @return its pid, -1 with *errp. */
static pid_t sup_spawn(const proc_backend_t *pb, const spawn_t *sp,
                       int *errp) {
        posix_spawn_file_actions_t fa;
        char nums[256], *av[5];
        pid_t pid = -1;
        int rc, bfd;

        if (floq_sup_format_nums(sp, nums, sizeof(nums)) ||
            (bfd = floq_sup_block_fd(sp)) < 0) {
                *errp = errno ? errno : ENOMEM;
                return -1;
        }
        /* Above every target of the dup2()s below. */
        if (bfd <= SUP_BLOCK_FD) {
                int nfd = fcntl(bfd, F_DUPFD_CLOEXEC, SUP_BLOCK_FD + 1);

                close(bfd);
                if ((bfd = nfd) < 0) {
                        *errp = errno;
                        return -1;
                }
        }
        av[0] = "floq-supervise";
        av[1] = nums;
        av[2] = (char *)sp->path;
        av[3] = (char *)sp->cwd;
        av[4] = NULL;
        posix_spawn_file_actions_init(&fa);
        /* The descriptors in the order of their targets: every source is
         * above 2, the lease's above SUP_LEASE_FD (proc_start()) and the
         * block's above SUP_BLOCK_FD, so none is overwritten before it is
         * copied. */
        if ((rc = posix_spawn_file_actions_adddup2(&fa, sp->devnull, 0)) ||
            (rc = posix_spawn_file_actions_adddup2(&fa, sp->outw, 1)) ||
            (rc = posix_spawn_file_actions_adddup2(&fa, sp->outw, 2)) ||
            (rc = posix_spawn_file_actions_adddup2(&fa, sp->ctlw,
                                                   SUP_CTL_FD)) ||
            (rc = posix_spawn_file_actions_adddup2(&fa, sp->leaser,
                                                   SUP_LEASE_FD)) ||
            (rc = posix_spawn_file_actions_adddup2(&fa, bfd,
                                                   SUP_BLOCK_FD)))
                pid = -1;
        else
                /* no environment: the job's comes on SUP_BLOCK_FD */
                pid = sup_exec(pb, &fa, av, &rc);
        *errp = rc;
        posix_spawn_file_actions_destroy(&fa);
        close(bfd);
        return pid;
}

/* ------------------------------------------------------------ spawner */

/*
 * Start the spawner (spawner.h): floq-supervise --spawner, exec'd once
 * from the sealed memfd with the same isolation as a supervisor's start
 * (no environment, every signal blocked and at its default, a process
 * group of its own, /dev/null as stdio) and nothing of the worker but its
 * socket. Its parent-death signal fires when the *thread* that started it
 * exits: proc_new() runs in the worker's main thread (floq_worker_new()),
 * which lives as long as the worker. Without it (no memfd, no pidfds,
 * process.spawner false, or it did not say hello) attempts start as
 * before, one posix_spawn() each.
 */
static void spawner_start(proc_backend_t *pb, const floq_conf_t *conf) {
        posix_spawn_file_actions_t fa;
        char wpid[24], *av[4], c = 0;
        struct timeval tv = { PROC_SPAWNER_TIMEOUT_MS / 1000, 0 };
        int sv[2] = { -1, -1 }, probe, rc;
        struct pollfd pfd;
        pid_t pid = -1;

        if (pb->sup_fd < 0 || pb->devnull < 0 ||
            !floq_conf_bool(conf, "process.spawner"))
                return;
        /* The worker signals the supervisors through pidfds only. */
        if ((probe = (int)syscall(SYS_pidfd_open, getpid(), 0)) < 0 ||
            syscall(SYS_pidfd_send_signal, probe, 0, NULL, 0) == -1) {
                floq_notice("process", "no pidfds: %s: attempts start "
                                       "without the spawner",
                            strerror(errno));
                if (probe >= 0)
                        close(probe);
                return;
        }
        close(probe);
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
                goto fail;
        sv[0] = fd_above_stdio(sv[0]);
        /* Above SPAWNER_FD, its target, so the dup2() clears its
         * close-on-exec. */
        if (sv[1] >= 0 && sv[1] <= SPAWNER_FD) {
                int nfd = fcntl(sv[1], F_DUPFD_CLOEXEC, SPAWNER_FD + 1);

                close(sv[1]);
                sv[1] = nfd;
        }
        if (sv[0] < 0 || sv[1] < 0 ||
            setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
            setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
                goto fail;
        snprintf(wpid, sizeof(wpid), "%ld", (long)getpid());
        av[0] = "floq-supervise";
        av[1] = "--spawner";
        av[2] = wpid;
        av[3] = NULL;
        posix_spawn_file_actions_init(&fa);
        if ((rc = posix_spawn_file_actions_adddup2(&fa, pb->devnull, 0)) ||
            (rc = posix_spawn_file_actions_adddup2(&fa, pb->devnull, 1)) ||
            (rc = posix_spawn_file_actions_adddup2(&fa, pb->devnull, 2)) ||
            (rc = posix_spawn_file_actions_adddup2(&fa, sv[1],
                                                   SPAWNER_FD)))
                pid = -1;
        else
                pid = sup_exec(pb, &fa, av, &rc);
        posix_spawn_file_actions_destroy(&fa);
        close(sv[1]);
        sv[1] = -1;
        if (pid == -1) {
                errno = rc;
                goto fail;
        }
        pfd.fd = sv[0];
        pfd.events = POLLIN;
        if (poll(&pfd, 1, PROC_SPAWNER_TIMEOUT_MS) != 1 ||
            read(sv[0], &c, 1) != 1 || c != SPAWNER_HELLO) {
                (void)kill(pid, SIGKILL); /* our unreaped child */
                while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
                        ;
                errno = EPROTO;
                goto fail;
        }
        pb->sp_sock = sv[0];
        pb->sp_pid = pid;
        pb->sp_owner = getpid();
        return;
fail:
        floq_warn("process", "cannot start the spawner: %s: attempts "
                             "start with posix_spawn()",
                  strerror(errno));
        if (sv[0] >= 0)
                close(sv[0]);
        if (sv[1] >= 0)
                close(sv[1]);
}

/* The spawner failed (@p why): end it for good; caller holds sp_lock.
 * Its supervisors die with it (their parent-death signal). */
static void spawner_drop(proc_backend_t *pb, const char *why) {
        if (pb->sp_sock < 0)
                return;
        floq_warn("process", "the spawner (pid %d) %s: attempts start "
                             "with posix_spawn() from now on",
                  (int)pb->sp_pid, why);
        close(pb->sp_sock);
        pb->sp_sock = -1;
        (void)kill(pb->sp_pid, SIGKILL); /* our child, unreaped */
        while (waitpid(pb->sp_pid, NULL, 0) == -1 && errno == EINTR)
                ;
}

/*
 * Ask the spawner for a supervisor of @p sp. @return 0 with *pidp and
 * *pidfdp; -1 with *errp when the spawner could not fork; 1 when there is
 * no spawner (any more): nothing was sent, start the attempt without it;
 * 2 when it failed during this request (it is ended now). After -1 or 2
 * the caller waits for the end of the control pipe: a supervisor forked
 * before the spawner died may still be ending.
 */
static int spawner_request(proc_backend_t *pb, const spawn_t *sp,
                           pid_t *pidp, int *pidfdp, int *errp) {
        int fds[4] = { sp->devnull, sp->outw, sp->ctlw, sp->leaser };
        spawner_req_t req;
        spawner_rep_t rep;
        char *buf = NULL;
        size_t len = 0, off;
        int rc = 1, pidfd = -1, nfd = 0;
        ssize_t r;

        *errp = 0;
        if (floq_sup_block_build(sp, sizeof(req), &buf, &len) ||
            len - sizeof(req) > SPAWNER_REQ_MAX) {
                free(buf);
                *errp = ENOMEM;
                return -1;
        }
        memset(&req, 0, sizeof(req));
        req.magic = SPAWNER_MAGIC;
        req.len = (uint32_t)(len - sizeof(req));
        req.lease_ms = sp->lease_ms;
        req.lease_grace_ms = sp->lease_grace_ms;
        req.rl_cpu = sp->rl_cpu;
        req.rl_as = sp->rl_as;
        req.rl_nofile = sp->rl_nofile;
        req.rl_nproc = sp->rl_nproc;
        req.max_fd = sp->max_fd;
        req.run_as = sp->run_as;
        req.uid = (uint32_t)sp->uid;
        req.gid = (uint32_t)sp->gid;
        memcpy(buf, &req, sizeof(req));

        pthread_mutex_lock(&pb->sp_lock);
        if (pb->sp_sock < 0)
                goto out;
        r = spawner_send_fds(pb->sp_sock, buf, len, fds, 4);
        for (off = r > 0 ? (size_t)r : 0; r > 0 && off < len;
             off += (size_t)(r > 0 ? r : 0)) {
                r = send(pb->sp_sock, buf + off, len - off, MSG_NOSIGNAL);
                if (r == -1 && errno == EINTR)
                        r = 0;
        }
        if (r <= 0) {
                spawner_drop(pb, r == 0 ? "closed its socket"
                                        : "cannot be reached");
                rc = 2;
                goto out;
        }
        r = spawner_recv_fds(pb->sp_sock, &rep, sizeof(rep), &pidfd, 1,
                             &nfd);
        if (r != (ssize_t)sizeof(rep) ||
            (rep.err == 0 && (pidfd < 0 || rep.pid <= 0))) {
                spawner_drop(pb, r == 0 ? "died"
                                 : r < 0 ? "did not answer"
                                         : "answered out of protocol");
                rc = 2;
                goto out;
        }
        if (rep.err) {
                *errp = rep.err;
                rc = -1;
                goto out;
        }
        *pidp = (pid_t)rep.pid;
        *pidfdp = fd_above_stdio(pidfd);
        pidfd = -1;
        rc = 0;
out:
        pthread_mutex_unlock(&pb->sp_lock);
        if (pidfd >= 0)
                close(pidfd);
        free(buf);
        return rc;
}

/* Read @p fd (the control pipe's end) until its end, which comes once
 * nothing holds its write end: no supervisor of it is left. @return 0,
 * -1 after @p ms. */
static int ctl_wait_eof(int fd, int64_t ms) {
        int64_t end = floq_mono_ms() + ms;
        struct pollfd pfd = { fd, POLLIN, 0 };
        char buf[256];

        for (;;) {
                int64_t left = end - floq_mono_ms();
                ssize_t r;

                if (left <= 0)
                        return -1;
                if (poll(&pfd, 1, (int)left) <= 0)
                        continue;
                r = read(fd, buf, sizeof(buf));
                if (r == 0 || (r == -1 && errno != EINTR && errno != EAGAIN))
                        return 0;
        }
}

/* Wait until the spawner's supervisor of pidfd @p pidfd has exited. */
static void pidfd_wait_exit(int pidfd) {
        struct pollfd pfd = { pidfd, POLLIN, 0 };

        while (poll(&pfd, 1, -1) == -1 && errno == EINTR)
                ;
}

static floq_backend_t *proc_new(const floq_conf_t *conf, char *errstr,
                                size_t errstr_size) {
        proc_backend_t *pb = calloc(1, sizeof(*pb));

        if (!pb) {
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                return NULL;
        }
        pb->base.ops = &floq_backend_process;
        pb->sup_fd = -1;
        pb->sp_sock = -1;
        pb->devnull = -1;
        pthread_mutex_init(&pb->lease_lock, NULL);
        pthread_mutex_init(&pb->sp_lock, NULL);
        {
                pthread_condattr_t ca;

                pthread_condattr_init(&ca);
                pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
                pthread_cond_init(&pb->lease_cond, &ca);
                pthread_condattr_destroy(&ca);
        }
        pb->allowed_dirs = strdup(conf_str(conf, "process.allowed.dirs"));
        pb->env_allow = strdup(conf_str(conf, "process.env.allow"));
        pb->env_spec_allow = strdup(conf_str(conf, "process.env.spec.allow"));
        if (!pb->allowed_dirs || !pb->env_allow || !pb->env_spec_allow) {
                proc_destroy(&pb->base);
                floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                            "out of memory");
                return NULL;
        }
        if (resolve_job_user(pb, floq_conf_get(conf, "process.run.as.user"),
                             floq_conf_get(conf, "process.run.as.group"),
                             errstr, errstr_size) ||
            (pb->run_as &&
             check_secrets_unreadable(pb, conf, errstr, errstr_size))) {
                proc_destroy(&pb->base);
                return NULL;
        }
        pb->output_max =
                (size_t)floq_conf_int(conf, "process.output.max.bytes");
        pb->grace_ms = floq_conf_int(conf, "process.kill.grace.ms");
        pb->rl_cpu = floq_conf_int(conf, "process.rlimit.cpu.s");
        pb->rl_as = floq_conf_int(conf, "process.rlimit.as");
        pb->rl_nofile = floq_conf_int(conf, "process.rlimit.nofile");
        pb->rl_nproc = floq_conf_int(conf, "process.rlimit.nproc");
        if (pb->grace_ms < 0)
                pb->grace_ms = 0;
        if (lease_conf(pb, conf, errstr, errstr_size)) {
                proc_destroy(&pb->base);
                return NULL;
        }
        {
                struct rlimit nof;

                pb->max_fd = 65536;
                if (getrlimit(RLIMIT_NOFILE, &nof) == 0 &&
                    nof.rlim_cur < 65536)
                        pb->max_fd = (int)nof.rlim_cur;
        }
        /* Every attempt's stdin: opened once. */
        pb->devnull = fd_above_stdio(open("/dev/null", O_RDONLY | O_CLOEXEC));
        sup_load(pb);
        spawner_start(pb, conf);
        /* A bad artifact setting only disables deployments with one. */
        if (floq_artifact_conf_init(&pb->art, conf, pb->art_err,
                                    sizeof(pb->art_err)) == FLOQ_OK)
                pb->art_err[0] = '\0';
        /* The job user reads (and runs) its artifacts through the job
         * group; the cache stays the worker's to write. */
        if (pb->run_as)
                pb->art.share_gid = (long)pb->gid;
        else if (pb->allowed_dirs[0])
                floq_notice("process", "jobs run as the worker's own user "
                                       "(uid %lu): they can read what it "
                                       "can, its keys included; set "
                                       "process.run.as.user to isolate "
                                       "them",
                            (unsigned long)geteuid());
        return &pb->base;
}


static floq_err_t proc_deploy(floq_backend_t *be, const char *deployment,
                              json_t *spec, char *errstr,
                              size_t errstr_size) {
        proc_backend_t *pb = (proc_backend_t *)be;
        const json_t *art = json_object_get(spec, "artifact");
        const char *exe = json_string_value(json_object_get(spec,
                                                            "executable"));
        char real[PATH_MAX], apath[PATH_MAX];
        floq_err_t err;
        json_t *args;

        (void)deployment;
        /* The worker fetched the artifact just before; one that is run
         * itself must be executable. Never a download here (the loop). */
        if (art && exe && strstr(exe, "{artifact}") &&
            (err = artifact_ensure(pb, art,
                                   FLOQ_ARTIFACT_F_EXEC |
                                           FLOQ_ARTIFACT_F_CACHED_ONLY,
                                   apath, NULL, errstr, errstr_size)))
                return err == FLOQ_ERR_NOT_FOUND ? FLOQ_ERR_REJECTED : err;
        if ((err = check_spec(pb, spec, real, NULL, errstr, errstr_size)))
                return err;
        /* Normalised form: "args" is always there. */
        if (!json_object_get(spec, "args")) {
                if (!(args = json_array()) ||
                    json_object_set_new(spec, "args", args))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_NOMEM, "out of memory");
        }
        return FLOQ_OK;
}

static floq_err_t proc_validate(floq_backend_t *be, const json_t *spec,
                                char *errstr, size_t errstr_size) {
        proc_backend_t *pb = (proc_backend_t *)be;
        const char *p = pb->allowed_dirs;
        char real[PATH_MAX];

        if (!p || !*p)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_CONFIG,
                                   "process.allowed.dirs is empty: every "
                                   "executable is refused; set it to the "
                                   "colon-separated directories holding job "
                                   "executables");
        while (*p) {
                size_t len = strcspn(p, ":");
                char dir[PATH_MAX];
                struct stat st;

                if (len == 0 || len >= sizeof(dir) || p[0] != '/')
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_CONFIG,
                                           "process.allowed.dirs: '%.*s' is "
                                           "not an absolute directory path",
                                           (int)(len < 200 ? len : 200), p);
                memcpy(dir, p, len);
                dir[len] = '\0';
                if (stat(dir, &st) == -1)
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_CONFIG,
                                           "process.allowed.dirs: cannot "
                                           "access '%s': %s",
                                           dir, strerror(errno));
                if (!S_ISDIR(st.st_mode))
                        return floq_seterr(errstr, errstr_size,
                                           FLOQ_ERR_CONFIG,
                                           "process.allowed.dirs: '%s' is "
                                           "not a directory",
                                           dir);
                p += len;
                if (*p == ':')
                        p++;
        }
        if (spec)
                return check_spec(pb, spec, real, NULL, errstr, errstr_size);
        return FLOQ_OK;
}

/* ------------------------------------------------------------------ start */


static void free_strv(char **v) {
        size_t i;

        if (!v)
                return;
        for (i = 0; v[i]; i++)
                free(v[i]);
        free(v);
}

/* "NAME=value" into envp[*n] unless NAME is already there (first wins). */
static int env_add(char **envp, size_t *n, const char *name,
                   const char *value) {
        size_t i, nl = strlen(name);
        char *s;

        for (i = 0; i < *n; i++)
                if (!strncmp(envp[i], name, nl) && envp[i][nl] == '=')
                        return 0;
        if (!(s = malloc(nl + strlen(value) + 2)))
                return -1;
        memcpy(s, name, nl);
        s[nl] = '=';
        strcpy(s + nl + 1, value);
        envp[(*n)++] = s;
        return 0;
}

/*
 * The job's environment, highest precedence first: floq's own FLOQ_*
 * variables (FLOQ_ARTIFACT when @p artifact is given), the spec's "env"
 * (substituted with @p params), then the worker's variables
 * that process.env.allow lets through (all plain entries; "?NAME" entries
 * only when the spec lists NAME in env_allow).
 */
static floq_err_t build_env(const proc_backend_t *pb,
                            const floq_run_req_t *req, const json_t *params,
                            const char *artifact, char ***envpp,
                            char *errstr, size_t errstr_size) {
        const json_t *env = json_object_get(req->spec, "env");
        const json_t *allow = json_object_get(req->spec, "env_allow");
        size_t cap = 8 + json_object_size(env) + json_array_size(allow) +
                     strlen(pb->env_allow) / 2 + 1;
        char **envp = calloc(cap + 1, sizeof(*envp));
        char num[32], *val = NULL;
        const char *key, *p;
        floq_err_t err = FLOQ_OK;
        json_t *v;
        size_t n = 0, i;

        if (!envp)
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
#define ADD(name, value)                                                       \
        do {                                                                   \
                if (env_add(envp, &n, (name), (value))) {                      \
                        err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM, \
                                          "out of memory");                    \
                        goto out;                                              \
                }                                                              \
        } while (0)

        ADD("FLOQ_RUN_ID", req->run_id ? req->run_id : "");
        ADD("FLOQ_DEPLOYMENT", req->deployment ? req->deployment : "");
        snprintf(num, sizeof(num), "%d", req->attempt);
        ADD("FLOQ_ATTEMPT", num);
        if (req->scheduled_for) {
                char iso[40];

                floq_ms_to_iso(req->scheduled_for, iso, sizeof(iso));
                ADD("FLOQ_SCHEDULED_FOR", iso);
        }
        if (artifact)
                ADD("FLOQ_ARTIFACT", artifact);

        json_object_foreach((json_t *)env, key, v) {
                if ((err = floq_tpl_expand(json_string_value(v), params,
                                           &val, errstr, errstr_size)))
                        goto out;
                ADD(key, val);
                free(val);
                val = NULL;
        }

        /* Worker variables: plain process.env.allow entries. */
        for (p = pb->env_allow; *p;) {
                size_t len;

                p += strspn(p, ", \t");
                len = strcspn(p, ", \t");
                if (len && p[0] != '?' && len <= PROC_ENV_NAME_MAX) {
                        char name[PROC_ENV_NAME_MAX + 1];
                        const char *wv;

                        memcpy(name, p, len);
                        name[len] = '\0';
                        if (n < cap && valid_env_name(name) &&
                            (wv = getenv(name)))
                                ADD(name, wv);
                }
                p += len;
        }
        /* Those the spec asks for, when the operator allows them. */
        json_array_foreach(allow, i, v) {
                const char *name = json_string_value(v), *wv;

                if (n < cap && name && env_allow_lookup(pb, name) >= 0 &&
                    (wv = getenv(name)))
                        ADD(name, wv);
        }
#undef ADD
        envp[n] = NULL;
        *envpp = envp;
        envp = NULL;
out:
        free(val);
        free_strv(envp);
        return err;
}

/* The ends a supervisor holds (output, control pipe, lease), closed here
 * once it has them or will not: each set to -1. */
static void close_child_ends(int outp[2], int errp[2], int lsp[2]) {
        close(outp[1]);
        outp[1] = -1;
        close(errp[1]);
        errp[1] = -1;
        close(lsp[1]);
        lsp[1] = -1;
}

/* argv: @p exe, then the spec's args substituted with @p params. */
static floq_err_t build_argv(const floq_run_req_t *req, const char *exe,
                             const json_t *params, char ***argvp,
                             char *errstr, size_t errstr_size) {
        const json_t *args = json_object_get(req->spec, "args");
        size_t n = json_array_size(args), i;
        char **argv = calloc(n + 2, sizeof(*argv));
        floq_err_t err = FLOQ_OK;
        json_t *v;

        if (!argv || !(argv[0] = strdup(exe))) {
                free(argv);
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                   "out of memory");
        }
        json_array_foreach(args, i, v) {
                if ((err = floq_tpl_expand(json_string_value(v), params,
                                           &argv[i + 1], errstr,
                                           errstr_size))) {
                        free_strv(argv);
                        return err;
                }
        }
        *argvp = argv;
        return FLOQ_OK;
}

static floq_err_t child_err_msg(const sup_msg_t *ce, const char *exe,
                                const char *cwd, char *errstr,
                                size_t errstr_size) {
        const char *what = "set up";

        switch (ce->stage) {
        case STAGE_EXEC:
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_BACKEND,
                                   "cannot execute '%s': %s", exe,
                                   strerror(ce->err));
        case STAGE_CHDIR:
                return floq_seterr(errstr, errstr_size, FLOQ_ERR_BACKEND,
                                   "cannot change to directory '%s': %s", cwd,
                                   strerror(ce->err));
        case STAGE_RLIMIT_CPU:
                what = "apply process.rlimit.cpu.s";
                break;
        case STAGE_RLIMIT_AS:
                what = "apply process.rlimit.as";
                break;
        case STAGE_RLIMIT_NOFILE:
                what = "apply process.rlimit.nofile";
                break;
        case STAGE_RLIMIT_NPROC:
                what = "apply process.rlimit.nproc";
                break;
        case STAGE_SETPGID:
                what = "create a process group";
                break;
        case STAGE_PDEATHSIG:
                what = "set the parent-death signal";
                break;
        case STAGE_STDIO:
                what = "set up stdin/stdout/stderr";
                break;
        case STAGE_SUBREAPER:
                what = "make its supervisor a child subreaper";
                break;
        case STAGE_PIPE:
                what = "create a pipe";
                break;
        case STAGE_FORK:
                what = "fork";
                break;
        case STAGE_USER:
                what = "switch to process.run.as.user / process.run.as.group";
                break;
        case STAGE_CAPS:
                what = "clear the ambient capabilities";
                break;
        case STAGE_NO_NEW_PRIVS:
                what = "set no_new_privs";
                break;
        case STAGE_RLIMIT_CORE:
                what = "disable core files";
                break;
        }
        return floq_seterr(errstr, errstr_size, FLOQ_ERR_BACKEND,
                           "cannot start '%s': cannot %s: %s", exe, what,
                           strerror(ce->err));
}

static void attempt_free(floq_attempt_t *att) {
        if (!att)
                return;
        if (att->pidfd >= 0)
                close(att->pidfd);
        if (att->ctlfd >= 0)
                close(att->ctlfd);
        if (att->outfd >= 0)
                close(att->outfd);
        if (att->wakefd >= 0)
                close(att->wakefd);
        if (att->leasefd >= 0)
                close(att->leasefd);
        pthread_mutex_destroy(&att->lock);
        free(att->ring);
        free(att->chunk);
        free(att);
}

static void describe_status(int status, char *buf, size_t size);
static void proc_attempt_destroy(floq_backend_t *be, floq_attempt_t *att);

static floq_err_t proc_start(floq_backend_t *be, const floq_run_req_t *req,
                             floq_attempt_t **attp, char *errstr,
                             size_t errstr_size) {
        proc_backend_t *pb = (proc_backend_t *)be;
        int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, devnull = -1;
        int lsp[2] = { -1, -1 }, sprc;
        char real[PATH_MAX], exe[PATH_MAX], **argv = NULL, **envp = NULL;
        char apath[PATH_MAX];
        const json_t *art = json_object_get(req->spec, "artifact");
        json_t *params = NULL;
        int hold = -1;
        floq_attempt_t *att = NULL;
        sigset_t all, old;
        sup_msg_t ce;
        floq_err_t err;
        spawn_t sp;
        int64_t grace = pb->grace_ms, timeout = 0;
        ssize_t r;
        pid_t pid;

        *attp = NULL;
        apath[0] = '\0';
        if (art) {
                /* Here whatever worker deployed it: fetched when this one
                 * lacks it (bounded by artifact.fetch.timeout.ms; a failure
                 * fails the attempt, retried per the deployment's policy),
                 * re-hashed before it runs, and held (flock) so that no
                 * eviction removes it before the exec. */
                const char *exe0 = json_string_value(
                        json_object_get(req->spec, "executable"));
                unsigned flags = FLOQ_ARTIFACT_F_VERIFY;

                if (exe0 && strstr(exe0, "{artifact}"))
                        flags |= FLOQ_ARTIFACT_F_EXEC;
                if ((err = artifact_ensure(pb, art, flags, apath, &hold,
                                           errstr, errstr_size)))
                        goto out;
                /* {artifact} is the path, whatever a run parameter of that
                 * name says. */
                if (json_is_object(req->params))
                        params = json_copy((json_t *)req->params);
                else
                        params = json_object();
                if (!params ||
                    json_object_set_new(params, "artifact",
                                        json_string(apath))) {
                        err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                          "out of memory");
                        goto out;
                }
        }
        if ((err = check_spec(pb, req->spec, real, exe, errstr, errstr_size)))
                goto out;
        spec_int(req->spec, "grace_ms", &grace, NULL, 0);
        spec_int(req->spec, "timeout_ms", &timeout, NULL, 0);
        if ((err = build_argv(req, exe, params ? params : req->params, &argv,
                              errstr, errstr_size)) ||
            (err = build_env(pb, req, req->params, apath[0] ? apath : NULL,
                             &envp, errstr, errstr_size)))
                goto out;

        if (!(att = calloc(1, sizeof(*att))) ||
            (pb->output_max &&
             !(att->ring = malloc(pb->output_max))) ||
            !(att->chunk = malloc(PROC_READ_CHUNK))) {
                if (att) {
                        free(att->ring);
                        free(att->chunk);
                        free(att);
                        att = NULL;
                }
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_NOMEM,
                                  "out of memory");
                goto out;
        }
        pthread_mutex_init(&att->lock, NULL);
        att->pidfd = att->ctlfd = att->outfd = att->wakefd = -1;
        att->leasefd = -1;
        att->ring_cap = pb->output_max;
        att->grace_ms = grace;

        if ((att->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_BACKEND,
                                  "cannot start '%s': %s", real,
                                  strerror(errno));
                goto out;
        }
fresh:
        if (pipe2(outp, O_CLOEXEC) == -1 || pipe2(errp, O_CLOEXEC) == -1 ||
            (pb->devnull < 0 &&
             (devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1) ||
            socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, lsp) == -1) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_BACKEND,
                                  "cannot start '%s': %s", real,
                                  strerror(errno));
                goto out;
        }
        outp[0] = fd_above_stdio(outp[0]);
        outp[1] = fd_above_stdio(outp[1]);
        errp[0] = fd_above_stdio(errp[0]);
        errp[1] = fd_above_stdio(errp[1]);
        if (pb->devnull < 0)
                devnull = fd_above_stdio(devnull);
        lsp[0] = fd_above_stdio(lsp[0]);
        /* The supervisor's end above SUP_LEASE_FD: its dup2()s onto
         * 0..SUP_LEASE_FD must not overwrite it. */
        if (lsp[1] >= 0 && lsp[1] <= SUP_LEASE_FD) {
                int nfd = fcntl(lsp[1], F_DUPFD_CLOEXEC, SUP_LEASE_FD + 1);

                close(lsp[1]);
                lsp[1] = nfd;
        }
        if (outp[0] < 0 || outp[1] < 0 || errp[0] < 0 || errp[1] < 0 ||
            (pb->devnull < 0 && devnull < 0) || lsp[0] < 0 || lsp[1] < 0) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_BACKEND,
                                  "cannot start '%s': %s", real,
                                  strerror(errno));
                goto out;
        }

        memset(&sp, 0, sizeof(sp));
        sp.path = real;
        sp.argv = argv;
        sp.envp = envp;
        sp.cwd = json_string_value(json_object_get(req->spec, "cwd"));
        if (!sp.cwd)
                sp.cwd = "/";
        sp.devnull = pb->devnull >= 0 ? pb->devnull : devnull;
        sp.outw = outp[1];
        sp.ctlw = errp[1];
        sp.leaser = lsp[1];
        sp.lease_ms = pb->lease_ms;
        /* The rule lease_conf() checked holds with the operator's grace,
         * whatever the spec asks for. */
        sp.lease_grace_ms = grace < pb->grace_ms ? grace : pb->grace_ms;
        if (sp.lease_grace_ms < 0)
                sp.lease_grace_ms = 0;
        sp.parent = getpid();
        sp.max_fd = pb->max_fd;
        sp.rl_cpu = pb->rl_cpu;
        sp.rl_as = pb->rl_as;
        sp.rl_nofile = pb->rl_nofile;
        sp.rl_nproc = pb->rl_nproc;
        sp.run_as = pb->run_as;
        sp.uid = pb->uid;
        sp.gid = pb->gid;

        /* Through the spawner: only for the process that started it (a
         * fork of the worker is not its parent, so the supervisors would
         * not die with it). */
        sprc = pb->sp_owner == getpid()
                       ? spawner_request(pb, &sp, &pid, &att->pidfd, &ce.err)
                       : 1;
        if (sprc == 0) {
                att->spawned = 1;
                goto started;
        }
        if (sprc == -1) {
                /* The fork failed: wait until nothing holds the control
                 * pipe, no supervisor of this start is left. */
                close_child_ends(outp, errp, lsp);
                (void)ctl_wait_eof(errp[0], PROC_ORPHAN_WAIT_MS);
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_BACKEND,
                                  "cannot start '%s': spawner: fork: %s",
                                  real, strerror(ce.err));
                goto out;
        }
        if (sprc == 2) {
                /* No spawner any more (it died: spawner_drop() said so).
                 * What it may have forked for this start ends with it;
                 * once nothing holds the control pipe this attempt
                 * starts afresh without it, so two never overlap. */
                close_child_ends(outp, errp, lsp);
                if (ctl_wait_eof(errp[0], PROC_ORPHAN_WAIT_MS)) {
                        err = floq_seterr(errstr, errstr_size,
                                          FLOQ_ERR_BACKEND,
                                          "cannot start '%s': a supervisor "
                                          "of the dead spawner did not end",
                                          real);
                        goto out;
                }
                close(outp[0]);
                outp[0] = -1;
                close(errp[0]);
                errp[0] = -1;
                close(lsp[0]);
                lsp[0] = -1;
                goto fresh; /* and on without it: spawner_request() is 1 */
        }
        if (pb->sup_fd >= 0) {
                pid = sup_spawn(pb, &sp, &ce.err);
        } else {
                sigfillset(&all);
                pthread_sigmask(SIG_SETMASK, &all, &old);
                pid = fork();
                if (pid == 0)
                        floq_sup_main(&sp);
                ce.err = errno;
                pthread_sigmask(SIG_SETMASK, &old, NULL);
        }
        if (pid == -1) {
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_BACKEND,
                                  "cannot start '%s': %s: %s", real,
                                  pb->sup_fd >= 0 ? "posix_spawn" : "fork",
                                  strerror(ce.err));
                goto out;
        }
        /* Also from this side, so kill(-pid) works before the child ran. */
        (void)setpgid(pid, pid);
started:
        close_child_ends(outp, errp, lsp);

        /* The supervisor says STARTED once the job exec()ed, or why not. */
        do
                r = read(errp[0], &ce, sizeof(ce));
        while (r == -1 && errno == EINTR);
        if (r != (ssize_t)sizeof(ce) || ce.kind != SUP_MSG_STARTED) {
                int st = 0;

                /* It reaps the job and exits by itself. */
                if (!att->spawned)
                        while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
                                ;
                else if (r == (ssize_t)sizeof(ce) &&
                         ce.kind == SUP_MSG_REAPED)
                        st = ce.value; /* it ended without a record */
                else
                        pidfd_wait_exit(att->pidfd);
                if (r == (ssize_t)sizeof(ce) && ce.kind == SUP_MSG_FAILED) {
                        err = child_err_msg(
                                &ce,
                                json_string_value(json_object_get(
                                        req->spec, "executable")),
                                sp.cwd, errstr, errstr_size);
                } else {
                        char desc[128];

                        describe_status(st, desc, sizeof(desc));
                        err = floq_seterr(errstr, errstr_size,
                                          FLOQ_ERR_BACKEND,
                                          "cannot start '%s': its supervisor "
                                          "%s",
                                          real, desc);
                }
                goto out;
        }

        att->pid = pid;
        att->job_pid = (pid_t)ce.value;
        snprintf(att->ref, sizeof(att->ref), "%d", (int)att->job_pid);
        if (!att->spawned) {
                att->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
                if (att->pidfd >= 0)
                        att->pidfd = fd_above_stdio(att->pidfd);
        }
        att->ctlfd = errp[0];
        errp[0] = -1;
        att->leasefd = lsp[0];
        lsp[0] = -1;
        att->outfd = outp[0];
        outp[0] = -1;
        /* A pipe's read end has no other status flag to keep. */
        (void)fcntl(att->outfd, F_SETFL, O_NONBLOCK);
        if (timeout > 0)
                att->run_deadline = floq_mono_ms() + timeout;
        if (lease_add(pb, att)) {
                /* Without renewals the supervisor would stop it anyway. */
                err = floq_seterr(errstr, errstr_size, FLOQ_ERR_BACKEND,
                                  "cannot start '%s': cannot start the "
                                  "lease renewer",
                                  real);
                proc_attempt_destroy(be, att);
                att = NULL;
                goto out;
        }
        *attp = att;
        att = NULL;
out:
        if (outp[0] >= 0)
                close(outp[0]);
        if (outp[1] >= 0)
                close(outp[1]);
        if (errp[0] >= 0)
                close(errp[0]);
        if (errp[1] >= 0)
                close(errp[1]);
        if (devnull >= 0)
                close(devnull);
        if (lsp[0] >= 0)
                close(lsp[0]);
        if (lsp[1] >= 0)
                close(lsp[1]);
        if (hold >= 0) /* the child has exec()ed it, or never will */
                close(hold);
        json_decref(params);
        attempt_free(att);
        free_strv(argv);
        free_strv(envp);
        return err;
}

/* ----------------------------------------------------------- stop / wait */

/*
 * SIGTERM or SIGKILL to the whole process tree of the attempt, through its
 * supervisor (which reaches descendants that left the job's group or
 * session); caller holds att->lock.
 */
static void signal_job(floq_attempt_t *att, int sig) {
        int s = sig == SIGKILL ? SUP_SIG_KILL : SUP_SIG_TERM;

        if (att->reaped)
                return; /* the pid may belong to someone else now */
        /* Not our child: only its pidfd is sure to be of it. */
        if (att->spawned)
                (void)syscall(SYS_pidfd_send_signal, att->pidfd, s, NULL, 0);
        else
                (void)kill(att->pid, s);
}

static floq_err_t proc_stop(floq_backend_t *be, floq_attempt_t *att,
                            floq_stop_why_t why) {
        uint64_t one = 1;
        ssize_t r;

        (void)be;
        if (!att)
                return FLOQ_ERR_INVALID_ARG;
        pthread_mutex_lock(&att->lock);
        if (att->stop_requested || att->reaped) {
                pthread_mutex_unlock(&att->lock);
                return FLOQ_OK;
        }
        att->stop_requested = 1;
        att->why = why;
        att->kill_at = floq_mono_ms() + att->grace_ms;
        signal_job(att, SIGTERM);
        if (att->grace_ms <= 0) {
                signal_job(att, SIGKILL);
                att->killed = 1;
        }
        pthread_mutex_unlock(&att->lock);
        /* Wake wait() so it keeps the grace deadline exactly. */
        r = write(att->wakefd, &one, sizeof(one));
        (void)r;
        return FLOQ_OK;
}

static void ring_append(floq_attempt_t *att, const char *p, size_t n) {
        size_t cap = att->ring_cap, w, first;

        if (!cap || !n)
                return;
        if (n >= cap) {
                memcpy(att->ring, p + n - cap, cap);
                att->ring_start = 0;
                att->ring_len = cap;
                return;
        }
        w = (att->ring_start + att->ring_len) % cap;
        first = cap - w < n ? cap - w : n;
        memcpy(att->ring + w, p, first);
        memcpy(att->ring, p + first, n - first);
        att->ring_len += n;
        if (att->ring_len > cap) {
                att->ring_start = (att->ring_start + att->ring_len - cap) % cap;
                att->ring_len = cap;
        }
}

/* Read what the pipe holds now; closes it at EOF. */
static void drain_output(floq_attempt_t *att) {
        ssize_t r;

        while (att->outfd >= 0) {
                r = read(att->outfd, att->chunk, PROC_READ_CHUNK);
                if (r > 0) {
                        ring_append(att, att->chunk, (size_t)r);
                        continue;
                }
                if (r == -1 && errno == EINTR)
                        continue;
                if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return;
                close(att->outfd); /* EOF or error */
                att->outfd = -1;
        }
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
        size_t len, i;
        unsigned int cp;

        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xc2 && s[0] <= 0xdf) {
                len = 2;
                cp = s[0] & 0x1f;
        } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
                len = 3;
                cp = s[0] & 0x0f;
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
                len = 4;
                cp = s[0] & 0x07;
        } else {
                return 0;
        }
        if (n < len)
                return 0;
        for (i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
                return 0;
        return len;
}

/*
 * The ring as a C string that is valid UTF-8 (it goes into JSON and Avro
 * strings): a sequence cut by the ring's start is dropped, NUL bytes and
 * invalid bytes become '?'. Never longer than the ring. NULL when empty.
 */
static char *output_tail(const floq_attempt_t *att) {
        size_t n = att->ring_len, first, i = 0, o = 0, l;
        unsigned char *raw;
        char *out;

        if (!n)
                return NULL;
        if (!(raw = malloc(n)) || !(out = malloc(n + 1))) {
                free(raw);
                return NULL;
        }
        first = att->ring_cap - att->ring_start < n
                        ? att->ring_cap - att->ring_start
                        : n;
        memcpy(raw, att->ring + att->ring_start, first);
        memcpy(raw + first, att->ring, n - first);
        if (att->ring_len == att->ring_cap) /* truncated at the front */
                while (i < n && i < 3 && (raw[i] & 0xc0) == 0x80)
                        i++;
        while (i < n) {
                if (raw[i] == 0) {
                        out[o++] = '?';
                        i++;
                } else if ((l = utf8_seq(raw + i, n - i))) {
                        memcpy(out + o, raw + i, l);
                        o += l;
                        i += l;
                } else {
                        out[o++] = '?';
                        i++;
                }
        }
        out[o] = '\0';
        free(raw);
        return out;
}

static void describe_status(int status, char *buf, size_t size) {
        if (WIFEXITED(status)) {
                snprintf(buf, size, "exited with status %d",
                         WEXITSTATUS(status));
        } else if (WIFSIGNALED(status)) {
                const char *abbrev = sigabbrev_np(WTERMSIG(status));

                if (abbrev)
                        snprintf(buf, size, "killed by signal SIG%s%s",
                                 abbrev, WCOREDUMP(status) ? " (core dumped)"
                                                           : "");
                else
                        snprintf(buf, size, "killed by signal %d",
                                 WTERMSIG(status));
        } else {
                snprintf(buf, size, "ended with wait status %d", status);
        }
}

#define LEASE_REASON                                                       \
        "the worker stopped renewing its lease (process.lease.ms): the job " \
        "was stopped so that another worker can take the run over"

static floq_err_t fill_result(floq_attempt_t *att, floq_run_result_t *res) {
        char desc[128], reason[256];
        int stopped, killed;
        floq_stop_why_t why;

        pthread_mutex_lock(&att->lock);
        stopped = att->stop_requested;
        why = att->why;
        killed = att->killed;
        pthread_mutex_unlock(&att->lock);

        memset(res, 0, sizeof(*res));
        res->exit_code = WIFEXITED(att->status) ? WEXITSTATUS(att->status)
                                                : -1;
        res->term_signal = WIFSIGNALED(att->status) ? WTERMSIG(att->status)
                                                    : 0;
        describe_status(att->status, desc, sizeof(desc));
        if (stopped) {
                static const char *const what[] = {
                        [FLOQ_STOP_CANCEL] = "cancelled",
                        [FLOQ_STOP_TIMEOUT] = "timed out",
                        [FLOQ_STOP_DRAIN] = "abandoned: the worker is "
                                            "shutting down",
                };
                res->outcome = why == FLOQ_STOP_CANCEL ? FLOQ_OUTCOME_CANCELLED
                               : why == FLOQ_STOP_TIMEOUT
                                       ? FLOQ_OUTCOME_TIMED_OUT
                                       : FLOQ_OUTCOME_ABANDONED;
                if (killed && res->term_signal == SIGKILL)
                        snprintf(reason, sizeof(reason),
                                 "%s (%s after a %" PRId64
                                 " ms grace period)",
                                 what[why], desc, att->grace_ms);
                else
                        snprintf(reason, sizeof(reason), "%s (%s)", what[why],
                                 desc);
        } else if (att->lease_expired) {
                /* Handed over: the worker, when it wakes, is fenced or
                 * hands the run over; no attempt consumed. */
                res->outcome = FLOQ_OUTCOME_ABANDONED;
                snprintf(reason, sizeof(reason), "%s", LEASE_REASON);
        } else if (WIFEXITED(att->status) && WEXITSTATUS(att->status) == 0) {
                res->outcome = FLOQ_OUTCOME_SUCCEEDED;
                reason[0] = '\0';
        } else {
                res->outcome = FLOQ_OUTCOME_FAILED;
                snprintf(reason, sizeof(reason), "%s%s", desc,
                         att->orphan ? " (its supervisor's parent died: "
                                       "the spawner or the worker)"
                                     : "");
        }
        if ((reason[0] && !(res->reason = strdup(reason))) ||
            !(res->backend_ref = strdup(att->ref))) {
                floq_run_result_release(res);
                return FLOQ_ERR_NOMEM;
        }
        res->output_tail = output_tail(att);
        return FLOQ_OK;
}

/* Has the child exited? Leaves it a zombie, so its pid (and group) stay
 * ours until reap(). */
static int child_exited(floq_attempt_t *att) {
        siginfo_t si;

        if (att->spawned) {
                struct pollfd pfd = { att->pidfd, POLLIN, 0 };

                return poll(&pfd, 1, 0) == 1;
        }
        memset(&si, 0, sizeof(si));
        if (waitid(P_PID, (id_t)att->pid, &si,
                   WEXITED | WNOHANG | WNOWAIT) == -1)
                return errno == ECHILD; /* someone else reaped it: gone */
        return si.si_pid != 0;
}

/*
 * reap() of a supervisor the spawner forked, which has exited (its pidfd
 * said so): its EXIT record, written before it exited, is in the pipe;
 * without one the spawner's REAPED record (soon after) tells how it
 * ended. Bounded: a stopped spawner holds the pipe open.
 */
static void reap_spawned(floq_attempt_t *att) {
        int64_t end = floq_mono_ms() + PROC_REAPED_WAIT_MS;
        struct pollfd pfd = { att->ctlfd, POLLIN, 0 };
        int st = W_EXITCODE(0, SIGKILL), seen = 0;
        sup_msg_t m;

        pthread_mutex_lock(&att->lock);
        att->reaped = 1; /* exited: nothing more to signal */
        pthread_mutex_unlock(&att->lock);
        for (;;) {
                int64_t left = end - floq_mono_ms();
                ssize_t r;

                if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
                        if (left <= 0 || errno != EINTR)
                                break;
                        continue;
                }
                r = read(att->ctlfd, &m, sizeof(m));
                if (r == -1 && errno == EINTR)
                        continue;
                if (r != (ssize_t)sizeof(m))
                        break; /* the end: the spawner is gone */
                if (m.kind == SUP_MSG_EXIT) {
                        att->status = m.value;
                        att->lease_expired = m.stage == SUP_EXIT_LEASE;
                        att->orphan = m.stage == SUP_EXIT_ORPHAN;
                        return;
                }
                if (m.kind == SUP_MSG_REAPED) {
                        st = m.value;
                        seen = 1;
                        break;
                }
        }
        att->status = st;
        floq_warn("process", "the supervisor of job %d ended without a "
                             "report (%s): its descendants may have "
                             "survived",
                  (int)att->job_pid,
                  !seen ? "its spawner is gone"
                  : WIFSIGNALED(st) ? "killed by a signal"
                                    : "no record");
}

/*
 * Reap the supervisor (it ends only once every descendant of the job is
 * gone) and take the job's wait status from its last record; without one
 * (the supervisor itself was killed) its own status stands for the job's.
 */
static void reap(floq_attempt_t *att) {
        sup_msg_t m;
        ssize_t r;
        int st;

        if (att->spawned) {
                reap_spawned(att);
                return;
        }
        pthread_mutex_lock(&att->lock);
        while (waitpid(att->pid, &st, 0) == -1) {
                if (errno != EINTR) {
                        st = W_EXITCODE(127, 0);
                        break;
                }
        }
        att->reaped = 1;
        pthread_mutex_unlock(&att->lock);
        att->status = st;
        do
                r = read(att->ctlfd, &m, sizeof(m));
        while (r == -1 && errno == EINTR);
        if (r == (ssize_t)sizeof(m) && m.kind == SUP_MSG_EXIT) {
                att->status = m.value;
                att->lease_expired = m.stage == SUP_EXIT_LEASE;
                att->orphan = m.stage == SUP_EXIT_ORPHAN;
        }
        else
                floq_warn("process", "the supervisor of job %d ended "
                                     "without a report (%s): its "
                                     "descendants may have survived",
                          (int)att->job_pid,
                          WIFSIGNALED(st) ? "killed by a signal"
                                          : "no record");
}

static floq_err_t proc_wait(floq_backend_t *be, floq_attempt_t *att,
                            int wait_ms, floq_run_result_t *res) {
        int64_t now = floq_mono_ms(), deadline = now + (wait_ms > 0 ? wait_ms
                                                                    : 0);
        struct pollfd pfd[3];

        (void)be;
        for (;;) {
                int64_t timeout, kill_at = 0;
                nfds_t n = 0;
                int i;

                /* Timeout written in the spec itself. */
                if (att->run_deadline && now >= att->run_deadline) {
                        att->run_deadline = 0;
                        proc_stop(be, att, FLOQ_STOP_TIMEOUT);
                }
                pthread_mutex_lock(&att->lock);
                if (att->stop_requested && !att->killed) {
                        if (now >= att->kill_at) {
                                signal_job(att, SIGKILL);
                                att->killed = 1;
                        } else {
                                kill_at = att->kill_at;
                        }
                }
                pthread_mutex_unlock(&att->lock);

                if (!att->exited && child_exited(att)) {
                        att->exited = 1;
                        drain_output(att);
                        reap(att);
                }
                if (att->exited) {
                        /* Whatever the group wrote until it died; bounded
                         * in time in case something escaped the group and
                         * holds the pipe open. */
                        int64_t end = floq_mono_ms() + PROC_DRAIN_MS;

                        while (att->outfd >= 0 && floq_mono_ms() < end) {
                                pfd[0].fd = att->outfd;
                                pfd[0].events = POLLIN;
                                if (poll(pfd, 1, 10) > 0)
                                        drain_output(att);
                        }
                        return fill_result(att, res) ? FLOQ_ERR_NOMEM
                                                     : FLOQ_OK;
                }
                if (now >= deadline)
                        return FLOQ_ERR_TIMED_OUT;

                timeout = deadline - now;
                if (kill_at && kill_at - now < timeout)
                        timeout = kill_at - now;
                if (att->run_deadline && att->run_deadline - now < timeout)
                        timeout = att->run_deadline - now;
                if (att->pidfd < 0 && timeout > PROC_POLL_SLICE_MS)
                        timeout = PROC_POLL_SLICE_MS;
                if (att->outfd >= 0) {
                        pfd[n].fd = att->outfd;
                        pfd[n++].events = POLLIN;
                }
                if (att->pidfd >= 0) {
                        pfd[n].fd = att->pidfd;
                        pfd[n++].events = POLLIN;
                }
                pfd[n].fd = att->wakefd;
                pfd[n++].events = POLLIN;
                if (poll(pfd, n, (int)(timeout < 0 ? 0 : timeout)) > 0) {
                        for (i = 0; i < (int)n; i++) {
                                if (!pfd[i].revents)
                                        continue;
                                if (pfd[i].fd == att->outfd)
                                        drain_output(att);
                                else if (pfd[i].fd == att->wakefd) {
                                        uint64_t v;
                                        ssize_t r = read(att->wakefd, &v,
                                                         sizeof(v));
                                        (void)r;
                                }
                        }
                }
                now = floq_mono_ms();
        }
}

static const char *proc_ref(floq_backend_t *be, floq_attempt_t *att) {
        (void)be;
        return att ? att->ref : NULL;
}

static void proc_attempt_destroy(floq_backend_t *be, floq_attempt_t *att) {
        if (!att)
                return;
        lease_remove((proc_backend_t *)be, att);
        /* Destroyed while still running: nothing of it may survive. */
        pthread_mutex_lock(&att->lock);
        if (!att->reaped) {
                signal_job(att, SIGKILL);
                if (att->spawned)
                        pidfd_wait_exit(att->pidfd);
                else
                        while (waitpid(att->pid, &att->status, 0) == -1 &&
                               errno == EINTR)
                                ;
                att->reaped = 1;
        }
        pthread_mutex_unlock(&att->lock);
        attempt_free(att);
}

const floq_backend_ops_t floq_backend_process = {
        .name = "process",
        .new_ = proc_new,
        .destroy = proc_destroy,
        .deploy = proc_deploy,
        .start = proc_start,
        .wait = proc_wait,
        .stop = proc_stop,
        .ref = proc_ref,
        .attempt_destroy = proc_attempt_destroy,
        .validate = proc_validate,
};
