"""
The process model: waspd's direct children are wasp-http (the listener) and
one wasp-worker per started pool; as root each runs as its own user; a pool's
channel socket admits only that pool's user; workers never hold a client
socket.
"""
import os
import pwd
import re
import socket
import stat
import time

import pytest

import harness
from conftest import stop_module_server
from harness import RawConn, build_request, get, scaled

POOL_A = "TreePoolA"
POOL_B = "TreePoolB"
NEEDS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create users")


@pytest.fixture(scope="module")
def server():
    s = harness.WaspServer("process-tree")
    port = s.port("main")
    s.pool(POOL_A)
    s.pool(POOL_B)
    s.site("Tree Site", ["127.0.0.1:%d:" % port], [("/", POOL_A, "www"), ("/b", POOL_B, "wwwb")])
    s.file("www/hello.txt", "hello\n")
    s.file("wwwb/hello.txt", "hello b\n")
    s.start()
    yield s
    stop_module_server(s)


def whoami(port, path):
    r = get(port, path)
    assert r.status == 200, r
    m = re.match(rb"pid=(\d+) uid=(\d+) pool=(.*)\n", r.body)
    assert m, r.body
    return int(m.group(1)), int(m.group(2)), m.group(3).decode()


@pytest.fixture(scope="module")
def workers(server):
    """{pool: (pid, uid)} after one request to each pool."""
    port = server.ports["main"]
    a = whoami(port, "/x.wtest?op=whoami")
    b = whoami(port, "/b/x.wtest?op=whoami")
    assert a[2] == POOL_A and b[2] == POOL_B
    return {POOL_A: a[:2], POOL_B: b[:2]}


def pool_user(pool):
    return "wasp-pool-" + pool.lower()


def test_children_are_listener_and_workers(server, workers):
    children = server.children()
    comms = {p: harness.proc_comm(p) for p in children}
    listeners = [p for p, c in comms.items() if c == "wasp-http"]
    worker_pids = sorted(p for p, c in comms.items() if c == "wasp-worker")
    assert len(listeners) == 1, comms
    assert worker_pids == sorted(pid for pid, _ in workers.values()), (comms, workers)
    assert set(comms.values()) <= {"wasp-http", "wasp-worker"}, comms
    for pid in children:
        assert harness.proc_stat(pid)[2] == server.pid, "pid %d is not a child of waspd" % pid


def test_runtime_files(server, workers):
    with open(os.path.join(server.rundir, "waspd.pid")) as f:
        assert int(f.read().strip()) == server.pid
    for pool, (pid, _) in workers.items():
        assert server.worker_pool_of(pid) == pool
    listed = sorted(int(n) for n in os.listdir(os.path.join(server.rundir, "wp")))
    assert listed == sorted(pid for pid, _ in workers.values())


def test_identities(server, workers):
    listener = server.listener_pid()
    uid_a = harness.proc_uids(workers[POOL_A][0])
    uid_b = harness.proc_uids(workers[POOL_B][0])
    uid_l = harness.proc_uids(listener)
    for pool, (pid, reported) in workers.items():
        assert harness.proc_uids(pid)[0] == reported, "whoami uid differs from /proc"
    if os.geteuid() == 0:
        want_l = pwd.getpwnam("wasp-http").pw_uid
        want_a = pwd.getpwnam(pool_user(POOL_A)).pw_uid
        want_b = pwd.getpwnam(pool_user(POOL_B)).pw_uid
        assert uid_l == (want_l,) * 4, "listener uids %r, user wasp-http is %d" % (uid_l, want_l)
        assert uid_a == (want_a,) * 4, (uid_a, want_a)
        assert uid_b == (want_b,) * 4, (uid_b, want_b)
        assert len({want_l, want_a, want_b, 0}) == 4, "listener, pools and root must differ"
    else:
        me = os.getuid()
        assert uid_l[0] == uid_a[0] == uid_b[0] == me, (uid_l, uid_a, uid_b, me)


def test_pool_sockets_are_private(server, workers):
    pools_dir = os.path.join(server.rundir, "pools")
    socks = {n[:-5]: os.path.join(pools_dir, n) for n in os.listdir(pools_dir)
             if n.endswith(".sock")}
    assert set(socks) == {POOL_A, POOL_B}, socks
    for pool, path in socks.items():
        st = os.stat(path)
        assert stat.S_ISSOCK(st.st_mode), path
        assert stat.S_IMODE(st.st_mode) == 0o600, "%s has mode %o" % (path, stat.S_IMODE(st.st_mode))
        want = pwd.getpwnam(pool_user(pool)).pw_uid if os.geteuid() == 0 else os.getuid()
        assert st.st_uid == want, "%s is owned by uid %d, expected %d" % (path, st.st_uid, want)


def _connect_as(uid, gid, path, wait):
    """In a forked child running as uid/gid: connect to path. Returns
    'EACCES', 'refused:<errno>', 'closed' (connected, then the listener
    closed it) or 'open' (connected and kept)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        result = b"error"
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                s.connect(path)
            except PermissionError:
                result = b"EACCES"
            except OSError as e:
                result = b"refused:%d" % e.errno
            else:
                s.settimeout(wait)
                try:
                    data = s.recv(65536)
                    result = b"closed" if not data else b"open"
                except socket.timeout:
                    result = b"open"
                except OSError:
                    result = b"closed"
        except BaseException as e:  # noqa: B902
            result = ("error:%r" % e).encode()
        finally:
            os.write(w, result)
            os._exit(0)
    os.close(w)
    out = b""
    deadline = time.monotonic() + wait + scaled(5)
    while time.monotonic() < deadline:
        chunk = os.read(r, 256)
        if not chunk:
            break
        out += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return out.decode()


@NEEDS_ROOT
def test_other_pool_user_cannot_connect_to_pool_socket(server, workers):
    pw_b = pwd.getpwnam(pool_user(POOL_B))
    pw_l = pwd.getpwnam("wasp-http")
    path_a = os.path.join(server.rundir, "pools", POOL_A + ".sock")
    assert os.path.exists(path_a)
    for who in (pw_b, pw_l):
        result = _connect_as(who.pw_uid, who.pw_gid, path_a, scaled(2))
        assert result in ("EACCES", "closed"), (
            "user %s reached pool %s's channel: %s" % (who.pw_name, POOL_A, result))
    # pool A still serves
    assert get(server.ports["main"], "/hello.txt").body == b"hello\n"


@NEEDS_ROOT
def test_listener_refuses_wrong_uid_even_if_socket_reachable(server, workers):
    """The second lock: root (not the pool user) gets through the file mode,
    and the listener itself must drop the connection (SO_PEERCRED)."""
    path_a = os.path.join(server.rundir, "pools", POOL_A + ".sock")
    result = _connect_as(0, 0, path_a, scaled(2))
    assert result == "closed", "a uid-0 peer on pool %s's channel: %s" % (POOL_A, result)
    assert get(server.ports["main"], "/hello.txt").body == b"hello\n"


def test_workers_hold_no_client_socket(server, workers):
    port = server.ports["main"]
    idle = RawConn(port)
    busy = RawConn(port, timeout=scaled(10))
    try:
        assert idle.request("GET", "/hello.txt").status == 200  # keep-alive, now idle
        busy.send(build_request("GET", "/x.wtest?op=sleep&ms=%d" % int(1500 * harness.SCALE)))
        time.sleep(scaled(0.3))
        tcp = harness.tcp_socket_inodes()
        listener = server.listener_pid()
        assert harness.proc_socket_inodes(listener) & tcp, (
            "control: the listener should hold the client TCP sockets")
        for pool, (pid, _) in workers.items():
            held = harness.proc_socket_inodes(pid) & tcp
            assert not held, "worker %d of pool %s holds TCP sockets %r" % (pid, pool, held)
        r = busy.read_response()
        assert r.status == 200 and r.body == b"slept\n"
    finally:
        idle.close()
        busy.close()


def test_worker_cannot_regain_root(server, workers):
    """A worker started by root dropped every uid (real, effective, saved, fs)."""
    for pool, (pid, _) in workers.items():
        uids = harness.proc_uids(pid)
        if os.geteuid() == 0:
            assert 0 not in uids, (pool, uids)
        else:
            assert set(uids) == {os.getuid()}, (pool, uids)


def test_started_as_a_normal_user_everything_runs_as_that_user(make_server):
    """waspd started by a normal user (nobody, when the suite runs as root;
    else the user running it): the listener and every worker run as that
    user too, nothing is created or switched, and waspd says so once."""
    s = make_server("nonroot")
    port = s.port("main")
    s.pool(POOL_A)
    s.site("Plain Site", ["127.0.0.1:%d:" % port], [("/", POOL_A, "www")])
    s.file("www/hello.txt", "hello\n")
    s.extra_args += ["--temp-dir", s.path("bodies")]
    if os.geteuid() == 0:
        s.run_as = "nobody"
    s.start()
    nobody = pwd.getpwnam("nobody").pw_uid if os.geteuid() == 0 else os.geteuid()
    name = pwd.getpwuid(nobody).pw_name
    r = get(port, "/x.wtest?op=whoami")
    assert r.status == 200, r
    assert b"uid=%d " % nobody in r.body, r.body
    assert harness.proc_uids(s.pid) == (nobody,) * 4
    assert harness.proc_uids(s.listener_pid()) == (nobody,) * 4
    workers = s.worker_pids()
    assert workers and all(harness.proc_uids(w) == (nobody,) * 4 for w in workers)
    log = s.log_text()
    assert log.count("not started as root: the listener and every worker run as "
                     "user '%s'" % name) == 1, log
