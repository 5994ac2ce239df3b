/* The counters' renderings (src/listener/metrics_fmt.c): OpenMetrics text
 * and the control-socket lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "listener/metrics_fmt.h"

static char *text(wasp_buf_t *b)
{
    wasp_buf_append(b, "", 1);
    return wasp_buf_ptr(b);
}

static void test_label_escaping(void **state)
{
    wasp_buf_t b = {0};

    wasp_metrics_label_value(&b, "a\\b\"c\nd");
    assert_string_equal(text(&b), "a\\\\b\\\"c\\nd");
    wasp_buf_free(&b);
}

static void test_openmetrics(void **state)
{
    wasp_site_counters_t s = { .id = 1, .name = "My \"Site\"", .get_requests = 3,
                               .post_requests = 1, .bytes_sent = 1234, .not_found_errors = 2,
                               .current_connections = 1, .uptime_s = 7 };
    wasp_queue_counters_t q = { .name = "Pool\\1", .arrivals = 4, .rejected = 1,
                                .max_queue_item_age_ms = 1500, .cache_hits = 9 };
    wasp_cache_counters_t c = { .current_uris = 2, .hits = 9, .bytes = 4096, .flushes = 1 };
    wasp_buf_t b = {0};
    char *t;

    wasp_metrics_openmetrics(&b, &s, 1, &q, 1, &c);
    t = text(&b);
    assert_non_null(strstr(t, "# TYPE wasp_site_sent_bytes counter\n"
                              "# UNIT wasp_site_sent_bytes bytes\n"));
    assert_non_null(strstr(t, "\nwasp_site_sent_bytes_total{site=\"My \\\"Site\\\"\"} 1234\n"));
    assert_non_null(strstr(t, "\nwasp_site_requests_total{site=\"My \\\"Site\\\"\",method=\"GET\"} 3\n"));
    assert_non_null(strstr(t, "\nwasp_site_requests_total{site=\"My \\\"Site\\\"\",method=\"POST\"} 1\n"));
    assert_non_null(strstr(t, "\nwasp_site_not_found_errors_total{site=\"My \\\"Site\\\"\"} 2\n"));
    /* gauges carry no _total */
    assert_non_null(strstr(t, "\nwasp_site_current_connections{site=\"My \\\"Site\\\"\"} 1\n"));
    assert_non_null(strstr(t, "\nwasp_queue_arrivals_total{app_pool=\"Pool\\\\1\"} 4\n"));
    assert_non_null(strstr(t, "\nwasp_queue_max_item_age_seconds{app_pool=\"Pool\\\\1\"} 1.500\n"));
    assert_non_null(strstr(t, "# HELP wasp_queue_rejected_requests "));
    assert_non_null(strstr(t, "\nwasp_queue_cache_hits_total{app_pool=\"Pool\\\\1\"} 9\n"));
    /* the response cache: one sample per family, no labels */
    assert_non_null(strstr(t, "\nwasp_cache_current_uris 2\n"));
    assert_non_null(strstr(t, "\nwasp_cache_hits_total 9\n"));
    assert_non_null(strstr(t, "\nwasp_cache_flushes_total 1\n"));
    assert_non_null(strstr(t, "# UNIT wasp_cache_memory_bytes bytes\n"));
    assert_non_null(strstr(t, "\nwasp_cache_memory_bytes 4096\n"));
    /* the exposition ends with # EOF and nothing after it */
    assert_int_equal(strcmp(t + strlen(t) - 6, "# EOF\n"), 0);
    wasp_buf_free(&b);
}

static void test_lines(void **state)
{
    wasp_site_counters_t s = { .id = 2, .name = "tab\there", .head_requests = 2,
                               .other_requests = 1 };
    wasp_queue_counters_t q = { .name = "P", .current_queue_size = 3, .cache_hits = 5 };
    wasp_cache_counters_t c = { .current_uris = 1, .total_uris = 4, .hits = 5, .misses = 6,
                                .flushes = 2, .flushed_uris = 3, .bytes = 100, .limit = 200 };
    wasp_buf_t b = {0};
    char *t;

    wasp_counters_lines(&b, &s, 1, &q, 1, &c);
    t = text(&b);
    /* a tab in a name must not add a field */
    assert_non_null(strstr(t, "site\t2\ttab here\t0\tCurrentConnections=0\t"));
    assert_non_null(strstr(t, "\tTotalHeadRequests=2\tTotalOtherRequestMethods=1\t"
                              "TotalMethodRequests=3\t"));
    assert_non_null(strstr(t, "queue\tP\t0\tCurrentQueueSize=3\t"));
    assert_non_null(strstr(t, "\tTotalCacheHits=5\n"));
    assert_non_null(strstr(t, "cache\tCurrentUrisCached=1\tTotalUrisCached=4\tUriCacheHits=5\t"
                              "UriCacheMisses=6\tUriCacheFlushes=2\tTotalFlushedUris=3\t"
                              "CurrentCacheMemoryUsage=100\tMaximumCacheMemory=200\n"));
    wasp_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_escaping),
        cmocka_unit_test(test_openmetrics),
        cmocka_unit_test(test_lines),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
