/*
 * The listener's response cache: HTTP.sys' kernel response cache
 * (shared/reference/iis-hosting.md 4.4).  A hit is answered by wasp-http
 * alone, without a frame to any worker, so it is served while the pool's
 * worker is busy, stopped or being replaced.
 *
 * The worker decides what may be cached (it holds the per-URL configuration:
 * the static file handler's default, caching/profiles, serverRuntime's
 * frequent-hit settings) and says so with a RESP_CACHE frame before the
 * response (src/common/channel.h).  The listener checks the request-side
 * rules itself (anonymous GET without query string or body, no Range), counts
 * requests per URL, copies the response as it passes through once the URL is
 * frequently hit, and watches every file the entry depends on with inotify.
 * docs/architecture.md, "Response cache", gives the invalidation argument.
 */
#ifndef WASP_LSN_CACHE_H
#define WASP_LSN_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/channel.h"
#include "listener/metrics_fmt.h"

typedef struct lsn_request lsn_request_t;
typedef struct lsn_cache_fill lsn_cache_fill_t;

/* Once, before the loop runs: the inotify descriptor and the scavenger. */
void lsn_cache_init(void);
/* HTTP.sys' kernel-cache registry values (wasp/httpSys), with every
 * configuration push: UriEnableCache off empties the cache and keeps it
 * empty; UriMaxUriBytes bounds a cached body (with caching/@maxResponseSize,
 * the smaller wins); UriScavengerPeriod is how long an entry may go without
 * a hit. */
void lsn_cache_set_limits(bool enabled, uint32_t max_uri_bytes, uint32_t scavenger_period_s);

/* conn.c (and any other protocol front end), where a request is about to be
 * submitted to its pool: answer it from the cache through
 * lsn_conn_response_cached() and return true, or return false (the request
 * goes to its pool as usual; a cache-eligible one is counted towards the
 * URL's frequent-hit threshold). */
bool lsn_cache_serve(lsn_request_t *req);

/* listener.c, the response frames of a worker.  RESP_CACHE (the worker's
 * verdict, before RESP_HEAD) starts a copy when the URL is frequently hit;
 * the other calls feed it; end stores it when every rule holds. */
void lsn_cache_directive(lsn_request_t *req, const char *payload, size_t len);
void lsn_cache_fill_head(lsn_request_t *req, int status, const char *reason, size_t reason_len,
                         wasp_dec_t *headers, uint64_t length, bool has_length, bool no_log);
void lsn_cache_fill_data(lsn_request_t *req, const char *p, size_t len);
void lsn_cache_fill_file(lsn_request_t *req, int fd, off_t off, off_t len);
void lsn_cache_fill_end(lsn_request_t *req);
/* The request is freed: drop an unfinished copy. */
void lsn_cache_fill_free(lsn_request_t *req);

/* A configuration push from waspd: every entry goes (UriCacheFlushes). */
void lsn_cache_flush(void);
/* A worker is gone (recycled, crashed, stopped): the entries it produced
 * go.  A running worker keeps the applicationHost.config it started with
 * until it is replaced, so its answers may differ from its successor's. */
void lsn_cache_worker_gone(pid_t pid);

/* IIS' "Web Service Cache" counters (metrics_fmt.h). */
void lsn_cache_get_stats(wasp_cache_counters_t *st);

#endif
