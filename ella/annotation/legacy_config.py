"""ELLA's "legacy" annotation config: row 1 of `annotationconfig` in every v1.17 database.

ELLA seeds this row when it creates a database; every annotation imported before a site loads
its own config points to it. We build the same content here (rather than keeping a 20 kB YAML
copy) because most of it is one pattern: gnomAD exome and genome fields for eight populations.
`sql/migrations/0001_legacy_annotationconfig_4c2844fef850.sql` holds the rendered row;
`python -m ella.annotation.legacy_config` prints that SQL, and a test keeps the two in sync.
"""

import json

GNOMAD_POPULATIONS = ["AFR", "AMR", "ASJ", "EAS", "FIN", "NFE", "OTH", "SAS"]
INDB_DATASETS = ["OUSWES", "OUSWGS"]


def _gnomad_elements(provider):
    """keyvalue elements of one gnomAD data set (`<P>__AC_AFR` -> frequencies.<P>.count.AFR ...)."""
    elements = []
    # (INFO field stem, target key, extra element options) in ELLA's order.
    fields = [
        ("AC", "count", {"target_type": "int"}),
        ("AN", "num", {"target_type": "int"}),
        ("Hom", "hom", {"target_type": "int"}),
        # Hemizygous counts are missing or '.' on autosomes: don't fail the import for them.
        ("Hemi", "hemi", {"target_type": "int", "target_type_throw": False}),
        ("AF", "freq", {"target_type": "float"}),
    ]
    for stem, key, options in fields:
        for population in [None] + GNOMAD_POPULATIONS:
            source = f"{provider}__{stem}" + (f"_{population}" if population else "")
            target = f"frequencies.{provider}.{key}.{population or 'G'}"
            elements.append({"source": source, "target": target, **options})
    elements.append({"source": f"{provider}__AS_FilterStatus",
                     "target": f"frequencies.{provider}.filter.G",
                     "target_type": "string", "split": "|"})
    return elements


def _indb_elements():
    elements = []
    for stem, key, target_type in [("Het", "het", "int"), ("Hom", "hom", "int"),
                                   ("AC", "count", "int"), ("AF", "freq", "float"),
                                   ("AN", "num", "int")]:
        for dataset in INDB_DATASETS:
            elements.append({"source": f"inDB__{stem}_{dataset}",
                             "target": f"frequencies.inDB.{key}.{dataset}",
                             "target_type": target_type})
    for dataset in INDB_DATASETS:
        elements.append({"source": f"inDB__filter_{dataset}",
                         "target": f"frequencies.inDB.filter.{dataset}",
                         "target_type": "string", "split": ","})
    return elements


def _converter(name, elements):
    return {"name": name, "converter_config": {"elements": elements}}


def deposit_section():
    return [
        _converter("vep", [{"source": "CSQ", "target": "transcripts"}]),
        _converter("clinvarjson", [{"source": "CLINVARJSON", "target": "external.CLINVAR",
                                    "encoding": "base16"}]),
        _converter("keyvalue", _gnomad_elements("GNOMAD_EXOMES")),
        _converter("keyvalue", _gnomad_elements("GNOMAD_GENOMES")),
        _converter("keyvalue", _indb_elements()),
        _converter("mapping", [
            {"source": f"inDB__indications_{dataset}",
             "target": f"frequencies.inDB.indications.{dataset}",
             "item_separator": ",", "keyvalue_separator": ":", "target_type": "string"}
            for dataset in INDB_DATASETS]),
        _converter("hgmdprimaryreport", [{"source": "HGMD__pmid",
                                          "additional_sources": ["HGMD__comments"],
                                          "target": "references", "target_mode": "extend"}]),
        _converter("hgmdextrarefs", [{"source": "HGMD__extrarefs", "target": "references",
                                      "target_mode": "extend"}]),
        _converter("clinvarreferences", [{"source": "CLINVARJSON", "target": "references",
                                          "target_mode": "extend"}]),
        _converter("hgmd", [{"source": "HGMD__acc_num",
                             "additional_sources": ["HGMD__disease", "HGMD__tag"],
                             "target": "external.HGMD"}]),
    ]


_VARIANT = "${allele.chromosome}-${allele.vcf_pos}-${allele.vcf_ref}-${allele.vcf_alt}"
_GNOMAD_ROWS = {"AFR": "AFR", "AMR": "AMR", "ASJ": "ASJ", "EAS": "EA", "FIN": "E(F)",
                "NFE": "E(NF)", "OTH": "OTH", "SAS": "SA", "G": "TOT"}
_FULL_COLUMNS = {"count": "COUNT", "num": "NUM", "hom": "HOM", "hemi": "HEMI", "freq": "FREQ"}


def _gnomad_view(provider, with_warnings):
    config = {"key_column": "pop", "columns": dict(_FULL_COLUMNS), "rows": dict(_GNOMAD_ROWS),
              "precision": 6, "scientific_threshold": 4}
    if with_warnings:
        config["warnings"] = "filter"
    return {
        "section": "frequency", "template": "frequencyDetails",
        "source": f"frequencies.{provider}",
        "url": f"http://gnomad.broadinstitute.org/variant/{_VARIANT}",
        "url_empty": "http://gnomad.broadinstitute.org/region/${allele.chromosome}-"
                     "${allele.vcf_pos-10}-${allele.open_end_position+10}",
        "config": config,
    }


def view_section():
    return [
        _gnomad_view("GNOMAD_EXOMES", with_warnings=True),
        _gnomad_view("GNOMAD_GENOMES", with_warnings=False),
        {"section": "frequency", "template": "frequencyDetails", "source": "frequencies.ExAC",
         "url": f"http://exac.broadinstitute.org/variant/{_VARIANT}",
         "config": {"key_column": "pop", "columns": dict(_FULL_COLUMNS),
                    "rows": {"AFR": "AFR", "FIN": "E(F)", "NFE": "E(NF)", "EAS": "EA",
                             "AMR": "LAT", "OTH": "OTH", "SAS": "SA", "G": "TOT"},
                    "precision": 6, "scientific_threshold": 4}},
        {"section": "frequency", "template": "frequencyDetails", "source": "frequencies.inDB",
         "config": {"key_column": "pop",
                    "columns": {"count": "COUNT", "num": "NUM", "hom": "HOM", "freq": "FREQ"},
                    "rows": {d: d for d in INDB_DATASETS},
                    "indications": {"keys": list(INDB_DATASETS), "threshold": 10}}},
        {"section": "frequency", "template": "itemList", "source": "filtered", "title": "dbSNP",
         "config": {"items": [{"type": "objects", "key": "dbsnp",
                               "url": "http://www.ncbi.nlm.nih.gov/projects/SNP/snp_ref.cgi"
                                      "?rs=${attrs.linkText}"}]}},
        {"section": "external", "template": "clinvarDetails", "source": "external.CLINVAR",
         "url": "https://www.ncbi.nlm.nih.gov/clinvar/variation/"
                "${allele.annotation.external.CLINVAR.variant_id}",
         "url_empty": "https://www.ncbi.nlm.nih.gov/clinvar/?term=${allele.chromosome}[chr]"
                      "+AND+${allele.vcf_pos-100}%3A${allele.vcf_pos+100}[chrpos37]",
         "config": {}},
        {"section": "external", "template": "itemList", "source": "external.HGMD",
         "title": "HGMD PRO",
         "url": "https://my.qiagendigitalinsights.com/bbp/view/hgmd/pro/mut.php"
                "?acc=${allele.annotation.external.HGMD.acc_num}",
         "config": {"items": [{"subsource": "tag"}, {"subsource": "disease"},
                              {"subsource": "acc_num"}]}},
    ]


def legacy_annotation_config():
    return {"deposit": deposit_section(), "view": view_section()}


def _sql_literal(value):
    return "'" + json.dumps(value, separators=(", ", ": ")).replace("'", "''") + "'"


def render_migration_sql():
    config = legacy_annotation_config()
    return (
        "-- ELLA's legacy annotation config as row 1 of annotationconfig (ELLA seeds it in every\n"
        "-- database it creates). Generated by `python -m ella.annotation.legacy_config`; do not\n"
        "-- edit by hand (a test compares the two).\n"
        "INSERT INTO annotationconfig (deposit, view, date_created) VALUES (\n"
        f"    {_sql_literal(config['deposit'])}::json,\n"
        f"    {_sql_literal(config['view'])}::json,\n"
        "    now()\n"
        ");\n"
    )


if __name__ == "__main__":
    print(render_migration_sql(), end="")
