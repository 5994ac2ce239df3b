/*
 * Unit tests of the certificate stores and HTTP.sys' SSL configuration
 * (src/tls/certstore.c, src/tls/sslstore.c).
 *
 * Certificates are made at test time by the real openssl command (EC P-256
 * keys, quick to generate) in a temporary directory, and every thumbprint
 * is checked against `openssl x509 -fingerprint -sha1`.  Each test builds
 * its own store root under that directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tls/certstore.h"
#include "tls/sslstore.h"

/* ---- helpers ----------------------------------------------------------------- */

static char top[64];   /* the group's directory: certificates made once */
static char root[128]; /* this test's store root */
static int test_no;

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void run(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    rc = system(cmd);
    if (rc != 0) {
        fail_msg("command failed (%d): %s", rc, cmd);
    }
}

/* A self-signed certificate top/<name>.crt with its key top/<name>.key. */
static void make_cert(const char *name, const char *cn)
{
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
        "-subj '/CN=%s' -days 30 -keyout %s/%s.key -out %s/%s.crt 2>/dev/null",
        cn, top, name, top, name);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(top, sizeof(top), "/tmp/wasp-test-ssl-XXXXXX");
    if (mkdtemp(top) == NULL) {
        return -1;
    }
    make_cert("a", "a.example.com");
    make_cert("b", "b.example.com");
    make_cert("www", "www.example.com");
    make_cert("wild", "*.example.com");
    make_cert("enc", "enc.example.com");
    /* The same key, encrypted with a passphrase. */
    run("openssl pkey -in %s/enc.key -aes256 -passout pass:secret -out %s/enc.key.aes", top, top);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    run("rm -rf %s", top);
    return 0;
}

static int test_setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "%s/root%d", top, ++test_no);
    run("mkdir -p %s/My %s/ccs", root, root);
    return 0;
}

/* dest = the concatenation of top/<parts...> (NULL-terminated). */
static void compose(const char *dest, ...)
{
    char cmd[2048];
    size_t len;
    va_list ap;
    const char *part;

    len = (size_t)snprintf(cmd, sizeof(cmd), "cat");
    va_start(ap, dest);
    while ((part = va_arg(ap, const char *)) != NULL) {
        len += (size_t)snprintf(cmd + len, sizeof(cmd) - len, " %s/%s", top, part);
    }
    va_end(ap);
    snprintf(cmd + len, sizeof(cmd) - len, " > %s", dest);
    run("%s", cmd);
}

/* What openssl says the SHA-1 thumbprint of top/<name>.crt is, colons removed. */
static void openssl_thumbprint(const char *name, char out[41])
{
    char cmd[512], line[256], *eq;
    size_t n = 0;
    FILE *p;

    snprintf(cmd, sizeof(cmd), "openssl x509 -noout -fingerprint -sha1 -in %s/%s.crt", top,
             name);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(line, sizeof(line), p));
    assert_int_equal(pclose(p), 0);
    eq = strchr(line, '=');
    assert_non_null(eq);
    for (char *c = eq + 1; *c && *c != '\n'; c++) {
        if (*c != ':') {
            assert_true(n < 40);
            out[n++] = *c;
        }
    }
    out[n] = '\0';
    assert_int_equal(n, 40);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    char *s = calloc(1, 65536);
    size_t n;

    assert_non_null(f);
    assert_non_null(s);
    n = fread(s, 1, 65535, f);
    s[n] = '\0';
    fclose(f);
    return s;
}

static void parse_ok(const char *line, wasp_sslbinding_t *b)
{
    char copy[1024], err[1024] = "";
    const char *words[32];
    size_t n = 0;

    snprintf(copy, sizeof(copy), "%s", line);
    for (char *t = strtok(copy, " "); t != NULL; t = strtok(NULL, " ")) {
        words[n++] = t;
    }
    if (wasp_sslbinding_parse(words, n, b, err, sizeof(err)) != 0) {
        fail_msg("\"%s\" refused: %s", line, err);
    }
}

static void add_ok(wasp_ssl_bindings_t *set, const char *line)
{
    wasp_sslbinding_t b;

    parse_ok(line, &b);
    assert_int_equal(wasp_ssl_bindings_add(set, &b), 0);
}

static struct sockaddr_storage addr(const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof(ss));
    if (strchr(ip, ':') != NULL) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
    }
    return ss;
}

/* The candidates for (ip, port, sni) as their keys, "a b c". */
static void candidates(const wasp_ssl_bindings_t *set, const char *ip, uint16_t port,
                       const char *sni, char *out, size_t size)
{
    struct sockaddr_storage ss = addr(ip, port);
    const wasp_sslbinding_t *c[5];
    size_t n = wasp_ssl_candidates(set, &ss, sni, c), len = 0;

    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char key[300];

        wasp_sslkey_format(&c[i]->key, key, sizeof(key));
        len += (size_t)snprintf(out + len, size - len, "%s%s=%s", i ? " " : "",
                                wasp_sslkey_param(c[i]->key.kind), key);
    }
}

/* ---- thumbprints and certificate files ---------------------------------------------- */

static void test_thumbprint_matches_openssl(void **state)
{
    char want[41], path[256], err[512] = "";
    const char *names[] = { "a", "b", "www", "wild" };
    wasp_cert_t cert;

    (void)state;
    for (size_t i = 0; i < 4; i++) {
        char crt[16], key[16];

        snprintf(crt, sizeof(crt), "%s.crt", names[i]);
        snprintf(key, sizeof(key), "%s.key", names[i]);
        snprintf(path, sizeof(path), "%s/My/%s.pem", root, names[i]);
        compose(path, crt, key, NULL);
        openssl_thumbprint(names[i], want);
        assert_int_equal(wasp_cert_load(path, 0, &cert, err, sizeof(err)), 0);
        assert_string_equal(cert.thumbprint, want);
        assert_string_equal(cert.key_path, path);
        assert_non_null(cert.key);
        wasp_cert_clear(&cert);
    }
    /* Parsing: any case in, upper case out; exactly 40 hex digits. */
    assert_true(wasp_thumbprint_parse("5d62b844efc92f0b3e39572a43ce1e2f77e98e9e", want));
    assert_string_equal(want, "5D62B844EFC92F0B3E39572A43CE1E2F77E98E9E");
    assert_false(wasp_thumbprint_parse("5d62b844efc92f0b3e39572a43ce1e2f77e98e9", NULL));
    assert_false(wasp_thumbprint_parse("5d62b844efc92f0b3e39572a43ce1e2f77e98e9e0", NULL));
    assert_false(wasp_thumbprint_parse("5D:62:B8:44:EF:C9:2F:0B:3E:39:57:2A:43:CE:1E:2F", NULL));
    assert_false(wasp_thumbprint_parse("5d62b844efc92f0b3e39572a43ce1e2f77e98e9g", NULL));
}

static void test_chain_and_subject(void **state)
{
    char path[256], err[512] = "";
    wasp_cert_t cert;

    (void)state;
    /* Certificate, two more certificates (the chain), then the key. */
    snprintf(path, sizeof(path), "%s/My/chain.pem", root);
    compose(path, "www.crt", "a.crt", "b.crt", "www.key", NULL);
    assert_int_equal(wasp_cert_load(path, 0, &cert, err, sizeof(err)), 0);
    assert_string_equal(cert.subject, "www.example.com");
    assert_int_equal(sk_X509_num(cert.chain), 2);
    wasp_cert_clear(&cert);
    /* No certificate at all. */
    snprintf(path, sizeof(path), "%s/My/keyonly.pem", root);
    compose(path, "a.key", NULL);
    assert_int_equal(wasp_cert_load(path, 0, &cert, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "holds no certificate"));
    assert_non_null(strstr(err, path));
}

static void test_store_scan_and_find(void **state)
{
    char a[41], b[41], lower[41], path[256], dir[256], err[512] = "";
    wasp_cert_t cert;

    (void)state;
    openssl_thumbprint("a", a);
    openssl_thumbprint("b", b);
    snprintf(path, sizeof(path), "%s/My/a.pem", root);
    compose(path, "a.crt", "a.key", NULL);
    /* b: certificate in b.pem, key in the sibling b.key */
    snprintf(path, sizeof(path), "%s/My/b.pem", root);
    compose(path, "b.crt", NULL);
    snprintf(path, sizeof(path), "%s/My/b.key", root);
    compose(path, "b.key", NULL);
    /* Neither of these is a certificate file of the store. */
    write_text(strcat(strcpy(path, root), "/My/README.txt"), "not a certificate\n");
    snprintf(path, sizeof(path), "%s/My/.editor-tmp.pem", root);
    compose(path, "www.crt", "www.key", NULL);

    /* The store's directory, whatever the case of its name (netsh: MY). */
    assert_int_equal(wasp_certstore_dir(root, "MY", dir, sizeof(dir)), 0);
    snprintf(path, sizeof(path), "%s/My", root);
    assert_string_equal(dir, path);
    assert_int_equal(wasp_certstore_dir(root, "WebHosting", dir, sizeof(dir)), -1);
    assert_int_equal(wasp_certstore_dir(root, "..", dir, sizeof(dir)), -1);

    snprintf(dir, sizeof(dir), "%s/My", root);
    assert_int_equal(wasp_certstore_find(dir, a, &cert, err, sizeof(err)), WASP_CERT_FOUND);
    snprintf(path, sizeof(path), "%s/My/a.pem", root);
    assert_string_equal(cert.path, path);
    wasp_cert_clear(&cert);

    for (int i = 0; i < 41; i++) {
        lower[i] = (char)(b[i] >= 'A' && b[i] <= 'F' ? b[i] + 32 : b[i]);
    }
    assert_int_equal(wasp_certstore_find(dir, lower, &cert, err, sizeof(err)), WASP_CERT_FOUND);
    assert_string_equal(cert.thumbprint, b);
    snprintf(path, sizeof(path), "%s/My/b.key", root);
    assert_string_equal(cert.key_path, path);
    wasp_cert_clear(&cert);

    /* The hidden file's certificate is not in the store. */
    openssl_thumbprint("www", lower);
    assert_int_equal(wasp_certstore_find(dir, lower, &cert, err, sizeof(err)),
                     WASP_CERT_NOT_FOUND);
    assert_non_null(strstr(err, "among the 2 PEM files of"));
    assert_non_null(strstr(err, dir));

    snprintf(dir, sizeof(dir), "%s/Nowhere", root);
    assert_int_equal(wasp_certstore_find(dir, a, &cert, err, sizeof(err)), WASP_CERT_NO_STORE);
    assert_non_null(strstr(err, dir));
}

static void test_key_problems(void **state)
{
    char a[41], b[41], e[41], path[256], dir[256], err[512] = "";
    wasp_cert_t cert;

    (void)state;
    openssl_thumbprint("a", a);
    openssl_thumbprint("b", b);
    openssl_thumbprint("enc", e);
    snprintf(dir, sizeof(dir), "%s/My", root);
    /* a's certificate with b's key */
    snprintf(path, sizeof(path), "%s/mismatch.pem", dir);
    compose(path, "a.crt", "b.key", NULL);
    assert_int_equal(wasp_certstore_find(dir, a, &cert, err, sizeof(err)), WASP_CERT_BAD_KEY);
    assert_non_null(strstr(err, "does not belong to the certificate"));
    assert_non_null(strstr(err, path));
    /* b's certificate alone */
    snprintf(path, sizeof(path), "%s/nokey.pem", dir);
    compose(path, "b.crt", NULL);
    assert_int_equal(wasp_certstore_find(dir, b, &cert, err, sizeof(err)), WASP_CERT_BAD_KEY);
    assert_non_null(strstr(err, "no private key"));
    assert_non_null(strstr(err, "nokey.key"));
    /* ... unless the key is optional */
    assert_int_equal(wasp_cert_load(path, WASP_CERT_KEY_OPTIONAL, &cert, err, sizeof(err)), 0);
    assert_null(cert.key);
    wasp_cert_clear(&cert);
    /* an encrypted key */
    snprintf(path, sizeof(path), "%s/enc.pem", dir);
    compose(path, "enc.crt", "enc.key.aes", NULL);
    assert_int_equal(wasp_certstore_find(dir, e, &cert, err, sizeof(err)), WASP_CERT_BAD_KEY);
    assert_non_null(strstr(err, "encrypted"));
    /* a sibling .key that is someone else's */
    snprintf(path, sizeof(path), "%s/nokey.key", dir);
    compose(path, "a.key", NULL);
    assert_int_equal(wasp_certstore_find(dir, b, &cert, err, sizeof(err)), WASP_CERT_BAD_KEY);
    assert_non_null(strstr(err, "nokey.key does not belong"));
    /* A good copy further on is found despite the bad one before it. */
    snprintf(path, sizeof(path), "%s/zz-good.pem", dir);
    compose(path, "a.crt", "a.key", NULL);
    assert_int_equal(wasp_certstore_find(dir, a, &cert, err, sizeof(err)), WASP_CERT_FOUND);
    assert_string_equal(cert.path, path);
    wasp_cert_clear(&cert);
}

/* ---- the Central Certificate Store ---------------------------------------------------- */

static void test_ccs_exact_and_wildcard(void **state)
{
    char ccs[256], path[256], want[256];

    (void)state;
    snprintf(ccs, sizeof(ccs), "%s/ccs", root);
    snprintf(path, sizeof(path), "%s/www.example.com.pem", ccs);
    compose(path, "www.crt", "www.key", NULL);
    snprintf(path, sizeof(path), "%s/_.example.com.pem", ccs);
    compose(path, "wild.crt", "wild.key", NULL);
    snprintf(path, sizeof(path), "%s/_.com.pem", ccs);
    compose(path, "a.crt", "a.key", NULL);

    snprintf(want, sizeof(want), "%s/www.example.com.pem", ccs);
    assert_int_equal(wasp_ccs_find(ccs, "www.example.com", path, sizeof(path)), 0);
    assert_string_equal(path, want);
    /* Host names compare in lower case; the root's dot is ignored. */
    assert_int_equal(wasp_ccs_find(ccs, "WWW.Example.COM.", path, sizeof(path)), 0);
    assert_string_equal(path, want);

    /* No file of its own: the wildcard of its parent. */
    snprintf(want, sizeof(want), "%s/_.example.com.pem", ccs);
    assert_int_equal(wasp_ccs_find(ccs, "api.example.com", path, sizeof(path)), 0);
    assert_string_equal(path, want);

    /* A wildcard covers one label, and never a whole top-level domain. */
    assert_int_equal(wasp_ccs_find(ccs, "a.b.example.com", path, sizeof(path)), -1);
    assert_int_equal(wasp_ccs_find(ccs, "example.com", path, sizeof(path)), -1);

    /* Names from the network that are not DNS names find nothing. */
    assert_int_equal(wasp_ccs_find(ccs, "../ccs/www.example.com", path, sizeof(path)), -1);
    assert_int_equal(wasp_ccs_find(ccs, "x/../www.example.com", path, sizeof(path)), -1);
    assert_int_equal(wasp_ccs_find(ccs, "www..example.com", path, sizeof(path)), -1);
    assert_int_equal(wasp_ccs_find(ccs, "", path, sizeof(path)), -1);
    assert_int_equal(wasp_ccs_find(ccs, NULL, path, sizeof(path)), -1);
}

/* ---- entries: parsing, the file, precedence ---------------------------------------------- */

static void test_parse_entries(void **state)
{
    static const struct {
        const char *line, *why;
    } bad[] = {
        { "certhash=5D62B844EFC92F0B3E39572A43CE1E2F77E98E9E", "give the entry's key" },
        { "ipport=0.0.0.0:443 ccs=443", "one key only" },
        { "ipport=0.0.0.0:443", "give the certificate" },
        { "ipport=0.0.0.0:443 certhash=5D62", "is not a thumbprint" },
        { "ipport=0.0.0.0 certhash=5D62B844EFC92F0B3E39572A43CE1E2F77E98E9E", "is not IP:port" },
        { "ipport=0.0.0.0:0 certhash=5D62B844EFC92F0B3E39572A43CE1E2F77E98E9E", "is not IP:port" },
        { "ipport=0.0.0.0:65536 certhash=5D62B844EFC92F0B3E39572A43CE1E2F77E98E9E",
          "is not IP:port" },
        { "ipport=::1:443 certhash=5D62B844EFC92F0B3E39572A43CE1E2F77E98E9E", "is not IP:port" },
        { "ipport=0.0.0.0:443 certhash=5D62B844EFC92F0B3E39572A43CE1E2F77E98E9E appid={1234}",
          "is not a GUID" },
        { "ipport=0.0.0.0:443 certhash=5D62B844EFC92F0B3E39572A43CE1E2F77E98E9E color=red",
          "unknown parameter \"color\"" },
        { "ipport=0.0.0.0:443 certhash=5D62B844EFC92F0B3E39572A43CE1E2F77E98E9E usagecheck=on",
          "enable or disable" },
        { "ipport=0.0.0.0:443 certhash=5D62B844EFC92F0B3E39572A43CE1E2F77E98E9E "
          "urlretrievaltimeout=-1",
          "whole number" },
        { "ipport=0.0.0.0:443 certhash=5D62B844EFC92F0B3E39572A43CE1E2F77E98E9E "
          "certhash=5D62B844EFC92F0B3E39572A43CE1E2F77E98E9E",
          "certhash is given twice" },
        { "hostnameport=www.example.com:443 certhash=5D62B844EFC92F0B3E39572A43CE1E2F77E98E9E",
          "needs certstorename" },
        { "hostnameport=www.exa$mple.com:443 certhash=5D62B844EFC92F0B3E39572A43CE1E2F77E98E9E "
          "certstorename=My",
          "is not host:port" },
        { "ipport=0.0.0.0:443 certhash=5D62B844EFC92F0B3E39572A43CE1E2F77E98E9E "
          "certstorename=..",
          "is not a store name" },
        { "ipport=0.0.0.0:443 certhash=5D62B844EFC92F0B3E39572A43CE1E2F77E98E9E "
          "certstorename=CCS",
          "is not a store name" },
        { "ccs=443 certhash=5D62B844EFC92F0B3E39572A43CE1E2F77E98E9E", "takes no certhash" },
        { "ccs=https", "is not a port" },
        { "scopedccs=www.example.com:443", "scoped Central Certificate Store" },
    };
    wasp_sslbinding_t b;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char copy[512], err[1024] = "";
        const char *words[16];
        size_t n = 0;

        snprintf(copy, sizeof(copy), "%s", bad[i].line);
        for (char *t = strtok(copy, " "); t != NULL; t = strtok(NULL, " ")) {
            words[n++] = t;
        }
        assert_int_equal(wasp_sslbinding_parse(words, n, &b, err, sizeof(err)), -1);
        if (strstr(err, bad[i].why) == NULL) {
            fail_msg("\"%s\": message \"%s\" lacks \"%s\"", bad[i].line, err, bad[i].why);
        }
    }
    /* netsh's forms: a bare first word is the ipport; names in any case;
     * braces optional on appid; defaults filled in. */
    parse_ok("[2001:DB8::1]:8443 CertHash=5d62b844efc92f0b3e39572a43ce1e2f77e98e9e "
             "AppId=00112233-4455-6677-8899-AABBCCDDEEFF ClientCertNegotiation=Enable",
             &b);
    assert_int_equal(b.key.kind, WASP_SSL_IPPORT);
    assert_int_equal(b.key.family, AF_INET6);
    assert_int_equal(b.key.port, 8443);
    assert_string_equal(b.certhash, "5D62B844EFC92F0B3E39572A43CE1E2F77E98E9E");
    assert_string_equal(b.appid, "{00112233-4455-6677-8899-aabbccddeeff}");
    assert_true(b.clientcertnegotiation);
    assert_true(b.verifyclientcertrevocation);
    assert_true(b.usagecheck);
    assert_false(b.disablehttp2);
    assert_string_equal(wasp_sslbinding_store(&b), "My");
    parse_ok("ccs=443", &b);
    assert_string_equal(b.appid, WASP_SSL_IIS_APPID);
    assert_string_equal(b.certhash, "");
}

static void test_show_format(void **state)
{
    wasp_sslbinding_t b;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    (void)state;
    assert_non_null(f);
    parse_ok("hostnameport=WWW.Example.com:443 certhash=5D62B844EFC92F0B3E39572A43CE1E2F77E98E9E "
             "certstorename=WebHosting clientcertnegotiation=enable disabletls13=enable "
             "revocationfreshnesstime=3600 sslctlstorename=CA",
             &b);
    wasp_sslbinding_show(&b, f);
    fclose(f);
    /* netsh's labels, padded to 28 columns, then " : " (the long ones just
     * get the " : "); hash in lower case; unset strings "(null)". */
    assert_string_equal(
        text,
        "    Hostname:port                : www.example.com:443\n"
        "    Certificate Hash             : 5d62b844efc92f0b3e39572a43ce1e2f77e98e9e\n"
        "    Application ID               : {4dc3e181-e14b-4a21-b022-59fc669b0914}\n"
        "    Certificate Store Name       : WebHosting\n"
        "    Verify Client Certificate Revocation : Enabled\n"
        "    Verify Revocation Using Cached Client Certificate Only : Disabled\n"
        "    Usage Check                  : Enabled\n"
        "    Revocation Freshness Time    : 3600\n"
        "    URL Retrieval Timeout        : 0\n"
        "    Ctl Identifier               : (null)\n"
        "    Ctl Store Name               : CA\n"
        "    DS Mapper Usage              : Disabled\n"
        "    Negotiate Client Certificate : Enabled\n"
        "    Reject Connections           : Disabled\n"
        "    Disable HTTP2                : Not Set\n"
        "    Disable QUIC                 : Not Set\n"
        "    Disable TLS1.2               : Not Set\n"
        "    Disable TLS1.3               : Set\n"
        "    Disable OCSP Stapling        : Not Set\n"
        "    Enable Token Binding         : Not Set\n"
        "    Log Extended Events          : Not Set\n"
        "    Disable Legacy TLS Versions  : Not Set\n"
        "    Enable Session Ticket        : Not Set\n");
    free(text);
}

static void test_precedence(void **state)
{
    wasp_ssl_bindings_t set;
    wasp_ssl_choice_t choice;
    struct sockaddr_storage ss;
    char got[512], path[256];
    const char *h = "certhash=5D62B844EFC92F0B3E39572A43CE1E2F77E98E9E";
    char line[256];

    (void)state;
    wasp_ssl_bindings_init(&set);
    snprintf(line, sizeof(line), "ipport=0.0.0.0:443 %s", h);
    add_ok(&set, line);
    snprintf(line, sizeof(line), "ipport=127.0.0.1:443 %s", h);
    add_ok(&set, line);
    snprintf(line, sizeof(line), "ipport=[::]:443 %s", h);
    add_ok(&set, line);
    snprintf(line, sizeof(line), "hostnameport=www.example.com:443 %s certstorename=My", h);
    add_ok(&set, line);
    add_ok(&set, "ccs=443");
    snprintf(line, sizeof(line), "ipport=0.0.0.0:8443 %s", h);
    add_ok(&set, line);

    /* With a server name: host name entry, then CCS, then the address,
     * then the wildcards (the connection's family first). */
    candidates(&set, "127.0.0.1", 443, "www.example.com", got, sizeof(got));
    assert_string_equal(got, "hostnameport=www.example.com:443 ccs=443 ipport=127.0.0.1:443 "
                             "ipport=0.0.0.0:443 ipport=[::]:443");
    candidates(&set, "127.0.0.1", 443, "WWW.EXAMPLE.COM.", got, sizeof(got));
    assert_string_equal(got, "hostnameport=www.example.com:443 ccs=443 ipport=127.0.0.1:443 "
                             "ipport=0.0.0.0:443 ipport=[::]:443");
    candidates(&set, "127.0.0.1", 443, "other.example.com", got, sizeof(got));
    assert_string_equal(got, "ccs=443 ipport=127.0.0.1:443 ipport=0.0.0.0:443 ipport=[::]:443");
    /* Without one (an old client): addresses only. */
    candidates(&set, "127.0.0.1", 443, NULL, got, sizeof(got));
    assert_string_equal(got, "ipport=127.0.0.1:443 ipport=0.0.0.0:443 ipport=[::]:443");
    candidates(&set, "127.0.0.2", 443, "", got, sizeof(got));
    assert_string_equal(got, "ipport=0.0.0.0:443 ipport=[::]:443");
    candidates(&set, "::1", 443, NULL, got, sizeof(got));
    assert_string_equal(got, "ipport=[::]:443 ipport=0.0.0.0:443");
    /* A dual-stack socket's IPv4 client is an IPv4 client. */
    candidates(&set, "::ffff:127.0.0.1", 443, NULL, got, sizeof(got));
    assert_string_equal(got, "ipport=127.0.0.1:443 ipport=0.0.0.0:443 ipport=[::]:443");
    /* Entries are per port. */
    candidates(&set, "127.0.0.1", 8443, "www.example.com", got, sizeof(got));
    assert_string_equal(got, "ipport=0.0.0.0:8443");
    candidates(&set, "127.0.0.1", 9443, "www.example.com", got, sizeof(got));
    assert_string_equal(got, "");

    /* Selection: a CCS entry answers only when the store has a file for the name. */
    snprintf(path, sizeof(path), "%s/ccs/api.example.com.pem", root);
    compose(path, "a.crt", "a.key", NULL);
    ss = addr("127.0.0.1", 443);
    assert_non_null(wasp_ssl_select(&set, root, &ss, "api.example.com", &choice));
    assert_int_equal(choice.binding->key.kind, WASP_SSL_CCS);
    assert_string_equal(choice.ccs_file, path);
    assert_non_null(wasp_ssl_select(&set, root, &ss, "other.example.com", &choice));
    wasp_sslkey_format(&choice.binding->key, got, sizeof(got));
    assert_string_equal(got, "127.0.0.1:443");
    snprintf(path, sizeof(path), "%s/My", root);
    assert_string_equal(choice.store_dir, path);
    assert_true(choice.store_exists);
    assert_non_null(wasp_ssl_select(&set, root, &ss, "www.example.com", &choice));
    assert_int_equal(choice.binding->key.kind, WASP_SSL_HOSTNAMEPORT);
    ss = addr("127.0.0.1", 9443);
    assert_null(wasp_ssl_select(&set, root, &ss, "www.example.com", &choice));
    wasp_ssl_bindings_free(&set);
}

static const char sample_file[] =
    "# header of the file\n"
    "\n"
    "# the default certificate\n"
    "ipport=0.0.0.0:443 certhash=5D62B844EFC92F0B3E39572A43CE1E2F77E98E9E "
    "appid={4dc3e181-e14b-4a21-b022-59fc669b0914} certstorename=My\n"
    "\n"
    "# shop, with client certificates\n"
    "hostnameport=shop.example.com:443 certhash=0123456789ABCDEF0123456789ABCDEF01234567 "
    "appid={00112233-4455-6677-8899-aabbccddeeff} certstorename=WebHosting "
    "clientcertnegotiation=enable disablelegacytls=enable\n"
    "ccs=8443 appid={4dc3e181-e14b-4a21-b022-59fc669b0914}\n"
    "# the end\n";

static void test_file_round_trip(void **state)
{
    char file[256], err[1024] = "", *text;
    wasp_ssl_bindings_t set;
    wasp_sslbinding_t *b;
    wasp_sslkey_t key;

    (void)state;
    wasp_ssl_bindings_path(root, file, sizeof(file));
    write_text(file, sample_file);
    assert_int_equal(wasp_ssl_bindings_load(file, &set, err, sizeof(err)), 0);
    assert_int_equal(set.count, 3);
    assert_int_equal(wasp_sslkey_parse("hostnameport", "SHOP.example.com:443", &key, err,
                                       sizeof(err)),
                     0);
    b = wasp_ssl_bindings_find(&set, &key);
    assert_non_null(b);
    assert_string_equal(b->certstorename, "WebHosting");
    assert_true(b->clientcertnegotiation);
    assert_true(b->disablelegacytls);
    assert_false(b->disablehttp2);
    /* Written back unchanged: every comment and blank line where it was. */
    assert_int_equal(wasp_ssl_bindings_save(file, &set, err, sizeof(err)), 0);
    text = read_text(file);
    assert_string_equal(text, sample_file);
    free(text);

    /* Deleting the shop takes its own comment, not the blank line above it. */
    assert_true(wasp_ssl_bindings_delete(&set, &key));
    assert_false(wasp_ssl_bindings_delete(&set, &key));
    /* A new entry goes at the end, after what ended the file. */
    add_ok(&set, "ipport=10.0.0.1:443 certhash=0123456789ABCDEF0123456789ABCDEF01234567");
    assert_int_equal(wasp_ssl_bindings_add(&set, &set.v[0]), -1);
    assert_int_equal(errno, EEXIST);
    assert_int_equal(wasp_ssl_bindings_save(file, &set, err, sizeof(err)), 0);
    text = read_text(file);
    assert_string_equal(text,
                        "# header of the file\n"
                        "\n"
                        "# the default certificate\n"
                        "ipport=0.0.0.0:443 certhash=5D62B844EFC92F0B3E39572A43CE1E2F77E98E9E "
                        "appid={4dc3e181-e14b-4a21-b022-59fc669b0914} certstorename=My\n"
                        "\n"
                        "ccs=8443 appid={4dc3e181-e14b-4a21-b022-59fc669b0914}\n"
                        "# the end\n"
                        "ipport=10.0.0.1:443 certhash=0123456789ABCDEF0123456789ABCDEF01234567 "
                        "appid={4dc3e181-e14b-4a21-b022-59fc669b0914}\n");
    free(text);
    wasp_ssl_bindings_free(&set);

    /* Loaded again, the same three entries in the same order. */
    assert_int_equal(wasp_ssl_bindings_load(file, &set, err, sizeof(err)), 0);
    assert_int_equal(set.count, 3);
    assert_int_equal(set.v[1].key.kind, WASP_SSL_CCS);
    assert_int_equal(set.v[2].key.port, 443);
    wasp_ssl_bindings_free(&set);
}

static void test_new_file_and_errors(void **state)
{
    char file[256], err[1024] = "", *text;
    wasp_ssl_bindings_t set;

    (void)state;
    /* No file yet: no entries; the first save writes a header, then the entry. */
    wasp_ssl_bindings_path(root, file, sizeof(file));
    assert_int_equal(wasp_ssl_bindings_load(file, &set, err, sizeof(err)), 0);
    assert_int_equal(set.count, 0);
    add_ok(&set, "ccs=443");
    assert_int_equal(wasp_ssl_bindings_save(file, &set, err, sizeof(err)), 0);
    wasp_ssl_bindings_free(&set);
    text = read_text(file);
    assert_int_equal(strncmp(text, "# ", 2), 0);
    assert_non_null(strstr(text, "\n\nccs=443 appid={4dc3e181-e14b-4a21-b022-59fc669b0914}\n"));
    free(text);

    /* A bad line names the file, the line and the problem. */
    write_text(file, "# ok\nccs=443\nipport=1.2.3.4:443 certhash=XYZ\n");
    assert_int_equal(wasp_ssl_bindings_load(file, &set, err, sizeof(err)), -1);
    assert_int_equal(set.count, 0);
    assert_non_null(strstr(err, file));
    assert_non_null(strstr(err, ":3: certhash \"XYZ\" is not a thumbprint"));
    assert_non_null(strstr(err, "fix the line or remove it"));
    write_text(file, "ccs=443\nccs=443 appid={00112233-4455-6677-8899-aabbccddeeff}\n");
    assert_int_equal(wasp_ssl_bindings_load(file, &set, err, sizeof(err)), -1);
    assert_non_null(strstr(err, ":2: a second entry for ccs=443"));
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.' || strncmp(e->d_name, ".sslbindings", 12) == 0;
    }
    closedir(d);
    return n;
}

static void test_atomic_save(void **state)
{
    char file[256], err[1024] = "", before[4096];
    wasp_ssl_bindings_t set;
    struct stat st1, st2;
    int fd, entries;
    ssize_t n;

    (void)state;
    wasp_ssl_bindings_path(root, file, sizeof(file));
    write_text(file, sample_file);
    chmod(file, 0600);
    assert_int_equal(stat(file, &st1), 0);
    entries = count_entries(root);
    /* A reader that opened the old file ... */
    fd = open(file, O_RDONLY);
    assert_true(fd >= 0);

    assert_int_equal(wasp_ssl_bindings_load(file, &set, err, sizeof(err)), 0);
    add_ok(&set, "ipport=10.0.0.1:443 certhash=0123456789ABCDEF0123456789ABCDEF01234567");
    assert_int_equal(wasp_ssl_bindings_save(file, &set, err, sizeof(err)), 0);
    wasp_ssl_bindings_free(&set);

    /* ... still reads all of it: the new file is another inode, renamed in. */
    n = read(fd, before, sizeof(before) - 1);
    close(fd);
    assert_true(n >= 0);
    before[n] = '\0';
    assert_string_equal(before, sample_file);
    assert_int_equal(stat(file, &st2), 0);
    assert_true(st1.st_ino != st2.st_ino);
    assert_int_equal(st2.st_mode & 07777, 0600); /* the old file's mode is kept */
    assert_int_equal(count_entries(root), entries); /* no temporary file left */

    /* A symbolic link stays a link; the file it points to gets the change. */
    wasp_ssl_bindings_path(root, file, sizeof(file));
    snprintf(before, sizeof(before), "%s/real.conf", root);
    assert_int_equal(rename(file, before), 0);
    assert_int_equal(symlink("real.conf", file), 0);
    assert_int_equal(wasp_ssl_bindings_load(file, &set, err, sizeof(err)), 0);
    add_ok(&set, "ccs=443");
    assert_int_equal(wasp_ssl_bindings_save(file, &set, err, sizeof(err)), 0);
    wasp_ssl_bindings_free(&set);
    assert_int_equal(lstat(file, &st2), 0);
    assert_true(S_ISLNK(st2.st_mode));
    assert_int_equal(wasp_ssl_bindings_load(before, &set, err, sizeof(err)), 0);
    assert_int_equal(set.count, 5);
    wasp_ssl_bindings_free(&set);

    /* Nowhere to write: an error naming the file. */
    snprintf(file, sizeof(file), "%s/missing/sslbindings.conf", root);
    wasp_ssl_bindings_init(&set);
    assert_int_equal(wasp_ssl_bindings_save(file, &set, err, sizeof(err)), -1);
    assert_non_null(strstr(err, file));
    wasp_ssl_bindings_free(&set);
}

static void test_store_lock(void **state)
{
    char err[512] = "";
    int a, b;

    (void)state;
    a = wasp_ssl_store_lock(root, err, sizeof(err));
    assert_true(a >= 0);
    b = open(root, O_RDONLY | O_DIRECTORY);
    assert_true(b >= 0);
    assert_int_equal(flock(b, LOCK_EX | LOCK_NB), -1);
    assert_int_equal(errno, EWOULDBLOCK);
    close(a);
    assert_int_equal(flock(b, LOCK_EX | LOCK_NB), 0);
    close(b);
    assert_int_equal(wasp_ssl_store_lock("/nonexistent/wasp-store", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--cert-store"));
}

/* ---- change detection ------------------------------------------------------------------- */

static void test_change_detection(void **state)
{
    char path[256], tmp[256], key[256], err[512] = "", b[41];
    wasp_cert_t cert;
    struct timespec times[2];

    (void)state;
    snprintf(path, sizeof(path), "%s/ccs/www.example.com.pem", root);
    compose(path, "www.crt", "www.key", NULL);
    assert_int_equal(wasp_cert_load(path, 0, &cert, err, sizeof(err)), 0);
    assert_false(wasp_cert_changed(&cert));
    /* A key file appearing next to a .pem that has its own key is irrelevant. */
    snprintf(key, sizeof(key), "%s/ccs/www.example.com.key", root);
    compose(key, "a.key", NULL);
    assert_false(wasp_cert_changed(&cert));
    unlink(key);

    /* Replaced by a rename (how deployment tools and certbot hooks do it). */
    snprintf(tmp, sizeof(tmp), "%s/ccs/.new", root);
    compose(tmp, "b.crt", "b.key", NULL);
    assert_int_equal(rename(tmp, path), 0);
    assert_true(wasp_cert_changed(&cert));
    wasp_cert_clear(&cert);
    assert_int_equal(wasp_cert_load(path, 0, &cert, err, sizeof(err)), 0);
    openssl_thumbprint("b", b);
    assert_string_equal(cert.thumbprint, b);
    assert_false(wasp_cert_changed(&cert));

    /* Rewritten in place with the same bytes: mtime and ctime move. */
    times[0].tv_sec = 1000000000;
    times[0].tv_nsec = 0;
    times[1] = times[0];
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
    assert_true(wasp_cert_changed(&cert));
    wasp_cert_clear(&cert);

    /* A key in a sibling file: its replacement or removal is a change too. */
    snprintf(path, sizeof(path), "%s/My/site.pem", root);
    compose(path, "a.crt", NULL);
    snprintf(key, sizeof(key), "%s/My/site.key", root);
    compose(key, "a.key", NULL);
    assert_int_equal(wasp_cert_load(path, 0, &cert, err, sizeof(err)), 0);
    assert_string_equal(cert.key_path, key);
    assert_false(wasp_cert_changed(&cert));
    unlink(key);
    assert_true(wasp_cert_changed(&cert));
    wasp_cert_clear(&cert);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, test_setup)
    const struct CMUnitTest tests[] = {
        T(test_thumbprint_matches_openssl),
        T(test_chain_and_subject),
        T(test_store_scan_and_find),
        T(test_key_problems),
        T(test_ccs_exact_and_wildcard),
        T(test_parse_entries),
        T(test_show_format),
        T(test_precedence),
        T(test_file_round_trip),
        T(test_new_file_and_errors),
        T(test_atomic_save),
        T(test_store_lock),
        T(test_change_detection),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
