"""
The listener's HTTP/1.1 parser, seen from a client: ambiguous or malformed
requests are refused with HTTP.sys' exact answer and the connection is
closed; well-formed ones (keep-alive, pipelining, chunked bodies,
Expect: 100-continue, HTTP/1.0) are served.
"""
import time

import pytest

import harness
from conftest import stop_module_server
from harness import RawConn, build_request, httpsys_body, httpsys_problems, scaled, send_raw

FILES = {
    "hello.txt": "Hello, wasp!\n",
    "a.txt": "file a\n",
    "b.txt": "file b\n",
}


@pytest.fixture(scope="module")
def server():
    s = harness.simple_server("parser", pool="ParserPool", files=FILES)
    s.start()
    yield s
    stop_module_server(s)


@pytest.fixture
def port(server):
    return server.ports["main"]


# ---------------------------------------------------------------------------
# The oracle itself: the template reproduces the lengths seen on real HTTP.sys.

@pytest.mark.parametrize("kind,length", sorted(harness.HTTPSYS_KNOWN_LENGTHS.items()))
def test_httpsys_template_matches_captured_lengths(kind, length):
    assert len(httpsys_body(kind)) == length


# ---------------------------------------------------------------------------
# Refusals

def head(lines, method="GET", target="/hello.txt", version="HTTP/1.1", host="localhost"):
    out = "%s %s %s\r\n" % (method, target, version)
    if host is not None:
        out += "Host: %s\r\n" % host
    for line in lines:
        out += line + "\r\n"
    return (out + "\r\n").encode("latin-1")


def post(lines, body=b"", target="/x.wtest?op=echo"):
    return head(lines, method="POST", target=target) + body


CHUNKED = "Transfer-Encoding: chunked"

REFUSALS = [
    # request smuggling shapes and framing
    ("cl-with-te", post(["Content-Length: 5", CHUNKED], b"0\r\n\r\n"), ["BadRequest"]),
    ("te-with-cl", post([CHUNKED, "Content-Length: 5"], b"0\r\n\r\n"), ["BadRequest"]),
    ("two-differing-cl", post(["Content-Length: 5", "Content-Length: 6"], b"hello!"),
     ["BadRequest"]),
    ("cl-list-differing", post(["Content-Length: 5, 6"], b"hello!"), ["BadRequest"]),
    ("cl-plus", post(["Content-Length: +5"], b"hello"), ["BadRequest"]),
    ("cl-minus", post(["Content-Length: -1"], b"hello"), ["BadRequest"]),
    ("cl-hex", post(["Content-Length: 0x5"], b"hello"), ["BadRequest"]),
    ("cl-two-numbers", post(["Content-Length: 5 5"], b"hello"), ["BadRequest"]),
    ("cl-empty", post(["Content-Length: "], b"hello"), ["BadRequest"]),
    ("cl-overflow", post(["Content-Length: 99999999999999999999999"], b"hello"),
     ["BadRequest"]),
    # RFC 9112 6.3 item 4: chunked not final -> 400; 6.1: an unknown coding
    # before a final chunked -> 501.
    ("te-gzip", post(["Transfer-Encoding: gzip"], b"hello"), ["BadRequest"]),
    ("te-gzip-then-chunked", post(["Transfer-Encoding: gzip, chunked"], b"0\r\n\r\n"),
     ["NotImplemented"]),
    ("te-chunked-then-gzip", post(["Transfer-Encoding: chunked, gzip"], b"0\r\n\r\n"),
     ["BadRequest", "NotImplemented"]),
    # RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 request is faulty framing
    ("te-in-http10", head([CHUNKED], method="POST", target="/x.wtest?op=echo",
                          version="HTTP/1.0") + b"5\r\nhello\r\n0\r\n\r\n", ["BadRequest"]),
    ("te-in-http10-with-cl", head(["Content-Length: 5", CHUNKED], method="POST",
                                  target="/x.wtest?op=echo", version="HTTP/1.0") + b"hello",
     ["BadRequest"]),
    ("te-chunked-twice", post(["Transfer-Encoding: chunked, chunked"], b"0\r\n\r\n"),
     ["BadRequest", "NotImplemented"]),
    # header syntax
    ("obs-fold", head(["X-Folded: a", " b"]), ["BadRequest", "Header"]),
    ("obs-fold-tab", head(["X-Folded: a", "\tb"]), ["BadRequest", "Header"]),
    ("space-before-colon", head(["X-Test : 1"]), ["Header", "BadRequest"]),
    ("tab-before-colon", head(["X-Test\t: 1"]), ["Header", "BadRequest"]),
    ("header-name-paren", head(["X(Bad): 1"]), ["Header"]),
    ("header-name-at", head(["X@Y: 1"]), ["Header"]),
    # RFC 9112 2.2: whitespace between the start-line and the first field line
    ("space-before-first-field", b"GET /hello.txt HTTP/1.1\r\n Host: localhost\r\n\r\n",
     ["BadRequest"]),
    ("tab-before-first-field", b"GET /hello.txt HTTP/1.1\r\n\tX-A: b\r\nHost: localhost\r\n\r\n",
     ["BadRequest"]),
    ("header-name-empty", head([": 1"]), ["Header"]),
    ("header-without-colon", head(["JustAName"]), ["Header", "BadRequest"]),
    ("header-value-nul", head(["X-Nul: a\x00b"]), ["BadRequest", "Header"]),
    # method token
    ("method-paren", head([], method="GE(T"), ["Verb"]),
    ("method-at", head([], method="G@T"), ["Verb"]),
    ("method-slash", head([], method="GET/"), ["Verb"]),
    ("method-8bit", head([], method="G\xe9T"), ["Verb"]),
    # chunked bodies
    ("chunk-size-not-hex", post([CHUNKED], b"zz\r\nhello\r\n0\r\n\r\n"), ["BadRequest"]),
    ("chunk-size-empty", post([CHUNKED], b"\r\nhello\r\n0\r\n\r\n"), ["BadRequest"]),
    ("chunk-size-overflow", post([CHUNKED], b"1" + b"0" * 16 + b"\r\nhello\r\n0\r\n\r\n"),
     ["BadRequest"]),
    ("chunk-size-overflow-long", post([CHUNKED], b"f" * 40 + b"\r\nhello\r\n0\r\n\r\n"),
     ["BadRequest"]),
    ("chunk-extension-abuse", post([CHUNKED], b"5;" + b"x" * 8192 + b"\r\nhello\r\n0\r\n\r\n"),
     ["BadRequest"]),
    ("chunk-extension-many", post([CHUNKED], b"5" + b";a=b" * 2000 + b"\r\nhello\r\n0\r\n\r\n"),
     ["BadRequest"]),
    ("chunk-data-too-long", post([CHUNKED], b"5\r\nhello world\r\n0\r\n\r\n"), ["BadRequest"]),
    ("chunk-bare-lf", post([CHUNKED], b"5\nhello\n0\n\n"), ["BadRequest"]),
    # line endings
    ("bare-lf", b"GET /hello.txt HTTP/1.1\nHost: localhost\n\n", ["BadRequest"]),
    ("bare-lf-in-headers", b"GET /hello.txt HTTP/1.1\r\nHost: localhost\nX-A: b\r\n\r\n",
     ["BadRequest"]),
    ("bare-cr", b"GET /hello.txt HTTP/1.1\rHost: localhost\r\n\r\n", ["BadRequest"]),
    ("bare-cr-in-value", b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nX-A: a\rb\r\n\r\n",
     ["BadRequest"]),
    # Host
    ("missing-host", head([], host=None), ["Hostname"]),
    ("two-hosts-same", head(["Host: localhost"]), ["Hostname", "BadRequest"]),
    ("two-hosts-different", head(["Host: other.test"]), ["Hostname", "BadRequest"]),
    ("absolute-form-other-host", head([], target="http://other.test/hello.txt"),
     ["Hostname", "BadRequest"]),
    ("host-with-space", head([], host="local host"), ["Hostname", "BadRequest"]),
    # version
    ("http-2.0", head([], version="HTTP/2.0"), ["VersionNotSupported"]),
    ("http-1.2", head([], version="HTTP/1.2"), ["VersionNotSupported"]),
    ("http-3.0", head([], version="HTTP/3.0"), ["VersionNotSupported"]),
    # sizes (MaxRequestBytes / MaxFieldLength = 16384)
    ("header-block-too-long", head(["X-Pad-%d: %s" % (i, "a" * 2000) for i in range(10)]),
     ["RequestLength"]),
    ("header-line-too-long", head(["X-Long: " + "a" * 17000]),
     ["FieldLength", "RequestLength"]),
    ("url-too-long", head([], target="/" + "a" * 16384), ["URL_Length"]),
    # a body-carrying method without a length
    ("post-without-length", head([], method="POST", target="/x.wtest?op=echo"),
     ["LengthRequired"]),
]


@pytest.mark.parametrize("name,data,kinds", REFUSALS, ids=[c[0] for c in REFUSALS])
def test_refused_with_httpsys_answer(port, name, data, kinds):
    resp, closed = send_raw(port, data)
    problems = {k: httpsys_problems(resp, k) for k in kinds}
    assert any(not p for p in problems.values()), (
        "%s: not HTTP.sys' answer (%s):\n%r\n%s" % (
            name, " or ".join(kinds), resp,
            "\n".join("  as %s: %s" % (k, "; ".join(p)) for k, p in problems.items())))
    assert closed, "%s: the connection was not closed after the refusal" % name


def test_refusal_exact_bytes_of_common_pages(port):
    """Byte-exact check of the five pages clients compare by Content-Length."""
    cases = [
        ("BadRequest", post(["Content-Length: 5", CHUNKED], b"0\r\n\r\n"), 311),
        ("Hostname", head([], host=None), 334),
        ("Verb", head([], method="G@T"), 326),
        ("Header", head(["X(Bad): 1"]), 339),
        ("RequestLength", head(["X-Pad-%d: %s" % (i, "a" * 2000) for i in range(10)]), 346),
        ("LengthRequired", head([], method="POST", target="/x.wtest?op=echo"), 344),
    ]
    for kind, data, length in cases:
        resp, closed = send_raw(port, data)
        assert resp.header("Content-Length") == str(length), (kind, resp)
        assert resp.body == httpsys_body(kind), (kind, resp)
        assert len(resp.body) == length
        assert resp.status == harness.HTTPSYS[kind][0]
        assert closed, kind


def test_smuggled_request_never_answered(port):
    """CL+TE with a second request hidden in the body: one refusal, then close."""
    smuggled = build_request("GET", "/a.txt")
    data = post(["Content-Length: %d" % (5 + len(smuggled)), CHUNKED], b"0\r\n\r\n" + smuggled)
    with RawConn(port) as c:
        c.send(data)
        resp = c.read_response()
        assert resp.status == 400
        assert c.wait_closed(scaled(5))
        assert b"file a" not in c.buf


def test_content_length_body_on_get_is_not_a_second_request(port):
    """CL.0 smuggling shape: a keep-alive GET whose Content-Length covers a
    complete second request.  Those bytes are the GET's body: the server
    answers the GET once (or refuses it and closes) and never answers the
    request inside; a request sent after them is the next one answered."""
    inner = build_request("GET", "/b.txt")
    outer = head(["Content-Length: %d" % len(inner)], target="/a.txt") + inner
    with RawConn(port) as c:
        c.send(outer)
        r1 = c.read_response()
        assert b"file b" not in r1.body, r1
        if r1.status != 200:
            assert 400 <= r1.status < 500, r1
            assert c.wait_closed(scaled(5)), "a refused request must close the connection"
            assert b"file b" not in c.buf, c.buf
            return
        assert r1.body == b"file a\n", r1
        if c.wait_closed(0.5):
            assert b"file b" not in c.buf, c.buf
            return
        c.send(build_request("GET", "/hello.txt"))
        r2 = c.read_response()
        assert r2.status == 200 and r2.body == b"Hello, wasp!\n", (
            "the response after the GET with a body is not the next request's: %r" % r2)
        assert c.is_open(0.3) and c.buf == b"", "more responses than requests: %r" % c.buf


def long_path(n):
    """A URL path of exactly n bytes in segments of 200 (under
    UrlSegmentMaxLength, so only the URL's total length matters)."""
    out = ""
    while len(out) < n:
        seg = "/" + "u" * 199
        out += seg[:n - len(out)]
    return out


def test_url_longer_than_max_field_length_is_414(make_server):
    """wasp/httpSys MaxFieldLength also bounds the URL (KB 820129): one byte
    over it is HTTP.sys' 414 with HTTPERR reason URL_Length, even far below
    MaxRequestBytes; a URL of exactly MaxFieldLength is parsed and routed."""
    s = make_server("parser-url-length")
    port = s.port("main")
    s.pool("ParserPool")
    s.site("Parser Site", ["127.0.0.1:%d:" % port], [("/", "ParserPool", "www")])
    s.file("www/hello.txt", FILES["hello.txt"])
    s.extra_sections.append('<wasp><httpSys MaxFieldLength="2048" /></wasp>')
    s.start()
    resp, closed = send_raw(port, head([], target=long_path(2049)))
    assert not httpsys_problems(resp, "URL_Length"), (resp, httpsys_problems(resp, "URL_Length"))
    assert closed, "the connection was not closed after the 414"
    s.wait_httperr(r" 414 - URL_Length -\r$")
    r = harness.get(port, long_path(2048))
    assert r.status == 404 and b"HTTP Error 404.0" in r.body, r


def test_server_still_serves_after_refusals(port):
    r = harness.get(port, "/hello.txt")
    assert r.status == 200 and r.body == b"Hello, wasp!\n"


# ---------------------------------------------------------------------------
# Good paths

def test_keep_alive_two_requests_one_connection(port):
    with RawConn(port) as c:
        r1 = c.request("GET", "/hello.txt")
        assert r1.status == 200 and r1.body == b"Hello, wasp!\n"
        assert "close" not in (r1.header("Connection") or "").lower()
        r2 = c.request("GET", "/a.txt")
        assert r2.status == 200 and r2.body == b"file a\n"
        r3 = c.request("GET", "/x.wtest?op=echo")
        assert r3.status == 200 and b"method=GET" in r3.body


def test_pipelining_three_requests_in_one_send(port):
    data = (build_request("GET", "/x.wtest?op=sleep&ms=300")
            + build_request("GET", "/a.txt")
            + build_request("GET", "/x.wtest?op=echo&n=3"))
    with RawConn(port) as c:
        assert c.send(data)
        r1 = c.read_response()
        r2 = c.read_response()
        r3 = c.read_response()
    assert (r1.status, r2.status, r3.status) == (200, 200, 200)
    assert r1.body == b"slept\n"
    assert r2.body == b"file a\n"
    assert b"url=/x.wtest?op=echo&n=3\n" in r3.body


def test_chunked_request_body_is_dechunked(port):
    body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    with RawConn(port) as c:
        c.send(post([CHUNKED], body))
        r = c.read_response()
    assert r.status == 200, r
    assert b"method=POST\n" in r.body
    assert r.body.endswith(b"body-length=11\nbody=hello world"), r.body


def test_chunked_request_with_extension_and_trailer(port):
    body = b"5;name=value\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"
    with RawConn(port) as c:
        c.send(post([CHUNKED], body))
        r = c.read_response()
        assert r.status == 200, r
        assert r.body.endswith(b"body-length=5\nbody=hello"), r.body
        # the connection is still usable after the trailer
        r2 = c.request("GET", "/a.txt")
        assert r2.status == 200 and r2.body == b"file a\n"


def test_content_length_body_echoed(port):
    r = harness.request(port, "POST", "/x.wtest?op=echo", body=b"0123456789")
    assert r.status == 200
    assert r.body.endswith(b"body-length=10\nbody=0123456789")


def test_expect_100_continue(port):
    with RawConn(port) as c:
        c.send(post(["Content-Length: 5", "Expect: 100-continue"]))
        interim = c.read_response(timeout=scaled(5))
        assert interim.status_line == "HTTP/1.1 100 Continue", interim
        c.send(b"hello")
        interims, final = c.read_final()
    assert final.status == 200, final
    assert final.body.endswith(b"body-length=5\nbody=hello"), final.body


def test_http10_without_host(port):
    with RawConn(port) as c:
        c.send(b"GET /hello.txt HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200, r
        assert r.body == b"Hello, wasp!\n"
        assert c.wait_closed(scaled(5)), "HTTP/1.0 without keep-alive must be closed"


def test_http10_keep_alive(port):
    with RawConn(port) as c:
        c.send(b"GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r1 = c.read_response()
        assert r1.status == 200 and r1.body == b"file a\n"
        assert "keep-alive" in (r1.header("Connection") or "").lower(), r1
        c.send(b"GET /b.txt HTTP/1.0\r\n\r\n")
        r2 = c.read_response()
        assert r2.status == 200 and r2.body == b"file b\n"


def test_connection_close_honoured(port):
    with RawConn(port) as c:
        r = c.request("GET", "/hello.txt", headers={"Connection": "close"})
        assert r.status == 200
        assert "close" in (r.header("Connection") or "").lower()
        assert c.wait_closed(scaled(5))


def test_absolute_form_with_matching_host(port):
    r = harness.get(port, "http://localhost/hello.txt")
    assert r.status == 200 and r.body == b"Hello, wasp!\n"


def test_leading_empty_line_tolerated(port):
    """RFC 9112 2.2: an empty line before the request-line is ignored."""
    with RawConn(port) as c:
        c.send(b"\r\n" + build_request("GET", "/a.txt"))
        r = c.read_response()
    assert r.status == 200 and r.body == b"file a\n"


def test_slowly_sent_head_is_parsed(port):
    """The head arrives a few bytes at a time; the parser waits for the rest."""
    data = build_request("GET", "/b.txt")
    with RawConn(port) as c:
        for i in range(0, len(data), 7):
            c.send(data[i:i + 7])
            time.sleep(0.01)
        r = c.read_response()
    assert r.status == 200 and r.body == b"file b\n"
