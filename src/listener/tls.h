/*
 * TLS in the listener (HTTP.sys' SSL role): the certificates and bindings
 * waspd pushes (from wasp's sslcert store, docs/operations.md "TLS
 * certificates"), the choice of certificate per handshake, and non-blocking
 * reads and writes on a connection.
 *
 * Which certificate answers, in HTTP.sys' order:
 *   1. hostnameport=<SNI host>:<port>              (sslFlags 1)
 *   2. ccs=<port>: the Central Certificate Store's file for the SNI host,
 *      exact name first, then the "_.<parent>" wildcard   (sslFlags 2)
 *   3. ipport=<local address>:<port>, then ipport=0.0.0.0:<port> / [::]:<port>
 * Nothing found: the handshake fails (the client sees an alert, as with
 * HTTP.sys when no certificate is bound).
 *
 * TLS 1.2 and 1.3 only, forward-secret AEAD ciphers, server cipher order,
 * session resumption (cache and tickets), ALPN "h2" and "http/1.1".
 */
#ifndef WASP_LISTENER_TLS_H
#define WASP_LISTENER_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct lsn_tls lsn_tls_t;

typedef enum lsn_tls_kind {
    LSN_TLS_IPPORT = 0,
    LSN_TLS_HOSTNAMEPORT = 1,
    LSN_TLS_CCS = 2
} lsn_tls_kind_t;

/* ---- configuration (staged like the routes: begin, add..., commit) ------- */
void lsn_tls_begin(void);
/* A certificate with its chain and key, PEM.  0, or -1 (logged). */
int lsn_tls_add_cert(uint32_t id, const char *pem, size_t len);
/* A binding.  ipport: ip is the local address ("0.0.0.0" / "::" = any);
 * hostnameport: host is the SNI name; ccs: host is the name a certificate of
 * the Central Certificate Store answers for ("www.example.com", or
 * "_.example.com" for its wildcard file).  negotiate_client_cert: ask for a
 * client certificate in the handshake (netsh clientcertnegotiation), checked
 * against the trusted issuers trust_id (lsn_tls_add_trust; 0 = the system's
 * CAs and the store "Root").  disable_http2: netsh's disablehttp2, ALPN
 * offers http/1.1 only for connections this entry answers. */
int lsn_tls_add_binding(lsn_tls_kind_t kind, const char *ip, uint16_t port, const char *host,
                        uint32_t cert_id, bool negotiate_client_cert, uint32_t trust_id,
                        bool disable_http2);
/* Trusted issuers of client certificates: CA certificates (PEM, one or
 * more; several calls add up).  Id 0 adds to the system's CAs (the store
 * "Root", like Windows' Trusted Root store); any other id is a certificate
 * trust list of its own (netsh sslctlstorename): only its CAs are trusted
 * and their names are sent in the CertificateRequest. */
int lsn_tls_add_trust(uint32_t id, const char *pem, size_t len);
void lsn_tls_commit(void);

/* ---- connections ----------------------------------------------------------- */
/* A TLS connection on an accepted socket; h2: ALPN may choose HTTP/2.
 * NULL on failure (logged). */
lsn_tls_t *lsn_tls_new(int fd, const char *local_ip, uint16_t local_port, bool h2);
/* The handshake chose h2 by ALPN. */
bool lsn_tls_is_h2(const lsn_tls_t *t);
void lsn_tls_free(lsn_tls_t *t);

/* Results of the calls below: > 0 bytes (or 1: done), or one of these. */
enum {
    LSN_TLS_WANT_READ = -1,  /* wait until the socket is readable */
    LSN_TLS_WANT_WRITE = -2, /* wait until the socket is writable */
    LSN_TLS_CLOSED = -3,     /* the peer closed (close_notify or EOF) */
    LSN_TLS_ERROR = -4       /* protocol or socket error: drop the connection */
};

int lsn_tls_handshake(lsn_tls_t *t);
/* Plaintext in; the caller gives at least 16384 bytes of room so a whole
 * record fits (nothing stays buffered inside OpenSSL). */
ssize_t lsn_tls_read(lsn_tls_t *t, void *buf, size_t len);
/* Plaintext out.  After WANT_*, call again with the same bytes. */
ssize_t lsn_tls_write(lsn_tls_t *t, const void *buf, size_t len);
/* Decrypted bytes waiting inside OpenSSL. */
bool lsn_tls_pending(const lsn_tls_t *t);
/* A read needs the socket writable (or a write needs it readable). */
bool lsn_tls_wants_write(const lsn_tls_t *t);
/* Send close_notify (best effort, never waits). */
void lsn_tls_shutdown(lsn_tls_t *t);

/* What the worker learns about the connection (server variables HTTPS_*,
 * CERT_*).  client_cert_pem: "" when the client sent none (malloc'd by the
 * call into *pem, the caller frees). */
typedef struct lsn_tls_info {
    char protocol[16]; /* "TLSv1.3" */
    char cipher[64];
    int keysize;       /* bits of the cipher's secret key */
    bool client_cert_verified;
    char sni[256];
    char cert_subject[512], cert_issuer[512], cert_serial[128]; /* "" without one */
} lsn_tls_info_t;
void lsn_tls_get_info(lsn_tls_t *t, lsn_tls_info_t *info, char **client_cert_pem, size_t *pem_len);

#endif
