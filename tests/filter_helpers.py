"""Building filter test data with plain SQL inserts (the annotation trigger fills the shadow
tables), and running one filter or a chain through the real SQL."""

import itertools

from psycopg.types.json import Jsonb

from ella.filters import FilterContext
from ella.filters.chain import FILTERS, run_filters

PANEL = ("FilterPanel", "v1")
_counter = itertools.count(1)


class World:
    def __init__(self, conn, config):
        self.conn = conn
        self.config = config
        self.analysis_id = None
        conn.execute("INSERT INTO genepanel (name, version, genome_reference, official, "
                     "date_created) VALUES (%s, %s, 'GRCh37', true, now())", PANEL)

    def gene(self, hgnc_id, symbol=None):
        self.conn.execute("INSERT INTO gene (hgnc_id, hgnc_symbol) VALUES (%s, %s) "
                          "ON CONFLICT DO NOTHING", (hgnc_id, symbol or f"GENE{hgnc_id}"))

    def transcript(self, name, gene_id, chromosome="1", strand="+", tx=(1000, 1500),
                   cds=(1230, 1430), exons=(), inheritance="AD", symbol=None):
        self.gene(gene_id, symbol)
        starts = [e[0] for e in exons] or [tx[0]]
        ends = [e[1] for e in exons] or [tx[1]]
        tid = self.conn.execute(
            "INSERT INTO transcript (gene_id, transcript_name, type, genome_reference, "
            "chromosome, tx_start, tx_end, strand, cds_start, cds_end, exon_starts, exon_ends) "
            "VALUES (%s, %s, 'RefSeq', 'GRCh37', %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (gene_id, name, chromosome, tx[0], tx[1], strand, cds[0] if cds else None,
             cds[1] if cds else None, starts, ends)).fetchone()[0]
        self.conn.execute("INSERT INTO genepanel_transcript VALUES (%s, %s, %s, %s)",
                          PANEL + (tid, inheritance))
        return tid

    def allele(self, chromosome="1", start=None, end=None, change_type="SNP", change_from="A",
               change_to="G", vcf_alt=None, length=None, caller_type="snv",
               genome_reference="GRCh37", vcf_pos=None):
        if start is None:
            start = 100000 + next(_counter) * 10
        end = start + 1 if end is None else end
        if length is None:
            length = max(end - start, 1)
        n = next(_counter)
        return self.conn.execute(
            "INSERT INTO allele (genome_reference, chromosome, start_position, "
            "open_end_position, change_from, change_to, change_type, vcf_pos, vcf_ref, vcf_alt, "
            "length, caller_type) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "RETURNING id",
            (genome_reference, chromosome, start, end, change_from, change_to, change_type,
             vcf_pos or start + 1, f"R{n}", vcf_alt if vcf_alt is not None else change_to or "N",
             length, caller_type)).fetchone()[0]

    def vcf_allele(self, chromosome, pos, ref, alt):
        """An allele from a VCF record, trimmed as filtering.md 0.1 says (SNP and deletion)."""
        if len(ref) == 1 and len(alt) == 1:
            return self.allele(chromosome, pos - 1, pos, "SNP", ref, alt, vcf_alt=alt,
                               vcf_pos=pos)
        assert alt == ref[0] and len(ref) > 1
        deleted = ref[1:]
        return self.allele(chromosome, pos, pos + len(deleted), "del", deleted, "", vcf_alt=alt,
                           length=len(deleted), vcf_pos=pos)

    def annotate(self, allele_id, transcripts=(), frequencies=None, external=None):
        doc = {"transcripts": [
            {"transcript": t.get("transcript", "NM_1.1"), "strand": 1, "is_canonical": True,
             "in_last_exon": "no", "consequences": t.get("consequences", ["missense_variant"]),
             **{k: v for k, v in t.items() if k not in ("transcript", "consequences")}}
            for t in transcripts]}
        if frequencies is not None:
            doc["frequencies"] = frequencies
        if external is not None:
            doc["external"] = external
        self.conn.execute(
            "INSERT INTO annotation (allele_id, annotations, date_created, annotation_config_id) "
            "VALUES (%s, %s, now(), 1)", (allele_id, Jsonb(doc)))

    def assess(self, allele_id, classification, days_ago=0, superseded=False):
        user = self._user()
        self.conn.execute(
            "INSERT INTO alleleassessment (classification, user_id, date_created, "
            "date_superceeded, allele_id, genepanel_name, genepanel_version) VALUES "
            "(%s, %s, now() - make_interval(days => %s), "
            "CASE WHEN %s THEN now() ELSE NULL END, %s, %s, %s)",
            (classification, user, days_ago, superseded, allele_id) + PANEL)

    def _user(self):
        row = self.conn.execute("SELECT id FROM \"user\" WHERE username = 'filtertester'"
                                ).fetchone()
        if row:
            return row[0]
        group = self.conn.execute("INSERT INTO usergroup (name) VALUES ('filtergroup') "
                                  "RETURNING id").fetchone()[0]
        return self.conn.execute(
            'INSERT INTO "user" (username, first_name, last_name, group_id, password, '
            "password_expiry, active, incorrect_logins) VALUES ('filtertester', 'F', 'T', %s, "
            "'x', now(), true, 0) RETURNING id", (group,)).fetchone()[0]

    # --- analyses, samples, genotypes ---
    def analysis(self, name="FilterAnalysis"):
        self.analysis_id = self.conn.execute(
            "INSERT INTO analysis (name, genepanel_name, genepanel_version, date_deposited) "
            "VALUES (%s, %s, %s, now()) RETURNING id", (name,) + PANEL).fetchone()[0]
        return self.analysis_id

    def sample(self, name, proband=True, affected=True, sex=None, family_id=None):
        if self.analysis_id is None:
            self.analysis()
        return self.conn.execute(
            "INSERT INTO sample (identifier, analysis_id, sample_type, date_deposited, affected, "
            "proband, sex, family_id) VALUES (%s, %s, 'HTS', now(), %s, %s, %s, %s) RETURNING id",
            (name, self.analysis_id, affected, proband, sex, family_id)).fetchone()[0]

    def family(self, sex="Male", father=True, mother=True, siblings=()):
        """Proband (+ parents, + siblings as [(affected)]); returns dict of sample ids."""
        proband = self.sample("P", sex=sex, family_id="fam")
        ids = {"P": proband}
        if father:
            ids["F"] = self.sample("F", proband=False, affected=False, sex="Male",
                                   family_id="fam")
        if mother:
            ids["M"] = self.sample("M", proband=False, affected=False, sex="Female",
                                   family_id="fam")
        self.conn.execute("UPDATE sample SET father_id = %s, mother_id = %s WHERE id = %s",
                          (ids.get("F"), ids.get("M"), proband))
        for index, affected in enumerate(siblings):
            sid = self.sample(f"S{index}", proband=False, affected=affected, family_id="fam")
            self.conn.execute("UPDATE sample SET sibling_id = %s WHERE id = %s", (proband, sid))
            ids[f"S{index}"] = sid
        return ids

    def genotype(self, allele_id, sample_id, qual=None, filter_status=None, data=None):
        """data: {sample_id: (type, allele_ratio, gq)}; default: the sample itself Het."""
        gid = self.conn.execute(
            "INSERT INTO genotype (allele_id, sample_id, variant_quality, filter_status) VALUES "
            "(%s, %s, %s, %s) RETURNING id", (allele_id, sample_id, qual, filter_status)
        ).fetchone()[0]
        for sid, values in (data or {sample_id: ("Heterozygous", None, None)}).items():
            if isinstance(values, str):
                values = (values, None, None)
            typ, ar, gq = (tuple(values) + (None, None))[:3]
            self.conn.execute(
                "INSERT INTO genotypesampledata (genotype_id, secondallele, multiallelic, type, "
                "sample_id, allele_ratio, genotype_quality) VALUES (%s, false, false, %s, %s, "
                "%s, %s)", (gid, typ, sid, ar, gq))
        return gid

    # --- running ---
    def ctx(self):
        return FilterContext(self.conn, self.config, PANEL, self.analysis_id)

    def run(self, name, allele_ids, config):
        return FILTERS[name].run(self.ctx(), set(allele_ids), config)

    def chain(self, allele_ids, filterconfig):
        return run_filters(self.ctx(), allele_ids, filterconfig)
