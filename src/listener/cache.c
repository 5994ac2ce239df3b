/*
 * The listener's response cache (cache.h): HTTP.sys' kernel cache rules on
 * the request side, the copy of a worker's response, inotify invalidation,
 * and the answer of a hit.
 *
 * Why an entry is never served stale: every file it depends on (the static
 * file, applicationHost.config, each web.config looked for along the URL,
 * configSource files) is watched through its directory, which sees an
 * in-place write (IN_MODIFY), a replacement by rename (IN_MOVED_TO), a
 * delete, a chmod (IN_ATTRIB) and a web.config that appears where there was
 * none (IN_CREATE).  inotify queues the event inside the writer's own
 * system call, before write() or rename() returns, and the listener reads
 * the queue (non-blocking) before it answers any hit: an edit that finished
 * before the request arrived is always seen.  The window between the
 * worker reading the file and the watch being added is closed by comparing
 * the file's identity (device, inode, size, mtime, ctime) the worker saw
 * with what stat() says once the watch exists, and by refusing a copy if a
 * file it depends on had an event while the copy was under way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "listener/cache.h"
#include "listener/cache_store.h"
#include "listener/listener.h"
#include "modules/http_cond.h"
#include "modules/http_date.h"

#define CACHE_WATCH_BUCKETS 1024u
#define CACHE_SCAVENGE_MS 30000u      /* how often idle entries are looked for, at most */
#define CACHE_MAX_HEAD 1024u          /* HTTP.sys caches no response with a longer header block */
#define CACHE_AUTO_MIN (16u << 20)    /* maxCacheSize="0": 1/32 of RAM within these bounds */
#define CACHE_AUTO_MAX (256u << 20)
#define CACHE_WATCH_MASK                                                                       \
    (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM |          \
     IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

enum { POLICY_UNTIL_CHANGE = 1, POLICY_TIME_PERIOD = 2 };

typedef struct cache_watch cache_watch_t;
typedef struct cache_dep cache_dep_t;

/* A watched directory, shared by every entry with a file in it. */
struct cache_watch {
    int wd;
    char *dir;
    size_t refs;          /* its deps */
    bool in_dir_table;    /* false once the kernel dropped it (IN_IGNORED) */
    cache_dep_t *deps;
    cache_watch_t *next_wd, *next_dir;
};

/* One file an entry (or a copy under way) depends on: its directory's
 * watch and its name. */
struct cache_dep {
    cache_watch_t *watch;
    lsn_centry_t *entry;          /* a stored entry's, or NULL ... */
    lsn_cache_fill_t *fill;       /* ... a copy's, marked stale by a change */
    cache_dep_t *w_prev, *w_next; /* the watch's list */
    char name[];
};

/* What cache.c keeps with a stored entry. */
typedef struct cache_item {
    lsn_centry_t e;
    lsn_pool_t *pool;     /* its hits count for the pool (CacheHitRate) */
    pid_t producer;       /* the worker that answered: the entry goes with it */
    lsn_cached_response_t ok;     /* the 200, as conn.c sends it (body: the whole) */
    lsn_cached_response_t nm;     /* the 304 (no body) */
    const char *etag;     /* NULL: none */
    size_t etag_len;
    time_t last_modified;
    bool has_last_modified;
    bool no_log;
    size_t ndeps;
    cache_dep_t *deps[];
} cache_item_t;

/* A worker response being copied (RESP_CACHE said it may be cached). */
struct lsn_cache_fill {
    uint8_t policy;
    pid_t producer;
    uint32_t ttl_ms;
    uint64_t max_response;
    char *file;              /* the static file, or NULL */
    uint64_t f_dev, f_ino, f_size;
    int64_t f_mtime_ns, f_ctime_ns;
    size_t nvary;
    char *vary[LSN_CSTORE_MAX_VARY];
    size_t ndeps;
    cache_dep_t **deps;      /* handed to the entry when it is stored */
    bool stale;              /* a file it depends on changed meanwhile */
    bool head_done, failed, no_log;
    uint64_t length;
    wasp_buf_t head, head304, body;
    wasp_buf_t hdrs, hdrs304;     /* the header lists, encoded (count apart) */
    uint32_t nhdrs, nhdrs304;
    char *etag;
    time_t last_modified;
    bool has_last_modified;
};

/* The parts of a request the cache looks at, read from its REQ_HEAD
 * payload (the same bytes a worker would get). */
typedef struct cache_req {
    uint32_t site_id;
    bool get, head;
    char host[256];
    size_t host_len;
    const char *path;
    size_t path_len;
    const char *hdrs;      /* the encoded header list */
    const char *hdrs_end;
    bool eligible;         /* kernel-cache rules allow it at all */
    const char *inm, *ims; /* If-None-Match, If-Modified-Since */
    size_t inm_len, ims_len;
} cache_req_t;

static lsn_cstore_t store;
static int cache_ifd = -1;
static cache_watch_t *watch_by_wd[CACHE_WATCH_BUCKETS];
static cache_watch_t *watch_by_dir[CACHE_WATCH_BUCKETS];
static uint64_t st_hits, st_misses, st_flushes;
static uint64_t auto_limit, ram_bytes;
/* wasp/httpSys' Uri* values (lsn_cache_set_limits), HTTP.sys' defaults. */
static bool uri_enable_cache = true;
static uint64_t uri_max_bytes = 262144;
static uint64_t uri_idle_ms = 120000;

/* ---- request view ---------------------------------------------------------- */

static bool name_is(const char *n, size_t len, const char *lit)
{
    return strlen(lit) == len && strncasecmp(n, lit, len) == 0;
}

/* Read the request from its REQ_HEAD payload (conn_request.c writes it: site id,
 * method, target, path, query flag, query, ..., then the headers). */
static bool cache_req_parse(const lsn_request_t *req, cache_req_t *r)
{
    wasp_dec_t d;
    size_t mlen, tlen, qlen;
    const char *m;
    bool has_query;
    uint32_t count;

    memset(r, 0, sizeof(*r));
    wasp_dec_init(&d, wasp_buf_ptr(&req->head.buf), wasp_buf_size(&req->head.buf));
    r->site_id = wasp_dec_u32(&d);
    m = wasp_dec_str(&d, &mlen);
    (void)wasp_dec_str(&d, &tlen);
    r->path = wasp_dec_str(&d, &r->path_len);
    has_query = wasp_dec_u8(&d) != 0;
    (void)wasp_dec_str(&d, &qlen);
    if (d.error || req->head_headers_at > wasp_buf_size(&req->head.buf)) {
        return false;
    }
    r->get = mlen == 3 && memcmp(m, "GET", 3) == 0;
    r->head = mlen == 4 && memcmp(m, "HEAD", 4) == 0;
    /* KB 817445: only GET (HEAD from a GET entry), no query string (the
     * kernel cache cannot vary by one), no entity body. */
    r->eligible = (r->get || r->head) && !has_query && req->body_len == 0 &&
                  req->body_fd < 0 && req->refuse_status == 0;
    wasp_dec_init(&d, wasp_buf_ptr(&req->head.buf) + req->head_headers_at,
                  wasp_buf_size(&req->head.buf) - req->head_headers_at);
    count = wasp_dec_u32(&d);
    r->hdrs = d.p;
    for (uint32_t i = 0; i < count && !d.error; i++) {
        size_t nl, vl;
        const char *n = wasp_dec_str(&d, &nl);
        const char *v = wasp_dec_str(&d, &vl);

        if (name_is(n, nl, "Host")) {
            /* Host names are case-insensitive: one entry for all spellings. */
            r->host_len = vl < sizeof(r->host) ? vl : sizeof(r->host) - 1;
            for (size_t k = 0; k < r->host_len; k++) {
                char c = v[k];

                r->host[k] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
            }
        } else if (name_is(n, nl, "Authorization") || name_is(n, nl, "Range") ||
                   name_is(n, nl, "If-Range") || name_is(n, nl, "If-Match") ||
                   name_is(n, nl, "If-Unmodified-Since")) {
            /* Not anonymous; or HTTP.sys serves only whole responses from
             * its cache; or a precondition the worker evaluates (412). */
            r->eligible = false;
        } else if (name_is(n, nl, "Translate") && vl == 1 && (v[0] == 'f' || v[0] == 'F')) {
            r->eligible = false; /* a WebDAV source request */
        } else if (name_is(n, nl, "Expect") && !name_is(v, vl, "100-continue")) {
            r->eligible = false;
        } else if (name_is(n, nl, "If-None-Match")) {
            r->inm = v;
            r->inm_len = vl;
        } else if (name_is(n, nl, "If-Modified-Since")) {
            r->ims = v;
            r->ims_len = vl;
        }
    }
    r->hdrs_end = d.p;
    return !d.error;
}

/* A request header for the varied-header comparison: the first field of
 * that name (lsn_cstore_header_fn). */
static const char *cache_req_header(const char *name, size_t *len, void *data)
{
    const cache_req_t *r = data;
    wasp_dec_t d;

    wasp_dec_init(&d, r->hdrs, (size_t)(r->hdrs_end - r->hdrs));
    while (d.p < d.end && !d.error) {
        size_t nl, vl;
        const char *n = wasp_dec_str(&d, &nl);
        const char *v = wasp_dec_str(&d, &vl);

        if (!d.error && name_is(n, nl, name)) {
            *len = vl;
            return v;
        }
    }
    return NULL;
}

static uint64_t cache_req_hash(const cache_req_t *r)
{
    return lsn_cstore_hash(r->site_id, r->host, r->host_len, r->path, r->path_len);
}

/* ---- watches --------------------------------------------------------------- */

static size_t dir_bucket(const char *dir)
{
    return (size_t)(lsn_cstore_hash(0, "", 0, dir, strlen(dir)) % CACHE_WATCH_BUCKETS);
}

static cache_watch_t *watch_find_wd(int wd)
{
    cache_watch_t *w = watch_by_wd[(unsigned)wd % CACHE_WATCH_BUCKETS];

    while (w != NULL && w->wd != wd) {
        w = w->next_wd;
    }
    return w;
}

/* The watch of dir, added if needed, with one more reference; NULL when the
 * directory cannot be watched (EACCES for the listener's user, ENOSPC when
 * max_user_watches is used up): then nothing under it is cached. */
static cache_watch_t *watch_get(const char *dir)
{
    cache_watch_t *w;
    int wd;

    for (w = watch_by_dir[dir_bucket(dir)]; w != NULL; w = w->next_dir) {
        if (strcmp(w->dir, dir) == 0) {
            w->refs++;
            return w;
        }
    }
    if (cache_ifd < 0) {
        return NULL;
    }
    wd = inotify_add_watch(cache_ifd, dir, CACHE_WATCH_MASK);
    if (wd < 0) {
        return NULL;
    }
    w = watch_find_wd(wd);
    if (w != NULL) {
        /* The same directory under another spelling ("dir/", a symbolic
         * link): the kernel gives the one descriptor, and the names an
         * event carries are the same. */
        w->refs++;
        return w;
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL || (w->dir = strdup(dir)) == NULL) {
        free(w);
        inotify_rm_watch(cache_ifd, wd);
        return NULL;
    }
    w->wd = wd;
    w->refs = 1;
    w->in_dir_table = true;
    w->next_wd = watch_by_wd[(unsigned)wd % CACHE_WATCH_BUCKETS];
    watch_by_wd[(unsigned)wd % CACHE_WATCH_BUCKETS] = w;
    w->next_dir = watch_by_dir[dir_bucket(dir)];
    watch_by_dir[dir_bucket(dir)] = w;
    return w;
}

/* No later watch_get() finds w: its directory gets a new watch. */
static void watch_forget_dir(cache_watch_t *w)
{
    cache_watch_t **p;

    if (!w->in_dir_table) {
        return;
    }
    for (p = &watch_by_dir[dir_bucket(w->dir)]; *p != w; p = &(*p)->next_dir) {
    }
    *p = w->next_dir;
    w->in_dir_table = false;
}

static void watch_put(cache_watch_t *w)
{
    cache_watch_t **p;

    if (--w->refs > 0) {
        return;
    }
    /* EINVAL when the kernel already dropped it (IN_IGNORED): harmless. */
    inotify_rm_watch(cache_ifd, w->wd);
    for (p = &watch_by_wd[(unsigned)w->wd % CACHE_WATCH_BUCKETS]; *p != w; p = &(*p)->next_wd) {
    }
    *p = w->next_wd;
    watch_forget_dir(w);
    free(w->dir);
    free(w);
}

/* A dependency on name in dir, for a copy under way (fill); NULL when the
 * directory cannot be watched. */
static cache_dep_t *dep_new(const char *dir, const char *name, lsn_cache_fill_t *fill)
{
    size_t nl = strlen(name) + 1;
    cache_dep_t *d = malloc(sizeof(*d) + nl);

    if (d == NULL) {
        return NULL;
    }
    d->watch = watch_get(dir);
    if (d->watch == NULL) {
        free(d);
        return NULL;
    }
    memcpy(d->name, name, nl);
    d->entry = NULL;
    d->fill = fill;
    d->w_prev = NULL;
    d->w_next = d->watch->deps;
    if (d->w_next != NULL) {
        d->w_next->w_prev = d;
    }
    d->watch->deps = d;
    return d;
}

static void dep_free(cache_dep_t *d)
{
    if (d->w_prev != NULL) {
        d->w_prev->w_next = d->w_next;
    } else {
        d->watch->deps = d->w_next;
    }
    if (d->w_next != NULL) {
        d->w_next->w_prev = d->w_prev;
    }
    watch_put(d->watch);
    free(d);
}

/* ---- entries --------------------------------------------------------------- */

/* lsn_cstore's on_remove: unhook the entry's files, free it. */
static void item_removed(lsn_centry_t *e, void *data)
{
    cache_item_t *it = e->owner;

    (void)data;
    for (size_t i = 0; i < it->ndeps; i++) {
        dep_free(it->deps[i]);
    }
    free(it);
}

/* An event on watch w about name (NULL: the directory itself): every entry
 * depending on it goes, every copy depending on it will not be stored. */
static void watch_invalidate(cache_watch_t *w, const char *name)
{
    bool again = true;

    w->refs++; /* removals below may drop the last reference */
    while (again) {
        again = false;
        for (cache_dep_t *d = w->deps; d != NULL; d = d->w_next) {
            if (name != NULL && strcmp(d->name, name) != 0) {
                continue;
            }
            if (d->fill != NULL) {
                d->fill->stale = true;
                continue;
            }
            lsn_cstore_remove(&store, d->entry); /* frees d: start over */
            again = true;
            break;
        }
    }
    watch_put(w);
}

/* Read every queued inotify event (non-blocking) and drop what they touch. */
static void cache_drain(void)
{
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));

    for (;;) {
        ssize_t n = read(cache_ifd, buf, sizeof(buf));

        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            return; /* EAGAIN: nothing more queued */
        }
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(void *)p;
            cache_watch_t *w;

            p += sizeof(*ev) + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                /* Events were lost: nothing can be trusted. */
                for (size_t i = 0; i < CACHE_WATCH_BUCKETS; i++) {
                    for (w = watch_by_wd[i]; w != NULL; w = w->next_wd) {
                        for (cache_dep_t *d = w->deps; d != NULL; d = d->w_next) {
                            if (d->fill != NULL) {
                                d->fill->stale = true;
                            }
                        }
                    }
                }
                lsn_cstore_flush(&store);
                continue;
            }
            w = watch_find_wd(ev->wd);
            if (w == NULL) {
                continue;
            }
            if (ev->mask & IN_IGNORED) {
                watch_forget_dir(w); /* the directory is gone: the kernel dropped the watch */
            }
            if ((ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT)) ||
                ev->len == 0) {
                watch_invalidate(w, NULL);
            } else {
                watch_invalidate(w, ev->name);
            }
        }
    }
}

static void cache_on_inotify(wasp_loop_t *loop, int fd, uint32_t events, void *data)
{
    (void)loop;
    (void)fd;
    (void)events;
    (void)data;
    cache_drain();
}

/* An entry idle for UriScavengerPeriod goes within a quarter of it more. */
static uint64_t cache_scavenge_every(void)
{
    return uri_idle_ms / 4 < CACHE_SCAVENGE_MS ? uri_idle_ms / 4 : CACHE_SCAVENGE_MS;
}

static wasp_ltimer_t *scavenge_timer;

static void cache_scavenge(wasp_loop_t *loop, void *data)
{
    (void)data;
    lsn_cstore_scavenge(&store, wasp_now_ms(), uri_idle_ms);
    scavenge_timer = wasp_loop_timer(loop, cache_scavenge_every(), cache_scavenge, NULL);
}

void lsn_cache_set_limits(bool enabled, uint32_t max_uri_bytes, uint32_t scavenger_period_s)
{
    uint64_t idle_ms = (uint64_t)scavenger_period_s * 1000u;

    uri_enable_cache = enabled;
    uri_max_bytes = max_uri_bytes;
    if (!enabled) {
        lsn_cache_flush();
    }
    if (idle_ms != uri_idle_ms) {
        uri_idle_ms = idle_ms;
        if (scavenge_timer != NULL) { /* a shorter period starts to count now */
            wasp_loop_timer_cancel(lsn_loop, scavenge_timer);
            scavenge_timer = wasp_loop_timer(lsn_loop, cache_scavenge_every(), cache_scavenge,
                                             NULL);
        }
    }
}

void lsn_cache_init(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    uint64_t ram = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;

    /* maxCacheSize="0" lets the server decide (HTTP.sys: in proportion to
     * memory): 1/32 of RAM, at least 16 MiB, at most 256 MiB. */
    ram_bytes = ram;
    auto_limit = ram / 32;
    if (auto_limit < CACHE_AUTO_MIN) {
        auto_limit = CACHE_AUTO_MIN;
    }
    if (auto_limit > CACHE_AUTO_MAX) {
        auto_limit = CACHE_AUTO_MAX;
    }
    lsn_cstore_init(&store, auto_limit, item_removed, NULL);
    cache_ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (cache_ifd < 0 || wasp_loop_add(lsn_loop, cache_ifd, EPOLLIN, cache_on_inotify, NULL) != 0) {
        wasp_warn("response cache: inotify unavailable (%s); nothing will be cached",
                  strerror(errno));
        if (cache_ifd >= 0) {
            close(cache_ifd);
            cache_ifd = -1;
        }
        return;
    }
    scavenge_timer = wasp_loop_timer(lsn_loop, cache_scavenge_every(), cache_scavenge, NULL);
}

/* ---- hits ------------------------------------------------------------------ */

/* Is the client's copy current?  If-None-Match decides when present
 * (RFC 9110 13.2.2), else If-Modified-Since against Last-Modified. */
static bool not_modified(const cache_req_t *r, const cache_item_t *it)
{
    time_t t;

    if (r->inm != NULL) {
        char etag[128];

        if (it->etag == NULL || it->etag_len >= sizeof(etag)) {
            return false;
        }
        memcpy(etag, it->etag, it->etag_len);
        etag[it->etag_len] = '\0';
        return wasp_http_cond_etag_match(r->inm, r->inm_len, etag, true);
    }
    return r->ims != NULL && it->has_last_modified &&
           wasp_http_date_parse(r->ims, r->ims_len, &t) == 0 && it->last_modified <= t;
}

bool lsn_cache_serve(lsn_request_t *req)
{
    static unsigned depth;
    cache_req_t r;
    lsn_centry_t *e;
    cache_item_t *it;
    uint64_t now, hash;

    /* A hit written at once finishes the request, and the connection then
     * parses the next pipelined one, which may be a hit again: this bounds
     * that recursion (deeper ones simply go to the pool). */
    if (cache_ifd < 0 || depth >= 16 || !cache_req_parse(req, &r) || !r.eligible) {
        return false;
    }
    now = wasp_now_ms();
    hash = cache_req_hash(&r);
    cache_drain(); /* see the comment at the top: edits already made are seen */
    e = lsn_cstore_find(&store, hash, r.site_id, r.host, r.host_len, r.path, r.path_len,
                        cache_req_header, &r, now);
    /* A stopped pool (rapid-fail or administrator) answers 503 for every
     * URL, cached or not: docs/architecture.md, "Response cache". */
    if (e == NULL || req->pool->stopped) {
        st_misses++;
        if (r.get) {
            lsn_cstore_hit_count(&store, hash, now);
        }
        return false;
    }
    it = e->owner;
    st_hits++;
    req->pool->cache_hits++;
    req->log.no_log = it->no_log;
    depth++;
    if (not_modified(&r, it)) {
        lsn_conn_response_cached(req, &it->nm);
    } else if (r.head) {
        lsn_cached_response_t head = it->ok;

        head.body = NULL;
        lsn_conn_response_cached(req, &head);
    } else {
        lsn_conn_response_cached(req, &it->ok);
    }
    depth--;
    return true;
}

/* ---- copying a worker's response ------------------------------------------- */

static void fill_free(lsn_cache_fill_t *f)
{
    for (size_t i = 0; i < f->ndeps; i++) {
        dep_free(f->deps[i]);
    }
    free(f->deps);
    for (size_t i = 0; i < f->nvary; i++) {
        free(f->vary[i]);
    }
    free(f->file);
    free(f->etag);
    wasp_buf_free(&f->head);
    wasp_buf_free(&f->head304);
    wasp_buf_free(&f->hdrs);
    wasp_buf_free(&f->hdrs304);
    wasp_buf_free(&f->body);
    free(f);
}

void lsn_cache_fill_free(lsn_request_t *req)
{
    if (req->cache_fill != NULL) {
        fill_free(req->cache_fill);
        req->cache_fill = NULL;
    }
}

static char *dec_strdup(wasp_dec_t *d)
{
    size_t len;
    const char *p = wasp_dec_str(d, &len);
    char *s;

    if (d->error || memchr(p, '\0', len) != NULL || (s = malloc(len + 1)) == NULL) {
        return NULL;
    }
    memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

void lsn_cache_directive(lsn_request_t *req, const char *payload, size_t len)
{
    lsn_cache_fill_t *f;
    cache_req_t r;
    wasp_dec_t d;
    uint32_t threshold, period_ms, max_cache_mb, nvary, ndeps;
    uint64_t limit;

    lsn_cache_fill_free(req);
    if (cache_ifd < 0 || !uri_enable_cache || !cache_req_parse(req, &r) || !r.eligible ||
        !r.get) {
        return;
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return;
    }
    f->producer = req->worker != NULL ? req->worker->pid : 0;
    wasp_dec_init(&d, payload, len);
    f->policy = wasp_dec_u8(&d);
    f->ttl_ms = wasp_dec_u32(&d);
    threshold = wasp_dec_u32(&d);
    period_ms = wasp_dec_u32(&d);
    f->max_response = wasp_dec_u64(&d);
    if (f->max_response > uri_max_bytes) { /* UriMaxUriBytes bounds it too */
        f->max_response = uri_max_bytes;
    }
    max_cache_mb = wasp_dec_u32(&d);
    if (wasp_dec_u8(&d) != 0) {
        f->file = dec_strdup(&d);
        f->f_dev = wasp_dec_u64(&d);
        f->f_ino = wasp_dec_u64(&d);
        f->f_size = wasp_dec_u64(&d);
        f->f_mtime_ns = (int64_t)wasp_dec_u64(&d);
        f->f_ctime_ns = (int64_t)wasp_dec_u64(&d);
    }
    nvary = wasp_dec_u32(&d);
    if (d.error || nvary > LSN_CSTORE_MAX_VARY ||
        (f->policy != POLICY_UNTIL_CHANGE && f->policy != POLICY_TIME_PERIOD) ||
        !lsn_cstore_hit_frequent(&store, cache_req_hash(&r), threshold, period_ms,
                                 wasp_now_ms())) {
        fill_free(f);
        return;
    }
    /* caching/@maxCacheSize is read in applicationHost.config only, so
     * every worker says the same: the latest word sets the bound. */
    limit = max_cache_mb == 0 ? auto_limit : (uint64_t)max_cache_mb << 20;
    if (ram_bytes != 0 && limit > ram_bytes / 2) {
        limit = ram_bytes / 2; /* workers run application code: never more than half of RAM */
    }
    if (limit != store.limit) {
        lsn_cstore_set_limit(&store, limit);
    }
    for (; f->nvary < nvary; f->nvary++) {
        if ((f->vary[f->nvary] = dec_strdup(&d)) == NULL) {
            fill_free(f);
            return;
        }
    }
    ndeps = wasp_dec_u32(&d);
    if (d.error || ndeps == 0 || ndeps > 1024 ||
        (f->deps = calloc(ndeps, sizeof(*f->deps))) == NULL) {
        fill_free(f);
        return;
    }
    while (f->ndeps < ndeps) {
        char *dir = dec_strdup(&d);
        char *name = dec_strdup(&d);
        cache_dep_t *dep = dir != NULL && name != NULL ? dep_new(dir, name, f) : NULL;

        free(dir);
        free(name);
        if (dep == NULL) {
            fill_free(f);
            return;
        }
        f->deps[f->ndeps++] = dep;
    }
    req->cache_fill = f;
}

/* Does the token list in v name only headers the entry is keyed by? */
static bool vary_covered(const lsn_cache_fill_t *f, const char *v, size_t vl)
{
    size_t i = 0;

    while (i < vl) {
        size_t s, e;
        bool found = false;

        while (i < vl && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) {
            i++;
        }
        s = i;
        while (i < vl && v[i] != ',' && v[i] != ' ' && v[i] != '\t') {
            i++;
        }
        e = i;
        if (e == s) {
            continue;
        }
        for (size_t k = 0; k < f->nvary && !found; k++) {
            found = name_is(v + s, e - s, f->vary[k]);
        }
        if (!found) {
            return false; /* "*" included */
        }
    }
    return true;
}

/* Cache-Control directives that forbid a shared cache from storing it. */
static bool cc_forbids(const char *v, size_t vl)
{
    static const char *const words[] = {"private", "no-store"};

    for (size_t k = 0; k < 2; k++) {
        size_t wl = strlen(words[k]);

        for (size_t i = 0; i + wl <= vl; i++) {
            if (strncasecmp(v + i, words[k], wl) == 0) {
                return true;
            }
        }
    }
    return false;
}

/* One response header, in both forms, for the 200 and (unless it describes
 * the representation: RFC 9110 15.4.5) the 304. */
static void fill_header(lsn_cache_fill_t *f, const char *n, size_t nl, const char *v, size_t vl)
{
    wasp_enc_t e = {.buf = f->hdrs};

    wasp_buf_appendf(&f->head, "%.*s: %.*s\r\n", (int)nl, n, (int)vl, v);
    wasp_enc_str(&e, n, nl);
    wasp_enc_str(&e, v, vl);
    f->hdrs = e.buf;
    f->nhdrs++;
    if (!(nl > 8 && strncasecmp(n, "Content-", 8) == 0) && !name_is(n, nl, "Accept-Ranges")) {
        wasp_enc_t e304 = {.buf = f->hdrs304};

        wasp_buf_appendf(&f->head304, "%.*s: %.*s\r\n", (int)nl, n, (int)vl, v);
        wasp_enc_str(&e304, n, nl);
        wasp_enc_str(&e304, v, vl);
        f->hdrs304 = e304.buf;
        f->nhdrs304++;
    }
}

void lsn_cache_fill_head(lsn_request_t *req, int status, const char *reason, size_t reason_len,
                         wasp_dec_t *headers, uint64_t length, bool has_length, bool no_log)
{
    lsn_cache_fill_t *f = req->cache_fill;
    bool has_server = false;
    uint32_t count;

    if (f == NULL) {
        return;
    }
    /* Only a complete 200 of known, non-zero length within maxResponseSize
     * (KB 817445: zero-length responses are not cached either). */
    if (status != 200 || !has_length || length == 0 || length > f->max_response ||
        !lsn_wire_text_ok(reason, reason_len)) {
        lsn_cache_fill_free(req);
        return;
    }
    f->length = length;
    f->no_log = no_log;
    wasp_buf_appendf(&f->head, "HTTP/1.1 200 %.*s\r\n", (int)reason_len, reason);
    wasp_buf_appendf(&f->head304, "HTTP/1.1 304 Not Modified\r\n");
    count = wasp_dec_u32(headers);
    for (uint32_t i = 0; i < count && !headers->error; i++) {
        size_t nl, vl;
        const char *n = wasp_dec_str(headers, &nl);
        const char *v = wasp_dec_str(headers, &vl);

        if (headers->error || !lsn_wire_token_ok(n, nl) || !lsn_wire_text_ok(v, vl)) {
            f->failed = true; /* the connection drops it; the copy would differ */
            break;
        }
        if (name_is(n, nl, "Set-Cookie") || name_is(n, nl, "Set-Cookie2") ||
            (name_is(n, nl, "Vary") && !vary_covered(f, v, vl)) ||
            (name_is(n, nl, "Cache-Control") && cc_forbids(v, vl))) {
            f->failed = true;
            break;
        }
        /* The same headers the connection drops (conn.c). */
        if (name_is(n, nl, "Connection") || name_is(n, nl, "Keep-Alive") ||
            name_is(n, nl, "Transfer-Encoding") || name_is(n, nl, "Content-Length") ||
            name_is(n, nl, "Date")) {
            continue;
        }
        if (name_is(n, nl, "Server")) {
            has_server = true;
        }
        if (name_is(n, nl, "ETag") && f->etag == NULL && (f->etag = malloc(vl + 1)) != NULL) {
            memcpy(f->etag, v, vl);
            f->etag[vl] = '\0';
        }
        if (name_is(n, nl, "Last-Modified")) {
            f->has_last_modified = wasp_http_date_parse(v, vl, &f->last_modified) == 0;
        }
        fill_header(f, n, nl, v, vl);
    }
    if (!has_server) {
        fill_header(f, "Server", 6, "wasp", 4);
    }
    wasp_buf_appendf(&f->head, "Content-Length: %llu\r\n", (unsigned long long)length);
    /* (Server is always there: neither header list is empty.) */
    if (f->failed || f->head.data == NULL || f->head304.data == NULL || f->hdrs.data == NULL ||
        f->hdrs304.data == NULL || wasp_buf_size(&f->head) > CACHE_MAX_HEAD || wasp_buf_reserve(&f->body, length) != 0) {
        lsn_cache_fill_free(req);
        return;
    }
    f->head_done = true;
}

void lsn_cache_fill_data(lsn_request_t *req, const char *p, size_t len)
{
    lsn_cache_fill_t *f = req->cache_fill;

    if (f == NULL || !f->head_done) {
        return;
    }
    if (wasp_buf_size(&f->body) + len > f->length || wasp_buf_append(&f->body, p, len) != 0) {
        lsn_cache_fill_free(req);
    }
}

void lsn_cache_fill_file(lsn_request_t *req, int fd, off_t off, off_t len)
{
    lsn_cache_fill_t *f = req->cache_fill;
    size_t have;

    if (f == NULL || !f->head_done) {
        return;
    }
    have = wasp_buf_size(&f->body);
    if (len < 0 || (uint64_t)len > f->length - have ||
        wasp_buf_reserve(&f->body, (size_t)len) != 0) {
        lsn_cache_fill_free(req);
        return;
    }
    /* The listener reads the worker's descriptor here (pread leaves the
     * offset sendfile uses alone); bounded by maxResponseSize. */
    for (off_t done = 0; done < len;) {
        ssize_t n = pread(fd, f->body.data + f->body.len, (size_t)(len - done), off + done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            lsn_cache_fill_free(req);
            return;
        }
        f->body.len += (size_t)n;
        done += n;
    }
}

static int64_t ts_ns(const struct timespec *t)
{
    return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* Does the file still look as the worker saw it? */
static bool fill_file_same(const lsn_cache_fill_t *f)
{
    struct stat st;

    if (f->file == NULL) {
        return true;
    }
    return stat(f->file, &st) == 0 && (uint64_t)st.st_dev == f->f_dev &&
           (uint64_t)st.st_ino == f->f_ino && (uint64_t)st.st_size == f->f_size &&
           ts_ns(&st.st_mtim) == f->f_mtime_ns && ts_ns(&st.st_ctim) == f->f_ctime_ns;
}

/* Lay the entry out in one allocation: item, dep pointers, key and bytes. */
static cache_item_t *item_build(const lsn_cache_fill_t *f, const cache_req_t *r,
                                lsn_pool_t *pool)
{
    size_t vlen[LSN_CSTORE_MAX_VARY];
    const char *vval[LSN_CSTORE_MAX_VARY];
    size_t total = sizeof(cache_item_t) + f->ndeps * sizeof(cache_dep_t *) + r->host_len +
                   r->path_len + wasp_buf_size(&f->head) + wasp_buf_size(&f->head304) +
                   8 + wasp_buf_size(&f->hdrs) + wasp_buf_size(&f->hdrs304) +
                   wasp_buf_size(&f->body) + (f->etag ? strlen(f->etag) : 0);
    wasp_enc_t n200 = {0}, n304 = {0};
    cache_item_t *it;
    char *p;

    for (size_t i = 0; i < f->nvary; i++) {
        vval[i] = cache_req_header(f->vary[i], &vlen[i], (void *)r);
        total += strlen(f->vary[i]) + 1 + (vval[i] ? vlen[i] : 0);
    }
    /* the header counts, encoded as the lists' first field */
    wasp_enc_u32(&n200, f->nhdrs);
    wasp_enc_u32(&n304, f->nhdrs304);
    it = n200.buf.data != NULL && n304.buf.data != NULL ? calloc(1, total) : NULL;
    if (it == NULL) {
        wasp_buf_free(&n200.buf);
        wasp_buf_free(&n304.buf);
        return NULL;
    }
    p = (char *)&it->deps[f->ndeps];
#define ITEM_COPY(dst, src, n)                                                                 \
    do {                                                                                       \
        memcpy(p, (src), (n));                                                                 \
        (dst) = p;                                                                             \
        p += (n);                                                                              \
    } while (0)
    ITEM_COPY(it->e.host, r->host, r->host_len);
    it->e.host_len = r->host_len;
    ITEM_COPY(it->e.path, r->path, r->path_len);
    it->e.path_len = r->path_len;
    it->ok.status = 200;
    ITEM_COPY(it->ok.wire, wasp_buf_ptr(&f->head), wasp_buf_size(&f->head));
    it->ok.wire_len = wasp_buf_size(&f->head);
    ITEM_COPY(it->ok.headers, wasp_buf_ptr(&n200.buf), 4);
    memcpy(p, wasp_buf_ptr(&f->hdrs), wasp_buf_size(&f->hdrs)); /* right after the count */
    p += wasp_buf_size(&f->hdrs);
    it->ok.headers_len = 4 + wasp_buf_size(&f->hdrs);
    ITEM_COPY(it->ok.body, wasp_buf_ptr(&f->body), wasp_buf_size(&f->body));
    it->ok.body_len = wasp_buf_size(&f->body);
    it->ok.length = it->ok.body_len;
    it->nm.status = 304;
    ITEM_COPY(it->nm.wire, wasp_buf_ptr(&f->head304), wasp_buf_size(&f->head304));
    it->nm.wire_len = wasp_buf_size(&f->head304);
    ITEM_COPY(it->nm.headers, wasp_buf_ptr(&n304.buf), 4);
    memcpy(p, wasp_buf_ptr(&f->hdrs304), wasp_buf_size(&f->hdrs304));
    p += wasp_buf_size(&f->hdrs304);
    it->nm.headers_len = 4 + wasp_buf_size(&f->hdrs304);
    it->nm.length = it->ok.length;
    wasp_buf_free(&n200.buf);
    wasp_buf_free(&n304.buf);
    if (f->etag != NULL) {
        it->etag_len = strlen(f->etag);
        ITEM_COPY(it->etag, f->etag, it->etag_len);
    }
    for (size_t i = 0; i < f->nvary; i++) {
        ITEM_COPY(it->e.vary_name[i], f->vary[i], strlen(f->vary[i]) + 1);
        if (vval[i] != NULL) {
            ITEM_COPY(it->e.vary_value[i], vval[i], vlen[i]);
            it->e.vary_len[i] = vlen[i];
        }
    }
#undef ITEM_COPY
    it->e.nvary = f->nvary;
    it->e.owner = it;
    it->e.site_id = r->site_id;
    it->e.hash = cache_req_hash(r);
    it->e.bytes = total;
    it->pool = pool;
    it->producer = f->producer;
    it->last_modified = f->last_modified;
    it->has_last_modified = f->has_last_modified;
    it->no_log = f->no_log;
    return it;
}

void lsn_cache_fill_end(lsn_request_t *req)
{
    lsn_cache_fill_t *f = req->cache_fill;
    cache_item_t *it;
    cache_req_t r;
    uint64_t now = wasp_now_ms();

    if (f == NULL) {
        return;
    }
    if (!f->head_done || wasp_buf_size(&f->body) != f->length || !cache_req_parse(req, &r)) {
        lsn_cache_fill_free(req);
        return;
    }
    /* A change to a file it depends on since the worker's verdict, or a
     * file that is not the one the worker read: no entry. */
    cache_drain();
    if (f->stale || !fill_file_same(f) || (it = item_build(f, &r, req->pool)) == NULL) {
        lsn_cache_fill_free(req);
        return;
    }
    it->e.expires_ms = f->policy == POLICY_TIME_PERIOD ? now + f->ttl_ms : 0;
    /* The copy's dependencies become the entry's. */
    for (size_t i = 0; i < f->ndeps; i++) {
        f->deps[i]->fill = NULL;
        f->deps[i]->entry = &it->e;
        it->deps[i] = f->deps[i];
    }
    it->ndeps = f->ndeps;
    f->ndeps = 0;
    if (!lsn_cstore_insert(&store, &it->e, now)) {
        item_removed(&it->e, NULL); /* larger than the whole cache */
    }
    lsn_cache_fill_free(req);
}

void lsn_cache_flush(void)
{
    st_flushes++;
    lsn_cstore_flush(&store);
}

void lsn_cache_worker_gone(pid_t pid)
{
    lsn_centry_t *e = store.lru_head, *next;

    for (; e != NULL; e = next) {
        next = e->lru_next;
        if (((cache_item_t *)e->owner)->producer == pid) {
            lsn_cstore_remove(&store, e);
        }
    }
}

void lsn_cache_get_stats(wasp_cache_counters_t *st)
{
    st->current_uris = store.entries;
    st->total_uris = store.stored;
    st->hits = st_hits;
    st->misses = st_misses;
    st->flushes = st_flushes;
    st->flushed_uris = store.removed;
    st->bytes = store.bytes;
    st->limit = store.limit;
}
