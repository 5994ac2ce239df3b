/*
 * The bounded request queue of one application pool (HTTP.sys' request
 * queue).  An intrusive FIFO: requests carry their own link, so queueing
 * never allocates and a request can leave the queue from anywhere (client
 * gone) in O(1).  The bound is the pool's queueLength; push_front (a request
 * handed back by a worker that died before starting it) may exceed it, since
 * that request was already admitted once.
 */
#ifndef WASP_POOL_QUEUE_H
#define WASP_POOL_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct wasp_qlink {
    struct wasp_qlink *prev, *next;
    bool queued;
} wasp_qlink_t;

typedef struct wasp_pool_queue {
    wasp_qlink_t *head, *tail;
    size_t len;
    size_t limit; /* queueLength */
} wasp_pool_queue_t;

void wasp_pool_queue_init(wasp_pool_queue_t *q, size_t limit);
/* 0, or -1 when the queue is full (caller answers 503 QueueFull).
 * promised: how many queued requests workers have credit for and will
 * take as soon as they say STARTED for what they hold (the prefetch
 * bound): those wait for a worker that has room, not in the queue, and do
 * not count against queueLength. */
int wasp_pool_queue_push(wasp_pool_queue_t *q, wasp_qlink_t *l, size_t promised);
void wasp_pool_queue_push_front(wasp_pool_queue_t *q, wasp_qlink_t *l);
wasp_qlink_t *wasp_pool_queue_pop(wasp_pool_queue_t *q);
void wasp_pool_queue_remove(wasp_pool_queue_t *q, wasp_qlink_t *l);

#endif
