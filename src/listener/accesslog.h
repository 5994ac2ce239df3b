/*
 * The listener's log files: per-site (or central) access logs in the W3C,
 * IIS or NCSA format, and the HTTPERR log, as HTTP.sys writes them
 * (shared/reference/iis-hosting.md 4.6, 5).
 *
 * Lines are formatted on the event loop into one memory buffer per log;
 * a buffer goes to the writer thread when it holds 64 KiB, after a second,
 * when the file changes (rollover), or after flushByEntryCountW3CLog lines.
 * Only the writer thread touches the disk (mkdir, open, write, close), so a
 * slow or stuck disk never stops the loop: buffers waiting for the writer
 * are bounded (LSN_LOG_QUEUE_MAX bytes), and a buffer that would go over is
 * dropped and its lines counted; a warning says how many.
 */
#ifndef WASP_ACCESSLOG_H
#define WASP_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "listener/logfmt.h"

#define LSN_LOG_FLUSH_BYTES (64 * 1024)
#define LSN_LOG_FLUSH_MS 1000u
#define LSN_LOG_QUEUE_MAX (4u * 1024u * 1024u)

struct lsn_request;

/* Once, before the loop runs: time zone, host name, the writer's queue. */
void lsn_log_init(void);

/* The configuration push (CFG_LOG frames between CFG_BEGIN and CFG_END):
 * the logs named by the push replace the old ones at commit; a log whose
 * settings did not change keeps its buffer and its open file. */
void lsn_log_cfg_begin(void);
/* One CFG_LOG payload (channel.h); -1 when malformed. */
int lsn_log_cfg_add(const char *payload, size_t len);
void lsn_log_cfg_commit(void);

/* SIGUSR1: everything formatted so far goes to the files open now, then
 * every file is closed and opened again by name (logrotate's "move, then
 * signal"). */
void lsn_log_reopen(void);

/* Exit: hand every buffer to the writer and wait (at most a few seconds)
 * until it has written them. */
void lsn_log_shutdown(void);

/* The access log line of a request whose response came from a worker
 * (status, bytes, times are in req->log).  Not written when httpLogging
 * said so, or when the site does not log. */
void lsn_log_access(const struct lsn_request *req);

/* The site of this request logs response headers (customFields with
 * sourceType="ResponseHeader"): lsn_log_response_header() keeps the ones
 * it names. */
bool lsn_log_wants_response_headers(const struct lsn_request *req);
void lsn_log_response_header(struct lsn_request *req, const char *name, size_t name_len,
                             const char *value, size_t value_len);

/* One HTTPERR line. */
void lsn_log_httperr(const wasp_httperr_rec_t *e);
/* An HTTPERR line for a parsed request (method, cooked URL, site, pool
 * from the request itself). */
void lsn_log_httperr_request(const struct lsn_request *req, int status, const char *reason);

#endif
