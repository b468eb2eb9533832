/*
 * supervise.h - the per-attempt supervisor of the process backend, shared
 * by process.c (which starts it) and supervise.c (what it runs): the
 * records of its control pipe, the signals it takes, and what it is given
 * (spawn_t). The supervisor runs as a program of its own, floq-supervise
 * (supervise_main.c over supervise.c, libc only), embedded in the worker
 * (floq_supervise_elf) and started with posix_spawn(), so starting an
 * attempt never copies the worker; floq_sup_main() is also called in a
 * fork() of the worker where the program cannot be run (no memfd or no
 * /proc). See process.c's opening comment for the process tree.
 */
#ifndef FLOQ_SUPERVISE_H
#define FLOQ_SUPERVISE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/types.h>

/* System calls older headers lack (the kernel has them: pidfds since
 * 5.3, close_range since 5.9; without them the calls fail cleanly). */
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* The step of a start that failed, as the supervisor reports it. */
enum {
        STAGE_SETPGID = 1,
        STAGE_PDEATHSIG,
        STAGE_STDIO,
        STAGE_RLIMIT_CPU,
        STAGE_RLIMIT_AS,
        STAGE_RLIMIT_NOFILE,
        STAGE_RLIMIT_NPROC,
        STAGE_CHDIR,
        STAGE_EXEC,
        STAGE_SUBREAPER,
        STAGE_PIPE,
        STAGE_FORK,
        STAGE_USER,
        STAGE_NO_NEW_PRIVS,
        STAGE_RLIMIT_CORE,
        STAGE_CAPS,
};

/*
 * Records on the control pipe, supervisor to worker: FAILED (the job never
 * ran), or STARTED and, when every descendant is gone, EXIT. Each is one
 * write() of less than PIPE_BUF bytes, so it arrives whole. A supervisor
 * forked by the spawner (spawner.h) is followed by REAPED, from the
 * spawner: the supervisor's own wait status in value.
 */
enum { SUP_MSG_FAILED = 1, SUP_MSG_STARTED, SUP_MSG_EXIT, SUP_MSG_REAPED };

typedef struct sup_msg_s {
        int kind;
        int stage; /* FAILED: the step */
        int err;   /* FAILED: its errno */
        int value; /* STARTED: the job's pid; EXIT: its wait status */
} sup_msg_t;

/* Signals the worker sends an attempt's supervisor. */
#define SUP_SIG_TERM SIGTERM /* SIGTERM to every descendant */
#define SUP_SIG_KILL SIGUSR1 /* SIGKILL to every descendant, then exit; also
                              * the supervisor's parent-death signal */
/* The control pipe's descriptor in the supervisor. */
#define SUP_CTL_FD 3
/* The lease socket's descriptor in the supervisor: every byte the worker
 * writes on it renews the attempt's lease. */
#define SUP_LEASE_FD 4
/* EXIT record's stage: the supervisor stopped the job itself because the
 * lease expired. */
#define SUP_EXIT_LEASE 1
/* EXIT record's stage: its parent (the worker, or the spawner) died. */
#define SUP_EXIT_ORPHAN 2
/* Descendants signalled per sweep of the tree; the next sweep gets more. */
#define SUP_TREE_MAX 4096

/* Everything the supervisor needs, prepared before it starts (in a fork()
 * it only makes async-signal-safe calls: the worker is multi-threaded). */
typedef struct spawn_s {
        const char *path; /* resolved executable */
        char **argv;
        char **envp;
        const char *cwd;
        int devnull, outw, ctlw;
        int leaser;            /* the supervisor's end of the lease socket */
        int64_t lease_ms;      /* the lease; 0: none */
        int64_t lease_grace_ms; /* SIGTERM to SIGKILL when it expires */
        pid_t parent;
        int max_fd;
        int64_t rl_cpu, rl_as, rl_nofile, rl_nproc;
        int run_as; /* take uid/gid in the job */
        uid_t uid;
        gid_t gid;
        int sigs_default; /* every disposition is SIG_DFL already (not a
                           * fork of the worker) */
} spawn_t;

/**
 * Run the supervisor of @p sp: its own process group, child subreaper,
 * parent-death signal, the job forked with rlimits, credentials and
 * no_new_privs, its tree stopped on SUP_SIG_TERM / SUP_SIG_KILL / the
 * lease, the outcome on the control pipe. Async-signal-safe calls only
 * (it may run in a fork() of the multi-threaded worker); never returns.
 * Expects every signal blocked.
 */
void floq_sup_main(const spawn_t *sp) __attribute__((noreturn));

/**
 * Take the job's credentials: raw system calls, so that only this thread
 * changes. @return 0, -1 with errno.
 */
int floq_sup_take_creds(uid_t uid, gid_t gid);

/* The descriptor floq-supervise reads the job's argv and environment
 * from (floq_sup_block_fd()), closed before the job starts. */
#define SUP_BLOCK_FD 5

/**
 * The floq-supervise program's arguments for @p sp: argv[1] the numbers
 * of @p sp as text (into @p nums, @p nums_size bytes), argv[2] the path,
 * argv[3] the cwd; the job's argv and environment come on SUP_BLOCK_FD
 * (never in the supervisor's own environment or command line, where
 * other processes would see them as the job's), and its environment is
 * empty. The descriptors go to 0 (devnull), 1 and 2 (output), SUP_CTL_FD,
 * SUP_LEASE_FD and SUP_BLOCK_FD. @return 0, -1 when @p nums is too small.
 */
int floq_sup_format_nums(const spawn_t *sp, char *nums, size_t nums_size);

/**
 * Parse what floq_sup_format_nums() wrote into @p sp (the descriptors set
 * to where the program gets them). @return 0, -1 when malformed.
 */
int floq_sup_parse_nums(const char *nums, spawn_t *sp);

/**
 * The job's argv, environment, path and cwd of @p sp as one block of
 * bytes (what floq_sup_block_parse() reads), after @p head zero bytes the
 * caller fills. @return 0 with *bufp (caller frees) and *lenp, -1.
 */
int floq_sup_block_build(const spawn_t *sp, size_t head, char **bufp,
                         size_t *lenp);

/**
 * Parse a block of floq_sup_block_build() (without its head) into
 * sp->argv, sp->envp (allocated, pointing into @p buf, which must stay),
 * sp->path and sp->cwd. @return 0, -1 when malformed.
 */
int floq_sup_block_parse(char *buf, size_t len, spawn_t *sp);

/**
 * A memfd holding the job's argv and environment of @p sp, at offset 0,
 * close-on-exec (the caller dup2()s it to SUP_BLOCK_FD and closes it).
 * @return the descriptor, -1 with errno.
 */
int floq_sup_block_fd(const spawn_t *sp);

/**
 * Read what floq_sup_block_fd() wrote from @p fd into sp->argv and
 * sp->envp (allocated, kept for the life of the process).
 * @return 0, -1 when malformed.
 */
int floq_sup_block_read(int fd, spawn_t *sp);

/** The floq-supervise program (an ELF image) and its end. */
extern const unsigned char floq_supervise_elf[];
extern const unsigned char floq_supervise_elf_end[];

#endif /* FLOQ_SUPERVISE_H */
