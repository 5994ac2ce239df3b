/*
 * TLS in the listener: certificate choice and non-blocking I/O (tls.h).
 *
 * Every connection starts on one base context that holds the protocol
 * settings, the session cache and the ticket keys but no certificate; the
 * server-name callback, which OpenSSL runs for every ClientHello (with or
 * without SNI), picks the binding and moves the connection to that
 * certificate's context.  Keeping the session state on the base context
 * lets resumption work whichever certificate answered, and lets a
 * configuration push replace every certificate without losing sessions.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/log.h"
#include "listener/h2.h"
#include "listener/tls.h"

typedef struct tls_cert {
    uint32_t id;
    SSL_CTX *ctx;
} tls_cert_t;

typedef struct tls_binding {
    lsn_tls_kind_t kind;
    char ip[64];
    uint16_t port;
    char host[256]; /* lower case */
    SSL_CTX *ctx;   /* a reference of its own */
    bool negotiate_client_cert;
    uint32_t trust_id;
    bool disable_http2; /* netsh sslcert disablehttp2=enable */
} tls_binding_t;

/* Issuers trusted for client certificates (lsn_tls_add_trust). */
typedef struct tls_trust {
    uint32_t id;
    X509_STORE *store;
    STACK_OF(X509_NAME) *names; /* a trust list's CAs, for the CertificateRequest */
} tls_trust_t;

typedef struct tls_table {
    tls_cert_t *certs;
    size_t cert_count;
    tls_binding_t *bindings;
    size_t binding_count;
    tls_trust_t *trusts;
    size_t trust_count;
} tls_table_t;

static tls_table_t live, next;
static SSL_CTX *base_ctx;

struct lsn_tls {
    SSL *ssl;
    char local_ip[64];
    uint16_t local_port;
    bool read_wants_write;
    bool write_wants_read;
    bool h2; /* the binding may speak HTTP/2 (sslFlags without 4) */
};

/* ---- contexts ---------------------------------------------------------------- */

static void tls_log_errors(const char *what)
{
    char buf[256];
    unsigned long e = ERR_get_error();

    if (e == 0) {
        wasp_error("%s", what);
    }
    for (; e != 0; e = ERR_get_error()) {
        ERR_error_string_n(e, buf, sizeof(buf));
        wasp_error("%s: %s", what, buf);
    }
}

/* Find proto in the client's ALPN list; true with *out set. */
static bool tls_alpn_find(const unsigned char *in, unsigned int inlen, const char *proto,
                          const unsigned char **out, unsigned char *outlen)
{
    size_t pl = strlen(proto);

    for (unsigned int i = 0; i < inlen;) {
        unsigned int n = in[i];

        if (i + 1 + n > inlen) {
            break;
        }
        if (n == pl && memcmp(in + i + 1, proto, n) == 0) {
            *out = in + i + 1;
            *outlen = (unsigned char)n;
            return true;
        }
        i += 1 + n;
    }
    return false;
}

/* ALPN, in the server's order: h2 (unless the binding's sslFlags has 4,
 * "disable HTTP/2", as IIS 10), then HTTP/1.1; a client that offers only
 * other protocols gets no ALPN answer and may go on or give up. */
static int tls_on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    const lsn_tls_t *t = SSL_get_app_data(ssl);

    if ((t != NULL && t->h2 && lsn_h2_limits.tls && tls_alpn_find(in, inlen, "h2", out, outlen)) ||
        tls_alpn_find(in, inlen, "http/1.1", out, outlen)) {
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

/* Client certificates are asked for, never required by the handshake: the
 * verdict (trusted or not) goes to the worker, where security/access
 * sslFlags decide (403.7, 403.16), as on IIS. */
static int tls_on_verify(int preverify_ok, X509_STORE_CTX *store)
{
    return 1;
}

static SSL_CTX *tls_ctx_new(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx == NULL) {
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* TLS 1.2: forward secrecy and AEAD only; TLS 1.3's suites are all so. */
    if (SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_NO_COMPRESSION);
    /* Idle keep-alive connections keep no 34 KiB of record buffers. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_alpn_select_cb(ctx, tls_on_alpn, NULL);
    SSL_CTX_set_default_verify_paths(ctx);
    return ctx;
}

static tls_trust_t *tls_trust_find(tls_table_t *tb, uint32_t id)
{
    for (size_t i = 0; i < tb->trust_count; i++) {
        if (tb->trusts[i].id == id) {
            return &tb->trusts[i];
        }
    }
    return NULL;
}

static const tls_binding_t *tls_find(lsn_tls_kind_t kind, const char *ip, uint16_t port,
                                     const char *host)
{
    for (size_t i = 0; i < live.binding_count; i++) {
        const tls_binding_t *b = &live.bindings[i];

        if (b->kind != kind || b->port != port) {
            continue;
        }
        if (kind == LSN_TLS_IPPORT ? strcmp(b->ip, ip) == 0 : strcmp(b->host, host) == 0) {
            return b;
        }
    }
    return NULL;
}

static bool tls_has_ccs(uint16_t port)
{
    for (size_t i = 0; i < live.binding_count; i++) {
        if (live.bindings[i].kind == LSN_TLS_CCS && live.bindings[i].port == port) {
            return true;
        }
    }
    return false;
}

/* The binding for a handshake, in HTTP.sys' order (tls.h). */
static const tls_binding_t *tls_choose(const char *local_ip, uint16_t port, const char *sni)
{
    const tls_binding_t *b = NULL;
    char host[256];

    if (sni != NULL && sni[0] != '\0' && strlen(sni) < sizeof(host)) {
        size_t n = 0;

        for (; sni[n]; n++) {
            host[n] = (char)((sni[n] >= 'A' && sni[n] <= 'Z') ? sni[n] + 32 : sni[n]);
        }
        host[n] = '\0';
        b = tls_find(LSN_TLS_HOSTNAMEPORT, NULL, port, host);
        if (b == NULL && tls_has_ccs(port)) {
            const char *dot = strchr(host, '.');

            b = tls_find(LSN_TLS_CCS, NULL, port, host);
            if (b == NULL && dot != NULL && dot[1] != '\0') {
                char wild[258];

                snprintf(wild, sizeof(wild), "_%s", dot); /* "_.example.com" */
                b = tls_find(LSN_TLS_CCS, NULL, port, wild);
            }
        }
    }
    if (b == NULL) {
        b = tls_find(LSN_TLS_IPPORT, local_ip, port, NULL);
    }
    /* The wildcard of the connection's own family first, then the other:
     * IIS' "All Unassigned" https binding creates only 0.0.0.0:443. */
    if (b == NULL) {
        b = tls_find(LSN_TLS_IPPORT, strchr(local_ip, ':') ? "::" : "0.0.0.0", port, NULL);
    }
    if (b == NULL) {
        b = tls_find(LSN_TLS_IPPORT, strchr(local_ip, ':') ? "0.0.0.0" : "::", port, NULL);
    }
    return b;
}

static int tls_on_servername(SSL *ssl, int *alert, void *arg)
{
    lsn_tls_t *t = SSL_get_app_data(ssl);
    const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    const tls_binding_t *b = tls_choose(t->local_ip, t->local_port, sni);

    if (b == NULL) {
        wasp_debug("TLS %s:%u: no certificate bound for server name '%s'", t->local_ip,
                   t->local_port, sni ? sni : "");
        *alert = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    SSL_set_SSL_CTX(ssl, b->ctx);
    if (b->disable_http2) {
        t->h2 = false; /* ALPN, which runs after this callback, offers http/1.1 */
    }
    if (b->negotiate_client_cert) {
        const tls_trust_t *tr = tls_trust_find(&live, b->trust_id);

        SSL_set_verify(ssl, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, tls_on_verify);
        if (tr != NULL) {
            SSL_set1_verify_cert_store(ssl, tr->store);
            if (tr->names != NULL) {
                SSL_set_client_CA_list(ssl, SSL_dup_CA_list(tr->names));
            }
        }
    }
    return SSL_TLSEXT_ERR_OK;
}

static int tls_base_init(void)
{
    static const unsigned char sid_ctx[] = "wasp-http";

    if (base_ctx != NULL) {
        return 0;
    }
    base_ctx = tls_ctx_new();
    if (base_ctx == NULL) {
        tls_log_errors("TLS: cannot create the base context");
        return -1;
    }
    SSL_CTX_set_session_id_context(base_ctx, sid_ctx, sizeof(sid_ctx) - 1);
    SSL_CTX_set_session_cache_mode(base_ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(base_ctx, 20000);
    SSL_CTX_set_tlsext_servername_callback(base_ctx, tls_on_servername);
    return 0;
}

/* ---- configuration ------------------------------------------------------------ */

static void tls_table_free(tls_table_t *tb)
{
    for (size_t i = 0; i < tb->cert_count; i++) {
        SSL_CTX_free(tb->certs[i].ctx);
    }
    for (size_t i = 0; i < tb->binding_count; i++) {
        SSL_CTX_free(tb->bindings[i].ctx);
    }
    for (size_t i = 0; i < tb->trust_count; i++) {
        X509_STORE_free(tb->trusts[i].store);
        sk_X509_NAME_pop_free(tb->trusts[i].names, X509_NAME_free);
    }
    free(tb->certs);
    free(tb->bindings);
    free(tb->trusts);
    memset(tb, 0, sizeof(*tb));
}

void lsn_tls_begin(void)
{
    tls_table_free(&next);
}

int lsn_tls_add_cert(uint32_t id, const char *pem, size_t len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *leaf = NULL, *extra;
    EVP_PKEY *key = NULL;
    SSL_CTX *ctx = NULL;
    tls_cert_t *grown;
    int rc = -1;

    if (tls_base_init() != 0 || bio == NULL) {
        goto out;
    }
    ctx = tls_ctx_new();
    leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (ctx == NULL || leaf == NULL || SSL_CTX_use_certificate(ctx, leaf) != 1) {
        tls_log_errors("TLS: a certificate pushed by waspd is not usable");
        goto out;
    }
    /* The rest of the chain, in file order (PEM reading skips the key). */
    while ((extra = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
            X509_free(extra);
        }
    }
    ERR_clear_error(); /* the end of the input reads as an error */
    BIO_free(bio);
    bio = BIO_new_mem_buf(pem, (int)len);
    key = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    if (key == NULL || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        tls_log_errors("TLS: the private key pushed by waspd does not fit its certificate");
        goto out;
    }
    grown = realloc(next.certs, (next.cert_count + 1) * sizeof(*grown));
    if (grown == NULL) {
        goto out;
    }
    next.certs = grown;
    next.certs[next.cert_count].id = id;
    next.certs[next.cert_count].ctx = ctx;
    next.cert_count++;
    ctx = NULL;
    rc = 0;
out:
    SSL_CTX_free(ctx);
    X509_free(leaf);
    EVP_PKEY_free(key);
    BIO_free(bio);
    return rc;
}

/* The trust entry id of the configuration being built, created empty (id 0:
 * the system's CAs) when first named. */
static tls_trust_t *tls_trust_get(uint32_t id)
{
    tls_trust_t *t = tls_trust_find(&next, id), *grown;

    if (t != NULL) {
        return t;
    }
    grown = realloc(next.trusts, (next.trust_count + 1) * sizeof(*grown));
    if (grown == NULL) {
        return NULL;
    }
    next.trusts = grown;
    t = &next.trusts[next.trust_count];
    memset(t, 0, sizeof(*t));
    t->id = id;
    t->store = X509_STORE_new();
    if (t->store == NULL || (id == 0 && X509_STORE_set_default_paths(t->store) != 1) ||
        (id != 0 && (t->names = sk_X509_NAME_new_null()) == NULL)) {
        X509_STORE_free(t->store);
        return NULL;
    }
    next.trust_count++;
    return t;
}

int lsn_tls_add_trust(uint32_t id, const char *pem, size_t len)
{
    tls_trust_t *t = tls_trust_get(id);
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *x;
    int n = 0;

    if (t == NULL || bio == NULL) {
        BIO_free(bio);
        tls_log_errors("TLS: cannot build a client certificate trust store");
        return -1;
    }
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        X509_NAME *name = t->names != NULL ? X509_NAME_dup(X509_get_subject_name(x)) : NULL;

        if (X509_STORE_add_cert(t->store, x) == 1) {
            n++;
        }
        if (name != NULL && sk_X509_NAME_push(t->names, name) <= 0) {
            X509_NAME_free(name);
        }
        X509_free(x);
    }
    ERR_clear_error(); /* the end of the input reads as an error */
    BIO_free(bio);
    return n > 0 ? 0 : -1;
}

int lsn_tls_add_binding(lsn_tls_kind_t kind, const char *ip, uint16_t port, const char *host,
                        uint32_t cert_id, bool negotiate_client_cert, uint32_t trust_id,
                        bool disable_http2)
{
    SSL_CTX *ctx = NULL;
    tls_binding_t *grown, *b;

    for (size_t i = 0; i < next.cert_count; i++) {
        if (next.certs[i].id == cert_id) {
            ctx = next.certs[i].ctx;
        }
    }
    if (ctx == NULL) {
        wasp_alert("TLS binding on port %u names an unknown certificate %u", port, cert_id);
        return -1;
    }
    grown = realloc(next.bindings, (next.binding_count + 1) * sizeof(*grown));
    if (grown == NULL) {
        return -1;
    }
    next.bindings = grown;
    b = &next.bindings[next.binding_count++];
    memset(b, 0, sizeof(*b));
    b->kind = kind;
    snprintf(b->ip, sizeof(b->ip), "%s", ip ? ip : "");
    b->port = port;
    for (size_t i = 0; host != NULL && host[i] && i < sizeof(b->host) - 1; i++) {
        b->host[i] = (char)((host[i] >= 'A' && host[i] <= 'Z') ? host[i] + 32 : host[i]);
    }
    SSL_CTX_up_ref(ctx);
    b->ctx = ctx;
    b->negotiate_client_cert = negotiate_client_cert;
    b->trust_id = trust_id;
    b->disable_http2 = disable_http2;
    /* A trust list that waspd could not fill trusts nothing, not everything. */
    if (trust_id != 0 && tls_trust_get(trust_id) == NULL) {
        return -1;
    }
    return 0;
}

void lsn_tls_commit(void)
{
    /* Connections in a handshake hold their own references to contexts. */
    tls_table_free(&live);
    live = next;
    memset(&next, 0, sizeof(next));
}

/* ---- connections ------------------------------------------------------------- */

lsn_tls_t *lsn_tls_new(int fd, const char *local_ip, uint16_t local_port, bool h2)
{
    lsn_tls_t *t;

    if (tls_base_init() != 0) {
        return NULL;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    t->ssl = SSL_new(base_ctx);
    if (t->ssl == NULL || SSL_set_fd(t->ssl, fd) != 1) {
        tls_log_errors("TLS: cannot start a connection");
        lsn_tls_free(t);
        return NULL;
    }
    snprintf(t->local_ip, sizeof(t->local_ip), "%s", local_ip);
    t->local_port = local_port;
    t->h2 = h2;
    SSL_set_app_data(t->ssl, t);
    SSL_set_accept_state(t->ssl);
    return t;
}

bool lsn_tls_is_h2(const lsn_tls_t *t)
{
    const unsigned char *p;
    unsigned int n;

    SSL_get0_alpn_selected(t->ssl, &p, &n);
    return n == 2 && memcmp(p, "h2", 2) == 0;
}

void lsn_tls_free(lsn_tls_t *t)
{
    if (t != NULL) {
        SSL_free(t->ssl);
        free(t);
    }
}

/* Map an OpenSSL result to ours. */
static int tls_result(lsn_tls_t *t, int ret, bool writing)
{
    int err = SSL_get_error(t->ssl, ret);

    switch (err) {
    case SSL_ERROR_WANT_READ:
        if (writing) {
            t->write_wants_read = true;
        }
        return LSN_TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        if (!writing) {
            t->read_wants_write = true;
        }
        return LSN_TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return LSN_TLS_CLOSED;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0 && (errno == 0 || errno == ECONNRESET || errno == EPIPE)) {
            return LSN_TLS_CLOSED; /* EOF without close_notify, or a reset */
        }
        return LSN_TLS_ERROR;
    default:
        /* A client's bad handshake is routine on the Internet: debug only. */
        for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
            char buf[256];

            ERR_error_string_n(e, buf, sizeof(buf));
            wasp_debug("TLS %s:%u: %s", t->local_ip, t->local_port, buf);
        }
        return LSN_TLS_ERROR;
    }
}

int lsn_tls_handshake(lsn_tls_t *t)
{
    int ret;

    ERR_clear_error();
    ret = SSL_do_handshake(t->ssl);
    return ret == 1 ? 1 : tls_result(t, ret, false);
}

ssize_t lsn_tls_read(lsn_tls_t *t, void *buf, size_t len)
{
    size_t got = 0;

    ERR_clear_error();
    t->read_wants_write = false;
    if (SSL_read_ex(t->ssl, buf, len, &got) == 1) {
        return (ssize_t)got;
    }
    return tls_result(t, 0, false);
}

ssize_t lsn_tls_write(lsn_tls_t *t, const void *buf, size_t len)
{
    size_t done = 0;

    ERR_clear_error();
    t->write_wants_read = false;
    if (SSL_write_ex(t->ssl, buf, len, &done) == 1) {
        return (ssize_t)done;
    }
    return tls_result(t, 0, true);
}

bool lsn_tls_pending(const lsn_tls_t *t)
{
    return SSL_pending(t->ssl) > 0;
}

bool lsn_tls_wants_write(const lsn_tls_t *t)
{
    return t->read_wants_write;
}

void lsn_tls_shutdown(lsn_tls_t *t)
{
    if (SSL_is_init_finished(t->ssl)) {
        ERR_clear_error();
        SSL_shutdown(t->ssl);
        ERR_clear_error();
    }
}

void lsn_tls_get_info(lsn_tls_t *t, lsn_tls_info_t *info, char **client_cert_pem, size_t *pem_len)
{
    const SSL_CIPHER *c = SSL_get_current_cipher(t->ssl);
    const char *sni = SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name);
    X509 *peer = SSL_get1_peer_certificate(t->ssl);

    memset(info, 0, sizeof(*info));
    snprintf(info->protocol, sizeof(info->protocol), "%s", SSL_get_version(t->ssl));
    snprintf(info->cipher, sizeof(info->cipher), "%s", c ? SSL_CIPHER_get_name(c) : "");
    info->keysize = c ? SSL_CIPHER_get_bits(c, NULL) : 0;
    snprintf(info->sni, sizeof(info->sni), "%s", sni ? sni : "");
    *client_cert_pem = NULL;
    *pem_len = 0;
    if (peer != NULL) {
        BIO *bio = BIO_new(BIO_s_mem());
        char *data;
        long n;

        BIO *name = BIO_new(BIO_s_mem());
        ASN1_INTEGER *serial = X509_get_serialNumber(peer);
        BIGNUM *bn = serial ? ASN1_INTEGER_to_BN(serial, NULL) : NULL;
        char *hex = bn ? BN_bn2hex(bn) : NULL;

        info->client_cert_verified = SSL_get_verify_result(t->ssl) == X509_V_OK;
        /* IIS writes names "C=US, O=Example, CN=name": most significant first. */
        for (int which = 0; name != NULL && which < 2; which++) {
            char *dst = which == 0 ? info->cert_subject : info->cert_issuer;
            X509_NAME *xn = which == 0 ? X509_get_subject_name(peer) : X509_get_issuer_name(peer);
            int got;

            (void)BIO_reset(name);
            if (X509_NAME_print_ex(name, xn, 0, XN_FLAG_SEP_CPLUS_SPC | ASN1_STRFLGS_RFC2253) >= 0 &&
                (got = BIO_read(name, dst, (int)sizeof(info->cert_subject) - 1)) > 0) {
                dst[got] = '\0';
            }
        }
        snprintf(info->cert_serial, sizeof(info->cert_serial), "%s", hex ? hex : "");
        OPENSSL_free(hex);
        BN_free(bn);
        BIO_free(name);
        if (bio != NULL && PEM_write_bio_X509(bio, peer) == 1 &&
            (n = BIO_get_mem_data(bio, &data)) > 0 && (*client_cert_pem = malloc((size_t)n))) {
            memcpy(*client_cert_pem, data, (size_t)n);
            *pem_len = (size_t)n;
        }
        BIO_free(bio);
        X509_free(peer);
    }
}
