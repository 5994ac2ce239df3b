/*
 * Schema files: IIS' own description of every configuration section
 * (iis-hosting.md 6.3), read from a directory of *.xml files, and the value
 * rules they carry — types, defaults and validators (6.4, 6.5).
 *
 *   <configSchema>
 *     <sectionSchema name="system.webServer/defaultDocument">
 *       <attribute name="enabled" type="bool" defaultValue="true" />
 *       <element name="files">
 *         <collection addElement="add" removeElement="remove" clearElement="clear"
 *                     mergeAppend="false">
 *           <attribute name="value" type="string" isUniqueKey="true" />
 *         </collection>
 *       </element>
 *     </sectionSchema>
 *   </configSchema>
 *
 * The model is a tree per section: an element (the section element itself,
 * an <element>, or the item of a <collection>) has attributes, child
 * elements and at most one collection, whose item is again an element.  A
 * later file may describe a section again to extend it (new attributes, new
 * elements, more item attributes); describing one attribute twice is an
 * error, as it would leave two rules for one value.
 *
 * Element paths name elements from the section element down, as
 * schema_table.c does: "" is the section element, "files" its child,
 * "files/add" the item of the files collection, "site/application" the
 * application collection's item inside each <site>.  Section names compare
 * case-insensitively (as IIS' API does); element and attribute names are
 * XML names and compare exactly.
 *
 * Everything a loaded schema owns lives in one arena (plus three hash maps
 * and the compiled regular expressions), freed by cfg_schema_free(); lookups
 * never allocate.
 */
#ifndef WASP_CFG_SCHEMA_H
#define WASP_CFG_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/cfg_internal.h"

/* ---- value types (iis-hosting.md 6.4) -------------------------------------- */
typedef enum cfg_type {
    CFG_T_BOOL = 0,
    CFG_T_ENUM,
    CFG_T_FLAGS,
    CFG_T_UINT,
    CFG_T_INT,
    CFG_T_INT64,
    CFG_T_STRING,
    CFG_T_TIMESPAN,
} cfg_type_t;
#define CFG_T_COUNT 8

/* The schema's spelling of a type ("timeSpan"), and back (exact match). */
const char *cfg_type_name(cfg_type_t t);
bool cfg_type_from_name(const char *name, cfg_type_t *t);

/* ---- validators (iis-hosting.md 6.5) ---------------------------------------- */
typedef enum cfg_check {
    CFG_V_NONE = 0,
    CFG_V_INTEGER_RANGE,  /* min,max[,exclude] */
    CFG_V_TIMESPAN_RANGE, /* min,max,granularity[,exclude] in seconds */
    CFG_V_NON_EMPTY,      /* nonEmptyString */
    CFG_V_TRIMMED,        /* requireTrimmedString (alias trimWhiteSpaceString) */
    CFG_V_SITE_NAME,
    CFG_V_POOL_NAME,      /* applicationPoolName */
    CFG_V_APP_PATH,       /* applicationPath */
    CFG_V_VDIR_PATH,      /* virtualDirectoryPath */
    CFG_V_REGEX,          /* the value must match the parameter (PCRE2) */
} cfg_check_t;

typedef struct cfg_validator {
    cfg_check_t kind;
    int64_t min, max;    /* integerRange: the values; timeSpanRange: seconds */
    int64_t granularity; /* timeSpanRange, seconds (>= 1) */
    bool exclude;        /* the range is what is refused */
    const char *pattern; /* CFG_V_REGEX: the parameter (not copied) */
    void *re;            /* CFG_V_REGEX: the compiled pcre2_code */
    void *mctx;          /* CFG_V_REGEX: its match limits (pcre2_match_context) */
} cfg_validator_t;

/* Build v from an attribute's validationType / validationParameter (NULL or
 * "" type = no validator).  The validator must fit the attribute's type:
 * integerRange an integer type, timeSpanRange a timeSpan, the others a
 * string.  Returns 0, or -1 with a sentence in err.  A regex validator holds
 * a compiled pattern (release it with cfg_validator_release()) and points
 * at param for its messages, so param must outlive v. */
int cfg_validator_init(cfg_validator_t *v, cfg_type_t type, const char *vtype, const char *param,
                       char *err, size_t err_size);
void cfg_validator_release(cfg_validator_t *v);

/* ---- the model -------------------------------------------------------------- */
typedef struct cfg_enum_value {
    const char *name;
    int64_t value;
} cfg_enum_value_t;

/* A parsed attribute value.  i holds uint / int / int64 values, the number
 * of an enum, the bits of flags and a timeSpan in milliseconds.  "Infinite"
 * (allowInfinite) sets infinite and the type's largest value. */
typedef struct cfg_value {
    cfg_type_t type;
    bool infinite;
    bool b;
    int64_t i;
    const char *s; /* string: the text as written (%VARS% not expanded) */
} cfg_value_t;

typedef struct cfg_attr_schema {
    const char *name;
    cfg_type_t type;
    const char *default_text; /* defaultValue, or the type's own default (below) */
    bool has_default;         /* defaultValue was written in the schema */
    cfg_value_t default_value;
    bool required, unique_key, combined_key, case_sensitive;
    bool expanded;       /* %VARS% are expanded when the value is read */
    bool encrypted;      /* stored as [enc:Provider:...:enc] (decrypted elsewhere) */
    bool allow_infinite; /* "Infinite" accepted (integer types and timeSpan only) */
    bool display_hex;    /* tools write it as 0x...; input may be hex too */
    wasp_timespan_format_t timespan_format;
    const char *validation_type, *validation_parameter; /* as written, or NULL */
    cfg_validator_t validator;
    const cfg_enum_value_t *values; /* <enum> / <flag> children, in order */
    size_t value_count;
    const char *file;
    int line;
    struct cfg_attr_schema *next;
} cfg_attr_schema_t;

typedef struct cfg_elem_schema cfg_elem_schema_t;

typedef struct cfg_coll_def {
    const char *add;     /* addElement: one name or a comma list ("allow,deny"); NULL = none */
    const char *remove;  /* removeElement, NULL = not supported */
    const char *clear;   /* clearElement, NULL = not supported */
    const char *default_element; /* defaultElement ("siteDefaults"), or NULL */
    bool merge_append;   /* false: lower levels' items go first */
    bool allow_duplicates;
    bool allow_unrecognized; /* allowUnrecognizedAttributes on items */
    cfg_elem_schema_t *item; /* the attributes, elements and collection of an item */
    const char *file;
    int line;
} cfg_coll_def_t;

struct cfg_elem_schema {
    uint32_t id;          /* the element's tag in the schema's maps */
    const char *name;     /* element name; an item's is its first add name */
    const char *path;     /* element path in the section ("" = section element) */
    bool is_collection_default; /* isCollectionDefault="true" (siteDefaults, ...) */
    cfg_attr_schema_t *attrs, *attrs_tail;     /* in schema order */
    cfg_elem_schema_t *children, *children_tail; /* <element>s, in schema order */
    cfg_coll_def_t *coll;
    const cfg_coll_def_t *owner; /* for a collection's item: that collection */
    const char *file;
    int line;
    cfg_elem_schema_t *next; /* sibling */
};

typedef struct cfg_section_schema {
    const char *name; /* as the first file spells it */
    cfg_elem_schema_t *root;
    const char *file; /* the first <sectionSchema> for it */
    int line;
    struct cfg_section_schema *next;
} cfg_section_schema_t;

typedef struct cfg_schema cfg_schema_t;

/* ---- loading ---------------------------------------------------------------- */
/* A schema file in memory. */
typedef struct cfg_schema_text {
    const char *name; /* for messages: "schema/wasp_schema.xml" */
    const char *text; /* NUL-terminated */
    size_t len;
} cfg_schema_text_t;

/* wasp's schema files (schema/NAME.xml), compiled in (scripts/embed_schema.py), in name order. */
extern const cfg_schema_text_t cfg_schema_builtin_files[];
extern const size_t cfg_schema_builtin_count;

/* The compiled-in schema, loaded at the first call and kept for the life of
 * the process.  NULL (with diag) only if a schema file of the build is
 * broken, which test_schema_files.py and the unit tests rule out. */
const cfg_schema_t *cfg_schema_builtin(wasp_diag_t *diag);
int cfg_schema_load_texts(const cfg_schema_text_t *texts, size_t count, cfg_schema_t **out,
                          wasp_diag_t *diag);

/* Read every *.xml file of dir (not dot files), in byte order of their names
 * (so "10_iis.xml" before "20_rewrite.xml"), into a new schema.  Returns 0
 * and *out, or -1 with diag naming the file and line at fault. */
int cfg_schema_load_dir(const char *dir, cfg_schema_t **out, wasp_diag_t *diag);
/* The same for a list of files, read in the order given. */
int cfg_schema_load_files(const char *const *paths, size_t count, cfg_schema_t **out,
                          wasp_diag_t *diag);
void cfg_schema_free(cfg_schema_t *s);

/* Things the loader ignored but a schema author may want to know: elements
 * and metadata attributes that are not part of the schema format (<method>,
 * which IIS' own files carry for runtime methods, is ignored silently). */
size_t cfg_schema_warning_count(const cfg_schema_t *s);
const wasp_diag_t *cfg_schema_warning(const cfg_schema_t *s, size_t i);

/* ---- lookups ---------------------------------------------------------------- */
size_t cfg_schema_section_count(const cfg_schema_t *s);
/* Sections in the order they were first described. */
const cfg_section_schema_t *cfg_schema_first_section(const cfg_schema_t *s);
/* By full name, case-insensitively; NULL when no file describes it. */
const cfg_section_schema_t *cfg_schema_section(const cfg_schema_t *s, const char *name);
/* The element at elem_path inside sec; NULL when the schema has none. */
const cfg_elem_schema_t *cfg_schema_element(const cfg_schema_t *s, const cfg_section_schema_t *sec,
                                            const char *elem_path);
/* An attribute of an element, by exact name; NULL when not described. */
const cfg_attr_schema_t *cfg_schema_attr(const cfg_schema_t *s, const cfg_elem_schema_t *e,
                                         const char *name);
/* The attribute `attr` of the element at elem_path in section `section`.  A
 * path ending in a collection's remove element ("files/remove") finds the
 * item's key attributes only: those are what a <remove> carries. */
const cfg_attr_schema_t *cfg_schema_find_attr(const cfg_schema_t *s, const char *section,
                                              const char *elem_path, const char *attr);
/* The default of an attribute as text: its defaultValue, or the type's own
 * ("false", "0", "", "00:00:00", the enum name whose value is 0). */
const char *cfg_schema_attr_default(const cfg_attr_schema_t *a);

/* Check one value as the configuration system reads it: the attribute must
 * be described (unless the collection item allows unrecognized attributes),
 * then its type and validator decide.  Returns 0, or -1 with IIS' message in
 * msg (e.g. "Integer value must be between 10 and 65535 inclusive",
 * "Unrecognized attribute 'x'. Note that attribute names are
 * case-sensitive.").  The configuration system's own attributes (lock*,
 * configSource, xmlns, xdt:...) are not in any schema: the caller handles
 * them before asking. */
int cfg_schema_validate(const cfg_schema_t *s, const char *section, const char *elem_path,
                        const char *attr, const char *value, char *msg, size_t msg_size);

/* ---- values (schema_value.c) ------------------------------------------------ */
/* Parse text as attribute a's type, then apply its validator.  Returns 0
 * with *out filled, or -1 with IIS' message in msg. */
int cfg_value_parse(const cfg_attr_schema_t *a, const char *text, cfg_value_t *out, char *msg,
                    size_t msg_size);
/* Expand %VAR% from the environment as Windows does for expanded="true"
 * attributes: a name matches exactly, else case-insensitively (Windows
 * variable names have no case: %SystemDrive% finds SYSTEMDRIVE); an unknown
 * variable stays as written.  Writes at most out_size bytes (NUL included)
 * and returns the length of the whole result, like snprintf. */
size_t cfg_expand_env(const char *in, char *out, size_t out_size);
/* A time in milliseconds the way .NET writes a TimeSpan ("[-][d.]hh:mm:ss
 * [.fffffff]"): 30 days is "30.00:00:00". */
const char *cfg_format_timespan(int64_t ms, char *buf, size_t size);

/* ---- collections -------------------------------------------------------------- */
/* One cfg_coll_schema_t per collection of the schema (and per add name of
 * the element paths above it), in schema order: what
 * cfg_register_collection() takes.  Keys: the first isUniqueKey attribute
 * (sites has two, name and id, each unique on its own; the struct holds one
 * key), else every isCombinedKey attribute in order; an absent key attribute
 * counts as its default. */
size_t cfg_schema_collection_count(const cfg_schema_t *s);
const cfg_coll_schema_t *cfg_schema_collection(const cfg_schema_t *s, size_t i);
/* Register every collection of s in cfg (copied into cfg's arena, so s may
 * be freed afterwards), replacing built-in rows for the same paths. */
void cfg_schema_register_collections(wasp_config_t *cfg, const cfg_schema_t *s);

#endif /* WASP_CFG_SCHEMA_H */
