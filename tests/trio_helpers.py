"""Build family VCF + .ped analyses on the Mendeliome v01 demo panel, deposit them on a
database with the demo data (groups, users, TrioDefault), and read them back over HTTP."""

import importlib.util
import json
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
PANEL = ROOT / "genepanels" / "ella-demo" / "Mendeliome_v01" / "Mendeliome_v01_genes_transcripts.tsv"

_spec = importlib.util.spec_from_file_location("bench_generate", ROOT / "bench" / "import" / "generate.py")
generate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generate)


def panel_transcripts():
    out = {}
    for line in PANEL.read_text().splitlines():
        if line.startswith("#"):
            continue
        f = line.split("\t")
        out.setdefault(f[8], dict(chrom=f[0], name=f[3], strand=f[5], hgnc=f[7], symbol=f[8],
                                  inheritance=f[9], cds=(int(f[10]), int(f[11])),
                                  exons=list(zip(map(int, f[12].split(",")),
                                                 map(int, f[13].split(","))))))
    return out


def coding_positions(symbol, n=2):
    """n 1-based positions well inside coding exons of the gene's panel transcript."""
    tx = panel_transcripts()[symbol]
    lo, hi = tx["cds"]
    found = []
    for s, e in tx["exons"]:
        a, b = max(s, lo), min(e, hi)
        if b - a >= 12:
            found.append((a + b) // 2 + 1)
    assert len(found) >= n, symbol
    return tx, found[:n]


def sample_col(gt, ad=(20, 20), dp=None, gq=99, pl="100,0,100"):
    ad_text = ",".join("." if v is None else str(v) for v in ad) if ad is not None else "."
    dp = dp if dp is not None else (sum(v for v in ad if v) if ad else 40)
    return f"{gt}:{ad_text}:{dp}:{gq}:{pl}"


def write_analysis(parent, name, samples, ped_rows, records, panel="Mendeliome_v01"):
    """records: [(symbol or None, pos, ref, alt, [sample column strings])]; returns the
    folder. ped_rows: list of 7-tuples or None (no .ped)."""
    folder = Path(parent) / f"{name}.{panel}"
    folder.mkdir(parents=True)
    csq_fields = []
    header = generate.header_lines(csq_fields)
    txs = panel_transcripts()
    lines = ["\n".join(header),
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples)]
    for symbol, chrom, pos, ref, alt, cols, *extra in records:
        info = "."
        if symbol:
            tx = txs[symbol]
            alts = alt.split(",")
            csq = ",".join(generate.csq_entry(csq_fields, a, tx["name"], symbol, tx["hgnc"],
                                              tx["strand"], "missense_variant", 100,
                                              f"{ref}>{a}") for a in alts)
            info = f"CSQ={csq}"
        if extra:
            info = extra[0] if info == "." else f"{info};{extra[0]}"
        lines.append(f"{chrom}\t{pos}\t.\t{ref}\t{alt}\t5000\tPASS\t{info}\tGT:AD:DP:GQ:PL\t"
                     + "\t".join(cols))
    (folder / f"{name}.{panel}.vcf").write_text("\n".join(lines) + "\n")
    if ped_rows is not None:
        (folder / f"{name}.ped").write_text(
            "".join("\t".join(map(str, r)) + "\n" for r in ped_rows))
    return folder


def deposit_folder(db_url, config, folder):
    from deposit_helpers import deposit
    deposit(db_url, config, folder)
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT id FROM analysis WHERE name = %s",
                            (Path(folder).name,)).fetchone()[0]


def samples_of(db_url, analysis_id):
    with psycopg.connect(db_url) as conn:
        cur = conn.execute(
            "SELECT id, identifier, father_id, mother_id, sibling_id, sex::text, affected, "
            "proband, family_id FROM sample WHERE analysis_id = %s ORDER BY id", (analysis_id,))
        cols = [d.name for d in cur.description]
        return {r[1]: dict(zip(cols, r)) for r in cur.fetchall()}


def allele_id(db_url, chrom, pos, alt):
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT id FROM allele WHERE chromosome = %s AND vcf_pos = %s "
                            "AND vcf_alt = %s", (chrom, pos, alt)).fetchone()[0]


def round_id(db_url, analysis_id):
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT id FROM analysisinterpretation WHERE analysis_id = %s "
                            "ORDER BY id DESC LIMIT 1", (analysis_id,)).fetchone()[0]


def filterconfig_id(db_url, name="TrioDefault"):
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT id FROM filterconfig WHERE name = %s AND active",
                            (name,)).fetchone()[0]


def workflow_alleles(client, db_url, analysis_id, ids, fc_id=None):
    iid = round_id(db_url, analysis_id)
    query = {"allele_ids": ",".join(map(str, ids))}
    if fc_id is not None:
        query["filterconfig_id"] = str(fc_id)
    r = client.get(f"/api/v1/workflows/analyses/{analysis_id}/interpretations/{iid}/alleles/",
                   query=query)
    assert r.status == 200, r.body
    return {a["id"]: a for a in r.json}


def write_multi_vcf_analysis(parent, name, items, panel="Mendeliome_v01"):
    """A folder with several VCFs, each with its own .ped or none, and a .analysis listing
    them in order; items: [dict(file=, samples=, ped=rows or None, records=[...],
    technology= (optional))]."""
    folder = Path(parent) / f"{name}.{panel}"
    folder.mkdir(parents=True)
    data = []
    for n, item in enumerate(items):
        scratch = write_analysis(Path(parent) / f"_{name}_{n}", item["file"], item["samples"],
                                 item.get("ped"), item["records"], panel=panel)
        entry = {"vcf": f"{item['file']}.vcf"}
        if item.get("technology"):
            entry["technology"] = item["technology"]
        next(scratch.glob("*.vcf")).rename(folder / entry["vcf"])
        ped = next(scratch.glob("*.ped"), None)
        if ped is not None:
            entry["ped"] = f"{item['file']}.ped"
            ped.rename(folder / entry["ped"])
        data.append(entry)
    (folder / f"{name}.analysis").write_text(json.dumps({
        "name": folder.name, "genepanel_name": panel.split("_")[0],
        "genepanel_version": panel.split("_", 1)[1], "data": data}))
    return folder

