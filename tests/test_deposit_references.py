"""`ella-deposit references`, `custom_annotation` and `append_genepanel_to_usergroup`
against a real PostgreSQL."""

import json

import psycopg
import pytest

from ella.custom_annotation import allowed_keys, custom_annotation_config
from ella.deposit.references import deposit_references, read_references
from helpers import ROOT, clilog_outputs, run_cli, table_snapshot, without_clilog

REFERENCES = ROOT / "tests" / "data" / "pubmed" / "references-from-xml.jsonl"


def one_line_error(result):
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]



def expected_references():
    return [json.loads(line) for line in REFERENCES.read_text(encoding="utf-8").splitlines()]


def stored_references(url):
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT pubmed_id, authors, title, journal, abstract, year, "
                            "published, search IS NOT NULL FROM reference ORDER BY id").fetchall()
    return rows


def write_lines(tmp_path, lines, name="refs.jsonl"):
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


# --- references ---------------------------------------------------------------------------

def test_nine_lines_make_nine_references(db_url):
    result = run_cli("ella-deposit", "references", str(REFERENCES), db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ("References imported successfully: created 9, updated 0")
    rows = stored_references(db_url)
    assert len(rows) == 9
    expected = expected_references()
    for row, item in zip(rows, expected):
        assert row[:7] == (item["pubmed_id"], item["authors"], item["title"], item["journal"],
                           item.get("abstract"), item["year"], True)
        assert row[7] is True  # reference.search filled by the trigger
    with psycopg.connect(db_url) as conn:
        found = conn.execute(
            "SELECT pubmed_id FROM reference WHERE search @@ to_tsquery('english', 'fanconi:*')"
        ).fetchall()
        log = conn.execute('SELECT "group", groupcommand, output FROM clilog').fetchall()
    assert found == [(8896564,)]
    assert log == [("deposit", "references", result.stdout.strip())]


def test_deposit_twice_updates_without_duplicates(db_url):
    assert run_cli("ella-deposit", "references", str(REFERENCES), db_url=db_url).returncode == 0
    before = table_snapshot(db_url)
    result = run_cli("ella-deposit", "references", str(REFERENCES), db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("created 0, updated 9")
    assert without_clilog(table_snapshot(db_url)) == without_clilog(before)


def test_changed_field_updates_and_other_fields_are_kept(db_url, tmp_path):
    assert run_cli("ella-deposit", "references", str(REFERENCES), db_url=db_url).returncode == 0
    first = expected_references()[0]
    changed = {"pubmed_id": first["pubmed_id"], "title": "A corrected title",
               "published": False}
    new = {"pubmed_id": 1234567, "title": "Only a title"}
    path = write_lines(tmp_path, [json.dumps(changed), json.dumps(new)])
    result = run_cli("ella-deposit", "references", path, db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("created 1, updated 1")
    rows = {row[0]: row for row in stored_references(db_url)}
    assert len(rows) == 10
    assert rows[first["pubmed_id"]][:7] == (
        first["pubmed_id"], first["authors"], "A corrected title", first["journal"],
        first["abstract"], first["year"], False)
    assert rows[1234567][:7] == (1234567, None, "Only a title", None, None, None, True)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT pubmed_id FROM reference WHERE search @@ "
                            "to_tsquery('english', 'corrected')").fetchall() == [
            (first["pubmed_id"],)]


@pytest.mark.parametrize("garbage, reason", [
    ("this is not json", "not valid JSON"),
    # Cut short: the column where it ends (JSON read on past the line ending: "column 1").
    ('{"pubmed_id": 5, "title": "abc"', "not valid JSON: column 32: Expecting ',' delimiter"),
    ('{"pubmed_id": 1, "colour": "red"}', "unknown key(s) 'colour'"),
    ('{"title": "no id"}', "pubmed_id is missing"),
    ('{"pubmed_id": "123"}', "pubmed_id must be an integer"),
    ('{"pubmed_id": 5, "year": 2001}', "year must be a string or null"),
    ('{"pubmed_id": 5, "published": null}', "published must be true or false"),
    ('[1, 2]', "expected a JSON object"),
    ('{"pubmed_id": 8896564}', "pubmed_id 8896564 was already given on line 1"),
    ('{"pubmed_id": 5, "title": "a\\u0000b"}', "title contains a NUL character"),
    ('{"pubmed_id": 5, "title": "\\ud800"}', "title contains an unpaired surrogate escape"),
    # Deeper than Python's recursion limit: was a RecursionError traceback.
    ('{"pubmed_id": 5, "title": ' + "[" * 5000, "nested too deeply (at most 100 levels)"),
    ('{"pubmed_id": 5, "title": ' + "[" * 101 + "]" * 101 + "}",
     ("title" + "[0]" * 99)[:60] + "... is nested too deeply (at most 100 levels)"),
])
def test_garbage_line_writes_nothing(db_url, tmp_path, garbage, reason):
    lines = REFERENCES.read_text(encoding="utf-8").splitlines()
    lines.insert(4, garbage)
    path = write_lines(tmp_path, lines)
    before = table_snapshot(db_url)
    line = one_line_error(run_cli("ella-deposit", "references", path, db_url=db_url))
    assert line.startswith(f"error: {path}: line 5: {reason}"), line
    after = table_snapshot(db_url)
    assert without_clilog(after) == without_clilog(before)
    assert reason in clilog_outputs(db_url)[-1]


@pytest.mark.parametrize("tool", ["ella-deposit", "ella-refs"])
def test_a_reference_too_long_to_index_is_named_by_its_line(db_url, tmp_path, tool):
    """A tsvector holds 1 MiB: a title of 150,000 words failed the search trigger with the
    database's error alone, naming no line. An update counts the stored fields it keeps."""
    assert run_cli("ella-deposit", "references", str(REFERENCES), db_url=db_url).returncode == 0
    first = expected_references()[0]
    words = " ".join(f"w{i}" for i in range(150_000))
    path = write_lines(tmp_path, [json.dumps({"pubmed_id": 1234567, "title": "Fine"}),
                                  json.dumps({"pubmed_id": first["pubmed_id"],
                                              "authors": words})])
    before = table_snapshot(db_url)
    line = one_line_error(run_cli(tool, *(["references"] if tool == "ella-deposit"
                                          else ["deposit"]), path, db_url=db_url))
    assert line.startswith(
        f"error: {path}: line 2: its authors, title, journal and year are too long to index "
        "for the reference search (string is too long for tsvector"), line
    assert without_clilog(table_snapshot(db_url)) == without_clilog(before)


def test_an_update_too_long_to_index_only_with_the_stored_fields_is_named_by_its_line(
        db_url, tmp_path):
    """A line giving the authors of a stored reference is indexed with its stored title:
    each fits in a tsvector alone, together they do not, and the line is named."""
    title = " ".join(f"t{i}" for i in range(70_000))
    authors = " ".join(f"a{i}" for i in range(70_000))
    stored = write_lines(tmp_path, [json.dumps({"pubmed_id": 1234567, "title": title})],
                         "stored.jsonl")
    assert run_cli("ella-deposit", "references", stored, db_url=db_url).returncode == 0
    alone = write_lines(tmp_path, [json.dumps({"pubmed_id": 7654321, "authors": authors})],
                        "alone.jsonl")
    path = write_lines(tmp_path, [json.dumps({"pubmed_id": 1111111, "title": "Fine"}),
                                  json.dumps({"pubmed_id": 1234567, "authors": authors})])
    before = table_snapshot(db_url)
    line = one_line_error(run_cli("ella-deposit", "references", path, db_url=db_url))
    assert line.startswith(
        f"error: {path}: line 2: its authors, title, journal and year are too long to index "
        "for the reference search (string is too long for tsvector"), line
    assert without_clilog(table_snapshot(db_url)) == without_clilog(before)
    # The authors alone, of a new reference, are indexed.
    assert run_cli("ella-deposit", "references", alone, db_url=db_url).returncode == 0


@pytest.mark.parametrize("command", ["references", "custom_annotation"])
def test_a_line_that_is_no_utf8_is_named_and_a_byte_order_mark_is_skipped(db_url, tmp_path,
                                                                          command):
    """The file was decoded 8 KB ahead of the line read: "not UTF-8 text" named no line.
    A byte-order mark (a Windows editor's) made the first line "not valid JSON"."""
    lines = [json.dumps({"pubmed_id": n, "title": "x" * 200}) if command == "references"
             else json.dumps({"allele_id": 1, "user_id": 1, "annotations": {}})
             for n in range(1, 200)]
    path = tmp_path / "lines.jsonl"
    data = "\n".join(lines).encode()
    at = data.index(b"x" * 10, 150 * 230) if command == "references" else \
        data.index(b"{}", 150 * 50)
    path.write_bytes(b"\xef\xbb\xbf" + data[:at] + b"\xe9" + data[at + 1:])
    line = one_line_error(run_cli("ella-deposit", command, str(path), db_url=db_url))
    number = data[:at].count(b"\n") + 1
    # The byte as every other reader names it, counted from the file's start (the mark too).
    assert line == (f"error: {path}: line {number}: not UTF-8 text (byte {3 + at}: "
                    "b'\\xe9')"), line
    path.write_bytes(b"\xef\xbb\xbf" + data)  # the mark alone: read as a Windows file
    if command == "references":
        assert run_cli("ella-deposit", command, str(path), db_url=db_url).returncode == 0


def test_a_file_with_carriage_returns_alone_as_line_ends_is_read_by_line(db_url, tmp_path):
    """Old Mac line ends: read line by line (to name the line of a non-UTF-8 byte) the file
    became one line, "Extra data"."""
    path = tmp_path / "cr.jsonl"
    path.write_bytes(b"\r".join(json.dumps({"pubmed_id": n, "title": f"T{n}"}).encode()
                                for n in (1, 2, 3)) + b"\r")
    result = run_cli("ella-deposit", "references", str(path), db_url=db_url)
    assert result.returncode == 0, result.stderr
    path.write_bytes(path.read_bytes().replace(b"T3", b"\xe9"))
    at = path.read_bytes().index(b"\xe9")
    assert one_line_error(run_cli("ella-deposit", "references", str(path), db_url=db_url)) \
        == f"error: {path}: line 3: not UTF-8 text (byte {at}: b'\\xe9')"


def test_blank_lines_are_skipped_and_domain_api(db_url, tmp_path):
    path = write_lines(tmp_path, ["", '{"pubmed_id": 42, "title": "x"}', "  "])
    items = read_references(path)
    assert items == [(2, {"pubmed_id": 42, "title": "x"})]
    with psycopg.connect(db_url) as conn:
        assert deposit_references(conn, items) == {"created": 1, "updated": 0}
        assert deposit_references(conn, [{"pubmed_id": 42, "year": "2020"}]) == {
            "created": 0, "updated": 1}
        assert conn.execute("SELECT title, year FROM reference").fetchall() == [("x", "2020")]


def test_missing_file_is_a_usage_error(db_url, tmp_path):
    result = run_cli("ella-deposit", "references", str(tmp_path / "nope.jsonl"), db_url=db_url)
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    result = run_cli("ella-deposit", "references", str(tmp_path), db_url=db_url)
    assert result.returncode == 2
    assert f"FILE {str(tmp_path)!r} is a folder, not a file" in result.stderr


# --- custom annotation ----------------------------------------------------------------------

def test_option_lists():
    config = custom_annotation_config()
    assert len(config["external"]) == 71 and len(config["prediction"]) == 6
    keys = allowed_keys()
    assert "LOVD_shared-FLCN\u00a0" in keys["external"]
    assert "LOVD_shared\u00a0-PTEN" in keys["external"]
    assert keys["external"]["other_extdb"] == {"key": "other_extdb", "name": "Other",
                                               "text": True}
    assert [o[1] for o in keys["prediction"]["repeat"]["options"]] == ["repeat", "non_repeat"]


def demo_ids(url):
    with psycopg.connect(url) as conn:
        alleles = [r[0] for r in conn.execute("SELECT id FROM allele ORDER BY id LIMIT 2")]
        user = conn.execute('SELECT id FROM "user" ORDER BY id LIMIT 1').fetchone()[0]
    return alleles, user


def custom_rows(url):
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT id, allele_id, user_id, annotations, previous_annotation_id, "
                            "date_superceeded IS NOT NULL FROM customannotation "
                            "ORDER BY id").fetchall()


def test_custom_annotation_insert_and_supersede(adopted_demo_db_url, tmp_path):
    (a1, a2), user = demo_ids(adopted_demo_db_url)
    with psycopg.connect(adopted_demo_db_url) as conn:
        reference_id = conn.execute("INSERT INTO reference (title, published) VALUES "
                                    "('by a user', true) RETURNING id").fetchone()[0]
    first = {"external": {"BRCA_Exchange-BRCA1": "likely_pathogenic", "other_extdb": "free"},
             "prediction": {"domain": "critical_domain"}}
    second = {"prediction": {"repeat": "non_repeat"},
              "references": [{"id": reference_id, "pubmed_id": None, "source": "User"}]}
    path = write_lines(tmp_path, [
        json.dumps({"allele_id": a1, "user_id": user, "annotations": first}),
        json.dumps({"allele_id": a2, "user_id": None, "annotations": {}})])
    result = run_cli("ella-deposit", "custom_annotation", path, db_url=adopted_demo_db_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ("Custom annotation imported successfully: created 2 "
                                     "(0 superseding a previous version)")
    rows = custom_rows(adopted_demo_db_url)
    assert [(r[1], r[2], r[3], r[4], r[5]) for r in rows] == [
        (a1, user, first, None, False), (a2, None, {}, None, False)]

    path = write_lines(tmp_path, [
        json.dumps({"allele_id": a1, "user_id": user, "annotations": second})], "second.jsonl")
    result = run_cli("ella-deposit", "custom-annotation", path, db_url=adopted_demo_db_url)
    assert result.returncode == 0, result.stderr
    assert "created 1 (1 superseding" in result.stdout
    rows = custom_rows(adopted_demo_db_url)
    assert len(rows) == 3
    old, new = rows[0], rows[2]
    assert old[5] is True and old[3] == first
    # The line is merged in key by key: the line with a prediction took the external
    # verdicts away, and then the group's other prediction (the API's POST, which gets a
    # group whole from the UI, replaces the groups it names).
    assert (new[1], new[3], new[4], new[5]) == (
        a1, {"external": first["external"],
             "prediction": {"domain": "critical_domain", "repeat": "non_repeat"},
             "references": second["references"]}, old[0], False)
    # A reference replaces the entry of its id, a new one is added after; a verdict changes
    # only its own key.
    with psycopg.connect(adopted_demo_db_url) as conn:
        other = conn.execute("INSERT INTO reference (title, published) VALUES ('another', "
                             "true) RETURNING id").fetchone()[0]
    third = {"external": {"other_extdb": "changed"},
             "references": [{"id": other, "source": "User"},
                            {"id": reference_id, "pubmed_id": None, "sources": ["User"]}]}
    path = write_lines(tmp_path, [
        json.dumps({"allele_id": a1, "user_id": user, "annotations": third})], "third.jsonl")
    assert run_cli("ella-deposit", "custom_annotation", path,
                   db_url=adopted_demo_db_url).returncode == 0
    assert custom_rows(adopted_demo_db_url)[-1][3] == {
        "external": {"BRCA_Exchange-BRCA1": "likely_pathogenic", "other_extdb": "changed"},
        "prediction": {"domain": "critical_domain", "repeat": "non_repeat"},
        "references": [{"id": reference_id, "pubmed_id": None, "sources": ["User"]},
                       {"id": other, "source": "User"}]}
    with psycopg.connect(adopted_demo_db_url) as conn:
        assert conn.execute("SELECT groupcommand FROM clilog ORDER BY id DESC LIMIT 2").fetchall() \
            == [("custom_annotation",), ("custom_annotation",)]


@pytest.mark.parametrize("annotations, reason", [
    ({"external": {"NoSuchDatabase": "benign"}}, "unknown external key 'NoSuchDatabase'"),
    ({"prediction": {"orth_conservation": "conserved"}},
     "unknown prediction key 'orth_conservation'"),
    ({"prediction": {"domain": "crit_domain"}},
     "prediction.domain: 'crit_domain' is not one of critical_domain, critical_site"),
    ({"external": {"LOVD_shared-FLCN": "benign"}}, "unknown external key 'LOVD_shared-FLCN' "
                                                   "(the list spells it 'LOVD_shared-FLCN\\xa0', "
                                                   "with a no-break space)"),
    ({"external": {"LOVD_shared -PTEN": "benign"}}, "unknown external key 'LOVD_shared -PTEN' "
                                                    "(the list spells it "
                                                    "'LOVD_shared\\xa0-PTEN', with a no-break "
                                                    "space)"),
    ({"frequencies": {}}, "unknown custom annotation group(s) 'frequencies'"),
    ({"external": {"other_extdb": 3}}, "external.other_extdb must be a string"),
    ({"references": {"a": 1}}, "annotations.references must be a list"),
    ({"references": [{"id": float("nan")}]},
     "annotations.references[0].id: NaN is not a number JSON or PostgreSQL can store"),
    # Each is looked up by its id when the variant is shown (a 400 for `"abc"`).
    ({"references": [{"id": "abc", "pubmed_id": -5}]},
     "annotations.references[0].id must be a reference id (a positive integer)"),
    ({"references": [{"id": 999999, "pubmed_id": -5}]},
     "annotations.references[0].pubmed_id must be a PubMed id or null"),
    ({"references": [{"id": 999999, "title": "x"}]},
     "annotations.references[0]: unknown key(s) 'title' (allowed: id, pubmed_id, source, "
             "sources)"),
    ({"external": {"other_extdb": "x" * 10_001}},
     "external.other_extdb is longer than 10,000 characters"),
    ({"external": {"other_extdb": "a\x00b"}},
     "annotations.external.other_extdb contains a NUL character"),
    ({"external": {"other_extdb": json.loads("[" * 150 + "]" * 150)}},
     ("annotations.external.other_extdb" + "[0]" * 97)[:60] + "... is nested too deeply"),
])
def test_custom_annotation_bad_key_rejected(demo_db_url, tmp_path, annotations, reason):
    (a1, _), user = demo_ids(demo_db_url)
    good = json.dumps({"allele_id": a1, "user_id": user,
                       "annotations": {"prediction": {"repeat": "repeat"}}})
    bad = json.dumps({"allele_id": a1, "user_id": user, "annotations": annotations})
    path = write_lines(tmp_path, [good, bad])
    before = table_snapshot(demo_db_url)
    line = one_line_error(run_cli("ella-deposit", "custom_annotation", path, db_url=demo_db_url))
    assert line == f"error: {path}: line 2: {reason}" or line.startswith(
        f"error: {path}: line 2: {reason}"), line
    assert without_clilog(table_snapshot(demo_db_url)) == without_clilog(before)


def test_custom_annotation_unknown_allele(adopted_demo_db_url, tmp_path):
    (a1, _), user = demo_ids(adopted_demo_db_url)
    path = write_lines(tmp_path, [
        json.dumps({"allele_id": a1, "user_id": user, "annotations": {}}),
        json.dumps({"allele_id": 999999, "user_id": user, "annotations": {}})])
    line = one_line_error(run_cli("ella-deposit", "custom_annotation", path,
                                  db_url=adopted_demo_db_url))
    assert line == f"error: {path}: line 2: allele_id 999999 does not exist"
    assert custom_rows(adopted_demo_db_url) == []


def test_custom_annotation_unknown_reference(adopted_demo_db_url, tmp_path):
    """A user's reference no reference row has was stored, and the variant's page could
    not look it up."""
    (a1, _), user = demo_ids(adopted_demo_db_url)
    path = write_lines(tmp_path, [
        json.dumps({"allele_id": a1, "user_id": user, "annotations": {}}),
        json.dumps({"allele_id": a1, "user_id": user, "annotations": {
            "references": [{"id": 999999, "source": "User"}]}})])
    line = one_line_error(run_cli("ella-deposit", "custom_annotation", path,
                                  db_url=adopted_demo_db_url))
    assert line == f"error: {path}: line 2: reference id 999999 does not exist"
    assert custom_rows(adopted_demo_db_url) == []


# --- append_genepanel_to_usergroup ---------------------------------------------------------

def test_append_genepanel_to_usergroup(adopted_demo_db_url):
    with psycopg.connect(adopted_demo_db_url) as conn:
        group, group_id = conn.execute("SELECT name, id FROM usergroup ORDER BY id").fetchone()
        name, version = conn.execute(
            "SELECT name, version FROM genepanel g WHERE NOT EXISTS (SELECT 1 FROM "
            "usergroupgenepanel l WHERE l.usergroup_id = %s AND l.genepanel_name = g.name "
            "AND l.genepanel_version = g.version) ORDER BY name LIMIT 1",
            (group_id,)).fetchone()
    args = ("append_genepanel_to_usergroup", name, version, group)
    result = run_cli("ella-deposit", *args, db_url=adopted_demo_db_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Appended genepanel ({name},{version}) to user group {group}"
    again = run_cli("ella-deposit", *args, db_url=adopted_demo_db_url)
    assert again.returncode == 0
    assert again.stdout.strip() == (f"Genepanel ({name},{version}) already exists in user "
                                    f"group {group}")
    with psycopg.connect(adopted_demo_db_url) as conn:
        assert conn.execute("SELECT count(*) FROM usergroupgenepanel WHERE usergroup_id = %s "
                            "AND genepanel_name = %s AND genepanel_version = %s",
                            (group_id, name, version)).fetchone()[0] == 1
    assert one_line_error(run_cli("ella-deposit", "append_genepanel_to_usergroup", name, "v999",
                                  group, db_url=adopted_demo_db_url)) == \
        f"error: Genepanel ({name},v999) does not exist"
    assert one_line_error(run_cli("ella-deposit", "append_genepanel_to_usergroup", name, version,
                                  "nogroup", db_url=adopted_demo_db_url)) == \
        "error: User group nogroup does not exist"


def test_append_genepanel_to_a_group_stored_in_two_unicode_forms_is_a_clear_error(db_url):
    """An adopted database may hold `Genetikk Å` composed and decomposed: a name that is
    both in another form (here with the Ångström sign) says so in one line (it was a
    traceback) and links nothing."""
    composed, decomposed = "Genetikk \u00c5", "Genetikk A\u030a"
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO genepanel (name, version, genome_reference, official, "
                     "date_created) VALUES ('P', 'v1', 'GRCh37', true, now())")
        for name in (composed, decomposed):
            conn.execute("INSERT INTO usergroup (name, config) VALUES (%s, '{}')", (name,))
    line = one_line_error(run_cli("ella-deposit", "append_genepanel_to_usergroup", "P", "v1",
                                  "Genetikk \u212b", db_url=db_url))
    # (Listed in the database's order of names.)
    assert line.startswith("error: the user group 'Genetikk \u212b' could be any of "), line
    assert line.endswith(": name it exactly"), line
    assert repr(composed) in line and repr(decomposed) in line, line
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM usergroupgenepanel").fetchone() == (0,)
    # Named exactly, each is found.
    result = run_cli("ella-deposit", "append_genepanel_to_usergroup", "P", "v1", decomposed,
                     db_url=db_url)
    assert result.returncode == 0, result.stderr


def test_help_everywhere():
    for args in ([], ["references"], ["custom_annotation"], ["custom-annotation"],
                 ["append_genepanel_to_usergroup"], ["genepanel"]):
        result = run_cli("ella-deposit", *args, "--help")
        assert result.returncode == 0, (args, result.stderr)
        assert "usage: ella-deposit" in result.stdout
    assert run_cli("ella-deposit", "append_genepanel_to_usergroup", "x").returncode == 2
