/*
 * webLimits/@dynamicIdleThreshold (iis-hosting.md 3.1): when the memory the
 * system has committed nears a share of physical RAM, WAS shortens every
 * pool's idle time-out so idle workers give their memory back sooner.
 *
 * The threshold is a percentage of RAM (200 on a 2 GB machine = 4 GB).  The
 * reduction follows IIS' table, by committed memory as a share of that
 * threshold: under 80 % the configured idleTimeout, 80 % half of it, 85 % a
 * quarter, 90 % an eighth, 95 % a sixteenth, 100 % and above a thirty-second.
 * "Committed" is Linux' Committed_AS from /proc/meminfo, the same notion as
 * Windows' commit charge.  waspd checks once a second (with the memory
 * recycling checks) and tells the listener, which owns the idle timers, only
 * when the divisor changes.
 */
#include <stdio.h>

#include "common/log.h"
#include "service/svc.h"

static uint32_t current_divisor = 1;

/* The divisor for committed and total kB under threshold percent. */
uint32_t svc_idle_divisor(uint64_t committed_kb, uint64_t total_kb, uint32_t threshold)
{
    static const struct {
        unsigned percent;
        uint32_t divisor;
    } steps[] = {{100, 32}, {95, 16}, {90, 8}, {85, 4}, {80, 2}};
    uint64_t limit_kb = total_kb * threshold / 100;

    if (threshold == 0 || limit_kb == 0) {
        return 1;
    }
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        if (committed_kb * 100 >= limit_kb * steps[i].percent) {
            return steps[i].divisor;
        }
    }
    return 1;
}

static int read_meminfo(uint64_t *committed_kb, uint64_t *total_kb)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    unsigned long long v;
    int found = 0;

    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL && found < 2) {
        if (sscanf(line, "MemTotal: %llu", &v) == 1) {
            *total_kb = v;
            found++;
        } else if (sscanf(line, "Committed_AS: %llu", &v) == 1) {
            *committed_kb = v;
            found++;
        }
    }
    fclose(f);
    return found == 2 ? 0 : -1;
}

static void send_divisor(void)
{
    wasp_enc_t e = {0};

    wasp_enc_u32(&e, current_divisor);
    svc_send(WASP_MSG_IDLE_DIVISOR, &e, -1);
}

void svc_dynamic_idle_check(void)
{
    wasp_weblimits_cfg_t wl;
    wasp_diag_t diag;
    uint64_t committed = 0, total = 0;
    uint32_t d = 1;

    if (svc.cfg != NULL && wasp_config_weblimits(svc.cfg, &wl, &diag) == 0 &&
        wl.dynamic_idle_threshold != 0 && read_meminfo(&committed, &total) == 0) {
        d = svc_idle_divisor(committed, total, wl.dynamic_idle_threshold);
    }
    if (d == current_divisor) {
        return;
    }
    wasp_info("dynamicIdleThreshold: %llu of %llu kB committed; idle time-outs are now %s%u",
              (unsigned long long)committed, (unsigned long long)total,
              d == 1 ? "as configured, divisor " : "divided by ", d);
    current_divisor = d;
    send_divisor();
}

void svc_dynamic_idle_push(void)
{
    send_divisor();
}
