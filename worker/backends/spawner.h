/*
 * spawner.h - the process backend's spawner: floq-supervise run once per
 * backend as `floq-supervise --spawner WORKER_PID` (process.c
 * spawner_start()), a small single-threaded static process that forks the
 * attempts' supervisors on request, so that no attempt pays an exec of
 * the supervisor (docs/benchmarks.md). This header is the protocol on its
 * socket (SPAWNER_FD in the spawner, a SOCK_STREAM unix socket):
 *
 *   spawner -> worker, once:  one byte, SPAWNER_HELLO: it runs.
 *   worker -> spawner:        spawner_req_t with, as SCM_RIGHTS, the
 *                             attempt's /dev/null, output, control pipe
 *                             and lease socket (in this order), then
 *                             req.len bytes of floq_sup_block_build().
 *   spawner -> worker:        spawner_rep_t with, when err is 0, the
 *                             supervisor's pidfd as SCM_RIGHTS.
 *
 * The spawner keeps each supervisor's control pipe until it reaps it and
 * then writes SUP_MSG_REAPED with its wait status there (supervise.h), so
 * the worker, which cannot wait() for a process that is not its child,
 * still learns how a supervisor ended; it signals supervisors through
 * their pidfds only, so a recycled pid is never signalled.
 */
#ifndef FLOQ_SPAWNER_H
#define FLOQ_SPAWNER_H

#include <stdint.h>
#include <sys/types.h>

/* The spawner's socket. */
#define SPAWNER_FD 3
#define SPAWNER_HELLO 'R'
#define SPAWNER_MAGIC 0x666c7371u /* "flsq" */
/* Bound on a request's block (argv and environment). */
#define SPAWNER_REQ_MAX (64u << 20)

/* Most descriptors one message carries (a request's four). */
#define SPAWNER_FDS_MAX 4

typedef struct spawner_req_s {
        uint32_t magic;
        uint32_t len; /* bytes of block that follow */
        int64_t lease_ms, lease_grace_ms;
        int64_t rl_cpu, rl_as, rl_nofile, rl_nproc;
        int32_t max_fd, run_as;
        uint32_t uid, gid;
} spawner_req_t;

typedef struct spawner_rep_s {
        int32_t err; /* 0, or the errno of the fork */
        int32_t pid; /* the supervisor */
} spawner_rep_t;

/**
 * sendmsg() of @p len bytes of @p buf on @p sock with the @p nfd
 * descriptors of @p fds (at most SPAWNER_FDS_MAX, 0: none) as SCM_RIGHTS,
 * again on EINTR. @return what sendmsg() returned.
 */
ssize_t spawner_send_fds(int sock, const void *buf, size_t len,
                         const int *fds, int nfd);

/**
 * recvmsg() of up to @p len bytes into @p buf from @p sock, again on
 * EINTR, with the descriptors that came along (close-on-exec): the first
 * @p max of them (at most SPAWNER_FDS_MAX) into @p fds in order, their
 * count in *@p nfd; any others are closed. @return what recvmsg()
 * returned; -1 (EPROTO, no descriptor kept) when the control data was
 * truncated.
 */
ssize_t spawner_recv_fds(int sock, void *buf, size_t len, int *fds, int max,
                         int *nfd);

/**
 * The spawner's main loop, on SPAWNER_FD, for the worker @p worker (its
 * parent: it dies with it). Expects every signal blocked and at its
 * default, descriptors 0 to 2 on /dev/null; returns only at the end of
 * its socket (the worker closed it or died) with the exit code.
 */
int floq_spawner_main(pid_t worker);

#endif /* FLOQ_SPAWNER_H */
