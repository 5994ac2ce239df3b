/*
 * Channels between wasp processes: SOCK_SEQPACKET Unix sockets carrying
 * frames with a 12-byte header and an optional file descriptor (SCM_RIGHTS).
 * SEQPACKET keeps record boundaries, so no reassembly code is needed.  A
 * record holds one or more whole frames, at most WASP_CH_MAX_FRAME bytes in
 * all; a record that passes a descriptor holds exactly the one frame it
 * belongs to.  Bodies travel in chunks of WASP_CH_CHUNK.
 *
 * Frames sent during one iteration of the event loop are gathered and leave
 * together when the iteration ends (wasp_loop_defer): one system call and
 * one wake-up of the peer for many frames.  A frame is never held past the
 * end of the callback that produced it plus the rest of that iteration.
 *
 * Two conversations use it (docs/architecture.md, "Channel protocol"):
 *   waspd    <-> wasp-http   : configuration push (with listening fds), demand
 *   wasp-http <-> wasp-worker: requests, responses, credit, pings
 *
 * Sending never blocks: frames that the socket cannot take now wait in the
 * channel's queue and go out when it is writable again.
 */
#ifndef WASP_CHANNEL_H
#define WASP_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/loop.h"

#define WASP_CH_CHUNK (60 * 1024)
#define WASP_CH_MAX_FRAME (WASP_CH_CHUNK + 4096)

typedef enum wasp_msg_type {
    /* worker -> listener */
    WASP_MSG_HELLO = 1,      /* u32 pid, str pool */
    WASP_MSG_CREDIT = 2,     /* u32 more requests the worker will take (initial grant) */
    WASP_MSG_STARTED = 3,    /* u32 streams[]: the worker is about to run these */
    WASP_MSG_RESP_HEAD = 4,  /* u16 status, str reason, u16 substatus, u32 win32 status,
                                u8 log flags (WASP_RESP_NO_LOG), u8 has length,
                                u64 length, u32 header count, (str name, str value)*;
                                with END, the body fills the rest of the frame */
    WASP_MSG_RESP_BODY = 5,  /* raw bytes */
    WASP_MSG_RESP_FILE = 6,  /* fd + u64 offset, u64 length */
    WASP_MSG_RESP_END = 7,   /* response complete */
    WASP_MSG_PONG = 8,
    WASP_MSG_DRAIN = 9,      /* the worker is stopping: send it nothing new */
    WASP_MSG_REQ_STATUS = 10, /* answer to STATUS_QUERY: (u32 stream, str stage, str module)[] */
    WASP_MSG_RESP_CACHE = 11, /* before RESP_HEAD: the worker's verdict that the listener may
                                 keep this response (src/listener/cache.h).  u8 policy
                                 (1 CacheUntilChange, 2 CacheForTimePeriod), u32 duration ms,
                                 u32 frequentHitThreshold, u32 frequentHitTimePeriod ms,
                                 u64 maxResponseSize, u32 maxCacheSize MB (0 = automatic),
                                 u8 has file, [str path, u64 dev, u64 ino, u64 size,
                                 u64 mtime ns, u64 ctime ns: the static file as the worker
                                 read it], u32 vary count, (str request header)*,
                                 u32 dependency count, (str directory, str file name)*:
                                 every file the response depends on (the static file,
                                 applicationHost.config, each web.config looked for along
                                 the URL, configSource files) */
    /* listener -> worker */
    WASP_MSG_REQ_HEAD = 20,
    WASP_MSG_REQ_BODY = 21,  /* raw bytes; flag END on the last */
    WASP_MSG_REQ_BODY_FILE = 26, /* fd: the whole body, spooled to an unlinked
                                    file by the listener; u64 length.  Always END. */
    WASP_MSG_PING = 22,
    WASP_MSG_ABORT = 23,     /* stream: the client is gone */
    WASP_MSG_WINDOW = 24,    /* stream, u32: bytes written to the client */
    WASP_MSG_STATUS_QUERY = 25, /* where is each request in the pipeline? */
    WASP_MSG_SHUTDOWN = 27,  /* the server is stopping: every request is answered, the
                                channel closes next; exit then, do not reconnect */
    /* waspd -> listener */
    WASP_MSG_CFG_BEGIN = 40,
    WASP_MSG_CFG_LISTEN = 41,  /* fd, str ip, u16 port, u8 flags (WASP_LISTEN_*) */
    WASP_MSG_CFG_POOL = 42,    /* fd, str name, u32 uid, u32 queue_length,
                                  u32 ping interval ms (0 = no pinging), u32 ping response ms,
                                  u32 periodicRestart requests (0 = never),
                                  u32 idleTimeout ms (0 = never), u8 idle action (1 = suspend),
                                  u8 loadBalancerCapabilities (1 = TcpLevel).
                                  Pushed again for a known pool: new settings, fd ignored. */
    WASP_MSG_CFG_SITE = 43,    /* u32 id, str name, u32 started, u32 connectionTimeout ms,
                                  u32 maxConnections, u32 maxBandwidth (bytes/s; 4294967295
                                  = unlimited: limits) */
    WASP_MSG_CFG_BINDING = 44, /* u32 site, str ip, u16 port, str host */
    WASP_MSG_CFG_APP = 45,     /* u32 site, str path, str pool */
    WASP_MSG_CFG_END = 46,
    WASP_MSG_POOL_STATE = 47,  /* str pool, u8 started, str reason (HTTPERR, e.g. AppOffline) */
    WASP_MSG_QUERY_REQUESTS = 48, /* u32 minimum elapsed ms: answer with REQUESTS */
    WASP_MSG_QUERY_COUNTERS = 64, /* answer with COUNTERS */
    WASP_MSG_LIMITS_ANSWER = 12, /* u32 query id, u8 known (0: the URL's configuration is
                                    broken or its site gone: enforce nothing), then
                                    u64 maxAllowedContentLength, u32 maxUrl,
                                    u32 maxQueryString (service/req_limits.c) */
    WASP_MSG_LIMITS_FLUSH = 13,  /* a web.config changed: forget every answer */
    WASP_MSG_CFG_METRICS = 65, /* the admin binding, sent with every configuration push:
                                  fd (none: no admin binding), str "ip:port",
                                  str allowedAddresses (comma-separated) */
    WASP_MSG_CFG_TLS_CERT = 62,    /* u32 id, str PEM: certificate, chain and key */
    WASP_MSG_CFG_TLS_BINDING = 63, /* u8 kind (0 ipport, 1 hostnameport, 2 ccs), str ip,
                                      u16 port, str host, u32 cert id, u8 ask for a client
                                      certificate, u32 trust id (CFG_TLS_TRUST; 0 = the
                                      system's CAs and the store Root), u8 disablehttp2 */
    WASP_MSG_CFG_TLS_TRUST = 74,   /* u32 trust id, str PEM: CA certificates trusted for
                                      client certificates; several frames add up */
    WASP_MSG_CFG_LIMITS = 49,  /* u32 MaxFieldLength, u32 MaxRequestBytes, u32 UrlSegmentMaxLength,
                                  u32 UrlSegmentMaxCount, u8 AllowRestrictedChars,
                                  u8 PercentUAllowed, u32 MaxConnections (4294967295 = none)
                                  (wasp/httpSys); then webLimits: u32 connectionTimeout s,
                                  u32 headerWaitTimeout s (0 = 2 min), u32 minBytesPerSecond
                                  (0 = off), u32 maxGlobalBandwidth (4294967295 = none);
                                  then u8 EnableNonUTF8, u8 FavorUTF8, u8 EnableHttp2Tls,
                                  u8 EnableHttp2Cleartext, u32 Http2MaxConcurrentStreams,
                                  u32 Http2MaxSettingsPerFrame, u32 Http2MaxSettingsPerMinute,
                                  u32 Http2MaxResetsPer10Seconds, u8 UriEnableCache,
                                  u32 UriMaxUriBytes, u32 UriScavengerPeriod s (wasp/httpSys) */
    WASP_MSG_IDLE_DIVISOR = 67, /* u32: webLimits/@dynamicIdleThreshold says memory is
                                   short; every pool's idleTimeout is divided by this
                                   (1 = as configured).  Sent with every push and on change */
    /* listener -> waspd */
    WASP_MSG_DEMAND = 50,      /* str pool: requests wait and no worker is connected */
    WASP_MSG_LIMITS_QUERY = 14, /* u32 query id, u32 site, str URL path (decoded): the
                                   requestLimits in force there?  Answer: LIMITS_ANSWER */
    WASP_MSG_DRAINED = 51,     /* shutdown: every in-flight request is answered */
    WASP_MSG_WORKER_HUNG = 52, /* u32 pid, str pool: no PONG within pingResponseTime */
    WASP_MSG_WORKER_READY = 53, /* u32 pid, str pool: connected, takes requests */
    WASP_MSG_WORKER_RECYCLE = 54, /* u32 pid, str pool, u32 reason (WASP_RECYCLE_*) */
    WASP_MSG_POOL_IDLE = 55,   /* str pool: no request for idleTimeout */
    WASP_MSG_REQUESTS = 56,    /* text: one "req\t..." line per request (ctl_proto.h) */
    WASP_MSG_COUNTERS = 57,    /* text: "site\t..." and "queue\t..." lines (ctl_proto.h) */
    /* waspd -> listener (continued) */
    WASP_MSG_CFG_LOG = 60      /* one log, between CFG_BEGIN and CFG_END:
                                  u8 kind (1 a site's, 2 central W3C, 3 HTTPERR),
                                  u32 site id (0 unless kind 1), str site name,
                                  str directory (final: .../W3SVC<id>, .../W3SVC,
                                  .../HTTPERR), u8 logFormat, u8 period,
                                  u8 logInUTF8, u8 localTimeRollover, u8 logSiteId,
                                  u64 truncateSize, u32 logExtFileFlags,
                                  u32 maxLogLineLength, u32 flushByEntryCountW3CLog,
                                  u32 maxCustomFieldLength, u32 custom field count,
                                  (str logFieldName, str sourceName, u8 sourceType)*
                                  (enum values: IIS' schema numbers) */
} wasp_msg_type_t;

/* REQ_HEAD: no body follows; REQ_BODY: last chunk; RESP_HEAD: the whole body
 * follows the headers in this frame and the response is complete (RESP_END
 * implied).  RESP_END (or RESP_HEAD with END) also returns the request's
 * credit to the worker's account: one frame instead of three for the common
 * small response. */
#define WASP_FLAG_END 0x1u

/* CFG_LISTEN flags: an https port; a binding on it disables HTTP/2
 * (sslFlags 4), so ALPN offers only http/1.1. */
#define WASP_LISTEN_TLS 0x1u
#define WASP_LISTEN_NO_H2 0x2u

/* CFG_LOG kinds. */
#define WASP_CFG_LOG_SITE 1u
#define WASP_CFG_LOG_CENTRAL 2u
#define WASP_CFG_LOG_HTTPERR 3u

/* RESP_HEAD log flags: httpLogging (dontLog, selectiveLogging) excludes
 * this response from the access log. */
#define WASP_RESP_NO_LOG 0x1u

typedef struct wasp_frame_hdr {
    uint16_t type;
    uint16_t flags;
    uint32_t stream;
    uint32_t length; /* payload bytes after the header */
} wasp_frame_hdr_t;

typedef struct wasp_channel wasp_channel_t;

/* fd: -1 or a descriptor passed with the frame; the callee owns it. */
typedef void (*wasp_channel_msg_cb)(wasp_channel_t *ch, const wasp_frame_hdr_t *hdr,
                                    const char *payload, int fd, void *data);
typedef void (*wasp_channel_close_cb)(wasp_channel_t *ch, void *data);

wasp_channel_t *wasp_channel_new(wasp_loop_t *loop, int fd, wasp_channel_msg_cb on_msg,
                                 wasp_channel_close_cb on_close, void *data);
/* Close the socket, drop queued frames (closing their fds), free. */
void wasp_channel_free(wasp_channel_t *ch);
int wasp_channel_fd(const wasp_channel_t *ch);
/* Queue a frame.  pass_fd (-1 for none) is duplicated, the caller keeps its
 * own.  Returns 0, or -1 if the channel is closed (a peer that went away
 * meanwhile is reported through on_close, not here). */
int wasp_channel_send(wasp_channel_t *ch, uint16_t type, uint16_t flags, uint32_t stream,
                      const void *payload, size_t len, int pass_fd);
/* Send what was gathered now, not at the end of the loop iteration: for a
 * frame the peer must have before this process does anything that could
 * kill it (STARTED, before a request runs).  Returns 0, or -1 if the channel
 * is closed or the peer gone. */
int wasp_channel_flush(wasp_channel_t *ch);
/* Bytes waiting in the queue (for back-pressure decisions). */
size_t wasp_channel_queued(const wasp_channel_t *ch);
/* Stop or resume reading frames (back-pressure). */
void wasp_channel_pause(wasp_channel_t *ch, bool paused);
/* Blocking send of everything queued (shutdown paths only). */
void wasp_channel_flush_blocking(wasp_channel_t *ch);
/* Frames still waiting to be written (0 once everything left). */
size_t wasp_channel_pending(const wasp_channel_t *ch);

/* ---- payload encoding: u16/u32/u64 little-endian, str = u32 len + bytes --- */
typedef struct wasp_enc {
    wasp_buf_t buf;
} wasp_enc_t;

void wasp_enc_u8(wasp_enc_t *e, uint8_t v);
void wasp_enc_u16(wasp_enc_t *e, uint16_t v);
void wasp_enc_u32(wasp_enc_t *e, uint32_t v);
void wasp_enc_u64(wasp_enc_t *e, uint64_t v);
void wasp_enc_str(wasp_enc_t *e, const char *p, size_t len);
void wasp_enc_cstr(wasp_enc_t *e, const char *s);

typedef struct wasp_dec {
    const char *p;
    const char *end;
    bool error; /* set on any read past the end; values read are then 0/empty */
} wasp_dec_t;

void wasp_dec_init(wasp_dec_t *d, const char *p, size_t len);
uint8_t wasp_dec_u8(wasp_dec_t *d);
uint16_t wasp_dec_u16(wasp_dec_t *d);
uint32_t wasp_dec_u32(wasp_dec_t *d);
uint64_t wasp_dec_u64(wasp_dec_t *d);
/* Points into the payload; not NUL-terminated. */
const char *wasp_dec_str(wasp_dec_t *d, size_t *len);
/* Copies into dst (NUL-terminated, truncated to size-1); sets error if longer. */
void wasp_dec_cstr(wasp_dec_t *d, char *dst, size_t size);

#endif
