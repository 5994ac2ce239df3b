"""waspd --check: one line per file, notes for sections wasp only accepts,
transforms skipped, symlink loops survived, exit 0 / 1."""
import os
import pathlib
import shutil
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("WASP_BUILD", ROOT / "build"))


def check(tmp_path):
    r = subprocess.run([str(BUILD / "waspd"), "--check", "--config",
                        str(tmp_path / "applicationHost.config")],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout.splitlines()


def site(tmp_path):
    shutil.copy(ROOT / "conf" / "applicationHost.config", tmp_path / "applicationHost.config")
    www = tmp_path / "wwwroot"
    www.mkdir()
    return www


def test_ok_notes_transform_and_loop(tmp_path):
    www = site(tmp_path)
    (www / "sub").mkdir()
    (www / "sub" / "up").symlink_to("..")
    (www / "web.config").write_text(
        "<configuration>\n<system.webServer>\n<defaultDocument enabled=\"true\" />\n"
        "<urlCompression doStaticCompression=\"false\" />\n</system.webServer>\n</configuration>\n")
    (www / "sub" / "web.config").write_text("<configuration />\n")
    (www / "web.Release.config").write_text(
        '<configuration xmlns:xdt="http://schemas.microsoft.com/XML-Document-Transform">'
        '<appSettings xdt:Transform="Replace" /></configuration>\n')
    rc, lines = check(tmp_path)
    assert rc == 0, lines
    assert "ok  %s/web.config" % www in lines
    assert "ok  %s/sub/web.config" % www in lines
    assert ("%s/web.config:4: note: section system.webServer/urlCompression is accepted "
            "but has no effect in wasp" % www) in lines
    assert not any("defaultDocument" in l for l in lines)
    assert ("%s/web.Release.config: a configuration transform (xdt), not a configuration "
            "file: skipped" % www) in lines
    # the loop is walked once: one line for sub/web.config
    assert sum(l.endswith("sub/web.config") for l in lines) == 1


def test_errors_name_file_line_and_hresult(tmp_path):
    www = site(tmp_path)
    (www / "sub").mkdir()
    (www / "web.config").write_text(
        "<configuration>\n<system.webServer>\n<asp />\n</system.webServer>\n</configuration>\n")
    (www / "sub" / "web.config").write_text("<configuration />\n")
    rc, lines = check(tmp_path)
    assert rc == 1
    err = [l for l in lines if l.startswith("%s/web.config:3: " % www)]
    assert len(err) == 1 and "(HRESULT 0x80070021)" in err[0], lines
    assert ("%s/sub/web.config: not checked: the error in %s/web.config applies to its URL"
            % (www, www)) in lines


def test_bad_applicationhost(tmp_path):
    (tmp_path / "applicationHost.config").write_text("<configuration>\n<nope/>\n")
    rc, lines = check(tmp_path)
    assert rc == 1
    assert lines and lines[0].startswith(str(tmp_path / "applicationHost.config"))


def test_allow_sub_dir_config_false_ignores_files_below(tmp_path):
    """A web.config the server never reads (below a virtual directory with
    allowSubDirConfig="false") is named as ignored, not validated: its
    error is not an error of the configuration."""
    www = site(tmp_path)
    (www / "sub").mkdir()
    (www / "web.config").write_text("<configuration />\n")
    (www / "sub" / "web.config").write_text(
        "<configuration>\n<system.webServer>\n<asp />\n</system.webServer>\n</configuration>\n")
    rc, lines = check(tmp_path)
    assert rc == 1, lines  # read: the locked <asp> is an error
    conf = tmp_path / "applicationHost.config"
    conf.write_text(conf.read_text().replace(
        '<virtualDirectory path="/" physicalPath="wwwroot" />',
        '<virtualDirectory path="/" physicalPath="wwwroot" allowSubDirConfig="false" />'))
    rc, lines = check(tmp_path)
    assert rc == 0, lines
    assert "ok  %s/web.config" % www in lines  # the virtual directory's own is read
    assert ("%s/sub/web.config: ignored (allowSubDirConfig=false on virtual directory /)"
            % www) in lines
    assert not any(l.startswith("%s/sub/web.config:3" % www) for l in lines)
