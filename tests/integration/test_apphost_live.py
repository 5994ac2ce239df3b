"""
applicationHost.config edits reaching running workers: a change to
system.webServer (the server level, or a <location> in applicationHost.config)
applies to the next request in the same worker (no recycle); a broken edit
changes nothing, in waspd and in the workers; a pool's own settings recycle
that pool only, and a change to one site's configuration recycles nobody.

Two pools, two sites; the tests run in order on one server and each starts
from the configuration the previous one left.
"""
import re

import pytest

import harness
from conftest import stop_module_server
from harness import get, scaled, wait_until

SITE_A, POOL_A = "Live A", "LiveA"
SITE_B, POOL_B = "Live B", "LiveB"


@pytest.fixture(scope="module")
def server():
    s = harness.WaspServer("apphost-live")
    pa, pb = s.port("a"), s.port("b")
    s.pool(POOL_A)
    s.pool(POOL_B)
    s.site(SITE_A, ["127.0.0.1:%d:" % pa], [("/", POOL_A, "wwwa")])
    s.site(SITE_B, ["127.0.0.1:%d:" % pb], [("/", POOL_B, "wwwb")])
    for www in ("wwwa", "wwwb"):
        s.file(www + "/index.html", "index\n")
        s.file(www + "/home.htm", "home\n")
        s.file(www + "/sub/index.html", "sub index\n")
        s.file(www + "/sub/other.htm", "sub other\n")
    s.start()
    yield s
    stop_module_server(s)


def pid_of(port):
    r = get(port, "/x.wtest?op=whoami")
    assert r.status == 200, r
    return int(r.body.split(b"pid=")[1].split()[0])


def body_becomes(port, path, want):
    """Poll until the answer changes (waspd applies an edit 300 ms after the
    last write); the assertion is on the content, not on the time."""
    return wait_until(lambda: get(port, path).body == want, scaled(10),
                      what="%s answering %r" % (path, want))


def test_default_document_change_applies_without_recycle(server):
    pa, pb = server.ports["a"], server.ports["b"]
    assert get(pa, "/").body == b"index\n"
    assert get(pb, "/").body == b"index\n"
    pid_a, pid_b = pid_of(pa), pid_of(pb)
    server.default_documents = ["home.htm", "index.html"]
    server.write_config()
    body_becomes(pa, "/", b"home\n")
    assert get(pb, "/").body == b"home\n"
    assert pid_of(pa) == pid_a and pid_of(pb) == pid_b, "no worker may be restarted"
    assert not [e for e in server.events() if e[0] == 5080], server.events()


def test_location_in_apphost_applies_without_recycle(server):
    pa, pb = server.ports["a"], server.ports["b"]
    pid_a = pid_of(pa)
    assert get(pa, "/sub/").body == b"sub index\n"
    server.location("%s/sub" % SITE_A,
                    '<defaultDocument><files><clear /><add value="other.htm" /></files>'
                    '</defaultDocument>')
    server.write_config()
    body_becomes(pa, "/sub/", b"sub other\n")
    assert get(pb, "/sub/").body == b"sub index\n", "the location names site A only"
    assert pid_of(pa) == pid_a


def test_broken_edit_keeps_last_good_configuration_in_workers(server):
    pa = server.ports["a"]
    pid_a = pid_of(pa)
    since = server.log_size()
    server.default_documents = ["index.html"]
    server.webserver_xml.append('<directoryBrowse enabled="maybe" />')
    server.write_config()
    server.wait_log(r"event 9006: The configuration was not applied: .*applicationHost\.config:"
                    r"\d+", since=since)
    assert get(pa, "/").body == b"home\n", "the refused edit must not reach the worker"
    assert pid_of(pa) == pid_a
    server.webserver_xml.pop()
    server.write_config()
    body_becomes(pa, "/", b"index\n")
    assert pid_of(pa) == pid_a


def test_pool_setting_recycles_that_pool_only(server):
    pa, pb = server.ports["a"], server.ports["b"]
    pid_a, pid_b = pid_of(pa), pid_of(pb)
    server.pools[1] = (POOL_B, {"queueLength": 700}, server.pools[1][2], "")
    server.write_config()
    wait_until(lambda: not harness.proc_alive(pid_b), scaled(10), what="pool B recycled")
    assert pid_of(pb) != pid_b
    assert pid_of(pa) == pid_a, "pool A's settings did not change"


def test_site_change_recycles_no_pool(server):
    pa, pb = server.ports["a"], server.ports["b"]
    pid_a, pid_b = pid_of(pa), pid_of(pb)
    since = server.log_size()
    pc = server.port("c")
    name, sid, bindings, apps, extra = server.sites[1]
    server.sites[1] = (name, sid, bindings + ["127.0.0.1:%d:" % pc], apps, extra)
    server.write_config()
    server.wait_log(r"configuration applied: 0 pool\(s\) added, 0 changed", since=since)
    assert get(pc, "/").body == b"index\n"
    assert pid_of(pa) == pid_a and pid_of(pb) == pid_b


# ---- configSource in applicationHost.config --------------------------------

DD = '<defaultDocument enabled="true"><files><clear /><add value="%s" /></files></defaultDocument>\n'


@pytest.fixture(scope="module")
def cs_server():
    s = harness.WaspServer("apphost-configsource")
    port = s.port("main")
    s.pool(POOL_A)
    s.site(SITE_A, ["127.0.0.1:%d:" % port], [("/", POOL_A, "www")])
    s.file("www/index.html", "index\n")
    s.file("www/home.htm", "home\n")
    s.file("conf/dd.config", DD % "index.html")
    model = s.config_xml
    # The whole defaultDocument section of the model moves to conf/dd.config.
    s.config_xml = lambda: re.sub(r'<defaultDocument enabled="true">.*?</defaultDocument>',
                                  '<defaultDocument configSource="conf\\\\dd.config" />',
                                  model(), flags=re.S)
    s.start()
    yield s
    stop_module_server(s)


def test_config_source_file_edit_applies_live(cs_server):
    port = cs_server.ports["main"]
    assert get(port, "/").body == b"index\n"
    pid = pid_of(port)
    cs_server.file("conf/dd.config", DD % "home.htm")
    body_becomes(port, "/", b"home\n")
    assert pid_of(port) == pid


def test_broken_config_source_edit_is_refused(cs_server):
    port = cs_server.ports["main"]
    pid = pid_of(port)
    since = cs_server.log_size()
    cs_server.file("conf/dd.config", '<defaultDocument enabled="maybe" />\n')
    cs_server.wait_log(r"event 9006: The configuration was not applied: .*conf/dd\.config:1: ",
                       since=since)
    assert get(port, "/").body == b"home\n"
    cs_server.file("conf/dd.config", DD % "index.html")
    body_becomes(port, "/", b"index\n")
    assert pid_of(port) == pid
