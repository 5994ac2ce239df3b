"""
A real PHP application end to end: Debian's dokuwiki package, served by wasp
through FastCgiModule and php-cgi, driven as a browser would (an HTTP client
with cookies and forms): the install page, a login, a page created, edited
and read back.

Debian installs DokuWiki with its configuration in /etc/dokuwiki and its
data in /var/lib/dokuwiki, set up by debconf; its install.php expects the
upstream layout (conf/ and data/ beside doku.php).  The test therefore
arranges the package's own files in that layout in a directory of its own
(the code unchanged, the Debian preload that points at /etc replaced by an
empty one), so that it never touches the machine's wiki.
"""
import os
import pwd
import re
import shutil
import subprocess

import pytest

import harness

import requests  # python3-requests, installed by scripts/deps.sh test

PHP = "/usr/bin/php-cgi"
DOKU = "/usr/share/dokuwiki"
POOL = "WikiPool"
USER = "www-data"  # the package's own identity for its files



@pytest.fixture(autouse=True)
def dokuwiki_installed():
    """Missing packages are a broken set-up, not a reason to skip."""
    assert os.path.exists(PHP) and os.path.exists(DOKU + "/doku.php"), \
        "php-cgi or dokuwiki is missing: scripts/deps.sh test installs them"


def prepare_wiki(root):
    shutil.copytree(DOKU, root, symlinks=False,
                    ignore=shutil.ignore_patterns(".htaccess"))
    with open(os.path.join(root, "inc", "preload.php"), "w") as f:
        f.write("<?php\n// wasp test: the upstream layout, conf/ and data/ beside doku.php\n")
    conf = os.path.join(root, "conf")
    os.makedirs(conf)
    for name in os.listdir("/etc/dokuwiki"):
        src = os.path.join("/etc/dokuwiki", name)
        # install.php writes these three; they must not exist yet
        if name in ("local.php", "users.auth.php", "acl.auth.php") or not os.path.isfile(src) \
                or os.path.islink(src) or name.endswith(".conf") and name.startswith(("apache",
                                                                                    "lighttpd")):
            continue
        shutil.copy(src, os.path.join(conf, name))
    with open(os.path.join(conf, "dokuwiki.php")) as f:
        text = f.read()
    text = re.sub(r"\$conf\['savedir'\]\s*=\s*'[^']*';", "$conf['savedir'] = './data';", text)
    with open(os.path.join(conf, "dokuwiki.php"), "w") as f:
        f.write(text)
    shutil.copytree("/var/lib/dokuwiki/data", os.path.join(root, "data"))
    pw = pwd.getpwnam(USER)
    subprocess.run(["chown", "-R", "%d:%d" % (pw.pw_uid, pw.pw_gid), conf,
                    os.path.join(root, "data")], check=True)
    for d, _, files in os.walk(root):
        os.chmod(d, 0o755)


def hidden_fields(html, form_id):
    form = re.search(r'<form[^>]*id="%s".*?</form>' % form_id, html, re.S)
    assert form, "no form %s in the page" % form_id
    fields = {}
    for m in re.finditer(r'<input[^>]*>', form.group(0)):
        tag = m.group(0)
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and 'type="hidden"' in tag:
            fields[name.group(1)] = value.group(1) if value else ""
    return fields


@pytest.mark.skipif(os.geteuid() != 0, reason="the wiki runs as www-data")
def test_dokuwiki_install_login_create_edit_read(make_server):
    s = make_server("dokuwiki")
    port = s.port("main")
    root = s.path("wiki")
    prepare_wiki(root)
    s.pool(POOL, process_model={"identityType": "SpecificUser", "userName": USER})
    s.site("Wiki", ["127.0.0.1:%d:" % port], [("/", POOL, "wiki")])
    s.extra_modules = ["FastCgiModule"]
    s.default_documents = ["doku.php", "index.php"]
    for ext, mt in ((".png", "image/png"), (".js", "application/javascript"),
                    (".css", "text/css"), (".gif", "image/gif"), (".svg", "image/svg+xml")):
        if ext not in [e for e, _ in s.mime]:
            s.mime.append((ext, mt))
    s.handlers_xml = ['<add name="PHP_via_FastCGI" path="*.php" verb="GET,HEAD,POST" '
                      'modules="FastCgiModule" scriptProcessor="%s" resourceType="Either" '
                      'requireAccess="Script" />' % PHP]
    s.webserver_xml.append('<fastCgi><application fullPath="%s" maxInstances="2" />'
                           '</fastCgi>' % PHP)
    s.start()
    base = "http://127.0.0.1:%d" % port
    web = requests.Session()

    # 1. the install page, filled in and sent
    r = web.get(base + "/install.php", timeout=30)
    assert r.status_code == 200 and 'name="d[title]"' in r.text, r.text[:2000]
    r = web.post(base + "/install.php", timeout=30, data={
        "l": "en", "d[title]": "Wasp Wiki", "d[acl]": "on", "d[superuser]": "admin",
        "d[fullname]": "Wiki Admin", "d[email]": "admin@example.com",
        "d[password]": "wasp-secret-1", "d[confirm]": "wasp-secret-1", "d[policy]": "0",
        "d[license]": "cc-by-sa", "submit": "Save"})
    assert r.status_code == 200
    assert "The configuration was finished successfully" in r.text, r.text[:3000]
    assert os.path.exists(os.path.join(root, "conf", "users.auth.php"))

    # 2. log in (a session cookie and DokuWiki's auth cookie)
    r = web.get(base + "/doku.php?id=start&do=login", timeout=30)
    assert r.status_code == 200
    login = hidden_fields(r.text, "dw__login")
    login.update({"u": "admin", "p": "wasp-secret-1"})
    r = web.post(base + "/doku.php?id=start&do=login", data=login, timeout=30)
    assert r.status_code == 200
    assert "Log Out" in r.text or "logout" in r.text.lower(), r.text[:2000]

    # 3. create a page, read it back, edit it, read it again
    for text, expect in (("Hello from **wasp** on Linux.", "<strong>wasp</strong>"),
                         ("Edited: //served by FastCGI//.", "<em>served by FastCGI</em>")):
        r = web.get(base + "/doku.php?id=playground:wasp&do=edit", timeout=30)
        assert r.status_code == 200, r.status_code
        form = hidden_fields(r.text, "dw__editform")
        form.update({"wikitext": text, "summary": "by the wasp test", "do[save]": "Save"})
        r = web.post(base + "/doku.php", data=form, timeout=30)
        assert r.status_code in (200, 302, 303), r.status_code
        r = web.get(base + "/doku.php?id=playground:wasp", timeout=30)
        assert r.status_code == 200 and expect in r.text, r.text[:3000]
    page = os.path.join(root, "data", "pages", "playground", "wasp.txt")
    with open(page) as f:
        assert f.read().strip() == "Edited: //served by FastCGI//."
