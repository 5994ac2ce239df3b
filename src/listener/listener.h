/*
 * wasp-http, the listener (HTTP.sys' role): internal types shared by its
 * files.  listener.c owns the global state, the control channel to waspd and
 * the pools with their workers; conn.c owns client connections; route.c maps
 * (local address, port, Host, URL) to a site, application and pool.
 *
 * Life of a request: conn.c reads and parses the head (h1_parse.c), refuses
 * bad input with HTTP.sys' answers, canonicalises the URL (url_canon.c),
 * routes it, reads the body, then hands the request to its pool
 * (lsn_pool_submit).  The pool queues it (bounded, queueLength) and gives it
 * to a connected worker with credit; the worker's answer comes back over the
 * channel and conn.c writes it to the client (memory chunks, or sendfile of
 * a passed fd).
 */
#ifndef WASP_LISTENER_H
#define WASP_LISTENER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "common/buf.h"
#include "common/channel.h"
#include "common/loop.h"
#include "listener/accesslog.h"
#include "listener/h1_parse.h"
#include "listener/httpsys_error.h"
#include "listener/pool_queue.h"
#include "listener/url_canon.h"

/* Bodies up to this size stay in the listener's memory; larger ones go to a
 * temporary file (body.c). */
#define LSN_BODY_MEMORY (64 * 1024)
#define LSN_WORKER_WINDOW_ACK (256 * 1024)
/* Requests a worker may hold that it has not started yet (the pull model's
 * prefetch): a live worker starts what it gets within a turn of its loop;
 * one that does not (a hung module blocks it until the ping check ends it)
 * keeps at most this many from its siblings. */
#define LSN_PREFETCH 16

typedef struct lsn_pool lsn_pool_t;
typedef struct lsn_worker lsn_worker_t;
typedef struct lsn_conn lsn_conn_t;
typedef struct lsn_request lsn_request_t;

typedef struct lsn_site {
    uint32_t id;
    char name[256];
    bool started;
    uint32_t connection_timeout_ms; /* limits/@connectionTimeout */
    uint32_t max_connections;       /* limits/@maxConnections (limits.h) */
    uint32_t max_bandwidth;         /* limits/@maxBandwidth, bytes/s */
} lsn_site_t;

typedef struct lsn_binding {
    uint32_t site_id;
    char ip[64]; /* "*" or literal */
    uint16_t port;
    char host[256]; /* "" = any, lower-case */
} lsn_binding_t;

/* requestFiltering/requestLimits in force for a URL (req_limits.c): the
 * listener refuses a request with a body that breaks them before any body
 * byte reaches a worker (413.1, 404.14, 404.15 — answered by the worker's
 * pipeline, so the application's httpErrors and logging see them). */
typedef struct lsn_req_limits {
    uint64_t max_content_length; /* maxAllowedContentLength */
    uint32_t max_url;            /* maxUrl: the decoded path, bytes */
    uint32_t max_query;          /* maxQueryString: bytes after '?' */
} lsn_req_limits_t;

typedef struct lsn_app {
    uint32_t site_id;
    char path[1024]; /* "/" or "/app" */
    size_t path_len;
    lsn_pool_t *pool;
} lsn_app_t;

struct lsn_pool {
    char name[256];
    uid_t uid;
    int listen_fd;          /* pool channel socket: workers connect here */
    wasp_pool_queue_t queue;
    lsn_worker_t *workers;
    size_t worker_count;
    wasp_ltimer_t *demand_timer;
    uint64_t served;
    uint64_t arrivals;         /* counters.c: requests submitted (ArrivalRate) */
    uint64_t rejected;         /* ... and refused with 503 or a close (RejectedRequests) */
    uint64_t cache_hits;       /* answered from the response cache (CacheHitRate) */
    uint64_t created_ms;
    uint32_t ping_interval_ms; /* 0: pinging disabled */
    uint32_t ping_response_ms;
    bool stopped;            /* rapid-fail or administrator: answer 503 with stop_reason */
    char stop_reason[32];
    uint32_t restart_requests; /* periodicRestart/@requests: ask waspd to recycle a worker */
    uint32_t idle_timeout_ms;  /* 0: never idle */
    bool idle_suspend;         /* idleTimeoutAction="Suspend": workers stay, no pings */
    bool tcp_level;            /* loadBalancerCapabilities="TcpLevel": close, never 503 */
    bool suspended;            /* its workers are stopped (SIGSTOP) until a request comes */
    bool confirmed;            /* named by the configuration push being applied */
    bool removed;              /* not in the configuration any more */
    uint64_t last_activity_ms;
    wasp_ltimer_t *idle_timer;
};

struct lsn_worker {
    lsn_worker_t *next;
    lsn_pool_t *pool;
    wasp_channel_t *ch;
    pid_t pid;
    uint32_t credit;
    bool hello;
    bool draining;          /* said DRAIN: finishes what it has, takes nothing */
    lsn_request_t *streams; /* requests given to this worker */
    wasp_ltimer_t *ping_timer;
    bool ping_outstanding;
    bool hung_reported;
    uint64_t served;         /* responses completed, for periodicRestart/@requests */
    bool recycle_reported;
};

/* What the logs need of a request (accesslog.c), filled as it goes. */
typedef struct lsn_req_log {
    uint32_t site_id;
    uint64_t start_ms;      /* the request's first byte was read (monotonic) */
    uint64_t cs_bytes;      /* head and body as received */
    uint64_t sent_base;     /* the connection's bytes written before this request */
    uint64_t sc_bytes;      /* written for this response, head included */
    uint16_t status, substatus;
    uint32_t win32;
    bool from_worker;       /* the worker's RESP_HEAD arrived: an access log line is due */
    bool no_log;            /* httpLogging (dontLog / selectiveLogging) says no */
    bool logged;            /* its access or HTTPERR line is written */
    uint32_t h2_stream;     /* HTTP/2 stream id (cs-version HTTP/2, streamid); 0 = HTTP/1.x */
    wasp_buf_t resp_hdrs;   /* response headers customFields names */
} lsn_req_log_t;

typedef enum lsn_req_state {
    REQ_READING_BODY,
    REQ_QUEUED,
    REQ_DISPATCHED, /* sent to a worker, not yet started */
    REQ_STARTED,    /* the worker began executing it */
    REQ_RESPONDING, /* response head written to the client */
    REQ_DONE        /* response complete (maybe still being written) */
} lsn_req_state_t;

struct lsn_request {
    wasp_qlink_t qlink;
    lsn_conn_t *conn;     /* NULL once the client is gone */
    struct lsn_h2_stream *h2s; /* its HTTP/2 stream (h2.c), NULL for HTTP/1.x */
    lsn_pool_t *pool;
    lsn_worker_t *worker;
    lsn_request_t *wnext, *wprev;
    uint32_t stream;
    lsn_req_state_t state;
    wasp_enc_t head;      /* encoded REQ_HEAD payload */
    size_t head_headers_at; /* where its header count is (the access log reads them) */
    wasp_buf_t body;      /* the body, when it fits LSN_BODY_MEMORY ... */
    int body_fd;          /* ... else its unlinked temporary file; -1 = none */
    uint64_t body_len;    /* de-chunked bytes, wherever they are */
    uint16_t refuse_status, refuse_sub; /* request filtering's verdict, 0 = none */
    /* What requestLimits are checked against, kept while waspd is asked. */
    struct limits_query *limits_query; /* req_limits.c: the question, NULL = none */
    bool limits_submit;   /* complete while asking: to its pool with the answer */
    bool has_query;
    uint32_t url_path_len, url_query_len;
    int64_t declared_length; /* Content-Length, -1 = none (chunked, or h2 without) */
    bool is_head;         /* HEAD: never a body */
    bool chunked_out;     /* response framed with chunked coding */
    bool no_body;         /* 1xx/204/304/HEAD */
    uint64_t window_unacked;
    wasp_ltimer_t *queue_timer; /* connectionTimeout while waiting in the queue */
    uint32_t queue_timeout_ms;
    bool resp_has_length;  /* the worker promised resp_length body bytes */
    uint64_t resp_length;
    uint64_t resp_queued;  /* body bytes received from the worker so far */
    uint64_t submit_ms;    /* when it reached its pool (waspctl list requests) */
    char stage[32];        /* where the worker said it is (monitor.c) */
    char module[32];
    lsn_req_log_t log;
    struct lsn_cache_fill *cache_fill; /* cache.c: the response being copied, or NULL */
};

typedef enum lsn_out_kind { OUT_MEM, OUT_FILE } lsn_out_kind_t;

typedef struct lsn_out {
    struct lsn_out *next;
    lsn_out_kind_t kind;
    lsn_request_t *req; /* worker bytes to acknowledge (WINDOW), or NULL */
    size_t ack_len;     /* how many of them */
    size_t len, off;    /* OUT_MEM */
    int fd;             /* OUT_FILE */
    off_t foff, fend;
    char data[];
} lsn_out_t;

/* listener.c */
extern wasp_loop_t *lsn_loop;
extern bool lsn_draining;
void lsn_pool_submit(lsn_pool_t *pool, lsn_request_t *req);
/* The client of a request is gone: drop it from the queue / tell its worker. */
void lsn_request_abandon(lsn_request_t *req);
void lsn_request_free(lsn_request_t *req);
void lsn_window_ack(lsn_request_t *req, size_t bytes);
void lsn_maybe_exit(void);

lsn_pool_t **lsn_pools(size_t *count);
wasp_channel_t *lsn_control(void);

/* req_limits.c: requestLimits per URL, asked of waspd once.
 * lookup: 1 and *out, 0 when not known yet, -1 when nothing is enforced
 * there (its configuration is broken: the worker answers 500.19).
 * ask: send the question; the answer calls lsn_conn_limits_known(). */
int lsn_req_limits_lookup(uint32_t site_id, const char *path, size_t len, lsn_req_limits_t *out);
int lsn_req_limits_ask(lsn_request_t *req, uint32_t site_id, const char *path, size_t len);
void lsn_req_limits_forget(lsn_request_t *req); /* the request is freed first */
void lsn_req_limits_answer(const char *payload, size_t len);
void lsn_req_limits_flush(void);
/* conn.c: the limits a waiting request asked for (NULL: none enforced). */
void lsn_conn_limits_known(lsn_request_t *req, const lsn_req_limits_t *lim);

/* monitor.c: waspctl list requests (IIS' RequestMonitor) */
void lsn_status_query(uint32_t min_elapsed_ms);
void lsn_status_reply(lsn_worker_t *w, wasp_dec_t *d);

/* route.c */
/* A configuration push: build the next table, then switch to it. */
void lsn_route_begin(void);
void lsn_route_commit(void);
int lsn_route_add_site(uint32_t id, const char *name, bool started, uint32_t timeout_ms,
                       uint32_t max_connections, uint32_t max_bandwidth);
int lsn_route_add_binding(uint32_t site_id, const char *ip, uint16_t port, const char *host);
int lsn_route_add_app(uint32_t site_id, const char *path, lsn_pool_t *pool);
const lsn_site_t *lsn_route_site(const char *local_ip, uint16_t port, const char *host,
                                 size_t host_len);
const lsn_app_t *lsn_route_app(uint32_t site_id, const char *path, size_t path_len);
/* The sites of the configuration in force. */
const lsn_site_t *lsn_route_sites(size_t *count);

/* Accepting failed for lack of resources: pause this socket briefly. */
void lsn_accept_pause(int listen_fd, int err);

/* body.c: reading a request body (memory, or a temporary file) */
extern const char *lsn_temp_dir; /* --temp-dir: where bodies are spooled */

typedef struct lsn_body_reader {
    bool chunked;
    wasp_chunked_t chunked_state;
    uint64_t remaining; /* Content-Length bytes still to come */
    uint64_t limit;     /* maxAllowedContentLength (checked as chunks arrive) */
} lsn_body_reader_t;

typedef enum lsn_body_result {
    LSN_BODY_MORE,      /* everything available was taken */
    LSN_BODY_DONE,      /* the body is complete */
    LSN_BODY_BAD,       /* malformed chunked coding: 400 */
    LSN_BODY_TOO_LARGE, /* over the limit: 413.1 */
    LSN_BODY_FAILED     /* out of memory or disk: 503 */
} lsn_body_result_t;

void lsn_body_begin(lsn_body_reader_t *r, bool chunked, uint64_t content_length, uint64_t limit);
/* Move body bytes from the connection's read buffer into the request. */
lsn_body_result_t lsn_body_take(lsn_body_reader_t *r, lsn_request_t *req, wasp_buf_t *in);
/* Forget what was read (a refused body). */
void lsn_body_drop(lsn_request_t *req);

/* conn.c */
/* Accept what waits on a listening socket; tls: an https binding's port;
 * h2: its clients may choose HTTP/2 by ALPN (no binding has sslFlags 4). */
void lsn_conn_accept(int listen_fd, bool tls, bool h2);
/* HTTP.sys' registry limits (wasp/httpSys), for requests parsed from now on. */
void lsn_conn_set_limits(uint32_t max_field, uint32_t max_request, uint32_t seg_len,
                         uint32_t seg_count, bool restricted, bool percent_u,
                         bool non_utf8, bool favor_utf8);
size_t lsn_conn_count(void);
void lsn_conn_drain_idle(void);
/* Response events from a worker, for the request's connection. */
void lsn_conn_response_head(lsn_request_t *req, int status, const char *reason,
                            size_t reason_len, wasp_dec_t *headers, uint64_t content_length,
                            bool has_length);
void lsn_conn_response_data(lsn_request_t *req, const char *p, size_t len);
void lsn_conn_response_file(lsn_request_t *req, int fd, off_t off, off_t len);
void lsn_conn_response_end(lsn_request_t *req);
/* A response from the listener's cache (cache.c), in two forms: the
 * HTTP/1.1 bytes (status line and headers, Content-Length included, Date
 * and Connection not), and the header list encoded as in RESP_HEAD (u32
 * count, (str name, str value)*, without Content-Length) for a front end
 * of another protocol. */
typedef struct lsn_cached_response {
    int status;
    const char *wire;
    size_t wire_len;
    const char *headers;
    size_t headers_len;
    uint64_t length;   /* the representation's length (Content-Length) */
    const char *body;  /* what to send: NULL for HEAD and 304 */
    size_t body_len;
} lsn_cached_response_t;

/* What a worker sends is checked before it reaches any wire (HTTP/1.1,
 * h2, the cache's prepared bytes): a field-value or reason phrase
 * (HTAB, SP, VCHAR, obs-text; RFC 9110 5.5) and a field-name (a token,
 * RFC 9110 5.1). */
bool lsn_wire_text_ok(const char *p, size_t len);
bool lsn_wire_token_ok(const char *p, size_t len);

/* Answer req from the response cache, with Date and the connection's
 * header added for this request. */
void lsn_conn_response_cached(lsn_request_t *req, const lsn_cached_response_t *r);
/* The events above only queue output; this has it written when the loop
 * turn ends (every frame of one worker record in one write). */
void lsn_conn_response_flush(lsn_request_t *req);
/* A request waited too long in its pool's queue: close silently. */
void lsn_conn_queue_timeout(lsn_request_t *req);
/* Close the request's connection without an answer, logging reason
 * (loadBalancerCapabilities="TcpLevel").  Frees req with the connection. */
void lsn_conn_drop(lsn_request_t *req, const char *reason);
/* The worker died: answer 502 (or close if the head is already out). */
void lsn_conn_worker_lost(lsn_request_t *req);
/* Answer a request from the listener itself (503 queue full and the like). */
void lsn_conn_httpsys_error(lsn_request_t *req, wasp_httpsys_error_t e, const char *reason);
/* The same, with a paragraph of detail: one for local clients (the
 * administrator, usually), one for remote ones (NULL: none). */
void lsn_conn_httpsys_error_detail(lsn_request_t *req, wasp_httpsys_error_t e, const char *reason,
                                   const char *local_detail, const char *remote_detail);

#endif
