/*
 * HTTP/2 in the listener (RFC 9113, with nghttp2): an h2 connection is an
 * lsn_conn_t whose bytes go through an nghttp2 session instead of the
 * HTTP/1.1 parser.  Every stream becomes an lsn_request_t built by the same
 * code as an HTTP/1.1 request (lsn_conn_start_request: URL canonicalisation,
 * routing, request limits, REQ_HEAD) and goes through the same pool queue,
 * worker and logs.  conn.c still owns the socket, TLS, output queue and
 * timers; h2.c only turns frames into requests and responses into frames.
 */
#ifndef WASP_LISTENER_H2_H
#define WASP_LISTENER_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "listener/listener.h"

/* Limits (docs/architecture.md "HTTP/2 in the listener" says why each). */
#define LSN_H2_RESETS_WINDOW_MS 10000u /* Http2MaxResetsPer10Seconds' window */
#define LSN_H2_CONTROL_WINDOW_MS 60000u /* Http2MaxSettingsPerMinute's window */
#define LSN_H2_MAX_CONTINUATIONS 8u    /* CONTINUATION frames after one HEADERS */
#define LSN_H2_OUT_HIGH (64u * 1024u)  /* frames queued on the socket before we stop pulling */

/* RST_STREAM codes conn.c uses (RFC 9113 7). */
#define LSN_H2_INTERNAL_ERROR 0x2u
#define LSN_H2_REFUSED_STREAM 0x7u

/* wasp/httpSys' HTTP/2 settings (CFG_LIMITS), for connections started
 * from now on. */
typedef struct lsn_h2_limits {
    bool tls;                     /* EnableHttp2Tls: ALPN may choose h2 */
    bool cleartext;               /* EnableHttp2Cleartext: h2c is taken */
    uint32_t max_streams;         /* Http2MaxConcurrentStreams */
    uint32_t settings_per_frame;  /* Http2MaxSettingsPerFrame */
    uint32_t settings_per_minute; /* Http2MaxSettingsPerMinute (+ PINGs, PRIORITYs) */
    uint32_t resets_per_10s;      /* Http2MaxResetsPer10Seconds */
} lsn_h2_limits_t;
extern lsn_h2_limits_t lsn_h2_limits;

typedef struct lsn_h2 lsn_h2_t;
typedef struct lsn_h2_stream lsn_h2_stream_t;

/* The 24 bytes every HTTP/2 client sends first (RFC 9113 3.4). */
#define LSN_H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define LSN_H2_PREFACE_LEN 24u

/* A request as parsed, HTTP/1.1 head or HTTP/2 header block. */
typedef struct lsn_req_in {
    const char *method;
    size_t method_len;
    const char *target;
    size_t target_len;
    const char *host; /* NULL: none */
    size_t host_len;
    const wasp_h1_header_t *headers;
    size_t header_count;
    int version_minor;       /* HTTP/1.x; ignored for HTTP/2 */
    uint32_t h2_stream;      /* HTTP/2 stream id, 0 = HTTP/1.x */
    size_t head_len;         /* bytes of the head as received (cs-bytes) */
    bool chunked;
    int64_t content_length;  /* -1: not given */
} lsn_req_in_t;

/* ---- h2.c, called by conn.c ------------------------------------------------ */

/* A session on connection c, our SETTINGS queued; NULL when out of memory. */
lsn_h2_t *lsn_h2_new(lsn_conn_t *c);
/* h2c by Upgrade (RFC 7540 3.2): the HTTP2-Settings value (base64url) and
 * the HTTP/1.1 request that becomes stream 1 (in->h2_stream is set here).
 * 0, or -1 when the settings are malformed (the caller answers 400). */
int lsn_h2_upgrade(lsn_h2_t *h, const char *settings, size_t settings_len,
                   const lsn_req_in_t *in);
/* Inside an nghttp2 call: conn.c must not write or close now. */
bool lsn_h2_busy(const lsn_h2_t *h);
/* Bytes from the client.  0, or -1: the connection must end (a GOAWAY may
 * be queued; lsn_h2_send() writes it). */
int lsn_h2_recv(lsn_h2_t *h, const char *p, size_t len);
/* Move frames from the session to the connection's output queue while it
 * holds less than LSN_H2_OUT_HIGH bytes.  0, or -1 on a session error. */
int lsn_h2_send(lsn_h2_t *h);
/* Nothing more to read or write: the connection can close. */
bool lsn_h2_finished(const lsn_h2_t *h);
/* Streams not yet closed; and of them, those still receiving their request. */
size_t lsn_h2_open_streams(const lsn_h2_t *h);
size_t lsn_h2_receiving_streams(const lsn_h2_t *h);
/* Response bytes the streams hold for the client (flow control or a full
 * output queue keeps them): MinSendRate's measure on h2.  0 = nothing waits
 * for the client. */
uint64_t lsn_h2_held_bytes(const lsn_h2_t *h);
/* Graceful shutdown: GOAWAY; open streams finish. */
void lsn_h2_shutdown(lsn_h2_t *h);
/* The connection is closing: every stream's request is finished or
 * abandoned (logged as conn.c does for HTTP/1.1), then the session freed. */
void lsn_h2_free(lsn_h2_t *h);

/* The response path of a request on an h2 connection (conn.c dispatches). */
void lsn_h2_response_head(lsn_request_t *req, int status, wasp_dec_t *headers,
                          uint64_t content_length, bool has_length);
void lsn_h2_response_data(lsn_request_t *req, const char *p, size_t len);
void lsn_h2_response_file(lsn_request_t *req, int fd, off_t off, off_t len);
void lsn_h2_response_end(lsn_request_t *req);
/* An answer of the listener's own (HTTP.sys' page, or the 502 page): a
 * complete HTTP/1.1 message as rendered for HTTP/1.1, sent on the stream. */
void lsn_h2_answer(lsn_request_t *req, const char *msg, size_t len);
/* End the stream without an answer (RST_STREAM); the request is freed or
 * left to its worker. */
void lsn_h2_reset(lsn_request_t *req, uint32_t error_code);
/* The stream's requestLimits are known (conn.c has applied the verdict):
 * refuse it, or hold the rest of its body to max_content_length and send
 * it to its pool if it is already whole. */
void lsn_h2_limits_known(lsn_request_t *req, uint64_t max_content_length);

/* ---- conn.c, called by h2.c -------------------------------------------------- */

typedef enum lsn_start_result {
    LSN_START_OK,       /* *reqp is built (maybe with request filtering's verdict) */
    LSN_START_REFUSED,  /* HTTPERR written; answer *err (head_only: no body) */
    LSN_START_ASTERISK  /* OPTIONS *: answered by the caller */
} lsn_start_result_t;

/* Canonicalise, route and build the request (REQ_HEAD encoded), with
 * request filtering's limits checked; a request with a body gets body
 * begun.  The one path every HTTP/1.1 request and HTTP/2 stream takes. */
lsn_start_result_t lsn_conn_start_request(lsn_conn_t *c, const lsn_req_in_t *in,
                                          lsn_body_reader_t *body, lsn_request_t **reqp,
                                          wasp_httpsys_error_t *err, bool *head_only);
/* The last REQ_HEAD fields, then to the pool. */
void lsn_conn_submit_request(lsn_request_t *req);
/* The request's stream or connection is done with it: its access log line
 * (complete) or its HTTPERR line (not), then it is freed or abandoned. */
void lsn_conn_request_detach(lsn_conn_t *c, lsn_request_t *req, bool complete);
/* Queue bytes for the client; -1 when out of memory. */
int lsn_conn_out(lsn_conn_t *c, const void *p, size_t len);
size_t lsn_conn_out_pending(const lsn_conn_t *c);
/* An HTTPERR line about the connection (an HTTP/2 protocol or flood verdict). */
void lsn_conn_httperr_h2(lsn_conn_t *c, const char *reason);
/* An HTTPERR line about a stream refused before it became a request. */
void lsn_conn_httperr_stream(lsn_conn_t *c, const char *method, size_t method_len,
                             const char *uri, size_t uri_len, int status, const char *reason,
                             uint32_t stream);
/* HTTP.sys' MaxFieldLength and MaxRequestBytes in force. */
const wasp_h1_limits_t *lsn_conn_limits(void);

#endif
