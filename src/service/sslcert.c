/*
 * waspd's copy of HTTP.sys' SSL configuration (src/tls/sslstore.h): the
 * entries of <cert store>/sslbindings.conf, read at start-up and again
 * whenever waspctl says it changed the file (control command
 * sslcert-changed), held in svc.ssl_bindings for the listener's TLS
 * termination.  waspctl writes the file itself, so a change made while
 * waspd is stopped is simply read at the next start.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "common/log.h"
#include "service/svc.h"

void svc_sslcert_load(void)
{
    char file[PATH_MAX], err[2048];

    wasp_ssl_bindings_path(svc.cert_store, file, sizeof(file));
    if (wasp_ssl_bindings_load(file, &svc.ssl_bindings, err, sizeof(err)) != 0) {
        wasp_error("%s; waspd runs with no SSL certificate bindings until it is fixed", err);
        return;
    }
    if (svc.ssl_bindings.count > 0) {
        wasp_info("SSL certificate bindings: %zu (from %s)", svc.ssl_bindings.count, file);
    }
}

int svc_sslcert_changed(const char *root, char *msg, size_t size)
{
    char ours[PATH_MAX], theirs[PATH_MAX], file[PATH_MAX], err[2048];
    wasp_ssl_bindings_t set;

    /* waspctl and waspd must mean the same store, or the change would
     * silently not apply. */
    if (root != NULL && *root &&
        (realpath(svc.cert_store, ours) == NULL || realpath(root, theirs) == NULL ||
         strcmp(ours, theirs) != 0)) {
        snprintf(msg, size,
                 "waspd reads its SSL certificate bindings from the certificate store %s, not "
                 "%s: give waspctl --cert-store %s (or start waspd with --cert-store %s)",
                 svc.cert_store, root, svc.cert_store, root);
        return 1;
    }
    wasp_ssl_bindings_path(svc.cert_store, file, sizeof(file));
    if (wasp_ssl_bindings_load(file, &set, err, sizeof(err)) != 0) {
        snprintf(msg, size, "%s; waspd keeps the %zu entries it had", err,
                 svc.ssl_bindings.count);
        wasp_error("%s", msg);
        return 1;
    }
    wasp_ssl_bindings_free(&svc.ssl_bindings);
    svc.ssl_bindings = set;
    snprintf(msg, size, "SSL certificate bindings changed: %zu bindings", set.count);
    wasp_info("%s", msg);
    svc_push_config(); /* the listener answers with them from the next handshake */
    return 0;
}

/* ---- watching the store --------------------------------------------------- */

/* A certificate replaced on disk (a renewal), a binding file edited by hand
 * or by waspctl: inotify on the store root and on each store directory
 * below it tells waspd, which reads the bindings again and pushes every
 * certificate to the listener 100 ms after the last change. */
static int sslcert_inotify = -1;
static wasp_ltimer_t *sslcert_timer;

static void sslcert_watch_dirs(void)
{
    const uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM;
    struct dirent *de;
    DIR *d;

    if (inotify_add_watch(sslcert_inotify, svc.cert_store, mask) < 0) {
        return; /* no store (yet): nothing to watch */
    }
    d = opendir(svc.cert_store);
    while (d != NULL && (de = readdir(d)) != NULL) {
        char path[PATH_MAX];

        if (de->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", svc.cert_store, de->d_name);
        inotify_add_watch(sslcert_inotify, path, mask | IN_ONLYDIR);
    }
    if (d != NULL) {
        closedir(d);
    }
}

static void sslcert_changed_tick(wasp_loop_t *loop, void *data)
{
    char msg[4096];

    sslcert_timer = NULL;
    sslcert_watch_dirs(); /* a store directory may have been created */
    svc_sslcert_changed(NULL, msg, sizeof(msg));
}

static void sslcert_on_inotify(wasp_loop_t *loop, int fd, uint32_t events, void *data)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

    while (read(fd, buf, sizeof(buf)) > 0) {
        /* any change in the store: read it all again, once */
    }
    if (sslcert_timer != NULL) {
        wasp_loop_timer_cancel(loop, sslcert_timer);
    }
    sslcert_timer = wasp_loop_timer(loop, 100, sslcert_changed_tick, NULL);
}

void svc_sslcert_watch(void)
{
    sslcert_inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (sslcert_inotify < 0 ||
        wasp_loop_add(svc.loop, sslcert_inotify, EPOLLIN, sslcert_on_inotify, NULL) != 0) {
        wasp_warn("cannot watch the certificate store %s (%s): after replacing a certificate, "
                  "run waspctl show sslcert or restart waspd", svc.cert_store, strerror(errno));
        return;
    }
    sslcert_watch_dirs();
}

/* ---- the listener's TLS configuration ------------------------------------ */

/* A whole (small) file: certificates and keys are a few KiB. */
static int tls_read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL) {
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > (1L << 20) ||
        fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)n + 1)) == NULL) {
        fclose(f);
        return -1;
    }
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    buf[n] = '\0';
    *out = buf;
    *len = (size_t)n;
    return 0;
}

/* A certificate file with its key, as the listener loads it: the .pem, and
 * the sibling .key when the key lives there.  malloc'd; NULL on error. */
static char *tls_read_pem(const wasp_cert_t *cert, size_t *len)
{
    char *pem = NULL, *key = NULL;
    size_t plen = 0, klen = 0;
    char *out;

    if (tls_read_file(cert->path, &pem, &plen) != 0) {
        return NULL;
    }
    if (cert->key_path[0] != '\0' && strcmp(cert->key_path, cert->path) != 0 &&
        tls_read_file(cert->key_path, &key, &klen) != 0) {
        free(pem);
        return NULL;
    }
    out = malloc(plen + klen + 2);
    if (out != NULL) {
        memcpy(out, pem, plen);
        out[plen] = '\n';
        if (klen > 0) {
            memcpy(out + plen + 1, key, klen);
        }
        *len = plen + 1 + klen;
    }
    free(pem);
    free(key);
    return out;
}

typedef struct tls_push {
    char (*paths)[PATH_MAX]; /* certificate files pushed, index = id - 1 */
    size_t count;
} tls_push_t;

/* Push a certificate once per file; its id, or 0 when it cannot be read. */
static uint32_t tls_push_cert(tls_push_t *tp, const wasp_cert_t *cert)
{
    wasp_enc_t e = {0};
    char (*grown)[PATH_MAX];
    size_t len = 0;
    char *pem;

    for (size_t i = 0; i < tp->count; i++) {
        if (strcmp(tp->paths[i], cert->path) == 0) {
            return (uint32_t)(i + 1);
        }
    }
    pem = tls_read_pem(cert, &len);
    grown = realloc(tp->paths, (tp->count + 1) * sizeof(*grown));
    if (pem == NULL || grown == NULL) {
        wasp_error("cannot read the certificate %s: %s", cert->path, strerror(errno));
        free(pem);
        if (grown != NULL) {
            tp->paths = grown;
        }
        return 0;
    }
    tp->paths = grown;
    snprintf(tp->paths[tp->count], PATH_MAX, "%s", cert->path);
    tp->count++;
    wasp_enc_u32(&e, (uint32_t)tp->count);
    wasp_enc_str(&e, pem, len);
    svc_send(WASP_MSG_CFG_TLS_CERT, &e, -1);
    /* The key was in that frame only: nothing of it stays in waspd. */
    memset(pem, 0, len);
    free(pem);
    return (uint32_t)tp->count;
}

/* The certificate blocks of a PEM text, and nothing else: a CA file that
 * also holds a private key must not carry it to the listener. */
static size_t tls_cert_blocks(const char *pem, char *out, size_t size)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----";
    static const char end[] = "-----END CERTIFICATE-----";
    size_t w = 0;

    for (const char *p = strstr(pem, begin); p != NULL; p = strstr(p, begin)) {
        const char *e = strstr(p, end);
        size_t n;

        if (e == NULL) {
            break;
        }
        n = (size_t)(e + sizeof(end) - 1 - p);
        if (w + n + 1 > size) {
            break;
        }
        memcpy(out + w, p, n);
        out[w + n] = '\n';
        w += n + 1;
        p = e;
    }
    return w;
}

/* Trusted issuers for client certificates (listener: lsn_tls_add_trust):
 * the CA certificates of every *.pem in dir, or of only.pem when only is
 * given (netsh sslctlidentifier).  One frame per file.  The number sent. */
static size_t tls_push_trust(uint32_t id, const char *dir, const char *only)
{
    struct dirent *de;
    size_t sent = 0;
    DIR *d = opendir(dir);

    while (d != NULL && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        char path[PATH_MAX], *pem, *certs;
        size_t len, clen;
        wasp_enc_t e = {0};

        if (de->d_name[0] == '.' || n <= 4 || strcasecmp(de->d_name + n - 4, ".pem") != 0 ||
            (only != NULL && (strncmp(de->d_name, only, n - 4) != 0 || only[n - 4] != '\0'))) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (tls_read_file(path, &pem, &len) != 0) {
            wasp_error("cannot read the CA certificate file %s: %s", path, strerror(errno));
            continue;
        }
        certs = malloc(WASP_CH_CHUNK);
        clen = certs != NULL ? tls_cert_blocks(pem, certs, WASP_CH_CHUNK - 64) : 0;
        free(pem);
        if (clen == 0) {
            wasp_warn("%s holds no certificate that fits one message (60 KiB); not trusted",
                      path);
            free(certs);
            continue;
        }
        wasp_enc_u32(&e, id);
        wasp_enc_str(&e, certs, clen);
        svc_send(WASP_MSG_CFG_TLS_TRUST, &e, -1);
        free(certs);
        sent++;
    }
    if (d != NULL) {
        closedir(d);
    }
    return sent;
}

/* A binding's trust id: 0 (the system's CAs and the store Root), or a new
 * id for its certificate trust list (sslctlstorename [+ sslctlidentifier]). */
static uint32_t tls_binding_trust(const wasp_sslbinding_t *b, uint32_t *next_id)
{
    char dir[PATH_MAX], key[300];
    uint32_t id;

    if (b->sslctlstorename[0] == '\0') {
        return 0;
    }
    id = (*next_id)++;
    wasp_sslkey_format(&b->key, key, sizeof(key));
    if (wasp_certstore_dir(svc.cert_store, b->sslctlstorename, dir, sizeof(dir)) != 0 ||
        tls_push_trust(id, dir, b->sslctlidentifier[0] ? b->sslctlidentifier : NULL) == 0) {
        wasp_error("SSL certificate binding %s=%s: sslctlstorename=%s%s%s gives no CA "
                   "certificate (%s); no client certificate is trusted there",
                   wasp_sslkey_param(b->key.kind), key, b->sslctlstorename,
                   b->sslctlidentifier[0] ? " sslctlidentifier=" : "", b->sslctlidentifier, dir);
    }
    return id;
}

static void tls_push_binding(uint8_t kind, const char *ip, uint16_t port, const char *host,
                             uint32_t cert_id, const wasp_sslbinding_t *b, uint32_t trust_id)
{
    wasp_enc_t e = {0};

    wasp_enc_u8(&e, kind);
    wasp_enc_cstr(&e, ip);
    wasp_enc_u16(&e, port);
    wasp_enc_cstr(&e, host);
    wasp_enc_u32(&e, cert_id);
    wasp_enc_u8(&e, b->clientcertnegotiation ? 1 : 0);
    wasp_enc_u32(&e, trust_id);
    wasp_enc_u8(&e, b->disablehttp2 ? 1 : 0);
    svc_send(WASP_MSG_CFG_TLS_BINDING, &e, -1);
}

/* Every file of the Central Certificate Store answers for the host name in
 * its name ("www.example.com.pem", "_.example.com.pem"). */
static void tls_push_ccs(tls_push_t *tp, const wasp_sslbinding_t *b, uint32_t trust_id)
{
    char dir[PATH_MAX];
    struct dirent *de;
    DIR *d;

    snprintf(dir, sizeof(dir), "%s/%s", svc.cert_store, WASP_CCS_DIR);
    d = opendir(dir);
    if (d == NULL) {
        wasp_warn("ccs=%u: the Central Certificate Store %s cannot be read (%s)", b->key.port, dir,
                  strerror(errno));
        return;
    }
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        char path[PATH_MAX], host[256], err[1024];
        wasp_cert_t cert;
        uint32_t id;

        if (de->d_name[0] == '.' || n <= 4 || n - 4 >= sizeof(host) ||
            strcasecmp(de->d_name + n - 4, ".pem") != 0) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (wasp_cert_load(path, 0, &cert, err, sizeof(err)) != 0) {
            wasp_warn("Central Certificate Store: %s", err);
            continue;
        }
        for (size_t i = 0; i < n - 4; i++) {
            char c = de->d_name[i];

            host[i] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
        }
        host[n - 4] = '\0';
        id = tls_push_cert(tp, &cert);
        wasp_cert_clear(&cert);
        if (id != 0) {
            tls_push_binding(2, "", b->key.port, host, id, b, trust_id);
        }
    }
    closedir(d);
}

void svc_push_tls(void)
{
    tls_push_t tp = {0};
    uint32_t next_trust = 1;
    char root[PATH_MAX];

    /* The store "Root" adds to the system's CAs, as Windows' Trusted Root
     * Certification Authorities store does for HTTP.sys. */
    if (wasp_certstore_dir(svc.cert_store, WASP_SSL_ROOT_STORE, root, sizeof(root)) == 0) {
        tls_push_trust(0, root, NULL);
    }

    for (size_t i = 0; i < svc.ssl_bindings.count; i++) {
        const wasp_sslbinding_t *b = &svc.ssl_bindings.v[i];
        char dir[PATH_MAX], err[1024], ip[64] = "";
        wasp_cert_t cert;
        uint32_t id;

        if (b->key.kind == WASP_SSL_CCS) {
            tls_push_ccs(&tp, b, tls_binding_trust(b, &next_trust));
            continue;
        }
        if (wasp_certstore_dir(svc.cert_store,
                               b->certstorename[0] ? b->certstorename : WASP_SSL_DEFAULT_STORE,
                               dir, sizeof(dir)) != 0) {
            snprintf(err, sizeof(err), "there is no certificate store %s", dir);
        } else if (wasp_certstore_find(dir, b->certhash, &cert, err, sizeof(err)) ==
                   WASP_CERT_FOUND) {
            err[0] = '\0';
        }
        if (err[0] != '\0') {
            char key[300];

            wasp_sslkey_format(&b->key, key, sizeof(key));
            wasp_error("SSL certificate binding %s=%s: %s; its handshakes fail until it is "
                       "fixed", wasp_sslkey_param(b->key.kind), key, err);
            continue;
        }
        id = tls_push_cert(&tp, &cert);
        wasp_cert_clear(&cert);
        if (id == 0) {
            continue;
        }
        if (b->key.kind == WASP_SSL_IPPORT) {
            inet_ntop(b->key.family, b->key.addr, ip, sizeof(ip));
        }
        tls_push_binding(b->key.kind == WASP_SSL_IPPORT ? 0 : 1, ip, b->key.port,
                         b->key.kind == WASP_SSL_HOSTNAMEPORT ? b->key.host : "", id, b,
                         tls_binding_trust(b, &next_trust));
    }
    free(tp.paths);
}
