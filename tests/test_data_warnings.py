"""ella.data_warnings: what a deposit's warnings collections keep (no database needed)."""

import logging

from ella.data_warnings import UNCALLED_LOSS, collecting, data_warning

log = logging.getLogger("ella.test_data_warnings")


def test_collections_keep_the_first_texts_and_count_all_nested_and_by_kind():
    """Every analysis deposit collects its deletions without GT, and an import job all its
    warnings: a list of every text held a genome's worth of "no HGNC id" lines in memory."""
    with collecting(keep=2) as everything:
        with collecting(UNCALLED_LOSS) as losses:
            for n in range(1000):
                data_warning(log, "no HGNC id for %s", n)
            data_warning(log, "%s, line %s: a CNV deletion", "x.vcf", 7, kind=UNCALLED_LOSS)
        data_warning(log, "after the inner block")
    data_warning(log, "after both")  # collected by neither
    assert (everything.first, everything.total) == (["no HGNC id for 0", "no HGNC id for 1"],
                                                    1002)
    assert (losses.first, losses.total) == (["x.vcf, line 7: a CNV deletion"], 1)
