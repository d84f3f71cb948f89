"""The bulk annotation path of deposits (ella/deposit/variants.py AnnotationWriter): documents
validated in Python, shadow rows written set-based. It must write exactly the rows the
per-row triggers write, fall back to the triggers when it cannot mirror them, and report a
schema-invalid document as before, with nothing written."""

import copy
import importlib.util
import json
import logging
import re

import psycopg
import pytest
from psycopg.types.json import Jsonb

import ella.deposit.alleles as alleles_module
import ella.deposit.analysis as analysis_module
from ella.deposit.alleles import deposit_alleles
from ella.deposit.analysis import deposit_analysis
from ella.deposit.analysis_config import resolve_analysis_config
from ella.deposit.genepanel import deposit_genepanel, folder_files, read_panel_files
from ella.deposit.variants import AnnotationWriter, DepositError
from ella.annotation.converters import Annotator
from ella.refresh import refresh
from ella.vcf import VcfError, open_vcf
from deposit_helpers import BRCA_VCF, TEST_ANALYSIS_001, add_test_panels, copy_folder, deposit
from helpers import ROOT, table_snapshot

MENDELIOME = ROOT / "genepanels" / "ella-demo" / "Mendeliome_v01"


def _generator():
    spec = importlib.util.spec_from_file_location("bench_generate",
                                                  ROOT / "bench" / "import" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate


@pytest.fixture
def second_db_url(pg_server, template_db):
    with pg_server.throwaway("second", template_db) as url:
        yield url


def _with_panels(url):
    add_test_panels(url)
    with psycopg.connect(url) as conn:
        deposit_genepanel(conn, "Mendeliome", "v01", read_panel_files(*folder_files(MENDELIOME)))
        conn.commit()
    return url


def _synthetic_analysis(tmp_path, name, variants=400, samples=3, seed=11):
    """A synthetic exome analysis folder (bench/import's generator: CSQ, gnomAD frequencies)."""
    folder = tmp_path / f"{name}.Mendeliome_v01"
    folder.mkdir()
    _generator()(folder / f"{name}.vcf", variants, samples, seed)
    return folder


def _trigger_path_config(url, config, how):
    """Make the bulk path impossible in a way a real installation can be in; returns the
    application config the deposit then runs with."""
    if how == "schema":
        # A newer annotation schema with a pattern the Python twin refuses to translate; no
        # real document has the key, so every document still gets version 1.
        with psycopg.connect(url) as conn:
            conn.execute("INSERT INTO jsonschema (name, version, schema) VALUES "
                         "('annotation', 2, %s)",
                         (Jsonb({"type": "object", "required": ["never_present"],
                                 "properties": {"never_present": {"pattern": "\\d"}}}),))
        return config
    # A frequency group added to the configuration without `ella-db refresh`.
    changed = copy.deepcopy(config)
    changed["frequencies"]["groups"]["external"]["GNOMAD_EXOMES"].append("XYZ")
    return changed


def _content(url):
    """Annotation and shadow rows keyed by allele coordinates (ids differ between databases)."""
    key = "a.chromosome || ':' || a.vcf_pos || a.vcf_ref || '>' || a.vcf_alt"
    with psycopg.connect(url) as conn:
        annotations = conn.execute(
            f"SELECT {key}, an.annotations, an.schema_version, an.date_superceeded IS NULL, "
            "an.previous_annotation_id IS NOT NULL FROM annotation an "
            f"JOIN allele a ON a.id = an.allele_id ORDER BY 1, 4, an.id").fetchall()
        transcripts = conn.execute(
            f"SELECT {key}, to_jsonb(s) - 'id' - 'allele_id' FROM annotationshadowtranscript s "
            "JOIN allele a ON a.id = s.allele_id").fetchall()
        frequencies = conn.execute(
            f"SELECT {key}, to_jsonb(s) - 'id' - 'allele_id' FROM annotationshadowfrequency s "
            "JOIN allele a ON a.id = s.allele_id").fetchall()
    return {"annotation": annotations, "transcripts": _sorted(transcripts),
            "frequencies": _sorted(frequencies)}


def _sorted(rows):
    return sorted(rows, key=lambda row: (row[0], json.dumps(row[1], sort_keys=True)))


def _changed_copy(folder, tmp_path):
    """The same analysis under another name, with one CSQ consequence changed throughout, so
    the annotation of many alleles is superseded by a new one."""
    target = copy_folder(folder, tmp_path / "changed", "again.Mendeliome_v01")
    for vcf in target.glob("*.vcf"):
        vcf.write_text(vcf.read_text().replace("|synonymous_variant|", "|missense_variant|"))
    return target


@pytest.fixture
def small_batches(monkeypatch):
    """Deposits in batches of 16 records, so a small VCF spans many batches and the write
    pipeline (a batch written while the next is converted) really runs."""
    monkeypatch.setattr(analysis_module, "BATCH_SIZE", 16)


@pytest.mark.parametrize("how", ["schema", "shadow-columns"])
def test_bulk_and_trigger_paths_write_the_same_rows(db_url, second_db_url, ella_config, tmp_path,
                                                    caplog, small_batches, how):
    bulk_url, trigger_url = _with_panels(db_url), _with_panels(second_db_url)
    trigger_config = _trigger_path_config(trigger_url, ella_config, how)
    folder = _synthetic_analysis(tmp_path, "bulk")
    changed = _changed_copy(folder, tmp_path)
    with caplog.at_level(logging.WARNING, logger="ella.deposit.variants"):
        for source in (TEST_ANALYSIS_001, folder, changed):
            caplog.clear()
            deposit(bulk_url, ella_config, source)
            assert "validated row by row" not in caplog.text
            deposit(trigger_url, trigger_config, source)
            assert "validated row by row in the database" in caplog.text
    bulk, trigger = _content(bulk_url), _content(trigger_url)
    # Real content: both versions of the changed alleles, frequencies, every transcript.
    assert sum(1 for row in bulk["annotation"] if not row[3]) >= 100
    assert len(bulk["frequencies"]) >= 400 and len(bulk["transcripts"]) >= 1200
    assert {row[2] for row in bulk["annotation"]} == {1}
    assert bulk == trigger


def test_bulk_shadow_rows_equal_a_rebuild(db_url, ella_config, tmp_path):
    """`ella-db refresh` rebuilds the shadow tables from the current annotations: after bulk
    deposits (including superseded annotations) nothing changes."""
    url = _with_panels(db_url)
    folder = _synthetic_analysis(tmp_path, "bulk", variants=300, samples=1, seed=5)
    deposit(url, ella_config, folder)
    deposit(url, ella_config, _changed_copy(folder, tmp_path))
    before = _content(url)
    with psycopg.connect(url) as conn:
        refresh(conn, ella_config, echo=lambda *_: None)
        conn.commit()
    assert _content(url) == before


def _synthetic_lines(tmp_path, variants, seed):
    """(folder, its VCF, the VCF's lines, the indexes of its data lines)."""
    folder = _synthetic_analysis(tmp_path, "bulk", variants=variants, samples=1, seed=seed)
    vcf = next(folder.glob("*.vcf"))
    lines = vcf.read_text().splitlines(keepends=True)
    return folder, vcf, lines, [i for i, line in enumerate(lines) if not line.startswith("#")]


@pytest.mark.parametrize("batch_size, record", [
    (2000, 30),  # one batch
    (8, 30),  # a middle batch: earlier batches are written, later ones already converted
    (8, -1),  # the last batch: the error comes out when the pipeline ends
])
def test_invalid_document_is_reported_and_nothing_is_written(db_url, ella_config, tmp_path,
                                                             monkeypatch, batch_size, record):
    """A consequence term the annotation schema does not know: refused with the record's line,
    where in the document and why (the database's refusal named no line and was cut short);
    the deposit writes nothing."""
    monkeypatch.setattr(analysis_module, "BATCH_SIZE", batch_size)
    url = _with_panels(db_url)
    folder, vcf, lines, body = _synthetic_lines(tmp_path, 50, seed=7)
    line = body[record]
    lines[line] = lines[line].replace("|intron_variant|", "|no_such_term|", 1) \
        .replace("|missense_variant|", "|no_such_term|", 1) \
        .replace("|synonymous_variant|", "|no_such_term|", 1) \
        .replace("|stop_gained|", "|no_such_term|", 1) \
        .replace("|frameshift_variant|", "|no_such_term|", 1)
    assert "no_such_term" in lines[line]
    vcf.write_text("".join(lines))
    before = table_snapshot(url)
    with pytest.raises(VcfError, match=rf"line {line + 1}: the annotation does not match the "
                       r"annotation JSON schema: transcripts\.\d+\.consequences\.\d+: "
                       r"'no_such_term' is not one of \["):
        deposit(url, ella_config, folder)
    assert table_snapshot(url) == before


def _count_writes(monkeypatch, importer_class, rows):
    """The sizes (len of the batch's `rows`) of the batches `importer_class.write` really
    wrote, in order, as a list filled while the deposit runs."""
    written = []
    write = importer_class.write

    def counted_write(importer, batch):
        write(importer, batch)
        written.append(len(getattr(batch, rows)))
    monkeypatch.setattr(importer_class, "write", counted_write)
    return written


def test_error_after_written_batches_leaves_nothing(db_url, ella_config, tmp_path, small_batches,
                                                   monkeypatch):
    """A broken line near the end of the VCF, after several batches were already written in
    the background: the error names the line and the rollback removes every batch."""
    url = _with_panels(db_url)
    folder, vcf, lines, body = _synthetic_lines(tmp_path, 120, seed=9)
    lines[body[-3]] = lines[body[-3]].replace("\t", " ", 1)
    vcf.write_text("".join(lines))
    written = _count_writes(monkeypatch, analysis_module._VcfImport, "records")
    before = table_snapshot(url)
    with pytest.raises(VcfError, match=f"line {body[-3] + 1}: expected 10 tab-separated"):
        deposit(url, ella_config, folder)
    assert len(written) >= 4 and sum(written) >= 64  # really written, then rolled back
    assert table_snapshot(url) == before


def test_a_number_json_cannot_store_is_refused_with_its_place(db_url, ella_config, tmp_path):
    """VCF allows NaN in a Float field; JSON cannot store it. The deposit names the line and
    the annotation value instead of failing inside COPY, and writes nothing."""
    url = _with_panels(db_url)
    folder, vcf, lines, body = _synthetic_lines(tmp_path, 20, seed=4)
    line = body[5]
    lines[line] = re.sub(r"GNOMAD_EXOMES__AF_NFE=[^;\t]+", "GNOMAD_EXOMES__AF_NFE=nan",
                         lines[line])
    assert "GNOMAD_EXOMES__AF_NFE=nan" in lines[line]
    vcf.write_text("".join(lines))
    before = table_snapshot(url)
    with pytest.raises(VcfError, match=rf"line {line + 1}: annotation value "
                                       r"frequencies\.GNOMAD_EXOMES\.freq\.NFE is not a finite"):
        deposit(url, ella_config, folder)
    assert table_snapshot(url) == before


def test_documents_are_checked_as_they_are_stored(db_url, ella_config, tmp_path):
    """The writer checks each converted document itself, not its JSON text read back: the
    verdict must be that of the stored text, for real and synthetic data, accepted or not."""
    synthetic = _synthetic_analysis(tmp_path, "check", variants=300, samples=1, seed=21)
    refused = tmp_path / "refused.vcf"
    refused.write_text(next(synthetic.glob("*.vcf")).read_text().replace(
        "|missense_variant|", "|no_such_term|"))
    with psycopg.connect(db_url) as conn:
        writer = AnnotationWriter(conn.cursor(), ella_config, 1)
        deposit_config = conn.execute(
            "SELECT deposit FROM annotationconfig ORDER BY id DESC LIMIT 1").fetchone()[0]
    verdicts = {}
    for path in (BRCA_VCF, *TEST_ANALYSIS_001.glob("*.vcf"), *synthetic.glob("*.vcf"), refused):
        with open_vcf(path) as reader:
            annotator = Annotator(deposit_config, reader.header.csq_fields, reader.header)
            for record in reader:
                try:
                    prepared = writer.prepare(annotator, record)
                except VcfError as refused_here:  # refused, with the record's line
                    assert "does not match the annotation JSON schema" in str(refused_here)
                    text, version = json.dumps(annotator.annotate(record)), None
                else:
                    text, version = prepared.text, prepared.version
                assert version == writer.schemas.version_of(json.loads(text))
                verdicts[version] = verdicts.get(version, 0) + 1
    assert verdicts[1] > 400 and verdicts[None] > 10


def test_setting_is_local_to_the_deposit(db_url, ella_config, tmp_path):
    """After a bulk batch the transaction's ella.bulk_annotation is off again, and another
    session never sees it: a plain INSERT is still validated and shadowed by the triggers."""
    url = _with_panels(db_url)
    folder = _synthetic_analysis(tmp_path, "bulk", variants=20, samples=1, seed=3)
    with psycopg.connect(url) as conn:
        with conn.transaction():
            deposit_analysis(conn, ella_config, resolve_analysis_config(folder))
            assert conn.execute("SELECT current_setting('ella.bulk_annotation', true)"
                                ).fetchone()[0] == "off"
        allele_id = conn.execute("SELECT min(allele_id) FROM annotation").fetchone()[0]
        document, config_id = conn.execute(
            "SELECT annotations, annotation_config_id FROM annotation WHERE allele_id = %s",
            (allele_id,)).fetchone()
        broken = copy.deepcopy(document)
        broken["transcripts"][0]["strand"] = 2
        with pytest.raises(psycopg.Error, match="failed to validate"):
            with conn.transaction():
                conn.execute("UPDATE annotation SET date_superceeded = now() "
                             "WHERE allele_id = %s AND date_superceeded IS NULL", (allele_id,))
                conn.execute("INSERT INTO annotation (allele_id, annotations, date_created, "
                             "annotation_config_id, schema_version) "
                             "VALUES (%s, %s, now(), %s, 1)", (allele_id, Jsonb(broken), config_id))
        changed = copy.deepcopy(document)
        changed["transcripts"] = changed["transcripts"][:1]
        with conn.transaction():
            conn.execute("UPDATE annotation SET date_superceeded = now() "
                         "WHERE allele_id = %s AND date_superceeded IS NULL", (allele_id,))
            conn.execute("INSERT INTO annotation (allele_id, annotations, date_created, "
                         "annotation_config_id) VALUES (%s, %s, now(), %s)",
                         (allele_id, Jsonb(changed), config_id))
        shadow = conn.execute("SELECT transcript FROM annotationshadowtranscript "
                              "WHERE allele_id = %s", (allele_id,)).fetchall()
    assert [r[0] for r in shadow] == [changed["transcripts"][0]["transcript"]]


def test_writer_reports_why_it_uses_the_triggers(db_url, ella_config):
    with psycopg.connect(db_url) as conn:
        assert AnnotationWriter(conn.cursor(), ella_config, 1).trigger_path_reason is None
        changed = _trigger_path_config(db_url, ella_config, "shadow-columns")
        reason = AnnotationWriter(conn.cursor(), changed, 1).trigger_path_reason
        assert "GNOMAD_EXOMES.XYZ" in reason and "ella-db refresh" in reason
        _trigger_path_config(db_url, ella_config, "schema")
        reason = AnnotationWriter(conn.cursor(), ella_config, 1).trigger_path_reason
        assert "cannot be checked outside the database" in reason


def _deposit_variants(url, config, vcf, panel=("Mendeliome", "v01"), annotation_only=False):
    with psycopg.connect(url) as conn:
        with conn.transaction():
            return deposit_alleles(conn, config, vcf, panel=panel,
                                   annotation_only=annotation_only)


@pytest.mark.parametrize("annotation_only", [False, True])
def test_variant_deposit_in_many_batches_writes_what_one_batch_writes(
        db_url, second_db_url, ella_config, tmp_path, monkeypatch, annotation_only):
    """`deposit alleles|annotation` writes batches in the background like analyses do: in
    batches of 16 records (many written while later ones are converted) the rows and the
    summary are those of a single batch, also when a second file supersedes annotation."""
    many_url, one_url = _with_panels(db_url), _with_panels(second_db_url)
    folder = _synthetic_analysis(tmp_path, "variants", variants=200, samples=1, seed=5)
    changed = _changed_copy(folder, tmp_path)
    files = [next(folder.glob("*.vcf")), next(changed.glob("*.vcf"))]
    summaries = {}
    for url, size in ((many_url, 16), (one_url, 100_000)):
        monkeypatch.setattr(alleles_module, "BATCH_SIZE", size)
        summaries[size] = [_deposit_variants(url, ella_config, vcf, annotation_only=annotation_only)
                           for vcf in files]
    for summary in summaries[16] + summaries[100_000]:
        summary.pop("seconds")
    assert summaries[16] == summaries[100_000]
    first, second = summaries[16]
    assert first["records"] >= 190 and first["annotations_new"] == first["alleles_new"]
    assert second["alleles_new"] == 0 and second["annotations_new"] >= 30
    assert second["annotations_unchanged"] > 0
    assert first["interpretations_new"] == (0 if annotation_only else first["alleles_new"])
    assert _content(many_url) == _content(one_url)
    with psycopg.connect(many_url) as many, psycopg.connect(one_url) as one:
        query = "SELECT count(*), count(DISTINCT allele_id) FROM alleleinterpretation"
        assert many.execute(query).fetchone() == one.execute(query).fetchone()


@pytest.mark.parametrize("problem", ["broken line", "outside the panel"])
def test_variant_deposit_error_after_written_batches_leaves_nothing(
        db_url, ella_config, tmp_path, monkeypatch, problem):
    """A bad record near the end of the file, after several batches were written in the
    background: the error names it and the rollback removes every batch."""
    url = _with_panels(db_url)
    monkeypatch.setattr(alleles_module, "BATCH_SIZE", 16)
    _, vcf, lines, body = _synthetic_lines(tmp_path, 120, seed=9)
    bad = body[-3]
    if problem == "broken line":
        lines[bad] = lines[bad].replace("\t", " ", 1)
        expected = (VcfError, f"line {bad + 1}: expected 10 tab-separated")
    else:
        fields = lines[bad].split("\t")
        lines[bad] = "\t".join([fields[0], "1000"] + fields[2:])
        expected = (DepositError, rf"not inside the genepanel Mendeliome_v01: {fields[0]}\t1000\t")
    vcf.write_text("".join(lines))
    written = _count_writes(monkeypatch, alleles_module._VariantImport, "alleles")
    before = table_snapshot(url)
    with pytest.raises(expected[0], match=expected[1]):
        _deposit_variants(url, ella_config, vcf)
    assert len(written) >= 4 and sum(written) >= 64  # really written, then rolled back
    assert table_snapshot(url) == before
