/*
 * HTTP.sys' SSL configuration as a file (see sslstore.h).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tls/sslstore.h"

/* The first lines of a file that waspctl creates. */
#define FILE_HEADER                                                                            \
    "# HTTP.sys' SSL certificate bindings for wasp, one per line, in netsh's words:\n"      \
    "#   ipport=IP:port | hostnameport=host:port | ccs=port, then certhash=, appid=,\n"     \
    "#   certstorename= and options.  Edit with waspctl add|delete sslcert (see\n"          \
    "#   docs/operations.md, \"TLS certificates\").\n"                                      \
    "\n"

static void set_err(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errsz, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errsz > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errsz, fmt, ap);
        va_end(ap);
    }
}

/* ---- the options table ----------------------------------------------------- */

typedef enum opt_type {
    OPT_ENABLE, /* enable|disable, shown Enabled / Disabled */
    OPT_SET,    /* enable|disable, shown Set / Not Set (the flags of newer Windows) */
    OPT_UINT,
    OPT_STRING
} opt_type_t;

typedef struct opt {
    const char *name;  /* netsh's parameter */
    const char *label; /* netsh show's label */
    opt_type_t type;
    size_t off, size;
    bool def; /* OPT_ENABLE / OPT_SET default (the others default to 0 / "") */
} opt_t;

#define FIELD(f) offsetof(wasp_sslbinding_t, f), sizeof(((wasp_sslbinding_t *)0)->f)

/* In netsh show's order (Windows Server 2022). */
static const opt_t opts[] = {
    { "verifyclientcertrevocation", "Verify Client Certificate Revocation", OPT_ENABLE,
      FIELD(verifyclientcertrevocation), true },
    { "verifyrevocationwithcachedclientcertonly",
      "Verify Revocation Using Cached Client Certificate Only", OPT_ENABLE,
      FIELD(verifyrevocationwithcachedclientcertonly), false },
    { "usagecheck", "Usage Check", OPT_ENABLE, FIELD(usagecheck), true },
    { "revocationfreshnesstime", "Revocation Freshness Time", OPT_UINT,
      FIELD(revocationfreshnesstime), false },
    { "urlretrievaltimeout", "URL Retrieval Timeout", OPT_UINT, FIELD(urlretrievaltimeout),
      false },
    { "sslctlidentifier", "Ctl Identifier", OPT_STRING, FIELD(sslctlidentifier), false },
    { "sslctlstorename", "Ctl Store Name", OPT_STRING, FIELD(sslctlstorename), false },
    { "dsmapperusage", "DS Mapper Usage", OPT_ENABLE, FIELD(dsmapperusage), false },
    { "clientcertnegotiation", "Negotiate Client Certificate", OPT_ENABLE,
      FIELD(clientcertnegotiation), false },
    { "reject", "Reject Connections", OPT_ENABLE, FIELD(reject), false },
    { "disablehttp2", "Disable HTTP2", OPT_SET, FIELD(disablehttp2), false },
    { "disablequic", "Disable QUIC", OPT_SET, FIELD(disablequic), false },
    { "disabletls12", "Disable TLS1.2", OPT_SET, FIELD(disabletls12), false },
    { "disabletls13", "Disable TLS1.3", OPT_SET, FIELD(disabletls13), false },
    { "disableocspstapling", "Disable OCSP Stapling", OPT_SET, FIELD(disableocspstapling),
      false },
    { "enabletokenbinding", "Enable Token Binding", OPT_SET, FIELD(enabletokenbinding), false },
    { "logextendedevents", "Log Extended Events", OPT_SET, FIELD(logextendedevents), false },
    { "disablelegacytls", "Disable Legacy TLS Versions", OPT_SET, FIELD(disablelegacytls),
      false },
    { "enablesessionticket", "Enable Session Ticket", OPT_SET, FIELD(enablesessionticket),
      false },
};
#define OPT_COUNT (sizeof(opts) / sizeof(opts[0]))

/* The option's field in b, to write and to read. */
static void *opt_field(wasp_sslbinding_t *b, const opt_t *o)
{
    return (char *)b + o->off;
}

static const void *opt_value(const wasp_sslbinding_t *b, const opt_t *o)
{
    return (const char *)b + o->off;
}

static void binding_defaults(wasp_sslbinding_t *b)
{
    memset(b, 0, sizeof(*b));
    for (size_t i = 0; i < OPT_COUNT; i++) {
        if (opts[i].type == OPT_ENABLE || opts[i].type == OPT_SET) {
            *(bool *)opt_field(b, &opts[i]) = opts[i].def;
        }
    }
    snprintf(b->appid, sizeof(b->appid), "%s", WASP_SSL_IIS_APPID);
}

/* ---- keys -------------------------------------------------------------------- */

const char *wasp_sslkey_param(wasp_sslkey_kind_t kind)
{
    return kind == WASP_SSL_IPPORT ? "ipport" : kind == WASP_SSL_HOSTNAMEPORT ? "hostnameport"
                                                                              : "ccs";
}

/* A decimal port 1-65535. */
static bool parse_port(const char *s, uint16_t *port)
{
    unsigned long v = 0;

    if (*s == '\0' || strlen(s) > 5) {
        return false;
    }
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p)) {
            return false;
        }
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v == 0 || v > 65535) {
        return false;
    }
    *port = (uint16_t)v;
    return true;
}

/* A DNS name (letters, digits, '-', '_', dots between labels of at most 63
 * bytes) into out in lower case. */
static bool parse_host(const char *s, size_t n, char *out, size_t size)
{
    size_t label = 0;

    if (n == 0 || n > 253 || n >= size || s[0] == '.' || s[n - 1] == '.') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '.') {
            if (label == 0) {
                return false;
            }
            label = 0;
        } else if (isalnum(c) || c == '-' || c == '_') {
            if (++label > 63) {
                return false;
            }
        } else {
            return false;
        }
        out[i] = (char)tolower(c);
    }
    out[n] = '\0';
    return true;
}

static int parse_ipport(const char *value, wasp_sslkey_t *key, char *err, size_t errsz)
{
    char ip[INET6_ADDRSTRLEN + 2];
    const char *colon, *start = value;
    size_t n;

    if (value[0] == '[') {
        const char *close = strchr(value, ']');

        if (close == NULL || close[1] != ':') {
            goto bad;
        }
        start = value + 1;
        n = (size_t)(close - start);
        colon = close + 1;
        key->family = AF_INET6;
    } else {
        colon = strrchr(value, ':');
        if (colon == NULL) {
            goto bad;
        }
        n = (size_t)(colon - value);
        key->family = AF_INET;
    }
    if (n == 0 || n >= sizeof(ip)) {
        goto bad;
    }
    memcpy(ip, start, n);
    ip[n] = '\0';
    if (inet_pton(key->family, ip, key->addr) != 1 || !parse_port(colon + 1, &key->port)) {
        goto bad;
    }
    return 0;
bad:
    set_err(err, errsz,
            "ipport \"%s\" is not IP:port (e.g. 0.0.0.0:443 for every address, "
            "192.168.1.10:443, [::]:443, [2001:db8::1]:443; port 1-65535)",
            value);
    return -1;
}

int wasp_sslkey_parse(const char *name, const char *value, wasp_sslkey_t *key, char *err,
                      size_t errsz)
{
    memset(key, 0, sizeof(*key));
    if (strcasecmp(name, "ipport") == 0) {
        key->kind = WASP_SSL_IPPORT;
        return parse_ipport(value, key, err, errsz);
    }
    if (strcasecmp(name, "hostnameport") == 0) {
        const char *colon = strrchr(value, ':');

        key->kind = WASP_SSL_HOSTNAMEPORT;
        if (colon == NULL || !parse_host(value, (size_t)(colon - value), key->host,
                                         sizeof(key->host)) ||
            !parse_port(colon + 1, &key->port)) {
            set_err(err, errsz,
                    "hostnameport \"%s\" is not host:port (a DNS name in ASCII, e.g. "
                    "www.example.com:443; port 1-65535)",
                    value);
            return -1;
        }
        return 0;
    }
    if (strcasecmp(name, "ccs") == 0) {
        key->kind = WASP_SSL_CCS;
        if (!parse_port(value, &key->port)) {
            set_err(err, errsz, "ccs \"%s\" is not a port (1-65535), e.g. ccs=443", value);
            return -1;
        }
        return 0;
    }
    set_err(err, errsz, "\"%s\" is not a key: use ipport=, hostnameport= or ccs=", name);
    return -1;
}

void wasp_sslkey_format(const wasp_sslkey_t *key, char *out, size_t size)
{
    char ip[INET6_ADDRSTRLEN];

    switch (key->kind) {
    case WASP_SSL_IPPORT:
        inet_ntop(key->family, key->addr, ip, sizeof(ip));
        snprintf(out, size, key->family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
                 (unsigned)key->port);
        break;
    case WASP_SSL_HOSTNAMEPORT:
        snprintf(out, size, "%s:%u", key->host, (unsigned)key->port);
        break;
    case WASP_SSL_CCS:
        snprintf(out, size, "%u", (unsigned)key->port);
        break;
    }
}

bool wasp_sslkey_equal(const wasp_sslkey_t *a, const wasp_sslkey_t *b)
{
    if (a->kind != b->kind || a->port != b->port) {
        return false;
    }
    switch (a->kind) {
    case WASP_SSL_IPPORT:
        return a->family == b->family &&
               memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16) == 0;
    case WASP_SSL_HOSTNAMEPORT:
        return strcmp(a->host, b->host) == 0;
    case WASP_SSL_CCS:
        return true;
    }
    return false;
}

/* ---- entries ----------------------------------------------------------------- */

/* "{8-4-4-4-12}" (braces optional on input) into out, lower case. */
static bool parse_appid(const char *s, char out[39])
{
    static const int groups[] = { 8, 4, 4, 4, 12 };
    size_t n = strlen(s);
    const char *p = s;
    char *o = out;

    if (n == 38 && s[0] == '{' && s[37] == '}') {
        p++;
    } else if (n != 36) {
        return false;
    }
    *o++ = '{';
    for (int g = 0; g < 5; g++) {
        for (int i = 0; i < groups[g]; i++, p++) {
            if (!isxdigit((unsigned char)*p)) {
                return false;
            }
            *o++ = (char)tolower((unsigned char)*p);
        }
        if (g < 4) {
            if (*p++ != '-') {
                return false;
            }
            *o++ = '-';
        }
    }
    *o++ = '}';
    *o = '\0';
    return true;
}

/* A store name is a directory name under the store root. */
static bool valid_store_name(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 63 || s[0] == '.') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (!(isalnum(c) || c == '-' || c == '_' || c == '.')) {
            return false;
        }
    }
    return true;
}

/* Values are single words of printable ASCII (the file is split at spaces). */
static bool valid_word(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n == 0 || n >= max) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isgraph((unsigned char)s[i]) || s[i] == '#') {
            return false;
        }
    }
    return true;
}

static int parse_option(const opt_t *o, const char *value, wasp_sslbinding_t *b, char *err,
                        size_t errsz)
{
    switch (o->type) {
    case OPT_ENABLE:
    case OPT_SET:
        if (strcasecmp(value, "enable") == 0) {
            *(bool *)opt_field(b, o) = true;
        } else if (strcasecmp(value, "disable") == 0) {
            *(bool *)opt_field(b, o) = false;
        } else {
            set_err(err, errsz, "%s=%s: the value is enable or disable", o->name, value);
            return -1;
        }
        return 0;
    case OPT_UINT: {
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(value, &end, 10);
        if (!isdigit((unsigned char)value[0]) || *end != '\0' || errno != 0 || v > UINT32_MAX) {
            set_err(err, errsz, "%s=%s: the value is a whole number (0-%u)", o->name, value,
                    UINT32_MAX);
            return -1;
        }
        *(uint32_t *)opt_field(b, o) = (uint32_t)v;
        return 0;
    }
    case OPT_STRING:
        if (!valid_word(value, o->size)) {
            set_err(err, errsz,
                    "%s=%s: the value is one word of at most %zu printable characters, "
                    "without '#'",
                    o->name, value, o->size - 1);
            return -1;
        }
        snprintf(opt_field(b, o), o->size, "%s", value);
        return 0;
    }
    return -1;
}

/* The fixed parameters, then the options; the index is a bit in "seen". */
enum { P_KEY, P_CERTHASH, P_APPID, P_CERTSTORENAME, P_OPTIONS };

static int param_index(const char *name)
{
    static const char *const fixed[] = { "certhash", "appid", "certstorename" };

    if (strcasecmp(name, "ipport") == 0 || strcasecmp(name, "hostnameport") == 0 ||
        strcasecmp(name, "ccs") == 0) {
        return P_KEY;
    }
    for (int i = 0; i < 3; i++) {
        if (strcasecmp(name, fixed[i]) == 0) {
            return P_CERTHASH + i;
        }
    }
    for (size_t i = 0; i < OPT_COUNT; i++) {
        if (strcasecmp(name, opts[i].name) == 0) {
            return P_OPTIONS + (int)i;
        }
    }
    return -1;
}

static int parse_word(const char *w, size_t index, wasp_sslbinding_t *b, uint32_t *seen,
                      char *err, size_t errsz)
{
    const char *eq = strchr(w, '=');
    char name[64];
    const char *value;
    int p;

    if (eq == NULL && index == 0) {
        snprintf(name, sizeof(name), "ipport");
        value = w;
    } else if (eq == NULL || eq == w || (size_t)(eq - w) >= sizeof(name)) {
        set_err(err, errsz, "\"%s\" is not a parameter: write name=value, e.g. certhash=...", w);
        return -1;
    } else {
        snprintf(name, sizeof(name), "%.*s", (int)(eq - w), w);
        value = eq + 1;
    }
    p = param_index(name);
    if (p < 0) {
        set_err(err, errsz,
                "unknown parameter \"%s\"%s; the parameters are ipport, hostnameport, ccs, "
                "certhash, appid, certstorename, verifyclientcertrevocation, "
                "verifyrevocationwithcachedclientcertonly, usagecheck, revocationfreshnesstime, "
                "urlretrievaltimeout, sslctlidentifier, sslctlstorename, dsmapperusage, "
                "clientcertnegotiation, reject, disablehttp2, disablequic, disabletls12, "
                "disabletls13, disableocspstapling, enabletokenbinding, logextendedevents, "
                "disablelegacytls, enablesessionticket",
                name,
                strcasecmp(name, "scopedccs") == 0 ? " (scoped Central Certificate Store "
                                                     "entries are not supported; use ccs=PORT)"
                                                   : "");
        return -1;
    }
    if (*seen & (1u << p)) {
        set_err(err, errsz, p == P_KEY ? "give one key only: ipport=, hostnameport= or ccs="
                                       : "%s is given twice",
                name);
        return -1;
    }
    *seen |= 1u << p;
    switch (p) {
    case P_KEY:
        return wasp_sslkey_parse(name, value, &b->key, err, errsz);
    case P_CERTHASH:
        if (!wasp_thumbprint_parse(value, b->certhash)) {
            set_err(err, errsz,
                    "certhash \"%s\" is not a thumbprint: 40 hexadecimal digits without spaces "
                    "or colons (the SHA-1 fingerprint `openssl x509 -noout -fingerprint -sha1 "
                    "-in FILE` prints)",
                    value);
            return -1;
        }
        return 0;
    case P_APPID:
        if (!parse_appid(value, b->appid)) {
            set_err(err, errsz,
                    "appid \"%s\" is not a GUID: {xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx} in hex "
                    "digits",
                    value);
            return -1;
        }
        return 0;
    case P_CERTSTORENAME:
        if (!valid_store_name(value) || strcasecmp(value, WASP_CCS_DIR) == 0) {
            set_err(err, errsz,
                    "certstorename \"%s\" is not a store name: the name of a directory under "
                    "the store root (letters, digits, '-', '_', '.'; not \"%s\", the Central "
                    "Certificate Store), e.g. My or WebHosting",
                    value, WASP_CCS_DIR);
            return -1;
        }
        snprintf(b->certstorename, sizeof(b->certstorename), "%s", value);
        return 0;
    default:
        return parse_option(&opts[p - P_OPTIONS], value, b, err, errsz);
    }
}

int wasp_sslbinding_parse(const char *const *words, size_t n, wasp_sslbinding_t *b, char *err,
                          size_t errsz)
{
    uint32_t seen = 0;

    binding_defaults(b);
    for (size_t i = 0; i < n; i++) {
        if (parse_word(words[i], i, b, &seen, err, errsz) != 0) {
            return -1;
        }
    }
    if (!(seen & (1u << P_KEY))) {
        set_err(err, errsz,
                "give the entry's key: ipport=IP:port, hostnameport=host:port or ccs=port");
        return -1;
    }
    if (b->key.kind == WASP_SSL_CCS) {
        if (seen & ((1u << P_CERTHASH) | (1u << P_CERTSTORENAME))) {
            set_err(err, errsz,
                    "a ccs entry takes no certhash or certstorename: its certificates are "
                    "the files of the Central Certificate Store, chosen by host name");
            return -1;
        }
        return 0;
    }
    if (!(seen & (1u << P_CERTHASH))) {
        set_err(err, errsz,
                "give the certificate: certhash=THUMBPRINT (40 hexadecimal digits)");
        return -1;
    }
    if (b->key.kind == WASP_SSL_HOSTNAMEPORT && !(seen & (1u << P_CERTSTORENAME))) {
        set_err(err, errsz,
                "a hostnameport entry needs certstorename= (netsh requires it for host name "
                "entries), e.g. certstorename=My or certstorename=WebHosting");
        return -1;
    }
    return 0;
}

/* Append to out[*len] within size (truncating, always terminated). */
static void append(char *out, size_t size, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void append(char *out, size_t size, size_t *len, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*len >= size) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(out + *len, size - *len, fmt, ap);
    va_end(ap);
    if (n > 0) {
        *len = *len + (size_t)n < size ? *len + (size_t)n : size - 1;
    }
}

void wasp_sslbinding_format(const wasp_sslbinding_t *b, char *out, size_t size)
{
    char key[300];
    size_t len = 0;

    out[0] = '\0';
    wasp_sslkey_format(&b->key, key, sizeof(key));
    append(out, size, &len, "%s=%s", wasp_sslkey_param(b->key.kind), key);
    if (b->certhash[0]) {
        append(out, size, &len, " certhash=%s", b->certhash);
    }
    append(out, size, &len, " appid=%s", b->appid);
    if (b->certstorename[0]) {
        append(out, size, &len, " certstorename=%s", b->certstorename);
    }
    for (size_t i = 0; i < OPT_COUNT; i++) {
        const opt_t *o = &opts[i];
        const void *v = opt_value(b, o);

        switch (o->type) {
        case OPT_ENABLE:
        case OPT_SET:
            if (*(const bool *)v != o->def) {
                append(out, size, &len, " %s=%s", o->name,
                       *(const bool *)v ? "enable" : "disable");
            }
            break;
        case OPT_UINT:
            if (*(const uint32_t *)v != 0) {
                append(out, size, &len, " %s=%u", o->name, (unsigned)*(const uint32_t *)v);
            }
            break;
        case OPT_STRING:
            if (*(const char *)v) {
                append(out, size, &len, " %s=%s", o->name, (const char *)v);
            }
            break;
        }
    }
}

/* netsh pads labels to 28 columns and puts " : " after them; longer labels
 * ("Verify Client Certificate Revocation") simply get the " : ". */
static void show_line(FILE *out, const char *label, const char *value)
{
    fprintf(out, "    %-28s : %s\n", label, value);
}

void wasp_sslbinding_show(const wasp_sslbinding_t *b, FILE *out)
{
    static const char *const key_labels[] = { "IP:port", "Hostname:port",
                                              "Central Certificate Store" };
    char buf[300];

    wasp_sslkey_format(&b->key, buf, sizeof(buf));
    show_line(out, key_labels[b->key.kind], buf);
    /* netsh prints the hash as stored: lower case. */
    for (size_t i = 0; i <= WASP_THUMBPRINT_LEN; i++) {
        buf[i] = (char)tolower((unsigned char)b->certhash[i]);
    }
    show_line(out, "Certificate Hash", b->certhash[0] ? buf : "(null)");
    show_line(out, "Application ID", b->appid);
    show_line(out, "Certificate Store Name", b->certstorename[0] ? b->certstorename : "(null)");
    for (size_t i = 0; i < OPT_COUNT; i++) {
        const opt_t *o = &opts[i];
        const void *v = opt_value(b, o);

        switch (o->type) {
        case OPT_ENABLE:
            show_line(out, o->label, *(const bool *)v ? "Enabled" : "Disabled");
            break;
        case OPT_SET:
            show_line(out, o->label, *(const bool *)v ? "Set" : "Not Set");
            break;
        case OPT_UINT:
            snprintf(buf, sizeof(buf), "%u", (unsigned)*(const uint32_t *)v);
            show_line(out, o->label, buf);
            break;
        case OPT_STRING:
            show_line(out, o->label, *(const char *)v ? (const char *)v : "(null)");
            break;
        }
    }
}

const char *wasp_sslbinding_store(const wasp_sslbinding_t *b)
{
    return b->certstorename[0] ? b->certstorename : WASP_SSL_DEFAULT_STORE;
}

/* ---- the set ------------------------------------------------------------------ */

void wasp_ssl_bindings_path(const char *root, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", root, WASP_SSL_BINDINGS_FILE);
}

const char *wasp_cert_store_root(const char *opt)
{
    const char *env = getenv(WASP_CERT_STORE_ENV);

    if (opt != NULL && *opt) {
        return opt;
    }
    return env != NULL && *env ? env : WASP_CERT_STORE_DEFAULT;
}

void wasp_ssl_bindings_init(wasp_ssl_bindings_t *set)
{
    memset(set, 0, sizeof(*set));
}

void wasp_ssl_bindings_free(wasp_ssl_bindings_t *set)
{
    for (size_t i = 0; i < set->count; i++) {
        free(set->v[i].before);
        free(set->v[i].comment);
    }
    free(set->v);
    free(set->trailer);
    memset(set, 0, sizeof(*set));
}

/* *s += text (s may be NULL); -1 when memory is short. */
static int str_cat(char **s, const char *text, size_t n)
{
    size_t old = *s != NULL ? strlen(*s) : 0;
    char *ns;

    if (n == 0) {
        return 0;
    }
    ns = realloc(*s, old + n + 1);
    if (ns == NULL) {
        return -1;
    }
    memcpy(ns + old, text, n);
    ns[old + n] = '\0';
    *s = ns;
    return 0;
}

wasp_sslbinding_t *wasp_ssl_bindings_find(const wasp_ssl_bindings_t *set,
                                          const wasp_sslkey_t *key)
{
    for (size_t i = 0; i < set->count; i++) {
        if (wasp_sslkey_equal(&set->v[i].key, key)) {
            return &set->v[i];
        }
    }
    return NULL;
}

/* Append b, taking its before/comment strings as they are. */
static int set_push(wasp_ssl_bindings_t *set, const wasp_sslbinding_t *b)
{
    if (set->count == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 8;
        wasp_sslbinding_t *nv = realloc(set->v, cap * sizeof(*nv));

        if (nv == NULL) {
            return -1;
        }
        set->v = nv;
        set->cap = cap;
    }
    set->v[set->count++] = *b;
    return 0;
}

int wasp_ssl_bindings_add(wasp_ssl_bindings_t *set, const wasp_sslbinding_t *b)
{
    wasp_sslbinding_t copy = *b;

    if (wasp_ssl_bindings_find(set, &b->key) != NULL) {
        errno = EEXIST;
        return -1;
    }
    /* What followed the last entry (the header of a new file, say) now
     * stands above the new one, which goes at the end. */
    copy.before = set->trailer;
    copy.comment = NULL;
    if (set_push(set, &copy) != 0) {
        errno = ENOMEM;
        return -1;
    }
    set->trailer = NULL;
    return 0;
}

bool wasp_ssl_bindings_delete(wasp_ssl_bindings_t *set, const wasp_sslkey_t *key)
{
    wasp_sslbinding_t *b = wasp_ssl_bindings_find(set, key);
    size_t i;
    char **next;

    if (b == NULL) {
        return false;
    }
    i = (size_t)(b - set->v);
    /* Its own comment goes with it; the other lines above it stay, above
     * whatever follows it. */
    next = i + 1 < set->count ? &set->v[i + 1].before : &set->trailer;
    if (b->before != NULL) {
        if (*next == NULL) {
            *next = b->before;
        } else if (str_cat(&b->before, *next, strlen(*next)) == 0) {
            free(*next);
            *next = b->before;
        } else {
            free(b->before); /* out of memory: those lines are lost, the entry still goes */
        }
        b->before = NULL;
    }
    free(b->comment);
    memmove(b, b + 1, (set->count - i - 1) * sizeof(*b));
    set->count--;
    return true;
}

/* ---- the file ------------------------------------------------------------------ */

static bool blank_line(const char *s)
{
    for (; *s; s++) {
        if (!isspace((unsigned char)*s)) {
            return false;
        }
    }
    return true;
}

static bool comment_line(const char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    return *s == '#';
}

/* One entry line: split at white space and parse. */
static int load_entry(char *line, wasp_sslbinding_t *b, char *err, size_t errsz)
{
    const char *words[64];
    size_t n = 0;

    for (char *tok = strtok(line, " \t\r\n"); tok != NULL; tok = strtok(NULL, " \t\r\n")) {
        if (n == sizeof(words) / sizeof(words[0])) {
            set_err(err, errsz, "too many parameters on one line");
            return -1;
        }
        words[n++] = tok;
    }
    return wasp_sslbinding_parse(words, n, b, err, errsz);
}

typedef struct load_state {
    char *free_lines; /* lines that belong to no entry */
    char *comment;    /* '#' lines since the last blank line */
} load_state_t;

static int load_line(wasp_ssl_bindings_t *set, load_state_t *st, char *line, size_t len,
                     char *err, size_t errsz)
{
    wasp_sslbinding_t b, *dup;
    char why[1024], key[300];

    if (blank_line(line)) {
        /* A blank line ends a comment block: it no longer belongs to the next entry. */
        if (st->comment != NULL) {
            if (str_cat(&st->free_lines, st->comment, strlen(st->comment)) != 0) {
                return -1;
            }
            free(st->comment);
            st->comment = NULL;
        }
        return str_cat(&st->free_lines, line, len);
    }
    if (comment_line(line)) {
        return str_cat(&st->comment, line, len);
    }
    if (load_entry(line, &b, why, sizeof(why)) != 0) {
        set_err(err, errsz, "%s", why);
        return -2;
    }
    dup = wasp_ssl_bindings_find(set, &b.key);
    if (dup != NULL) {
        wasp_sslkey_format(&b.key, key, sizeof(key));
        set_err(err, errsz,
                "a second entry for %s=%s (the first is on an earlier line); delete one of "
                "them",
                wasp_sslkey_param(b.key.kind), key);
        return -2;
    }
    b.before = st->free_lines;
    b.comment = st->comment;
    if (set_push(set, &b) != 0) {
        return -1;
    }
    st->free_lines = NULL;
    st->comment = NULL;
    return 0;
}

int wasp_ssl_bindings_load(const char *path, wasp_ssl_bindings_t *set, char *err,
                           size_t errsz)
{
    load_state_t st = { NULL, NULL };
    char *line = NULL, why[1200];
    size_t cap = 0;
    ssize_t len;
    unsigned lineno = 0;
    int rc = 0;
    FILE *f;

    wasp_ssl_bindings_init(set);
    f = fopen(path, "re");
    if (f == NULL) {
        if (errno == ENOENT) {
            set->trailer = strdup(FILE_HEADER);
            return 0;
        }
        set_err(err, errsz, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        /* Keep a last line without a newline a line of its own when saved. */
        if (len > 0 && line[len - 1] != '\n') {
            if (str_cat(&line, "\n", 1) != 0) {
                rc = -1;
                break;
            }
            len++;
        }
        rc = load_line(set, &st, line, (size_t)len, why, sizeof(why));
        if (rc == -2) {
            set_err(err, errsz, "%s:%u: %s; fix the line or remove it", path, lineno, why);
        }
    }
    if (rc == -1) {
        set_err(err, errsz, "out of memory reading %s", path);
    } else if (rc == 0 && ferror(f)) {
        set_err(err, errsz, "cannot read %s: %s", path, strerror(errno));
        rc = -1;
    }
    fclose(f);
    free(line);
    if (rc == 0) {
        if (st.free_lines != NULL && st.comment != NULL &&
            str_cat(&st.free_lines, st.comment, strlen(st.comment)) != 0) {
            rc = -1;
            set_err(err, errsz, "out of memory reading %s", path);
        } else if (st.free_lines == NULL) {
            st.free_lines = st.comment;
            st.comment = NULL;
        }
        set->trailer = st.free_lines;
        st.free_lines = NULL;
    }
    free(st.free_lines);
    free(st.comment);
    if (rc != 0) {
        wasp_ssl_bindings_free(set);
        return -1;
    }
    return 0;
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The file's text. */
static char *render(const wasp_ssl_bindings_t *set)
{
    char *text = calloc(1, 1), line[2048];

    if (text == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < set->count; i++) {
        const wasp_sslbinding_t *b = &set->v[i];
        size_t n;

        wasp_sslbinding_format(b, line, sizeof(line) - 1);
        n = strlen(line);
        line[n++] = '\n';
        if ((b->before != NULL && str_cat(&text, b->before, strlen(b->before)) != 0) ||
            (b->comment != NULL && str_cat(&text, b->comment, strlen(b->comment)) != 0) ||
            str_cat(&text, line, n) != 0) {
            free(text);
            return NULL;
        }
    }
    if (set->trailer != NULL && str_cat(&text, set->trailer, strlen(set->trailer)) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

int wasp_ssl_bindings_save(const char *path, const wasp_ssl_bindings_t *set, char *err,
                           size_t errsz)
{
    char tmp[PATH_MAX], dir[PATH_MAX], real[PATH_MAX];
    /* A symbolic link stays one: the file it points to is replaced. */
    const char *target = realpath(path, real) != NULL ? real : path;
    const char *slash = strrchr(target, '/');
    struct stat st;
    mode_t mode = 0644;
    char *text = render(set);
    int fd, dfd;

    if (text == NULL) {
        set_err(err, errsz, "out of memory saving %s", path);
        return -1;
    }
    if (slash == NULL) {
        snprintf(dir, sizeof(dir), ".");
        snprintf(tmp, sizeof(tmp), ".%s.XXXXXX", target);
    } else {
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - target), target);
        snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, slash + 1);
    }
    if (stat(target, &st) == 0) {
        mode = st.st_mode & 07777;
    }
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        set_err(err, errsz,
                "cannot save %s: creating a temporary file in %s failed: %s (run waspctl as "
                "root or as the owner of the certificate store)",
                path, dir, strerror(errno));
        free(text);
        return -1;
    }
    if (write_all(fd, text, strlen(text)) != 0 || fchmod(fd, mode) != 0 || fsync(fd) != 0) {
        set_err(err, errsz, "cannot save %s: writing %s failed: %s; %s is unchanged", path, tmp,
                strerror(errno), path);
        close(fd);
        unlink(tmp);
        free(text);
        return -1;
    }
    close(fd);
    free(text);
    if (rename(tmp, target) != 0) {
        set_err(err, errsz, "cannot save %s: renaming %s over it failed: %s; %s is unchanged",
                path, tmp, strerror(errno), path);
        unlink(tmp);
        return -1;
    }
    /* The rename reaches the disk with the directory. */
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return 0;
}

int wasp_ssl_store_lock(const char *root, char *err, size_t errsz)
{
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0) {
        set_err(err, errsz, "cannot open the certificate store %s: %s%s", root, strerror(errno),
                errno == ENOENT ? " (create it, or choose another with --cert-store DIR or "
                                  "WASP_CERT_STORE)"
                                : "");
        return -1;
    }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            set_err(err, errsz, "cannot lock the certificate store %s: %s", root,
                    strerror(errno));
            close(fd);
            return -1;
        }
    }
    return fd;
}

/* ---- which entry answers ---------------------------------------------------------- */

/* The connection's local address as (family, bytes, port); IPv4-mapped
 * IPv6 addresses are IPv4 (a dual-stack socket's IPv4 clients). */
static void local_address(const struct sockaddr_storage *ss, wasp_sslkey_t *k)
{
    static const unsigned char v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

    memset(k, 0, sizeof(*k));
    k->kind = WASP_SSL_IPPORT;
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

        k->port = ntohs(s6->sin6_port);
        if (memcmp(s6->sin6_addr.s6_addr, v4mapped, 12) == 0) {
            k->family = AF_INET;
            memcpy(k->addr, s6->sin6_addr.s6_addr + 12, 4);
        } else {
            k->family = AF_INET6;
            memcpy(k->addr, s6->sin6_addr.s6_addr, 16);
        }
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

        k->family = AF_INET;
        k->port = ntohs(s4->sin_port);
        memcpy(k->addr, &s4->sin_addr, 4);
    }
}

size_t wasp_ssl_candidates(const wasp_ssl_bindings_t *set, const struct sockaddr_storage *local,
                           const char *sni, const wasp_sslbinding_t *out[5])
{
    wasp_sslkey_t k, probe;
    size_t n = 0, len = sni != NULL ? strlen(sni) : 0;
    const wasp_sslbinding_t *b;
    int other;

    local_address(local, &k);
    /* A server name ending in the root's dot names the same host. */
    if (len > 0 && sni[len - 1] == '.') {
        len--;
    }
    if (len > 0) {
        memset(&probe, 0, sizeof(probe));
        probe.kind = WASP_SSL_HOSTNAMEPORT;
        probe.port = k.port;
        if (parse_host(sni, len, probe.host, sizeof(probe.host)) &&
            (b = wasp_ssl_bindings_find(set, &probe)) != NULL) {
            out[n++] = b;
        }
        memset(&probe, 0, sizeof(probe));
        probe.kind = WASP_SSL_CCS;
        probe.port = k.port;
        if ((b = wasp_ssl_bindings_find(set, &probe)) != NULL) {
            out[n++] = b;
        }
    }
    if ((b = wasp_ssl_bindings_find(set, &k)) != NULL) {
        out[n++] = b;
    }
    /* The wildcards: the connection's own family first, then the other
     * (0.0.0.0:443, IIS' "All Unassigned", also answers IPv6 clients). */
    other = k.family == AF_INET ? AF_INET6 : AF_INET;
    for (int pass = 0; pass < 2; pass++) {
        memset(&probe, 0, sizeof(probe));
        probe.kind = WASP_SSL_IPPORT;
        probe.family = pass == 0 ? k.family : other;
        probe.port = k.port;
        if (memcmp(probe.addr, k.addr, 16) == 0 && probe.family == k.family) {
            continue; /* the connection's address is itself the wildcard: found above */
        }
        if ((b = wasp_ssl_bindings_find(set, &probe)) != NULL) {
            out[n++] = b;
        }
    }
    return n;
}

const wasp_sslbinding_t *wasp_ssl_select(const wasp_ssl_bindings_t *set, const char *root,
                                         const struct sockaddr_storage *local, const char *sni,
                                         wasp_ssl_choice_t *choice)
{
    const wasp_sslbinding_t *cand[5];
    size_t n = wasp_ssl_candidates(set, local, sni, cand);
    char ccs_dir[PATH_MAX];

    memset(choice, 0, sizeof(*choice));
    for (size_t i = 0; i < n; i++) {
        if (cand[i]->key.kind == WASP_SSL_CCS) {
            snprintf(ccs_dir, sizeof(ccs_dir), "%s/%s", root, WASP_CCS_DIR);
            if (wasp_ccs_find(ccs_dir, sni, choice->ccs_file, sizeof(choice->ccs_file)) != 0) {
                continue;
            }
        } else {
            choice->store_exists = wasp_certstore_dir(root, wasp_sslbinding_store(cand[i]),
                                                      choice->store_dir,
                                                      sizeof(choice->store_dir)) == 0;
        }
        choice->binding = cand[i];
        break;
    }
    return choice->binding;
}
