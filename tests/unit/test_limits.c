/*
 * Unit tests for the listener's limits bookkeeping (src/listener/limits.c):
 * timer defaults, per-site connection counts (maxConnections) and the
 * bandwidth buckets (maxBandwidth, maxGlobalBandwidth).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "listener/limits.h"

static void zero_timeouts_mean_two_minutes(void **state)
{
    (void)state;
    lsn_limits_set(0, 0, 240, LSN_UNLIMITED, LSN_UNLIMITED);
    assert_int_equal(lsn_limits.idle_ms, 120000);
    assert_int_equal(lsn_limits.header_wait_ms, 120000);
    lsn_limits_set(5, 7, 0, LSN_UNLIMITED, 2048);
    assert_int_equal(lsn_limits.idle_ms, 5000);
    assert_int_equal(lsn_limits.header_wait_ms, 7000);
    assert_int_equal(lsn_limits.min_send_rate, 0);
    assert_int_equal(lsn_limits.max_connections, 2048);
}

static void site_connections_are_counted_per_site(void **state)
{
    (void)state;
    assert_true(lsn_limits_site_enter(10, 2));
    assert_true(lsn_limits_site_enter(10, 2));
    assert_false(lsn_limits_site_enter(10, 2)); /* the third: 503 ConnLimit */
    assert_true(lsn_limits_site_enter(11, 2));  /* another site has its own count */
    lsn_limits_site_leave(10);
    assert_true(lsn_limits_site_enter(10, 2));
    assert_false(lsn_limits_site_enter(10, 2));
    for (int i = 0; i < 1000; i++) {
        assert_true(lsn_limits_site_enter(12, LSN_UNLIMITED));
    }
    lsn_limits_site_leave(10);
    lsn_limits_site_leave(10);
    lsn_limits_site_leave(10); /* more leaves than enters stay at zero */
    assert_true(lsn_limits_site_enter(10, 1));
    assert_false(lsn_limits_site_enter(10, 1));
}

static void bandwidth_bucket_paces_the_rate(void **state)
{
    uint64_t sent = 0;

    (void)state;
    lsn_limits_set(0, 0, 240, LSN_UNLIMITED, LSN_UNLIMITED);
    assert_true(lsn_limits_bw_allow(20, LSN_UNLIMITED, 1000) == UINT64_MAX);
    /* 100000 B/s: a quarter second at once, then the rate. */
    assert_int_equal(lsn_limits_bw_allow(20, 100000, 1000), 25000);
    lsn_limits_bw_charge(20, 100000, 25000);
    assert_int_equal(lsn_limits_bw_allow(20, 100000, 1000), 0);
    assert_int_equal(lsn_limits_bw_allow(20, 100000, 1010), 1000);
    /* Over 10 s of steady sending, no more than rate * 10 + burst. */
    for (uint64_t t = 1010; t <= 11010; t += 7) {
        uint64_t n = lsn_limits_bw_allow(20, 100000, t);

        lsn_limits_bw_charge(20, 100000, n);
        sent += n;
    }
    assert_true(sent <= 100000 * 10 + 1000);
    assert_true(sent >= 100000 * 10 - 100000 / 10); /* and not much less */
    /* A quiet spell refills no more than the burst. */
    assert_int_equal(lsn_limits_bw_allow(20, 100000, 60000), 25000);
}

static void global_bandwidth_caps_every_site(void **state)
{
    (void)state;
    lsn_limits_set(0, 0, 240, 4096, LSN_UNLIMITED);
    assert_int_equal(lsn_limits_bw_allow(30, LSN_UNLIMITED, 5000), 1024);
    lsn_limits_bw_charge(30, LSN_UNLIMITED, 1024);
    assert_int_equal(lsn_limits_bw_allow(31, 1000000, 5000), 0); /* shared */
    lsn_limits_set(0, 0, 240, LSN_UNLIMITED, LSN_UNLIMITED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(zero_timeouts_mean_two_minutes),
        cmocka_unit_test(site_connections_are_counted_per_site),
        cmocka_unit_test(bandwidth_bucket_paces_the_rate),
        cmocka_unit_test(global_bandwidth_caps_every_site),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
