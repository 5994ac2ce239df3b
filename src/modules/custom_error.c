/*
 * CustomErrorModule (IIS custerr.dll): the body of error responses, from
 * system.webServer/httpErrors (iis-modules.md 2.5).
 *
 * Runs at SendResponse, priority HIGH (SendResponse runs in inverted order,
 * so this is among the last modules to see the response), once per request.
 * It acts when the status is >= 400 and either the response has no body or
 * existingResponse="Replace":
 *
 *   errorMode Detailed, or DetailedLocalOnly (default) for a local client
 *       → the detailed page: status.substatus, description, likely causes,
 *         things to try, and the module / notification / handler / error code
 *         / URL / physical path / reason recorded by wasp_request_fail(); for
 *         a configuration error (500.19, wasp_request_config_error) the
 *         Config Error, Config File and Config Source (the offending lines)
 *         as IIS shows them.
 *   errorMode Custom, or DetailedLocalOnly for a remote client
 *       → the <error> entry for status.substatus, else for status with
 *         subStatusCode -1, else defaultPath / defaultResponseMode:
 *           File      the file (prefixLanguageFilePath/<language>/path), status kept;
 *           Redirect  302 with Location: path;
 *           ExecuteURL not supported yet (needs child requests): short page;
 *         and with no entry, or when the file cannot be opened, the built-in
 *         short page ("404 - File or directory not found.").
 *
 * existingResponse: Replace clears any body first (Allow, WWW-Authenticate,
 * Proxy-Authenticate, Retry-After, Content-Range and Location survive, first
 * value each); Auto and PassThrough keep a body that exists.  IIS' Auto also
 * replaces bodies unless the producer set "skip custom errors"; module.h has
 * no such flag yet, so every body a module wrote counts as deliberate.
 *
 * HEAD responses get the headers (with the Content-Length of the page) and
 * no body.  Pages are text/html; charset=utf-8 with every dynamic value
 * HTML-escaped.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "modules/builtin.h"
#include "modules/mime.h"
#include "modules/modutil.h"
#include "modules/static_file.h"

#define CUSTOM_ERROR_SECTION "system.webServer/httpErrors"

enum { MODE_DETAILED_LOCAL_ONLY, MODE_CUSTOM, MODE_DETAILED };
static const char *const custom_error_modes[] = {"DetailedLocalOnly", "Custom", "Detailed"};
enum { EXISTING_AUTO, EXISTING_REPLACE, EXISTING_PASS_THROUGH };
static const char *const custom_error_existing[] = {"Auto", "Replace", "PassThrough"};
enum { RESPONSE_FILE, RESPONSE_EXECUTE_URL, RESPONSE_REDIRECT };
static const char *const custom_error_response_modes[] = {"File", "ExecuteURL", "Redirect"};

typedef struct custom_error_state {
    bool done; /* SendResponse may run once per flush: act on the first only */
} custom_error_state_t;

static const char *custom_error_reason(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Request Entity Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return status < 500 ? "Client Error" : "Server Error";
    }
}

/* ---- the detailed page's texts (iis-modules.md 2.27) --------------------- */

typedef struct custom_error_detail {
    int status;
    int sub; /* -1: any substatus without an entry of its own */
    const char *description;
    const char *causes[3];
    const char *tries[3];
} custom_error_detail_t;

static const custom_error_detail_t custom_error_details[] = {
    {400, -1, "The server could not understand the request because its syntax is invalid.",
     {"The client sent a malformed request line, header or body."},
     {"Check the request the client sends (a network trace helps)."}},
    {401, 1, "Logon failed: the credentials supplied were not accepted.",
     {"The user name or password is wrong.", "The account is locked or disabled."},
     {"Check the credentials and try again."}},
    {401, 2, "Logon failed because of the server configuration: no authentication method that "
             "the client offered is enabled.",
     {"No authentication module is enabled for this URL.",
      "Anonymous authentication is disabled and the client did not authenticate."},
     {"Enable an authentication method under system.webServer/security/authentication."}},
    {401, 3, "Access is denied by the permissions of the file or directory.",
     {"The worker's user may not read the file or one of its parent directories."},
     {"Check the owner and mode of the file and of every directory above it."}},
    {401, -1, "You do not have permission to view this page with the credentials you supplied.",
     {"Authentication failed or was not attempted."},
     {"Check the authentication settings and the credentials."}},
    {403, 14, "The web server is configured not to list the contents of this directory.",
     {"No default document was found in the directory and directory browsing is not enabled."},
     {"Add a default document (system.webServer/defaultDocument) to the directory.",
      "Or enable directory browsing: <directoryBrowse enabled=\"true\" />."}},
    {403, 4, "The page you are trying to access is secured with Secure Sockets Layer (SSL).",
     {"The URL requires SSL (security/access sslFlags=\"Ssl\") and the request came over "
      "plain HTTP."},
     {"Use https:// in the address.", "Or remove Ssl from sslFlags for this URL."}},
    {403, 7, "The page requires a client certificate.",
     {"sslFlags has SslRequireCert and the client sent no certificate.",
      "The sslcert entry of the binding does not have clientcertnegotiation=enable."},
     {"Install a client certificate in the browser or client.",
      "Set clientcertnegotiation=enable on the sslcert entry."}},
    {403, 16, "Your client certificate is either not trusted or is invalid.",
     {"The certificate's issuer is not a certification authority the server trusts."},
     {"Use a certificate from a trusted authority, or add the authority to the system's "
      "trusted certificates (update-ca-certificates)."}},
    {403, -1, "Access to this resource is forbidden.",
     {"The configuration denies access to this URL."},
     {"Check the access, IP restriction and request filtering settings."}},
    {404, 0, "The resource you are looking for has been removed, had its name changed, or is "
             "temporarily unavailable.",
     {"The file or directory does not exist on the web server.",
      "The URL contains a typing error.", "A rewrite rule changed the URL."},
     {"Check that the file exists at the physical path below.",
      "Check the URL and the virtual directory's physicalPath."}},
    {404, 3, "The page you are requesting cannot be served because of the extension "
             "configuration. If it is a script, add a handler; if it should be downloaded, add a "
             "MIME map.",
     {"The file's extension has no <mimeMap> entry in <staticContent>.",
      "The handler for a dynamic extension is missing."},
     {"Add <mimeMap fileExtension=\".ext\" mimeType=\"type/subtype\" /> for the extension.",
      "Or add a handler mapping for it."}},
    {404, 4, "The resource you are looking for does not have a handler associated with it.",
     {"No handler mapping matches the file name and verb."},
     {"Add a handler mapping, or restore the StaticFile mapping at the end of <handlers>."}},
    {404, -1, "The resource you are looking for has been removed, had its name changed, or is "
              "temporarily unavailable.",
     {"The request was refused for the reason shown below."},
     {"Check the reason and the configuration section it names."}},
    {405, -1, "The page you are looking for cannot be displayed because an invalid method (HTTP "
              "verb) is being used.",
     {"The handler does not accept this verb (the static file handler takes GET and HEAD)."},
     {"Use an allowed method (see the Allow header), or map a handler for this verb."}},
    {406, -1, "The resource cannot be sent in a form the client said it accepts.",
     {"The Accept header excludes the resource's content type."},
     {"Check the client's Accept header."}},
    {412, -1, "A precondition the client sent (If-Match, If-Unmodified-Since) is false for the "
              "current resource.",
     {"The resource changed since the client last retrieved it."},
     {"Retrieve the resource again and repeat the request."}},
    {413, -1, "The request body is larger than the server accepts.",
     {"The upload exceeds the configured request limits."},
     {"Raise requestLimits/maxAllowedContentLength if the size is intended."}},
    {416, -1, "None of the requested byte ranges starts inside the resource.",
     {"The client asked for bytes past the end of the file."},
     {"Retrieve the resource without a Range header."}},
    {500, 19, "The requested page cannot be accessed because the related configuration data for "
              "the page is invalid.",
     {"A configuration file is malformed or uses an unknown section.",
      "A section is locked at a parent level."},
     {"Fix the file and line given below (Config File, Config Source)."}},
    {500, -1, "The page cannot be displayed because an internal server error has occurred.",
     {"A module failed while processing the request."},
     {"Read the reason below and the worker's log."}},
    {502, -1, "The server, acting as a gateway or proxy, received an invalid response from the "
              "upstream server.",
     {"The FastCGI, CGI or proxied application failed or sent malformed headers."},
     {"Check that the application runs and look at its error log."}},
    {503, -1, "The service is unavailable.",
     {"The application pool is stopped or overloaded."},
     {"Start the application pool, or try again later."}},
};

static const custom_error_detail_t *custom_error_detail(int status, int sub)
{
    const custom_error_detail_t *any = NULL;
    size_t n = sizeof(custom_error_details) / sizeof(*custom_error_details);
    for (size_t i = 0; i < n; i++) {
        const custom_error_detail_t *d = &custom_error_details[i];
        if (d->status != status)
            continue;
        if (d->sub == sub)
            return d;
        if (d->sub == -1)
            any = d;
    }
    return any;
}

/* ---- the short page (remote clients) ------------------------------------ */

typedef struct custom_error_short {
    int status;
    const char *title; /* after "<status> - " */
    const char *text;
} custom_error_short_t;

/* The wording of IIS' stock custerr pages, which users recognise. */
static const custom_error_short_t custom_error_shorts[] = {
    {401, "Unauthorized: Access is denied due to invalid credentials.",
     "You do not have permission to view this directory or page using the credentials that you "
     "supplied."},
    {403, "Forbidden: Access is denied.",
     "You do not have permission to view this directory or page using the credentials that you "
     "supplied."},
    {404, "File or directory not found.",
     "The resource you are looking for might have been removed, had its name changed, or is "
     "temporarily unavailable."},
    {405, "HTTP verb used to access this page is not allowed.",
     "The page you are looking for cannot be displayed because an invalid method (HTTP verb) was "
     "used to attempt access."},
    {406, "Client browser does not accept the MIME type of the requested page.",
     "The page you are looking for cannot be opened by your browser because it has a file name "
     "extension that your browser does not accept."},
    {412, "Precondition set by the client failed when evaluated on the Web server.",
     "The request was not completed due to preconditions that are set in the request."},
    {500, "Internal server error.",
     "There is a problem with the resource you are looking for, and it cannot be displayed."},
    {501, "Header values specify a method that is not implemented.",
     "The page you are looking for cannot be displayed because a header value in the request "
     "does not match certain configuration settings on the Web server."},
    {502, "Web server received an invalid response while acting as a gateway or proxy server.",
     "There is a problem with the page you are looking for, and it cannot be displayed."},
};

static const char custom_error_style[] =
    "<style>body{margin:0;font-family:\"Segoe UI\",Helvetica,Arial,sans-serif;color:#222;"
    "background:#fff}header{background:#5c6b7f;color:#fff;padding:14px 24px}"
    "h1{margin:0;font-size:1.5em;font-weight:normal}section{margin:14px 24px;padding:6px 16px;"
    "border:1px solid #d6dbe1;border-radius:4px}h2{font-size:1.05em;margin:8px 0}"
    "h3{font-size:.95em;font-weight:normal}th{text-align:right;vertical-align:top;"
    "padding:2px 14px 2px 0;font-weight:600;white-space:nowrap}td{padding:2px 0;"
    "word-break:break-all}</style>";

static void custom_error_short_page(int status, wasp_modutil_buf_t *b)
{
    const char *title = NULL, *text = NULL;
    for (size_t i = 0; i < sizeof(custom_error_shorts) / sizeof(*custom_error_shorts); i++) {
        if (custom_error_shorts[i].status == status) {
            title = custom_error_shorts[i].title;
            text = custom_error_shorts[i].text;
        }
    }
    char generic[64];
    if (title == NULL) {
        snprintf(generic, sizeof(generic), "%s.", custom_error_reason(status));
        title = generic;
        text = status < 500 ? "The request cannot be completed."
                            : "The server cannot complete the request at this time.";
    }
    wasp_modutil_buf_printf(b,
                            "<!DOCTYPE html>\r\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                            "<title>%d - %s</title>%s</head>\r\n<body><header><h1>Server Error"
                            "</h1></header>\r\n<section><h2>%d - %s</h2><h3>%s</h3></section>"
                            "</body></html>\r\n",
                            status, title, custom_error_style, status, title, text);
}

/* ---- the detailed page --------------------------------------------------- */

/* "0x80070002 text" → code and text; else 0x00000000 and the whole reason. */
static void custom_error_split_reason(const char *reason, char code[11], const char **text)
{
    strcpy(code, "0x00000000");
    *text = reason;
    if (reason == NULL || strncmp(reason, "0x", 2) != 0 ||
        strspn(reason + 2, "0123456789abcdefABCDEF") != 8 || reason[10] != ' ')
        return;
    memcpy(code, reason, 10);
    code[10] = '\0';
    *text = reason + 11;
}

static void custom_error_row(wasp_modutil_buf_t *b, const char *name, const char *value,
                             size_t len)
{
    wasp_modutil_buf_printf(b, "<tr><th>%s</th><td>", name);
    wasp_modutil_buf_html(b, value ? value : "", value ? len : 0);
    wasp_modutil_buf_puts(b, "</td></tr>\r\n");
}

static void custom_error_row_str(wasp_modutil_buf_t *b, const char *name, const char *value)
{
    custom_error_row(b, name, value, value ? strlen(value) : 0);
}

static void custom_error_list(wasp_modutil_buf_t *b, const char *heading,
                              const char *const items[3])
{
    if (items[0] == NULL)
        return;
    wasp_modutil_buf_printf(b, "<section><h2>%s</h2><ul>", heading);
    for (int i = 0; i < 3 && items[i] != NULL; i++) {
        wasp_modutil_buf_puts(b, "<li>");
        wasp_modutil_buf_html(b, items[i], strlen(items[i]));
        wasp_modutil_buf_puts(b, "</li>");
    }
    wasp_modutil_buf_puts(b, "</ul></section>\r\n");
}

static void custom_error_detailed_page(wasp_request_t *req, int status, int sub,
                                       wasp_modutil_buf_t *b)
{
    const char *reason = custom_error_reason(status);
    const custom_error_detail_t *d = custom_error_detail(status, sub);
    wasp_modutil_buf_printf(b,
                            "<!DOCTYPE html>\r\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                            "<title>IIS Detailed Error - %d.%d - %s</title>%s</head>\r\n"
                            "<body><header><h1>HTTP Error %d.%d - %s</h1></header>\r\n",
                            status, sub, reason, custom_error_style, status, sub, reason);
    wasp_modutil_buf_puts(b, "<section><h2>");
    const char *desc = d ? d->description : "The request could not be completed.";
    wasp_modutil_buf_html(b, desc, strlen(desc));
    wasp_modutil_buf_puts(b, "</h2></section>\r\n");
    if (d != NULL) {
        custom_error_list(b, "Most likely causes:", d->causes);
        custom_error_list(b, "Things you can try:", d->tries);
    }

    char code[11];
    const char *why;
    custom_error_split_reason(wasp_request_fail_reason(req), code, &why);

    /* Requested URL as IIS shows it: scheme://server:port + the target. */
    wasp_str_t https = wasp_request_server_variable(req, "HTTPS");
    wasp_str_t server = wasp_request_server_variable(req, "SERVER_NAME");
    wasp_str_t port = wasp_request_server_variable(req, "SERVER_PORT");
    wasp_str_t raw = wasp_request_raw_url(req);
    wasp_modutil_buf_t url = {0};
    if (raw.ptr != NULL && raw.len > 0 && raw.ptr[0] == '/' && server.ptr != NULL) {
        wasp_modutil_buf_printf(&url, "%s://%.*s", wasp_modutil_str_ieq(https, "on") ? "https"
                                                                                     : "http",
                                (int)server.len, server.ptr);
        if (port.ptr != NULL && port.len > 0)
            wasp_modutil_buf_printf(&url, ":%.*s", (int)port.len, port.ptr);
    }
    if (raw.ptr != NULL)
        wasp_modutil_buf_append(&url, raw.ptr, raw.len);

    wasp_str_t auth = wasp_request_server_variable(req, "AUTH_TYPE");
    wasp_str_t user = wasp_request_server_variable(req, "LOGON_USER");
    const char *handler = wasp_request_handler_name(req);
    const char *module = wasp_request_fail_module(req);
    const char *event = wasp_request_fail_event(req);
    /* A configuration error (500.19) stops the request before a handler
     * or a logon: IIS says so on its page. */
    const wasp_config_error_t *ce = wasp_request_config_error(req);
    const char *undetermined = "Not yet determined";

    wasp_modutil_buf_puts(b, "<section><h2>Detailed Error Information:</h2><table>\r\n");
    custom_error_row_str(b, "Module", module ? module : "Web Core");
    custom_error_row_str(b, "Notification", event ? event : "-");
    custom_error_row_str(b, "Handler", handler ? handler : (ce ? undetermined : "-"));
    custom_error_row_str(b, "Error Code", code);
    if (ce != NULL) {
        custom_error_row_str(b, "Config Error", ce->message);
        custom_error_row_str(b, "Config File", ce->file);
    }
    custom_error_row(b, "Requested URL", url.ptr, url.len);
    custom_error_row_str(b, "Physical Path", wasp_request_physical_path(req));
    if (ce != NULL)
        custom_error_row_str(b, "Logon Method", undetermined);
    else if (auth.ptr != NULL && auth.len > 0)
        custom_error_row(b, "Logon Method", auth.ptr, auth.len);
    else
        custom_error_row_str(b, "Logon Method", "Anonymous");
    if (ce != NULL)
        custom_error_row_str(b, "Logon User", undetermined);
    else if (user.ptr != NULL && user.len > 0)
        custom_error_row(b, "Logon User", user.ptr, user.len);
    else
        custom_error_row_str(b, "Logon User", "Anonymous");
    if (ce == NULL && why != NULL && why[0] != '\0')
        custom_error_row_str(b, "Reason", why);
    wasp_modutil_buf_puts(b, "</table></section>\r\n");
    if (ce != NULL && ce->source[0] != '\0') {
        wasp_modutil_buf_puts(b, "<section><h2>Config Source:</h2><pre>");
        wasp_modutil_buf_html(b, ce->source, strlen(ce->source));
        wasp_modutil_buf_puts(b, "</pre></section>\r\n");
    }
    wasp_modutil_buf_puts(b, "</body></html>\r\n");
    if (url.oom)
        b->oom = true;
    wasp_modutil_buf_free(&url);
}

/* ---- custom mode: <error> entries ----------------------------------------- */

static int custom_error_int_attr(const wasp_section_t *s, const char *name, int dflt)
{
    const char *v = wasp_section_attr(s, name);
    if (v == NULL || v[0] == '\0')
        return dflt;
    char *end;
    long n = strtol(v, &end, 10);
    return *end == '\0' && n >= -1 && n <= 999 ? (int)n : dflt;
}

/* The <error> for status.sub, else for status with subStatusCode -1. */
static const wasp_section_t *custom_error_entry(const wasp_section_t *sec, int status, int sub)
{
    const wasp_section_t *any = NULL;
    size_t n = sec ? wasp_section_item_count(sec) : 0;
    for (size_t i = 0; i < n; i++) {
        const wasp_section_t *e = wasp_section_item(sec, i);
        if (e == NULL || custom_error_int_attr(e, "statusCode", -2) != status)
            continue;
        int es = custom_error_int_attr(e, "subStatusCode", -1);
        if (es == sub)
            return e;
        if (es == -1 && any == NULL)
            any = e;
    }
    return any;
}

/* Expand %NAME% from the environment (IIS expands these attributes); an
 * unknown variable stays as written.  Backslashes become '/'. */
static char *custom_error_expand(wasp_request_t *req, const char *s)
{
    wasp_modutil_buf_t b = {0};
    for (const char *p = s; *p;) {
        const char *end = *p == '%' ? strchr(p + 1, '%') : NULL;
        if (end != NULL && end > p + 1) {
            char name[128];
            size_t n = (size_t)(end - p - 1);
            const char *v = NULL;
            if (n < sizeof(name)) {
                memcpy(name, p + 1, n);
                name[n] = '\0';
                v = getenv(name);
            }
            if (v != NULL) {
                wasp_modutil_buf_puts(&b, v);
                p = end + 1;
                continue;
            }
        }
        wasp_modutil_buf_append(&b, *p == '\\' ? "/" : p, 1);
        p++;
    }
    char *out = b.oom ? NULL : wasp_modutil_strdup(req, b.ptr ? b.ptr : "", b.len);
    wasp_modutil_buf_free(&b);
    return out;
}

/* Language folders to try, best first: each Accept-Language tag as sent,
 * as "ll-RR" and lower-cased (Linux folder names are case-sensitive, NTFS's
 * are not); then the server language en-US.  Only [A-Za-z0-9-] tags of up to
 * 16 characters are used, so a header cannot walk out of the folder. */
static size_t custom_error_languages(const wasp_request_t *req, char langs[][17], size_t max)
{
    size_t n = 0;
    wasp_str_t al = wasp_request_header(req, "Accept-Language");
    const char *p = al.ptr, *end = al.ptr ? al.ptr + al.len : NULL;
    while (p != NULL && p < end && n + 4 <= max) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        const char *t = p;
        while (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                           (*p >= '0' && *p <= '9') || *p == '-'))
            p++;
        size_t len = (size_t)(p - t);
        if (len > 0 && len <= 16) {
            char *sent = langs[n++], *canon = langs[n++], *lower = langs[n++];
            bool region = false;
            for (size_t i = 0; i < len; i++) {
                char c = t[i];
                char lc = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
                char uc = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
                sent[i] = c;
                lower[i] = lc;
                canon[i] = region ? uc : lc;
                if (c == '-')
                    region = true;
            }
            sent[len] = canon[len] = lower[len] = '\0';
        }
        while (p < end && *p != ',')
            p++; /* ";q=..." and anything unexpected */
    }
    if (n < max)
        strcpy(langs[n++], "en-US");
    return n;
}

/* Open the File-mode page; -1 when none of the candidate paths is a
 * readable regular file. */
static int custom_error_open_file(wasp_request_t *req, const wasp_section_t *entry,
                                  const char *path_attr, struct stat *st, char **opened)
{
    char *path = custom_error_expand(req, path_attr);
    const char *prefix_attr = entry ? wasp_section_attr(entry, "prefixLanguageFilePath") : NULL;
    char *prefix = prefix_attr && prefix_attr[0] ? custom_error_expand(req, prefix_attr) : NULL;
    if (path == NULL || path[0] == '\0')
        return -1;

    char *cands[16];
    size_t nc = 0;
    if (prefix != NULL && prefix[0] != '\0') {
        char langs[13][17];
        size_t nl = custom_error_languages(req, langs, 13);
        for (size_t i = 0; i < nl && nc < 15; i++)
            cands[nc++] = wasp_modutil_printf(req, "%s/%s/%s", prefix, langs[i], path);
        cands[nc++] = wasp_modutil_printf(req, "%s/%s", prefix, path);
    } else if (path[0] == '/') {
        cands[nc++] = path;
    } else {
        /* Relative without a prefix: relative to the application's root. */
        wasp_str_t root = wasp_request_server_variable(req, "APPL_PHYSICAL_PATH");
        if (root.ptr == NULL || root.len == 0)
            return -1;
        cands[nc++] = wasp_modutil_printf(req, "%.*s/%s", (int)root.len, root.ptr, path);
    }
    for (size_t i = 0; i < nc; i++) {
        if (cands[i] == NULL)
            continue;
        int fd = wasp_static_file_open(cands[i], st);
        if (fd < 0)
            continue;
        if (S_ISREG(st->st_mode)) {
            *opened = cands[i];
            return fd;
        }
        close(fd);
    }
    return -1;
}

/* ---- the module ------------------------------------------------------------ */

static const char *const custom_error_kept_headers[] = {
    "Allow", "WWW-Authenticate", "Proxy-Authenticate", "Retry-After", "Content-Range", "Location",
};

/* existingResponse="Replace" with a body: drop it, keeping the headers that
 * belong to the status rather than to the body. */
static void custom_error_clear(wasp_request_t *req)
{
    size_t n = sizeof(custom_error_kept_headers) / sizeof(*custom_error_kept_headers);
    char *kept[sizeof(custom_error_kept_headers) / sizeof(*custom_error_kept_headers)];
    for (size_t i = 0; i < n; i++) {
        wasp_str_t v = wasp_response_header(req, custom_error_kept_headers[i]);
        kept[i] = v.ptr ? wasp_modutil_strdup(req, v.ptr, v.len) : NULL;
    }
    wasp_response_clear(req);
    for (size_t i = 0; i < n; i++)
        if (kept[i] != NULL)
            wasp_response_set_header(req, custom_error_kept_headers[i], kept[i]);
}

static wasp_status_t custom_error_send_page(wasp_request_t *req, wasp_modutil_buf_t *page,
                                            bool head)
{
    if (page->oom) {
        wasp_modutil_buf_free(page);
        wasp_log(req, WASP_LOG_ERROR, "out of memory building the error page");
        return WASP_CONTINUE;
    }
    wasp_response_set_header(req, "Content-Type", "text/html; charset=utf-8");
    wasp_modutil_set_content_length(req, page->len);
    if (!head)
        wasp_response_write(req, page->ptr, page->len);
    wasp_modutil_buf_free(page);
    return WASP_CONTINUE;
}

static wasp_status_t custom_error_send_file(wasp_request_t *req, int fd, const struct stat *st,
                                            const char *path, bool head)
{
    const char *mime = wasp_mime_lookup(wasp_request_section(req, WASP_STATIC_FILE_SECTION), path);
    wasp_response_set_header(req, "Content-Type", mime ? mime : "text/html");
    wasp_modutil_set_content_length(req, (uint64_t)st->st_size);
    if (head || st->st_size == 0)
        close(fd);
    else if (wasp_response_send_file(req, fd, 0, (off_t)st->st_size) != 0) /* owns fd */
        wasp_log(req, WASP_LOG_ERROR, "could not queue the error page %s", path);
    return WASP_CONTINUE;
}

static wasp_status_t custom_error_send_response(wasp_request_t *req, void *state)
{
    custom_error_state_t *cs = state;
    if (cs != NULL) {
        if (cs->done)
            return WASP_CONTINUE;
        cs->done = true;
    }
    int status = wasp_response_status(req);
    if (status < 400 || status > 999)
        return WASP_CONTINUE;
    int sub = wasp_response_substatus(req);

    const wasp_section_t *sec = wasp_request_section(req, CUSTOM_ERROR_SECTION);
    int existing = wasp_modutil_enum(sec, "existingResponse", custom_error_existing, 3,
                                     EXISTING_AUTO);
    if (wasp_response_has_body(req)) {
        if (existing != EXISTING_REPLACE)
            return WASP_CONTINUE;
        custom_error_clear(req);
    }

    bool head = wasp_modutil_method_is(req, "HEAD");
    int mode = wasp_modutil_enum(sec, "errorMode", custom_error_modes, 3,
                                 MODE_DETAILED_LOCAL_ONLY);
    wasp_modutil_buf_t page = {0};
    if (mode == MODE_DETAILED || (mode == MODE_DETAILED_LOCAL_ONLY && wasp_request_is_local(req))) {
        custom_error_detailed_page(req, status, sub, &page);
        return custom_error_send_page(req, &page, head);
    }

    const wasp_section_t *entry = custom_error_entry(sec, status, sub);
    const char *path = entry ? wasp_section_attr(entry, "path")
                             : (sec ? wasp_section_attr(sec, "defaultPath") : NULL);
    int rmode = entry ? wasp_modutil_enum(entry, "responseMode", custom_error_response_modes, 3,
                                          RESPONSE_FILE)
                      : wasp_modutil_enum(sec, "defaultResponseMode", custom_error_response_modes,
                                          3, RESPONSE_FILE);
    if (path != NULL && path[0] != '\0') {
        if (rmode == RESPONSE_REDIRECT) {
            /* IIS sets Location verbatim (iis-modules.md 2.5). */
            wasp_response_set_status(req, 302, 0, "Found");
            wasp_modutil_set_headerf(req, "Location", "%s", path);
            wasp_modutil_set_content_length(req, 0);
            return WASP_CONTINUE;
        }
        if (rmode == RESPONSE_FILE) {
            struct stat st;
            char *opened = NULL;
            int fd = custom_error_open_file(req, entry, path, &st, &opened);
            if (fd >= 0)
                return custom_error_send_file(req, fd, &st, opened, head);
            wasp_log(req, WASP_LOG_WARN,
                     "httpErrors: no readable file for %d.%d (path \"%s\"); sending the "
                     "built-in page",
                     status, sub, path);
        } else {
            wasp_log(req, WASP_LOG_DEBUG,
                     "httpErrors: responseMode ExecuteURL (%s) is not supported yet; sending "
                     "the built-in page",
                     path);
        }
    }
    custom_error_short_page(status, &page);
    return custom_error_send_page(req, &page, head);
}

int wasp_custom_error_register(wasp_registration_t *reg, uint32_t server_abi)
{
    static const wasp_module_info_t info = {
        .abi = WASP_MODULE_ABI,
        .size = sizeof(wasp_module_info_t),
        .name = "CustomErrorModule",
        .request_state_size = sizeof(custom_error_state_t),
    };
    if (server_abi != WASP_MODULE_ABI) {
        wasp_registration_error(reg, "built for module ABI %u, the worker speaks %u",
                                WASP_MODULE_ABI, server_abi);
        return -1;
    }
    if (wasp_registration_set_info(reg, &info) != 0 ||
        wasp_registration_on(reg, WASP_EVENT_SEND_RESPONSE, WASP_PRIORITY_HIGH,
                             custom_error_send_response) != 0)
        return -1;
    return 0;
}
