// ratewarp: an LD_PRELOAD shim that makes one process's MONOTONIC clocks run RATEWARP_RATE times
// as fast as real time (a drifting clock), leaving the wall clock alone.
//
//   cc -shared -fPIC -O2 -o ratewarp.so ratewarp.c -ldl -lpthread
//   RATEWARP_RATE=1.2 LD_PRELOAD=./ratewarp.so leasehold ...
//
// Why not libfaketime's "x RATE": with the monotonic clock faked it returns wall-clock-sized
// values for CLOCK_MONOTONIC and does not intercept pthread_cond_clockwait, which libstdc++ uses
// for condition_variable::wait_until(steady_clock): an agent waiting on a faked deadline would
// sleep for decades. This shim keeps both sides consistent:
//   * clock_gettime(CLOCK_MONOTONIC*, CLOCK_BOOTTIME): base + (real - base) x rate (base = the real
//     monotonic time at load, so the process sees no jump at start);
//   * waits that take an absolute monotonic deadline (pthread_cond_clockwait, clock_nanosleep with
//     TIMER_ABSTIME, timerfd_settime with TFD_TIMER_ABSTIME) get it mapped back to real time;
//   * waits that take a relative timeout (nanosleep, clock_nanosleep, epoll_wait, epoll_pwait,
//     poll, relative timerfd_settime) are shortened by the rate, as a fast clock would see them.
// Wall clock (CLOCK_REALTIME) readings are untouched, so logs and wall-clock deadlines stay real.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>

static double rate = 1.0;
static long double base_ns = 0;  // real monotonic ns at load

static int (*real_clock_gettime)(clockid_t, struct timespec*);
static int (*real_cond_clockwait)(pthread_cond_t*, pthread_mutex_t*, clockid_t, const struct timespec*);
static int (*real_clock_nanosleep)(clockid_t, int, const struct timespec*, struct timespec*);
static int (*real_nanosleep)(const struct timespec*, struct timespec*);
static int (*real_epoll_wait)(int, struct epoll_event*, int, int);
static int (*real_epoll_pwait)(int, struct epoll_event*, int, int, const sigset_t*);
static int (*real_poll)(struct pollfd*, nfds_t, int);
static int (*real_timerfd_settime)(int, int, const struct itimerspec*, struct itimerspec*);

static int warped(clockid_t c) {
  return c == CLOCK_MONOTONIC || c == CLOCK_MONOTONIC_RAW || c == CLOCK_MONOTONIC_COARSE || c == CLOCK_BOOTTIME;
}
static long double ns_of(const struct timespec* t) { return (long double)t->tv_sec * 1e9L + t->tv_nsec; }
static struct timespec ts_of(long double ns) {
  struct timespec t;
  if (ns < 0) ns = 0;
  t.tv_sec = (time_t)(ns / 1e9L);
  t.tv_nsec = (long)(ns - (long double)t.tv_sec * 1e9L);
  if (t.tv_nsec >= 1000000000L) { t.tv_sec++; t.tv_nsec -= 1000000000L; }
  if (t.tv_nsec < 0) t.tv_nsec = 0;
  return t;
}
static long double fake_from_real(long double real) { return base_ns + (real - base_ns) * rate; }
static long double real_from_fake(long double fake) { return base_ns + (fake - base_ns) / rate; }

__attribute__((constructor)) static void init(void) {
  real_clock_gettime = dlsym(RTLD_NEXT, "clock_gettime");
  real_cond_clockwait = dlsym(RTLD_NEXT, "pthread_cond_clockwait");
  real_clock_nanosleep = dlsym(RTLD_NEXT, "clock_nanosleep");
  real_nanosleep = dlsym(RTLD_NEXT, "nanosleep");
  real_epoll_wait = dlsym(RTLD_NEXT, "epoll_wait");
  real_epoll_pwait = dlsym(RTLD_NEXT, "epoll_pwait");
  real_poll = dlsym(RTLD_NEXT, "poll");
  real_timerfd_settime = dlsym(RTLD_NEXT, "timerfd_settime");
  const char* r = getenv("RATEWARP_RATE");
  if (r && atof(r) > 0) rate = atof(r);
  struct timespec now;
  real_clock_gettime(CLOCK_MONOTONIC, &now);
  base_ns = ns_of(&now);
}

int clock_gettime(clockid_t c, struct timespec* t) {
  int rc = real_clock_gettime(c, t);
  if (rc == 0 && warped(c)) *t = ts_of(fake_from_real(ns_of(t)));
  return rc;
}

int pthread_cond_clockwait(pthread_cond_t* cond, pthread_mutex_t* m, clockid_t c, const struct timespec* abstime) {
  if (!warped(c)) return real_cond_clockwait(cond, m, c, abstime);
  struct timespec real = ts_of(real_from_fake(ns_of(abstime)));
  return real_cond_clockwait(cond, m, c, &real);
}

static struct timespec shorten(const struct timespec* d) { return ts_of(ns_of(d) / rate); }

int clock_nanosleep(clockid_t c, int flags, const struct timespec* req, struct timespec* rem) {
  struct timespec t;
  if (flags & TIMER_ABSTIME) {
    if (!warped(c)) return real_clock_nanosleep(c, flags, req, rem);
    t = ts_of(real_from_fake(ns_of(req)));
  } else {
    t = shorten(req);
  }
  return real_clock_nanosleep(c, flags, &t, rem);
}

int nanosleep(const struct timespec* req, struct timespec* rem) {
  struct timespec t = shorten(req);
  return real_nanosleep(&t, rem);
}

static int shorten_ms(int ms) { return ms <= 0 ? ms : (int)(ms / rate) + ((ms / rate) > (int)(ms / rate)); }

int epoll_wait(int fd, struct epoll_event* ev, int n, int ms) { return real_epoll_wait(fd, ev, n, shorten_ms(ms)); }
int epoll_pwait(int fd, struct epoll_event* ev, int n, int ms, const sigset_t* s) {
  return real_epoll_pwait(fd, ev, n, shorten_ms(ms), s);
}
int poll(struct pollfd* fds, nfds_t n, int ms) { return real_poll(fds, n, shorten_ms(ms)); }

// timerfds are assumed to be on a monotonic clock (Boost.Asio creates them so).
int timerfd_settime(int fd, int flags, const struct itimerspec* nv, struct itimerspec* old) {
  struct itimerspec t = *nv;
  if (nv->it_value.tv_sec || nv->it_value.tv_nsec) {
    t.it_value = (flags & TFD_TIMER_ABSTIME) ? ts_of(real_from_fake(ns_of(&nv->it_value))) : shorten(&nv->it_value);
  }
  t.it_interval = shorten(&nv->it_interval);
  return real_timerfd_settime(fd, flags, &t, old);
}
