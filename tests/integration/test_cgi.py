"""
CgiModule with a real waspd and real scripts (perl and /bin/sh): the CGI
environment variable by variable (SCRIPT_NAME / PATH_INFO split, query,
REQUEST_URI, HTTP_* with repeated headers joined, no HTTP_PROXY,
CONTENT_LENGTH / CONTENT_TYPE, REMOTE_ADDR / REMOTE_PORT, nothing else),
request bodies echoed byte-exact (1 MiB, chunked), Status, client and local
redirects, repeated Set-Cookie, streaming (a script that flushes is seen
flushing), the cgi timeout (502.1, process group killed), bad headers
(502.2), isapiCgiRestriction (404.2), a program the pool may not run
(403.19), nph- scripts, stderr to the log, a client that goes away (the
process is killed), and asynchrony (a static file is served while a script
sleeps in the same worker).

CgiModule is installed the IIS way, by name with IIS' image path.
"""
import os
import re
import socket
import struct
import threading
import time

import pytest

import harness
from conftest import stop_module_server
from harness import RawConn, build_request, get, request, scaled

POOL = "CgiPool"
SITE = "CGI Site"
SITE_ID = 7
IIS_IMAGE = r"%windir%\System32\inetsrv\cgi.dll"
PERL = "/usr/bin/perl"

ENV_PL = r"""#!/usr/bin/perl
use Cwd;
print "Content-Type: text/plain\r\n\r\n";
for my $k (sort keys %ENV) { print "$k=$ENV{$k}\n"; }
print "CWD:", getcwd(), "\n";
print "ARGV:", join("|", @ARGV), "\n";
"""

ECHO_PL = r"""#!/usr/bin/perl
binmode STDIN; binmode STDOUT;
my $len = $ENV{CONTENT_LENGTH} || 0;
my $data = '';
while (length($data) < $len) {
    my $n = read(STDIN, $data, $len - length($data), length($data));
    last unless $n;
}
print "Content-Type: application/octet-stream\r\nX-Got: " . length($data) . "\r\n\r\n";
print $data;
"""

STATUS_PL = """#!/usr/bin/perl
print "Status: 201 Created\\r\\nContent-Type: text/plain\\r\\nX-Script: yes\\r\\n\\r\\ncreated\\n";
"""

REDIRECT_PL = """#!/usr/bin/perl
print "Location: http://example.com/elsewhere?x=1\\r\\n\\r\\n";
"""

LOCAL_PL = """#!/usr/bin/perl
print "Location: /static.txt\\nSet-Cookie: dropped=1\\n\\nignored body\\n";
"""

LOCAL_ENV_PL = """#!/usr/bin/perl
print "Location: /cgi-bin/env.pl/more?from=local\\n\\n";
"""

LOCAL_LOOP_PL = """#!/usr/bin/perl
print "Location: /cgi-bin/loop.pl\\n\\n";
"""

COOKIES_PL = """#!/usr/bin/perl
print "Content-Type: text/plain\\nSet-Cookie: a=1; Path=/\\nSet-Cookie: b=2; HttpOnly\\n\\ncookies\\n";
"""

FLUSH_PL = """#!/usr/bin/perl
$| = 1;
print "Content-Type: text/plain\\r\\n\\r\\nfirst\\n";
sleep 2;
print "second\\n";
"""

SLEEP3_PL = """#!/usr/bin/perl
sleep 3;
print "Content-Type: text/plain\\n\\nslept\\n";
"""

BAD_PL = """#!/usr/bin/perl
print "this is not a header\\n\\nbody\\n";
"""

NPH_PL = """#!/usr/bin/perl
print "HTTP/1.1 202 Accepted\\r\\nContent-Type: text/plain\\r\\nX-Nph: yes\\r\\n\\r\\nnph body\\n";
"""

STDERR_PL = """#!/usr/bin/perl
print STDERR "oops from stderr\\n";
print "Content-Type: text/plain\\n\\nok\\n";
"""

HELLO_PL = """print "Content-Type: text/plain\\n\\nhello from $0 warn=$^W\\n";
"""

# 4 MiB in 4 KiB lines, each naming its offset: a gap or a repeat shows.
BIG_PL = r"""#!/usr/bin/perl
binmode STDOUT;
print "Content-Type: application/octet-stream\r\n\r\n";
for my $i (0 .. 1023) { printf "%08d%s\n", $i, "x" x 4087; }
"""


def big_body():
    return b"".join(b"%08d%s\n" % (i, b"x" * 4087) for i in range(1024))


SH_OK = """#!/bin/sh
printf 'Content-Type: text/plain\\n\\nshell ok\\n'
"""


def slow_sh(piddir):
    # The shell records its pid and starts a child (sleep) in its process
    # group: both must be gone after the timeout.
    return """#!/bin/sh
echo $$ > %s/slow.pid
sleep 10
printf 'Content-Type: text/plain\\n\\nlate\\n'
""" % piddir


def forever_pl(piddir):
    return """#!/usr/bin/perl
$| = 1;
open(my $f, '>', '%s/forever.pid'); print $f $$; close($f);
print "Content-Type: text/plain\\n\\nstarted\\n";
sleep 30;
print "never\\n";
""" % piddir


ALLOWED = ["env.pl", "echo.pl", "status.pl", "redirect.pl", "local.pl", "cookies.pl",
           "flush.pl", "sleep3.pl", "bad.pl", "nothing.sh", "nph-test.pl", "stderr.pl",
           "timeout/slow.sh", "forever.pl", "ok.sh", "noexec.sh", "big.pl", "local_env.pl",
           "loop.pl"]


def enable_cgi(s, www):
    """Install and enable CgiModule as IIS' applicationHost.config does, map
    *.pl to perl at the site root, and allow the programs used."""
    base = s.config_xml
    restriction = ['<security><isapiCgiRestriction notListedCgisAllowed="false">',
                   '<add path="%s" allowed="true" description="Perl" />' % PERL]
    for name in ALLOWED:
        restriction.append('<add path="%s/cgi-bin/%s" allowed="true" />' % (www, name))
    restriction.append('<add path="%s/cgi-bin/denied.sh" allowed="false" />' % www)
    restriction.append("</isapiCgiRestriction></security>")
    s.webserver_xml.append("".join(restriction))

    def xml():
        x = base()
        x = x.replace('<add name="CustomErrorModule" image="builtin" />',
                      '<add name="CustomErrorModule" image="builtin" />\n'
                      '      <add name="CgiModule" image="%s" />' % IIS_IMAGE, 1)
        x = x.replace('<add name="CustomErrorModule" />',
                      '<add name="CustomErrorModule" />\n      <add name="CgiModule" />', 1)
        x = x.replace('<handlers accessPolicy="Read, Script">',
                      '<handlers accessPolicy="Read, Script">\n'
                      '      <add name="CGI-pl" path="*.pl" verb="*" modules="CgiModule" '
                      'scriptProcessor="%s" resourceType="File" requireAccess="Script" />\n'
                      '      <add name="CGI-plw" path="*.plw" verb="*" modules="CgiModule" '
                      'scriptProcessor="%s -w &quot;%%s&quot; %%s" resourceType="File" '
                      'requireAccess="Script" />' % (PERL, PERL), 1)
        assert x.count("CgiModule") == 5, x  # 2 modules, 2 root mappings, /cgi-bin
        return x
    s.config_xml = xml
    return s


@pytest.fixture(scope="module")
def server():
    s = harness.WaspServer("cgi")
    port = s.port("main")
    s.pool(POOL)
    s.site(SITE, ["127.0.0.1:%d:" % port], [("/", POOL, "www")], site_id=SITE_ID)
    www = s.path("www")
    piddir = s.mkdir("pids")
    os.chmod(piddir, 0o777)
    s.piddir = piddir
    scripts = {
        "env.pl": ENV_PL, "echo.pl": ECHO_PL, "status.pl": STATUS_PL,
        "redirect.pl": REDIRECT_PL, "local.pl": LOCAL_PL, "cookies.pl": COOKIES_PL,
        "flush.pl": FLUSH_PL, "sleep3.pl": SLEEP3_PL, "bad.pl": BAD_PL,
        "nothing.sh": "#!/bin/sh\nexit 0\n", "nph-test.pl": NPH_PL, "stderr.pl": STDERR_PL,
        "timeout/slow.sh": slow_sh(piddir), "forever.pl": forever_pl(piddir), "ok.sh": SH_OK,
        "restricted.sh": SH_OK, "denied.sh": SH_OK, "big.pl": BIG_PL,
        "local_env.pl": LOCAL_ENV_PL, "loop.pl": LOCAL_LOOP_PL,
    }
    for name, text in scripts.items():
        s.file("www/cgi-bin/" + name, text, mode=0o755)
    s.file("www/cgi-bin/noexec.sh", SH_OK, mode=0o644)
    s.file("www/hello.pl", HELLO_PL)           # run by perl: needs no exec bit
    s.file("www/hello.plw", HELLO_PL)
    s.file("www/static.txt", "static\n")
    # /cgi-bin: every file is a program (IIS' CGI-exe style, which needs
    # Execute), with path info.
    s.location(SITE + "/cgi-bin",
               '<handlers accessPolicy="Read, Script, Execute">'
               '<add name="CGI-bin" path="*" verb="*" modules="CgiModule" '
               'resourceType="Unspecified" requireAccess="Execute" allowPathInfo="true" />'
               '</handlers>')
    s.location(SITE + "/cgi-bin/timeout", '<cgi timeout="00:00:02" />')
    enable_cgi(s, www)
    s.start()
    yield s
    stop_module_server(s)


@pytest.fixture
def port(server):
    return server.ports["main"]


def env_of(resp):
    assert resp.status == 200, resp
    env = {}
    for line in resp.text.splitlines():
        if "=" in line and not line.startswith(("CWD:", "ARGV:")):
            k, v = line.split("=", 1)
            env[k] = v
    extra = dict(l.split(":", 1) for l in resp.text.splitlines()
                 if l.startswith(("CWD:", "ARGV:")))
    return env, extra


def worker_zombies(server):
    out = []
    for w in server.worker_pids(POOL):
        for d in os.listdir("/proc"):
            if d.isdigit():
                st = harness.proc_stat(int(d))
                if st is not None and st[2] == w and st[1] == "Z":
                    out.append(int(d))
    return out


def pgrp_members(pgid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rindex(")") + 2:].split()
        if int(rest[2]) == pgid and rest[0] not in ("Z", "X"):
            out.append(int(d))
    return out


def read_pid(path, timeout):
    def get_pid():
        try:
            with open(path) as f:
                t = f.read().strip()
            return int(t) if t else None
        except (OSError, ValueError):
            return None
    return harness.wait_until(get_pid, timeout, what=path)


# ---------------------------------------------------------------------------
# Environment

def test_environment_variables(server, port):
    www = server.path("www")
    with RawConn(port) as c:
        client_port = c.sock.getsockname()[1]
        r = c.request("GET", "/cgi-bin/env.pl/extra/path%20x?a=1&b=%20two", headers=[
            ("X-Custom", "v"), ("Proxy", "http://evil.example:3128"), ("Cookie", "a=1"),
            ("Accept", "text/x"), ("Cookie", "b=2"), ("Accept", "*/*"),
            ("X_Underscore", "forged"), ("User-Agent", "wasp-test")])
    env, extra = env_of(r)
    want = {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": str(port),
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "/cgi-bin/env.pl",
        "PATH_INFO": "/extra/path x",
        "PATH_TRANSLATED": www + "/cgi-bin/env.pl/extra/path x",
        "SCRIPT_FILENAME": www + "/cgi-bin/env.pl",
        "DOCUMENT_ROOT": www,
        "QUERY_STRING": "a=1&b=%20two",
        "REQUEST_URI": "/cgi-bin/env.pl/extra/path%20x?a=1&b=%20two",
        "URL": "/cgi-bin/env.pl/extra/path x",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_HOST": "127.0.0.1",
        "REMOTE_PORT": str(client_port),
        "REMOTE_USER": "",
        "AUTH_TYPE": "",
        "HTTPS": "off",
        "SERVER_PORT_SECURE": "0",
        "LOCAL_ADDR": "127.0.0.1",
        "SERVER_ADDR": "127.0.0.1",
        "APPL_MD_PATH": "/LM/W3SVC/%d/ROOT" % SITE_ID,
        "APPL_PHYSICAL_PATH": www + "/",
        "INSTANCE_ID": str(SITE_ID),
        "APP_POOL_ID": POOL,
        "HTTP_HOST": "localhost",
        "HTTP_X_CUSTOM": "v",
        "HTTP_COOKIE": "a=1; b=2",
        "HTTP_ACCEPT": "text/x, */*",
        "HTTP_USER_AGENT": "wasp-test",
    }
    for k, v in want.items():
        assert env.get(k) == v, "%s=%r, expected %r" % (k, env.get(k), v)
    assert env["SERVER_SOFTWARE"].startswith("wasp/"), env
    # httpoxy: a "Proxy:" header never becomes HTTP_PROXY; a name with '_'
    # could pose as another header and is left out.
    assert "HTTP_PROXY" not in env
    assert "HTTP_X_UNDERSCORE" not in env
    # GET without a body: no content variables.
    assert "CONTENT_LENGTH" not in env and "CONTENT_TYPE" not in env
    # The environment is exactly the CGI one: nothing of the worker's.
    assert set(env) == set(want) | {"SERVER_SOFTWARE"}, sorted(set(env) ^ set(want))
    # Started in the script's directory, the script itself as the program.
    assert extra["CWD"] == www + "/cgi-bin"
    assert extra["ARGV"] == ""


def test_post_form_variables(port):
    body = "name=wasp&x=1"
    r = request(port, "POST", "/cgi-bin/env.pl",
                headers=[("Content-Type", "application/x-www-form-urlencoded")], body=body)
    env, _ = env_of(r)
    assert env["REQUEST_METHOD"] == "POST"
    assert env["CONTENT_LENGTH"] == str(len(body))
    assert env["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert env["PATH_INFO"] == ""


def test_script_processor(server, port):
    www = server.path("www")
    r = get(port, "/hello.pl?x")
    assert r.status == 200, r
    assert r.text == "hello from %s/hello.pl warn=0\n" % www
    # "perl -w "%s" %s": the first %s is the script, the second stands for
    # nothing (the query string is never put on a command line).
    r = get(port, "/hello.plw?-e")
    assert r.status == 200, r
    assert r.text == "hello from %s/hello.plw warn=1\n" % www
    # The mapping has resourceType="File": a missing script is 404.0 before
    # CgiModule runs.
    assert get(port, "/missing.pl").status == 404


def test_head(port):
    r = request(port, "HEAD", "/cgi-bin/status.pl")
    assert r.status == 201, r
    assert r.body == b""


def test_not_a_script(port):
    r = get(port, "/cgi-bin/")
    assert r.status == 404, r
    r = get(port, "/cgi-bin/missing.pl/x")
    assert r.status == 404, r


# ---------------------------------------------------------------------------
# Bodies

def test_post_echo_1mib(port):
    body = os.urandom(1024 * 1024)
    r = request(port, "POST", "/cgi-bin/echo.pl", body=body, timeout=scaled(30))
    assert r.status == 200, r
    assert r.header("X-Got") == str(len(body))
    assert r.body == body


def test_chunked_request_body(port):
    parts = [os.urandom(1000), os.urandom(70000), b"tail"]
    raw = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    with RawConn(port) as c:
        c.send(build_request("POST", "/cgi-bin/echo.pl",
                             headers=[("Transfer-Encoding", "chunked")]) + raw)
        r = c.read_response()
    assert r.status == 200, r
    assert r.body == b"".join(parts)
    assert r.header("X-Got") == str(len(r.body))


# ---------------------------------------------------------------------------
# Response headers

def test_status_header(port):
    r = get(port, "/cgi-bin/status.pl")
    assert r.status == 201 and r.reason == "Created", r
    assert r.header("X-Script") == "yes"
    assert r.header("Status") is None
    assert r.body == b"created\n"


def test_client_redirect(port):
    r = get(port, "/cgi-bin/redirect.pl")
    assert r.status == 302, r
    assert r.header("Location") == "http://example.com/elsewhere?x=1"


def test_local_redirect_is_served_by_the_server(port):
    # RFC 3875 6.2.2: the answer is the one for the new URL; the script's
    # headers and body are dropped.
    r = get(port, "/cgi-bin/local.pl")
    assert r.status == 200, r
    assert r.body == b"static\n"
    assert r.header("Location") is None and r.header("Set-Cookie") is None, r
    assert r.header("Content-Type").startswith("text/plain"), r


def test_local_redirect_to_a_script_is_a_get_without_body(port):
    r = request(port, "POST", "/cgi-bin/local_env.pl", body=b"a=1&b=2",
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200, r
    env, _ = env_of(r)
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == "/cgi-bin/env.pl"
    assert env["PATH_INFO"] == "/more"
    assert env["QUERY_STRING"] == "from=local"
    assert "CONTENT_LENGTH" not in env and "CONTENT_TYPE" not in env, env


def test_local_redirect_loop_ends_in_500(port):
    r = get(port, "/cgi-bin/loop.pl")
    assert r.status == 500, r
    assert b"More than 10 local redirects" in r.body, r.body[:400]


def test_repeated_set_cookie(port):
    r = get(port, "/cgi-bin/cookies.pl")
    assert r.status == 200, r
    assert r.header_all("Set-Cookie") == ["a=1; Path=/", "b=2; HttpOnly"]
    assert r.body == b"cookies\n"


def test_nph_script(port):
    r = get(port, "/cgi-bin/nph-test.pl")
    assert r.status == 202 and r.reason == "Accepted", r
    assert r.header("X-Nph") == "yes"
    assert r.body == b"nph body\n"


def test_shell_script(port):
    r = get(port, "/cgi-bin/ok.sh")
    assert r.status == 200, r
    assert r.body == b"shell ok\n"
    # A quick script's response comes whole, with its length.
    assert r.header("Content-Length") == str(len(r.body))


# ---------------------------------------------------------------------------
# Errors

def test_bad_headers_502_2(port):
    r = get(port, "/cgi-bin/bad.pl")
    assert r.status == 502, r
    assert b"502.2" in r.body
    assert b"this is not a header" not in r.body


def test_no_output_502_2(port):
    r = get(port, "/cgi-bin/nothing.sh")
    assert r.status == 502, r
    assert b"502.2" in r.body


def test_isapi_cgi_restriction(port):
    r = get(port, "/cgi-bin/restricted.sh")     # not listed
    assert r.status == 404, r
    assert b"404.2" in r.body
    r = get(port, "/cgi-bin/denied.sh")         # listed allowed="false"
    assert r.status == 404, r
    assert b"404.2" in r.body
    r = get(port, "/cgi-bin/ok.sh")             # listed allowed="true"
    assert r.status == 200, r


def test_not_executable_403_19(port):
    r = get(port, "/cgi-bin/noexec.sh")
    assert r.status == 403, r
    assert b"403.19" in r.body


def test_stderr_is_logged_not_sent(server, port):
    since = server.log_size()
    r = get(port, "/cgi-bin/stderr.pl")
    assert r.status == 200, r
    assert r.body == b"ok\n"
    server.wait_log(r"CGI \S*/cgi-bin/stderr\.pl stderr: oops from stderr", since=since)


@pytest.mark.slow
def test_timeout_502_1_kills_the_process_group(server, port):
    pidfile = os.path.join(server.piddir, "slow.pid")
    if os.path.exists(pidfile):
        os.unlink(pidfile)
    t0 = time.monotonic()
    r = get(port, "/cgi-bin/timeout/slow.sh", timeout=scaled(15))
    took = time.monotonic() - t0
    assert r.status == 502, r
    assert b"502.1" in r.body
    assert 1.5 <= took < scaled(6), took
    pid = read_pid(pidfile, scaled(2))
    harness.wait_until(lambda: not harness.proc_alive(pid), scaled(5),
                       what="the timed-out script to die")
    # Its child (sleep) was in its process group: gone too.
    harness.wait_until(lambda: not pgrp_members(pid), scaled(5),
                       what="the script's process group to die")
    harness.wait_until(lambda: not worker_zombies(server), scaled(5),
                       what="the worker to reap its children")


@pytest.mark.slow
def test_client_gone_kills_the_process(server, port):
    pidfile = os.path.join(server.piddir, "forever.pid")
    if os.path.exists(pidfile):
        os.unlink(pidfile)
    c = RawConn(port)
    c.send(build_request("GET", "/cgi-bin/forever.pl"))
    c._read_until(b"started\n", time.monotonic() + scaled(10))
    pid = read_pid(pidfile, scaled(5))
    assert harness.proc_alive(pid)
    # Reset, not a half-close: the listener drops the connection at once.
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    harness.wait_until(lambda: not harness.proc_alive(pid), scaled(5),
                       what="the script of the vanished client to be killed")
    harness.wait_until(lambda: not worker_zombies(server), scaled(5),
                       what="the worker to reap its children")
    assert get(port, "/static.txt").status == 200


# ---------------------------------------------------------------------------
# Streaming and asynchrony

@pytest.mark.slow
def test_flushed_output_arrives_in_parts(port):
    with RawConn(port) as c:
        t0 = time.monotonic()
        c.send(build_request("GET", "/cgi-bin/flush.pl"))
        data, t_first, t_second = b"", None, None
        deadline = t0 + scaled(15)
        while t_second is None:
            c.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = c.sock.recv(65536)
            assert chunk, "connection closed early: %r" % data
            data += chunk
            now = time.monotonic() - t0
            if t_first is None and b"first\n" in data:
                t_first = now
            if b"second\n" in data:
                t_second = now
    head = data.split(b"\r\n\r\n", 1)[0].lower()
    assert b"transfer-encoding: chunked" in head, data
    assert t_first < 1.5, (t_first, data)
    assert t_second - t_first >= 1.5, (t_first, t_second)


@pytest.mark.slow
def test_worker_serves_others_while_a_script_sleeps(server, port):
    result = {}

    def slow():
        t0 = time.monotonic()
        result["r"] = get(port, "/cgi-bin/sleep3.pl", timeout=scaled(15))
        result["took"] = time.monotonic() - t0

    th = threading.Thread(target=slow, daemon=True)
    th.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    r = get(port, "/static.txt")
    fast = time.monotonic() - t0
    assert r.status == 200 and r.body == b"static\n", r
    assert fast < 1.0, fast
    th.join(scaled(15))
    assert result["r"].status == 200 and result["r"].body == b"slept\n", result
    assert result["took"] >= 2.9
    # One worker did both.
    assert len(server.worker_pids(POOL)) == 1


def test_large_output(port):
    r = get(port, "/cgi-bin/big.pl", timeout=scaled(30))
    assert r.status == 200, r
    assert len(r.body) == 4 * 1024 * 1024
    assert r.body == big_body()


@pytest.mark.slow
def test_large_output_to_a_slow_client(server, port):
    # The client stops reading for a while: the worker stops reading the
    # script (it blocks on its pipe) and everything still arrives intact.
    with RawConn(port, timeout=scaled(30)) as c:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        c.send(build_request("GET", "/cgi-bin/big.pl"))
        time.sleep(1.5)
        r = c.read_response()
    assert r.body == big_body()
    assert get(port, "/static.txt").status == 200


def test_many_concurrent_scripts(port):
    bodies = [os.urandom(5000 + i) for i in range(20)]

    def one(b):
        return request(port, "POST", "/cgi-bin/echo.pl", body=b, timeout=scaled(20))

    for b, r in zip(bodies, harness.parallel(one, [(b,) for b in bodies], timeout=scaled(60))):
        assert r.status == 200 and r.body == b
