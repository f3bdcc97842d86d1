// Kernel relay: moves the bytes between two connected TCP sockets with splice(2) through a pipe,
// so they never enter the process's memory (docs/architecture.md, "Raw sessions and the kernel
// relay"). One epoll thread per process serves every pair, each for at most TURN_BYTES per
// direction before the next; JavaScript hands it two sockets it no longer reads or writes and
// hears back when a direction ends, and once when both have ended or one failed.
//
// A direction reads its source into its pipe and writes the pipe into its destination. End of
// file on the source, once the pipe is empty, shuts the destination down for writing
// (half-close). An error on either socket ends the pair with the error's name; JavaScript then
// resets both sockets. abort() shuts both sockets down and the pair ends as aborted.
//
// Node-API only (ABI-stable): built against any Node's headers by scripts/build-native.sh.

#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/** Bytes asked of one splice(2) call; the pipe (64 KiB by default) bounds what one call moves. */
#define SPLICE_LEN (1 << 20)
#define MAX_EVENTS 64
/**
 * Bytes one direction moves before the thread turns to the other pairs: a fast transfer would
 * otherwise never run out of data and keep every other pair waiting (the pair takes its next turn
 * after them, from the ready list).
 */
#define TURN_BYTES (256 * 1024)

typedef struct direction {
  int src, dst;
  int pipe[2];
  size_t in_pipe;
  int src_ended;
  int dst_shut;
  _Atomic uint64_t bytes;
} direction_t;

typedef struct pair {
  direction_t dir[2];  // [0]: a -> b, [1]: b -> a
  int a, b;
  int error;           // errno of the first failure, 0 if none
  _Atomic int aborted;
  int ended;           // set by the thread once; the pair is off epoll
  int queued;          // on the ready list: it stopped on its turn's budget
  struct pair *next_ended;
  struct pair *next_ready;
  napi_threadsafe_function on_event;
} pair_t;

static int epoll_fd = -1;

static void fail(pair_t *p, int err) {
  if (p->error == 0) p->error = err;
}

/**
 * Moves what it can in one direction until a socket or the pipe would block (returns 0), or until
 * it has moved TURN_BYTES this turn (returns 1: there may be more, and no event will say so).
 */
static int progress(pair_t *p, direction_t *d) {
  size_t moved = 0;
  while (p->error == 0) {
    if (moved >= TURN_BYTES) return 1;
    if (d->in_pipe > 0) {
      ssize_t n = splice(d->pipe[0], NULL, d->dst, NULL, d->in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0) {
        if (errno == EAGAIN) return 0;
        if (errno == EINTR) continue;
        fail(p, errno);
        return 0;
      }
      d->in_pipe -= (size_t)n;
      moved += (size_t)n;
      atomic_fetch_add_explicit(&d->bytes, (uint64_t)n, memory_order_relaxed);
      continue;
    }
    if (d->src_ended) {
      if (!d->dst_shut) {
        d->dst_shut = 1;
        if (shutdown(d->dst, SHUT_WR) < 0 && errno != ENOTCONN) {
          fail(p, errno);
          return 0;
        }
        // Tagged with the direction (1 or 2); the pair's own end comes later in the same queue.
        napi_call_threadsafe_function(p->on_event, (void *)((uintptr_t)p | (uintptr_t)(d - p->dir + 1)),
                                      napi_tsfn_blocking);
      }
      return 0;
    }
    ssize_t n = splice(d->src, NULL, d->pipe[1], NULL, SPLICE_LEN, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n < 0) {
      if (errno == EAGAIN) return 0;
      if (errno == EINTR) continue;
      fail(p, errno);
      return 0;
    }
    if (n == 0) d->src_ended = 1;
    d->in_pipe += (size_t)n;
  }
  return 0;
}

/** Pairs that used up their turn's budget, served again after the events of the next turn. */
static pair_t *ready_head = NULL;
static pair_t *ready_tail = NULL;

/** One turn of a pair: both directions; an ended pair leaves epoll and joins `ended`. */
static void serve_pair(pair_t *p, pair_t **ended) {
  if (p->ended) return;  // a second mention in this turn; the pair is freed only after it
  int more = progress(p, &p->dir[0]);
  more |= progress(p, &p->dir[1]);
  int done = p->dir[0].dst_shut && p->dir[1].dst_shut && p->dir[0].in_pipe == 0 && p->dir[1].in_pipe == 0;
  if (p->error == 0 && !done && !atomic_load(&p->aborted)) {
    if (more && !p->queued) {
      p->queued = 1;
      p->next_ready = NULL;
      if (ready_tail != NULL) ready_tail->next_ready = p;
      else ready_head = p;
      ready_tail = p;
    }
    return;
  }
  p->ended = 1;
  epoll_ctl(epoll_fd, EPOLL_CTL_DEL, p->a, NULL);
  epoll_ctl(epoll_fd, EPOLL_CTL_DEL, p->b, NULL);
  p->next_ended = *ended;
  *ended = p;
}

static void *serve(void *unused) {
  (void)unused;
  struct epoll_event events[MAX_EVENTS];
  for (;;) {
    // Pairs waiting for their next turn: look for events without sleeping.
    int n = epoll_wait(epoll_fd, events, MAX_EVENTS, ready_head != NULL ? 0 : -1);
    if (n < 0) n = 0;  // EINTR
    pair_t *ended = NULL;
    for (int i = 0; i < n; i++) serve_pair(events[i].data.ptr, &ended);
    pair_t *turn = ready_head;
    ready_head = ready_tail = NULL;
    while (turn != NULL) {
      pair_t *p = turn;
      turn = p->next_ready;
      p->queued = 0;
      serve_pair(p, &ended);
    }
    // Handed over after the turn: JavaScript frees a pair, and this turn may name it twice.
    while (ended != NULL) {
      pair_t *p = ended;
      ended = p->next_ended;
      napi_call_threadsafe_function(p->on_event, p, napi_tsfn_blocking);
    }
  }
  return NULL;
}

static void free_pair(pair_t *p) {
  int saved = errno;  // callers report the errno of what failed before
  if (p->a >= 0) close(p->a);
  if (p->b >= 0) close(p->b);
  for (int i = 0; i < 2; i++) {
    if (p->dir[i].pipe[0] >= 0) close(p->dir[i].pipe[0]);
    if (p->dir[i].pipe[1] >= 0) close(p->dir[i].pipe[1]);
  }
  free(p);
  errno = saved;
}

// onEvent(0, error, aToB, bToA) once at the end; onEvent(1 or 2) before it when the direction
// a -> b or b -> a has ended (its destination shut down for writing).
static void call_on_event(napi_env env, napi_value callback, void *context, void *data) {
  (void)context;
  uintptr_t tag = (uintptr_t)data & 3;
  pair_t *p = (pair_t *)((uintptr_t)data & ~(uintptr_t)3);
  if (env != NULL) {
    napi_value args[4], undefined;
    napi_create_uint32(env, (uint32_t)tag, &args[0]);
    if (tag != 0) {
      napi_get_null(env, &args[1]);
    } else if (atomic_load(&p->aborted)) {
      napi_create_string_utf8(env, "ABORTED", NAPI_AUTO_LENGTH, &args[1]);
    } else if (p->error != 0) {
      const char *name = strerrorname_np(p->error);
      napi_create_string_utf8(env, name != NULL ? name : "EIO", NAPI_AUTO_LENGTH, &args[1]);
    } else {
      napi_get_null(env, &args[1]);
    }
    napi_create_double(env, (double)atomic_load(&p->dir[0].bytes), &args[2]);
    napi_create_double(env, (double)atomic_load(&p->dir[1].bytes), &args[3]);
    napi_get_undefined(env, &undefined);
    napi_call_function(env, undefined, callback, 4, args, NULL);
  }
  if (tag != 0) return;
  napi_release_threadsafe_function(p->on_event, napi_tsfn_release);
  free_pair(p);
}

static napi_value throw_errno(napi_env env, const char *what) {
  const char *name = strerrorname_np(errno);
  char message[128];
  snprintf(message, sizeof message, "%s: %s", what, name != NULL ? name : "error");
  napi_throw_error(env, name, message);
  return NULL;
}

static int start_thread(void) {
  if (epoll_fd >= 0) return 0;
  int fd = epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) return -1;
  pthread_t thread;
  if (pthread_create(&thread, NULL, serve, NULL) != 0) {
    close(fd);
    return -1;
  }
  epoll_fd = fd;
  pthread_detach(thread);
  return 0;
}

static pair_t *pair_of(napi_env env, napi_value handle) {
  void *p = NULL;
  napi_get_value_external(env, handle, &p);
  return p;
}

// relay(fdA, fdB, onEvent) -> handle (see call_on_event).
static napi_value relay(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t a = -1, b = -1;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &a) != napi_ok ||
      napi_get_value_int32(env, argv[1], &b) != napi_ok || a < 0 || b < 0) {
    napi_throw_type_error(env, NULL, "relay(fdA, fdB, onEvent) takes two descriptors and a function");
    return NULL;
  }
  if (start_thread() < 0) return throw_errno(env, "kernel relay thread");
  pair_t *p = calloc(1, sizeof *p);
  if (p == NULL) return throw_errno(env, "kernel relay");
  // Our own descriptors: should JavaScript close a socket meanwhile, its number could be reused
  // for another file, and the thread must never splice into that.
  p->a = fcntl(a, F_DUPFD_CLOEXEC, 0);
  p->b = p->a < 0 ? -1 : fcntl(b, F_DUPFD_CLOEXEC, 0);
  a = p->a;
  b = p->b;
  p->dir[0] = (direction_t){.src = a, .dst = b, .pipe = {-1, -1}};
  p->dir[1] = (direction_t){.src = b, .dst = a, .pipe = {-1, -1}};
  if (b < 0) {
    free_pair(p);
    return throw_errno(env, "kernel relay descriptor");
  }
  for (int i = 0; i < 2; i++) {
    if (pipe2(p->dir[i].pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
      free_pair(p);
      return throw_errno(env, "kernel relay pipe");
    }
  }
  napi_value name;
  napi_create_string_utf8(env, "muon kernel relay", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[2], NULL, name, 0, 1, NULL, NULL, NULL, call_on_event,
                                      &p->on_event) != napi_ok) {
    free_pair(p);
    return NULL;  // the exception is pending
  }
  struct epoll_event event = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = p};
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, a, &event) < 0 ||
      epoll_ctl(epoll_fd, EPOLL_CTL_ADD, b, &event) < 0) {
    int err = errno;
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, a, NULL);
    napi_release_threadsafe_function(p->on_event, napi_tsfn_release);
    // The release frees nothing of ours: no call is queued, so free the pair here.
    free_pair(p);
    errno = err;
    return throw_errno(env, "kernel relay epoll");
  }
  napi_value handle;
  napi_create_external(env, p, NULL, NULL, &handle);
  return handle;
}

// abort(handle): shuts both sockets down; the end follows with "ABORTED". Only before the end.
static napi_value abort_pair(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  pair_t *p = pair_of(env, argv[0]);
  if (p == NULL || atomic_exchange(&p->aborted, 1)) return NULL;
  shutdown(p->a, SHUT_RDWR);
  shutdown(p->b, SHUT_RDWR);
  // Re-arming makes the thread look at the pair now (edge-triggered: a MOD reports what is ready).
  struct epoll_event event = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = p};
  epoll_ctl(epoll_fd, EPOLL_CTL_MOD, p->a, &event);
  return NULL;
}

// bytes(handle) -> [aToB, bToA] moved so far.
static napi_value bytes(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result, value;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  pair_t *p = pair_of(env, argv[0]);
  napi_create_array_with_length(env, 2, &result);
  for (uint32_t i = 0; i < 2; i++) {
    double moved = p == NULL ? 0 : (double)atomic_load_explicit(&p->dir[i].bytes, memory_order_relaxed);
    napi_create_double(env, moved, &value);
    napi_set_element(env, result, i, value);
  }
  return result;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor properties[] = {
      {"relay", NULL, relay, NULL, NULL, NULL, napi_default, NULL},
      {"abort", NULL, abort_pair, NULL, NULL, NULL, napi_default, NULL},
      {"bytes", NULL, bytes, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 3, properties);
  return exports;
}
