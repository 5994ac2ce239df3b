/*
 * config_edit: change applicationHost.config the way appcmd does, for
 * waspctl (and later the web console).
 *
 * The file is changed as text: each edit replaces or inserts a few bytes
 * and leaves every other byte as it was, so comments, blank lines, attribute
 * order and quoting, multi-line start tags, "<add ... />" spacing, line
 * endings (CRLF files stay CRLF) and a UTF-8 byte-order mark all survive.
 * libxml2 parses the text after every edit and each element is paired with
 * its byte range (start tag, end tag), so lookups use real XML values while
 * writes touch only the bytes they mean to.  (Saving a libxml2 tree would
 * rewrite every "<x />" as "<x/>" and join multi-line tags: an appcmd edit
 * would then show up as a change to half the file.)
 *
 * New elements get the indentation of their siblings (or the parent's plus
 * the file's indent step) and the file's line ending.
 *
 * commit() writes a temporary file next to the original, checks it with the
 * real loader (wasp_config_load) and only then renames it over the original
 * (same mode and owner, fsync'd), so an edit can never leave a file that
 * waspd refuses, and a reader sees the old file or the new one, never half.
 * The file is locked (flock) from open to free, so two waspctl running at
 * once do not lose each other's change.
 *
 * Messages are for people and name the file, the object and the fix; the
 * "not found" and "duplicate" ones use appcmd's wording.
 */
#ifndef WASP_CONFIG_EDIT_H
#define WASP_CONFIG_EDIT_H

#include <stdbool.h>
#include <stddef.h>

/* Results of the functions below (0 = done). */
enum {
    WASP_EDIT_OK = 0,
    WASP_EDIT_ERROR = -1,     /* I/O, file not editable, refused by the loader */
    WASP_EDIT_NOT_FOUND = -2, /* no such pool / site */
    WASP_EDIT_DUPLICATE = -3, /* a pool of that name exists */
    WASP_EDIT_INVALID = -4    /* unknown attribute, unusable value */
};

typedef struct wasp_config_edit wasp_config_edit_t;

/* ---- the attributes appcmd may set -------------------------------------------- */

/* One settable attribute: element is "" for the object's own element, else
 * the dotted path of a child element ("processModel",
 * "recycling.periodicRestart"); dflt is the schema default as appcmd shows
 * it (iis-hosting.md 1.1-1.6, 2.1). */
typedef struct wasp_edit_attr {
    const char *element;
    const char *name;
    const char *dflt;
} wasp_edit_attr_t;

/* The application pool attributes, in schema order (the order appcmd lists
 * them in); *count receives their number. */
const wasp_edit_attr_t *wasp_edit_pool_attrs(size_t *count);

/* The pool attribute with this dotted name ("queueLength",
 * "processModel.idleTimeout"), compared case-insensitively; NULL if the
 * schema has none. */
const wasp_edit_attr_t *wasp_edit_pool_attr_find(const char *dotted);

/* Same for site attributes ("serverAutoStart", "limits.connectionTimeout"). */
const wasp_edit_attr_t *wasp_edit_site_attr_find(const char *dotted);

/* ---- editing -------------------------------------------------------------------- */

/* Read and lock the file.  Refused (message in err): unreadable, not
 * well-formed XML (the loader's message, with the line), not UTF-8, a
 * <!DOCTYPE>. */
int wasp_config_edit_open(const char *path, wasp_config_edit_t **out, char *err, size_t errsz);

/* <add name="NAME" /> in system.applicationHost/applicationPools, after the
 * last pool and before <applicationPoolDefaults>; the section (and
 * system.applicationHost) is created when missing.  WASP_EDIT_DUPLICATE with
 * appcmd's message when a pool of that name (case-insensitive) exists. */
int wasp_config_edit_pool_add(wasp_config_edit_t *ed, const char *name, char *err, size_t errsz);

/* Set a pool attribute by its appcmd path: "queueLength",
 * "processModel.idleTimeout", "recycling.periodicRestart.time".  Missing
 * child elements are created in schema order.  Setting "name" renames the
 * pool (refused when the new name is taken). */
int wasp_config_edit_pool_set(wasp_config_edit_t *ed, const char *name, const char *attr,
                              const char *value, char *err, size_t errsz);

/* Delete the pool's element (and the line it stood on).  As on IIS the pool
 * is deleted even when applications still use it; warn then receives a
 * sentence naming them ("" when none). */
int wasp_config_edit_pool_delete(wasp_config_edit_t *ed, const char *name, char *warn,
                                 size_t warnsz, char *err, size_t errsz);

/* Set a site attribute ("serverAutoStart", "limits.connectionTimeout");
 * the site name compares case-insensitively. */
int wasp_config_edit_site_set(wasp_config_edit_t *ed, const char *site, const char *attr,
                              const char *value, char *err, size_t errsz);

/* ---- any section (set config) ------------------------------------------------------
 * These edit one section at one level of any configuration file
 * (applicationHost.config or a web.config).  location NULL: the file's own
 * level (directly under <configuration>); else <location path="LOCATION">
 * (the first one with that path, case-insensitive; appended to
 * <configuration> when missing).  section is the full name
 * ("system.webServer/defaultDocument"); element a '/'-separated path of
 * child elements inside it ("" = the section element).  Missing elements
 * are created. */

/* Set attr on the element. */
int wasp_config_edit_section_set(wasp_config_edit_t *ed, const char *location,
                                 const char *section, const char *element, const char *attr,
                                 const char *value, char *err, size_t errsz);

/* Add <item_name names[i]="values[i]" ... /> at the end of the collection
 * element. */
int wasp_config_edit_section_add(wasp_config_edit_t *ed, const char *location,
                                 const char *section, const char *element, const char *item_name,
                                 const char *const *names, const char *const *values, size_t n,
                                 char *err, size_t errsz);

/* Remove the item whose attributes names[i] equal values[i]: an item of
 * that level of this file (any element name but remove_name and "clear")
 * is deleted; otherwise, since the item comes from a parent level,
 * <remove_name names[i]="values[i]" /> is appended. */
int wasp_config_edit_section_remove(wasp_config_edit_t *ed, const char *location,
                                    const char *section, const char *element,
                                    const char *remove_name, const char *const *names,
                                    const char *const *values, size_t n, char *err,
                                    size_t errsz);

/* Set attr on the item <item_name> of this level of this file whose
 * attributes names[i] equal values[i] (appcmd's /[key='v'].attr:value).
 * An item inherited from a parent level is not there: WASP_EDIT_NOT_FOUND
 * ("Cannot find requested collection element."), as appcmd answers. */
int wasp_config_edit_section_item_set(wasp_config_edit_t *ed, const char *location,
                                      const char *section, const char *element,
                                      const char *item_name, const char *const *names,
                                      const char *const *values, size_t n, const char *attr,
                                      const char *value, char *err, size_t errsz);

/* Commit without the applicationHost.config loader check: for a web.config,
 * which the caller checks with the web.config code after the commit. */
void wasp_config_edit_set_unchecked(wasp_config_edit_t *ed, bool unchecked);

/* True once an edit changed the text (setting a value it already has does
 * not). */
bool wasp_config_edit_changed(const wasp_config_edit_t *ed);

/* The current text (for tests and previews); valid until the next edit. */
const char *wasp_config_edit_text(const wasp_config_edit_t *ed, size_t *len);

/* Check the edited text with wasp_config_load and replace the file
 * atomically.  Nothing is written when nothing changed.  When the loader
 * refuses the result, err carries its message (with the real file name and
 * the line) and the file is left as it was. */
int wasp_config_edit_commit(wasp_config_edit_t *ed, char *err, size_t errsz);

/* Unlock and free (uncommitted edits are dropped). */
void wasp_config_edit_free(wasp_config_edit_t *ed);

#endif /* WASP_CONFIG_EDIT_H */
