/*
 * prog_int.h - private helpers of common/prog.c shared with the worker's
 * thread pools. Not installed; not part of the libfloq API (sigset_t needs
 * POSIX, which the public headers do not ask of their users).
 */
#ifndef FLOQ_PROG_INT_H
#define FLOQ_PROG_INT_H

#include <signal.h>

/**
 * The signal mask for a helper thread (set around pthread_create): every
 * signal blocked but the crash signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
 * SIGABRT), so that stop signals reach the main thread and a crash on the
 * thread is still reported by floq_prog_signals()'s handler (a blocked
 * crash signal is forced to its default action, silently).
 */
void floq_sigset_thread(sigset_t *set);

#endif
