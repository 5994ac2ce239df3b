"""
What a remote client sees, from a network namespace of the test's own
(harness.RemoteNetns: a veth pair, the client neither loopback nor the
server's own address): httpErrors' DetailedLocalOnly gives it the short page
where a local client gets the detailed one, and a stopped pool's 503 names
the pool and the reason to everyone but tells only a local client how to
start it again.
"""
import pytest

import harness
from harness import get

POOL, OFF = "RemotePool", "StoppedPool"


@pytest.fixture(scope="module")
def remote():
    ns = harness.RemoteNetns()
    yield ns
    ns.close()


@pytest.fixture(scope="module")
def server(remote):
    s = harness.WaspServer("remote")
    port = s.port("main")
    s.pool(POOL)
    s.pool(OFF, autoStart="false")
    s.site("Remote Site", ["*:%d:" % port], [("/", POOL, "www"), ("/off", OFF, "off")])
    s.file("www/hello.txt", "hello\n")
    s.file("off/hello.txt", "off\n")
    s.file("www/x.wtest", "")
    s.start(wait_ports=[port])
    yield s
    s.stop()


def remote_get(remote, server, path):
    r = remote.run("curl", "-sS", "-m", "10", "-w", "\n%{http_code}",
                   "http://%s:%d%s" % (remote.host_ip, server.ports["main"], path))
    assert r.returncode == 0, r.stderr.decode()
    body, _, code = r.stdout.rpartition(b"\n")
    return int(code), body.decode("utf-8", "replace")


def test_the_namespace_client_is_remote(remote, server):
    code, body = remote_get(remote, server, "/hello.txt")
    assert (code, body) == (200, "hello\n")
    code, body = remote_get(remote, server, "/x.wtest?op=var&name=REMOTE_ADDR")
    assert (code, body) == (200, remote.peer_ip + "\n")


def test_detailed_local_only_gives_remote_clients_the_short_page(remote, server):
    code, body = remote_get(remote, server, "/missing.txt")
    assert code == 404
    assert "Detailed Error" not in body and "Physical Path" not in body, body[:500]
    assert "404" in body
    local = get(server.ports["main"], "/missing.txt")
    assert local.status == 404
    text = local.body.decode("utf-8", "replace")
    assert "HTTP Error 404.0 - Not Found" in text and "Physical Path" in text, text[:500]


def test_stopped_pool_page_names_pool_and_reason_to_everyone(remote, server):
    code, body = remote_get(remote, server, "/off/hello.txt")
    assert code == 503
    assert "Application pool '%s' is stopped" % OFF in body, body
    assert "waspctl" not in body, body
    local = get(server.ports["main"], "/off/hello.txt")
    assert local.status == 503
    text = local.body.decode("utf-8", "replace")
    assert "Application pool '%s' is stopped" % OFF in text, text
    assert 'waspctl start apppool "%s"' % OFF in text, text
