/*
 * supervise_main.c - floq-supervise, the process backend's per-attempt
 * supervisor as a program of its own (supervise.h): a fresh, small,
 * single-threaded image that posix_spawn() starts without copying the
 * worker, so its fork() of the job is cheap and nothing of the worker's
 * memory reaches the job. Embedded in the worker; not meant to be run by
 * hand.
 *
 *   floq-supervise NUMS PATH CWD
 *
 * with an empty environment, every signal blocked, and its descriptors
 * 0 (/dev/null), 1 and 2 (the job's output), 3 (control pipe), 4 (lease
 * socket) and 5 (the job's argv and environment, supervise.h). Exit 127
 * when the arguments are malformed.
 *
 *   floq-supervise --spawner WORKER_PID
 *
 * runs the spawner (spawner.h) on descriptor 3 instead: started once per
 * backend, it forks the supervisors, which then run floq_sup_main()
 * without an exec.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spawner.h"
#include "supervise.h"

int main(int argc, char **argv) {
        spawn_t sp = { 0 };

        if (argc == 3 && !strcmp(argv[1], "--spawner"))
                _exit(floq_spawner_main((pid_t)atol(argv[2])));
        if (argc != 4 || floq_sup_parse_nums(argv[1], &sp) ||
            floq_sup_block_read(SUP_BLOCK_FD, &sp))
                _exit(127);
        close(SUP_BLOCK_FD);
        sp.path = argv[2];
        sp.cwd = argv[3];
        floq_sup_main(&sp);
}
