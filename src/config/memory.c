/*
 * Memory helpers of the configuration system: the arena that owns a loaded
 * configuration, a pointer vector for lists under construction, and the
 * open-addressing hash map behind every lookup that runs per request
 * (effective sections, location levels), which must not allocate on a hit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg_internal.h"

/* ---- arena ---------------------------------------------------------------- */

#define CFG_ARENA_CHUNK (64u * 1024u)

struct cfg_arena_chunk {
    cfg_arena_chunk_t *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
};

static void *cfg_xmalloc(size_t size)
{
    void *p = malloc(size);
    if (!p) {
        /* A configuration that does not fit in memory cannot be served
         * anyway; failing loudly beats half-built state. */
        fputs("wasp: out of memory while reading configuration\n", stderr);
        abort();
    }
    return p;
}

void *cfg_arena_alloc(cfg_arena_t *a, size_t size)
{
    size = (size + 15u) & ~(size_t)15u;
    size_t chunk = a->chunk ? a->chunk : CFG_ARENA_CHUNK;
    cfg_arena_chunk_t *c = a->head;
    if (!c || c->size - c->used < size) {
        size_t cap = size > chunk / 4 ? size : chunk;
        c = cfg_xmalloc(sizeof(*c) + cap);
        c->used = 0;
        c->size = cap;
        if (size > chunk / 4 && a->head) {
            /* Big blocks get their own chunk behind the current one, so the
             * free space of the current chunk is not wasted. */
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    void *p = c->data + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}

char *cfg_arena_strndup(cfg_arena_t *a, const char *s, size_t n)
{
    char *p = cfg_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *cfg_arena_strdup(cfg_arena_t *a, const char *s)
{
    return cfg_arena_strndup(a, s, strlen(s));
}

char *cfg_arena_printf(cfg_arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = cfg_arena_alloc(a, (size_t)(n < 0 ? 0 : n) + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void cfg_arena_free(cfg_arena_t *a)
{
    cfg_arena_chunk_t *c = a->head;
    while (c) {
        cfg_arena_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

/* ---- vector --------------------------------------------------------------- */

void cfg_vec_push(cfg_vec_t *vec, void *p)
{
    if (vec->n == vec->cap) {
        size_t cap = vec->cap ? vec->cap * 2 : 16;
        void **v = realloc(vec->v, cap * sizeof(*v));
        if (!v) {
            fputs("wasp: out of memory while reading configuration\n", stderr);
            abort();
        }
        vec->v = v;
        vec->cap = cap;
    }
    vec->v[vec->n++] = p;
}

void cfg_vec_free(cfg_vec_t *vec)
{
    free(vec->v);
    vec->v = NULL;
    vec->n = vec->cap = 0;
}

/* ---- hash map ------------------------------------------------------------- */

static inline unsigned char cfg_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* FNV-1a over the tag and the (optionally lower-cased) key bytes. */
static uint64_t cfg_map_hash(const cfg_map_t *m, uint32_t tag, const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < 4; i++) {
        h ^= (tag >> (i * 8)) & 0xffu;
        h *= 1099511628211ull;
    }
    const unsigned char *p = (const unsigned char *)key;
    if (m->icase) {
        for (size_t i = 0; i < len; i++) {
            h ^= cfg_lower(p[i]);
            h *= 1099511628211ull;
        }
    } else {
        for (size_t i = 0; i < len; i++) {
            h ^= p[i];
            h *= 1099511628211ull;
        }
    }
    return h | 1u; /* 0 marks an empty slot */
}

static bool cfg_map_eq(const cfg_map_t *m, const cfg_map_slot_t *s, uint64_t h, uint32_t tag,
                       const char *key, size_t len)
{
    if (s->hash != h || s->tag != tag || s->keylen != len)
        return false;
    if (!m->icase)
        return memcmp(s->key, key, len) == 0;
    for (size_t i = 0; i < len; i++)
        if (cfg_lower((unsigned char)s->key[i]) != cfg_lower((unsigned char)key[i]))
            return false;
    return true;
}

void cfg_map_init(cfg_map_t *m, bool icase)
{
    memset(m, 0, sizeof(*m));
    m->icase = icase;
}

static void cfg_map_grow(cfg_map_t *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    cfg_map_slot_t *slots = calloc(cap, sizeof(*slots));
    if (!slots) {
        fputs("wasp: out of memory while reading configuration\n", stderr);
        abort();
    }
    for (size_t i = 0; i < m->cap; i++) {
        cfg_map_slot_t *s = &m->slots[i];
        if (!s->hash)
            continue;
        size_t j = s->hash & (cap - 1);
        while (slots[j].hash)
            j = (j + 1) & (cap - 1);
        slots[j] = *s;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
}

void cfg_map_put(cfg_map_t *m, uint32_t tag, const char *key, size_t keylen, void *value)
{
    if ((m->count + 1) * 4 >= m->cap * 3)
        cfg_map_grow(m);
    uint64_t h = cfg_map_hash(m, tag, key, keylen);
    size_t j = h & (m->cap - 1);
    while (m->slots[j].hash) {
        if (cfg_map_eq(m, &m->slots[j], h, tag, key, keylen)) {
            m->slots[j].value = value;
            return;
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->slots[j] = (cfg_map_slot_t){ .hash = h, .key = key, .keylen = keylen, .tag = tag,
                                    .value = value };
    m->count++;
}

void *cfg_map_get(const cfg_map_t *m, uint32_t tag, const char *key, size_t keylen)
{
    if (!m->cap)
        return NULL;
    uint64_t h = cfg_map_hash(m, tag, key, keylen);
    size_t j = h & (m->cap - 1);
    while (m->slots[j].hash) {
        if (cfg_map_eq(m, &m->slots[j], h, tag, key, keylen))
            return m->slots[j].value;
        j = (j + 1) & (m->cap - 1);
    }
    return NULL;
}

void cfg_map_free(cfg_map_t *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}
