"""
Static content: StaticFileModule (MIME map, validators, conditionals,
ranges, HEAD, 405), DefaultDocumentModule (default document, courtesy
redirect), DirectoryListingModule (403.14 / listing) and CustomErrorModule
(detailed and custom error pages).
"""
import email.utils
import os
import re
import time

import pytest
import requests

import harness
from conftest import stop_module_server
from harness import RawConn, build_request, get, scaled

HELLO = b"Hello, static world!\n"          # 21 bytes
BIG = os.urandom(1024 * 1024)
HUGE = os.urandom(4 * 1024 * 1024)


@pytest.fixture(scope="module")
def server():
    s = harness.WaspServer("static")
    port = s.port("main")
    s.pool("StaticPool")
    s.site("Static Site", ["127.0.0.1:%d:" % port], [("/", "StaticPool", "www")])
    s.file("www/hello.txt", HELLO)
    s.file("www/page.html", "<html><body>page</body></html>\n")
    s.file("www/style.css", "body { color: black; }\n")
    s.file("www/data.wasptest", "custom mime\n")
    s.file("www/file.xyz123", "no mime type\n")
    s.file("www/big.bin", BIG)
    s.file("www/huge.bin", HUGE)
    s.file("www/index.html", "<p>the index</p>\n")
    s.file("www/dir/a.txt", "a\n")
    s.file("www/dir/b.txt", "b\n")
    s.file("www/listdir/first-file.txt", "1\n")
    s.file("www/listdir/second file.txt", "2\n")
    s.mkdir("www/listdir/subdir")
    s.file("www/custom/file.xyz123", "no mime type\n")
    s.file("www/detailed/file.xyz123", "no mime type\n")
    s.location("Static Site/listdir", '<directoryBrowse enabled="true" />')
    s.location("Static Site/custom", '<httpErrors errorMode="Custom" />')
    s.location("Static Site/detailed", '<httpErrors errorMode="Detailed" />')
    s.start()
    yield s
    stop_module_server(s)


@pytest.fixture
def port(server):
    return server.ports["main"]


def url(port, path):
    return "http://127.0.0.1:%d%s" % (port, path)


# ---------------------------------------------------------------------------
# StaticFileModule

@pytest.mark.parametrize("path,ctype", [("/hello.txt", "text/plain"),
                                        ("/page.html", "text/html"),
                                        ("/style.css", "text/css"),
                                        ("/data.wasptest", "application/x-wasp-test"),
                                        ("/big.bin", "application/octet-stream")])
def test_content_type_from_mime_map(port, path, ctype):
    r = get(port, path)
    assert r.status == 200, r
    assert r.header("Content-Type") == ctype


def test_file_served_with_validators(server, port):
    r = get(port, "/hello.txt")
    assert r.status == 200
    assert r.body == HELLO
    assert r.header("Content-Length") == str(len(HELLO))
    etag = r.header("ETag")
    assert etag and re.fullmatch(r'"[0-9a-f]+:0"', etag), etag
    lm = r.header("Last-Modified")
    mtime = int(os.stat(server.path("www/hello.txt")).st_mtime)
    assert lm == email.utils.formatdate(mtime, usegmt=True), (lm, mtime)
    assert r.header("Accept-Ranges") == "bytes"


def test_if_none_match_304(port):
    etag = get(port, "/hello.txt").header("ETag")
    with RawConn(port) as c:
        r = c.request("GET", "/hello.txt", headers={"If-None-Match": etag})
        assert r.status == 304, r
        assert r.body == b""
        assert r.header("ETag") == etag
        # no stray body bytes: the next response on the connection parses
        r2 = c.request("GET", "/hello.txt", headers={"If-None-Match": '"0:0"'})
        assert r2.status == 200 and r2.body == HELLO


def test_if_modified_since_304(port):
    lm = get(port, "/hello.txt").header("Last-Modified")
    r = get(port, "/hello.txt", headers={"If-Modified-Since": lm})
    assert r.status == 304, r
    old = email.utils.formatdate(0, usegmt=True)
    r = get(port, "/hello.txt", headers={"If-Modified-Since": old})
    assert r.status == 200 and r.body == HELLO


def test_single_range_206(port):
    r = get(port, "/hello.txt", headers={"Range": "bytes=0-4"})
    assert r.status == 206, r
    assert r.header("Content-Range") == "bytes 0-4/%d" % len(HELLO)
    assert r.body == HELLO[0:5]
    assert r.header("Content-Length") == "5"
    r = get(port, "/hello.txt", headers={"Range": "bytes=-3"})
    assert r.status == 206 and r.body == HELLO[-3:]


def test_two_ranges_multipart(port):
    r = get(port, "/hello.txt", headers={"Range": "bytes=0-1,5-8"})
    assert r.status == 206, r
    ctype = r.header("Content-Type")
    m = re.fullmatch(r"multipart/byteranges; ?boundary=(\S+)", ctype or "")
    assert m, ctype
    boundary = m.group(1).strip('"').encode()
    parts = [p for p in r.body.split(b"--" + boundary) if p.strip() not in (b"", b"--")]
    assert len(parts) == 2, r.body
    got = []
    for p in parts:
        head, _, data = p.lstrip(b"\r\n").partition(b"\r\n\r\n")
        assert data.endswith(b"\r\n")
        got.append((head, data[:-2]))
    assert b"Content-Range: bytes 0-1/%d" % len(HELLO) in got[0][0]
    assert got[0][1] == HELLO[0:2]
    assert b"Content-Range: bytes 5-8/%d" % len(HELLO) in got[1][0]
    assert got[1][1] == HELLO[5:9]
    assert r.header("Content-Length") == str(len(r.body))


def test_unsatisfiable_range_416(port):
    r = get(port, "/hello.txt", headers={"Range": "bytes=1000-2000"})
    assert r.status == 416, r
    assert r.header("Content-Range") == "bytes */%d" % len(HELLO)


def test_head_has_length_and_no_body(port):
    with RawConn(port) as c:
        c.send(build_request("HEAD", "/hello.txt"))
        r = c.read_response(method="HEAD")
        assert r.status == 200
        assert r.header("Content-Length") == str(len(HELLO))
        assert r.header("Content-Type") == "text/plain"
        r2 = c.request("GET", "/page.html")
        assert r2.status == 200, "stray bytes after the HEAD response: %r" % r2
        assert r2.body == b"<html><body>page</body></html>\n"


def test_unknown_extension_404_3_detailed_for_local_client(port):
    r = get(port, "/file.xyz123")
    assert r.status == 404, r
    assert b"HTTP Error 404.3" in r.body
    assert b"no mime type" not in r.body


def test_missing_file_404_0(port):
    r = get(port, "/no-such-file.txt")
    assert r.status == 404, r
    assert b"404.0" in r.body


def test_post_to_static_file_405(port):
    r = harness.request(port, "POST", "/hello.txt", body=b"x=1")
    assert r.status == 405, r
    assert r.header("Allow"), "405 must say what is allowed"
    assert "GET" in r.header("Allow")
    assert HELLO not in r.body


def test_one_mib_file_byte_exact(port):
    r = get(port, "/big.bin", timeout=scaled(20))
    assert r.status == 200
    assert r.header("Content-Length") == str(len(BIG))
    assert harness.sha256(r.body) == harness.sha256(BIG)
    r = requests.get(url(port, "/big.bin"), timeout=scaled(20))
    assert r.status_code == 200 and harness.sha256(r.content) == harness.sha256(BIG)


def test_range_in_big_file(port):
    r = get(port, "/big.bin", headers={"Range": "bytes=500000-600000"})
    assert r.status == 206
    assert r.body == BIG[500000:600001]


def test_static_keep_alive_many(port):
    with RawConn(port) as c:
        for i in range(20):
            r = c.request("GET", "/hello.txt" if i % 2 else "/style.css")
            assert r.status == 200


def test_keep_alive_responses_not_stalled(port):
    """Back-to-back small requests on one keep-alive connection must not each
    wait for the client's delayed ACK (a response written in several small
    segments with Nagle on stalls ~40 ms each).  A generous functional bound,
    not a benchmark: 50 requests in under 1 s (3 s under sanitizers)."""
    with RawConn(port) as c:
        c.request("GET", "/hello.txt")
        for path in ("/hello.txt", "/x.wtest?op=echo"):
            t0 = time.monotonic()
            for _ in range(50):
                r = c.request("GET", path)
                assert r.status == 200
            elapsed = time.monotonic() - t0
            assert elapsed < 1.0 * harness.SCALE, (
                "50 keep-alive requests for %s took %.2f s (%.0f ms each)"
                % (path, elapsed, elapsed * 20))


def proc_io(pid):
    """rchar and wchar of /proc/PID/io: bytes the process moved through
    read/write-like calls (read, pread, write, writev; sendfile counts in
    both), not through recvmsg/sendmsg (the worker channel's calls)."""
    with open("/proc/%d/io" % pid) as f:
        vals = dict(line.split(":", 1) for line in f)
    return int(vals["rchar"]), int(vals["wchar"])


def test_big_file_never_passes_through_the_worker(server, port):
    """Zero copy: the worker opens the file and passes the descriptor; the
    listener sendfile()s it.  Over a 4 MiB response the worker reads next to
    nothing, while the listener's rchar grows by the file's size: sendfile
    counts there, bytes received from the worker (recvmsg) would not.  The
    query string keeps the response out of the listener's cache, so the
    worker is the one that serves it."""
    listener = server.listener_pid()
    with RawConn(port, timeout=scaled(20)) as c:
        r = c.request("GET", "/x.wtest?op=whoami")
        assert r.status == 200, r
        worker = int(re.match(rb"pid=(\d+) ", r.body).group(1))
        wr0, _ = proc_io(worker)
        lr0, _ = proc_io(listener)
        r = c.request("GET", "/huge.bin?zero-copy")
        wr1, _ = proc_io(worker)
        lr1, _ = proc_io(listener)
    assert r.status == 200, r
    assert harness.sha256(r.body) == harness.sha256(HUGE)
    assert wr1 - wr0 < len(HUGE) // 16, (
        "the worker read %d bytes while serving a %d-byte file" % (wr1 - wr0, len(HUGE)))
    assert lr1 - lr0 >= len(HUGE), (
        "the listener read %d bytes with read/sendfile for a %d-byte file: the body "
        "did not come from the file descriptor" % (lr1 - lr0, len(HUGE)))


# ---------------------------------------------------------------------------
# DefaultDocumentModule and DirectoryListingModule

def test_default_document(port):
    r = get(port, "/")
    assert r.status == 200, r
    assert r.body == b"<p>the index</p>\n"
    assert r.header("Content-Type") == "text/html"


def test_directory_without_slash_redirects(port):
    r = get(port, "/dir")
    assert r.status == 301, r
    loc = r.header("Location")
    assert loc is not None
    assert loc == "/dir/" or re.fullmatch(r"https?://[^/]+/dir/", loc), loc
    r = get(port, "/dir?x=1")
    assert r.status == 301
    assert r.header("Location").endswith("/dir/?x=1"), r.header("Location")


def test_directory_without_default_document_403_14(port):
    r = get(port, "/dir/")
    assert r.status == 403, r
    assert b"403.14" in r.body
    assert b"a.txt" not in r.body


def test_directory_listing_when_enabled(port):
    r = get(port, "/listdir/")
    assert r.status == 200, r
    assert (r.header("Content-Type") or "").startswith("text/html")
    assert b"first-file.txt" in r.body
    assert b"second file.txt" in r.body or b"second%20file.txt" in r.body
    assert b"subdir" in r.body


# ---------------------------------------------------------------------------
# CustomErrorModule: errorMode

def test_error_mode_custom_short_page(port):
    r = get(port, "/custom/file.xyz123")
    assert r.status == 404, r
    assert b"HTTP Error 404.3" not in r.body
    assert b"Detailed Error" not in r.body
    assert b"404" in r.body
    assert b"no mime type" not in r.body
    r = get(port, "/custom/missing.txt")
    assert r.status == 404
    assert b"404.0" not in r.body and b"Detailed Error" not in r.body


def test_error_mode_detailed(port):
    r = get(port, "/detailed/file.xyz123")
    assert r.status == 404, r
    assert b"HTTP Error 404.3" in r.body


def test_error_page_for_head_has_no_body(port):
    with RawConn(port) as c:
        c.send(build_request("HEAD", "/no-such-file.txt"))
        r = c.read_response(method="HEAD")
        assert r.status == 404
        r2 = c.request("GET", "/hello.txt")
        assert r2.status == 200 and r2.body == HELLO
