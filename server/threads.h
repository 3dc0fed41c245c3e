/* Threads the server starts besides the listeners' own (the store's checkpointer, a bulk
 * claim's helpers, a large request handled off its worker): each starts with every
 * signal blocked, because the process's stop signals are for main.c's sigwait() alone;
 * a thread that took SIGTERM would end the process with status 143 instead of a clean
 * stop. Not a thread pool. */
#ifndef NRFPROV_THREADS_H
#define NRFPROV_THREADS_H

#include <pthread.h>
#include <stdbool.h>

/* Start fn(arg) on a new thread (detached: nobody joins it) with every signal blocked;
 * 0, or pthread_create's error. */
int threads_start(pthread_t *t, bool detached, void *(*fn)(void *), void *arg);

#endif
