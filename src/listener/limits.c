/*
 * Connection limits and bandwidth buckets (limits.h).  A bucket holds at
 * most a quarter second of its rate, so a burst after a quiet spell stays
 * short and the long-run rate is the configured one.
 */
#include "listener/limits.h"

#include <stdlib.h>

#define LIMITS_DEFAULT_MS 120000u /* HTTP.sys' timer default, 2 minutes */
#define LIMITS_BURST_DIV 4u       /* bucket size: rate / 4 (250 ms) */

lsn_limits_t lsn_limits = {
    .idle_ms = LIMITS_DEFAULT_MS,
    .header_wait_ms = LIMITS_DEFAULT_MS,
    .min_send_rate = 240,
    .max_global_bandwidth = LSN_UNLIMITED,
    .max_connections = LSN_UNLIMITED,
};

typedef struct limits_bucket {
    uint64_t tokens;
    uint64_t last_ms;
    bool primed;
} limits_bucket_t;

typedef struct limits_site {
    uint32_t id;
    uint32_t conns;
    limits_bucket_t bw;
} limits_site_t;

/* Sites are few and stable: a small array, found by id.  Entries stay
 * when a site goes away from the configuration (its connections still
 * leave through it). */
static limits_site_t *sites;
static size_t site_count, site_cap;
static limits_bucket_t global_bw;

void lsn_limits_set(uint32_t idle_s, uint32_t header_wait_s, uint32_t min_send_rate,
                    uint32_t max_global_bandwidth, uint32_t max_connections)
{
    lsn_limits.idle_ms = idle_s ? idle_s * 1000u : LIMITS_DEFAULT_MS;
    lsn_limits.header_wait_ms = header_wait_s ? header_wait_s * 1000u : LIMITS_DEFAULT_MS;
    lsn_limits.min_send_rate = min_send_rate;
    lsn_limits.max_global_bandwidth = max_global_bandwidth;
    lsn_limits.max_connections = max_connections;
}

static limits_site_t *limits_site(uint32_t id)
{
    for (size_t i = 0; i < site_count; i++) {
        if (sites[i].id == id) {
            return &sites[i];
        }
    }
    if (site_count == site_cap) {
        size_t cap = site_cap ? site_cap * 2 : 16;
        limits_site_t *p = realloc(sites, cap * sizeof(*p));

        if (p == NULL) {
            return NULL;
        }
        sites = p;
        site_cap = cap;
    }
    sites[site_count] = (limits_site_t){.id = id};
    return &sites[site_count++];
}

bool lsn_limits_site_enter(uint32_t site_id, uint32_t max)
{
    limits_site_t *s = limits_site(site_id);

    if (s == NULL) {
        return max == LSN_UNLIMITED; /* out of memory: refuse only under a limit */
    }
    if (max != LSN_UNLIMITED && s->conns >= max) {
        return false;
    }
    s->conns++;
    return true;
}

void lsn_limits_site_leave(uint32_t site_id)
{
    limits_site_t *s = limits_site(site_id);

    if (s != NULL && s->conns > 0) {
        s->conns--;
    }
}

static uint64_t bucket_fill(limits_bucket_t *b, uint32_t rate, uint64_t now_ms)
{
    uint64_t cap = rate / LIMITS_BURST_DIV;

    if (!b->primed) {
        b->tokens = cap;
        b->primed = true;
        b->last_ms = now_ms;
    } else if (now_ms > b->last_ms) {
        b->tokens += (now_ms - b->last_ms) * rate / 1000u;
        b->last_ms = now_ms;
    }
    if (b->tokens > cap) {
        b->tokens = cap;
    }
    return b->tokens;
}

static void bucket_take(limits_bucket_t *b, uint64_t n)
{
    b->tokens = n < b->tokens ? b->tokens - n : 0;
}

uint64_t lsn_limits_bw_allow(uint32_t site_id, uint32_t rate, uint64_t now_ms)
{
    uint64_t allow = UINT64_MAX;

    if (rate != LSN_UNLIMITED && rate != 0) {
        limits_site_t *s = limits_site(site_id);

        if (s != NULL) {
            allow = bucket_fill(&s->bw, rate, now_ms);
        }
    }
    if (lsn_limits.max_global_bandwidth != LSN_UNLIMITED) {
        uint64_t g = bucket_fill(&global_bw, lsn_limits.max_global_bandwidth, now_ms);

        allow = g < allow ? g : allow;
    }
    return allow;
}

void lsn_limits_bw_charge(uint32_t site_id, uint32_t rate, uint64_t n)
{
    if (rate != LSN_UNLIMITED && rate != 0) {
        limits_site_t *s = limits_site(site_id);

        if (s != NULL) {
            bucket_take(&s->bw, n);
        }
    }
    if (lsn_limits.max_global_bandwidth != LSN_UNLIMITED) {
        bucket_take(&global_bw, n);
    }
}
