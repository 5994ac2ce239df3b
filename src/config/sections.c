/*
 * Section declarations: which element names are configuration sections.
 *
 * IIS learns this from <configSections> (applicationHost.config declares the
 * IIS sections, machine.config the .NET ones).  wasp starts from a built-in
 * table that stands in for both files' stock declarations, then lets the
 * file's own <configSections> add sections or replace the attributes of a
 * built-in one.  That is why a file without <configSections> (a fragment, a
 * test, a hand-written config) still loads, and why an element that is in
 * neither is refused the way IIS refuses it.
 *
 * The built-in table is data, not code: one row per section, with the same
 * facts a <section> element carries (allowDefinition, overrideModeDefault).
 * When schema files arrive, their loader registers rows through the same
 * cfg_decl_t path and this table shrinks to the machine.config part.
 *
 * The second half of the file walks the top of the document: every element
 * outside <configSections> is resolved to a section (possibly through its
 * section groups) and recorded at its level, the server level or the level of
 * a <location path>.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config/cfg_internal.h"

enum {
    B_ALLOW = 0,
    B_DENY = 1,      /* overrideModeDefault="Deny" */
    B_OPAQUE = 2,    /* .NET or tool section wasp does not interpret */
    B_ANY_CHILD = 4, /* a .NET section group: every child element is a section */
};

typedef struct cfg_builtin_decl {
    const char *path;
    cfg_allow_def_t def;
    unsigned flags;
} cfg_builtin_decl_t;

#define AH CFG_DEF_APPHOST_ONLY
#define EV CFG_DEF_EVERYWHERE
#define MA CFG_DEF_MACHINE_TO_APPLICATION
#define MR CFG_DEF_MACHINE_TO_ROOT_WEB

/* IIS 10's stock applicationHost.config <configSections> (iis-modules.md
 * 1.10, iis-hosting.md 3), the sections of IIS' optional Microsoft modules
 * (URL Rewrite, ARR, ASP.NET Core Module, HttpPlatformHandler, WebDAV, FTP,
 * Web Deploy, IIS Manager's administration.config), then machine.config's
 * .NET sections, which wasp carries along without interpreting them. */
static const cfg_builtin_decl_t cfg_builtin_decls[] = {
    { "system.applicationHost/applicationPools", AH, B_DENY },
    { "system.applicationHost/configHistory", AH, B_DENY },
    { "system.applicationHost/customMetadata", AH, B_DENY },
    { "system.applicationHost/listenerAdapters", AH, B_DENY },
    { "system.applicationHost/log", AH, B_DENY },
    { "system.applicationHost/preloadProviders", AH, B_DENY },
    { "system.applicationHost/serviceAutoStartProviders", AH, B_DENY },
    { "system.applicationHost/sites", AH, B_DENY },
    { "system.applicationHost/webLimits", AH, B_DENY },

    /* wasp's own: HTTP.sys' registry parameters (config.h). */
    { "wasp/httpSys", AH, B_DENY },
    /* wasp's admin binding: /metrics (docs/operations.md). */
    { "wasp/admin", AH, B_DENY },
    /* wasp's own: case-insensitive file lookup of a site (docs). */
    { "wasp/fileLookup", EV, B_DENY },

    { "system.webServer/applicationInitialization", MA, B_ALLOW },
    { "system.webServer/asp", EV, B_DENY },
    { "system.webServer/aspNetCore", EV, B_ALLOW },
    { "system.webServer/caching", EV, B_ALLOW },
    { "system.webServer/cgi", EV, B_DENY },
    { "system.webServer/defaultDocument", EV, B_ALLOW },
    { "system.webServer/directoryBrowse", EV, B_ALLOW },
    { "system.webServer/diskCache", AH, B_DENY },
    { "system.webServer/fastCgi", AH, B_DENY },
    { "system.webServer/globalModules", AH, B_DENY },
    { "system.webServer/handlers", EV, B_DENY },
    { "system.webServer/httpCompression", EV, B_ALLOW },
    { "system.webServer/httpErrors", EV, B_ALLOW },
    { "system.webServer/httpLogging", EV, B_DENY },
    { "system.webServer/httpPlatform", EV, B_ALLOW },
    { "system.webServer/httpProtocol", EV, B_ALLOW },
    { "system.webServer/httpRedirect", EV, B_ALLOW },
    { "system.webServer/httpTracing", EV, B_DENY },
    { "system.webServer/isapiFilters", MA, B_DENY },
    { "system.webServer/management/authentication", AH, B_DENY },
    { "system.webServer/management/authorization", AH, B_DENY },
    { "system.webServer/management/delegation", AH, B_DENY },
    { "system.webServer/management/trustedProviders", AH, B_DENY },
    { "system.webServer/modules", MA, B_DENY },
    { "system.webServer/odbcLogging", EV, B_DENY },
    { "system.webServer/proxy", AH, B_DENY },
    { "system.webServer/rewrite/allowedServerVariables", EV, B_DENY },
    { "system.webServer/rewrite/globalRules", AH, B_DENY },
    { "system.webServer/rewrite/outboundRules", EV, B_ALLOW },
    { "system.webServer/rewrite/providers", EV, B_ALLOW },
    { "system.webServer/rewrite/rewriteMaps", EV, B_ALLOW },
    { "system.webServer/rewrite/rules", EV, B_ALLOW },
    { "system.webServer/security/access", EV, B_DENY },
    { "system.webServer/security/applicationDependencies", EV, B_DENY },
    { "system.webServer/security/authentication/anonymousAuthentication", EV, B_DENY },
    { "system.webServer/security/authentication/basicAuthentication", EV, B_DENY },
    { "system.webServer/security/authentication/clientCertificateMappingAuthentication", EV,
      B_DENY },
    { "system.webServer/security/authentication/digestAuthentication", EV, B_DENY },
    { "system.webServer/security/authentication/iisClientCertificateMappingAuthentication", EV,
      B_DENY },
    { "system.webServer/security/authentication/windowsAuthentication", EV, B_DENY },
    { "system.webServer/security/authorization", EV, B_ALLOW },
    { "system.webServer/security/dynamicIpSecurity", EV, B_DENY },
    { "system.webServer/security/ipSecurity", EV, B_DENY },
    { "system.webServer/security/isapiCgiRestriction", AH, B_DENY },
    { "system.webServer/security/requestFiltering", EV, B_ALLOW },
    { "system.webServer/serverRuntime", EV, B_DENY },
    { "system.webServer/serverSideInclude", EV, B_DENY },
    { "system.webServer/staticContent", EV, B_ALLOW },
    { "system.webServer/tracing/traceFailedRequests", EV, B_ALLOW },
    { "system.webServer/tracing/traceProviderDefinitions", EV, B_DENY },
    { "system.webServer/urlCompression", EV, B_ALLOW },
    { "system.webServer/validation", EV, B_ALLOW },
    { "system.webServer/wdeploy/backup", MA, B_DENY },
    { "system.webServer/webdav/authoring", EV, B_DENY },
    { "system.webServer/webdav/authoringRules", EV, B_DENY },
    { "system.webServer/webdav/globalSettings", EV, B_DENY },
    { "system.webServer/webSocket", EV, B_DENY },

    { "system.ftpServer/caching", AH, B_DENY | B_OPAQUE },
    { "system.ftpServer/firewallSupport", AH, B_DENY | B_OPAQUE },
    { "system.ftpServer/log", AH, B_DENY | B_OPAQUE },
    { "system.ftpServer/providerDefinitions", EV, B_DENY | B_OPAQUE },
    { "system.ftpServer/security/authentication", EV, B_DENY | B_OPAQUE },
    { "system.ftpServer/security/authorization", EV, B_DENY | B_OPAQUE },
    { "system.ftpServer/security/ipSecurity", EV, B_DENY | B_OPAQUE },
    { "system.ftpServer/security/requestFiltering", EV, B_DENY | B_OPAQUE },
    { "system.ftpServer/serverRuntime", AH, B_DENY | B_OPAQUE },
    { "webFarms", AH, B_DENY | B_OPAQUE },
    /* administration.config / redirection.config */
    { "configurationRedirection", CFG_DEF_MACHINE_ONLY, B_DENY | B_OPAQUE },
    { "moduleProviders", AH, B_DENY | B_OPAQUE },
    { "modules", AH, B_DENY | B_OPAQUE },

    /* machine.config (.NET Framework 4): sections */
    { "appSettings", EV, B_OPAQUE },
    { "assemblyBinding", EV, B_OPAQUE },
    { "configBuilders", EV, B_OPAQUE },
    { "configProtectedData", EV, B_OPAQUE },
    { "connectionStrings", EV, B_OPAQUE },
    { "mscorlib", EV, B_OPAQUE },
    { "runtime", EV, B_OPAQUE },
    { "satelliteassemblies", EV, B_OPAQUE },
    { "startup", EV, B_OPAQUE },
    { "system.codedom", EV, B_OPAQUE },
    { "system.data", EV, B_OPAQUE },
    { "system.data.dataset", EV, B_OPAQUE },
    { "system.data.odbc", EV, B_OPAQUE },
    { "system.data.oledb", EV, B_OPAQUE },
    { "system.data.oracleclient", EV, B_OPAQUE },
    { "system.data.sqlclient", EV, B_OPAQUE },
    { "system.diagnostics", EV, B_OPAQUE },
    { "system.runtime.remoting", EV, B_OPAQUE },
    { "system.windows.forms", EV, B_OPAQUE },
    { "uri", EV, B_OPAQUE },
    { "windows", EV, B_OPAQUE },
    /* machine.config: section groups, taken whole */
    { "system.identityModel", EV, B_OPAQUE | B_ANY_CHILD },
    { "system.identityModel.services", EV, B_OPAQUE | B_ANY_CHILD },
    { "system.net", EV, B_OPAQUE | B_ANY_CHILD },
    { "system.runtime.caching", EV, B_OPAQUE | B_ANY_CHILD },
    { "system.runtime.serialization", EV, B_OPAQUE | B_ANY_CHILD },
    { "system.serviceModel", EV, B_OPAQUE | B_ANY_CHILD },
    { "system.serviceModel.activation", EV, B_OPAQUE | B_ANY_CHILD },
    { "system.transactions", EV, B_OPAQUE | B_ANY_CHILD },
    { "system.web", EV, B_OPAQUE | B_ANY_CHILD },
    { "system.web.extensions", EV, B_OPAQUE | B_ANY_CHILD },
    { "system.xml.serialization", EV, B_OPAQUE | B_ANY_CHILD },
};

#undef AH
#undef EV
#undef MA
#undef MR

const cfg_decl_t *cfg_lookup_decl(const wasp_config_t *cfg, const char *path)
{
    return cfg_map_get(&cfg->decls, 0, path, strlen(path));
}

/* Register every proper prefix of path as a section group. */
static int cfg_declare_groups(wasp_config_t *cfg, const char *path, wasp_diag_t *diag,
                              const char *file, int line)
{
    for (const char *p = strchr(path, '/'); p; p = strchr(p + 1, '/')) {
        size_t len = (size_t)(p - path);
        cfg_decl_t *g = cfg_map_get(&cfg->decls, 0, path, len);
        if (g) {
            if (!g->is_group) {
                cfg_diag(diag, file, line,
                         "'%.*s' is declared as a section (%s:%d), so it cannot also be a "
                         "section group containing '%s'",
                         (int)len, path, g->file ? g->file : "built in", g->line, path);
                return -1;
            }
            continue;
        }
        g = cfg_arena_alloc(&cfg->arena, sizeof(*g));
        g->path = cfg_arena_strndup(&cfg->arena, path, len);
        g->is_group = true;
        g->allow_location = true;
        g->file = file;
        g->line = line;
        cfg_map_put(&cfg->decls, 0, g->path, len, g);
    }
    return 0;
}

void cfg_builtin_declarations(wasp_config_t *cfg)
{
    size_t n = sizeof(cfg_builtin_decls) / sizeof(cfg_builtin_decls[0]);
    for (size_t i = 0; i < n; i++) {
        const cfg_builtin_decl_t *b = &cfg_builtin_decls[i];
        cfg_decl_t *d = cfg_arena_alloc(&cfg->arena, sizeof(*d));
        d->path = b->path;
        d->is_group = (b->flags & B_ANY_CHILD) != 0;
        d->any_child = (b->flags & B_ANY_CHILD) != 0;
        d->opaque = (b->flags & B_OPAQUE) != 0;
        d->allow_definition = b->def;
        d->override_deny = (b->flags & B_DENY) != 0;
        d->allow_location = true;
        (void)cfg_declare_groups(cfg, d->path, NULL, NULL, 0); /* the table is consistent */
        cfg_map_put(&cfg->decls, 0, d->path, strlen(d->path), d);
    }
}

/* ---- <configSections> ------------------------------------------------------ */

static const char *const cfg_allow_def_names[] = {
    "Everywhere", "MachineOnly", "MachineToRootWeb", "MachineToApplication", "AppHostOnly", NULL
};

int cfg_section_decl(const wasp_section_t *c, const char *path, cfg_decl_t *nd, wasp_diag_t *diag)
{
    nd->path = path;
    nd->allow_location = true;
    nd->file = c->file;
    nd->line = c->line;
    int aline;
    const char *v = cfg_node_attr_line(c, "allowDefinition", &aline);
    if (v) {
        /* .NET spells it MachineToWebRoot (IIS' administration.config
         * uses that), IIS documentation MachineToRootWeb: same level. */
        int k = strcasecmp(v, "MachineToWebRoot") == 0 ? (int)CFG_DEF_MACHINE_TO_ROOT_WEB
                                                       : cfg_parse_enum(v, cfg_allow_def_names);
        if (k < 0) {
            cfg_diag(diag, c->file, aline,
                     "allowDefinition=\"%s\" of section '%s' is not valid; use "
                     "Everywhere, MachineOnly, MachineToWebRoot, MachineToApplication or "
                     "AppHostOnly",
                     v, path);
            return -1;
        }
        nd->allow_definition = (cfg_allow_def_t)k;
    }
    v = cfg_node_attr_line(c, "overrideModeDefault", &aline);
    if (v) {
        static const char *const modes[] = { "Allow", "Deny", NULL };
        int k = cfg_parse_enum(v, modes);
        if (k < 0) {
            cfg_diag(diag, c->file, aline,
                     "overrideModeDefault=\"%s\" of section '%s' is not valid; use Allow or "
                     "Deny",
                     v, path);
            return -1;
        }
        nd->override_deny = k == 1;
    }
    v = cfg_node_attr_line(c, "allowLocation", &aline);
    if (v && !cfg_parse_bool(v, &nd->allow_location)) {
        cfg_diag(diag, c->file, aline,
                 "allowLocation=\"%s\" of section '%s' is not valid; use true or false", v,
                 path);
        return -1;
    }
    nd->type = wasp_section_attr(c, "type");
    return 0;
}

static int cfg_read_decls(wasp_config_t *cfg, const wasp_section_t *el, const char *prefix,
                          cfg_map_t *seen, wasp_diag_t *diag)
{
    for (size_t i = 0; i < el->child_count; i++) {
        const wasp_section_t *c = el->children[i];
        bool group = strcmp(c->name, "sectionGroup") == 0;
        if (!group && strcmp(c->name, "section") != 0) {
            cfg_warn(cfg, c->file, c->line,
                     "<%s> is not understood inside <configSections> (only <section> and "
                     "<sectionGroup> are); it is ignored",
                     c->name);
            continue;
        }
        int nline;
        const char *name = cfg_node_attr_line(c, "name", &nline);
        if (!name || !*name || strchr(name, '/')) {
            cfg_diag(diag, c->file, c->line,
                     "<%s> needs a name attribute without '/', e.g. <%s name=\"%s\" />", c->name,
                     c->name, group ? "system.webServer" : "staticContent");
            return -1;
        }
        const char *path = *prefix ? cfg_arena_printf(&cfg->arena, "%s/%s", prefix, name)
                                   : cfg_arena_strdup(&cfg->arena, name);
        const wasp_section_t *prev = cfg_map_get(seen, 0, path, strlen(path));
        if (prev && !(group && strcmp(prev->name, "sectionGroup") == 0)) {
            cfg_diag(diag, c->file, c->line,
                     "Section or group name '%s' is already defined (line %d); remove one of "
                     "the two declarations",
                     path, prev->line);
            return -1;
        }
        cfg_map_put(seen, 0, path, strlen(path), (void *)c);

        cfg_decl_t *d = cfg_map_get(&cfg->decls, 0, path, strlen(path));
        if (group) {
            if (d && !d->is_group && !d->file) {
                /* A file turning a built-in .NET section into a group: its
                 * own declarations win. */
                d = NULL;
            } else if (d && !d->is_group) {
                cfg_diag(diag, c->file, c->line,
                         "'%s' is already declared as a section (%s:%d), so it cannot be a "
                         "section group",
                         path, d->file, d->line);
                return -1;
            }
            if (!d) {
                d = cfg_arena_alloc(&cfg->arena, sizeof(*d));
                d->path = path;
                d->is_group = true;
                d->allow_location = true;
                d->file = c->file;
                d->line = c->line;
                cfg_map_put(&cfg->decls, 0, path, strlen(path), d);
            }
            if (cfg_declare_groups(cfg, path, diag, c->file, c->line) != 0)
                return -1;
            if (cfg_read_decls(cfg, c, path, seen, diag) != 0)
                return -1;
            continue;
        }

        if (d && d->is_group && d->file) {
            cfg_diag(diag, c->file, c->line,
                     "'%s' is already declared as a section group (%s:%d), so it cannot be a "
                     "section",
                     path, d->file, d->line);
            return -1;
        }
        cfg_decl_t *nd = cfg_arena_alloc(&cfg->arena, sizeof(*nd));
        /* A section wasp has no built-in row for is carried, not interpreted. */
        nd->opaque = d ? d->opaque : true;
        nd->allow_definition = d ? d->allow_definition : CFG_DEF_EVERYWHERE;
        nd->override_deny = d ? d->override_deny : false;
        if (cfg_section_decl(c, path, nd, diag) != 0)
            return -1;
        if (cfg_declare_groups(cfg, path, diag, c->file, c->line) != 0)
            return -1;
        cfg_map_put(&cfg->decls, 0, path, strlen(path), nd);
    }
    return 0;
}

int cfg_read_config_sections(wasp_config_t *cfg, wasp_diag_t *diag)
{
    const wasp_section_t *first = NULL;
    cfg_map_t seen;
    cfg_map_init(&seen, false);
    int rc = 0;
    for (size_t i = 0; i < cfg->root->pub.child_count && rc == 0; i++) {
        const wasp_section_t *c = cfg->root->pub.children[i];
        if (strcmp(c->name, "configSections") != 0)
            continue;
        if (first) {
            cfg_diag(diag, c->file, c->line,
                     "Only one <configSections> element is allowed per config file (the first "
                     "is at line %d); merge them into one",
                     first->line);
            rc = -1;
            break;
        }
        first = c;
        rc = cfg_read_decls(cfg, c, "", &seen, diag);
    }
    cfg_map_free(&seen);
    return rc;
}

/* Resolve a section path, creating the declaration of a child of a .NET
 * group (machine.config declares far more of them than wasp needs to list). */
const cfg_decl_t *cfg_resolve_decl(wasp_config_t *cfg, const char *path)
{
    const cfg_decl_t *d = cfg_lookup_decl(cfg, path);
    if (d)
        return d;
    const char *slash = strrchr(path, '/');
    if (!slash)
        return NULL;
    const cfg_decl_t *g = cfg_map_get(&cfg->decls, 0, path, (size_t)(slash - path));
    if (!g || !g->any_child)
        return NULL;
    cfg_decl_t *nd = cfg_arena_alloc(&cfg->arena, sizeof(*nd));
    nd->path = path;
    nd->opaque = true;
    nd->allow_location = true;
    nd->allow_definition = g->allow_definition;
    cfg_map_put(&cfg->decls, 0, nd->path, strlen(nd->path), nd);
    return nd;
}

bool wasp_config_section_known(const wasp_config_t *cfg, const char *section_path)
{
    if (!cfg || !section_path)
        return false;
    const cfg_decl_t *d = cfg_lookup_decl(cfg, section_path);
    if (d)
        return !d->is_group;
    const char *slash = strrchr(section_path, '/');
    if (!slash)
        return false;
    const cfg_decl_t *g = cfg_map_get(&cfg->decls, 0, section_path, (size_t)(slash - section_path));
    return g && g->any_child;
}

/* ---- finding the sections of the document ---------------------------------- */

typedef struct cfg_scope {
    cfg_level_t *level;
    bool inherit;
    cfg_override_mode_t mode;
    const wasp_section_t *location; /* NULL at the top level */
} cfg_scope_t;

/* configSource's value as a path relative to the file that names it,
 * backslashes made slashes; NULL if it is empty, absolute, has a drive or
 * climbs ('..'): IIS' rule for applicationHost.config and web.config alike. */
char *cfg_config_source_rel(cfg_arena_t *arena, const char *src)
{
    char *rel = cfg_arena_strdup(arena, src);
    bool bad;

    if (rel == NULL)
        return NULL;
    for (char *p = rel; *p; p++)
        if (*p == '\\')
            *p = '/';
    bad = !*rel || rel[0] == '/' || strchr(rel, ':') != NULL;
    for (const char *p = rel; !bad && *p;) {
        const char *s = p;
        while (*p && *p != '/')
            p++;
        bad = (p - s == 2 && s[0] == '.' && s[1] == '.') || p == s;
        if (*p)
            p++;
    }
    return bad ? NULL : rel;
}

/* configSource="file" on a section of applicationHost.config (IIS'
 * iis-hosting.md 6.10, the rules web.config files follow too): the content
 * comes from a file in the same directory or below, whose root element is
 * the section itself; the section element carries nothing else.  *node
 * becomes that root element (its nodes name the file, so messages give its
 * lines), and the file is recorded for whoever watches the configuration. */
static int cfg_config_source(wasp_config_t *cfg, const wasp_section_t *el, const char *src,
                             int line, cfg_node_t **node, wasp_diag_t *diag)
{
    for (size_t i = 0; i < el->attr_count; i++) {
        const char *an = el->attrs[i].name;
        if (strcmp(an, "configSource") != 0 && strcmp(an, "xmlns") != 0 &&
            strncmp(an, "xmlns:", 6) != 0) {
            cfg_diag(diag, el->file, el->attrs[i].line,
                     "A section using 'configSource' may contain no other attributes or "
                     "elements: remove '%s' here (or put it in %s)",
                     an, src);
            return -1;
        }
    }
    if (el->child_count) {
        cfg_diag(diag, el->file, el->children[0]->line,
                 "A section using 'configSource' may contain no other attributes or elements: "
                 "move <%s> into %s",
                 el->children[0]->name, src);
        return -1;
    }
    char *rel = cfg_config_source_rel(&cfg->arena, src);
    if (rel == NULL) {
        cfg_diag(diag, el->file, line,
                 "The configSource attribute must be a relative physical path to a file in the "
                 "same directory as this file or below it (\"%s\" is not); no '..', no "
                 "absolute path",
                 src);
        return -1;
    }
    char *full = cfg_arena_printf(&cfg->arena, "%s/%s", strcmp(cfg->dir, "/") ? cfg->dir : "",
                                  rel);
    if (access(full, F_OK) != 0 && (errno == ENOENT || errno == ENOTDIR)) {
        cfg_diag(diag, el->file, line,
                 "Unable to open configSource file '%s': %s does not exist. Create it, or "
                 "remove configSource and write the section here",
                 src, full);
        return -1;
    }
    cfg_vec_push(&cfg->sources, full);
    return cfg_xml_parse(&cfg->arena, full, full, el->name, "a configSource file", node, diag);
}

static int cfg_add_instance(wasp_config_t *cfg, const cfg_scope_t *sc, const cfg_decl_t *d,
                            wasp_section_t *el, wasp_diag_t *diag)
{
    /* Where a section may be set.  Locks do not apply inside one file
     * (locking.c); allowDefinition="MachineToApplication" is checked once the
     * application roots are known (cfg_check_definitions). */
    if (sc->location && !d->allow_location) {
        cfg_diag(diag, el->file, el->line,
                 "The configuration section '%s' cannot be used in a <location> tag (its "
                 "declaration says allowLocation=\"false\"); move it to the top level",
                 d->path);
        return -1;
    }
    if ((d->allow_definition == CFG_DEF_APPHOST_ONLY ||
         d->allow_definition == CFG_DEF_MACHINE_ONLY ||
         d->allow_definition == CFG_DEF_MACHINE_TO_ROOT_WEB) &&
        sc->level != cfg->levels.v[0]) {
        cfg_diag(diag, el->file, el->line,
                 "The configuration section '%s' can only be set for the whole server "
                 "(allowDefinition=\"%s\"), not for a site or URL; move it out of the "
                 "<location> tag, to the top level of applicationHost.config",
                 d->path,
                 d->allow_definition == CFG_DEF_APPHOST_ONLY    ? "AppHostOnly"
                 : d->allow_definition == CFG_DEF_MACHINE_ONLY ? "MachineOnly"
                                                               : "MachineToWebRoot");
        return -1;
    }
    cfg_instance_t **tail = &sc->level->sections;
    for (; *tail; tail = &(*tail)->next) {
        if (strcmp((*tail)->decl->path, d->path) == 0) {
            cfg_diag(diag, el->file, el->line,
                     "There is a duplicate '%s' section defined (first at line %d); a section "
                     "may appear once per location path in a file (the top level and "
                     "<location path=\"\"> are the same path): merge the two",
                     d->path, (*tail)->node->pub.line);
            return -1;
        }
    }
    int line;
    const char *src = cfg_node_attr_line(el, "configSource", &line);
    cfg_node_t *node = cfg_node(el);
    if (src && cfg_config_source(cfg, el, src, line, &node, diag) != 0)
        return -1;
    cfg_instance_t *in = cfg_arena_alloc(&cfg->arena, sizeof(*in));
    in->decl = d;
    in->node = node;
    in->inherit_in_child_apps = sc->inherit;
    in->override_mode = sc->mode;
    in->location = sc->location;
    *tail = in;
    return 0;
}

static int cfg_walk_element(wasp_config_t *cfg, const cfg_scope_t *sc, const char *prefix,
                            wasp_section_t *el, wasp_diag_t *diag)
{
    const char *path = *prefix ? cfg_arena_printf(&cfg->arena, "%s/%s", prefix, el->name)
                               : el->name;
    const cfg_decl_t *d = cfg_resolve_decl(cfg, path);
    if (!d) {
        cfg_diag(diag, el->file, el->line,
                 "Unrecognized configuration section '%s': the configuration section '%s' "
                 "cannot be read because it is missing a section declaration. Declare it in "
                 "<configSections>, or remove it (a misspelt name, or a section of a module "
                 "wasp does not have)",
                 path, el->name);
        return -1;
    }
    if (!d->is_group)
        return cfg_add_instance(cfg, sc, d, el, diag);
    if (el->attr_count)
        cfg_warn(cfg, el->file, el->attrs[0].line,
                 "'%s' is a section group, which holds no settings: attribute '%s' is ignored "
                 "(settings belong on the sections inside the group)",
                 path, el->attrs[0].name);
    for (size_t i = 0; i < el->child_count; i++)
        if (cfg_walk_element(cfg, sc, path, el->children[i], diag) != 0)
            return -1;
    return 0;
}

int cfg_location_mode(const wasp_section_t *el, cfg_override_mode_t *mode, wasp_diag_t *diag)
{
    int line, aline;
    const char *om = cfg_node_attr_line(el, "overrideMode", &line);
    const char *ao = cfg_node_attr_line(el, "allowOverride", &aline);
    *mode = CFG_OVERRIDE_INHERIT;
    if (om && ao) {
        cfg_diag(diag, el->file, line,
                 "a <location> may have overrideMode or the older allowOverride, not both; "
                 "keep overrideMode");
        return -1;
    }
    if (om) {
        static const char *const modes[] = { "Inherit", "Allow", "Deny", NULL };
        int k = cfg_parse_enum(om, modes);
        if (k < 0) {
            cfg_diag(diag, el->file, line,
                     "overrideMode=\"%s\" is not valid; use Allow, Deny or Inherit", om);
            return -1;
        }
        *mode = (cfg_override_mode_t)k;
    } else if (ao) {
        bool allow;
        if (!cfg_parse_bool(ao, &allow)) {
            cfg_diag(diag, el->file, aline,
                     "allowOverride=\"%s\" is not valid; use true or false (or, better, "
                     "overrideMode=\"Allow\" / \"Deny\")",
                     ao);
            return -1;
        }
        *mode = allow ? CFG_OVERRIDE_ALLOW : CFG_OVERRIDE_DENY;
    }
    return 0;
}

int cfg_check_definitions(wasp_config_t *cfg, wasp_diag_t *diag)
{
    for (size_t i = 1; i < cfg->levels.n; i++) {
        const cfg_level_t *lv = cfg->levels.v[i];
        if (lv->is_app_root)
            continue;
        /* Only paths of a site wasp knows (its root level is an application
         * root); a <location> for another site's paths is never used. */
        const cfg_level_t *site = lv;
        while (site->parent && site->parent->parent)
            site = site->parent;
        if (!site->is_app_root)
            continue;
        for (const cfg_instance_t *in = lv->sections; in; in = in->next) {
            if (in->decl->allow_definition != CFG_DEF_MACHINE_TO_APPLICATION)
                continue;
            cfg_diag(diag, in->node->pub.file, in->node->pub.line,
                     "The configuration section '%s' can only be set for the server, a site or "
                     "an application root (allowDefinition=\"MachineToApplication\"), and this "
                     "<location> names a path below an application; set it at the "
                     "application's path, or make that path an application",
                     in->decl->path);
            return -1;
        }
    }
    return 0;
}

/* <location path="Site/app/dir"> → its level; "", "." and "/" = server. */
static cfg_level_t *cfg_location_level(wasp_config_t *cfg, const char *path)
{
    cfg_level_t *lv = cfg->levels.v[0];
    const char *p = path;
    while (*p) {
        while (*p == '/' || *p == '\\')
            p++;
        const char *s = p;
        while (*p && *p != '/' && *p != '\\')
            p++;
        size_t len = (size_t)(p - s);
        if (!len || (len == 1 && s[0] == '.'))
            continue;
        lv = cfg_level_child(cfg, lv, s, len, true);
    }
    return lv;
}

int cfg_find_sections(wasp_config_t *cfg, wasp_diag_t *diag)
{
    const wasp_section_t *root = &cfg->root->pub;
    cfg_scope_t top = { .level = cfg->levels.v[0], .inherit = true };
    for (size_t i = 0; i < root->child_count; i++) {
        wasp_section_t *el = root->children[i];
        if (strcmp(el->name, "configSections") == 0)
            continue;
        if (strcmp(el->name, "location") != 0) {
            if (cfg_walk_element(cfg, &top, "", el, diag) != 0)
                return -1;
            continue;
        }
        const char *path = wasp_section_attr(el, "path");
        cfg_scope_t sc = { .level = cfg_location_level(cfg, path ? path : "."), .inherit = true,
                           .location = el };
        if (cfg_location_mode(el, &sc.mode, diag) != 0)
            return -1;
        int line;
        const char *inh = cfg_node_attr_line(el, "inheritInChildApplications", &line);
        if (inh && !cfg_parse_bool(inh, &sc.inherit)) {
            cfg_diag(diag, el->file, line,
                     "inheritInChildApplications=\"%s\" is not valid; use true or false", inh);
            return -1;
        }
        if (sc.level != cfg->levels.v[0])
            sc.level->is_location = true;
        for (size_t j = 0; j < el->child_count; j++) {
            wasp_section_t *c = el->children[j];
            if (strcmp(c->name, "location") == 0 || strcmp(c->name, "configSections") == 0) {
                cfg_diag(diag, c->file, c->line,
                         "<%s> cannot be placed inside a <location>; move it to the top level "
                         "of <configuration>",
                         c->name);
                return -1;
            }
            if (cfg_walk_element(cfg, &sc, "", c, diag) != 0)
                return -1;
        }
    }
    return 0;
}
