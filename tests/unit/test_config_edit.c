/*
 * Unit tests of config_edit (src/config/config_edit.c): appcmd-style edits
 * of applicationHost.config that keep every untouched byte, create nested
 * elements, check the result with the real loader before writing, and
 * replace the file atomically.
 *
 * Every test works on files in its own temporary directory (the editor
 * writes its temporary file next to the original).  Run from the
 * repository root (meson's test workdir) for the stock-file test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_edit.h"

/* ---- helpers -------------------------------------------------------------------- */

static char tmp_dir[64];
static char cfg_path[128];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/wasp-test-edit-XXXXXX");
    assert_non_null(mkdtemp(tmp_dir));
    snprintf(cfg_path, sizeof(cfg_path), "%s/applicationHost.config", tmp_dir);
    return 0;
}

static int remove_dir(void **state)
{
    DIR *d = opendir(tmp_dir);
    struct dirent *e;
    char p[512];

    (void)state;
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(p, sizeof(p), "%s/%s", tmp_dir, e->d_name);
            unlink(p);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    rmdir(tmp_dir);
    return 0;
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

static void write_cfg(const char *text)
{
    write_file(cfg_path, text, strlen(text));
}

/* The whole file (free it). */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *b;
    long n;

    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    if (len != NULL) {
        *len = (size_t)n;
    }
    return b;
}

static void assert_file_is(const char *expected)
{
    char *got = read_file(cfg_path, NULL);

    if (strcmp(got, expected) != 0) {
        fprintf(stderr, "---- expected\n%s---- got\n%s----\n", expected, got);
    }
    assert_string_equal(got, expected);
    free(got);
}

/* Number of entries in the test directory (the config and nothing else
 * after a commit or a refused commit: no temporary file is left). */
static int dir_entries(void)
{
    DIR *d = opendir(tmp_dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}

static wasp_config_edit_t *open_ok(void)
{
    wasp_config_edit_t *ed = NULL;
    char err[2048];

    if (wasp_config_edit_open(cfg_path, &ed, err, sizeof(err)) != WASP_EDIT_OK) {
        fail_msg("open failed: %s", err);
    }
    return ed;
}

static void commit_ok(wasp_config_edit_t *ed)
{
    char err[2048];

    if (wasp_config_edit_commit(ed, err, sizeof(err)) != WASP_EDIT_OK) {
        fail_msg("commit failed: %s", err);
    }
}

static void ok(int rc, const char *err)
{
    if (rc != WASP_EDIT_OK) {
        fail_msg("edit failed (%d): %s", rc, err);
    }
}

static wasp_config_t *load_ok(void)
{
    wasp_diag_t d;
    wasp_config_t *cfg = wasp_config_load(cfg_path, &d);
    char buf[2048];

    if (cfg == NULL) {
        fail_msg("the edited file does not load: %s", wasp_diag_format(&d, buf, sizeof(buf)));
    }
    return cfg;
}

#define SITES                                                                      \
    "        <sites>\n"                                                            \
    "            <site name=\"Default Web Site\" id=\"1\">\n"                      \
    "                <application path=\"/\" applicationPool=\"DefaultAppPool\">\n" \
    "                    <virtualDirectory path=\"/\" physicalPath=\"/srv/www\" />\n" \
    "                </application>\n"                                             \
    "                <application path=\"/other\" applicationPool=\"Other\">\n"    \
    "                    <virtualDirectory path=\"/\" physicalPath=\"/srv/o\" />\n" \
    "                </application>\n"                                             \
    "                <bindings>\n"                                                 \
    "                    <binding protocol=\"http\" bindingInformation=\"*:8080:\" />\n" \
    "                </bindings>\n"                                                \
    "            </site>\n"                                                        \
    "        </sites>\n"

#define HEAD                                                                       \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"                                 \
    "<!-- the comment at the top -->\n"                                            \
    "<configuration>\n"                                                            \
    "    <system.applicationHost>\n"                                               \
    "        <!-- pools: keep this comment -->\n"                                  \
    "        <applicationPools>\n"                                                 \
    "            <add name=\"DefaultAppPool\" />\n"                                \
    "            <!-- Other is odd on purpose -->\n"                               \
    "            <add   name='Other'\n"                                            \
    "                   queueLength=\"2000\"    managedPipelineMode='Integrated' />\n"

#define DEFAULTS                                                                   \
    "            <applicationPoolDefaults managedRuntimeVersion=\"v4.0\">\n"       \
    "                <processModel identityType=\"ApplicationPoolIdentity\" />\n"  \
    "            </applicationPoolDefaults>\n"

#define TAIL                                                                       \
    "        </applicationPools>\n"                                                \
    SITES                                                                          \
    "    </system.applicationHost>\n"                                              \
    "</configuration>\n"

static const char base_cfg[] = HEAD DEFAULTS TAIL;

/* ---- add ------------------------------------------------------------------------ */

static void test_add_pool_after_last_pool(void **state)
{
    wasp_config_edit_t *ed;
    char err[1024];
    wasp_config_t *cfg;

    (void)state;
    write_cfg(base_cfg);
    ed = open_ok();
    ok(wasp_config_edit_pool_add(ed, "NewPool", err, sizeof(err)), err);
    assert_true(wasp_config_edit_changed(ed));
    commit_ok(ed);
    wasp_config_edit_free(ed);
    assert_file_is(HEAD "            <add name=\"NewPool\" />\n" DEFAULTS TAIL);
    cfg = load_ok();
    assert_int_equal(wasp_config_pool_count(cfg), 3);
    assert_string_equal(wasp_config_pool(cfg, 2)->name, "NewPool");
    /* applicationPoolDefaults apply to the new pool */
    assert_string_equal(wasp_config_pool(cfg, 2)->managed_runtime_version, "v4.0");
    wasp_config_free(cfg);
    assert_int_equal(dir_entries(), 1);
}

static void test_add_pool_before_defaults(void **state)
{
    wasp_config_edit_t *ed;
    char err[1024];

    (void)state;
    write_cfg("<configuration>\n"
              "  <system.applicationHost>\n"
              "    <applicationPools>\n"
              "      <applicationPoolDefaults>\n"
              "        <processModel identityType=\"ApplicationPoolIdentity\" />\n"
              "      </applicationPoolDefaults>\n"
              "    </applicationPools>\n"
              "  </system.applicationHost>\n"
              "</configuration>\n");
    ed = open_ok();
    ok(wasp_config_edit_pool_add(ed, "P1", err, sizeof(err)), err);
    ok(wasp_config_edit_pool_add(ed, "P2", err, sizeof(err)), err);
    commit_ok(ed);
    wasp_config_edit_free(ed);
    assert_file_is("<configuration>\n"
                   "  <system.applicationHost>\n"
                   "    <applicationPools>\n"
                   "      <add name=\"P1\" />\n"
                   "      <add name=\"P2\" />\n"
                   "      <applicationPoolDefaults>\n"
                   "        <processModel identityType=\"ApplicationPoolIdentity\" />\n"
                   "      </applicationPoolDefaults>\n"
                   "    </applicationPools>\n"
                   "  </system.applicationHost>\n"
                   "</configuration>\n");
}

static void test_add_pool_creates_sections(void **state)
{
    wasp_config_edit_t *ed;
    char err[1024];

    (void)state;
    write_cfg("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
              "<configuration>\n"
              "    <system.webServer>\n"
              "        <directoryBrowse enabled=\"false\" />\n"
              "    </system.webServer>\n"
              "</configuration>\n");
    ed = open_ok();
    ok(wasp_config_edit_pool_add(ed, "Only", err, sizeof(err)), err);
    commit_ok(ed);
    wasp_config_edit_free(ed);
    /* system.applicationHost goes before system.webServer, as IIS orders them */
    assert_file_is("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<configuration>\n"
                   "    <system.applicationHost>\n"
                   "        <applicationPools>\n"
                   "            <add name=\"Only\" />\n"
                   "        </applicationPools>\n"
                   "    </system.applicationHost>\n"
                   "    <system.webServer>\n"
                   "        <directoryBrowse enabled=\"false\" />\n"
                   "    </system.webServer>\n"
                   "</configuration>\n");
}

static void test_add_duplicate_pool(void **state)
{
    wasp_config_edit_t *ed;
    char err[1024];

    (void)state;
    write_cfg(base_cfg);
    ed = open_ok();
    /* pool names compare case-insensitively, as IIS' collection key does */
    assert_int_equal(wasp_config_edit_pool_add(ed, "defaultapppool", err, sizeof(err)),
                     WASP_EDIT_DUPLICATE);
    assert_string_equal(err, "Failed to add duplicate collection element \"defaultapppool\".");
    assert_false(wasp_config_edit_changed(ed));
    commit_ok(ed);
    wasp_config_edit_free(ed);
    assert_file_is(base_cfg);
}

static void test_add_invalid_name_refused_by_loader(void **state)
{
    wasp_config_edit_t *ed;
    char err[2048];

    (void)state;
    write_cfg(base_cfg);
    ed = open_ok();
    ok(wasp_config_edit_pool_add(ed, "a:b", err, sizeof(err)), err);
    assert_int_equal(wasp_config_edit_commit(ed, err, sizeof(err)), WASP_EDIT_ERROR);
    /* the loader's words, about the real file and the line of the new pool */
    assert_non_null(strstr(err, "Invalid application pool name"));
    assert_non_null(strstr(err, cfg_path));
    assert_non_null(strstr(err, "applicationHost.config:11:"));
    assert_non_null(strstr(err, "is unchanged"));
    wasp_config_edit_free(ed);
    assert_file_is(base_cfg);
    assert_int_equal(dir_entries(), 1);
}

/* ---- set ------------------------------------------------------------------------ */

static void test_set_top_level_attributes(void **state)
{
    wasp_config_edit_t *ed;
    char err[1024];
    wasp_config_t *cfg;

    (void)state;
    write_cfg(base_cfg);
    ed = open_ok();
    ok(wasp_config_edit_pool_set(ed, "DefaultAppPool", "queueLength", "3000", err, sizeof(err)),
       err);
    /* existing attributes keep their place and their quote style; the
     * attribute name is matched case-insensitively and written as the
     * schema spells it */
    ok(wasp_config_edit_pool_set(ed, "other", "QUEUELENGTH", "4000", err, sizeof(err)), err);
    ok(wasp_config_edit_pool_set(ed, "Other", "managedPipelineMode", "Classic", err,
                                 sizeof(err)),
       err);
    commit_ok(ed);
    wasp_config_edit_free(ed);
    assert_file_is("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<!-- the comment at the top -->\n"
                   "<configuration>\n"
                   "    <system.applicationHost>\n"
                   "        <!-- pools: keep this comment -->\n"
                   "        <applicationPools>\n"
                   "            <add name=\"DefaultAppPool\" queueLength=\"3000\" />\n"
                   "            <!-- Other is odd on purpose -->\n"
                   "            <add   name='Other'\n"
                   "                   queueLength=\"4000\"    managedPipelineMode='Classic' />\n"
                   DEFAULTS TAIL);
    cfg = load_ok();
    assert_int_equal(wasp_config_find_pool(cfg, "DefaultAppPool")->queue_length, 3000);
    assert_int_equal(wasp_config_find_pool(cfg, "Other")->queue_length, 4000);
    assert_string_equal(wasp_config_find_pool(cfg, "Other")->managed_pipeline_mode, "Classic");
    wasp_config_free(cfg);
}

static void test_set_nested_creates_elements(void **state)
{
    wasp_config_edit_t *ed;
    char err[1024];
    wasp_config_t *cfg;

    (void)state;
    write_cfg(base_cfg);
    ed = open_ok();
    ok(wasp_config_edit_pool_set(ed, "DefaultAppPool", "failure.rapidFailProtection", "false",
                                 err, sizeof(err)),
       err);
    ok(wasp_config_edit_pool_set(ed, "DefaultAppPool", "recycling.periodicRestart.time",
                                 "00:00:00", err, sizeof(err)),
       err);
    /* processModel comes first in the schema: inserted before recycling */
    ok(wasp_config_edit_pool_set(ed, "DefaultAppPool", "processModel.idleTimeout", "00:05:00",
                                 err, sizeof(err)),
       err);
    ok(wasp_config_edit_pool_set(ed, "DefaultAppPool", "processModel.maxProcesses", "2", err,
                                 sizeof(err)),
       err);
    commit_ok(ed);
    wasp_config_edit_free(ed);
    assert_file_is("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<!-- the comment at the top -->\n"
                   "<configuration>\n"
                   "    <system.applicationHost>\n"
                   "        <!-- pools: keep this comment -->\n"
                   "        <applicationPools>\n"
                   "            <add name=\"DefaultAppPool\">\n"
                   "                <processModel idleTimeout=\"00:05:00\" maxProcesses=\"2\" />\n"
                   "                <recycling>\n"
                   "                    <periodicRestart time=\"00:00:00\" />\n"
                   "                </recycling>\n"
                   "                <failure rapidFailProtection=\"false\" />\n"
                   "            </add>\n"
                   "            <!-- Other is odd on purpose -->\n"
                   "            <add   name='Other'\n"
                   "                   queueLength=\"2000\"    "
                   "managedPipelineMode='Integrated' />\n"
                   DEFAULTS TAIL);
    cfg = load_ok();
    assert_int_equal(wasp_config_find_pool(cfg, "DefaultAppPool")->idle_timeout_s, 300);
    assert_int_equal(wasp_config_find_pool(cfg, "DefaultAppPool")->max_processes, 2);
    wasp_config_free(cfg);
}

static void test_set_into_existing_children(void **state)
{
    wasp_config_edit_t *ed;
    char err[1024];

    (void)state;
    write_cfg("<configuration>\n"
              "\t<system.applicationHost>\n"
              "\t\t<applicationPools>\n"
              "\t\t\t<add name=\"P\">\n"
              "\t\t\t\t<processModel idleTimeout=\"00:10:00\" />\n"
              "\t\t\t\t<!-- a comment after the last child -->\n"
              "\t\t\t</add>\n"
              "\t\t</applicationPools>\n"
              "\t</system.applicationHost>\n"
              "</configuration>\n");
    ed = open_ok();
    ok(wasp_config_edit_pool_set(ed, "P", "processModel.idleTimeout", "00:01:00", err,
                                 sizeof(err)),
       err);
    ok(wasp_config_edit_pool_set(ed, "P", "cpu.limit", "50000", err, sizeof(err)), err);
    commit_ok(ed);
    wasp_config_edit_free(ed);
    /* tab indentation is the file's own; the new child follows the comment */
    assert_file_is("<configuration>\n"
                   "\t<system.applicationHost>\n"
                   "\t\t<applicationPools>\n"
                   "\t\t\t<add name=\"P\">\n"
                   "\t\t\t\t<processModel idleTimeout=\"00:01:00\" />\n"
                   "\t\t\t\t<!-- a comment after the last child -->\n"
                   "\t\t\t\t<cpu limit=\"50000\" />\n"
                   "\t\t\t</add>\n"
                   "\t\t</applicationPools>\n"
                   "\t</system.applicationHost>\n"
                   "</configuration>\n");
}

static void test_set_same_value_writes_nothing(void **state)
{
    wasp_config_edit_t *ed;
    char err[1024];
    struct stat before, after;

    (void)state;
    write_cfg(base_cfg);
    assert_int_equal(stat(cfg_path, &before), 0);
    ed = open_ok();
    ok(wasp_config_edit_pool_set(ed, "Other", "queueLength", "2000", err, sizeof(err)), err);
    assert_false(wasp_config_edit_changed(ed));
    commit_ok(ed);
    wasp_config_edit_free(ed);
    assert_int_equal(stat(cfg_path, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
}

static void test_set_escapes_values(void **state)
{
    wasp_config_edit_t *ed;
    char err[1024];
    wasp_config_t *cfg;
    char *text;

    (void)state;
    write_cfg(base_cfg);
    ed = open_ok();
    ok(wasp_config_edit_pool_set(ed, "DefaultAppPool", "managedRuntimeVersion", "a&b<c>\"d'",
                                 err, sizeof(err)),
       err);
    ok(wasp_config_edit_pool_set(ed, "Other", "managedRuntimeVersion", "x'y\"z", err,
                                 sizeof(err)),
       err);
    assert_int_equal(wasp_config_edit_pool_set(ed, "Other", "CLRConfigFile", "bad\001", err,
                                               sizeof(err)),
                     WASP_EDIT_INVALID);
    assert_non_null(strstr(err, "control character"));
    commit_ok(ed);
    wasp_config_edit_free(ed);
    text = read_file(cfg_path, NULL);
    assert_non_null(strstr(text, "managedRuntimeVersion=\"a&amp;b&lt;c&gt;&quot;d'\""));
    free(text);
    cfg = load_ok();
    assert_string_equal(wasp_config_find_pool(cfg, "DefaultAppPool")->managed_runtime_version,
                        "a&b<c>\"d'");
    assert_string_equal(wasp_config_find_pool(cfg, "Other")->managed_runtime_version, "x'y\"z");
    wasp_config_free(cfg);
}

static void test_set_unknown_attribute(void **state)
{
    wasp_config_edit_t *ed;
    char err[1024];

    (void)state;
    write_cfg(base_cfg);
    ed = open_ok();
    assert_int_equal(wasp_config_edit_pool_set(ed, "DefaultAppPool", "processModel.idelTimeout",
                                               "00:05:00", err, sizeof(err)),
                     WASP_EDIT_INVALID);
    assert_non_null(strstr(err, "Unknown attribute \"processModel.idelTimeout\"."));
    assert_int_equal(wasp_config_edit_pool_set(ed, "DefaultAppPool", "processModel", "x", err,
                                               sizeof(err)),
                     WASP_EDIT_INVALID);
    assert_false(wasp_config_edit_changed(ed));
    wasp_config_edit_free(ed);
}

static void test_set_missing_pool(void **state)
{
    wasp_config_edit_t *ed;
    char err[1024], warn[1024];

    (void)state;
    write_cfg(base_cfg);
    ed = open_ok();
    assert_int_equal(wasp_config_edit_pool_set(ed, "Nope", "queueLength", "100", err,
                                               sizeof(err)),
                     WASP_EDIT_NOT_FOUND);
    assert_string_equal(err, "Cannot find APPPOOL object with identifier \"Nope\".");
    assert_int_equal(wasp_config_edit_pool_delete(ed, "Nope", warn, sizeof(warn), err,
                                                  sizeof(err)),
                     WASP_EDIT_NOT_FOUND);
    assert_string_equal(err, "Cannot find APPPOOL object with identifier \"Nope\".");
    assert_false(wasp_config_edit_changed(ed));
    wasp_config_edit_free(ed);
}

static void test_set_refused_by_loader_leaves_file(void **state)
{
    wasp_config_edit_t *ed;
    char err[2048];
    struct stat before, after;

    (void)state;
    write_cfg(base_cfg);
    assert_int_equal(stat(cfg_path, &before), 0);
    ed = open_ok();
    ok(wasp_config_edit_pool_set(ed, "DefaultAppPool", "queueLength", "5", err, sizeof(err)),
       err);
    assert_int_equal(wasp_config_edit_commit(ed, err, sizeof(err)), WASP_EDIT_ERROR);
    assert_non_null(strstr(err, "queueLength=\"5\""));
    assert_non_null(strstr(err, "between 10 and 65535"));
    assert_non_null(strstr(err, "applicationHost.config:7:"));
    assert_null(strstr(err, ".waspctl-")); /* the temporary file is never named */
    wasp_config_edit_free(ed);
    assert_file_is(base_cfg);
    assert_int_equal(stat(cfg_path, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    assert_int_equal(dir_entries(), 1);
}

static void test_rename_to_existing_name(void **state)
{
    wasp_config_edit_t *ed;
    char err[1024];

    (void)state;
    write_cfg(base_cfg);
    ed = open_ok();
    assert_int_equal(wasp_config_edit_pool_set(ed, "Other", "name", "DEFAULTAPPPOOL", err,
                                               sizeof(err)),
                     WASP_EDIT_DUPLICATE);
    assert_string_equal(err, "Failed to add duplicate collection element \"DEFAULTAPPPOOL\".");
    /* a change of case is a rename to itself */
    ok(wasp_config_edit_pool_set(ed, "Other", "name", "OTHER", err, sizeof(err)), err);
    assert_true(wasp_config_edit_changed(ed));
    wasp_config_edit_free(ed);
}

/* ---- delete --------------------------------------------------------------------- */

static void test_delete_pool_in_use_warns(void **state)
{
    wasp_config_edit_t *ed;
    char err[1024], warn[1024];
    wasp_config_t *cfg;

    (void)state;
    write_cfg(base_cfg);
    ed = open_ok();
    ok(wasp_config_edit_pool_delete(ed, "other", warn, sizeof(warn), err, sizeof(err)), err);
    assert_non_null(strstr(warn, "application pool \"other\" is deleted"));
    assert_non_null(strstr(warn, "\"Default Web Site/other\""));
    assert_non_null(strstr(warn, cfg_path));
    commit_ok(ed);
    wasp_config_edit_free(ed);
    /* the element's lines go, its comment stays (it may say more than the pool) */
    assert_file_is("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<!-- the comment at the top -->\n"
                   "<configuration>\n"
                   "    <system.applicationHost>\n"
                   "        <!-- pools: keep this comment -->\n"
                   "        <applicationPools>\n"
                   "            <add name=\"DefaultAppPool\" />\n"
                   "            <!-- Other is odd on purpose -->\n" DEFAULTS TAIL);
    /* as on IIS, the application that used it is ignored (a warning) */
    cfg = load_ok();
    assert_int_equal(wasp_config_pool_count(cfg), 1);
    assert_int_equal(wasp_config_warning_count(cfg), 1);
    wasp_config_free(cfg);
}

static void test_delete_pool_with_children(void **state)
{
    wasp_config_edit_t *ed;
    char err[1024], warn[1024];

    (void)state;
    write_cfg("<configuration>\n"
              "  <system.applicationHost>\n"
              "    <applicationPools>\n"
              "      <add name=\"A\" />\n"
              "      <add name=\"B\">\n"
              "        <processModel idleTimeout=\"00:00:00\" />\n"
              "      </add>\n"
              "      <add name=\"C\" />\n"
              "    </applicationPools>\n"
              "  </system.applicationHost>\n"
              "</configuration>\n");
    ed = open_ok();
    ok(wasp_config_edit_pool_delete(ed, "B", warn, sizeof(warn), err, sizeof(err)), err);
    assert_string_equal(warn, "");
    commit_ok(ed);
    wasp_config_edit_free(ed);
    assert_file_is("<configuration>\n"
                   "  <system.applicationHost>\n"
                   "    <applicationPools>\n"
                   "      <add name=\"A\" />\n"
                   "      <add name=\"C\" />\n"
                   "    </applicationPools>\n"
                   "  </system.applicationHost>\n"
                   "</configuration>\n");
}

static void test_delete_pool_named_by_defaults(void **state)
{
    wasp_config_edit_t *ed;
    char err[1024], warn[1024];

    (void)state;
    write_cfg("<configuration>\n"
              "  <system.applicationHost>\n"
              "    <applicationPools>\n"
              "      <add name=\"A\" />\n"
              "    </applicationPools>\n"
              "    <sites>\n"
              "      <site name=\"S\" id=\"1\">\n"
              "        <application path=\"/\">\n"
              "          <virtualDirectory path=\"/\" physicalPath=\"/srv\" />\n"
              "        </application>\n"
              "        <application path=\"/x\">\n"
              "          <virtualDirectory path=\"/\" physicalPath=\"/srv\" />\n"
              "        </application>\n"
              "      </site>\n"
              "      <applicationDefaults applicationPool=\"A\" />\n"
              "    </sites>\n"
              "  </system.applicationHost>\n"
              "</configuration>\n");
    ed = open_ok();
    ok(wasp_config_edit_pool_delete(ed, "A", warn, sizeof(warn), err, sizeof(err)), err);
    assert_non_null(strstr(warn, "applications \"S/\", \"S/x\" still use it"));
    wasp_config_edit_free(ed);
}

/* ---- markup the byte lexer must step over ---------------------------------------- */

static void test_tricky_markup(void **state)
{
    static const char before[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<?wasp-note this <pi> is not an element?>\n"
        "<configuration>\n"
        "  <!-- <applicationPools><add name=\"InAComment\" /></applicationPools> -->\n"
        "  <system.applicationHost>\n"
        "    <applicationPools>\n"
        "      <add name=\"A\" managedRuntimeLoader=\"a>b\" CLRConfigFile='x/>y' />\n"
        "    </applicationPools>\n"
        "  </system.applicationHost>\n"
        "  <system.webServer>\n"
        "    <custom><![CDATA[ <add name=\"InCdata\" /> ]]></custom>\n"
        "  </system.webServer>\n"
        "</configuration>\n";
    wasp_config_edit_t *ed;
    char err[1024];
    const char *text;

    (void)state;
    write_cfg(before);
    ed = open_ok();
    assert_int_equal(wasp_config_edit_pool_set(ed, "InAComment", "queueLength", "100", err,
                                               sizeof(err)),
                     WASP_EDIT_NOT_FOUND);
    ok(wasp_config_edit_pool_set(ed, "A", "queueLength", "100", err, sizeof(err)), err);
    ok(wasp_config_edit_pool_set(ed, "A", "CLRConfigFile", "z", err, sizeof(err)), err);
    ok(wasp_config_edit_pool_add(ed, "B", err, sizeof(err)), err);
    text = wasp_config_edit_text(ed, NULL);
    assert_non_null(strstr(text, "<?wasp-note this <pi> is not an element?>\n"));
    assert_non_null(strstr(text, "    <custom><![CDATA[ <add name=\"InCdata\" /> ]]></custom>\n"));
    assert_non_null(strstr(text, "      <add name=\"A\" managedRuntimeLoader=\"a>b\" "
                                 "CLRConfigFile='z' queueLength=\"100\" />\n"
                                 "      <add name=\"B\" />\n"
                                 "    </applicationPools>\n"));
    /* not committed (the loader does not know <custom>): the file stays */
    wasp_config_edit_free(ed);
    assert_file_is(before);
}

static void test_edit_text_of_tricky_markup(void **state)
{
    wasp_config_edit_t *ed;
    char err[1024];
    const char *text;

    (void)state;
    write_cfg("<configuration>\n"
              "  <!-- <add name=\"InAComment\" /> -->\n"
              "  <system.applicationHost>\n"
              "    <applicationPools>\n"
              "      <add name=\"A\" managedRuntimeLoader=\"a>b\" CLRConfigFile='x/>y' />\n"
              "    </applicationPools>\n"
              "  </system.applicationHost>\n"
              "</configuration>\n");
    ed = open_ok();
    ok(wasp_config_edit_pool_set(ed, "A", "queueLength", "100", err, sizeof(err)), err);
    ok(wasp_config_edit_pool_set(ed, "A", "CLRConfigFile", "z'q", err, sizeof(err)), err);
    ok(wasp_config_edit_pool_add(ed, "B", err, sizeof(err)), err);
    text = wasp_config_edit_text(ed, NULL);
    assert_string_equal(text,
                        "<configuration>\n"
                        "  <!-- <add name=\"InAComment\" /> -->\n"
                        "  <system.applicationHost>\n"
                        "    <applicationPools>\n"
                        "      <add name=\"A\" managedRuntimeLoader=\"a>b\" "
                        "CLRConfigFile='z&apos;q' queueLength=\"100\" />\n"
                        "      <add name=\"B\" />\n"
                        "    </applicationPools>\n"
                        "  </system.applicationHost>\n"
                        "</configuration>\n");
    commit_ok(ed);
    wasp_config_edit_free(ed);
}

#define NS_ROOT                                                                    \
    "<configuration xmlns=\"http://schemas.microsoft.com/.NET/2007/09/configuration\">\n"

static void test_default_namespace(void **state)
{
    wasp_config_edit_t *ed;
    char err[1024];

    (void)state;
    write_cfg(NS_ROOT
              "  <system.applicationHost>\n"
              "    <applicationPools>\n"
              "      <add name=\"A\" />\n"
              "    </applicationPools>\n"
              "  </system.applicationHost>\n"
              "</configuration>\n");
    ed = open_ok();
    assert_int_equal(wasp_config_edit_pool_add(ed, "a", err, sizeof(err)), WASP_EDIT_DUPLICATE);
    ok(wasp_config_edit_pool_set(ed, "A", "cpu.limit", "1000", err, sizeof(err)), err);
    commit_ok(ed);
    wasp_config_edit_free(ed);
    assert_file_is(NS_ROOT
                   "  <system.applicationHost>\n"
                   "    <applicationPools>\n"
                   "      <add name=\"A\">\n"
                   "        <cpu limit=\"1000\" />\n"
                   "      </add>\n"
                   "    </applicationPools>\n"
                   "  </system.applicationHost>\n"
                   "</configuration>\n");
}

/* ---- sites ---------------------------------------------------------------------- */

static void test_site_set(void **state)
{
    wasp_config_edit_t *ed;
    char err[1024];
    wasp_config_t *cfg;
    char *text;

    (void)state;
    write_cfg(base_cfg);
    ed = open_ok();
    ok(wasp_config_edit_site_set(ed, "default web site", "serverAutoStart", "false", err,
                                 sizeof(err)),
       err);
    ok(wasp_config_edit_site_set(ed, "Default Web Site", "limits.connectionTimeout", "00:00:30",
                                 err, sizeof(err)),
       err);
    assert_int_equal(wasp_config_edit_site_set(ed, "Nope", "serverAutoStart", "true", err,
                                               sizeof(err)),
                     WASP_EDIT_NOT_FOUND);
    assert_string_equal(err, "Cannot find SITE object with identifier \"Nope\".");
    assert_int_equal(wasp_config_edit_site_set(ed, "Default Web Site", "bogus", "1", err,
                                               sizeof(err)),
                     WASP_EDIT_INVALID);
    commit_ok(ed);
    wasp_config_edit_free(ed);
    text = read_file(cfg_path, NULL);
    assert_non_null(strstr(text, "<site name=\"Default Web Site\" id=\"1\" "
                                 "serverAutoStart=\"false\">\n"));
    assert_non_null(strstr(text, "                </bindings>\n"
                                 "                <limits connectionTimeout=\"00:00:30\" />\n"
                                 "            </site>\n"));
    free(text);
    cfg = load_ok();
    assert_false(wasp_config_site(cfg, 0)->server_auto_start);
    assert_int_equal(wasp_config_site(cfg, 0)->connection_timeout_s, 30);
    wasp_config_free(cfg);
}

static void test_pool_autostart(void **state)
{
    wasp_config_edit_t *ed;
    char err[1024];
    wasp_config_t *cfg;

    (void)state;
    write_cfg(base_cfg);
    ed = open_ok();
    ok(wasp_config_edit_pool_set(ed, "DefaultAppPool", "autoStart", "false", err, sizeof(err)),
       err);
    commit_ok(ed);
    wasp_config_edit_free(ed);
    cfg = load_ok();
    assert_false(wasp_config_find_pool(cfg, "DefaultAppPool")->auto_start);
    wasp_config_free(cfg);
}

/* ---- the file ------------------------------------------------------------------- */

static void test_atomic_replacement_keeps_mode(void **state)
{
    wasp_config_edit_t *ed;
    char err[1024];
    struct stat before, after;
    char old[sizeof(base_cfg)];
    int fd;

    (void)state;
    write_cfg(base_cfg);
    assert_int_equal(chmod(cfg_path, 0640), 0);
    assert_int_equal(stat(cfg_path, &before), 0);
    /* a reader that opened the file before keeps reading the old text */
    fd = open(cfg_path, O_RDONLY);
    assert_true(fd >= 0);
    ed = open_ok();
    ok(wasp_config_edit_pool_add(ed, "X", err, sizeof(err)), err);
    commit_ok(ed);
    wasp_config_edit_free(ed);
    assert_int_equal(stat(cfg_path, &after), 0);
    assert_int_not_equal(before.st_ino, after.st_ino); /* replaced, not rewritten */
    assert_int_equal(after.st_mode & 07777, 0640);
    assert_int_equal(after.st_uid, before.st_uid);
    assert_int_equal(after.st_gid, before.st_gid);
    assert_int_equal(read(fd, old, sizeof(old)), (ssize_t)strlen(base_cfg));
    assert_memory_equal(old, base_cfg, strlen(base_cfg));
    close(fd);
    assert_int_equal(dir_entries(), 1);
}

static void test_symlink_target_is_replaced(void **state)
{
    wasp_config_edit_t *ed = NULL;
    char err[1024], link[256];
    struct stat st;
    char *text;

    (void)state;
    write_cfg(base_cfg);
    snprintf(link, sizeof(link), "%s/link.config", tmp_dir);
    assert_int_equal(symlink(cfg_path, link), 0);
    assert_int_equal(wasp_config_edit_open(link, &ed, err, sizeof(err)), WASP_EDIT_OK);
    ok(wasp_config_edit_pool_add(ed, "ViaLink", err, sizeof(err)), err);
    commit_ok(ed);
    wasp_config_edit_free(ed);
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    text = read_file(cfg_path, NULL);
    assert_non_null(strstr(text, "<add name=\"ViaLink\" />"));
    free(text);
}

static void test_crlf_and_bom_survive(void **state)
{
    static const char before[] =
        "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
        "<configuration>\r\n"
        "    <system.applicationHost>\r\n"
        "        <applicationPools>\r\n"
        "            <add name=\"A\" />\r\n"
        "        </applicationPools>\r\n"
        "    </system.applicationHost>\r\n"
        "</configuration>\r\n";
    wasp_config_edit_t *ed;
    char err[1024];

    (void)state;
    write_cfg(before);
    ed = open_ok();
    ok(wasp_config_edit_pool_add(ed, "B", err, sizeof(err)), err);
    ok(wasp_config_edit_pool_set(ed, "A", "processModel.idleTimeout", "00:00:00", err,
                                 sizeof(err)),
       err);
    commit_ok(ed);
    wasp_config_edit_free(ed);
    assert_file_is("\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
                   "<configuration>\r\n"
                   "    <system.applicationHost>\r\n"
                   "        <applicationPools>\r\n"
                   "            <add name=\"A\">\r\n"
                   "                <processModel idleTimeout=\"00:00:00\" />\r\n"
                   "            </add>\r\n"
                   "            <add name=\"B\" />\r\n"
                   "        </applicationPools>\r\n"
                   "    </system.applicationHost>\r\n"
                   "</configuration>\r\n");
}

static void test_malformed_file_refused(void **state)
{
    wasp_config_edit_t *ed = NULL;
    char err[2048];

    (void)state;
    write_cfg("<configuration>\n  <system.applicationHost>\n    <applicationPools>\n"
              "  </system.applicationHost>\n</configuration>\n");
    assert_int_equal(wasp_config_edit_open(cfg_path, &ed, err, sizeof(err)), WASP_EDIT_ERROR);
    assert_null(ed);
    /* the loader's message: file, line, what to fix */
    assert_non_null(strstr(err, cfg_path));
    assert_non_null(strstr(err, "malformed XML"));

    write_cfg("<?xml version=\"1.0\"?>\n<!DOCTYPE configuration [ <!ENTITY x \"y\"> ]>\n"
              "<configuration />\n");
    assert_int_equal(wasp_config_edit_open(cfg_path, &ed, err, sizeof(err)), WASP_EDIT_ERROR);
    assert_non_null(strstr(err, "DOCTYPE"));

    assert_int_equal(wasp_config_edit_open("/nonexistent/applicationHost.config", &ed, err,
                                           sizeof(err)),
                     WASP_EDIT_ERROR);
    assert_non_null(strstr(err, "/nonexistent/applicationHost.config"));
    assert_non_null(strstr(err, "--config"));
}

/* The edit and commit of test_unwritable_directory; 0 when the commit was
 * refused as it should be (plain checks: it may run in a child). */
static int unwritable_commit_refused(void)
{
    wasp_config_edit_t *ed;
    char err[1024];
    int rc = 1;

    if (wasp_config_edit_open(cfg_path, &ed, err, sizeof(err)) != WASP_EDIT_OK) {
        return 2;
    }
    if (wasp_config_edit_pool_add(ed, "X", err, sizeof(err)) == WASP_EDIT_OK &&
        wasp_config_edit_commit(ed, err, sizeof(err)) == WASP_EDIT_ERROR &&
        strstr(err, "write access") != NULL) {
        rc = 0;
    }
    wasp_config_edit_free(ed);
    return rc;
}

/* Root writes anywhere, so as root (CI) the editor runs as nobody in a
 * child: the refusal is tested either way. */
static void test_unwritable_directory(void **state)
{
    (void)state;
    write_cfg(base_cfg);
    if (geteuid() == 0) {
        int status;
        pid_t pid;

        assert_int_equal(chown(tmp_dir, 65534, 65534), 0);
        assert_int_equal(chown(cfg_path, 65534, 65534), 0);
        assert_int_equal(chmod(tmp_dir, 0555), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            _exit(setgid(65534) != 0 || setuid(65534) != 0 ? 3 : unwritable_commit_refused());
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_int_equal(chmod(tmp_dir, 0755), 0);
        assert_int_equal(chown(tmp_dir, 0, 0), 0);
        assert_int_equal(chown(cfg_path, 0, 0), 0);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    } else {
        assert_int_equal(chmod(tmp_dir, 0555), 0);
        assert_int_equal(unwritable_commit_refused(), 0);
        assert_int_equal(chmod(tmp_dir, 0755), 0);
    }
    assert_file_is(base_cfg);
}

/* Two editors at once: the second waits for the first and sees its change,
 * so neither change is lost.  The child edits first (a forked child would
 * inherit the parent's locked descriptor and keep the lock alive). */
static void test_concurrent_editors_lose_nothing(void **state)
{
    wasp_config_edit_t *ed = NULL;
    char err[1024], c;
    wasp_config_t *cfg;
    int fds[2], status;
    pid_t pid;

    (void)state;
    write_cfg(base_cfg);
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        wasp_config_edit_t *first = NULL;

        alarm(20);
        if (wasp_config_edit_open(cfg_path, &first, err, sizeof(err)) != 0 ||
            wasp_config_edit_pool_add(first, "First", err, sizeof(err)) != 0) {
            _exit(1);
        }
        if (write(fds[1], "L", 1) != 1) {
            _exit(1);
        }
        usleep(300 * 1000); /* the parent is now waiting for the lock */
        if (wasp_config_edit_commit(first, err, sizeof(err)) != 0) {
            _exit(1);
        }
        wasp_config_edit_free(first);
        _exit(0);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], &c, 1), 1);
    close(fds[0]);
    assert_int_equal(wasp_config_edit_open(cfg_path, &ed, err, sizeof(err)), WASP_EDIT_OK);
    /* the lock was granted only after the child's commit: its pool is there */
    assert_int_equal(wasp_config_edit_pool_add(ed, "First", err, sizeof(err)),
                     WASP_EDIT_DUPLICATE);
    ok(wasp_config_edit_pool_add(ed, "Second", err, sizeof(err)), err);
    commit_ok(ed);
    wasp_config_edit_free(ed);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cfg = load_ok();
    assert_non_null(wasp_config_find_pool(cfg, "First"));
    assert_non_null(wasp_config_find_pool(cfg, "Second"));
    wasp_config_free(cfg);
}

/* The stock file: adding a pool adds one line and changes no other byte. */
static void test_stock_file_changes_one_line(void **state)
{
    static const char line[] = "            <add name=\"Added\" />\n";
    wasp_config_edit_t *ed;
    char err[1024];
    char *orig, *now, *hit;
    size_t olen, nlen, at;

    (void)state;
    orig = read_file("conf/applicationHost.config", &olen);
    write_file(cfg_path, orig, olen);
    ed = open_ok();
    ok(wasp_config_edit_pool_add(ed, "Added", err, sizeof(err)), err);
    commit_ok(ed);
    wasp_config_edit_free(ed);
    now = read_file(cfg_path, &nlen);
    assert_int_equal(nlen, olen + strlen(line));
    hit = strstr(now, line);
    assert_non_null(hit);
    at = (size_t)(hit - now);
    assert_true(at > 0 && now[at - 1] == '\n');
    assert_memory_equal(now, orig, at);
    assert_memory_equal(now + at + strlen(line), orig + at, olen - at);
    free(orig);
    free(now);
}

static void test_schema_lookup(void **state)
{
    size_t n;
    const wasp_edit_attr_t *tab = wasp_edit_pool_attrs(&n), *a;

    (void)state;
    assert_true(n > 40);
    assert_string_equal(tab[0].name, "name");
    a = wasp_edit_pool_attr_find("PROCESSMODEL.IDLETIMEOUT");
    assert_non_null(a);
    assert_string_equal(a->element, "processModel");
    assert_string_equal(a->name, "idleTimeout");
    assert_string_equal(a->dflt, "00:20:00");
    a = wasp_edit_pool_attr_find("recycling.periodicRestart.time");
    assert_non_null(a);
    assert_string_equal(a->element, "recycling.periodicRestart");
    assert_null(wasp_edit_pool_attr_find("recycling.time"));
    assert_null(wasp_edit_pool_attr_find("periodicRestart.time"));
    assert_null(wasp_edit_pool_attr_find(""));
    assert_non_null(wasp_edit_site_attr_find("serverautostart"));
}

/* ---- any section (set config) ----------------------------------------------------- */

static void test_section_set_creates_location(void **state)
{
    wasp_config_edit_t *ed;
    char err[1024];

    (void)state;
    write_cfg(base_cfg);
    ed = open_ok();
    ok(wasp_config_edit_section_set(ed, "Default Web Site/sub",
                                    "system.webServer/directoryBrowse", "", "enabled", "true",
                                    err, sizeof(err)),
       err);
    commit_ok(ed);
    wasp_config_edit_free(ed);
    assert_file_is(HEAD DEFAULTS
                   "        </applicationPools>\n" SITES "    </system.applicationHost>\n"
                   "    <location path=\"Default Web Site/sub\">\n"
                   "        <system.webServer>\n"
                   "            <directoryBrowse enabled=\"true\" />\n"
                   "        </system.webServer>\n"
                   "    </location>\n"
                   "</configuration>\n");
}

static const char web_cfg[] = "<configuration>\n"
                              "  <!-- mine -->\n"
                              "  <system.webServer>\n"
                              "    <defaultDocument>\n"
                              "      <files>\n"
                              "        <add value=\"a.htm\" />\n"
                              "      </files>\n"
                              "    </defaultDocument>\n"
                              "  </system.webServer>\n"
                              "</configuration>\n";

static void test_section_items_add_and_remove(void **state)
{
    static const char *const key[] = { "value" };
    static const char *const b[] = { "b.htm" }, *const a[] = { "a.htm" },
                             *const c[] = { "c.htm" };
    wasp_config_edit_t *ed;
    char err[1024];

    (void)state;
    write_cfg(web_cfg);
    ed = open_ok();
    wasp_config_edit_set_unchecked(ed, true);
    ok(wasp_config_edit_section_add(ed, NULL, "system.webServer/defaultDocument", "files", "add",
                                    key, b, 1, err, sizeof(err)),
       err);
    /* an item of this file goes; an inherited one gets a <remove> */
    ok(wasp_config_edit_section_remove(ed, NULL, "system.webServer/defaultDocument", "files",
                                       "remove", key, a, 1, err, sizeof(err)),
       err);
    ok(wasp_config_edit_section_remove(ed, NULL, "system.webServer/defaultDocument", "files",
                                       "remove", key, c, 1, err, sizeof(err)),
       err);
    ok(wasp_config_edit_section_set(ed, NULL, "system.webServer/defaultDocument", "", "enabled",
                                    "false", err, sizeof(err)),
       err);
    commit_ok(ed);
    wasp_config_edit_free(ed);
    assert_file_is("<configuration>\n"
                   "  <!-- mine -->\n"
                   "  <system.webServer>\n"
                   "    <defaultDocument enabled=\"false\">\n"
                   "      <files>\n"
                   "        <add value=\"b.htm\" />\n"
                   "        <remove value=\"c.htm\" />\n"
                   "      </files>\n"
                   "    </defaultDocument>\n"
                   "  </system.webServer>\n"
                   "</configuration>\n");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup_dir, remove_dir)
    const struct CMUnitTest tests[] = {
        T(test_add_pool_after_last_pool),
        T(test_add_pool_before_defaults),
        T(test_add_pool_creates_sections),
        T(test_add_duplicate_pool),
        T(test_add_invalid_name_refused_by_loader),
        T(test_set_top_level_attributes),
        T(test_set_nested_creates_elements),
        T(test_set_into_existing_children),
        T(test_set_same_value_writes_nothing),
        T(test_set_escapes_values),
        T(test_set_unknown_attribute),
        T(test_set_missing_pool),
        T(test_set_refused_by_loader_leaves_file),
        T(test_rename_to_existing_name),
        T(test_delete_pool_in_use_warns),
        T(test_delete_pool_with_children),
        T(test_delete_pool_named_by_defaults),
        T(test_tricky_markup),
        T(test_edit_text_of_tricky_markup),
        T(test_default_namespace),
        T(test_site_set),
        T(test_pool_autostart),
        T(test_atomic_replacement_keeps_mode),
        T(test_symlink_target_is_replaced),
        T(test_crlf_and_bom_survive),
        T(test_malformed_file_refused),
        T(test_unwritable_directory),
        T(test_concurrent_editors_lose_nothing),
        T(test_stock_file_changes_one_line),
        T(test_section_set_creates_location),
        T(test_section_items_add_and_remove),
        cmocka_unit_test(test_schema_lookup),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
