"""
Counters (IIS' Web Service and HTTP Service Request Queues sets) counted by
the real listener and read with `waspctl list counters` through a real
waspd (docs/operations.md, "Counters and metrics").
"""
import re
import json
import socket
import subprocess
import urllib.parse
import urllib.request

import harness

from harness import RawConn, get, request, scaled, wait_until
from test_waspctl import POOL, live_server, waspctl

SITE = "Default Web Site"


def counters(s, *filters):
    r = waspctl("list", "counters", *filters, config=s.config_path, rundir=s.rundir)
    assert r.returncode == 0, r.stderr
    sets = {}
    for line in r.stdout.splitlines():
        # "Set/instance", or a set without instances (Web Service Cache)
        m = re.fullmatch(r'COUNTERSET "([^"/]+)(?:/([^"]+))?" \((.*)\)', line)
        assert m, line
        values = dict(kv.split(":", 1) for kv in m.group(3).split(","))
        sets[(m.group(1), m.group(2))] = values
    return sets


def site_counters(s):
    return {k: int(v) for k, v in counters(s, "/site:" + SITE)[("Web Service", SITE)].items()}


def test_counters_move_with_requests(make_server):
    s = live_server(make_server, "metrics-counters")
    s.start()
    port = s.port("main")
    before = site_counters(s)
    assert before["SITE.ID"] >= 1
    for _ in range(3):
        assert get(port, "/hello.txt").status == 200
    assert request(port, "HEAD", "/hello.txt").status == 200
    assert get(port, "/missing.txt").status == 404
    post = request(port, "POST", "/hello.txt", body="x" * 1000)
    request(port, "OPTIONS", "/hello.txt")
    request(port, "PUT", "/hello.txt", body="y")
    after = site_counters(s)
    assert after["TotalGetRequests"] - before["TotalGetRequests"] == 4
    assert after["TotalHeadRequests"] - before["TotalHeadRequests"] == 1
    assert after["TotalPostRequests"] - before["TotalPostRequests"] == 1
    assert after["TotalOtherRequestMethods"] - before["TotalOtherRequestMethods"] == 2
    assert after["TotalMethodRequests"] - before["TotalMethodRequests"] == 8
    assert after["TotalNotFoundErrors"] - before["TotalNotFoundErrors"] == 1
    assert post.status in (200, 405)
    # the POST's body alone is 1000 bytes received; each 200 GET sends "hello\n"
    assert after["TotalBytesReceived"] - before["TotalBytesReceived"] > 1000
    assert after["TotalBytesSent"] - before["TotalBytesSent"] > 3 * len("hello\n")
    assert after["TotalConnectionAttempts"] - before["TotalConnectionAttempts"] >= 7

    # connections: two held open, then closed
    c1, c2 = RawConn(port), RawConn(port)
    try:
        for c in (c1, c2):
            assert c.request("GET", "/hello.txt").status == 200
        held = site_counters(s)
        assert held["CurrentConnections"] == 2
        assert held["MaximumConnections"] >= 2
    finally:
        c1.close()
        c2.close()
    wait_until(lambda: site_counters(s)["CurrentConnections"] == 0, scaled(5),
               what="CurrentConnections back to 0")


def test_queue_counters_and_filters(make_server):
    s = live_server(make_server, "metrics-queue")
    s.start()
    port = s.port("main")
    for _ in range(2):
        assert get(port, "/hello.txt").status == 200
    sets = counters(s, "/apppool:" + POOL)
    assert list(sets) == [("HTTP Service Request Queues", POOL)]
    q = sets[("HTTP Service Request Queues", POOL)]
    assert int(q["TotalArrivals"]) >= 2
    assert q["CurrentQueueSize"] == "0"
    assert q["RejectedRequests"] == "0"
    assert q["TotalCacheHits"] == "0" and q["CacheHitRate"] == "0.00"
    assert float(q["ArrivalRate"]) > 0
    # no filter: every set; an unknown parameter is refused
    assert {k[0] for k in counters(s)} == {"Web Service", "HTTP Service Request Queues",
                                           "Web Service Cache"}
    r = waspctl("list", "counters", "/bogus:1", config=s.config_path, rundir=s.rundir)
    assert r.returncode == 2 and "/bogus is not a parameter" in r.stderr


def test_queue_rejections_counted(make_server):
    s = live_server(make_server, "metrics-reject")
    s.start()
    port = s.port("main")
    assert waspctl("stop", "apppool", POOL, config=s.config_path,
                   rundir=s.rundir).returncode == 0
    assert get(port, "/hello.txt").status == 503
    q = counters(s, "/apppool:" + POOL)[("HTTP Service Request Queues", POOL)]
    assert q["RejectedRequests"] == "1"


def test_counters_need_waspd(make_server):
    s = live_server(make_server, "metrics-offline")
    with open(s.config_path, "w") as f:
        f.write(s.config_xml())
    r = waspctl("list", "counters", config=s.config_path, rundir=s.rundir)
    assert r.returncode != 0
    assert "waspd is not running" in r.stderr


def metrics_server(make_server, name):
    s = live_server(make_server, name)
    admin = harness.free_port()
    s.extra_sections.append('<wasp><admin metricsBinding="127.0.0.1:%d" '
                            'allowedAddresses="127.0.0.1, ::1" /></wasp>' % admin)
    return s, admin


def admin_get(admin, path, source="127.0.0.1"):
    """GET on the admin binding from a chosen loopback source address."""
    sock = socket.create_connection(("127.0.0.1", admin), timeout=scaled(10),
                                    source_address=(source, 0))
    try:
        sock.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    return int(lines[0].split()[1]), headers, body.decode()


def test_metrics_endpoint(make_server):
    s, admin = metrics_server(make_server, "metrics-admin")
    s.start()
    port = s.port("main")
    for _ in range(3):
        assert get(port, "/hello.txt").status == 200
    assert get(port, "/nothing-here").status == 404
    status, headers, body = admin_get(admin, "/metrics")
    assert status == 200
    assert headers["content-type"] == \
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    assert body.endswith("# EOF\n")
    assert "# TYPE wasp_site_requests counter\n" in body
    assert "# UNIT wasp_site_sent_bytes bytes\n" in body
    assert 'wasp_site_requests_total{site="%s",method="GET"} 4\n' % SITE in body
    assert 'wasp_site_not_found_errors_total{site="%s"} 1\n' % SITE in body
    # the third /hello.txt is a response-cache hit: it never reaches the pool
    assert 'wasp_queue_arrivals_total{app_pool="%s"} 3\n' % POOL in body
    assert 'wasp_queue_cache_hits_total{app_pool="%s"} 1\n' % POOL in body
    assert "\nwasp_cache_hits_total 1\n" in body and "\nwasp_cache_current_uris 1\n" in body
    # the admin binding is not a site: its requests are not counted, other paths 404
    assert admin_get(admin, "/hello.txt")[0] == 404
    assert admin_get(admin, "/")[0] == 404
    # 127.0.0.2 reaches lo too, but is not in allowedAddresses
    assert admin_get(admin, "/metrics", source="127.0.0.2")[0] == 403
    assert 'method="GET"} 4\n' in admin_get(admin, "/metrics")[2]


def test_prometheus_scrapes_admin_binding(make_server, tmp_path):
    """A real Prometheus server (Debian's) scrapes /metrics and answers a
    query with the requests made."""
    s, admin = metrics_server(make_server, "metrics-prometheus")
    s.start()
    port = s.port("main")
    for _ in range(5):
        assert get(port, "/hello.txt").status == 200
    web = harness.free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                   "scrape_configs:\n  - job_name: wasp\n"
                   "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % admin)
    log = open(tmp_path / "prometheus.log", "w")
    proc = subprocess.Popen(["/usr/bin/prometheus", "--config.file=%s" % cfg,
                             "--storage.tsdb.path=%s" % (tmp_path / "data"),
                             "--web.listen-address=127.0.0.1:%d" % web],
                            stdout=log, stderr=subprocess.STDOUT)
    query = urllib.parse.quote('wasp_site_requests_total{site="%s",method="GET"}' % SITE)
    result = {}

    def answered():
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/query?query=%s"
                                        % (web, query), timeout=scaled(5)) as r:
                data = json.load(r)
        except OSError:
            return False
        result["data"] = data
        return data["status"] == "success" and len(data["data"]["result"]) == 1
    try:
        wait_until(answered, scaled(60), interval=0.5, what="Prometheus has the series")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=scaled(20))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    series = result["data"]["data"]["result"][0]
    assert series["metric"]["job"] == "wasp"
    assert series["value"][1] == "5"
