/*
 * WaspAesProvider: the "[enc:...:enc]" form, AES-256-GCM (OpenSSL's
 * libcrypto) and the key file.  See protect.h for the format and why.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "config/protect.h"

#define PR_PREFIX "[enc:"
#define PR_SUFFIX ":enc]"
#define PR_VERSION 1u
#define PR_NONCE 12
#define PR_TAG 16
#define PR_MIN_DATA (1 + PR_NONCE + PR_TAG) /* the encryption of "" */

/* ---- key file ------------------------------------------------------------------- */

static char pr_key_file[PATH_MAX];

void wasp_protect_set_key_file(const char *path)
{
    char cwd[PATH_MAX];

    if (path == NULL || !*path) {
        pr_key_file[0] = '\0';
    } else if (path[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL) {
        /* waspd reads the key again on every reload: the name must not
         * depend on a directory it may have left. */
        snprintf(pr_key_file, sizeof(pr_key_file), "%s/%s", cwd, path);
    } else {
        snprintf(pr_key_file, sizeof(pr_key_file), "%s", path);
    }
}

const char *wasp_protect_key_file(void)
{
    const char *env = getenv("WASP_CONFIG_KEY");

    if (pr_key_file[0]) {
        return pr_key_file;
    }
    return env != NULL && *env ? env : WASP_PROTECT_KEY_DEFAULT;
}

void wasp_protect_wipe(void *p, size_t size)
{
    if (p != NULL && size) {
        OPENSSL_cleanse(p, size);
    }
}

void wasp_protect_key_wipe(wasp_protect_key_t *key)
{
    if (key != NULL) {
        wasp_protect_wipe(key->bytes, sizeof(key->bytes));
    }
}

static int pr_fail(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int pr_fail(char *err, size_t errsz, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errsz) {
        va_start(ap, fmt);
        vsnprintf(err, errsz, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Read the key from an open file, after checking what the file is. */
static int pr_key_read(int fd, const char *path, wasp_protect_key_t *key, char *err,
                       size_t errsz)
{
    struct stat st;
    unsigned char extra;
    size_t got = 0;

    if (fstat(fd, &st) != 0) {
        return pr_fail(err, errsz, "cannot read the key file %s: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return pr_fail(err, errsz, "the key file %s is not a regular file", path);
    }
    if (st.st_mode & 077) {
        return pr_fail(err, errsz,
                       "the key file %s has mode %04o: group or others may read or change "
                       "it, so it no longer protects anything; run chmod 600 %s (and, if "
                       "others could read it, make a new key and set the encrypted values "
                       "again)",
                       path, (unsigned)(st.st_mode & 07777), path);
    }
    while (got < sizeof(key->bytes)) {
        ssize_t n = read(fd, key->bytes + got, sizeof(key->bytes) - got);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    if (got != sizeof(key->bytes) || read(fd, &extra, 1) != 0) {
        wasp_protect_key_wipe(key);
        return pr_fail(err, errsz,
                       "the key file %s is not a key: it must hold exactly %d bytes (a key "
                       "file is made by waspctl, e.g. waspctl encrypt)",
                       path, WASP_PROTECT_KEY_SIZE);
    }
    snprintf(key->path, sizeof(key->path), "%s", path);
    return 0;
}

/* Write a new key under a temporary name and link it to path: link()
 * fails when path exists, so the first creator wins and the others read
 * its key. */
static int pr_key_create(const char *path, char *err, size_t errsz)
{
    unsigned char bytes[WASP_PROTECT_KEY_SIZE];
    char tmp[PATH_MAX + 32];
    int fd, rc = -1;

    if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
        return pr_fail(err, errsz, "the key file name %s is too long", path);
    }
    fd = mkstemp(tmp); /* mode 0600, owned by the caller */
    if (fd < 0) {
        return pr_fail(err, errsz, "cannot create the key file %s: %s", path, strerror(errno));
    }
    if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
        pr_fail(err, errsz, "cannot create the key file %s: no random bytes from OpenSSL", path);
    } else if (write(fd, bytes, sizeof(bytes)) != (ssize_t)sizeof(bytes) || fsync(fd) != 0) {
        pr_fail(err, errsz, "cannot write the key file %s: %s", path, strerror(errno));
    } else if (link(tmp, path) != 0 && errno != EEXIST) {
        pr_fail(err, errsz, "cannot create the key file %s: %s", path, strerror(errno));
    } else {
        rc = 0;
    }
    wasp_protect_wipe(bytes, sizeof(bytes));
    close(fd);
    unlink(tmp);
    return rc;
}

int wasp_protect_key_load(const char *path, bool create, wasp_protect_key_t *key, char *err,
                          size_t errsz)
{
    int fd, rc;

    memset(key, 0, sizeof(*key));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        if (pr_key_create(path, err, errsz) != 0) {
            return -1;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0 && errno == ENOENT) {
        return pr_fail(err, errsz,
                       "the key file %s does not exist: encrypted values can only be read with "
                       "the key file they were encrypted with (copy it here with mode 0600, or "
                       "give its path with --config-key), or set the values again with waspctl",
                       path);
    }
    if (fd < 0) {
        return pr_fail(err, errsz, "cannot read the key file %s: %s%s", path, strerror(errno),
                       errno == EACCES ? " (only the user that runs waspd, normally root, may "
                                         "read it)"
                                       : "");
    }
    rc = pr_key_read(fd, path, key, err, errsz);
    close(fd);
    return rc;
}

/* ---- base64 (RFC 4648, standard alphabet, padded) -------------------------------- */

static const char pr_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t pr_b64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

static void pr_b64_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;

        if (i + 1 < n) {
            v |= (uint32_t)in[i + 1] << 8;
        }
        if (i + 2 < n) {
            v |= in[i + 2];
        }
        out[o++] = pr_b64[v >> 18 & 63];
        out[o++] = pr_b64[v >> 12 & 63];
        out[o++] = i + 1 < n ? pr_b64[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? pr_b64[v & 63] : '=';
    }
    out[o] = '\0';
}

static int pr_b64_value(char c)
{
    const char *p = c ? strchr(pr_b64, c) : NULL;

    return p != NULL ? (int)(p - pr_b64) : -1;
}

/* Strict: length a multiple of 4, '=' only as the last one or two
 * characters, no white space.  Returns the decoded length, or -1. */
static long pr_b64_decode(const char *in, size_t n, unsigned char *out, size_t size)
{
    size_t o = 0;

    if (n == 0 || n % 4) {
        return -1;
    }
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        bool last = i + 4 == n;

        for (int k = 0; k < 4; k++) {
            v[k] = pr_b64_value(in[i + k]);
        }
        if (v[0] < 0 || v[1] < 0) {
            return -1;
        }
        if (v[2] < 0 && !(last && in[i + 2] == '=' && in[i + 3] == '=')) {
            return -1;
        }
        if (v[3] < 0 && !(last && in[i + 3] == '=')) {
            return -1;
        }
        if (o + 3 > size) {
            return -1;
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
                     (uint32_t)(v[2] < 0 ? 0 : v[2]) << 6 | (uint32_t)(v[3] < 0 ? 0 : v[3]);
        out[o++] = (unsigned char)(w >> 16);
        if (v[2] >= 0) {
            out[o++] = (unsigned char)(w >> 8);
        }
        if (v[3] >= 0) {
            out[o++] = (unsigned char)w;
        }
    }
    return (long)o;
}

/* ---- the form ------------------------------------------------------------------- */

/* Providers of IIS and .NET, whose keys live in Windows' key store. */
static const char *const pr_windows_providers[] = {
    "IISWASOnlyRsaProvider", "IISWASOnlyCngProvider", "IISWASOnlyAesProvider",
    "IISCngProvider",        "IISRsaProvider",        "AesProvider",
    "RsaProtectedConfigurationProvider", "DataProtectionConfigurationProvider", NULL,
};

bool wasp_protect_is_encrypted(const char *value)
{
    return value != NULL && strncmp(value, PR_PREFIX, strlen(PR_PREFIX)) == 0;
}

/* The parts of "[enc:PROVIDER:DATA:enc]". */
typedef struct pr_form {
    const char *provider;
    size_t provider_len;
    const char *data;
    size_t data_len;
} pr_form_t;

static const char pr_fix[] = "set it again with waspctl (it encrypts with " WASP_PROTECT_PROVIDER
                             ") or write it in plain text";

static int pr_split(const char *value, pr_form_t *f, char *err, size_t errsz)
{
    size_t len = strlen(value), pl = strlen(PR_PREFIX), sl = strlen(PR_SUFFIX);
    const char *colon;

    if (len < pl + sl || strcmp(value + len - sl, PR_SUFFIX) != 0) {
        return pr_fail(err, errsz,
                       "starts with \"[enc:\" but does not end with \":enc]\", so it is neither "
                       "plain text nor an encrypted value ([enc:PROVIDER:DATA:enc]); %s",
                       pr_fix);
    }
    f->provider = value + pl;
    colon = memchr(f->provider, ':', len - pl - sl);
    if (colon == NULL || colon == f->provider) {
        return pr_fail(err, errsz,
                       "is not of the encrypted form [enc:PROVIDER:DATA:enc] (%s; an empty "
                       "value is written [enc:" WASP_PROTECT_PROVIDER "::enc]); %s",
                       colon == NULL ? "the provider name or the data is missing"
                                     : "the provider name is missing",
                       pr_fix);
    }
    f->provider_len = (size_t)(colon - f->provider);
    f->data = colon + 1;
    f->data_len = (size_t)(value + len - sl - f->data);
    return 0;
}

/* The WaspAesProvider data of f, decoded into blob (at least data_len). */
static long pr_blob(const pr_form_t *f, unsigned char *blob, size_t size, char *err,
                    size_t errsz)
{
    long n = pr_b64_decode(f->data, f->data_len, blob, size);

    if (n < 0) {
        return pr_fail(err, errsz,
                       "is not a valid " WASP_PROTECT_PROVIDER " value: its data is not base64 "
                       "(it was damaged or cut when copied); %s",
                       pr_fix);
    }
    if (n < PR_MIN_DATA) {
        return pr_fail(err, errsz,
                       "is not a valid " WASP_PROTECT_PROVIDER " value: its data is %ld bytes, "
                       "fewer than the %d of even an empty text (it was cut when copied); %s",
                       n, PR_MIN_DATA, pr_fix);
    }
    if (blob[0] != PR_VERSION) {
        return pr_fail(err, errsz,
                       "is a " WASP_PROTECT_PROVIDER " value of format version %u, and this "
                       "wasp reads version %u only; %s",
                       blob[0], PR_VERSION, pr_fix);
    }
    return n;
}

/* Split value and check its provider: WASP_PROTECT_WASP means f holds
 * WaspAesProvider data not yet decoded. */
static int pr_parse(const char *value, pr_form_t *f, wasp_protect_kind_t *kind, char *err,
                    size_t errsz)
{
    *kind = WASP_PROTECT_PLAIN;
    if (!wasp_protect_is_encrypted(value)) {
        return 0;
    }
    if (pr_split(value, f, err, errsz) != 0) {
        return -1;
    }
    if (f->data_len == 0) {
        *kind = WASP_PROTECT_EMPTY;
        return 0;
    }
    if (f->provider_len != strlen(WASP_PROTECT_PROVIDER) ||
        strncasecmp(f->provider, WASP_PROTECT_PROVIDER, f->provider_len) != 0) {
        for (int i = 0; pr_windows_providers[i] != NULL; i++) {
            if (strlen(pr_windows_providers[i]) == f->provider_len &&
                strncasecmp(f->provider, pr_windows_providers[i], f->provider_len) == 0) {
                return pr_fail(err, errsz,
                               "is encrypted with the Windows provider '%s', which wasp cannot "
                               "read: %s",
                               pr_windows_providers[i], pr_fix);
            }
        }
        return pr_fail(err, errsz,
                       "is encrypted with the provider '%.*s', which wasp does not know (it "
                       "reads " WASP_PROTECT_PROVIDER " only): %s",
                       (int)f->provider_len, f->provider, pr_fix);
    }
    *kind = WASP_PROTECT_WASP;
    return 0;
}

int wasp_protect_classify(const char *value, wasp_protect_kind_t *kind, char *err, size_t errsz)
{
    pr_form_t f;
    unsigned char *blob;
    long n;

    if (pr_parse(value, &f, kind, err, errsz) != 0) {
        return -1;
    }
    if (*kind != WASP_PROTECT_WASP) {
        return 0;
    }
    blob = malloc(f.data_len);
    n = blob != NULL ? pr_blob(&f, blob, f.data_len, err, errsz)
                     : pr_fail(err, errsz, "could not be checked: out of memory");
    free(blob);
    return n < 0 ? -1 : 0;
}

/* ---- AES-256-GCM ------------------------------------------------------------------ */

/* Associated data: the provider name and the format version. */
static void pr_aad(unsigned char *aad)
{
    memcpy(aad, WASP_PROTECT_PROVIDER, strlen(WASP_PROTECT_PROVIDER));
    aad[strlen(WASP_PROTECT_PROVIDER)] = PR_VERSION;
}

#define PR_AAD_LEN (sizeof(WASP_PROTECT_PROVIDER) - 1 + 1)

/* One GCM pass: encrypt (enc) or decrypt n bytes of in into out with the
 * tag.  Returns 0, or -1 when OpenSSL fails or (decrypting) the tag does
 * not match. */
static int pr_gcm(bool enc, const wasp_protect_key_t *key, const unsigned char *nonce,
                  const unsigned char *in, size_t n, unsigned char *out, unsigned char *tag)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    unsigned char aad[PR_AAD_LEN];
    int len, ok;

    if (ctx == NULL || n > INT_MAX) {
        EVP_CIPHER_CTX_free(ctx);
        return -1;
    }
    pr_aad(aad);
    ok = EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, PR_NONCE, NULL) == 1 &&
         EVP_CipherInit_ex(ctx, NULL, NULL, key->bytes, nonce, enc) == 1 &&
         EVP_CipherUpdate(ctx, NULL, &len, aad, (int)sizeof(aad)) == 1 &&
         (n == 0 || EVP_CipherUpdate(ctx, out, &len, in, (int)n) == 1);
    if (ok && !enc) {
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, PR_TAG, tag) == 1;
    }
    /* Decrypting, Final is where the tag is checked: it fails on any
     * change to the nonce, the ciphertext, the tag or the key. */
    ok = ok && EVP_CipherFinal_ex(ctx, out + n, &len) == 1;
    if (ok && enc) {
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, PR_TAG, tag) == 1;
    }
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

int wasp_protect_encrypt(const wasp_protect_key_t *key, const char *plain, char *out,
                         size_t size, char *err, size_t errsz)
{
    size_t n = strlen(plain), blen = 1 + PR_NONCE + n + PR_TAG;
    size_t need = strlen(PR_PREFIX WASP_PROTECT_PROVIDER ":" PR_SUFFIX) + pr_b64_len(blen) + 1;
    unsigned char *blob;
    int rc = -1;

    if (need > size) {
        return pr_fail(err, errsz, "the encrypted value would be %zu bytes, more than the %zu "
                                   "there is room for", need, size);
    }
    blob = malloc(blen);
    if (blob == NULL) {
        return pr_fail(err, errsz, "out of memory");
    }
    blob[0] = PR_VERSION;
    if (RAND_bytes(blob + 1, PR_NONCE) != 1) {
        pr_fail(err, errsz, "no random bytes from OpenSSL for the nonce");
    } else if (pr_gcm(true, key, blob + 1, (const unsigned char *)plain, n,
                      blob + 1 + PR_NONCE, blob + 1 + PR_NONCE + n) != 0) {
        pr_fail(err, errsz, "AES-256-GCM encryption failed in OpenSSL");
    } else {
        int p = snprintf(out, size, PR_PREFIX WASP_PROTECT_PROVIDER ":");

        pr_b64_encode(blob, blen, out + p);
        strcat(out + p, PR_SUFFIX);
        rc = 0;
    }
    free(blob);
    return rc;
}

int wasp_protect_decrypt(const wasp_protect_key_t *key, const char *value, char *out,
                         size_t size, char *err, size_t errsz)
{
    wasp_protect_kind_t kind;
    pr_form_t f;
    unsigned char *blob, *plain;
    long n;
    size_t tn;
    int rc = -1;

    if (size == 0) {
        return pr_fail(err, errsz, "could not be read: no room for it");
    }
    out[0] = '\0';
    if (pr_parse(value, &f, &kind, err, errsz) != 0) {
        return -1;
    }
    if (kind == WASP_PROTECT_EMPTY) {
        return 0;
    }
    if (kind == WASP_PROTECT_PLAIN) {
        if (strlen(value) >= size) {
            return pr_fail(err, errsz, "is longer than the %zu bytes wasp has room for", size - 1);
        }
        memcpy(out, value, strlen(value) + 1);
        return 0;
    }
    blob = malloc(f.data_len);
    plain = malloc(f.data_len);
    if (blob == NULL || plain == NULL) {
        free(blob);
        free(plain);
        return pr_fail(err, errsz, "could not be decrypted: out of memory");
    }
    n = pr_blob(&f, blob, f.data_len, err, errsz);
    tn = n < 0 ? 0 : (size_t)n - PR_MIN_DATA;
    if (n < 0) {
        /* err says why: damaged data */
    } else if (pr_gcm(false, key, blob + 1, blob + 1 + PR_NONCE, tn, plain,
                      blob + 1 + PR_NONCE + tn) != 0) {
        pr_fail(err, errsz,
                "could not be decrypted with the key in %s: the value was changed, or it was "
                "encrypted with another key; set it again with waspctl, or give waspd the key "
                "file it was encrypted with (--config-key)",
                key->path);
    } else if (memchr(plain, '\0', tn) != NULL) {
        pr_fail(err, errsz, "decrypts to a text with a NUL byte, which no attribute can hold; "
                            "set it again with waspctl");
    } else if (tn >= size) {
        pr_fail(err, errsz, "decrypts to %zu bytes, more than the %zu wasp has room for", tn,
                size - 1);
    } else {
        memcpy(out, plain, tn);
        out[tn] = '\0';
        rc = 0;
    }
    wasp_protect_wipe(plain, f.data_len);
    free(plain);
    free(blob);
    return rc;
}

/* ---- which attributes are encrypted ----------------------------------------------- */

/* IIS' schema: the attributes with encrypted="true" (iis-hosting.md 1.2,
 * 2.8, 3.4; iis-modules.md 2.9). */
static const struct {
    const char *section, *element, *attr;
} pr_encrypted_attrs[] = {
    { "system.applicationHost/applicationPools", "processModel", "password" },
    { "system.applicationHost/sites", "virtualDirectory", "password" },
    { "system.applicationHost/sites", "virtualDirectoryDefaults", "password" },
    { "system.webServer/security/authentication/anonymousAuthentication",
      "anonymousAuthentication", "password" },
    { "configurationRedirection", "configurationRedirection", "password" },
};

bool wasp_protect_attr_encrypted(const char *section, const char *element, const char *attr)
{
    for (size_t i = 0; i < sizeof(pr_encrypted_attrs) / sizeof(pr_encrypted_attrs[0]); i++) {
        if (strcmp(pr_encrypted_attrs[i].section, section) == 0 &&
            strcmp(pr_encrypted_attrs[i].element, element) == 0 &&
            strcmp(pr_encrypted_attrs[i].attr, attr) == 0) {
            return true;
        }
    }
    return false;
}
