"""
Case-insensitive file lookup, opted into per site (wasp/fileLookup
caseInsensitive="true" in a <location> of applicationHost.config): on
"Lookup On", /Images/Logo.PNG finds images/logo.png (static file), /SUB/
finds sub/ and its default document, and /Scripts/Hello.PL runs
scripts/hello.pl through its handler's scriptProcessor (CgiModule with
perl).  "Lookup Off" serves the same folder and answers 404 for every one of
those URLs, and both answer the exact names.
"""
import pytest

import harness
from conftest import stop_module_server
from harness import get

ON, OFF, POOL = "Lookup On", "Lookup Off", "LookupPool"
PERL = "/usr/bin/perl"
HELLO_PL = 'print "Content-Type: text/plain\\n\\nhello from $0\\n";\n'


@pytest.fixture(scope="module")
def server():
    s = harness.WaspServer("file-lookup")
    on, off = s.port("on"), s.port("off")
    s.pool(POOL)
    s.site(ON, ["127.0.0.1:%d:" % on], [("/", POOL, "www")])
    s.site(OFF, ["127.0.0.1:%d:" % off], [("/", POOL, "www")])
    s.file("www/images/logo.png", b"\x89PNG logo")
    s.mime.append((".png", "image/png"))
    s.file("www/sub/index.html", "sub index\n")
    s.file("www/scripts/hello.pl", HELLO_PL)
    s.extra_sections.append('<location path="%s"><wasp><fileLookup caseInsensitive="true" />'
                            '</wasp></location>' % ON)
    s.webserver_xml.append('<security><isapiCgiRestriction notListedCgisAllowed="false">'
                           '<add path="%s" allowed="true" /></isapiCgiRestriction></security>'
                           % PERL)
    s.handlers_xml.append('<add name="CGI-pl" path="*.pl" verb="*" modules="CgiModule" '
                          'scriptProcessor="%s" resourceType="File" requireAccess="Script" />'
                          % PERL)
    base = s.config_xml

    def xml():
        x = base()
        x = x.replace('<add name="CustomErrorModule" image="builtin" />',
                      '<add name="CustomErrorModule" image="builtin" />\n'
                      '      <add name="CgiModule" image="builtin" />', 1)
        return x.replace('<add name="CustomErrorModule" />',
                         '<add name="CustomErrorModule" />\n      <add name="CgiModule" />', 1)
    s.config_xml = xml
    s.start()
    yield s
    stop_module_server(s)


@pytest.mark.parametrize("url,body", [
    ("/Images/Logo.PNG", b"\x89PNG logo"),
    ("/IMAGES/logo.png", b"\x89PNG logo"),
    ("/SUB/", b"sub index\n"),
])
def test_on_finds_other_case(server, url, body):
    r = get(server.ports["on"], url)
    assert (r.status, r.body) == (200, body), r
    r = get(server.ports["off"], url)
    assert r.status == 404, r


def test_on_runs_script_through_script_processor(server):
    r = get(server.ports["on"], "/Scripts/Hello.PL")
    assert r.status == 200, r
    assert r.body == ("hello from %s\n" % server.path("www/scripts/hello.pl")).encode()
    assert get(server.ports["off"], "/Scripts/Hello.PL").status == 404


def test_exact_names_on_both(server):
    for key in ("on", "off"):
        assert get(server.ports[key], "/images/logo.png").body == b"\x89PNG logo"
        assert get(server.ports[key], "/scripts/hello.pl").status == 200
    assert get(server.ports["on"], "/images/nothing.png").status == 404
