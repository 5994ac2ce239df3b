"""
conf/applicationHost.config, the file wasp ships as its root
configuration: loaded as it is (only its port and, because the copy lives
in a temporary directory, its relative physicalPath made absolute) and
serving conf/wwwroot as a fresh installation does.
"""
import os

import harness
from harness import get

CONF = os.path.join(harness.REPO, "conf")
SHIPPED = os.path.join(CONF, "applicationHost.config")
WWWROOT = os.path.join(CONF, "wwwroot")


def read(rel):
    with open(os.path.join(WWWROOT, rel), "rb") as f:
        return f.read()


def start_shipped(make_server):
    s = make_server("shipped")
    port = s.port("main")
    with open(SHIPPED) as f:
        text = f.read()
    text = harness.replace_once(text, 'bindingInformation="*:8080:"',
                                'bindingInformation="*:%d:"' % port)
    text = harness.replace_once(text, '<virtualDirectory path="/" physicalPath="wwwroot" />',
                                '<virtualDirectory path="/" physicalPath="%s" />' % WWWROOT)
    s.config_text = text
    s.start()
    return s, port


def test_shipped_config_serves_wwwroot(make_server):
    s, port = start_shipped(make_server)

    # "/" is the default document: index.html (Default.htm, Default.asp
    # and index.htm, listed before it, do not exist).
    r = get(port, "/")
    assert r.status == 200, r
    assert r.body == read("index.html")
    assert r.header("Content-Type") == "text/html", r

    # Files get IIS' MIME types from the stock <staticContent> list.
    r = get(port, "/style.css")
    assert r.status == 200, r
    assert r.body == read("style.css")
    assert r.header("Content-Type") == "text/css", r
    r = get(port, "/favicon.svg")
    assert r.status == 200, r
    assert r.header("Content-Type") == "image/svg+xml", r

    # errorMode DetailedLocalOnly: this (local) client gets the detailed page.
    r = get(port, "/no-such-file.html")
    assert r.status == 404, r
    assert b"HTTP Error 404.0 - Not Found" in r.body, r.body[:500]
