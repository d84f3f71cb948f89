"""import.md 8 D2: padding by common prefix/suffix bases gives the same allele (beyond the one
insertion tests/test_vcf.py pads)."""
import pytest

from ella.alleles import build_allele

KEYS = ["start_position", "open_end_position", "change_type", "change_from", "change_to",
        "length"]


@pytest.mark.parametrize("base, padded", [
    (("1", 1000, "C", "G"), [(999, "AC", "AG"), (1000, "CT", "GT"), (998, "TAC", "TAG"),
                              (999, "ACT", "AGT")]),
    (("1", 1000, "CAG", "C"), [(999, "ACAG", "AC"), (1000, "CAGT", "CT"),
                               (999, "ACAGTT", "ACTT")]),
    (("1", 1000, "CA", "GT"), [(999, "ACA", "AGT"), (1000, "CAT", "GTT"),
                               (999, "ACAT", "AGTT")]),
    (("1", 1000, "C", "AGCT"), [(999, "TC", "TAGCT"), (1000, "CG", "AGCTG")]),
])
def test_d2_padding(base, padded):
    ref = build_allele(*base)
    for pos, r, a in padded:
        other = build_allele(base[0], pos, r, a)
        assert [other[k] for k in KEYS] == [ref[k] for k in KEYS], (pos, r, a)
