/*
 * Rendering of the counters (metrics_fmt.h).  OpenMetrics names follow its
 * rules: a counter family is named without "_total" and its sample with it;
 * a family with a unit ends in that unit and says so in "# UNIT".
 */
#include <stdbool.h>
#include <string.h>

#include "listener/metrics_fmt.h"

/* A name in a tab-separated line: tabs and line ends would split it. */
static void plain_name(wasp_buf_t *out, const char *s)
{
    for (; *s; s++) {
        char c = (*s == '\t' || *s == '\n' || *s == '\r') ? ' ' : *s;

        wasp_buf_append(out, &c, 1);
    }
}

void wasp_counters_lines(wasp_buf_t *out, const wasp_site_counters_t *sites, size_t nsites,
                         const wasp_queue_counters_t *queues, size_t nqueues,
                         const wasp_cache_counters_t *cache)
{
    for (size_t i = 0; i < nsites; i++) {
        const wasp_site_counters_t *s = &sites[i];
        uint64_t total = s->get_requests + s->post_requests + s->head_requests +
                         s->other_requests;

        wasp_buf_appendf(out, "site\t%u\t", s->id);
        plain_name(out, s->name);
        wasp_buf_appendf(out,
                         "\t%llu\tCurrentConnections=%llu\tMaximumConnections=%llu\t"
                         "TotalConnectionAttempts=%llu\tTotalBytesSent=%llu\t"
                         "TotalBytesReceived=%llu\tTotalGetRequests=%llu\tTotalPostRequests=%llu\t"
                         "TotalHeadRequests=%llu\tTotalOtherRequestMethods=%llu\t"
                         "TotalMethodRequests=%llu\tTotalNotFoundErrors=%llu\n",
                         (unsigned long long)s->uptime_s,
                         (unsigned long long)s->current_connections,
                         (unsigned long long)s->maximum_connections,
                         (unsigned long long)s->connection_attempts,
                         (unsigned long long)s->bytes_sent, (unsigned long long)s->bytes_received,
                         (unsigned long long)s->get_requests, (unsigned long long)s->post_requests,
                         (unsigned long long)s->head_requests,
                         (unsigned long long)s->other_requests, (unsigned long long)total,
                         (unsigned long long)s->not_found_errors);
    }
    for (size_t i = 0; i < nqueues; i++) {
        const wasp_queue_counters_t *q = &queues[i];

        wasp_buf_appendf(out, "queue\t");
        plain_name(out, q->name);
        wasp_buf_appendf(out,
                         "\t%llu\tCurrentQueueSize=%llu\tMaxQueueItemAge=%llu\t"
                         "TotalArrivals=%llu\tRejectedRequests=%llu\tTotalCacheHits=%llu\n",
                         (unsigned long long)q->uptime_s,
                         (unsigned long long)q->current_queue_size,
                         (unsigned long long)q->max_queue_item_age_ms,
                         (unsigned long long)q->arrivals, (unsigned long long)q->rejected,
                         (unsigned long long)q->cache_hits);
    }
    if (cache != NULL) {
        wasp_buf_appendf(out,
                         "cache\tCurrentUrisCached=%llu\tTotalUrisCached=%llu\tUriCacheHits=%llu\t"
                         "UriCacheMisses=%llu\tUriCacheFlushes=%llu\tTotalFlushedUris=%llu\t"
                         "CurrentCacheMemoryUsage=%llu\tMaximumCacheMemory=%llu\n",
                         (unsigned long long)cache->current_uris,
                         (unsigned long long)cache->total_uris, (unsigned long long)cache->hits,
                         (unsigned long long)cache->misses, (unsigned long long)cache->flushes,
                         (unsigned long long)cache->flushed_uris,
                         (unsigned long long)cache->bytes, (unsigned long long)cache->limit);
    }
}

void wasp_metrics_label_value(wasp_buf_t *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '\\': wasp_buf_append(out, "\\\\", 2); break;
        case '"': wasp_buf_append(out, "\\\"", 2); break;
        case '\n': wasp_buf_append(out, "\\n", 2); break;
        default: wasp_buf_append(out, s, 1); break;
        }
    }
}

/* "# TYPE", "# UNIT" (when unit is not NULL) and "# HELP" of a family. */
static void family(wasp_buf_t *out, const char *name, const char *type, const char *unit,
                   const char *help)
{
    wasp_buf_appendf(out, "# TYPE %s %s\n", name, type);
    if (unit != NULL) {
        wasp_buf_appendf(out, "# UNIT %s %s\n", name, unit);
    }
    wasp_buf_appendf(out, "# HELP %s %s\n", name, help);
}

/* name{label="value"[,method="..."]} value */
static void sample(wasp_buf_t *out, const char *name, const char *suffix, const char *label,
                   const char *value, const char *method, uint64_t v)
{
    wasp_buf_appendf(out, "%s%s{%s=\"", name, suffix, label);
    wasp_metrics_label_value(out, value);
    if (method != NULL) {
        wasp_buf_appendf(out, "\",method=\"%s", method);
    }
    wasp_buf_appendf(out, "\"} %llu\n", (unsigned long long)v);
}

typedef struct site_metric {
    const char *name, *type, *unit, *help;
    size_t offset;
} site_metric_t;

#define SITE_FIELD(f) offsetof(wasp_site_counters_t, f)

static const site_metric_t site_metrics[] = {
    { "wasp_site_current_connections", "gauge", NULL,
      "Connections open now (Web Service\\CurrentConnections)", SITE_FIELD(current_connections) },
    { "wasp_site_maximum_connections", "gauge", NULL,
      "Most connections open at once (Web Service\\MaximumConnections)",
      SITE_FIELD(maximum_connections) },
    { "wasp_site_connection_attempts", "counter", NULL,
      "Connections that reached the site (Web Service\\TotalConnectionAttempts)",
      SITE_FIELD(connection_attempts) },
    { "wasp_site_sent_bytes", "counter", "bytes",
      "Response bytes written, headers included (Web Service\\TotalBytesSent)",
      SITE_FIELD(bytes_sent) },
    { "wasp_site_received_bytes", "counter", "bytes",
      "Request bytes read, headers included (Web Service\\TotalBytesReceived)",
      SITE_FIELD(bytes_received) },
    { "wasp_site_not_found_errors", "counter", NULL,
      "Responses with status 404 (Web Service\\TotalNotFoundErrors)",
      SITE_FIELD(not_found_errors) },
    { "wasp_site_uptime_seconds", "gauge", "seconds",
      "Seconds since the listener started serving the site (Web Service\\ServiceUptime)",
      SITE_FIELD(uptime_s) },
};

typedef struct queue_metric {
    const char *name, *type, *unit, *help;
    size_t offset;
} queue_metric_t;

#define QUEUE_FIELD(f) offsetof(wasp_queue_counters_t, f)

static const queue_metric_t queue_metrics[] = {
    { "wasp_queue_current_size", "gauge", NULL,
      "Requests waiting for a worker (HTTP Service Request Queues\\CurrentQueueSize)",
      QUEUE_FIELD(current_queue_size) },
    { "wasp_queue_arrivals", "counter", NULL,
      "Requests that reached the pool; rate() gives HTTP Service Request Queues\\ArrivalRate",
      QUEUE_FIELD(arrivals) },
    { "wasp_queue_rejected_requests", "counter", NULL,
      "Requests refused with 503 (HTTP Service Request Queues\\RejectedRequests)",
      QUEUE_FIELD(rejected) },
    { "wasp_queue_cache_hits", "counter", NULL,
      "Requests answered from the response cache; rate() gives HTTP Service Request "
      "Queues\\CacheHitRate", QUEUE_FIELD(cache_hits) },
};

typedef struct cache_metric {
    const char *name, *type, *unit, *help;
    size_t offset;
} cache_metric_t;

#define CACHE_FIELD(f) offsetof(wasp_cache_counters_t, f)

static const cache_metric_t cache_metrics[] = {
    { "wasp_cache_current_uris", "gauge", NULL,
      "Responses in the cache now (Web Service Cache\\Kernel: Current URIs Cached)",
      CACHE_FIELD(current_uris) },
    { "wasp_cache_stored_uris", "counter", NULL,
      "Responses ever stored (Web Service Cache\\Kernel: Total URIs Cached)",
      CACHE_FIELD(total_uris) },
    { "wasp_cache_hits", "counter", NULL,
      "Requests answered from the cache (Web Service Cache\\Kernel: URI Cache Hits)",
      CACHE_FIELD(hits) },
    { "wasp_cache_misses", "counter", NULL,
      "Cache-eligible requests sent to a worker (Web Service Cache\\Kernel: URI Cache Misses)",
      CACHE_FIELD(misses) },
    { "wasp_cache_flushes", "counter", NULL,
      "Whole-cache flushes by a configuration change (Web Service Cache\\Kernel: URI Cache "
      "Flushes)", CACHE_FIELD(flushes) },
    { "wasp_cache_flushed_uris", "counter", NULL,
      "Responses removed for any reason (Web Service Cache\\Kernel: Total Flushed URIs)",
      CACHE_FIELD(flushed_uris) },
    { "wasp_cache_memory_bytes", "gauge", "bytes",
      "Memory the cached responses hold (Web Service Cache\\Current File Cache Memory Usage)",
      CACHE_FIELD(bytes) },
    { "wasp_cache_memory_limit_bytes", "gauge", "bytes",
      "The bound on that memory: caching/@maxCacheSize, or the automatic one",
      CACHE_FIELD(limit) },
};

static uint64_t field_u64(const void *obj, size_t offset)
{
    uint64_t v;

    memcpy(&v, (const char *)obj + offset, sizeof(v));
    return v;
}

void wasp_metrics_openmetrics(wasp_buf_t *out, const wasp_site_counters_t *sites, size_t nsites,
                              const wasp_queue_counters_t *queues, size_t nqueues,
                              const wasp_cache_counters_t *cache)
{
    static const char *const verbs[] = { "GET", "POST", "HEAD", "other" };

    for (size_t m = 0; m < sizeof(site_metrics) / sizeof(site_metrics[0]); m++) {
        const site_metric_t *sm = &site_metrics[m];
        bool counter = strcmp(sm->type, "counter") == 0;

        family(out, sm->name, sm->type, sm->unit, sm->help);
        for (size_t i = 0; i < nsites; i++) {
            sample(out, sm->name, counter ? "_total" : "", "site", sites[i].name, NULL,
                   field_u64(&sites[i], sm->offset));
        }
    }
    family(out, "wasp_site_requests", "counter", NULL,
           "Requests answered, by method (Web Service\\TotalGetRequests, TotalPostRequests, "
           "TotalHeadRequests, TotalOtherRequestMethods)");
    for (size_t i = 0; i < nsites; i++) {
        const uint64_t v[] = { sites[i].get_requests, sites[i].post_requests,
                               sites[i].head_requests, sites[i].other_requests };

        for (size_t k = 0; k < 4; k++) {
            sample(out, "wasp_site_requests", "_total", "site", sites[i].name, verbs[k], v[k]);
        }
    }
    for (size_t m = 0; m < sizeof(queue_metrics) / sizeof(queue_metrics[0]); m++) {
        const queue_metric_t *qm = &queue_metrics[m];
        bool counter = strcmp(qm->type, "counter") == 0;

        family(out, qm->name, qm->type, qm->unit, qm->help);
        for (size_t i = 0; i < nqueues; i++) {
            sample(out, qm->name, counter ? "_total" : "", "app_pool", queues[i].name, NULL,
                   field_u64(&queues[i], qm->offset));
        }
    }
    /* Milliseconds inside, seconds outside: OpenMetrics' base unit. */
    family(out, "wasp_queue_max_item_age_seconds", "gauge", "seconds",
           "Age of the oldest waiting request (HTTP Service Request Queues\\MaxQueueItemAge)");
    for (size_t i = 0; i < nqueues; i++) {
        wasp_buf_appendf(out, "wasp_queue_max_item_age_seconds{app_pool=\"");
        wasp_metrics_label_value(out, queues[i].name);
        wasp_buf_appendf(out, "\"} %llu.%03u\n",
                         (unsigned long long)(queues[i].max_queue_item_age_ms / 1000),
                         (unsigned)(queues[i].max_queue_item_age_ms % 1000));
    }
    for (size_t m = 0; cache != NULL && m < sizeof(cache_metrics) / sizeof(cache_metrics[0]);
         m++) {
        const cache_metric_t *cm = &cache_metrics[m];
        bool counter = strcmp(cm->type, "counter") == 0;

        family(out, cm->name, cm->type, cm->unit, cm->help);
        wasp_buf_appendf(out, "%s%s %llu\n", cm->name, counter ? "_total" : "",
                         (unsigned long long)field_u64(cache, cm->offset));
    }
    wasp_buf_appendf(out, "# EOF\n");
}
