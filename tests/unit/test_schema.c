/*
 * Unit tests of the schema files (src/config/schema.c, schema_value.c):
 * loading a directory of IIS-format schema files, sections extended by a
 * later file, the lookups, every value type and validator with IIS'
 * messages, %VAR% expansion, the cfg_coll_schema_t of every collection
 * (checked against the built-in table where it has the same collection),
 * and malformed schema files reported with file and line.
 *
 * The fixtures are the *.xml files of tests/unit/fixtures/schema (run from the
 * repository root, meson's test workdir); malformed files are written to
 * temporary directories here, so each test shows the lines it expects.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/cfg_internal.h"
#include "config/schema.h"

#define FIXTURES "tests/unit/fixtures/schema"

static cfg_schema_t *fx; /* the fixture directory, loaded once */

static int load_fixtures(void **state)
{
    (void)state;
    wasp_diag_t d;
    if (cfg_schema_load_dir(FIXTURES, &fx, &d) != 0) {
        char buf[2048];
        fprintf(stderr, "fixtures failed to load: %s\n", wasp_diag_format(&d, buf, sizeof buf));
        return -1;
    }
    return 0;
}

static int free_fixtures(void **state)
{
    (void)state;
    cfg_schema_free(fx);
    fx = NULL;
    return 0;
}

/* ---- temporary schema directories ----------------------------------------------- */

#define MAX_FILES 16
static char tmp_dir[64];
static char tmp_files[MAX_FILES][128];
static int tmp_file_count;

static const char *tmp_schema_dir(void)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/wasp-test-schema-XXXXXX");
    assert_non_null(mkdtemp(tmp_dir));
    return tmp_dir;
}

static const char *tmp_write(const char *name, const char *text)
{
    assert_true(tmp_file_count < MAX_FILES);
    char *path = tmp_files[tmp_file_count++];
    snprintf(path, 128, "%s/%s", tmp_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    fclose(f);
    return path;
}

static int cleanup_tmp(void **state)
{
    (void)state;
    for (int i = 0; i < tmp_file_count; i++)
        unlink(tmp_files[i]);
    tmp_file_count = 0;
    if (tmp_dir[0])
        rmdir(tmp_dir);
    tmp_dir[0] = '\0';
    return 0;
}

/* One schema file that must fail to load; returns the diag. */
static wasp_diag_t load_one_fail(const char *text, const char **path)
{
    tmp_schema_dir();
    *path = tmp_write("s.xml", text);
    cfg_schema_t *s = NULL;
    wasp_diag_t d;
    if (cfg_schema_load_dir(tmp_dir, &s, &d) == 0) {
        cfg_schema_free(s);
        fail_msg("schema unexpectedly loaded");
    }
    assert_null(s);
    assert_string_equal(d.file, *path);
    return d;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

#define HEAD "<?xml version=\"1.0\"?>\n<configSchema>\n" /* lines 1-2 */

/* ---- values through the fixture schema ------------------------------------------- */

static const cfg_attr_schema_t *attr(const char *section, const char *path, const char *name)
{
    const cfg_attr_schema_t *a = cfg_schema_find_attr(fx, section, path, name);
    if (!a)
        fail_msg("no attribute %s of %s in %s", name, path, section);
    return a;
}

/* Parse must succeed; returns the value. */
static cfg_value_t ok(const cfg_attr_schema_t *a, const char *text)
{
    cfg_value_t v;
    char msg[512];
    if (cfg_value_parse(a, text, &v, msg, sizeof msg) != 0)
        fail_msg("%s=\"%s\" refused: %s", a->name, text, msg);
    return v;
}

/* Parse must fail with exactly this message. */
static void bad(const cfg_attr_schema_t *a, const char *text, const char *want)
{
    cfg_value_t v;
    char msg[512];
    if (cfg_value_parse(a, text, &v, msg, sizeof msg) == 0)
        fail_msg("%s=\"%s\" accepted", a->name, text);
    assert_string_equal(msg, want);
}

#define POOLS "system.applicationHost/applicationPools"
#define SITES "system.applicationHost/sites"
#define VALUES "wasp.test/values"

/* ---- loading and lookups ---------------------------------------------------------- */

static void test_sections(void **state)
{
    (void)state;
    assert_int_equal(cfg_schema_section_count(fx), 12);
    assert_int_equal(cfg_schema_warning_count(fx), 0); /* <method> is ignored silently */
    const cfg_section_schema_t *a = cfg_schema_section(fx, "system.webServer/defaultDocument");
    assert_non_null(a);
    /* IIS finds sections case-insensitively */
    assert_ptr_equal(cfg_schema_section(fx, "SYSTEM.WEBSERVER/DEFAULTDOCUMENT"), a);
    assert_ptr_equal(cfg_schema_section(fx, "System.WebServer/DefaultDocument"), a);
    assert_null(cfg_schema_section(fx, "system.webServer/defaultDocuments"));
    assert_null(cfg_schema_section(fx, "system.webServer"));
    assert_string_equal(a->name, "system.webServer/defaultDocument");
    assert_string_equal(a->root->name, "defaultDocument");
    assert_string_equal(a->root->path, "");
    assert_int_equal(a->line, 8);
    assert_non_null(strstr(a->file, "/10_webserver.xml"));
    /* the first file's spelling stays, though 50_extend.xml writes it otherwise */
    assert_string_equal(cfg_schema_section(fx, "system.applicationhost/applicationpools")->name,
                        POOLS);
    /* sections keep the order they were first described in */
    const cfg_section_schema_t *s = cfg_schema_first_section(fx);
    assert_ptr_equal(s, a);
    size_t n = 0;
    for (; s; s = s->next)
        n++;
    assert_int_equal(n, 12);
}

static void test_elements(void **state)
{
    (void)state;
    const cfg_section_schema_t *dd = cfg_schema_section(fx, "system.webServer/defaultDocument");
    assert_ptr_equal(cfg_schema_element(fx, dd, ""), dd->root);
    assert_ptr_equal(cfg_schema_element(fx, dd, NULL), dd->root);
    const cfg_elem_schema_t *files = cfg_schema_element(fx, dd, "files");
    assert_non_null(files);
    assert_string_equal(files->path, "files");
    assert_non_null(files->coll);
    const cfg_elem_schema_t *item = cfg_schema_element(fx, dd, "files/add");
    assert_ptr_equal(item, files->coll->item);
    assert_string_equal(item->path, "files/add");
    assert_ptr_equal(item->owner, files->coll);
    assert_null(files->owner);
    /* directives are not elements; nor are paths that are not written */
    assert_null(cfg_schema_element(fx, dd, "files/remove"));
    assert_null(cfg_schema_element(fx, dd, "files/clear"));
    assert_null(cfg_schema_element(fx, dd, "Files"));
    assert_null(cfg_schema_element(fx, dd, "files/"));
    assert_null(cfg_schema_element(fx, dd, "/files"));
    assert_null(cfg_schema_element(fx, dd, "files//add"));
    assert_null(cfg_schema_element(fx, dd, "bogus"));

    /* nested collections: the application collection inside each site */
    const cfg_section_schema_t *sites = cfg_schema_section(fx, SITES);
    const cfg_elem_schema_t *vd =
        cfg_schema_element(fx, sites, "site/application/virtualDirectory");
    assert_non_null(vd);
    assert_string_equal(vd->path, "site/application/virtualDirectory");
    assert_non_null(cfg_schema_element(fx, sites, "site/bindings/binding"));
    assert_non_null(cfg_schema_element(fx, sites, "site/logFile/customFields/add"));
    const cfg_elem_schema_t *sd = cfg_schema_element(fx, sites, "siteDefaults");
    assert_true(sd->is_collection_default);
    assert_false(cfg_schema_element(fx, sites, "site/limits")->is_collection_default);
    assert_string_equal(sites->root->coll->default_element, "siteDefaults");
    assert_true(cfg_schema_element(fx, cfg_schema_section(fx, POOLS), "applicationPoolDefaults")
                    ->is_collection_default);

    /* two add elements lead to the same item */
    const cfg_section_schema_t *wa = cfg_schema_section(fx, "system.web/authorization");
    const cfg_elem_schema_t *allow = cfg_schema_element(fx, wa, "allow");
    assert_non_null(allow);
    assert_ptr_equal(cfg_schema_element(fx, wa, "deny"), allow);
    assert_string_equal(allow->name, "allow");
    assert_string_equal(wa->root->coll->add, "allow,deny");
    assert_true(wa->root->coll->allow_duplicates);
}

static void test_attribute_facts(void **state)
{
    (void)state;
    const cfg_attr_schema_t *name = attr(POOLS, "add", "name");
    assert_int_equal(name->type, CFG_T_STRING);
    assert_true(name->required);
    assert_true(name->unique_key);
    assert_false(name->combined_key);
    assert_false(name->has_default);
    assert_int_equal(name->validator.kind, CFG_V_POOL_NAME);
    assert_string_equal(name->validation_type, "applicationPoolName");

    const cfg_attr_schema_t *ql = attr(POOLS, "add", "queueLength");
    assert_int_equal(ql->type, CFG_T_UINT);
    assert_int_equal(ql->line, 12); /* the line of its <attribute> tag */
    assert_non_null(strstr(ql->file, "/20_applicationhost.xml"));
    assert_int_equal(ql->validator.kind, CFG_V_INTEGER_RANGE);
    assert_int_equal(ql->validator.min, 10);
    assert_int_equal(ql->validator.max, 65535);
    assert_false(ql->validator.exclude);
    assert_string_equal(ql->validation_parameter, "10,65535");
    /* the defaults element has its own copy */
    assert_ptr_not_equal(attr(POOLS, "applicationPoolDefaults", "queueLength"), ql);
    assert_int_equal(attr(POOLS, "applicationPoolDefaults", "queueLength")->line, 103);

    const cfg_attr_schema_t *pw = attr(POOLS, "add/processModel", "password");
    assert_true(pw->encrypted);
    assert_true(pw->case_sensitive);
    assert_false(pw->expanded);
    assert_true(attr(SITES, "site/logFile", "directory")->expanded);
    assert_true(attr(SITES, "site/bindings/binding", "protocol")->combined_key);
    assert_true(attr(SITES, "site/bindings/binding", "bindingInformation")->combined_key);
    assert_true(attr(POOLS, "add/cpu", "smpProcessorAffinityMask")->display_hex);
    assert_true(attr(VALUES, "", "wait")->allow_infinite);
    assert_int_equal(attr("system.web/sessionState", "", "timeout")->timespan_format,
                     WASP_TIMESPAN_MINUTES);
    assert_int_equal(attr("system.web/httpRuntime", "", "executionTimeout")->timespan_format,
                     WASP_TIMESPAN_SECONDS);
    assert_int_equal(attr(POOLS, "add/processModel", "idleTimeout")->timespan_format,
                     WASP_TIMESPAN_STRING);
    const cfg_attr_schema_t *mb = attr(SITES, "site/limits", "maxBandwidth");
    assert_true(mb->validator.exclude);

    const cfg_attr_schema_t *it = attr(POOLS, "add/processModel", "identityType");
    assert_int_equal(it->type, CFG_T_ENUM);
    assert_int_equal(it->value_count, 5);
    assert_string_equal(it->values[3].name, "SpecificUser");
    assert_int_equal(it->values[3].value, 3);
    const cfg_attr_schema_t *ef =
        attr("system.webServer/security/authentication/windowsAuthentication",
             "extendedProtection", "flags");
    assert_int_equal(ef->type, CFG_T_FLAGS);
    assert_int_equal(ef->values[4].value, 32);

    /* attribute names are exact; sections are not */
    assert_null(cfg_schema_find_attr(fx, POOLS, "add", "QueueLength"));
    assert_non_null(cfg_schema_find_attr(fx, "SYSTEM.applicationHost/APPLICATIONPOOLS", "add",
                                         "queueLength"));
    /* attributes come in schema order */
    const cfg_elem_schema_t *add = cfg_schema_element(fx, cfg_schema_section(fx, POOLS), "add");
    assert_string_equal(add->attrs->name, "name");
    assert_string_equal(add->attrs->next->name, "queueLength");
    assert_ptr_equal(cfg_schema_attr(fx, add, "queueLength"), ql);
    assert_null(cfg_schema_attr(fx, add, "processModel"));
}

static void test_remove_path_keys_only(void **state)
{
    (void)state;
    const char *dd = "system.webServer/defaultDocument";
    assert_ptr_equal(cfg_schema_find_attr(fx, dd, "files/remove", "value"),
                     cfg_schema_find_attr(fx, dd, "files/add", "value"));
    /* a <remove> carries the key attributes only */
    assert_non_null(cfg_schema_find_attr(fx, dd, "files/add", "waspNote"));
    assert_null(cfg_schema_find_attr(fx, dd, "files/remove", "waspNote"));
    assert_null(cfg_schema_find_attr(fx, dd, "files/remove/x", "value"));
    /* combined keys: every one of them */
    const char *he = "system.webServer/httpErrors";
    assert_non_null(cfg_schema_find_attr(fx, he, "remove", "statusCode"));
    assert_non_null(cfg_schema_find_attr(fx, he, "remove", "subStatusCode"));
    assert_null(cfg_schema_find_attr(fx, he, "remove", "path"));
    /* a renamed remove element */
    const char *wa = "system.webServer/security/authentication/windowsAuthentication";
    assert_non_null(cfg_schema_find_attr(fx, wa, "extendedProtection/removeSpn", "name"));
    assert_null(cfg_schema_find_attr(fx, wa, "extendedProtection/remove", "name"));
    /* no remove element: none found */
    assert_null(cfg_schema_find_attr(fx, POOLS, "remove", "name"));
}

static void test_defaults(void **state)
{
    (void)state;
    const cfg_attr_schema_t *a = attr(POOLS, "add", "queueLength");
    assert_true(a->has_default);
    assert_string_equal(cfg_schema_attr_default(a), "1000");
    assert_int_equal(a->default_value.i, 1000);

    a = attr(POOLS, "add/recycling/periodicRestart", "time");
    assert_string_equal(cfg_schema_attr_default(a), "29:00:00");
    assert_int_equal(a->default_value.i, 29 * 3600 * 1000);
    a = attr(POOLS, "add/recycling", "logEventOnRecycle");
    assert_int_equal(a->default_value.i, 255);
    a = attr(POOLS, "add/processModel", "identityType");
    assert_int_equal(a->default_value.i, 4);
    a = attr(POOLS, "add/processModel", "password");
    assert_string_equal(a->default_value.s, "[enc:IISWASOnlyAesProvider::enc]");
    a = attr("system.webServer/httpErrors", "error", "subStatusCode");
    assert_int_equal(a->default_value.i, -1);
    a = attr("system.web/sessionState", "", "timeout");
    assert_string_equal(cfg_schema_attr_default(a), "20");
    assert_int_equal(a->default_value.i, 20 * 60 * 1000);
    a = attr("system.web/httpRuntime", "", "executionTimeout");
    assert_int_equal(a->default_value.i, 110 * 1000);
    a = attr(VALUES, "", "big");
    assert_int_equal(a->default_value.i, INT64_MIN);
    a = attr(VALUES, "", "mask");
    assert_int_equal(a->default_value.i, 0xFFFF);
    a = attr(VALUES, "", "wait");
    assert_true(a->default_value.infinite);
    a = attr(VALUES, "", "limit");
    assert_true(a->default_value.infinite);
    assert_int_equal(a->default_value.i, UINT32_MAX);

    /* no defaultValue: the type's own */
    a = attr(POOLS, "add/processModel", "userName");
    assert_false(a->has_default);
    assert_string_equal(cfg_schema_attr_default(a), "");
    a = attr(VALUES, "", "plain");
    assert_string_equal(cfg_schema_attr_default(a), "0");
    assert_int_equal(a->default_value.i, 0);
    a = attr("system.webServer/security/authorization", "add", "accessType");
    assert_string_equal(cfg_schema_attr_default(a), "Allow"); /* the value 0 */
    a = attr(VALUES, "", "level");
    assert_string_equal(cfg_schema_attr_default(a), "Low"); /* no 0: the first */
    assert_int_equal(a->default_value.i, 1);
    a = attr("system.webServer/security/requestFiltering", "", "allowDoubleEscaping");
    assert_string_equal(cfg_schema_attr_default(a), "false");
    assert_false(a->default_value.b);
    assert_string_equal(cfg_schema_attr_default(attr(VALUES, "", "label")), "");
}

static void test_extension(void **state)
{
    (void)state;
    /* 50_extend.xml adds to sections of 10_ and 20_ */
    const cfg_attr_schema_t *a = attr(POOLS, "add/processModel", "requestQueueDelegatorIdentity");
    assert_non_null(strstr(a->file, "/50_extend.xml"));
    assert_int_equal(a->line, 12);
    assert_non_null(attr(POOLS, "applicationPoolDefaults/processModel",
                         "requestQueueDelegatorIdentity"));
    /* the earlier attributes stay, the new one comes last */
    const cfg_elem_schema_t *pm =
        cfg_schema_element(fx, cfg_schema_section(fx, POOLS), "add/processModel");
    assert_string_equal(pm->attrs->name, "identityType");
    assert_string_equal(pm->attrs_tail->name, "requestQueueDelegatorIdentity");
    assert_non_null(strstr(cfg_schema_section(fx, POOLS)->file, "/20_applicationhost.xml"));

    const char *rf = "system.webServer/security/requestFiltering";
    assert_non_null(attr(rf, "", "removeServerHeader"));
    assert_non_null(attr(rf, "", "allowDoubleEscaping"));
    assert_non_null(attr(rf, "filteringRules/filteringRule/denyStrings/add", "string"));
    assert_non_null(attr(rf, "verbs/add", "verb"));

    /* a collection extended by a later <collection> without directives */
    const char *dd = "system.webServer/defaultDocument";
    const cfg_elem_schema_t *files = cfg_schema_element(fx, cfg_schema_section(fx, dd), "files");
    assert_false(files->coll->merge_append);
    assert_string_equal(files->coll->remove, "remove");
    assert_non_null(strstr(files->coll->file, "/10_webserver.xml"));
    assert_string_equal(files->coll->item->attrs->name, "value");
    assert_string_equal(files->coll->item->attrs->next->name, "waspNote");
}

/* ---- types -------------------------------------------------------------------------- */

static void test_bool(void **state)
{
    (void)state;
    const cfg_attr_schema_t *a = attr(POOLS, "add", "autoStart");
    assert_true(ok(a, "true").b);
    assert_false(ok(a, "false").b);
    assert_true(ok(a, "TRUE").b);
    assert_false(ok(a, " False ").b);
    bad(a, "yes", "Boolean value must be true or false");
    bad(a, "1", "Boolean value must be true or false");
    bad(a, "", "Boolean value must be true or false");
    bad(a, "truex", "Boolean value must be true or false");
}

static void test_uint(void **state)
{
    (void)state;
    const cfg_attr_schema_t *a = attr(VALUES, "", "plain");
    assert_int_equal(ok(a, "0").i, 0);
    assert_int_equal(ok(a, "4294967295").i, 4294967295LL);
    assert_int_equal(ok(a, " 42 ").i, 42);
    assert_int_equal(ok(a, "+7").i, 7);
    assert_int_equal(ok(a, "-0").i, 0);
    bad(a, "4294967296", "Integer value must be between 0 and 4294967295 inclusive");
    bad(a, "-1", "Integer value must be between 0 and 4294967295 inclusive");
    bad(a, "99999999999999999999999", "Integer value must be between 0 and 4294967295 inclusive");
    bad(a, "12a", "Integer value must be a whole number between 0 and 4294967295 inclusive");
    bad(a, "", "Integer value must be a whole number between 0 and 4294967295 inclusive");
    bad(a, "1 2", "Integer value must be a whole number between 0 and 4294967295 inclusive");
    /* hexadecimal only where the schema says displayHex */
    bad(a, "0x10", "Integer value must be a whole number between 0 and 4294967295 inclusive");
    const cfg_attr_schema_t *m = attr(VALUES, "", "mask");
    assert_int_equal(ok(m, "0x1F").i, 31);
    assert_int_equal(ok(m, "0XfFfFfFfF").i, 4294967295LL);
    assert_int_equal(ok(m, "255").i, 255);
    bad(m, "0x100000000", "Integer value must be between 0 and 4294967295 inclusive");
    bad(m, "0x", "Integer value must be a whole number between 0 and 4294967295 inclusive");
    /* "Infinite" only where allowInfinite */
    bad(a, "Infinite", "Integer value must be a whole number between 0 and 4294967295 inclusive");
}

static void test_int_int64(void **state)
{
    (void)state;
    const cfg_attr_schema_t *a = attr(VALUES, "", "small");
    assert_int_equal(ok(a, "-2147483648").i, INT32_MIN);
    assert_int_equal(ok(a, "2147483647").i, INT32_MAX);
    bad(a, "2147483648", "Integer value must be between -2147483648 and 2147483647 inclusive");
    bad(a, "-2147483649", "Integer value must be between -2147483648 and 2147483647 inclusive");
    bad(a, "--1", "Integer value must be a whole number between -2147483648 and 2147483647 "
                  "inclusive");
    const cfg_attr_schema_t *b = attr(VALUES, "", "big");
    assert_int_equal(ok(b, "9223372036854775807").i, INT64_MAX);
    assert_int_equal(ok(b, "-9223372036854775808").i, INT64_MIN);
    bad(b, "9223372036854775808",
        "Integer value must be between -9223372036854775808 and 9223372036854775807 inclusive");
    bad(b, "-9223372036854775809",
        "Integer value must be between -9223372036854775808 and 9223372036854775807 inclusive");
}

static void test_enum(void **state)
{
    (void)state;
    const cfg_attr_schema_t *a = attr(POOLS, "add", "managedPipelineMode");
    assert_int_equal(ok(a, "Integrated").i, 0);
    assert_int_equal(ok(a, "Classic").i, 1);
    assert_int_equal(ok(a, "classic").i, 1);
    assert_int_equal(ok(a, " CLASSIC ").i, 1);
    assert_int_equal(ok(a, "1").i, 1);
    bad(a, "7", "Enum must be one of Integrated, Classic");
    bad(a, "Classics", "Enum must be one of Integrated, Classic");
    bad(a, "", "Enum must be one of Integrated, Classic");
    /* numbers are the schema's values, not positions */
    const cfg_attr_schema_t *lb = attr(POOLS, "add/failure", "loadBalancerCapabilities");
    assert_int_equal(ok(lb, "2").i, 2);
    assert_int_equal(ok(lb, "tcplevel").i, 1);
    bad(lb, "0", "Enum must be one of TcpLevel, HttpLevel");
}

static void test_flags(void **state)
{
    (void)state;
    const cfg_attr_schema_t *a = attr(POOLS, "add/recycling", "logEventOnRecycle");
    assert_int_equal(ok(a, "Time, Memory").i, 9);
    assert_int_equal(ok(a, " time ,memory ").i, 9);
    assert_int_equal(ok(a, "Time,Time").i, 1);
    assert_int_equal(ok(a, "").i, 0);
    assert_int_equal(ok(a, "   ").i, 0);
    assert_int_equal(ok(a, "3").i, 3);      /* a number stands for its bits */
    assert_int_equal(ok(a, "Time, 6").i, 7);
    const char *msg = "Flags must be some combination of Time, Requests, Schedule, Memory, "
                      "IsapiUnhealthy, OnDemand, ConfigChange, PrivateMemory";
    bad(a, "Bogus", msg);
    bad(a, "Time,,Memory", msg);
    bad(a, "Time,", msg);
    bad(a, ",Time", msg);
    bad(a, "256", msg); /* a bit no flag has */
    bad(a, "-1", msg);
    bad(a, "None", msg); /* not one of these flags */
    const cfg_attr_schema_t *f =
        attr("system.webServer/security/authentication/windowsAuthentication",
             "extendedProtection", "flags");
    assert_int_equal(ok(f, "None").i, 0);
    assert_int_equal(ok(f, "Proxy,ProxyCohosting").i, 33);
    bad(f, "8", "Flags must be some combination of None, Proxy, NoServiceNameCheck, "
                "AllowDotlessSpn, ProxyCohosting");
}

static void test_timespan(void **state)
{
    (void)state;
    const cfg_attr_schema_t *a = attr(SITES, "site/limits", "connectionTimeout");
    assert_int_equal(ok(a, "00:02:00").i, 120000);
    assert_int_equal(ok(a, " 00:02:00 ").i, 120000);
    const cfg_attr_schema_t *t = attr(POOLS, "add/recycling/periodicRestart", "time");
    assert_int_equal(ok(t, "1.05:00:00").i, 29LL * 3600 * 1000);
    assert_int_equal(ok(t, "29:00:00").i, 29LL * 3600 * 1000); /* hours > 23, no day */
    assert_int_equal(ok(t, "2.00:00:00").i, 48LL * 3600 * 1000);
    const char *form = "Timespan value must be written [d.]hh:mm:ss[.fffffff]";
    bad(t, "garbage", form);
    bad(t, "00:60:00", form);
    bad(t, "", form);
    bad(t, "1.24:00:00:00", form);
    const cfg_attr_schema_t *w = attr(VALUES, "", "wait");
    assert_int_equal(ok(w, "00:00:30.5").i, 30500);
    assert_int_equal(ok(w, "00:00:00.1234567").i, 123);
    cfg_value_t inf = ok(w, "Infinite");
    assert_true(inf.infinite);
    assert_int_equal(inf.i, INT64_MAX);
    assert_true(ok(w, "infinite").infinite);
    /* "Infinite" only where allowInfinite */
    bad(t, "Infinite", form);
    /* .NET's TimeSpan range, no further */
    assert_int_equal(ok(w, "10675199.02:48:05.477").i, 922337203685477LL);
    assert_int_equal(ok(w, "-10675199.02:48:05.477").i, -922337203685477LL);
    const char *range = "Timespan value must be between -10675199.02:48:05.4770000 and "
                        "10675199.02:48:05.4770000";
    bad(w, "10675199.02:48:05.478", range);
    bad(w, "10675199.256204776:00:00", range);

    const cfg_attr_schema_t *sec = attr("system.web/httpRuntime", "", "executionTimeout");
    assert_int_equal(ok(sec, "90").i, 90000);
    assert_true(ok(sec, "Infinite").infinite);
    bad(sec, "00:01:30", "Timespan value must be a whole number of seconds");
    bad(sec, "922337203686", range);
    const cfg_attr_schema_t *min = attr("system.web/sessionState", "", "timeout");
    assert_int_equal(ok(min, "30").i, 30 * 60000);
    bad(min, "1.5", "Timespan value must be a whole number of minutes");
}

static void test_string_and_env(void **state)
{
    (void)state;
    const cfg_attr_schema_t *a = attr(POOLS, "add/processModel", "userName");
    const char *text = " any text <&> ";
    assert_ptr_equal(ok(a, text).s, text); /* not trimmed, not copied */

    setenv("WASP_T_ROOT", "/srv/www", 1);
    unsetenv("WASP_T_UNSET");
    char out[128];
    assert_int_equal(cfg_expand_env("%WASP_T_ROOT%\\site", out, sizeof out), 13);
    assert_string_equal(out, "/srv/www\\site");
    cfg_expand_env("%wasp_t_root%", out, sizeof out); /* Windows names have no case */
    assert_string_equal(out, "/srv/www");
    cfg_expand_env("a%WASP_T_ROOT%b%WASP_T_ROOT%c", out, sizeof out);
    assert_string_equal(out, "a/srv/wwwb/srv/wwwc");
    cfg_expand_env("%WASP_T_UNSET%\\x", out, sizeof out); /* unknown: as written */
    assert_string_equal(out, "%WASP_T_UNSET%\\x");
    cfg_expand_env("100% sure", out, sizeof out);
    assert_string_equal(out, "100% sure");
    cfg_expand_env("%%WASP_T_ROOT%", out, sizeof out);
    assert_string_equal(out, "%/srv/www");
    cfg_expand_env("%WASP_T_UNSET%WASP_T_ROOT%", out, sizeof out);
    assert_string_equal(out, "%WASP_T_UNSET%WASP_T_ROOT%");
    cfg_expand_env("", out, sizeof out);
    assert_string_equal(out, "");
    /* bounded like snprintf */
    char small[6];
    assert_int_equal(cfg_expand_env("%WASP_T_ROOT%", small, sizeof small), 8);
    assert_string_equal(small, "/srv/");
    assert_int_equal(cfg_expand_env("%WASP_T_ROOT%", NULL, 0), 8);

    /* an expanded default, as the reader will use it */
    setenv("SystemDrive", "/mnt/c", 1);
    cfg_expand_env(cfg_schema_attr_default(attr(SITES, "site/logFile", "directory")), out,
                   sizeof out);
    assert_string_equal(out, "/mnt/c\\inetpub\\logs\\LogFiles");
    unsetenv("SystemDrive");
    unsetenv("WASP_T_ROOT");
}

static void test_format_timespan(void **state)
{
    (void)state;
    char b[48];
    assert_string_equal(cfg_format_timespan(0, b, sizeof b), "00:00:00");
    assert_string_equal(cfg_format_timespan(2592000000LL, b, sizeof b), "30.00:00:00");
    assert_string_equal(cfg_format_timespan(29LL * 3600000, b, sizeof b), "1.05:00:00");
    assert_string_equal(cfg_format_timespan(30500, b, sizeof b), "00:00:30.5000000");
    assert_string_equal(cfg_format_timespan(-60000, b, sizeof b), "-00:01:00");
    assert_string_equal(cfg_format_timespan(4294967000LL, b, sizeof b), "49.17:02:47");
}

/* ---- validators ----------------------------------------------------------------------- */

static void test_integer_range(void **state)
{
    (void)state;
    const cfg_attr_schema_t *a = attr(POOLS, "add", "queueLength");
    const char *m = "Integer value must be between 10 and 65535 inclusive";
    bad(a, "9", m);
    assert_int_equal(ok(a, "10").i, 10);
    assert_int_equal(ok(a, "65535").i, 65535);
    bad(a, "65536", m);
    bad(a, "0", m);
    /* exclude: the range is what is refused */
    const cfg_attr_schema_t *b = attr(SITES, "site/limits", "maxBandwidth");
    const char *x = "Integer value must not be between 0 and 1023 inclusive";
    bad(b, "0", x);
    bad(b, "12", x);
    bad(b, "1023", x);
    assert_int_equal(ok(b, "1024").i, 1024);
    assert_int_equal(ok(b, "4294967295").i, 4294967295LL);
    const cfg_attr_schema_t *o = attr(VALUES, "", "outside");
    assert_int_equal(ok(o, "-11").i, -11);
    bad(o, "-10", "Integer value must not be between -10 and 10 inclusive");
    bad(o, "0", "Integer value must not be between -10 and 10 inclusive");
    bad(o, "10", "Integer value must not be between -10 and 10 inclusive");
    assert_int_equal(ok(o, "11").i, 11);
    /* negative bounds, int64 bounds */
    const cfg_attr_schema_t *s = attr("system.webServer/httpErrors", "error", "subStatusCode");
    assert_int_equal(ok(s, "-1").i, -1);
    bad(s, "-2", "Integer value must be between -1 and 999 inclusive");
    const cfg_attr_schema_t *w = attr(VALUES, "", "span64");
    assert_int_equal(ok(w, "5000000000").i, 5000000000LL);
    assert_int_equal(ok(w, "-5000000000").i, -5000000000LL);
    bad(w, "5000000001", "Integer value must be between -5000000000 and 5000000000 inclusive");
    /* the type's range is checked before the validator's */
    bad(a, "4294967296", "Integer value must be between 0 and 4294967295 inclusive");
    /* Infinite passes the validator */
    const cfg_attr_schema_t *l = attr(VALUES, "", "limit");
    assert_int_equal(ok(l, "Infinite").i, 4294967295LL);
    assert_int_equal(ok(l, "1000").i, 1000);
    bad(l, "0", "Integer value must be between 1 and 1000 inclusive");
    bad(l, "1001", "Integer value must be between 1 and 1000 inclusive");
}

static void test_timespan_range(void **state)
{
    (void)state;
    const cfg_attr_schema_t *a = attr(POOLS, "add/processModel", "idleTimeout");
    const char *m = "Timespan value must be between 00:00:00 and 30.00:00:00 seconds inclusive, "
                    "with a granularity of 60 seconds";
    assert_int_equal(ok(a, "00:00:00").i, 0);
    assert_int_equal(ok(a, "00:01:00").i, 60000);
    assert_int_equal(ok(a, "30.00:00:00").i, 2592000000LL);
    bad(a, "30.00:01:00", m);
    bad(a, "00:00:30", m); /* off the 60-second grid */
    bad(a, "00:01:00.5", m);
    bad(a, "-00:01:00", m);
    const cfg_attr_schema_t *s = attr(POOLS, "add/processModel", "shutdownTimeLimit");
    const char *ms = "Timespan value must be between 00:00:01 and 49.17:02:47 seconds inclusive, "
                     "with a granularity of 1 seconds";
    bad(s, "00:00:00", ms);
    assert_int_equal(ok(s, "00:00:01").i, 1000);
    assert_int_equal(ok(s, "49.17:02:47").i, 4294967000LL);
    bad(s, "49.17:02:48", ms);
    bad(s, "00:00:01.5", ms); /* not whole seconds */
    const cfg_attr_schema_t *sch =
        attr(POOLS, "add/recycling/periodicRestart/schedule/add", "value");
    assert_int_equal(ok(sch, "23:59:00").i, 86340000);
    bad(sch, "23:59:30", "Timespan value must be between 00:00:00 and 23:59:59 seconds inclusive, "
                         "with a granularity of 60 seconds");
    bad(sch, "1.00:00:00", "Timespan value must be between 00:00:00 and 23:59:59 seconds "
                           "inclusive, with a granularity of 60 seconds");
    /* a range from 1 with a 60-second grid takes whole minutes */
    const cfg_attr_schema_t *st = attr("system.web/sessionState", "", "timeout");
    assert_int_equal(ok(st, "20").i, 1200000);
    assert_int_equal(ok(st, "1").i, 60000);
    bad(st, "0", "Timespan value must be between 00:00:01 and 365.00:00:00 seconds inclusive, "
                 "with a granularity of 60 seconds");
    /* exclude */
    const cfg_attr_schema_t *x = attr(VALUES, "", "notQuick");
    const char *mx = "Timespan value must not be between 00:00:10 and 00:00:20 seconds "
                     "inclusive, with a granularity of 1 seconds";
    assert_int_equal(ok(x, "00:00:09").i, 9000);
    bad(x, "00:00:10", mx);
    bad(x, "00:00:15", mx);
    bad(x, "00:00:20", mx);
    assert_int_equal(ok(x, "00:00:21").i, 21000);
}

static void test_string_validators(void **state)
{
    (void)state;
    const cfg_attr_schema_t *ne = attr(POOLS, "add/environmentVariables/add", "name");
    bad(ne, "", "String must not be empty");
    assert_string_equal(ok(ne, " ").s, " ");
    assert_string_equal(ok(ne, "PATH").s, "PATH");

    const char *trim = "String must not begin or end with white space";
    for (int i = 0; i < 2; i++) {
        const cfg_attr_schema_t *t = attr(VALUES, "", i ? "oldLabel" : "label");
        assert_int_equal(t->validator.kind, CFG_V_TRIMMED);
        bad(t, " a", trim);
        bad(t, "a ", trim);
        bad(t, "a\t", trim);
        bad(t, " ", trim);
        ok(t, "a b");
        ok(t, "");
    }

    const cfg_attr_schema_t *site = attr(SITES, "site", "name");
    ok(site, "Default Web Site");
    ok(site, "www.contoso.com");
    ok(site, "a:b&c");
    bad(site, "a/b", "Invalid site name");
    bad(site, "what?", "Invalid site name");
    bad(site, "", "Invalid site name");
    bad(site, "   ", "Invalid site name");

    const cfg_attr_schema_t *pool = attr(POOLS, "add", "name");
    ok(pool, "DefaultAppPool");
    ok(pool, ".NET v4.5 Classic");
    bad(pool, "", "Invalid application pool name");
    bad(pool, " \t", "Invalid application pool name");
    for (const char *c = "|<>&\"/[]+=;:,?*@\\"; *c; c++) {
        char name[8];
        snprintf(name, sizeof name, "a%cb", *c);
        bad(pool, name, "Invalid application pool name");
    }

    const cfg_attr_schema_t *app = attr(SITES, "site/application", "path");
    ok(app, "/");
    ok(app, "/app");
    ok(app, "/a/b.c/...");
    const char *ma = "Invalid application path";
    bad(app, "", ma);
    bad(app, "app", ma);
    bad(app, "/app/", ma);
    bad(app, "/a/./b", ma);
    bad(app, "/a/..", ma);
    bad(app, "/.", ma);
    const cfg_attr_schema_t *vd = attr(SITES, "site/application/virtualDirectory", "path");
    ok(vd, "/img");
    bad(vd, "img", "Invalid virtual directory path");
    bad(vd, "/img/", "Invalid virtual directory path");
    assert_int_equal(attr(VALUES, "", "appPath")->validator.kind, CFG_V_APP_PATH);
    assert_int_equal(attr(VALUES, "", "vdirPath")->validator.kind, CFG_V_VDIR_PATH);
    assert_int_equal(attr(VALUES, "", "site")->validator.kind, CFG_V_SITE_NAME);
}

static void test_regex(void **state)
{
    (void)state;
    const cfg_attr_schema_t *a = attr(VALUES, "", "slug");
    ok(a, "home");
    ok(a, "my-page");
    const char *m = "The value does not conform to the validation regex string "
                    "'^[a-z]+(-[a-z]+)*$'.";
    bad(a, "My-Page", m);
    bad(a, "a--b", m);
    bad(a, "", m);

    /* a pattern that backtracks forever fails within the match limit */
    cfg_attr_schema_t s = { .name = "x", .type = CFG_T_STRING };
    char err[256];
    assert_int_equal(cfg_validator_init(&s.validator, CFG_T_STRING, "regex", "^(a|aa)+$", err,
                                        sizeof err),
                     0);
    char value[80];
    memset(value, 'a', 60);
    strcpy(value + 60, "b");
    cfg_value_t v;
    char msg[512];
    assert_int_equal(cfg_value_parse(&s, value, &v, msg, sizeof msg), -1);
    assert_contains(msg, "could not be checked against the validation regex string '^(a|aa)+$'");
    ok(&s, "aaa");
    cfg_validator_release(&s.validator);
}

static void test_validator_init(void **state)
{
    (void)state;
    cfg_validator_t v;
    char err[512];
    assert_int_equal(cfg_validator_init(&v, CFG_T_UINT, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(v.kind, CFG_V_NONE);
    assert_int_equal(cfg_validator_init(&v, CFG_T_UINT, "", "x", err, sizeof err), 0);
    assert_int_equal(cfg_validator_init(&v, CFG_T_INT64, "integerRange", " -5 , 5 , exclude ",
                                        err, sizeof err),
                     0);
    assert_true(v.exclude);
    assert_int_equal(v.min, -5);
    assert_int_equal(cfg_validator_init(&v, CFG_T_UINT, "IntegerRange", "1,2", err, sizeof err),
                     0);
    const char *bad_int[] = { "", "10", "10,", "a,b", "5,1", "1,2,3", "1,2,exclude,x",
                              "1,99999999999999999999" };
    for (size_t i = 0; i < sizeof bad_int / sizeof *bad_int; i++) {
        assert_int_equal(cfg_validator_init(&v, CFG_T_UINT, "integerRange", bad_int[i], err,
                                            sizeof err),
                         -1);
        assert_contains(err, "of integerRange must be \"min,max\"");
    }
    assert_int_equal(cfg_validator_init(&v, CFG_T_TIMESPAN, "timeSpanRange", "0,60,1", err,
                                        sizeof err),
                     0);
    const char *bad_ts[] = { "0,60", "0,60,0", "0,60,-1", "60,0,1", "0,60,1,inclusive",
                             "0,922337203686,1" };
    for (size_t i = 0; i < sizeof bad_ts / sizeof *bad_ts; i++) {
        assert_int_equal(cfg_validator_init(&v, CFG_T_TIMESPAN, "timeSpanRange", bad_ts[i], err,
                                            sizeof err),
                         -1);
        assert_contains(err, "of timeSpanRange must be");
    }
    assert_int_equal(cfg_validator_init(&v, CFG_T_STRING, "between", "1,2", err, sizeof err), -1);
    assert_contains(err, "validationType=\"between\" is not a validator IIS knows");
    assert_int_equal(cfg_validator_init(&v, CFG_T_STRING, "integerRange", "1,2", err, sizeof err),
                     -1);
    assert_string_equal(err, "validationType=\"integerRange\" needs an integer attribute (type "
                             "uint, int or int64), not type string");
    assert_int_equal(cfg_validator_init(&v, CFG_T_UINT, "timeSpanRange", "1,2,1", err,
                                        sizeof err),
                     -1);
    assert_contains(err, "needs a timeSpan attribute");
    assert_int_equal(cfg_validator_init(&v, CFG_T_BOOL, "nonEmptyString", NULL, err, sizeof err),
                     -1);
    assert_contains(err, "needs a string attribute, not type bool");
    assert_int_equal(cfg_validator_init(&v, CFG_T_STRING, "regex", "([a-z", err, sizeof err), -1);
    assert_contains(err, "validationParameter=\"([a-z\" is not a valid regular expression");
    assert_int_equal(cfg_validator_init(&v, CFG_T_STRING, "regex", "", err, sizeof err), -1);
    assert_contains(err, "needs the pattern");
}

static void test_schema_validate(void **state)
{
    (void)state;
    char msg[512];
    assert_int_equal(cfg_schema_validate(fx, POOLS, "add", "queueLength", "5000", msg, sizeof msg),
                     0);
    assert_int_equal(cfg_schema_validate(fx, POOLS, "add", "queueLength", "5", msg, sizeof msg),
                     -1);
    assert_string_equal(msg, "Integer value must be between 10 and 65535 inclusive");
    assert_int_equal(cfg_schema_validate(fx, "system.webServer/defaultDocument", "", "Enabled",
                                         "true", msg, sizeof msg),
                     -1);
    assert_string_equal(msg, "Unrecognized attribute 'Enabled'. Note that attribute names are "
                             "case-sensitive.");
    assert_int_equal(cfg_schema_validate(fx, "system.webServer/defaultDocument", "files/bogus",
                                         "value", "x", msg, sizeof msg),
                     -1);
    assert_string_equal(msg, "Unrecognized element 'bogus'");
    assert_int_equal(cfg_schema_validate(fx, "system.webServer/nothing", "", "x", "y", msg,
                                         sizeof msg),
                     -1);
    assert_string_equal(msg, "No schema file describes the section 'system.webServer/nothing'");
    /* a remove carries keys, checked like the add's */
    assert_int_equal(cfg_schema_validate(fx, "system.webServer/defaultDocument", "files/remove",
                                         "value", "", msg, sizeof msg),
                     -1);
    assert_string_equal(msg, "String must not be empty");
    assert_int_equal(cfg_schema_validate(fx, "system.webServer/defaultDocument", "files/remove",
                                         "waspNote", "x", msg, sizeof msg),
                     -1);
    assert_contains(msg, "Unrecognized attribute 'waspNote'");
    /* allowUnrecognizedAttributes: provider settings pass, keys are still checked */
    assert_int_equal(cfg_schema_validate(fx, VALUES, "providers/add", "connectionString", "x",
                                         msg, sizeof msg),
                     0);
    assert_int_equal(cfg_schema_validate(fx, VALUES, "providers/remove", "connectionString", "x",
                                         msg, sizeof msg),
                     -1);
    assert_int_equal(cfg_schema_validate(fx, VALUES, "", "connectionString", "x", msg, sizeof msg),
                     -1);
    /* enum via section lookup in another case */
    assert_int_equal(cfg_schema_validate(fx, "SYSTEM.WEBSERVER/HTTPLOGGING", "", "selectiveLogging",
                                         "LogError", msg, sizeof msg),
                     0);
    assert_int_equal(cfg_schema_validate(fx, "system.webServer/httpLogging", "", "selectiveLogging",
                                         "LogSome", msg, sizeof msg),
                     -1);
    assert_string_equal(msg, "Enum must be one of LogAll, LogSuccessful, LogError");
}

/* ---- collections --------------------------------------------------------------------------- */

typedef struct want_coll {
    const char *section, *element, *add, *remove, *clear, *keys;
    unsigned flags; /* PREPEND (mergeAppend="false"), DUPS (allowDuplicates) */
} want_coll_t;
enum { PREPEND = 1, DUPS = 2 };

/* keys: "a,!b,c=-1" as schema_table.c writes them */
static const want_coll_t want_colls[] = {
    { "system.webServer/defaultDocument", "files", "add", "remove", "clear", "value", PREPEND },
    { "system.webServer/httpErrors", "", "error", "remove", "clear",
      "statusCode,subStatusCode=-1", 0 },
    { "system.webServer/security/authorization", "", "add", "remove", "clear",
      "users,roles,!verbs", 0 },
    { "system.webServer/security/requestFiltering", "fileExtensions", "add", "remove", "clear",
      "fileExtension", 0 },
    { "system.webServer/security/requestFiltering", "requestLimits/headerLimits", "add", "remove",
      "clear", "header", 0 },
    { "system.webServer/security/requestFiltering", "verbs", "add", "remove", "clear", "!verb", 0 },
    { "system.webServer/security/requestFiltering", "hiddenSegments", "add", "remove", "clear",
      "segment", 0 },
    { "system.webServer/security/requestFiltering", "filteringRules", "filteringRule", "remove",
      "clear", "name", 0 },
    { "system.webServer/security/requestFiltering", "filteringRules/filteringRule/denyStrings",
      "add", "remove", "clear", "string", 0 },
    { "system.webServer/security/authentication/windowsAuthentication", "providers", "add",
      "remove", "clear", "value", 0 },
    { "system.webServer/security/authentication/windowsAuthentication", "extendedProtection",
      "spn", "removeSpn", "clearSpns", "name", 0 },
    { POOLS, "", "add", NULL, NULL, "name", 0 },
    { POOLS, "add/recycling/periodicRestart/schedule", "add", NULL, "clear", "value", 0 },
    { POOLS, "add/environmentVariables", "add", "remove", NULL, "name", 0 },
    { POOLS, "applicationPoolDefaults/recycling/periodicRestart/schedule", "add", NULL, "clear",
      "value", 0 },
    { POOLS, "applicationPoolDefaults/environmentVariables", "add", "remove", NULL, "name", 0 },
    { SITES, "", "site", NULL, NULL, "name", 0 }, /* id, the second unique key, is the model's */
    { SITES, "site", "application", NULL, NULL, "path", 0 },
    { SITES, "site/application", "virtualDirectory", NULL, NULL, "path", 0 },
    { SITES, "site/bindings", "binding", NULL, "clear", "protocol,bindingInformation", 0 },
    { SITES, "site/logFile/customFields", "add", NULL, "clear", "logFieldName", 0 },
    { SITES, "siteDefaults/bindings", "binding", NULL, "clear", "protocol,bindingInformation", 0 },
    { SITES, "siteDefaults/logFile/customFields", "add", NULL, "clear", "logFieldName", 0 },
    { "system.web/authorization", "", "allow,deny", NULL, "clear", "", DUPS },
    { VALUES, "providers", "add", "remove", "clear", "name", 0 },
};
#define WANT_COUNT (sizeof want_colls / sizeof *want_colls)

static const cfg_coll_schema_t *find_coll(const char *section, const char *element)
{
    for (size_t i = 0; i < cfg_schema_collection_count(fx); i++) {
        const cfg_coll_schema_t *cs = cfg_schema_collection(fx, i);
        if (!strcmp(cs->section, section) && !strcmp(cs->element, element))
            return cs;
    }
    return NULL;
}

static void same_str(const char *a, const char *b, const char *what, const char *where)
{
    if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
        fail_msg("%s of %s: '%s' vs '%s'", what, where, a ? a : "(none)", b ? b : "(none)");
}

/* The facts of cs written as a schema_table.c key spec. */
static void key_spec(const cfg_coll_schema_t *cs, char *buf, size_t size)
{
    buf[0] = '\0';
    for (size_t k = 0; k < CFG_MAX_KEYS && cs->keys[k]; k++) {
        size_t l = strlen(buf);
        snprintf(buf + l, size - l, "%s%s%s%s%s", k ? "," : "",
                 (cs->key_case_sensitive >> k) & 1u ? "!" : "", cs->keys[k],
                 cs->key_defaults[k] ? "=" : "", cs->key_defaults[k] ? cs->key_defaults[k] : "");
    }
}

static void test_collections(void **state)
{
    (void)state;
    assert_int_equal(cfg_schema_collection_count(fx), WANT_COUNT);
    assert_null(cfg_schema_collection(fx, WANT_COUNT));
    for (size_t i = 0; i < WANT_COUNT; i++) {
        const want_coll_t *w = &want_colls[i];
        char where[256], keys[256];
        snprintf(where, sizeof where, "%s|%s", w->section, w->element);
        const cfg_coll_schema_t *cs = find_coll(w->section, w->element);
        if (!cs)
            fail_msg("no collection %s", where);
        same_str(cs->add, w->add, "add", where);
        same_str(cs->remove, w->remove, "remove", where);
        same_str(cs->clear, w->clear, "clear", where);
        key_spec(cs, keys, sizeof keys);
        same_str(keys, w->keys, "keys", where);
        assert_int_equal(cs->merge_append, !(w->flags & PREPEND));
        assert_int_equal(cs->allow_duplicates, (w->flags & DUPS) != 0);
        assert_false(cs->heuristic);
    }
}

/* Where the built-in table (schema_table.c) has the same collection, the
 * schema's facts are the same: the table can go one section at a time. */
static void test_collections_match_builtin(void **state)
{
    (void)state;
    tmp_schema_dir();
    const char *path = tmp_write("applicationHost.config", "<configuration />\n");
    wasp_diag_t d;
    wasp_config_t *cfg = wasp_config_load(path, &d);
    assert_non_null(cfg);
    size_t matched = 0;
    for (size_t i = 0; i < cfg_schema_collection_count(fx); i++) {
        const cfg_coll_schema_t *cs = cfg_schema_collection(fx, i);
        const cfg_coll_schema_t *bt = cfg_collection_schema(cfg, cs->section, cs->element);
        if (!bt)
            continue;
        char where[256], a[256], b[256];
        snprintf(where, sizeof where, "%s|%s", cs->section, cs->element);
        same_str(cs->add, bt->add, "add", where);
        same_str(cs->remove, bt->remove, "remove", where);
        same_str(cs->clear, bt->clear, "clear", where);
        key_spec(cs, a, sizeof a);
        key_spec(bt, b, sizeof b);
        same_str(a, b, "keys", where);
        assert_int_equal(cs->merge_append, bt->merge_append);
        assert_int_equal(cs->allow_duplicates, bt->allow_duplicates);
        matched++;
    }
    /* all but system.web/authorization and wasp.test/values */
    assert_int_equal(matched, WANT_COUNT - 2);
    wasp_config_free(cfg);
}

static void test_register_collections(void **state)
{
    (void)state;
    tmp_schema_dir();
    const char *path = tmp_write("applicationHost.config", "<configuration />\n");
    wasp_diag_t d;
    wasp_config_t *cfg = wasp_config_load(path, &d);
    assert_non_null(cfg);
    const char *dd = "system.webServer/defaultDocument";
    const cfg_coll_schema_t *builtin = cfg_collection_schema(cfg, dd, "files");
    assert_non_null(builtin);
    assert_null(cfg_collection_schema(cfg, "system.web/authorization", ""));

    /* a schema of its own, freed before the configuration is used */
    cfg_schema_t *s;
    assert_int_equal(cfg_schema_load_dir(FIXTURES, &s, &d), 0);
    cfg_schema_register_collections(cfg, s);
    const cfg_coll_schema_t *sch = cfg_schema_collection(s, 0);
    cfg_schema_free(s);

    const cfg_coll_schema_t *files = cfg_collection_schema(cfg, dd, "files");
    assert_non_null(files);
    assert_ptr_not_equal(files, builtin);
    assert_ptr_not_equal(files, sch); /* copied into the configuration */
    assert_string_equal(files->add, "add");
    assert_string_equal(files->keys[0], "value");
    assert_false(files->merge_append);
    const cfg_coll_schema_t *auth = cfg_collection_schema(cfg, "system.web/authorization", "");
    assert_non_null(auth);
    assert_true(cfg_is_add(auth, "allow"));
    assert_true(cfg_is_add(auth, "deny"));
    assert_false(cfg_is_add(auth, "clear"));
    assert_true(cfg_is_directive(auth, "clear"));
    assert_true(auth->allow_duplicates);
    const cfg_coll_schema_t *http = cfg_collection_schema(cfg, "system.webServer/httpErrors", "");
    assert_string_equal(http->keys[1], "subStatusCode");
    assert_string_equal(http->key_defaults[1], "-1");
    assert_non_null(cfg_collection_schema(cfg, SITES, "site/application"));
    wasp_config_free(cfg);
}

/* ---- malformed schema files ----------------------------------------------------------------- */

static void test_bad_xml(void **state)
{
    (void)state;
    const char *path;
    wasp_diag_t d = load_one_fail(HEAD "  <sectionSchema name=\"a/b\">\n"
                                       "    <attribute name=\"x\" type=\"bool\">\n"
                                       "  </sectionSchema>\n"
                                       "</configSchema>\n",
                                  &path);
    assert_int_equal(d.line, 5);
    assert_contains(d.message, "malformed XML");
    cleanup_tmp(NULL);

    d = load_one_fail("<?xml version=\"1.0\"?>\n\n<configuration>\n</configuration>\n", &path);
    assert_int_equal(d.line, 3);
    assert_string_equal(d.message, "the root element is <configuration>, but a schema file must "
                                   "have <configSchema> as its root element");
    cleanup_tmp(NULL);

    d = load_one_fail("<!DOCTYPE configSchema [<!ENTITY a \"b\">]>\n<configSchema />\n", &path);
    assert_contains(d.message, "<!DOCTYPE> declaration is not allowed");
}

typedef struct bad_case {
    const char *body; /* starts at line 3 */
    int line;
    const char *message; /* a part of it */
} bad_case_t;

static const bad_case_t bad_cases[] = {
    { "<sectionSchema>\n</sectionSchema>\n", 3,
      "<sectionSchema> needs a name attribute, e.g. <sectionSchema "
      "name=\"system.webServer/defaultDocument\" />" },
    { "<sectionSchema name=\"/a\" />\n", 3, "sectionSchema name '/a' is not a section path" },
    { "<sectionSchema name=\"a//b\" />\n", 3, "sectionSchema name 'a//b' is not a section path" },
    { "<sectionSchema name=\"a/b\">\n  <attribute type=\"bool\" />\n</sectionSchema>\n", 4,
      "<attribute> needs a name attribute" },
    { "<sectionSchema name=\"a/b\">\n  <attribute name=\"x\"\n     type=\"integer\" />\n"
      "</sectionSchema>\n",
      5, "attribute 'x' has type=\"integer\"; the schema types are bool, enum, flags, uint, int, "
         "int64, string and timeSpan" },
    { "<sectionSchema name=\"a/b\">\n  <attribute name=\"x\" />\n</sectionSchema>\n", 4,
      "attribute 'x' has type=\"\"" },
    { "<sectionSchema name=\"a/b\">\n  <attribute name=\"x\" type=\"uint\"\n"
      "     defaultValue=\"abc\" />\n</sectionSchema>\n",
      5, "defaultValue=\"abc\" of attribute 'x' is not a valid uint: Integer value must be a whole "
         "number between 0 and 4294967295 inclusive" },
    { "<sectionSchema name=\"a/b\">\n  <attribute name=\"x\" type=\"timeSpan\" "
      "defaultValue=\"1 hour\" />\n</sectionSchema>\n",
      4, "defaultValue=\"1 hour\" of attribute 'x' is not a valid timeSpan" },
    { "<sectionSchema name=\"a/b\">\n  <attribute name=\"x\" type=\"uint\"\n"
      "     validationType=\"integerRange\"\n     validationParameter=\"10\" />\n"
      "</sectionSchema>\n",
      5, "attribute 'x': validationParameter=\"10\" of integerRange must be" },
    { "<sectionSchema name=\"a/b\">\n  <attribute name=\"x\" type=\"string\" "
      "validationType=\"between\" />\n</sectionSchema>\n",
      4, "validationType=\"between\" is not a validator IIS knows" },
    { "<sectionSchema name=\"a/b\">\n  <attribute name=\"x\" type=\"string\" "
      "validationType=\"integerRange\" validationParameter=\"1,2\" />\n</sectionSchema>\n",
      4, "needs an integer attribute (type uint, int or int64), not type string" },
    { "<sectionSchema name=\"a/b\">\n  <attribute name=\"x\" type=\"string\" "
      "validationType=\"regex\" validationParameter=\"([a-z\" />\n</sectionSchema>\n",
      4, "is not a valid regular expression" },
    { "<sectionSchema name=\"a/b\">\n  <attribute name=\"x\" type=\"bool\" required=\"yes\" />\n"
      "</sectionSchema>\n",
      4, "required=\"yes\" on <attribute> must be true or false" },
    { "<sectionSchema name=\"a/b\">\n  <attribute name=\"x\" type=\"timeSpan\" "
      "timeSpanFormat=\"hours\" />\n</sectionSchema>\n",
      4, "timeSpanFormat=\"hours\" of attribute 'x' must be string, seconds or minutes" },
    { "<sectionSchema name=\"a/b\">\n  <attribute name=\"x\" type=\"enum\" />\n</sectionSchema>\n",
      4, "attribute 'x' is of type enum but lists no <enum name=\"...\" value=\"...\" />" },
    { "<sectionSchema name=\"a/b\">\n  <attribute name=\"x\" type=\"enum\">\n"
      "    <enum name=\"A\" value=\"0\" />\n    <flag name=\"B\" value=\"1\" />\n"
      "  </attribute>\n</sectionSchema>\n",
      6, "<flag> belongs to an attribute of type=\"flags\", but 'x' is of type enum" },
    { "<sectionSchema name=\"a/b\">\n  <attribute name=\"x\" type=\"enum\">\n"
      "    <enum name=\"A\" value=\"0\" />\n    <enum name=\"a\" value=\"1\" />\n"
      "  </attribute>\n</sectionSchema>\n",
      6, "'a' is listed twice among the values of attribute 'x'" },
    { "<sectionSchema name=\"a/b\">\n  <attribute name=\"x\" type=\"flags\">\n"
      "    <flag name=\"A\"\n          value=\"one\" />\n  </attribute>\n</sectionSchema>\n",
      6, "<flag name=\"A\"> needs value=\"N\" with a non-negative integer" },
    { "<sectionSchema name=\"a/b\">\n  <attribute name=\"x\" type=\"flags\">\n"
      "    <flag name=\"A\" value=\"-1\" />\n  </attribute>\n</sectionSchema>\n",
      5, "needs value=\"N\" with a non-negative integer" },
    { "<sectionSchema name=\"a/b\">\n  <attribute name=\"x\" type=\"string\" />\n"
      "  <attribute name=\"x\" type=\"bool\" />\n</sectionSchema>\n",
      5, "attribute 'x' of section a/b is already described at " },
    { "<sectionSchema name=\"a/b\">\n  <element name=\"e\">\n"
      "    <attribute name=\"x\" type=\"string\" />\n  </element>\n</sectionSchema>\n"
      "<sectionSchema name=\"A/B\">\n  <element name=\"e\">\n"
      "    <attribute name=\"x\" type=\"string\" />\n  </element>\n</sectionSchema>\n",
      10, "attribute 'x' of <e> of a/b is already described at " },
    { "<sectionSchema name=\"a/b\">\n  <element name=\"add\" />\n"
      "  <collection addElement=\"add\" />\n</sectionSchema>\n",
      5, "addElement name 'add' of the collection of section a/b is already a child element" },
    { "<sectionSchema name=\"a/b\">\n  <collection addElement=\"add\" />\n"
      "  <element name=\"add\" />\n</sectionSchema>\n",
      5, "<element name=\"add\"> inside section a/b has the name of the add element of its "
         "collection" },
    { "<sectionSchema name=\"a/b\">\n  <collection addElement=\"add\" removeElement=\"add\" />\n"
      "</sectionSchema>\n",
      4, "is already the collection's remove or clear element" },
    { "<sectionSchema name=\"a/b\">\n  <collection addElement=\"add\" removeElement=\"x\" "
      "clearElement=\"x\" />\n</sectionSchema>\n",
      4, "removeElement and clearElement are both 'x'" },
    { "<sectionSchema name=\"a/b\">\n  <collection addElement=\"\" />\n</sectionSchema>\n", 4,
      "addElement=\"\" on <collection> must be an element name or a comma-separated list" },
    { "<sectionSchema name=\"a/b\">\n  <collection addElement=\"allow,,deny\" />\n"
      "</sectionSchema>\n",
      4, "addElement=\"allow,,deny\" on <collection>" },
    { "<sectionSchema name=\"a/b\">\n  <collection addElement=\"add\" removeElement=\"a,b\" />\n"
      "</sectionSchema>\n",
      4, "removeElement=\"a,b\" on <collection> must be one element name" },
    { "<sectionSchema name=\"a/b\">\n  <collection addElement=\"add\" mergeAppend=\"no\" />\n"
      "</sectionSchema>\n",
      4, "mergeAppend=\"no\" on <collection> must be true or false" },
    { "<sectionSchema name=\"a/b\">\n  <collection addElement=\"add\" />\n"
      "  <collection addElement=\"item\" />\n</sectionSchema>\n",
      5, "the collection of section a/b is already described at " },
    { "<sectionSchema name=\"a/b\">\n  <element name=\"x/y\" />\n</sectionSchema>\n", 4,
      "element name 'x/y' contains '/'" },
    { "<sectionSchema name=\"a/b\">\n  <collection addElement=\"add\">\n"
      "    <attribute name=\"k1\" type=\"string\" isCombinedKey=\"true\" />\n"
      "    <attribute name=\"k2\" type=\"string\" isCombinedKey=\"true\" />\n"
      "    <attribute name=\"k3\" type=\"string\" isCombinedKey=\"true\" />\n"
      "    <attribute name=\"k4\" type=\"string\" isCombinedKey=\"true\" />\n"
      "    <attribute name=\"k5\" type=\"string\" isCombinedKey=\"true\" />\n"
      "    <attribute name=\"k6\" type=\"string\" isCombinedKey=\"true\" />\n"
      "  </collection>\n</sectionSchema>\n",
      4, "has more than 5 combined key attributes" },
};

static void test_bad_schema(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof *bad_cases; i++) {
        char text[4096];
        snprintf(text, sizeof text, HEAD "%s</configSchema>\n", bad_cases[i].body);
        const char *path;
        wasp_diag_t d = load_one_fail(text, &path);
        if (d.line != bad_cases[i].line || !strstr(d.message, bad_cases[i].message))
            fail_msg("case %zu: %s:%d: %s", i, d.file, d.line, d.message);
        cleanup_tmp(NULL);
    }
}

/* A later file that describes an attribute again is refused, and the error
 * names both places: which proves the files are read in name order. */
static void test_dir_order_and_conflict(void **state)
{
    (void)state;
    tmp_schema_dir();
    tmp_write("b_more.xml", HEAD "<sectionSchema name=\"a/b\">\n"
                                 "  <attribute name=\"x\" type=\"uint\" />\n"
                                 "</sectionSchema>\n</configSchema>\n");
    const char *first = tmp_write("a_base.XML", HEAD "<sectionSchema name=\"a/b\">\n"
                                                     "  <attribute name=\"y\" type=\"uint\" />\n"
                                                     "  <attribute name=\"x\" type=\"bool\" />\n"
                                                     "</sectionSchema>\n</configSchema>\n");
    /* not schema files: skipped */
    tmp_write("notes.txt", "not xml at all <");
    tmp_write(".hidden.xml", "not xml at all <");
    cfg_schema_t *s;
    wasp_diag_t d;
    assert_int_equal(cfg_schema_load_dir(tmp_dir, &s, &d), -1);
    assert_non_null(strstr(d.file, "/b_more.xml"));
    assert_int_equal(d.line, 4);
    char want[512];
    snprintf(want, sizeof want,
             "attribute 'x' of section a/b is already described at %s:5; a later schema file may "
             "add attributes to a section, not describe one again",
             first);
    assert_string_equal(d.message, want);
    cleanup_tmp(NULL);

    /* a later file may not rename a collection's directives */
    tmp_schema_dir();
    tmp_write("1.xml", HEAD "<sectionSchema name=\"a/b\">\n"
                            "  <collection addElement=\"add\" removeElement=\"remove\" />\n"
                            "</sectionSchema>\n</configSchema>\n");
    tmp_write("2.xml", HEAD "<sectionSchema name=\"a/b\">\n"
                            "  <collection removeElement=\"delete\" />\n"
                            "</sectionSchema>\n</configSchema>\n");
    assert_int_equal(cfg_schema_load_dir(tmp_dir, &s, &d), -1);
    assert_non_null(strstr(d.file, "/2.xml"));
    assert_int_equal(d.line, 4);
    assert_contains(d.message,
                    "(addElement=\"add\" removeElement=\"remove\" clearElement=\"\" "
                    "defaultElement=\"\" mergeAppend=\"true\" allowDuplicates=\"false\"); a "
                    "later description may add to its items and repeat these facts, not change "
                    "them");
    cleanup_tmp(NULL);

    /* an empty directory is an empty schema; a missing one an error */
    tmp_schema_dir();
    assert_int_equal(cfg_schema_load_dir(tmp_dir, &s, &d), 0);
    assert_int_equal(cfg_schema_section_count(s), 0);
    assert_int_equal(cfg_schema_collection_count(s), 0);
    assert_null(cfg_schema_section(s, "a/b"));
    cfg_schema_free(s);
    cleanup_tmp(NULL);
    assert_int_equal(cfg_schema_load_dir("/nonexistent/wasp-schema", &s, &d), -1);
    assert_string_equal(d.file, "/nonexistent/wasp-schema");
    assert_contains(d.message, "cannot open the schema directory");
}

static void test_warnings(void **state)
{
    (void)state;
    tmp_schema_dir();
    const char *path = tmp_write("w.xml", HEAD "<sectionSchema name=\"a/b\">\n"
                                               "  <atribute name=\"x\" type=\"bool\" />\n"
                                               "  <attribute name=\"y\" type=\"bool\"\n"
                                               "     defualtValue=\"true\" />\n"
                                               "  <method name=\"Run\" />\n"
                                               "</sectionSchema>\n"
                                               "<comment />\n"
                                               "</configSchema>\n");
    cfg_schema_t *s;
    wasp_diag_t d;
    assert_int_equal(cfg_schema_load_dir(tmp_dir, &s, &d), 0);
    assert_int_equal(cfg_schema_warning_count(s), 3);
    const wasp_diag_t *w = cfg_schema_warning(s, 0);
    assert_string_equal(w->file, path);
    assert_int_equal(w->line, 4);
    assert_contains(w->message, "<atribute> is not part of IIS' schema format");
    w = cfg_schema_warning(s, 1);
    assert_int_equal(w->line, 6);
    assert_contains(w->message, "defualtValue=\"...\" is not part of IIS' schema format");
    assert_int_equal(cfg_schema_warning(s, 2)->line, 9);
    assert_null(cfg_schema_warning(s, 3));
    /* the misspelt default is not taken */
    assert_false(cfg_schema_find_attr(s, "a/b", "", "y")->default_value.b);
    assert_null(cfg_schema_find_attr(s, "a/b", "", "x"));
    cfg_schema_free(s);
}

/* load_files: the same reader, in the order given.  A collection's first
 * description sets its facts: the extension file first is refused. */
static void test_load_files(void **state)
{
    (void)state;
    const char *paths[] = { FIXTURES "/10_webserver.xml", FIXTURES "/50_extend.xml" };
    cfg_schema_t *s;
    wasp_diag_t d;
    assert_int_equal(cfg_schema_load_files(paths, 2, &s, &d), 0);
    assert_int_equal(cfg_schema_section_count(s), 7); /* 6 + applicationPools from 50_ */
    assert_non_null(cfg_schema_find_attr(s, "system.webServer/defaultDocument", "files/add",
                                         "waspNote"));
    cfg_schema_free(s);

    const char *reversed[] = { FIXTURES "/50_extend.xml", FIXTURES "/10_webserver.xml" };
    assert_int_equal(cfg_schema_load_files(reversed, 2, &s, &d), -1);
    assert_string_equal(d.file, FIXTURES "/10_webserver.xml");
    assert_int_equal(d.line, 11);
    assert_contains(d.message, "the collection of <files> of system.webServer/defaultDocument is "
                               "already described at " FIXTURES
                               "/50_extend.xml:39 (addElement=\"\"");

    const char *missing[] = { FIXTURES "/none.xml" };
    assert_int_equal(cfg_schema_load_files(missing, 1, &s, &d), -1);
    assert_string_equal(d.file, FIXTURES "/none.xml");
    assert_contains(d.message, "cannot open");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sections),
        cmocka_unit_test(test_elements),
        cmocka_unit_test(test_attribute_facts),
        cmocka_unit_test(test_remove_path_keys_only),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_extension),
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_uint),
        cmocka_unit_test(test_int_int64),
        cmocka_unit_test(test_enum),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_timespan),
        cmocka_unit_test(test_string_and_env),
        cmocka_unit_test(test_format_timespan),
        cmocka_unit_test(test_integer_range),
        cmocka_unit_test(test_timespan_range),
        cmocka_unit_test(test_string_validators),
        cmocka_unit_test(test_regex),
        cmocka_unit_test(test_validator_init),
        cmocka_unit_test(test_schema_validate),
        cmocka_unit_test(test_collections),
        cmocka_unit_test_teardown(test_collections_match_builtin, cleanup_tmp),
        cmocka_unit_test_teardown(test_register_collections, cleanup_tmp),
        cmocka_unit_test_teardown(test_bad_xml, cleanup_tmp),
        cmocka_unit_test_teardown(test_bad_schema, cleanup_tmp),
        cmocka_unit_test_teardown(test_dir_order_and_conflict, cleanup_tmp),
        cmocka_unit_test_teardown(test_warnings, cleanup_tmp),
        cmocka_unit_test(test_load_files),
    };
    return cmocka_run_group_tests(tests, load_fixtures, free_fixtures);
}
