/*
 * The native modules compiled into wasp-worker.  They register through the
 * public API (include/wasp/module.h) exactly as a dlopen'ed module does; the
 * worker only finds their register function here instead of with dlsym().
 * A module is still inert until <globalModules> installs it and <modules>
 * enables it.
 */
#ifndef WASP_MODULES_BUILTIN_H
#define WASP_MODULES_BUILTIN_H

#include "wasp/module.h"

typedef int (*wasp_register_fn)(wasp_registration_t *reg, uint32_t server_abi);

typedef struct wasp_builtin_module {
    const char *name;      /* IIS module name, e.g. "StaticFileModule" */
    const char *iis_image; /* IIS DLL file name, e.g. "static.dll" */
    wasp_register_fn register_fn;
} wasp_builtin_module_t;

/* NULL-terminated (name == NULL) table. */
extern const wasp_builtin_module_t wasp_builtin_modules[];

int wasp_static_file_register(wasp_registration_t *reg, uint32_t server_abi);
int wasp_default_document_register(wasp_registration_t *reg, uint32_t server_abi);
int wasp_directory_listing_register(wasp_registration_t *reg, uint32_t server_abi);
int wasp_custom_error_register(wasp_registration_t *reg, uint32_t server_abi);
int wasp_url_rewrite_register(wasp_registration_t *reg, uint32_t server_abi);
int wasp_cgi_register(wasp_registration_t *reg, uint32_t server_abi);
int wasp_fastcgi_register(wasp_registration_t *reg, uint32_t server_abi);

#endif
