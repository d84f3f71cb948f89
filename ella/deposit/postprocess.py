"""Deposit post-processors (import.md 1.9, workflow.md 15).

They run right after a new analysis' variants are stored, on the caller's connection and in
its transaction, against the analysis' first round. "Non-filtered" variants are those the
matching user group's first valid filter config (filtering.md 1.5) does not exclude.
"""


from psycopg.types.json import Jsonb

from ella.allele_views import analysis_samples
from ella.db import clock_now
from ella.deposit.variants import DepositError
from ella.filters import FilterError
from ella.filters.chain import analysis_filterconfigs, filter_analysis
from ella.web.errors import BadRequest
from ella.workflow.collisions import valid_assessment_condition
from ella.workflow.rounds import ANALYSIS, _write_snapshots

SYSTEM_USER_ID = 1
FINALIZE_MESSAGE = ("Analysis had no findings at time of import. Automatically finalized by "
                    "system.")


def check_postprocessors(names, where, stored=False):
    """Every name must be a known post-processor (import.md 1.9), and, in a config being
    stored, named once: run twice, the finalize wrote its snapshot again (the deposit failed
    on the unique key: the group's analyses without findings could not be imported) and the
    tag its comment twice. A `stored` config (an adopted database's) runs each name once."""
    if not isinstance(names, list):
        raise DepositError(f"{where}: 'postprocess' must be a list of names")
    for index, name in enumerate(names):
        if not isinstance(name, str) or name not in POSTPROCESSORS:  # ([name]: unhashable)
            raise DepositError(f"{where}: Invalid postprocess method {name!r} (known: "
                               f"{', '.join(POSTPROCESSORS)})")
        if not stored and name in names[:index]:
            raise DepositError(f"{where}: postprocess method {name!r} is listed twice")


class _Context:
    """What the post-processors share: the round, the filter result, lazily loaded facts."""

    def __init__(self, conn, app_config, analysis_id, usergroup_id, group):
        self.conn = conn
        self.app_config = app_config
        self.analysis_id = analysis_id
        configs = analysis_filterconfigs(conn, usergroup_id, analysis_id)
        if not configs:
            raise DepositError(f"user group {group!r}: deposit post-processing needs a filter "
                               "config, but the group has no active filter config whose "
                               "requirements hold for this analysis (Unable to find any valid "
                               "filter configs)")
        self.filterconfig_id = configs[0]["id"]
        try:
            self.result = filter_analysis(conn, app_config, analysis_id, self.filterconfig_id)
        except FilterError as exc:
            raise DepositError(f"user group {group!r}: filter config {configs[0]['name']!r} "
                               f"(id {self.filterconfig_id}) failed: {exc}") from None
        self.allele_ids = self.result["allele_ids"]
        self.round_id = conn.execute(
            "SELECT id FROM analysisinterpretation WHERE analysis_id = %s "
            "ORDER BY date_created, id LIMIT 1", (analysis_id,)).fetchone()[0]
        self.warnings = conn.execute("SELECT warnings FROM analysis WHERE id = %s",
                                     (analysis_id,)).fetchone()[0]
        self._classes = None

    def valid_classes(self):
        """{allele_id: class} of the non-filtered alleles with a valid (current, not outdated)
        assessment."""
        if self._classes is None:
            condition, params = valid_assessment_condition(self.app_config)
            # Locked until the deposit commits: a finalize-allele elsewhere superseding one
            # of them between this decision ("no findings") and the snapshot the round is
            # finalized with would have the snapshot name an assessment the decision never
            # saw (a class 5 in an analysis closed as without findings). It waits, or this
            # waits for it and sees its outcome.
            self._classes = dict(self.conn.execute(
                "SELECT aa.allele_id, aa.classification::text FROM alleleassessment aa "
                f"WHERE aa.allele_id = ANY(%s) AND {condition} ORDER BY aa.id FOR SHARE",
                [self.allele_ids] + params).fetchall()) if self.allele_ids else {}
        return self._classes

    def all_classified(self):
        return all(a in self.valid_classes() for a in self.allele_ids)

    def log(self, **values):
        columns = ", ".join(values)
        self.conn.execute(
            f"INSERT INTO interpretationlog (analysisinterpretation_id, date_created, {columns}) "
            f"VALUES (%s, %s{', %s' * len(values)})",
            [self.round_id, clock_now(self.conn)] + list(values.values()))


def _needs_verification(ctx):
    if not ctx.allele_ids:
        return False
    cur = ctx.conn.execute("SELECT * FROM allele WHERE id = ANY(%s)", (ctx.allele_ids,))
    names = [d.name for d in cur.description]
    alleles = [dict(zip(names, row)) for row in cur.fetchall()]
    samples = analysis_samples(ctx.conn, ctx.analysis_id, alleles)
    return any(sample["genotype"]["needs_verification"]
               for per_allele in samples.values() for sample in per_allele)


def analysis_not_ready_warnings(ctx):
    if ctx.warnings or _needs_verification(ctx):
        ctx.conn.execute("UPDATE analysisinterpretation SET workflow_status = 'Not ready' "
                         "WHERE id = %s", (ctx.round_id,))


def analysis_tag_all_classified(ctx):
    if not ctx.allele_ids:
        ctx.log(review_comment="NO VARIANTS")
    elif ctx.all_classified():
        ctx.log(review_comment="ALL CLASSIFIED")


def _current_ids(conn, table, allele_ids):
    return [r[0] for r in conn.execute(
        f"SELECT id FROM {table} WHERE allele_id = ANY(%s) AND date_superceeded IS NULL "
        "ORDER BY id", (allele_ids,))]


def analysis_finalize_without_findings(ctx):
    if ctx.warnings or not ctx.all_classified():
        return
    options = (ctx.app_config.get("classification") or {}).get("options") or []
    findings = {str(o["value"]) for o in options if o.get("include_analysis_with_findings")}
    if any(ctx.valid_classes()[a] in findings for a in ctx.allele_ids):
        return
    conn = ctx.conn
    if not conn.execute('SELECT 1 FROM "user" WHERE id = %s', (SYSTEM_USER_ID,)).fetchone():
        raise DepositError(f"analysis_finalize_without_findings finalizes as user id "
                           f"{SYSTEM_USER_ID}, as ELLA does, but no such user exists (a new "
                           "database's first user gets that id: add users with ella-users "
                           "add_many first)")
    # The current ids of the variants the filters kept only, as ELLA: a removed variant's
    # snapshot row records its category and nothing shown (datamodel.md 3.6).
    shown = ctx.allele_ids
    payload = {"allele_ids": shown, "excluded_allele_ids": ctx.result["excluded_allele_ids"],
               "annotation_ids": _current_ids(conn, "annotation", shown),
               "custom_annotation_ids": _current_ids(conn, "customannotation", shown),
               "alleleassessment_ids": _current_ids(conn, "alleleassessment", shown),
               "allelereport_ids": _current_ids(conn, "allelereport", shown)}
    ctx.log(message=FINALIZE_MESSAGE)
    try:
        _write_snapshots(conn, ANALYSIS, ctx.analysis_id, ctx.round_id, payload)
    except BadRequest as exc:
        # QUIRK kept (workflow.md 9): a filter without a snapshot category cannot be recorded.
        raise DepositError(f"analysis_finalize_without_findings: cannot write the "
                           f"interpretation snapshot: {exc}") from None
    conn.execute(
        "UPDATE analysisinterpretation SET state = %s, status = 'Done', finalized = true, "
        "user_id = %s, date_last_update = clock_timestamp() WHERE id = %s",
        (Jsonb({"filterconfigId": ctx.filterconfig_id}), SYSTEM_USER_ID, ctx.round_id))


POSTPROCESSORS = {
    "analysis_not_ready_warnings": analysis_not_ready_warnings,
    "analysis_finalize_without_findings": analysis_finalize_without_findings,
    "analysis_tag_all_classified": analysis_tag_all_classified,
}


def run_postprocessors(conn, app_config, analysis_id, usergroup_id, group, names):
    """Run `names` in the listed order on the analysis' first round. Does not commit."""
    if not names:
        return []
    check_postprocessors(names, f"user group {group!r}", stored=True)
    names = list(dict.fromkeys(names))  # each once, in the listed order
    ctx = _Context(conn, app_config, analysis_id, usergroup_id, group)
    for name in names:
        POSTPROCESSORS[name](ctx)
    return names
