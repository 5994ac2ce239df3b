/*
 * Unit tests of the per-pool configuration copies (src/config/pool_copy.c)
 * and of wasp_config_load_as: what a pool's copy keeps and blanks, that it
 * keeps every line where it was, that loading it names the original file,
 * line for line, and that every pool of every applicationHost.config of the
 * shared corpus gets a copy that loads.
 *
 * Run from the repository root (meson's test workdir): the corpus is
 * ../shared/corpus/iis.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"

/* ---- helpers -------------------------------------------------------------- */

/* Two directories: the original's (as /etc/wasp) and the copies' (as the
 * per-pool run directory), so relative paths show which one they follow. */
typedef struct fixture {
    char orig_dir[64];
    char copy_dir[64];
    char orig[128];
    char copy[128];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->orig_dir, sizeof f->orig_dir, "/tmp/wasp-test-orig-XXXXXX");
    snprintf(f->copy_dir, sizeof f->copy_dir, "/tmp/wasp-test-copy-XXXXXX");
    assert_non_null(mkdtemp(f->orig_dir));
    assert_non_null(mkdtemp(f->copy_dir));
    snprintf(f->orig, sizeof f->orig, "%s/applicationHost.config", f->orig_dir);
    snprintf(f->copy, sizeof f->copy, "%s/pool.config", f->copy_dir);
    *state = f;
    return 0;
}

static void remove_dir(const char *dir)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return;
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(dp);
    rmdir(dir);
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    remove_dir(f->orig_dir);
    remove_dir(f->copy_dir);
    free(f);
    return 0;
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long n = ftell(fp);
    assert_true(n >= 0);
    rewind(fp);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    buf[n] = '\0';
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

static void assert_lacks(const char *hay, const char *needle)
{
    if (strstr(hay, needle))
        fail_msg("the copy still contains \"%s\"", needle);
}

/* 1-based line of the first occurrence of needle in text. */
static int line_of(const char *text, const char *needle)
{
    const char *p = strstr(text, needle);
    if (!p)
        fail_msg("\"%s\" not found", needle);
    int line = 1;
    for (const char *q = text; q < p; q++)
        line += *q == '\n';
    return line;
}

/* Line n (1-based) of text, into buf. */
static const char *nth_line(const char *text, int n, char *buf, size_t size)
{
    const char *p = text;
    for (int i = 1; i < n && p; i++) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    assert_non_null(p);
    size_t len = strcspn(p, "\n");
    assert_true(len < size);
    memcpy(buf, p, len);
    buf[len] = '\0';
    return buf;
}

/* The copy is the original with some bytes turned into spaces, line breaks
 * never: same length, same lines, every other byte where it was. */
static void assert_only_blanked(const char *orig, size_t olen, const char *copy, size_t clen)
{
    assert_int_equal(olen, clen);
    for (size_t i = 0; i < olen; i++) {
        if (copy[i] == orig[i])
            continue;
        if (copy[i] != ' ' || orig[i] == '\n' || orig[i] == '\r')
            fail_msg("byte %zu: '%c' became '%c'", i, orig[i], copy[i]);
    }
}

static void assert_line_kept(const char *orig, const char *copy, const char *needle)
{
    char a[1024], b[1024];
    int n = line_of(orig, needle);
    assert_string_equal(nth_line(copy, n, b, sizeof b), nth_line(orig, n, a, sizeof a));
}

static wasp_config_t *load_orig(const char *path)
{
    wasp_diag_t d;
    wasp_config_t *cfg = wasp_config_load(path, &d);
    if (!cfg) {
        char buf[2048];
        fail_msg("original does not load: %s", wasp_diag_format(&d, buf, sizeof buf));
    }
    return cfg;
}

static void make_copy(const wasp_config_t *cfg, const char *pool, const char *out)
{
    char err[1024];
    if (wasp_config_write_pool_copy(cfg, pool, out, getuid(), getgid(), err, sizeof err) != 0)
        fail_msg("pool copy of '%s' failed: %s", pool, err);
}

static wasp_config_t *load_copy(const char *copy, const char *orig)
{
    wasp_diag_t d;
    wasp_config_t *cfg = wasp_config_load_as(copy, orig, 0, &d);
    if (!cfg) {
        char buf[2048];
        fail_msg("copy does not load: %s", wasp_diag_format(&d, buf, sizeof buf));
    }
    return cfg;
}

/* ---- the main case ------------------------------------------------------------ */

static const char two_pools[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<!-- a comment is kept as it is: <add name=\"B\"/> and <site name=\"Two\"> -->\n"
    "<configuration>\n"
    "  <system.applicationHost>\n"
    "    <applicationPools>\n"
    "      <add name=\"A\"\n"
    "           queueLength=\"2000\"\n"
    "           startMode='AlwaysRunning'>\n"
    "        <environmentVariables>\n"
    "          <add name=\"A_TOKEN\" value=\"a-visible\" />\n"
    "        </environmentVariables>\n"
    "      </add>\n"
    "      <add name=\"B\" managedPipelineMode=\"Integrated\"><environmentVariables>\n"
    "          <add name=\"DB_PASSWORD\" value=\"b-secret-1\" />\n"
    "          <add name=\"API_KEY\"\n"
    "               value='b-secret-2 &gt; &amp; \"quoted\"' />\n"
    "        </environmentVariables>\n"
    "        <![CDATA[ </add> ]]>\n"
    "        <processModel identityType=\"SpecificUser\" userName=\"bob\" "
    "password=\"b-secret-3\" />\n"
    "      </add>\n"
    "      <add name=\"C\" /><!-- C is on the same line as its comment -->\n"
    "      <applicationPoolDefaults>\n"
    "        <processModel idleTimeout=\"00:10:00\" />\n"
    "      </applicationPoolDefaults>\n"
    "    </applicationPools>\n"
    "    <sites>\n"
    "      <site name=\"One\" id=\"1\">\n"
    "        <bindings><binding protocol=\"http\" bindingInformation=\"*:8081:\" /></bindings>\n"
    "        <application path=\"/\">\n"
    "          <virtualDirectory path=\"/\" physicalPath=\"www/one\" />\n"
    "        </application>\n"
    "        <application path=\"/b\" applicationPool=\"B\">\n"
    "          <virtualDirectory path=\"/\" physicalPath=\"www/one-b\" />\n"
    "        </application>\n"
    "      </site>\n"
    "      <site name=\"Two\" id=\"2\">\n"
    "        <bindings><binding protocol=\"http\" bindingInformation=\"*:8082:\" /></bindings>\n"
    "        <application path=\"/\" applicationPool=\"B\"><virtualDirectory path=\"/\" "
    "physicalPath=\"/srv/two\" /></application>\n"
    "      </site>\n"
    "      <site name=\"Three\" id=\"3\"><bindings><binding protocol=\"http\" "
    "bindingInformation=\"*:8083:\" /></bindings><applicationDefaults applicationPool=\"C\" />"
    "<application path=\"/\"><virtualDirectory path=\"/\" physicalPath=\"/srv/three\" />"
    "</application></site>\n"
    "      <site name=\"Four\" id=\"4\" />\n"
    "      <applicationDefaults applicationPool=\"a\" />\n"
    "    </sites>\n"
    "  </system.applicationHost>\n"
    "  <location path=\"Two\">\n"
    "    <system.webServer><directoryBrowse enabled=\"true\" /></system.webServer>\n"
    "  </location>\n"
    "</configuration>\n";

static void test_copy_keeps_only_the_pool(void **state)
{
    fixture_t *f = *state;
    write_file(f->orig, two_pools, strlen(two_pools));
    wasp_config_t *cfg = load_orig(f->orig);
    assert_int_equal(wasp_config_pool_count(cfg), 3);
    make_copy(cfg, "A", f->copy);

    size_t olen, clen;
    char *orig = read_file(f->orig, &olen);
    char *copy = read_file(f->copy, &clen);
    assert_only_blanked(orig, olen, copy, clen);
    /* no trace of B (or of C) outside the comment */
    assert_lacks(copy, "b-secret");
    assert_lacks(copy, "DB_PASSWORD");
    assert_lacks(copy, "API_KEY");
    assert_lacks(copy, "bob");
    assert_lacks(copy, "CDATA");
    assert_lacks(copy, "<add name=\"C\"");
    assert_contains(copy, "<!-- C is on the same line as its comment -->");
    /* Site One is A's and B's: it stays whole (B's /b application too, so
     * URLs map to applications as the listener routes them), and B stays
     * by name only: none of its settings */
    assert_contains(copy, "applicationPool=\"B\"");
    assert_contains(copy, "www/one-b");
    assert_lacks(copy, "applicationPool=\"C\"");
    assert_lacks(copy, "\"Three\"");
    assert_lacks(copy, "\"Four\"");
    assert_lacks(copy, "<site name=\"Two\" id");
    assert_lacks(copy, "*:8082:");
    assert_lacks(copy, "managedRuntimeVersion=\"v2.0\"");
    /* the lines that stay are byte for byte the original's */
    assert_line_kept(orig, copy, "<!-- a comment");
    assert_line_kept(orig, copy, "<add name=\"A\"");
    assert_line_kept(orig, copy, "queueLength=\"2000\"");
    assert_line_kept(orig, copy, "startMode='AlwaysRunning'>");
    assert_line_kept(orig, copy, "A_TOKEN");
    assert_line_kept(orig, copy, "<site name=\"One\"");
    assert_line_kept(orig, copy, "physicalPath=\"www/one\"");
    assert_line_kept(orig, copy, "<applicationPoolDefaults>");
    assert_line_kept(orig, copy, "<applicationDefaults applicationPool=\"a\" />");
    assert_line_kept(orig, copy, "<location path=\"Two\">");
    /* the line of B's <add> keeps only its name */
    char line[1024];
    const char *l = nth_line(copy, line_of(orig, "<add name=\"B\" managed"), line, sizeof line);
    assert_non_null(strstr(l, "<add name=\"B\""));
    assert_null(strstr(l, "managed"));

    /* mode 0600, owned by us (not root: the owner cannot be given) */
    struct stat st;
    assert_int_equal(stat(f->copy, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_uid, geteuid());

    /* loaded as the original: pool A, B by name, site One whole */
    wasp_config_t *pc = load_copy(f->copy, f->orig);
    assert_string_equal(wasp_config_path(pc), f->orig);
    assert_int_equal(wasp_config_warning_count(pc), 0);
    assert_int_equal(wasp_config_pool_count(pc), 2);
    const wasp_pool_cfg_t *p = wasp_config_find_pool(pc, "A");
    assert_non_null(p);
    assert_string_equal(p->name, "A");
    const wasp_pool_cfg_t *b_by_name = wasp_config_find_pool(pc, "B");
    assert_non_null(b_by_name);
    assert_int_equal(b_by_name->env_count, 0);
    assert_string_equal(b_by_name->user_name, "");
    assert_int_equal(p->queue_length, 2000);
    assert_int_equal(p->start_mode, WASP_START_ALWAYS_RUNNING);
    assert_int_equal(p->idle_timeout_s, 600);
    assert_int_equal(p->env_count, 1);
    assert_string_equal(p->env[0].name, "A_TOKEN");
    assert_string_equal(p->file, f->orig);
    assert_int_equal(p->line, line_of(orig, "<add name=\"A\""));
    assert_int_equal(wasp_config_site_count(pc), 1);
    const wasp_site_cfg_t *s = wasp_config_site(pc, 0);
    assert_string_equal(s->name, "One");
    assert_int_equal(s->line, line_of(orig, "<site name=\"One\""));
    assert_int_equal(s->app_count, 2);
    assert_string_equal(s->apps[0].path, "/");
    assert_string_equal(s->apps[0].pool, "A");
    /* physicalPath follows the original's directory, not the copy's */
    char dir[PATH_MAX], want[PATH_MAX + 16];
    assert_non_null(realpath(f->orig_dir, dir));
    snprintf(want, sizeof want, "%s/www/one", dir);
    assert_string_equal(s->apps[0].vdirs[0].physical_path, want);
    /* and the sections of the file name it too */
    const wasp_section_t *db =
        wasp_config_section(pc, "Two", "/", "system.webServer/directoryBrowse");
    assert_non_null(db);
    assert_string_equal(db->file, f->orig);
    wasp_config_free(pc);
    free(copy);

    /* B's copy: B's secrets, none of A's; a pool name in any case */
    make_copy(cfg, "b", f->copy);
    copy = read_file(f->copy, &clen);
    assert_only_blanked(orig, olen, copy, clen);
    assert_contains(copy, "b-secret-1");
    assert_contains(copy, "b-secret-3");
    assert_lacks(copy, "A_TOKEN");
    assert_lacks(copy, "queueLength=\"2000\"");
    assert_lacks(copy, "\"Three\"");
    /* Site One is shared: its root application (pool A) stays, and A with
     * it, by name only: none of A's settings. */
    assert_contains(copy, "physicalPath=\"www/one\"");
    assert_contains(copy, "physicalPath=\"www/one-b\"");
    pc = load_copy(f->copy, f->orig);
    assert_int_equal(wasp_config_pool_count(pc), 2);
    const wasp_pool_cfg_t *pb = wasp_config_find_pool(pc, "B");
    const wasp_pool_cfg_t *pa = wasp_config_find_pool(pc, "A");
    assert_non_null(pb);
    assert_non_null(pa);
    assert_int_equal(pb->env_count, 2);
    assert_string_equal(pb->env[1].value, "b-secret-2 > & \"quoted\"");
    assert_int_equal(pa->env_count, 0);
    assert_int_equal(pa->queue_length, 1000); /* A's own 2000 is gone */
    const wasp_site_cfg_t *one = wasp_config_find_site(pc, "One");
    assert_non_null(one);
    assert_int_equal(one->app_count, 2);
    const wasp_site_cfg_t *two = wasp_config_find_site(pc, "Two");
    assert_non_null(two);
    assert_int_equal(two->app_count, 1);
    assert_string_equal(two->apps[0].pool, "B");
    for (size_t i = 0; i < wasp_config_site_count(pc); i++)
        for (size_t j = 0; j < wasp_config_site(pc, i)->app_count; j++)
            if (strcmp(wasp_config_site(pc, i)->apps[j].path, "/") != 0)
                assert_string_equal(wasp_config_site(pc, i)->apps[j].pool, "B");
    wasp_config_free(pc);
    free(copy);
    free(orig);
    wasp_config_free(cfg);
}

/* ---- diagnostics name the original, line for line ------------------------------- */

static void replace_same_length(char *text, const char *from, const char *to)
{
    assert_int_equal(strlen(from), strlen(to));
    char *p = strstr(text, from);
    assert_non_null(p);
    memcpy(p, to, strlen(to));
}

static void test_copy_errors_name_the_original(void **state)
{
    fixture_t *f = *state;
    write_file(f->orig, two_pools, strlen(two_pools));
    wasp_config_t *cfg = load_orig(f->orig);
    make_copy(cfg, "A", f->copy);
    wasp_config_free(cfg);
    size_t clen;
    char *copy = read_file(f->copy, &clen);

    /* a bad value of A's (the copy edited: the original would not load) */
    char *bad = strdup(copy);
    replace_same_length(bad, "queueLength=\"2000\"", "queueLength=\"abcd\"");
    write_file(f->copy, bad, clen);
    wasp_diag_t d;
    assert_null(wasp_config_load_as(f->copy, f->orig, 0, &d));
    assert_string_equal(d.file, f->orig);
    assert_int_equal(d.line, line_of(two_pools, "queueLength="));
    assert_contains(d.message, "queueLength=\"abcd\"");
    char buf[2048];
    char want[256];
    snprintf(want, sizeof want, "%s:%d: ", f->orig, line_of(two_pools, "queueLength="));
    assert_contains(wasp_diag_format(&d, buf, sizeof buf), want);
    free(bad);

    /* malformed XML: same line, original's name */
    bad = strdup(copy);
    replace_same_length(bad, "</environmentVariables>", "</environmentVariablez>");
    write_file(f->copy, bad, clen);
    assert_null(wasp_config_load_as(f->copy, f->orig, 0, &d));
    assert_string_equal(d.file, f->orig);
    assert_int_equal(d.line, line_of(two_pools, "</environmentVariables>"));
    assert_contains(d.message, "malformed XML");
    free(bad);

    /* a warning of the copy (strict: an error) names the original too */
    bad = strdup(copy);
    replace_same_length(bad, "applicationPool=\"a\"", "applicationPool=\"z\"");
    write_file(f->copy, bad, clen);
    assert_null(wasp_config_load_as(f->copy, f->orig, WASP_CONFIG_STRICT, &d));
    assert_string_equal(d.file, f->orig);
    assert_int_equal(d.line, line_of(two_pools, "applicationPool=\"a\""));
    assert_contains(d.message, "'z', which does not exist");
    free(bad);

    /* a copy that cannot be read is named as it is */
    unlink(f->copy);
    assert_null(wasp_config_load_as(f->copy, f->orig, 0, &d));
    assert_string_equal(d.file, f->copy);
    assert_int_equal(d.line, 0);
    free(copy);

    /* without a display path, load_as is load_ex */
    wasp_config_t *c = wasp_config_load_as(f->orig, NULL, 0, &d);
    assert_non_null(c);
    assert_string_equal(wasp_config_path(c), f->orig);
    wasp_config_free(c);
}

/* ---- refusals -------------------------------------------------------------------- */

static void test_copy_refusals(void **state)
{
    fixture_t *f = *state;
    write_file(f->orig, two_pools, strlen(two_pools));
    wasp_config_t *cfg = load_orig(f->orig);
    char err[1024];

    assert_int_equal(wasp_config_write_pool_copy(cfg, "Nope", f->copy, 0, 0, err, sizeof err), -1);
    assert_contains(err, "no application pool 'Nope'");
    assert_int_equal(access(f->copy, F_OK), -1);

    assert_int_equal(wasp_config_write_pool_copy(cfg, "A", f->orig, 0, 0, err, sizeof err), -1);
    assert_contains(err, "itself");

    char missing[256];
    snprintf(missing, sizeof missing, "%s/no/such/dir/pool.config", f->copy_dir);
    assert_int_equal(wasp_config_write_pool_copy(cfg, "A", missing, 0, 0, err, sizeof err), -1);
    assert_contains(err, "temporary file");
    assert_int_equal(wasp_config_write_pool_copy(NULL, "A", f->copy, 0, 0, err, sizeof err), -1);
    assert_int_equal(wasp_config_write_pool_copy(cfg, "A", f->copy, 0, 0, NULL, 0), 0);

    /* the file changed since it was loaded: A's <add> is gone */
    char *changed = strdup(two_pools);
    replace_same_length(changed, "<add name=\"A\"", "<add name=\"X\"");
    write_file(f->orig, changed, strlen(changed));
    unlink(f->copy);
    assert_int_equal(wasp_config_write_pool_copy(cfg, "A", f->copy, 0, 0, err, sizeof err), -1);
    assert_contains(err, "changed since it was loaded");
    assert_int_equal(access(f->copy, F_OK), -1);

    /* ... or is cut short, or is no longer XML the scanner knows */
    write_file(f->orig, two_pools, strlen(two_pools) / 2);
    assert_int_equal(wasp_config_write_pool_copy(cfg, "A", f->copy, 0, 0, err, sizeof err), -1);
    assert_contains(err, "cannot make the pool copy");
    static const char *const odd[] = {
        "<configuration><a></b></configuration>",
        "<configuration></configuration><configuration/>",
        "<!DOCTYPE configuration><configuration/>",
        "<configuration><a x></a></configuration>",
        "<configuration><a x=y></a></configuration>",
        "<configuration><a x=\"y></a></configuration>",
        "<configuration><!-- </configuration>",
        "<configuration><![CDATA[ x </configuration>",
        "<configuration><?pi </configuration>",
        "<configuration>< a/></configuration>",
        "<configuration><a / ></configuration>",
        "</configuration>",
        "<configuration",
        "<",
        "",
        "<other/>",
        "\xff\xfe<\0c\0",
    };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        write_file(f->orig, odd[i], i + 1 == sizeof odd / sizeof odd[0] ? 6 : strlen(odd[i]));
        err[0] = '\0';
        assert_int_equal(wasp_config_write_pool_copy(cfg, "A", f->copy, 0, 0, err, sizeof err),
                         -1);
        assert_true(err[0] != '\0');
    }
    assert_int_equal(access(f->copy, F_OK), -1);
    free(changed);
    wasp_config_free(cfg);
}

/* applicationPools in a configSource file: no copy (it could not filter a
 * file it does not hold), and the message says why. */
static void test_copy_refused_for_config_source(void **state)
{
    fixture_t *f = *state;
    static const char apphost[] =
        "<configuration>\n<system.applicationHost>\n"
        "<applicationPools configSource=\"pools.config\" />\n"
        "<sites><site name=\"S\" id=\"1\"><application path=\"/\" applicationPool=\"A\">"
        "<virtualDirectory path=\"/\" physicalPath=\"/srv\" /></application></site></sites>\n"
        "</system.applicationHost>\n</configuration>\n";
    static const char pools[] = "<applicationPools><add name=\"A\" /><add name=\"B\" />"
                                "</applicationPools>\n";
    char path[256], err[1024];

    snprintf(path, sizeof path, "%s/pools.config", f->orig_dir);
    write_file(path, pools, strlen(pools));
    write_file(f->orig, apphost, strlen(apphost));
    wasp_config_t *cfg = load_orig(f->orig);
    assert_int_equal(wasp_config_write_pool_copy(cfg, "A", f->copy, 0, 0, err, sizeof err), -1);
    assert_contains(err, "system.applicationHost/applicationPools is in the configSource file");
    assert_contains(err, path);
    assert_int_equal(access(f->copy, F_OK), -1);
    wasp_config_free(cfg);
}

/* ---- location-wrapped system.applicationHost, references, CR LF ------------------ */

static void test_copy_location_entities_crlf(void **state)
{
    fixture_t *f = *state;
    static const char text[] =
        "<configuration>\r\n"
        "<location path=\"\" overrideMode=\"Allow\">\r\n"
        "<system.applicationHost>\r\n"
        "<applicationPools>\r\n"
        "<add name=\"&#x41;pp\"><environmentVariables><add name=\"K\" value=\"app-visible\" />"
        "</environmentVariables></add>\r\n"
        "<add name=\"Other\"><environmentVariables><add name=\"K\" value=\"other-secret\" />"
        "</environmentVariables></add>\r\n"
        "</applicationPools>\r\n"
        "<sites>\r\n"
        "<site name=\"Tom &amp; Jerry\" id=\"1\">\r\n"
        "<application path=\"/\" applicationPool=\"App\">\r\n"
        "<virtualDirectory path=\"/\" physicalPath=\"/srv/tj\" /></application>\r\n"
        "<application path=\"&#x2F;x\" applicationPool=\"Other\">\r\n"
        "<virtualDirectory path=\"/\" physicalPath=\"/srv/tj-x\" /></application>\r\n"
        "</site>\r\n"
        "<site name=\"Tom\tJerry\" id=\"2\"><application path=\"/\" applicationPool=\"Other\">"
        "<virtualDirectory path=\"/\" physicalPath=\"/srv/other\" /></application></site>\r\n"
        "</sites>\r\n"
        "</system.applicationHost>\r\n"
        "</location>\r\n"
        "</configuration>\r\n";
    write_file(f->orig, text, strlen(text));
    wasp_config_t *cfg = load_orig(f->orig);
    assert_non_null(wasp_config_find_pool(cfg, "App"));
    assert_non_null(wasp_config_find_site(cfg, "Tom & Jerry"));
    make_copy(cfg, "app", f->copy);
    size_t clen;
    char *copy = read_file(f->copy, &clen);
    assert_only_blanked(text, strlen(text), copy, clen);
    assert_lacks(copy, "other-secret");
    assert_contains(copy, "/srv/tj-x"); /* Tom & Jerry is shared: it stays whole */
    assert_lacks(copy, "/srv/other");
    assert_contains(copy, "app-visible");
    assert_contains(copy, "/srv/tj\"");
    /* every line end stays CR LF */
    size_t crlf = 0, want = 0;
    for (size_t i = 0; i + 1 < clen; i++) {
        crlf += copy[i] == '\r' && copy[i + 1] == '\n';
        want += text[i] == '\r' && text[i + 1] == '\n';
    }
    assert_int_equal(crlf, want);
    wasp_config_t *pc = load_copy(f->copy, f->orig);
    assert_int_equal(wasp_config_pool_count(pc), 2); /* App, and Other by name */
    assert_non_null(wasp_config_find_pool(pc, "App"));
    assert_int_equal(wasp_config_find_pool(pc, "Other")->env_count, 0);
    assert_int_equal(wasp_config_site_count(pc), 1);
    assert_int_equal(wasp_config_site(pc, 0)->app_count, 2);
    wasp_config_free(pc);
    free(copy);

    /* the other pool: its site is matched with the tab read as a space;
     * "Tom & Jerry" keeps /x and its root (App's, App by name only) */
    make_copy(cfg, "Other", f->copy);
    copy = read_file(f->copy, &clen);
    assert_lacks(copy, "app-visible");
    assert_contains(copy, "/srv/tj-x");
    assert_contains(copy, "/srv/other");
    pc = load_copy(f->copy, f->orig);
    const wasp_site_cfg_t *s = wasp_config_find_site(pc, "Tom Jerry");
    assert_non_null(s);
    assert_int_equal(s->app_count, 1);
    assert_string_equal(s->apps[0].pool, "Other");
    s = wasp_config_find_site(pc, "Tom & Jerry");
    assert_non_null(s);
    assert_int_equal(s->app_count, 2);
    wasp_config_free(pc);
    free(copy);
    wasp_config_free(cfg);
}

/* ---- the corpus ----------------------------------------------------------------- */

static bool name_has_applicationhost(const char *name)
{
    char low[512];
    size_t n = strlen(name);
    if (n >= sizeof low)
        return false;
    for (size_t i = 0; i <= n; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    return strstr(low, "applicationhost") && n > 7 && strcmp(low + n - 7, ".config") == 0;
}

/* Applications the model gives the pool. */
static size_t pool_apps(const wasp_config_t *cfg, const char *pool)
{
    size_t n = 0;
    for (size_t i = 0; i < wasp_config_site_count(cfg); i++) {
        const wasp_site_cfg_t *s = wasp_config_site(cfg, i);
        for (size_t j = 0; j < s->app_count; j++)
            n += strcasecmp(s->apps[j].pool, pool) == 0;
    }
    return n;
}


static void test_corpus_copies_load(void **state)
{
    fixture_t *f = *state;
    const char *dir = "../shared/corpus/iis";
    DIR *dp = opendir(dir);
    if (!dp)
        fail_msg("corpus %s not found (tests run from the project root)", dir);
    int files = 0, copies = 0, failures = 0;
    size_t rootless = 0;
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (!name_has_applicationhost(e->d_name))
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        wasp_diag_t d;
        wasp_config_t *cfg = wasp_config_load(path, &d);
        if (!cfg)
            continue; /* test_config's corpus test reports those */
        files++;
        size_t olen;
        char *orig = read_file(path, &olen);
        for (size_t i = 0; i < wasp_config_pool_count(cfg); i++) {
            const wasp_pool_cfg_t *p = wasp_config_pool(cfg, i);
            char err[1024];
            if (wasp_config_write_pool_copy(cfg, p->name, f->copy, getuid(), getgid(), err,
                                            sizeof err) != 0) {
                fprintf(stderr, "%s, pool '%s': %s\n", path, p->name, err);
                failures++;
                continue;
            }
            copies++;
            size_t clen;
            char *copy = read_file(f->copy, &clen);
            assert_only_blanked(orig, olen, copy, clen);
            free(copy);
            wasp_config_t *pc = wasp_config_load_as(f->copy, path, 0, &d);
            if (!pc) {
                char buf[2048];
                fprintf(stderr, "copy of pool '%s' does not load: %s\n", p->name,
                        wasp_diag_format(&d, buf, sizeof buf));
                failures++;
                continue;
            }
            assert_string_equal(wasp_config_path(pc), path);
            /* the pool, plus (by name only) the pools of the roots of
             * sites it shares */
            const wasp_pool_cfg_t *q = wasp_config_find_pool(pc, p->name);
            assert_non_null(q);
            for (size_t k = 0; k < wasp_config_pool_count(pc); k++) {
                const wasp_pool_cfg_t *o = wasp_config_pool(pc, k);
                if (o != q)
                    assert_int_equal(o->env_count, 0);
            }
            assert_string_equal(q->name, p->name);
            assert_int_equal(q->line, p->line);
            assert_string_equal(q->file, path);
            assert_true(wasp_pool_cfg_same(p, q));
            /* every application of the pool is left, and every site that
             * has one is left whole (as many applications as in the
             * original); no other site */
            assert_int_equal(pool_apps(pc, p->name), pool_apps(cfg, p->name));
            for (size_t k = 0; k < wasp_config_site_count(pc); k++) {
                const wasp_site_cfg_t *st = wasp_config_site(pc, k);
                const wasp_site_cfg_t *os = wasp_config_find_site(cfg, st->name);
                size_t own = 0;
                assert_non_null(os);
                assert_int_equal(st->app_count, os->app_count);
                for (size_t a = 0; a < st->app_count; a++)
                    own += strcasecmp(st->apps[a].pool, p->name) == 0;
                assert_true(own > 0);
                rootless += st->app_count - own;
            }
            wasp_config_free(pc);
        }
        free(orig);
        wasp_config_free(cfg);
    }
    closedir(dp);
    fprintf(stderr, "corpus: %d files, %d pool copies, %zu applications of other pools in shared sites\n", files,
            copies, rootless);
    assert_true(files >= 20);
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_copy_keeps_only_the_pool, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_errors_name_the_original, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_refused_for_config_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_location_entities_crlf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corpus_copies_load, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
