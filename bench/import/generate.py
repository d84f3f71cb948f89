"""Generate a realistic synthetic exome VCF for the import benchmark.

Variants fall in the exons of the Mendeliome panel's transcripts (genepanels/ella-demo), are
sorted, carry a VEP CSQ with 3-6 transcript entries (the panel transcript plus Ensembl and
other RefSeq entries) and gnomAD-style frequencies for the exome and genome data sets (the
INFO fields the default annotation config converts). 1 sample, or a trio with a .ped.
The header's INFO definitions are those of the real test VCF, so the same converters run.

    python bench/import/generate.py OUT.vcf --variants 50000 --samples 3 [--seed 1]
"""

import argparse
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PANEL = ROOT / "genepanels" / "ella-demo" / "Mendeliome_v01" / "Mendeliome_v01_genes_transcripts.tsv"
HEADER_SOURCE = ROOT / "tests" / "data" / "vcf" / "brca_sample_2.HBOC_v01.vcf"
POPULATIONS = ["AFR", "AMR", "ASJ", "EAS", "FIN", "NFE", "OTH", "SAS"]
CONSEQUENCES = ["missense_variant", "synonymous_variant", "intron_variant", "splice_region_variant",
                "frameshift_variant", "stop_gained", "5_prime_UTR_variant", "3_prime_UTR_variant"]
CHROM_ORDER = {str(i): i for i in range(1, 23)} | {"X": 23, "Y": 24, "MT": 25}


def read_exons():
    exons = []
    for line in PANEL.read_text().splitlines():
        if line.startswith("#"):
            continue
        f = line.split("\t")
        chrom, name, strand, hgnc_id, symbol = f[0], f[3], f[5], f[7], f[8]
        for start, end in zip(f[12].split(","), f[13].split(",")):
            exons.append((chrom, int(start), int(end), name, strand, hgnc_id, symbol))
    return exons


def header_lines(csq_format_holder):
    lines = []
    for line in HEADER_SOURCE.read_text().splitlines():
        if line.startswith("##fileformat") or line.startswith("##INFO") or \
                line.startswith("##FORMAT"):
            lines.append(line)
            if "ID=CSQ," in line:
                csq_format_holder.extend(line.split("Format: ")[1].rstrip('">').split("|"))
        if line.startswith("#CHROM"):
            break
    return lines


def csq_entry(fields, alt, transcript, symbol, hgnc_id, strand, consequence, cpos, feature_alt):
    values = dict.fromkeys(fields, "")
    values.update({
        "Allele": alt, "Consequence": consequence, "IMPACT": "MODERATE", "SYMBOL": symbol,
        "Feature_type": "Transcript", "Feature": transcript, "BIOTYPE": "protein_coding",
        "EXON": f"{random.randint(1, 20)}/20", "HGVSc": f"{transcript}:c.{cpos}{feature_alt}",
        "HGVSp": f"NP_{random.randint(1000, 99999)}.1:p.Arg{cpos // 3 + 1}Gly"
        if consequence == "missense_variant" else "",
        "STRAND": "1" if strand == "+" else "-1", "HGNC_ID": hgnc_id, "SYMBOL_SOURCE": "HGNC",
        "CANONICAL": "YES" if transcript.startswith("NM_") else "",
    })
    return "|".join(values[f] for f in fields)


def frequencies(rng):
    items = []
    for dataset in ("GNOMAD_EXOMES", "GNOMAD_GENOMES"):
        total_an = rng.randint(20000, 250000)
        af = rng.choice([0.0, 0.00001, 0.0004, 0.003, 0.02, 0.2])
        items.append(f"{dataset}__AN={total_an}")
        items.append(f"{dataset}__AC={int(total_an * af)}")
        items.append(f"{dataset}__AF={af:.6g}")
        items.append(f"{dataset}__Hom={int(total_an * af * af / 2)}")
        for pop in POPULATIONS:
            an = total_an // 8
            pop_af = min(1.0, af * rng.uniform(0.2, 3))
            items += [f"{dataset}__AN_{pop}={an}", f"{dataset}__AC_{pop}={int(an * pop_af)}",
                      f"{dataset}__AF_{pop}={pop_af:.6g}"]
    return items


def generate(out, n_variants, n_samples, seed):
    rng = random.Random(seed)
    random.seed(seed)
    exons = read_exons()
    csq_fields = []
    header = header_lines(csq_fields)
    # One variant per position (the exon drawn first for it): keyed by the exon too, positions
    # of overlapping transcripts came twice, one was dropped below (fewer variants than
    # asked), and which one depended on the hash seed (PYTHONHASHSEED).
    positions = {}
    while len(positions) < n_variants:
        chrom, start, end, *_ = exon = rng.choice(exons)
        positions.setdefault((chrom, rng.randint(start + 1, max(start + 1, end))), exon)
    ordered = sorted(((chrom, pos, exon) for (chrom, pos), exon in positions.items()),
                     key=lambda p: (CHROM_ORDER.get(p[0], 99), p[1]))
    samples = ["PROBAND"] + (["FATHER", "MOTHER"] if n_samples == 3 else [])
    with open(out, "w") as fh:
        fh.write("\n".join(header) + "\n")
        fh.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n")
        for chrom, pos, exon in ordered:
            _, _, _, transcript, strand, hgnc_id, symbol = exon
            ref = rng.choice("ACGT")
            kind = rng.random()
            if kind < 0.85:
                alt = rng.choice([b for b in "ACGT" if b != ref])
                change, vep_alt = f"{ref}>{alt}", alt
            elif kind < 0.93:
                alt = ref + "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 6)))
                change, vep_alt = f"_{rng.randint(1, 9)}ins{alt[1:]}", alt[1:]
            else:
                alt, ref = ref, ref + "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 6)))
                change, vep_alt = f"del{ref[1:]}", "-"
            cpos = rng.randint(1, 5000)
            entries = [(transcript, symbol, hgnc_id)]
            for i in range(rng.randint(2, 5)):
                while True:  # a transcript appears once per record, as in VEP's output
                    name = (f"ENST{rng.randint(10**10, 10**11 - 1):011d}" if i % 2 == 0
                            else f"NM_{rng.randint(100000, 999999)}.{rng.randint(1, 5)}")
                    if all(name.split(".")[0] != e[0].split(".")[0] for e in entries):
                        break
                entries.append((name, symbol, hgnc_id))
            csq = ",".join(csq_entry(csq_fields, vep_alt, t, s, h, strand, rng.choice(CONSEQUENCES),
                                     cpos, change) for t, s, h in entries)
            info = ";".join([f"CSQ={csq}"] + frequencies(rng))
            gts = [rng.choice(["0/1", "0/1", "1/1"])] + \
                [rng.choice(["0/0", "0/1"]) for _ in samples[1:]]
            sample_cols = [f"{gt}:{rng.randint(5, 120)},{rng.randint(5, 120)}:{rng.randint(20, 240)}:"
                           f"{rng.randint(20, 99)}:{rng.randint(100, 3000)},0,{rng.randint(100, 3000)}"
                           for gt in gts]
            fh.write(f"{chrom}\t{pos}\t.\t{ref}\t{alt}\t{rng.randint(50, 5000)}\tPASS\t{info}\t"
                     f"GT:AD:DP:GQ:PL\t" + "\t".join(sample_cols) + "\n")
    if n_samples == 3:
        Path(out).with_suffix(".ped").write_text(
            "FAM\tPROBAND\tFATHER\tMOTHER\t1\t2\t1\nFAM\tFATHER\t0\t0\t1\t1\t0\n"
            "FAM\tMOTHER\t0\t0\t2\t1\t0\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--variants", type=int, default=50000)
    parser.add_argument("--samples", type=int, choices=(1, 3), default=1)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    generate(args.out, args.variants, args.samples, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
