/*
 * IIS' performance counters as wasp keeps them, and their two renderings:
 * the tab-separated lines the listener sends waspd for `waspctl list
 * counters`, and the OpenMetrics text served at /metrics on the admin
 * binding.  Pure formatting (no listener state), so unit tests check it.
 */
#ifndef WASP_METRICS_FMT_H
#define WASP_METRICS_FMT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* One site: IIS' "Web Service" counter set. */
typedef struct wasp_site_counters {
    uint32_t id;
    char name[256];
    uint64_t current_connections;
    uint64_t maximum_connections;
    uint64_t connection_attempts;
    uint64_t bytes_sent;
    uint64_t bytes_received;
    uint64_t get_requests, post_requests, head_requests, other_requests;
    uint64_t not_found_errors; /* 404 */
    uint64_t uptime_s;         /* ServiceUptime: since the listener knew the site */
} wasp_site_counters_t;

/* One application pool: IIS' "HTTP Service Request Queues" counter set. */
typedef struct wasp_queue_counters {
    char name[256];
    uint64_t current_queue_size;
    uint64_t max_queue_item_age_ms; /* the oldest request waiting now */
    uint64_t arrivals;              /* ArrivalRate's total */
    uint64_t rejected;              /* RejectedRequests (and RejectionRate's total) */
    uint64_t cache_hits;            /* CacheHitRate's total: answered from the response cache */
    uint64_t uptime_s;              /* since the listener knew the pool */
} wasp_queue_counters_t;

/* The response cache: IIS' "Web Service Cache" set, its kernel (URI cache)
 * counters. */
typedef struct wasp_cache_counters {
    uint64_t current_uris;  /* CurrentUrisCached */
    uint64_t total_uris;    /* TotalUrisCached */
    uint64_t hits;          /* UriCacheHits */
    uint64_t misses;        /* UriCacheMisses */
    uint64_t flushes;       /* UriCacheFlushes (whole-cache flushes) */
    uint64_t flushed_uris;  /* TotalFlushedUris */
    uint64_t bytes;         /* CurrentCacheMemoryUsage */
    uint64_t limit;         /* MaximumCacheMemory: the bound in force */
} wasp_cache_counters_t;

/* Lines for waspd (ctl_proto.h, "counters"):
 *   site <id> <name> <uptime-s> key=value...
 *   queue <name> <uptime-s> key=value...
 *   cache key=value...            (when cache is not NULL)
 * Keys are IIS' counter names; rates are left to the reader. */
void wasp_counters_lines(wasp_buf_t *out, const wasp_site_counters_t *sites, size_t nsites,
                         const wasp_queue_counters_t *queues, size_t nqueues,
                         const wasp_cache_counters_t *cache);

/* OpenMetrics 1.0 text, "# EOF" included (cache: NULL for none). */
void wasp_metrics_openmetrics(wasp_buf_t *out, const wasp_site_counters_t *sites, size_t nsites,
                              const wasp_queue_counters_t *queues, size_t nqueues,
                              const wasp_cache_counters_t *cache);

/* A label value as OpenMetrics writes it: \ " and newline escaped. */
void wasp_metrics_label_value(wasp_buf_t *out, const char *s);

#define WASP_METRICS_CONTENT_TYPE "application/openmetrics-text; version=1.0.0; charset=utf-8"

#endif
