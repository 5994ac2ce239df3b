/*
 * The listener's performance counters (IIS' "Web Service" per site and
 * "HTTP Service Request Queues" per application pool), counted where the
 * events happen and read by `waspctl list counters` (through waspd) and by
 * the admin binding's /metrics.  Names, meaning and formats:
 * docs/operations.md, "Counters and metrics".
 */
#ifndef WASP_LSN_COUNTERS_H
#define WASP_LSN_COUNTERS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"

typedef struct lsn_request lsn_request_t;

/* route.c: the configuration names a site (its ServiceUptime starts the
 * first time). */
void lsn_counters_site_known(uint32_t site_id);
/* conn.c: a request of the connection was routed to site_id.  *conn_site is
 * the connection's own record (0 = not counted yet); a keep-alive connection
 * that moves to another site (other Host) moves its count with it. */
void lsn_counters_conn_site(uint32_t *conn_site, uint32_t site_id);
/* conn.c: the connection closes. */
void lsn_counters_conn_closed(uint32_t conn_site);
/* accesslog.c: a worker's response is complete (verb, bytes, 404). */
void lsn_counters_request(const lsn_request_t *req);

/* The counters as tab-separated lines (metrics_fmt.h) or OpenMetrics text. */
void lsn_counters_lines(wasp_buf_t *out);
void lsn_counters_openmetrics(wasp_buf_t *out);

/* metrics_http.c: the admin binding (WASP_MSG_CFG_METRICS): its socket,
 * its "ip:port" (the same binding pushed again keeps the open socket) and
 * the client addresses allowed (comma-separated literals).  fd -1 closes
 * it. */
void lsn_metrics_listen(int fd, const char *binding, const char *allowed);

#endif
