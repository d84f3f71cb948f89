"""`external` (filtering.md 2.6): ClinVar review stars and SCV counts, HGMD tags, read from the
current annotation's JSON (not in the shadow tables)."""

from psycopg import sql

from ella.filters import SQL_OPERATORS, ids_param, is_int, is_one_of, matched, optional_bool, \
    require, sql_operator

NAME = "external"
KIND = "allele"

# ELLA 1.17's review statuses (filtering.md 2.6), and those it lacks with ClinVar's own star
# counts: the names ClinVar uses since 2024 ("interpretation" became "classification"), so
# that a variant annotated from a current release meets `num_stars` conditions at all, and
# the older "no assertion for the individual variant".
STARS = {
    "no assertion criteria provided": 0,
    "no assertion provided": 0,
    "no classification provided": 0,
    "no assertion for the individual variant": 0,
    "no classification for the individual variant": 0,
    "no classifications from unflagged records": 0,
    "criteria provided, conflicting interpretations": 1,
    "criteria provided, conflicting classifications": 1,
    "criteria provided, single submitter": 1,
    "criteria provided, multiple submitters, no conflicts": 2,
    "reviewed by expert panel": 3,
    "practice guideline": 4,
}
CATEGORIES = {
    "pathogenic": ["pathogenic", "likely pathogenic", "pathologic", "suspected pathogenic",
                   "likely pathogenic - adrenal bilateral pheochromocy",
                   "likely pathogenic - adrenal pheochromocytoma", "probable-pathogenic",
                   "probably pathogenic", "pathogenic variant for bardet-biedl syndrome",
                   # ClinVar's low-penetrance classifications (2024)
                   "pathogenic, low penetrance", "likely pathogenic, low penetrance"],
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


def _check_clinvar(config):
    require(isinstance(config, dict), "external filter: 'clinvar' must be an object")
    num_stars = config.get("num_stars", [">=", 0])
    require(isinstance(num_stars, list) and len(num_stars) == 2
            and is_one_of(num_stars[0], SQL_OPERATORS) and is_int(num_stars[1], 0, 4),
            "external filter: clinvar.num_stars must be [operator, stars 0-4], e.g. "
            '[">=", 2]')
    combinations = config.get("combinations", [])
    require(isinstance(combinations, list), "external filter: clinvar.combinations must be "
                                            "a list")
    for index, combination in enumerate(combinations):
        require(isinstance(combination, list) and len(combination) == 3
                and is_one_of(combination[0], CATEGORIES)
                and is_one_of(combination[1], SQL_OPERATORS)
                and (is_one_of(combination[2], CATEGORIES) or is_int(combination[2], 0)),
                f"external filter: clinvar.combinations[{index}] must be [category, operator, "
                f"category or integer >= 0] with categories {', '.join(CATEGORIES)} and "
                f"operators {', '.join(SQL_OPERATORS)}")
    optional_bool(config, "inverse", NAME)


def _check_hgmd(config):
    require(isinstance(config, dict), "external filter: 'hgmd' must be an object")
    tags = config.get("tags")
    require(isinstance(tags, list) and tags and all(t is None or t in HGMD_TAGS for t in tags),
            "external filter: hgmd 'tags' must be a non-empty list of HGMD tags "
            f"({', '.join(HGMD_TAGS)}) or null")
    optional_bool(config, "inverse", NAME)


def check_config(config):
    if "clinvar" in config:
        _check_clinvar(config["clinvar"])
    if "hgmd" in config:
        _check_hgmd(config["hgmd"])


def _clinvar(ctx, allele_ids, config):
    import json
    op, num = config.get("num_stars", [">=", 0])
    tests = []
    for left, comparison, right in config.get("combinations", []):
        right_sql = sql.Identifier(right) if isinstance(right, str) else sql.Literal(right)
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
    tags = config["tags"]
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
    check_config(config)
    parts = [(key, part) for key, part in (("clinvar", _clinvar), ("hgmd", _hgmd))
             if key in config]
    if not allele_ids or not parts:
        return set()
    result = set(allele_ids)
    for key, part in parts:
        result &= part(ctx, allele_ids, config[key])
    return result
