"""Gene panel exports (import.md 4.6) for the pre-import script: the transcripts and phenotypes
files deposit again into the same panel, and the exon regions are clipped and numbered as
specified."""

from datetime import date
from pathlib import Path

import pytest

from ella.deposit.genepanel import deposit_genepanel, folder_files, read_panel_files
from ella.genepanel_export import (PanelNotFound, exon_regions_bed, phenotypes_tsv,
                                   regions_bed, transcripts_tsv)

DEMO = Path(__file__).resolve().parents[1] / "genepanels" / "ella-demo"
TODAY = date(2026, 11, 28)


def _without_lines(items):
    return sorted(({k: v for k, v in item.items() if k != "line"} for item in items),
                  key=repr)


@pytest.mark.parametrize("panel", ["HBOC_v01", "Ciliopati_v05"])
def test_exported_files_deposit_as_the_same_panel(db_conn, tmp_path, panel):
    name, version = panel.split("_")
    original = read_panel_files(*folder_files(DEMO / panel))
    deposit_genepanel(db_conn, name, version, original)
    transcripts = tmp_path / f"{panel}_genes_transcripts.tsv"
    phenotypes = tmp_path / f"{panel}_phenotypes.tsv"
    transcripts.write_bytes(transcripts_tsv(db_conn, name, version, TODAY))
    phenotypes.write_bytes(phenotypes_tsv(db_conn, name, version, TODAY))
    first = transcripts.read_text().splitlines()[0]
    assert first == f"# Gene panel: {name}-{version} -- Date: 2026-11-28 -- exported from ELLA"
    again = read_panel_files(transcripts, phenotypes)
    assert _without_lines(again.transcripts) == _without_lines(original.transcripts)
    assert _without_lines(again.phenotypes) == _without_lines(original.phenotypes)
    assert again.genes == original.genes


def test_a_panel_with_a_phenotype_only_gene_exports_and_deposits_again(db_conn, tmp_path):
    """A panel made in the UI (`POST genepanels/`) may link a gene's phenotypes without its
    transcripts; the export of such a panel was refused by the deposit ('has no
    transcript')."""
    deposit_genepanel(db_conn, "HBOC", "v01", read_panel_files(*folder_files(DEMO / "HBOC_v01")))
    db_conn.execute("INSERT INTO genepanel (name, version, genome_reference, official, "
                    "date_created) VALUES ('Custom', 'v1', 'GRCh37', false, now())")
    db_conn.execute("INSERT INTO genepanel_transcript SELECT 'Custom', 'v1', transcript_id, "
                    "inheritance FROM genepanel_transcript t JOIN transcript x "
                    "ON x.id = t.transcript_id WHERE x.gene_id = 1101")
    db_conn.execute("INSERT INTO genepanel_phenotype SELECT 'Custom', 'v1', phenotype_id "
                    "FROM genepanel_phenotype")  # BRCA1's phenotypes, not its transcripts
    transcripts = tmp_path / "Custom_v1_genes_transcripts.tsv"
    phenotypes = tmp_path / "Custom_v1_phenotypes.tsv"
    transcripts.write_bytes(transcripts_tsv(db_conn, "Custom", "v1", TODAY))
    phenotypes.write_bytes(phenotypes_tsv(db_conn, "Custom", "v1", TODAY))
    again = read_panel_files(transcripts, phenotypes)
    assert {t["gene_id"] for t in again.transcripts} == {1101}
    assert {p["gene_id"] for p in again.phenotypes} == {1100, 1101}
    assert deposit_genepanel(db_conn, "Custom", "v2", again)["phenotypes_new"] == 0


def _panel(db_conn, transcripts):
    """A panel of hand-made transcripts: (name, strand, cds, exons)."""
    db_conn.execute("INSERT INTO gene (hgnc_id, hgnc_symbol) VALUES (7, 'G7')")
    db_conn.execute("INSERT INTO genepanel (name, version, genome_reference, official, "
                    "date_created) VALUES ('P', 'v1', 'GRCh37', true, now())")
    for name, chrom, strand, cds, exons in transcripts:
        tid = db_conn.execute(
            "INSERT INTO transcript (gene_id, transcript_name, type, genome_reference, "
            "chromosome, tx_start, tx_end, strand, cds_start, cds_end, exon_starts, exon_ends) "
            "VALUES (7, %s, 'RefSeq', 'GRCh37', %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (name, chrom, exons[0][0], exons[-1][1], strand, cds and cds[0], cds and cds[1],
             [e[0] for e in exons], [e[1] for e in exons])).fetchone()[0]
        db_conn.execute("INSERT INTO genepanel_transcript VALUES ('P', 'v1', %s, 'AD')", (tid,))


def test_exon_regions_are_clipped_and_numbered_in_transcript_direction(db_conn):
    exons = [(100, 200), (300, 400), (500, 600), (700, 800)]
    _panel(db_conn, [("NM_PLUS.1", "2", "+", (350, 550), exons),
                     ("NM_MINUS.1", "10", "-", (350, 550), exons),
                     ("NR_NONCODING.1", "X", "+", None, exons[:2])])
    rows = [line.split("\t") for line in
            exon_regions_bed(db_conn, "P", "v1").decode().splitlines()]
    assert rows[0] == ["#chromosome", "read start", "read end", "name", "score", "strand"]
    assert rows[1:] == [
        # exons 1 and 4 lie outside the coding region; 2 and 3 are clipped to it
        ["2", "350", "400", "G7__7__NM_PLUS.1__exon2", "0", "+"],
        ["2", "500", "550", "G7__7__NM_PLUS.1__exon3", "0", "+"],
        # on the minus strand exon 1 is the one with the highest position
        ["10", "350", "400", "G7__7__NM_MINUS.1__exon3", "0", "-"],
        ["10", "500", "550", "G7__7__NM_MINUS.1__exon2", "0", "-"],
        # a non-coding transcript's exons whole
        ["X", "100", "200", "G7__7__NR_NONCODING.1__exon1", "0", "+"],
        ["X", "300", "400", "G7__7__NR_NONCODING.1__exon2", "0", "+"],
    ]
    assert regions_bed(db_conn, "P", "v1").decode().splitlines() == [
        "#chromosome\ttxStart\ttxEnd", "2\t100\t800", "10\t100\t800", "X\t100\t400"]


def test_an_unknown_panel_is_refused(db_conn):
    for export in (transcripts_tsv, phenotypes_tsv, exon_regions_bed):
        with pytest.raises(PanelNotFound, match="No gene panel Nope v1"):
            export(db_conn, "Nope", "v1")


def test_default_preimport_script_refuses_an_unknown_panel(db_url, tmp_path):
    import os
    import subprocess
    import sys
    script = Path(__file__).resolve().parents[1] / "ops" / "preimport.py"
    env = dict(os.environ, DB_URL=db_url, GENEPANEL_NAME="Nope", GENEPANEL_VERSION="v1",
               SAMPLE_ID="S1", ELLA_PREIMPORT_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                            text=True, timeout=60)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.strip() == "preimport: No gene panel Nope v1"
    del env["DB_URL"]
    result = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1 and "not set: DB_URL" in result.stderr
