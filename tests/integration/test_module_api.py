"""
The module API, through TestModule (tests/modules/test_module.c) loaded from
<globalModules> like any third-party module: echo, asynchronous sleep
(PENDING + loop timer), whoami, streamed (flushed) responses, large bodies
under flow control, memory growth.
"""
import hashlib
import os
import re
import time

import pytest
import requests

import harness
from conftest import stop_module_server
from harness import RawConn, build_request, get, scaled

POOL = "ModulePool"


@pytest.fixture(scope="module")
def server():
    s = harness.simple_server("module-api", pool=POOL,
                              files={"hello.txt": "hello\n", "index.html": "<p>index</p>\n"})
    s.start()
    yield s
    stop_module_server(s)


@pytest.fixture
def port(server):
    return server.ports["main"]


def test_echo_method_url_headers_body(port):
    body = b"some \x00 binary\r\nbody"
    r = harness.request(port, "PUT", "/dir/x.wtest?op=echo&k=v",
                        headers=[("X-Test-One", "alpha"), ("X-Test-Two", "beta  gamma")],
                        body=body)
    assert r.status == 200, r
    assert r.header("Content-Type") == "text/plain; charset=utf-8"
    lines = r.body.split(b"\n")
    assert lines[0] == b"method=PUT"
    assert lines[1] == b"url=/dir/x.wtest?op=echo&k=v"
    assert b"header=X-Test-One: alpha\n" in r.body
    assert b"header=X-Test-Two: beta  gamma\n" in r.body
    assert b"header=Host: localhost\n" in r.body
    assert r.body.endswith(b"body-length=%d\nbody=" % len(body) + body)
    assert r.header("Content-Length") == str(len(r.body))


def test_echo_with_requests_library(port):
    r = requests.post("http://127.0.0.1:%d/x.wtest?op=echo" % port, data=b"abc",
                      headers={"X-Lib": "requests"}, timeout=scaled(10))
    assert r.status_code == 200
    assert b"method=POST\n" in r.content
    assert b"header=X-Lib: requests\n" in r.content
    assert r.content.endswith(b"body-length=3\nbody=abc")


def test_whoami(server, port):
    r = get(port, "/x.wtest?op=whoami")
    assert r.status == 200
    m = re.match(rb"pid=(\d+) uid=(\d+) pool=(.*)\n\Z", r.body)
    assert m, r.body
    pid, uid, pool = int(m.group(1)), int(m.group(2)), m.group(3).decode()
    assert pool == POOL
    assert pid in server.worker_pids(POOL)
    assert harness.proc_comm(pid) == "wasp-worker"
    assert harness.proc_uids(pid)[0] == uid
    if os.geteuid() != 0:
        assert uid == os.getuid()


@pytest.mark.slow
def test_sleep_does_not_block_other_requests(port):
    """A pending request (sleep) does not hold up a static file on the same worker."""
    ms = 1500
    with RawConn(port, timeout=scaled(10)) as slow:
        t0 = time.monotonic()
        slow.send(build_request("GET", "/x.wtest?op=sleep&ms=%d" % ms))
        time.sleep(0.1)
        r = get(port, "/hello.txt")
        t_static = time.monotonic() - t0
        assert r.status == 200 and r.body == b"hello\n"
        e = get(port, "/x.wtest?op=echo")
        assert e.status == 200
        rs = slow.read_response()
        t_sleep = time.monotonic() - t0
    assert rs.status == 200 and rs.body == b"slept\n"
    assert t_sleep >= ms / 1000.0 - 0.05, "sleep answered after %.3f s" % t_sleep
    assert t_static < min(1.0 * harness.SCALE, t_sleep - 0.3), (
        "the static file took %.3f s while a sleep was pending (sleep %.3f s)"
        % (t_static, t_sleep))


@pytest.mark.slow
def test_ten_concurrent_sleeps_overlap(port):
    ms = 1000

    def one():
        return get(port, "/x.wtest?op=sleep&ms=%d" % ms, timeout=scaled(10))

    get(port, "/x.wtest?op=echo")  # worker up
    t0 = time.monotonic()
    results = harness.parallel(one, [()] * 10, timeout=scaled(10))
    elapsed = time.monotonic() - t0
    for r in results:
        assert r.status == 200 and r.body == b"slept\n"
    assert elapsed >= ms / 1000.0 - 0.05
    assert elapsed < 3.0 * harness.SCALE, "10 concurrent 1 s sleeps took %.2f s" % elapsed


def test_stream_is_chunked_on_http11(port):
    with RawConn(port) as c:
        r = c.request("GET", "/x.wtest?op=stream&n=5")
        assert r.status == 200, r
        assert r.chunked, "a flushed response of unknown length must be chunked: %r" % r
        assert r.header("Content-Length") is None
        assert r.body == b"".join(b"chunk %d\n" % i for i in range(5))
        # keep-alive survives a chunked response
        r2 = c.request("GET", "/hello.txt")
        assert r2.status == 200 and r2.body == b"hello\n"


def test_stream_on_http10_is_close_delimited(port):
    with RawConn(port) as c:
        c.send(b"GET /x.wtest?op=stream&n=4 HTTP/1.0\r\n\r\n")
        r = c.read_response()
    assert r.status == 200
    assert not r.chunked and r.header("Transfer-Encoding") is None
    assert r.body == b"".join(b"chunk %d\n" % i for i in range(4))


def test_stream_many_chunks(port):
    r = get(port, "/x.wtest?op=stream&n=500")
    assert r.status == 200
    assert r.body == b"".join(b"chunk %d\n" % i for i in range(500))


def _big_expected(kb):
    block = bytes(ord("a") + i % 26 for i in range(1024))
    return block * kb


def test_big_body_exact(port):
    kb = 5000
    r = get(port, "/x.wtest?op=big&kb=%d" % kb, timeout=scaled(30))
    assert r.status == 200
    assert len(r.body) == 5120000
    assert hashlib.sha256(r.body).hexdigest() == hashlib.sha256(_big_expected(kb)).hexdigest()


@pytest.mark.slow
def test_big_body_slow_reader(port):
    """The client reads slowly: flow control must hold the worker back, not
    lose or reorder bytes."""
    kb = 3000
    with RawConn(port, timeout=scaled(30)) as c:
        c.sock.setsockopt(harness.socket.SOL_SOCKET, harness.socket.SO_RCVBUF, 16384)
        c.send(build_request("GET", "/x.wtest?op=big&kb=%d" % kb))
        time.sleep(scaled(1.0))  # let buffers fill up
        # another request to the same worker is not starved meanwhile
        r2 = get(port, "/x.wtest?op=echo", timeout=scaled(5))
        assert r2.status == 200
        r = c.read_response(timeout=scaled(30))
    assert len(r.body) == kb * 1024
    assert r.body == _big_expected(kb)


def test_big_with_requests_streaming(port):
    r = requests.get("http://127.0.0.1:%d/x.wtest?op=big&kb=1024" % port, stream=True,
                     timeout=scaled(30))
    h = hashlib.sha256()
    n = 0
    for chunk in r.iter_content(65536):
        h.update(chunk)
        n += len(chunk)
    assert n == 1024 * 1024
    assert h.hexdigest() == hashlib.sha256(_big_expected(1024)).hexdigest()


def test_grow(server, port):
    pid_before = get(port, "/x.wtest?op=whoami").body
    r = get(port, "/x.wtest?op=grow&mb=16")
    assert r.status == 200 and r.body == b"grown=16\n"
    r = get(port, "/x.wtest?op=grow&mb=8")
    assert r.status == 200 and r.body == b"grown=8\n"
    assert get(port, "/x.wtest?op=whoami").body == pid_before, "the worker must survive growth"


def test_unknown_op_is_400_from_module(port):
    r = get(port, "/x.wtest?op=nonsense")
    assert r.status == 400
    # a module's failure is answered by the worker (IIS error page), not by HTTP.sys
    assert b"HTTP Error 400" in r.body
    assert (r.header("Connection") or "").lower() != "close"


def test_head_to_module(port):
    with RawConn(port) as c:
        c.send(build_request("HEAD", "/x.wtest?op=echo"))
        r = c.read_response(method="HEAD")
        assert r.status == 200
        assert r.body == b""
        r2 = c.request("GET", "/hello.txt")
        assert r2.status == 200 and r2.body == b"hello\n", "bytes after a HEAD response"
