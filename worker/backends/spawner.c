/*
 * spawner.c - the loop of `floq-supervise --spawner` (spawner.h): reads
 * requests from the worker, forks a supervisor for each (the child runs
 * floq_sup_main() at once, no exec), hands back its pidfd, reaps its
 * children and reports each one's wait status on its control pipe. It
 * holds nothing of the worker but its socket and, while a supervisor
 * lives, that attempt's control pipe. Linked into floq-supervise (and,
 * unused, into the worker); libc only, single-threaded.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawner.h"
#include "supervise.h"


/* A live supervisor and the control pipe its REAPED record goes to. */
typedef struct kid_s {
        pid_t pid;
        int ctlw;
} kid_t;

static kid_t *kids;
static size_t kid_cnt, kid_cap;

static void close_fds(int *fds, int n) {
        int i;

        for (i = 0; i < n; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
}

/* Read exactly @p len bytes; -1 at EOF or an error. */
static int read_full(int fd, void *buf, size_t len) {
        size_t off = 0;

        while (off < len) {
                ssize_t r = read(fd, (char *)buf + off, len - off);

                if (r == -1 && errno == EINTR)
                        continue;
                if (r <= 0)
                        return -1;
                off += (size_t)r;
        }
        return 0;
}

ssize_t spawner_send_fds(int sock, const void *buf, size_t len,
                         const int *fds, int nfd) {
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(SPAWNER_FDS_MAX * sizeof(int))];
        } u;
        struct iovec iov = { (void *)buf, len };
        struct msghdr mh;
        ssize_t r;

        if (nfd < 0 || nfd > SPAWNER_FDS_MAX) {
                errno = EINVAL;
                return -1;
        }
        memset(&mh, 0, sizeof(mh));
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        if (nfd > 0) {
                struct cmsghdr *c;

                memset(&u, 0, sizeof(u));
                mh.msg_control = u.buf;
                mh.msg_controllen = CMSG_SPACE((size_t)nfd * sizeof(int));
                c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN((size_t)nfd * sizeof(int));
                memcpy(CMSG_DATA(c), fds, (size_t)nfd * sizeof(int));
        }
        do
                r = sendmsg(sock, &mh, MSG_NOSIGNAL);
        while (r == -1 && errno == EINTR);
        return r;
}

ssize_t spawner_recv_fds(int sock, void *buf, size_t len, int *fds, int max,
                         int *nfd) {
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(SPAWNER_FDS_MAX * sizeof(int))];
        } u;
        struct iovec iov = { buf, len };
        struct msghdr mh;
        struct cmsghdr *c;
        ssize_t r;

        *nfd = 0;
        memset(&u, 0, sizeof(u));
        memset(&mh, 0, sizeof(mh));
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = u.buf;
        mh.msg_controllen = sizeof(u.buf);
        do
                r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        while (r == -1 && errno == EINTR);
        if (r < 0)
                return r;
        for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                size_t i, n;

                if (c->cmsg_level != SOL_SOCKET ||
                    c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0))
                        continue;
                n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (i = 0; i < n; i++) {
                        int fd;

                        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int),
                               sizeof(int));
                        if (*nfd < max && *nfd < SPAWNER_FDS_MAX)
                                fds[(*nfd)++] = fd;
                        else
                                close(fd);
                }
        }
        if (mh.msg_flags & MSG_CTRUNC) {
                close_fds(fds, *nfd);
                *nfd = 0;
                errno = EPROTO;
                return -1;
        }
        return r;
}

static void reply(int err, pid_t pid, int pidfd) {
        spawner_rep_t rep = { err, (int32_t)pid };

        (void)spawner_send_fds(SPAWNER_FD, &rep, sizeof(rep), &pidfd,
                               pidfd >= 0 ? 1 : 0);
}

/* Reap every child that ended and tell its attempt how. */
static void reap_kids(void) {
        sup_msg_t m;
        pid_t w;
        size_t i;
        int st;

        while ((w = waitpid(-1, &st, WNOHANG)) > 0)
                for (i = 0; i < kid_cnt; i++)
                        if (kids[i].pid == w) {
                                ssize_t r;

                                memset(&m, 0, sizeof(m));
                                m.kind = SUP_MSG_REAPED;
                                m.value = st;
                                /* a few records per pipe: never full */
                                do
                                        r = write(kids[i].ctlw, &m,
                                                  sizeof(m));
                                while (r == -1 && errno == EINTR);
                                close(kids[i].ctlw);
                                kids[i] = kids[--kid_cnt];
                                break;
                        }
}

/*
 * One request: its descriptors (SCM_RIGHTS on the header), its block,
 * then a fork() whose child is the attempt's supervisor. @return -1 when
 * the socket ended or broke (the spawner's end).
 */
static int serve(pid_t self) {
        spawner_req_t req;
        int fds[4] = { -1, -1, -1, -1 }, nfd = 0, pidfd, err;
        char *block = NULL;
        spawn_t sp;
        ssize_t r;
        pid_t pid;

        r = spawner_recv_fds(SPAWNER_FD, &req, sizeof(req), fds, 4, &nfd);
        if (r <= 0) {
                close_fds(fds, nfd);
                return -1;
        }
        /* The rest of the header (a stream may split it), the block. */
        if (((size_t)r < sizeof(req) &&
             read_full(SPAWNER_FD, (char *)&req + r, sizeof(req) - (size_t)r)) ||
            req.magic != SPAWNER_MAGIC || req.len == 0 ||
            req.len > SPAWNER_REQ_MAX || !(block = malloc(req.len)) ||
            read_full(SPAWNER_FD, block, req.len)) {
                close_fds(fds, 4);
                free(block);
                return -1; /* the worker and we disagree: end */
        }
        memset(&sp, 0, sizeof(sp));
        err = 0;
        if (nfd != 4 || floq_sup_block_parse(block, req.len, &sp) ||
            !sp.path || !sp.cwd)
                err = EINVAL;
        if (!err && kid_cnt == kid_cap) {
                size_t ncap = kid_cap ? kid_cap * 2 : 64;
                kid_t *nk = realloc(kids, ncap * sizeof(*kids));

                if (nk) {
                        kids = nk;
                        kid_cap = ncap;
                } else {
                        err = ENOMEM;
                }
        }
        if (err) {
                reply(err, 0, -1);
                close_fds(fds, 4);
                free(sp.argv);
                free(sp.envp);
                free(block);
                return 0;
        }
        sp.devnull = fds[0];
        sp.outw = fds[1];
        sp.ctlw = fds[2];
        sp.leaser = fds[3];
        sp.lease_ms = req.lease_ms;
        sp.lease_grace_ms = req.lease_grace_ms;
        sp.rl_cpu = req.rl_cpu;
        sp.rl_as = req.rl_as;
        sp.rl_nofile = req.rl_nofile;
        sp.rl_nproc = req.rl_nproc;
        sp.max_fd = req.max_fd;
        sp.run_as = req.run_as;
        sp.uid = (uid_t)req.uid;
        sp.gid = (gid_t)req.gid;
        sp.parent = self;
        sp.sigs_default = 1; /* posix_spawn()'s SETSIGDEF, none set since */

        /* Every descriptor received is above SPAWNER_FD and this
         * process's signalfd, so the supervisor's dup2()s onto 0 to
         * SUP_LEASE_FD copy each before any is overwritten. */
        pid = fork();
        if (pid == 0)
                floq_sup_main(&sp);
        err = pid == -1 ? errno : 0;
        pidfd = -1;
        if (pid > 0) {
                (void)setpgid(pid, pid);
                /* Before we can reap it, so the pidfd is of this child. */
                pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
                if (pidfd == -1) {
                        err = errno;
                        (void)kill(pid, SUP_SIG_KILL);
                }
                kids[kid_cnt].pid = pid;
                kids[kid_cnt].ctlw = fds[2];
                kid_cnt++;
                fds[2] = -1;
        }
        reply(err, pid, pidfd);
        if (pidfd >= 0)
                close(pidfd);
        close_fds(fds, 4);
        free(sp.argv);
        free(sp.envp);
        free(block);
        return 0;
}

int floq_spawner_main(pid_t worker) {
        struct pollfd pfd[2];
        sigset_t chld;
        pid_t self = getpid();
        char hello = SPAWNER_HELLO;
        int sfd;

        /* Dies with the worker's thread that started it (process.c); if
         * that is gone already, the signal was missed. Its supervisors
         * die with it in turn (their parent-death signal). */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != worker)
                return 127;
        (void)prctl(PR_SET_NAME, "floq-spawner", 0, 0, 0);
        /* posix_spawn() kept whatever the worker had open without
         * close-on-exec: nothing of it beyond the socket stays. */
        if (syscall(SYS_close_range, SPAWNER_FD + 1U, ~0U, 0U) == -1)
                return 127;
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        if ((sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK)) == -1 ||
            write(SPAWNER_FD, &hello, 1) != 1)
                return 127;
        pfd[0].fd = SPAWNER_FD;
        pfd[0].events = POLLIN;
        pfd[1].fd = sfd;
        pfd[1].events = POLLIN;
        for (;;) {
                struct signalfd_siginfo si;

                pfd[0].revents = pfd[1].revents = 0;
                if (poll(pfd, 2, -1) == -1 && errno != EINTR)
                        return 1;
                if (pfd[1].revents) {
                        while (read(sfd, &si, sizeof(si)) > 0)
                                ;
                        reap_kids();
                }
                if (pfd[0].revents && serve(self) == -1)
                        return 0;
        }
}
