/*
 * Certificate stores as directories of PEM files (see certstore.h).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "tls/certstore.h"

/* ---- file stamps --------------------------------------------------------- */

void wasp_file_stamp_take(const char *path, wasp_file_stamp_t *stamp)
{
    struct stat st;

    memset(stamp, 0, sizeof(*stamp));
    if (stat(path, &st) != 0) {
        return;
    }
    stamp->present = true;
    stamp->dev = st.st_dev;
    stamp->ino = st.st_ino;
    stamp->size = st.st_size;
    stamp->mtime = st.st_mtim;
    stamp->ctime = st.st_ctim;
}

bool wasp_file_stamp_changed(const char *path, const wasp_file_stamp_t *stamp)
{
    wasp_file_stamp_t now;

    wasp_file_stamp_take(path, &now);
    return now.present != stamp->present || now.dev != stamp->dev || now.ino != stamp->ino ||
           now.size != stamp->size || now.mtime.tv_sec != stamp->mtime.tv_sec ||
           now.mtime.tv_nsec != stamp->mtime.tv_nsec ||
           now.ctime.tv_sec != stamp->ctime.tv_sec || now.ctime.tv_nsec != stamp->ctime.tv_nsec;
}

/* ---- one certificate file ------------------------------------------------ */

/* The newest OpenSSL error as text ("" when none), and the queue emptied. */
static const char *ssl_error_text(char *buf, size_t size)
{
    unsigned long e = ERR_peek_last_error();

    buf[0] = '\0';
    if (e != 0) {
        ERR_error_string_n(e, buf, size);
    }
    ERR_clear_error();
    return buf;
}

static void cert_err(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void cert_err(char *err, size_t errsz, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errsz > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errsz, fmt, ap);
        va_end(ap);
    }
}

/* Refuse encrypted keys instead of asking for a passphrase on a terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

void wasp_cert_thumbprint(X509 *x509, char out[WASP_THUMBPRINT_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    out[0] = '\0';
    if (X509_digest(x509, EVP_sha1(), md, &n) != 1 || n * 2 != WASP_THUMBPRINT_LEN) {
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        snprintf(out + 2 * i, 3, "%02X", md[i]);
    }
}

bool wasp_thumbprint_parse(const char *s, char out[WASP_THUMBPRINT_LEN + 1])
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        if (i >= WASP_THUMBPRINT_LEN || !isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    if (i != WASP_THUMBPRINT_LEN) {
        return false;
    }
    if (out != NULL) {
        for (i = 0; i < WASP_THUMBPRINT_LEN; i++) {
            out[i] = (char)toupper((unsigned char)s[i]);
        }
        out[WASP_THUMBPRINT_LEN] = '\0';
    }
    return true;
}

static void cert_subject(X509 *x509, char *out, size_t size)
{
    X509_NAME *name = X509_get_subject_name(x509);

    out[0] = '\0';
    if (name == NULL) {
        return;
    }
    if (X509_NAME_get_text_by_NID(name, NID_commonName, out, (int)size) < 0) {
        X509_NAME_oneline(name, out, (int)size);
    }
}

/* Every certificate of the file, in order: the first is the certificate,
 * the others its chain.  Other PEM blocks (the key) are skipped. */
static int read_certs(const char *path, wasp_cert_t *cert, char *err, size_t errsz)
{
    char ebuf[256];
    BIO *bio = BIO_new_file(path, "r");
    X509 *x;

    if (bio == NULL) {
        cert_err(err, errsz, "cannot read %s: %s", path, strerror(errno ? errno : EIO));
        ERR_clear_error();
        return -1;
    }
    cert->chain = sk_X509_new_null();
    if (cert->chain == NULL) {
        BIO_free(bio);
        cert_err(err, errsz, "out of memory reading %s", path);
        return -1;
    }
    while ((x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)) != NULL) {
        if (cert->x509 == NULL) {
            cert->x509 = x;
        } else if (!sk_X509_push(cert->chain, x)) {
            X509_free(x);
            BIO_free(bio);
            cert_err(err, errsz, "out of memory reading %s", path);
            return -1;
        }
    }
    BIO_free(bio);
    /* The loop ends at the end of the file (PEM "no start line") or at a
     * damaged certificate, which must not pass for the end of the chain. */
    if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE &&
        ERR_peek_last_error() != 0) {
        cert_err(err, errsz, "%s holds a certificate OpenSSL cannot read: %s", path,
                 ssl_error_text(ebuf, sizeof(ebuf)));
        return -1;
    }
    ERR_clear_error();
    if (cert->x509 == NULL) {
        cert_err(err, errsz,
                 "%s holds no certificate (a PEM file with a \"BEGIN CERTIFICATE\" block is "
                 "expected)",
                 path);
        return -1;
    }
    return 0;
}

/* Which private key block the file has: 0 none, 1 a plain one, 2 an
 * encrypted one (PKCS#8 "ENCRYPTED PRIVATE KEY", or a traditional key with
 * a "Proc-Type: 4,ENCRYPTED" header).  OpenSSL's own "no key here" error
 * differs between its versions, so the blocks are looked at first. */
static int key_block(BIO *bio)
{
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    long len = 0;
    int found = 0;

    while (found == 0 && PEM_read_bio(bio, &name, &header, &data, &len) == 1) {
        if (strstr(name, "PRIVATE KEY") != NULL) {
            found = strstr(name, "ENCRYPTED") != NULL || strstr(header, "ENCRYPTED") != NULL
                        ? 2
                        : 1;
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
    }
    ERR_clear_error();
    return found;
}

/* The private key in path: 1 read, 0 none there, -1 there but unusable. */
static int read_key(const char *path, EVP_PKEY **key, char *err, size_t errsz)
{
    char ebuf[256];
    BIO *bio = BIO_new_file(path, "r");
    int kind;

    if (bio == NULL) {
        ERR_clear_error();
        if (errno == ENOENT) {
            return 0;
        }
        cert_err(err, errsz, "cannot read the private key file %s: %s", path, strerror(errno));
        return -1;
    }
    kind = key_block(bio);
    if (kind == 1 && BIO_reset(bio) == 0) {
        *key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    }
    BIO_free(bio);
    if (kind == 0) {
        return 0;
    }
    if (kind == 2) {
        cert_err(err, errsz,
                 "the private key in %s is encrypted; wasp reads keys without a passphrase "
                 "(decrypt it with `openssl pkey -in FILE -out FILE` and protect the file "
                 "with mode 0600 instead)",
                 path);
        return -1;
    }
    if (*key == NULL) {
        cert_err(err, errsz, "the private key in %s cannot be read: %s", path,
                 ssl_error_text(ebuf, sizeof(ebuf)));
        return -1;
    }
    return 1;
}

/* path with its extension replaced by .key ("a/b.pem" -> "a/b.key"). */
static void key_sibling(const char *path, char *out, size_t size)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    size_t base = dot != NULL && (slash == NULL || dot > slash) ? (size_t)(dot - path)
                                                                : strlen(path);

    snprintf(out, size, "%.*s.key", (int)base, path);
}

static int load_key(wasp_cert_t *cert, unsigned flags, char *err, size_t errsz)
{
    char sibling[PATH_MAX];
    int rc = read_key(cert->path, &cert->key, err, errsz);

    if (rc < 0) {
        return -1;
    }
    if (rc > 0) {
        snprintf(cert->key_path, sizeof(cert->key_path), "%s", cert->path);
        cert->key_stamp = cert->stamp;
    } else {
        key_sibling(cert->path, sibling, sizeof(sibling));
        wasp_file_stamp_take(sibling, &cert->key_stamp);
        rc = read_key(sibling, &cert->key, err, errsz);
        if (rc < 0) {
            return -1;
        }
        if (rc > 0) {
            snprintf(cert->key_path, sizeof(cert->key_path), "%s", sibling);
        }
    }
    if (cert->key == NULL) {
        if (flags & WASP_CERT_KEY_OPTIONAL) {
            return 0;
        }
        cert_err(err, errsz,
                 "%s has the certificate %s (%s) but no private key: put the key in the same "
                 "file or in %s",
                 cert->path, cert->thumbprint, cert->subject, sibling);
        return -1;
    }
    if (X509_check_private_key(cert->x509, cert->key) != 1) {
        ERR_clear_error();
        cert_err(err, errsz,
                 "the private key in %s does not belong to the certificate %s (%s) in %s",
                 cert->key_path, cert->thumbprint, cert->subject, cert->path);
        return -1;
    }
    return 0;
}

/* The certificates of path, without looking for a key. */
static int load_certs(const char *path, wasp_cert_t *cert, char *err, size_t errsz)
{
    memset(cert, 0, sizeof(*cert));
    snprintf(cert->path, sizeof(cert->path), "%s", path);
    wasp_file_stamp_take(path, &cert->stamp);
    errno = 0;
    if (read_certs(path, cert, err, errsz) != 0) {
        wasp_cert_clear(cert);
        return -1;
    }
    wasp_cert_thumbprint(cert->x509, cert->thumbprint);
    cert_subject(cert->x509, cert->subject, sizeof(cert->subject));
    return 0;
}

int wasp_cert_load(const char *path, unsigned flags, wasp_cert_t *cert, char *err,
                   size_t errsz)
{
    if (load_certs(path, cert, err, errsz) != 0) {
        return -1;
    }
    if (load_key(cert, flags, err, errsz) != 0) {
        wasp_cert_clear(cert);
        return -1;
    }
    return 0;
}

void wasp_cert_clear(wasp_cert_t *cert)
{
    X509_free(cert->x509);
    sk_X509_pop_free(cert->chain, X509_free);
    EVP_PKEY_free(cert->key);
    cert->x509 = NULL;
    cert->chain = NULL;
    cert->key = NULL;
}

bool wasp_cert_changed(const wasp_cert_t *cert)
{
    char sibling[PATH_MAX];

    if (wasp_file_stamp_changed(cert->path, &cert->stamp)) {
        return true;
    }
    /* A key in the .pem itself is covered by the .pem's stamp; otherwise
     * the sibling is watched, including its appearance or removal. */
    if (cert->key_path[0] != '\0' && strcmp(cert->key_path, cert->path) == 0) {
        return false;
    }
    key_sibling(cert->path, sibling, sizeof(sibling));
    return wasp_file_stamp_changed(sibling, &cert->key_stamp);
}

/* ---- stores -------------------------------------------------------------- */

int wasp_certstore_dir(const char *root, const char *name, char *out, size_t size)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    int rc = -1;

    snprintf(out, size, "%s/%s", root, name);
    if (*name == '\0' || strchr(name, '/') != NULL || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0) {
        return -1;
    }
    if (stat(out, &st) == 0 && S_ISDIR(st.st_mode)) {
        return 0;
    }
    d = opendir(root);
    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcasecmp(e->d_name, name) != 0) {
            continue;
        }
        snprintf(out, size, "%s/%s", root, e->d_name);
        if (stat(out, &st) == 0 && S_ISDIR(st.st_mode)) {
            rc = 0;
            break;
        }
    }
    closedir(d);
    if (rc != 0) {
        snprintf(out, size, "%s/%s", root, name);
    }
    return rc;
}

static bool is_pem_name(const char *name)
{
    size_t n = strlen(name);

    return name[0] != '.' && n > 4 && strcasecmp(name + n - 4, ".pem") == 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.pem names of dir, sorted (so a duplicate thumbprint always finds
 * the same file).  Returns the count, or -1. */
static long pem_names(const char *dir, char ***names)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0, cap = 0;
    char **v = NULL;

    *names = NULL;
    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (!is_pem_name(e->d_name)) {
            continue;
        }
        if (n == cap) {
            char **nv = realloc(v, (cap ? cap * 2 : 16) * sizeof(*v));

            if (nv == NULL) {
                break;
            }
            v = nv;
            cap = cap ? cap * 2 : 16;
        }
        v[n] = strdup(e->d_name);
        if (v[n] == NULL) {
            break;
        }
        n++;
    }
    closedir(d);
    if (n > 0) {
        qsort(v, n, sizeof(*v), name_cmp);
    }
    *names = v;
    return (long)n;
}

static void free_names(char **names, long n)
{
    for (long i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
}

int wasp_certstore_find(const char *store_dir, const char *thumbprint, wasp_cert_t *cert,
                        char *err, size_t errsz)
{
    char want[WASP_THUMBPRINT_LEN + 1], path[PATH_MAX], skipped[PATH_MAX] = "";
    char **names;
    long n, unreadable = 0;
    int rc = WASP_CERT_NOT_FOUND;

    memset(cert, 0, sizeof(*cert));
    if (!wasp_thumbprint_parse(thumbprint, want)) {
        cert_err(err, errsz, "\"%s\" is not a thumbprint (40 hexadecimal digits)", thumbprint);
        return WASP_CERT_NOT_FOUND;
    }
    n = pem_names(store_dir, &names);
    if (n < 0) {
        cert_err(err, errsz, "the certificate store %s cannot be read: %s", store_dir,
                 strerror(errno));
        return WASP_CERT_NO_STORE;
    }
    for (long i = 0; i < n && rc != WASP_CERT_FOUND; i++) {
        wasp_cert_t c;

        snprintf(path, sizeof(path), "%s/%s", store_dir, names[i]);
        if (load_certs(path, &c, NULL, 0) != 0) {
            unreadable++;
            snprintf(skipped, sizeof(skipped), "%s", path);
            continue;
        }
        if (strcmp(c.thumbprint, want) != 0) {
            wasp_cert_clear(&c);
            continue;
        }
        wasp_cert_clear(&c);
        /* This one: again, with its key (and the key's precise message).  A
         * copy with a bad key does not hide a good one further on. */
        rc = wasp_cert_load(path, 0, cert, err, errsz) == 0 ? WASP_CERT_FOUND : WASP_CERT_BAD_KEY;
    }
    if (rc == WASP_CERT_NOT_FOUND) {
        if (unreadable > 0) {
            cert_err(err, errsz,
                     "no certificate with thumbprint %s among the %ld PEM files of %s (%ld "
                     "could not be read, e.g. %s)",
                     want, n, store_dir, unreadable, skipped);
        } else {
            cert_err(err, errsz, "no certificate with thumbprint %s among the %ld PEM files of %s",
                     want, n, store_dir);
        }
    }
    free_names(names, n);
    return rc;
}

/* ---- Central Certificate Store ------------------------------------------- */

/* host in lower case into out, if it is a DNS name. */
static bool ccs_host(const char *host, char *out, size_t size)
{
    size_t n = strlen(host);

    /* One trailing dot is the DNS root ("example.com."): not part of a file name. */
    if (n > 0 && host[n - 1] == '.') {
        n--;
    }
    if (n == 0 || n > 253 || n + 1 > size || host[0] == '.') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)host[i];

        if (!(isalnum(c) || c == '-' || c == '_' || c == '.') ||
            (c == '.' && host[i + 1] == '.')) {
            return false;
        }
        out[i] = (char)tolower(c);
    }
    out[n] = '\0';
    return true;
}

static bool is_file(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int wasp_ccs_find(const char *ccs_dir, const char *host, char *out, size_t size)
{
    char h[256];
    const char *parent;

    if (host == NULL || !ccs_host(host, h, sizeof(h))) {
        return -1;
    }
    snprintf(out, size, "%s/%s.pem", ccs_dir, h);
    if (is_file(out)) {
        return 0;
    }
    parent = strchr(h, '.');
    if (parent != NULL && strchr(parent + 1, '.') != NULL) {
        snprintf(out, size, "%s/_%s.pem", ccs_dir, parent);
        if (is_file(out)) {
            return 0;
        }
    }
    out[0] = '\0';
    return -1;
}
