"""The region and ppy filters' overlap joins (bins, see ella/filters/__init__.py) against a
direct Python reading of filtering.md 2.2 and 2.12, on random transcripts and alleles placed
around bin boundaries: long and short exons, both strands, transcripts without CDS, long
deletions and CNV-sized alleles, and single bases at every edge."""

import random

import pytest

from ella.filters import BIN_BITS
from filter_helpers import World


@pytest.fixture
def world(db_conn, ella_config):
    return World(db_conn, ella_config)

BIN = 1 << BIN_BITS


def _transcript(rng, base):
    """(tx, cds or None, exons, strand) starting near `base`, with 2-6 exons, one of them
    sometimes longer than half a bin."""
    position = base + rng.randint(-40, 40)
    exons = []
    for index in range(rng.randint(2, 6)):
        length = rng.choice([1, 2, 30, 150, BIN // 2 + rng.randint(0, 3000)]
                            if index == 1 else [1, 5, 60, 200, 900])
        exons.append((position, position + length))
        position += length + rng.choice([1, 3, 25, 400, BIN])
    tx = (exons[0][0], exons[-1][1])
    cds = None
    if rng.random() < 0.8:
        coding = sorted(rng.sample(range(tx[0], tx[1]), 2))
        cds = (coding[0], coding[1] + 1)
    return tx, cds, exons, rng.choice("+-")


def _region_intervals(tx, cds, exons, strand, config):
    """filtering.md 2.2 step 1, closed intervals."""
    s0, s1 = config["splice_region"]
    u0, u1 = config["utr_region"]
    out = []
    for start, end in exons:
        es, ee = start, end - 1
        if cds:
            cs, ce = cds[0], cds[1] - 1
            if es <= ce and ee >= cs:
                out.append((max(es, cs), min(ee, ce)))
        if strand == "+":
            out += [(es + s0, es - 1), (ee + 1, ee + s1)]
        else:
            out += [(ee + 1, ee - s0), (es - s1, es - 1)]
    if cds:
        cs, ce = cds[0], cds[1] - 1
        if strand == "+":
            out += [(cs + u0, cs - 1), (ce + 1, ce + u1)]
        else:
            out += [(ce + 1, ce - u0), (cs - u1, cs - 1)]
    return [(rs, re) for rs, re in out if re >= rs]


def _region_kept(allele, transcripts, config):
    s, e = allele
    pad = max(abs(v) for v in config["splice_region"] + config["utr_region"])
    for tx, cds, exons, strand in transcripts:
        near = (tx[0] - pad <= s <= tx[1] - 1 + pad) or (tx[0] - pad < e < tx[1] + pad)
        # Our one deviation from filtering.md 2.2 (README): an allele spanning the
        # transcript counts as near it, so a whole-gene deletion is kept.
        spans = s < tx[0] - pad and e >= tx[1] + pad
        if (near or spans) and any((rs <= s <= re) or (rs < e < re) or (s <= rs and e >= re)
                        for rs, re in _region_intervals(tx, cds, exons, strand, config)):
            return True
    return False


def _alleles(rng, transcripts):
    """[(start, open_end)]: single bases at and around every exon edge and bin edge near the
    transcripts, plus random short, long and CNV-sized alleles."""
    points = set()
    for tx, cds, exons, _ in transcripts:
        for start, end in exons:
            for edge in (start, end):
                points.update(edge + d for d in (-22, -21, -20, -7, -6, -5, -4, -3, -2, -1, 0, 1))
        for edge in (tx[0], tx[1]) + (cds or ()):
            points.update(edge + d for d in (-21, -1, 0, 1, 20))
        for k in range(tx[0] // BIN, tx[1] // BIN + 2):
            points.update(k * BIN + d for d in (-1, 0))
    alleles = {(p, p + 1) for p in points if p >= 0}
    low = min(t[0][0] for t in transcripts) - 3 * BIN
    high = max(t[0][1] for t in transcripts) + 3 * BIN
    for _ in range(150):
        start = rng.randint(max(low, 0), high)
        length = rng.choice([1, 2, 7, 40, BIN // 2 - 1, BIN // 2, BIN + 3, 5 * BIN, 40 * BIN])
        alleles.add((start, start + length))
    return sorted(alleles)


@pytest.mark.parametrize("seed", range(4))
def test_region_matches_the_spec(world, seed):
    rng = random.Random(seed)
    transcripts = [_transcript(rng, base) for base in
                   (3 * BIN - 100, 3 * BIN + 2000, 9 * BIN + 7, 20 * BIN - 3000)]
    for index, (tx, cds, exons, strand) in enumerate(transcripts):
        world.transcript(f"NM_{seed}{index}.1", 100 + index, "3", strand, tx, cds, exons)
    positions = _alleles(rng, transcripts)
    ids = {world.allele("3", s, e, length=e - s): (s, e) for s, e in positions}
    world.allele("4", 3 * BIN, 3 * BIN + 1)   # another chromosome: never in the result
    for config in ({"splice_region": [-20, 6], "utr_region": [0, 0]},
                   {"splice_region": [-3, 0], "utr_region": [-12, 20]},
                   {"splice_region": [0, 0], "utr_region": [0, 0]}):
        removed = world.run("region", list(ids), config)
        expected = {i for i, allele in ids.items() if not _region_kept(allele, transcripts, config)}
        assert removed == expected, config


PLUS = [("C", "T"), ("T", "C")]
MINUS = [("A", "G"), ("G", "A")]


def _ppy_expected(allele, kind, transcripts, region):
    s, e = allele
    r0, r1 = region
    for tx, _, exons, strand in transcripts:
        if kind != strand:
            continue
        for start, end in exons:
            rs, re = (start + r0, start + r1) if strand == "+" else (end - r1, end - r0)
            if (rs <= s <= re) or (rs < e < re) or (s <= rs and e > re):
                return True
    return False


@pytest.mark.parametrize("seed", range(3))
def test_ppy_matches_the_spec(world, seed):
    rng = random.Random(100 + seed)
    transcripts = [_transcript(rng, base) for base in (5 * BIN - 30, 7 * BIN + 100, 12 * BIN)]
    for index, (tx, cds, exons, strand) in enumerate(transcripts):
        world.transcript(f"NM_P{seed}{index}.1", 200 + index, "6", strand, tx, cds, exons)
    ids = {}
    for s, e in _alleles(rng, transcripts):
        if e - s == 1:
            kind = rng.choice("+-")
            change_from, change_to = rng.choice(PLUS if kind == "+" else MINUS)
            allele = world.allele("6", s, e, "SNP", change_from, change_to, vcf_alt=change_to)
        else:
            # Deletions qualify only up to two bases; longer ones are kept as never-matching
            # controls of the long-allele path.
            kind = rng.choice("+-") if e - s <= 2 else None
            deleted = {"+": "CT", "-": "GA", None: "N" * min(e - s, 50)}[kind][:e - s]
            allele = world.allele("6", s, e, "del", deleted, "", vcf_alt="G" if kind == "+"
                                  else "T", length=e - s)
        ids[allele] = ((s, e), kind)
    for region in ([-20, -3], [-5, -1], [-3, -20]):
        matched = world.run("ppy", list(ids), {"ppy_tract_region": region})
        expected = {i for i, (allele, kind) in ids.items()
                    if kind and _ppy_expected(allele, kind, transcripts, region)}
        assert matched == expected, region
        assert expected, "the random layout should produce some matches"
