"""The IIS corpus (../shared/corpus/iis) through `waspd --check`.

Each applicationHost.config is checked as the configuration; each web.config
is copied as the only web.config of the site of conf/applicationHost.config
(in a temporary folder) and checked the same way; files holding
XML-Document-Transform markup are placed as web.Release.config and must be
reported as transforms.  A table (file, kind, result) is printed (pytest -s).

Asserted: every check returns within its timeout with exit code 0 or 1 and
no crash; every applicationHost.config loads except the two IIS itself
refuses and those with a value wasp must use that Windows encrypted
(RsaProtectedConfigurationProvider / DPAPI: no key on Linux) (the list,
with the reasons, is tests/corpus_expectations.txt, which the unit test of
the loader reads too); at least WEBCONFIG_MIN_OK of
the web.config files load.  The web.config files that fail do so for
reasons IIS on a stock server would share:
  - sections of modules neither IIS' standard features nor URL Rewrite,
    ASP.NET 4.x or ANCM provide (iisnode, ...): "Unrecognized configuration
    section" (0x8007000d);
  - sections locked by overrideModeDefault="Deny" in the stock
    applicationHost.config (asp, isapiFilters, handlers' access policy...):
    0x80070021, as IIS answers unless the server unlocks them;
  - attributes or elements IIS' schema does not have (0x8007000d:
    fastCgi's instancesPerCpu), duplicate collection keys (0x800700b7);
  - configSource files the corpus does not carry (0x80070003);
  - files that are not web.config files at all: applicationHost.config
    copies under other names (original.config, HostableWebCore.config:
    "Section ... is already defined"), administration.config and
    redirection.config, a deliberately broken test fixture (not
    well-formed): IIS refuses them as web.config the same way.
"""
import os
import pathlib
import re
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus" / "iis"
BUILD = pathlib.Path(os.environ.get("WASP_BUILD", ROOT / "build"))
TIMEOUT = 60



def known_invalid():
    """tests/corpus_expectations.txt: file name -> part of the error."""
    out = {}
    for line in (ROOT / "tests" / "corpus_expectations.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, reason = line.split("\t", 1)
            out[name] = reason
    return out


KNOWN_INVALID = known_invalid()
WEBCONFIG_MIN_OK = 52  # of 73 (measured; raise it when a fix lands)


def corpus_files():
    return sorted(p for p in CORPUS.iterdir() if p.name.lower().endswith(".config"))


def is_apphost(p):
    return "applicationhost" in p.name.lower()


def is_transform(p):
    text = p.read_bytes()
    return b"xmlns:xdt" in text or b"xdt:Transform" in text


def run_check(config):
    r = subprocess.run([str(BUILD / "waspd"), "--check", "--config", str(config)],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode in (0, 1), (config, r.returncode, r.stderr)
    return r.returncode, r.stdout


def first_error(out):
    for line in out.splitlines():
        if not line.startswith("ok  ") and ": note: " not in line and "transform" not in line:
            m = re.search(r"HRESULT (0x[0-9a-f]+)", line)
            return line.split(": ", 1)[-1][:90] + (f" [{m.group(1)}]" if m else "")
    return "?"


def test_corpus(tmp_path):
    rows = []
    web_ok = web_total = 0
    for f in corpus_files():
        if is_apphost(f):
            rc, out = run_check(f)
            reason = KNOWN_INVALID.get(f.name)
            if reason:
                assert rc == 1 and reason in out, (f.name, out)
            elif rc == 1:
                # IIS decrypts these with the machine's keys; wasp never has
                # them, and waspd (so --check) refuses a value it must use.
                assert "which wasp cannot read" in out, (f.name, out)
            else:
                assert rc == 0, (f.name, out)
            rows.append((f.name, "applicationHost", "loaded" if rc == 0 else first_error(out)))
            continue
        site = tmp_path / f.name
        (site / "wwwroot").mkdir(parents=True)
        shutil.copy(ROOT / "conf" / "applicationHost.config", site / "applicationHost.config")
        if is_transform(f):
            shutil.copy(f, site / "wwwroot" / "web.Release.config")
            rc, out = run_check(site / "applicationHost.config")
            assert "a configuration transform (xdt), not a configuration file: skipped" in out
            assert rc == 0
            rows.append((f.name, "transform", "transform: skipped"))
            continue
        shutil.copy(f, site / "wwwroot" / "web.config")
        rc, out = run_check(site / "applicationHost.config")
        web_total += 1
        web_ok += rc == 0
        if rc == 0:
            assert f"ok  {site}/wwwroot/web.config" in out
        rows.append((f.name, "web.config", "loaded" if rc == 0 else first_error(out)))
    print()
    for name, kind, result in rows:
        print(f"{name[:70]:70}  {kind:15}  {result}")
    counts = {}
    for _, kind, result in rows:
        key = (kind, "loaded" if result == "loaded" else
               "transform" if kind == "transform" else "error")
        counts[key] = counts.get(key, 0) + 1
    print(counts)
    assert web_ok >= WEBCONFIG_MIN_OK, (web_ok, web_total)


# A handful of corpus web.config files served for real: each at the root of
# its own application of one site; a file --check accepts must not answer 500.19 and a file it
# refuses must (the worker and --check share wasp_webcfg_lookup).  None of the
# accepted ones sets <modules> or <handlers>: the harness' applicationHost.config
# lacks the stock <location path="" overrideMode="Allow"> that unlocks them, so
# they would answer 500.19 there, rightly.
HTTP_FILES = [
    ("0GiS0__tour-of-heroes-angular__web.config", True),
    ("laravel__laravel__public_web.config", True),
    ("0GiS0__symfony-demo__web.config", True),
    ("silverstripe__silverstripe-installer__web.config", True),
    ("tjanczuk__iisnode__src_samples_configuration_web.config", False),
    ("amundead__lab__web.config", False),
]


def test_corpus_served():
    import harness
    from conftest import stop_module_server

    s = harness.WaspServer("corpus")
    port = s.port("main")
    s.pool("CorpusPool")
    # each file at an application root, where IIS reads it (modules and
    # other MachineToApplication sections are refused below one)
    apps = [("/", "CorpusPool", "www")]
    apps += [("/c%d" % i, "CorpusPool", "www/c%d" % i) for i in range(len(HTTP_FILES))]
    s.site("Corpus Site", ["127.0.0.1:%d:" % port], apps)
    s.file("www/index.html", "root index\n")
    for i, (name, _) in enumerate(HTTP_FILES):
        s.file("www/c%d/index.html" % i, "corpus %d\n" % i)
        s.file("www/c%d/web.config" % i, (CORPUS / name).read_text(errors="replace"))
    s.start()
    try:
        for i, (name, loads) in enumerate(HTTP_FILES):
            r = harness.get(port, "/c%d/index.html" % i, timeout=30)
            is_500_19 = r.status == 500 and "500.19" in r.text
            assert is_500_19 != loads, (name, r.status, r.text[:300])
        assert harness.get(port, "/index.html").status == 200
    finally:
        stop_module_server(s)
