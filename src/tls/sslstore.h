/*
 * HTTP.sys' SSL configuration, kept by wasp: which certificate answers a
 * TLS handshake on which address, port or host name (iis-hosting.md 4.5a).
 * An https binding in applicationHost.config names only protocol,
 * bindingInformation and sslFlags; the certificate comes from here, edited
 * as on Windows with netsh's vocabulary (`waspctl add|show|delete sslcert`).
 *
 * Three kinds of entry (netsh's keys), one certificate each:
 *   ipport=IP:port          sslFlags 0; 0.0.0.0 or [::] = every address
 *   hostnameport=host:port  sslFlags 1 (SNI): the ClientHello's server name
 *   ccs=port                sslFlags 2: the certificate file is looked up by
 *                           server name in the Central Certificate Store
 *
 * The file: <store root>/sslbindings.conf, one entry per line, written as
 * the netsh parameters that created it, so a line reads like the command:
 *
 *   # comment
 *   ipport=0.0.0.0:443 certhash=3A1F...C2 appid={4dc3e181-...} certstorename=My
 *   hostnameport=www.example.com:443 certhash=... appid={...} certstorename=WebHosting
 *   ccs=443 appid={4dc3e181-e14b-4a21-b022-59fc669b0914}
 *
 * Only options that differ from their defaults are written.  Blank lines
 * and '#' comments are kept: a comment block directly above an entry
 * belongs to it (and goes when the entry is deleted); other lines stay
 * where they are.  The file is replaced atomically (a temporary file in the
 * same directory, fsync, rename), under an flock on the store root, so two
 * waspctl at once do not lose a change and a reader (waspd) sees the old
 * file or the new one.
 */
#ifndef WASP_TLS_SSLSTORE_H
#define WASP_TLS_SSLSTORE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "tls/certstore.h"

#define WASP_SSL_BINDINGS_FILE "sslbindings.conf"
/* The application id IIS gives its own entries; used when appid= is not given. */
#define WASP_SSL_IIS_APPID "{4dc3e181-e14b-4a21-b022-59fc669b0914}"
/* The store a certificate is looked up in when certstorename= is not given
 * (netsh: "Defaults to MY"). */
#define WASP_SSL_DEFAULT_STORE "My"
/* The store whose CA certificates are trusted for client certificates in
 * addition to the system's (Windows' "Trusted Root Certification
 * Authorities", store name Root). */
#define WASP_SSL_ROOT_STORE "Root"

typedef enum wasp_sslkey_kind {
    WASP_SSL_IPPORT,
    WASP_SSL_HOSTNAMEPORT,
    WASP_SSL_CCS
} wasp_sslkey_kind_t;

/* What an entry is keyed by. */
typedef struct wasp_sslkey {
    wasp_sslkey_kind_t kind;
    int family;             /* IPPORT: AF_INET or AF_INET6 */
    unsigned char addr[16]; /* IPPORT: network byte order, 4 or 16 bytes used */
    char host[254];         /* HOSTNAMEPORT: lower case, no trailing dot */
    uint16_t port;
} wasp_sslkey_t;

/* One entry.  The options are netsh's, with netsh's names and defaults;
 * which ones the listener applies is said in docs/operations.md. */
typedef struct wasp_sslbinding {
    wasp_sslkey_t key;
    char certhash[WASP_THUMBPRINT_LEN + 1]; /* upper case; "" for ccs */
    char appid[39];                         /* "{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}" */
    char certstorename[64];                 /* as given; "" = not given (My) */
    bool verifyclientcertrevocation;        /* default true */
    bool verifyrevocationwithcachedclientcertonly;
    bool usagecheck; /* default true */
    uint32_t revocationfreshnesstime;       /* seconds */
    uint32_t urlretrievaltimeout;           /* milliseconds */
    char sslctlidentifier[128];
    char sslctlstorename[64];
    bool dsmapperusage;
    bool clientcertnegotiation; /* ask for a client certificate in the first handshake */
    bool reject;                /* drop every new connection */
    bool disablehttp2, disablequic, disabletls12, disabletls13, disableocspstapling;
    bool enabletokenbinding, logextendedevents, disablelegacytls, enablesessionticket;
    char *before;  /* file lines above it that are not its own (blank, other comments) */
    char *comment; /* its comment: the '#' lines directly above it */
} wasp_sslbinding_t;

/* The entries of the file, in file order. */
typedef struct wasp_ssl_bindings {
    wasp_sslbinding_t *v;
    size_t count, cap;
    char *trailer; /* lines after the last entry */
} wasp_ssl_bindings_t;

/* ---- keys and entries ---------------------------------------------------- */

/* Parse netsh's key parameter: name is "ipport", "hostnameport" or "ccs"
 * (any case), value "IP:port" ("[v6]:port"), "host:port" or "port".
 * Returns 0, or -1 with the reason in err. */
int wasp_sslkey_parse(const char *name, const char *value, wasp_sslkey_t *key, char *err,
                      size_t errsz);

/* The key's value as netsh shows it: "0.0.0.0:443", "[::]:443",
 * "www.example.com:443", "443". */
void wasp_sslkey_format(const wasp_sslkey_t *key, char *out, size_t size);

/* The key's parameter name: "ipport", "hostnameport" or "ccs". */
const char *wasp_sslkey_param(wasp_sslkey_kind_t kind);

bool wasp_sslkey_equal(const wasp_sslkey_t *a, const wasp_sslkey_t *b);

/* Fill b from netsh parameters ("name=value" words; a first word without
 * '=' is the ipport, as netsh allows).  Checks every format and the rules
 * between parameters (one key; certhash for ipport and hostnameport;
 * certstorename for hostnameport, as netsh requires; neither for ccs);
 * appid defaults to IIS' own.  Does not look at certificates.  Returns 0,
 * or -1 with a message in err. */
int wasp_sslbinding_parse(const char *const *words, size_t n, wasp_sslbinding_t *b, char *err,
                          size_t errsz);

/* The entry as its file line (no newline): the key, certhash, appid,
 * certstorename, then the options that differ from their defaults. */
void wasp_sslbinding_format(const wasp_sslbinding_t *b, char *out, size_t size);

/* netsh http show sslcert's block for one entry (label lines, no blank line). */
void wasp_sslbinding_show(const wasp_sslbinding_t *b, FILE *out);

/* The store an entry's certificate is looked up in: certstorename or My. */
const char *wasp_sslbinding_store(const wasp_sslbinding_t *b);

/* ---- the set and its file ------------------------------------------------ */

/* <root>/sslbindings.conf into out. */
void wasp_ssl_bindings_path(const char *root, char *out, size_t size);

/* The store root: opt if set, else $WASP_CERT_STORE if set, else
 * /etc/wasp/certs. */
const char *wasp_cert_store_root(const char *opt);

void wasp_ssl_bindings_init(wasp_ssl_bindings_t *set);
void wasp_ssl_bindings_free(wasp_ssl_bindings_t *set);

/* Read the file.  A missing file is an empty set (and a header comment for
 * the file the first add creates).  Returns 0, or -1 with "FILE:LINE:
 * problem" and the fix in err (set is then empty). */
int wasp_ssl_bindings_load(const char *path, wasp_ssl_bindings_t *set, char *err,
                           size_t errsz);

/* Write the set to path atomically, keeping the old file's mode (0644 for
 * a new one).  Returns 0, or -1 with err (the old file is then unchanged). */
int wasp_ssl_bindings_save(const char *path, const wasp_ssl_bindings_t *set, char *err,
                           size_t errsz);

/* Lock the store root against other editors (flock on the directory) until
 * the returned descriptor is closed.  -1 with err when root cannot be opened. */
int wasp_ssl_store_lock(const char *root, char *err, size_t errsz);

/* The entry with this key, or NULL. */
wasp_sslbinding_t *wasp_ssl_bindings_find(const wasp_ssl_bindings_t *set,
                                          const wasp_sslkey_t *key);

/* Append a copy of b (its before/comment are not copied).  Returns 0; -1
 * when an entry with that key exists (errno EEXIST) or memory is short. */
int wasp_ssl_bindings_add(wasp_ssl_bindings_t *set, const wasp_sslbinding_t *b);

/* Remove the entry with this key; false when there is none. */
bool wasp_ssl_bindings_delete(wasp_ssl_bindings_t *set, const wasp_sslkey_t *key);

/* ---- which entry answers a handshake ------------------------------------- */

/* The entries that may answer a handshake on local address local with
 * server name sni (NULL or "" when the ClientHello has none), most specific
 * first, as HTTP.sys looks them up:
 *   1. hostnameport=<sni>:<port>       (only with a server name)
 *   2. ccs=<port>                      (only with a server name)
 *   3. ipport=<local address>:<port>
 *   4. ipport=0.0.0.0:<port> / [::]:<port>, the connection's own family first
 * An IPv4-mapped IPv6 address counts as IPv4.  Returns how many of the at
 * most 5 were found, in out. */
size_t wasp_ssl_candidates(const wasp_ssl_bindings_t *set, const struct sockaddr_storage *local,
                           const char *sni, const wasp_sslbinding_t *out[5]);

/* Where the chosen entry's certificate comes from. */
typedef struct wasp_ssl_choice {
    const wasp_sslbinding_t *binding; /* NULL: no entry answers; the handshake fails */
    char store_dir[PATH_MAX];         /* ipport / hostnameport: the store directory */
    bool store_exists;                /* false: store_dir does not exist */
    char ccs_file[PATH_MAX];          /* ccs: the certificate file for the server name */
} wasp_ssl_choice_t;

/* The entry that answers: the first candidate, except that a ccs entry is
 * passed over when the Central Certificate Store (<root>/ccs) has no file
 * for the server name, so a site with its own certificate on the same port
 * still answers.  For the others, the certificate is then
 * wasp_certstore_find(choice->store_dir, binding->certhash).  Returns
 * choice->binding. */
const wasp_sslbinding_t *wasp_ssl_select(const wasp_ssl_bindings_t *set, const char *root,
                                         const struct sockaddr_storage *local, const char *sni,
                                         wasp_ssl_choice_t *choice);

#endif /* WASP_TLS_SSLSTORE_H */
