/*
 * Event loop: epoll for descriptors, a binary min-heap for timers, signalfd
 * for signals.  One per process, single-threaded; every callback runs on the
 * loop.  Callbacks may add, modify and delete any registration, their own
 * included, and may cancel any timer.
 */
#ifndef WASP_LOOP_H
#define WASP_LOOP_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

typedef struct wasp_loop wasp_loop_t;
typedef struct wasp_ltimer wasp_ltimer_t;

typedef void (*wasp_io_cb)(wasp_loop_t *loop, int fd, uint32_t events, void *data);
typedef void (*wasp_timer_cb)(wasp_loop_t *loop, void *data);
typedef void (*wasp_signal_cb)(wasp_loop_t *loop, int signo, void *data);

wasp_loop_t *wasp_loop_new(void);
void wasp_loop_free(wasp_loop_t *loop);

/* events: EPOLLIN / EPOLLOUT (edge-triggered unless EPOLLET is left out by
 * the caller — registrations are level-triggered: simpler to get right). */
int wasp_loop_add(wasp_loop_t *loop, int fd, uint32_t events, wasp_io_cb cb, void *data);
int wasp_loop_mod(wasp_loop_t *loop, int fd, uint32_t events);
void wasp_loop_del(wasp_loop_t *loop, int fd);

/* One-shot timer in ms.  The handle is valid until it fires or is cancelled. */
wasp_ltimer_t *wasp_loop_timer(wasp_loop_t *loop, uint64_t ms, wasp_timer_cb cb, void *data);
void wasp_loop_timer_cancel(wasp_loop_t *loop, wasp_ltimer_t *t);

/* Block these signals and deliver them through the loop. */
int wasp_loop_signals(wasp_loop_t *loop, const int *signals, int count, wasp_signal_cb cb,
                      void *data);

/* Work deferred to the end of the current loop iteration, just before the
 * loop waits again: how channels gather every frame one iteration produces
 * into one write (one wake-up of the peer instead of one per frame).  The
 * node lives in the caller's object; deferring a queued node again is a
 * no-op, and an object that goes away must cancel its node first. */
typedef struct wasp_defer wasp_defer_t;
typedef void (*wasp_defer_cb)(wasp_loop_t *loop, void *data);
struct wasp_defer {
    wasp_defer_t *next;
    wasp_defer_cb cb;
    void *data;
    bool queued;
};

void wasp_loop_defer(wasp_loop_t *loop, wasp_defer_t *d, wasp_defer_cb cb, void *data);
void wasp_loop_defer_cancel(wasp_loop_t *loop, wasp_defer_t *d);

int wasp_loop_run(wasp_loop_t *loop);
void wasp_loop_stop(wasp_loop_t *loop);

/* Monotonic milliseconds. */
uint64_t wasp_now_ms(void);

#endif
