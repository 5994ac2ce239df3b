"""
The listener's log files (shared/reference/iis-hosting.md 2.4, 3.3, 4.6, 5):
W3C lines column by column, logExtFileFlags, customFields, MaxSize and
Hourly rollover (UTC and local time), the IIS and NCSA formats, central W3C
logging, HTTPERR lines and rollover, SIGUSR1 after logrotate moved a file,
httpLogging's dontLog and selectiveLogging, goaccess reading the W3C file,
and a disk that does not keep up (a FIFO nobody reads): requests are still
answered and the lost lines are counted.
"""
import calendar
import datetime
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import harness
from harness import RawConn, build_request, get, scaled, wait_until

POOL = "LogPool"
DEFAULT_FIELDS = ("date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
                  "cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken")
ALL_FLAGS = ("Date, Time, ClientIP, UserName, SiteName, ComputerName, ServerIP, Method, UriStem, "
             "UriQuery, HttpStatus, Win32Status, BytesSent, BytesRecv, TimeTaken, ServerPort, "
             "UserAgent, Cookie, Referer, ProtocolVersion, Host, HttpSubStatus")
ALL_FIELDS = ("date time s-sitename s-computername s-ip cs-method cs-uri-stem cs-uri-query "
              "s-port cs-username c-ip cs-version cs(User-Agent) cs(Cookie) cs(Referer) cs-host "
              "sc-status sc-substatus sc-win32-status sc-bytes cs-bytes time-taken")
HTTPERR_FIELDS = ("date time c-ip c-port s-ip s-port cs-version cs-method cs-uri streamid "
                  "sc-status s-siteid s-reason s-queuename")


def log_server(make_server, name, sites=1, site_xml=None, start=True):
    """A pool and `sites` sites (ids 1..n, ports main, s2, ...) serving www/."""
    s = make_server(name)
    s.pool(POOL)
    for i in range(sites):
        port = s.port("main" if i == 0 else "s%d" % (i + 1))
        xml = site_xml[i] if isinstance(site_xml, list) else (site_xml or "")
        s.site("Log Site %d" % (i + 1), ["127.0.0.1:%d:" % port], [("/", POOL, "www")],
               extra_xml=xml)
    s.file("www/hello.txt", "hello\n")
    if start:
        s.start()
    return s


def parse_w3c(path):
    """(directive lines, rows); each row is a dict keyed by the newest #Fields."""
    with open(path, "rb") as f:
        text = f.read().decode("utf-8")
    assert text.endswith("\r\n"), "lines end with CRLF: %r" % text[-40:]
    directives, rows, fields = [], [], None
    for line in text[:-2].split("\r\n"):
        assert "\n" not in line and "\r" not in line, repr(line)
        if line.startswith("#"):
            directives.append(line)
            if line.startswith("#Fields: "):
                fields = line[len("#Fields: "):].split(" ")
            continue
        values = line.split(" ")
        assert fields is not None and len(values) == len(fields), (fields, line)
        rows.append(dict(zip(fields, values)))
    return directives, rows


def data_lines(path):
    with open(path, "rb") as f:
        text = f.read().decode("utf-8")
    return [l for l in text.split("\r\n") if l and not l.startswith("#")]


def files_in(d, pattern=r".*\.log$"):
    try:
        return sorted(n for n in os.listdir(d) if re.match(pattern, n))
    except OSError:
        return []


def wait_rows(d, n, pattern=r".*\.log$"):
    """Wait until the log files of directory d hold n data lines (lines reach
    the file within a second); returns {file name: rows}."""
    def count():
        out = {}
        for name in files_in(d, pattern):
            out[name] = parse_w3c(os.path.join(d, name))[1]
        return out if sum(len(r) for r in out.values()) >= n else None
    return wait_until(count, scaled(10), what="%d log lines in %s" % (n, d))


def check_header(directives, fields, software="wasp"):
    assert directives[0] == "#Software: %s" % software, directives
    assert directives[1] == "#Version: 1.0", directives
    assert re.match(r"#Date: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", directives[2]), directives
    assert directives[3] == "#Fields: " + fields, directives


def row_time(row):
    return calendar.timegm(time.strptime(row["date"] + " " + row["time"], "%Y-%m-%d %H:%M:%S"))


def ymd(t, fmt="%y%m%d"):
    return time.strftime(fmt, time.gmtime(t))


# ---- W3C -----------------------------------------------------------------------

def test_w3c_default_columns_exact(make_server):
    s = log_server(make_server, "log-w3c", start=False)
    s.file("www/a b.txt", "space\n")
    s.start()
    port = s.port("main")
    t0 = time.time()
    ua = "Mozilla/5.0 (X11; Linux x86_64) wasp-test"
    with RawConn(port) as c:
        r1 = c.request("GET", "/hello.txt",
                       headers={"User-Agent": ua, "Referer": "http://example.com/a page"})
        r2 = c.request("GET", "/missing.txt?a=1&b=%20x", headers={"User-Agent": ua})
        r3 = c.request("GET", "/a%20b.txt")
    assert (r1.status, r2.status, r3.status) == (200, 404, 200)
    d = s.log_dir("LogFiles", "W3SVC1")
    rows = wait_rows(d, 3)
    (name, got), = rows.items()
    directives, got = parse_w3c(os.path.join(d, name))
    check_header(directives, DEFAULT_FIELDS)
    assert len(directives) == 4, "one header block"
    assert name == "u_ex%s.log" % ymd(row_time(got[0])), name
    for row in got:
        assert re.match(r"\d{4}-\d\d-\d\d$", row["date"]) and re.match(r"\d\d:\d\d:\d\d$",
                                                                     row["time"]), row
        assert t0 - 2 <= row_time(row) <= time.time() + 1, "date and time are UTC: %r" % row
        assert int(row["time-taken"]) >= 0, row
    want = [
        ("/hello.txt", "-", ua.replace(" ", "+"), "http://example.com/a+page", "200", "0", "0"),
        ("/missing.txt", "a=1&b=%20x", ua.replace(" ", "+"), "-", "404", "0", "2"),
        ("/a+b.txt", "-", "-", "-", "200", "0", "0"),
    ]
    for row, (stem, query, agent, referer, status, sub, win32) in zip(got, want):
        assert row["s-ip"] == "127.0.0.1" and row["c-ip"] == "127.0.0.1", row
        assert row["cs-method"] == "GET" and row["s-port"] == str(port), row
        assert row["cs-username"] == "-", row
        assert (row["cs-uri-stem"], row["cs-uri-query"], row["cs(User-Agent)"],
                row["cs(Referer)"], row["sc-status"], row["sc-substatus"],
                row["sc-win32-status"]) == (stem, query, agent, referer, status, sub, win32), row


def test_all_columns_bytes_and_time_taken(make_server):
    s = log_server(make_server, "log-all",
                   site_xml='<logFile logExtFileFlags="%s" />' % ALL_FLAGS)
    port = s.port("main")
    req1 = build_request("GET", "/hello.txt", headers={"Cookie": "a=1; b=2"}, body="abc")
    req2 = build_request("GET", "/x.wtest?op=sleep&ms=300")
    with RawConn(port) as c:
        c.send(req1)
        r1 = c.read_final()[1]
        c.send(req2)
        r2 = c.read_final()[1]
    with RawConn(port) as c:
        r3 = c.request("GET", "/hello.txt", version="HTTP/1.0")
    assert (r1.status, r2.status, r3.status) == (200, 200, 200)
    d = s.log_dir("LogFiles", "W3SVC1")
    (name, _), = wait_rows(d, 3).items()
    directives, rows = parse_w3c(os.path.join(d, name))
    check_header(directives, ALL_FIELDS)
    a, b, c3 = rows
    for row in rows:
        assert row["s-sitename"] == "W3SVC1", row
        assert row["s-computername"] == socket.gethostname(), row
        assert row["cs-host"] == "localhost", row
    assert a["cs(Cookie)"] == "a=1;+b=2" and b["cs(Cookie)"] == "-"
    assert a["cs-version"] == "HTTP/1.1" and c3["cs-version"] == "HTTP/1.0"
    # Bytes on the wire, head included, both ways.
    assert int(a["cs-bytes"]) == len(req1), (a, len(req1))
    assert int(a["sc-bytes"]) == len(r1.raw_head) + len(r1.body), a
    assert int(b["cs-bytes"]) == len(req2)
    assert int(b["sc-bytes"]) == len(r2.raw_head) + len(r2.body), b
    assert int(c3["sc-bytes"]) == len(r3.raw_head) + len(r3.body), c3
    # time-taken counts from the first byte to the last one sent.
    assert 300 <= int(b["time-taken"]) < 300 + scaled(2000), b


def test_fields_change_with_configuration(make_server):
    s = log_server(make_server, "log-reload")
    port = s.port("main")
    assert get(port, "/hello.txt").status == 200
    d = s.log_dir("LogFiles", "W3SVC1")
    wait_rows(d, 1)
    mark = s.log_size()
    name, sid, bindings, apps, _ = s.sites[0]
    s.sites[0] = (name, sid, bindings, apps,
                  '<logFile logExtFileFlags="Date, Time, HttpStatus, BytesSent" />')
    s.write_config()
    s.wait_log(r"wasp-http\[\d+\]: configuration applied", since=mark)
    r = get(port, "/hello.txt")
    assert r.status == 200
    (fname, rows), = wait_rows(d, 2).items()
    directives, rows = parse_w3c(os.path.join(d, fname))
    # A second header block in the same file, with the new columns.
    assert [x for x in directives if x.startswith("#Fields")] == [
        "#Fields: " + DEFAULT_FIELDS, "#Fields: date time sc-status sc-bytes"], directives
    assert rows[0]["cs-uri-stem"] == "/hello.txt" and "sc-bytes" not in rows[0]
    assert set(rows[1]) == {"date", "time", "sc-status", "sc-bytes"}, rows[1]
    assert int(rows[1]["sc-bytes"]) == len(r.raw_head) + len(r.body)


def test_custom_fields(make_server):
    s = log_server(make_server, "log-custom", site_xml=(
        '<logFile logExtFileFlags="Date, Time, UriStem"><customFields maxCustomFieldLength="12">'
        '<add logFieldName="X-Forwarded-For" sourceName="X-Forwarded-For" '
        'sourceType="RequestHeader" />'
        '<add logFieldName="ContentType" sourceName="Content-Type" sourceType="ResponseHeader" />'
        '<add logFieldName="Port" sourceName="SERVER_PORT" sourceType="ServerVariable" />'
        '<add logFieldName="Agent" sourceName="HTTP_USER_AGENT" sourceType="ServerVariable" />'
        '<add logFieldName="User" sourceName="AUTH_USER" sourceType="ServerVariable" />'
        '<add logFieldName="Proto" sourceName="SERVER_PROTOCOL" sourceType="ServerVariable" />'
        '</customFields></logFile>'))
    port = s.port("main")
    r = get(port, "/hello.txt", headers={"X-Forwarded-For": "203.0.113.9, 198.51.100.1",
                                         "User-Agent": "agent 1"})
    assert r.status == 200
    d = s.log_dir("LogFiles", "W3SVC1")
    (name, rows), = wait_rows(d, 1).items()
    assert re.match(r"u_ex\d{6}_x\.log$", name), "custom fields: the _x file: %s" % name
    directives, rows = parse_w3c(os.path.join(d, name))
    check_header(directives,
                 "date time cs-uri-stem X-Forwarded-For ContentType Port Agent User Proto")
    row = rows[0]
    assert row["X-Forwarded-For"] == "203.0.113.9,", "cut at maxCustomFieldLength: %r" % row
    assert row["ContentType"] == "text/plain", row
    assert row["Port"] == str(port), row
    assert row["Agent"] == "agent+1", row
    assert row["User"] == "-", "a variable only the worker knows: %r" % row
    assert row["Proto"] == "HTTP/1.1", row


def test_maxsize_rollover(make_server):
    s = log_server(make_server, "log-maxsize", site_xml=(
        '<logFile period="MaxSize" truncateSize="1048576" '
        'logExtFileFlags="Date, Time, UriStem, HttpStatus, UserAgent" />'))
    port = s.port("main")
    ua = "U" * 15000
    with RawConn(port) as c:
        for i in range(150):
            assert c.request("GET", "/hello.txt", headers={"User-Agent": ua}).status == 200
    d = s.log_dir("LogFiles", "W3SVC1")
    rows = wait_rows(d, 150)
    assert sorted(rows) == ["u_extend1.log", "u_extend2.log", "u_extend3.log"], sorted(rows)
    for name in rows:
        path = os.path.join(d, name)
        assert os.path.getsize(path) <= 1048576, (name, os.path.getsize(path))
        directives, got = parse_w3c(path)
        check_header(directives, "date time cs-uri-stem cs(User-Agent) sc-status")
        assert got and all(r["cs(User-Agent)"] == ua for r in got)
    # Each file is filled before the next begins.
    assert os.path.getsize(os.path.join(d, "u_extend1.log")) > 1048576 - 16 * 1024


def test_hourly_names_utc_and_local_time(make_server, monkeypatch):
    # A zone 5:45 ahead of UTC (POSIX form: no tzdata needed).
    monkeypatch.setenv("TZ", "NPT-5:45")
    s = log_server(make_server, "log-hourly", sites=2, site_xml=[
        '<logFile period="Hourly" />',
        '<logFile period="Hourly" localTimeRollover="true" />'])
    assert get(s.port("main"), "/hello.txt").status == 200
    assert get(s.port("s2"), "/hello.txt").status == 200
    utc = wait_rows(s.log_dir("LogFiles", "W3SVC1"), 1)
    local = wait_rows(s.log_dir("LogFiles", "W3SVC2"), 1)
    (uname, urows), = utc.items()
    (lname, lrows), = local.items()
    t = row_time(urows[0])
    assert uname == "u_ex%s.log" % ymd(t, "%y%m%d%H"), uname
    # The name follows local time; the lines' date and time stay UTC.
    lt = row_time(lrows[0])
    assert abs(lt - t) < 5
    assert lname == "u_ex%s.log" % ymd(lt + 5 * 3600 + 45 * 60, "%y%m%d%H"), lname


def test_iis_and_ncsa_formats(make_server, monkeypatch):
    monkeypatch.setenv("TZ", "NPT-5:45")
    s = log_server(make_server, "log-iis-ncsa", sites=2, site_xml=[
        '<logFile logFormat="IIS" />', '<logFile logFormat="NCSA" />'])
    reqs, resps = [], []
    for key in ("main", "s2"):
        req = build_request("GET", "/hello.txt?x=1")
        with RawConn(s.port(key)) as c:
            c.send(req)
            resps.append(c.read_final()[1])
        reqs.append(req)
    t = time.time()
    d1, d2 = s.log_dir("LogFiles", "W3SVC1"), s.log_dir("LogFiles", "W3SVC2")
    wait_until(lambda: files_in(d1) and data_lines(os.path.join(d1, files_in(d1)[0])),
               scaled(10), what="the IIS format line")
    wait_until(lambda: files_in(d2) and data_lines(os.path.join(d2, files_in(d2)[0])),
               scaled(10), what="the NCSA format line")
    (n1,), (n2,) = files_in(d1), files_in(d2)
    assert n1 in ("u_in%s.log" % ymd(t), "u_in%s.log" % ymd(t - 5)), n1
    assert n2 in ("u_nc%s.log" % ymd(t), "u_nc%s.log" % ymd(t - 5)), n2
    with open(os.path.join(d1, n1), "rb") as f:
        iis = f.read().decode()
    with open(os.path.join(d2, n2), "rb") as f:
        ncsa = f.read().decode()
    assert not iis.startswith("#") and not ncsa.startswith("#"), "no header lines"
    # IIS: local time, comma-separated, every field followed by ','.
    m = re.match(r"127\.0\.0\.1, -, (\d\d/\d\d/\d\d), (\d{1,2}:\d\d:\d\d), W3SVC1, %s, "
                 r"127\.0\.0\.1, (\d+), (\d+), (\d+), 200, 0, GET, /hello\.txt, x=1,\r\n$"
                 % re.escape(socket.gethostname()), iis)
    assert m, iis
    local = datetime.datetime.strptime(m.group(1) + " " + m.group(2), "%m/%d/%y %H:%M:%S")
    utc_now = datetime.datetime.utcfromtimestamp(t)
    assert abs((local - utc_now).total_seconds() - (5 * 3600 + 45 * 60)) < 10, (local, utc_now)
    assert int(m.group(4)) == len(reqs[0])
    assert int(m.group(5)) == len(resps[0].raw_head) + len(resps[0].body)
    # NCSA: local time with its offset, the request line, status, bytes sent.
    m = re.match(r'127\.0\.0\.1 - - \[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d) \+0545\] '
                 r'"GET /hello\.txt\?x=1 HTTP/1\.1" 200 (\d+)\r\n$', ncsa)
    assert m, ncsa
    local = datetime.datetime.strptime(m.group(1), "%d/%b/%Y:%H:%M:%S")
    assert abs((local - utc_now).total_seconds() - (5 * 3600 + 45 * 60)) < 10
    assert int(m.group(2)) == len(resps[1].raw_head) + len(resps[1].body)


def test_central_w3c(make_server):
    s = log_server(make_server, "log-central", sites=2, start=False)
    central = s.path("central")
    s.apphost_xml.append('<log centralLogFileMode="CentralW3C"><centralW3CLogFile '
                         'directory="%s" period="MaxSize" /></log>' % central)
    s.start()
    assert get(s.port("main"), "/hello.txt").status == 200
    assert get(s.port("s2"), "/missing.txt").status == 404
    d = os.path.join(central, "W3SVC")
    rows = wait_rows(d, 2)
    assert list(rows) == ["u_extend1.log"], rows
    directives, got = parse_w3c(os.path.join(d, "u_extend1.log"))
    # centralW3CLogFile's default flags add SiteName.
    check_header(directives, DEFAULT_FIELDS.replace("date time", "date time s-sitename"))
    assert [(r["s-sitename"], r["s-port"], r["cs-uri-stem"], r["sc-status"]) for r in got] == [
        ("W3SVC1", str(s.port("main")), "/hello.txt", "200"),
        ("W3SVC2", str(s.port("s2")), "/missing.txt", "404")]
    assert not os.path.exists(s.log_dir("LogFiles", "W3SVC1")), "no per-site log in central mode"


# ---- httpLogging ------------------------------------------------------------------

def test_selective_logging_and_dont_log(make_server):
    s = log_server(make_server, "log-selective", sites=2, start=False)
    s.file("www/quiet/q.txt", "q\n")
    s.location("Log Site 1", '<httpLogging selectiveLogging="LogError" />')
    s.location("Log Site 1/quiet", '<httpLogging dontLog="true" />')
    s.location("Log Site 2", '<httpLogging selectiveLogging="LogSuccessful" />')
    s.start()
    with RawConn(s.port("main")) as c:
        for path, status in (("/hello.txt", 200), ("/missing-1.txt", 404), ("/quiet/q.txt", 200),
                             ("/quiet/none.txt", 404), ("/missing-2.txt", 404)):
            assert c.request("GET", path).status == status, path
    with RawConn(s.port("s2")) as c:
        for path, status in (("/missing-1.txt", 404), ("/hello.txt", 200),
                             ("/quiet/q.txt", 200)):
            assert c.request("GET", path).status == status, path
    # Lines are written in order: the last request's line means the others
    # were decided on.
    rows1 = wait_rows(s.log_dir("LogFiles", "W3SVC1"), 2)
    rows2 = wait_rows(s.log_dir("LogFiles", "W3SVC2"), 2)
    assert [r["cs-uri-stem"] for r in list(rows1.values())[0]] == ["/missing-1.txt",
                                                                   "/missing-2.txt"]
    assert [r["cs-uri-stem"] for r in list(rows2.values())[0]] == ["/hello.txt", "/quiet/q.txt"]


# ---- HTTPERR ------------------------------------------------------------------------

def parse_httperr(text):
    lines = text.split("\r\n")
    assert lines[-1] == ""
    return [l.split(" ") for l in lines[:-1] if not l.startswith("#")]


def test_httperr_lines_exact(make_server):
    s = log_server(make_server, "log-httperr")
    port = s.port("main")
    with RawConn(port) as c:
        c.send(b"GET /bad?q=1 HTTP/1.1\r\nHost: localhost\r\nBad Header\r\n\r\n")
        assert c.read_response().status == 400
        bad_port = c.sock.getsockname()[1]
    assert get(port, "/hello.txt").status == 200
    assert s.ctl("stop-apppool", POOL)[0] == 0
    with RawConn(port) as c:
        assert c.request("GET", "/hello.txt?x=1").status == 503
        stopped_port = c.sock.getsockname()[1]
    assert s.ctl("start-apppool", POOL)[0] == 0
    # A client that leaves while its response is being sent.
    with RawConn(port) as c:
        c.send(build_request("GET", "/x.wtest?op=big&kb=65536"))
        assert c.sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        dropped_port = c.sock.getsockname()[1]
    s.wait_httperr(r"Connection_Dropped")
    text = s.httperr_text()
    directives = [l for l in text.split("\r\n") if l.startswith("#")]
    check_header(directives, HTTPERR_FIELDS, software="wasp-http")
    lines = parse_httperr(text)
    for f in lines:
        assert len(f) == 14, f
        assert re.match(r"\d{4}-\d\d-\d\d$", f[0]) and re.match(r"\d\d:\d\d:\d\d$", f[1]), f
        assert f[2] == "127.0.0.1" and f[4] == "127.0.0.1" and f[5] == str(port), f
        assert f[9] == "-", "streamid: HTTP/1.x has none"
    by_port = {int(f[3]): f[6:] for f in lines}
    assert by_port[bad_port] == ["HTTP/1.1", "GET", "/bad?q=1", "-", "400", "-", "Header", "-"]
    assert by_port[stopped_port] == ["HTTP/1.1", "GET", "/hello.txt?x=1", "-", "503", "1",
                                     "Disabled", POOL]
    assert by_port[dropped_port] == ["HTTP/1.1", "GET", "/x.wtest?op=big&kb=65536", "-", "200",
                                     "1", "Connection_Dropped", POOL]
    # waspd's own readiness probe (no Host header) is there too.
    assert ["HTTP/1.1", "GET", "/", "-", "400", "-", "Hostname", "-"] in by_port.values()
    # The access log has the dropped response, with win32 status 64.
    rows = wait_rows(s.log_dir("LogFiles", "W3SVC1"), 2)
    dropped = [r for r in list(rows.values())[0] if r["cs-uri-stem"] == "/x.wtest"]
    assert [(r["sc-status"], r["sc-win32-status"]) for r in dropped] == [("200", "64")], dropped


def test_httperr_directory_and_rollover(make_server):
    s = log_server(make_server, "log-httperr-size", start=False)
    errdir = s.path("errlogs")
    s.extra_sections.append('<wasp><httpSys ErrorLogFileTruncateSize="1048576" '
                            'ErrorLoggingDir="%s" /></wasp>' % errdir)
    s.start()
    port = s.port("main")
    long_url = "/" + "u" * 4000
    for _ in range(300):
        resp, _ = harness.send_raw(port, ("GET %s HTTP/1.1\r\nHost: localhost\r\nBad Header\r\n"
                                          "\r\n" % long_url).encode())
        assert resp.status == 400
    d = os.path.join(errdir, "HTTPERR")

    def count():
        n = 0
        for name in files_in(d, r"httperr\d+\.log$"):
            with open(os.path.join(d, name), "rb") as f:
                n += f.read().decode().count(" %s - 400 - Header -\r\n" % long_url)
        return n == 300
    wait_until(count, scaled(10), what="300 HTTPERR lines")
    assert files_in(d, r"httperr\d+\.log$") == ["httperr1.log", "httperr2.log"]
    for name in ("httperr1.log", "httperr2.log"):
        path = os.path.join(d, name)
        assert os.path.getsize(path) <= 1048576, (name, os.path.getsize(path))
        with open(path, "rb") as f:
            assert f.read(30).startswith(b"#Software: wasp-http\r\n"), name
    assert not os.path.exists(s.log_dir("HTTPERR")), "ErrorLoggingDir replaces the default"


# ---- operations ---------------------------------------------------------------------

def test_sigusr1_reopens_after_logrotate_moved_the_file(make_server):
    s = log_server(make_server, "log-sigusr1", site_xml='<logFile period="Monthly" />')
    port = s.port("main")
    d = s.log_dir("LogFiles", "W3SVC1")
    assert get(port, "/one.txt").status == 404
    (name, _), = wait_rows(d, 1).items()
    path = os.path.join(d, name)
    os.rename(path, path + ".1")  # logrotate: move ...
    assert get(port, "/two.txt").status == 404  # still written to the moved file
    mark = s.log_size()
    s.signal(signal.SIGUSR1)  # ... then signal waspd, which tells the listener
    s.wait_log(r"wasp-http\[\d+\]: SIGUSR1: log files are opened again", since=mark)
    assert get(port, "/three.txt").status == 404
    wait_until(lambda: os.path.exists(path) and parse_w3c(path)[1], scaled(10),
               what="the new file")
    old_dirs, old_rows = parse_w3c(path + ".1")
    new_dirs, new_rows = parse_w3c(path)
    assert [r["cs-uri-stem"] for r in old_rows] == ["/one.txt", "/two.txt"]
    assert [r["cs-uri-stem"] for r in new_rows] == ["/three.txt"]
    check_header(new_dirs, DEFAULT_FIELDS)


def test_goaccess_reads_the_w3c_file(make_server):
    s = log_server(make_server, "log-goaccess")
    port = s.port("main")
    with RawConn(port) as c:
        for i in range(5):
            assert c.request("GET", "/hello.txt?i=%d" % i,
                             headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) test",
                                      "Referer": "http://example.com/"}).status == 200
        assert c.request("GET", "/missing.txt").status == 404
        assert c.request("GET", "/missing.txt").status == 404
    d = s.log_dir("LogFiles", "W3SVC1")
    (name, _), = wait_rows(d, 7).items()
    out = s.path("goaccess.json")
    try:
        p = subprocess.run(["goaccess", os.path.join(d, name), "--log-format=W3C",
                            "--no-global-config", "-o", out],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=scaled(60))
    except FileNotFoundError:
        raise AssertionError("goaccess is not installed (scripts/deps.sh test installs it)")
    assert p.returncode == 0, p.stderr.decode()
    with open(out) as f:
        general = json.load(f)["general"]
    assert general["total_requests"] == 7, general
    assert general["valid_requests"] == 7 and general["failed_requests"] == 0, general
    assert general["unique_not_found"] == 1, general


def test_a_disk_that_does_not_keep_up_costs_lines_not_requests(make_server):
    """The log file is a FIFO nobody reads: the writer thread blocks in open(),
    and the listener must keep answering while its buffers fill up to the
    bound; the lines over it are dropped, and the warning counts them."""
    s = log_server(make_server, "log-fifo", site_xml=(
        '<logFile period="Monthly" logExtFileFlags="Date, Time, UriStem, UserAgent" />'))
    port = s.port("main")
    d = s.log_dir("LogFiles", "W3SVC1")
    fifo = os.path.join(d, "u_ex%s.log" % time.strftime("%y%m", time.gmtime()))
    os.mkfifo(fifo)
    os.chmod(fifo, 0o666)
    ua = "U" * 15000
    n = 400  # about 6 MB of lines: more than the writer's 4 MiB bound
    with RawConn(port) as c:
        for i in range(n):
            assert c.request("GET", "/hello.txt", headers={"User-Agent": ua},
                             timeout=scaled(5)).status == 200
    s.wait_log(r"log files: \d+ line\(s\) dropped", timeout=scaled(15))
    # Now read the FIFO: everything that was kept reaches it.
    got = []

    def drain():
        with open(fifo, "rb") as f:
            got.append(f.read())
    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    s.signal(signal.SIGTERM)  # the listener writes what it kept, then exits
    assert s.wait_exit(scaled(30)) == 0
    reader.join(scaled(30))
    assert not reader.is_alive() and got, "the FIFO reached its end when the listener exited"
    written = [l for l in got[0].decode().split("\r\n") if l and not l.startswith("#")]
    dropped = sum(int(x) for x in re.findall(r"log files: (\d+) line\(s\) dropped",
                                             s.log_text()))
    assert written and dropped > 0, (len(written), dropped)
    assert len(written) + dropped == n, (len(written), dropped)


def log_root_server(make_server, name):
    """A site whose event log shares the log root (<runtime dir>/logs), as
    /var/log/wasp/events.log does with the default runtime directory."""
    s = make_server(name)
    port = s.port("main")
    s.pool("LogRootPool")
    s.site("Log Root Site", ["127.0.0.1:%d:" % port], [("/", "LogRootPool", "www")], site_id=1)
    s.file("www/hello.txt", "hello\n")
    s.extra_args += ["--event-log", os.path.join(s.rundir, "logs", "events.log")]
    return s, port


def test_event_log_in_the_log_root_leaves_it_reachable(make_server):
    """waspd makes the event log's directory first; the listener (its own
    unprivileged user) must still pass through it to the site logs below."""
    s, port = log_root_server(make_server, "logroot")
    s.start()
    assert get(port, "/hello.txt").status == 200
    wait_rows(os.path.join(s.rundir, "logs", "LogFiles", "W3SVC1"), 1)
    assert "cannot reach" not in s.log_text() and "Permission denied" not in s.log_text()


def test_unreachable_log_root_is_named_with_the_fix(make_server):
    """A log root made 0750 for root by hand: waspd says which directory
    hides the logs from the listener, and the command that fixes it."""
    s, port = log_root_server(make_server, "logroot-closed")
    os.makedirs(os.path.join(s.rundir, "logs"), mode=0o750)
    os.chmod(os.path.join(s.rundir, "logs"), 0o750)
    s.start()
    if os.geteuid() == 0:
        s.wait_log(r"the listener \(user wasp-http\) cannot reach it: %s is mode 0750; "
                   r"fix: chmod o\+x" % re.escape(os.path.join(s.rundir, "logs")))
    else:  # a normal user's waspd runs the listener as itself: nothing is hidden
        assert get(port, "/hello.txt").status == 200
        wait_rows(os.path.join(s.rundir, "logs", "LogFiles", "W3SVC1"), 1)
