/*
 * The event log: what WAS writes to the Windows System log, with the same
 * event ids (docs/operations.md lists them), so that an administrator who
 * searches for "5002" or "5074" finds the same story on wasp.
 *
 * Each event goes to three places:
 *   - waspd's stderr, like every other log line;
 *   - the event log file (one line per event, tab-separated:
 *     time, level, source, id, pool, pid, message), which `waspctl list
 *     events` reads through waspd;
 *   - journald, when the machine runs it, through its native datagram
 *     protocol (no libsystemd needed), with WASP_EVENT_ID, WASP_POOL and
 *     WASP_PID fields so `journalctl WASP_EVENT_ID=5002` works.
 * Writing is a single write(2) of a short line with O_APPEND: it cannot
 * interleave with another writer and never blocks for long.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "service/svc.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static int event_fd = -1;
static int journal_fd = -1;
static char journal_path[108] = JOURNAL_SOCKET;

void svc_event_open(const char *path)
{
    char dir[PATH_MAX];
    char *slash;

    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        /* 0755: the same directory is often the log root (/var/log/wasp),
         * which the listener must pass through; the file itself is 0640. */
        wasp_mkdir_p(dir, 0755);
    }
    event_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (event_fd < 0) {
        wasp_warn("cannot open the event log %s: %s; events go to stderr only (choose another "
                  "file with --event-log FILE)", path, strerror(errno));
    }
    /* WASP_JOURNAL_SOCKET: another journal socket (a journald in a
     * container, or a test's receiver). */
    if (getenv("WASP_JOURNAL_SOCKET") != NULL) {
        snprintf(journal_path, sizeof(journal_path), "%s", getenv("WASP_JOURNAL_SOCKET"));
    }
    if (access(journal_path, W_OK) == 0) {
        journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        wasp_info("events also go to journald (%s)", journal_path);
    }
}

void svc_event_reopen(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

    if (fd < 0) {
        wasp_warn("cannot open the event log %s again: %s; events keep going to the old file",
                  path, strerror(errno));
        return;
    }
    if (event_fd >= 0) {
        close(event_fd);
    }
    event_fd = fd;
}

static const char *level_name(svc_event_level_t level)
{
    return level == EV_ERROR ? "Error" : level == EV_WARNING ? "Warning" : "Information";
}

static void journal_send(int id, svc_event_level_t level, const char *pool, pid_t pid,
                         const char *msg)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char buf[2048];
    int n;

    if (journal_fd < 0) {
        return;
    }
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", journal_path);
    /* syslog priorities: 3 err, 4 warning, 6 info. */
    n = snprintf(buf, sizeof(buf),
                 "MESSAGE=%s\nPRIORITY=%d\nSYSLOG_IDENTIFIER=waspd\nWASP_EVENT_ID=%d\n"
                 "WASP_POOL=%s\nWASP_PID=%d\n",
                 msg, level == EV_ERROR ? 3 : level == EV_WARNING ? 4 : 6, id, pool ? pool : "",
                 (int)pid);
    if (n > 0 && (size_t)n < sizeof(buf)) {
        sendto(journal_fd, buf, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&sun, sizeof(sun));
    }
}

void svc_event(int id, svc_event_level_t level, const char *pool, pid_t pid, const char *fmt, ...)
{
    char msg[1024], line[1400], stamp[32];
    struct timeval tv;
    struct tm tm;
    va_list ap;
    int n;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* One event, one line: the file is read line by line. */
    for (char *p = msg; *p; p++) {
        if (*p == '\n' || *p == '\t' || *p == '\r') {
            *p = ' ';
        }
    }
    if (level == EV_ERROR) {
        wasp_error("event %d: %s", id, msg);
    } else if (level == EV_WARNING) {
        wasp_warn("event %d: %s", id, msg);
    } else {
        wasp_info("event %d: %s", id, msg);
    }
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    n = snprintf(line, sizeof(line), "%s.%03dZ\t%s\tWAS\t%d\t%s\t%d\t%s\n", stamp,
                 (int)(tv.tv_usec / 1000), level_name(level), id, pool ? pool : "-",
                 (int)pid, msg);
    if (event_fd >= 0 && n > 0) {
        if ((size_t)n >= sizeof(line)) {
            n = sizeof(line) - 1;
            line[n - 1] = '\n';
        }
        if (write(event_fd, line, (size_t)n) < 0) {
            /* Reported on stderr above already; nothing more to do. */
        }
    }
    journal_send(id, level, pool, pid, msg);
}
