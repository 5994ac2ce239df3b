"""
FastCgiModule with a real php-cgi: the IIS configuration (fastCgi
application + handler mapping with scriptProcessor), the CGI/IIS variables a
script sees, request bodies, response headers (Status, Location, several
Set-Cookie), streaming, the process pool (instances kept warm, recycled
after instanceMaxRequests, replaced after a crash, idle), timeouts and
stderr modes, the queue, and asynchrony (a sleeping script never blocks the
worker).
"""
import json
import os
import re
import threading
import time

import pytest

import harness
from harness import RawConn, build_request, get, request, scaled, wait_until

PHP = "/usr/bin/php-cgi"
POOL = "PhpPool"



@pytest.fixture(autouse=True)
def php_installed():
    """Missing php-cgi is a broken set-up, not a reason to skip."""
    assert os.path.exists(PHP), "php-cgi is missing: scripts/deps.sh test installs it"

SCRIPTS = {
    "info.php": r"""<?php
header('Content-Type: application/json');
echo json_encode(['server' => $_SERVER, 'get' => $_GET, 'post' => $_POST,
                  'body' => file_get_contents('php://input')]);
""",
    "echo.php": r"""<?php
$b = file_get_contents('php://input');
header('Content-Type: application/octet-stream');
header('X-Body-Length: ' . strlen($b));
header('X-Body-Md5: ' . md5($b));
echo $b;
""",
    "status.php": r"""<?php
header('Status: 418 I am a teapot');
echo "short and stout\n";
""",
    "redirect.php": r"""<?php
header('Location: http://example.com/elsewhere?x=1');
""",
    "local.php": r"""<?php
// Location without a Status line (PHP writes none for 200): a local redirect.
header('Location: ' . ($_GET['to'] ?? '/static.txt'));
http_response_code(200);
echo "dropped body\n";
""",
    "cookies.php": r"""<?php
setcookie('a', '1');
setcookie('b', '2');
header('X-Multi: one', false);
header('X-Multi: two', false);
echo "cookies\n";
""",
    "flush.php": r"""<?php
while (ob_get_level()) ob_end_flush();  // php.ini's output_buffering holds output back
echo "first\n";
flush();
usleep(800000);
echo "second\n";
""",
    "sleep.php": r"""<?php
usleep((int)($_GET['ms'] ?? 1000) * 1000);
echo "slept\n";
""",
    "pid.php": r"""<?php
echo getmypid(), "\n";
""",
    "stderr.php": r"""<?php
error_log("something went wrong in stderr.php");
echo "normal output\n";
""",
    "crash.php": r"""<?php
echo "about to die\n";
flush();
posix_kill(posix_getpid(), 9);
""",
    "env.php": r"""<?php
echo getenv($_GET['name']) === false ? "(unset)" : getenv($_GET['name']), "\n";
""",
    "headers_bad.php": "",  # filled below: output with no header block end is php's own
}


def php_server(make_server, name, app_attrs=None, app_children="", start=True, **pool_kw):
    s = make_server(name)
    port = s.port("main")
    s.pool(POOL, **pool_kw)
    s.site("PHP Site", ["127.0.0.1:%d:" % port], [("/", POOL, "www")])
    for fname, text in SCRIPTS.items():
        if text:
            s.file("www/" + fname, text)
    s.file("www/static.txt", "static\n")
    s.extra_modules = ["FastCgiModule"]
    s.handlers_xml = ['<add name="PHP_via_FastCGI" path="*.php" verb="GET,HEAD,POST" '
                      'modules="FastCgiModule" scriptProcessor="%s" resourceType="Either" '
                      'requireAccess="Script" />' % PHP]
    attrs = {"fullPath": PHP}
    attrs.update(app_attrs or {})
    s.webserver_xml.append("<fastCgi><application%s>%s</application></fastCgi>"
                           % (harness._attrs(attrs), app_children))
    if start:
        s.start()
    return s, port


def server_vars(port, path="/info.php?a=1&b=two", **kw):
    r = request(port, kw.pop("method", "GET"), path, **kw)
    assert r.status == 200, r
    return json.loads(r.body)


def test_cgi_and_iis_variables(make_server):
    s, port = php_server(make_server, "fcgi-vars")
    d = server_vars(port, "/info.php/extra/path?a=1&b=two",
                    headers={"X-Custom": "yes", "Proxy": "http://evil:1/"})
    v = d["server"]
    www = s.path("www")
    assert v["SCRIPT_NAME"] == "/info.php"
    assert v["PATH_INFO"] == "/extra/path"
    assert v["SCRIPT_FILENAME"] == os.path.join(www, "info.php")
    assert v["QUERY_STRING"] == "a=1&b=two"
    assert v["REQUEST_URI"] == "/info.php/extra/path?a=1&b=two"
    assert v["REQUEST_METHOD"] == "GET"
    assert v["GATEWAY_INTERFACE"] == "CGI/1.1"
    assert v["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert v["SERVER_PORT"] == str(port)
    assert v["REMOTE_ADDR"] == "127.0.0.1" and v["REMOTE_PORT"].isdigit()
    assert v["HTTPS"].lower() == "off"
    assert v["HTTP_X_CUSTOM"] == "yes"
    assert "HTTP_PROXY" not in v, "httpoxy: the Proxy header never becomes HTTP_PROXY"
    assert v["SERVER_SOFTWARE"]
    assert d["get"] == {"a": "1", "b": "two"}


def test_post_form_and_body(make_server):
    s, port = php_server(make_server, "fcgi-post")
    d = server_vars(port, "/info.php", method="POST", body=b"x=1&y=hello+world",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert d["post"] == {"x": "1", "y": "hello world"}
    assert d["server"]["CONTENT_LENGTH"] == "17"
    assert d["server"]["CONTENT_TYPE"] == "application/x-www-form-urlencoded"


def test_large_body_and_chunked_body(make_server):
    s, port = php_server(make_server, "fcgi-body")
    body = os.urandom(3 * 1024 * 1024)
    r = request(port, "POST", "/echo.php", body=body, timeout=scaled(30))
    assert r.status == 200 and r.body == body, (r.status, len(r.body))
    # chunked request body: de-chunked, with CONTENT_LENGTH
    raw = (b"POST /echo.php HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    with RawConn(port) as c:
        c.send(raw)
        r = c.read_response()
    assert r.status == 200 and r.body == b"hello world"
    assert r.header("X-Body-Length") == "11"


def test_status_redirect_and_cookies(make_server):
    s, port = php_server(make_server, "fcgi-headers")
    r = get(port, "/status.php")
    assert r.status == 418 and r.body == b"short and stout\n", r
    assert r.reason == "I am a teapot", r.status_line
    r = get(port, "/pid.php")
    assert r.status_line == "HTTP/1.1 200 OK", "no Status: the standard phrase"
    r = get(port, "/redirect.php")
    assert r.status_line == "HTTP/1.1 302 Found", r.status_line
    r = get(port, "/redirect.php")
    assert r.status == 302 and r.header("Location") == "http://example.com/elsewhere?x=1", r
    r = get(port, "/cookies.php")
    assert sorted(r.header_all("Set-Cookie")) == ["a=1", "b=2"], r
    assert r.header_all("X-Multi") == ["one", "two"]


def test_local_redirect_is_served_by_the_server(make_server):
    s, port = php_server(make_server, "fcgi-local")
    r = get(port, "/local.php")
    assert r.status == 200 and r.body == b"static\n", r
    assert r.header("Location") is None, r
    # To another script: a fresh GET, without the POST's body.
    r = request(port, "POST", "/local.php?to=/info.php%3Fq%3D1", body=b"a=1",
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200, r
    d = json.loads(r.body)
    assert d["server"]["REQUEST_METHOD"] == "GET", d["server"]
    assert d["get"] == {"q": "1"} and d["post"] == [] and d["body"] == "", d


def test_flush_streams_to_the_client(make_server):
    s, port = php_server(make_server, "fcgi-flush")
    with RawConn(port, timeout=scaled(10)) as c:
        c.send(build_request("GET", "/flush.php"))
        t0 = time.monotonic()
        c._read_until(b"first\n", time.monotonic() + scaled(5))
        first_at = time.monotonic() - t0
        r_rest = c._read_until(b"second\n", time.monotonic() + scaled(5))
        second_at = time.monotonic() - t0
    assert second_at - first_at > 0.5, "the first line came before the script slept"


def test_slow_script_does_not_block_the_worker(make_server):
    s, port = php_server(make_server, "fcgi-async")
    assert get(port, "/pid.php").status == 200  # warm one instance
    result = {}

    def slow():
        result["r"] = get(port, "/sleep.php?ms=3000", timeout=scaled(20))

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    assert get(port, "/static.txt").body == b"static\n"
    assert get(port, "/pid.php").status == 200, "another script runs beside the sleeping one"
    assert time.monotonic() - t0 < 2, "served while the slow script sleeps"
    t.join(scaled(20))
    assert result["r"].status == 200 and result["r"].body == b"slept\n"


def test_processes_are_reused_and_recycled(make_server):
    s, port = php_server(make_server, "fcgi-recycle",
                         app_attrs={"maxInstances": "1", "instanceMaxRequests": "3"})
    pids = [get(port, "/pid.php").body.strip() for _ in range(7)]
    assert pids[0] == pids[1] == pids[2], pids
    assert pids[3] == pids[4] == pids[5] and pids[3] != pids[0], pids
    assert pids[6] != pids[3]
    assert get(port, "/env.php?name=PHP_FCGI_MAX_REQUESTS").body == b"3\n"


def test_crash_costs_only_its_request(make_server):
    s, port = php_server(make_server, "fcgi-crash", app_attrs={"maxInstances": "1"})
    before = get(port, "/pid.php").body.strip()
    r = get(port, "/crash.php")
    assert r.status in (200, 500), r  # its head may already be out
    after = get(port, "/pid.php")
    assert after.status == 200 and after.body.strip() != before


def test_request_timeout(make_server):
    s, port = php_server(make_server, "fcgi-timeout", app_attrs={"requestTimeout": "10",
                                                                  "activityTimeout": "10"})
    t0 = time.monotonic()
    r = get(port, "/sleep.php?ms=30000", timeout=scaled(30))
    assert r.status == 500, r
    assert 9 < time.monotonic() - t0 < scaled(20)
    assert b"request timeout" in r.body or b"activity timeout" in r.body, r.body[:400]
    assert get(port, "/pid.php").status == 200, "a new process serves the next request"


@pytest.mark.parametrize("mode,status", [("ReturnStdErrIn500", 500), ("ReturnGeneric500", 500),
                                         ("IgnoreAndReturn200", 200)])
def test_stderr_modes(make_server, mode, status):
    s, port = php_server(make_server, "fcgi-stderr-" + mode, app_attrs={"stderrMode": mode})
    r = get(port, "/stderr.php")
    assert r.status == status, r
    if mode == "ReturnStdErrIn500":
        assert b"something went wrong in stderr.php" in r.body, r.body[:300]
    if mode == "IgnoreAndReturn200":
        assert r.body == b"normal output\n"
    assert "something went wrong in stderr.php" in s.log_text()


def test_environment_variables_of_the_application(make_server):
    s, port = php_server(make_server, "fcgi-env", app_children=(
        '<environmentVariables><environmentVariable name="APP_MODE" value="production" />'
        '</environmentVariables>'))
    assert get(port, "/env.php?name=APP_MODE").body == b"production\n"


def test_unconfigured_application_is_a_clear_500(make_server):
    s = make_server("fcgi-unconfigured")
    port = s.port("main")
    s.pool(POOL)
    s.site("PHP Site", ["127.0.0.1:%d:" % port], [("/", POOL, "www")])
    s.file("www/pid.php", SCRIPTS["pid.php"])
    s.extra_modules = ["FastCgiModule"]
    s.handlers_xml = ['<add name="PHP_via_FastCGI" path="*.php" verb="*" '
                      'modules="FastCgiModule" scriptProcessor="/usr/bin/php-cgi" '
                      'resourceType="Either" />']
    s.start()
    r = get(port, "/pid.php")
    assert r.status == 500 and b"is not configured" in r.body, r


def test_monitor_changes_to_recycles(make_server):
    s, port = php_server(make_server, "fcgi-monitor", start=False,
                         app_attrs={"maxInstances": "1"})
    marker = s.path("www/php.ini.stamp")
    s.file("www/php.ini.stamp", "1\n")
    s.webserver_xml[-1] = s.webserver_xml[-1].replace(
        "<application ", '<application monitorChangesTo="%s" ' % marker)
    s.start()
    before = get(port, "/pid.php").body.strip()
    with open(marker, "a") as f:
        f.write("2\n")
    wait_until(lambda: get(port, "/pid.php").body.strip() != before, scaled(5),
               what="the processes to be recycled")


def test_slow_client_does_not_grow_the_worker(make_server):
    """A 40 MiB PHP response to a client that does not read: the worker
    stops reading php-cgi (its memory stays bounded), and the whole body
    arrives once the client reads."""
    s, port = php_server(make_server, "fcgi-backpressure", start=False)
    s.file("www/big.php", "<?php $b = str_repeat('x', 1 << 20); "
                          "for ($i = 0; $i < 40; $i++) { echo $b; flush(); }\n")
    s.start()
    with RawConn(port, timeout=scaled(60)) as c:
        c.send(build_request("GET", "/big.php"))
        time.sleep(2)  # the client reads nothing meanwhile
        worker = s.wait_worker(POOL)
        with open("/proc/%d/status" % worker) as f:
            rss_kb = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        r = c.read_response(timeout=scaled(60))
    assert r.status == 200 and len(r.body) == 40 << 20
    assert rss_kb < 30 * 1024 or harness.SANITIZED, "worker RSS %d KB while the client " \
        "did not read: the response was buffered" % rss_kb


def test_queue_full_is_503_4(make_server):
    s, port = php_server(make_server, "fcgi-queue",
                         app_attrs={"maxInstances": "1", "queueLength": "1"})
    results = []

    def slow():
        results.append(get(port, "/sleep.php?ms=1500", timeout=scaled(20)))

    threads = [threading.Thread(target=slow) for _ in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.3)  # the first runs, the second waits in the queue
    r = get(port, "/pid.php")
    for t in threads:
        t.join(scaled(20))
    assert r.status == 503, r
    assert [x.status for x in results] == [200, 200]
    assert re.search(r"503\.4|FastCGI queue full", s.log_text() + r.text), s.log_tail()


def test_rapid_fails_per_minute_stops_the_application(make_server):
    s, port = php_server(make_server, "fcgi-rapid", app_attrs={"maxInstances": "1",
                                                                "rapidFailsPerMinute": "1"})
    for _ in range(2):
        get(port, "/crash.php")
    r = get(port, "/pid.php")
    assert r.status == 500 and b"rapidFailsPerMinute" in r.body, r
    assert re.search(r"FastCGI application /usr/bin/php-cgi failed 2 times within a minute "
                     r"\(rapidFailsPerMinute=1, .*applicationHost\.config:\d+\)", s.log_text())


@pytest.mark.slow
def test_idle_processes_are_stopped(make_server):
    s, port = php_server(make_server, "fcgi-idle", app_attrs={"maxInstances": "1",
                                                               "idleTimeout": "10"})
    pid = int(get(port, "/pid.php").body)
    assert harness.proc_alive(pid)
    wait_until(lambda: not harness.proc_alive(pid), scaled(20), interval=0.5,
               what="the idle php-cgi to be stopped")
    assert int(get(port, "/pid.php").body) != pid


def test_crash_under_load_costs_only_the_crashed_request(make_server):
    s, port = php_server(make_server, "fcgi-crash-load", app_attrs={"maxInstances": "2",
                                                                     "instanceMaxRequests": "25"})
    stop = threading.Event()
    statuses, errors = [], []

    def load():
        while not stop.is_set():
            try:
                statuses.append(get(port, "/pid.php", timeout=scaled(20)).status)
            except Exception as e:  # a lost request is what must not happen
                errors.append(repr(e))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    crashed = []
    for _ in range(3):
        time.sleep(0.5)
        crashed.append(get(port, "/crash.php", timeout=scaled(20)).status)
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(scaled(30))
    assert not errors, errors[:3]
    assert statuses and set(statuses) == {200}, {x: statuses.count(x) for x in set(statuses)}
    assert len(statuses) > 50  # and processes were recycled every 25 requests meanwhile
