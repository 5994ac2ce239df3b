/*
 * wasp-http's core: the configuration pushed by waspd, the application pools
 * with their bounded queues, and the workers connected to them.
 *
 * Workers pull: a worker announces credit (how many more requests it takes)
 * and the pool hands queued requests only to workers with credit, so a busy
 * or stuck worker never accumulates a backlog; the backlog stays here, where
 * a replacement worker can take it.  A request given to a worker is first
 * DISPATCHED; the worker says STARTED before running it.  If the worker dies,
 * requests not yet started go back to the head of the queue, and only those
 * that were executing are answered 502.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "listener/cache.h"
#include "listener/counters.h"
#include "listener/h2.h"
#include "listener/limits.h"
#include "listener/listener.h"
#include "listener/tls.h"

wasp_loop_t *lsn_loop;
bool lsn_draining;

static wasp_channel_t *control;
static lsn_pool_t **pools;
static size_t pool_count;
typedef struct lsn_listen {
    int fd;
    char ip[64];
    uint16_t port;
    bool tls;       /* an https port: connections start with a TLS handshake */
    bool no_h2;     /* a binding on it has sslFlags 4: ALPN offers no h2 */
    bool confirmed; /* named by the configuration push being applied */
} lsn_listen_t;

static lsn_listen_t *listens;
static size_t listen_count;
static uint32_t next_stream = 1;
static bool drained_sent;

lsn_pool_t **lsn_pools(size_t *count)
{
    *count = pool_count;
    return pools;
}

wasp_channel_t *lsn_control(void)
{
    return control;
}

/* ---- requests ------------------------------------------------------------ */

void lsn_request_free(lsn_request_t *req)
{
    if (req->queue_timer != NULL) {
        wasp_loop_timer_cancel(lsn_loop, req->queue_timer);
    }
    wasp_buf_free(&req->head.buf);
    wasp_buf_free(&req->log.resp_hdrs);
    lsn_body_drop(req);
    lsn_cache_fill_free(req);
    lsn_req_limits_forget(req);
    free(req);
}

static void worker_unlink(lsn_request_t *req)
{
    lsn_worker_t *w = req->worker;

    if (w == NULL) {
        return;
    }
    if (req->wprev != NULL) {
        req->wprev->wnext = req->wnext;
    } else {
        w->streams = req->wnext;
    }
    if (req->wnext != NULL) {
        req->wnext->wprev = req->wprev;
    }
    req->wnext = req->wprev = NULL;
    req->worker = NULL;
}

void lsn_request_abandon(lsn_request_t *req)
{
    req->conn = NULL;
    if (req->state == REQ_QUEUED) {
        wasp_pool_queue_remove(&req->pool->queue, &req->qlink);
        lsn_request_free(req);
        return;
    }
    if (req->worker != NULL) {
        /* The worker finishes or aborts it; its frames are then dropped and
         * the request freed at RESP_END (or when the worker goes). */
        wasp_channel_send(req->worker->ch, WASP_MSG_ABORT, 0, req->stream, NULL, 0, -1);
        return;
    }
    lsn_request_free(req);
}

void lsn_window_ack(lsn_request_t *req, size_t bytes)
{
    req->window_unacked += bytes;
    if (req->worker != NULL && req->window_unacked >= LSN_WORKER_WINDOW_ACK) {
        uint32_t n = (uint32_t)req->window_unacked;

        wasp_channel_send(req->worker->ch, WASP_MSG_WINDOW, 0, req->stream, &n, sizeof(n), -1);
        req->window_unacked = 0;
    }
}

/* ---- pools --------------------------------------------------------------- */

static void pool_dispatch(lsn_pool_t *pool);

static void pool_demand_tick(wasp_loop_t *loop, void *data)
{
    lsn_pool_t *pool = data;

    pool->demand_timer = NULL;
    if (pool->queue.len == 0 || pool->worker_count > 0) {
        return;
    }
    /* Ask again: waspd may have been busy reaping the worker that just died. */
    wasp_channel_send(control, WASP_MSG_DEMAND, 0, 0, pool->name, strlen(pool->name), -1);
    pool->demand_timer = wasp_loop_timer(lsn_loop, 500, pool_demand_tick, pool);
}

static void pool_demand(lsn_pool_t *pool)
{
    if (pool->worker_count > 0 || pool->demand_timer != NULL || pool->queue.len == 0) {
        return;
    }
    wasp_debug("pool '%s': requests waiting and no worker: asking waspd to start one",
               pool->name);
    wasp_channel_send(control, WASP_MSG_DEMAND, 0, 0, pool->name, strlen(pool->name), -1);
    pool->demand_timer = wasp_loop_timer(lsn_loop, 500, pool_demand_tick, pool);
}

static int worker_send_request(lsn_worker_t *w, lsn_request_t *req)
{
    size_t blen = wasp_buf_size(&req->body);
    const char *body = wasp_buf_ptr(&req->body);
    uint16_t flags = blen == 0 && req->body_fd < 0 ? WASP_FLAG_END : 0;

    if (wasp_channel_send(w->ch, WASP_MSG_REQ_HEAD, flags, req->stream,
                          wasp_buf_ptr(&req->head.buf), wasp_buf_size(&req->head.buf), -1) != 0) {
        return -1;
    }
    if (req->body_fd >= 0) {
        /* The file itself travels (the channel dups the descriptor): the
         * request keeps its own, so a retry on another worker still has it. */
        uint64_t len = req->body_len;

        return wasp_channel_send(w->ch, WASP_MSG_REQ_BODY_FILE, WASP_FLAG_END, req->stream, &len,
                                 sizeof(len), req->body_fd);
    }
    while (blen > 0) {
        size_t n = blen > WASP_CH_CHUNK ? WASP_CH_CHUNK : blen;

        if (wasp_channel_send(w->ch, WASP_MSG_REQ_BODY, n == blen ? WASP_FLAG_END : 0,
                              req->stream, body, n, -1) != 0) {
            return -1;
        }
        body += n;
        blen -= n;
    }
    return 0;
}

/* True when the worker already holds LSN_PREFETCH requests it has not
 * started: it is not taking what it gets (a blocked event loop, a hung
 * module), so more would only wait there instead of at a sibling. */
static bool worker_prefetch_full(const lsn_worker_t *w)
{
    unsigned n = 0;

    for (const lsn_request_t *r = w->streams; r != NULL; r = r->wnext) {
        if (r->state == REQ_DISPATCHED && ++n >= LSN_PREFETCH) {
            return true;
        }
    }
    return false;
}

static void pool_dispatch(lsn_pool_t *pool)
{
    while (pool->queue.len > 0) {
        lsn_worker_t *best = NULL;
        lsn_request_t *req;

        /* The worker with the most credit: spreads a web garden evenly. */
        for (lsn_worker_t *w = pool->workers; w != NULL; w = w->next) {
            if (w->hello && w->credit > 0 && (best == NULL || w->credit > best->credit) &&
                !worker_prefetch_full(w)) {
                best = w;
            }
        }
        if (best == NULL) {
            pool_demand(pool);
            return;
        }
        req = (lsn_request_t *)wasp_pool_queue_pop(&pool->queue);
        if (req->queue_timer != NULL) {
            wasp_loop_timer_cancel(lsn_loop, req->queue_timer);
            req->queue_timer = NULL;
        }
        req->stream = next_stream++;
        if (next_stream == 0) {
            next_stream = 1;
        }
        req->worker = best;
        req->state = REQ_DISPATCHED;
        req->wprev = NULL;
        req->wnext = best->streams;
        if (best->streams != NULL) {
            best->streams->wprev = req;
        }
        best->streams = req;
        best->credit--;
        if (worker_send_request(best, req) != 0) {
            /* The channel is gone; its close handler requeues everything. */
            return;
        }
    }
}

static void queue_timeout(wasp_loop_t *loop, void *data)
{
    lsn_request_t *req = data;

    req->queue_timer = NULL;
    if (req->state != REQ_QUEUED) {
        return;
    }
    wasp_pool_queue_remove(&req->pool->queue, &req->qlink);
    lsn_conn_queue_timeout(req); /* frees req with its connection */
}

static void pool_idle_arm(lsn_pool_t *pool, uint64_t ms);

/* webLimits/@dynamicIdleThreshold's reduction, from waspd (IDLE_DIVISOR). */
static uint32_t idle_divisor = 1;

/* processModel/@idleTimeout as it applies now. */
static uint64_t pool_idle_ms(const lsn_pool_t *pool)
{
    return pool->idle_timeout_ms / idle_divisor;
}

static void worker_ping_start(lsn_worker_t *w);

/* The pool cannot take the request: HTTP.sys answers 503 with the reason,
 * or with loadBalancerCapabilities="TcpLevel" closes the connection so a
 * TCP load balancer takes the server out of rotation. */
static void pool_refuse(lsn_pool_t *pool, lsn_request_t *req, const char *reason)
{
    pool->rejected++;
    if (req->conn == NULL) {
        lsn_request_free(req); /* nobody to answer */
    } else if (pool->tcp_level) {
        lsn_conn_drop(req, reason); /* frees req with its connection */
    } else if (pool->stopped) {
        /* The page names the pool and why; a local client (the
         * administrator, usually) also learns how to start it again. */
        char detail[512], remote[320];

        snprintf(remote, sizeof(remote), "Application pool '%s' is stopped (%s).", pool->name,
                 reason);
        snprintf(detail, sizeof(detail),
                 "Application pool '%s' is stopped (%s: %s). Start it with: waspctl start "
                 "apppool \"%s\"", pool->name, reason,
                 strcmp(reason, "AppOffline") == 0
                     ? "rapid-fail protection stopped it after repeated worker failures"
                     : "stopped by an administrator or by its autoStart setting",
                 pool->name);
        lsn_conn_httpsys_error_detail(req, WASP_HTTPSYS_SERVICE_UNAVAILABLE, reason, detail,
                                      remote);
    } else {
        /* The connection owns req from here (it may be freed at once). */
        lsn_conn_httpsys_error(req, WASP_HTTPSYS_SERVICE_UNAVAILABLE, reason);
    }
}

/* A request for a suspended pool: its workers were stopped (SIGSTOP) by
 * idleTimeoutAction="Suspend"; waspd wakes them on DEMAND, and the request
 * waits in their socket meanwhile. */
static void pool_wake(lsn_pool_t *pool)
{
    pool->suspended = false;
    wasp_channel_send(control, WASP_MSG_DEMAND, 0, 0, pool->name, strlen(pool->name), -1);
    for (lsn_worker_t *w = pool->workers; w != NULL; w = w->next) {
        if (w->hello) {
            worker_ping_start(w);
        }
    }
}

/* Requests the pool's connected workers have credit for. */
static size_t pool_promised(const lsn_pool_t *pool)
{
    size_t n = 0;

    for (const lsn_worker_t *w = pool->workers; w != NULL; w = w->next) {
        if (w->hello && !w->draining) {
            n += w->credit;
        }
    }
    return n;
}

void lsn_pool_submit(lsn_pool_t *pool, lsn_request_t *req)
{
    req->submit_ms = wasp_now_ms();
    pool->last_activity_ms = req->submit_ms;
    pool->arrivals++;
    if (pool->stopped) {
        pool_refuse(pool, req, pool->stop_reason);
        return;
    }
    if (pool->suspended) {
        pool_wake(pool);
    }
    if (wasp_pool_queue_push(&pool->queue, &req->qlink, pool_promised(pool)) != 0) {
        pool_refuse(pool, req, "QueueFull");
        return;
    }
    req->state = REQ_QUEUED;
    pool_dispatch(pool);
    if (req->state == REQ_QUEUED && req->queue_timer == NULL) {
        /* It has to wait: HTTP.sys' RequestQueue timer (connectionTimeout)
         * bounds how long.  Armed only when waiting, so the common path
         * costs nothing. */
        req->queue_timer = wasp_loop_timer(lsn_loop, req->queue_timeout_ms, queue_timeout, req);
    }
    if (pool->idle_timer == NULL && pool->idle_timeout_ms > 0) {
        pool_idle_arm(pool, pool_idle_ms(pool));
    }
}

/* ---- workers ------------------------------------------------------------- */

static lsn_request_t *worker_find(lsn_worker_t *w, uint32_t stream)
{
    for (lsn_request_t *r = w->streams; r != NULL; r = r->wnext) {
        if (r->stream == stream) {
            return r;
        }
    }
    return NULL;
}

/* Health: IIS' WAS pings each worker every pingInterval and gives up on it
 * after pingResponseTime without an answer.  The listener holds the
 * channel, so it pings; waspd, the workers' parent, kills. */
static void worker_ping_tick(wasp_loop_t *loop, void *data)
{
    lsn_worker_t *w = data;
    lsn_pool_t *pool = w->pool;

    w->ping_timer = NULL;
    if (w->ping_outstanding) {
        if (!w->hung_reported) {
            wasp_enc_t e = {0};

            w->hung_reported = true;
            wasp_warn("pool '%s': worker pid %d did not answer a ping within %u ms",
                      pool->name, (int)w->pid, pool->ping_response_ms);
            wasp_enc_u32(&e, (uint32_t)w->pid);
            wasp_enc_cstr(&e, pool->name);
            wasp_channel_send(control, WASP_MSG_WORKER_HUNG, 0, 0, wasp_buf_ptr(&e.buf),
                              wasp_buf_size(&e.buf), -1);
            wasp_buf_free(&e.buf);
            /* Killed or orphaned by waspd: either way it gets nothing new. */
            w->draining = true;
            w->credit = 0;
        }
        return;
    }
    w->ping_outstanding = true;
    wasp_channel_send(w->ch, WASP_MSG_PING, 0, 0, NULL, 0, -1);
    w->ping_timer = wasp_loop_timer(lsn_loop, pool->ping_response_ms, worker_ping_tick, w);
}

static void worker_ping_start(lsn_worker_t *w)
{
    if (w->ping_timer != NULL) {
        wasp_loop_timer_cancel(lsn_loop, w->ping_timer);
        w->ping_timer = NULL;
    }
    w->ping_outstanding = false;
    if (w->pool->ping_interval_ms > 0 && !w->pool->suspended) {
        w->ping_timer = wasp_loop_timer(lsn_loop, w->pool->ping_interval_ms, worker_ping_tick, w);
    }
}

/* ---- idle time-out ------------------------------------------------------- */

static bool pool_busy(const lsn_pool_t *pool)
{
    if (pool->queue.len > 0) {
        return true;
    }
    for (const lsn_worker_t *w = pool->workers; w != NULL; w = w->next) {
        if (w->streams != NULL) {
            return true;
        }
    }
    return false;
}

/* processModel/@idleTimeout: no request executing and none arriving for
 * that long.  The timer is lazy: requests only stamp last_activity_ms, and
 * the timer, when it fires early, sleeps for the rest. */
static void pool_idle_tick(wasp_loop_t *loop, void *data)
{
    lsn_pool_t *pool = data;
    uint64_t now = wasp_now_ms(), since;

    pool->idle_timer = NULL;
    if (pool->idle_timeout_ms == 0 || pool->worker_count == 0 || pool->suspended) {
        return;
    }
    if (pool_busy(pool)) {
        pool->last_activity_ms = now;
    }
    since = now - pool->last_activity_ms;
    if (since < pool_idle_ms(pool)) {
        pool_idle_arm(pool, pool_idle_ms(pool) - since);
        return;
    }
    wasp_info("pool '%s': idle for %llu ms (idleTimeout %u s%s)", pool->name,
              (unsigned long long)since, pool->idle_timeout_ms / 1000u,
              idle_divisor > 1 ? ", shortened by dynamicIdleThreshold" : "");
    {
        wasp_enc_t e = {0};

        wasp_enc_cstr(&e, pool->name);
        wasp_channel_send(control, WASP_MSG_POOL_IDLE, 0, 0, wasp_buf_ptr(&e.buf),
                          wasp_buf_size(&e.buf), -1);
        wasp_buf_free(&e.buf);
    }
    if (pool->idle_suspend) {
        pool->suspended = true;
        for (lsn_worker_t *w = pool->workers; w != NULL; w = w->next) {
            if (w->ping_timer != NULL) {
                wasp_loop_timer_cancel(lsn_loop, w->ping_timer);
                w->ping_timer = NULL;
            }
            w->ping_outstanding = false;
        }
    }
}

static void pool_idle_arm(lsn_pool_t *pool, uint64_t ms)
{
    if (pool->idle_timer != NULL) {
        wasp_loop_timer_cancel(lsn_loop, pool->idle_timer);
    }
    pool->idle_timer = wasp_loop_timer(lsn_loop, ms, pool_idle_tick, pool);
}

static void worker_free(lsn_worker_t *w)
{
    if (w->ping_timer != NULL) {
        wasp_loop_timer_cancel(lsn_loop, w->ping_timer);
    }
    lsn_pool_t *pool = w->pool;
    lsn_worker_t **pp = &pool->workers;

    while (*pp != NULL && *pp != w) {
        pp = &(*pp)->next;
    }
    if (*pp == w) {
        *pp = w->next;
    }
    if (w->hello) {
        pool->worker_count--;
    }
    lsn_cache_worker_gone(w->pid);
    wasp_channel_free(w->ch);
    free(w);
}

static void worker_on_close(wasp_channel_t *ch, void *data)
{
    lsn_worker_t *w = data;
    lsn_pool_t *pool = w->pool;
    size_t requeued = 0, lost = 0;

    while (w->streams != NULL) {
        lsn_request_t *req = w->streams;
        lsn_req_state_t st = req->state;

        worker_unlink(req);
        if (req->conn == NULL) {
            lsn_request_free(req);
        } else if (st == REQ_DISPATCHED) {
            /* Never started: safe to give to the next worker, at the front. */
            req->state = REQ_QUEUED;
            wasp_pool_queue_push_front(&pool->queue, &req->qlink);
            requeued++;
        } else if (st == REQ_RESPONDING && req->resp_has_length &&
                   req->resp_queued >= req->resp_length) {
            /* Every promised byte is here; only RESP_END was lost with the
             * worker: the client gets a complete response. */
            lsn_conn_response_end(req);
        } else if (st != REQ_DONE) {
            lsn_conn_worker_lost(req);
            lost++;
        }
    }
    if (w->hello) {
        wasp_info("pool '%s': worker pid %d disconnected (%zu request(s) answered 502, %zu "
                  "requeued)", pool->name, (int)w->pid, lost, requeued);
    }
    worker_free(w);
    pool_dispatch(pool);
    lsn_maybe_exit();
}

/* A response is complete: the request leaves the worker, which gets its
 * credit back (implied by the end of a response). */
static void worker_request_end(lsn_worker_t *w, lsn_request_t *req)
{
    lsn_cache_fill_end(req);
    worker_unlink(req);
    w->pool->served++;
    w->served++;
    if (!w->draining) {
        w->credit++;
    }
    if (w->pool->restart_requests != 0 && w->served >= w->pool->restart_requests &&
        !w->recycle_reported) {
        /* periodicRestart/@requests: waspd starts a replacement, then stops
         * this one; it keeps serving until then. */
        wasp_enc_t e = {0};

        w->recycle_reported = true;
        wasp_enc_u32(&e, (uint32_t)w->pid);
        wasp_enc_cstr(&e, w->pool->name);
        wasp_enc_u32(&e, 2u /* WASP_RECYCLE_REQUESTS */);
        wasp_channel_send(control, WASP_MSG_WORKER_RECYCLE, 0, 0, wasp_buf_ptr(&e.buf),
                          wasp_buf_size(&e.buf), -1);
        wasp_buf_free(&e.buf);
    }
    if (req->conn == NULL) {
        lsn_request_free(req);
    } else if (req->state != REQ_RESPONDING) {
        /* Ended without a head while the client waits (our worker never
         * does this): the client must not hang; it gets the 502. */
        lsn_conn_worker_lost(req);
    } else {
        lsn_conn_response_end(req);
    }
    pool_dispatch(w->pool);
}

static void worker_on_msg(wasp_channel_t *ch, const wasp_frame_hdr_t *hdr, const char *payload,
                          int fd, void *data)
{
    lsn_worker_t *w = data;
    lsn_request_t *req = NULL;
    wasp_dec_t d;

    wasp_dec_init(&d, payload, hdr->length);
    if (hdr->type != WASP_MSG_HELLO && !w->hello) {
        wasp_error("pool '%s': worker spoke before HELLO; closing its channel", w->pool->name);
        goto bad;
    }
    if ((hdr->type > WASP_MSG_STARTED && hdr->type <= WASP_MSG_RESP_END) ||
        hdr->type == WASP_MSG_RESP_CACHE) {
        req = worker_find(w, hdr->stream);
        if (req == NULL) {
            wasp_error("pool '%s': worker pid %d sent frame %u for unknown stream %u; closing its "
                       "channel", w->pool->name,
                       (int)w->pid, hdr->type, hdr->stream);
            goto bad;
        }
    }
    switch (hdr->type) {
    case WASP_MSG_HELLO: {
        char pool[256];

        if (w->hello) {
            goto bad;
        }
        pid_t said = (pid_t)wasp_dec_u32(&d);

        wasp_dec_cstr(&d, pool, sizeof(pool));
        if (d.error || strcmp(pool, w->pool->name) != 0 || said != w->pid) {
            wasp_error("worker pid %d on the channel of pool '%s' says it is pid %d of '%s'; "
                       "closing", (int)w->pid, w->pool->name, (int)said, pool);
            goto bad;
        }
        w->hello = true;
        w->pool->worker_count++;
        if (w->pool->demand_timer != NULL) {
            /* The demand is met: a later one must be sent at once, not
             * when this reminder would have fired. */
            wasp_loop_timer_cancel(lsn_loop, w->pool->demand_timer);
            w->pool->demand_timer = NULL;
        }
        worker_ping_start(w);
        wasp_info("pool '%s': worker pid %d connected", w->pool->name, (int)w->pid);
        {
            wasp_enc_t e = {0};

            wasp_enc_u32(&e, (uint32_t)w->pid);
            wasp_enc_cstr(&e, w->pool->name);
            wasp_channel_send(control, WASP_MSG_WORKER_READY, 0, 0, wasp_buf_ptr(&e.buf),
                              wasp_buf_size(&e.buf), -1);
            wasp_buf_free(&e.buf);
        }
        if (w->pool->idle_timeout_ms > 0 && w->pool->idle_timer == NULL) {
            w->pool->last_activity_ms = wasp_now_ms();
            pool_idle_arm(w->pool, pool_idle_ms(w->pool));
        }
        break;
    }
    case WASP_MSG_CREDIT:
        w->credit += wasp_dec_u32(&d);
        pool_dispatch(w->pool);
        break;
    case WASP_MSG_STARTED:
        /* The worker names every request it is about to run in one frame. */
        while (d.p + sizeof(uint32_t) <= d.end) {
            lsn_request_t *r = worker_find(w, wasp_dec_u32(&d));

            if (r != NULL && r->state == REQ_DISPATCHED) {
                r->state = REQ_STARTED;
            }
        }
        pool_dispatch(w->pool); /* its prefetch has room again */
        break;
    case WASP_MSG_RESP_HEAD: {
        int status = wasp_dec_u16(&d);
        size_t rl;
        const char *reason = wasp_dec_str(&d, &rl);
        uint16_t substatus = wasp_dec_u16(&d);
        uint32_t win32 = wasp_dec_u32(&d);
        uint8_t log_flags = wasp_dec_u8(&d);
        uint8_t has_length = wasp_dec_u8(&d);
        uint64_t length = wasp_dec_u64(&d);

        if (d.error || status < 100 || status > 999 || req->state >= REQ_RESPONDING) {
            goto bad; /* malformed, or a second head for one response */
        }
        req->log.from_worker = true;
        req->log.status = (uint16_t)status;
        req->log.substatus = substatus;
        req->log.win32 = win32;
        req->log.no_log = (log_flags & WASP_RESP_NO_LOG) != 0;
        wasp_dec_t cache_headers = d;

        lsn_conn_response_head(req, status, reason, rl, &d, length, has_length != 0);
        lsn_cache_fill_head(req, status, reason, rl, &cache_headers, length, has_length != 0,
                            req->log.no_log);
        if (hdr->flags & WASP_FLAG_END) {
            if (d.error) {
                goto bad;
            }
            /* The body is the rest of the frame, and the response is done. */
            lsn_cache_fill_data(req, d.p, (size_t)(d.end - d.p));
            lsn_conn_response_data(req, d.p, (size_t)(d.end - d.p));
            worker_request_end(w, req);
        } else {
            lsn_conn_response_flush(req);
        }
        break;
    }
    case WASP_MSG_RESP_BODY:
        if (req->state != REQ_RESPONDING) {
            goto bad; /* a body before its head */
        }
        lsn_cache_fill_data(req, payload, hdr->length);
        lsn_conn_response_data(req, payload, hdr->length);
        lsn_conn_response_flush(req);
        break;
    case WASP_MSG_RESP_FILE: {
        uint64_t off = wasp_dec_u64(&d), len = wasp_dec_u64(&d);

        if (fd < 0 || d.error || req->state != REQ_RESPONDING || off > INT64_MAX ||
            len > INT64_MAX - off) {
            goto bad;
        }
        lsn_cache_fill_file(req, fd, (off_t)off, (off_t)len);
        lsn_conn_response_file(req, fd, (off_t)off, (off_t)len);
        lsn_conn_response_flush(req);
        fd = -1;
        break;
    }
    case WASP_MSG_RESP_END:
        worker_request_end(w, req);
        break;
    case WASP_MSG_RESP_CACHE:
        if (req->state >= REQ_RESPONDING) {
            goto bad; /* the verdict comes before the head */
        }
        lsn_cache_directive(req, payload, hdr->length);
        break;
    case WASP_MSG_DRAIN:
        w->draining = true;
        w->credit = 0;
        wasp_info("pool '%s': worker pid %d is stopping; it gets no new requests", w->pool->name,
                  (int)w->pid);
        break;
    case WASP_MSG_PONG:
        if (w->ping_outstanding) {
            worker_ping_start(w);
        }
        break;
    case WASP_MSG_REQ_STATUS:
        lsn_status_reply(w, &d);
        break;
    default:
        wasp_error("pool '%s': unknown frame type %u from worker; closing its channel",
                   w->pool->name, hdr->type);
        goto bad;
    }
    if (fd >= 0) {
        close(fd);
    }
    return;
bad:
    if (fd >= 0) {
        close(fd);
    }
    worker_on_close(ch, w);
}

static void pool_on_accept(wasp_loop_t *loop, int fd, uint32_t events, void *data)
{
    lsn_pool_t *pool = data;

    for (;;) {
        struct ucred cred;
        socklen_t len = sizeof(cred);
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        lsn_worker_t *w;

        if (cfd < 0) {
            return;
        }
        /* Only a process running as this pool's identity may serve it. */
        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
            cred.uid != pool->uid) {
            wasp_warn("pool '%s': refused a channel connection from uid %d pid %d (the pool "
                      "runs as uid %d)", pool->name, (int)cred.uid, (int)cred.pid,
                      (int)pool->uid);
            close(cfd);
            continue;
        }
        w = calloc(1, sizeof(*w));
        if (w == NULL) {
            close(cfd);
            continue;
        }
        w->pool = pool;
        w->pid = cred.pid;
        w->ch = wasp_channel_new(lsn_loop, cfd, worker_on_msg, worker_on_close, w);
        if (w->ch == NULL) {
            close(cfd);
            free(w);
            continue;
        }
        w->next = pool->workers;
        pool->workers = w;
    }
}

/* ---- configuration from waspd -------------------------------------------- */

static lsn_pool_t *pool_find(const char *name)
{
    for (size_t i = 0; i < pool_count; i++) {
        if (strcmp(pools[i]->name, name) == 0) {
            return pools[i];
        }
    }
    return NULL;
}

static void listen_on_accept(wasp_loop_t *loop, int fd, uint32_t events, void *data)
{
    bool tls = false, h2 = true;

    for (size_t i = 0; i < listen_count; i++) {
        if (listens[i].fd == fd) {
            tls = listens[i].tls;
            h2 = !listens[i].no_h2;
        }
    }
    lsn_conn_accept(fd, tls, h2);
}

static void accept_resume(wasp_loop_t *loop, void *data)
{
    int fd = (int)(intptr_t)data;

    for (size_t i = 0; i < listen_count; i++) {
        if (listens[i].fd == fd) {
            wasp_loop_mod(lsn_loop, fd, EPOLLIN);
        }
    }
}

void lsn_accept_pause(int listen_fd, int err)
{
    static uint64_t last_log;
    uint64_t now = wasp_now_ms();

    if (now - last_log > 10000) {
        last_log = now;
        wasp_error("cannot accept connections: %s (%zu open); new connections wait in the "
                   "backlog. Raise the descriptor limit (ulimit -n) if this lasts",
                   strerror(err), lsn_conn_count());
    }
    wasp_loop_mod(lsn_loop, listen_fd, 0);
    wasp_loop_timer(lsn_loop, 100, accept_resume, (void *)(intptr_t)listen_fd);
}

static void control_on_msg(wasp_channel_t *ch, const wasp_frame_hdr_t *hdr, const char *payload,
                           int fd, void *data)
{
    wasp_dec_t d;
    char a[1024], b[1024];

    wasp_dec_init(&d, payload, hdr->length);
    switch (hdr->type) {
    case WASP_MSG_CFG_BEGIN:
        /* Everything is sent again; what is not confirmed by CFG_END goes.
         * The configuration changed: no cached response outlives it. */
        lsn_cache_flush();
        lsn_req_limits_flush();
        lsn_route_begin();
        lsn_tls_begin();
        lsn_log_cfg_begin();
        for (size_t i = 0; i < listen_count; i++) {
            listens[i].confirmed = false;
        }
        for (size_t i = 0; i < pool_count; i++) {
            pools[i]->confirmed = false;
        }
        break;
    case WASP_MSG_CFG_LISTEN: {
        uint16_t port;
        bool tls, no_h2;
        lsn_listen_t *p = NULL;
        uint8_t flags;

        wasp_dec_cstr(&d, a, sizeof(a));
        port = wasp_dec_u16(&d);
        flags = wasp_dec_u8(&d);
        tls = (flags & WASP_LISTEN_TLS) != 0;
        no_h2 = (flags & WASP_LISTEN_NO_H2) != 0;
        if (fd < 0 || d.error) {
            wasp_alert("configuration: LISTEN without a socket");
            break;
        }
        for (size_t i = 0; i < listen_count; i++) {
            if (listens[i].port == port && strcmp(listens[i].ip, a) == 0) {
                p = &listens[i];
            }
        }
        if (p != NULL) {
            p->confirmed = true; /* already listening: the copy is not needed */
            p->tls = tls;        /* a binding may have changed protocol */
            p->no_h2 = no_h2;
            break;
        }
        p = realloc(listens, (listen_count + 1) * sizeof(*p));
        if (p == NULL) {
            break;
        }
        listens = p;
        p = &listens[listen_count++];
        p->fd = fd;
        snprintf(p->ip, sizeof(p->ip), "%s", a);
        p->port = port;
        p->tls = tls;
        p->no_h2 = no_h2;
        p->confirmed = true;
        wasp_set_nonblock(fd);
        wasp_loop_add(lsn_loop, fd, EPOLLIN, listen_on_accept, NULL);
        wasp_info("listening on %s:%u%s", a, port, tls ? " (https)" : "");
        fd = -1;
        break;
    }
    case WASP_MSG_CFG_POOL: {
        lsn_pool_t *pool, **pp;
        uint32_t uid, qlen, ping_interval, ping_response, restart_requests, idle_ms;
        uint8_t idle_suspend, tcp_level;

        wasp_dec_cstr(&d, a, sizeof(a));
        uid = wasp_dec_u32(&d);
        qlen = wasp_dec_u32(&d);
        ping_interval = wasp_dec_u32(&d);
        ping_response = wasp_dec_u32(&d);
        restart_requests = wasp_dec_u32(&d);
        idle_ms = wasp_dec_u32(&d);
        idle_suspend = wasp_dec_u8(&d);
        tcp_level = wasp_dec_u8(&d);
        if (fd < 0 || d.error) {
            wasp_alert("configuration: bad POOL '%s'", a);
            break;
        }
        pool = pool_find(a);
        if (pool == NULL) {
            pool = calloc(1, sizeof(*pool));
            pp = realloc(pools, (pool_count + 1) * sizeof(*pp));
            if (pool == NULL || pp == NULL) {
                free(pool);
                break;
            }
            pools = pp;
            pools[pool_count++] = pool;
            snprintf(pool->name, sizeof(pool->name), "%s", a);
            pool->listen_fd = fd;
            pool->created_ms = wasp_now_ms();
            wasp_pool_queue_init(&pool->queue, qlen);
            wasp_set_nonblock(fd);
            wasp_loop_add(lsn_loop, fd, EPOLLIN, pool_on_accept, pool);
            fd = -1;
        }
        /* A known pool keeps its socket (the fd sent again is the same one)
         * and its queue; its settings are the new ones. */
        pool->confirmed = true;
        pool->removed = false;
        pool->uid = uid;
        pool->queue.limit = qlen;
        pool->ping_interval_ms = ping_interval;
        pool->ping_response_ms = ping_response;
        pool->restart_requests = restart_requests;
        pool->idle_timeout_ms = idle_ms;
        pool->idle_suspend = idle_suspend != 0;
        pool->tcp_level = tcp_level != 0;
        break;
    }
    case WASP_MSG_CFG_SITE: {
        uint32_t id = wasp_dec_u32(&d);
        uint32_t started, timeout_ms, max_conns;

        wasp_dec_cstr(&d, a, sizeof(a));
        started = wasp_dec_u32(&d);
        timeout_ms = wasp_dec_u32(&d);
        max_conns = wasp_dec_u32(&d);
        lsn_route_add_site(id, a, started != 0, timeout_ms, max_conns, wasp_dec_u32(&d));
        break;
    }
    case WASP_MSG_CFG_BINDING: {
        uint32_t site = wasp_dec_u32(&d);
        uint16_t port;

        wasp_dec_cstr(&d, a, sizeof(a));
        port = wasp_dec_u16(&d);
        wasp_dec_cstr(&d, b, sizeof(b));
        lsn_route_add_binding(site, a, port, b);
        break;
    }
    case WASP_MSG_CFG_TLS_CERT: {
        uint32_t id = wasp_dec_u32(&d);
        size_t len;
        const char *pem = wasp_dec_str(&d, &len);

        if (!d.error) {
            lsn_tls_add_cert(id, pem, len);
        }
        /* The key is not kept in the frame buffer any longer than this. */
        memset((char *)payload, 0, hdr->length);
        break;
    }
    case WASP_MSG_CFG_TLS_BINDING: {
        uint8_t kind = wasp_dec_u8(&d);
        uint16_t port;
        uint32_t id, trust;
        bool negotiate, no_h2;

        wasp_dec_cstr(&d, a, sizeof(a));
        port = wasp_dec_u16(&d);
        wasp_dec_cstr(&d, b, sizeof(b));
        id = wasp_dec_u32(&d);
        negotiate = wasp_dec_u8(&d) != 0;
        trust = wasp_dec_u32(&d);
        no_h2 = wasp_dec_u8(&d) != 0;
        if (!d.error && kind <= LSN_TLS_CCS) {
            lsn_tls_add_binding((lsn_tls_kind_t)kind, a, port, b, id, negotiate, trust, no_h2);
        }
        break;
    }
    case WASP_MSG_CFG_TLS_TRUST: {
        uint32_t id = wasp_dec_u32(&d);
        size_t len;
        const char *pem = wasp_dec_str(&d, &len);

        if (!d.error) {
            lsn_tls_add_trust(id, pem, len);
        }
        break;
    }
    case WASP_MSG_CFG_APP: {
        uint32_t site = wasp_dec_u32(&d);
        lsn_pool_t *pool;

        wasp_dec_cstr(&d, a, sizeof(a));
        wasp_dec_cstr(&d, b, sizeof(b));
        pool = pool_find(b);
        if (pool == NULL) {
            wasp_alert("configuration: application %s names unknown pool '%s'", a, b);
            break;
        }
        lsn_route_add_app(site, a, pool);
        break;
    }
    case WASP_MSG_POOL_STATE: {
        lsn_pool_t *pool;
        uint8_t started;

        wasp_dec_cstr(&d, a, sizeof(a));
        started = wasp_dec_u8(&d);
        wasp_dec_cstr(&d, b, sizeof(b));
        pool = pool_find(a);
        if (pool == NULL || d.error) {
            break;
        }
        bool was_stopped = pool->stopped;

        pool->stopped = !started;
        snprintf(pool->stop_reason, sizeof(pool->stop_reason), "%s", b);
        if (was_stopped && !pool->stopped) {
            wasp_info("pool '%s' is started", pool->name);
        }
        if (pool->stopped) {
            /* Everything waiting gets the answer new requests get. */
            wasp_qlink_t *l;

            while ((l = wasp_pool_queue_pop(&pool->queue)) != NULL) {
                lsn_request_t *req = (lsn_request_t *)l;

                if (req->queue_timer != NULL) {
                    wasp_loop_timer_cancel(lsn_loop, req->queue_timer);
                    req->queue_timer = NULL;
                }
                pool_refuse(pool, req, pool->stop_reason);
            }
            if (!was_stopped) {
                wasp_info("pool '%s' is stopped (%s): its requests are answered 503", pool->name,
                          pool->stop_reason);
            }
        }
        break;
    }
    case WASP_MSG_CFG_END: {
        size_t live_pools = 0;

        lsn_route_commit();
        lsn_tls_commit();
        lsn_log_cfg_commit();
        for (size_t i = 0; i < listen_count;) {
            if (!listens[i].confirmed) {
                wasp_info("no longer listening on %s:%u", listens[i].ip, listens[i].port);
                wasp_loop_del(lsn_loop, listens[i].fd);
                close(listens[i].fd);
                listens[i] = listens[--listen_count];
            } else {
                i++;
            }
        }
        for (size_t i = 0; i < pool_count; i++) {
            /* A deleted pool keeps its memory (requests and workers may
             * still point at it) but gets no new requests: no route names
             * it any more. */
            pools[i]->removed = !pools[i]->confirmed;
            live_pools += !pools[i]->removed;
        }
        wasp_info("configuration applied: %zu pool(s), %zu listening socket(s)", live_pools,
                  listen_count);
        break;
    }
    case WASP_MSG_CFG_LIMITS: {
        uint32_t field = wasp_dec_u32(&d), request = wasp_dec_u32(&d);
        uint32_t seg_len = wasp_dec_u32(&d), seg_count = wasp_dec_u32(&d);
        uint8_t restricted = wasp_dec_u8(&d), percent_u = wasp_dec_u8(&d);
        uint32_t max_conns = wasp_dec_u32(&d), idle_s = wasp_dec_u32(&d);
        uint32_t header_wait_s = wasp_dec_u32(&d), min_rate = wasp_dec_u32(&d);
        uint32_t global_bw = wasp_dec_u32(&d);
        uint8_t non_utf8 = wasp_dec_u8(&d), favor_utf8 = wasp_dec_u8(&d);
        lsn_h2_limits_t h2l;

        h2l.tls = wasp_dec_u8(&d) != 0;
        h2l.cleartext = wasp_dec_u8(&d) != 0;
        h2l.max_streams = wasp_dec_u32(&d);
        h2l.settings_per_frame = wasp_dec_u32(&d);
        h2l.settings_per_minute = wasp_dec_u32(&d);
        h2l.resets_per_10s = wasp_dec_u32(&d);
        uint8_t uri_cache = wasp_dec_u8(&d);
        uint32_t uri_max = wasp_dec_u32(&d), uri_period_s = wasp_dec_u32(&d);
        if (!d.error) {
            lsn_cache_set_limits(uri_cache != 0, uri_max, uri_period_s);
            lsn_h2_limits = h2l;
            lsn_conn_set_limits(field, request, seg_len, seg_count, restricted != 0,
                                percent_u != 0, non_utf8 != 0, favor_utf8 != 0);
            lsn_limits_set(idle_s, header_wait_s, min_rate, global_bw, max_conns);
        }
        break;
    }
    case WASP_MSG_QUERY_REQUESTS:
        lsn_status_query(wasp_dec_u32(&d));
        break;
    case WASP_MSG_LIMITS_ANSWER:
        lsn_req_limits_answer(payload, hdr->length);
        break;
    case WASP_MSG_LIMITS_FLUSH:
        lsn_req_limits_flush();
        break;
    case WASP_MSG_IDLE_DIVISOR: {
        uint32_t div = wasp_dec_u32(&d);

        if (!d.error && div >= 1 && div != idle_divisor) {
            idle_divisor = div;
            /* Every armed idle timer looks again at once, with the new
             * length (the tick re-arms for whatever is left). */
            for (size_t i = 0; i < pool_count; i++) {
                if (pools[i]->idle_timer != NULL) {
                    pool_idle_arm(pools[i], 0);
                }
            }
        }
        break;
    }
    case WASP_MSG_QUERY_COUNTERS: {
        wasp_buf_t out = {0};

        lsn_counters_lines(&out);
        wasp_channel_send(control, WASP_MSG_COUNTERS, 0, 0, wasp_buf_ptr(&out),
                          wasp_buf_size(&out) < WASP_CH_CHUNK ? wasp_buf_size(&out)
                                                              : WASP_CH_CHUNK, -1);
        wasp_buf_free(&out);
        break;
    }
    case WASP_MSG_CFG_METRICS: {
        char allowed[1024];

        wasp_dec_cstr(&d, a, sizeof(a));
        wasp_dec_cstr(&d, allowed, sizeof(allowed));
        if (!d.error) {
            lsn_metrics_listen(fd, a, allowed);
            fd = -1;
        }
        break;
    }
    case WASP_MSG_CFG_LOG:
        if (lsn_log_cfg_add(payload, hdr->length) != 0) {
            wasp_alert("configuration: malformed LOG frame");
        }
        break;
    default:
        wasp_alert("control: unknown frame type %u", hdr->type);
        break;
    }
    if (d.error) {
        wasp_alert("control: malformed frame type %u", hdr->type);
    }
    if (fd >= 0) {
        close(fd);
    }
}

static void control_on_close(wasp_channel_t *ch, void *data)
{
    /* waspd is our parent; without it nobody can start workers or stop us. */
    wasp_error("lost the control channel to waspd; exiting");
    lsn_log_shutdown();
    exit(1);
}

void lsn_maybe_exit(void)
{
    if (!lsn_draining || lsn_conn_count() > 0 || drained_sent) {
        return;
    }
    drained_sent = true;
    wasp_info("drained: every connection is closed; exiting");
    /* Workers would otherwise take the closed channel for a listener crash
     * and reconnect (waspd still holds their pool sockets). */
    for (size_t i = 0; i < pool_count; i++) {
        for (lsn_worker_t *w = pools[i]->workers; w != NULL; w = w->next) {
            wasp_channel_send(w->ch, WASP_MSG_SHUTDOWN, 0, 0, NULL, 0, -1);
            wasp_channel_flush_blocking(w->ch);
        }
    }
    lsn_log_shutdown();
    wasp_channel_send(control, WASP_MSG_DRAINED, 0, 0, NULL, 0, -1);
    wasp_channel_flush_blocking(control);
    exit(0);
}

static void lsn_on_signal(wasp_loop_t *loop, int signo, void *data)
{
    if (signo == SIGUSR1) {
        lsn_log_reopen(); /* logrotate moved the files away */
        return;
    }
    if (signo == SIGTERM || signo == SIGINT) {
        if (lsn_draining) {
            return;
        }
        lsn_draining = true;
        wasp_info("stopping: no new connections; finishing %zu open connection(s)",
                  lsn_conn_count());
        for (size_t i = 0; i < listen_count; i++) {
            wasp_loop_del(lsn_loop, listens[i].fd);
            close(listens[i].fd);
        }
        listen_count = 0;
        lsn_conn_drain_idle();
        lsn_maybe_exit();
    }
}

int wasp_listener_main(int control_fd);

int wasp_listener_main(int control_fd)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGUSR1};

    signal(SIGPIPE, SIG_IGN);
    lsn_log_init();
    lsn_loop = wasp_loop_new();
    if (lsn_loop == NULL) {
        return 1;
    }
    lsn_cache_init();
    control = wasp_channel_new(lsn_loop, control_fd, control_on_msg, control_on_close, NULL);
    if (control == NULL || wasp_loop_signals(lsn_loop, sigs, 3, lsn_on_signal, NULL) != 0) {
        wasp_error("cannot set up the event loop: %s", strerror(errno));
        return 1;
    }
    wasp_loop_run(lsn_loop);
    return 0;
}
