"""
Application pools the way WAS runs them: recycling (overlapped and not)
under load, the recycle triggers (requests, memory, on demand, config
change), health (startup time limit, orphaning), rapid-fail protection with
a configurable window, administrator stop/start, idle shutdown and suspend,
AlwaysRunning, per-pool environment, worker hardening and isolation between
pools, the event log and the control socket.
"""
import mmap
import os
import re
import signal
import socket
import threading
import time

import pytest

import harness
from harness import RawConn, get, scaled, wait_until

POOL = "AppPool1"


def make_pool_server(make_server, name, pool=POOL, process_model=None, children="",
                     start=True, **attrs):
    s = make_server(name)
    port = s.port("main")
    s.pool(pool, process_model=process_model, children=children, **attrs)
    s.site("Pool Site", ["127.0.0.1:%d:" % port], [("/", pool, "www")])
    s.file("www/hello.txt", "hello\n")
    if start:
        s.start()
    return s, port


def whoami(port, conn=None):
    if conn is None:
        with RawConn(port) as c:
            return whoami(port, c)
    r = conn.request("GET", "/x.wtest?op=whoami")
    assert r.status == 200, r
    return int(re.match(rb"pid=(\d+)", r.body).group(1))


class Load:
    """Keep-alive clients asking /x.wtest?op=whoami as fast as they can,
    recording every status (an exception counts as a failure) and every
    worker pid that answered."""

    def __init__(self, port, clients=6):
        self.port = port
        self.clients = clients
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.statuses = {}
        self.failures = []
        self.pids = set()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(clients)]

    def run(self):
        conn = None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = RawConn(self.port, timeout=scaled(20))
                r = conn.request("GET", "/x.wtest?op=whoami")
                m = re.match(rb"pid=(\d+)", r.body)
                with self.lock:
                    self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
                    if m:
                        self.pids.add(int(m.group(1)))
                    if r.status != 200:
                        self.failures.append(repr(r))
            except Exception as e:  # a lost request is exactly what must not happen
                with self.lock:
                    self.failures.append("%s: %s" % (type(e).__name__, e))
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        for t in self.threads:
            t.join(scaled(30))

    @property
    def total(self):
        return sum(self.statuses.values())


# ---- recycling ---------------------------------------------------------------

@pytest.mark.slow
def test_overlapped_recycle_every_500ms_under_load_loses_nothing(make_server):
    s, port = make_pool_server(make_server, "recycle-load")
    whoami(port)
    recycles = 0
    with Load(port) as load:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.5)
            code, msg, _, progress = s.ctl("recycle-apppool", POOL)
            assert code == 0, (code, msg)
            recycles += 1
    assert not load.failures, "requests lost during recycling: %s" % load.failures[:5]
    assert load.statuses.get(200, 0) > 100, load.statuses
    # every recycle started a new worker, and the load saw most of them
    assert len(load.pids) >= recycles // 2, (len(load.pids), recycles)
    events = [e for e in s.events() if e[0] == 5079]
    assert len(events) == recycles, "one 5079 event per administrator recycle"
    assert len(s.worker_pids(POOL)) == 1, "the pool ends with exactly its one worker"
    assert max_concurrent_workers(s) == 2, "overlapped: the replacement runs beside the old one"


@pytest.mark.slow
def test_non_overlapped_recycle_under_load_waits_in_queue(make_server):
    s, port = make_pool_server(make_server, "recycle-nonoverlap",
                               children='<recycling disallowOverlappingRotation="true" />')
    whoami(port)
    with Load(port, clients=4) as load:
        for _ in range(6):
            time.sleep(0.5)
            code, msg, _, _ = s.ctl("recycle-apppool", POOL)
            assert code == 0, (code, msg)
    assert not load.failures, "requests lost during recycling: %s" % load.failures[:5]
    assert len(load.pids) >= 4, load.pids
    # Not overlapped: each old worker exits before its replacement starts.
    assert max_concurrent_workers(s) == 1, s.events()


def max_concurrent_workers(server):
    """The most workers alive at once, replayed from start (9001) and exit
    (9002, 5009) events."""
    alive, most = 0, 0
    for ev_id, _, _, _ in server.events():
        if ev_id == 9001:
            alive += 1
        elif ev_id in (9002, 5009):
            alive -= 1
        most = max(most, alive)
    return most


def test_recycle_returns_when_old_worker_is_gone(make_server):
    s, port = make_pool_server(make_server, "recycle-wait")
    old = whoami(port)
    code, msg, _, progress = s.ctl("recycle-apppool", POOL)
    assert code == 0 and msg == "recycled", (code, msg)
    assert not harness.proc_alive(old), "recycle answered before the old worker exited"
    assert any("%d" % old in p and "exited" in p for p in progress), progress
    new = whoami(port)
    assert new != old


def test_overlapped_recycle_lets_running_request_finish(make_server):
    s, port = make_pool_server(make_server, "recycle-inflight")
    old = whoami(port)
    with RawConn(port, timeout=scaled(20)) as slow:
        slow.send(harness.build_request("GET", "/x.wtest?op=sleep&ms=1500"))
        time.sleep(0.3)
        t = threading.Thread(target=lambda: s.ctl("recycle-apppool", POOL))
        t.start()
        # the replacement answers while the old one still finishes its request
        new = wait_until(lambda: (lambda p: p if p != old else None)(whoami(port)),
                         scaled(5), what="the replacement to answer")
        assert harness.proc_alive(old), "the old worker must finish what it holds"
        r = slow.read_response(timeout=scaled(10))
        assert r.status == 200, r
        t.join(scaled(10))
    assert new != old


def test_requests_limit_recycles(make_server):
    s, port = make_pool_server(make_server, "recycle-requests",
                               children='<recycling><periodicRestart requests="5" />'
                                        '</recycling>')
    pids = []
    with RawConn(port) as c:
        # The fifth response asks for the recycle; the old worker keeps
        # serving until its replacement runs, then every request goes there.
        deadline = time.monotonic() + scaled(5)
        while time.monotonic() < deadline and len(set(pids)) < 2:
            pids.append(whoami(port, c))
            time.sleep(0.01)
    assert len(set(pids)) == 2 and pids[:5] == [pids[0]] * 5, pids
    wait_until(lambda: not harness.proc_alive(pids[0]), scaled(5), what="the old worker to exit")
    s.wait_log(r"event 5075: .*has requested a recycle because it reached its allowed request "
               r"limit", timeout=scaled(5))


def test_private_memory_limit_recycles(make_server):
    s, port = make_pool_server(make_server, "recycle-memory",
                               children='<recycling><periodicRestart privateMemory="102400" />'
                                        '</recycling>')
    old = whoami(port)
    r = get(port, "/x.wtest?op=grow&mb=150")
    assert r.status == 200, r
    wait_until(lambda: not harness.proc_alive(old), scaled(10), what="memory recycle")
    assert whoami(port) != old
    ev = [e for e in s.events() if e[0] == 5117]
    assert ev and ev[0][2] == old, s.events()


def test_config_change_recycles_and_applies_live(make_server):
    s, port = make_pool_server(make_server, "config-change")
    old = whoami(port)
    # a second pool and application appear, and the first pool changes
    port2 = s.port("second")
    s.pools[0] = (POOL, {"queueLength": 500}, s.pools[0][2], "")
    s.pool("LivePool")
    s.site("Live Site", ["127.0.0.1:%d:" % port2], [("/", "LivePool", "www2")])
    s.file("www2/live.txt", "live\n")
    s.write_config()
    wait_until(lambda: not harness.proc_alive(old), scaled(10), what="config-change recycle")
    s.wait_log(r"event 5080: The worker processes serving application pool '%s'" % POOL,
               timeout=scaled(5))
    r = get(port2, "/live.txt")
    assert r.status == 200 and r.body == b"live\n", r
    assert whoami(port) != old


def test_disallow_rotation_on_config_change(make_server):
    s, port = make_pool_server(make_server, "config-norotate",
                               children='<recycling disallowRotationOnConfigChange="true" />')
    old = whoami(port)
    s.pools[0] = (POOL, {"queueLength": 500}, s.pools[0][2], s.pools[0][3])
    s.write_config()
    s.wait_log(r"configuration applied: 0 pool\(s\) added, 1 changed", timeout=scaled(5))
    time.sleep(0.5)
    assert harness.proc_alive(old) and whoami(port) == old


def test_bad_config_change_keeps_running_config(make_server):
    s, port = make_pool_server(make_server, "config-bad")
    old = whoami(port)
    with open(s.config_path) as f:
        good = f.read()
    with open(s.config_path, "w") as f:
        f.write(good.replace('queueLength', 'queueLength="5" x', 1) if 'queueLength' in good
                else good.replace("<add name=\"%s\"" % POOL,
                                  "<add name=\"%s\" queueLength=\"5\"" % POOL))
    s.wait_log(r"event 9006: The configuration was not applied: .*applicationHost\.config:\d+",
               timeout=scaled(5))
    assert whoami(port) == old, "a bad file must not disturb the running pool"


# ---- administrator stop / start, rapid-fail ------------------------------------

def test_stop_and_start_apppool(make_server):
    s, port = make_pool_server(make_server, "stop-start")
    old = whoami(port)
    code, msg, _, _ = s.ctl("stop-apppool", POOL)
    assert (code, msg) == (0, "stopped")
    assert not harness.proc_alive(old)
    r = get(port, "/hello.txt")
    assert r.status == 503 and "Application pool '%s' is stopped (Disabled" % POOL in r.text, r
    s.wait_httperr(r" GET /hello\.txt - 503 1 Disabled %s\r$" % POOL)
    code, out, text, _ = s.ctl("state")
    assert "pool\t%s\tStopped\tDisabled" % POOL in text, text
    assert s.ctl("start-apppool", POOL)[0] == 0
    assert get(port, "/hello.txt").status == 200


def assert_rapid_fail_stopped(s, port):
    """Rapid-fail protection stopped POOL: event 5002, then 503 AppOffline
    with a page naming the pool and the reason, and its HTTPERR line."""
    s.wait_log(r"event 5002: Application pool '%s' is being automatically disabled" % POOL,
               timeout=scaled(5))
    r = get(port, "/hello.txt")
    assert r.status == 503, r
    assert "Application pool '%s' is stopped (AppOffline: rapid-fail protection" % POOL \
        in r.text, r.text
    s.wait_httperr(r" GET /hello\.txt - 503 1 AppOffline %s\r$" % POOL)


def test_rapid_fail_configurable_then_start_apppool(make_server):
    marker = "/tmp/wasp-autoshutdown-%d" % os.getpid()
    if os.path.exists(marker):
        os.unlink(marker)
    s, port = make_pool_server(
        make_server, "rapid-fail",
        children='<failure rapidFailProtectionMaxCrashes="2" '
                 'rapidFailProtectionInterval="00:01:00" autoShutdownExe="/bin/sh" '
                 'autoShutdownParams="-c &quot;echo stopped > %s&quot;" />' % marker)
    s.allow_deliberate_segv = harness.SANITIZED
    for _ in range(2):
        r = get(port, "/x.wtest?op=crash")
        assert r.status == 502, r
    assert_rapid_fail_stopped(s, port)
    assert "waspctl start apppool" in s.log_text(), "the event says how to recover"
    wait_until(lambda: os.path.exists(marker), scaled(5), what="autoShutdownExe to run")
    os.unlink(marker)
    code, msg, _, _ = s.ctl("start-apppool", POOL)
    assert code == 0, msg
    assert get(port, "/hello.txt").status == 200


def test_rapid_fail_protection_off(make_server):
    s, port = make_pool_server(make_server, "rapid-fail-off",
                               children='<failure rapidFailProtection="false" '
                                        'rapidFailProtectionMaxCrashes="1" />')
    s.allow_deliberate_segv = harness.SANITIZED
    for _ in range(3):
        assert get(port, "/x.wtest?op=crash").status == 502
    assert get(port, "/hello.txt").status == 200
    assert not [e for e in s.events() if e[0] == 5002]


def test_tcp_level_closes_instead_of_503(make_server):
    s, port = make_pool_server(make_server, "tcp-level",
                               children='<failure loadBalancerCapabilities="TcpLevel" />')
    whoami(port)
    assert s.ctl("stop-apppool", POOL)[0] == 0
    with RawConn(port) as c:
        c.send(harness.build_request("GET", "/hello.txt"))
        assert c.wait_closed(scaled(5)), "TcpLevel: closed without a byte: %r" % c.buf
    s.wait_httperr(r" GET /hello\.txt - - 1 Disabled %s\r$" % POOL)


@pytest.mark.slow
def test_tcp_level_closes_instead_of_503_when_queue_full(make_server):
    """TcpLevel on a full queue: the requests beyond the worker's credit and
    queueLength get their connection closed without a byte, not a 503 (the
    arithmetic of test_pool.py's test_queue_full_answers_503)."""
    queue = 10
    credit = harness.worker_credit()
    s, port = make_pool_server(make_server, "tcp-level-queue", queueLength=str(queue),
                               children='<failure loadBalancerCapabilities="TcpLevel" />')
    whoami(port)  # the worker is up: the credit/queue arithmetic starts from here
    total = credit + queue + 5
    ms = int(3000 * harness.SCALE)
    conns, ok, closed, other = [], [], [], []
    try:
        for _ in range(total):
            c = RawConn(port, timeout=scaled(20))
            c.send(harness.build_request("GET", "/x.wtest?op=sleep&ms=%d" % ms))
            conns.append(c)
        for c in conns:
            try:
                r = c.read_response(timeout=scaled(20))
            except harness.ResponseError:
                assert c.eof and c.buf == b"", "TcpLevel: closed without a byte: %r" % c.buf
                closed.append(c)
                continue
            (ok if r.status == 200 else other).append(r)
    finally:
        for c in conns:
            c.close()
    assert not other, other[:3]
    assert closed, "no connection closed with %d concurrent sleeps, credit %d, queueLength %d" % (
        total, credit, queue)
    assert len(ok) >= credit + queue, (
        "only %d answered 200; the worker takes %d and the queue holds %d"
        % (len(ok), credit, queue))
    assert all(r.body == b"slept\n" for r in ok)
    s.wait_httperr(r" GET /x\.wtest\S* - - 1 QueueFull %s\r$" % POOL)
    assert " 503 1 QueueFull " not in s.httperr_text(), "TcpLevel never answers 503"
    assert get(port, "/hello.txt").status == 200


# ---- health --------------------------------------------------------------------

def test_startup_time_limit_kills_and_counts(make_server):
    s, port = make_pool_server(
        make_server, "startup-limit", process_model={"startupTimeLimit": "00:00:01"},
        children='<failure rapidFailProtectionMaxCrashes="2" />'
                 '<environmentVariables><add name="WASP_TEST_INIT_SLEEP_MS" value="5000" />'
                 '</environmentVariables>')
    with RawConn(port, timeout=scaled(20)) as c:
        c.send(harness.build_request("GET", "/hello.txt"))
        r = c.read_response(timeout=scaled(15))
    # two starts time out (event each), then rapid-fail stops the pool: 503
    assert r.status == 503, r
    ids = [e[0] for e in s.events()]
    assert ids.count(5012) == 2, s.events()
    assert 5002 in ids


@pytest.mark.slow
def test_pinging_disabled_leaves_a_hung_worker_alone(make_server):
    """processModel pingingEnabled="false": nobody pings, so a worker whose
    loop is blocked (op=hang) is not killed, however short pingInterval and
    pingResponseTime are (with pings it is killed within about 2 s: test_pool.py
    test_hung_worker_is_found_by_ping_and_replaced)."""
    s, port = make_pool_server(make_server, "no-pings",
                               process_model={"pingingEnabled": "false",
                                              "pingInterval": "00:00:01",
                                              "pingResponseTime": "00:00:01"})
    pid = whoami(port)
    with RawConn(port, timeout=scaled(20)) as c:
        c.send(harness.build_request("GET", "/x.wtest?op=hang"))
        time.sleep(5)  # five ping intervals
        assert harness.proc_alive(pid), "the hung worker was killed: %s" % s.events()
        assert s.worker_pids(POOL) == [pid], "and it was not replaced"
        assert c.is_open(), "the hung request got an answer: %r" % c.buf
        assert not [e for e in s.events() if e[0] == 5010], s.events()
        os.kill(pid, signal.SIGKILL)
        r = c.read_response(timeout=scaled(10))
    assert r.status == 502, r


def test_ping_failures_count_toward_rapid_fail(make_server):
    """A worker killed for failing its pings is a failure for rapid-fail
    protection, as a crash is: two in a row with rapidFailProtectionMaxCrashes
    2 stop the pool, and the listener answers 503 AppOffline."""
    s, port = make_pool_server(
        make_server, "ping-rapid-fail",
        process_model={"pingInterval": "00:00:01", "pingResponseTime": "00:00:01"},
        children='<failure rapidFailProtectionMaxCrashes="2" '
                 'rapidFailProtectionInterval="00:01:00" />')
    hung = []
    for _ in range(2):
        pid = whoami(port)
        hung.append(pid)
        with RawConn(port, timeout=scaled(20)) as c:
            c.send(harness.build_request("GET", "/x.wtest?op=hang"))
            r = c.read_response(timeout=scaled(20))
        assert r.status == 502, r
        s.wait_log(r"failed to respond to a ping\. The process id was '%d'" % pid,
                   timeout=scaled(5))
    assert hung[0] != hung[1], "the second hang was in the replacement"
    assert_rapid_fail_stopped(s, port)
    ids = [e[0] for e in s.events()]
    assert ids.count(5010) == 2 and 5009 not in ids, s.events()
    assert s.worker_pids(POOL) == []


def test_orphan_worker_process(make_server):
    marker = "/tmp/wasp-orphan-%d" % os.getpid()
    if os.path.exists(marker):
        os.unlink(marker)
    s, port = make_pool_server(
        make_server, "orphan",
        process_model={"pingInterval": "00:00:01", "pingResponseTime": "00:00:01"},
        children='<failure orphanWorkerProcess="true" orphanActionExe="/bin/sh" '
                 'orphanActionParams="-c &quot;echo %%1%% > %s&quot;" />' % marker)
    hung = whoami(port)
    with RawConn(port, timeout=scaled(5)) as c:
        c.send(harness.build_request("GET", "/x.wtest?op=hang"))
        s.wait_log(r"worker pid %d is orphaned" % hung, timeout=scaled(10))
    assert harness.proc_alive(hung), "an orphaned worker is left running"
    wait_until(lambda: os.path.exists(marker), scaled(5), what="orphanActionExe")
    with open(marker) as f:
        assert f.read().strip() == str(hung)
    os.unlink(marker)
    assert whoami(port) != hung, "a replacement serves the pool"
    os.kill(hung, 9)  # ours to clean up, as the log line says


def test_always_running_starts_with_waspd(make_server):
    s, port = make_pool_server(make_server, "always", startMode="AlwaysRunning")
    pid = s.wait_worker(POOL, timeout=scaled(5))
    assert pid
    assert whoami(port) == pid


def test_autostart_false_pool_is_stopped(make_server):
    s, port = make_pool_server(make_server, "autostart-false", autoStart="false")
    r = get(port, "/hello.txt")
    assert r.status == 503, r
    assert s.worker_pids(POOL) == []


# ---- identity and isolation ------------------------------------------------------

def test_worker_environment_is_the_pools_own(make_server):
    os.environ["WASP_SECRET_OF_WASPD"] = "leak"
    try:
        s, port = make_pool_server(
            make_server, "pool-env",
            children='<environmentVariables><add name="GREETING" value="hello pool" />'
                     '</environmentVariables>')
    finally:
        del os.environ["WASP_SECRET_OF_WASPD"]
    assert get(port, "/x.wtest?op=env&name=GREETING").body == b"hello pool\n"
    assert get(port, "/x.wtest?op=env&name=APP_POOL_ID").body == POOL.encode() + b"\n"
    assert get(port, "/x.wtest?op=env&name=WASP_SECRET_OF_WASPD").body == b"(unset)\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="per-pool users need root")
def test_worker_has_no_privileges(make_server):
    s, port = make_pool_server(make_server, "hardening")
    body = get(port, "/x.wtest?op=status").body.decode()
    assert re.search(r"NoNewPrivs:\s+1", body), body
    for cap in ("CapEff", "CapPrm", "CapAmb"):
        assert re.search(r"%s:\s+0+\n" % cap, body), body
    assert re.search(r"Groups:\s*\n", body), body


@pytest.mark.skipif(os.geteuid() != 0, reason="per-pool users need root")
def test_pool_user_cannot_reach_other_pool(make_server):
    s = make_server("isolation")
    pa, pb = s.port("a"), s.port("b")
    s.pool("PoolA")
    s.pool("PoolB", children='<environmentVariables><add name="DB_PASSWORD" value="b-secret" />'
                             '</environmentVariables>')
    s.site("Site A", ["127.0.0.1:%d:" % pa], [("/", "PoolA", "wwwa")])
    s.site("Site B", ["127.0.0.1:%d:" % pb], [("/", "PoolB", "wwwb")])
    s.file("wwwa/a.txt", "a\n")
    s.start()
    os.chmod(s.config_path, 0o600)  # workers read their pool's copy, not this file
    assert get(pa, "/a.txt").status == 200
    copy_a = os.path.join(s.rundir, "pools", "PoolA.config")
    copy_b = os.path.join(s.rundir, "pools", "PoolB.config")
    with open(copy_a) as f:
        text_a = f.read()
    with open(s.config_path) as f:
        original = f.read()
    assert "b-secret" not in text_a and "b-secret" in original
    assert text_a.count("\n") == original.count("\n"), "line numbers stay the original's"
    assert oct(os.stat(copy_a).st_mode & 0o777) == "0o600"
    assert get(pa, "/x.wtest?op=env&name=DB_PASSWORD").body == b"(unset)\n"
    uid_a = os.stat(os.path.join(s.rundir, "pools", "PoolA.sock")).st_uid
    uid_b = os.stat(os.path.join(s.rundir, "pools", "PoolB.sock")).st_uid
    assert uid_a != uid_b and 0 not in (uid_a, uid_b)
    rfd, wfd = os.pipe()
    child = os.fork()
    if child == 0:  # become pool A's user and try pool B's channel and waspd's files
        os.close(rfd)
        result = []
        try:
            os.setgroups([])
            os.setgid(uid_a if False else os.stat(os.path.join(s.rundir, "pools",
                                                               "PoolA.sock")).st_gid)
            os.setuid(uid_a)
            try:
                open(copy_b).read()
                result.append("read-copy-b")
            except PermissionError:
                result.append("refused")
            for path in (os.path.join(s.rundir, "pools", "PoolB.sock"),
                         os.path.join(s.rundir, "control.sock")):
                sk = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                try:
                    sk.connect(path)
                    result.append("connected:" + os.path.basename(path))
                except PermissionError:
                    result.append("refused")
                finally:
                    sk.close()
            try:
                open(os.path.join(s.rundir, "events.log")).read()
                result.append("read-events")
            except PermissionError:
                result.append("refused")
        except Exception as e:
            result.append("error:%r" % e)
        os.write(wfd, ",".join(result).encode())
        os._exit(0)
    os.close(wfd)
    os.waitpid(child, 0)
    with os.fdopen(rfd) as f:
        result = f.read()
    assert result == "refused,refused,refused,refused", result


# ---- events and the control socket --------------------------------------------------

def test_event_log_records_start_and_exit_with_ids(make_server):
    s, port = make_pool_server(make_server, "events")
    pid = whoami(port)
    assert s.ctl("recycle-apppool", POOL)[0] == 0
    ids = [(e[0], e[2]) for e in s.events()]
    assert (9001, pid) in ids, ids
    assert (9002, pid) in ids, ids
    assert any(i == 5079 for i, _ in ids), ids
    code, _, text, _ = s.ctl("events", "2")
    assert code == 0 and len(text.splitlines()) == 2, text


def test_state_lists_pools_workers_sites(make_server):
    s, port = make_pool_server(make_server, "state")
    pid = whoami(port)
    code, _, text, _ = s.ctl("state")
    assert code == 0
    assert "pool\t%s\tStarted\t" % POOL in text, text
    assert re.search(r"wp\t%d\t%s\tRunning\t\d{13}\t" % (pid, POOL), text), text
    assert "site\t1\tPool Site\tStarted" in text, text


def test_unknown_pool_and_command(make_server):
    s, port = make_pool_server(make_server, "ctl-errors")
    code, msg, _, _ = s.ctl("recycle-apppool", "Nope")
    assert code == 3 and 'Cannot find APPPOOL object with identifier "Nope"' in msg
    assert s.ctl("frobnicate")[0] == 2


def test_stopped_site_sharing_a_port_answers_404(make_server):
    s = make_server("site-stop-shared")
    port = s.port("main")
    s.pool(POOL)
    s.site("Site A", ["127.0.0.1:%d:a.example" % port], [("/", POOL, "wwwa")])
    s.site("Site B", ["127.0.0.1:%d:b.example" % port], [("/", POOL, "wwwb")])
    s.file("wwwa/x.txt", "a\n")
    s.file("wwwb/x.txt", "b\n")
    s.start()
    assert s.ctl("stop-site", "Site A")[0] == 0
    r = harness.request(port, "GET", "/x.txt", host="a.example")
    assert r.status == 404 and harness.httpsys_match(r, "NotFound"), r
    assert harness.request(port, "GET", "/x.txt", host="b.example").body == b"b\n"
    code, _, text, _ = s.ctl("state")
    assert "site\t1\tSite A\tStopped" in text and "site\t2\tSite B\tStarted" in text


def test_stop_and_start_site(make_server):
    s, port = make_pool_server(make_server, "site-stop")
    assert get(port, "/hello.txt").status == 200
    assert s.ctl("stop-site", "Pool Site")[0] == 0
    # the only site on its port: HTTP.sys no longer listens there
    wait_until(lambda: harness.connect_refused(port), scaled(5), what="the port to close")
    assert s.ctl("start-site", "Pool Site")[0] == 0
    assert get(port, "/hello.txt").status == 200


def test_list_requests_shows_stage_and_module(make_server):
    s, port = make_pool_server(make_server, "requests")
    pid = whoami(port)
    with RawConn(port, timeout=scaled(10)) as c:
        c.send(harness.build_request("GET", "/x.wtest?op=sleep&ms=1500"))
        time.sleep(0.4)
        code, _, text, _ = s.ctl("requests", "100")
        assert code == 0
        r = c.read_response()
        assert r.status == 200
    m = re.search(r"req\t%s\t%d\t1\t(\d+)\t127\.0\.0\.1\tGET\t/x\.wtest\?op=sleep&ms=1500\t"
                  r"ExecuteRequestHandler\tTestModule" % (POOL, pid), text)
    assert m, text
    assert int(m.group(1)) >= 300
    code, _, text, _ = s.ctl("requests", "100")
    assert text == "", "nothing in flight any more: %r" % text


def test_listener_death_mid_request_worker_reconnects(make_server):
    s, port = make_pool_server(make_server, "listener-mid-request")
    worker = whoami(port)
    with RawConn(port, timeout=scaled(10)) as c:
        c.send(harness.build_request("GET", "/x.wtest?op=sleep&ms=800"))
        time.sleep(0.3)
        os.kill(s.listener_pid(), 9)
        assert c.wait_closed(scaled(5)), "its client connection died with the listener"
    s.wait_log(r"pool '%s': lost the listener; aborting 1 request\(s\)" % POOL,
               timeout=scaled(5))
    s.wait_log(r"pool '%s': reconnected to the listener" % POOL, timeout=scaled(10))
    assert whoami(port) == worker


@pytest.mark.slow
def test_minute_timers_idle_suspend_time_and_schedule(make_server):
    """The settings IIS counts in whole minutes, in one run of about a
    minute: idleTimeout (Terminate and Suspend), periodicRestart/@time,
    periodicRestart/schedule, and idleTimeout 0 (never)."""
    s = make_server("minute-timers")
    now = time.time()
    at = (int(now + 10) // 60 + 1) * 60  # the next whole minute at least 10 s away
    hhmm = time.strftime("%H:%M:00", time.localtime(at))
    pools = {
        "IdlePool": dict(process_model={"idleTimeout": "00:01:00"}),
        "SuspendPool": dict(process_model={"idleTimeout": "00:01:00",
                                           "idleTimeoutAction": "Suspend",
                                           "pingInterval": "00:00:01",
                                           "pingResponseTime": "00:00:02"}),
        "TimePool": dict(children='<recycling><periodicRestart time="00:01:00" />'
                                  '</recycling>'),
        "SchedulePool": dict(children='<recycling><periodicRestart time="00:00:00">'
                                      '<schedule><add value="%s" /></schedule>'
                                      '</periodicRestart></recycling>' % hhmm),
        "NeverIdle": dict(process_model={"idleTimeout": "00:00:00"}),
        # 10 % of the machine over a minute; the test burns more than that
        "CpuPool": dict(children='<cpu limit="10000" action="KillW3wp" '
                                 'resetInterval="00:01:00" />'),
    }
    ports = {}
    for name, kw in pools.items():
        s.pool(name, **kw)
        ports[name] = s.port(name)
        s.site(name + " Site", ["127.0.0.1:%d:" % ports[name]], [("/", name, "www")])
    s.start()
    first = {name: whoami(ports[name]) for name in pools}
    cpus = os.cpu_count()
    burn_ms = int(60000 * cpus * 0.10 * 1.3)  # 30 % over the limit
    assert get(ports["CpuPool"], "/x.wtest?op=spin&ms=%d" % burn_ms,
               timeout=scaled(60)).status == 200

    def proc_state(pid):
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return None

    def done():
        ev = s.events()
        return (any(e[0] == 5186 and e[1] == "IdlePool" for e in ev)
                and any(e[0] == 5186 and e[1] == "SuspendPool" for e in ev)
                and any(e[0] == 5074 and e[1] == "TimePool" for e in ev)
                and any(e[0] == 5076 and e[1] == "SchedulePool" for e in ev)
                and any(e[0] == 9007 and e[1] == "CpuPool" for e in ev))
    wait_until(done, max(at - time.time(), 60) + scaled(25), interval=1,
               what="idle, suspend, time and schedule events")
    wait_until(lambda: not harness.proc_alive(first["IdlePool"]), scaled(10),
               what="the idle worker to exit")
    assert proc_state(first["SuspendPool"]) == "T", "a suspended worker is stopped (SIGSTOP)"
    time.sleep(3)  # longer than pingResponseTime: a suspended worker is not pinged
    assert harness.proc_alive(first["SuspendPool"])
    assert whoami(ports["SuspendPool"]) == first["SuspendPool"], "resumed, not replaced"
    assert proc_state(first["SuspendPool"]) in ("S", "R")
    assert whoami(ports["IdlePool"]) != first["IdlePool"], "started again on demand"
    assert whoami(ports["TimePool"]) != first["TimePool"]
    assert whoami(ports["SchedulePool"]) != first["SchedulePool"]
    assert whoami(ports["NeverIdle"]) == first["NeverIdle"], "idleTimeout 0: never idle"
    wait_until(lambda: not harness.proc_alive(first["CpuPool"]), scaled(10),
               what="KillW3wp to stop the worker over its cpu limit")
    assert whoami(ports["CpuPool"]) != first["CpuPool"]
    # 5186 names the configured minutes, as IIS' message does
    assert any(e[0] == 5186 and "was set to 1 minutes" in e[3] for e in s.events())


def test_cpu_throttle_capped_or_reason_logged(make_server):
    s, port = make_pool_server(make_server, "cpu-throttle",
                               children='<cpu limit="25000" action="Throttle" />')
    pid = whoami(port)
    log = s.log_text()
    m = re.search(r"pool '%s': CPU capped through (\S+/cpu\.max) \((\d+) 100000\)" % POOL, log)
    if m:  # a machine with a usable cgroup v2 cpu controller
        with open(m.group(1)) as f:
            assert f.read().split()[0] == m.group(2)
        with open("/proc/%d/cgroup" % pid) as f:
            assert "wasp-pool-" in f.read()
    else:
        assert re.search(r"pool '%s': cpu limit 25000 \(Throttle\) is not enforced: .+; the "
                         r"pool runs without a CPU cap" % POOL, log), s.log_tail()


@pytest.mark.skipif(os.geteuid() != 0, reason="identities need root")
def test_specific_user_identity(make_server):
    import pwd
    import subprocess
    user = "wasp-it-specific"
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--shell", "/usr/sbin/nologin", user], check=True)
        pw = pwd.getpwnam(user)
    s, port = make_pool_server(make_server, "specific-user",
                               process_model={"identityType": "SpecificUser",
                                              "userName": user})
    body = get(port, "/x.wtest?op=whoami").body.decode()
    assert "uid=%d " % pw.pw_uid in body, body
    assert get(port, "/x.wtest?op=env&name=USER").body == user.encode() + b"\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="identities need root")
def test_local_system_needs_opt_in(make_server):
    s, port = make_pool_server(make_server, "localsystem-refused",
                               process_model={"identityType": "LocalSystem"})
    assert "uid=0 " not in get(port, "/x.wtest?op=whoami").body.decode()
    assert re.search(r"identityType=\"LocalSystem\" \(root\); it runs as its own unprivileged "
                     r"user instead\. Start waspd with --allow-localsystem", s.log_text())
    s.stop()
    s2, port2 = make_pool_server(make_server, "localsystem-allowed",
                                 process_model={"identityType": "LocalSystem"}, start=False)
    s2.extra_args = ["--allow-localsystem"]
    s2.start()
    assert "uid=0 " in get(port2, "/x.wtest?op=whoami").body.decode()
    assert re.search(r"runs as root \(identityType=\"LocalSystem\", allowed by "
                     r"--allow-localsystem\)", s2.log_text())


def test_httpsys_parameters_raise_header_limits(make_server):
    big_cookie = "c=" + "x" * 20000  # over the default MaxFieldLength / MaxRequestBytes
    s, port = make_pool_server(make_server, "httpsys-default")
    r = get(port, "/hello.txt", headers={"Cookie": big_cookie})
    assert r.status == 400, r
    s2, port2 = make_pool_server(make_server, "httpsys-raised", start=False)
    s2.extra_sections = ['<wasp><httpSys MaxFieldLength="32768" MaxRequestBytes="49152" />'
                         '</wasp>']
    s2.start()
    r = get(port2, "/hello.txt", headers={"Cookie": big_cookie})
    assert r.status == 200 and r.body == b"hello\n", r
    r = get(port2, "/hello.txt", headers={"Cookie": big_cookie + "y" * 20000})
    assert r.status == 400 and harness.httpsys_match(r, "FieldLength"), r


def test_events_reach_journald_native_protocol(make_server):
    """journald's native protocol (KEY=value lines in one datagram), received
    on a socket of our own named by WASP_JOURNAL_SOCKET: the fields an
    administrator filters on with journalctl."""
    path = "/tmp/wasp-journal-%d.sock" % os.getpid()
    if os.path.exists(path):
        os.unlink(path)
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(path)
    os.chmod(path, 0o666)
    rx.settimeout(scaled(5))
    os.environ["WASP_JOURNAL_SOCKET"] = path
    try:
        s, port = make_pool_server(make_server, "journald")
    finally:
        del os.environ["WASP_JOURNAL_SOCKET"]
    try:
        pid = whoami(port)
        fields = None
        while fields is None or fields.get("WASP_EVENT_ID") != "9001":
            fields = dict(l.split("=", 1) for l in rx.recv(4096).decode().splitlines())
        assert fields["SYSLOG_IDENTIFIER"] == "waspd"
        assert fields["WASP_POOL"] == POOL and fields["WASP_PID"] == str(pid)
        assert fields["PRIORITY"] == "6"
        assert "serving application pool '%s' was started" % POOL in fields["MESSAGE"]
    finally:
        rx.close()
        os.unlink(path)


def test_windows_only_settings_are_accepted_and_reported(make_server):
    """Every Windows-only setting away from its default is named once at
    start; identityType NetworkService runs as the pool's own user, as
    ApplicationPoolIdentity does, and says so."""
    import pwd
    s, port = make_pool_server(
        make_server, "windows-only", enable32BitAppOnWin64="true",
        process_model={"logonType": "LogonService", "manualGroupMembership": "true",
                       "requestQueueDelegatorIdentity": "CONTOSO\\delegator",
                       "identityType": "NetworkService"},
        children='<cpu processorGroup="1" numaNodeAssignment="WindowsScheduling" '
                 'numaNodeAffinityMode="Hard" />')
    assert get(port, "/hello.txt").status == 200
    log = s.log_text()
    reports = re.findall(r"pool '%s': (.+) are Windows-only: accepted, without effect on Linux"
                         % POOL, log)
    assert len(reports) == 1, log
    assert reports[0].split(", ") == [
        "enable32BitAppOnWin64", "processModel/@logonType",
        "processModel/@manualGroupMembership", "processModel/@requestQueueDelegatorIdentity",
        "cpu/@processorGroup", "cpu/@numaNodeAssignment", "cpu/@numaNodeAffinityMode"], log
    assert re.search(r"pool '%s': processModel/@identityType=\"NetworkService\" is a Windows "
                     r"account: accepted, and run like ApplicationPoolIdentity \(the pool's own "
                     r"user\)" % POOL, log), log
    uid = (pwd.getpwnam("wasp-pool-" + POOL.lower()).pw_uid if harness.IS_ROOT
           else os.getuid())
    body = get(port, "/x.wtest?op=whoami").body.decode()
    assert "uid=%d " % uid in body, body


def test_windows_only_defaults_are_not_reported(make_server):
    """The defaults written out (as IIS Manager writes them) are not
    Windows-only settings in use: nothing is reported."""
    s, port = make_pool_server(
        make_server, "windows-only-defaults", enable32BitAppOnWin64="false",
        process_model={"logonType": "LogonBatch", "manualGroupMembership": "false",
                       "requestQueueDelegatorIdentity": "", "identityType":
                       "ApplicationPoolIdentity"},
        children='<cpu processorGroup="0" numaNodeAssignment="MostAvailableMemory" '
                 'numaNodeAffinityMode="Soft" />')
    assert get(port, "/hello.txt").status == 200
    log = s.log_text()
    assert "Windows-only" not in log and "Windows account" not in log, log


def test_log_event_on_recycle_filters_events(make_server):
    s, port = make_pool_server(make_server, "recycle-log-filter",
                               children='<recycling logEventOnRecycle="Time, Memory" />')
    whoami(port)
    assert s.ctl("recycle-apppool", POOL)[0] == 0
    ids = [e[0] for e in s.events()]
    assert 5079 not in ids, "OnDemand is not in logEventOnRecycle"
    assert ids.count(9001) == 2, "the recycle itself still happened"


def test_virtual_memory_limit_recycles(make_server):
    # 1 MB of virtual memory: every worker is over it at once, so the pool
    # recycles (event 5077) as soon as a worker runs.
    s, port = make_pool_server(make_server, "recycle-vm",
                               children='<recycling><periodicRestart memory="1024" />'
                                        '</recycling>')
    first = whoami(port)
    s.wait_log(r"event 5077: A worker process with process id of '%d' serving application "
               r"pool '%s' has requested a recycle because it reached its virtual memory limit"
               % (first, POOL), timeout=scaled(5))
    assert get(port, "/hello.txt").status == 200


def test_smp_affinity_pins_workers(make_server):
    s, port = make_pool_server(make_server, "affinity",
                               children='<cpu smpAffinitized="true" '
                                        'smpProcessorAffinityMask="1" />')
    pid = whoami(port)
    with open("/proc/%d/status" % pid) as f:
        allowed = re.search(r"Cpus_allowed_list:\s*(\S+)", f.read()).group(1)
    assert allowed == "0", allowed


def cpu_list(text):
    """The CPUs of a kernel CPU list ("0-3,6")."""
    cpus = set()
    for part in text.strip().split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def allowed_cpus(pid="self"):
    with open("/proc/%s/status" % pid) as f:
        return cpu_list(re.search(r"Cpus_allowed_list:\s*(\S+)", f.read()).group(1))


def test_smp_mask_naming_no_online_cpu_is_warned_once(make_server):
    """smpAffinitized with a mask of CPUs the machine does not have: waspd
    says so once (not once per worker) and the workers run unpinned."""
    with open("/sys/devices/system/cpu/online") as f:
        online = cpu_list(f.read())
    absent = [i for i in range(64) if i not in online]
    assert absent, "the test needs a CPU number below 64 that is not online"
    bit = absent[-1]
    lo, hi = (1 << bit, 0) if bit < 32 else (0, 1 << (bit - 32))
    s, port = make_pool_server(make_server, "affinity-offline",
                               children='<cpu smpAffinitized="true" smpProcessorAffinityMask="%d" '
                                        'smpProcessorAffinityMask2="%d" />' % (lo, hi))
    first = whoami(port)
    assert s.ctl("recycle-apppool", POOL)[0] == 0
    second = whoami(port)
    assert second != first
    warnings = re.findall(
        r"\[warn\] waspd\[\d+\]: \S+:\d+: pool '%s': cpu/@smpAffinitized is true, but "
        r"smpProcessorAffinityMask=\"%d\" and smpProcessorAffinityMask2=\"%d\" name no online "
        r"CPU of this machine \(online: [^)]+\): its workers run unpinned" % (POOL, lo, hi),
        s.log_text())
    assert len(warnings) == 1, s.log_tail()
    assert allowed_cpus(second) == allowed_cpus(), "unpinned: waspd's own CPUs"


def test_max_processes_zero_runs_one_worker_per_numa_node(make_server):
    """processModel maxProcesses="0": one worker per NUMA node, as IIS 8.0+
    does (shared/reference/iis-hosting.md); the garden keeps that size under
    concurrent requests."""
    nodes = len([n for n in os.listdir("/sys/devices/system/node")
                 if n.startswith("node") and n[4:].isdigit()]) or 1
    s, port = make_pool_server(make_server, "garden-per-node",
                               process_model={"maxProcesses": "0"})
    assert get(port, "/hello.txt").status == 200
    members = wait_until(
        lambda: s.worker_pids(POOL) if len(s.worker_pids(POOL)) == nodes else None,
        scaled(10), what="%d garden workers" % nodes)
    results = harness.parallel(
        lambda i: get(port, "/x.wtest?op=sleep&ms=300", timeout=scaled(10)),
        [(i,) for i in range(8 * nodes)], timeout=scaled(30))
    assert all(r.status == 200 for r in results), [r for r in results if r.status != 200][:3]
    pids = {int(r.header("X-Worker-Pid")) for r in results}
    assert pids == set(members), "requests went to %r, garden is %r" % (pids, members)
    time.sleep(0.5)
    assert sorted(s.worker_pids(POOL)) == sorted(members), "still one worker per NUMA node"


def test_shutdown_time_limit_kills_a_worker_that_does_not_finish(make_server):
    s, port = make_pool_server(make_server, "shutdown-limit",
                               process_model={"shutdownTimeLimit": "00:00:01"})
    old = whoami(port)
    with RawConn(port, timeout=scaled(10)) as c:
        c.send(harness.build_request("GET", "/x.wtest?op=hang"))  # its loop never returns
        time.sleep(0.3)
        t0 = time.monotonic()
        code, msg, _, _ = s.ctl("recycle-apppool", POOL)
        assert code == 0, msg
        assert time.monotonic() - t0 >= 0.9, "it had shutdownTimeLimit to finish"
        r = c.read_response(timeout=scaled(5))
        assert r.status == 502, r  # the request it was running dies with it
    ev = [e for e in s.events() if e[0] == 5013]
    assert ev and ev[0][2] == old, s.events()
    assert whoami(port) != old


def meminfo_kb():
    with open("/proc/meminfo") as f:
        vals = dict(line.split(":", 1) for line in f)
    return (int(vals["Committed_AS"].split()[0]), int(vals["MemTotal"].split()[0]))


def test_dynamic_idle_threshold_shortens_idle_timeout(make_server):
    """webLimits/@dynamicIdleThreshold (iis-hosting.md 3.1): with committed
    memory at or above the threshold (a percentage of RAM), every pool's
    idleTimeout is divided by 32; below 80 % of it, the configured value
    applies again.  The test commits the memory itself (an untouched private
    mapping counts in Committed_AS, as a reservation counts in Windows'
    commit charge) so the figure does not depend on the machine's load."""
    s, port = make_pool_server(make_server, "dyn-idle", process_model={"idleTimeout": "00:01:00"},
                               start=False)
    s.apphost_xml.append('<webLimits dynamicIdleThreshold="1" />')
    committed, total = meminfo_kb()
    limit_kb = total // 100
    need_kb = max(0, limit_kb - committed) + 64 * 1024
    hog = mmap.mmap(-1, need_kb * 1024, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        assert meminfo_kb()[0] >= limit_kb, "the mapping did not count as committed"
        s.start()
        s.wait_log(r"dynamicIdleThreshold: .* divided by 32")
        pid = whoami(port)
        started = time.monotonic()
        # 60 s / 32 = 1.9 s of idleness, then WAS' idle shutdown (event 5186)
        wait_until(lambda: not harness.proc_alive(pid), scaled(15),
                   what="the worker to be shut down after idleTimeout/32")
        assert time.monotonic() - started < 30, "the configured 60 s applied"
        assert any(e[0] == 5186 and e[1] == POOL for e in s.events())
    finally:
        hog.close()
    # A live change to a threshold no machine reaches (100 times its RAM):
    # the configured minute applies again, to the running listener.
    s.apphost_xml[-1] = '<webLimits dynamicIdleThreshold="10000" />'
    s.write_config()
    s.wait_log(r"dynamicIdleThreshold: .* as configured")
    pid = whoami(port)
    time.sleep(4)  # twice the shortened time-out: now the full minute applies
    assert harness.proc_alive(pid) and whoami(port) == pid
