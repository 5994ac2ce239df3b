/*
 * Certificate stores: Windows' machine certificate stores (My, WebHosting)
 * and IIS' Central Certificate Store, as directories of PEM files.
 *
 *   <root>/                     the store root: --cert-store DIR, else
 *                               $WASP_CERT_STORE, else /etc/wasp/certs
 *   <root>/My/NAME.pem          one certificate store per directory; the
 *   <root>/WebHosting/NAME.pem  name is matched case-insensitively (netsh's
 *                               certstorename=MY finds My/)
 *   <root>/ccs/<host>.pem       the Central Certificate Store: a file per
 *   <root>/ccs/_.<parent>.pem   host name, "_." for a wildcard certificate
 *
 * A PEM file holds the certificate first, then any intermediate
 * certificates (the chain sent to clients), and the private key, unencrypted
 * (the file's permissions protect it, as the machine key store's ACL does on
 * Windows).  The key may instead be in a sibling file with the same base
 * name and the extension .key (cert.pem + cert.key, the shape ACME clients
 * write); a key inside the .pem wins.
 *
 * A certificate is named by its thumbprint: the SHA-1 of its DER encoding,
 * 40 hex digits, upper case as IIS Manager and PowerShell show it
 * (`openssl x509 -noout -fingerprint -sha1` prints the same bytes with
 * colons).
 *
 * Files are read on demand and nothing is cached here: the caller (the
 * listener) keeps what it loaded together with its file stamps, and
 * wasp_cert_changed() tells it cheaply (two stat calls) that a file was
 * replaced, so the next handshake uses the new certificate.
 */
#ifndef WASP_TLS_CERTSTORE_H
#define WASP_TLS_CERTSTORE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define WASP_CERT_STORE_DEFAULT "/etc/wasp/certs"
#define WASP_CERT_STORE_ENV "WASP_CERT_STORE"
/* The Central Certificate Store's directory under the store root. */
#define WASP_CCS_DIR "ccs"
#define WASP_THUMBPRINT_LEN 40

/* What a stat() said about a file: enough to see that it was rewritten in
 * place (size, mtime, ctime) or replaced by a rename (device, inode). */
typedef struct wasp_file_stamp {
    bool present;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
} wasp_file_stamp_t;

/* Take the stamp of path (present = false when it cannot be stat'ed). */
void wasp_file_stamp_take(const char *path, wasp_file_stamp_t *stamp);

/* True when path's stamp now differs from the one taken before. */
bool wasp_file_stamp_changed(const char *path, const wasp_file_stamp_t *stamp);

/* A certificate file as loaded. */
typedef struct wasp_cert {
    char path[PATH_MAX];     /* the .pem file */
    char key_path[PATH_MAX]; /* where the key came from: path, the .key sibling, or "" */
    char thumbprint[WASP_THUMBPRINT_LEN + 1]; /* upper-case hex */
    char subject[256];       /* the subject's CN (or the whole subject), for messages */
    X509 *x509;              /* the certificate */
    STACK_OF(X509) *chain;   /* the certificates after it in the file (may be empty) */
    EVP_PKEY *key;           /* NULL when the file has no key (only with WASP_CERT_KEY_OPTIONAL) */
    wasp_file_stamp_t stamp, key_stamp;
} wasp_cert_t;

/* Flags of wasp_cert_load(). */
#define WASP_CERT_KEY_OPTIONAL 0x1u /* a certificate without a key is not an error */

/* Load a PEM certificate file (and its key).  Returns 0, or -1 with a
 * message naming the file in err: unreadable, no certificate, no key,
 * encrypted key, or a key that does not belong to the certificate.  The
 * stamps are taken before reading, so a replacement during the read shows
 * up as a change at the next check. */
int wasp_cert_load(const char *path, unsigned flags, wasp_cert_t *cert, char *err,
                   size_t errsz);

/* Free what wasp_cert_load() allocated (the struct itself is the caller's). */
void wasp_cert_clear(wasp_cert_t *cert);

/* True when the certificate file or its key file changed on disk since the
 * certificate was loaded: load it again for the next handshake. */
bool wasp_cert_changed(const wasp_cert_t *cert);

/* The thumbprint of a certificate into out (41 bytes), upper-case hex. */
void wasp_cert_thumbprint(X509 *x509, char out[WASP_THUMBPRINT_LEN + 1]);

/* True for 40 hex digits; out (41 bytes, may be NULL) gets them in upper case. */
bool wasp_thumbprint_parse(const char *s, char out[WASP_THUMBPRINT_LEN + 1]);

/* The directory of the certificate store called name under root: the
 * subdirectory whose name equals name ignoring case (an exact match wins).
 * Returns 0; -1 when there is none, with root/name in out for messages. */
int wasp_certstore_dir(const char *root, const char *name, char *out, size_t size);

/* Results of wasp_certstore_find(). */
enum {
    WASP_CERT_FOUND = 0,
    WASP_CERT_NO_STORE = -1,  /* the store directory does not exist */
    WASP_CERT_NOT_FOUND = -2, /* no certificate with that thumbprint */
    WASP_CERT_BAD_KEY = -3    /* found, but its key is missing, unreadable or not its own */
};

/* Find the certificate with this thumbprint (any case) in store_dir: the
 * *.pem files are read in name order (hidden files skipped), and the first
 * whose certificate matches and whose key is its own is loaded.  err says
 * what was searched when nothing is found ("no certificate with thumbprint
 * ... among the 3 PEM files of DIR"), or what is wrong with the key of a
 * match (WASP_CERT_BAD_KEY). */
int wasp_certstore_find(const char *store_dir, const char *thumbprint, wasp_cert_t *cert,
                        char *err, size_t errsz);

/* The Central Certificate Store file for a host name (a TLS client's SNI):
 * <ccs_dir>/<host>.pem, else <ccs_dir>/_.<parent>.pem where parent is host
 * without its first label (a wildcard certificate covers one label, as in
 * IIS: www.example.com -> _.example.com.pem; a.b.example.com never uses
 * _.example.com.pem).  The host is compared in lower case and must be a DNS
 * name (letters, digits, '-', '.', '_'): anything else, including ".." or a
 * '/', finds nothing, since it comes from the network.  Returns 0 with the
 * file's path in out, or -1. */
int wasp_ccs_find(const char *ccs_dir, const char *host, char *out, size_t size);

#endif /* WASP_TLS_CERTSTORE_H */
