"""import.md 8 D1 (rows stored by a real deposit), D4 (randomised families, as upstream's
test), L3 (deposit a panel, then append that panel to a group) against real PostgreSQL."""

import random
from pathlib import Path

import psycopg

from deposit_helpers import add_test_panels, deposit
from helpers import ROOT, run_cli
from test_vcf import ALLELE_TABLE

# ------------------------------------------------------------------------------------- D1

D1_ROWS = ALLELE_TABLE


def test_d1_allele_rows_stored_by_deposit_annotation(db_url, tmp_path):
    vcf = tmp_path / "d1.vcf"
    vcf.write_text("##fileformat=VCFv4.1\n##FORMAT=<ID=GT,Number=1,Type=String,Description=\"GT\">\n"
                   "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS\n" + "".join(
                       f"{c}\t{p}\t.\t{r}\t{a}\t50\tPASS\t.\tGT\t0/1\n"
                       for c, p, r, a, _ in D1_ROWS))
    result = run_cli("ella-deposit", "annotation", str(vcf), db_url=db_url)
    assert result.returncode == 0, result.stderr
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT genome_reference, chromosome, start_position, open_end_position, "
            "change_type::text, change_from, change_to, length, vcf_pos, vcf_ref, vcf_alt, "
            "caller_type::text FROM allele").fetchall()
    expected = [("GRCh37", c, s, e, t, f, to, n, p, r, a, "snv")
                for c, p, r, a, (t, s, e, f, to, n) in D1_ROWS]
    assert sorted(rows) == sorted(expected)


# ------------------------------------------------------------------------------------- D4

FORMAT_HEADER = """##fileformat=VCFv4.1
##INFO=<ID=OLD_MULTIALLELIC,Number=1,Type=String,Description="block">
##FORMAT=<ID=GT,Number=1,Type=String,Description="GT">
##FORMAT=<ID=AD,Number=R,Type=Integer,Description="AD">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="DP">
##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="GQ">
##FORMAT=<ID=PL,Number=G,Type=Integer,Description="PL">
"""


def _gt_type(gt, no_coverage):
    alleles = gt.replace("|", "/").split("/")
    if all(a == "." for a in alleles):
        return "No coverage" if no_coverage else "Reference"
    if "1" in alleles and (len(alleles) == 1 or alleles.count("1") == 2):
        return "Homozygous"
    if "1" in alleles:
        return "Heterozygous"
    return "Reference"


def _multiallelic(gt):
    return gt.replace("|", "/") in ("1/.", "./1", "0/.", "./0")


def _family(rng, n):
    names = ["P"] + ["F", "M"][:max(0, min(2, n - 1))]
    names += [f"S{i}" for i in range(n - len(names))]
    has_parents = "F" in names and "M" in names and rng.random() < 0.8
    sexes = {s: rng.choice(["1", "2"]) for s in names}
    sexes["F"], sexes["M"] = "1", "2"
    ped = []
    for s in names:
        if s in ("F", "M"):
            father = mother = "0"
        elif has_parents:
            father, mother = "F", "M"
        else:
            father = mother = "0"
        ped.append(f"FAM\t{s}\t{father}\t{mother}\t{sexes[s]}\t{'2' if s == 'P' else rng.choice(['1', '2'])}"
                   f"\t{1 if s == 'P' else 0}")
    return names, sexes, has_parents, "\n".join(ped) + "\n"


def _decompose(gt, i, ploidy):
    """Allele index `i` of a decomposed site: the sample's original allele k -> 1 if k == i,
    0 if k == 0, '.' else; None stays '.'."""
    def one(k):
        if k is None:
            return "."
        return "1" if k == i else ("0" if k == 0 else ".")
    return one(gt[0]) if ploidy == 1 else f"{one(gt[0])}{gt[2]}{one(gt[1])}"


def _make_block(rng, names, pos, block_no):
    """One site: 1 alt (plain record) or 2-3 alts (decomposed block)."""
    n_alts = 1 if rng.random() < 0.5 else rng.randint(2, 3)
    ploidy = 1 if (n_alts == 1 and rng.random() < 0.2) else 2
    ref = "A"
    alts = ["C", "G", "T"][:n_alts]
    originals = {}
    for s in names:
        if rng.random() < 0.15:
            originals[s] = (None, None, "/")
        else:
            sep = "|" if rng.random() < 0.3 else "/"
            a, b = rng.randint(0, n_alts), rng.randint(0, n_alts)
            originals[s] = (a, b, sep)
    depth = {s: (rng.randint(0, 30), [rng.randint(0, 30) for _ in alts]) for s in names}
    records = []
    for i, alt in enumerate(alts, start=1):
        info = f"OLD_MULTIALLELIC=1:{pos}:{ref}/{'/'.join(alts)}" if n_alts > 1 else "."
        samples = {}
        for s in names:
            a, b, sep = originals[s]
            gt = _decompose((a, b, sep), i, ploidy)
            if a is None:
                samples[s] = dict(GT=gt, AD=".", DP=".", GQ=".", PL=".")
            else:
                r, cs = depth[s]
                pl = [rng.randint(0, 999) for _ in range(2 if ploidy == 1 else 3)]
                samples[s] = dict(GT=gt, AD=f"{r},{cs[i - 1]}", DP=str(r + sum(cs)),
                                  GQ=str(rng.randint(0, 99)), PL=",".join(map(str, pl)))
        records.append(dict(pos=pos, ref=ref, alt=alt, info=info, samples=samples))
    return records


def _oracle(names, blocks):
    """What import.md 2.8/2.9 say the deposit stores."""
    genotypes, gsd = [], {}
    for records in blocks:
        proband = [r for r in records
                   if "1" in r["samples"]["P"]["GT"].replace("|", "/").split("/")]
        if not proband:
            continue
        if len(proband) == 2:
            first = next(r for r in proband if r["samples"]["P"]["GT"].replace("|", "/")
                         .split("/")[0] == "1")
            second = next(r for r in proband if r is not first)
            ordered = [first, second]
        else:
            ordered = proband
        genotypes.append(tuple(r["alt"] for r in ordered) + (None,) * (2 - len(ordered)))
        for s in names:
            no_cov = all(set(r["samples"][s]["GT"].replace("|", "/").split("/")) == {"."}
                         for r in records)
            depth = {}
            for r in records:
                ad = r["samples"][s]["AD"]
                if ad != ".":
                    ref_count, alt_count = map(int, ad.split(","))
                    depth[f"REF ({r['ref']})"] = ref_count
                    depth[r["alt"]] = alt_count
            for n, r in enumerate(ordered):
                data = r["samples"][s]
                multi = _multiallelic(data["GT"])
                pl = None if multi or data["PL"] == "." else [int(x) for x in
                                                               data["PL"].split(",")]
                gsd[(r["pos"], r["alt"], s, n == 1)] = (
                    _gt_type(data["GT"], no_cov), multi,
                    None if data["DP"] == "." else int(data["DP"]),
                    None if data["GQ"] == "." else int(data["GQ"]), pl, depth)
    return genotypes, gsd


def _valid_proband(blocks):
    """Upstream's generator only makes decomposed blocks a proband can have (1 or 2
    alleles); our generator can too, except a proband 1/1-type haploid... keep all."""
    return True


def test_d4_randomised_family_deposits(db_url, ella_config, tmp_path):
    add_test_panels(db_url)
    rng = random.Random(20240517)
    failures = []
    seen = {"second": 0, "nocov": 0, "gsd": 0}
    for run in range(25):
        names, sexes, has_parents, ped = _family(rng, rng.randint(1, 6))
        blocks = [_make_block(rng, names, 1000 + 100 * b, b) for b in range(rng.randint(1, 6))]
        columns = names[:]
        rng.shuffle(columns)
        folder = tmp_path / f"fam{run}.HBOC_v01"
        folder.mkdir()
        lines = []
        for records in blocks:
            for r in records:
                lines.append("\t".join(
                    ["1", str(r["pos"]), ".", r["ref"], r["alt"], "5000", "PASS", r["info"],
                     "GT:AD:DP:GQ:PL"] + [":".join(r["samples"][c][k] for k in
                                                   ("GT", "AD", "DP", "GQ", "PL"))
                                          for c in columns]))
        (folder / f"fam{run}.vcf").write_text(
            FORMAT_HEADER + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
            + "\t".join(columns) + "\n" + "\n".join(lines) + "\n")
        if len(names) > 1:
            (folder / f"fam{run}.ped").write_text(ped)
        deposit(db_url, ella_config, folder)
        exp_genotypes, exp_gsd = _oracle(names, blocks)
        with psycopg.connect(db_url) as conn:
            aid = conn.execute("SELECT id FROM analysis WHERE name = %s",
                               (folder.name,)).fetchone()[0]
            samples = {r[0]: r[1:] for r in conn.execute(
                "SELECT identifier, id, sex::text, proband, father_id, mother_id, sibling_id "
                "FROM sample WHERE analysis_id = %s", (aid,))}
            genotypes = conn.execute(
                "SELECT a1.vcf_alt, a2.vcf_alt, g.filter_status, g.variant_quality "
                "FROM genotype g JOIN sample s ON s.id = g.sample_id "
                "JOIN allele a1 ON a1.id = g.allele_id "
                "LEFT JOIN allele a2 ON a2.id = g.secondallele_id "
                "WHERE s.analysis_id = %s ORDER BY a1.vcf_pos", (aid,)).fetchall()
            gsd = conn.execute(
                "SELECT a.vcf_pos, a.vcf_alt, s.identifier, d.secondallele, d.type::text, "
                "d.multiallelic, d.sequencing_depth, d.genotype_quality, "
                "d.genotype_likelihood, d.allele_depth, g.secondallele_id, g.allele_id "
                "FROM genotypesampledata d JOIN genotype g ON g.id = d.genotype_id "
                "JOIN sample s ON s.id = d.sample_id JOIN sample gs ON gs.id = g.sample_id "
                "JOIN allele a ON a.id = CASE WHEN d.secondallele THEN g.secondallele_id "
                "ELSE g.allele_id END WHERE gs.analysis_id = %s", (aid,)).fetchall()
        # samples
        pid = samples["P"][0]
        assert samples["P"][2] is True
        if len(names) > 1:
            for s in names:
                sid, sex, proband, father, mother, sibling = samples[s]
                assert sex == {"1": "Male", "2": "Female"}[sexes[s]], (run, s)
                if s.startswith("S"):
                    assert sibling == pid, (run, s, has_parents)
                if has_parents and s not in ("F", "M"):
                    assert (father, mother) == (samples["F"][0], samples["M"][0]), (run, s)
        # genotypes
        got_g = [(a, b) for a, b, f, q in genotypes]
        exp_g = [(g[0], g[1]) for g in exp_genotypes]
        assert got_g == exp_g, (run, got_g, exp_g)
        assert all((f, q) == ("PASS", 5000) for _, _, f, q in genotypes)
        got = {(p, alt, s, second): (t, m, dp, gq, pl, ad)
               for p, alt, s, second, t, m, dp, gq, pl, ad, _, _ in gsd}
        assert len(got) == len(gsd)
        seen["second"] += sum(1 for g in exp_genotypes if g[1])
        seen["nocov"] += sum(1 for v in exp_gsd.values() if v[0] == "No coverage")
        seen["gsd"] += len(exp_gsd)
        if got != exp_gsd:
            diffs = {k: (got.get(k), exp_gsd.get(k)) for k in set(got) | set(exp_gsd)
                     if got.get(k) != exp_gsd.get(k)}
            failures.append((run, columns, sorted(diffs.items())[:4]))
    assert not failures, failures
    assert all(seen.values()), seen


# ------------------------------------------------------------------------------------- L3

def test_l3_deposit_genepanel_then_append_it_to_a_group(db_url, tmp_path):
    panel = ROOT / "demo" / "genepanels" / "HBOC_v01"
    if not panel.is_dir():
        import glob
        panel = Path(glob.glob(str(ROOT / "**" / "HBOC_v01"), recursive=True)[0])
    result = run_cli("ella-deposit", "genepanel", "--folder", str(panel), db_url=db_url)
    assert result.returncode == 0, result.stderr
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO usergroup (name) VALUES ('l3group')")
        conn.commit()
    result = run_cli("ella-deposit", "append_genepanel_to_usergroup", "HBOC", "v01", "l3group",
                     db_url=db_url)
    assert result.returncode == 0, result.stderr
    with psycopg.connect(db_url) as conn:
        assert conn.execute(
            "SELECT l.genepanel_name, l.genepanel_version FROM usergroupgenepanel l "
            "JOIN usergroup g ON g.id = l.usergroup_id WHERE g.name = 'l3group'"
        ).fetchall() == [("HBOC", "v01")]
