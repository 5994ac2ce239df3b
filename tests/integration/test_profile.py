"""
conf/profiles/high-concurrency.config, the shipped profile for a busy site:
loaded unchanged (only its port and content directory are the test's), and
each of its settings checked in force, by behaviour where a test can see it
and by waspd's own account (the control socket's `poolcfg`) for the timers.
"""
import os
import re
import resource
import time

import harness
from harness import RawConn, build_request, get, scaled, wait_until

PROFILE = os.path.join(os.path.dirname(__file__), "..", "..", "conf", "profiles",
                       "high-concurrency.config")


def start_profile(make_server):
    s = make_server("profile")
    port = s.port("main")
    with open(PROFILE) as f:
        text = f.read()
    text = harness.replace_once(text, 'bindingInformation="*:8080:"',
                                'bindingInformation="127.0.0.1:%d:"' % port)
    text = harness.replace_once(text, 'physicalPath="../wwwroot"',
                                'physicalPath="%s"' % s.path("www"))
    # The test module too, for a worker that hangs on purpose.
    text = text.replace("</globalModules>", '    <add name="TestModule" image="%s" />\n'
                        "        </globalModules>" % s.test_module_image())
    text = text.replace('<add name="RewriteModule" />\n',
                        '<add name="RewriteModule" />\n            <add name="TestModule" />\n')
    text = text.replace('<handlers accessPolicy="Read, Script">',
                        '<handlers accessPolicy="Read, Script">\n            '
                        '<add name="TestHandler" path="*.wtest" verb="*" modules="TestModule" '
                        'resourceType="Unspecified" requireAccess="None" />', 1)
    s.config_text = text
    os.makedirs(s.path("www/dir"), exist_ok=True)
    s.file("www/index.html", "<h1>front controller</h1>\n")
    s.file("www/style.css", "body{}\n")
    s.start()
    return s, port


def poolcfg(s):
    code, _, text, _ = s.ctl("state")
    assert code == 0
    line = next(l for l in text.splitlines() if l.startswith("poolcfg\tDefaultAppPool\t"))
    return dict(f.split("=", 1) for f in line.split("\t")[2:])


def test_profile_settings_in_force(make_server):
    s, port = start_profile(make_server)
    cfg = poolcfg(s)
    assert cfg["queueLength"] == "65535"
    assert cfg["idleTimeout"] == "0", "never idle"
    assert cfg["periodicRestart.time"] == "0", "no time-based recycle"

    # Header limits: a 30 KB cookie passes (16 KiB is HTTP.sys' default).
    r = get(port, "/style.css", headers={"Cookie": "c=" + "x" * 30000})
    assert r.status == 200, r

    # Cache-Control public on static files.
    cc = r.header("Cache-Control")
    assert cc is not None and "public" in cc and "max-age=86400" in cc, cc

    # The URL Rewrite rule: what is not a file or a directory goes to /index.html.
    r = get(port, "/blog/2026/11/hello-world")
    assert r.status == 200 and b"front controller" in r.body, r
    assert get(port, "/style.css").body == b"body{}\n", "files are served as they are"


def test_profile_queue_holds_more_than_the_default(make_server):
    """1,100 requests wait behind a stuck worker (IIS' default queueLength
    1000 would answer 503 QueueFull), and all get 200 from its replacement."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    s, port = start_profile(make_server)
    with RawConn(port, timeout=scaled(30)) as stuck:
        stuck.send(build_request("GET", "/x.wtest?op=hang"))
        worker = s.wait_worker("DefaultAppPool", timeout=scaled(5))
        time.sleep(0.3)
        conns = []
        try:
            for _ in range(1100):
                c = RawConn(port, timeout=scaled(60))
                c.send(build_request("GET", "/style.css"))
                conns.append(c)
            time.sleep(1.5)  # HTTPERR lines reach their file within a second
            assert "QueueFull" not in s.httperr_text(), "queueLength 65535: nothing refused"
            os.kill(worker, 9)
            statuses = [c.read_response(timeout=scaled(60)).status for c in conns]
        finally:
            for c in conns:
                c.close()
    assert statuses.count(200) == 1100, {x: statuses.count(x) for x in set(statuses)}
