/*
 * Client connections of wasp-http.  A connection reads and parses one
 * request at a time; pipelined requests wait in the read buffer until the
 * response before them is written, which keeps responses in order without
 * any reordering code.  While a request is with its pool, the connection only
 * watches for the client going away (EPOLLRDHUP) and writes the response as
 * it arrives from the worker.
 *
 * Refusals are HTTP.sys' (httpsys_error.c): the answer is written, the
 * sending side is shut down, and the rest of what the client sends is read
 * and dropped for a moment ("lingering close") so the client sees the answer
 * rather than a reset.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "listener/cache.h"
#include "listener/counters.h"
#include "listener/h2.h"
#include "listener/limits.h"
#include "listener/listener.h"
#include "listener/tls.h"

#define CONN_READ_CHUNK 16384
#define CONN_LINGER_MS 2000u
#define CONN_RATE_MIN_MS 1000u /* shortest MinSendRate window */
#define CONN_WAIT_BUFFER 65536u /* bytes read ahead while a request runs */
#define CONN_TLS_RECORD 16384u  /* plaintext per TLS record */

/* C_H2: an HTTP/2 connection; its streams have their own states (h2.c). */
/* C_LIMITS: a head with a body waits for its URL's requestLimits
 * (req_limits.c); nothing more is read until they are known. */
typedef enum conn_state { C_HANDSHAKE, C_HEAD, C_LIMITS, C_BODY, C_WAIT, C_LINGER, C_H2 } conn_state_t;

struct lsn_conn {
    lsn_conn_t *next, *prev;
    int fd;
    conn_state_t state;
    char peer_ip[64], local_ip[64];
    uint16_t peer_port, local_port;
    bool is_local;
    wasp_buf_t rbuf;
    lsn_request_t *req;
    lsn_out_t *out_head, *out_tail;
    bool keep_alive;
    bool close_after; /* close once the current response is written */
    bool closing;     /* nothing more to send but out queue, then linger */
    bool peer_eof;
    bool continue_wanted; /* Expect: 100-continue, answered once the limits are known */
    lsn_body_reader_t body;
    int version_major; /* -1 until parsed */
    int version_minor;
    uint32_t events;
    wasp_ltimer_t *timer;
    const char *timer_reason; /* the HTTPERR reason when it fires; NULL: linger */
    uint32_t site_id;         /* counted against this site's maxConnections, 0 = none */
    uint32_t site_timeout_ms; /* its connectionTimeout (EntityBody, later idles) */
    uint32_t site_bandwidth;  /* its maxBandwidth, bytes/s */
    wasp_ltimer_t *bw_timer;  /* maxBandwidth: writing resumes when it fires */
    uint64_t sent_total;      /* bytes handed to the socket (TLS: plaintext) */
    uint64_t rate_start_ms;   /* MinSendRate: the response began, 0 = none yet */
    uint64_t rate_mark;       /* sent_total + pending then: its first byte */
    const char *drop_reason;  /* HTTPERR reason for the requests a close cuts */
    lsn_tls_t *tls;          /* an https binding's connection, else NULL */
    bool hs_want_write;      /* the handshake waits for the socket to be writable */
    char *tls_wbuf;          /* plaintext gathered for the next TLS record(s) */
    size_t tls_wlen, tls_woff;
    size_t tls_retry_len;    /* SSL_write wants this same length again, 0 = none */
    uint64_t bytes_out;     /* written to the client (sc-bytes) */
    uint64_t rbuf_since_ms; /* the oldest unparsed byte arrived (time-taken) */
    uint32_t counted_site;  /* counters.c: the site counting it as a connection */
    wasp_defer_t flush_defer; /* lsn_conn_response_flush: write once per loop turn */
    bool had_request;       /* a request was parsed: no h2c preface any more */
    lsn_h2_t *h2;           /* C_H2: its session */
};

static lsn_conn_t *conns;
static size_t conn_count;
static wasp_h1_limits_t conn_limits = {.max_request_bytes = 16384, .max_field_length = 16384};
static wasp_url_limits_t url_limits;
static bool url_limits_ready;

void lsn_conn_set_limits(uint32_t max_field, uint32_t max_request, uint32_t seg_len,
                         uint32_t seg_count, bool restricted, bool percent_u,
                         bool non_utf8, bool favor_utf8)
{
    conn_limits.max_field_length = max_field;
    conn_limits.max_request_bytes = max_request;
    wasp_url_limits_default(&url_limits);
    url_limits.max_url_length = max_field;
    url_limits.segment_max_length = seg_len;
    url_limits.segment_max_count = seg_count;
    url_limits.allow_restricted_chars = restricted;
    url_limits.percent_u_allowed = percent_u;
    url_limits.enable_non_utf8 = non_utf8;
    url_limits.favor_utf8 = favor_utf8;
    url_limits_ready = true;
}

static void conn_on_io(wasp_loop_t *loop, int fd, uint32_t events, void *data);
static void conn_process(lsn_conn_t *c);
static void conn_flush(lsn_conn_t *c);
static void conn_close(lsn_conn_t *c);
static void conn_httperr(lsn_conn_t *c, const char *method, size_t method_len, const char *uri,
                         size_t uri_len, int status, const char *reason);
static bool conn_h2_start(lsn_conn_t *c);
static void conn_body_begin(lsn_conn_t *c);
static void conn_submit(lsn_conn_t *c);
static void conn_httperr_req(lsn_request_t *req, int status, const char *reason);

size_t lsn_conn_count(void)
{
    return conn_count;
}

static void conn_set_events(lsn_conn_t *c, uint32_t ev)
{
    if (c->events != ev) {
        c->events = ev;
        wasp_loop_mod(lsn_loop, c->fd, ev);
    }
}

static void conn_update_events(lsn_conn_t *c)
{
    /* Once the client has half-closed, RDHUP would fire forever. */
    uint32_t ev = c->peer_eof ? 0 : EPOLLRDHUP;

    if (c->state == C_HANDSHAKE) {
        conn_set_events(c, ev | (c->hs_want_write ? EPOLLOUT : EPOLLIN));
        return;
    }
    if (c->state == C_HEAD || c->state == C_BODY || c->state == C_LINGER || c->state == C_H2) {
        ev |= EPOLLIN;
    } else if (c->state == C_WAIT && !c->peer_eof && !c->closing &&
               wasp_buf_size(&c->rbuf) < CONN_WAIT_BUFFER) {
        /* While a request is with its pool, keep reading (pipelined
         * requests, or the client going away) into a bounded buffer: the
         * registration then stays as it is, one epoll_ctl fewer each way. */
        ev |= EPOLLIN;
    }
    if ((c->out_head != NULL || c->tls_wlen > 0 ||
         (c->tls != NULL && lsn_tls_wants_write(c->tls))) &&
        c->bw_timer == NULL) {
        ev |= EPOLLOUT;
    }
    conn_set_events(c, ev);
}

static void conn_arm_timer(lsn_conn_t *c, uint64_t ms, const char *reason);
static bool conn_output_pending(const lsn_conn_t *c);
static void conn_cancel_timer(lsn_conn_t *c);

/* Bytes queued for the socket. */
static uint64_t conn_queued_bytes(const lsn_conn_t *c)
{
    uint64_t n = c->tls_wlen - c->tls_woff;

    for (const lsn_out_t *o = c->out_head; o != NULL; o = o->next) {
        n += o->kind == OUT_MEM ? o->len - o->off : (uint64_t)(o->fend - o->foff);
    }
    return n;
}

/* Bytes waiting for the client: the MinSendRate window's due.  On h2 that
 * includes what the streams hold back (flow control, a full queue). */
static uint64_t conn_pending_bytes(const lsn_conn_t *c)
{
    return conn_queued_bytes(c) + (c->h2 != NULL ? lsn_h2_held_bytes(c->h2) : 0);
}

/* MinSendRate (webLimits/@minBytesPerSecond): output is waiting for the
 * client.  The client may take as long as the whole response (so far) takes
 * at the minimum rate, counted from its start; dips are tolerated, as
 * HTTP.sys does.  Arms the timer for what is left, or drops the client when
 * nothing is: true then (c is gone). */
static bool conn_rate_window(lsn_conn_t *c)
{
    /* Never ask more of a client than maxBandwidth lets us send. */
    uint64_t rate = lsn_limits.min_send_rate;

    if (c->site_bandwidth < rate) {
        rate = c->site_bandwidth;
    }
    if (lsn_limits.max_global_bandwidth < rate) {
        rate = lsn_limits.max_global_bandwidth;
    }
    uint64_t now = wasp_now_ms(), due;

    if (rate == 0) { /* minBytesPerSecond set to 0 since the window began */
        conn_cancel_timer(c);
        return false;
    }
    if (c->rate_start_ms == 0) { /* HTTP.sys' own answer: no submit marked it */
        c->rate_start_ms = now;
        c->rate_mark = c->sent_total;
    }
    due = c->rate_start_ms +
          (c->sent_total + conn_pending_bytes(c) - c->rate_mark) * 1000u / rate;
    if (due < c->rate_start_ms + CONN_RATE_MIN_MS) {
        due = c->rate_start_ms + CONN_RATE_MIN_MS;
    }
    if (due > now) {
        conn_arm_timer(c, due - now, "Timer_MinBytesPerSecond");
        return false;
    }
    conn_cancel_timer(c);
    if (c->h2 != NULL) {
        c->drop_reason = "Timer_MinBytesPerSecond"; /* each open stream's line */
    } else if (c->req != NULL && !c->req->log.logged) {
        conn_httperr_req(c->req, 0, "Timer_MinBytesPerSecond");
    } else if (c->req == NULL) {
        conn_httperr(c, NULL, 0, NULL, 0, 0, "Timer_MinBytesPerSecond");
    }
    conn_close(c);
    return true;
}

static void conn_on_timer(wasp_loop_t *loop, void *data)
{
    lsn_conn_t *c = data;
    const char *reason = c->timer_reason;

    c->timer = NULL;
    if (reason == NULL) { /* the lingering close is over */
        conn_close(c);
        return;
    }
    if (strcmp(reason, "Timer_MinBytesPerSecond") == 0) {
        conn_rate_window(c); /* more output since may have moved the due time */
        return;
    }
    /* Timers close silently, as HTTP.sys' do, and say so in HTTPERR (with
     * the pending request, if any). */
    if (c->req != NULL && !c->req->log.logged) {
        conn_httperr_req(c->req, 0, reason);
    } else if (c->req == NULL) {
        conn_httperr(c, NULL, 0, NULL, 0, 0, reason);
    }
    conn_close(c);
}

/* (Re)arm the connection's one timer; reason is the HTTPERR reason written
 * when it fires (NULL: close without a line). */
static void conn_arm_timer(lsn_conn_t *c, uint64_t ms, const char *reason)
{
    if (c->timer != NULL) {
        wasp_loop_timer_cancel(lsn_loop, c->timer);
    }
    c->timer_reason = reason;
    c->timer = wasp_loop_timer(lsn_loop, ms, conn_on_timer, c);
}

static void conn_cancel_timer(lsn_conn_t *c)
{
    if (c->timer != NULL) {
        wasp_loop_timer_cancel(lsn_loop, c->timer);
        c->timer = NULL;
    }
}

void lsn_conn_accept(int listen_fd, bool tls, bool h2)
{
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage peer, local;
        socklen_t plen = sizeof(peer), llen = sizeof(local);
        int one = 1;
        int fd = accept4(listen_fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        lsn_conn_t *c;

        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: a level-triggered listening socket would
                 * wake us forever.  Stop accepting for a moment; the waiting
                 * connections stay in the kernel's backlog. */
                lsn_accept_pause(listen_fd, errno);
            } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                       errno != ECONNABORTED) {
                wasp_error("accept: %s", strerror(errno));
            }
            return;
        }
        if (conn_count >= lsn_limits.max_connections) {
            /* HTTP.sys MaxConnections: over it, a new connection is not
             * served; closed at once, without an answer. */
            close(fd);
            continue;
        }
        c = calloc(1, sizeof(*c));
        if (c == NULL) {
            close(fd);
            return;
        }
        c->fd = fd;
        /* Responses leave in as few writes as we can make them; Nagle would
         * only hold back the last segment of each for the client's delayed
         * ACK (40 ms per keep-alive request). */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        getsockname(fd, (struct sockaddr *)&local, &llen);
        wasp_sockaddr_str(&peer, c->peer_ip, sizeof(c->peer_ip), &c->peer_port);
        wasp_sockaddr_str(&local, c->local_ip, sizeof(c->local_ip), &c->local_port);
        /* "Local" as IIS' DetailedLocalOnly means it: loopback, or a client on
         * this machine connecting to one of its own addresses. */
        c->is_local = wasp_sockaddr_is_loopback(&peer) || strcmp(c->peer_ip, c->local_ip) == 0;
        c->state = C_HEAD;
        if (tls) {
            c->tls = lsn_tls_new(fd, c->local_ip, c->local_port, h2);
            if (c->tls == NULL) {
                close(fd);
                free(c);
                return;
            }
            c->state = C_HANDSHAKE;
        }
        c->version_major = -1;
        c->site_bandwidth = LSN_UNLIMITED; /* HTTP.sys' own answers before routing */
        c->events = EPOLLIN | EPOLLRDHUP;
        if (wasp_loop_add(lsn_loop, fd, c->events, conn_on_io, c) != 0) {
            close(fd);
            free(c);
            return;
        }
        c->next = conns;
        if (conns != NULL) {
            conns->prev = c;
        }
        conns = c;
        conn_count++;
        /* IdleConnection with the server-wide value: the site is unknown
         * until the first request's headers (iis-hosting.md 4.2).  It also
         * bounds a TLS handshake that never completes. */
        conn_arm_timer(c, lsn_limits.idle_ms, "Timer_ConnectionIdle");
    }
}

static void conn_free_outs(lsn_conn_t *c)
{
    while (c->out_head != NULL) {
        lsn_out_t *o = c->out_head;

        c->out_head = o->next;
        if (o->kind == OUT_FILE) {
            close(o->fd);
        }
        free(o);
    }
    c->out_tail = NULL;
}

/* The access log line of a response from a worker, once (win32: the
 * listener's own sc-win32-status, 0 to keep the worker's). */
static void conn_log_access(lsn_conn_t *c, lsn_request_t *req, uint32_t win32)
{
    if (req->log.logged || !req->log.from_worker) {
        return;
    }
    req->log.logged = true;
    if (req->log.h2_stream == 0) { /* h2.c counts a stream's bytes itself */
        req->log.sc_bytes = c->bytes_out - req->log.sent_base;
    }
    if (win32 != 0) {
        req->log.win32 = win32;
    }
    lsn_log_access(req);
}

/* The connection ends before its request is answered: HTTPERR says why
 * (Client_Reset before a worker had it, Connection_Dropped after), and a
 * response that had begun gets its access log line with win32 status 64
 * (ERROR_NETNAME_DELETED), as IIS writes for a client that left. */
static void conn_log_unfinished(lsn_conn_t *c, lsn_request_t *req)
{
    bool early = req->state == REQ_READING_BODY || req->state == REQ_QUEUED;

    if (req->log.logged) {
        return;
    }
    conn_log_access(c, req, 64);
    if (c->drop_reason != NULL) { /* a timer: no status, as on HTTP/1.1 */
        conn_httperr_req(req, 0, c->drop_reason);
        return;
    }
    conn_httperr_req(req, req->log.from_worker ? req->log.status : 0,
                     early ? "Client_Reset" : "Connection_Dropped");
}

void lsn_conn_request_detach(lsn_conn_t *c, lsn_request_t *req, bool complete)
{
    if (complete) {
        conn_log_access(c, req, 0); /* the last byte is with the kernel: time-taken ends */
    } else {
        conn_log_unfinished(c, req);
    }
    req->conn = NULL;
    if (req->state == REQ_DONE || req->state == REQ_READING_BODY) {
        if (req->worker == NULL) {
            lsn_request_free(req);
        }
    } else {
        lsn_request_abandon(req);
    }
}

static void conn_close(lsn_conn_t *c)
{
    if (c->req != NULL) {
        lsn_request_t *req = c->req;

        c->req = NULL;
        lsn_conn_request_detach(c, req, false);
    }
    if (c->h2 != NULL) {
        lsn_h2_free(c->h2); /* its streams' requests, as above */
        c->h2 = NULL;
    }
    conn_free_outs(c);
    if (c->timer != NULL) {
        wasp_loop_timer_cancel(lsn_loop, c->timer);
    }
    if (c->bw_timer != NULL) {
        wasp_loop_timer_cancel(lsn_loop, c->bw_timer);
    }
    wasp_loop_defer_cancel(lsn_loop, &c->flush_defer);
    if (c->site_id != 0) {
        lsn_limits_site_leave(c->site_id);
    }
    wasp_loop_del(lsn_loop, c->fd);
    if (c->tls != NULL) {
        lsn_tls_shutdown(c->tls); /* close_notify, if the socket takes it */
        lsn_tls_free(c->tls);
        free(c->tls_wbuf);
    }
    close(c->fd);
    wasp_buf_free(&c->rbuf);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    conn_count--;
    lsn_counters_conn_closed(c->counted_site);
    free(c);
    lsn_maybe_exit();
}

/* Nothing more to say: half-close, then read and drop until the client
 * closes or a short timer runs out. */
static void conn_linger(lsn_conn_t *c)
{
    char probe;

    /* Lingering matters only when the client may still be sending (a
     * refused request, pipelined data): closing a socket with unread input
     * makes the kernel send a reset that can destroy the answer in flight.
     * With nothing buffered and nothing waiting, close now. */
    if (!c->closing && wasp_buf_size(&c->rbuf) == 0 &&
        recv(c->fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
        (errno == EAGAIN || errno == EWOULDBLOCK)) {
        conn_close(c);
        return;
    }
    if (c->tls != NULL) {
        lsn_tls_shutdown(c->tls);
    }
    shutdown(c->fd, SHUT_WR);
    c->state = C_LINGER;
    wasp_buf_reset(&c->rbuf);
    conn_update_events(c);
    conn_arm_timer(c, CONN_LINGER_MS, NULL);
}

/* Link a new memory item of len bytes (contents left to the caller). */
static lsn_out_t *conn_out_alloc(lsn_conn_t *c, size_t len)
{
    lsn_out_t *o = malloc(sizeof(*o) + len);

    if (o == NULL) {
        return NULL;
    }
    o->next = NULL;
    o->kind = OUT_MEM;
    o->req = NULL;
    o->len = len;
    o->off = 0;
    o->fd = -1;
    if (c->out_tail != NULL) {
        c->out_tail->next = o;
    } else {
        c->out_head = o;
    }
    c->out_tail = o;
    return o;
}

static lsn_out_t *conn_out_mem(lsn_conn_t *c, const void *p, size_t len)
{
    lsn_out_t *o = conn_out_alloc(c, len);

    if (o != NULL) {
        memcpy(o->data, p, len);
    }
    return o;
}

static void conn_out_file(lsn_conn_t *c, int fd, off_t off, off_t len)
{
    lsn_out_t *o = malloc(sizeof(*o));

    if (o == NULL) {
        close(fd);
        return;
    }
    o->next = NULL;
    o->kind = OUT_FILE;
    o->req = NULL;
    o->len = o->off = 0;
    o->fd = fd;
    o->foff = off;
    o->fend = off + len;
    if (c->out_tail != NULL) {
        c->out_tail->next = o;
    } else {
        c->out_head = o;
    }
    c->out_tail = o;
}

int lsn_conn_out(lsn_conn_t *c, const void *p, size_t len)
{
    return conn_out_mem(c, p, len) != NULL ? 0 : -1;
}

size_t lsn_conn_out_pending(const lsn_conn_t *c)
{
    return (size_t)conn_queued_bytes(c);
}

/* An HTTPERR line about the connection, with what was parsed of its
 * request (the raw URL: it was not understood). */
void lsn_conn_httperr_stream(lsn_conn_t *c, const char *method, size_t method_len,
                             const char *uri, size_t uri_len, int status, const char *reason,
                             uint32_t stream)
{
    wasp_httperr_rec_t e = {
        .when = time(NULL),
        .c_ip = c->peer_ip,
        .c_port = c->peer_port,
        .s_ip = c->local_ip,
        .s_port = c->local_port,
        .version_major = c->version_major,
        .version_minor = c->version_minor,
        .method = {method, method_len},
        .uri = {uri, uri_len},
        .status = status,
        .reason = reason,
        .stream_id = stream,
    };

    lsn_log_httperr(&e);
}

static void conn_httperr(lsn_conn_t *c, const char *method, size_t method_len, const char *uri,
                         size_t uri_len, int status, const char *reason)
{
    lsn_conn_httperr_stream(c, method, method_len, uri, uri_len, status, reason, 0);
}

void lsn_conn_httperr_h2(lsn_conn_t *c, const char *reason)
{
    conn_httperr(c, NULL, 0, NULL, 0, 0, reason);
}

/* An HTTPERR line about a routed request (its cooked URL, site and pool);
 * the request then has no access log line. */
static void conn_httperr_req(lsn_request_t *req, int status, const char *reason)
{
    req->log.logged = true;
    lsn_log_httperr_request(req, status, reason);
}

/* HTTP.sys' answer, then close. */
static void conn_answer_close(lsn_conn_t *c, wasp_httpsys_error_t e, bool head_only)
{
    char buf[1024];
    size_t n = wasp_httpsys_render(e, wasp_http_date_now(), head_only, buf, sizeof(buf));

    if (n > 0) {
        conn_out_mem(c, buf, n);
    }
    c->closing = true;
    c->state = C_WAIT;
    conn_flush(c);
}

/* Refuse what the client sent with HTTP.sys' answer, then close. */
static void conn_refuse(lsn_conn_t *c, wasp_httpsys_error_t e, const char *method,
                        size_t method_len, const char *uri, size_t uri_len, bool head_only)
{
    const wasp_httpsys_info_t *info = wasp_httpsys_info(e);

    conn_httperr(c, method, method_len, uri, uri_len, info->status, info->httperr_reason);
    conn_answer_close(c, e, head_only);
}

static bool conn_token_eq(const char *p, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(p, lit, len) == 0;
}

/* Request filtering refuses the request: it still goes to its pool (the
 * worker's pipeline answers with the site's error pages and logs it), but
 * without its body, which is never read: the connection closes after the
 * answer, lingering to drop what the client still sends. */
static void conn_filter_refuse(lsn_conn_t *c, uint16_t status, uint16_t sub)
{
    c->req->refuse_status = status;
    c->req->refuse_sub = sub;
    lsn_body_drop(c->req);
    c->keep_alive = false;
    c->state = C_WAIT;
}

/* The body cannot be read (bad chunked coding, or no memory/disk for it):
 * HTTP.sys' answer, no worker involved. */
static void conn_refuse_body(lsn_conn_t *c, wasp_httpsys_error_t e)
{
    lsn_request_t *req = c->req;

    conn_httperr_req(req, wasp_httpsys_info(e)->status, wasp_httpsys_info(e)->httperr_reason);
    c->req = NULL;
    lsn_request_free(req);
    conn_answer_close(c, e, false);
}

const wasp_h1_limits_t *lsn_conn_limits(void)
{
    return &conn_limits;
}

/* Request filtering's verdict on what is known of the request so far (its
 * URL, its declared length, the body read until now), in IIS' order. */
static void conn_limits_verdict(lsn_request_t *req, const lsn_req_limits_t *lim)
{
    if (req->url_path_len > lim->max_url) {
        req->refuse_status = 404, req->refuse_sub = 14;
    } else if (req->has_query && req->url_query_len > lim->max_query) {
        req->refuse_status = 404, req->refuse_sub = 15;
    } else if ((req->declared_length > 0 &&
                (uint64_t)req->declared_length > lim->max_content_length) ||
               req->body_len > lim->max_content_length) {
        req->refuse_status = 413, req->refuse_sub = 1;
    }
}

lsn_start_result_t lsn_conn_start_request(lsn_conn_t *c, const lsn_req_in_t *in,
                                          lsn_body_reader_t *body, lsn_request_t **reqp,
                                          wasp_httpsys_error_t *err, bool *head_only)
{
    static char path[65536 + 8]; /* MaxFieldLength, which bounds the URL, is < 64 KiB */
    wasp_url_t url;
    wasp_httpsys_error_t e;
    const lsn_site_t *site;
    const lsn_app_t *app;
    lsn_request_t *req;
    wasp_enc_t *enc;
    bool is_head = conn_token_eq(in->method, in->method_len, "HEAD");
    bool has_body = in->chunked || in->content_length != 0;

    /* A refusal: its HTTPERR line here, the answer by the caller. */
#define REFUSE(code, head)                                                                    \
    do {                                                                                      \
        *err = (code);                                                                        \
        *head_only = (head);                                                                  \
        lsn_conn_httperr_stream(c, in->method, in->method_len, in->target, in->target_len,    \
                                wasp_httpsys_info(code)->status,                              \
                                wasp_httpsys_info(code)->httperr_reason, in->h2_stream);      \
        return LSN_START_REFUSED;                                                             \
    } while (0)

    if (!url_limits_ready) {
        wasp_url_limits_default(&url_limits);
        url_limits.max_url_length = conn_limits.max_field_length;
        url_limits_ready = true;
    }
    *reqp = NULL;
    e = wasp_url_canon(in->target, in->target_len, &url_limits, path, sizeof(path), &url);
    if (e != WASP_HTTPSYS_NONE) {
        REFUSE(e, false);
    }
    if (url.asterisk) {
        /* OPTIONS * asks about the server, not a resource (RFC 9110 9.3.7). */
        return LSN_START_ASTERISK;
    }
    site = lsn_route_site(c->local_ip, c->local_port, in->host, in->host_len);
    if (site == NULL) {
        REFUSE(WASP_HTTPSYS_INVALID_HOSTNAME, false);
    }
    if (!site->started) {
        REFUSE(WASP_HTTPSYS_NOT_FOUND, is_head);
    }
    if (c->site_id != site->id) {
        /* Counted per site once routed (a keep-alive connection may move). */
        if (c->site_id != 0) {
            lsn_limits_site_leave(c->site_id);
            c->site_id = 0;
        }
        if (!lsn_limits_site_enter(site->id, site->max_connections)) {
            lsn_conn_httperr_stream(c, in->method, in->method_len, in->target, in->target_len,
                                    503, "ConnLimit", in->h2_stream);
            *err = WASP_HTTPSYS_SERVICE_UNAVAILABLE;
            *head_only = is_head;
            return LSN_START_REFUSED;
        }
        c->site_id = site->id;
    }
    c->site_timeout_ms = site->connection_timeout_ms;
    c->site_bandwidth = site->max_bandwidth;
    lsn_counters_conn_site(&c->counted_site, site->id);
    app = lsn_route_app(site->id, path, url.path_len);
    if (app == NULL) {
        REFUSE(WASP_HTTPSYS_NOT_FOUND, is_head);
    }
    req = calloc(1, sizeof(*req));
    if (req == NULL) {
        REFUSE(WASP_HTTPSYS_SERVICE_UNAVAILABLE, false);
    }
    req->conn = c;
    req->body_fd = -1;
    req->pool = app->pool;
    req->log.site_id = site->id;
    req->log.start_ms = in->h2_stream ? wasp_now_ms() : c->rbuf_since_ms;
    req->log.cs_bytes = in->head_len;
    req->log.sent_base = c->bytes_out;
    req->log.h2_stream = in->h2_stream;
    req->queue_timeout_ms = site->connection_timeout_ms;
    req->is_head = is_head;
    req->state = REQ_READING_BODY;

    /* REQ_HEAD payload (decoded by the worker, worker/request.c).  The
     * version is major * 10 + minor (10, 11, 20): modules and CGI see
     * SERVER_PROTOCOL "HTTP/2" for a stream, as IIS reports it. */
    enc = &req->head;
    wasp_enc_u32(enc, site->id);
    wasp_enc_str(enc, in->method, in->method_len);
    wasp_enc_str(enc, in->target, in->target_len);
    wasp_enc_str(enc, path, url.path_len);
    wasp_enc_u8(enc, url.query != NULL);
    wasp_enc_str(enc, url.query ? url.query : "", url.query ? url.query_len : 0);
    wasp_enc_u8(enc, (uint8_t)(in->h2_stream ? 20 : 10 + in->version_minor));
    wasp_enc_u8(enc, c->is_local);
    wasp_enc_cstr(enc, c->peer_ip);
    wasp_enc_u16(enc, c->peer_port);
    wasp_enc_cstr(enc, c->local_ip);
    wasp_enc_u16(enc, c->local_port);
    /* TLS: what IIS' HTTPS_* and CERT_* server variables say. */
    wasp_enc_u8(enc, c->tls != NULL);
    if (c->tls != NULL) {
        lsn_tls_info_t ti;
        char *pem;
        size_t pem_len;

        lsn_tls_get_info(c->tls, &ti, &pem, &pem_len);
        wasp_enc_cstr(enc, ti.protocol);
        wasp_enc_cstr(enc, ti.cipher);
        wasp_enc_u16(enc, (uint16_t)ti.keysize);
        wasp_enc_cstr(enc, ti.sni);
        wasp_enc_u8(enc, pem != NULL);
        wasp_enc_u8(enc, ti.client_cert_verified);
        wasp_enc_cstr(enc, ti.cert_subject);
        wasp_enc_cstr(enc, ti.cert_issuer);
        wasp_enc_cstr(enc, ti.cert_serial);
        wasp_enc_str(enc, pem ? pem : "", pem_len);
        free(pem);
    }
    req->head_headers_at = wasp_buf_size(&enc->buf);
    wasp_enc_u32(enc, (uint32_t)in->header_count);
    for (size_t i = 0; i < in->header_count; i++) {
        wasp_enc_str(enc, in->headers[i].name, in->headers[i].name_len);
        wasp_enc_str(enc, in->headers[i].value, in->headers[i].value_len);
    }
    if (enc->buf.data == NULL || wasp_buf_size(&enc->buf) > WASP_CH_CHUNK) {
        /* Heads are bounded by MaxRequestBytes, far below one frame. */
        lsn_request_free(req);
        REFUSE(WASP_HTTPSYS_REQUEST_TOO_LONG, false);
    }
    *reqp = req;
    req->url_path_len = (uint32_t)url.path_len;
    req->has_query = url.query != NULL;
    req->url_query_len = url.query != NULL ? (uint32_t)url.query_len : 0;
    req->declared_length = in->chunked ? -1 : in->content_length;
    if (has_body) {
        /* Request filtering's limits (IIS checks them at BeginRequest,
         * before reading the body): the worker answers, without the body.
         * A request without a body is left to the worker's own check. */
        lsn_req_limits_t lim;
        int known = lsn_req_limits_lookup(site->id, path, url.path_len, &lim);

        if (known > 0) {
            conn_limits_verdict(req, &lim);
        }
        if (req->refuse_status == 0) {
            /* HTTP/2 without Content-Length: the body runs to END_STREAM. */
            lsn_body_begin(body, in->chunked,
                           in->chunked                ? 0
                           : in->content_length < 0 ? UINT64_MAX
                                                    : (uint64_t)in->content_length,
                           known > 0 ? lim.max_content_length : UINT64_MAX);
        }
        if (known == 0 && lsn_req_limits_ask(req, site->id, path, url.path_len) != 0) {
            lsn_request_free(req);
            *reqp = NULL;
            REFUSE(WASP_HTTPSYS_SERVICE_UNAVAILABLE, false);
        }
    }
    return LSN_START_OK;
#undef REFUSE
}

/* A head is parsed: canonicalise, route, and start the request. */
static void conn_start_request(lsn_conn_t *c, const wasp_h1_request_t *h)
{
    lsn_req_in_t in = {
        .method = h->method,
        .method_len = h->method_len,
        .target = h->target,
        .target_len = h->target_len,
        .host = h->host,
        .host_len = h->host_len,
        .headers = h->headers,
        .header_count = h->header_count,
        .version_minor = h->version_minor,
        .head_len = h->head_len,
        .chunked = h->chunked,
        .content_length = h->content_length > 0 ? h->content_length : 0,
    };
    wasp_httpsys_error_t e = WASP_HTTPSYS_NONE;
    bool head_only = false;
    lsn_request_t *req;

    c->version_major = 1;
    c->version_minor = h->version_minor;
    c->had_request = true;
    switch (lsn_conn_start_request(c, &in, &c->body, &req, &e, &head_only)) {
    case LSN_START_REFUSED:
        conn_answer_close(c, e, head_only);
        return;
    case LSN_START_ASTERISK: {
        /* Answered here, then the connection closes (a rare request; this
         * keeps pipelining logic out of it). */
        static const char opts[] = "HTTP/1.1 200 OK\r\nAllow: OPTIONS, TRACE, GET, HEAD, POST\r\n"
                                   "Server: wasp\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

        conn_out_mem(c, opts, sizeof(opts) - 1);
        c->closing = true;
        c->state = C_WAIT;
        conn_flush(c);
        return;
    }
    case LSN_START_OK:
        break;
    }
    c->req = req;
    c->keep_alive = h->keep_alive;
    if (req->refuse_status != 0) {
        conn_filter_refuse(c, req->refuse_status, req->refuse_sub);
    } else if (h->chunked || h->content_length > 0) {
        /* RFC 9110 10.1.1: answer 100-continue only if the body is not already here. */
        c->continue_wanted = h->expect_continue && h->version_minor == 1 &&
                             wasp_buf_size(&c->rbuf) == h->head_len;
        if (req->limits_query != NULL) {
            c->state = C_LIMITS; /* lsn_conn_limits_known() goes on */
            conn_update_events(c);
        } else {
            conn_body_begin(c);
        }
    } else {
        c->state = C_WAIT;
    }
}

/* The body may come: 100 Continue if the client waits for it. */
static void conn_body_begin(lsn_conn_t *c)
{
    c->state = C_BODY;
    if (c->continue_wanted) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

        c->continue_wanted = false;
        conn_out_mem(c, cont, sizeof(cont) - 1);
    }
    conn_update_events(c); /* 100 written on the next turn of the loop */
}

void lsn_conn_limits_known(lsn_request_t *req, const lsn_req_limits_t *lim)
{
    lsn_conn_t *c = req->conn; /* set: a request whose client left is freed */

    if (lim != NULL) {
        conn_limits_verdict(req, lim);
    }
    if (req->h2s != NULL) {
        lsn_h2_limits_known(req, lim != NULL ? lim->max_content_length : UINT64_MAX);
        return;
    }
    if (req->refuse_status != 0) {
        c->continue_wanted = false;
        conn_filter_refuse(c, req->refuse_status, req->refuse_sub);
        conn_submit(c);
        return;
    }
    c->body.limit = lim != NULL ? lim->max_content_length : UINT64_MAX;
    conn_body_begin(c);
    conn_process(c); /* what came with the head (c may be gone after) */
}

void lsn_conn_submit_request(lsn_request_t *req)
{
    if (req->limits_query != NULL) {
        req->limits_submit = true; /* whole before waspd answered: then */
        return;
    }
    /* The last fields of REQ_HEAD: request filtering's verdict. */
    wasp_enc_u16(&req->head, req->refuse_status);
    wasp_enc_u16(&req->head, req->refuse_sub);
    /* The response cache may answer it alone (an HTTP/1.1 connection may
     * then be gone). */
    if (lsn_cache_serve(req)) {
        return;
    }
    lsn_pool_submit(req->pool, req);
}

static void conn_submit(lsn_conn_t *c)
{
    if (wasp_buf_size(&c->rbuf) > 0) {
        c->rbuf_since_ms = wasp_now_ms(); /* a pipelined request's time starts now */
    }
    c->state = C_WAIT;
    conn_cancel_timer(c); /* the queue's own timer (Timer_AppPool) takes over */
    c->rate_start_ms = wasp_now_ms(); /* MinSendRate counts from here */
    c->rate_mark = c->sent_total + conn_pending_bytes(c);
    conn_update_events(c);
    lsn_conn_submit_request(c->req);
}

/* ---- HTTP/2 connections (the session is h2.c's) ---------------------------- */

/* Hand what was read to the session, then write what it answers. */
static void conn_h2_input(lsn_conn_t *c)
{
    if (wasp_buf_size(&c->rbuf) > 0 && !c->closing) {
        if (lsn_h2_recv(c->h2, wasp_buf_ptr(&c->rbuf), wasp_buf_size(&c->rbuf)) != 0) {
            c->closing = true; /* a GOAWAY is queued: written, then the close */
        }
        wasp_buf_reset(&c->rbuf);
        if (lsn_h2_receiving_streams(c->h2) > 0) {
            /* EntityBody: connectionTimeout counted from the last data. */
            conn_arm_timer(c, c->site_timeout_ms ? c->site_timeout_ms : lsn_limits.idle_ms,
                           "Timer_EntityBody");
        }
    } else {
        wasp_buf_reset(&c->rbuf);
    }
    conn_flush(c);
}

/* The connection's one timer on h2: idle (no stream open) is
 * ConnectionIdle; a request still arriving is EntityBody (armed as data
 * comes); responses waiting for the client (its flow-control window or its
 * socket) are MinSendRate, measured over the connection as HTTP.sys does;
 * streams with their pool have their own timers.  true: c was dropped. */
static bool conn_h2_timers(lsn_conn_t *c)
{
    const char *armed = c->timer != NULL ? c->timer_reason : NULL;
    bool idle_armed = armed != NULL && strcmp(armed, "Timer_ConnectionIdle") == 0;
    bool rate_armed = armed != NULL && strcmp(armed, "Timer_MinBytesPerSecond") == 0;

    if (lsn_h2_open_streams(c->h2) == 0) {
        c->rate_start_ms = 0;
        if (!idle_armed) { /* PINGs do not make a connection busy */
            conn_arm_timer(c, c->site_timeout_ms ? c->site_timeout_ms : lsn_limits.idle_ms,
                           "Timer_ConnectionIdle");
        }
        return false;
    }
    if (lsn_h2_receiving_streams(c->h2) > 0 && !idle_armed && !rate_armed) {
        return false; /* EntityBody runs until the bodies are in */
    }
    if (lsn_limits.min_send_rate != 0 && conn_pending_bytes(c) > 0) {
        if (!rate_armed) { /* the window opens now */
            c->rate_start_ms = wasp_now_ms();
            c->rate_mark = c->sent_total;
            return conn_rate_window(c);
        }
        return false;
    }
    c->rate_start_ms = 0;
    if (armed != NULL) {
        conn_cancel_timer(c);
    }
    return false;
}

/* The connection speaks HTTP/2 from here (ALPN h2, or the h2c preface).
 * What is already read goes to the session (c may be gone after that);
 * with nothing read, the caller reads next, which sends our SETTINGS.
 * false: c is closed (no memory for a session). */
static bool conn_h2_start(lsn_conn_t *c)
{
    c->h2 = lsn_h2_new(c);
    if (c->h2 == NULL) {
        conn_close(c);
        return false;
    }
    c->state = C_H2;
    c->had_request = true;
    c->version_major = 2; /* HTTPERR's cs-version */
    c->version_minor = 0;
    if (wasp_buf_size(&c->rbuf) > 0) {
        conn_h2_input(c);
    }
    return true;
}

static bool header_is(const char *n, size_t len, const char *lit)
{
    return strlen(lit) == len && strncasecmp(n, lit, len) == 0;
}

static bool conn_has_token(const wasp_h1_header_t *f, const char *token)
{
    size_t tl = strlen(token);

    for (size_t i = 0; f != NULL && i + tl <= f->value_len; i++) {
        if (strncasecmp(f->value + i, token, tl) == 0 &&
            (i == 0 || f->value[i - 1] == ',' || f->value[i - 1] == ' ') &&
            (i + tl == f->value_len || f->value[i + tl] == ',' || f->value[i + tl] == ' ')) {
            return true;
        }
    }
    return false;
}

/* h2c by Upgrade (RFC 7540 3.2; RFC 9113 keeps the settings' format): the
 * first request of a plain connection, without a body (one with a body is
 * served as HTTP/1.1, as the RFC allows).  The request becomes stream 1;
 * the hop-by-hop fields of the upgrade do not reach the worker.  true when
 * the connection was upgraded (or refused). */
static bool conn_h2_upgrade(lsn_conn_t *c, const wasp_h1_request_t *h)
{
    static const char sw[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                             "Upgrade: h2c\r\n\r\n";
    const wasp_h1_header_t *settings = wasp_h1_find_header(h, "HTTP2-Settings");
    wasp_h1_header_t hv[WASP_H1_MAX_HEADERS];
    lsn_req_in_t in = {0};
    size_t n = 0;

    if (c->tls != NULL || c->had_request || !lsn_h2_limits.cleartext || h->version_minor != 1 ||
        h->chunked ||
        h->content_length > 0 || settings == NULL ||
        !conn_has_token(wasp_h1_find_header(h, "Upgrade"), "h2c") ||
        !conn_has_token(wasp_h1_find_header(h, "Connection"), "Upgrade")) {
        return false;
    }
    for (size_t i = 0; i < h->header_count; i++) {
        const wasp_h1_header_t *f = &h->headers[i];

        if (header_is(f->name, f->name_len, "Connection") ||
            header_is(f->name, f->name_len, "Upgrade") ||
            header_is(f->name, f->name_len, "HTTP2-Settings") ||
            header_is(f->name, f->name_len, "Keep-Alive")) {
            continue;
        }
        hv[n++] = *f;
    }
    in.method = h->method;
    in.method_len = h->method_len;
    in.target = h->target;
    in.target_len = h->target_len;
    in.host = h->host;
    in.host_len = h->host_len;
    in.headers = hv;
    in.header_count = n;
    in.head_len = h->head_len;
    c->had_request = true;
    c->h2 = lsn_h2_new(c);
    if (c->h2 == NULL || lsn_h2_upgrade(c->h2, settings->value, settings->value_len, &in) != 0) {
        lsn_h2_free(c->h2);
        c->h2 = NULL;
        c->version_major = 1;
        c->version_minor = 1;
        conn_refuse(c, WASP_HTTPSYS_BAD_REQUEST, h->method, h->method_len, h->target,
                    h->target_len, false);
        return true;
    }
    conn_out_mem(c, sw, sizeof(sw) - 1);
    wasp_buf_consume(&c->rbuf, h->head_len);
    c->state = C_H2;
    c->version_major = 2;
    c->version_minor = 0;
    conn_h2_input(c);
    return true;
}

static void conn_process(lsn_conn_t *c)
{
    for (;;) {
        if (c->state == C_HEAD) {
            wasp_h1_request_t h;
            wasp_httpsys_error_t err = WASP_HTTPSYS_NONE;
            wasp_h1_result_t r;

            if (wasp_buf_size(&c->rbuf) == 0) {
                return;
            }
            if (c->tls == NULL && !c->had_request && lsn_h2_limits.cleartext) {
                /* h2c with prior knowledge: the preface as the very first
                 * bytes (RFC 9113 3.3).  Anything else is HTTP/1.1, where
                 * "HTTP/2.0" stays 505. */
                size_t have = wasp_buf_size(&c->rbuf);

                if (memcmp(wasp_buf_ptr(&c->rbuf), LSN_H2_PREFACE,
                           have < LSN_H2_PREFACE_LEN ? have : LSN_H2_PREFACE_LEN) == 0) {
                    if (have >= LSN_H2_PREFACE_LEN) {
                        conn_h2_start(c);
                    }
                    return;
                }
            }
            if (lsn_draining) {
                c->keep_alive = false;
            }
            r = wasp_h1_parse_request(wasp_buf_ptr(&c->rbuf), wasp_buf_size(&c->rbuf),
                                      &conn_limits, &h, &err);
            if (r == WASP_H1_INCOMPLETE) {
                return;
            }
            if (r == WASP_H1_REFUSED) {
                /* The parser fills what it got before refusing: the HTTPERR
                 * line shows it, as HTTP.sys' does. */
                c->version_major = h.version_major;
                c->version_minor = h.version_minor;
                conn_refuse(c, err, h.method_len ? h.method : NULL, h.method_len,
                            h.target_len ? h.target : NULL, h.target_len, false);
                return;
            }
            if (conn_h2_upgrade(c, &h)) {
                return;
            }
            conn_start_request(c, &h);
            if (c->closing) {
                return;
            }
            wasp_buf_consume(&c->rbuf, h.head_len);
            if (c->state == C_WAIT) {
                conn_submit(c);
                return;
            }
        }
        if (c->state == C_BODY) {
            /* EntityBody timer: connectionTimeout counted from the last data. */
            conn_arm_timer(c, c->site_timeout_ms, "Timer_EntityBody");
            size_t before = wasp_buf_size(&c->rbuf);
            lsn_body_result_t br = lsn_body_take(&c->body, c->req, &c->rbuf);

            c->req->log.cs_bytes += before - wasp_buf_size(&c->rbuf);
            switch (br) {
            case LSN_BODY_MORE:
                break;
            case LSN_BODY_DONE:
                conn_submit(c);
                break;
            case LSN_BODY_TOO_LARGE:
                /* A chunked body grew past maxAllowedContentLength. */
                conn_filter_refuse(c, 413, 1);
                conn_submit(c);
                break;
            case LSN_BODY_BAD:
                conn_refuse_body(c, WASP_HTTPSYS_BAD_REQUEST);
                break;
            case LSN_BODY_FAILED:
                conn_refuse_body(c, WASP_HTTPSYS_SERVICE_UNAVAILABLE);
                break;
            }
            return;
        }
        return;
    }
}

/* Read into buf: > 0 bytes, 0 = end of stream, -1 = nothing now, -2 = failed.
 * A lingering TLS connection is drained raw: its bytes are dropped anyway. */
static ssize_t conn_recv(lsn_conn_t *c, char *buf, size_t room)
{
    if (c->tls != NULL && c->state != C_LINGER) {
        ssize_t n = lsn_tls_read(c->tls, buf, room);

        if (n > 0) {
            return n;
        }
        if (n == LSN_TLS_WANT_READ || n == LSN_TLS_WANT_WRITE) {
            return -1;
        }
        return n == LSN_TLS_CLOSED ? 0 : -2;
    }
    for (;;) {
        ssize_t n = read(c->fd, buf, room);

        if (n >= 0) {
            return n;
        }
        if (errno != EINTR) {
            return (errno == EAGAIN || errno == EWOULDBLOCK) ? -1 : -2;
        }
    }
}

static void conn_read(lsn_conn_t *c)
{
    for (int i = 0; i < 8; i++) {
        size_t room;
        ssize_t n;

        if (wasp_buf_reserve(&c->rbuf, CONN_READ_CHUNK) != 0) {
            conn_close(c);
            return;
        }
        room = c->rbuf.cap - c->rbuf.len;
        if (c->state == C_WAIT || c->state == C_LIMITS) {
            size_t have = wasp_buf_size(&c->rbuf);

            if (have >= CONN_WAIT_BUFFER) {
                break;
            }
            if (room > CONN_WAIT_BUFFER - have) {
                room = CONN_WAIT_BUFFER - have;
            }
        }
        n = conn_recv(c, c->rbuf.data + c->rbuf.len, room);
        if (n == -1) {
            break;
        }
        if (n < 0) {
            conn_close(c);
            return;
        }
        if (n == 0) {
            if (c->state == C_WAIT && c->req != NULL && c->req->state != REQ_QUEUED &&
                !c->closing) {
                /* Half-closed while its request runs: the answer is still
                 * written, then the connection ends. */
                c->peer_eof = true;
                conn_update_events(c);
                return;
            }
            conn_close(c);
            return;
        }
        if (c->state == C_LINGER) {
            wasp_buf_reset(&c->rbuf);
            continue;
        }
        if (wasp_buf_size(&c->rbuf) == 0) {
            c->rbuf_since_ms = wasp_now_ms();
            if (c->state == C_HEAD) {
                /* HeaderWait runs from the request's first byte. */
                conn_arm_timer(c, lsn_limits.header_wait_ms, "Timer_HeaderWait");
            }
        }
        c->rbuf.len += (size_t)n;
        if ((size_t)n < c->rbuf.cap - (c->rbuf.len - (size_t)n)) {
            break;
        }
    }
    if (c->state == C_H2) {
        conn_h2_input(c);
    } else if (c->state == C_HEAD || c->state == C_BODY) {
        conn_process(c);
    } else if (c->state == C_WAIT || c->tls != NULL) {
        conn_update_events(c); /* stop reading when the read-ahead is full */
    }
}

static void conn_handshake(lsn_conn_t *c)
{
    int rc = lsn_tls_handshake(c->tls);

    if (rc == 1) {
        c->state = C_HEAD;
        if (lsn_tls_is_h2(c->tls) && !conn_h2_start(c)) { /* ALPN chose h2 */
            return; /* closed */
        }
        conn_update_events(c);
        conn_read(c); /* the first request may have come with the Finished message */
        return;
    }
    if (rc == LSN_TLS_WANT_READ || rc == LSN_TLS_WANT_WRITE) {
        c->hs_want_write = rc == LSN_TLS_WANT_WRITE;
        conn_update_events(c);
        return;
    }
    /* A failed handshake ends silently, as with HTTP.sys. */
    conn_close(c);
}

static void conn_request_finished(lsn_conn_t *c)
{
    lsn_request_t *req = c->req;

    c->req = NULL;
    if (req != NULL) {
        lsn_conn_request_detach(c, req, true);
    }
    if (c->close_after || !c->keep_alive || lsn_draining || c->peer_eof) {
        conn_linger(c);
        return;
    }
    c->version_major = -1; /* nothing parsed of the next request yet (HTTPERR) */
    c->state = C_HEAD;
    c->rate_start_ms = 0;
    if (c->tls != NULL) {
        free(c->tls_wbuf); /* idle keep-alive connections hold no record buffer */
        c->tls_wbuf = NULL;
    }
    if (wasp_buf_size(&c->rbuf) == 0) {
        /* ... nor a read buffer: 10,000 idle connections would otherwise
         * keep 160 MiB.  The next request's read allocates it again. */
        wasp_buf_free(&c->rbuf);
    }
    conn_update_events(c);
    /* Later requests on the connection: the site's connectionTimeout (a
     * pipelined request already begun: its HeaderWait). */
    if (wasp_buf_size(&c->rbuf) > 0) {
        conn_arm_timer(c, lsn_limits.header_wait_ms, "Timer_HeaderWait");
    } else {
        conn_arm_timer(c, c->site_timeout_ms, "Timer_ConnectionIdle");
    }
    if (c->tls != NULL && lsn_tls_pending(c->tls)) {
        conn_read(c); /* decrypted bytes the socket will not announce again */
        return;
    }
    conn_process(c); /* a pipelined request may already be buffered */
}

/* Write consecutive memory items with one sendmsg (head and a small body
 * leave in one segment), telling the kernel more is coming when a file
 * follows (MSG_MORE), so headers and file data share packets. */
static int conn_write_mem(lsn_conn_t *c, uint64_t *budget)
{
    struct iovec iov[16];
    struct msghdr msg = {.msg_iov = iov};
    lsn_out_t *o = c->out_head;
    size_t n = 0;
    uint64_t total = 0;
    ssize_t w;
    int flags = MSG_NOSIGNAL;

    for (; o != NULL && o->kind == OUT_MEM && n < 16 && total < *budget; o = o->next) {
        iov[n].iov_base = o->data + o->off;
        iov[n].iov_len = o->len - o->off;
        if (iov[n].iov_len > *budget - total) {
            iov[n].iov_len = (size_t)(*budget - total); /* maxBandwidth */
        }
        total += iov[n].iov_len;
        n++;
    }
    if (o != NULL && o->kind == OUT_FILE) {
        flags |= MSG_MORE;
    }
    msg.msg_iovlen = n;
    do {
        w = sendmsg(c->fd, &msg, flags);
    } while (w < 0 && errno == EINTR);
    if (w < 0) {
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    }
    c->bytes_out += (uint64_t)w;
    c->sent_total += (uint64_t)w;
    *budget -= (uint64_t)w;
    /* Retire what was written. */
    while (w > 0) {
        lsn_out_t *h = c->out_head;
        size_t left = h->len - h->off;

        if ((size_t)w < left) {
            h->off += (size_t)w;
            return 0;
        }
        w -= (ssize_t)left;
        if (h->req != NULL) {
            lsn_window_ack(h->req, h->ack_len);
        }
        c->out_head = h->next;
        if (c->out_head == NULL) {
            c->out_tail = NULL;
        }
        free(h);
    }
    return 1;
}

/* 1 = item done, 0 = would block, -1 = connection failed */
static int conn_write_file(lsn_conn_t *c, uint64_t *budget)
{
    lsn_out_t *o = c->out_head;

    while (o->foff < o->fend) {
        uint64_t want = (uint64_t)(o->fend - o->foff);
        ssize_t n;

        if (*budget == 0) {
            return 0; /* maxBandwidth: the rest when the bucket refills */
        }
        n = sendfile(c->fd, o->fd, &o->foff, (size_t)(want < *budget ? want : *budget));

        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return 0;
            }
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        c->bytes_out += n > 0 ? (uint64_t)n : 0;
        c->sent_total += n > 0 ? (uint64_t)n : 0;
        *budget -= n > 0 ? (uint64_t)n : 0;
        if (n == 0) {
            /* The file shrank under us: the promised length cannot be kept,
             * so the connection must end. */
            wasp_warn("file ended early while sending to %s:%u", c->peer_ip, c->peer_port);
            return -1;
        }
    }
    close(o->fd);
    c->out_head = o->next;
    if (c->out_head == NULL) {
        c->out_tail = NULL;
    }
    free(o);
    return 1;
}

/* TLS: move up to one record's worth of output items (memory, or file
 * bytes read with pread: no sendfile through TLS) into the record buffer,
 * retiring what was taken.  0, or -1 when a file ended early. */
static int conn_tls_gather(lsn_conn_t *c)
{
    size_t len = 0;

    if (c->tls_wbuf == NULL && (c->tls_wbuf = malloc(CONN_TLS_RECORD)) == NULL) {
        return -1;
    }
    while (c->out_head != NULL && len < CONN_TLS_RECORD) {
        lsn_out_t *o = c->out_head;
        size_t room = CONN_TLS_RECORD - len;

        if (o->kind == OUT_MEM) {
            size_t n = o->len - o->off < room ? o->len - o->off : room;

            memcpy(c->tls_wbuf + len, o->data + o->off, n);
            o->off += n;
            len += n;
            if (o->off < o->len) {
                break;
            }
            if (o->req != NULL) {
                lsn_window_ack(o->req, o->ack_len);
            }
        } else {
            size_t want = (size_t)(o->fend - o->foff) < room ? (size_t)(o->fend - o->foff) : room;
            ssize_t n;

            do {
                n = pread(o->fd, c->tls_wbuf + len, want, o->foff);
            } while (n < 0 && errno == EINTR);
            if (n <= 0) {
                wasp_warn("file ended early while sending to %s:%u", c->peer_ip, c->peer_port);
                return -1;
            }
            o->foff += n;
            len += (size_t)n;
            if (o->foff < o->fend) {
                continue;
            }
            close(o->fd);
        }
        c->out_head = o->next;
        if (c->out_head == NULL) {
            c->out_tail = NULL;
        }
        free(o);
    }
    c->tls_wlen = len;
    c->tls_woff = 0;
    return 0;
}

/* 1 = everything written, 0 = would block or out of budget (maxBandwidth,
 * counted in plaintext bytes), -1 = connection failed */
static int conn_write_tls(lsn_conn_t *c, uint64_t *budget)
{
    for (;;) {
        size_t len;
        ssize_t n;

        if (c->tls_wlen == 0) {
            if (c->out_head == NULL) {
                return 1;
            }
            if (conn_tls_gather(c) != 0) {
                return -1;
            }
        }
        len = c->tls_wlen - c->tls_woff;
        if (c->tls_retry_len != 0) {
            len = c->tls_retry_len; /* OpenSSL: a retry repeats the same call */
        } else if (len > *budget) {
            if (*budget == 0) {
                return 0;
            }
            len = (size_t)*budget;
        }
        n = lsn_tls_write(c->tls, c->tls_wbuf + c->tls_woff, len);
        if (n == LSN_TLS_WANT_READ || n == LSN_TLS_WANT_WRITE) {
            c->tls_retry_len = len;
            return 0;
        }
        c->tls_retry_len = 0;
        if (n < 0) {
            return -1;
        }
        c->tls_woff += (size_t)n;
        c->sent_total += (uint64_t)n;
        *budget = (uint64_t)n < *budget ? *budget - (uint64_t)n : 0;
        if (c->tls_woff == c->tls_wlen) {
            c->tls_wlen = c->tls_woff = 0;
        }
    }
}

static void conn_on_bw_timer(wasp_loop_t *loop, void *data)
{
    lsn_conn_t *c = data;

    c->bw_timer = NULL;
    conn_flush(c);
}

static bool conn_output_pending(const lsn_conn_t *c)
{
    return c->out_head != NULL || c->tls_wlen > 0;
}

static void conn_flush(lsn_conn_t *c)
{
    uint64_t budget = UINT64_MAX, start;

    if (c->h2 != NULL && lsn_h2_busy(c->h2)) {
        return; /* inside nghttp2: written when it returns */
    }
    if (c->bw_timer != NULL) {
        return; /* maxBandwidth: waiting for the bucket */
    }
again:
    if (c->h2 != NULL && c->state == C_H2 && lsn_h2_send(c->h2) != 0) {
        conn_close(c);
        return;
    }
    budget = lsn_limits_bw_allow(c->site_id, c->site_bandwidth, wasp_now_ms());
    start = budget;
    if (c->tls != NULL) {
        int rc = conn_write_tls(c, &budget);

        if (rc < 0) {
            conn_close(c);
            return;
        }
    }
    while (c->tls == NULL && c->out_head != NULL) {
        int rc = c->out_head->kind == OUT_MEM ? conn_write_mem(c, &budget)
                                              : conn_write_file(c, &budget);

        if (rc < 0) {
            conn_close(c);
            return;
        }
        if (rc == 0 || budget == 0) {
            break;
        }
    }
    if (start != UINT64_MAX) {
        lsn_limits_bw_charge(c->site_id, c->site_bandwidth, start - budget);
        if (budget == 0 && conn_output_pending(c)) {
            /* Out of bandwidth: no EPOLLOUT until the bucket has refilled
             * (a few tens of milliseconds of the rate). */
            c->bw_timer = wasp_loop_timer(lsn_loop, 20, conn_on_bw_timer, c);
        }
    }
    if (c->state == C_WAIT && lsn_limits.min_send_rate != 0) {
        bool rate_armed = c->timer != NULL && c->timer_reason != NULL &&
                          strcmp(c->timer_reason, "Timer_MinBytesPerSecond") == 0;

        if (conn_output_pending(c) && !rate_armed) {
            if (conn_rate_window(c)) {
                return; /* dropped */
            }
        } else if (!conn_output_pending(c) && rate_armed) {
            conn_cancel_timer(c);
        }
    }
    if (c->h2 != NULL && c->state == C_H2 && !conn_output_pending(c)) {
        if (budget != 0 && lsn_h2_send(c->h2) == 0 && conn_output_pending(c)) {
            goto again; /* the socket took everything: more frames */
        }
        if (c->closing || lsn_h2_finished(c->h2)) {
            conn_linger(c);
            return;
        }
    }
    if (c->h2 != NULL && c->state == C_H2 && conn_h2_timers(c)) {
        return; /* dropped by MinSendRate */
    }
    if (c->out_head == NULL && c->tls_wlen == 0) {
        if (c->req != NULL && c->req->state == REQ_DONE) {
            conn_request_finished(c);
            return;
        }
        if (c->closing && c->state != C_LINGER) {
            conn_linger(c);
            return;
        }
    }
    conn_update_events(c);
}

static void conn_on_io(wasp_loop_t *loop, int fd, uint32_t events, void *data)
{
    lsn_conn_t *c = data;

    if (c->state == C_HANDSHAKE) {
        conn_handshake(c);
        return;
    }
    if (events & EPOLLOUT) {
        if (c->tls != NULL && lsn_tls_wants_write(c->tls) && c->out_head == NULL &&
            c->tls_wlen == 0) {
            conn_read(c); /* a TLS read was waiting to write (e.g. a key update) */
            return;
        }
        conn_flush(c);
        return; /* c may be gone; input is handled on the next turn */
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        if (c->state == C_WAIT && !(events & EPOLLIN)) {
            conn_close(c);
            return;
        }
        conn_read(c);
        return;
    }
    if (events & EPOLLRDHUP) {
        /* The client stopped sending while its request is with the pool.  A
         * request still queued is dropped (Client_Reset); one that is running
         * finishes and its answer is still written. */
        if (c->req != NULL && c->req->state == REQ_QUEUED) {
            conn_close(c);
            return;
        }
        c->peer_eof = true;
        conn_set_events(c, c->out_head && c->bw_timer == NULL ? EPOLLOUT : 0);
    }
}

/* ---- responses from the pool --------------------------------------------- */

/* field-value / reason-phrase bytes: HTAB, SP, VCHAR, obs-text (RFC 9110 5.5) */
bool lsn_wire_text_ok(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)p[i];

        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            return false;
        }
    }
    return true;
}

/* field-name: a token (RFC 9110 5.1) */
bool lsn_wire_token_ok(const char *p, size_t len)
{
    if (len == 0) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)p[i];

        if (ch <= 0x20 || ch >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", ch) != NULL) {
            return false;
        }
    }
    return true;
}

void lsn_conn_response_head(lsn_request_t *req, int status, const char *reason,
                            size_t reason_len, wasp_dec_t *headers, uint64_t content_length,
                            bool has_length)
{
    lsn_conn_t *c = req->conn;
    wasp_buf_t b = {0};
    uint32_t count;
    bool has_server = false;
    bool log_headers = lsn_log_wants_response_headers(req);

    req->state = REQ_RESPONDING;
    req->no_body = req->is_head || status < 200 || status == 204 || status == 304;
    req->resp_has_length = has_length || req->no_body;
    req->resp_length = req->no_body ? 0 : content_length;
    if (c == NULL) {
        return;
    }
    if (req->log.h2_stream != 0) {
        lsn_h2_response_head(req, status, headers, content_length, has_length);
        return;
    }
    /* Workers run application code: nothing they send reaches the wire
     * unchecked.  A reason phrase or header that would break the framing
     * (CR, LF, NUL, a name that is not a token) is dropped. */
    if (!lsn_wire_text_ok(reason, reason_len)) {
        reason = "";
        reason_len = 0;
    }
    wasp_buf_appendf(&b, "HTTP/1.1 %d %.*s\r\n", status, (int)reason_len, reason);
    count = wasp_dec_u32(headers);
    for (uint32_t i = 0; i < count && !headers->error; i++) {
        size_t nl, vl;
        const char *n = wasp_dec_str(headers, &nl);
        const char *v = wasp_dec_str(headers, &vl);

        if (!lsn_wire_token_ok(n, nl) || !lsn_wire_text_ok(v, vl)) {
            wasp_warn("pool '%s': dropped a malformed response header from the worker",
                      req->pool->name);
            continue;
        }
        /* Framing and connection management are the listener's alone. */
        if (header_is(n, nl, "Connection") || header_is(n, nl, "Keep-Alive") ||
            header_is(n, nl, "Transfer-Encoding") || header_is(n, nl, "Content-Length") ||
            header_is(n, nl, "Date")) {
            continue;
        }
        if (header_is(n, nl, "Server")) {
            has_server = true;
        }
        if (log_headers) {
            lsn_log_response_header(req, n, nl, v, vl);
        }
        wasp_buf_appendf(&b, "%.*s: %.*s\r\n", (int)nl, n, (int)vl, v);
    }
    if (!has_server) {
        wasp_buf_appendf(&b, "Server: wasp\r\n");
    }
    if (has_length && status != 204 && status != 304 && status >= 200) {
        wasp_buf_appendf(&b, "Content-Length: %llu\r\n", (unsigned long long)content_length);
    } else if (!req->no_body) {
        if (c->version_minor >= 1) {
            req->chunked_out = true;
            wasp_buf_appendf(&b, "Transfer-Encoding: chunked\r\n");
        } else {
            c->close_after = true; /* HTTP/1.0: the close delimits the body */
        }
    }
    if (lsn_draining) {
        c->close_after = true;
    }
    if (c->close_after || !c->keep_alive) {
        c->close_after = true;
        wasp_buf_appendf(&b, "Connection: close\r\n");
    } else if (c->version_minor == 0) {
        wasp_buf_appendf(&b, "Connection: keep-alive\r\n");
    }
    wasp_buf_appendf(&b, "Date: %s\r\n\r\n", wasp_http_date_now());
    if (b.data != NULL) {
        conn_out_mem(c, b.data, b.len);
    }
    wasp_buf_free(&b);
}

void lsn_conn_response_cached(lsn_request_t *req, const lsn_cached_response_t *r)
{
    static const char close_hdr[] = "Connection: close\r\n";
    static const char keep_hdr[] = "Connection: keep-alive\r\n";
    lsn_conn_t *c = req->conn;
    const char *conn_hdr = "", *date = wasp_http_date_now();
    size_t conn_len = 0, date_len = strlen(date), at;
    size_t head_len = r->wire_len, body_len = r->body != NULL ? r->body_len : 0;
    lsn_out_t *o;

    if (req->log.h2_stream != 0) {
        /* h2: the entry's header list goes through the stream's own
         * response path, as a worker's answer would. */
        wasp_dec_t d;

        wasp_dec_init(&d, r->headers, r->headers_len);
        req->log.from_worker = true;
        req->log.status = (uint16_t)r->status;
        req->log.substatus = 0;
        req->log.win32 = 0;
        lsn_conn_response_head(req, r->status, "", 0, &d, r->length, true);
        if (body_len > 0) {
            lsn_conn_response_data(req, r->body, body_len);
        }
        lsn_conn_response_end(req);
        return;
    }
    if (lsn_draining || !c->keep_alive) {
        c->close_after = true;
    }
    if (c->close_after) {
        conn_hdr = close_hdr;
        conn_len = sizeof(close_hdr) - 1;
    } else if (c->version_minor == 0) {
        conn_hdr = keep_hdr;
        conn_len = sizeof(keep_hdr) - 1;
    }
    /* One item, so the whole answer leaves in one send; no formatting on
     * the hit path, only copies. */
    o = conn_out_alloc(c, head_len + conn_len + 6 + date_len + 4 + body_len);
    if (o == NULL) {
        conn_close(c);
        return;
    }
    memcpy(o->data, r->wire, head_len);
    at = head_len;
    memcpy(o->data + at, conn_hdr, conn_len);
    at += conn_len;
    memcpy(o->data + at, "Date: ", 6);
    at += 6;
    memcpy(o->data + at, date, date_len);
    at += date_len;
    memcpy(o->data + at, "\r\n\r\n", 4);
    at += 4;
    if (body_len > 0) {
        memcpy(o->data + at, r->body, body_len);
    }
    req->state = REQ_DONE;
    req->log.from_worker = true; /* an access log line is due, as for a worker's answer */
    req->log.status = (uint16_t)r->status;
    req->log.substatus = 0;
    req->log.win32 = 0;
    conn_flush(c);
}

void lsn_conn_response_data(lsn_request_t *req, const char *p, size_t len)
{
    lsn_conn_t *c = req->conn;
    lsn_out_t *o;

    req->resp_queued += len;
    if (c == NULL || req->no_body || len == 0) {
        lsn_window_ack(req, len);
        return;
    }
    if (req->log.h2_stream != 0) {
        lsn_h2_response_data(req, p, len);
        return;
    }
    if (req->chunked_out) {
        char hdr[24];
        int n = snprintf(hdr, sizeof(hdr), "%zx\r\n", len);

        /* One item per chunk: size line, data and CRLF leave in one send. */
        o = conn_out_alloc(c, (size_t)n + len + 2);
        if (o != NULL) {
            memcpy(o->data, hdr, (size_t)n);
            memcpy(o->data + n, p, len);
            memcpy(o->data + n + len, "\r\n", 2);
        }
    } else {
        o = conn_out_mem(c, p, len);
    }
    if (o == NULL) {
        conn_close(c);
        return;
    }
    o->req = req;
    o->ack_len = len;
}

void lsn_conn_response_file(lsn_request_t *req, int fd, off_t off, off_t len)
{
    lsn_conn_t *c = req->conn;

    req->resp_queued += len > 0 ? (uint64_t)len : 0;
    if (c == NULL || req->no_body || len <= 0) {
        close(fd);
        return;
    }
    if (req->log.h2_stream != 0) {
        lsn_h2_response_file(req, fd, off, len);
        return;
    }
    if (req->chunked_out) {
        char hdr[24];
        int n = snprintf(hdr, sizeof(hdr), "%llx\r\n", (unsigned long long)len);

        conn_out_mem(c, hdr, (size_t)n);
        conn_out_file(c, fd, off, len);
        conn_out_mem(c, "\r\n", 2);
    } else {
        conn_out_file(c, fd, off, len);
    }
}

static void conn_on_deferred_flush(wasp_loop_t *loop, void *data)
{
    conn_flush(data);
}

/* HTTP/2: the frames of every response the worker's messages of this turn
 * of the loop completed leave together, on the next turn (EPOLLOUT), rather
 * than in one write (and TLS record) each. */
static void conn_h2_flush_soon(lsn_conn_t *c)
{
    if (c->bw_timer == NULL) {
        conn_set_events(c, c->events | EPOLLOUT);
    }
}

void lsn_conn_response_flush(lsn_request_t *req)
{
    /* A worker's record often holds a response's head, body and end as
     * separate frames (FastCGI streams them): writing at the end of the
     * loop turn sends them in one write, not three.  The response's end
     * still writes at once (lsn_conn_response_end). */
    if (req->conn != NULL && req->log.h2_stream != 0) {
        conn_h2_flush_soon(req->conn);
    } else if (req->conn != NULL) {
        wasp_loop_defer(lsn_loop, &req->conn->flush_defer, conn_on_deferred_flush, req->conn);
    }
}

void lsn_conn_response_end(lsn_request_t *req)
{
    lsn_conn_t *c = req->conn;

    req->state = REQ_DONE;
    if (c == NULL) {
        return;
    }
    if (req->log.h2_stream != 0) {
        lsn_h2_response_end(req);
        conn_h2_flush_soon(c);
        return;
    }
    if (req->chunked_out) {
        conn_out_mem(c, "0\r\n\r\n", 5);
    }
    conn_flush(c);
}

static void conn_send_page(lsn_conn_t *c, lsn_request_t *req, int status, const char *reason,
                           const char *body, bool close_conn)
{
    wasp_buf_t b = {0};
    size_t blen = strlen(body);

    if (close_conn) {
        c->close_after = true;
    }
    wasp_buf_appendf(&b,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\n"
                     "Server: wasp\r\nContent-Length: %zu\r\n%sDate: %s\r\n\r\n",
                     status, reason, blen,
                     (c->close_after || !c->keep_alive) ? "Connection: close\r\n" : "",
                     wasp_http_date_now());
    if (!req->is_head) {
        wasp_buf_append(&b, body, blen);
    }
    if (b.data != NULL && req->log.h2_stream != 0) {
        lsn_h2_answer(req, b.data, b.len);
    } else if (b.data != NULL) {
        conn_out_mem(c, b.data, b.len);
    }
    wasp_buf_free(&b);
    req->state = REQ_DONE;
    conn_flush(c);
}

void lsn_conn_worker_lost(lsn_request_t *req)
{
    lsn_conn_t *c = req->conn;
    char body[2048];

    if (c == NULL) {
        return;
    }
    if (req->state == REQ_RESPONDING) {
        /* Part of the answer is out: the only honest signal left is to
         * close the connection before the promised end. */
        conn_httperr_req(req, req->log.status, "Connection_Abandoned_By_ReqQueue");
        if (req->log.h2_stream != 0) {
            lsn_h2_reset(req, LSN_H2_INTERNAL_ERROR); /* only this stream fails */
            conn_flush(c);
            return;
        }
        conn_close(c);
        return;
    }
    snprintf(body, sizeof(body),
             "<!DOCTYPE html>\r\n<html><head><title>502 - Bad Gateway</title></head>\r\n"
             "<body><h1>HTTP Error 502 - Bad Gateway</h1>\r\n"
             "<p>The worker process of application pool '%s' ended unexpectedly while it was "
             "processing this request.</p>\r\n"
             "<p>The pool is being restarted; other requests are not affected. The server log "
             "names the exit status or signal.</p>\r\n</body></html>\r\n",
             req->pool->name);
    conn_httperr_req(req, 502, "Connection_Abandoned_By_ReqQueue");
    conn_send_page(c, req, 502, "Bad Gateway", body, false);
}

void lsn_conn_httpsys_error(lsn_request_t *req, wasp_httpsys_error_t e, const char *reason)
{
    lsn_conn_httpsys_error_detail(req, e, reason, NULL);
}

void lsn_conn_httpsys_error_detail(lsn_request_t *req, wasp_httpsys_error_t e, const char *reason,
                                   const char *detail)
{
    lsn_conn_t *c = req->conn;
    char buf[2048];
    size_t n;

    req->state = REQ_DONE;
    if (c == NULL) {
        return;
    }
    n = wasp_httpsys_render_detail(e, wasp_http_date_now(), req->is_head,
                                   c->is_local ? detail : NULL, buf, sizeof(buf));
    conn_httperr_req(req, wasp_httpsys_info(e)->status, reason);
    if (req->log.h2_stream != 0) {
        lsn_h2_answer(req, buf, n); /* the connection serves its other streams on */
        conn_flush(c);
        return;
    }
    c->close_after = true;
    if (n > 0) {
        conn_out_mem(c, buf, n);
    }
    conn_flush(c);
}

void lsn_conn_drop(lsn_request_t *req, const char *reason)
{
    lsn_conn_t *c = req->conn;

    conn_httperr_req(req, 0, reason);
    req->state = REQ_DONE; /* out of the queue, never dispatched */
    if (req->log.h2_stream != 0) {
        /* Only this stream: REFUSED_STREAM tells the client it never ran. */
        lsn_h2_reset(req, LSN_H2_REFUSED_STREAM);
        conn_flush(c);
        return;
    }
    conn_close(c);
}

void lsn_conn_queue_timeout(lsn_request_t *req)
{
    lsn_conn_drop(req, "Timer_AppPool");
}

void lsn_conn_drain_idle(void)
{
    lsn_conn_t *c = conns, *next;

    for (; c != NULL; c = next) {
        next = c->next;
        if (c->state == C_H2) {
            lsn_h2_shutdown(c->h2); /* GOAWAY: open streams finish */
            conn_flush(c);
        } else if (c->state == C_HEAD && c->req == NULL && c->out_head == NULL) {
            conn_close(c);
        } else {
            c->close_after = true;
            c->keep_alive = false;
        }
    }
}
