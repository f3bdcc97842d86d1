// Kernel relay: moves the bytes between two connected TCP sockets with splice(2) through a pipe,
// so they never enter the process's memory (docs/architecture.md, "Raw sessions and the kernel
// relay"). One epoll thread per process serves every pair, each for at most TURN_BYTES per
// direction before the next; JavaScript hands it two sockets it no longer reads or writes and
// hears back when a direction ends, and once when both have ended or one failed.
//
// A direction reads its source into its pipe and writes the pipe into its destination. End of
// file on the source, once the pipe is empty, shuts the destination down for writing
// (half-close). An error on either socket ends the pair with the error's name and resets both
// (a reset is noticed even by a direction that waits to write). abort() ends the first socket
// with end of file and resets the second (the channel, in a raw session), and the pair ends as
// aborted.
//
// A sealed pair (a raw session on a TLS tunnel) joins a plain socket to a channel whose bytes are
// records sealed with AES-256-GCM under keys JavaScript derived from the channel's TLS session
// (docs/protocol.md, "Sealed raw sessions"). Its bytes pass through the thread's memory once:
// read, sealed or opened in place, written. The cipher is OpenSSL's, looked up in the running
// Node at load time; a Node without it has no sealing (sealing: false), and splicing still works.
//
// Node-API only (ABI-stable): built against any Node's headers by scripts/build-native.sh.

#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
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

// ---- sealed records ----------------------------------------------------------------------------
// A record: type (1 byte), length of what follows (3 bytes, big-endian), the sealed payload and its
// 16-byte tag. The 4 header bytes are the additional data; the nonce is 4 zero bytes and the
// direction's record number (8 bytes, big-endian, from 0). Each direction has its own key.
#define HEADER 4
#define TAG 16
/** A record's largest payload: header, payload and tag fill 64 KiB. */
#define MAX_PAYLOAD (131072 - HEADER - TAG)
#define RECORD_MAX (HEADER + MAX_PAYLOAD + TAG)
enum { RECORD_DATA = 0, RECORD_END = 1, RECORD_START = 2 };
/**
 * Records sealed under one key: then both sides move to the next, HMAC-SHA256(key, KEY_UPDATE), at
 * the same record number without a word. 2^20 records of at most 128 KiB are 2^33 AES blocks, below
 * the 2^34.5 that TLS 1.3 allows one AES-GCM key (RFC 8446 section 5.5).
 */
#define RECORDS_PER_KEY ((uint64_t)1 << 20)
#define KEY_UPDATE "muon sealed key update"

/** OpenSSL's EVP interface as the running Node exports it, found with dlsym (no headers needed). */
typedef struct evp_ctx evp_ctx;
static struct {
  evp_ctx *(*ctx_new)(void);
  void (*ctx_free)(evp_ctx *);
  const void *(*aes_256_gcm)(void);
  int (*init)(evp_ctx *, const void *cipher, void *engine, const unsigned char *key, const unsigned char *iv,
              int enc);
  int (*update)(evp_ctx *, unsigned char *out, int *outl, const unsigned char *in, int inl);
  int (*final)(evp_ctx *, unsigned char *out, int *outl);
  int (*ctrl)(evp_ctx *, int type, int arg, void *ptr);
  const void *(*sha256)(void);
  unsigned char *(*hmac)(const void *md, const void *key, int key_len, const unsigned char *data, size_t len,
                         unsigned char *out, unsigned int *out_len);
} evp;
#define EVP_CTRL_GCM_GET_TAG 0x10
#define EVP_CTRL_GCM_SET_TAG 0x11

static int sealing_available(void) {
  static int found = -1;
  if (found >= 0) return found;
  evp.ctx_new = (evp_ctx * (*)(void)) dlsym(RTLD_DEFAULT, "EVP_CIPHER_CTX_new");
  evp.ctx_free = (void (*)(evp_ctx *))dlsym(RTLD_DEFAULT, "EVP_CIPHER_CTX_free");
  evp.aes_256_gcm = (const void *(*)(void))dlsym(RTLD_DEFAULT, "EVP_aes_256_gcm");
  evp.init = (int (*)(evp_ctx *, const void *, void *, const unsigned char *, const unsigned char *, int))dlsym(
      RTLD_DEFAULT, "EVP_CipherInit_ex");
  evp.update = (int (*)(evp_ctx *, unsigned char *, int *, const unsigned char *, int))dlsym(RTLD_DEFAULT,
                                                                                            "EVP_CipherUpdate");
  evp.final = (int (*)(evp_ctx *, unsigned char *, int *))dlsym(RTLD_DEFAULT, "EVP_CipherFinal_ex");
  evp.ctrl = (int (*)(evp_ctx *, int, int, void *))dlsym(RTLD_DEFAULT, "EVP_CIPHER_CTX_ctrl");
  evp.sha256 = (const void *(*)(void))dlsym(RTLD_DEFAULT, "EVP_sha256");
  evp.hmac = (unsigned char *(*)(const void *, const void *, int, const unsigned char *, size_t, unsigned char *,
                                 unsigned int *))dlsym(RTLD_DEFAULT, "HMAC");
  found = evp.ctx_new && evp.ctx_free && evp.aes_256_gcm && evp.init && evp.update && evp.final && evp.ctrl &&
          evp.sha256 && evp.hmac;
  return found;
}

typedef enum { SPLICE = 0, SEAL, OPEN } relay_mode_t;

typedef struct direction {
  int src, dst;
  relay_mode_t mode;
  int pipe[2];  // SPLICE
  size_t in_pipe;
  int src_ended;
  int dst_shut;
  _Atomic uint64_t bytes;
  // SEAL and OPEN: the direction's cipher and record number, and its buffer, held only while it
  // has bytes in it: SEAL, one sealed record being written out; OPEN, what was read (records from
  // offset 0), the first record opened in place while its payload [out, out_end) is written out.
  evp_ctx *cipher;
  unsigned char key[32];
  uint64_t seq;
  uint64_t records_per_key;
  unsigned char *buf;
  size_t have, out, out_end;
  size_t pending_plain;  // SEAL: payload bytes of the record being written out
  int start_owed;        // SEAL: a START record goes first (the server's side)
  int held;              // SEAL: nothing goes until the peer's first record was opened (the client's side)
  int end_queued;        // SEAL: the END record is in the buffer
  int opened_any;        // OPEN: a record was opened
} direction_t;

typedef struct pair {
  direction_t dir[2];  // [0]: a -> b, [1]: b -> a
  int a, b;
  int error;           // errno of the first failure, 0 if none
  _Atomic int aborted;
  int ended;           // set by the thread once; the pair is off epoll
  int queued;          // on the ready list: it stopped on its turn's budget
  int out_armed;       // sockets epoll reports writable for (1: a, 2: b): only while a write waits
  struct pair *next_ended;
  struct pair *next_ready;
  napi_threadsafe_function on_event;
} pair_t;

static int epoll_fd = -1;

static void fail(pair_t *p, int err) {
  if (p->error == 0) p->error = err;
}

/** epoll's tag for a socket of the pair: the pair's address, and 1 for b (calloc aligns it). */
static uint64_t tag_of(pair_t *p, int fd) {
  return (uint64_t)(uintptr_t)p | (fd == p->b ? 1 : 0);
}

/**
 * Whether epoll reports `fd` writable too. Only while a write to it waits: a socket whose
 * writes go through at once would otherwise wake the thread for every acknowledgement.
 */
static void watch_writable(pair_t *p, int fd, int on) {
  int bit = fd == p->a ? 1 : 2;
  if (((p->out_armed & bit) != 0) == (on != 0)) return;
  p->out_armed ^= bit;
  struct epoll_event event = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET | (on ? EPOLLOUT : 0),
                              .data.u64 = tag_of(p, fd)};
  epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &event);
}

static void shut_down(pair_t *p, direction_t *d) {
  if (d->dst_shut) return;
  d->dst_shut = 1;
  if (shutdown(d->dst, SHUT_WR) < 0 && errno != ENOTCONN) {
    fail(p, errno);
    return;
  }
  // Tagged with the direction (1 or 2); the pair's own end comes later in the same queue.
  napi_call_threadsafe_function(p->on_event, (void *)((uintptr_t)p | (uintptr_t)(d - p->dir + 1)),
                                napi_tsfn_blocking);
}

/** 4 zero bytes, then the record's number (big-endian). */
static void nonce_of(uint64_t seq, unsigned char nonce[12]) {
  memset(nonce, 0, 4);
  for (int i = 0; i < 8; i++) nonce[4 + i] = (unsigned char)(seq >> (56 - 8 * i));
}

/** The nonce of the direction's next record, moving to the next key first when its turn has come. */
static int next_nonce(direction_t *d, unsigned char nonce[12]) {
  if (d->seq > 0 && d->seq % d->records_per_key == 0) {
    unsigned char next[32];
    unsigned int length = 0;
    if (evp.hmac(evp.sha256(), d->key, 32, (const unsigned char *)KEY_UPDATE, strlen(KEY_UPDATE), next,
                 &length) == NULL ||
        length != 32 || evp.init(d->cipher, NULL, NULL, next, NULL, -1) != 1)
      return -1;
    memcpy(d->key, next, 32);
    explicit_bzero(next, sizeof next);
  }
  nonce_of(d->seq++, nonce);
  return 0;
}

/** Seals `len` payload bytes at buf + HEADER as a record of `type`; 0 on success. */
static int seal_record(direction_t *d, int type, size_t len) {
  unsigned char *b = d->buf, nonce[12];
  size_t sealed = len + TAG;
  b[0] = (unsigned char)type;
  b[1] = (unsigned char)(sealed >> 16);
  b[2] = (unsigned char)(sealed >> 8);
  b[3] = (unsigned char)sealed;
  int n = 0;
  if (next_nonce(d, nonce) < 0 || evp.init(d->cipher, NULL, NULL, NULL, nonce, 1) != 1 ||
      evp.update(d->cipher, NULL, &n, b, HEADER) != 1 ||
      (len > 0 && evp.update(d->cipher, b + HEADER, &n, b + HEADER, (int)len) != 1) ||
      evp.final(d->cipher, b + HEADER + len, &n) != 1 ||
      evp.ctrl(d->cipher, EVP_CTRL_GCM_GET_TAG, TAG, b + HEADER + len) != 1)
    return -1;
  d->out = 0;
  d->out_end = HEADER + sealed;
  d->pending_plain = len;
  return 0;
}

/**
 * Opens the record at the front of the buffer in place (its whole `sealed` length is there); 0
 * when it is authentic. What did not authenticate is never written anywhere.
 */
static int open_record(direction_t *d, size_t sealed) {
  unsigned char *b = d->buf, nonce[12];
  size_t len = sealed - TAG;
  int n = 0;
  if (next_nonce(d, nonce) < 0 || evp.init(d->cipher, NULL, NULL, NULL, nonce, 0) != 1 ||
      evp.update(d->cipher, NULL, &n, b, HEADER) != 1 ||
      (len > 0 && evp.update(d->cipher, b + HEADER, &n, b + HEADER, (int)len) != 1) ||
      evp.ctrl(d->cipher, EVP_CTRL_GCM_SET_TAG, TAG, b + HEADER + len) != 1 ||
      evp.final(d->cipher, b + HEADER + len, &n) != 1)
    return -1;
  return 0;
}

static int ensure_buffer(pair_t *p, direction_t *d) {
  if (d->buf != NULL) return 0;
  d->buf = malloc(RECORD_MAX);
  if (d->buf == NULL) fail(p, ENOMEM);
  return d->buf == NULL ? -1 : 0;
}

static void drop_buffer(direction_t *d) {
  free(d->buf);
  d->buf = NULL;
  d->have = d->out = d->out_end = 0;
}

/** Writes out [out, out_end) of the buffer; 1 when all of it is written, 0 when the socket is full or failed. */
static int flush(pair_t *p, direction_t *d, size_t *moved) {
  while (d->out < d->out_end) {
    ssize_t n = send(d->dst, d->buf + d->out, d->out_end - d->out, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) watch_writable(p, d->dst, 1);
      else fail(p, errno);
      return 0;
    }
    d->out += (size_t)n;
    *moved += (size_t)n;
  }
  return 1;
}

/** The other direction of the pair. */
static direction_t *other(pair_t *p, direction_t *d) {
  return d == &p->dir[0] ? &p->dir[1] : &p->dir[0];
}

/** SEAL: reads the plain source, seals what it read as one record, writes it (like progress()). */
static int seal_progress(pair_t *p, direction_t *d) {
  size_t moved = 0;
  while (p->error == 0) {
    if (moved >= TURN_BYTES) return 1;
    if (d->out < d->out_end) {
      if (!flush(p, d, &moved)) return 0;
      atomic_fetch_add_explicit(&d->bytes, (uint64_t)d->pending_plain, memory_order_relaxed);
      d->pending_plain = 0;
      if (!d->end_queued) drop_buffer(d);
      continue;
    }
    if (d->end_queued) {
      drop_buffer(d);
      shut_down(p, d);
      return 0;
    }
    if (d->held) return 0;
    if (ensure_buffer(p, d) < 0) return 0;
    if (d->start_owed) {
      d->start_owed = 0;
      if (seal_record(d, RECORD_START, 0) < 0) fail(p, EPROTO);
      continue;
    }
    if (d->src_ended) {
      // An abort shuts the plain socket down too: its end of file is no reason for a clean END.
      if (atomic_load(&p->aborted)) return 0;
      d->end_queued = 1;
      if (seal_record(d, RECORD_END, 0) < 0) fail(p, EPROTO);
      continue;
    }
    ssize_t n = read(d->src, d->buf + HEADER, MAX_PAYLOAD);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) fail(p, errno);
      drop_buffer(d);
      return 0;
    }
    if (n == 0) {
      d->src_ended = 1;
      continue;
    }
    if (seal_record(d, RECORD_DATA, (size_t)n) < 0) fail(p, EPROTO);
  }
  return 0;
}

/**
 * OPEN: reads sealed records, opens each in place and writes its payload to the plain socket. A
 * record that does not open ends the pair with EBADMSG; a malformed one, or end of file before
 * the END record, with EPROTO. The first record opened lets the other direction go (held).
 */
static int open_progress(pair_t *p, direction_t *d) {
  size_t moved = 0;
  while (p->error == 0) {
    if (moved >= TURN_BYTES) return 1;
    if (d->out < d->out_end) {
      size_t before = moved;
      int written = flush(p, d, &moved);
      atomic_fetch_add_explicit(&d->bytes, (uint64_t)(moved - before), memory_order_relaxed);
      if (!written) return 0;
    }
    if (d->out_end > 0) {
      // The record at the front is written out: what follows it moves to the front.
      size_t record = d->out_end + TAG;
      memmove(d->buf, d->buf + record, d->have - record);
      d->have -= record;
      d->out = d->out_end = 0;
    }
    if (d->src_ended) {
      drop_buffer(d);
      shut_down(p, d);
      return 0;
    }
    if (d->have >= HEADER) {
      unsigned char *b = d->buf;
      size_t sealed = ((size_t)b[1] << 16) | ((size_t)b[2] << 8) | b[3];
      int type = b[0];
      if (type > RECORD_START || sealed < TAG || sealed > MAX_PAYLOAD + TAG ||
          (type != RECORD_DATA && sealed != TAG) || (type == RECORD_START && d->opened_any)) {
        fail(p, EPROTO);
        return 0;
      }
      if (d->have >= HEADER + sealed) {
        if (open_record(d, sealed) < 0) {
          fail(p, EBADMSG);
          return 0;
        }
        if (!d->opened_any) {
          d->opened_any = 1;
          direction_t *back = other(p, d);
          if (back->held) {
            back->held = 0;
            moved = TURN_BYTES;  // a turn for the pair again: the other direction may go now
          }
        }
        if (type == RECORD_END) d->src_ended = 1;  // what follows END is not read
        d->out = HEADER;
        d->out_end = HEADER + sealed - TAG;
        continue;
      }
    }
    if (ensure_buffer(p, d) < 0) return 0;
    ssize_t n = read(d->src, d->buf + d->have, RECORD_MAX - d->have);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) fail(p, errno);
      if (d->have == 0) drop_buffer(d);
      return 0;
    }
    if (n == 0) {
      fail(p, EPROTO);  // the channel ended without END: cut short
      return 0;
    }
    d->have += (size_t)n;
  }
  return 0;
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
        if (errno == EAGAIN) {
          watch_writable(p, d->dst, 1);
          return 0;
        }
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
      shut_down(p, d);
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

static int move(pair_t *p, direction_t *d) {
  switch (d->mode) {
    case SEAL:
      return seal_progress(p, d);
    case OPEN:
      return open_progress(p, d);
    default:
      return progress(p, d);
  }
}

/** Bytes read and not yet written: the direction waits for its destination. */
static int pending(direction_t *d) {
  return d->in_pipe > 0 || d->out < d->out_end;
}

static int finished(direction_t *d) {
  return d->dst_shut && !pending(d);
}

/**
 * One turn of a pair: the directions in `run` (bit 0: a → b, bit 1: b → a); `writable`, those
 * whose destination epoll reported writable; `errored`, a socket epoll reported an error on, or
 * -1. An ended pair leaves epoll and joins `ended`.
 */
static void serve_pair(pair_t *p, int run, int writable, int errored, pair_t **ended) {
  if (p->ended) return;  // a second mention in this turn; the pair is freed only after it
  if (errored >= 0) {
    // A reset: a direction waiting to write would not read the socket, so ask it directly.
    int err = 0;
    socklen_t length = sizeof err;
    if (getsockopt(errored, SOL_SOCKET, SO_ERROR, &err, &length) == 0 && err != 0) fail(p, err);
  }
  int more = 0;
  // After abort() nothing moves: the shut-down sockets' ends of file are no half-closes to forward.
  if (atomic_load(&p->aborted)) run = 0;
  for (int i = 0; i < 2; i++) {
    if ((run >> i & 1) == 0) continue;
    direction_t *d = &p->dir[i];
    more |= move(p, d);
    if ((writable >> i & 1) != 0 && !pending(d)) watch_writable(p, d->dst, 0);
  }
  int done = finished(&p->dir[0]) && finished(&p->dir[1]);
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
  if (p->error != 0 && !atomic_load(&p->aborted)) {
    // A failure resets both connections: closing our descriptors, the last ones, sends RST.
    struct linger reset = {.l_onoff = 1, .l_linger = 0};
    setsockopt(p->a, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    setsockopt(p->b, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  }
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
    for (int i = 0; i < n; i++) {
      pair_t *p = (pair_t *)(uintptr_t)(events[i].data.u64 & ~(uint64_t)1);
      int on_b = (int)(events[i].data.u64 & 1);
      uint32_t what = events[i].events;
      // Readable: the direction that reads this socket; writable: the one that writes it.
      int reads = on_b ? 2 : 1, writes = on_b ? 1 : 2;
      int writable = (what & EPOLLOUT) != 0 ? writes : 0;
      int run = writable | ((what & (EPOLLIN | EPOLLRDHUP)) != 0 ? reads : 0);
      if ((what & (EPOLLERR | EPOLLHUP)) != 0) run = 3;
      serve_pair(p, run, writable, (what & EPOLLERR) != 0 ? (on_b ? p->b : p->a) : -1, &ended);
    }
    pair_t *turn = ready_head;
    ready_head = ready_tail = NULL;
    while (turn != NULL) {
      pair_t *p = turn;
      turn = p->next_ready;
      p->queued = 0;
      serve_pair(p, 3, 0, -1, &ended);
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
    if (p->dir[i].cipher != NULL) evp.ctx_free(p->dir[i].cipher);
    explicit_bzero(p->dir[i].key, sizeof p->dir[i].key);
    free(p->dir[i].buf);
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

/** A 32-byte key from the Buffer `name` of `object`; NULL (with a pending exception) if it is not one. */
static const unsigned char *key_of(napi_env env, napi_value object, const char *name) {
  napi_value value;
  void *data = NULL;
  size_t length = 0;
  bool is_buffer = false;
  if (napi_get_named_property(env, object, name, &value) != napi_ok ||
      napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer ||
      napi_get_buffer_info(env, value, &data, &length) != napi_ok || length != 32) {
    napi_throw_type_error(env, NULL, "a sealed relay takes 32-byte keys: { send, receive, start }");
    return NULL;
  }
  return data;
}

/** Makes the pair sealed (a plain, b the channel), with the keys and start of `seal`; -1 on failure (thrown). */
static int seal_pair(napi_env env, pair_t *p, napi_value seal) {
  if (!sealing_available()) {
    napi_throw_error(env, "ENOSYS", "kernel relay: this Node has no AES-256-GCM for sealed pairs");
    return -1;
  }
  const unsigned char *send_key = key_of(env, seal, "send");
  const unsigned char *receive_key = send_key == NULL ? NULL : key_of(env, seal, "receive");
  napi_value value;
  bool start = false;
  if (receive_key == NULL || napi_get_named_property(env, seal, "start", &value) != napi_ok ||
      napi_get_value_bool(env, value, &start) != napi_ok) {
    if (receive_key != NULL) napi_throw_type_error(env, NULL, "a sealed relay takes start: boolean");
    return -1;
  }
  // Records per key: RECORDS_PER_KEY unless `recordsPerKey` says fewer (to test the key update).
  int64_t per_key = (int64_t)RECORDS_PER_KEY;
  bool has = false;
  if (napi_has_named_property(env, seal, "recordsPerKey", &has) == napi_ok && has &&
      (napi_get_named_property(env, seal, "recordsPerKey", &value) != napi_ok ||
       napi_get_value_int64(env, value, &per_key) != napi_ok || per_key < 1 ||
       per_key > (int64_t)RECORDS_PER_KEY)) {
    napi_throw_range_error(env, NULL, "a sealed relay takes recordsPerKey: 1 to 2^20");
    return -1;
  }
  direction_t *out = &p->dir[0], *in = &p->dir[1];
  out->mode = SEAL;
  in->mode = OPEN;
  memcpy(out->key, send_key, 32);
  memcpy(in->key, receive_key, 32);
  out->records_per_key = in->records_per_key = (uint64_t)per_key;
  out->start_owed = start;
  out->held = !start;
  out->cipher = evp.ctx_new();
  in->cipher = evp.ctx_new();
  if (out->cipher == NULL || in->cipher == NULL ||
      evp.init(out->cipher, evp.aes_256_gcm(), NULL, send_key, NULL, 1) != 1 ||
      evp.init(in->cipher, evp.aes_256_gcm(), NULL, receive_key, NULL, 0) != 1) {
    napi_throw_error(env, "EIO", "kernel relay: the cipher did not start");
    return -1;
  }
  return 0;
}

// relay(fdA, fdB, onEvent[, seal]) -> handle (see call_on_event). In a raw session a is the plain
// socket (visitor or target) and b the channel. With seal ({ send, receive: 32-byte keys, start:
// whether this side sends START }), b's bytes are sealed records.
static napi_value relay(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t a = -1, b = -1;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &a) != napi_ok ||
      napi_get_value_int32(env, argv[1], &b) != napi_ok || a < 0 || b < 0) {
    napi_throw_type_error(env, NULL, "relay(fdA, fdB, onEvent[, seal]) takes two descriptors and a function");
    return NULL;
  }
  napi_valuetype seal_type = napi_undefined;
  if (argc > 3) napi_typeof(env, argv[3], &seal_type);
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
  if (seal_type == napi_object) {
    if (seal_pair(env, p, argv[3]) < 0) {
      free_pair(p);
      return NULL;  // the exception is pending
    }
  } else {
    for (int i = 0; i < 2; i++) {
      if (pipe2(p->dir[i].pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
        free_pair(p);
        return throw_errno(env, "kernel relay pipe");
      }
    }
  }
  napi_value name;
  napi_create_string_utf8(env, "muon kernel relay", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[2], NULL, name, 0, 1, NULL, NULL, NULL, call_on_event,
                                      &p->on_event) != napi_ok) {
    free_pair(p);
    return NULL;  // the exception is pending
  }
  // Readable only; a sealed pair that opens with START hears at once that its channel is writable.
  p->out_armed = p->dir[0].start_owed ? 2 : 0;
  struct epoll_event event_a = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.u64 = tag_of(p, a)};
  struct epoll_event event_b = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET | (p->out_armed ? EPOLLOUT : 0),
                                .data.u64 = tag_of(p, b)};
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, a, &event_a) < 0 ||
      epoll_ctl(epoll_fd, EPOLL_CTL_ADD, b, &event_b) < 0) {
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

// abort(handle): ends a with end of file and b with a reset; the end follows with "ABORTED". Only
// before the end.
static napi_value abort_pair(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  pair_t *p = pair_of(env, argv[0]);
  if (p == NULL || atomic_exchange(&p->aborted, 1)) return NULL;
  // b is the channel: it ends with a reset (when our descriptor, the last, closes), which the far
  // side's relay hears at once, even while it waits to write to a socket that does not read.
  struct linger reset = {.l_onoff = 1, .l_linger = 0};
  setsockopt(p->b, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  shutdown(p->a, SHUT_RDWR);
  shutdown(p->b, SHUT_RD);
  // Re-arming makes the thread look at the pair now (edge-triggered: a MOD reports what is ready,
  // and a socket shut down both ways reports a hang-up, which runs both directions).
  struct epoll_event event = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET | ((p->out_armed & 1) ? EPOLLOUT : 0),
                              .data.u64 = tag_of(p, p->a)};
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
  napi_value sealing;
  napi_get_boolean(env, sealing_available(), &sealing);
  napi_property_descriptor properties[] = {
      {"relay", NULL, relay, NULL, NULL, NULL, napi_default, NULL},
      {"abort", NULL, abort_pair, NULL, NULL, NULL, napi_default, NULL},
      {"bytes", NULL, bytes, NULL, NULL, NULL, napi_default, NULL},
      {"sealing", NULL, NULL, NULL, NULL, sealing, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, 4, properties);
  return exports;
}
