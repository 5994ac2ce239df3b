/* Unit tests: the bounded per-pool request queue (src/listener/pool_queue.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "listener/pool_queue.h"

typedef struct item {
    wasp_qlink_t link;
    int id;
} item_t;

static int id_of(wasp_qlink_t *l)
{
    return l ? ((item_t *)l)->id : -1;
}

static void test_fifo_order_and_bound(void **state)
{
    wasp_pool_queue_t q;
    item_t items[4] = {{.id = 0}, {.id = 1}, {.id = 2}, {.id = 3}};

    wasp_pool_queue_init(&q, 3);
    assert_int_equal(wasp_pool_queue_push(&q, &items[0].link, 0), 0);
    assert_int_equal(wasp_pool_queue_push(&q, &items[1].link, 0), 0);
    assert_int_equal(wasp_pool_queue_push(&q, &items[2].link, 0), 0);
    /* queueLength reached: the listener answers 503 QueueFull. */
    assert_int_equal(wasp_pool_queue_push(&q, &items[3].link, 0), -1);
    assert_int_equal(q.len, 3);
    assert_int_equal(id_of(wasp_pool_queue_pop(&q)), 0);
    assert_int_equal(id_of(wasp_pool_queue_pop(&q)), 1);
    assert_int_equal(wasp_pool_queue_push(&q, &items[3].link, 0), 0);
    assert_int_equal(id_of(wasp_pool_queue_pop(&q)), 2);
    assert_int_equal(id_of(wasp_pool_queue_pop(&q)), 3);
    assert_null(wasp_pool_queue_pop(&q));
    assert_int_equal(q.len, 0);
}

/* Requests a worker has credit for (it will take them once it has started
 * what it holds) wait beyond queueLength; only the rest count against it. */
static void test_promised_requests_do_not_count(void **state)
{
    wasp_pool_queue_t q;
    item_t items[4] = {{.id = 0}, {.id = 1}, {.id = 2}, {.id = 3}};

    (void)state;
    wasp_pool_queue_init(&q, 1);
    assert_int_equal(wasp_pool_queue_push(&q, &items[0].link, 2), 0);
    assert_int_equal(wasp_pool_queue_push(&q, &items[1].link, 2), 0);
    assert_int_equal(wasp_pool_queue_push(&q, &items[2].link, 2), 0);
    assert_int_equal(wasp_pool_queue_push(&q, &items[3].link, 2), -1);
    assert_int_equal(q.len, 3);
    assert_int_equal(id_of(wasp_pool_queue_pop(&q)), 0); /* still first in, first out */
}

static void test_push_front_requeues_first(void **state)
{
    wasp_pool_queue_t q;
    item_t a = {.id = 1}, b = {.id = 2}, c = {.id = 3};

    wasp_pool_queue_init(&q, 2);
    wasp_pool_queue_push(&q, &a.link, 0);
    wasp_pool_queue_push(&q, &b.link, 0);
    /* A request a dead worker never started goes back first, even over the
     * bound: it was admitted once already. */
    wasp_pool_queue_push_front(&q, &c.link);
    assert_int_equal(q.len, 3);
    assert_int_equal(id_of(wasp_pool_queue_pop(&q)), 3);
    assert_int_equal(id_of(wasp_pool_queue_pop(&q)), 1);
    assert_int_equal(id_of(wasp_pool_queue_pop(&q)), 2);
}

static void test_remove_from_middle_and_twice(void **state)
{
    wasp_pool_queue_t q;
    item_t a = {.id = 1}, b = {.id = 2}, c = {.id = 3};

    wasp_pool_queue_init(&q, 10);
    wasp_pool_queue_push(&q, &a.link, 0);
    wasp_pool_queue_push(&q, &b.link, 0);
    wasp_pool_queue_push(&q, &c.link, 0);
    wasp_pool_queue_remove(&q, &b.link);
    wasp_pool_queue_remove(&q, &b.link); /* client gone twice: harmless */
    assert_int_equal(q.len, 2);
    wasp_pool_queue_remove(&q, &c.link);
    assert_ptr_equal(q.tail, &a.link);
    assert_int_equal(id_of(wasp_pool_queue_pop(&q)), 1);
    assert_null(q.head);
    assert_null(q.tail);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_order_and_bound),
        cmocka_unit_test(test_promised_requests_do_not_count),
        cmocka_unit_test(test_push_front_requeues_first),
        cmocka_unit_test(test_remove_from_middle_and_twice),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
