/* Group commit in store/ (docs/performance.md): a request whose thread armed it with
 * store_defer_next leaves its changes in the open group when another request is on its
 * way, and learns the outcome through its done callback exactly once; readers, requests
 * that cannot defer, the last request and a disarm each end the group; a request that
 * fails rolls back only its own savepoint; a COMMIT that fails fails every request of
 * the group. "Another request on its way" is a second thread that arms and waits, or
 * the transport's hint that this thread has one at hand (store_set_next_hint); a group
 * left open on a hint that came to nothing is committed by the store's flusher. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/claims.h"
#include "store/store.h"
#include "store/teams.h"

static store *s;

static void open_store(void) {
  char why[256] = "";
  cr_assert_eq(store_open(&s, ":memory:", why, sizeof why), 0, "%s", why);
}
static void close_store(void) { store_close(s); }

TestSuite(store_group, .init = open_store, .fini = close_store, .timeout = 30);

#define QUEUE "0b7e3c1a-5d7c-4c52-9a8e-2f9f4f0b0c11"
#define DEV_A "4961c873-408c-45ce-b1ba-7c0d99d88171"
#define DEV_B "4961c873-408c-45ce-b1ba-7c0d99d88172"
#define DEV_C "4961c873-408c-45ce-b1ba-7c0d99d88173"

/* What a done callback saw. */
typedef struct {
  int calls;
  bool committed;
} outcome;

static void done(void *ctx, bool committed) {
  outcome *o = ctx;
  o->calls++;
  o->committed = committed;
}

static int64_t team_id;

/* One request in this thread: claim dev (or fail after inserting it when !ok), armed
 * to defer with fn(ctx) when fn is given. */
static int request_with(const char *dev, bool ok, void (*fn)(void *ctx, bool committed), void *ctx) {
  if (fn) store_defer_next(s, fn, ctx);
  cr_assert_eq(store_begin(s), 0);
  if (!team_id) cr_assert_eq(store_team_ensure(s, "key-a", "a5592ec1-18ae-4d9d-bc44-1d9bd927bbe9", NULL, &team_id), 0);
  int64_t seq;
  cr_assert_eq(store_claim_insert(s, team_id, dev, "nrf9161_LACA", "a4d580b9-aafb-4925-bc8d-db95f737d4ae", NULL, QUEUE, &seq), 0);
  int rc = store_end_or_defer(s, ok);
  if (fn) store_defer_next(s, NULL, NULL);
  return rc;
}

static int request(const char *dev, bool ok, outcome *o) { return request_with(dev, ok, o ? done : NULL, o); }

/* A request armed in another thread, still on its way until released. */
typedef struct {
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool armed, release;
  outcome o;
} other;

static void *other_main(void *arg) {
  other *t = arg;
  store_defer_next(s, done, &t->o);
  pthread_mutex_lock(&t->lock);
  t->armed = true;
  pthread_cond_broadcast(&t->cond);
  while (!t->release) pthread_cond_wait(&t->cond, &t->lock);
  pthread_mutex_unlock(&t->lock);
  store_defer_next(s, NULL, NULL); /* ends without touching the store */
  return NULL;
}

static void other_start(other *t) {
  memset(t, 0, sizeof *t);
  pthread_mutex_init(&t->lock, NULL);
  pthread_cond_init(&t->cond, NULL);
  cr_assert_eq(pthread_create(&t->thread, NULL, other_main, t), 0);
  pthread_mutex_lock(&t->lock);
  while (!t->armed) pthread_cond_wait(&t->cond, &t->lock);
  pthread_mutex_unlock(&t->lock);
}

static void other_finish(other *t) {
  pthread_mutex_lock(&t->lock);
  t->release = true;
  pthread_cond_broadcast(&t->cond);
  pthread_mutex_unlock(&t->lock);
  pthread_join(t->thread, NULL);
  pthread_cond_destroy(&t->cond);
  pthread_mutex_destroy(&t->lock);
}

static bool claimed(const char *dev) {
  store_device_claim c;
  cr_assert_eq(store_begin_read(s), 0);
  int rc = store_claim_for_device(s, dev, &c);
  store_end_read(s);
  cr_assert_geq(rc, 0);
  return rc == 0;
}

Test(store_group, a_lone_request_commits_at_once) {
  outcome o = {0};
  cr_assert_eq(request(DEV_A, true, &o), 0);
  cr_assert_eq(o.calls, 0, "a request that did not defer is not called back");
  cr_assert(claimed(DEV_A));
}

Test(store_group, a_request_defers_while_another_is_on_its_way_and_the_next_commits_both) {
  other t;
  other_start(&t);
  outcome a = {0}, b = {0};
  uint64_t gen = store_generation(s);
  cr_assert_eq(request(DEV_A, true, &a), STORE_DEFERRED);
  cr_assert_eq(a.calls, 0);
  cr_assert_eq(store_generation(s), gen, "nothing committed yet");
  other_finish(&t); /* t disarms: nobody else is coming, so it commits the group */
  cr_assert_eq(a.calls, 1);
  cr_assert(a.committed);
  cr_assert_neq(store_generation(s), gen);
  cr_assert_eq(request(DEV_B, true, &b), 0, "alone again: commits at once");
  cr_assert(claimed(DEV_A) && claimed(DEV_B));
}

Test(store_group, the_last_request_of_the_queue_commits_the_group_with_its_own_result) {
  other t;
  other_start(&t);
  outcome a = {0}, b = {0};
  cr_assert_eq(request(DEV_A, true, &a), STORE_DEFERRED);
  /* t is still armed, so B would defer too; a request that cannot defer ends it. */
  cr_assert_eq(request(DEV_B, true, NULL), 0);
  cr_assert_eq(a.calls, 1);
  cr_assert(a.committed);
  cr_assert_eq(b.calls, 0);
  other_finish(&t);
  cr_assert_eq(a.calls, 1, "told once");
  cr_assert(claimed(DEV_A) && claimed(DEV_B));
}

Test(store_group, a_reader_never_sees_what_the_group_has_not_committed) {
  other t;
  other_start(&t);
  outcome a = {0};
  cr_assert_eq(request(DEV_A, true, &a), STORE_DEFERRED);
  cr_assert(claimed(DEV_A), "the reader commits the group first");
  cr_assert_eq(a.calls, 1);
  cr_assert(a.committed);
  other_finish(&t);
}

Test(store_group, a_failed_request_rolls_back_only_its_own_changes) {
  other t;
  other_start(&t);
  outcome a = {0}, b = {0};
  cr_assert_eq(request(DEV_A, true, &a), STORE_DEFERRED);
  cr_assert_eq(request(DEV_B, false, &b), 0, "a rolled-back request answers at once");
  cr_assert_eq(b.calls, 0);
  other_finish(&t);
  cr_assert_eq(a.calls, 1);
  cr_assert(a.committed);
  cr_assert(claimed(DEV_A));
  cr_assert_not(claimed(DEV_B));
}

Test(store_group, a_flush_commits_the_open_group) {
  other t;
  other_start(&t);
  outcome a = {0};
  cr_assert_eq(request(DEV_A, true, &a), STORE_DEFERRED);
  cr_assert_eq(store_flush(s), 0);
  cr_assert_eq(a.calls, 1);
  cr_assert(a.committed);
  cr_assert_eq(store_flush(s), 0, "nothing open: nothing to do");
  other_finish(&t);
  cr_assert_eq(a.calls, 1);
}

/* A file store whose disk fills before the group commits: every request of the group
 * is told it did not commit, and nothing of it is stored. */
Test(store_group_disk, a_commit_that_fails_fails_every_request_of_the_group, .timeout = 30) {
  char dir[] = "/tmp/store_group.XXXXXX", db[64], flag[64], why[256] = "";
  cr_assert_not_null(mkdtemp(dir));
  snprintf(db, sizeof db, "%s/state.db", dir);
  snprintf(flag, sizeof flag, "%s/full", dir);
  cr_assert_eq(store_test_disk_full(flag), 0);
  cr_assert_eq(store_open(&s, db, why, sizeof why), 0, "%s", why);
  cr_assert_eq(request(DEV_C, true, NULL), 0, "the team is stored before the disk fills");
  other t;
  other_start(&t);
  outcome a = {0}, b = {0};
  cr_assert_eq(request(DEV_A, true, &a), STORE_DEFERRED);
  FILE *f = fopen(flag, "w");
  cr_assert_not_null(f);
  fclose(f);
  cr_assert_eq(request(DEV_B, true, NULL), -1, "the group's commit failed");
  cr_assert_eq(a.calls, 1);
  cr_assert_not(a.committed);
  cr_assert_eq(b.calls, 0);
  other_finish(&t);
  unlink(flag);
  cr_assert_not(claimed(DEV_A));
  cr_assert_not(claimed(DEV_B));
  store_close(s);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}

/* The transport's hint (store_set_next_hint): whether this thread has another request
 * at hand, and how often the store asked. */
static atomic_bool at_hand;
static atomic_int hint_calls;

static bool hint(void) {
  atomic_fetch_add(&hint_calls, 1);
  return atomic_load(&at_hand);
}

/* An outcome told from another thread (the flusher), waited for. */
typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int calls;
  bool committed;
} told;

static void done_told(void *ctx, bool committed) {
  told *t = ctx;
  pthread_mutex_lock(&t->lock);
  t->calls++;
  t->committed = committed;
  pthread_cond_broadcast(&t->cond);
  pthread_mutex_unlock(&t->lock);
}

static void told_init(told *t) {
  memset(t, 0, sizeof *t);
  pthread_mutex_init(&t->lock, NULL);
  pthread_cond_init(&t->cond, NULL);
}

/* The number of calls once t was told, or after 10 s without (a bound, not a timing). */
static int told_wait(told *t) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 10;
  pthread_mutex_lock(&t->lock);
  while (!t->calls && pthread_cond_timedwait(&t->cond, &t->lock, &until) == 0) {
  }
  int n = t->calls;
  pthread_mutex_unlock(&t->lock);
  return n;
}

static void hint_on(bool on) {
  cr_assert_eq(store_set_next_hint(s, hint), 0);
  atomic_store(&at_hand, on);
  atomic_store(&hint_calls, 0);
}

Test(store_group, a_request_defers_on_the_hint_and_the_next_request_of_its_thread_commits_both) {
  hint_on(true);
  told a;
  told_init(&a);
  outcome b = {0};
  uint64_t gen = store_generation(s);
  cr_assert_eq(request_with(DEV_A, true, done_told, &a), STORE_DEFERRED, "another request is at hand");
  atomic_store(&at_hand, false);
  cr_assert_eq(request(DEV_B, true, &b), 0, "nothing else at hand: B commits the group with its own change");
  cr_assert_eq(b.calls, 0);
  cr_assert_eq(told_wait(&a), 1);
  cr_assert(a.committed);
  cr_assert_neq(store_generation(s), gen);
  cr_assert(claimed(DEV_A) && claimed(DEV_B));
  cr_assert_eq(told_wait(&a), 1, "told once");
}

Test(store_group, a_group_left_open_on_a_hint_that_came_to_nothing_is_committed_by_the_flusher) {
  hint_on(true);
  told a;
  told_init(&a);
  uint64_t commits, deferred;
  cr_assert_eq(request_with(DEV_A, true, done_told, &a), STORE_DEFERRED);
  /* No other request comes, and nothing reads: only the flusher can end the group. */
  cr_assert_eq(told_wait(&a), 1, "the flusher commits the group (due %d us after it opened)", STORE_GROUP_WAIT_US);
  cr_assert(a.committed);
  store_commit_counts(s, &commits, &deferred);
  cr_assert_eq(deferred, 1);
  atomic_store(&at_hand, false);
  cr_assert(claimed(DEV_A));
  /* The flusher disarms with no group open, and is ready for the next. */
  told b;
  told_init(&b);
  atomic_store(&at_hand, true);
  cr_assert_eq(request_with(DEV_B, true, done_told, &b), STORE_DEFERRED);
  cr_assert_eq(told_wait(&b), 1);
  cr_assert(b.committed);
  atomic_store(&at_hand, false);
  cr_assert(claimed(DEV_B));
}

Test(store_group, the_hint_is_asked_only_when_the_request_could_defer_on_it) {
  hint_on(true);
  outcome b = {0};
  cr_assert_eq(request(DEV_A, true, NULL), 0, "not armed: commits at once");
  cr_assert_eq(request(DEV_B, false, &b), 0, "failed: rolled back at once");
  cr_assert_eq(atomic_load(&hint_calls), 0);
  other t;
  other_start(&t);
  told c;
  told_init(&c);
  cr_assert_eq(request_with(DEV_C, true, done_told, &c), STORE_DEFERRED, "deferred for the other thread");
  cr_assert_eq(atomic_load(&hint_calls), 0, "another thread is on its way: no need to ask");
  other_finish(&t);
  cr_assert_eq(told_wait(&c), 1);
  cr_assert(c.committed);
  cr_assert(claimed(DEV_A) && !claimed(DEV_B) && claimed(DEV_C));
}

Test(store_group, the_store_closes_with_its_flusher_armed) {
  hint_on(true);
  static told a; /* the flusher may tell it after this function returns */
  told_init(&a);
  cr_assert_eq(request_with(DEV_A, true, done_told, &a), STORE_DEFERRED);
  /* close_store (the suite's fini) stops the flusher whether or not it has fired. */
}
