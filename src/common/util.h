/* Small helpers shared by the three processes. */
#ifndef WASP_UTIL_H
#define WASP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* IMF-fixdate of now ("Sun, 06 Nov 1994 08:49:37 GMT", 29 chars + NUL),
 * recomputed at most once per second. */
const char *wasp_http_date_now(void);

int wasp_set_nonblock(int fd);
/* Printable address and port of a socket address ("::ffff:" stripped). */
void wasp_sockaddr_str(const struct sockaddr_storage *ss, char *ip, size_t ip_size,
                       uint16_t *port);
/* True for loopback addresses. */
bool wasp_sockaddr_is_loopback(const struct sockaddr_storage *ss);
/* Write all of buf (blocking fd). */
int wasp_write_all(int fd, const void *buf, size_t len);
/* mkdir -p with a mode for the last component. */
int wasp_mkdir_p(const char *path, unsigned mode);
/* File name safe version of a pool name: [A-Za-z0-9._-], others as '_',
 * plus a short hash when anything was replaced (so names stay distinct). */
void wasp_safe_name(const char *name, char *out, size_t size);

#endif
