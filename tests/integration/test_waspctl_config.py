"""
waspctl list config / set config (appcmd's CONFIG object, iis-hosting.md 7):
the effective section at a config path with web.config files, /text:ATTR,
/xml, an unknown section, a broken web.config; set config writing the
web.config of the path (created when missing), /commit:apphost (a
<location> in applicationHost.config), /commit:site (a <location> in the
site's web.config), collection add / remove, every other byte of the file
kept, and refusals (lock, bad value, duplicate item) that leave the file as
it was.  Offline with --config, and online against a running waspd where
the change answers the next request.
"""
import os

import pytest

import harness
from conftest import stop_module_server
from harness import get
from test_waspctl import waspctl

SITE = "Config Site"
POOL = "ConfigPool"


def offline_server(name):
    """A server model written to disk but not started (offline tests)."""
    s = harness.WaspServer(name)
    s.pool(POOL)
    s.site(SITE, ["127.0.0.1:%d:" % s.port("main")], [("/", POOL, "www")])
    s.location("%s/locked" % SITE, '<directoryBrowse enabled="false" />', overrideMode="Deny")
    s.location("%s/attrlock" % SITE,
               '<directoryBrowse enabled="false" lockAttributes="enabled" />')
    s.mkdir("www/sub")
    s.mkdir("www/locked")
    s.mkdir("www/attrlock")
    s.write_config()
    return s


@pytest.fixture
def off():
    return offline_server("ctlconfig")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def ctl(s, *args):
    return waspctl(*args, config=s.config_path, rundir=s.rundir)


# ---------------------------------------------------------------------------
# list config

def test_list_server_level_prints_section_xml(off):
    r = ctl(off, "list", "config", "-section:system.webServer/defaultDocument")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ('<system.webServer>\n'
                        '  <defaultDocument enabled="true">\n'
                        '    <files>\n'
                        '      <add value="index.html" />\n'
                        '      <add value="Default.htm" />\n'
                        '    </files>\n'
                        '  </defaultDocument>\n'
                        '</system.webServer>\n')


def test_list_short_name_text_attr_and_xml(off):
    r = ctl(off, "list", "config", SITE + "/sub", "/section:directoryBrowse", "/text:enabled")
    assert (r.returncode, r.stdout) == (0, "false\n"), r.stderr
    r = ctl(off, "list", "config", SITE, "-section:directoryBrowse", "/xml")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<appcmd>\n'
                               '    <CONFIG CONFIG.SECTION="system.webServer/directoryBrowse"'
                               ' path="MACHINE/WEBROOT/APPHOST/%s">\n' % SITE)
    assert '        <system.webServer-directoryBrowse enabled="false" />\n' in r.stdout


def test_list_includes_web_config(off):
    off.file("www/sub/web.config",
             '<configuration><system.webServer><directoryBrowse enabled="true" />'
             '</system.webServer></configuration>')
    r = ctl(off, "list", "config", SITE + "/sub", "-section:directoryBrowse")
    assert '<directoryBrowse enabled="true" />' in r.stdout, r.stderr
    r = ctl(off, "list", "config", SITE, "-section:directoryBrowse")
    assert '<directoryBrowse enabled="false" />' in r.stdout, r.stderr


def test_list_unknown_section(off):
    r = ctl(off, "list", "config", "-section:system.webServer/noSuchThing")
    assert r.returncode != 0
    assert r.stderr == 'ERROR ( message:Unknown config section "system.webServer/noSuchThing". )\n'


def test_list_under_broken_web_config_names_file_and_line(off):
    wc = off.file("www/sub/web.config",
                  '<configuration>\n<system.webServer>\n<directoryBrowse enabled="perhaps" />\n'
                  '</system.webServer>\n</configuration>\n')
    r = ctl(off, "list", "config", SITE + "/sub", "-section:directoryBrowse")
    assert r.returncode != 0
    assert "%s:3:" % wc in r.stderr


# ---------------------------------------------------------------------------
# set config

def test_set_creates_web_config_of_the_path(off):
    before = read(off.config_path)
    r = ctl(off, "set", "config", SITE + "/sub", "-section:defaultDocument", "/enabled:false",
            "/+files.[value='start.htm']")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ('Applied configuration changes to section '
                        '"system.webServer/defaultDocument" for '
                        '"MACHINE/WEBROOT/APPHOST/%s/sub" at configuration commit path '
                        '"MACHINE/WEBROOT/APPHOST/%s/sub"\n' % (SITE, SITE))
    assert read(off.config_path) == before
    assert read(off.path("www/sub/web.config")).decode() == (
        '<?xml version="1.0" encoding="UTF-8"?>\n<configuration>\n'
        '    <system.webServer>\n'
        '        <defaultDocument enabled="false">\n'
        '            <files>\n'
        '                <add value="start.htm" />\n'
        '            </files>\n'
        '        </defaultDocument>\n'
        '    </system.webServer>\n'
        '</configuration>\n')
    r = ctl(off, "list", "config", SITE + "/sub", "-section:defaultDocument")
    assert '<defaultDocument enabled="false">' in r.stdout
    assert r.stdout.index("start.htm") < r.stdout.index("index.html")


def test_set_keeps_every_other_byte_of_web_config(off):
    original = ('<?xml version="1.0"?>\r\n<configuration>\r\n  <!-- mine -->\r\n'
                '  <system.webServer>\r\n\t<directoryBrowse   enabled=\'false\'  />\r\n'
                '  </system.webServer>\r\n</configuration>\r\n')
    wc = off.file("www/sub/web.config", original)
    r = ctl(off, "set", "config", SITE + "/sub", "-section:directoryBrowse", "/enabled:true")
    assert r.returncode == 0, r.stderr
    assert read(wc).decode() == original.replace("enabled='false'", "enabled='true'")


def test_remove_inherited_item_writes_remove(off):
    r = ctl(off, "set", "config", SITE + "/sub", "-section:defaultDocument",
            "/-files.[value='index.html']")
    assert r.returncode == 0, r.stderr
    assert '<remove value="index.html" />' in read(off.path("www/sub/web.config")).decode()
    r = ctl(off, "list", "config", SITE + "/sub", "-section:defaultDocument")
    assert "index.html" not in r.stdout and "Default.htm" in r.stdout
    # removing an item of the same file deletes its element (and its line)
    ctl(off, "set", "config", SITE + "/sub", "-section:defaultDocument", "/+files.[value='x.htm']")
    r = ctl(off, "set", "config", SITE + "/sub", "-section:defaultDocument",
            "/-files.[value='x.htm']")
    assert r.returncode == 0, r.stderr
    assert '"x.htm"' not in read(off.path("www/sub/web.config")).decode()


def test_commit_apphost_writes_location_and_keeps_rest(off):
    before = read(off.config_path).decode()
    r = ctl(off, "set", "config", SITE + "/sub", "-section:directoryBrowse", "/enabled:true",
            "/commit:apphost")
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith('at configuration commit path "MACHINE/WEBROOT/APPHOST"\n')
    after = read(off.config_path).decode()
    end = before.rindex("</configuration>")
    assert after.startswith(before[:end].rstrip())
    assert ('<location path="%s/sub">' % SITE) in after[end - 10:]
    assert '<directoryBrowse enabled="true" />' in after[end - 10:]
    assert not os.path.exists(off.path("www/sub/web.config"))
    r = ctl(off, "list", "config", SITE + "/sub", "-section:directoryBrowse", "/text:enabled")
    assert r.stdout == "true\n"


def test_commit_site_writes_location_in_site_web_config(off):
    r = ctl(off, "set", "config", SITE + "/sub", "-section:directoryBrowse", "/enabled:true",
            "/commit:site")
    assert r.returncode == 0, r.stderr
    text = read(off.path("www/web.config")).decode()
    assert '<location path="sub">' in text and 'enabled="true"' in text
    assert not os.path.exists(off.path("www/sub/web.config"))
    r = ctl(off, "list", "config", SITE, "-section:directoryBrowse", "/text:enabled")
    assert r.stdout == "false\n"


def test_server_level_set_edits_apphost_in_place(off):
    before = read(off.config_path).decode()
    r = ctl(off, "set", "config", "-section:directoryBrowse", "/enabled:true")
    assert r.returncode == 0, r.stderr
    after = read(off.config_path).decode()
    assert after == before.replace('<directoryBrowse enabled="false" />\n    <httpErrors',
                                   '<directoryBrowse enabled="true" />\n    <httpErrors', 1)
    assert after != before


def test_lock_refused_with_iis_message_and_no_file_left(off):
    r = ctl(off, "set", "config", SITE + "/locked", "-section:directoryBrowse", "/enabled:true")
    assert r.returncode != 0
    assert "This configuration section cannot be used at this path." in r.stderr
    assert not os.path.exists(off.path("www/locked/web.config"))
    # apphost holds the lock, so it may set it there
    r = ctl(off, "set", "config", SITE + "/locked", "-section:directoryBrowse", "/enabled:true",
            "/commit:apphost")
    assert r.returncode == 0, r.stderr


def test_locked_attribute_refused_other_attribute_allowed(off):
    r = ctl(off, "set", "config", SITE + "/attrlock", "-section:directoryBrowse",
            "/enabled:true")
    assert r.returncode != 0
    assert "Lock violation" in r.stderr
    assert not os.path.exists(off.path("www/attrlock/web.config"))
    r = ctl(off, "set", "config", SITE + "/attrlock", "-section:directoryBrowse",
            "/showFlags:Date")
    assert r.returncode == 0, r.stderr
    assert 'showFlags="Date"' in read(off.path("www/attrlock/web.config")).decode()


def test_refusals_leave_the_file_unchanged(off):
    wc = off.file("www/sub/web.config",
                  '<configuration>\n  <system.webServer>\n    <defaultDocument>\n'
                  '      <files>\n        <add value="a.htm" />\n      </files>\n'
                  '    </defaultDocument>\n  </system.webServer>\n</configuration>\n')
    original = read(wc)
    for args, word in ((["/enabled:maybe"], "Boolean"),
                       (["/+files.[value='a.htm']"], "duplicate collection entry"),
                       (["/bogus:1"], 'Unknown attribute "bogus"'),
                       (["/+nothing.[value='x']"], "Cannot find requested collection element")):
        r = ctl(off, "set", "config", SITE + "/sub", "-section:defaultDocument", *args)
        assert r.returncode != 0, args
        assert word in r.stderr, (args, r.stderr)
        assert read(wc) == original, args


# ---------------------------------------------------------------------------
# online: the change answers the next request

@pytest.fixture(scope="module")
def live():
    s = harness.WaspServer("ctlconfig-live")
    port = s.port("main")
    s.pool(POOL)
    s.site(SITE, ["127.0.0.1:%d:" % port], [("/", POOL, "www")])
    s.file("www/docs/index.html", "docs index\n")
    s.file("www/docs/start.htm", "docs start\n")
    s.start()
    yield s
    stop_module_server(s)


def test_online_set_takes_effect_on_next_request(live):
    port = live.ports["main"]
    r = get(port, "/docs/")
    assert r.status == 200 and r.body == b"docs index\n"
    r = ctl(live, "set", "config", SITE + "/docs", "-section:defaultDocument",
            "/+files.[value='start.htm']")
    assert r.returncode == 0, r.stderr
    r = get(port, "/docs/")
    assert r.status == 200 and r.body == b"docs start\n"
    # directory browsing through applicationHost.config: waspd reloads the
    # file, but a running worker keeps the system.webServer sections it was
    # started with (waspd recycles only pools whose own settings changed), so
    # the pool is recycled here
    live.mkdir("www/empty")
    assert get(port, "/empty/").status == 403
    r = ctl(live, "set", "config", SITE + "/empty", "-section:directoryBrowse", "/enabled:true",
            "/commit:apphost")
    assert r.returncode == 0, r.stderr
    assert '<location path="%s/empty">' % SITE in read(live.config_path).decode()
    r = ctl(live, "recycle", "apppool", POOL)
    assert r.returncode == 0, r.stderr
    r = get(port, "/empty/")
    assert r.status == 200


def test_set_nested_element_attribute(off):
    r = ctl(off, "set", "config", SITE, "-section:system.webServer/staticContent",
            "/clientCache.cacheControlMode:UseMaxAge", "/commit:apphost")
    assert r.returncode == 0, r.stderr
    r = ctl(off, "list", "config", SITE, "-section:staticContent")
    assert '    <clientCache cacheControlMode="UseMaxAge" />\n' in r.stdout, r.stdout
    r = ctl(off, "list", "config", "-section:staticContent")
    assert "clientCache" not in r.stdout


# ---------------------------------------------------------------------------
# appcmd's other forms (iis-hosting.md 7.1, 7.3, 7.5)

def test_set_attribute_of_collection_item(off):
    """/[key='v'].attr:value changes that item in place; /coll.[key='v'].attr
    reaches a nested collection; an item the file does not hold is appcmd's
    "Cannot find requested collection element." and the file stays."""
    off.mime.append((".dat", "application/x-a"))
    off.write_config()
    r = ctl(off, "set", "config", "-section:staticContent",
            "/[fileExtension='.dat'].mimeType:application/x-b")
    assert r.returncode == 0, r.stderr
    text = read(off.config_path).decode()
    assert 'fileExtension=".dat" mimeType="application/x-b"' in text
    assert "application/x-a" not in text
    r = ctl(off, "set", "config", "-section:defaultDocument",
            "/files.[value='Default.htm'].value:home.htm")
    assert r.returncode == 0, r.stderr
    r = ctl(off, "list", "config", SITE, "-section:defaultDocument")
    assert '<add value="home.htm" />' in r.stdout and "Default.htm" not in r.stdout
    before = read(off.config_path)
    r = ctl(off, "set", "config", "-section:staticContent",
            "/[fileExtension='.nope'].mimeType:a/b")
    assert r.returncode != 0
    assert r.stderr == "ERROR ( message:Cannot find requested collection element. )\n"
    assert read(off.config_path) == before


def test_commit_parent_and_refused_levels(off):
    """/commit:parent writes into the level above the path (a <location> in
    the site's web.config for Site/sub; applicationHost.config above a site
    root); webroot and machine name files wasp does not have."""
    r = ctl(off, "set", "config", SITE + "/sub", "-section:directoryBrowse", "/enabled:true",
            "/commit:parent")
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith('commit path "MACHINE/WEBROOT/APPHOST/%s"\n' % SITE)
    assert '<location path="sub">' in read(off.path("www/web.config")).decode()
    before = read(off.config_path).decode()
    r = ctl(off, "set", "config", SITE, "-section:directoryBrowse", "/enabled:true",
            "/commit:parent")
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith('commit path "MACHINE/WEBROOT/APPHOST"\n')
    assert ('<location path="%s">' % SITE) in read(off.config_path).decode()[len(before) - 20:]
    for level, name in (("webroot", "root web.config"), ("machine", "machine.config")):
        r = ctl(off, "set", "config", SITE, "-section:directoryBrowse", "/enabled:true",
                "/commit:" + level)
        assert r.returncode != 0
        assert "wasp has no %s" % name in r.stderr


def test_list_config_text_star_detail_view(off):
    """/text:* prints the CONFIG object in appcmd's detail view: the object
    type, its identity properties as in /xml, then the section's tree."""
    r = ctl(off, "list", "config", SITE + "/locked", "-section:defaultDocument", "/text:*")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ('CONFIG\n'
                        '  CONFIG.SECTION:"system.webServer/defaultDocument"\n'
                        '  path:"MACHINE/WEBROOT/APPHOST/%s/locked"\n'
                        '  [defaultDocument]\n'
                        '    enabled:"true"\n'
                        '    [files]\n'
                        '      [add]\n'
                        '        value:"index.html"\n'
                        '      [add]\n'
                        '        value:"Default.htm"\n' % SITE)
