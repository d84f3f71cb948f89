"""Search for alleles and analyses, and the autocomplete options (api.md 2.7, 4.14)."""

import re
import unicodedata

from ella import auth
from ella.allele_views import filtered_transcript_names, merge_custom_annotation, panel_index
from ella.web.routes.overviews import overview_analyses
from ella.web.access import accessible_panel_condition, group_panels
from ella.web.errors import BadRequest
from ella.web.http import Response
from ella.web.listing import page_args, page_headers
from ella.web.router import router

API = "/api/v1"
MAX_OPTIONS = 20
MIN_FREETEXT = 3
MAX_FREETEXT = 500
CHROMOSOMES = "|".join([str(n) for n in range(1, 23)] + ["X", "Y", "MT"])
_POS_WITH_CHR = re.compile(rf"^(?:chr)?({CHROMOSOMES}):(\d+)(?:-(\d+))?$", re.IGNORECASE)
_POS_ONLY = re.compile(r"^(\d+)(?:-(\d+))?$")
_G_POS = re.compile(r"g\.(\d+)")
# What a genomic HGVS names before `:g.`: a chromosome, or its RefSeq accession.
_G_CHROMOSOME = re.compile(rf"^(?:chr)?({CHROMOSOMES})$", re.IGNORECASE)
_G_ACCESSION = re.compile(r"^NC_0000(\d\d)(?:\.(\d+))?$", re.IGNORECASE)
_G_MITOCHONDRION = re.compile(r"^(?:(?:chr)?M|NC_012920(?:\.1)?)$", re.IGNORECASE)
# The version of each chromosome's accession in GRCh37, the only build stored (alleles.py):
# another version is another build's coordinates (GRCh38's are one higher).
GRCH37_ACCESSION_VERSIONS = {
    "1": 10, "2": 11, "3": 11, "4": 11, "5": 9, "6": 11, "7": 13, "8": 10, "9": 11, "10": 10,
    "11": 9, "12": 11, "13": 10, "14": 8, "15": 9, "16": 9, "17": 10, "18": 9, "19": 9,
    "20": 10, "21": 8, "22": 10, "X": 10, "Y": 9}
MAX_POSITION = 2**31 - 1

ALLELE_KEYS = ("id", "genome_reference", "chromosome", "start_position", "open_end_position",
               "change_from", "change_to", "change_type", "vcf_pos", "vcf_ref", "vcf_alt",
               "length", "caller_type")


def _like_prefix(text):
    """An ILIKE pattern matching strings that start with `text` literally."""
    return re.sub(r"([\\%_])", r"\\\1", text) + "%"


def _folded(text):
    """Text as the name searches compare it: case-folded and in one Unicode form. Matched
    in Python: PostgreSQL's ILIKE folds only ASCII letters in a database of the C locale
    ("øy" did not find Øyvind), and a name from a Mac's folder or file has `Å` decomposed,
    which the `Å` a browser sends does not match."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


# -- options -------------------------------------------------------------------------------

@router.route("GET", f"{API}/search/options/", access="group",
              summary="Autocomplete: genes of the group's panels, users of the group")
def search_options(ctx):
    q = ctx.request.json_arg("q")
    if q is None:
        raise BadRequest("Query parameter 'q' is required: {\"gene\"?: str, \"user\"?: str}")
    if not isinstance(q, dict):
        raise BadRequest("Query parameter 'q' must be a JSON object")
    unknown = sorted(set(q) - {"gene", "user"})
    if unknown:
        raise BadRequest(f"Unknown key(s) in q: {', '.join(unknown)}")
    for key, value in q.items():
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"q.{key} must be a string")
    result = {}
    if q.get("gene"):
        result["gene"] = [{"symbol": s, "hgnc_id": h} for s, h in ctx.conn.execute(
            "SELECT DISTINCT g.hgnc_symbol, g.hgnc_id FROM gene g "
            "JOIN transcript t ON t.gene_id = g.hgnc_id "
            "JOIN genepanel_transcript gt ON gt.transcript_id = t.id "
            "JOIN usergroupgenepanel ugp ON ugp.genepanel_name = gt.genepanel_name "
            "AND ugp.genepanel_version = gt.genepanel_version AND ugp.usergroup_id = %s "
            "WHERE g.hgnc_symbol ILIKE %s ORDER BY g.hgnc_symbol, g.hgnc_id LIMIT %s",
            (ctx.user["group_id"], _like_prefix(q["gene"]), MAX_OPTIONS))]
    if q.get("user"):
        # Matched in Python (_folded). A group has tens of users, not thousands.
        prefix = _folded(q["user"])
        matching = [{"username": u, "first_name": f, "last_name": l}
                    for u, f, l in ctx.conn.execute(
                        'SELECT username, first_name, last_name FROM "user" '
                        "WHERE group_id = %s ORDER BY last_name, id", (ctx.user["group_id"],))
                    if _folded(f or "").startswith(prefix)
                    or _folded(l or "").startswith(prefix)]
        result["user"] = matching[:MAX_OPTIONS]
    return result


# -- the query -----------------------------------------------------------------------------

def _parse_query(request):
    """The checked search query; None when incomplete (empty result). Wrong types: 400."""
    q = request.json_arg("q")
    if q is None:
        return None
    if not isinstance(q, dict):
        raise BadRequest("Query parameter 'q' must be a JSON object")
    unknown = sorted(set(q) - {"type", "freetext", "gene", "user"})
    if unknown:
        raise BadRequest(f"Unknown key(s) in q: {', '.join(unknown)}")
    kind = q.get("type")
    if kind is not None and kind not in ("alleles", "analyses"):
        raise BadRequest("q.type must be 'alleles' or 'analyses'")
    freetext = q.get("freetext")
    if freetext is not None and not isinstance(freetext, str):
        raise BadRequest("q.freetext must be a string")
    if freetext is not None and len(freetext) > MAX_FREETEXT:
        raise BadRequest(f"q.freetext longer than {MAX_FREETEXT} characters")
    gene = q.get("gene")
    hgnc_id = None
    if gene is not None:
        if not isinstance(gene, dict):
            raise BadRequest("q.gene must be an object with hgnc_id")
        hgnc_id = gene.get("hgnc_id")
        if hgnc_id is not None and (isinstance(hgnc_id, bool) or not isinstance(hgnc_id, int)
                                    or not 0 <= hgnc_id <= MAX_POSITION):
            raise BadRequest("q.gene.hgnc_id must be an integer")
    user = q.get("user")
    username = None
    if user is not None:
        if not isinstance(user, dict):
            raise BadRequest("q.user must be an object with username")
        username = user.get("username")
        if username is not None and not isinstance(username, str):
            raise BadRequest("q.user.username must be a string")
    freetext = (freetext or "").strip()
    if len(freetext) < MIN_FREETEXT:
        freetext = None
    if kind is None or (freetext is None and not username):
        return None
    return {"type": kind, "freetext": freetext, "hgnc_id": hgnc_id, "username": username or None}


def _empty(page, per_page):
    return Response.json({"alleles": [], "analyses": []},
                         headers=page_headers(page, per_page, 0))


@router.route("GET", f"{API}/search/", access="analysis",
              summary="Search alleles (HGVS, position, gene, user) or the group's analyses "
                      "(name, user); paginated")
def search(ctx):
    request = ctx.request
    page, per_page = page_args(request)
    limit = request.int_arg("limit", None, minimum=1)
    query = _parse_query(request)
    if query is None:
        return _empty(page, per_page)
    if query["type"] == "analyses":
        ids = _analysis_ids(ctx, query)
    else:
        ids, hgvs_text = _allele_ids(ctx, query)
    if ids is None:
        return _empty(page, per_page)
    if limit is not None:
        ids = ids[:limit]
    total = len(ids)
    page_ids = ids[(page - 1) * per_page:page * per_page]
    if query["type"] == "analyses":
        analyses = overview_analyses(ctx.conn, page_ids)
        # As ELLA: the page's analyses newest (requested, else deposited) first.
        analyses.sort(key=lambda a: (a["date_requested"] or a["date_deposited"], a["id"]),
                      reverse=True)
        for analysis in analyses:  # here by their last update (api.md 4.14), not by id
            analysis["interpretations"].sort(key=lambda i: (i["date_last_update"], i["id"]))
        body = {"alleles": [], "analyses": analyses}
    else:
        body = {"alleles": _allele_items(ctx, page_ids, hgvs_text), "analyses": []}
    return Response.json(body, headers=page_headers(page, per_page, total))


# -- analyses ------------------------------------------------------------------------------

def _analysis_ids(ctx, query):
    conditions = [accessible_panel_condition("a")]
    params = {"group_id": ctx.user["group_id"]}
    if query["username"]:
        conditions.append("EXISTS (SELECT 1 FROM analysisinterpretation ai "
                          'JOIN "user" u ON u.id = ai.user_id '
                          "WHERE ai.analysis_id = a.id AND u.username = %(username)s)")
        params["username"] = query["username"]
    rows = ctx.conn.execute(
        f"SELECT a.id, a.name FROM analysis a WHERE {' AND '.join(conditions)} ORDER BY a.id",
        params)
    if not query["freetext"]:
        return [analysis_id for analysis_id, _ in rows]
    # The name contains the text (_folded: any case, any Unicode form); a lab's tens of
    # thousands of names are compared in milliseconds.
    wanted = _folded(query["freetext"])
    return [analysis_id for analysis_id, name in rows if wanted in _folded(name)]


def _interpretation_users(conn, user_ids):
    user_ids = sorted({u for u in user_ids if u is not None})
    if not user_ids:
        return {}
    return {u["id"]: u for u in auth.users(conn, "u.id = ANY(%s)", (user_ids,), full=False)}


def _position(freetext):
    """(chromosome or None, start, end or None) for a position search, or None (not one),
    or False (a position search that returns nothing)."""
    text = freetext.replace(",", "").replace(" ", "")
    match = _POS_WITH_CHR.match(text)
    if match:
        chrom, start, end = match.group(1).upper(), int(match.group(2)), match.group(3)
        chrom = "MT" if chrom == "MT" else chrom
    else:
        match = _POS_ONLY.match(text)
        if match:
            chrom, start, end = None, int(match.group(1)), match.group(2)
        else:
            found = _G_POS.search(freetext)
            if not found:
                return None
            chrom, start, end = _g_chromosome(freetext[:found.start()]), int(found.group(1)), None
            if chrom is False:
                return False
    end = int(end) if end is not None else None
    if start > MAX_POSITION or (end is not None and end > MAX_POSITION) or start < 1:
        return False
    if end is not None and (chrom is None or end < start):
        return False
    return chrom, start, end


def _g_chromosome(before):
    """The chromosome a genomic HGVS names before its `g.` (`13:`, `chr13:`, its GRCh37
    accession `NC_000013.10:`), None when it names none (api.md 4.14 searches the position
    alone, as ELLA: `13:g.41223094` found BRCA1's variant on 17), False when it names
    another build's accession (GRCh38's `NC_000017.11` found an unrelated GRCh37 variant)."""
    prefix = before.strip().rstrip(":").strip()
    named = _G_CHROMOSOME.match(prefix)
    if named:
        return named.group(1).upper()
    if _G_MITOCHONDRION.match(prefix):  # (chrM, GRCh37's MT accession NC_012920.1)
        return "MT"
    if re.match(r"^NC_012920\.\d+$", prefix, re.IGNORECASE):
        return False
    accession = _G_ACCESSION.match(prefix)
    if not accession:
        return None
    number = int(accession.group(1))
    chrom = {23: "X", 24: "Y"}.get(number, str(number))
    if chrom not in GRCH37_ACCESSION_VERSIONS:
        return False
    if accession.group(2) is not None and \
            int(accession.group(2)) != GRCH37_ACCESSION_VERSIONS[chrom]:
        return False
    return chrom


_WITH_SYMBOL = re.compile(r"^(\S+?)\([^()\s]+\)$")  # ClinVar's NM_000059.3(BRCA2)
_ONE_LETTER = {"A": "Ala", "R": "Arg", "N": "Asn", "D": "Asp", "C": "Cys", "Q": "Gln",
               "E": "Glu", "G": "Gly", "H": "His", "I": "Ile", "L": "Leu", "K": "Lys",
               "M": "Met", "F": "Phe", "P": "Pro", "S": "Ser", "T": "Thr", "W": "Trp",
               "Y": "Tyr", "V": "Val", "U": "Sec", "O": "Pyl", "*": "Ter",
               "X": "Ter"}  # X: the older one-letter stop (p.R1443X)
_THREE_LETTER = re.compile("|".join(_ONE_LETTER.values()))


def _hgvs(freetext):
    """(prefix or None, shadow column, HGVS text) of an HGVS search, or None when the text
    is none. As ELLA (api.md 4.14): an optional prefix up to the first colon, a transcript
    compared without version; `p.` anywhere means a protein search, else `c.` a cDNA one;
    a prefix match on VEP's notation. Also found, where ELLA finds nothing: the prefix in
    any case or as a gene symbol (`BRCA2:c.97G>T`), ClinVar's
    `NM_000059.3(BRCA2):c.97G>T (p.Glu33Ter)` (its transcript and cDNA change), a
    predicted protein change `p.(...)`, `*` for Ter and one-letter amino acids."""
    prefix, colon, text = freetext.partition(":")
    if not colon:
        prefix, text = "", freetext
    prefix, text = prefix.strip(), text.strip()
    with_symbol = _WITH_SYMBOL.match(prefix)
    if with_symbol:
        prefix = with_symbol.group(1)  # compared without version, the symbol dropped: as ELLA
    lowered = text.lower()
    if lowered.startswith("c.") and " (p." in lowered:
        text = text[:lowered.index(" (p.")].strip()  # ClinVar's title: the cDNA change
    # In any case, as ELLA reads it: HGVS pasted from a report as `C.97G>T` found nothing
    # (the match itself ignores case).
    if "p." in text.lower():
        if text.lower().startswith("p."):
            text = _protein_text(text)
        return prefix or None, "st.hgvsp", text
    if "c." in text.lower():
        return prefix or None, "st.hgvsc", text
    return None


def _protein_text(text):
    """A protein change (`p.` first) as VEP writes it: three-letter amino acids, Ter for a
    stop, no parentheses around a predicted change."""
    body = text[2:]
    if body.startswith("(") and body.endswith(")"):
        body = body[1:-1]
    if (re.match(r"[A-Z*]\d", body) and not _THREE_LETTER.search(body)
            and all(c in _ONE_LETTER for c in body if c.isupper())):
        # One-letter notation (p.E33_K35del, p.R97Gfs*23): every residue; the rest
        # (del, ins, fs, dup, ext) is lower case.
        body = "".join(_ONE_LETTER.get(c, c) for c in body)
    elif _THREE_LETTER.search(body):
        # The older stop `X` among three-letter residues (p.Trp194X, p.Arg18LeufsX12): no
        # three-letter code starts with a capital X but Xaa, the unknown residue.
        body = re.sub(r"X(?![a-z])", "Ter", body)
    return "p." + body.replace("*", "Ter")


def _allele_ids(ctx, query):
    """(ordered allele ids or None, HGVS search text or None)."""
    conditions, params = [], {}
    hgvs_text = None
    freetext = query["freetext"]
    if freetext:
        position = _position(freetext)
        if position is False:
            return None, None
        if position is not None:
            chrom, start, end = position
            if chrom is not None:
                conditions.append("al.chromosome = %(chrom)s")
                params["chrom"] = chrom
            if end is None:
                conditions.append("al.start_position = %(start)s")
                params["start"] = start - 1
            else:
                conditions.append("al.start_position >= %(start)s "
                                  "AND al.open_end_position <= %(end)s")
                params.update(start=start - 1, end=end)
        else:
            hgvs = _hgvs(freetext)
            if hgvs is None:
                return None, None
            prefix, column, text = hgvs
            if not prefix and query["hgnc_id"] is None:
                return None, None
            shadow = ["st.allele_id = al.id", f"{column} ILIKE %(hgvs)s",
                      "st.transcript ~ %(regex)s"]
            params.update(hgvs=_like_prefix(text),
                          regex=ctx.config["transcripts"]["inclusion_regex"])
            if prefix:
                # The transcript without version, as ELLA (here in any case), or the gene.
                shadow.append("(upper(split_part(st.transcript, '.', 1)) = "
                              "upper(split_part(%(prefix)s, '.', 1)) "
                              "OR upper(st.symbol) = upper(%(prefix)s))")
                params["prefix"] = prefix
            if query["hgnc_id"] is not None:
                shadow.append("st.hgnc_id = %(hgnc_id)s")
                params["hgnc_id"] = query["hgnc_id"]
            conditions.append("EXISTS (SELECT 1 FROM annotationshadowtranscript st WHERE "
                              + " AND ".join(shadow) + ")")
            hgvs_text = text
    if query["username"]:
        conditions.append(
            "(EXISTS (SELECT 1 FROM alleleinterpretation ai JOIN \"user\" u ON u.id = ai.user_id "
            "WHERE ai.allele_id = al.id AND u.username = %(username)s) OR "
            "EXISTS (SELECT 1 FROM alleleassessment aa JOIN \"user\" u ON u.id = aa.user_id "
            "WHERE aa.allele_id = al.id AND u.username = %(username)s))")
        params["username"] = query["username"]
    if not conditions:
        return None, None
    ids = [row[0] for row in ctx.conn.execute(
        f"SELECT al.id FROM allele al WHERE {' AND '.join(conditions)} "
        "ORDER BY al.chromosome, al.start_position, al.id", params)]
    return ids, hgvs_text


def _panel_transcripts(ctx):
    """`panel_index` of the transcripts of the group's official panels."""
    panels = group_panels(ctx.conn, ctx.user)
    if not panels:
        return {}
    names = [p[0] for p in panels]
    versions = [p[1] for p in panels]
    return panel_index(ctx.conn.execute(
        "SELECT DISTINCT t.transcript_name, t.gene_id FROM genepanel_transcript gt "
        "JOIN genepanel gp ON gp.name = gt.genepanel_name AND gp.version = gt.genepanel_version "
        "JOIN transcript t ON t.id = gt.transcript_id "
        "JOIN unnest(%s::text[], %s::text[]) AS p(name, version) "
        "ON p.name = gt.genepanel_name AND p.version = gt.genepanel_version "
        "WHERE gp.official", (names, versions)).fetchall())


def _worst(transcripts, severity):
    rank = {c: i for i, c in enumerate(severity)}
    best, names = None, []
    for tx in transcripts:
        ranks = [rank[c] for c in tx.get("consequences") or [] if c in rank]
        if not ranks:
            continue
        value = min(ranks)
        if best is None or value < best:
            best, names = value, [tx["transcript"]]
        elif value == best:
            names.append(tx["transcript"])
    return names


def _annotation(ctx, row, custom, panel_transcripts, hgvs_text):
    annotation_id, annotations, schema_version, config_id = row
    data = dict(annotations or {})
    regex = re.compile(ctx.config["transcripts"]["inclusion_regex"])
    transcripts = data.get("transcripts") or []
    kept = [tx for tx in transcripts if regex.match(tx.get("transcript", ""))]
    if kept:
        transcripts = kept
    data["transcripts"] = transcripts
    if custom is not None:
        # As every other read merges it (a custom annotation may hold any JSON object).
        data = merge_custom_annotation(data, custom[1])
    data["references"] = list(data.get("references") or [])
    data["worst_consequence"] = _worst(transcripts, ctx.config["transcripts"]["consequences"])
    # As every other view matches them (filtering.md 2.9): per panel transcript the
    # annotation transcript of the exact name, else the highest version.
    filtered = filtered_transcript_names(transcripts, panel_transcripts)
    if hgvs_text:
        needle = hgvs_text.lower()

        def contains(tx):
            return any(needle in (tx.get(k) or "").lower() for k in ("HGVSc", "HGVSp"))
        by_name = {tx["transcript"]: tx for tx in transcripts}
        if not any(contains(by_name[n]) for n in filtered if n in by_name):
            filtered += [tx["transcript"] for tx in transcripts
                         if contains(tx) and tx["transcript"] not in filtered]
    data["filtered_transcripts"] = sorted(set(filtered))
    data["annotation_id"] = annotation_id
    data["schema_version"] = schema_version
    data["annotation_config_id"] = config_id
    if custom is not None:
        data["custom_annotation_id"] = custom[0]
    return data


def _allele_items(ctx, allele_ids, hgvs_text):
    if not allele_ids:
        return []
    conn = ctx.conn
    alleles = {row[0]: dict(zip(ALLELE_KEYS, row)) for row in conn.execute(
        f"SELECT {', '.join(ALLELE_KEYS)} FROM allele WHERE id = ANY(%s)", (allele_ids,))}
    annotations = {row[0]: row[1:] for row in conn.execute(
        "SELECT allele_id, id, annotations, schema_version, annotation_config_id "
        "FROM annotation WHERE allele_id = ANY(%s) AND date_superceeded IS NULL "
        "ORDER BY id", (allele_ids,))}
    customs = {row[0]: row[1:] for row in conn.execute(
        "SELECT allele_id, id, annotations FROM customannotation "
        "WHERE allele_id = ANY(%s) AND date_superceeded IS NULL ORDER BY id", (allele_ids,))}
    assessments = {row[0]: {"id": row[1], "date_created": row[2], "classification": row[3]}
                   for row in conn.execute(
        "SELECT allele_id, id, date_created, classification FROM alleleassessment "
        "WHERE allele_id = ANY(%s) AND date_superceeded IS NULL ORDER BY id", (allele_ids,))}
    rounds = conn.execute(
        "SELECT id, status, finalized, workflow_status, allele_id, genepanel_name, "
        "genepanel_version, date_last_update, user_id FROM alleleinterpretation "
        "WHERE allele_id = ANY(%s) ORDER BY date_last_update, id", (allele_ids,)).fetchall()
    users = _interpretation_users(conn, [r[8] for r in rounds])
    interpretations = {}
    for rid, status, finalized, wf, aid, gp_name, gp_version, last, user_id in rounds:
        interpretations.setdefault(aid, []).append({
            "id": rid, "status": status, "finalized": finalized, "workflow_status": wf,
            "allele_id": aid, "genepanel_name": gp_name, "genepanel_version": gp_version,
            "date_last_update": last, "user_id": user_id, "user": users.get(user_id)})
    panel_transcripts = _panel_transcripts(ctx)
    result = []
    for allele_id in allele_ids:
        allele = alleles[allele_id]
        tags = []
        if allele_id in annotations:
            annotation = _annotation(ctx, annotations[allele_id], customs.get(allele_id),
                                     panel_transcripts, hgvs_text)
            allele["annotation"] = annotation
            if annotation["references"]:
                tags.append("has_references")
        if allele_id in assessments:
            allele["allele_assessment"] = assessments[allele_id]
        allele["tags"] = sorted(tags)
        annotation = allele.get("annotation")
        if allele["caller_type"] != "cnv" and annotation and annotation["worst_consequence"]:
            # computed as ELLA does, before filtered_transcripts is known (api.md 4.14)
            by_name = {tx["transcript"]: tx for tx in annotation["transcripts"]}
            listed = ", ".join(f"{name} ({', '.join(by_name[name].get('consequences') or [])})"
                               for name in annotation["worst_consequence"])
            allele["warnings"] = {"worse_consequence": f"Worse consequences found in: {listed}"}
        result.append({"allele": allele, "interpretations": interpretations.get(allele_id, [])})
    return result
