"""
Stopping waspd: SIGTERM drains (in-flight requests finish, no new
connections, exit 0); a second SIGINT stops at once.
"""
import os
import signal
import subprocess
import time

import pytest

import harness
from harness import RawConn, build_request, get, scaled


def start(make_server, name):
    s = make_server(name)
    port = s.port("main")
    s.pool("StopPool")
    s.site("Stop Site", ["127.0.0.1:%d:" % port], [("/", "StopPool", "www")])
    s.file("www/hello.txt", "hello\n")
    s.start()
    assert get(port, "/hello.txt").status == 200  # worker up
    s.remember_children()
    return s, port


@pytest.mark.slow
def test_sigterm_finishes_in_flight_request_and_exits_0(make_server):
    s, port = start(make_server, "sigterm")
    with RawConn(port, timeout=scaled(15)) as c:
        c.send(build_request("GET", "/x.wtest?op=sleep&ms=2000"))
        time.sleep(scaled(0.3))
        t_term = time.monotonic()
        s.signal(signal.SIGTERM)
        # No new connections soon after SIGTERM: connect() must be refused.
        refused_after = None
        deadline = t_term + scaled(1.5)
        while time.monotonic() < deadline:
            if harness.connect_refused(port, timeout=0.5):
                refused_after = time.monotonic() - t_term
                break
            time.sleep(0.05)
        r = c.read_response(timeout=scaled(10))
        assert r.status == 200, r
        assert r.body == b"slept\n"
        assert "close" in (r.header("Connection") or "").lower(), (
            "a response finished while draining must close its connection")
    rc = s.wait_exit(scaled(15))
    assert rc == 0, "waspd exit status %r after SIGTERM" % rc
    assert refused_after is not None, (
        "127.0.0.1:%d still accepted TCP connections %.1f s after SIGTERM" % (port, scaled(1.5)))


def test_sigterm_idle_server_exits_quickly(make_server):
    s, port = start(make_server, "sigterm-idle")
    with RawConn(port) as idle:
        assert idle.request("GET", "/hello.txt").status == 200   # an idle keep-alive conn
        t0 = time.monotonic()
        s.signal(signal.SIGTERM)
        rc = s.wait_exit(scaled(10))
        elapsed = time.monotonic() - t0
        assert rc == 0, rc
        assert elapsed < scaled(5), "idle shutdown took %.1f s" % elapsed
        assert idle.wait_closed(scaled(2)), "the idle connection was not closed"
    # The worker is told the server stops (SHUTDOWN): it exits, rather than
    # taking the closed channel for a crashed listener and reconnecting.
    log = s.log_text()
    assert "the listener closed the channel (the server is stopping); exiting" in log, log
    assert "lost the listener" not in log and "reconnected" not in log, log


@pytest.mark.slow
def test_double_sigint_stops_at_once(make_server):
    s, port = start(make_server, "sigint")
    s.expected_exit = None  # an immediate stop; the status is not specified
    children = s.children()
    with RawConn(port, timeout=scaled(15)) as c:
        c.send(build_request("GET", "/x.wtest?op=sleep&ms=10000"))
        time.sleep(scaled(0.3))
        t0 = time.monotonic()
        s.signal(signal.SIGINT)
        time.sleep(0.2)
        s.signal(signal.SIGINT)
        rc = s.wait_exit(scaled(3))
        elapsed = time.monotonic() - t0
        assert rc is not None, "waspd still running 3 s after the second SIGINT"
        assert rc >= 0, "waspd died of signal %d instead of exiting" % -rc
        assert elapsed < scaled(3), elapsed
        # the in-flight request is cut, not answered after 10 s
        t1 = time.monotonic()
        try:
            r = c.read_response(timeout=scaled(3))
            assert r.status != 200 or r.body != b"slept\n", "the sleep finished?"
        except (harness.ResponseError, OSError):
            pass
        assert time.monotonic() - t1 < scaled(3)
    harness.wait_until(lambda: not any(harness.proc_alive(p) for p in children), scaled(3),
                       what="listener and worker to be gone")
    assert harness.connect_refused(port)


def test_second_waspd_on_same_runtime_dir_refused(make_server):
    """A second waspd must not take over (and unlink) a running one's sockets."""
    s = make_server("twice")
    port = s.port("main")
    s.pool("TwicePool")
    s.site("Twice", ["127.0.0.1:%d:" % port], [("/", "TwicePool", "www")])
    s.file("www/hello.txt", "hello\n")
    s.start()
    p = subprocess.run([os.path.join(s.build, "waspd"), "--config", s.config_path,
                        "--runtime-dir", s.rundir], capture_output=True, timeout=scaled(10))
    assert p.returncode == 1, p
    assert b"another waspd (pid %d)" % s.proc.pid in p.stderr, p.stderr
    assert os.path.exists(os.path.join(s.rundir, "pools", "TwicePool.sock"))
    assert os.path.exists(os.path.join(s.rundir, "waspd.pid"))
    assert get(port, "/hello.txt").body == b"hello\n"


@pytest.mark.slow
def test_sigterm_drain_is_bounded_by_shutdown_time_limit(make_server):
    """The drain after SIGTERM lasts at most the pools' shutdownTimeLimit
    (the longest of them; here the only pool's 2 s): a worker whose loop
    never returns (op=hang) is killed then, and waspd still exits 0."""
    s = make_server("sigterm-limit")
    port = s.port("main")
    s.pool("LimitPool", process_model={"shutdownTimeLimit": "00:00:02"})
    s.site("Limit Site", ["127.0.0.1:%d:" % port], [("/", "LimitPool", "www")])
    s.file("www/hello.txt", "hello\n")
    s.start()
    assert get(port, "/hello.txt").status == 200
    worker = s.wait_worker("LimitPool")
    s.remember_children()
    with RawConn(port, timeout=scaled(15)) as c:
        c.send(build_request("GET", "/x.wtest?op=hang"))
        time.sleep(scaled(0.3))
        since = s.log_size()
        t0 = time.monotonic()
        s.signal(signal.SIGTERM)
        rc = s.wait_exit(scaled(2) + scaled(4))
        elapsed = time.monotonic() - t0
        assert rc is not None, "waspd still running %.0f s after SIGTERM with " \
            "shutdownTimeLimit 2 s\n%s" % (scaled(6), s.log_tail())
        assert rc == 0, "waspd exit status %r after SIGTERM\n%s" % (rc, s.log_tail())
        assert elapsed >= 1.8, (
            "waspd exited %.1f s after SIGTERM: it did not wait for the request in flight "
            "(shutdownTimeLimit 2 s)" % elapsed)
        log = s.log_text(since)
        assert "shutdownTimeLimit (2 s) reached; killing what is left" in log, s.log_tail()
        # the hung request is cut, never answered
        try:
            r = c.read_response(timeout=scaled(3))
            raise AssertionError("a request of a killed worker was answered: %r" % r)
        except (harness.ResponseError, OSError):
            pass
    assert not harness.proc_alive(worker), "the hung worker %d survived" % worker
