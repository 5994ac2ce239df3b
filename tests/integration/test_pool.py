"""
Application pools: demand start, the bounded queue (503 when full), and
worker crashes (kill -9, SIGSEGV): queued requests and idle connections
survive, only requests executing in the dead worker get 502.
"""
import os
import re
import signal
import time

import pytest

import harness
from harness import RawConn, build_request, get, httpsys_problems, scaled

POOL = "CrashPool"


def start_pool_server(make_server, name, pool=POOL, **pool_attrs):
    s = make_server(name)
    port = s.port("main")
    s.pool(pool, **pool_attrs)
    s.site("Pool Site", ["127.0.0.1:%d:" % port], [("/", pool, "www")])
    s.file("www/hello.txt", "hello\n")
    s.start()
    return s, port


def start_garden(make_server, name, **process_model):
    """A web garden of two workers, both started; returns (s, port, pids)."""
    s, port = start_pool_server(make_server, name,
                                process_model=dict(maxProcesses="2", **process_model))
    assert get(port, "/hello.txt").status == 200
    members = harness.wait_until(lambda: s.worker_pids() if len(s.worker_pids()) == 2 else None,
                                 scaled(5), what="two garden workers")
    return s, port, members


def whoami_on(conn):
    r = conn.request("GET", "/x.wtest?op=whoami")
    assert r.status == 200, r
    m = re.match(rb"pid=(\d+) uid=(\d+) pool=(.*)\n", r.body)
    assert m, r.body
    return int(m.group(1)), m.group(3).decode()


def whoami(port):
    with RawConn(port) as c:
        return whoami_on(c)


def exit_event_re(pool, pid):
    """waspd's event for a worker's end: 9002 (it exited when told, or on its
    own with status 0) or IIS' 5009 (terminated unexpectedly)."""
    pool = re.escape(pool)
    return (r"(?:process id of '%d' serving application pool '%s' (?:exited|was killed)"
            r"|application pool '%s' terminated unexpectedly\. The process id was '%d')"
            % (pid, pool, pool, pid))


def wait_worker_exit_logged(server, pid, since=0):
    return server.wait_log(exit_event_re(POOL, pid), timeout=scaled(10), since=since)


# ---------------------------------------------------------------------------

def test_no_worker_before_first_request(make_server):
    s, port = start_pool_server(make_server, "demand", startMode="OnDemand")
    time.sleep(0.3)
    assert s.worker_pids() == [], "startMode OnDemand: no worker before the first request"
    # a request answered by the listener alone does not start one either
    harness.send_raw(port, b"GET / HTTP/1.1\r\n\r\n")
    time.sleep(0.3)
    assert s.worker_pids() == []
    r = get(port, "/hello.txt")
    assert r.status == 200 and r.body == b"hello\n"
    pids = s.worker_pids()
    assert len(pids) == 1, pids
    assert s.worker_pool_of(pids[0]) == POOL
    pid, pool = whoami(port)
    assert pid == pids[0] and pool == POOL
    assert s.worker_pids() == pids, "later requests reuse the same worker"


@pytest.mark.slow
def test_queue_full_answers_503(make_server):
    queue = 10
    credit = harness.worker_credit()
    s, port = start_pool_server(make_server, "queue", queueLength=str(queue))
    whoami(port)  # the worker is up: the credit/queue arithmetic starts from here
    extra = 5
    total = credit + queue + extra
    ms = int(3000 * harness.SCALE)
    conns = []
    try:
        for _ in range(total):
            c = RawConn(port, timeout=scaled(20))
            c.send(build_request("GET", "/x.wtest?op=sleep&ms=%d" % ms))
            conns.append(c)
        results = []
        for c in conns:
            results.append(c.read_response(timeout=scaled(20)))
    finally:
        for c in conns:
            c.close()
    ok = [r for r in results if r.status == 200]
    refused = [r for r in results if r.status == 503]
    other = [r for r in results if r.status not in (200, 503)]
    assert not other, other[:3]
    assert refused, "no 503 with %d concurrent sleeps, credit %d, queueLength %d" % (
        total, credit, queue)
    assert len(ok) >= credit + queue, (
        "only %d answered 200; the worker takes %d and the queue holds %d"
        % (len(ok), credit, queue))
    for r in ok:
        assert r.body == b"slept\n"
    for r in refused:
        problems = httpsys_problems(r, "ServiceUnavailable")
        assert not problems, (r, problems)
        assert r.header("Content-Length") == "326"
    # Each refusal has its HTTPERR line: reason QueueFull, the pool as
    # s-queuename (fields: ... cs-version cs-method cs-uri streamid sc-status
    # s-siteid s-reason s-queuename).
    line = r" HTTP/1\.1 GET /x\.wtest\?op=sleep&ms=%d - 503 1 QueueFull %s\r$" % (ms, POOL)
    s.wait_httperr(line)
    harness.wait_until(lambda: len(re.findall(line, s.httperr_text(), re.M)) == len(refused),
                       scaled(5), what="%d QueueFull lines in HTTPERR" % len(refused))
    # the pool works normally afterwards
    assert get(port, "/hello.txt").status == 200


def test_kill_worker_idle_keepalive_connection_survives(make_server):
    s, port = start_pool_server(make_server, "kill-idle")
    with RawConn(port, timeout=scaled(15)) as c:
        pid1, _ = whoami_on(c)
        time.sleep(scaled(0.2))  # the connection is idle: its response is long complete
        since = s.log_size()
        os.kill(pid1, signal.SIGKILL)
        wait_worker_exit_logged(s, pid1, since)
        assert c.is_open(0.3), "the listener closed an idle client connection of a dead worker"
        pid2, pool = whoami_on(c)  # same connection
    assert pid2 != pid1 and pool == POOL
    assert s.worker_pool_of(pid2) == POOL
    assert re.search(r"terminated unexpectedly\. The process id was '%d'.*exited on signal 9 "
                     r"\(Killed\)" % pid1, s.log_text()), s.log_tail()


@pytest.mark.slow
def test_kill_worker_in_flight_request_gets_502(make_server):
    s, port = start_pool_server(make_server, "kill-busy")
    pid1, _ = whoami(port)
    with RawConn(port, timeout=scaled(20)) as c:
        c.send(build_request("GET", "/x.wtest?op=sleep&ms=5000"))
        time.sleep(scaled(0.5))  # the worker has started it (it sleeps 5 s)
        t0 = time.monotonic()
        os.kill(pid1, signal.SIGKILL)
        r = c.read_response(timeout=scaled(10))
        assert time.monotonic() - t0 < scaled(4), "502 must come when the worker dies"
        assert r.status == 502, r
        assert POOL.encode() in r.body, "the 502 page must name the pool: %r" % r.body
        assert r.header("Content-Length") == str(len(r.body))
        # the connection stays usable
        pid2, pool = whoami_on(c)
    assert pid2 != pid1 and pool == POOL


def test_requests_right_after_kill_all_succeed(make_server):
    s, port = start_pool_server(make_server, "kill-burst")
    pid1, _ = whoami(port)
    os.kill(pid1, signal.SIGKILL)
    conns = []
    try:
        for i in range(5):
            c = RawConn(port, timeout=scaled(15))
            c.send(build_request("GET", "/x.wtest?op=whoami"))
            conns.append(c)
        results = [c.read_response(timeout=scaled(15)) for c in conns]
    finally:
        for c in conns:
            c.close()
    pids = set()
    for r in results:
        assert r.status == 200, r
        m = re.match(rb"pid=(\d+) uid=\d+ pool=(.*)\n", r.body)
        assert m and m.group(2).decode() == POOL, r.body
        pids.add(int(m.group(1)))
    assert pid1 not in pids, "a request was answered by the killed worker"
    assert len(pids) == 1, "one replacement worker expected, saw %r" % pids
    assert s.worker_pids(POOL) == list(pids)


def test_queued_requests_survive_worker_death(make_server):
    """A request that waits in the queue when the worker dies is served by the
    replacement (only executing requests are lost)."""
    credit = harness.worker_credit()
    s, port = start_pool_server(make_server, "kill-queued")
    pid1, _ = whoami(port)
    busy, queued = [], []
    try:
        for _ in range(credit):  # fill the worker's credit with long sleeps
            c = RawConn(port, timeout=scaled(20))
            c.send(build_request("GET", "/x.wtest?op=sleep&ms=%d" % int(8000 * harness.SCALE)))
            busy.append(c)
        time.sleep(scaled(0.5))
        for _ in range(3):
            c = RawConn(port, timeout=scaled(20))
            c.send(build_request("GET", "/x.wtest?op=whoami"))
            queued.append(c)
        time.sleep(scaled(0.3))
        os.kill(pid1, signal.SIGKILL)
        for c in queued:
            r = c.read_response(timeout=scaled(15))
            assert r.status == 200, r
            assert b"pool=%s" % POOL.encode() in r.body
            assert b"pid=%d " % pid1 not in r.body
        for c in busy:
            r = c.read_response(timeout=scaled(15))
            assert r.status == 502, r
    finally:
        for c in busy + queued:
            c.close()


def test_crash_gives_502_and_log_names_signal(make_server):
    s, port = start_pool_server(make_server, "crash")
    s.allow_deliberate_segv = harness.SANITIZED  # ASan reports the deliberate SIGSEGV
    pid1, _ = whoami(port)
    since = s.log_size()
    with RawConn(port, timeout=scaled(15)) as c:
        r = c.request("GET", "/x.wtest?op=crash")
        assert r.status == 502, r
        assert POOL.encode() in r.body
        m = wait_worker_exit_logged(s, pid1, since)
        log = s.log_text(since)
        line = re.search(r".*%s.*" % exit_event_re(POOL, pid1), log).group(0)
        if harness.SANITIZED and "AddressSanitizer: SEGV" in log:
            pass  # ASan turns the SIGSEGV into its report and exit status 1
        else:
            assert re.search(r"on signal 11 \((Segmentation fault|SIGSEGV)[^)]*\)", line), line
            assert "[error]" in line, "an unexpected worker exit is an error: %s" % line
        assert m
        # same connection, new worker
        pid2, pool = whoami_on(c)
    assert pid2 != pid1 and pool == POOL


def test_listener_killed_is_restarted_and_serves(make_server):
    """kill -9 of wasp-http: waspd restarts it within a second, with the same
    sockets (bound by waspd), and the pool's worker reconnects to it: the
    same process serves again, no new worker is started."""
    s, port = start_pool_server(make_server, "listener-respawn")
    assert get(port, "/hello.txt").status == 200
    worker, _ = whoami(port)
    old = s.listener_pid()
    t0 = time.monotonic()
    os.kill(old, signal.SIGKILL)
    s.wait_log(r"listener \(wasp-http, pid %d\) exited on signal 9" % old, timeout=scaled(5))
    harness.wait_until(lambda: s.listener_pid() not in (None, old), scaled(2),
                       what="a new wasp-http")
    assert time.monotonic() - t0 < scaled(1.5), "restarted within a second"
    s.wait_log(r"pool '%s': reconnected to the listener" % POOL, timeout=scaled(5))
    r = get(port, "/hello.txt")
    assert r.status == 200 and r.body == b"hello\n", r
    pid, pool = whoami(port)
    assert pool == POOL and pid == worker, "the worker reconnected (pid %d, was %d)" % (pid, worker)
    assert [p for p in s.children() if harness.proc_comm(p) == "wasp-http"] == \
        [s.listener_pid()], "exactly one listener"


def test_queue_wait_bounded_by_connection_timeout(make_server):
    """A request that waits in its pool's queue longer than the site's
    connectionTimeout is dropped without an answer (HTTP.sys' RequestQueue
    timer, HTTPERR Timer_AppPool). Set-up: the worker is stuck (op=hang) and
    holds its prefetch of requests it has not started, so the next one has
    to queue. Those held requests were never started (the stuck loop never
    read them): after the kill -9 they go to the replacement worker and
    succeed."""
    s = make_server("queue-timeout")
    port = s.port("main")
    s.pool(POOL)
    s.site("Pool Site", ["127.0.0.1:%d:" % port], [("/", POOL, "www")],
           extra_xml='<limits connectionTimeout="00:00:01" />')
    s.file("www/hello.txt", "hello\n")
    s.start()
    hung_pid, _ = whoami(port)
    held = harness.listener_prefetch()
    conns = [RawConn(port, timeout=scaled(30)) for _ in range(held + 2)]
    try:
        conns[0].send(build_request("GET", "/x.wtest?op=hang"))
        time.sleep(0.2)
        for c in conns[1:held + 1]:
            c.send(build_request("GET", "/hello.txt"))
        time.sleep(0.3)
        queued = conns[held + 1]
        queued.send(build_request("GET", "/hello.txt"))
        t0 = time.monotonic()
        assert queued.wait_closed(scaled(5)), "a request stuck in the queue must be dropped"
        assert 0.8 <= time.monotonic() - t0, "dropped before connectionTimeout"
        s.wait_httperr(r" GET /hello\.txt - - 1 Timer_AppPool %s\r$" % POOL,
                       timeout=scaled(3))
        os.kill(hung_pid, signal.SIGKILL)
        r0 = conns[0].read_response(timeout=scaled(10))
        assert r0.status == 502, r0
        for c in conns[1:held + 1]:
            r = c.read_response(timeout=scaled(10))
            assert r.status == 200 and r.body == b"hello\n", r
    finally:
        for c in conns:
            c.close()


def test_hung_garden_member_keeps_only_its_prefetch(make_server):
    """A worker never holds more than it executes plus a small prefetch: in a
    web garden, a member whose loop is blocked (op=hang, pings too slow to
    end it during the test) is given at most LSN_PREFETCH requests; every
    other request is served by its healthy sibling at once."""
    s, port, members = start_garden(make_server, "garden-hang", pingInterval="00:10:00")
    prefetch = harness.listener_prefetch()
    hang = RawConn(port, timeout=scaled(30))
    try:
        hang.send(build_request("GET", "/x.wtest?op=hang"))
        time.sleep(0.3)
        n = 3 * prefetch

        def one(i):
            try:
                return get(port, "/x.wtest?op=whoami", timeout=scaled(4))
            except OSError:
                return None
        results = harness.parallel(one, [(i,) for i in range(n)], timeout=scaled(30))
        served = [r for r in results if r is not None and r.status == 200]
        pids = {int(r.body.split(b"pid=")[1].split()[0]) for r in served}
        assert len(served) >= n - prefetch, (
            "%d of %d answered: the hung member holds more than its prefetch of %d"
            % (len(served), n, prefetch))
        assert len(pids) == 1 and pids <= set(members), pids
        hung = (set(members) - pids).pop()
    finally:
        hang.close()
    os.kill(hung, signal.SIGKILL)


def test_hung_worker_is_found_by_ping_and_replaced(make_server):
    """op=hang blocks the worker's event loop, as a deadlock would. The
    listener pings every pingInterval; after pingResponseTime without a PONG,
    waspd kills the worker (IIS event 5010). The request it was running gets
    502; the next ones are served by a new worker."""
    s = make_server("ping")
    port = s.port("main")
    s.pool(POOL, process_model={"pingInterval": "00:00:01", "pingResponseTime": "00:00:01"})
    s.site("Pool Site", ["127.0.0.1:%d:" % port], [("/", POOL, "www")])
    s.file("www/hello.txt", "hello\n")
    s.start()
    hung_pid, _ = whoami(port)
    # A healthy worker answers its pings: still the same one after 2.5 s.
    time.sleep(2.5)
    assert whoami(port)[0] == hung_pid
    with RawConn(port, timeout=scaled(20)) as c:
        c.send(build_request("GET", "/x.wtest?op=hang"))
        t0 = time.monotonic()
        r = c.read_response(timeout=scaled(20))
        waited = time.monotonic() - t0
    assert r.status == 502, r
    assert 1.0 <= waited <= scaled(6), "ping detection took %.1f s" % waited
    s.wait_log(r"failed to respond to a ping\. The process id was '%d'" % hung_pid,
               timeout=scaled(5))
    pid, _ = whoami(port)
    assert pid != hung_pid


def test_sigterm_to_worker_drains_it(make_server):
    """A worker told to stop (SIGTERM) says DRAIN: it finishes the request it
    runs, gets nothing new, exits 0; what arrives meanwhile waits in the
    queue and is served by its replacement."""
    s, port = start_pool_server(make_server, "worker-drain")
    old, _ = whoami(port)
    with RawConn(port, timeout=scaled(15)) as slow, RawConn(port, timeout=scaled(15)) as later:
        slow.send(build_request("GET", "/x.wtest?op=sleep&ms=1000"))
        time.sleep(0.3)
        os.kill(old, signal.SIGTERM)
        time.sleep(0.2)
        later.send(build_request("GET", "/x.wtest?op=whoami"))
        r1 = slow.read_response()
        r2 = later.read_response()
    assert r1.status == 200 and r1.body == b"slept\n", r1
    assert r2.status == 200, r2
    assert int(re.match(rb"pid=(\d+)", r2.body).group(1)) != old
    s.wait_log(r"process id of '%d' serving application pool '%s' exited with status 0"
               % (old, POOL), timeout=scaled(5))


def test_web_garden_spreads_requests(make_server):
    """processModel maxProcesses=2: the first request starts two workers,
    concurrent requests are spread over both (workers pull by credit), and a
    member that dies is replaced so the garden keeps its size."""
    s, port, members = start_garden(make_server, "garden")
    results = harness.parallel(
        lambda i: get(port, "/x.wtest?op=sleep&ms=300", timeout=scaled(10)),
        [(i,) for i in range(16)], timeout=scaled(20))
    pids = {int(r.header("X-Worker-Pid")) for r in results}
    assert all(r.status == 200 for r in results)
    assert pids == set(members), "requests went to %r, garden is %r" % (pids, members)
    os.kill(members[0], signal.SIGKILL)
    harness.wait_until(lambda: len(s.worker_pids()) == 2 and members[0] not in s.worker_pids(),
                       scaled(5), what="the garden back to two workers")
