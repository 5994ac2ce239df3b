"""
web.config files with a real waspd: settings of a sub-directory's web.config
(defaultDocument, staticContent, httpErrors) apply there and nowhere else; a
live edit applies to the next request with the same worker; a broken
web.config answers 500.19 (IIS' detailed page to a local client, the short
page where errors are not detailed) while its siblings answer 200, and the
worker logs it once; lock violations (overrideModeDefault="Deny", a
<location overrideMode="Deny">, lockAttributes) answer 500.19 with
0x80070021; fixing the file restores 200 without a restart.

Every test uses its own directories under one server's site, and restores
nothing: the files it leaves are its own.
"""
import html
import os
import re

import pytest

import harness
from conftest import stop_module_server
from harness import get

POOL = "WebConfigPool"
SITE = "WebConfig Site"


def web_config(body):
    return "<?xml version=\"1.0\"?>\n<configuration>\n%s\n</configuration>\n" % body


def ws(body):
    return web_config("  <system.webServer>\n%s\n  </system.webServer>" % body)


@pytest.fixture(scope="module")
def server():
    s = harness.WaspServer("webconfig")
    port = s.port("main")
    s.pool(POOL)
    s.site(SITE, ["127.0.0.1:%d:" % port], [("/", POOL, "www")])
    s.file("www/index.html", "root index\n")
    # A path whose section is locked by a <location overrideMode="Deny">, and
    # one whose attribute is locked by lockAttributes, both in
    # applicationHost.config.
    s.location("%s/denied" % SITE, '<defaultDocument />', overrideMode="Deny")
    s.location("%s/attrlock" % SITE,
               '<directoryBrowse enabled="false" lockAttributes="enabled" />')
    s.start()
    yield s
    stop_module_server(s)


@pytest.fixture
def port(server):
    return server.ports["main"]


def write(server, rel, text):
    """Write a file the way an editor saving in place does (truncate, write,
    close): the worker is told by inotify before the next request."""
    server.file(rel, text)


def worker_pid(server):
    pids = server.worker_pids(POOL)
    assert len(pids) == 1, pids
    return pids[0]


# ---------------------------------------------------------------------------
# settings of a sub-directory

def test_default_document_in_subdirectory(server, port):
    server.file("www/docs/index.html", "docs index\n")
    server.file("www/docs/start.htm", "docs start\n")
    server.file("www/other/index.html", "other index\n")
    server.file("www/other/start.htm", "other start\n")
    write(server, "www/docs/web.config",
          ws('<defaultDocument><files><add value="start.htm" /></files></defaultDocument>'))
    r = get(port, "/docs/")
    assert r.status == 200 and r.body == b"docs start\n", r   # mergeAppend="false": first
    r = get(port, "/other/")
    assert r.status == 200 and r.body == b"other index\n", r
    r = get(port, "/")
    assert r.status == 200 and r.body == b"root index\n", r


def test_static_content_in_subdirectory(server, port):
    server.file("www/mime/a.xyz", "xyz file\n")
    server.file("www/nomime/a.xyz", "xyz file\n")
    write(server, "www/mime/web.config",
          ws('<staticContent><mimeMap fileExtension=".xyz" mimeType="application/x-xyz" />'
             '</staticContent>'))
    r = get(port, "/mime/a.xyz")
    assert r.status == 200 and r.header("Content-Type") == "application/x-xyz", r
    r = get(port, "/nomime/a.xyz")
    assert r.status == 404, r
    assert b"404.3" in r.body, r


def test_http_errors_in_subdirectory(server, port):
    server.mkdir("www/custom")
    write(server, "www/custom/web.config", ws('<httpErrors errorMode="Custom" />'))
    r = get(port, "/custom/missing.txt")
    assert r.status == 404 and b"404 - File or directory not found." in r.body, r
    assert b"Detailed Error Information" not in r.body
    r = get(port, "/missing.txt")
    assert r.status == 404 and b"Detailed Error Information" in r.body, r


# ---------------------------------------------------------------------------
# live edits

def test_live_edit_applies_to_next_request(server, port):
    server.file("www/live/one.htm", "one\n")
    server.file("www/live/two.htm", "two\n")
    write(server, "www/live/web.config",
          ws('<defaultDocument><files><add value="one.htm" /></files></defaultDocument>'))
    r = get(port, "/live/")
    assert r.body == b"one\n", r
    pid = worker_pid(server)
    write(server, "www/live/web.config",
          ws('<defaultDocument><files><add value="two.htm" /></files></defaultDocument>'))
    r = get(port, "/live/")
    assert r.body == b"two\n", r
    os.unlink(server.path("www/live/web.config"))
    server.file("www/live/index.html", "index\n")
    r = get(port, "/live/")
    assert r.body == b"index\n", r
    # a web.config created in a directory that had none
    write(server, "www/live/web.config",
          ws('<defaultDocument><files><add value="one.htm" /></files></defaultDocument>'))
    r = get(port, "/live/")
    assert r.body == b"one\n", r
    assert worker_pid(server) == pid, "the worker must not be restarted"


# ---------------------------------------------------------------------------
# errors

BROKEN = """<?xml version="1.0"?>
<configuration>
  <system.webServer>
    <directoryBrowse enabled="true">
  </system.webServer>
</configuration>
"""


def test_broken_web_config_detailed_to_local_client(server, port):
    server.file("www/broken/page.htm", "page\n")
    server.file("www/broken/deeper/page.htm", "deeper page\n")
    server.file("www/sibling/page.htm", "sibling page\n")
    since = server.log_size()
    write(server, "www/broken/web.config", BROKEN)
    pid = worker_pid(server)
    r = get(port, "/broken/page.htm")
    assert r.status == 500, r
    text = r.body.decode()
    assert "HTTP Error 500.19 - Internal Server Error" in text
    assert "related configuration data for the page is invalid" in text
    rows = dict(re.findall(r"<tr><th>([^<]+)</th><td>(.*?)</td></tr>", text))
    assert rows["Module"] == "IIS Web Core"
    assert rows["Notification"] == "BeginRequest"
    assert rows["Handler"] == "Not yet determined"
    assert rows["Error Code"] == "0x8007000d"
    assert rows["Config Error"].startswith("Configuration file is not well-formed XML")
    assert rows["Config File"] == server.path("www/broken/web.config")
    assert rows["Requested URL"] == "http://localhost:%d/broken/page.htm" % port
    assert rows["Physical Path"] == server.path("www/broken/page.htm")
    assert rows["Logon Method"] == "Not yet determined"
    assert rows["Logon User"] == "Not yet determined"
    # Config Source: the offending lines with their numbers, HTML-escaped
    src = re.search(r"<h2>Config Source:</h2><pre>(.*?)</pre>", text, re.S).group(1)
    assert "    4:     &lt;directoryBrowse enabled=&quot;true&quot;&gt;" in src, src
    assert "    5:   &lt;/system.webServer&gt;" in src, src
    assert "<directoryBrowse" not in src
    # everything under the directory, nothing beside it
    assert get(port, "/broken/deeper/page.htm").status == 500
    assert get(port, "/broken/").status == 500
    r = get(port, "/sibling/page.htm")
    assert r.status == 200 and r.body == b"sibling page\n", r
    assert get(port, "/index.html").status == 200
    # one log line for the file, with file:line, however many requests
    log = server.log_text(since)
    lines = [ln for ln in log.splitlines() if "www/broken/web.config:5:" in ln]
    assert len(lines) == 1, log
    assert "not well-formed XML" in lines[0] and "0x8007000d" in lines[0]
    # fixed: 200 again, same worker
    write(server, "www/broken/web.config", ws('<directoryBrowse enabled="false" />'))
    r = get(port, "/broken/page.htm")
    assert r.status == 200 and r.body == b"page\n", r
    assert worker_pid(server) == pid


def test_schema_violations_in_web_config_are_500_19(server, port):
    """The schema decides what a section may say: an attribute it does not
    describe, or a value outside its validator, is 0x8007000d with the line."""
    server.file("www/schema/page.htm", "page\n")
    cases = [
        (ws('    <directoryBrowse enabeld="true" />'), 3,
         "Unrecognized attribute 'enabeld' on <directoryBrowse>"),
        (ws('    <security>\n      <requestFiltering>\n'
            '        <requestLimits maxUrl="many" />\n'
            '      </requestFiltering>\n    </security>'), 5,
         'Invalid value: <requestLimits maxUrl="many">'),
        (ws('    <staticContent>\n      <mimeMap fileExtension=".x" />\n    </staticContent>'), 4,
         "Missing required attribute 'mimeType'"),
    ]
    for text, line, message in cases:
        write(server, "www/schema/web.config", text)
        r = get(port, "/schema/page.htm")
        assert r.status == 500, r
        rows = dict(re.findall(r"<tr><th>([^<]+)</th><td>(.*?)</td></tr>", r.body.decode()))
        assert rows["Error Code"] == "0x8007000d", rows
        assert message in html.unescape(rows["Config Error"]), rows["Config Error"]
        src = re.search(r"<h2>Config Source:</h2><pre>(.*?)</pre>", r.body.decode(), re.S).group(1)
        assert ("%5d:" % line) in src, src
    write(server, "www/schema/web.config", ws('    <directoryBrowse enabled="false" />'))
    assert get(port, "/schema/page.htm").status == 200


def test_broken_web_config_short_page_when_not_detailed(server, port):
    """What a remote client sees under errorMode="DetailedLocalOnly": the
    short page, without the file's path or contents.  Every client on
    loopback counts as local (127.0.0.0/8, as the listener decides), so the
    short page is asked for here with errorMode="Custom" in
    applicationHost.config — the configuration a 500.19 falls back to."""
    server.file("www/remote/page.htm", "page\n")
    write(server, "www/remote/web.config", BROKEN)
    r = get(port, "/remote/page.htm")
    assert r.status == 500 and b"Detailed Error Information" in r.body, r
    # the site's own httpErrors (applicationHost.config) say Custom
    s2 = harness.WaspServer("webconfig-custom")
    try:
        p2 = s2.port("main")
        s2.pool(POOL)
        s2.site(SITE, ["127.0.0.1:%d:" % p2], [("/", POOL, "www")])
        s2.http_errors = '<httpErrors errorMode="Custom" />'
        s2.file("www/remote/page.htm", "page\n")
        s2.file("www/remote/web.config", BROKEN)
        s2.file("www/ok.txt", "ok\n")
        s2.start()
        r = get(p2, "/remote/page.htm")
        assert r.status == 500, r
        assert b"500 - Internal server error." in r.body, r
        for leak in (b"web.config", b"0x8007000d", b"directoryBrowse", s2.tmp.encode()):
            assert leak not in r.body, (leak, r.body)
        assert get(p2, "/ok.txt").status == 200
    finally:
        s2.stop()


# ---------------------------------------------------------------------------
# locks

def lock_error(port, path):
    r = get(port, path)
    assert r.status == 500, r
    text = r.body.decode()
    rows = dict(re.findall(r"<tr><th>([^<]+)</th><td>(.*?)</td></tr>", text))
    assert "HTTP Error 500.19" in text
    assert rows["Error Code"] == "0x80070021", rows
    return html.unescape(rows["Config Error"])


def test_lock_override_mode_default_deny(server, port):
    """handlers is overrideModeDefault="Deny" (IIS' default): a web.config
    that sets it breaks its directory until fixed."""
    server.file("www/handlers/page.htm", "page\n")
    pid = worker_pid(server)
    write(server, "www/handlers/web.config", ws("<handlers><clear /></handlers>"))
    msg = lock_error(port, "/handlers/page.htm")
    assert msg.startswith("This configuration section cannot be used at this path. This happens "
                          "when the section is locked at a parent level.")
    assert "overrideModeDefault" in msg
    assert get(port, "/index.html").status == 200
    write(server, "www/handlers/web.config", ws('<directoryBrowse enabled="false" />'))
    assert get(port, "/handlers/page.htm").status == 200
    assert worker_pid(server) == pid


def test_lock_location_override_mode_deny(server, port):
    """<location path="Site/denied" overrideMode="Deny"> in
    applicationHost.config locks defaultDocument for web.config files there."""
    server.file("www/denied/index.html", "denied index\n")
    write(server, "www/denied/web.config",
          ws('<defaultDocument enabled="false" />'))
    msg = lock_error(port, "/denied/")
    assert "overrideMode=\"Deny\"" in msg and "applicationHost.config" in msg, msg
    # the same setting is fine elsewhere
    server.file("www/allowed/index.html", "allowed index\n")
    write(server, "www/allowed/web.config", ws('<defaultDocument enabled="true" />'))
    assert get(port, "/allowed/").status == 200
    os.unlink(server.path("www/denied/web.config"))
    r = get(port, "/denied/")
    assert r.status == 200 and r.body == b"denied index\n", r


def test_lock_attributes_violation(server, port):
    server.file("www/attrlock/page.htm", "page\n")
    write(server, "www/attrlock/web.config", ws('<directoryBrowse enabled="true" />'))
    msg = lock_error(port, "/attrlock/page.htm")
    assert msg.startswith("Lock violation"), msg
    assert "enabled" in msg and "lockAttributes" in msg
    # an attribute that is not locked may be set
    write(server, "www/attrlock/web.config", ws('<directoryBrowse showFlags="Size" />'))
    r = get(port, "/attrlock/page.htm")
    assert r.status == 200 and r.body == b"page\n", r
