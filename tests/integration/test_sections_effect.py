"""The "Sections wasp knows" table of docs/configuration.md, the C table
--check uses (src/config/sections_effect.c) and the schema files name the
same sections with the same verdict."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]


def c_table():
    src = (ROOT / "src/config/sections_effect.c").read_text()
    rows = re.findall(r'\{\s*"([^"]+)",\s*(NULL|")', src)
    return {path: kind != "NULL" for path, kind in rows}


def doc_table():
    doc = (ROOT / "docs/configuration.md").read_text()
    part = doc.split("## Sections wasp knows", 1)[1]
    rows = re.findall(r"^\| `([^`]+)` \| (takes effect|accepted only) \|", part, re.M)
    return {path: verdict == "takes effect" for path, verdict in rows}


def schema_sections():
    names = set()
    for f in (ROOT / "schema").glob("*.xml"):
        names.update(re.findall(r'<sectionSchema name="([^"]+)"', f.read_text()))
    return names


def test_doc_matches_c_table():
    assert doc_table() == c_table()


def test_c_table_covers_the_schema():
    assert set(c_table()) == schema_sections()


def test_read_sections_take_effect():
    # a few sections whose readers are known (modules, apphost.c)
    table = c_table()
    for s in ("system.webServer/handlers", "system.webServer/rewrite/rules",
              "system.applicationHost/sites", "system.webServer/staticContent"):
        assert table[s]
    for s in ("system.webServer/asp", "system.webServer/isapiFilters"):
        assert not table[s]
