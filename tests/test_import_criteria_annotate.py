"""import.md 8 D5/D6 as upstream runs them (two elements of one converter writing the same
target, through the annotator; merge through the json converter), C4 with report and
warnings files."""

import base64
import json

from deposit_helpers import BRCA_VCF
from ella.annotation.converters import annotate_record
from ella.deposit.analysis_config import resolve_analysis_config
from ella.vcf import open_vcf, read_header

HEADER = ("##fileformat=VCFv4.1\n"
          "##INFO=<ID=SOURCE1,Number=.,Type=String,Description=\"s\">\n"
          "##INFO=<ID=SOURCE2,Number=.,Type=String,Description=\"s\">\n"
          "##INFO=<ID=I1,Number=.,Type=Integer,Description=\"i\">\n"
          "##INFO=<ID=I2,Number=.,Type=Integer,Description=\"i\">\n"
          "##INFO=<ID=I3,Number=1,Type=Integer,Description=\"i\">\n"
          "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")


def _annotate(tmp_path, info, name, **kwargs):
    path = tmp_path / "t.vcf"
    path.write_text(HEADER + f"13\t100\t.\tA\tG\t50\tPASS\t{info}\n")
    with open_vcf(path) as reader:
        (record,) = list(reader)
    sources = [s.split("=")[0] for s in info.split(";")]
    deposit = [{"name": name, "converter_config": {"elements": [
        dict(source=s, target="key", **kwargs) for s in sources]}}]
    return annotate_record(record, deposit, read_header(path).csq_fields)


def test_d5_target_key_and_nested_path(tmp_path):
    path = tmp_path / "t.vcf"
    path.write_text(HEADER + "13\t100\t.\tA\tG\t50\tPASS\tSOURCE1=dabla\n")
    with open_vcf(path) as reader:
        (record,) = list(reader)
    for target, expected in (("key", {"key": "dabla"}),
                             ("path.to.target", {"path": {"to": {"target": "dabla"}}})):
        deposit = [{"name": "keyvalue", "converter_config": {"elements": [
            {"source": "SOURCE1", "target": target}]}}]
        got = annotate_record(record, deposit, [])
        # SOURCE1 is Number=. String: one value (a 1-tuple/list) or the string itself
        assert json.loads(json.dumps(got)) in (expected, json.loads(json.dumps(expected).replace(
            '"dabla"', '["dabla"]'))), got


def test_d6_extend_append_merge_through_the_annotator(tmp_path):
    got = _annotate(tmp_path, "I1=1,3;I2=2,4", "keyvalue", target_mode="extend")
    assert list(got["key"]) == [1, 3, 2, 4]
    got = _annotate(tmp_path, "I1=1,3;I3=2", "keyvalue", target_mode="append")
    assert [tuple(x) if isinstance(x, (list, tuple)) else x for x in got["key"]] == [(1, 3), 2]
    one = base64.b16encode(json.dumps({"foobar": {"a": 1, "b": 1}}).encode()).decode()
    two = base64.b16encode(json.dumps({"foobar": {"a": 2, "c": 2}}).encode()).decode()
    got = _annotate(tmp_path, f"SOURCE1={one};SOURCE2={two}", "json", target_mode="merge",
                    encoding="base16")
    assert got == {"key": {"foobar": {"a": 2, "b": 1, "c": 2}}}


def test_c4_folder_with_several_vcfs_peds_report_and_warnings(tmp_path):
    folder = tmp_path / "abc-HBOC-v1.0.0"
    (folder / "sub").mkdir(parents=True)
    for n, name in enumerate(("b.vcf", "a.vcf.gz", "sub/c.vcf")):
        # Three VCFs, not copies of one (a copy of one VCF under two names is refused).
        (folder / name).write_text(
            BRCA_VCF.read_text().replace("\n#CHROM", f"\n##file={n}\n#CHROM"))
    (folder / "b.ped").write_text("")
    (folder / "sub" / "c.ped").write_text("")
    (folder / "report.txt").write_text("Report!")
    (folder / "warnings.txt").write_text("Warning!")
    got = resolve_analysis_config(folder)
    base = folder.resolve()
    assert (got["name"], got["genepanel_name"], got["genepanel_version"], got["priority"]) == \
        ("abc-HBOC-v1.0.0", "HBOC", "v1.0.0", 1)
    assert (got["report"], got["warnings"]) == ("Report!", "Warning!")
    vcfs = sorted(str(base / n) for n in ("b.vcf", "a.vcf.gz", "sub/c.vcf"))
    assert [d["vcf"] for d in got["data"]] == vcfs
    peds = {str(base / "b.vcf"): str(base / "b.ped"), str(base / "sub/c.vcf"):
            str(base / "sub" / "c.ped"), str(base / "a.vcf.gz"): None}
    assert [d["ped"] for d in got["data"]] == [peds[v] for v in vcfs]
