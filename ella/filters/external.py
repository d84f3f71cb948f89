"""`external` (filtering.md 2.6): ClinVar review stars and SCV counts, HGMD tags, read from the
current annotation's JSON (not in the shadow tables)."""

from psycopg import sql

from ella.filters import FilterError, ids_param, matched, sql_operator

NAME = "external"
KIND = "allele"

STARS = {
    "no assertion criteria provided": 0,
    "no assertion provided": 0,
    "criteria provided, conflicting interpretations": 1,
    "criteria provided, single submitter": 1,
    "criteria provided, multiple submitters, no conflicts": 2,
    "reviewed by expert panel": 3,
    "practice guideline": 4,
}
CATEGORIES = {
    "pathogenic": ["pathogenic", "likely pathogenic", "pathologic", "suspected pathogenic",
                   "likely pathogenic - adrenal bilateral pheochromocy",
                   "likely pathogenic - adrenal pheochromocytoma", "probable-pathogenic",
                   "probably pathogenic", "pathogenic variant for bardet-biedl syndrome"],
    "uncertain": ["uncertain", "variant of unknown significance", "uncertain significance"],
    "benign": ["benign", "suspected benign", "probable-non-pathogenic", "probably not pathogenic",
               "likely benign"],
}
HGMD_TAGS = ("FP", "DM", "DFP", "R", "DP", "DM?")

CLINVAR_QUERY = """
WITH cur AS (
    SELECT allele_id, annotations->'external'->'CLINVAR' AS clinvar FROM annotation
    WHERE allele_id = ANY(%(ids)s) AND date_superceeded IS NULL),
starred AS (
    SELECT c.allele_id, c.clinvar FROM cur c
    JOIN jsonb_each_text(%(stars)s::jsonb) st(status, stars)
      ON st.status = c.clinvar->>'variant_description'
    WHERE st.stars::int {star_op} %(num_stars)s),
counts AS (
    SELECT c.allele_id,
      count(*) FILTER (WHERE lower(i->>'clinical_significance_descr') = ANY(%(pathogenic)s))
        AS pathogenic,
      count(*) FILTER (WHERE lower(i->>'clinical_significance_descr') = ANY(%(uncertain)s))
        AS uncertain,
      count(*) FILTER (WHERE lower(i->>'clinical_significance_descr') = ANY(%(benign)s))
        AS benign
    FROM starred c
    CROSS JOIN jsonb_array_elements(CASE WHEN jsonb_typeof(c.clinvar->'items') = 'array'
                                         THEN c.clinvar->'items' ELSE '[]'::jsonb END) i
    WHERE lower(i->>'rcv') LIKE 'scv%%'
    GROUP BY c.allele_id)
SELECT allele_id FROM counts WHERE {combinations}
"""


def _clinvar(ctx, allele_ids, config):
    import json
    op, num = config.get("num_stars", [">=", 0])
    tests = []
    for combination in config.get("combinations", []):
        left, comparison, right = combination
        if left not in CATEGORIES:
            raise FilterError(f"external filter: unknown ClinVar category {left!r}")
        if isinstance(right, str):
            if right not in CATEGORIES:
                raise FilterError(f"external filter: unknown ClinVar category {right!r}")
            right_sql = sql.Identifier(right)
        elif isinstance(right, int) and not isinstance(right, bool):
            right_sql = sql.Literal(right)
        else:
            raise FilterError("external filter: a combination compares with a category or an "
                              "integer")
        tests.append(sql.SQL("{} {} {}").format(sql.Identifier(left),
                                                sql.SQL(sql_operator(comparison)), right_sql))
    query = sql.SQL(CLINVAR_QUERY).format(
        star_op=sql.SQL(sql_operator(op)),
        combinations=sql.SQL(" AND ").join(tests) if tests else sql.SQL("true"))
    params = {"ids": ids_param(allele_ids), "stars": json.dumps(STARS), "num_stars": int(num),
              **CATEGORIES}
    result = matched(ctx.conn.execute(query, params).fetchall(), allele_ids)
    return set(allele_ids) - result if config.get("inverse") else result


def _hgmd(ctx, allele_ids, config):
    tags = config.get("tags")
    if not tags or any(t is not None and t not in HGMD_TAGS for t in tags):
        raise FilterError("external filter: hgmd 'tags' must be a non-empty list of HGMD tags "
                          "or null")
    rows = ctx.conn.execute(
        "SELECT allele_id FROM annotation WHERE allele_id = ANY(%(ids)s) "
        "AND date_superceeded IS NULL "
        "AND (annotations->'external'->'HGMD'->>'tag' = ANY(%(tags)s) "
        "     OR (%(with_null)s AND annotations->'external'->'HGMD'->>'tag' IS NULL))",
        {"ids": ids_param(allele_ids), "tags": [t for t in tags if t is not None],
         "with_null": None in tags}).fetchall()
    result = matched(rows, allele_ids)
    return set(allele_ids) - result if config.get("inverse") else result


def run(ctx, allele_ids, config):
    parts = [(key, part) for key, part in (("clinvar", _clinvar), ("hgmd", _hgmd))
             if key in config]
    if not allele_ids or not parts:
        return set()
    result = set(allele_ids)
    for key, part in parts:
        result &= part(ctx, allele_ids, config[key])
    return result
