/* Process log to stderr (see log.h). */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_role = "wasp";
static wasp_loglevel_t log_level = WASP_LL_INFO;

static const char *const log_names[] = {"alert", "error", "warn", "info", "debug"};

void wasp_log_init(const char *role)
{
    const char *env = getenv("WASP_LOG_LEVEL");

    log_role = role;
    if (env != NULL) {
        for (int i = 0; i <= WASP_LL_DEBUG; i++) {
            if (strcmp(env, log_names[i]) == 0) {
                log_level = (wasp_loglevel_t)i;
            }
        }
    }
}

void wasp_log_set_level(wasp_loglevel_t level)
{
    log_level = level;
}

void wasp_logf(wasp_loglevel_t level, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    int n;

    if (level > log_level) {
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ [%s] %s[%d]: ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ts.tv_nsec / 1000000, log_names[level], log_role, (int)getpid());
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(line) - 2) {
        n = (int)sizeof(line) - 2;
    }
    line[n++] = '\n';
    /* One write(2) per line so lines of different processes never interleave. */
    (void)!write(STDERR_FILENO, line, (size_t)n);
}
