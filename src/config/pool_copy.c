/*
 * Per-pool copies of applicationHost.config (wasp_config_write_pool_copy).
 *
 * IIS' WAS hands each application pool's worker a copy of the configuration
 * that holds only that pool, readable only by the pool's identity, so one
 * pool's worker never sees another pool's environmentVariables or
 * processModel password.  wasp does the same, with one constraint of its
 * own: every message the worker prints names applicationHost.config and its
 * line, so the copy must keep every line and column where it was.  It is
 * therefore made from the original bytes, with the elements the pool may
 * not see overwritten by spaces (line breaks kept), and never re-serialized
 * (libxml2 would join attributes written over several lines).
 *
 * The elements are found by a small scanner of our own over the bytes: it
 * knows comments, CDATA, processing instructions, quoted attribute values,
 * self-closing tags, and the element path from <configuration> down, which
 * is all that well-formed XML without a DOCTYPE (the loader refuses one) can
 * contain.  Whatever it does not understand stops it: no copy is better than
 * a copy that might show another pool's secrets.  Which applications stay
 * is decided by the loaded model (the pool an application gets after
 * applicationDefaults), so the copy and the server agree.
 *
 * system.applicationHost is recognised at the top level and inside a
 * <location> (AppHostOnly sections only load there at the server level).
 * A section whose content is in a configSource file is left as it is: the
 * worker reads that file itself (beside the original, as its user), so a
 * configSource file gets no per-pool filtering (docs/configuration.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/cfg_internal.h"

#define PC_MAX_DEPTH 1024                       /* libxml2 refuses deeper documents anyway */

/* What an element is, from the names on its path. */
typedef enum pc_role {
    PC_OTHER = 0,
    PC_ROOT,     /* <configuration> */
    PC_LOCATION, /* configuration/location */
    PC_APPHOST,  /* [location/]system.applicationHost */
    PC_POOLS,    /* .../applicationPools */
    PC_SITES,    /* .../sites */
    PC_POOL_ADD, /* .../applicationPools/add */
    PC_SITE,     /* .../sites/site */
    PC_APP,      /* .../sites/site/application */
} pc_role_t;

typedef struct pc_frame {
    const char *name;
    size_t name_len;
    size_t start;     /* offset of the start tag's '<' */
    pc_role_t role;
    bool blank;       /* blank the element when its end tag is reached */
    bool by_name;     /* another pool's <add>: keep the tag and its name, blank the rest */
    size_t content;   /* by_name: offset just after the start tag's '>' */
    bool kept_app;    /* PC_SITE: an application of the pool stays */
    char *site_name;  /* PC_SITE: decoded name attribute (malloc'd), or NULL */
} pc_frame_t;

typedef struct pc_scan {
    char *buf;
    size_t len, pos;
    const wasp_config_t *cfg;
    const char *pool;   /* the pool's name as the model has it */
    pc_frame_t stack[PC_MAX_DEPTH];
    size_t depth;
    size_t blanked;     /* frames on the stack that will be blanked */
    bool seen_root;
    size_t kept_adds, kept_apps;
    char *err;
    size_t err_size;
} pc_scan_t;

static int pc_line_of(const pc_scan_t *s, size_t off)
{
    int line = 1;
    for (size_t i = 0; i < off && i < s->len; i++)
        if (s->buf[i] == '\n')
            line++;
    return line;
}

/* The scanner met something it does not expect: stop, naming the line. */
static int pc_fail(pc_scan_t *s, size_t off, const char *what)
{
    snprintf(s->err, s->err_size,
             "cannot make the pool copy of %s: %s at line %d; the file must have changed since "
             "it was loaded, or uses XML the copier does not know (load it again, or report the "
             "file)",
             s->cfg->real_path, what, pc_line_of(s, off));
    return -1;
}

static bool pc_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool pc_at(const pc_scan_t *s, size_t off, const char *lit)
{
    size_t n = strlen(lit);
    return off <= s->len && s->len - off >= n && memcmp(s->buf + off, lit, n) == 0;
}

/* Offset just past the first term at or after off, or 0 if there is none
 * (0 is never a valid answer: the term is at least one byte long). */
static size_t pc_past(const pc_scan_t *s, size_t off, const char *term)
{
    size_t n = strlen(term);
    for (size_t i = off; i < s->len && s->len - i >= n; i++)
        if (s->buf[i] == term[0] && memcmp(s->buf + i, term, n) == 0)
            return i + n;
    return 0;
}

static bool pc_name_is(const char *name, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(name, lit, len) == 0;
}

static size_t pc_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* An attribute value as libxml2 gives it to the loader: the five predefined
 * entities and character references replaced, and each literal tab, CR, LF
 * or CR LF pair turned into one space (XML 1.0 3.3.3).  NULL when the value
 * holds anything else, which the caller treats as "matches nothing". */
static char *pc_decode(const char *v, size_t len)
{
    /* Every reference is at least as long as the UTF-8 it stands for. */
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        char c = v[i];
        if (c == '\r') {
            out[o++] = ' ';
            i += (i + 1 < len && v[i + 1] == '\n') ? 2 : 1;
            continue;
        }
        if (c == '\n' || c == '\t') {
            out[o++] = ' ';
            i++;
            continue;
        }
        if (c != '&') {
            out[o++] = c;
            i++;
            continue;
        }
        const char *semi = memchr(v + i, ';', len - i);
        if (!semi)
            goto bad;
        const char *ref = v + i + 1;
        size_t rlen = (size_t)(semi - ref);
        if (rlen >= 2 && ref[0] == '#') {
            bool hex = ref[1] == 'x';
            size_t k = hex ? 2 : 1;
            if (k >= rlen)
                goto bad;
            uint32_t cp = 0;
            for (; k < rlen; k++) {
                char d = ref[k];
                uint32_t x;
                if (d >= '0' && d <= '9')
                    x = (uint32_t)(d - '0');
                else if (hex && d >= 'a' && d <= 'f')
                    x = (uint32_t)(d - 'a' + 10);
                else if (hex && d >= 'A' && d <= 'F')
                    x = (uint32_t)(d - 'A' + 10);
                else
                    goto bad;
                /* checked at every digit, so cp * 16 + 15 never overflows */
                cp = cp * (hex ? 16u : 10u) + x;
                if (cp > 0x10FFFF)
                    goto bad;
            }
            if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
                goto bad;
            o += pc_utf8(out + o, cp);
        } else if (pc_name_is(ref, rlen, "amp")) {
            out[o++] = '&';
        } else if (pc_name_is(ref, rlen, "lt")) {
            out[o++] = '<';
        } else if (pc_name_is(ref, rlen, "gt")) {
            out[o++] = '>';
        } else if (pc_name_is(ref, rlen, "quot")) {
            out[o++] = '"';
        } else if (pc_name_is(ref, rlen, "apos")) {
            out[o++] = '\'';
        } else {
            goto bad;
        }
        i = (size_t)(semi - v) + 1;
    }
    out[o] = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

/* Does the model give application `path` of site `site` to the pool?  An
 * application the model left out (no pool, a pool that does not exist, no
 * root virtual directory, a site that is not started) belongs to nobody. */
static bool pc_app_of_pool(const pc_scan_t *s, const char *site, const char *path)
{
    if (!site || !path)
        return false;
    const wasp_site_cfg_t *st = wasp_config_find_site(s->cfg, site);
    if (!st)
        return false;
    /* Application paths are collection keys compared case-insensitively,
     * so two of one site never differ by case alone. */
    for (size_t i = 0; i < st->app_count; i++)
        if (strcasecmp(st->apps[i].path, path) == 0)
            return strcasecmp(st->apps[i].pool, s->pool) == 0;
    return false;
}

/* Does the site have an application of the pool (so it stays, root and all)? */
static bool pc_site_has_pool_app(const pc_scan_t *s, const char *site)
{
    const wasp_site_cfg_t *st = site ? wasp_config_find_site(s->cfg, site) : NULL;

    for (size_t i = 0; st != NULL && i < st->app_count; i++)
        if (strcasecmp(st->apps[i].pool, s->pool) == 0)
            return true;
    return false;
}

/* Is `pool` the pool of an application in a site this pool has an
 * application in?  Such a site stays whole in the copy, so the worker maps
 * URLs to applications exactly as the listener routes them (a URL Rewrite
 * into a neighbour's application is refused, not served from the parent's
 * directory); the neighbour's pool stays by name only. */
static bool pc_pool_in_shared_site(const pc_scan_t *s, const char *pool)
{
    for (size_t i = 0; i < s->cfg->site_count; i++) {
        const wasp_site_cfg_t *st = &s->cfg->sites[i];

        if (!pc_site_has_pool_app(s, st->name))
            continue;
        for (size_t a = 0; a < st->app_count; a++)
            if (strcasecmp(st->apps[a].pool, pool) == 0)
                return true;
    }
    return false;
}

/* Overwrite [from, to) with spaces.  Line breaks stay, CR included: a file
 * with CR LF or lone CR line ends keeps them, and so its line numbers. */
static void pc_blank(pc_scan_t *s, size_t from, size_t to)
{
    for (size_t i = from; i < to && i < s->len; i++)
        if (s->buf[i] != '\n' && s->buf[i] != '\r')
            s->buf[i] = ' ';
}

static pc_role_t pc_role(const pc_scan_t *s, const char *name, size_t len)
{
    if (s->blanked)
        return PC_OTHER; /* inside an element that goes as a whole */
    pc_role_t parent = s->depth ? s->stack[s->depth - 1].role : PC_OTHER;
    switch (parent) {
    case PC_ROOT:
        if (pc_name_is(name, len, "location"))
            return PC_LOCATION;
        /* fall through */
    case PC_LOCATION:
        return pc_name_is(name, len, "system.applicationHost") ? PC_APPHOST : PC_OTHER;
    case PC_APPHOST:
        if (pc_name_is(name, len, "applicationPools"))
            return PC_POOLS;
        return pc_name_is(name, len, "sites") ? PC_SITES : PC_OTHER;
    case PC_POOLS:
        return pc_name_is(name, len, "add") ? PC_POOL_ADD : PC_OTHER;
    case PC_SITES:
        return pc_name_is(name, len, "site") ? PC_SITE : PC_OTHER;
    case PC_SITE:
        return pc_name_is(name, len, "application") ? PC_APP : PC_OTHER;
    default:
        return PC_OTHER;
    }
}

/* The element of frame f is complete (its last byte is end - 1): blank it
 * if it goes. */
static void pc_close(pc_scan_t *s, pc_frame_t *f, size_t end_tag, size_t end)
{
    if (f->role == PC_SITE && !f->kept_app)
        f->blank = true;
    if (f->by_name && end_tag > f->content)
        pc_blank(s, f->content, end_tag); /* its children: settings, variables */
    if (f->blank && f->role != PC_OTHER)
        pc_blank(s, f->start, end);
    free(f->site_name);
    f->site_name = NULL;
}

/* A start tag at s->pos ('<' followed by a name). */
static int pc_start_tag(pc_scan_t *s)
{
    size_t lt = s->pos, p = lt + 1;
    const char *name = s->buf + p;
    while (p < s->len && !pc_space(s->buf[p]) && s->buf[p] != '/' && s->buf[p] != '>' &&
           s->buf[p] != '<')
        p++;
    size_t name_len = (size_t)(s->buf + p - name);
    if (!name_len)
        return pc_fail(s, lt, "a '<' that starts no element");
    if (s->depth == 0) {
        if (s->seen_root || !pc_name_is(name, name_len, "configuration"))
            return pc_fail(s, lt, "an element outside <configuration>");
        s->seen_root = true;
    }
    if (s->depth == PC_MAX_DEPTH)
        return pc_fail(s, lt, "elements nested too deeply");

    const char *name_attr = NULL, *path_attr = NULL;
    size_t name_attr_len = 0, path_attr_len = 0;
    size_t attr_from[64], attr_to[64], attr_count = 0; /* spans of the other attributes */
    bool attrs_overflow = false;
    bool self_closing;
    for (;;) {
        while (p < s->len && pc_space(s->buf[p]))
            p++;
        if (p >= s->len)
            return pc_fail(s, lt, "a start tag that does not end");
        if (s->buf[p] == '>') {
            p++;
            self_closing = false;
            break;
        }
        if (s->buf[p] == '/') {
            if (p + 1 >= s->len || s->buf[p + 1] != '>')
                return pc_fail(s, lt, "a '/' inside a start tag");
            p += 2;
            self_closing = true;
            break;
        }
        size_t an = p;
        while (p < s->len && !pc_space(s->buf[p]) && s->buf[p] != '=' && s->buf[p] != '>' &&
               s->buf[p] != '/' && s->buf[p] != '<' && s->buf[p] != '"' && s->buf[p] != '\'')
            p++;
        size_t alen = p - an;
        if (!alen)
            return pc_fail(s, lt, "an attribute without a name");
        while (p < s->len && pc_space(s->buf[p]))
            p++;
        if (p >= s->len || s->buf[p] != '=')
            return pc_fail(s, lt, "an attribute without a value");
        p++;
        while (p < s->len && pc_space(s->buf[p]))
            p++;
        if (p >= s->len || (s->buf[p] != '"' && s->buf[p] != '\''))
            return pc_fail(s, lt, "an attribute value without quotes");
        char q = s->buf[p++];
        const char *vend = memchr(s->buf + p, q, s->len - p);
        if (!vend)
            return pc_fail(s, lt, "an attribute value that does not end");
        const char *v = s->buf + p;
        size_t vlen = (size_t)(vend - v);
        if (memchr(v, '<', vlen))
            return pc_fail(s, lt, "a '<' inside an attribute value");
        if (pc_name_is(s->buf + an, alen, "name")) {
            name_attr = v;
            name_attr_len = vlen;
        } else {
            if (pc_name_is(s->buf + an, alen, "path")) {
                path_attr = v;
                path_attr_len = vlen;
            }
            if (attr_count < 64) {
                attr_from[attr_count] = an;
                attr_to[attr_count++] = (size_t)(vend - s->buf) + 1;
            } else {
                attrs_overflow = true;
            }
        }
        p = (size_t)(vend - s->buf) + 1;
    }

    pc_frame_t *f = &s->stack[s->depth];
    *f = (pc_frame_t){ .name = name, .name_len = name_len, .start = lt };
    f->role = s->depth == 0 ? PC_ROOT : pc_role(s, name, name_len);
    char *dn = NULL, *dp = NULL;
    switch (f->role) {
    case PC_POOL_ADD:
        dn = name_attr ? pc_decode(name_attr, name_attr_len) : NULL;
        if (dn != NULL && strcasecmp(dn, s->pool) == 0) {
            s->kept_adds++;
        } else if (dn != NULL && !attrs_overflow && pc_pool_in_shared_site(s, dn)) {
            /* Another pool of a site this pool shares stays, by name
             * only: that site's applications (kept, below) still load,
             * and none of the pool's settings (identity, environment) is
             * visible. */
            f->by_name = true;
            for (size_t i = 0; i < attr_count; i++)
                pc_blank(s, attr_from[i], attr_to[i]);
        } else {
            f->blank = true;
        }
        break;
    case PC_SITE:
        f->site_name = name_attr ? pc_decode(name_attr, name_attr_len) : NULL;
        break;
    case PC_APP: {
        pc_frame_t *site = &s->stack[s->depth - 1];
        dp = path_attr ? pc_decode(path_attr, path_attr_len) : NULL;
        f->blank = !pc_app_of_pool(s, site->site_name, dp);
        if (!f->blank) {
            site->kept_app = true;
            s->kept_apps++;
        } else if (pc_site_has_pool_app(s, site->site_name)) {
            /* A site this pool serves stays whole: its other applications
             * keep the URL space mapped as the listener maps it. */
            f->blank = false;
        }
        break;
    }
    default:
        break;
    }
    free(dn);
    free(dp);
    s->pos = p;
    f->content = p;
    if (self_closing) {
        pc_close(s, f, p, p);
        return 0;
    }
    if (f->blank || f->by_name)
        s->blanked++;
    s->depth++;
    return 0;
}

/* An end tag at s->pos ("</"). */
static int pc_end_tag(pc_scan_t *s)
{
    size_t lt = s->pos, p = lt + 2;
    const char *name = s->buf + p;
    while (p < s->len && !pc_space(s->buf[p]) && s->buf[p] != '>')
        p++;
    size_t name_len = (size_t)(s->buf + p - name);
    while (p < s->len && pc_space(s->buf[p]))
        p++;
    if (p >= s->len || s->buf[p] != '>')
        return pc_fail(s, lt, "an end tag that does not end");
    p++;
    if (!s->depth)
        return pc_fail(s, lt, "an end tag without a start tag");
    pc_frame_t *f = &s->stack[s->depth - 1];
    if (f->name_len != name_len || memcmp(f->name, name, name_len) != 0)
        return pc_fail(s, lt, "an end tag that does not match its start tag");
    s->depth--;
    if (f->blank || f->by_name)
        s->blanked--;
    pc_close(s, f, lt, p);
    s->pos = p;
    return 0;
}

static int pc_scan(pc_scan_t *s)
{
    for (;;) {
        const char *lt = s->pos < s->len ? memchr(s->buf + s->pos, '<', s->len - s->pos) : NULL;
        if (!lt)
            break;
        s->pos = (size_t)(lt - s->buf);
        size_t next;
        if (pc_at(s, s->pos, "<!--")) {
            if (!(next = pc_past(s, s->pos + 4, "-->")))
                return pc_fail(s, s->pos, "a comment that does not end");
        } else if (pc_at(s, s->pos, "<![CDATA[")) {
            if (!s->depth)
                return pc_fail(s, s->pos, "CDATA outside <configuration>");
            if (!(next = pc_past(s, s->pos + 9, "]]>")))
                return pc_fail(s, s->pos, "a CDATA section that does not end");
        } else if (pc_at(s, s->pos, "<?")) {
            if (!(next = pc_past(s, s->pos + 2, "?>")))
                return pc_fail(s, s->pos, "a processing instruction that does not end");
        } else if (pc_at(s, s->pos, "<!")) {
            /* <!DOCTYPE: the loader refuses it, and its internal subset
             * could declare entities the scanner cannot follow. */
            return pc_fail(s, s->pos, "a <! declaration");
        } else if (pc_at(s, s->pos, "</")) {
            if (pc_end_tag(s) != 0)
                return -1;
            continue;
        } else {
            if (pc_start_tag(s) != 0)
                return -1;
            continue;
        }
        s->pos = next;
    }
    if (!s->seen_root)
        return pc_fail(s, s->len, "no <configuration> element");
    if (s->depth)
        return pc_fail(s, s->len, "the end of the file inside an element");
    return 0;
}


/* Replace out_path with buf: a temp file next to it, written, owned and
 * synced before the rename, so a worker starting at any moment reads either
 * the old copy or the new one, never half of one. */
static int pc_write_atomic(const char *out_path, const char *buf, size_t len, uid_t uid,
                           gid_t gid, char *err, size_t err_size)
{
    size_t n = strlen(out_path);
    char *tmp = malloc(n + sizeof(".XXXXXX"));
    if (!tmp) {
        snprintf(err, err_size, "out of memory writing %s", out_path);
        return -1;
    }
    memcpy(tmp, out_path, n);
    memcpy(tmp + n, ".XXXXXX", sizeof(".XXXXXX"));
    int fd = mkostemp(tmp, O_CLOEXEC), cfd;
    if (fd < 0) {
        snprintf(err, err_size, "cannot create a temporary file next to %s: %s", out_path,
                 strerror(errno));
        free(tmp);
        return -1;
    }
    const char *what = "set the mode of";
    /* 0600 whatever the umask; the owner is the pool's identity, which only
     * root can give. */
    if (fchmod(fd, 0600) != 0)
        goto fail;
    what = "change the owner of";
    if (geteuid() == 0 && fchown(fd, uid, gid) != 0)
        goto fail;
    what = "write";
    for (size_t done = 0; done < len;) {
        ssize_t w = write(fd, buf + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            goto fail;
        }
        done += (size_t)w;
    }
    what = "sync";
    if (fsync(fd) != 0)
        goto fail;
    what = "close";
    cfd = fd;
    fd = -1;
    if (close(cfd) != 0)
        goto fail;
    what = "rename into place";
    if (rename(tmp, out_path) != 0)
        goto fail;
    free(tmp);
    /* The rename itself reaches the disk with the directory; a failure here
     * loses nothing now, so it is not reported. */
    const char *slash = strrchr(out_path, '/');
    char *dir = slash ? strndup(out_path, slash == out_path ? 1 : (size_t)(slash - out_path))
                      : strdup(".");
    if (dir) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    return 0;
fail:
    snprintf(err, err_size, "cannot %s the pool copy %s (as %s): %s", what, out_path, tmp,
             strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    return -1;
}

int wasp_config_write_pool_copy(const wasp_config_t *cfg, const char *pool, const char *out_path,
                                uid_t uid, gid_t gid, char *err, size_t err_size)
{
    char scratch[8];
    if (!err || !err_size) {
        err = scratch;
        err_size = sizeof(scratch);
    }
    err[0] = '\0';
    if (!cfg || !pool || !out_path || !*out_path) {
        snprintf(err, err_size, "wasp_config_write_pool_copy: no configuration, pool or path");
        return -1;
    }
    const wasp_pool_cfg_t *pc = wasp_config_find_pool(cfg, pool);
    if (!pc) {
        snprintf(err, err_size, "cannot make a pool copy of %s: it has no application pool '%s'",
                 cfg->path, pool);
        return -1;
    }
    /* Pools or sites in a configSource file: the copy cannot filter what
     * it does not hold, and the worker would read that file whole. */
    const cfg_level_t *server = cfg->levels.v[0];
    for (const cfg_instance_t *in = server->sections; in; in = in->next) {
        if ((strcmp(in->decl->path, "system.applicationHost/applicationPools") == 0 ||
             strcmp(in->decl->path, "system.applicationHost/sites") == 0) &&
            strcmp(in->node->pub.file, cfg->path) != 0) {
            snprintf(err, err_size, "no pool copy of '%s' is made: %s is in the configSource "
                     "file %s, which the workers read themselves", pc->name,
                     in->decl->path, in->node->pub.file);
            return -1;
        }
    }
    /* Never write over the configuration itself. */
    struct stat a, b;
    if (stat(cfg->real_path, &a) == 0 && stat(out_path, &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino) {
        snprintf(err, err_size, "the pool copy of '%s' would replace %s itself; give another "
                 "path", pc->name, cfg->real_path);
        return -1;
    }

    pc_scan_t *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, err_size, "out of memory making the pool copy of '%s'", pc->name);
        return -1;
    }
    s->cfg = cfg;
    s->pool = pc->name;
    s->err = err;
    s->err_size = err_size;
    int rc = -1;
    wasp_diag_t rd;
    if (cfg_read_file(cfg->real_path, &s->buf, &s->len, &rd) != 0) {
        snprintf(err, err_size, "cannot make a pool copy: %s", rd.message);
        goto out;
    }
    /* The scanner reads bytes as ASCII-compatible text; a UTF-16 file (BOM
     * or NUL bytes) would look like no XML at all. */
    if (memchr(s->buf, '\0', s->len) || (s->len >= 2 && (unsigned char)s->buf[0] >= 0xFE)) {
        snprintf(err, err_size, "cannot make a pool copy of %s: it is not UTF-8 (save it as "
                 "UTF-8)", cfg->real_path);
        goto out;
    }
    if (pc_scan(s) != 0)
        goto out;

    /* The copy must still give the pool everything the model gives it: its
     * own <add> and each of its applications.  A mismatch means the bytes no
     * longer are what was loaded, or names the scanner read differently
     * (an encoding other than UTF-8). */
    size_t apps = 0;
    for (size_t i = 0; i < cfg->site_count; i++)
        for (size_t j = 0; j < cfg->sites[i].app_count; j++)
            if (strcasecmp(cfg->sites[i].apps[j].pool, pc->name) == 0)
                apps++;
    if (s->kept_adds != 1 || s->kept_apps != apps) {
        snprintf(err, err_size, "cannot make the pool copy of '%s' from %s: found %zu of its "
                 "<add> elements and %zu of its %zu applications in the file; it must have "
                 "changed since it was loaded, or is not UTF-8 (load it again)",
                 pc->name, cfg->real_path, s->kept_adds, s->kept_apps, apps);
        goto out;
    }
    rc = pc_write_atomic(out_path, s->buf, s->len, uid, gid, err, err_size);
out:
    for (size_t i = 0; i < s->depth; i++)
        free(s->stack[i].site_name);
    free(s->buf);
    free(s);
    return rc;
}
