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
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "listener/counters.h"
#include "listener/limits.h"
#include "listener/conn_internal.h"

static lsn_conn_t *conns;
static size_t conn_count;

static void conn_on_io(wasp_loop_t *loop, int fd, uint32_t events, void *data);
static void conn_httperr(lsn_conn_t *c, const char *method, size_t method_len, const char *uri,
                         size_t uri_len, int status, const char *reason);

size_t lsn_conn_count(void)
{
    return conn_count;
}

void conn_set_events(lsn_conn_t *c, uint32_t ev)
{
    if (c->events != ev) {
        c->events = ev;
        wasp_loop_mod(lsn_loop, c->fd, ev);
    }
}

void conn_update_events(lsn_conn_t *c)
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

/* Bytes queued for the socket. */
uint64_t conn_queued_bytes(const lsn_conn_t *c)
{
    uint64_t n = c->tls_wlen - c->tls_woff;

    for (const lsn_out_t *o = c->out_head; o != NULL; o = o->next) {
        n += o->kind == OUT_MEM ? o->len - o->off : (uint64_t)(o->fend - o->foff);
    }
    return n;
}

/* Bytes waiting for the client: the MinSendRate window's due.  On h2 that
 * includes what the streams hold back (flow control, a full queue). */
uint64_t conn_pending_bytes(const lsn_conn_t *c)
{
    return conn_queued_bytes(c) + (c->h2 != NULL ? lsn_h2_held_bytes(c->h2) : 0);
}

/* MinSendRate (webLimits/@minBytesPerSecond): output is waiting for the
 * client.  The client may take as long as the whole response (so far) takes
 * at the minimum rate, counted from its start; dips are tolerated, as
 * HTTP.sys does.  Arms the timer for what is left, or drops the client when
 * nothing is: true then (c is gone). */
bool conn_rate_window(lsn_conn_t *c)
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
void conn_arm_timer(lsn_conn_t *c, uint64_t ms, const char *reason)
{
    if (c->timer != NULL) {
        wasp_loop_timer_cancel(lsn_loop, c->timer);
    }
    c->timer_reason = reason;
    c->timer = wasp_loop_timer(lsn_loop, ms, conn_on_timer, c);
}

void conn_cancel_timer(lsn_conn_t *c)
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

void conn_close(lsn_conn_t *c)
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
void conn_linger(lsn_conn_t *c)
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
void conn_httperr_req(lsn_request_t *req, int status, const char *reason)
{
    req->log.logged = true;
    lsn_log_httperr_request(req, status, reason);
}

/* HTTP.sys' answer, then close. */
void conn_answer_close(lsn_conn_t *c, wasp_httpsys_error_t e, bool head_only)
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
void conn_refuse(lsn_conn_t *c, wasp_httpsys_error_t e, const char *method,
                 size_t method_len, const char *uri, size_t uri_len, bool head_only)
{
    const wasp_httpsys_info_t *info = wasp_httpsys_info(e);

    conn_httperr(c, method, method_len, uri, uri_len, info->status, info->httperr_reason);
    conn_answer_close(c, e, head_only);
}

void conn_process(lsn_conn_t *c)
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
                                      lsn_conn_limits(), &h, &err);
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

void conn_request_finished(lsn_conn_t *c)
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
