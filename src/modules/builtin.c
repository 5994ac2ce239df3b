/*
 * The table of native modules linked into wasp-worker (see builtin.h).  Names
 * and image names are IIS' (iis-modules.md 1.9), so a stock
 * <globalModules><add name="StaticFileModule" image="%windir%\...\static.dll">
 * resolves to the built-in module.
 */
#include "modules/builtin.h"

#include <stddef.h>

const wasp_builtin_module_t wasp_builtin_modules[] = {
    {"StaticFileModule", "static.dll", wasp_static_file_register},
    {"DefaultDocumentModule", "defdoc.dll", wasp_default_document_register},
    {"DirectoryListingModule", "dirlist.dll", wasp_directory_listing_register},
    {"CustomErrorModule", "custerr.dll", wasp_custom_error_register},
    {"RewriteModule", "rewrite.dll", wasp_url_rewrite_register},
    {"CgiModule", "cgi.dll", wasp_cgi_register},
    {"FastCgiModule", "iisfcgi.dll", wasp_fastcgi_register},
    {NULL, NULL, NULL},
};
