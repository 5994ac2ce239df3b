/*
 * The built-in collection schema table: for each collection wasp knows, the
 * facts an IIS schema file gives in its <collection> element — where the
 * collection is, the names of its add / remove / clear directives, its key
 * attributes and whether lower levels append or prepend (mergeAppend).
 *
 * It is the seed of the schema system.  A row here and a <collection> in a
 * schema file fill the same cfg_coll_schema_t, registered in cfg->colls under
 * "section|element path"; when wasp reads schema files, their loader calls
 * cfg_register_collection() and the rows below go away one section at a time.
 *
 * Element paths are written from the section element down, naming collection
 * items by their add element: "site/application" is the application
 * collection inside each <site> of system.applicationHost/sites.
 *
 * Key specs: "name" (compared case-insensitively, the schema default),
 * "!name" (caseSensitive="true"), "subStatusCode=-1" (value of an absent
 * key attribute: its schema default).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg_internal.h"

enum { C_PREPEND = 1, C_DUPS = 2 };

typedef struct cfg_coll_row {
    const char *section, *element, *add, *remove, *clear, *keys;
    unsigned flags;
} cfg_coll_row_t;

#define RM "remove"
#define CL "clear"

static const cfg_coll_row_t cfg_coll_rows[] = {
    /* system.applicationHost */
    { "system.applicationHost/applicationPools", "", "add", NULL, NULL, "name", 0 },
    { "system.applicationHost/applicationPools", "add/environmentVariables", "add", RM, NULL,
      "name", 0 },
    { "system.applicationHost/applicationPools", "applicationPoolDefaults/environmentVariables",
      "add", RM, NULL, "name", 0 },
    { "system.applicationHost/applicationPools", "add/recycling/periodicRestart/schedule", "add",
      NULL, CL, "value", 0 },
    { "system.applicationHost/applicationPools",
      "applicationPoolDefaults/recycling/periodicRestart/schedule", "add", NULL, CL, "value", 0 },
    { "system.applicationHost/customMetadata", "", "key", NULL, NULL, "path", 0 },
    { "system.applicationHost/customMetadata", "key", "property", NULL, NULL, "id", 0 },
    { "system.applicationHost/listenerAdapters", "", "add", NULL, NULL, "name", 0 },
    { "system.applicationHost/serviceAutoStartProviders", "", "add", RM, CL, "!name", 0 },
    /* sites: the id, the second unique key, is checked by the model (apphost.c) */
    { "system.applicationHost/sites", "", "site", NULL, NULL, "name", 0 },
    { "system.applicationHost/sites", "site", "application", NULL, NULL, "path", 0 },
    { "system.applicationHost/sites", "site/application", "virtualDirectory", NULL, NULL, "path",
      0 },
    { "system.applicationHost/sites", "site/bindings", "binding", NULL, CL,
      "protocol,bindingInformation", 0 },
    { "system.applicationHost/sites", "siteDefaults/bindings", "binding", NULL, CL,
      "protocol,bindingInformation", 0 },
    { "system.applicationHost/sites", "site/logFile/customFields", "add", NULL, CL,
      "logFieldName", 0 },
    { "system.applicationHost/sites", "siteDefaults/logFile/customFields", "add", NULL, CL,
      "logFieldName", 0 },

    /* system.webServer */
    { "system.webServer/applicationInitialization", "", "add", RM, CL, "initializationPage", 0 },
    { "system.webServer/caching", "profiles", "add", RM, CL, "extension", C_PREPEND },
    { "system.webServer/defaultDocument", "files", "add", RM, CL, "value", C_PREPEND },
    { "system.webServer/fastCgi", "", "application", NULL, NULL, "fullPath,arguments", 0 },
    { "system.webServer/fastCgi", "application/environmentVariables", "environmentVariable",
      NULL, NULL, "name", 0 },
    { "system.webServer/globalModules", "", "add", RM, CL, "!name", 0 },
    { "system.webServer/handlers", "", "add", RM, CL, "!name", C_PREPEND },
    { "system.webServer/httpCompression", "", "scheme", RM, CL, "name", 0 },
    { "system.webServer/httpCompression", "staticTypes", "add", RM, CL, "mimeType", 0 },
    { "system.webServer/httpCompression", "dynamicTypes", "add", RM, CL, "mimeType", 0 },
    { "system.webServer/httpErrors", "", "error", RM, CL, "statusCode,subStatusCode=-1", 0 },
    { "system.webServer/httpProtocol", "customHeaders", "add", RM, CL, "name", 0 },
    { "system.webServer/httpProtocol", "redirectHeaders", "add", RM, CL, "name", 0 },
    { "system.webServer/httpRedirect", "", "add", RM, CL, "wildcard", 0 },
    { "system.webServer/httpTracing", "traceUrls", "add", RM, CL, "value", 0 },
    { "system.webServer/isapiFilters", "", "filter", RM, CL, "!name", 0 },
    { "system.webServer/modules", "", "add", RM, CL, "!name", 0 },
    { "system.webServer/security/authentication/windowsAuthentication", "providers", "add", RM,
      CL, "value", 0 },
    { "system.webServer/security/authentication/windowsAuthentication", "extendedProtection",
      "spn", "removeSpn", "clearSpns", "name", 0 },
    { "system.webServer/security/authorization", "", "add", RM, CL, "users,roles,!verbs", 0 },
    { "system.webServer/security/ipSecurity", "", "add", RM, CL,
      "ipAddress,subnetMask=255.255.255.255,domainName", 0 },
    { "system.webServer/security/isapiCgiRestriction", "", "add", RM, CL, "path", 0 },
    { "system.webServer/security/requestFiltering", "fileExtensions", "add", RM, CL,
      "fileExtension", 0 },
    { "system.webServer/security/requestFiltering", "requestLimits/headerLimits", "add", RM, CL,
      "header", 0 },
    { "system.webServer/security/requestFiltering", "verbs", "add", RM, CL, "!verb", 0 },
    { "system.webServer/security/requestFiltering", "hiddenSegments", "add", RM, CL, "segment",
      0 },
    { "system.webServer/security/requestFiltering", "alwaysAllowedUrls", "add", RM, CL, "url",
      0 },
    { "system.webServer/security/requestFiltering", "alwaysAllowedQueryStrings", "add", RM, CL,
      "queryString", 0 },
    { "system.webServer/security/requestFiltering", "denyUrlSequences", "add", RM, CL,
      "sequence", 0 },
    { "system.webServer/security/requestFiltering", "denyQueryStringSequences", "add", RM, CL,
      "sequence", 0 },
    { "system.webServer/security/requestFiltering", "filteringRules", "filteringRule", RM, CL,
      "name", 0 },
    { "system.webServer/security/requestFiltering", "filteringRules/filteringRule/scanHeaders",
      "add", RM, CL, "requestHeader", 0 },
    { "system.webServer/security/requestFiltering", "filteringRules/filteringRule/appliesTo",
      "add", RM, CL, "fileExtension", 0 },
    { "system.webServer/security/requestFiltering", "filteringRules/filteringRule/denyStrings",
      "add", RM, CL, "string", 0 },
    { "system.webServer/staticContent", "", "mimeMap", RM, CL, "fileExtension", 0 },
    { "system.webServer/tracing/traceFailedRequests", "", "add", RM, CL, "path", 0 },
    { "system.webServer/tracing/traceFailedRequests", "add/traceAreas", "add", RM, CL,
      "provider", 0 },
    { "system.webServer/tracing/traceProviderDefinitions", "", "add", RM, CL, "name", 0 },
    { "system.webServer/tracing/traceProviderDefinitions", "add/areas", "add", RM, CL, "name",
      0 },
    { "system.webServer/rewrite/allowedServerVariables", "", "add", RM, CL, "name", 0 },
    { "system.webServer/rewrite/globalRules", "", "rule", RM, CL, "name", 0 },
    { "system.webServer/rewrite/globalRules", "rule/conditions", "add", NULL, NULL, "", C_DUPS },
    { "system.webServer/rewrite/globalRules", "rule/serverVariables", "set", NULL, NULL, "name",
      0 },
    { "system.webServer/rewrite/rules", "", "rule", RM, CL, "name", 0 },
    { "system.webServer/rewrite/rules", "rule/conditions", "add", NULL, NULL, "", C_DUPS },
    { "system.webServer/rewrite/rules", "rule/serverVariables", "set", NULL, NULL, "name", 0 },
    { "system.webServer/rewrite/outboundRules", "", "rule", RM, CL, "name", 0 },
    { "system.webServer/rewrite/outboundRules", "rule/conditions", "add", NULL, NULL, "",
      C_DUPS },
    { "system.webServer/rewrite/outboundRules", "preConditions", "preCondition", RM, CL, "name",
      0 },
    { "system.webServer/rewrite/outboundRules", "preConditions/preCondition", "add", NULL, NULL,
      "", C_DUPS },
    { "system.webServer/rewrite/outboundRules", "customTags", "tags", RM, CL, "name", 0 },
    { "system.webServer/rewrite/outboundRules", "customTags/tags", "tag", RM, CL,
      "name,attribute", 0 },
    { "system.webServer/rewrite/providers", "", "provider", RM, CL, "name", 0 },
    { "system.webServer/rewrite/providers", "provider/settings", "add", RM, CL, "key", 0 },
    { "system.webServer/rewrite/rewriteMaps", "", "rewriteMap", RM, CL, "name", 0 },
    { "system.webServer/rewrite/rewriteMaps", "rewriteMap", "add", RM, CL, "!key", 0 },
    { "system.webServer/aspNetCore", "environmentVariables", "environmentVariable", NULL, CL, "",
      C_DUPS },
    { "system.webServer/aspNetCore", "handlerSettings", "handlerSetting", NULL, CL, "", C_DUPS },
    { "system.webServer/httpPlatform", "environmentVariables", "environmentVariable", NULL, CL,
      "", C_DUPS },
};

#undef RM
#undef CL

static void cfg_register_row(wasp_config_t *cfg, const cfg_coll_row_t *r)
{
    cfg_coll_schema_t *cs = cfg_arena_alloc(&cfg->arena, sizeof(*cs));
    cs->section = r->section;
    cs->element = r->element;
    cs->add = r->add;
    cs->remove = r->remove;
    cs->clear = r->clear;
    cs->merge_append = !(r->flags & C_PREPEND);
    cs->allow_duplicates = (r->flags & C_DUPS) != 0;
    size_t k = 0;
    const char *p = r->keys;
    while (*p && k < CFG_MAX_KEYS) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *spec = cfg_arena_strndup(&cfg->arena, p, len);
        if (*spec == '!') {
            cs->key_case_sensitive |= (uint8_t)(1u << k);
            spec++;
        }
        char *eq = strchr(spec, '=');
        if (eq) {
            *eq = '\0';
            cs->key_defaults[k] = eq + 1;
        }
        cs->keys[k++] = spec;
        p += len;
        if (*p == ',')
            p++;
    }
    cfg_register_collection(cfg, cs);
}

void cfg_register_collection(wasp_config_t *cfg, const cfg_coll_schema_t *cs)
{
    const char *key = cfg_arena_printf(&cfg->arena, "%s|%s", cs->section, cs->element);
    cfg_map_put(&cfg->colls, 0, key, strlen(key), (void *)cs);
}

void cfg_builtin_collections(wasp_config_t *cfg)
{
    for (size_t i = 0; i < sizeof(cfg_coll_rows) / sizeof(cfg_coll_rows[0]); i++)
        cfg_register_row(cfg, &cfg_coll_rows[i]);
}

const cfg_coll_schema_t *cfg_collection_schema(const wasp_config_t *cfg, const char *section,
                                               const char *element)
{
    char buf[512];
    int n = snprintf(buf, sizeof(buf), "%s|%s", section, element);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return NULL;
    return cfg_map_get(&cfg->colls, 0, buf, (size_t)n);
}

/* Is name one of the comma-separated names in list? */
static bool cfg_in_list(const char *list, const char *name)
{
    if (!list)
        return false;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0)
            return true;
        p += len;
        if (*p == ',')
            p++;
    }
    return false;
}

bool cfg_is_add(const cfg_coll_schema_t *cs, const char *name)
{
    return cfg_in_list(cs->add, name);
}

bool cfg_is_directive(const cfg_coll_schema_t *cs, const char *name)
{
    return cs && (cfg_in_list(cs->add, name) || (cs->remove && strcmp(cs->remove, name) == 0) ||
                  (cs->clear && strcmp(cs->clear, name) == 0));
}
