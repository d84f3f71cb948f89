"""Suggested ACMG criteria: the data document per allele (acmg.md 2.1) and the shipped rule
set (2.6, `ruleset.json`) applied to it."""

import copy
import json
from functools import lru_cache
from pathlib import Path

from ella.acmg.acmgconfig import commonness, panel_inheritance, resolve_gene
from ella.acmg.rules import apply_rules, code_output, flatten, parse_rules

RULESET_FILE = Path(__file__).resolve().parent / "ruleset.json"


@lru_cache(maxsize=1)
def _ruleset_entries():
    with RULESET_FILE.open(encoding="utf-8") as handle:
        return json.load(handle)


def shipped_rules():
    """{code: [Rule]} of the shipped rule set (a fresh parse)."""
    return parse_rules(_ruleset_entries())


def data_document(annotation, commonness_value, genepanel_for, refassessments=None):
    """The document the rules see. `genepanel_for(hgnc_id or None)` resolves the gene's ACMG
    config; `refassessments` is {"<allele_id>_<reference_id>": evaluation} or None."""
    doc = copy.deepcopy(annotation or {})
    doc["frequencies"] = {"commonness": commonness_value}
    if refassessments:
        doc["refassessment"] = copy.deepcopy(refassessments)
    filtered = doc.get("filtered_transcripts") or []
    transcript = None
    if len(filtered) == 1:
        transcript = next((t for t in doc.get("transcripts") or []
                           if t.get("transcript") == filtered[0]), None)
    doc["transcript"] = copy.deepcopy(transcript)
    doc["genepanel"] = genepanel_for(transcript.get("hgnc_id") if transcript else None)
    return doc


def suggest_codes(doc, rules_by_code=None):
    """[{code, source, value, match, op}] of the rules passing on `doc`."""
    rules_by_code = rules_by_code if rules_by_code is not None else shipped_rules()
    passed, _ = apply_rules(rules_by_code, doc)
    flat = flatten(doc)
    return [code_output(rule, flat) for rule in passed]


def suggested_criteria(conn, acmg, alleles, genepanel, refassessments=()):
    """{"<allele_id>": {"codes": [...]}} for allele shapes from `load_alleles` (with
    annotation processed for `genepanel` = (name, version))."""
    inheritance = panel_inheritance(conn, *genepanel)
    ids = [a["id"] for a in alleles]
    common = commonness(conn, acmg, inheritance, ids)
    refs = {}
    for item in refassessments:
        key = f"{item['allele_id']}_{item['reference_id']}"
        refs.setdefault(item["allele_id"], {})[key] = item["evaluation"]
    rules_by_code = shipped_rules()
    result = {}
    for allele in alleles:
        doc = data_document(allele.get("annotation"), common.get(allele["id"]),
                            lambda gene: resolve_gene(acmg, inheritance, gene),
                            refs.get(allele["id"]))
        result[str(allele["id"])] = {"codes": suggest_codes(doc, rules_by_code)}
    return result
