/*
 * Which sections of the schema wasp acts on (docs/configuration.md,
 * "Sections wasp knows").  Every section the schema files (schema/) describes is accepted
 * and validated as IIS does, so an IIS file loads unchanged; only the
 * sections below with a reader change what wasp does.  A reader is the code
 * that looks the section up (wasp_request_section, wasp_config_section or
 * the applicationHost.config model in apphost.c); a section whose reader goes
 * away must move to "accepted only" here and in the documentation
 * (tests/integration/test_sections_effect.py compares the three: this table,
 * the schema files and the document).
 */
#include <stddef.h>
#include <strings.h>

#include "config/config.h"

static const wasp_section_effect_t wasp_section_effects[] = {
    { "configurationRedirection", NULL },
    { "system.applicationHost/applicationPools", "waspd (apphost.c): pools, identities, recycling" },
    { "system.applicationHost/configHistory", NULL },
    { "system.applicationHost/customMetadata", NULL },
    { "system.applicationHost/listenerAdapters", NULL },
    { "system.applicationHost/log", "waspd (apphost.c): central and HTTPERR logs" },
    { "system.applicationHost/serviceAutoStartProviders", NULL },
    { "system.applicationHost/sites", "waspd (apphost.c): sites, bindings, applications, logs" },
    { "system.applicationHost/webLimits", NULL },
    { "system.ftpServer/caching", NULL },
    { "system.ftpServer/firewallSupport", NULL },
    { "system.ftpServer/log", NULL },
    { "system.ftpServer/providerDefinitions", NULL },
    { "system.ftpServer/security/authentication", NULL },
    { "system.ftpServer/security/authorization", NULL },
    { "system.ftpServer/security/ipSecurity", NULL },
    { "system.ftpServer/security/requestFiltering", NULL },
    { "system.ftpServer/serverRuntime", NULL },
    { "system.webServer/applicationInitialization", NULL },
    { "system.webServer/asp", NULL },
    { "system.webServer/aspNetCore", NULL },
    { "system.webServer/caching", "worker (kernel_cache.c) and wasp-http: the response cache" },
    { "system.webServer/cgi", "CgiModule" },
    { "system.webServer/defaultDocument", "DefaultDocumentModule" },
    { "system.webServer/directoryBrowse", "DirectoryListingModule" },
    { "system.webServer/diskCache", NULL },
    { "system.webServer/fastCgi", "FastCgiModule" },
    { "system.webServer/globalModules", "worker (modules.c): native modules loaded" },
    { "system.webServer/handlers", "worker (handler_map.c), CgiModule" },
    { "system.webServer/httpCompression", NULL },
    { "system.webServer/httpErrors", "CustomErrorModule" },
    { "system.webServer/httpLogging", "worker (response.c): dontLog, selectiveLogging" },
    { "system.webServer/httpPlatform", NULL },
    { "system.webServer/httpProtocol", NULL },
    { "system.webServer/httpRedirect", NULL },
    { "system.webServer/httpTracing", NULL },
    { "system.webServer/isapiFilters", NULL },
    { "system.webServer/management/authentication", NULL },
    { "system.webServer/management/authorization", NULL },
    { "system.webServer/management/trustedProviders", NULL },
    { "system.webServer/modules", "worker (request.c): the pipeline" },
    { "system.webServer/odbcLogging", NULL },
    { "system.webServer/proxy", NULL },
    { "system.webServer/rewrite/allowedServerVariables", NULL },
    { "system.webServer/rewrite/globalRules", "RewriteModule" },
    { "system.webServer/rewrite/outboundRules", "RewriteModule" },
    { "system.webServer/rewrite/providers", NULL },
    { "system.webServer/rewrite/rewriteMaps", "RewriteModule" },
    { "system.webServer/rewrite/rules", "RewriteModule" },
    { "system.webServer/security/access", NULL },
    { "system.webServer/security/applicationDependencies", NULL },
    { "system.webServer/security/authentication/anonymousAuthentication", NULL },
    { "system.webServer/security/authentication/basicAuthentication", NULL },
    { "system.webServer/security/authentication/clientCertificateMappingAuthentication", NULL },
    { "system.webServer/security/authentication/digestAuthentication", NULL },
    { "system.webServer/security/authentication/iisClientCertificateMappingAuthentication", NULL },
    { "system.webServer/security/authentication/windowsAuthentication", NULL },
    { "system.webServer/security/authorization", NULL },
    { "system.webServer/security/dynamicIpSecurity", NULL },
    { "system.webServer/security/ipSecurity", NULL },
    { "system.webServer/security/isapiCgiRestriction", "CgiModule" },
    { "system.webServer/security/requestFiltering",
      "requestLimits (maxAllowedContentLength, maxUrl, maxQueryString): wasp-http with waspd, and the worker" },
    { "system.webServer/serverRuntime",
      "worker (kernel_cache.c): frequentHitThreshold, frequentHitTimePeriod only" },
    { "system.webServer/serverSideInclude", NULL },
    { "system.webServer/staticContent", "StaticFileModule, DefaultDocumentModule, CustomErrorModule" },
    { "system.webServer/tracing/traceFailedRequests", NULL },
    { "system.webServer/tracing/traceProviderDefinitions", NULL },
    { "system.webServer/urlCompression", NULL },
    { "system.webServer/validation", NULL },
    { "system.webServer/webSocket", NULL },
    { "system.webServer/webdav/authoring", NULL },
    { "system.webServer/webdav/authoringRules", NULL },
    { "system.webServer/webdav/globalSettings", NULL },
    { "wasp/admin", "waspd (waspd.c): the metrics binding and who may reach it" },
    { "wasp/fileLookup", "wasp-worker (file_lookup.c): case-insensitive file names" },
    { "wasp/httpSys", "waspd (apphost.c): listener limits, HTTPERR" },
};

#define WASP_SECTION_EFFECT_COUNT (sizeof(wasp_section_effects) / sizeof(wasp_section_effects[0]))

const wasp_section_effect_t *wasp_section_effect(size_t i)
{
    return i < WASP_SECTION_EFFECT_COUNT ? &wasp_section_effects[i] : NULL;
}

const wasp_section_effect_t *wasp_section_effect_find(const char *section_path)
{
    for (size_t i = 0; i < WASP_SECTION_EFFECT_COUNT; i++) {
        if (strcasecmp(wasp_section_effects[i].path, section_path) == 0) {
            return &wasp_section_effects[i];
        }
    }
    return NULL;
}
