/* Threads started with every signal blocked (threads.h). */
#include "threads.h"

#include <signal.h>

int threads_start(pthread_t *t, bool detached, void *(*fn)(void *), void *arg) {
  pthread_attr_t attr;
  int rc = pthread_attr_init(&attr);
  if (rc) return rc;
  if (detached) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  /* The new thread inherits the mask in force when it is created. */
  sigset_t all, was;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &was);
  rc = pthread_create(t, &attr, fn, arg);
  pthread_sigmask(SIG_SETMASK, &was, NULL);
  pthread_attr_destroy(&attr);
  return rc;
}
