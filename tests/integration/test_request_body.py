"""
Request bodies the way a production server must take them: a 50 MiB upload
through php-cgi ($_FILES, byte-exact) and a 50 MiB chunked body through a
CGI script, with neither the listener nor the worker holding the upload in
memory (the listener spools it to a nameless file in its temp directory and
passes the descriptor); and request filtering's requestLimits enforced by
the listener before any body byte reaches a worker: maxAllowedContentLength
(413.1, declared or reached by a chunked body), maxUrl (404.14),
maxQueryString (404.15) — answered by the worker's pipeline, so the site's
httpErrors apply.
"""
import hashlib
import json
import os
import socket
import time

import pytest

import harness
from conftest import stop_module_server
from harness import RawConn, build_request, get, request, scaled

PHP = "/usr/bin/php-cgi"
PERL = "/usr/bin/perl"
POOL = "BodyPool"
SITE = "Body Site"
BIG = 50 * 1024 * 1024
PHP_ARGS = "-d upload_max_filesize=64M -d post_max_size=64M"

UPLOAD_PHP = r"""<?php
header('Content-Type: application/json');
$f = $_FILES['file'] ?? null;
echo json_encode([
    'error' => $f ? $f['error'] : -1,
    'size' => $f ? $f['size'] : -1,
    'md5' => ($f && $f['error'] === 0) ? md5_file($f['tmp_name']) : '',
    'note' => $_POST['note'] ?? null,
    'content_length' => $_SERVER['CONTENT_LENGTH'] ?? null,
]);
"""

# Reads exactly CONTENT_LENGTH bytes from stdin, 64 KiB at a time.
SHA_PL = r"""#!/usr/bin/perl
use Digest::SHA;
binmode STDIN;
my $len = $ENV{CONTENT_LENGTH} || 0;
my $sha = Digest::SHA->new(256);
my ($got, $buf) = (0, '');
while ($got < $len) {
    my $n = read(STDIN, $buf, 65536);
    last unless $n;
    $sha->add($buf);
    $got += $n;
}
my $extra = read(STDIN, $buf, 1) || 0;
print "Content-Type: text/plain\r\n\r\n";
print "len=$len got=$got extra=$extra sha=", $sha->hexdigest, "\n";
"""


def limits_web_config(max_content, max_url):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<configuration><system.webServer><security>'
            '<requestFiltering><requestLimits maxAllowedContentLength="%d" maxUrl="%d" />'
            '</requestFiltering></security></system.webServer></configuration>\n'
            % (max_content, max_url))


@pytest.fixture(scope="module")
def server():
    assert os.path.exists(PHP), "php-cgi is missing: scripts/deps.sh test installs it"
    s = harness.WaspServer("body")
    port = s.port("main")
    s.pool(POOL)
    s.site(SITE, ["127.0.0.1:%d:" % port], [("/", POOL, "www"), ("/small", POOL, "small")])
    s.file("www/upload.php", UPLOAD_PHP)
    s.file("www/sha.pl", SHA_PL)
    s.file("www/hello.txt", "hello\n")
    s.file("small/hello.txt", "small hello\n")
    s.file("www/custom/hello.txt", "custom\n")
    s.file("www/errors/413.htm", "<p>our own page: too big</p>\n")
    # web.config files below the /small application root: one raises its
    # limits, one lowers them (read by waspd for the listener, and by the
    # worker for requests without a body).
    s.file("small/raised/hello.txt", "raised\n")
    s.file("small/raised/" + "r" * 50 + ".txt", "long name\n")
    s.file("small/raised/web.config", limits_web_config(5000, max_url=100))
    s.file("small/lowered/hello.txt", "lowered\n")
    s.file("small/lowered/web.config", limits_web_config(100, max_url=30))
    s.extra_modules = ["FastCgiModule", "CgiModule"]
    s.handlers_xml = [
        '<add name="PHP_via_FastCGI" path="*.php" verb="GET,HEAD,POST" modules="FastCgiModule" '
        'scriptProcessor="%s|%s" resourceType="Either" requireAccess="Script" />' % (PHP, PHP_ARGS),
        '<add name="CGI-pl" path="*.pl" verb="*" modules="CgiModule" scriptProcessor="%s" '
        'resourceType="File" requireAccess="Script" />' % PERL]
    s.webserver_xml.append('<fastCgi><application fullPath="%s" arguments="%s" /></fastCgi>'
                           % (PHP, PHP_ARGS))
    s.webserver_xml.append('<security><isapiCgiRestriction notListedCgisAllowed="false">'
                           '<add path="%s" allowed="true" /></isapiCgiRestriction>'
                           '<requestFiltering><requestLimits maxAllowedContentLength="60000000" />'
                           '</requestFiltering></security>' % PERL)
    # The /small application: IIS' limits made small enough to test.
    s.location(SITE + "/small",
               '<security><requestFiltering><requestLimits maxAllowedContentLength="1000" '
               'maxUrl="40" maxQueryString="10" /></requestFiltering></security>')
    s.location(SITE + "/custom",
               '<httpErrors errorMode="Custom"><error statusCode="413" subStatusCode="1" '
               'path="%s" responseMode="File" /></httpErrors>' % s.path("www/errors/413.htm"))
    s.start()
    yield s
    stop_module_server(s)


@pytest.fixture
def port(server):
    return server.ports["main"]


def proc_status(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


def multipart(fields, files, boundary="----waspboundary7MA4YWxk"):
    head, tail = [], []
    for name, value in fields.items():
        head.append(b"--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                    % (boundary.encode(), name.encode(), value.encode()))
    assert len(files) == 1
    (name, (filename, data)), = files.items()
    head.append(b"--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                b"Content-Type: application/octet-stream\r\n\r\n"
                % (boundary.encode(), name.encode(), filename.encode()))
    tail.append(b"\r\n--%s--\r\n" % boundary.encode())
    return b"".join(head), data, b"".join(tail), "multipart/form-data; boundary=" + boundary


def spooled_fds(pid, temp_dir):
    """Descriptors of pid that are nameless files in temp_dir."""
    out = []
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith(temp_dir + "/") and target.endswith("(deleted)"):
            out.append(target)
    return out


def test_50mib_upload_through_php_without_holding_it_in_memory(server, port):
    listener = server.listener_pid()
    get(port, "/upload.php")  # the worker exists and php-cgi is warm
    worker = server.wait_worker(POOL)
    temp_dir = os.path.join(server.rundir, "temp")
    before = {listener: proc_status(listener, "VmHWM"), worker: proc_status(worker, "VmHWM")}

    data = os.urandom(BIG)
    head, body, tail, ctype = multipart({"note": "fifty"}, {"file": ("big.bin", data)})
    total = len(head) + len(body) + len(tail)
    with RawConn(port, timeout=scaled(60)) as c:
        c.send(build_request("POST", "/upload.php",
                             headers=[("Content-Type", ctype), ("Content-Length", str(total))]))
        c.send(head)
        c.send(body[:BIG // 2])
        # Half-way: the listener writes the body to a file that has no name.
        def spooling():
            return spooled_fds(listener, temp_dir)
        harness.wait_until(spooling, scaled(10), what="the listener spooling the upload")
        assert os.listdir(temp_dir) == []
        c.send(body[BIG // 2:] + tail)
        r = c.read_response(timeout=scaled(120))
    assert r.status == 200, r
    got = json.loads(r.body)
    assert got == {"error": 0, "size": BIG, "md5": hashlib.md5(data).hexdigest(),
                   "note": "fifty", "content_length": str(total)}, got
    # Nobody held the upload: each process' peak resident size grew by far
    # less than the 50 MiB that went through it.
    # (Under ASan the figure means nothing: freed blocks sit in its
    # quarantine and its shadow memory counts as resident.)
    limit = (16 if not os.environ.get("WASP_SANITIZED") else 64) * 1024 * 1024
    for pid, hwm in before.items():
        grew = proc_status(pid, "VmHWM") - hwm
        assert grew < limit, (pid, grew)
    assert os.listdir(temp_dir) == []
    assert spooled_fds(listener, temp_dir) == []


def test_50mib_chunked_body_through_cgi(server, port):
    data = os.urandom(BIG)
    with RawConn(port, timeout=scaled(60)) as c:
        c.send(build_request("POST", "/sha.pl", headers=[("Transfer-Encoding", "chunked")]))
        step = 1 << 20
        for i in range(0, BIG, step):
            piece = data[i:i + step]
            c.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        c.send(b"0\r\n\r\n")
        r = c.read_response(timeout=scaled(120))
    assert r.status == 200, r
    # The script saw CONTENT_LENGTH of the de-chunked body, exactly that many
    # bytes on stdin and then end-of-file.
    assert r.body.decode() == "len=%d got=%d extra=0 sha=%s\n" % (
        BIG, BIG, hashlib.sha256(data).hexdigest())


def test_small_bodies_still_reach_scripts(port):
    body = b"note=small&x=1"
    r = request(port, "POST", "/upload.php", body=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200, r
    assert json.loads(r.body)["note"] == "small"
    r = request(port, "POST", "/sha.pl", body=b"abc")
    assert r.body.decode() == "len=3 got=3 extra=0 sha=%s\n" % hashlib.sha256(b"abc").hexdigest()


def assert_request_filtering_page(r, status, sub):
    assert r.status == status, r
    text = r.body.decode("utf-8", "replace")
    assert "%d.%d" % (status, sub) in text, text[:600]
    assert "RequestFilteringModule" in text, text[:600]
    assert "BeginRequest" in text, text[:600]
    assert r.header("Connection") == "close" or status != 413, r


def test_content_length_over_the_limit_is_413_1_before_the_body(server, port):
    with RawConn(port) as c:
        # Only the head is sent: the answer must not wait for the body.
        c.send(build_request("POST", "/small/hello.txt",
                             headers=[("Content-Length", "1001")]))
        r = c.read_response(timeout=scaled(5))
        assert_request_filtering_page(r, 413, 1)
        assert c.wait_closed(timeout=scaled(5))
    # At the limit it is taken (a static file answers POST with 405, after the body).
    r = request(port, "POST", "/small/hello.txt", body=b"x" * 1000)
    assert r.status == 405, r


def test_expect_100_continue_over_the_limit_gets_no_100(port):
    with RawConn(port) as c:
        c.send(build_request("POST", "/small/hello.txt",
                             headers=[("Content-Length", "5000"), ("Expect", "100-continue")]))
        r = c.read_response(timeout=scaled(5))
    assert r.status == 413, r  # the final answer, not "100 Continue"


def test_chunked_body_growing_over_the_limit_is_413_1(port):
    with RawConn(port) as c:
        c.send(build_request("POST", "/small/hello.txt",
                             headers=[("Transfer-Encoding", "chunked")]))
        c.send(b"258\r\n" + b"y" * 600 + b"\r\n")
        c.send(b"258\r\n" + b"y" * 600 + b"\r\n")  # 1200 > 1000: refused here
        r = c.read_response(timeout=scaled(5))
        assert_request_filtering_page(r, 413, 1)


def test_max_url_is_404_14_and_max_query_string_404_15(port):
    r = get(port, "/small/" + "a" * 40)
    assert_request_filtering_page(r, 404, 14)
    r = get(port, "/small/hello.txt?" + "q" * 11)
    assert_request_filtering_page(r, 404, 15)
    assert get(port, "/small/hello.txt?" + "q" * 10).status == 200
    # The other application keeps IIS' defaults (maxUrl 4096, maxQueryString 2048).
    assert get(port, "/hello.txt?" + "q" * 2000).status == 200
    assert_request_filtering_page(get(port, "/hello.txt?" + "q" * 2049), 404, 15)


def test_refusals_go_through_the_sites_error_pages(port):
    # httpErrors errorMode="Custom" at /custom: the worker's CustomErrorModule
    # answers the listener's 413.1 with the site's own page.
    with RawConn(port) as c:
        c.send(build_request("POST", "/custom/hello.txt",
                             headers=[("Content-Length", "70000000")]))
        r = c.read_response(timeout=scaled(5))
    assert r.status == 413, r
    assert b"our own page: too big" in r.body, r.body[:300]


def test_web_config_below_an_application_root_sets_the_limits(server, port):
    """requestLimits from a web.config in a subdirectory, as IIS reads them:
    one that raises maxAllowedContentLength lets a body through that the
    application root's <location> refuses; one that lowers it refuses a
    body the root allows, from the head alone; maxUrl follows each too."""
    # Raised to 5000: 3000 bytes are taken (a static file then answers 405).
    r = request(port, "POST", "/small/raised/hello.txt", body=b"x" * 3000)
    assert r.status == 405, r
    with RawConn(port) as c:
        c.send(build_request("POST", "/small/raised/hello.txt",
                             headers=[("Content-Length", "5001")]))
        assert_request_filtering_page(c.read_response(timeout=scaled(5)), 413, 1)
    # The application root keeps 1000.
    with RawConn(port) as c:
        c.send(build_request("POST", "/small/hello.txt", headers=[("Content-Length", "3000")]))
        assert_request_filtering_page(c.read_response(timeout=scaled(5)), 413, 1)
    # Lowered to 100: refused before any body byte is sent.
    with RawConn(port) as c:
        c.send(build_request("POST", "/small/lowered/hello.txt",
                             headers=[("Content-Length", "200")]))
        assert_request_filtering_page(c.read_response(timeout=scaled(5)), 413, 1)
    assert request(port, "POST", "/small/lowered/hello.txt", body=b"y" * 100).status == 405
    # maxUrl: 100 below raised/ (a 64-character URL is served), 30 below lowered/.
    long_url = "/small/raised/" + "r" * 50 + ".txt"
    assert len(long_url) > 40
    r = get(port, long_url)
    assert (r.status, r.body) == (200, b"long name\n"), r
    assert_request_filtering_page(get(port, "/small/lowered/" + "z" * 20), 404, 14)
    # A chunked body growing past the raised limit is still cut at it.
    with RawConn(port) as c:
        c.send(build_request("POST", "/small/raised/hello.txt",
                             headers=[("Transfer-Encoding", "chunked")]))
        c.send(b"fa0\r\n" + b"y" * 4000 + b"\r\n")
        c.send(b"7d0\r\n" + b"y" * 2000 + b"\r\n")
        assert_request_filtering_page(c.read_response(timeout=scaled(5)), 413, 1)


def test_editing_a_web_config_changes_the_limits_at_once(server, port):
    path = server.path("small/raised/web.config")
    try:
        assert request(port, "POST", "/small/raised/hello.txt", body=b"e" * 3000).status == 405
        with open(path + ".new", "w") as f:
            f.write(limits_web_config(2000, max_url=100))
        os.rename(path + ".new", path)

        def refused():
            with RawConn(port) as c:
                c.send(build_request("POST", "/small/raised/hello.txt",
                                     headers=[("Content-Length", "3000")]))
                return c.read_response(timeout=scaled(5)).status == 413
        harness.wait_until(refused, scaled(5), what="the edited web.config's limit")
    finally:
        with open(path, "w") as f:
            f.write(limits_web_config(5000, max_url=100))
    harness.wait_until(lambda: request(port, "POST", "/small/raised/hello.txt",
                                       body=b"e" * 3000).status == 405,
                       scaled(5), what="the limit restored")


def test_h2_streams_get_the_web_config_limits(server, port):
    """An h2 stream's body is held to the same limits, even when it starts
    to arrive before waspd has answered."""
    import subprocess
    base = "http://127.0.0.1:%d" % port

    def post(url, size):
        r = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null",
                            "-w", "%{http_code}", "--data-binary", "@-", base + url],
                           input=b"h" * size, stdout=subprocess.PIPE, timeout=scaled(30))
        return int(r.stdout)
    assert post("/small/raised/hello.txt?h2=1", 3000) == 405
    assert post("/small/raised/hello.txt?h2=2", 6000) == 413
    assert post("/small/lowered/hello.txt?h2=3", 200) == 413
    assert post("/small/hello.txt?h2=4", 900) == 405
