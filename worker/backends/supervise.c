/*
 * supervise.c - what an attempt's supervisor does (supervise.h): a child
 * subreaper in a process group of its own that forks the job (rlimits,
 * the job's credentials, no_new_privs, parent-death signal, no descriptor
 * of the worker), passes SIGTERM to every descendant, SIGKILLs them all
 * when the job's main process ended, on SUP_SIG_KILL or when the lease
 * expired, and reports the outcome on its control pipe. Linked into the
 * worker (the fork() fallback) and, with supervise_main.c, into the
 * floq-supervise program that process.c starts with posix_spawn(). Only
 * libc and async-signal-safe calls: no other library of floq.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "supervise.h"

/* Under ASan the job is fork()ed, not clone()d on a stack of our own:
 * ASan warns about a stack it did not make, into the job's stderr. */
#if defined(__SANITIZE_ADDRESS__)
#define SUP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SUP_ASAN 1
#endif
#endif

/* Take the job's credentials in a child after fork(): raw system calls, so
 * that only this thread changes (glibc's wrappers signal every thread of
 * the process, and after fork() there is just this one). */
int floq_sup_take_creds(uid_t uid, gid_t gid) {
        gid_t g = gid;

        if (syscall(SYS_setgroups, 1, &g) == -1 ||
            syscall(SYS_setresgid, gid, gid, gid) == -1 ||
            syscall(SYS_setresuid, uid, uid, uid) == -1)
                return -1;
        return 0;
}

static void msg_write(int fd, const sup_msg_t *m) {
        ssize_t r;

        do
                r = write(fd, m, sizeof(*m));
        while (r == -1 && errno == EINTR);
}

static void child_fail(int fd, int stage) __attribute__((noreturn));
static void child_fail(int fd, int stage) {
        sup_msg_t m = { SUP_MSG_FAILED, stage, errno, 0 };

        msg_write(fd, &m);
        _exit(127);
}

static void child_rlimit(int fd, int resource, int64_t value, int stage) {
        struct rlimit old, rl;

        if (value <= 0)
                return;
        rl.rlim_cur = (rlim_t)value;
        /* RLIMIT_CPU: SIGXCPU at the soft limit, SIGKILL a second later. */
        rl.rlim_max = resource == RLIMIT_CPU ? (rlim_t)value + 1
                                             : (rlim_t)value;
        /* An unprivileged worker cannot raise its own hard limit. */
        if (getrlimit(resource, &old) == 0 && old.rlim_max != RLIM_INFINITY) {
                if (rl.rlim_max > old.rlim_max)
                        rl.rlim_max = old.rlim_max;
                if (rl.rlim_cur > rl.rlim_max)
                        rl.rlim_cur = rl.rlim_max;
        }
        if (setrlimit(resource, &rl) == 0)
                return;
        /* Lowering a hard limit needs no privilege on Linux; emulators
         * (valgrind for RLIMIT_NOFILE) refuse it: keep the soft limit. */
        if (errno == EPERM && getrlimit(resource, &old) == 0 &&
            (old.rlim_max == RLIM_INFINITY || rl.rlim_cur <= old.rlim_max)) {
                rl.rlim_max = old.rlim_max;
                if (setrlimit(resource, &rl) == 0)
                        return;
        }
        child_fail(fd, stage);
}

/*
 * The job's main process, between the supervisor's clone() (or fork())
 * and execve(): async-signal-safe calls only, nothing written to memory
 * the supervisor uses after (it borrows its memory until the exec; in a
 * fork of the worker, the worker is multi-threaded). @p fd is
 * the close-on-exec pipe a failure is reported on; @p sup the supervisor.
 */
static void job_exec(const spawn_t *sp, int fd, pid_t sup)
        __attribute__((noreturn));
static void job_exec(const spawn_t *sp, int fd, pid_t sup) {
        struct sigaction sa;
        struct rlimit nocore = { 0, 0 };
        sigset_t none;
        int sig, i;

        /* Its own process group: a tty's signals never reach it. */
        if (setpgid(0, 0) == -1)
                child_fail(fd, STAGE_SETPGID);
        /* Default dispositions (the mask stays full until just before
         * exec, so no handler of the worker ever runs here); in a fork of
         * the worker only: a supervisor started with every disposition at
         * its default (posix_spawn(), the spawner) changes none, so the
         * 62 calls would change nothing. */
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_DFL;
        sigemptyset(&sa.sa_mask);
        for (sig = 1; !sp->sigs_default && sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void)sigaction(sig, &sa, NULL);

        child_rlimit(fd, RLIMIT_CPU, sp->rl_cpu, STAGE_RLIMIT_CPU);
        child_rlimit(fd, RLIMIT_AS, sp->rl_as, STAGE_RLIMIT_AS);
        child_rlimit(fd, RLIMIT_NOFILE, sp->rl_nofile, STAGE_RLIMIT_NOFILE);
        /* RLIMIT_NPROC counts every process of the uid: only meaningful
         * (and only harmless to the worker) for a user of its own. */
        if (sp->run_as)
                child_rlimit(fd, RLIMIT_NPROC, sp->rl_nproc,
                             STAGE_RLIMIT_NPROC);
        /* No core files: they would hold whatever the job had in memory. */
        if (setrlimit(RLIMIT_CORE, &nocore) == -1)
                child_fail(fd, STAGE_RLIMIT_CORE);

        if (sp->run_as && floq_sup_take_creds(sp->uid, sp->gid) == -1)
                child_fail(fd, STAGE_USER);
        /* No capability passes to the job: a worker given ambient ones
         * (systemd's AmbientCapabilities=, so that a non-root worker may
         * switch to the job user) would hand them across a non-root uid
         * change and the exec. EINVAL: a kernel without ambient sets. */
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1 &&
            errno != EINVAL)
                child_fail(fd, STAGE_CAPS);
        /* No setuid binary or file capability gives the job more. */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
                child_fail(fd, STAGE_NO_NEW_PRIVS);
        /* After the credentials changed (that clears it): die with the
         * supervisor; if it is gone already, the signal was missed. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
                child_fail(fd, STAGE_PDEATHSIG);
        if (getppid() != sup)
                _exit(127);
        /* As the job user, so cwd is checked with its permissions. */
        if (chdir(sp->cwd) == -1)
                child_fail(fd, STAGE_CHDIR);
        /* The supervisor closed everything but stdio and its control pipe
         * (close-on-exec); whatever else is open goes at exec too. */
        if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == -1)
                for (i = 3; i < sp->max_fd; i++)
                        (void)fcntl(i, F_SETFD, FD_CLOEXEC);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve(sp->path, sp->argv, sp->envp);
        child_fail(fd, STAGE_EXEC);
}

/* Decimal @p v after @p p; returns the end (async-signal-safe itoa). */
static char *put_uint(char *p, unsigned long v) {
        char tmp[24];
        size_t n = 0;

        do
                tmp[n++] = (char)('0' + v % 10);
        while ((v /= 10));
        while (n)
                *p++ = tmp[--n];
        return p;
}

/* Append the pids of /proc/@p pid/task/<tid>/children, for every thread,
 * to @p q (@p n used of @p cap). Raw system calls only. */
static size_t tree_children(pid_t pid, pid_t *q, size_t n, size_t cap) {
        struct dent {
                unsigned long long ino;
                long long off;
                unsigned short reclen;
                unsigned char type;
                char name[];
        };
        char path[96], dbuf[2048], buf[1024], *p;
        long got, off;
        int dfd, fd;

        memcpy(path, "/proc/", 6);
        p = put_uint(path + 6, (unsigned long)pid);
        memcpy(p, "/task", 6);
        if ((dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
                return n;
        while ((got = syscall(SYS_getdents64, dfd, dbuf, sizeof(dbuf))) > 0) {
                for (off = 0; off < got;) {
                        struct dent *d = (struct dent *)(dbuf + off);
                        unsigned long v = 0;
                        int in_num = 0;
                        ssize_t r, k;
                        char *e;

                        off += d->reclen;
                        if (d->name[0] < '0' || d->name[0] > '9' ||
                            strlen(d->name) > 20)
                                continue;
                        e = p + 5;
                        *e++ = '/';
                        memcpy(e, d->name, strlen(d->name));
                        memcpy(e + strlen(d->name), "/children", 10);
                        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
                                continue;
                        /* "12 345 " in as many reads as it takes. */
                        while ((r = read(fd, buf, sizeof(buf))) > 0) {
                                for (k = 0; k < r; k++) {
                                        if (buf[k] >= '0' && buf[k] <= '9') {
                                                v = v * 10 +
                                                    (unsigned long)(buf[k] -
                                                                    '0');
                                                in_num = 1;
                                        } else if (in_num) {
                                                if (n < cap)
                                                        q[n++] = (pid_t)v;
                                                v = 0;
                                                in_num = 0;
                                        }
                                }
                        }
                        if (in_num && n < cap)
                                q[n++] = (pid_t)v;
                        close(fd);
                }
        }
        close(dfd);
        return n;
}

/* What job_main() gets, and the stack it runs on (one job per
 * supervisor: static). */
static struct job_arg_s {
        const spawn_t *sp;
        int fd;
        pid_t sup;
} job_arg;
#ifndef SUP_ASAN
static char job_stack[64 * 1024] __attribute__((aligned(16)));
#endif

static int job_main(void *arg) {
        const struct job_arg_s *ja = arg;

        job_exec(ja->sp, ja->fd, ja->sup);
}

/*
 * Send @p sig to every descendant of the supervisor, whatever session or
 * group it moved to: a walk of the children lists down from ourselves, and
 * the job's group on top (for a kernel without /proc children lists),
 * but only while the job is unreaped (@p job is 0 once it is), so that the
 * group id cannot have been reused. Only the supervisor runs it (the array
 * is its copy of the worker's).
 */
static void tree_signal(pid_t job, int sig) {
        static pid_t q[SUP_TREE_MAX];
        size_t n, i;

        n = tree_children(getpid(), q, 0, SUP_TREE_MAX);
        for (i = 0; i < n; i++) {
                (void)kill(q[i], sig);
                n = tree_children(q[i], q, n, SUP_TREE_MAX);
        }
        if (job > 0)
                (void)kill(-job, sig);
}

/* Reap every child that has ended (the job's status when it is one);
 * -1 when no child is left. */
static int sup_reap(pid_t job, int *status, int *done) {
        pid_t w;
        int st;

        while ((w = waitpid(-1, &st, WNOHANG)) > 0)
                if (w == job) {
                        *status = st;
                        *done = 1;
                }
        return w == -1 && errno == ECHILD ? -1 : 0;
}

/* SIGKILL every descendant, again and again, until none is left: as a
 * subreaper, whatever outlives its parent comes back to us. */
static void sup_kill_all(pid_t job, int *status, int *done,
                         const sigset_t *chld) {
        struct timespec slice = { 0, 10 * 1000000L };

        for (;;) {
                /* No child at all once the job was reaped: then nothing
                 * of the attempt is left (an orphan comes back to us
                 * before its parent's zombie can be reaped), and there is
                 * no /proc tree to walk. */
                if (*done && sup_reap(job, status, done) == -1)
                        return;
                tree_signal(*done ? 0 : job, SIGKILL);
                if (sup_reap(job, status, done) == -1)
                        return;
                (void)sigtimedwait(chld, NULL, &slice);
        }
}

/*
 * The attempt's supervisor, the worker's child (between fork() and
 * _exit(): async-signal-safe calls only). It is a child subreaper, so
 * every descendant of the job stays below it whatever it does (a double
 * fork, setsid()), starts the job, and then lives exactly as long as
 * something of the attempt does: on SUP_SIG_TERM it sends SIGTERM to
 * every descendant; on SUP_SIG_KILL (the worker's order after the grace
 * period, or its parent-death signal when the worker dies, SIGKILL
 * included), or once the job's main process has ended, it SIGKILLs every
 * descendant until none is left, reports the job's wait status and exits.
 * When the worker has not renewed the lease (bytes on SUP_LEASE_FD) for
 * sp->lease_ms, it does on its own what a stop does (SIGTERM, then after
 * sp->lease_grace_ms SIGKILL) and marks the EXIT record SUP_EXIT_LEASE.
 * It keeps the worker's uid (so the job's user cannot signal it) and holds
 * nothing of the worker but stdio and the control pipe.
 */
/* CLOCK_MONOTONIC in ms (async-signal-safe). */
static int64_t sup_now_ms(void) {
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void floq_sup_main(const spawn_t *sp) {
        struct sigaction sa;
        sigset_t set, chld;
        sup_msg_t m;
        struct pollfd pfd[2];
        int ep[2], status = 0, done = 0, sig, fd, sfd, term = 0;
        int expired = 0, orphan = 0;
        int64_t renewed, kill_at = 0;
        pid_t job, self;
        ssize_t r;

        /* Every signal stays blocked (the parent blocked them around
         * fork()): the ones it acts on are taken with sigwaitinfo(). */
        if (setpgid(0, 0) == -1)
                child_fail(sp->ctlw, STAGE_SETPGID);
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
                child_fail(sp->ctlw, STAGE_SUBREAPER);
        /* Dies with the forking thread; if that is already gone, the
         * signal was missed: give up. */
        if (prctl(PR_SET_PDEATHSIG, SUP_SIG_KILL) == -1)
                child_fail(sp->ctlw, STAGE_PDEATHSIG);
        if (getppid() != sp->parent)
                _exit(127);
        (void)prctl(PR_SET_NAME, "floq-supervise", 0, 0, 0);
        /* SIGCHLD ignored would let the kernel reap the job. */
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_DFL;
        sigemptyset(&sa.sa_mask);
        (void)sigaction(SIGCHLD, &sa, NULL);

        /* The lease socket is above SUP_LEASE_FD (proc_start put it
         * there), so none of these dup2() overwrites it. */
        if (dup2(sp->devnull, 0) == -1 || dup2(sp->outw, 1) == -1 ||
            dup2(sp->outw, 2) == -1 ||
            (sp->ctlw != SUP_CTL_FD && dup2(sp->ctlw, SUP_CTL_FD) == -1) ||
            dup2(sp->leaser, SUP_LEASE_FD) == -1)
                child_fail(sp->ctlw, STAGE_STDIO);
        (void)fcntl(SUP_CTL_FD, F_SETFD, FD_CLOEXEC);
        (void)fcntl(SUP_LEASE_FD, F_SETFD, FD_CLOEXEC);
        (void)fcntl(SUP_LEASE_FD, F_SETFL, O_NONBLOCK);
        /* Nothing else of the worker (Kafka sockets, files) stays open. */
        if (syscall(SYS_close_range, SUP_LEASE_FD + 1U, ~0U, 0U) == -1)
                for (fd = SUP_LEASE_FD + 1; fd < sp->max_fd; fd++)
                        (void)close(fd);
        if (pipe2(ep, O_CLOEXEC) == -1)
                child_fail(SUP_CTL_FD, STAGE_PIPE);

        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        sigemptyset(&set);
        sigaddset(&set, SIGCHLD);
        sigaddset(&set, SUP_SIG_TERM);
        sigaddset(&set, SUP_SIG_KILL);
        /* The signals it acts on, and the lease, in one poll(). */
        if ((sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) == -1)
                child_fail(SUP_CTL_FD, STAGE_PIPE);
        self = getpid();
        job_arg.sp = sp;
        job_arg.fd = ep[1];
        job_arg.sup = self;
        /* As posix_spawn() does: the child borrows our memory until its
         * exec (or _exit()), on a stack of its own, and we wait for that;
         * no copy of the supervisor's pages. */
#ifndef SUP_ASAN
        job = clone(job_main, job_stack + sizeof(job_stack),
                    CLONE_VM | CLONE_VFORK | SIGCHLD, &job_arg);
#else
        job = fork();
        if (job == 0)
                job_main(&job_arg);
#endif
        if (job == -1)
                child_fail(SUP_CTL_FD, STAGE_FORK);
        close(ep[1]);
        /* EOF: execve() closed the pipe. A record: the job never ran. */
        do
                r = read(ep[0], &m, sizeof(m));
        while (r == -1 && errno == EINTR);
        close(ep[0]);
        if (r == (ssize_t)sizeof(m)) {
                msg_write(SUP_CTL_FD, &m);
                sup_kill_all(job, &status, &done, &chld);
                _exit(127);
        }
        m.kind = SUP_MSG_STARTED;
        m.stage = m.err = 0;
        m.value = (int)job;
        msg_write(SUP_CTL_FD, &m);

        /* The lease runs from here: the worker renews it from now on. */
        renewed = sup_now_ms();
        pfd[0].fd = sfd;
        pfd[0].events = POLLIN;
        pfd[1].fd = sp->lease_ms > 0 ? SUP_LEASE_FD : -1;
        pfd[1].events = POLLIN;
        for (;;) {
                struct signalfd_siginfo si;
                int timeout = -1, die = 0;
                int64_t now = sup_now_ms();

                if (expired)
                        timeout = (int)(kill_at > now ? kill_at - now : 0);
                else if (sp->lease_ms > 0)
                        timeout = (int)(renewed + sp->lease_ms > now
                                                ? renewed + sp->lease_ms - now
                                                : 0);
                pfd[0].revents = pfd[1].revents = 0;
                (void)poll(pfd, 2, timeout);
                now = sup_now_ms();
                if (pfd[1].revents) {
                        char buf[256];

                        r = read(SUP_LEASE_FD, buf, sizeof(buf));
                        if (r > 0 && !expired)
                                renewed = now;
                        else if (r == 0 || (r == -1 && errno != EAGAIN &&
                                            errno != EINTR))
                                pfd[1].fd = -1; /* no more renewals */
                }
                while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                        sig = (int)si.ssi_signo;
                        if (sig == SUP_SIG_TERM)
                                term = 1;
                        else if (sig == SUP_SIG_KILL) {
                                die = 1;
                                /* the parent-death signal: say so */
                                if (getppid() != sp->parent)
                                        orphan = 1;
                        }
                }
                (void)sup_reap(job, &status, &done);
                /* A frozen worker renews nothing: stop the job as the
                 * worker would, before another worker takes the run
                 * over; a later order of the worker can only hasten
                 * the SIGKILL. */
                if (!expired && sp->lease_ms > 0 &&
                    now - renewed >= sp->lease_ms) {
                        expired = 1;
                        term = 1;
                        kill_at = now + sp->lease_grace_ms;
                        pfd[1].fd = -1;
                }
                if (term)
                        tree_signal(done ? 0 : job, SIGTERM);
                term = 0;
                /* Once the main process ended, nothing of it may stay. */
                if (die || done || (expired && now >= kill_at))
                        break;
        }
        sup_kill_all(job, &status, &done, &chld);
        m.kind = SUP_MSG_EXIT;
        m.stage = expired ? SUP_EXIT_LEASE : orphan ? SUP_EXIT_ORPHAN : 0;
        m.value = done ? status : W_EXITCODE(0, SIGKILL);
        msg_write(SUP_CTL_FD, &m);
        _exit(0);
}


/* The block: "<argc>\0" argv[0..argc-1] each NUL-ended, then "<envc>\0"
 * and the environment the same way. */
static int block_put(char **buf, size_t *len, size_t *cap, const char *str) {
        size_t n = strlen(str) + 1;

        if (*len + n > *cap) {
                size_t ncap = *cap ? *cap * 2 : 4096;
                char *nb;

                while (ncap < *len + n)
                        ncap *= 2;
                if (!(nb = realloc(*buf, ncap)))
                        return -1;
                *buf = nb;
                *cap = ncap;
        }
        memcpy(*buf + *len, str, n);
        *len += n;
        return 0;
}

static int block_put_strv(char **buf, size_t *len, size_t *cap,
                          char *const *v) {
        char num[24];
        size_t n = 0, i;

        while (v && v[n])
                n++;
        snprintf(num, sizeof(num), "%zu", n);
        if (block_put(buf, len, cap, num))
                return -1;
        for (i = 0; i < n; i++)
                if (block_put(buf, len, cap, v[i]))
                        return -1;
        return 0;
}

int floq_sup_block_build(const spawn_t *sp, size_t head, char **bufp,
                         size_t *lenp) {
        char *buf = NULL;
        size_t len = 0, cap = 0;

        if (head) {
                cap = head + 4096;
                if (!(buf = calloc(1, cap)))
                        return -1;
                len = head;
        }
        if (block_put_strv(&buf, &len, &cap, sp->argv) ||
            block_put_strv(&buf, &len, &cap, sp->envp) ||
            block_put(&buf, &len, &cap, sp->path ? sp->path : "") ||
            block_put(&buf, &len, &cap, sp->cwd ? sp->cwd : "/")) {
                free(buf);
                return -1;
        }
        *bufp = buf;
        *lenp = len;
        return 0;
}

int floq_sup_block_fd(const spawn_t *sp) {
        char *buf = NULL;
        size_t len = 0, off = 0;
        int fd = -1;

        if (floq_sup_block_build(sp, 0, &buf, &len) ||
            (fd = (int)syscall(SYS_memfd_create, "floq-supervise-job",
                               MFD_CLOEXEC)) < 0)
                goto fail;
        while (off < len) {
                ssize_t w = write(fd, buf + off, len - off);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        goto fail;
                off += (size_t)w;
        }
        if (lseek(fd, 0, SEEK_SET) != 0)
                goto fail;
        free(buf);
        return fd;
fail:
        if (fd >= 0)
                close(fd);
        free(buf);
        return -1;
}

/* @p n strings of @p *p (before @p end) into a new NULL-ended vector;
 * @p *p moves past them. */
static char **block_take_strv(char **p, const char *end) {
        char *q = *p, **v;
        unsigned long n, i;

        if (!memchr(q, '\0', (size_t)(end - q)))
                return NULL;
        n = strtoul(q, NULL, 10);
        q += strlen(q) + 1;
        if (n > (unsigned long)(end - q) || !(v = calloc(n + 1, sizeof(*v))))
                return NULL;
        for (i = 0; i < n; i++) {
                if (q >= end || !memchr(q, '\0', (size_t)(end - q))) {
                        free(v);
                        return NULL;
                }
                v[i] = q;
                q += strlen(q) + 1;
        }
        *p = q;
        return v;
}

int floq_sup_block_parse(char *buf, size_t len, spawn_t *sp) {
        char *p = buf, *end = buf + len;

        if (!(sp->argv = block_take_strv(&p, end)) || !sp->argv[0] ||
            !(sp->envp = block_take_strv(&p, end)))
                return -1;
        /* path and cwd follow (an older block may lack them) */
        if (p < end && memchr(p, '\0', (size_t)(end - p))) {
                sp->path = p;
                p += strlen(p) + 1;
                if (p < end && memchr(p, '\0', (size_t)(end - p)))
                        sp->cwd = p;
        }
        return 0;
}

int floq_sup_block_read(int fd, spawn_t *sp) {
        struct stat st;
        char *buf;
        size_t off = 0;

        if (fstat(fd, &st) == -1 || st.st_size <= 0 ||
            !(buf = malloc((size_t)st.st_size)))
                return -1;
        while (off < (size_t)st.st_size) {
                ssize_t r = read(fd, buf + off, (size_t)st.st_size - off);

                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        return -1;
                off += (size_t)r;
        }
        return floq_sup_block_parse(buf, off, sp); /* buf stays: the
                                                     * vectors point into it */
}

/* The numbers of a spawn_t, in this order, as floq-supervise's argv[1]. */
#define SUP_NUMS_FMT "%lld,%lld,%lld,%d,%lld,%lld,%lld,%lld,%d,%lu,%lu"

int floq_sup_format_nums(const spawn_t *sp, char *nums, size_t nums_size) {
        int n = snprintf(nums, nums_size, SUP_NUMS_FMT,
                         (long long)sp->parent, (long long)sp->lease_ms,
                         (long long)sp->lease_grace_ms, sp->max_fd,
                         (long long)sp->rl_cpu, (long long)sp->rl_as,
                         (long long)sp->rl_nofile, (long long)sp->rl_nproc,
                         sp->run_as, (unsigned long)sp->uid,
                         (unsigned long)sp->gid);

        return n < 0 || (size_t)n >= nums_size ? -1 : 0;
}

int floq_sup_parse_nums(const char *nums, spawn_t *sp) {
        long long parent, lease, grace, cpu, as, nofile, nproc;
        unsigned long uid, gid;
        int max_fd, run_as, end = 0;

        if (sscanf(nums, SUP_NUMS_FMT "%n", &parent, &lease, &grace, &max_fd,
                   &cpu, &as, &nofile, &nproc, &run_as, &uid, &gid,
                   &end) != 11 ||
            nums[end] != '\0' || parent <= 0)
                return -1;
        sp->parent = (pid_t)parent;
        sp->lease_ms = lease;
        sp->lease_grace_ms = grace;
        sp->max_fd = max_fd;
        sp->rl_cpu = cpu;
        sp->rl_as = as;
        sp->rl_nofile = nofile;
        sp->rl_nproc = nproc;
        sp->run_as = run_as;
        sp->uid = (uid_t)uid;
        sp->gid = (gid_t)gid;
        sp->sigs_default = 1; /* POSIX_SPAWN_SETSIGDEF (process.c) */
        /* where posix_spawn() put them (process.c) */
        sp->devnull = 0;
        sp->outw = 1;
        sp->ctlw = SUP_CTL_FD;
        sp->leaser = SUP_LEASE_FD;
        return 0;
}
