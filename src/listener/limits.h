/*
 * HTTP.sys' connection limits and quality of service (iis-hosting.md 2.3,
 * 3.1, 4.1, 4.2): the server-wide values waspd pushes in CFG_LIMITS, the
 * per-site connection counts behind limits/@maxConnections, and the token
 * buckets behind limits/@maxBandwidth and webLimits/@maxGlobalBandwidth.
 * Pure bookkeeping: the caller passes the time, conn.c acts on the answers.
 */
#ifndef WASP_LISTENER_LIMITS_H
#define WASP_LISTENER_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

#define LSN_UNLIMITED UINT32_MAX /* IIS' "no limit" for the uint limits */

typedef struct lsn_limits {
    uint32_t idle_ms;         /* webLimits/@connectionTimeout: the first request's
                                 IdleConnection timer (the site is not known yet) */
    uint32_t header_wait_ms;  /* webLimits/@headerWaitTimeout, 0 = 2 minutes */
    uint32_t min_send_rate;   /* webLimits/@minBytesPerSecond, 0 = off */
    uint32_t max_global_bandwidth; /* bytes/s, LSN_UNLIMITED = none */
    uint32_t max_connections; /* HTTP.sys MaxConnections, LSN_UNLIMITED = none */
} lsn_limits_t;

/* The values in force; IIS' defaults until waspd says otherwise. */
extern lsn_limits_t lsn_limits;

/* Set the server-wide values from a CFG_LIMITS frame (seconds as pushed; a
 * zero timeout means HTTP.sys' default, 2 minutes). */
void lsn_limits_set(uint32_t idle_s, uint32_t header_wait_s, uint32_t min_send_rate,
                    uint32_t max_global_bandwidth, uint32_t max_connections);

/* A connection starts counting against site_id, whose maxConnections is max.
 * false (and nothing counted) when the site already has max connections:
 * the request gets 503 ConnLimit. */
bool lsn_limits_site_enter(uint32_t site_id, uint32_t max);

/* The connection counted by lsn_limits_site_enter() is gone. */
void lsn_limits_site_leave(uint32_t site_id);

/* Bytes a connection of site_id (maxBandwidth rate, bytes/s) may send at
 * now_ms under the site's and the server's buckets; UINT64_MAX when neither
 * limits it. */
uint64_t lsn_limits_bw_allow(uint32_t site_id, uint32_t rate, uint64_t now_ms);

/* Take n sent bytes from the buckets lsn_limits_bw_allow() looked at. */
void lsn_limits_bw_charge(uint32_t site_id, uint32_t rate, uint64_t n);

#endif
