"""Gene panels: the group's panels, one panel's content, similar panels, creating a custom
panel (api.md 2.5, 3.6, 4.12, 4.21).

Deliberate difference from ELLA: `GET genepanels/<name>/<version>/` is answered only for the
caller's group's panels (403 otherwise); ELLA shows any panel to any logged-in user.
"""

from datetime import datetime, timezone

from ella.deposit.analysis_config import has_control_character
from ella.deposit.genepanel import PANEL_NAMES_LOCK, panel_name_problem, versions_in_other_form
from ella.text import same_text_other_form
from ella.web.access import require_genepanel
from ella.web.errors import BadRequest, Conflict, Forbidden, NotFound
from ella.web.http import Response
from ella.web.listing import page_args, page_headers, q_to_sql
from ella.web.router import router
from ella.web.validation import check_value

API = "/api/v1"

GENEPANEL_Q_COLUMNS = {
    "name": ("gp.name", "text"),
    "version": ("gp.version", "text"),
    "official": ("gp.official", "boolean"),
    "genome_reference": ("gp.genome_reference", "text"),
    "user_id": ("gp.user_id", "integer"),
    "date_created": ("gp.date_created", "timestamptz"),
}
STATS_LIMIT = 5
# Name and version are the panel's key (and in every link to it); ELLA's longest are ~20.


@router.route("GET", f"{API}/genepanels/", access="genepanel",
              summary="Official gene panels of the caller's group, by name and version (q)")
def list_genepanels(ctx):
    condition, params = q_to_sql(ctx.request.json_arg("q"), GENEPANEL_Q_COLUMNS)
    page, per_page = page_args(ctx.request)  # headers only: ELLA does not slice this list
    rows = ctx.conn.execute(
        # EXISTS, not a join: the link table has no unique key (an adopted database may hold
        # a link twice), and ELLA lists a panel once.
        "SELECT gp.name, gp.version, gp.official FROM genepanel gp "
        "WHERE EXISTS (SELECT 1 FROM usergroupgenepanel ugp WHERE ugp.usergroup_id = %s "
        "AND ugp.genepanel_name = gp.name AND ugp.genepanel_version = gp.version) "
        f"AND gp.official AND ({condition}) "
        "ORDER BY gp.name, gp.version", [ctx.user["group_id"]] + params).fetchall()
    panels = [{"name": n, "version": v, "official": o} for n, v, o in rows]
    return Response.json(panels, headers=page_headers(page, per_page, len(panels)))


def genepanel_single(conn, name, version):
    """ELLA's GenepanelSingle: the panel's genes (by symbol) with transcripts (by name),
    phenotypes (by inheritance, plain string order) and the gene's panel inheritance."""
    genes = {}

    def gene(hgnc_id, symbol):
        return genes.setdefault(hgnc_id, {"hgnc_id": hgnc_id, "hgnc_symbol": symbol,
                                          "transcripts": [], "phenotypes": [],
                                          "inheritance": None})

    for hgnc_id, symbol, tid, tname, tags, inheritance in conn.execute(
            "SELECT g.hgnc_id, g.hgnc_symbol, t.id, t.transcript_name, t.tags, gt.inheritance "
            "FROM genepanel_transcript gt JOIN transcript t ON t.id = gt.transcript_id "
            "JOIN gene g ON g.hgnc_id = t.gene_id "
            "WHERE gt.genepanel_name = %s AND gt.genepanel_version = %s",
            (name, version)):
        entry = gene(hgnc_id, symbol)
        entry["transcripts"].append({"id": tid, "transcript_name": tname, "tags": tags,
                                     "_inheritance": inheritance})
    for hgnc_id, symbol, pid, inheritance, description in conn.execute(
            "SELECT g.hgnc_id, g.hgnc_symbol, p.id, p.inheritance, p.description "
            "FROM genepanel_phenotype gp JOIN phenotype p ON p.id = gp.phenotype_id "
            "JOIN gene g ON g.hgnc_id = p.gene_id "
            "WHERE gp.genepanel_name = %s AND gp.genepanel_version = %s", (name, version)):
        gene(hgnc_id, symbol)["phenotypes"].append(
            {"id": pid, "inheritance": inheritance, "description": description})
    for entry in genes.values():
        entry["transcripts"].sort(key=lambda t: (t["transcript_name"], t["id"]))
        entry["phenotypes"].sort(key=lambda p: (p["inheritance"], p["id"]))
        if entry["transcripts"]:
            # One value per gene; transcripts rarely disagree, the first by name wins.
            entry["inheritance"] = entry["transcripts"][0]["_inheritance"]
        for transcript in entry["transcripts"]:
            del transcript["_inheritance"]
    return {"name": name, "version": version,
            "genes": sorted(genes.values(), key=lambda g: (g["hgnc_symbol"], g["hgnc_id"]))}


@router.route("GET", f"{API}/genepanels/<name>/<version>/", access="genepanel",
              summary="A gene panel's genes with transcripts, phenotypes and inheritance")
def get_genepanel(ctx, name, version):
    require_genepanel(ctx.conn, ctx.user, name, version)
    return genepanel_single(ctx.conn, name, version)


def _panel_genes(conn, panels):
    """{(name, version): {hgnc_id}} of the panels' transcripts' genes."""
    genes = {panel: set() for panel in panels}
    if not panels:
        return genes
    for pname, pversion, gene_id in conn.execute(
            "SELECT DISTINCT gt.genepanel_name, gt.genepanel_version, t.gene_id "
            "FROM genepanel_transcript gt JOIN transcript t ON t.id = gt.transcript_id "
            "WHERE (gt.genepanel_name, gt.genepanel_version) IN "
            "(SELECT * FROM unnest(%s::text[], %s::text[]))",
            ([p[0] for p in panels], [p[1] for p in panels])):
        genes[(pname, pversion)].add(gene_id)
    return genes


@router.route("GET", f"{API}/genepanels/<name>/<version>/stats/", access="genepanel",
              summary="Up to 5 official panels of the caller's group most similar to a panel")
def genepanel_stats(ctx, name, version):
    require_genepanel(ctx.conn, ctx.user, name, version)
    # The latest version (by creation date) of every official panel of the group.
    candidates = [tuple(r) for r in ctx.conn.execute(
        "SELECT DISTINCT ON (gp.name) gp.name, gp.version FROM genepanel gp "
        "JOIN usergroupgenepanel ugp ON ugp.genepanel_name = gp.name "
        "AND ugp.genepanel_version = gp.version "
        "WHERE ugp.usergroup_id = %s AND gp.official "
        "ORDER BY gp.name, gp.date_created DESC, gp.version DESC", (ctx.user["group_id"],))]
    candidates = [c for c in candidates if c != (name, version)]
    genes = _panel_genes(ctx.conn, candidates + [(name, version)])
    mine = genes[(name, version)]
    overlap = []
    for other in candidates:
        theirs = genes[other]
        shared = len(mine & theirs)
        if not shared:
            continue
        addition, missing = len(theirs - mine), len(mine - theirs)
        score = 2 * shared / len(mine) + len(mine) / (missing + addition + 1)
        overlap.append((-score, other, {"name": other[0], "version": other[1],
                                        "addition_cnt": addition, "overlap_cnt": shared,
                                        "missing_cnt": missing}))
    overlap.sort(key=lambda item: item[:2])
    return {"overlap": [item[2] for item in overlap[:STATS_LIMIT]]}


def _required(body, field, message=None):
    value = body.get(field)
    if value is None or value == "" or value == [] or value == {}:
        raise BadRequest(message or f"Missing or empty required field {field} in provided data.")
    return value


def _id_list(items, where):
    """Ids of a list of `{"id": int, ...}` objects (other keys, as the UI copies them, are
    ignored)."""
    items = check_value(items if items is not None else [], list, where)
    ids = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or "id" not in item:
            raise BadRequest(f"{where}[{index}] must be an object with an id")
        ids.append(check_value(item["id"], int, f"{where}[{index}].id"))
    return ids


def _refuse_new_name(label, value):
    """As `ella-deposit genepanel` refuses a new name or version (BadRequest)."""
    problem = panel_name_problem(label, value)
    if problem:
        raise BadRequest(problem[0].upper() + problem[1:])
    if has_control_character(value):
        raise BadRequest(f"The genepanel {label} {value!r} has a control or invisible "
                         "character")


def _parse_new_panel(body):
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object")
    name = check_value(_required(body, "name", "No name given for genepanel"), str, "body.name")
    version = check_value(_required(body, "version", "No version given for genepanel"), str,
                          "body.version")
    for label, value in (("name", name), ("version", version)):
        if "/" in value or not value.strip():
            raise BadRequest(f"Invalid gene panel {label} {value!r}")
        # A new name's other checks are `create_genepanel`'s: an existing name (an adopted
        # database's) may get new versions as it is, as by `ella-deposit genepanel`.
        if label == "version":
            _refuse_new_name(label, value)
        # A line break split the export's comment line.
        elif has_control_character(value, new=False):
            raise BadRequest(f"The genepanel {label} {value!r} has a control or invisible "
                             "character")
    genes = check_value(_required(body, "genes"), list, "body.genes")
    groups = check_value(_required(body, "usergroups"), list, "body.usergroups")
    groups = [check_value(g, str, f"body.usergroups[{i}]") for i, g in enumerate(groups)]
    parsed = []
    for index, gene in enumerate(genes):
        where = f"body.genes[{index}]"
        if not isinstance(gene, dict):
            raise BadRequest(f"{where} must be an object")
        for key in ("hgnc_id", "inheritance"):
            if key not in gene:
                raise BadRequest(f"Missing key {key} in {where}")
        entry = {
            "hgnc_id": check_value(gene["hgnc_id"], int, f"{where}.hgnc_id"),
            # Stored with the gene's transcripts: a gene without any may have none (the panel
            # view shows such a gene's inheritance as null, so a copied panel sends it so).
            "inheritance": check_value(gene["inheritance"], (str, type(None)),
                                       f"{where}.inheritance"),
            "transcripts": _id_list(gene.get("transcripts"), f"{where}.transcripts"),
            "phenotypes": _id_list(gene.get("phenotypes"), f"{where}.phenotypes"),
        }
        if entry["transcripts"] and not (entry["inheritance"] or "").strip():
            # As a panel file's transcripts need one: an exported panel deposits again.
            raise BadRequest(f"{where}.inheritance must be a non-empty string for a gene "
                             "with transcripts")
        if entry["inheritance"] is not None:
            if has_control_character(entry["inheritance"]):
                raise BadRequest(f"{where}.inheritance {entry['inheritance']!r} has a control "
                                 "or invisible character")
            # As a panel file's cell is read: the filters compare it exactly (' AD ' was
            # no AD gene to them).
            entry["inheritance"] = entry["inheritance"].strip()
        if not entry["transcripts"] and not entry["phenotypes"]:
            raise BadRequest(f"{where} (HGNC id {entry['hgnc_id']}) has no transcripts and no "
                             "phenotypes: it would add nothing to the panel")
        parsed.append(entry)
    if not any(entry["transcripts"] for entry in parsed):
        # As a panel file needs one (import.md 4.2): an analysis is filtered by the panel's
        # transcripts, and the panel's export deposits again.
        raise BadRequest("A gene panel needs at least one gene with transcripts")
    return name, version, parsed, list(dict.fromkeys(groups))


def _check_ids(conn, table, ids, genes_of, what):
    """Every id exists (404) and belongs to the gene it is listed under (400)."""
    found = dict(conn.execute(f"SELECT id, gene_id FROM {table} WHERE id = ANY(%s)",
                              (sorted(set(ids)),)).fetchall()) if ids else {}
    for item_id in ids:
        if item_id not in found:
            raise NotFound(f"No {what} with id {item_id}")
        if found[item_id] != genes_of[item_id]:
            raise BadRequest(f"{what.capitalize()} {item_id} belongs to gene "
                             f"{found[item_id]}, not {genes_of[item_id]}")


@router.route("POST", f"{API}/genepanels/", access="group",
              summary="Create a custom gene panel and grant it to import groups of the caller")
def create_genepanel(ctx):
    name, version, genes, groups = _parse_new_panel(ctx.request.json())
    conn = ctx.conn
    # As `ella-deposit genepanel` holds it: a panel one of them is making is committed or not
    # there when the other checks its new name (a name in another Unicode form, too).
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (PANEL_NAMES_LOCK,))
    # The groups first: a group that may not create panels learnt from the 409 below which
    # panels exist, which its panel list does not show it.
    group_ids = dict(conn.execute("SELECT name, id FROM usergroup WHERE name = ANY(%s)",
                                  (groups,)).fetchall())
    allowed = {r[0] for r in conn.execute(
        "SELECT usergroupimport_id FROM usergroupimport WHERE usergroup_id = %s",
        (ctx.user["group_id"],))}
    for group in groups:
        if group not in group_ids:
            raise NotFound(f"No user group named {group}")
        if group_ids[group] not in allowed:
            raise Forbidden(f"Your user group may not create gene panels for group {group}")
    if conn.execute("SELECT 1 FROM genepanel WHERE name = %s LIMIT 1",
                    (name,)).fetchone() is None:
        _refuse_new_name("name", name)
        others = same_text_other_form(conn, "genepanel", name)
        if others:
            # Shown alike, two panels that lists and analyses could not tell apart.
            raise BadRequest(f"The gene panel name {name!r} is that of the existing panel "
                             f"{others[0]!r} in another Unicode form: name it exactly as "
                             "stored")
    others = versions_in_other_form(conn, name, version)
    if others:
        raise BadRequest(f"The gene panel version {version!r} is the existing version "
                         f"{others[0]!r} of {name} in another Unicode form: give the version "
                         "exactly as stored, or another")
    # Inserted first, so that of two simultaneous requests for the same panel the second
    # waits for the first and then finds it (409), instead of failing on the unique key.
    if conn.execute("INSERT INTO genepanel (name, version, genome_reference, official, "
                    "date_created, user_id) VALUES (%s, %s, 'GRCh37', false, %s, %s) "
                    "ON CONFLICT DO NOTHING RETURNING 1",
                    (name, version, datetime.now(timezone.utc), ctx.user["id"])
                    ).fetchone() is None:
        raise Conflict(f"Gene panel {name} {version} already exists")
    transcript_genes, phenotype_genes, inheritance = {}, {}, {}
    for gene in genes:
        for ids, genes_of, what in ((gene["transcripts"], transcript_genes, "Transcript"),
                                    (gene["phenotypes"], phenotype_genes, "Phenotype")):
            for item_id in ids:
                # Listed twice: under one gene it does not belong to (the last listing
                # alone was checked, and the other silently dropped).
                if genes_of.setdefault(item_id, gene["hgnc_id"]) != gene["hgnc_id"]:
                    raise BadRequest(f"{what} {item_id} is listed under genes "
                                     f"{genes_of[item_id]} and {gene['hgnc_id']}")
        for tid in gene["transcripts"]:
            # One gene listed twice with its transcript under two inheritances: the first
            # one sent was dropped without a word.
            if inheritance.setdefault(tid, gene["inheritance"]) != gene["inheritance"]:
                raise BadRequest(f"Transcript {tid} is listed with inheritance "
                                 f"{inheritance[tid]!r} and {gene['inheritance']!r}")
    _check_ids(conn, "transcript", list(transcript_genes), transcript_genes, "transcript")
    _check_ids(conn, "phenotype", list(phenotype_genes), phenotype_genes, "phenotype")
    with conn.cursor() as cur:
        if transcript_genes:  # a copied panel can hold thousands of transcripts
            with cur.copy("COPY genepanel_transcript (genepanel_name, genepanel_version, "
                          "transcript_id, inheritance) FROM STDIN") as copy:
                for tid in transcript_genes:
                    copy.write_row((name, version, tid, inheritance[tid]))
        if phenotype_genes:
            cur.executemany("INSERT INTO genepanel_phenotype (genepanel_name, "
                            "genepanel_version, phenotype_id) VALUES (%s, %s, %s)",
                            [(name, version, pid) for pid in phenotype_genes])
        cur.executemany("INSERT INTO usergroupgenepanel (usergroup_id, genepanel_name, "
                        "genepanel_version) VALUES (%s, %s, %s)",
                        [(group_ids[g], name, version) for g in groups])
    return None
