/*
 * Diagnostics of the configuration system: the one format every error and
 * warning takes ("file:line: what is wrong; how to fix it"), and the list of
 * warnings a loaded configuration keeps for waspd to log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg_internal.h"

const char *wasp_diag_format(const wasp_diag_t *d, char *buf, size_t size)
{
    if (!buf || !size)
        return "";
    if (!d) {
        buf[0] = '\0';
        return buf;
    }
    if (d->file[0] && d->line > 0)
        snprintf(buf, size, "%s:%d: %s", d->file, d->line, d->message);
    else if (d->file[0])
        snprintf(buf, size, "%s: %s", d->file, d->message);
    else
        snprintf(buf, size, "%s", d->message);
    return buf;
}

static void cfg_diag_v(wasp_diag_t *d, const char *file, int line, const char *fmt, va_list ap)
{
    if (!d)
        return;
    snprintf(d->file, sizeof(d->file), "%s", file ? file : "");
    d->line = line > 0 ? line : 0;
    vsnprintf(d->message, sizeof(d->message), fmt, ap);
}

void cfg_diag(wasp_diag_t *d, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cfg_diag_v(d, file, line, fmt, ap);
    va_end(ap);
}

void cfg_warn(wasp_config_t *cfg, const char *file, int line, const char *fmt, ...)
{
    if (cfg->warning_count == cfg->warning_cap) {
        size_t cap = cfg->warning_cap ? cfg->warning_cap * 2 : 8;
        wasp_diag_t *w = realloc(cfg->warnings, cap * sizeof(*w));
        if (!w) {
            fputs("wasp: out of memory while reading configuration\n", stderr);
            abort();
        }
        cfg->warnings = w;
        cfg->warning_cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    cfg_diag_v(&cfg->warnings[cfg->warning_count++], file, line, fmt, ap);
    va_end(ap);
}

size_t wasp_config_warning_count(const wasp_config_t *cfg)
{
    return cfg ? cfg->warning_count : 0;
}

const wasp_diag_t *wasp_config_warning(const wasp_config_t *cfg, size_t i)
{
    return cfg && i < cfg->warning_count ? &cfg->warnings[i] : NULL;
}
