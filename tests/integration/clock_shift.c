/* An LD_PRELOAD shim that moves the wall clock by KW_CLOCK_SHIFT_SECONDS, for tests that
 * need a server days in the future (test_event_retention.py). libfaketime does this but
 * cannot start a process linked with jemalloc, as keyward is (libfaketime issues #130,
 * #478: its initialisation allocates, jemalloc's reads the clock, and the two recurse).
 * This shim allocates nothing and calls the kernel directly, so it needs no
 * initialisation. Only CLOCK_REALTIME moves: monotonic clocks (timeouts) are untouched. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static long shift(void) {
  const char* s = getenv("KW_CLOCK_SHIFT_SECONDS");
  return s ? atol(s) : 0;
}

int clock_gettime(clockid_t id, struct timespec* ts) {
  long r = syscall(SYS_clock_gettime, id, ts);
  if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) ts->tv_sec += shift();
  return (int)r;
}

int gettimeofday(struct timeval* tv, void* tz) {
  struct timespec ts;
  (void)tz;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return -1;
  if (tv) {
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
  }
  return 0;
}

time_t time(time_t* t) {
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return (time_t)-1;
  if (t) *t = ts.tv_sec;
  return ts.tv_sec;
}
