/*
 * A connection that speaks HTTP/2 (see conn_internal.h): the switch from
 * HTTP/1.1 (ALPN, the h2c preface, Upgrade: h2c), what is read handed to
 * the session (h2.c), and the connection's one timer while it is h2.
 */
#include <string.h>
#include <strings.h>

#include "listener/limits.h"
#include "listener/conn_internal.h"

/* ---- HTTP/2 connections (the session is h2.c's) ---------------------------- */

/* Hand what was read to the session, then write what it answers. */
void conn_h2_input(lsn_conn_t *c)
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
bool conn_h2_timers(lsn_conn_t *c)
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
bool conn_h2_start(lsn_conn_t *c)
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

bool conn_header_is(const char *n, size_t len, const char *lit)
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
bool conn_h2_upgrade(lsn_conn_t *c, const wasp_h1_request_t *h)
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

        if (conn_header_is(f->name, f->name_len, "Connection") ||
            conn_header_is(f->name, f->name_len, "Upgrade") ||
            conn_header_is(f->name, f->name_len, "HTTP2-Settings") ||
            conn_header_is(f->name, f->name_len, "Keep-Alive")) {
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
