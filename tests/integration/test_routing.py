"""
Routing in the listener: (address, port, Host) -> site, longest application
path -> pool, and URL canonicalisation before any of it.
"""
import re

import pytest

import harness
from conftest import stop_module_server
from harness import RawConn, build_request, get, httpsys_problems, scaled, send_raw


@pytest.fixture(scope="module")
def server():
    s = harness.WaspServer("routing")
    hosts = s.port("hosts")     # only host-header bindings
    wild = s.port("wild")       # "*" catch-all plus one host binding
    s.pool("RoutePoolA")
    s.pool("RoutePoolB")
    s.site("Site A", ["127.0.0.1:%d:a.test" % hosts],
           [("/", "RoutePoolA", "wwwA"), ("/app1", "RoutePoolB", "wwwA1")])
    s.site("Site B", ["127.0.0.1:%d:b.test" % hosts], [("/", "RoutePoolA", "wwwB")])
    s.site("Site C", ["*:%d:" % wild], [("/", "RoutePoolA", "wwwC")])
    s.site("Site D", ["*:%d:d.test" % wild], [("/", "RoutePoolA", "wwwD")])
    # One port with an IP-specific binding and "*", written in both orders
    # (waspd opens one wildcard socket; the listener routes by local address).
    ip_first = s.port("ip-first")
    star_first = s.port("star-first")
    s.site("Site E", ["127.0.0.2:%d:" % ip_first], [("/", "RoutePoolA", "wwwE")])
    s.site("Site F", ["*:%d:" % ip_first, "*:%d:" % star_first], [("/", "RoutePoolA", "wwwF")])
    s.site("Site G", ["127.0.0.2:%d:" % star_first], [("/", "RoutePoolA", "wwwG")])
    for site in "ABCDEFG":
        s.file("www%s/who.txt" % site, "site %s\n" % site)
    s.file("wwwA/b.txt", "b at the root of A\n")
    s.mkdir("wwwA/a")
    s.file("wwwA/%41.txt", "the file named percent-41\n")
    s.file("wwwA/A.txt", "the file named A\n")
    s.file("wwwA1/x.txt", "in application /app1\n")
    s.file("wwwA/app10/x.txt", "in directory /app10 of the root application\n")
    s.file("wwwA/app1/x.txt", "shadowed: must never be served\n")
    s.start()
    yield s
    stop_module_server(s)


def whoami(port, path, host):
    r = get(port, path, host=host)
    assert r.status == 200, r
    m = re.match(rb"pid=(\d+) uid=(\d+) pool=(.*)\n", r.body)
    assert m, r.body
    return int(m.group(1)), int(m.group(2)), m.group(3).decode()


# ---------------------------------------------------------------------------
# Sites

def test_host_header_selects_site(server):
    port = server.ports["hosts"]
    assert get(port, "/who.txt", host="a.test").body == b"site A\n"
    assert get(port, "/who.txt", host="b.test").body == b"site B\n"


def test_host_match_ignores_case_and_port(server):
    port = server.ports["hosts"]
    assert get(port, "/who.txt", host="A.TEST").body == b"site A\n"
    assert get(port, "/who.txt", host="b.test:%d" % port).body == b"site B\n"


def test_unknown_host_on_host_only_port_is_invalid_hostname(server):
    port = server.ports["hosts"]
    resp, closed = send_raw(port, build_request("GET", "/who.txt", host="c.test"))
    assert not httpsys_problems(resp, "Hostname"), (resp, httpsys_problems(resp, "Hostname"))
    assert closed


def test_http10_without_host_on_host_only_port_is_invalid_hostname(server):
    port = server.ports["hosts"]
    resp, closed = send_raw(port, b"GET /who.txt HTTP/1.0\r\n\r\n")
    assert not httpsys_problems(resp, "Hostname"), resp
    assert closed


def test_catch_all_binding_takes_unknown_hosts(server):
    port = server.ports["wild"]
    assert get(port, "/who.txt", host="anything.test").body == b"site C\n"
    assert get(port, "/who.txt", host="127.0.0.1:%d" % port).body == b"site C\n"
    with RawConn(port) as c:
        c.send(b"GET /who.txt HTTP/1.0\r\n\r\n")
        r = c.read_response()
    assert r.status == 200 and r.body == b"site C\n"


def test_host_binding_beats_catch_all(server):
    port = server.ports["wild"]
    assert get(port, "/who.txt", host="d.test").body == b"site D\n"
    assert get(port, "/who.txt", host="D.Test").body == b"site D\n"


def who_via(address, port, host="localhost"):
    """GET /who.txt over a connection to address:port."""
    with RawConn(port, host=address) as c:
        r = c.request("GET", "/who.txt", host=host)
    assert r.status == 200, r
    return r.body


@pytest.mark.parametrize("key", ["ip-first", "star-first"])
def test_ip_binding_beats_star_on_same_port(server, key):
    """iis-hosting.md 4.3: a binding on the connection's local address wins
    over "*" on the same port, whichever the configuration lists first;
    connections to any other address go to the "*" site."""
    port = server.ports[key]
    specific = b"site E\n" if key == "ip-first" else b"site G\n"
    assert who_via("127.0.0.2", port) == specific
    assert who_via("127.0.0.2", port, host="anything.test") == specific
    assert who_via("127.0.0.1", port) == b"site F\n"
    assert who_via("127.0.0.3", port) == b"site F\n"


# ---------------------------------------------------------------------------
# Applications and pools

def test_longest_application_path_selects_pool(server):
    port = server.ports["hosts"]
    pid_root, _, pool_root = whoami(port, "/x.wtest?op=whoami", "a.test")
    pid_app1, _, pool_app1 = whoami(port, "/app1/x.wtest?op=whoami", "a.test")
    assert pool_root == "RoutePoolA"
    assert pool_app1 == "RoutePoolB"
    assert pid_root != pid_app1, "two pools must be two worker processes"
    assert server.worker_pool_of(pid_root) == "RoutePoolA"
    assert server.worker_pool_of(pid_app1) == "RoutePoolB"


def test_application_match_is_segment_wise(server):
    port = server.ports["hosts"]
    _, _, pool = whoami(port, "/app10/x.wtest?op=whoami", "a.test")
    assert pool == "RoutePoolA", "/app10 must not match application /app1"
    _, _, pool = whoami(port, "/app1/sub/x.wtest?op=whoami", "a.test")
    assert pool == "RoutePoolB"
    _, _, pool = whoami(port, "/app1x.wtest?op=whoami", "a.test")
    assert pool == "RoutePoolA"


def test_application_match_ignores_case(server):
    port = server.ports["hosts"]
    _, _, pool = whoami(port, "/APP1/x.wtest?op=whoami", "a.test")
    assert pool == "RoutePoolB"


def test_application_has_its_own_virtual_directory(server):
    port = server.ports["hosts"]
    assert get(port, "/app1/x.txt", host="a.test").body == b"in application /app1\n"
    assert (get(port, "/app10/x.txt", host="a.test").body
            == b"in directory /app10 of the root application\n")


# ---------------------------------------------------------------------------
# URL canonicalisation

@pytest.mark.parametrize("path", ["/a/../b.txt", "/a/./../b.txt", "/./b.txt",
                                  "/a/%2e%2e/b.txt", "/a/%2E%2E/b.txt", "/%62.txt",
                                  "/a\\..\\b.txt"])
def test_dot_segments_resolved(server, path):
    r = get(server.ports["hosts"], path, host="a.test")
    assert r.status == 200, (path, r)
    assert r.body == b"b at the root of A\n"


@pytest.mark.parametrize("path", ["/../b.txt", "/%2e%2e/b.txt", "/a/../../b.txt",
                                  "/a/%2e%2e/%2e%2e/etc/passwd", "/%2e%2e%2fetc%2fpasswd",
                                  "/..%5c..%5cb.txt", "/a/%2E%2E/../b.txt"])
def test_climbing_above_root_is_invalid_url(server, path):
    resp, closed = send_raw(server.ports["hosts"],
                            build_request("GET", path, host="a.test"))
    assert not httpsys_problems(resp, "URL"), (path, resp, httpsys_problems(resp, "URL"))
    assert closed


@pytest.mark.parametrize("path", ["/b%00.txt", "/%00", "/b%01.txt", "/b%7f.txt"])
def test_nul_and_control_escapes_refused(server, path):
    resp, closed = send_raw(server.ports["hosts"], build_request("GET", path, host="a.test"))
    assert resp.status == 400, (path, resp)
    ok = [k for k in ("URL", "BadRequest") if not httpsys_problems(resp, k)]
    assert ok, (path, resp, httpsys_problems(resp, "URL"))
    assert closed


def test_percent_decoding_happens_once(server):
    port = server.ports["hosts"]
    r = get(port, "/%2541.txt", host="a.test")
    assert r.status == 200, r
    assert r.body == b"the file named percent-41\n"
    r = get(port, "/%41.txt", host="a.test")
    assert r.status == 200, r
    assert r.body == b"the file named A\n"


def test_bad_percent_escape_refused(server):
    resp, closed = send_raw(server.ports["hosts"],
                            build_request("GET", "/b%zz.txt", host="a.test"))
    assert resp.status == 400, resp
    ok = [k for k in ("URL", "BadRequest") if not httpsys_problems(resp, k)]
    assert ok, resp
    assert closed


def test_routing_server_still_serves(server):
    r = get(server.ports["hosts"], "/who.txt", host="a.test", timeout=scaled(5))
    assert r.status == 200


def test_stopped_site_answers_404(make_server):
    """A stopped site (serverAutoStart="false") keeps its binding out of
    service: HTTP.sys' 404 page, not another site's content."""
    s = make_server("stopped-site")
    port = s.port("main")
    s.pool("RoutePool")
    s.site("Running", ["127.0.0.1:%d:a.test" % port], [("/", "RoutePool", "wwwa")])
    s.site("Stopped", ["127.0.0.1:%d:b.test" % port], [("/", "RoutePool", "wwwb")])
    s.file("wwwa/hello.txt", "site a\n")
    s.file("wwwb/hello.txt", "site b\n")
    build = s.config_xml
    s.config_xml = lambda: build().replace('<site name="Stopped"',
                                           '<site serverAutoStart="false" name="Stopped"')
    s.start()
    assert harness.get(port, "/hello.txt", host="a.test").body == b"site a\n"
    r = harness.get(port, "/hello.txt", host="b.test")
    assert r.status == 404, r
    assert harness.httpsys_problems(r, "NotFound") == [], harness.httpsys_problems(r, "NotFound")
