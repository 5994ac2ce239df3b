/*
 * The response cache's bookkeeping, apart from the listener (so unit tests
 * drive it): entries keyed by site, host, canonical path and the values of
 * the varied request headers, an LRU bounded in bytes, expiry by time, the
 * scavenger of idle entries, and the frequent-hit counter.  No I/O; the
 * owner (cache.c) is told of every entry that goes through on_remove.
 */
#ifndef WASP_LSN_CACHE_STORE_H
#define WASP_LSN_CACHE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LSN_CSTORE_BUCKETS 16384u
#define LSN_CSTORE_HITS 4096u /* frequent-hit slots (direct-mapped by key hash) */
#define LSN_CSTORE_MAX_VARY 8u

typedef struct lsn_centry lsn_centry_t;

/* One stored response.  The key strings and the response bytes live in the
 * same allocation as the entry (cache.c lays them out). */
struct lsn_centry {
    lsn_centry_t *hnext;              /* hash chain */
    lsn_centry_t *lru_prev, *lru_next; /* lru_prev: more recently used */
    uint64_t hash;                    /* of site, host and path (not the vary values) */
    uint32_t site_id;
    const char *host, *path;
    size_t host_len, path_len;
    size_t nvary;
    const char *vary_name[LSN_CSTORE_MAX_VARY];
    const char *vary_value[LSN_CSTORE_MAX_VARY]; /* NULL: the request had no such header */
    size_t vary_len[LSN_CSTORE_MAX_VARY];
    uint64_t expires_ms;              /* CacheForTimePeriod; 0 = until a change */
    uint64_t used_ms;                 /* last hit (the scavenger's clock) */
    size_t bytes;                     /* counted against the bound */
    void *owner;                      /* cache.c's state of the entry */
};

typedef struct lsn_hitslot {
    uint64_t hash;
    uint32_t count;
    uint32_t period_ms;  /* the URL's frequentHitTimePeriod, as the worker last said */
    uint64_t start_ms;   /* the window began */
} lsn_hitslot_t;

typedef struct lsn_cstore {
    lsn_centry_t *buckets[LSN_CSTORE_BUCKETS];
    lsn_centry_t *lru_head, *lru_tail; /* head: most recently used */
    size_t entries;
    uint64_t bytes;
    uint64_t limit;                    /* bytes */
    uint64_t stored, removed;          /* TotalUrisCached, TotalFlushedUris */
    lsn_hitslot_t hits[LSN_CSTORE_HITS];
    void (*on_remove)(lsn_centry_t *e, void *data); /* frees e */
    void *data;
} lsn_cstore_t;

/* The request's header value for a varied name, NULL when absent. */
typedef const char *(*lsn_cstore_header_fn)(const char *name, size_t *len, void *data);

void lsn_cstore_init(lsn_cstore_t *s, uint64_t limit, void (*on_remove)(lsn_centry_t *, void *),
                     void *data);
/* Hash of the key without the varied headers (host compared as given:
 * the caller lower-cases it). */
uint64_t lsn_cstore_hash(uint32_t site_id, const char *host, size_t host_len, const char *path,
                         size_t path_len);
/* The entry for the key whose varied headers match the request's (hdr),
 * or NULL.  An entry past its expiry is removed and not returned.  A found
 * entry becomes the most recently used. */
lsn_centry_t *lsn_cstore_find(lsn_cstore_t *s, uint64_t hash, uint32_t site_id, const char *host,
                              size_t host_len, const char *path, size_t path_len,
                              lsn_cstore_header_fn hdr, void *hdr_data, uint64_t now_ms);
/* Store e (key fields and bytes set): an entry with the same key and
 * varied values is replaced, then least recently used entries go until the
 * total is within the limit.  false (e not stored, not freed) when e alone
 * is larger than the limit. */
bool lsn_cstore_insert(lsn_cstore_t *s, lsn_centry_t *e, uint64_t now_ms);
void lsn_cstore_remove(lsn_cstore_t *s, lsn_centry_t *e);
/* Remove everything. */
void lsn_cstore_flush(lsn_cstore_t *s);
/* Remove entries not used for idle_ms (HTTP.sys' UriScavengerPeriod) and
 * expired ones at the cold end of the LRU. */
void lsn_cstore_scavenge(lsn_cstore_t *s, uint64_t now_ms, uint64_t idle_ms);
/* A new bound: entries go until the total fits. */
void lsn_cstore_set_limit(lsn_cstore_t *s, uint64_t limit);

/* Frequent-hit counting: a cache-eligible request for the key arrived. */
void lsn_cstore_hit_count(lsn_cstore_t *s, uint64_t hash, uint64_t now_ms);
/* The worker says the URL may be cached once requested threshold times
 * within period_ms: has it been?  (The period is remembered for the
 * counting of later requests.) */
bool lsn_cstore_hit_frequent(lsn_cstore_t *s, uint64_t hash, uint32_t threshold,
                             uint32_t period_ms, uint64_t now_ms);

#endif
