"""Handler mapping (MapRequestHandler, iis-modules.md 1.8): the first
<handlers> entry whose path, verb, requireAccess, preCondition and
resourceType all hold wins; otherwise 405 (a path matched but not the
verb), 404.0 (the resource is missing) or 404.4 (nothing matched).
Entries added at a deeper <location> come first (mergeAppend="false")."""
import html

import pytest

import harness
from conftest import stop_module_server
from harness import get


@pytest.fixture(scope="module")
def server():
    s = harness.WaspServer("handlers")
    port = s.port("main")
    s.pool("HandlerPool")
    s.pool("ClassicPool", managedPipelineMode="Classic")
    s.site("Handler Site", ["127.0.0.1:%d:" % port],
           [("/", "HandlerPool", "www"), ("/nomod", "HandlerPool", "wwwnomod"),
            ("/classic", "ClassicPool", "classic")])
    s.file("classic/page.probe", "static source of page.probe\n")
    s.file("classic/page.imode", "static source of page.imode\n")
    # The same entries on a Classic pool: classicMode holds, integratedMode not.
    s.location("Handler Site/classic", """<handlers>
        <add name="Classic" path="*.probe" verb="*" modules="TestModule" resourceType="Unspecified" requireAccess="None" preCondition="classicMode" />
        <add name="Integrated" path="*.imode" verb="*" modules="TestModule" resourceType="Unspecified" requireAccess="None" preCondition="integratedMode,bitness64" />
      </handlers>""")
    s.file("www/hello.txt", "hello\n")
    s.file("www/h/hello.txt", "hello\n")
    s.file("www/h/page.probe", "static source of page.probe\n")
    s.file("www/noaccess/x.txt", "x\n")
    s.file("wwwnomod/hello.txt", "hello without TestModule\n")
    # TestModule stays installed (globalModules) but is not enabled in this
    # application (<modules> is MachineToApplication: set on an application).
    s.location("Handler Site/nomod", '<modules><remove name="TestModule" /></modules>')
    # Nothing mapped at all: every request is 404.4.
    s.location("Handler Site/nohandler", "<handlers><clear /></handlers>")
    s.location("Handler Site/h", """<handlers>
        <add name="GetOnly" path="*.getonly" verb="GET" modules="TestModule" resourceType="Unspecified" requireAccess="None" />
        <add name="MustExist" path="*.mustexist" verb="*" modules="TestModule" resourceType="File" requireAccess="None" />
        <add name="Classic" path="*.probe" verb="*" modules="TestModule" resourceType="Unspecified" requireAccess="None" preCondition="classicMode" />
        <add name="Integrated" path="*.imode" verb="*" modules="TestModule" resourceType="Unspecified" requireAccess="None" preCondition="integratedMode,bitness64" />
        <add name="Managed" path="*.txt" verb="*" type="System.Web.DefaultHttpHandler" />
        <add name="Echo" path="echo.*" verb="*" modules="TestModule" resourceType="Unspecified" requireAccess="None" />
      </handlers>""")
    # Only a GET mapping: POST matches its path, not its verb.
    s.location("Handler Site/getonly", """<handlers><clear />
        <add name="GetOnly" path="*" verb="GET" modules="TestModule" resourceType="Unspecified" requireAccess="None" />
      </handlers>""")
    # accessPolicy without Script: a Script mapping is never chosen.
    s.location("Handler Site/noaccess", """<handlers accessPolicy="Read">
        <add name="NeedsScript" path="*.txt" verb="*" modules="TestModule" resourceType="Unspecified" requireAccess="Script" />
      </handlers>""")
    s.start()
    yield s
    stop_module_server(s)


@pytest.fixture
def port(server):
    return server.port("main")


def test_no_handler_404_4(port):
    r = get(port, "/nohandler/anything.txt")
    assert r.status == 404, r
    assert b"404.4" in r.body, r.body[:300]


def test_verb_not_allowed_405(port):
    assert get(port, "/getonly/x?op=whoami").status == 200
    r = harness.request(port, "POST", "/getonly/x?op=whoami", body=b"")
    assert r.status == 405, r
    assert r.header("Allow"), r
    assert b"405.0" in r.body, r.body[:300]


def test_verb_mismatch_falls_to_next_mapping(port):
    # GetOnly does not take POST; the catch-all StaticFile below it does, and
    # the file does not exist: 404.0, not 405.
    r = harness.request(port, "POST", "/h/x.getonly?op=whoami", body=b"")
    assert r.status == 404, r
    assert b"404.0" in r.body, r.body[:300]


def test_resource_type_file_missing_is_404_0(port):
    r = get(port, "/h/missing.mustexist")
    assert r.status == 404, r
    assert b"404.0" in r.body, r.body[:300]


def test_pool_pipeline_mode_decides_mode_preconditions(port):
    """managedPipelineMode is used by the pipeline: on a Classic pool the
    classicMode entry is chosen and the integratedMode one skipped."""
    r = get(port, "/classic/page.probe?op=whoami")
    assert r.status == 200 and b"pool=ClassicPool" in r.body, r
    r = get(port, "/classic/page.imode?op=whoami")
    assert r.status == 404 and b"404.3" in r.body, r  # skipped: StaticFile, no MIME map
    r = get(port, "/h/x.imode?op=whoami")  # and the other way round on an Integrated one
    assert r.status == 200 and b"pool=HandlerPool" in r.body, r


def test_precondition_and_managed_entries_are_skipped(port):
    # classicMode and managed (type=...) entries never apply to this
    # Integrated, native-only worker: the static handler serves the file.
    r = get(port, "/h/page.probe")
    assert r.status == 404 and b"404.3" in r.body, r  # StaticFile: no MIME map for .probe
    r = get(port, "/h/hello.txt")
    assert r.status == 200 and r.body == b"hello\n", r


def test_location_entries_come_first_and_path_patterns(port):
    r = get(port, "/h/echo.anything?op=echo")
    assert r.status == 200 and r.body.startswith(b"method=GET\n"), r


def test_require_access_not_granted_skips_mapping(port):
    r = get(port, "/noaccess/x.txt")
    assert r.status == 200 and r.body == b"x\n", r


def test_removed_module_does_not_run(port):
    """A module installed in <globalModules> but removed from <modules> for
    an application does not run there: the mapping that names it (TestHandler,
    *.wtest) is 500.21, as IIS answers for a handler whose module is not
    enabled.  Elsewhere the module still answers; in the application the
    other modules still serve files."""
    r = get(port, "/x.wtest?op=whoami")
    assert r.status == 200 and r.body.startswith(b"pid="), r
    r = get(port, "/nomod/x.wtest?op=whoami")
    assert r.status == 500, r
    assert b"500.21" in r.body, r.body[:500]
    text = html.unescape(r.text)
    assert 'Handler "TestHandler" has a bad module "TestModule"' in text, text[-1500:]
    assert b"pid=" not in r.body, r.body[:500]
    r = get(port, "/nomod/hello.txt")
    assert r.status == 200 and r.body == b"hello without TestModule\n", r
