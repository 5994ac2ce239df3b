/*
 * requestFiltering/requestLimits as the listener knows them (see
 * service/req_limits.c for why waspd answers): a cache of waspd's answers
 * per (site, URL path), and the requests that wait for one.
 *
 * Only a request with a body needs the limits here (its body must not
 * reach a worker when it breaks them); a request without one is checked by
 * the worker's pipeline at BeginRequest, as IIS' RequestFilteringModule
 * does.  A miss costs one round trip to waspd on the control channel, made
 * once per URL until a configuration file changes.
 *
 * The cache is a hash table of at most LIMITS_MAX entries, emptied when it
 * is full (a URL's entry is one round trip away) and whenever waspd says a
 * file changed.  Answers carry a generation: one asked before a flush still
 * settles the request that asked, but is not kept.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "listener/listener.h"

#define LIMITS_BUCKETS 1024u
#define LIMITS_MAX 4096u

typedef struct limits_entry {
    struct limits_entry *next;
    uint32_t site_id;
    bool known;
    lsn_req_limits_t limits;
    size_t path_len;
    char path[];
} limits_entry_t;

/* A question sent to waspd, and the request waiting for its answer. */
typedef struct limits_query {
    struct limits_query *next, *prev;
    uint32_t id;
    uint64_t generation;
    lsn_request_t *req;
    uint32_t site_id;
    size_t path_len;
    char path[];
} limits_query_t;

static limits_entry_t *buckets[LIMITS_BUCKETS];
static size_t entry_count;
static uint64_t generation;
static limits_query_t *queries, *queries_tail;
static uint32_t next_id;

static uint32_t limits_hash(uint32_t site_id, const char *path, size_t len)
{
    uint32_t h = 2166136261u ^ site_id;

    for (size_t i = 0; i < len; i++) {
        h = (h ^ (uint8_t)path[i]) * 16777619u;
    }
    return h;
}

static void limits_clear(void)
{
    for (size_t i = 0; i < LIMITS_BUCKETS; i++) {
        while (buckets[i] != NULL) {
            limits_entry_t *e = buckets[i];

            buckets[i] = e->next;
            free(e);
        }
    }
    entry_count = 0;
}

void lsn_req_limits_flush(void)
{
    limits_clear();
    generation++; /* answers already asked for may predate the change */
}

int lsn_req_limits_lookup(uint32_t site_id, const char *path, size_t len, lsn_req_limits_t *out)
{
    for (limits_entry_t *e = buckets[limits_hash(site_id, path, len) % LIMITS_BUCKETS]; e != NULL;
         e = e->next) {
        if (e->site_id == site_id && e->path_len == len && memcmp(e->path, path, len) == 0) {
            if (!e->known) {
                return -1;
            }
            *out = e->limits;
            return 1;
        }
    }
    return 0;
}

static void limits_keep(const limits_query_t *q, bool known, const lsn_req_limits_t *lim)
{
    limits_entry_t *e;
    uint32_t b = limits_hash(q->site_id, q->path, q->path_len) % LIMITS_BUCKETS;

    if (lsn_req_limits_lookup(q->site_id, q->path, q->path_len, &(lsn_req_limits_t){0}) != 0) {
        return; /* two requests asked at once */
    }
    if (entry_count >= LIMITS_MAX) {
        limits_clear(); /* nothing changed on disk: answers on their way stay good */
    }
    e = malloc(sizeof(*e) + q->path_len);
    if (e == NULL) {
        return; /* asked again next time */
    }
    e->site_id = q->site_id;
    e->known = known;
    e->limits = *lim;
    e->path_len = q->path_len;
    memcpy(e->path, q->path, q->path_len);
    e->next = buckets[b];
    buckets[b] = e;
    entry_count++;
}

static void limits_unlink(limits_query_t *q)
{
    if (q->prev != NULL) {
        q->prev->next = q->next;
    } else {
        queries = q->next;
    }
    if (q->next != NULL) {
        q->next->prev = q->prev;
    } else {
        queries_tail = q->prev;
    }
}

int lsn_req_limits_ask(lsn_request_t *req, uint32_t site_id, const char *path, size_t len)
{
    limits_query_t *q = malloc(sizeof(*q) + len);
    wasp_enc_t e = {0};

    if (q == NULL) {
        return -1;
    }
    q->id = ++next_id;
    q->generation = generation;
    q->req = req;
    q->site_id = site_id;
    q->path_len = len;
    memcpy(q->path, path, len);
    q->next = NULL;
    q->prev = queries_tail;
    if (queries_tail != NULL) {
        queries_tail->next = q;
    } else {
        queries = q;
    }
    queries_tail = q;
    req->limits_query = q;
    wasp_enc_u32(&e, q->id);
    wasp_enc_u32(&e, site_id);
    wasp_enc_str(&e, path, len);
    if (e.buf.data == NULL) {
        lsn_req_limits_forget(req);
        return -1;
    }
    wasp_channel_send(lsn_control(), WASP_MSG_LIMITS_QUERY, 0, 0, wasp_buf_ptr(&e.buf),
                      wasp_buf_size(&e.buf), -1);
    wasp_buf_free(&e.buf);
    return 0;
}

void lsn_req_limits_forget(lsn_request_t *req)
{
    limits_query_t *q = req->limits_query;

    if (q != NULL) {
        limits_unlink(q);
        free(q);
        req->limits_query = NULL;
    }
}

void lsn_req_limits_answer(const char *payload, size_t len)
{
    wasp_dec_t d;
    uint32_t id;
    bool known;
    lsn_req_limits_t lim = {0};
    limits_query_t *q;

    wasp_dec_init(&d, payload, len);
    id = wasp_dec_u32(&d);
    known = wasp_dec_u8(&d) != 0;
    if (known) {
        lim.max_content_length = wasp_dec_u64(&d);
        lim.max_url = wasp_dec_u32(&d);
        lim.max_query = wasp_dec_u32(&d);
    }
    if (d.error) {
        wasp_warn("waspd sent a malformed LIMITS_ANSWER");
        return;
    }
    /* Answers come in the order of the questions: the first is usually it. */
    for (q = queries; q != NULL && q->id != id; q = q->next) {
    }
    if (q == NULL) {
        return; /* its request is gone */
    }
    if (q->generation == generation) {
        limits_keep(q, known, &lim);
    }
    lsn_request_t *req = q->req;

    limits_unlink(q);
    free(q);
    req->limits_query = NULL;
    lsn_conn_limits_known(req, known ? &lim : NULL);
}
