/*
 * The listener's counters (counters.h).  Site counters live in a small table
 * keyed by site id, kept across configuration pushes (a counter must not
 * drop to zero because a binding changed); pool counters are fields of the
 * pool (listener.h) since the pool already lives as long as they should.
 * Everything runs on the listener's loop: no atomics needed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listener/cache.h"
#include "listener/counters.h"
#include "listener/listener.h"
#include "listener/metrics_fmt.h"

typedef struct site_state {
    uint32_t id;
    uint64_t since_ms;
    wasp_site_counters_t c; /* name and uptime are filled when read */
} site_state_t;

static site_state_t *sites;
static size_t site_count;

static site_state_t *site_get(uint32_t id)
{
    site_state_t *p;

    for (size_t i = 0; i < site_count; i++) {
        if (sites[i].id == id) {
            return &sites[i];
        }
    }
    p = realloc(sites, (site_count + 1) * sizeof(*p));
    if (p == NULL) {
        return NULL;
    }
    sites = p;
    p = &sites[site_count++];
    memset(p, 0, sizeof(*p));
    p->id = id;
    p->since_ms = wasp_now_ms();
    return p;
}

void lsn_counters_site_known(uint32_t site_id)
{
    site_get(site_id);
}

void lsn_counters_conn_site(uint32_t *conn_site, uint32_t site_id)
{
    site_state_t *s;

    if (*conn_site == site_id) {
        return;
    }
    if (*conn_site != 0) {
        lsn_counters_conn_closed(*conn_site);
    }
    s = site_get(site_id);
    *conn_site = site_id;
    if (s == NULL) {
        return;
    }
    s->c.connection_attempts++;
    s->c.current_connections++;
    if (s->c.current_connections > s->c.maximum_connections) {
        s->c.maximum_connections = s->c.current_connections;
    }
}

void lsn_counters_conn_closed(uint32_t conn_site)
{
    site_state_t *s = conn_site != 0 ? site_get(conn_site) : NULL;

    if (s != NULL && s->c.current_connections > 0) {
        s->c.current_connections--;
    }
}

void lsn_counters_request(const lsn_request_t *req)
{
    site_state_t *s = site_get(req->log.site_id);
    wasp_dec_t d;
    const char *m;
    size_t ml;

    if (s == NULL) {
        return;
    }
    /* The method is the second field of the encoded REQ_HEAD (conn_request.c). */
    wasp_dec_init(&d, wasp_buf_ptr(&req->head.buf), wasp_buf_size(&req->head.buf));
    wasp_dec_u32(&d);
    m = wasp_dec_str(&d, &ml);
    if (!d.error && ml == 3 && memcmp(m, "GET", 3) == 0) {
        s->c.get_requests++;
    } else if (!d.error && ml == 4 && memcmp(m, "POST", 4) == 0) {
        s->c.post_requests++;
    } else if (!d.error && ml == 4 && memcmp(m, "HEAD", 4) == 0) {
        s->c.head_requests++;
    } else {
        s->c.other_requests++;
    }
    if (req->log.status == 404) {
        s->c.not_found_errors++;
    }
    s->c.bytes_sent += req->log.sc_bytes;
    s->c.bytes_received += req->log.cs_bytes;
}

/* A snapshot of every configured site and pool; the arrays are the
 * caller's to free. */
static void snapshot(wasp_site_counters_t **sv, size_t *sn, wasp_queue_counters_t **qv, size_t *qn)
{
    size_t nconf, npools;
    const lsn_site_t *conf = lsn_route_sites(&nconf);
    lsn_pool_t **pools = lsn_pools(&npools);
    uint64_t now = wasp_now_ms();

    *sn = *qn = 0;
    *sv = calloc(nconf ? nconf : 1, sizeof(**sv));
    *qv = calloc(npools ? npools : 1, sizeof(**qv));
    if (*sv == NULL || *qv == NULL) {
        return;
    }
    for (size_t i = 0; i < nconf; i++) {
        site_state_t *s = site_get(conf[i].id);
        wasp_site_counters_t *o = &(*sv)[(*sn)++];

        if (s != NULL) {
            *o = s->c;
            o->uptime_s = (now - s->since_ms) / 1000;
        }
        o->id = conf[i].id;
        snprintf(o->name, sizeof(o->name), "%s", conf[i].name);
    }
    for (size_t i = 0; i < npools; i++) {
        const lsn_pool_t *p = pools[i];
        wasp_queue_counters_t *o;

        if (p->removed) {
            continue;
        }
        o = &(*qv)[(*qn)++];
        snprintf(o->name, sizeof(o->name), "%s", p->name);
        o->current_queue_size = p->queue.len;
        if (p->queue.head != NULL) {
            o->max_queue_item_age_ms = now - ((const lsn_request_t *)p->queue.head)->submit_ms;
        }
        o->arrivals = p->arrivals;
        o->rejected = p->rejected;
        o->cache_hits = p->cache_hits;
        o->uptime_s = (now - p->created_ms) / 1000;
    }
}

/* The response cache's counters (cache.c). */
static const wasp_cache_counters_t *cache_snapshot(wasp_cache_counters_t *c)
{
    lsn_cache_get_stats(c);
    return c;
}

void lsn_counters_lines(wasp_buf_t *out)
{
    wasp_cache_counters_t cache;
    wasp_site_counters_t *sv;
    wasp_queue_counters_t *qv;
    size_t sn, qn;

    snapshot(&sv, &sn, &qv, &qn);
    wasp_counters_lines(out, sv, sn, qv, qn, cache_snapshot(&cache));
    free(sv);
    free(qv);
}

void lsn_counters_openmetrics(wasp_buf_t *out)
{
    wasp_cache_counters_t cache;
    wasp_site_counters_t *sv;
    wasp_queue_counters_t *qv;
    size_t sn, qn;

    snapshot(&sv, &sn, &qv, &qn);
    wasp_metrics_openmetrics(out, sv, sn, qv, qn, cache_snapshot(&cache));
    free(sv);
    free(qv);
}
