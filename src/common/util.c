/* Small helpers (see util.h). */
#include "common/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *wasp_http_date_now(void)
{
    static char cached[32];
    static time_t cached_sec = -1;
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm tm;

    if (now != cached_sec) {
        gmtime_r(&now, &tm);
        snprintf(cached, sizeof(cached), "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
                 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                 tm.tm_sec);
        cached_sec = now;
    }
    return cached;
}

int wasp_set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

void wasp_sockaddr_str(const struct sockaddr_storage *ss, char *ip, size_t ip_size,
                       uint16_t *port)
{
    ip[0] = '\0';
    *port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

        inet_ntop(AF_INET, &a->sin_addr, ip, (socklen_t)ip_size);
        *port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
            inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], ip, (socklen_t)ip_size);
        } else {
            inet_ntop(AF_INET6, &a->sin6_addr, ip, (socklen_t)ip_size);
        }
        *port = ntohs(a->sin6_port);
    }
}

bool wasp_sockaddr_is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
            return a->sin6_addr.s6_addr[12] == 127;
        }
        return IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    }
    return false;
}

int wasp_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int wasp_mkdir_p(const char *path, unsigned mode)
{
    char tmp[4096];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(tmp, path, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
                return -1;
            }
            *p = '/';
        }
    }
    if (mkdir(tmp, (mode_t)mode) != 0 && errno != EEXIST) {
        return -1;
    }
    return 0;
}

void wasp_safe_name(const char *name, char *out, size_t size)
{
    size_t o = 0;
    bool changed = false;
    uint32_t h = 2166136261u; /* FNV-1a: stable across runs and builds */

    for (const char *p = name; *p; p++) {
        unsigned char c = (unsigned char)*p;

        h = (h ^ c) * 16777619u;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            c = '_';
            changed = true;
        }
        if (o + 1 < size) {
            out[o++] = (char)c;
        } else {
            changed = true;
        }
    }
    out[o] = '\0';
    if (changed && size > 10) {
        if (o > size - 10) {
            o = size - 10;
        }
        snprintf(out + o, size - o, "-%08x", h);
    }
}
