"""Gene panel deposit (`bin/ella-deposit genepanel`) against a real PostgreSQL."""

import os
import re
import shutil
import threading

import psycopg
import pytest

from ella.deposit.genepanel import GenepanelError, deposit_genepanel, read_panel_files
from deposit_helpers import deposit
from helpers import ROOT, run_cli, table_snapshot, without_clilog

DEMO = ROOT / "genepanels" / "ella-demo"
TEST_ALL = ROOT / "tests" / "data" / "genepanels" / "test-ALL_v01"


def panel_files(folder):
    name = folder.name
    return folder / f"{name}_genes_transcripts.tsv", folder / f"{name}_phenotypes.tsv"


def deposit_folder(conn, folder, replace=False, name=None, version=None):
    default_name, default_version = folder.name.split("_", 1)
    return deposit_genepanel(conn, name or default_name, version or default_version,
                             read_panel_files(*panel_files(folder)), replace=replace)


def counts(conn):
    return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("gene", "transcript", "phenotype", "genepanel",
                          "genepanel_transcript", "genepanel_phenotype")}


def one_line_error(result):
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]



def test_hboc_through_the_cli(db_url):
    result = run_cli("ella-deposit", "genepanel", "--folder", str(DEMO / "HBOC_v01"),
                     db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # not a terminal: no progress lines
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("Genepanel HBOC_v01 deposited: genes 2 new / 0 reused, "
                              "transcripts 2 new / 0 reused, phenotypes 2 new / 0 reused")
    with psycopg.connect(db_url) as conn:
        assert counts(conn) == {"gene": 2, "transcript": 2, "phenotype": 2, "genepanel": 1,
                                "genepanel_transcript": 2, "genepanel_phenotype": 2}
        assert conn.execute("SELECT name, version, genome_reference, official, user_id, "
                            "date_created IS NOT NULL FROM genepanel").fetchall() == [
            ("HBOC", "v01", "GRCh37", True, None, True)]
        row = conn.execute(
            "SELECT g.hgnc_id, g.hgnc_symbol, t.type::text, t.genome_reference, t.chromosome, "
            "t.tx_start, t.tx_end, t.strand, t.cds_start, t.cds_end, t.exon_starts, "
            "t.exon_ends, t.tags, gt.inheritance, gt.genepanel_name, gt.genepanel_version "
            "FROM transcript t JOIN gene g ON g.hgnc_id = t.gene_id "
            "JOIN genepanel_transcript gt ON gt.transcript_id = t.id "
            "WHERE t.transcript_name = 'NM_000059.3'").fetchone()
        (hgnc_id, symbol, ttype, ref, chrom, tx_start, tx_end, strand, cds_start, cds_end,
         exon_starts, exon_ends, tags, inheritance, gp_name, gp_version) = row
        assert (hgnc_id, symbol, ttype, ref, chrom) == (1101, "BRCA2", "RefSeq", "GRCh37", "13")
        assert (tx_start, tx_end, strand) == (32889616, 32973809, "+")
        assert (cds_start, cds_end) == (32890597, 32972907)
        assert len(exon_starts) == len(exon_ends) == 27
        assert exon_starts[:3] == [32889616, 32890558, 32893213]
        assert exon_ends[-2:] == [32971181, 32973809]
        assert tags is None
        assert (inheritance, gp_name, gp_version) == ("AD", "HBOC", "v01")
        brca1 = conn.execute("SELECT strand, chromosome FROM transcript "
                             "WHERE transcript_name = 'NM_007297.3'").fetchone()
        assert brca1 == ("-", "17")
        assert conn.execute(
            "SELECT p.gene_id, p.description, p.inheritance, p.omim_id FROM phenotype p "
            "JOIN genepanel_phenotype gp ON gp.phenotype_id = p.id ORDER BY p.gene_id"
        ).fetchall() == [(1100, "{Breast-ovarian cancer, familial, 1}", "AD", 604370),
                         (1101, "{Breast-ovarian cancer, familial, 2}", "AD", 612555)]
        log = conn.execute('SELECT "user", "group", groupcommand, command, reason, output '
                           "FROM clilog").fetchall()
    assert len(log) == 1
    user, group, groupcommand, command, reason, output = log[0]
    assert (group, groupcommand, reason) == ("deposit", "genepanel", None)
    assert user and command.startswith("deposit genepanel --folder ") and "HBOC_v01" in command
    assert summary in output


def test_mendeliome_then_a_panel_sharing_genes_and_transcripts(db_conn):
    result = deposit_folder(db_conn, DEMO / "Mendeliome_v01")
    assert result["status"] == "created"
    assert (result["genes_new"], result["transcripts_new"], result["phenotypes_new"]) == (
        3549, 3575, 5134)
    assert counts(db_conn) == {"gene": 3549, "transcript": 3575, "phenotype": 5134,
                               "genepanel": 1, "genepanel_transcript": 3575,
                               "genepanel_phenotype": 5134}
    # Empty phenotype inheritance is stored as N/A (65 rows in this panel).
    assert db_conn.execute("SELECT count(*) FROM phenotype WHERE inheritance = 'N/A'"
                           ).fetchone()[0] == 65
    brca2_id = db_conn.execute("SELECT id FROM transcript WHERE transcript_name = 'NM_000059.3'"
                               ).fetchone()[0]

    # HBOC: BRCA2's transcript and both genes exist already; BRCA1's NM_007297.3 does not.
    result = deposit_folder(db_conn, DEMO / "HBOC_v01")
    assert (result["genes_new"], result["genes_reused"]) == (0, 2)
    assert (result["transcripts_new"], result["transcripts_reused"]) == (1, 1)
    assert (result["phenotypes_new"], result["phenotypes_reused"]) == (2, 0)
    assert counts(db_conn) == {"gene": 3549, "transcript": 3576, "phenotype": 5136,
                               "genepanel": 2, "genepanel_transcript": 3577,
                               "genepanel_phenotype": 5136}
    # One transcript row shared by both panels, each link with its own inheritance.
    assert db_conn.execute(
        "SELECT genepanel_name, inheritance FROM genepanel_transcript WHERE transcript_id = %s "
        "ORDER BY 1", (brca2_id,)).fetchall() == [("HBOC", "AD"), ("Mendeliome", "AD/AR")]

    # HBOCUTV reuses phenotypes of both earlier panels (e.g. BRCA2 AR Fanconi anemia D1).
    result = deposit_folder(db_conn, DEMO / "HBOCUTV_v01")
    assert result["transcripts_reused"] == 7 - result["transcripts_new"]
    assert result["phenotypes_reused"] >= 3
    assert result["phenotype_links"] == 46 and result["transcript_links"] == 7
    assert db_conn.execute(
        "SELECT count(*) FROM phenotype WHERE gene_id = 1101 AND inheritance = 'AR' "
        "AND description = 'Fanconi anemia, complementation group D1'").fetchone()[0] == 1


def test_redeposit_without_replace_changes_nothing(db_url):
    folder = str(DEMO / "HBOC_v01")
    assert run_cli("ella-deposit", "genepanel", "--folder", folder,
                   db_url=db_url).returncode == 0
    before = table_snapshot(db_url)
    result = run_cli("ella-deposit", "genepanel", "--folder", folder, db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert "Genepanel HBOC_v01 exists in database, backing out" in result.stdout
    after = table_snapshot(db_url)
    assert len(after["clilog"]) == len(before["clilog"]) + 1
    assert without_clilog(after) == without_clilog(before)


def edited_copy(tmp_path, source, folder_name, transcripts=None, phenotypes=None):
    """A copy of a panel folder under a new name, with optional edits of either file's text."""
    target = tmp_path / folder_name
    target.mkdir()
    for path, edit in zip(panel_files(source), (transcripts, phenotypes)):
        text = path.read_text()
        suffix = path.name[len(source.name):]
        (target / f"{folder_name}{suffix}").write_text(edit(text) if edit else text)
    return target


def test_replace_rewrites_the_links(db_url, tmp_path):
    assert run_cli("ella-deposit", "genepanel", "--folder", str(DEMO / "HBOC_v01"),
                   db_url=db_url).returncode == 0

    def only_brca2_as_ar(text):
        lines = [line for line in text.splitlines() if "NM_007297.3" not in line]
        return "\n".join(line.replace("\tBRCA2\tAD\t", "\tBRCA2\tAR\t")
                         .replace("\t32973809\tNM_000059.3", "\t32973900\tNM_000059.3")
                         for line in lines) + "\n"

    def only_brca2(text):
        return "\n".join(line for line in text.splitlines() if "\tBRCA1\t" not in line) + "\n"

    folder = edited_copy(tmp_path, DEMO / "HBOC_v01", "HBOC_v01", only_brca2_as_ar, only_brca2)
    before = table_snapshot(db_url)
    result = run_cli("ella-deposit", "genepanel", "--folder", str(folder), db_url=db_url)
    assert result.returncode == 0 and "exists in database" in result.stdout
    assert without_clilog(table_snapshot(db_url)) == without_clilog(before)

    result = run_cli("ella-deposit", "genepanel", "--folder", str(folder), "--replace",
                     db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert "Genepanel HBOC_v01 replaced" in result.stdout and "(1 updated)" in result.stdout
    with psycopg.connect(db_url) as conn:
        assert conn.execute(
            "SELECT t.transcript_name, gt.inheritance, t.tx_end FROM genepanel_transcript gt "
            "JOIN transcript t ON t.id = gt.transcript_id").fetchall() == [
            ("NM_000059.3", "AR", 32973900)]
        assert conn.execute(
            "SELECT p.gene_id FROM genepanel_phenotype gp "
            "JOIN phenotype p ON p.id = gp.phenotype_id").fetchall() == [(1101,)]
        # Transcripts and phenotypes are global rows: BRCA1's stay, only unlinked.
        assert counts(conn) == {"gene": 2, "transcript": 2, "phenotype": 2, "genepanel": 1,
                                "genepanel_transcript": 1, "genepanel_phenotype": 1}


def test_replace_of_one_version_keeps_the_other_versions_links(db_url):
    """`--replace` of HBOC v02 rewrites v02's transcript and phenotype links only: v01's, a
    panel analyses of the lab were made on, stay as they were (the mutant audit's deletes
    without the version emptied them)."""
    def links(conn):
        return {table: dict(conn.execute(
            f"SELECT genepanel_version, count(*) FROM {table} GROUP BY 1").fetchall())
            for table in ("genepanel_transcript", "genepanel_phenotype")}
    with psycopg.connect(db_url) as conn:
        deposit_folder(conn, DEMO / "HBOC_v01")
        deposit_folder(conn, DEMO / "HBOC_v01", version="v02")
        conn.commit()
        before = links(conn)
        assert before["genepanel_transcript"]["v01"] > 0
        assert before["genepanel_phenotype"]["v01"] > 0
        deposit_folder(conn, DEMO / "HBOC_v01", version="v02", replace=True)
        conn.commit()
        assert links(conn) == before


def test_a_reused_transcript_of_another_gene_is_refused_without_replace(db_url, tmp_path):
    """A panel whose file puts test-ALL's NM_000518.5 (HBB) on another gene was deposited
    with HBB's row: the panel got HBB, which its files do not list, and not the gene they
    name, with only the note that reused transcripts differ."""
    assert run_cli("ella-deposit", "genepanel", "--folder", str(TEST_ALL),
                   db_url=db_url).returncode == 0
    moved = edited_copy(tmp_path, TEST_ALL, "Other_v01",
                        transcripts=lambda text: text.replace("\t4827\tHBB\t", "\t9999\tFAKE1\t"))
    before = table_snapshot(db_url)
    line = one_line_error(run_cli("ella-deposit", "genepanel", "--folder", str(moved),
                                  db_url=db_url))
    assert line.endswith("transcript NM_000518.5 is on HGNC id 4827 in the database but on "
                         "HGNC id 9999 in the panel files (--replace moves it, for every "
                         "panel that has it)"), line
    assert without_clilog(table_snapshot(db_url)) == without_clilog(before)


def test_a_reused_phenotype_with_another_mim_number_is_said(db_url, tmp_path):
    """The database's MIM number is kept without --replace, as a reused transcript's rows
    are, and now said as those are: the operator took the file's number to be in."""
    assert run_cli("ella-deposit", "genepanel", "--folder", str(TEST_ALL),
                   db_url=db_url).returncode == 0
    other = edited_copy(tmp_path, TEST_ALL, "Other_v01",
                        phenotypes=lambda text: text.replace("\t612555\t", "\t612556\t"))
    result = run_cli("ella-deposit", "genepanel", "--folder", str(other), db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        "Note: 1 reused phenotypes have another MIM number than the file's; the database's "
        "were kept (use --replace to update them)")
    replaced = run_cli("ella-deposit", "genepanel", "--folder", str(other), "--replace",
                       db_url=db_url)
    assert replaced.returncode == 0 and "Note" not in replaced.stdout
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT omim_id FROM phenotype WHERE description = "
                            "'{Breast-ovarian cancer, familial, 2}'").fetchall() == [(612556,)]


def test_explicit_options_with_hyphens_and_underscores(db_url):
    transcripts, phenotypes = panel_files(TEST_ALL)
    result = run_cli("ella-deposit", "genepanel", "--genepanel-name", "HBOC",
                     "--genepanel_version", "v1.0.0", "--transcripts-path", str(transcripts),
                     "--phenotypes_path", str(phenotypes), db_url=db_url)
    assert result.returncode == 0, result.stderr
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT name, version FROM genepanel").fetchall() == [
            ("HBOC", "v1.0.0")]
        assert conn.execute(
            "SELECT t.transcript_name, t.strand, gt.inheritance FROM genepanel_transcript gt "
            "JOIN transcript t ON t.id = gt.transcript_id ORDER BY 1").fetchall() == [
            ("NM_000059.3", "+", "AD/AR"), ("NM_000179.2", "+", "AD/AR"),
            ("NM_000518.5", "-", "AD/AR"), ("NM_020975.6", "+", "AD")]
        assert counts(conn)["genepanel_phenotype"] == 27
        assert conn.execute("SELECT count(*) FROM phenotype WHERE inheritance = 'AD, SMu'"
                            ).fetchone()[0] == 4


@pytest.mark.parametrize("option,value", [("--genepanel_name", "HBOC\nrev2"),
                                          ("--genepanel_version", "v1\u202e2"),
                                          ("--genepanel_name", "HB\u200bOC"),
                                          ("--genepanel_name", "HBOC\u034f"),
                                          ("--genepanel_version", "v01\ufe00")])
def test_a_name_or_version_with_a_control_or_invisible_character_is_refused(
        db_url, option, value):
    """As `POST genepanels/` refuses them: a line break split the export's comment line, a
    right-to-left override or a zero-width space made a name that reads as another."""
    transcripts, phenotypes = panel_files(TEST_ALL)
    names = {"--genepanel_name": "HBOC", "--genepanel_version": "v1", option: value}
    before = table_snapshot(db_url)
    result = run_cli("ella-deposit", "genepanel", *[x for pair in names.items() for x in pair],
                     "--transcripts_path", str(transcripts), "--phenotypes_path",
                     str(phenotypes), db_url=db_url)
    label = "name" if option == "--genepanel_name" else "version"
    assert one_line_error(result) == (f"error: the gene panel {label} {value!r} has a control "
                                      "or invisible character")
    after = table_snapshot(db_url)
    assert len(after.pop("clilog")) == len(before.pop("clilog")) + 1
    assert after == before


@pytest.mark.parametrize("option,value,message", [
    # The API addresses a panel as genepanels/<name>/<version>/: a '/' made it unreachable.
    ("--genepanel_name", "a/b", "invalid gene panel name 'a/b'"),
    ("--genepanel_version", "v 1 ", "the gene panel version 'v 1 ' starts or ends with a blank"),
    ("--genepanel_name", "N" * 201, "the gene panel name is longer than 200 characters"),
    # Browsers and proxies drop a dot segment of the address: genepanels/X/../ is genepanels/.
    ("--genepanel_version", "..", "the gene panel version '..' cannot be part of its address"),
    ("--genepanel_name", ".", "the gene panel name '.' cannot be part of its address")])
def test_a_new_name_the_api_would_refuse_is_refused(db_url, option, value, message):
    """As `POST genepanels/` refuses them (and an analysis could name no such panel)."""
    transcripts, phenotypes = panel_files(TEST_ALL)
    names = {"--genepanel_name": "HBOC", "--genepanel_version": "v1", option: value}
    before = without_clilog(table_snapshot(db_url))
    result = run_cli("ella-deposit", "genepanel", *[x for pair in names.items() for x in pair],
                     "--transcripts_path", str(transcripts), "--phenotypes_path",
                     str(phenotypes), db_url=db_url)
    assert one_line_error(result) == f"error: {message}"
    assert without_clilog(table_snapshot(db_url)) == before


@pytest.mark.parametrize("replace", [False, True])
def test_a_panel_made_by_a_user_is_not_taken_for_the_official_files(db_url, replace):
    """A user made HBOC v1 in ELLA (POST genepanels/); the operator's deposit of the official
    files under that name and version backed out with success (or, with --replace, put the
    files' content into a panel still marked unofficial: listed nowhere, refused by
    add_groups)."""
    transcripts, phenotypes = panel_files(TEST_ALL)
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO genepanel (name, version, genome_reference, official, "
                     "date_created) VALUES ('HBOC', 'v1', 'GRCh37', false, now())")
    before = without_clilog(table_snapshot(db_url))
    result = run_cli("ella-deposit", "genepanel", "--genepanel_name", "HBOC",
                     "--genepanel_version", "v1", "--transcripts_path", str(transcripts),
                     "--phenotypes_path", str(phenotypes), *(["--replace"] if replace else []),
                     db_url=db_url)
    assert one_line_error(result) == (
        "error: gene panel HBOC v1 exists as a panel made by a user in ELLA (not official); "
        "deposit the files under another version")
    assert without_clilog(table_snapshot(db_url)) == before


def test_an_existing_panel_with_an_invisible_character_is_still_replaced(db_url, ella_config,
                                                                        tmp_path):
    """An adopted database's panel named with a zero-width space: kept up to date with
    --replace (only a new name is refused)."""
    transcripts, phenotypes = panel_files(TEST_ALL)
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO genepanel (name, version, genome_reference, official, "
                     "date_created) VALUES ('HB\u200bOC', 'v1', 'GRCh37', true, now())")
    result = run_cli("ella-deposit", "genepanel", "--genepanel_name", "HB\u200bOC",
                     "--genepanel_version", "v1", "--transcripts_path", str(transcripts),
                     "--phenotypes_path", str(phenotypes), "--replace", db_url=db_url)
    assert result.returncode == 0, result.stderr
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM genepanel_transcript WHERE genepanel_name = "
                            "'HB\u200bOC'").fetchone() == (4,)
    # Its next version is no new name either; a new name with one is refused.
    for name, version, code in (("HB\u200bOC", "v2", 0), ("HB\u200bOC", "v\u200b3", 1),
                                ("Ne\u200bw", "v1", 1)):
        result = run_cli("ella-deposit", "genepanel", "--genepanel_name", name,
                         "--genepanel_version", version, "--transcripts_path",
                         str(transcripts), "--phenotypes_path", str(phenotypes), db_url=db_url)
        assert result.returncode == code, (name, version, result.stderr)
    # And the panel gets new analyses: its name in theirs is the panel's, not theirs.
    from deposit_helpers import BRCA_VCF
    from ella.deposit.variants import DepositError
    for analysis, refused in (("sample1", False), ("sam\u200bple2", True),
                              ("sampleHB\u200bOC", True)):  # only the ending is the panel's
        folder = tmp_path / f"{analysis}.HB\u200bOC_v1"
        folder.mkdir()
        (folder / "x.vcf").write_text(BRCA_VCF.read_text())
        if refused:
            with pytest.raises(DepositError, match="contains a control or invisible"):
                deposit(db_url, ella_config, folder)
        else:
            assert deposit(db_url, ella_config, folder)["records"] == 6


def deposit_test_panel_as(db_url, name, version):
    """`ella-deposit genepanel` of the test panel's files under this name and version."""
    transcripts, phenotypes = panel_files(TEST_ALL)
    return run_cli("ella-deposit", "genepanel", "--genepanel_name", name,
                   "--genepanel_version", version, "--transcripts_path", str(transcripts),
                   "--phenotypes_path", str(phenotypes), db_url=db_url)


def test_a_new_name_that_is_a_panel_in_another_unicode_form_is_refused(db_url):
    """Panel files named on a Mac (`Å` as `A` and a combining ring) for the stored `Åse`: a
    second panel every list shows alike. Its next version under the stored name is made."""
    def deposit_as(name, version):
        return deposit_test_panel_as(db_url, name, version)
    assert deposit_as("\u00c5se", "v1").returncode == 0
    before = without_clilog(table_snapshot(db_url))
    assert one_line_error(deposit_as("A\u030ase", "v2")) == (
        "error: the gene panel name 'A\u030ase' is that of the existing panel '\u00c5se' in "
        "another Unicode form (a file saved on a Mac decomposes `\u00c5`): name it exactly as "
        "stored")
    assert without_clilog(table_snapshot(db_url)) == before
    assert deposit_as("\u00c5se", "v2").returncode == 0


def test_a_new_version_that_reads_as_an_existing_one_is_refused(db_url):
    """A version typed decomposed (a file saved on a Mac) beside the stored composed one,
    or with a no-break space: a second panel every list shows as the first."""
    def deposit_as(name, version):
        return deposit_test_panel_as(db_url, name, version)
    assert deposit_as("Panel", "v1 \u00e9").returncode == 0
    before = without_clilog(table_snapshot(db_url))
    assert one_line_error(deposit_as("Panel", "v1 e\u0301")) == (
        "error: the gene panel version 'v1 e\u0301' is the existing version 'v1 \u00e9' of "
        "Panel in another Unicode form: give the version exactly as stored, or another")
    assert one_line_error(deposit_as("Panel", "v\u00a02")) == (
        "error: the gene panel version 'v\\xa02' has a space other than the plain one (a "
        "no-break space looks like it)")
    assert without_clilog(table_snapshot(db_url)) == before
    assert deposit_as("Panel", "v1 \u00e9").returncode == 0  # the stored one again: exists
    assert deposit_as("Other", "v1 e\u0301").returncode == 0


def _replace_line(number, edit):
    """An edit of line `number` (1-based) of a file's text."""
    def apply(text):
        lines = text.split("\n")
        lines[number - 1] = edit(lines[number - 1])
        return "\n".join(lines)
    return apply


def _field(index, value):
    def edit(line):
        fields = line.split("\t")
        fields[index] = value
        return "\t".join(fields)
    return edit


# (id, which file, edit, expected fragment of the message); line 3 is the first data line.
MALFORMED = [
    ("column-count", "transcripts", _replace_line(4, lambda l: l.rsplit("\t", 2)[0]),
     "line 4: expected 15 tab-separated columns (as in the header), found 13"),
    ("non-integer-start", "transcripts", _replace_line(3, _field(1, "32889644x")),
     "line 3: read start '32889644x' is not a non-negative integer"),
    ("non-integer-exon", "transcripts", _replace_line(5, _field(12, "48010283,48O18065")),
     "line 5: exon starts item '48O18065' is not a non-negative integer"),
    ("exon-count", "transcripts", _replace_line(6, _field(13, "43600641,43602019")),
     "line 6: 16 exon starts but 2 exon ends"),
    ("strand", "transcripts", _replace_line(4, _field(5, "*")),
     "line 4: strand '*' is not '+' or '-'"),
    ("start-after-end", "transcripts", _replace_line(3, _field(2, "100")),
     "line 3: read start 32889644 is after read end 100"),
    ("one-coding-bound", "transcripts", _replace_line(3, _field(11, "")),
     "line 3: coding start and coding end must both be given or both be empty"),
    ("duplicate-transcript", "transcripts", _replace_line(4, _field(3, "NM_000059.3")),
     "line 4: transcript NM_000059.3 is already on line 3"),
    ("symbol-conflict-in-transcripts", "transcripts", _replace_line(4, _field(8, "BRCA2")),
     "line 4: HGNC symbol 'BRCA2' is HGNC id 1101 on line 3"),
    ("data-before-header", "transcripts",
     lambda text: "13\t1\t2\n" + text,
     "line 1: No valid header found before this data line"),
    ("missing-column", "transcripts", _replace_line(2, lambda l: l.replace("\tstrand", "\tstr")),
     "line 2: header lacks column 'strand'"),
    # Which one was meant cannot be told: the first was read without a word.
    ("column-twice", "transcripts", _replace_line(2, lambda l: l.replace("\tmetadata",
                                                                          "\tstrand")),
     "line 2: header has column 'strand' more than once"),
    # Spelt in another case it is the same symbol ('Brca2' is neither 'BRCA2' nor its
    # lower case): two genes of one symbol, one of which the filters would miss.
    ("symbol-case-conflict-in-transcripts", "transcripts", _replace_line(4, _field(8, "Brca2")),
     "line 4: HGNC symbol 'Brca2' is HGNC id 1101 on line 3 of "
     "test-ALL_v01_genes_transcripts.tsv but 4827 here"),
    # HGNC ids start at 1: 0 is no gene.
    ("hgnc-id-zero-transcripts", "transcripts", _replace_line(4, _field(7, "0")),
     "line 4: HGNC id 0 is below 1"),
    ("hgnc-id-zero-phenotypes", "phenotypes", _replace_line(3, _field(0, "0")),
     "line 3: HGNC id 0 is below 1"),
    ("phenotype-gene-id-typo", "phenotypes", _replace_line(3, _field(0, "1100")),
     "line 3: HGNC symbol 'BRCA2' is HGNC id 1101 on line 3 of "
     "test-ALL_v01_genes_transcripts.tsv but 1100 here"),
    ("phenotype-symbol-conflict", "phenotypes", _replace_line(4, _field(1, "BRCA1")),
     "line 4: HGNC id 1101 is 'BRCA2' on line 3 of test-ALL_v01_genes_transcripts.tsv but "
     "'BRCA1' here"),
    ("phenotype-mim", "phenotypes", _replace_line(5, _field(3, "61-3029")),
     "line 5: phenotype MIM number '61-3029' is not a non-negative integer"),
    ("phenotype-column-count", "phenotypes", _replace_line(6, lambda l: l + "\textra"),
     "line 6: expected 8 tab-separated columns (as in the header), found 9"),
    # Coordinates no transcript has (all real panels' hold): the region filter looks for a
    # variant's exons only near its transcript, and the IGV track drew blocks outside it.
    ("exon-outside", "transcripts", _replace_line(4, _field(13, "5246956,5248029,5249000")),
     "line 4: exon 3 (5248159-5249000) is not within the transcript's 5246693-5248301"),
    ("exon-before", "transcripts", _replace_line(4, _field(12, "5246000,5247806,5248159")),
     "line 4: exon 1 (5246000-5246956) is not within the transcript's 5246693-5248301"),
    ("coding-outside", "transcripts", _replace_line(4, _field(11, "5249999")),
     "line 4: the coding region 5246827-5249999 is not within the transcript's "
     "5246693-5248301"),
    ("exons-overlap", "transcripts", _replace_line(4, _field(13, "5247900,5248029,5248301")),
     "line 4: exon 2 starts at 5247806, before the end 5247900 of exon 1 (exons in ascending "
     "order, not overlapping)"),
    ("exons-unsorted", "transcripts", _replace_line(4, lambda l: l.replace(
        "5246693,5247806,5248159\t5246956,5248029,5248301",
        "5247806,5246693,5248159\t5248029,5246956,5248301")),
     "line 4: exon 2 starts at 5246693, before the end 5248029 of exon 1"),
    # Variants are stored as `11`: such a transcript matched none.
    ("chr-prefix", "transcripts", _replace_line(4, _field(0, "chr11")),
     "line 4: chromosome 'chr11' must be named without 'chr', as ELLA names them (11, X)"),
    # One row holds (gene, phenotype, inheritance): the second number was dropped unsaid.
    ("phenotype-two-mim-numbers", "phenotypes",
     lambda text: text + "1101\tBRCA2\tAD\t999999\t{Breast-ovarian cancer, familial, 2}\t\t\t\n",
     "the phenotype of line 4 again, with MIM number 999999 where that line has 612555"),
    # PostgreSQL's text cannot hold it: the database's error named neither file nor line.
    ("nul-transcripts", "transcripts", _replace_line(4, lambda l: l.replace("NM_", "NM\0_")),
     "line 4: has a NUL character"),
    ("nul-phenotypes", "phenotypes", _replace_line(5, lambda l: l.replace("{", "{\0")),
     "line 5: has a NUL character"),
    # Stored, it went into the symbol or inheritance the filters compare.
    ("control-transcripts", "transcripts", _replace_line(4, lambda l: l.replace("\tAD", "\tAD\x1f")),
     "line 4: has a control character (U+001F)"),
    ("separator-phenotypes", "phenotypes", _replace_line(5, lambda l: l.replace("{", "{\u2028")),
     "line 5: has a control character (U+2028)"),
]


@pytest.mark.parametrize("which, edit, expected", [m[1:] for m in MALFORMED],
                         ids=[m[0] for m in MALFORMED])
def test_malformed_file_is_refused_and_nothing_written(db_url, tmp_path, which, edit, expected):
    folder = edited_copy(tmp_path, TEST_ALL, "test-ALL_v01",
                         transcripts=edit if which == "transcripts" else None,
                         phenotypes=edit if which == "phenotypes" else None)
    bad_file = panel_files(folder)[0 if which == "transcripts" else 1]
    before = table_snapshot(db_url)
    line = one_line_error(run_cli("ella-deposit", "genepanel", "--folder", str(folder),
                                  db_url=db_url))
    assert str(bad_file) in line and expected in line, line
    after = table_snapshot(db_url)
    assert without_clilog(after) == without_clilog(before)
    new_log = sorted(set(after["clilog"]) - set(before["clilog"]))
    assert len(new_log) == 1 and "line" in new_log[0]


def test_a_file_that_is_not_utf8_is_refused_with_its_line(db_url, tmp_path):
    """A Latin-1 byte (a file saved by a spreadsheet) is named with its line, like every
    other problem of the files (it was a byte offset only)."""
    folder = edited_copy(tmp_path, TEST_ALL, "test-ALL_v01")
    transcripts = panel_files(folder)[0]
    # Saved with a byte-order mark, which the byte named counts (it was 3 short).
    data = b"\xef\xbb\xbf" + transcripts.read_bytes().replace(b"BRCA2", b"BRCA\xe92", 1)
    transcripts.write_bytes(data)
    before = table_snapshot(db_url)
    line = one_line_error(run_cli("ella-deposit", "genepanel", "--folder", str(folder),
                                  db_url=db_url))
    at = data.index(b"\xe9")
    assert line == (f"error: {transcripts}, line 3: not UTF-8 text (byte {at} of the file: "
                    "b'\\xe9')"), line
    assert without_clilog(table_snapshot(db_url)) == without_clilog(before)


def test_a_folder_given_through_a_symbolic_link_is_the_link_s_panel(db_url, tmp_path):
    """`--folder` names the panel by the folder's last component as given: a link
    HBOCX_v07 to a folder HBOC_v01 deposited HBOC v01 (or, when that existed, backed out
    with success and made no HBOCX v07)."""
    target = edited_copy(tmp_path, DEMO / "HBOC_v01", "HBOC_v01")
    for path in panel_files(target):
        shutil.copy(path, target / path.name.replace("HBOC_v01", "HBOCX_v07"))
    link = tmp_path / "links" / "HBOCX_v07"
    link.parent.mkdir()
    link.symlink_to(target)
    assert run_cli("ella-deposit", "genepanel", "--folder", str(link),
                   db_url=db_url).returncode == 0
    # A trailing slash and a relative path through the link name it the same.
    result = run_cli("ella-deposit", "genepanel", "--folder", "HBOCX_v07/", db_url=db_url,
                     cwd=link.parent)
    assert result.returncode == 0 and "exists in database" in result.stdout + result.stderr
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT name, version FROM genepanel").fetchall() == [
            ("HBOCX", "v07")]


def test_every_problem_is_collected(tmp_path):
    folder = edited_copy(
        tmp_path, TEST_ALL, "test-ALL_v01",
        transcripts=lambda t: _replace_line(3, _field(5, "x"))(
            _replace_line(6, _field(1, "a"))(t)),
        phenotypes=_replace_line(3, _field(0, "")))
    with pytest.raises(GenepanelError) as caught:
        read_panel_files(*panel_files(folder))
    problems = caught.value.problems
    assert [p.split(": ", 1)[0].rsplit(", ", 1)[1] for p in problems] == [
        "line 3", "line 6", "line 3"]
    assert str(caught.value) == "; ".join(problems)  # all shown, up to five
    many = GenepanelError([f"problem {i}" for i in range(8)])
    assert str(many) == "problem 0; problem 1; problem 2; problem 3; problem 4 (and 3 more " \
        "problems)"


def test_a_coordinate_of_thousands_of_digits_is_refused_with_its_line(tmp_path):
    """Python's int() refuses a digit string over 4,300 long: it was a traceback."""
    folder = edited_copy(tmp_path, TEST_ALL, "test-ALL_v01",
                         transcripts=_replace_line(3, _field(1, "1" * 5000)))
    with pytest.raises(GenepanelError, match=r"line 3: .*1{20}\.\.\. is too large"):
        read_panel_files(*panel_files(folder))


def test_non_coding_transcript_and_tags(db_conn, tmp_path):
    def edit(text):
        text = _replace_line(3, _field(6, "MANE Select, basic,"))(text)
        return _replace_line(4, lambda l: _field(11, "")(_field(10, "")(l)))(text)
    folder = edited_copy(tmp_path, TEST_ALL, "test-ALL_v01", transcripts=edit)
    deposit_folder(db_conn, folder)
    assert db_conn.execute(
        "SELECT transcript_name, cds_start, cds_end, tags FROM transcript "
        "WHERE transcript_name IN ('NM_000059.3', 'NM_000518.5') ORDER BY 1").fetchall() == [
        ("NM_000059.3", 32890597, 32972907, ["MANE Select", "basic"]),
        ("NM_000518.5", None, None, None)]


@pytest.mark.parametrize("symbol", ["BRCA2", "Brca2"])
def test_symbol_owned_by_another_gene_in_the_database(db_url, tmp_path, symbol):
    """HGNC symbols are compared without case (the gene table's symbol index is so): the
    panel's 'Brca2' of HGNC id 99999 is the stored BRCA2 of 1101, said as such."""
    assert run_cli("ella-deposit", "genepanel", "--folder", str(DEMO / "HBOC_v01"),
                   db_url=db_url).returncode == 0
    renumber = lambda text: re.sub(r"(^|\t)1101\tBRCA2\t",  # noqa: E731
                                   rf"\g<1>99999\t{symbol}\t", text, flags=re.M)
    folder = edited_copy(tmp_path, TEST_ALL, "test-ALL_v01", renumber, renumber)
    before = table_snapshot(db_url)
    line = one_line_error(run_cli("ella-deposit", "genepanel", "--folder", str(folder),
                                  db_url=db_url))
    assert line == (f"error: HGNC symbol {symbol!r} has HGNC id 99999 in the panel files but "
                    "belongs to HGNC id 1101 in the database"), line
    assert without_clilog(table_snapshot(db_url)) == without_clilog(before)


def test_gene_symbol_is_updated_by_hgnc_id(db_conn, tmp_path):
    deposit_folder(db_conn, DEMO / "HBOC_v01")
    rename = lambda text: re.sub(r"(^|\t)1101\tBRCA2\t", r"\g<1>1101\tFANCD1\t",  # noqa: E731
                                 text, flags=re.M)
    folder = edited_copy(tmp_path, DEMO / "HBOC_v01", "HBOC_v02", rename, rename)
    result = deposit_folder(db_conn, folder)
    assert (result["genes_new"], result["genes_reused"], result["genes_renamed"]) == (0, 2, 1)
    assert db_conn.execute("SELECT hgnc_symbol FROM gene WHERE hgnc_id = 1101").fetchone() == (
        "FANCD1",)


@pytest.mark.parametrize("folder_name", ["HBOC-v01", "HBOC_01", "_v01"])
def test_folder_name_must_be_name_underscore_version(db_url, tmp_path, folder_name):
    folder = tmp_path / folder_name
    shutil.copytree(DEMO / "HBOC_v01", folder)
    line = one_line_error(run_cli("ella-deposit", "genepanel", "--folder", str(folder),
                                  db_url=db_url))
    assert f"gene panel folder name '{folder_name}' is not <name>_<version>" in line


def test_folder_without_the_expected_files(db_url, tmp_path):
    folder = tmp_path / "HBOC_v01"
    folder.mkdir()
    line = one_line_error(run_cli("ella-deposit", "genepanel", "--folder", str(folder),
                                  db_url=db_url))
    assert "HBOC_v01_genes_transcripts.tsv: file not found" in line
    assert "HBOC_v01_phenotypes.tsv: file not found" in line


def test_a_panel_file_that_is_a_device_or_too_large_is_refused(db_url, tmp_path, monkeypatch):
    """/dev/zero as the transcripts file was read until the process was killed for its
    memory, with no clilog row; a file over the limit is refused before it is parsed; a
    pipe is read."""
    import ella.deposit.genepanel as genepanel
    before = table_snapshot(db_url)
    phenotypes = DEMO / "HBOC_v01" / "HBOC_v01_phenotypes.tsv"
    result = run_cli("ella-deposit", "genepanel", "--genepanel_name", "X",
                     "--genepanel_version", "v1", "--transcripts_path", "/dev/zero",
                     "--phenotypes_path", str(phenotypes), db_url=db_url)
    assert (result.returncode, one_line_error(result)) == (
        1, "error: /dev/zero: is a device, not a file")
    after = table_snapshot(db_url)
    assert len(after.pop("clilog")) == len(before.pop("clilog")) + 1
    assert after == before
    transcripts = DEMO / "HBOC_v01" / "HBOC_v01_genes_transcripts.tsv"
    monkeypatch.setattr(genepanel, "MAX_PANEL_FILE_BYTES", transcripts.stat().st_size - 1)
    with pytest.raises(genepanel.GenepanelError, match=re.escape(
            f"{transcripts}: larger than {transcripts.stat().st_size - 1:,} bytes")):
        genepanel.read_panel_files(transcripts, phenotypes)
    monkeypatch.setattr(genepanel, "MAX_PANEL_FILE_BYTES", transcripts.stat().st_size)
    assert genepanel.read_panel_files(transcripts, phenotypes).transcripts
    # A pipe, as a shell's `<(zcat panel.tsv.gz)` gives, is read as the file.
    reader, writer = os.pipe()
    feeding = threading.Thread(target=lambda: (os.write(writer, transcripts.read_bytes()),
                                               os.close(writer)))
    feeding.start()
    try:
        piped = genepanel.read_panel_files(f"/dev/fd/{reader}", phenotypes)
    finally:
        feeding.join()
        os.close(reader)
    assert piped == genepanel.read_panel_files(transcripts, phenotypes)


def test_usage_errors_exit_2():
    assert run_cli("ella-deposit").returncode == 2
    result = run_cli("ella-deposit", "genepanel", "--genepanel_name", "X")
    assert result.returncode == 2 and "--genepanel_version" in result.stderr
    help_text = run_cli("ella-deposit", "genepanel", "--help")
    assert help_text.returncode == 0 and "--replace" in help_text.stdout


def _strip_trailing_tabs(text):
    return "\n".join(line.rstrip("\t") for line in text.split("\n"))


def test_files_as_editors_save_them_deposit_as_the_originals(db_conn, tmp_path):
    """A byte-order mark (Excel, Notepad; line 1 was 'data before the header'), phenotype
    lines whose empty trailing cells (PMID, inheritance info, comment) were trimmed and a
    stray tab after the last transcript column (both 'expected 8 columns, found 5')."""
    deposit_folder(db_conn, TEST_ALL)
    original = counts(db_conn)
    bom = edited_copy(tmp_path, TEST_ALL, "test-ALL_v02", lambda t: "\ufeff" + t,
                      lambda t: "\ufeff" + t)
    trimmed = edited_copy(tmp_path, TEST_ALL, "test-ALL_v03",
                          lambda t: t.replace("\n1", "\t\n1"), _strip_trailing_tabs)
    for folder in (bom, trimmed):
        result = deposit_folder(db_conn, folder)
        assert (result["status"], result["transcripts_new"], result["phenotypes_new"]) == \
            ("created", 0, 0), folder.name
    now = counts(db_conn)
    assert [now[t] for t in ("gene", "transcript", "phenotype")] == \
        [original[t] for t in ("gene", "transcript", "phenotype")]  # all reused
    for version in ("v02", "v03"):
        assert db_conn.execute(
            "SELECT count(*) FROM genepanel_phenotype WHERE genepanel_version = %s",
            (version,)).fetchone() == db_conn.execute(
            "SELECT count(*) FROM genepanel_phenotype WHERE genepanel_version = 'v01'"
            ).fetchone()


def test_a_cell_beyond_the_header_with_text_or_a_read_column_missing_is_still_refused(
        tmp_path):
    cut = edited_copy(tmp_path, TEST_ALL, "test-ALL_v01",
                      phenotypes=_replace_line(3, lambda line: line.split("\t", 1)[0]))
    with pytest.raises(GenepanelError, match="line 3: expected 8 tab-separated columns "
                                             r"\(as in the header\), found 1"):
        read_panel_files(*panel_files(cut))


def test_an_empty_phenotypes_file_is_a_panel_without_phenotypes(db_conn, tmp_path):
    folder = edited_copy(tmp_path, TEST_ALL, "test-ALL_v01", phenotypes=lambda text: "")
    result = deposit_folder(db_conn, folder)
    assert result["status"] == "created" and db_conn.execute(
        "SELECT count(*) FROM genepanel_phenotype").fetchone() == (0,)


def test_blanks_around_a_phenotype_do_not_make_another_phenotype(db_conn, tmp_path):
    deposit_folder(db_conn, TEST_ALL)
    padded = edited_copy(tmp_path, TEST_ALL, "test-ALL_v02",
                         phenotypes=lambda text: text.replace("familial, 2}\t", "familial, 2} \t"))
    assert deposit_folder(db_conn, padded)["phenotypes_new"] == 0
    assert db_conn.execute("SELECT count(*) FROM phenotype WHERE description LIKE '% '"
                           ).fetchone() == (0,)


def test_a_gene_with_phenotypes_and_no_transcripts_in_the_panel(db_conn, tmp_path):
    """As `POST genepanels/` may create one (an exported UI panel was refused with 'has no
    transcript'); its id and symbol must still agree with the rest."""
    gene = "1100\tBRCA1\tAD\t604370\t{Breast-ovarian cancer, familial, 1}\t\t\t"
    folder = edited_copy(tmp_path, TEST_ALL, "test-ALL_v01",
                         phenotypes=lambda text: text.rstrip("\n") + "\n" + gene + "\n")
    deposit_folder(db_conn, folder)
    assert db_conn.execute(
        "SELECT g.hgnc_symbol, p.description FROM genepanel_phenotype gp JOIN phenotype p "
        "ON p.id = gp.phenotype_id JOIN gene g ON g.hgnc_id = p.gene_id WHERE g.hgnc_id = 1100"
        ).fetchall() == [("BRCA1", "{Breast-ovarian cancer, familial, 1}")]
    assert db_conn.execute("SELECT count(*) FROM transcript WHERE gene_id = 1100").fetchone() \
        == (0,)


def test_an_empty_phenotype_inheritance_links_the_stored_n_a_phenotype(db_conn, tmp_path):
    """An empty inheritance cell is N/A (import.md 4.6): the stored N/A phenotype is linked,
    also beside a '' one of older data (an adopted database holding both); with '' alone
    stored, that one is linked. No phenotype row is added."""
    deposit_folder(db_conn, TEST_ALL)
    pancreatic = "{Pancreatic cancer 2}"  # BRCA2's, inheritance empty in the file
    malaria = "{Malaria, resistance to}"  # HBB's, likewise
    [(n_a_id, inheritance)] = db_conn.execute(
        "SELECT id, inheritance FROM phenotype WHERE gene_id = 1101 AND description = %s",
        (pancreatic,)).fetchall()
    assert inheritance == "N/A"
    older_id = db_conn.execute("INSERT INTO phenotype (gene_id, description, inheritance, "
                               "omim_id) VALUES (1101, %s, '', 613347) RETURNING id",
                               (pancreatic,)).fetchone()[0]
    malaria_id = db_conn.execute("UPDATE phenotype SET inheritance = '' WHERE gene_id = 4827 "
                                 "AND description = %s RETURNING id", (malaria,)).fetchone()[0]
    phenotypes_before = counts(db_conn)["phenotype"]
    folder = edited_copy(tmp_path, TEST_ALL, "test-ALL_v02")
    result = deposit_folder(db_conn, folder)
    assert (result["phenotypes_new"], result["phenotype_links"]) == (0, 27)
    assert counts(db_conn)["phenotype"] == phenotypes_before
    linked = dict(db_conn.execute(
        "SELECT p.description, p.id FROM genepanel_phenotype gp JOIN phenotype p "
        "ON p.id = gp.phenotype_id WHERE gp.genepanel_version = 'v02' "
        "AND p.description = ANY(%s)", ([pancreatic, malaria],)).fetchall())
    assert linked == {pancreatic: n_a_id, malaria: malaria_id}
    assert older_id not in linked.values()
