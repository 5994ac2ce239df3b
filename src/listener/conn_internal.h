/*
 * What the files of a client connection share (not an API: conn.c,
 * conn_request.c, conn_h2.c and conn_write.c only).
 *
 *   conn.c          the connection's life: accept, read, the HTTP/1.1 state
 *                   machine, timers, refusals, close and lingering close
 *   conn_request.c  a request's admission, for HTTP/1.1 and h2 alike: URL
 *                   canonicalisation, routing, limits, REQ_HEAD, submission
 *   conn_h2.c       the glue to an HTTP/2 session (h2.c): h2c upgrade,
 *                   input, timers
 *   conn_write.c    output: the queue of memory and file items, writes
 *                   (sendmsg, sendfile, TLS records), bandwidth, and the
 *                   responses that come from the pool
 */
#ifndef WASP_LISTENER_CONN_INTERNAL_H
#define WASP_LISTENER_CONN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/loop.h"
#include "listener/h1_parse.h"
#include "listener/h2.h"
#include "listener/httpsys_error.h"
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

/* conn.c */
void conn_answer_close(lsn_conn_t *c, wasp_httpsys_error_t e, bool head_only);
void conn_arm_timer(lsn_conn_t *c, uint64_t ms, const char *reason);
void conn_cancel_timer(lsn_conn_t *c);
void conn_close(lsn_conn_t *c);
void conn_httperr_req(lsn_request_t *req, int status, const char *reason);
void conn_linger(lsn_conn_t *c);
uint64_t conn_pending_bytes(const lsn_conn_t *c);
void conn_process(lsn_conn_t *c);
uint64_t conn_queued_bytes(const lsn_conn_t *c);
bool conn_rate_window(lsn_conn_t *c);
void conn_refuse(lsn_conn_t *c, wasp_httpsys_error_t e, const char *method,
                 size_t method_len, const char *uri, size_t uri_len, bool head_only);
void conn_request_finished(lsn_conn_t *c);
void conn_set_events(lsn_conn_t *c, uint32_t ev);
void conn_update_events(lsn_conn_t *c);

/* conn_request.c */
void conn_filter_refuse(lsn_conn_t *c, uint16_t status, uint16_t sub);
void conn_refuse_body(lsn_conn_t *c, wasp_httpsys_error_t e);
void conn_start_request(lsn_conn_t *c, const wasp_h1_request_t *h);
void conn_submit(lsn_conn_t *c);

/* conn_h2.c */
void conn_h2_input(lsn_conn_t *c);
bool conn_h2_start(lsn_conn_t *c);
bool conn_h2_timers(lsn_conn_t *c);
bool conn_h2_upgrade(lsn_conn_t *c, const wasp_h1_request_t *h);
bool conn_header_is(const char *n, size_t len, const char *lit);

/* conn_write.c */
void conn_flush(lsn_conn_t *c);
lsn_out_t *conn_out_mem(lsn_conn_t *c, const void *p, size_t len);
bool conn_output_pending(const lsn_conn_t *c);

#endif
