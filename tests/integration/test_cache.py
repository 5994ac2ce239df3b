"""The listener's response cache (HTTP.sys' kernel cache), with real processes:
what is cached (the kernel-cache rules of shared/reference/iis-hosting.md 4.4
and the caching section), hits answered with the pool's worker stopped
(SIGSTOP), invalidation by inotify before the next request, the
configuration push flush, time-period expiry, the LRU bound, HEAD / Range /
conditional requests on a cached URL, and the access log lines of hits."""
import os
import signal
import socket
import subprocess

import pytest

from harness import RawConn, get, request, scaled, wait_until
from test_logging import wait_rows
from test_waspctl import waspctl

POOL = "CachePool"
SITE = "Cache Site"


def cache_server(make_server, name, webserver_xml=(), start=True):
    """One site on "main" serving www/ from POOL; webserver_xml: more
    system.webServer elements (caching, serverRuntime, ...)."""
    s = make_server(name)
    port = s.port("main")
    s.pool(POOL)
    s.site(SITE, ["127.0.0.1:%d:" % port], [("/", POOL, "www")])
    s.file("www/hello.txt", "hello\n")
    s.file("www/other.txt", "other\n")
    s.webserver_xml.extend(webserver_xml)
    if start:
        s.start()
    return s


def cache_counters(s):
    """The "Web Service Cache" counter set, as integers."""
    r = waspctl("list", "counters", config=s.config_path, rundir=s.rundir)
    assert r.returncode == 0, r.stderr
    for line in r.stdout.splitlines():
        if line.startswith('COUNTERSET "Web Service Cache" ('):
            body = line[len('COUNTERSET "Web Service Cache" ('):-1]
            return {k: int(v) for k, v in (kv.split(":", 1) for kv in body.split(","))}
    raise AssertionError("no Web Service Cache set in:\n" + r.stdout)


def hits(s):
    return cache_counters(s)["UriCacheHits"]


def warm(port, path, n=2):
    """The default frequentHitThreshold is 2: two requests store the URL."""
    for _ in range(n):
        assert get(port, path).status == 200


def edit_in_place(path, data):
    """Rewrite a file's bytes without replacing it (same inode)."""
    with open(path, "r+b") as f:
        f.truncate(0)
        f.write(data)


def test_static_file_becomes_a_hit_and_is_served_with_the_worker_stopped(make_server):
    s = cache_server(make_server, "cache-sigstop")
    port = s.port("main")
    before = cache_counters(s)
    assert before["UriCacheHits"] == 0 and before["CurrentUrisCached"] == 0
    warm(port, "/hello.txt")
    after_two = cache_counters(s)
    assert after_two["UriCacheHits"] == 0
    assert after_two["CurrentUrisCached"] == 1 and after_two["TotalUrisCached"] == 1
    r = get(port, "/hello.txt")
    assert r.status == 200 and r.body == b"hello\n"
    assert r.header("Content-Type") == "text/plain"
    assert r.header("Date") is not None and r.header("ETag") is not None
    third = cache_counters(s)
    assert third["UriCacheHits"] == 1
    assert 0 < third["CurrentCacheMemoryUsage"] <= third["MaximumCacheMemory"]

    worker = s.wait_worker(POOL)
    os.kill(worker, signal.SIGSTOP)
    try:
        for _ in range(3):
            r = get(port, "/hello.txt", timeout=scaled(5))
            assert r.status == 200 and r.body == b"hello\n"
        # An uncached URL needs the worker: no answer while it is stopped ...
        with RawConn(port) as c:
            c.send(b"GET /other.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
            with pytest.raises((socket.timeout, TimeoutError, OSError)):
                c.read_response(timeout=1.0)
            # ... and the same request is answered once it runs again.
            os.kill(worker, signal.SIGCONT)
            r = c.read_response(timeout=scaled(10))
            assert r.status == 200 and r.body == b"other\n"
    finally:
        os.kill(worker, signal.SIGCONT)
    assert hits(s) == 4


def test_edit_in_place_is_seen_by_the_very_next_request(make_server):
    s = cache_server(make_server, "cache-edit")
    port = s.port("main")
    path = s.path("www/hello.txt")
    warm(port, "/hello.txt")
    for i in range(20):
        body = ("version %d\n" % i).encode()
        edit_in_place(path, body)
        # no pause between the write and the request
        r = get(port, "/hello.txt")
        assert r.status == 200 and r.body == body, (i, r.body)
        warm(port, "/hello.txt")
        r = get(port, "/hello.txt")
        assert r.body == body
    assert hits(s) >= 20


def test_replace_delete_and_chmod(make_server):
    s = cache_server(make_server, "cache-files")
    port = s.port("main")
    path = s.path("www/hello.txt")
    warm(port, "/hello.txt")
    # replaced by rename (an editor's "save")
    tmp = s.file("www/.hello.new", "renamed in\n")
    os.rename(tmp, path)
    assert get(port, "/hello.txt").body == b"renamed in\n"
    warm(port, "/hello.txt")
    h = hits(s)
    assert get(port, "/hello.txt").body == b"renamed in\n"
    assert hits(s) == h + 1
    # made unreadable: never answered from the cache
    os.chmod(path, 0)
    r = get(port, "/hello.txt")
    assert r.status != 200, r.status
    os.chmod(path, 0o644)
    warm(port, "/hello.txt")
    assert get(port, "/hello.txt").status == 200
    # deleted
    os.unlink(path)
    assert get(port, "/hello.txt").status == 404


def test_web_config_edits_reach_the_next_request(make_server):
    s = cache_server(make_server, "cache-webconfig")
    port = s.port("main")
    s.file("www/sub/page.txt", "page\n")
    warm(port, "/sub/page.txt")
    h = hits(s)
    assert get(port, "/sub/page.txt").header("Cache-Control") is None
    assert hits(s) == h + 1
    # a web.config appears where there was none, and changes a header
    s.file("www/sub/web.config", """<?xml version="1.0"?>
<configuration><system.webServer><staticContent>
  <clientCache cacheControlMode="UseMaxAge" cacheControlMaxAge="00:01:00" />
</staticContent></system.webServer></configuration>
""")
    assert get(port, "/sub/page.txt").header("Cache-Control") == "max-age=60"
    warm(port, "/sub/page.txt")
    h = hits(s)
    assert get(port, "/sub/page.txt").header("Cache-Control") == "max-age=60"
    assert hits(s) == h + 1
    # edited in place
    edit_in_place(s.path("www/sub/web.config"), b"""<?xml version="1.0"?>
<configuration><system.webServer><staticContent>
  <clientCache cacheControlMode="UseMaxAge" cacheControlMaxAge="00:02:00" />
</staticContent></system.webServer></configuration>
""")
    assert get(port, "/sub/page.txt").header("Cache-Control") == "max-age=120"
    warm(port, "/sub/page.txt")
    # the site root's web.config takes the file's MIME type away: 404.3
    s.file("www/web.config", """<?xml version="1.0"?>
<configuration><system.webServer><staticContent>
  <remove fileExtension=".txt" />
</staticContent></system.webServer></configuration>
""")
    r = get(port, "/sub/page.txt")
    assert r.status == 404, r.status


def test_configuration_push_flushes(make_server):
    s = cache_server(make_server, "cache-push")
    port = s.port("main")
    warm(port, "/hello.txt")
    c = cache_counters(s)
    assert c["CurrentUrisCached"] == 1
    flushes = c["UriCacheFlushes"]
    s.location(SITE, '<staticContent><clientCache cacheControlMode="UseMaxAge" '
                     'cacheControlMaxAge="00:00:42" /></staticContent>')
    s.write_config()
    wait_until(lambda: cache_counters(s)["UriCacheFlushes"] > flushes, scaled(10),
               what="a cache flush after the configuration push")
    c = cache_counters(s)
    assert c["CurrentUrisCached"] == 0
    assert get(port, "/hello.txt").status == 200
    assert hits(s) == c["UriCacheHits"]  # a miss: the entry is gone
    # A running worker keeps applicationHost.config's system.webServer until
    # its pool recycles (docs/operations.md); then the cache follows it.
    r = waspctl("recycle", "apppool", POOL, config=s.config_path, rundir=s.rundir)
    assert r.returncode == 0, r.stderr
    wait_until(lambda: get(port, "/hello.txt").header("Cache-Control") == "max-age=42",
               scaled(10), what="the new configuration in the worker")
    warm(port, "/hello.txt")
    h = hits(s)
    assert get(port, "/hello.txt").header("Cache-Control") == "max-age=42"
    assert hits(s) == h + 1


def test_requests_and_responses_the_kernel_cache_refuses(make_server):
    # .wtest responses may be kept until change: only their Set-Cookie or
    # Vary header (the test module's cookie.wtest, vary.wtest) refuses them
    s = cache_server(make_server, "cache-refused", webserver_xml=[
        '<caching maxResponseSize="100"><profiles><add extension=".wtest" '
        'kernelCachePolicy="CacheUntilChange" /></profiles></caching>',
        '<serverRuntime frequentHitThreshold="1" />'], start=False)
    s.extra_modules = ["RewriteModule"]
    port = s.port("main")
    s.file("www/big.txt", "x" * 200)
    s.file("www/cookie.wtest", "")
    s.file("www/vary.wtest", "")
    # under a URL Rewrite rule (one that answers some clients differently)
    s.file("www/rw/r.txt", "rewrite\n")
    s.file("www/rw/web.config", """<?xml version="1.0"?>
<configuration><system.webServer><rewrite><rules>
  <rule name="old clients"><match url=".*" />
    <conditions><add input="{HTTP_USER_AGENT}" pattern="^OldBrowser" /></conditions>
    <action type="Redirect" url="/hello.txt" />
  </rule>
</rules></rewrite></system.webServer></configuration>
""")
    s.start()
    cases = [("/hello.txt?x=1", {}), ("/hello.txt", {"Authorization": "Basic dTpw"}),
             ("/big.txt", {}), ("/cookie.wtest", {}), ("/vary.wtest", {}), ("/rw/r.txt", {})]
    for path, headers in cases:
        for _ in range(4):
            assert request(port, "GET", path, headers=headers).status == 200
        c = cache_counters(s)
        assert c["UriCacheHits"] == 0 and c["CurrentUrisCached"] == 0, (path, c)
    r = request(port, "GET", "/rw/r.txt", headers={"User-Agent": "OldBrowser/1"})
    assert r.status in (301, 302, 307) and r.header("Location").endswith("/hello.txt")
    # a default document is not cached (requesting it by name is)
    s.file("www/index.html", "<p>index</p>\n")
    for _ in range(4):
        assert get(port, "/").status == 200
    assert cache_counters(s)["CurrentUrisCached"] == 0
    for _ in range(2):
        assert get(port, "/index.html").status == 200
    assert hits(s) == 1


def test_vary_by_headers(make_server):
    s = cache_server(make_server, "cache-vary", webserver_xml=[
        '<caching><profiles><add extension=".wtest" kernelCachePolicy="CacheUntilChange" '
        'varyByHeaders="Accept-Language" /></profiles></caching>',
        '<serverRuntime frequentHitThreshold="1" />'])
    port = s.port("main")
    s.file("www/vary.wtest", "")
    en = request(port, "GET", "/vary.wtest", headers={"Accept-Language": "en"}).body
    fr = request(port, "GET", "/vary.wtest", headers={"Accept-Language": "fr"}).body
    none = get(port, "/vary.wtest").body
    assert len({en, fr, none}) == 3
    assert cache_counters(s)["CurrentUrisCached"] == 3
    assert request(port, "GET", "/vary.wtest", headers={"Accept-Language": "fr"}).body == fr
    assert request(port, "GET", "/vary.wtest", headers={"Accept-Language": "en"}).body == en
    assert get(port, "/vary.wtest").body == none
    assert hits(s) == 3


def test_enable_kernel_cache_false(make_server):
    s = cache_server(make_server, "cache-off", webserver_xml=[
        '<caching enableKernelCache="false" />'])
    port = s.port("main")
    for _ in range(6):
        assert get(port, "/hello.txt").status == 200
    c = cache_counters(s)
    assert c["UriCacheHits"] == 0 and c["TotalUrisCached"] == 0
    assert c["UriCacheMisses"] == 6


def test_frequent_hit_threshold(make_server):
    s = cache_server(make_server, "cache-threshold", webserver_xml=[
        '<serverRuntime frequentHitThreshold="4" frequentHitTimePeriod="00:01:00" />'])
    port = s.port("main")
    for i in range(4):
        assert get(port, "/hello.txt").status == 200
        assert cache_counters(s)["UriCacheHits"] == 0, i
    assert cache_counters(s)["CurrentUrisCached"] == 1
    assert get(port, "/hello.txt").body == b"hello\n"
    assert hits(s) == 1


@pytest.mark.slow
def test_profile_cache_for_time_period_on_a_dynamic_url(make_server):
    s = cache_server(make_server, "cache-dynamic", webserver_xml=[
        '<caching><profiles><add extension=".wtest" kernelCachePolicy="CacheForTimePeriod" '
        'duration="00:00:02" /></profiles></caching>'])
    port = s.port("main")
    s.file("www/dyn.wtest", "")
    s.file("www/plain/p.wtest", "")
    s.file("www/plain/web.config", """<?xml version="1.0"?>
<configuration><system.webServer><caching><profiles>
  <remove extension=".wtest" />
</profiles></caching></system.webServer></configuration>
""")
    # without a profile a dynamic response is never cached
    bodies = {get(port, "/plain/p.wtest").body for _ in range(4)}
    assert len(bodies) == 4
    first = get(port, "/dyn.wtest").body
    second = get(port, "/dyn.wtest").body
    assert first != second  # both ran (the threshold is 2)
    assert get(port, "/dyn.wtest").body == second
    assert get(port, "/dyn.wtest").body == second
    # duration="00:00:02": a fresh execution once it has passed
    wait_until(lambda: get(port, "/dyn.wtest").body != second, scaled(10),
               interval=0.2, what="the entry to expire")
    assert cache_counters(s)["TotalFlushedUris"] >= 1


def test_lru_bound(make_server):
    s = cache_server(make_server, "cache-lru", webserver_xml=[
        '<caching maxCacheSize="1" />', '<serverRuntime frequentHitThreshold="1" />'])
    port = s.port("main")
    for i in range(30):
        s.file("www/f%02d.txt" % i, ("%02d" % i) * 50000)  # 100 kB each
    for i in range(30):
        assert get(port, "/f%02d.txt" % i).status == 200
        c = cache_counters(s)
        assert c["CurrentCacheMemoryUsage"] <= c["MaximumCacheMemory"] == 1 << 20, c
    c = cache_counters(s)
    assert 5 <= c["CurrentUrisCached"] < 30
    assert c["TotalUrisCached"] == 30
    h = c["UriCacheHits"]
    assert get(port, "/f29.txt").status == 200  # the newest is still there
    assert hits(s) == h + 1
    assert get(port, "/f00.txt").status == 200  # the oldest went first
    assert hits(s) == h + 1


def test_head_range_and_conditional_requests_on_a_cached_url(make_server):
    s = cache_server(make_server, "cache-methods")
    port = s.port("main")
    warm(port, "/hello.txt")
    full = get(port, "/hello.txt")
    h = hits(s)
    assert h == 1
    with RawConn(port) as c:
        r = c.request("HEAD", "/hello.txt")
        assert r.status == 200 and r.body == b""
        assert r.header("Content-Length") == "6"
        assert r.header("ETag") == full.header("ETag")
        # the connection stays usable: no body bytes were sent after the head
        assert c.request("GET", "/hello.txt").body == b"hello\n"
    assert hits(s) == h + 2
    r = request(port, "GET", "/hello.txt", headers={"Range": "bytes=1-2"})
    assert r.status == 206 and r.body == b"el"  # answered by the worker
    assert hits(s) == h + 2
    r = request(port, "GET", "/hello.txt", headers={"If-None-Match": full.header("ETag")})
    assert r.status == 304 and r.body == b""
    assert r.header("ETag") == full.header("ETag") and r.header("Content-Type") is None
    r = request(port, "GET", "/hello.txt", headers={"If-None-Match": '"other"'})
    assert r.status == 200 and r.body == b"hello\n"
    r = request(port, "GET", "/hello.txt",
                headers={"If-Modified-Since": full.header("Last-Modified")})
    assert r.status == 304
    assert hits(s) == h + 5
    # HTTP/1.0 and Connection: close are answered per request
    with RawConn(port) as c:
        c.send(b"GET /hello.txt HTTP/1.0\r\nHost: localhost\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body == b"hello\n"
        assert r.header("Connection") is None or r.header("Connection").lower() == "close"
        c.wait_closed(timeout=scaled(5))
    with RawConn(port) as c:
        r = c.request("GET", "/hello.txt", headers={"Connection": "close"})
        assert r.header("Connection") == "close"
        c.wait_closed(timeout=scaled(5))


def test_hits_are_in_the_access_log(make_server):
    s = cache_server(make_server, "cache-log")
    port = s.port("main")
    warm(port, "/hello.txt")
    for _ in range(3):
        assert get(port, "/hello.txt").status == 200
    assert hits(s) == 3
    rows = [r for rs in wait_rows(s.log_dir("LogFiles", "W3SVC1"), 5).values() for r in rs]
    lines = [r for r in rows if r["cs-uri-stem"] == "/hello.txt"]
    assert len(lines) == 5
    assert all(r["sc-status"] == "200" and r["sc-win32-status"] == "0" and
               r["cs-method"] == "GET" for r in lines)


def test_h2_streams_are_answered_from_the_cache(make_server):
    """An h2 stream (h2c prior knowledge here) is a cache hit like an
    HTTP/1.1 request: stored by HTTP/1.1 requests, served to h2 with the
    worker stopped, same bytes and headers; HEAD too."""
    s = cache_server(make_server, "cache-h2")
    port = s.port("main")
    url = "http://127.0.0.1:%d/hello.txt" % port
    for _ in range(2):  # stored by HTTP/1.1 requests with the same Host
        r = subprocess.run(["curl", "-s", "--http1.1", "-o", "/dev/null", "-w", "%{http_code}", url],
                           stdout=subprocess.PIPE, timeout=scaled(20))
        assert r.stdout == b"200"
    worker = s.wait_worker(POOL)
    before = hits(s)
    os.kill(worker, signal.SIGSTOP)
    try:
        for args in ([], ["-I"]):
            r = subprocess.run(["curl", "-s", "-S", "-i", "--http2-prior-knowledge",
                                "--max-time", str(scaled(5))] + args + [url],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=scaled(20))
            assert r.returncode == 0, r.stderr
            head, _, body = r.stdout.replace(b"\r\n", b"\n").partition(b"\n\n")
            assert head.startswith(b"HTTP/2 200"), head
            assert b"content-length: 6" in head.lower() and b"content-type: text/plain" in head.lower()
            assert body == (b"" if args else b"hello\n")
    finally:
        os.kill(worker, signal.SIGCONT)
    assert hits(s) == before + 2


def httpsys_cache_server(make_server, name, attrs, files=()):
    s = cache_server(make_server, name, start=False)
    s.extra_sections.append("<wasp><httpSys %s /></wasp>" % attrs)
    for rel, content in files:
        s.file(rel, content)
    s.start()
    return s


def test_uri_enable_cache_0_turns_the_cache_off(make_server):
    """wasp/httpSys UriEnableCache="0" (HTTP.sys' registry switch): nothing is
    cached, whatever the caching section says."""
    s = httpsys_cache_server(make_server, "uri-off", 'UriEnableCache="0"')
    port = s.port("main")
    for _ in range(6):
        assert get(port, "/hello.txt").status == 200
    c = cache_counters(s)
    assert c["UriCacheHits"] == 0 and c["TotalUrisCached"] == 0, c


def test_uri_max_uri_bytes_bounds_a_cached_body(make_server):
    """UriMaxUriBytes="4096": a 5000-byte body is never cached, a 4000-byte
    one is (caching/@maxResponseSize keeps its 262144 default: the smaller
    bound wins)."""
    s = httpsys_cache_server(make_server, "uri-max", 'UriMaxUriBytes="4096"',
                             files=[("www/small.txt", "s" * 4000), ("www/large.txt", "l" * 5000)])
    port = s.port("main")
    for _ in range(4):
        assert get(port, "/large.txt").status == 200
    assert cache_counters(s)["UriCacheHits"] == 0
    warm(port, "/small.txt")
    assert get(port, "/small.txt").body == b"s" * 4000
    assert hits(s) == 1


@pytest.mark.slow
def test_uri_scavenger_period_evicts_idle_entries(make_server):
    """UriScavengerPeriod="10" (its minimum): an entry with no hit for 10 s
    is gone within a quarter period more."""
    s = httpsys_cache_server(make_server, "uri-scavenge", 'UriScavengerPeriod="10"')
    port = s.port("main")
    warm(port, "/hello.txt")
    assert cache_counters(s)["CurrentUrisCached"] == 1
    wait_until(lambda: cache_counters(s)["CurrentUrisCached"] == 0, scaled(20),
               what="the idle entry scavenged")
    assert cache_counters(s)["UriCacheFlushes"] >= 1
