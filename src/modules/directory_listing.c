/*
 * DirectoryListingModule (IIS dirlist.dll): the HTML listing of a directory
 * when <directoryBrowse enabled="true"> (iis-modules.md 2.2).
 *
 * At ExecuteRequestHandler, when the physical path is a directory:
 *   URL without trailing '/'      → 301 courtesy redirect (normally already done
 *                                   by DefaultDocumentModule, which runs first)
 *   directoryBrowse not enabled   → 403.14 "Directory listing denied"
 *   verb not GET/HEAD             → 405.0, Allow: GET, HEAD, OPTIONS, TRACE
 *   directory unreadable          → 401.3 / 404.0 / 500.0 by errno
 *   otherwise                     → 200, text/html; charset=utf-8
 * Anything that is not a directory → CONTINUE.
 *
 * The markup follows the listing IIS is observed to produce (2.2): title and
 * H1 "<host> - <url path>", "[To Parent Directory]" except at the site root,
 * then one <pre> line per entry with the columns showFlags selects.
 *
 * Decisions where IIS is unconfirmed or Windows-only:
 *   - order: directories and files together, by name, ASCII case-insensitive
 *     (ties by byte order), which is what NTFS enumeration looks like;
 *   - names starting with '.' are not listed: they are the Linux counterpart
 *     of the Hidden attribute IIS honours;
 *   - entries whose stat() fails (dangling symlink, no permission) are left
 *     out; symlinks are listed as what they point to;
 *   - dates and times are the worker's local time (TZ), US format as IIS
 *     writes with an en-US server locale;
 *   - LongDate is right-aligned in 29 columns (the longest English long
 *     date), Date in 10, Time in 8, Size in 13 with "<dir>" for directories;
 *     a column is present only when its flag is.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "modules/builtin.h"
#include "modules/modutil.h"
#include "modules/static_file.h"

#define DIRECTORY_LISTING_SECTION "system.webServer/directoryBrowse"

/* showFlags values (iis-modules.md 2.2). */
enum {
    SHOW_DATE = 2,
    SHOW_TIME = 4,
    SHOW_SIZE = 8,
    SHOW_EXTENSION = 16,
    SHOW_LONG_DATE = 32,
    SHOW_DEFAULT = SHOW_DATE | SHOW_TIME | SHOW_SIZE | SHOW_EXTENSION
};

typedef struct directory_listing_entry {
    char *name;
    bool is_dir;
    uint64_t size;
    time_t mtime;
} directory_listing_entry_t;

/* A flags attribute: comma-separated names and/or numbers, OR'ed. */
static unsigned directory_listing_flags(const wasp_section_t *sec)
{
    static const struct {
        const char *name;
        unsigned value;
    } names[] = {{"None", 0},           {"Date", SHOW_DATE},         {"Time", SHOW_TIME},
                 {"Size", SHOW_SIZE},   {"Extension", SHOW_EXTENSION},
                 {"LongDate", SHOW_LONG_DATE}};
    const char *v = wasp_section_attr(sec, "showFlags");
    if (v == NULL)
        return SHOW_DEFAULT;
    unsigned flags = 0;
    for (const char *p = v; *p;) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, " \t,");
        if (n == 0)
            break;
        char *end;
        unsigned long num = strtoul(p, &end, 10);
        if (end == p + n) {
            flags |= (unsigned)num;
        } else {
            for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
                if (strlen(names[i].name) == n && strncasecmp(p, names[i].name, n) == 0)
                    flags |= names[i].value;
        }
        p += n;
    }
    return flags;
}

static int directory_listing_cmp(const void *a, const void *b)
{
    const directory_listing_entry_t *x = a, *y = b;
    int c = strcasecmp(x->name, y->name);
    return c ? c : strcmp(x->name, y->name);
}

static void directory_listing_free(directory_listing_entry_t *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(e[i].name);
    free(e);
}

/* Read the directory; -1 with errno on failure. */
static int directory_listing_read(const char *dir, directory_listing_entry_t **out, size_t *count)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    directory_listing_entry_t *e = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue; /* ".", "..", and hidden names */
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, 0) != 0 ||
            !(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            directory_listing_entry_t *ne = realloc(e, ncap * sizeof(*e));
            if (ne == NULL)
                goto oom;
            e = ne;
            cap = ncap;
        }
        char *name = strdup(de->d_name);
        if (name == NULL)
            goto oom;
        e[n++] = (directory_listing_entry_t){name, S_ISDIR(st.st_mode), (uint64_t)st.st_size,
                                             st.st_mtim.tv_sec};
    }
    closedir(d);
    if (n > 1)
        qsort(e, n, sizeof(*e), directory_listing_cmp);
    *out = e;
    *count = n;
    return 0;
oom:
    closedir(d);
    directory_listing_free(e, n);
    errno = ENOMEM;
    return -1;
}

/* Right-align text in a field of width columns (no-op when longer). */
static void directory_listing_pad(wasp_modutil_buf_t *b, const char *text, size_t width)
{
    size_t len = strlen(text);
    for (size_t i = len; i < width; i++)
        wasp_modutil_buf_append(b, " ", 1);
    wasp_modutil_buf_append(b, text, len);
}

static void directory_listing_columns(wasp_modutil_buf_t *b, const directory_listing_entry_t *e,
                                      unsigned flags)
{
    static const char *const days[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                       "Thursday", "Friday", "Saturday"};
    static const char *const months[] = {"January", "February", "March",     "April",
                                         "May",     "June",     "July",      "August",
                                         "September", "October", "November", "December"};
    struct tm tm = {0};
    char text[64];
    if ((flags & (SHOW_DATE | SHOW_TIME | SHOW_LONG_DATE)) && localtime_r(&e->mtime, &tm) == NULL)
        tm = (struct tm){.tm_mday = 1, .tm_year = 70}; /* out of range: show the epoch */

    if (flags & SHOW_LONG_DATE) {
        /* "Sunday, August 21, 2022" */
        snprintf(text, sizeof(text), "%s, %s %d, %d", days[tm.tm_wday % 7],
                 months[tm.tm_mon % 12], tm.tm_mday, tm.tm_year + 1900);
        directory_listing_pad(b, text, 29);
        wasp_modutil_buf_append(b, " ", 1);
    } else if (flags & SHOW_DATE) {
        /* " 4/13/2026" */
        snprintf(text, sizeof(text), "%d/%d/%d", tm.tm_mon + 1, tm.tm_mday, tm.tm_year + 1900);
        directory_listing_pad(b, text, 10);
        wasp_modutil_buf_append(b, " ", 1);
    }
    if (flags & SHOW_TIME) {
        /* " 2:25 PM" */
        int h12 = tm.tm_hour % 12 ? tm.tm_hour % 12 : 12;
        snprintf(text, sizeof(text), "%d:%02d %s", h12, tm.tm_min, tm.tm_hour < 12 ? "AM" : "PM");
        directory_listing_pad(b, text, 8);
        wasp_modutil_buf_append(b, " ", 1);
    }
    if (flags & SHOW_SIZE) {
        if (e->is_dir) {
            /* "<dir>" escaped, padded as the 5 characters it shows */
            directory_listing_pad(b, "", 13 - 5);
            wasp_modutil_buf_puts(b, "&lt;dir&gt;");
        } else {
            snprintf(text, sizeof(text), "%" PRIu64, e->size);
            directory_listing_pad(b, text, 13);
        }
        wasp_modutil_buf_append(b, " ", 1);
    }
}

/* The host for the title: the Host header without its port (brackets of an
 * IPv6 literal kept), or SERVER_NAME. */
static wasp_str_t directory_listing_host(wasp_request_t *req)
{
    wasp_str_t h = wasp_request_header(req, "Host");
    if (h.ptr == NULL || h.len == 0)
        return wasp_request_server_variable(req, "SERVER_NAME");
    size_t end = h.len;
    const char *colon = NULL;
    if (h.ptr[0] == '[') {
        const char *rb = memchr(h.ptr, ']', h.len);
        if (rb != NULL && (size_t)(rb - h.ptr) + 1 < h.len && rb[1] == ':')
            colon = rb + 1;
    } else {
        colon = memchr(h.ptr, ':', h.len);
    }
    if (colon != NULL)
        end = (size_t)(colon - h.ptr);
    return (wasp_str_t){h.ptr, end};
}

static void directory_listing_page(wasp_request_t *req, wasp_modutil_buf_t *b,
                                   const directory_listing_entry_t *e, size_t n, unsigned flags)
{
    wasp_str_t host = directory_listing_host(req);
    wasp_str_t path = wasp_request_path(req);
    if (path.ptr == NULL)
        path = (wasp_str_t){"/", 1};

    wasp_modutil_buf_t title = {0};
    wasp_modutil_buf_html(&title, host.ptr ? host.ptr : "", host.ptr ? host.len : 0);
    wasp_modutil_buf_puts(&title, " - ");
    wasp_modutil_buf_html(&title, path.ptr, path.len);

    wasp_modutil_buf_puts(b, "<html><head><title>");
    wasp_modutil_buf_append(b, title.ptr, title.len);
    wasp_modutil_buf_puts(b, "</title></head><body><H1>");
    wasp_modutil_buf_append(b, title.ptr, title.len);
    wasp_modutil_buf_puts(b, "</H1><hr>\r\n\r\n<pre>");
    if (title.oom)
        b->oom = true;
    wasp_modutil_buf_free(&title);

    /* Parent: drop the last segment of "/a/b/" → "/a/"; none at the root. */
    if (path.len > 1) {
        size_t p = path.len - 1; /* the trailing '/' */
        while (p > 0 && path.ptr[p - 1] != '/')
            p--;
        wasp_modutil_buf_puts(b, "<A HREF=\"");
        wasp_modutil_buf_url_path(b, path.ptr, p);
        wasp_modutil_buf_puts(b, "\">[To Parent Directory]</A><br><br>");
    }

    for (size_t i = 0; i < n; i++) {
        directory_listing_columns(b, &e[i], flags);
        size_t shown = strlen(e[i].name);
        if (!(flags & SHOW_EXTENSION) && !e[i].is_dir) {
            const char *dot = strrchr(e[i].name, '.');
            if (dot != NULL && dot != e[i].name)
                shown = (size_t)(dot - e[i].name);
        }
        wasp_modutil_buf_puts(b, "<A HREF=\"");
        wasp_modutil_buf_url_path(b, path.ptr, path.len);
        wasp_modutil_buf_url_path(b, e[i].name, strlen(e[i].name));
        if (e[i].is_dir)
            wasp_modutil_buf_append(b, "/", 1);
        wasp_modutil_buf_puts(b, "\">");
        wasp_modutil_buf_html(b, e[i].name, shown);
        wasp_modutil_buf_puts(b, "</A><br>");
    }
    wasp_modutil_buf_puts(b, "</pre><hr></body></html>\r\n");
}

static wasp_status_t directory_listing_execute(wasp_request_t *req, void *state)
{
    const char *phys = wasp_request_physical_path(req);
    struct stat st;
    if (phys == NULL || phys[0] == '\0' || stat(phys, &st) != 0 || !S_ISDIR(st.st_mode))
        return WASP_CONTINUE;
    if (!wasp_static_file_url_has_slash(req))
        return wasp_static_file_redirect_slash(req);

    const wasp_section_t *sec = wasp_request_section(req, DIRECTORY_LISTING_SECTION);
    if (sec == NULL || !wasp_section_bool(sec, "enabled", false))
        return wasp_request_fail(req, 403, 14,
                                 "Directory listing denied: no default document was found and "
                                 "<directoryBrowse enabled=\"true\"> is not set.");

    bool head = wasp_modutil_method_is(req, "HEAD");
    if (!head && !wasp_modutil_method_is(req, "GET")) {
        wasp_response_set_header(req, "Allow", WASP_STATIC_FILE_ALLOW);
        return wasp_request_fail(req, 405, 0,
                                 "0x80070001 A directory listing answers only GET and HEAD.");
    }

    directory_listing_entry_t *e = NULL;
    size_t n = 0;
    if (directory_listing_read(phys, &e, &n) != 0)
        return wasp_static_file_fail_errno(req, errno);

    wasp_modutil_buf_t page = {0};
    directory_listing_page(req, &page, e, n, directory_listing_flags(sec));
    directory_listing_free(e, n);
    if (page.oom) {
        wasp_modutil_buf_free(&page);
        return wasp_request_fail(req, 500, 0, "0x8007000e Out of memory building the listing.");
    }

    wasp_response_set_header(req, "Content-Type", "text/html; charset=utf-8");
    if (head)
        wasp_modutil_set_content_length(req, page.len);
    else if (wasp_response_write(req, page.ptr, page.len) != 0) {
        wasp_modutil_buf_free(&page);
        return wasp_request_fail(req, 500, 0, "0x8007000e Could not queue the listing.");
    }
    wasp_modutil_buf_free(&page);
    return WASP_FINISH;
}

int wasp_directory_listing_register(wasp_registration_t *reg, uint32_t server_abi)
{
    static const wasp_module_info_t info = {
        .abi = WASP_MODULE_ABI,
        .size = sizeof(wasp_module_info_t),
        .name = "DirectoryListingModule",
    };
    if (server_abi != WASP_MODULE_ABI) {
        wasp_registration_error(reg, "built for module ABI %u, the worker speaks %u",
                                WASP_MODULE_ABI, server_abi);
        return -1;
    }
    if (wasp_registration_set_info(reg, &info) != 0 ||
        wasp_registration_on(reg, WASP_EVENT_EXECUTE_REQUEST_HANDLER, WASP_PRIORITY_MEDIUM,
                             directory_listing_execute) != 0)
        return -1;
    return 0;
}
