/*
 * Process log: one line per event on stderr, prefixed with UTC time, level,
 * role and pid.  waspd's stderr is the terminal (or journald); its children
 * inherit it, so every process of a server writes to the same place.
 * Levels: alert (our bug or the OS misbehaved — tests fail on it), error,
 * warn, info, debug.
 */
#ifndef WASP_LOG_H
#define WASP_LOG_H

#include "wasp/module.h"

typedef enum wasp_loglevel {
    WASP_LL_ALERT,
    WASP_LL_ERROR,
    WASP_LL_WARN,
    WASP_LL_INFO,
    WASP_LL_DEBUG
} wasp_loglevel_t;

void wasp_log_init(const char *role);
void wasp_log_set_level(wasp_loglevel_t level);
void wasp_logf(wasp_loglevel_t level, const char *fmt, ...) WASP_PRINTF(2, 3);

#define wasp_alert(...) wasp_logf(WASP_LL_ALERT, __VA_ARGS__)
#define wasp_error(...) wasp_logf(WASP_LL_ERROR, __VA_ARGS__)
#define wasp_warn(...) wasp_logf(WASP_LL_WARN, __VA_ARGS__)
#define wasp_info(...) wasp_logf(WASP_LL_INFO, __VA_ARGS__)
#define wasp_debug(...) wasp_logf(WASP_LL_DEBUG, __VA_ARGS__)

#endif
