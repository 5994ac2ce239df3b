/* Bounded intrusive FIFO per application pool (see pool_queue.h). */
#include "listener/pool_queue.h"

void wasp_pool_queue_init(wasp_pool_queue_t *q, size_t limit)
{
    q->head = q->tail = NULL;
    q->len = 0;
    q->limit = limit;
}

int wasp_pool_queue_push(wasp_pool_queue_t *q, wasp_qlink_t *l, size_t promised)
{
    if (q->len >= q->limit + promised) {
        return -1;
    }
    l->next = NULL;
    l->prev = q->tail;
    if (q->tail != NULL) {
        q->tail->next = l;
    } else {
        q->head = l;
    }
    q->tail = l;
    q->len++;
    l->queued = true;
    return 0;
}

void wasp_pool_queue_push_front(wasp_pool_queue_t *q, wasp_qlink_t *l)
{
    l->prev = NULL;
    l->next = q->head;
    if (q->head != NULL) {
        q->head->prev = l;
    } else {
        q->tail = l;
    }
    q->head = l;
    q->len++;
    l->queued = true;
}

void wasp_pool_queue_remove(wasp_pool_queue_t *q, wasp_qlink_t *l)
{
    if (!l->queued) {
        return;
    }
    if (l->prev != NULL) {
        l->prev->next = l->next;
    } else {
        q->head = l->next;
    }
    if (l->next != NULL) {
        l->next->prev = l->prev;
    } else {
        q->tail = l->prev;
    }
    l->prev = l->next = NULL;
    l->queued = false;
    q->len--;
}

wasp_qlink_t *wasp_pool_queue_pop(wasp_pool_queue_t *q)
{
    wasp_qlink_t *l = q->head;

    if (l != NULL) {
        wasp_pool_queue_remove(q, l);
    }
    return l;
}
