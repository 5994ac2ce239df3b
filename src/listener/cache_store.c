/*
 * The response cache's table, LRU, expiry and frequent-hit counter
 * (cache_store.h).
 */
#include <string.h>
#include <strings.h>

#include "listener/cache_store.h"

#define CSTORE_DEFAULT_PERIOD_MS 10000u /* serverRuntime/@frequentHitTimePeriod */

void lsn_cstore_init(lsn_cstore_t *s, uint64_t limit, void (*on_remove)(lsn_centry_t *, void *),
                     void *data)
{
    memset(s, 0, sizeof(*s));
    s->limit = limit;
    s->on_remove = on_remove;
    s->data = data;
}

uint64_t lsn_cstore_hash(uint32_t site_id, const char *host, size_t host_len, const char *path,
                         size_t path_len)
{
    uint64_t h = 1469598103934665603ull ^ site_id;

    for (size_t i = 0; i < host_len; i++) {
        h = (h ^ (unsigned char)host[i]) * 1099511628211ull;
    }
    h = (h ^ 0xff) * 1099511628211ull; /* "a" + "b/c" differs from "ab" + "/c" */
    for (size_t i = 0; i < path_len; i++) {
        h = (h ^ (unsigned char)path[i]) * 1099511628211ull;
    }
    return h;
}

static bool same_key(const lsn_centry_t *e, uint64_t hash, uint32_t site_id, const char *host,
                     size_t host_len, const char *path, size_t path_len)
{
    return e->hash == hash && e->site_id == site_id && e->host_len == host_len &&
           e->path_len == path_len && memcmp(e->host, host, host_len) == 0 &&
           memcmp(e->path, path, path_len) == 0;
}

/* Do the request's values of e's varied headers equal e's? */
static bool vary_match(const lsn_centry_t *e, lsn_cstore_header_fn hdr, void *hdr_data)
{
    for (size_t i = 0; i < e->nvary; i++) {
        size_t len = 0;
        const char *v = hdr(e->vary_name[i], &len, hdr_data);

        if ((v == NULL) != (e->vary_value[i] == NULL)) {
            return false;
        }
        if (v != NULL && (len != e->vary_len[i] || memcmp(v, e->vary_value[i], len) != 0)) {
            return false;
        }
    }
    return true;
}

/* Two entries of one key answer the same requests: same varied headers
 * with the same values. */
static bool same_variant(const lsn_centry_t *a, const lsn_centry_t *b)
{
    if (a->nvary != b->nvary) {
        return false;
    }
    for (size_t i = 0; i < a->nvary; i++) {
        if (strcasecmp(a->vary_name[i], b->vary_name[i]) != 0 ||
            (a->vary_value[i] == NULL) != (b->vary_value[i] == NULL)) {
            return false;
        }
        if (a->vary_value[i] != NULL &&
            (a->vary_len[i] != b->vary_len[i] ||
             memcmp(a->vary_value[i], b->vary_value[i], a->vary_len[i]) != 0)) {
            return false;
        }
    }
    return true;
}

static void lru_unlink(lsn_cstore_t *s, lsn_centry_t *e)
{
    if (e->lru_prev != NULL) {
        e->lru_prev->lru_next = e->lru_next;
    } else {
        s->lru_head = e->lru_next;
    }
    if (e->lru_next != NULL) {
        e->lru_next->lru_prev = e->lru_prev;
    } else {
        s->lru_tail = e->lru_prev;
    }
    e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(lsn_cstore_t *s, lsn_centry_t *e)
{
    e->lru_prev = NULL;
    e->lru_next = s->lru_head;
    if (s->lru_head != NULL) {
        s->lru_head->lru_prev = e;
    } else {
        s->lru_tail = e;
    }
    s->lru_head = e;
}

void lsn_cstore_remove(lsn_cstore_t *s, lsn_centry_t *e)
{
    lsn_centry_t **p = &s->buckets[e->hash % LSN_CSTORE_BUCKETS];

    while (*p != NULL && *p != e) {
        p = &(*p)->hnext;
    }
    if (*p == e) {
        *p = e->hnext;
    }
    lru_unlink(s, e);
    s->entries--;
    s->bytes -= e->bytes;
    s->removed++;
    s->on_remove(e, s->data);
}

lsn_centry_t *lsn_cstore_find(lsn_cstore_t *s, uint64_t hash, uint32_t site_id, const char *host,
                              size_t host_len, const char *path, size_t path_len,
                              lsn_cstore_header_fn hdr, void *hdr_data, uint64_t now_ms)
{
    for (lsn_centry_t *e = s->buckets[hash % LSN_CSTORE_BUCKETS]; e != NULL; e = e->hnext) {
        if (!same_key(e, hash, site_id, host, host_len, path, path_len) ||
            !vary_match(e, hdr, hdr_data)) {
            continue;
        }
        if (e->expires_ms != 0 && now_ms >= e->expires_ms) {
            lsn_cstore_remove(s, e);
            return NULL;
        }
        e->used_ms = now_ms;
        if (s->lru_head != e) {
            lru_unlink(s, e);
            lru_push_front(s, e);
        }
        return e;
    }
    return NULL;
}

static void shrink_to(lsn_cstore_t *s, uint64_t limit)
{
    while (s->bytes > limit && s->lru_tail != NULL) {
        lsn_cstore_remove(s, s->lru_tail);
    }
}

bool lsn_cstore_insert(lsn_cstore_t *s, lsn_centry_t *e, uint64_t now_ms)
{
    lsn_centry_t **head = &s->buckets[e->hash % LSN_CSTORE_BUCKETS];

    if (e->bytes > s->limit) {
        return false;
    }
    for (lsn_centry_t *o = *head, *next; o != NULL; o = next) {
        next = o->hnext;
        if (same_key(o, e->hash, e->site_id, e->host, e->host_len, e->path, e->path_len) &&
            same_variant(o, e)) {
            lsn_cstore_remove(s, o);
            break;
        }
    }
    /* Room first, so the new entry is never its own victim. */
    shrink_to(s, s->limit - e->bytes);
    head = &s->buckets[e->hash % LSN_CSTORE_BUCKETS];
    e->hnext = *head;
    *head = e;
    e->used_ms = now_ms;
    lru_push_front(s, e);
    s->entries++;
    s->bytes += e->bytes;
    s->stored++;
    return true;
}

void lsn_cstore_flush(lsn_cstore_t *s)
{
    while (s->lru_tail != NULL) {
        lsn_cstore_remove(s, s->lru_tail);
    }
}

void lsn_cstore_scavenge(lsn_cstore_t *s, uint64_t now_ms, uint64_t idle_ms)
{
    /* The LRU's tail is the longest unused: stop at the first recent one. */
    while (s->lru_tail != NULL) {
        lsn_centry_t *e = s->lru_tail;
        bool expired = e->expires_ms != 0 && now_ms >= e->expires_ms;

        if (!expired && now_ms - e->used_ms < idle_ms) {
            break;
        }
        lsn_cstore_remove(s, e);
    }
}

void lsn_cstore_set_limit(lsn_cstore_t *s, uint64_t limit)
{
    s->limit = limit;
    shrink_to(s, limit);
}

void lsn_cstore_hit_count(lsn_cstore_t *s, uint64_t hash, uint64_t now_ms)
{
    lsn_hitslot_t *h = &s->hits[hash % LSN_CSTORE_HITS];

    if (h->hash != hash) {
        /* Another URL had the slot: the newer one takes it (the table is
         * bounded; a URL pushed out starts counting again). */
        h->hash = hash;
        h->count = 0;
        h->period_ms = CSTORE_DEFAULT_PERIOD_MS;
        h->start_ms = now_ms;
    }
    if (now_ms - h->start_ms > h->period_ms) {
        h->count = 0;
        h->start_ms = now_ms;
    }
    if (h->count < UINT32_MAX) {
        h->count++;
    }
}

bool lsn_cstore_hit_frequent(lsn_cstore_t *s, uint64_t hash, uint32_t threshold,
                             uint32_t period_ms, uint64_t now_ms)
{
    lsn_hitslot_t *h = &s->hits[hash % LSN_CSTORE_HITS];

    if (h->hash != hash) {
        return threshold <= 1;
    }
    h->period_ms = period_ms;
    if (now_ms - h->start_ms > period_ms) {
        return threshold <= 1;
    }
    return h->count >= threshold;
}
