/*
 * Routing: (local address, port, Host) → site, then the longest application
 * path → pool.  The precedence follows HTTP.sys' URL-prefix categories as IIS
 * bindings use them (iis-hosting.md 2.2 and 4.3): a binding naming the Host
 * beats one that does not; among equals, a binding to the connection's own IP
 * beats "*".  No binding → 400 Invalid Hostname (the caller's job).
 *
 * Tables are small (a few sites per machine), so a linear scan over compact
 * arrays beats any index.  Each configuration push builds a new table aside
 * (lsn_route_begin / add / commit) and switches to it at once: a request is
 * routed by the old table or the new one, never by half of one.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "listener/counters.h"
#include "listener/listener.h"

typedef struct route_table {
    lsn_site_t *sites;
    size_t site_count;
    lsn_binding_t *bindings;
    size_t binding_count;
    lsn_app_t *apps;
    size_t app_count;
} route_table_t;

static route_table_t live, next;

static void route_table_free(route_table_t *t)
{
    free(t->sites);
    free(t->bindings);
    free(t->apps);
    memset(t, 0, sizeof(*t));
}

void lsn_route_begin(void)
{
    route_table_free(&next);
}

void lsn_route_commit(void)
{
    route_table_free(&live);
    live = next;
    memset(&next, 0, sizeof(next));
}

static void *route_grow(void *p, size_t count, size_t size)
{
    /* Grow by one: configuration pushes are rare and tables are tiny. */
    return realloc(p, (count + 1) * size);
}

int lsn_route_add_site(uint32_t id, const char *name, bool started, uint32_t timeout_ms,
                       uint32_t max_connections, uint32_t max_bandwidth)
{
    lsn_site_t *p = route_grow(next.sites, next.site_count, sizeof(*p));

    if (p == NULL) {
        return -1;
    }
    next.sites = p;
    p = &next.sites[next.site_count++];
    memset(p, 0, sizeof(*p));
    p->id = id;
    strncpy(p->name, name, sizeof(p->name) - 1);
    lsn_counters_site_known(id);
    p->started = started;
    /* connectionTimeout 0 means "the default" for HTTP.sys' timers: 2 min. */
    p->connection_timeout_ms = timeout_ms ? timeout_ms : 120000u;
    p->max_connections = max_connections;
    p->max_bandwidth = max_bandwidth;
    return 0;
}

int lsn_route_add_binding(uint32_t site_id, const char *ip, uint16_t port, const char *host)
{
    lsn_binding_t *p = route_grow(next.bindings, next.binding_count, sizeof(*p));

    if (p == NULL) {
        return -1;
    }
    next.bindings = p;
    p = &next.bindings[next.binding_count++];
    memset(p, 0, sizeof(*p));
    p->site_id = site_id;
    strncpy(p->ip, ip, sizeof(p->ip) - 1);
    p->port = port;
    for (size_t i = 0; host[i] && i < sizeof(p->host) - 1; i++) {
        char c = host[i];

        p->host[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    return 0;
}

int lsn_route_add_app(uint32_t site_id, const char *path, lsn_pool_t *pool)
{
    lsn_app_t *p = route_grow(next.apps, next.app_count, sizeof(*p));

    if (p == NULL) {
        return -1;
    }
    next.apps = p;
    p = &next.apps[next.app_count++];
    memset(p, 0, sizeof(*p));
    p->site_id = site_id;
    strncpy(p->path, path, sizeof(p->path) - 1);
    p->path_len = strlen(p->path);
    /* "/" is stored as "" so that prefix tests need no special case. */
    if (p->path_len == 1 && p->path[0] == '/') {
        p->path[0] = '\0';
        p->path_len = 0;
    }
    p->pool = pool;
    return 0;
}

static const lsn_site_t *route_site_by_id(uint32_t id)
{
    for (size_t i = 0; i < live.site_count; i++) {
        if (live.sites[i].id == id) {
            return &live.sites[i];
        }
    }
    return NULL;
}

/* The best binding wins even when its site is stopped: the caller answers
 * 404 for a stopped site, as IIS does once the site's registration is
 * gone, rather than handing the request to another site. */
const lsn_site_t *lsn_route_site(const char *local_ip, uint16_t port, const char *host,
                                 size_t host_len)
{
    const lsn_binding_t *best = NULL;
    int best_rank = 0;
    size_t hlen = host_len;

    /* Host header: drop the port and a trailing dot; IPv6 literals keep brackets. */
    if (host != NULL) {
        const char *end = host + host_len;

        if (host_len > 0 && host[0] == '[') {
            const char *rb = memchr(host, ']', host_len);

            hlen = rb ? (size_t)(rb - host) + 1 : host_len;
        } else {
            const char *colon = memchr(host, ':', host_len);

            hlen = colon ? (size_t)(colon - host) : host_len;
        }
        (void)end;
        if (hlen > 0 && host[hlen - 1] == '.') {
            hlen--;
        }
    }
    for (size_t i = 0; i < live.binding_count; i++) {
        const lsn_binding_t *b = &live.bindings[i];
        bool ip_specific = strcmp(b->ip, "*") != 0;
        int rank;

        if (b->port != port) {
            continue;
        }
        if (ip_specific && strcmp(b->ip, local_ip) != 0) {
            continue;
        }
        if (b->host[0] != '\0') {
            if (host == NULL || strlen(b->host) != hlen || strncasecmp(b->host, host, hlen) != 0) {
                continue;
            }
            rank = ip_specific ? 4 : 3;
        } else {
            rank = ip_specific ? 2 : 1;
        }
        if (rank > best_rank && route_site_by_id(b->site_id) != NULL) {
            best = b;
            best_rank = rank;
        }
    }
    return best ? route_site_by_id(best->site_id) : NULL;
}

const lsn_app_t *lsn_route_app(uint32_t site_id, const char *path, size_t path_len)
{
    const lsn_app_t *best = NULL;

    for (size_t i = 0; i < live.app_count; i++) {
        const lsn_app_t *a = &live.apps[i];

        if (a->site_id != site_id || a->path_len > path_len) {
            continue;
        }
        /* Segment-wise, case-insensitive: /app matches /app and /app/x, not /app10. */
        if (strncasecmp(a->path, path, a->path_len) != 0) {
            continue;
        }
        if (path_len > a->path_len && path[a->path_len] != '/') {
            continue;
        }
        if (best == NULL || a->path_len > best->path_len) {
            best = a;
        }
    }
    return best;
}

const lsn_site_t *lsn_route_sites(size_t *count)
{
    *count = live.site_count;
    return live.sites;
}
