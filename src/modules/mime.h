/*
 * File name → Content-Type through <staticContent><mimeMap> (iis-modules.md
 * 2.3), as StaticFileModule and DefaultDocumentModule need it on every
 * request.
 */
#ifndef WASP_MODULES_MIME_H
#define WASP_MODULES_MIME_H

#include "wasp/module.h"

/* The MIME type of file_name (a bare name or a path; only the part after the
 * last '/' counts) under the effective system.webServer/staticContent section,
 * or NULL when the extension is not mapped (StaticFileModule answers 404.3).
 *
 * Matching: the longest listed suffix that starts at a '.' of the name wins,
 * so "app.dll.config" finds ".dll.config" before ".config"; comparison is
 * ASCII case-insensitive (the stock list has ".IVF").  Then, as on IIS, an
 * entry "." maps names without any extension and an entry ".*" maps
 * everything that is still unmatched.
 *
 * static_content NULL (the section is nowhere in the configuration) means the
 * stock IIS 10 list of 378 entries; a section that is present is used as it
 * is, even when its collection is empty (<clear/>).
 *
 * The first lookup for a section builds a hash index of its mimeMap
 * collection; later lookups cost one pointer-keyed probe plus one probe per
 * '.' in the name.  Sections with the same effective items (the usual case:
 * every directory inherits the server list) share one index.  The returned
 * string lives as long as the section (or forever for the stock list). */
const char *wasp_mime_lookup(const wasp_section_t *static_content, const char *file_name);

/* Forget every index.  Call when the sections they were built from are freed
 * (configuration unloaded) and at process exit; the next lookup rebuilds.
 * Idempotent. */
void wasp_mime_reset(void);

#endif
