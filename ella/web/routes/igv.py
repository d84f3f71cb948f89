"""IGV (igv.js) support: track configuration, reference/static/analysis track files and the
dynamic tracks made from the database (api.md 2.14, 4.25).

Files are only ever served from three roots: `$IGV_DATA` (reference files listed in
`igv.valid_resource_files`), `$IGV_DATA/tracks` (static tracks) and
`$ANALYSES_PATH/<analysis name>/tracks` (analysis tracks). Every path is resolved (symlinks
included) and must stay inside its root. When `IGV_DATA` is unset, missing or empty the track
configuration is an empty object (ELLA answers 500 there; DESIGN.md).
"""

import json
import logging
import mimetypes
import os
import re
import unicodedata
from datetime import timezone
from urllib.parse import quote

from ella.allele_views import ANALYSIS_ALLELE_IDS
from ella.web.access import require_analysis, require_working_genepanel
from ella.web.errors import ApiError, Forbidden, NotFound
from ella.web.http import FileResponse, Response
from ella.web.router import router

log = logging.getLogger(__name__)

API = "/api/v1"
# Track files may lie this many sub-folders deep (one route per depth); the listing offers
# none deeper, which no route could serve.
MAX_SUBDIRS = 8

# Track file suffixes and the suffixes of their index files (tried in order).
TRACK_SUFFIXES = {
    ".bam": ("{path}.bai", "{stem}.bai"),
    ".bed": (),
    ".bed.gz": ("{path}.tbi",),
    ".bb": (),
    ".bigBed": (),
    ".bw": (),
    ".bigWig": (),
    ".cram": ("{path}.crai", "{stem}.crai"),
    ".gff3.gz": ("{path}.tbi",),
    ".gtf.gz": ("{path}.tbi",),
    ".vcf": (),
    ".vcf.gz": ("{path}.tbi",),
}
INDEXED = tuple(s for s, index in TRACK_SUFFIXES.items() if index)
DYNAMIC_TRACKS = ("DYNAMIC/variants", "DYNAMIC/classifications", "DYNAMIC/genepanel",
                  "DYNAMIC/regions_of_interest")
CHROMOSOME_ORDER = {str(i): i for i in range(1, 23)} | {"X": 23, "Y": 24, "MT": 25}


def chromosome_key(chromosome):
    return (CHROMOSOME_ORDER.get(chromosome, 100), chromosome)


# -- paths -----------------------------------------------------------------------------------

def _dir(path):
    return os.path.realpath(path) if path and os.path.isdir(path) else None


def igv_root(ctx):
    return _dir(ctx.env.get("IGV_DATA"))


def inside(root, *parts):
    """The resolved path of root/parts if it is a regular file inside root, else None."""
    # (A backslash is a file name's character here: a listed track named so was a 404.)
    if root is None or any(p in ("", ".", "..") or "/" in p or "\0" in p for p in parts):
        return None
    real_root = os.path.realpath(root)
    path = os.path.realpath(os.path.join(real_root, *parts))
    if os.path.commonpath([real_root, path]) != real_root or path == real_root:
        return None
    return path if os.path.isfile(path) else None


def track_suffix(name):
    return next((s for s in sorted(TRACK_SUFFIXES, key=len, reverse=True)
                 if name.endswith(s)), None)


# Names already said in this worker's log: a track list is read on every analysis page,
# and a line per request drowned the log until the file was renamed.
_SAID_NOT_UTF8 = set()


def _utf8(name):
    """A file name that is UTF-8 (one copied from a Latin-1 share is not: it can be neither
    put in a URL nor in the JSON answer, and made the whole track list a 500)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        if name not in _SAID_NOT_UTF8 and len(_SAID_NOT_UTF8) < 10000:
            _SAID_NOT_UTF8.add(name)
            log.warning("IGV track %r: the file name is not UTF-8; not offered (rename it)",
                        name.encode("utf-8", "surrogateescape").decode("latin-1"))
        return False
    return True


def list_tracks(root):
    """Relative paths (with `/`) of track files under root; symlinks leaving root skipped."""
    if root is None:
        return []
    real_root = os.path.realpath(root)
    found = []
    for current, dirs, files in os.walk(real_root):
        depth = 0 if current == real_root else \
            os.path.relpath(current, real_root).count(os.sep) + 1
        dirs[:] = [] if depth >= MAX_SUBDIRS else sorted(
            d for d in dirs if not d.startswith(".") and _utf8(d)
            and not os.path.islink(os.path.join(current, d)))
        for name in sorted(files):
            if name.startswith(".") or track_suffix(name) is None or not _utf8(name):
                continue
            full = os.path.join(current, name)
            real = os.path.realpath(full)
            if os.path.commonpath([real_root, real]) != real_root or not os.path.isfile(real):
                continue
            found.append(os.path.relpath(full, real_root).replace(os.sep, "/"))
    return found


def analysis_tracks_root(ctx, analysis_name):
    base = _dir(ctx.env.get("ANALYSES_PATH"))
    if base is None or not analysis_name or analysis_name in (".", "..") or "/" in analysis_name:
        return None
    # The analysis folder may be a link (the watcher moves a linked folder as the link):
    # its tracks are those inside the folder it leads to. The name is the database's.
    folder = os.path.realpath(os.path.join(base, analysis_name))
    tracks = os.path.realpath(os.path.join(folder, "tracks"))
    if os.path.commonpath([folder, tracks]) != folder or tracks == folder:
        return None
    return _dir(tracks)


# -- file responses ----------------------------------------------------------------------------

def _range(request, size):
    """(start, end inclusive) of the requested byte range, or None for the whole file."""
    header = request.environ.get("HTTP_RANGE")
    start = end = None
    unit, _, ranges = (header or "").partition("=")
    # RFC 9110 14.2: a Range with another unit, or several ranges (IGV asks for one; we send
    # no multipart/byteranges), is ignored: the whole file.
    if header and unit.strip().lower() == "bytes" and "," not in ranges:
        # A last position (or suffix length) past the file means its end (RFC 9110
        # 14.1.1), whatever its length (twenty digits were a 416); one of over 18 digits is
        # past any file, and not handed to int() (which refuses over 4,300).
        m = re.fullmatch(r"\s*(\d{0,100})\s*-\s*(\d*)\s*", ranges)
        if not m or (m.group(1) == "" and m.group(2) == ""):
            raise ApiError(f"Invalid Range header {header!r}", 416)
        last = m.group(2)
        beyond = len(last.lstrip("0")) > 18
        if m.group(1) == "":  # suffix range: the last N bytes
            length = size if beyond else int(last)
            if length == 0 or size == 0:
                raise ApiError("Range not satisfiable", 416)
            return max(0, size - length), size - 1
        start = int(m.group(1))
        end = int(last) if last and not beyond else None
    elif "start" in request.args or "end" in request.args:
        # Byte offsets (files may pass 2 GB), never given to the database: no maximum.
        start = request.int_arg("start", 0, minimum=0, maximum=None)
        end = request.int_arg("end", None, minimum=0, maximum=None)
    else:
        return None
    if end is None or end >= size:
        end = size - 1
    if start >= size or end < start:
        raise ApiError(f"Range not satisfiable (file size {size})", 416)
    return start, end


# Every file here is served to a logged-in user: never from a shared cache. A patient's
# own tracks (BAM, VCF) are not kept by the browser either (a shared workstation's disk).
FILE_CACHE = "private"
PATIENT_FILE_CACHE = "private, no-store"


def serve_file(request, path, download_name=None, cache=FILE_CACHE):
    # Opened first, its size taken from what was opened: a file replaced in between (a
    # re-run of ella-igv-download renames new files into place) answered one file's length
    # with another's bytes.
    name = os.path.basename(path)
    try:
        file = open(path, "rb")  # closed by the response's body iterable
    except FileNotFoundError:  # removed since it was found (a re-run of a download)
        raise NotFound(f"No IGV file {name}") from None
    except OSError as exc:
        # Listed, but not readable by the service (a pipeline's BAM of mode 0640 in another
        # group, a download run as root under umask 077): said, not a bare 500.
        log.error("IGV file %s: cannot read it: %s", path, exc)
        raise ApiError(f"The IGV file {name} cannot be read by the service "
                       f"({exc.strerror}); tell your system administrator", 503) from None
    try:
        return _file_response(request, file, path, download_name, cache)
    except BaseException:
        file.close()
        raise


def _file_response(request, file, path, download_name, cache):
    size = os.fstat(file.fileno()).st_size
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if path.endswith((".fasta", ".fa", ".fai", ".bed", ".vcf", ".gff3", ".txt")):
        content_type = "text/plain"
    headers = [("Accept-Ranges", "bytes"), ("Cache-Control", cache)]
    if download_name:
        headers.append(("Content-Disposition", f"inline; filename={download_name}"))
    try:
        wanted = _range(request, size)
    except ApiError as exc:
        if exc.status == 416:
            file.close()
            return Response(b"", 416, content_type, headers + [
                ("Content-Range", f"bytes */{size}")])
        raise
    if wanted is None:
        return FileResponse(file, 0, size, 200, content_type, headers)
    start, end = wanted
    return FileResponse(file, start, end - start + 1, 206, content_type,
                        headers + [("Content-Range", f"bytes {start}-{end}/{size}")])


def _through_linked_folder(root, folders):
    """Whether a folder on the way is a symbolic link: the track list does not follow one,
    and a URL through it reached a file under a name the track config's limits miss."""
    path = os.path.realpath(root)
    for folder in folders:
        path = os.path.join(path, folder)
        if os.path.islink(path):
            return True
    return False


def serve_track(request, root, parts, cache=FILE_CACHE):
    """A track file (or, with ?index=1, its index file) under root."""
    path = inside(root, *parts)
    name = parts[-1]
    # Hidden files and folders are no tracks: not listed (list_tracks), so not served
    # either (a `.snapshot` copy, an editor's backup of a patient's track).
    if path is None or track_suffix(name) is None or any(p.startswith(".") for p in parts) \
            or _through_linked_folder(root, parts[:-1]):
        raise NotFound(f"No track file {'/'.join(parts)}")
    if request.args.get("index") not in (None, "", "0", "false"):
        suffix = track_suffix(name)
        candidates = [t.format(path=name, stem=name[:-len(suffix)])
                      for t in TRACK_SUFFIXES[suffix]]
        for candidate in candidates:
            index_path = inside(root, *parts[:-1], candidate)
            if index_path is not None:
                return serve_file(request, index_path, cache=cache)
        raise NotFound(f"No index file for track {'/'.join(parts)}")
    return serve_file(request, path, cache=cache)


def text_file(text, filename, cache=None):
    headers = [("Content-Disposition", f"inline; filename={filename}")]
    headers.append(("Cache-Control", cache or "no-store, no-cache, must-revalidate"))
    return Response(text.encode("utf-8"), 200, "text/plain; charset=utf-8", headers)


# -- track configuration -----------------------------------------------------------------------

def load_track_config(root):
    for name in ("track_config.json", "track_config_default.json"):
        # Read by the server, never served: also a link to a file kept elsewhere (it was
        # passed over for the default, whose group limits may be wider).
        path = os.path.join(root, name) if root is not None else None
        if path is None or not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8") as f:
                config = json.load(f)
        except (OSError, ValueError) as exc:
            raise ApiError(f"Invalid IGV track configuration {name}: {exc}", 500) from None
        if not isinstance(config, dict):
            raise ApiError(f"Invalid IGV track configuration {name}: not an object", 500)
        return config
    return {}


def merged_track_config(config, track_id):
    """(applied regexes, merged entry) of the config entries whose regex matches track_id."""
    applied, merged = [], {}
    for pattern, entry in config.items():
        try:
            if not re.match(pattern, track_id):
                continue
        except re.error as exc:
            raise ApiError(f"Invalid regex {pattern!r} in the IGV track configuration: {exc}",
                           500) from None
        if not isinstance(entry, dict):
            continue
        applied.append(pattern)
        for key, value in entry.items():
            if key == "igv" and isinstance(value, dict):
                merged.setdefault("igv", {}).update(value)
            else:
                merged[key] = value
    return applied, merged


def visible_to(entry, group_name):
    if "limit_to_groups" not in entry:
        return False
    groups = entry["limit_to_groups"]
    # A list of names or null (api.md 4.25); anything else shows the track to no group (a
    # string was searched for the name as a substring).
    # Names compared in NFC: a config or a group name typed on a Mac (`Å` as `A` and a ring)
    # is the same name, and hid the group's own tracks from it.
    return groups is None or (isinstance(groups, list) and unicodedata.normalize(
        "NFC", group_name) in {unicodedata.normalize("NFC", g) for g in groups
                               if isinstance(g, str)})


def refuse_if_limited(ctx, track_id):
    """A track the track config limits to other groups (`limit_to_groups`) is not served to
    this one, as its track list leaves it out: a lab limiting patients' BAM files to one
    group had them hidden from the list only. (An analysis' own and the dynamic tracks
    without such an entry are served as ELLA serves them; static ones need an entry.)
    Returns whether the track is limited to some groups (its answer then stays out of the
    browser's cache, which the next user of a shared workstation would be answered from)."""
    root = igv_root(ctx)
    if root is None:
        return False
    applied, entry = merged_track_config(load_track_config(root), track_id)
    if not applied or "limit_to_groups" not in entry:
        return False
    if not visible_to(entry, group_name(ctx)):
        raise Forbidden("not authorized")
    return entry["limit_to_groups"] is not None


def group_name(ctx):
    return ctx.conn.execute("SELECT name FROM usergroup WHERE id = %s",
                            (ctx.user["group_id"],)).fetchone()[0]


def interpolate(template, values):
    for key, value in values.items():
        template = template.replace(f"<{key}>", value)
    return template


def _quote_path(relative):
    return "/".join(quote(p, safe="") for p in relative.split("/"))


@router.route("GET", f"{API}/igv/tracks/<int:analysis_id>/", access="analysis",
              summary="IGV track configuration of an analysis visible to the caller's group")
def track_config(ctx, analysis_id):
    name, panel_name, panel_version = require_analysis(ctx.conn, ctx.user, analysis_id)
    root = igv_root(ctx)
    if root is None:
        return {}
    config = load_track_config(root)
    allele_ids = ctx.request.id_list_arg("allele_ids") or []
    candidates = [(f"STATIC/{p}", p) for p in list_tracks(os.path.join(root, "tracks"))]
    candidates += [(f"ANALYSIS/{p}", p) for p in
                   list_tracks(analysis_tracks_root(ctx, name))]
    candidates += [(t, "") for t in DYNAMIC_TRACKS]
    if not config:
        return {}
    group = group_name(ctx)
    result = {}
    for track_id, relative in candidates:
        applied, entry = merged_track_config(config, track_id)
        if not applied or not visible_to(entry, group):
            continue
        igv = dict(entry.get("igv") or {})
        template = entry.get("url") or igv.get("url")
        if not template:
            raise ApiError(f"IGV track {track_id} has no url in the track configuration", 500)
        url = interpolate(template, {
            "TRACK_FILEPATH": _quote_path(relative), "ANALYSIS_ID": str(analysis_id),
            "GENEPANEL_NAME": quote(panel_name or "", safe=""),
            "GENEPANEL_VERSION": quote(panel_version or "", safe=""),
            "ALLELE_IDS": ",".join(str(i) for i in allele_ids)})
        igv.setdefault("name", track_id)
        igv["url"] = url
        if relative.endswith(INDEXED) and "indexURL" not in igv:
            igv["indexURL"] = url + ("&" if "?" in url else "?") + "index=1"
        track = {"applied_rules": applied, "igv": igv}
        for key in ("presets", "show", "type", "description"):
            if key in entry:
                track[key] = entry[key]
        result[track_id] = track
    return result


# -- reference resources -------------------------------------------------------------------------

@router.route("GET", f"{API}/igv/search/",
              summary="Locus of a gene symbol or transcript name for igv.js search")
def search(ctx):
    term = (ctx.request.args.get("q") or "").strip()
    if not term:
        return []
    gene = ctx.conn.execute(
        "SELECT hgnc_id FROM gene WHERE lower(hgnc_symbol) = lower(%s)", (term,)).fetchone()
    if gene is None:
        pattern = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        gene = ctx.conn.execute(
            "SELECT hgnc_id FROM gene WHERE lower(hgnc_symbol) LIKE %s "
            "ORDER BY hgnc_symbol LIMIT 1", (pattern + "%",)).fetchone()
    if gene is not None:
        row = ctx.conn.execute(
            "SELECT chromosome, min(tx_start), max(tx_end) FROM transcript WHERE gene_id = %s "
            "GROUP BY chromosome ORDER BY count(*) DESC, chromosome LIMIT 1",
            (gene[0],)).fetchone()
        if row:
            return [{"chromosome": row[0], "start": row[1], "end": row[2]}]
    if len(term) >= 9:
        upper = term.upper()
        escaped = upper.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        for condition, value in (("transcript_name = %s", upper),
                                 ("transcript_name LIKE %s", escaped + ".%"),
                                 ("transcript_name LIKE %s", escaped + "%")):
            row = ctx.conn.execute(
                f"SELECT chromosome, tx_start, tx_end FROM transcript WHERE {condition} "
                "ORDER BY transcript_name DESC LIMIT 1", (value,)).fetchone()
            if row:
                return [{"chromosome": row[0], "start": row[1], "end": row[2]}]
    return []


@router.route("GET", f"{API}/igv/<filename>", resource_log=False,
              summary="Reference resource file (igv.valid_resource_files) from $IGV_DATA; Range")
def resource_file(ctx, filename):
    if filename not in (ctx.config.get("igv") or {}).get("valid_resource_files", []):
        raise Forbidden("File is not in list of permitted accessible files.")
    path = inside(igv_root(ctx), filename)
    if path is None:
        raise NotFound(f"IGV resource file {filename} is not available (IGV_DATA)")
    return serve_file(ctx.request, path)



# -- dynamic tracks --------------------------------------------------------------------------------

@router.route("GET", f"{API}/igv/tracks/dynamic/genepanel/<gp_name>/<gp_version>/",
              access="genepanel", summary="Gene panel transcripts as BED12")
def genepanel_track(ctx, gp_name, gp_version):
    require_working_genepanel(ctx.conn, ctx.user, gp_name, gp_version)
    refuse_if_limited(ctx, "DYNAMIC/genepanel")
    rows = ctx.conn.execute(
        "SELECT t.chromosome, t.tx_start, t.tx_end, g.hgnc_symbol, t.transcript_name, t.strand, "
        "t.cds_start, t.cds_end, t.exon_starts, t.exon_ends FROM genepanel_transcript gt "
        "JOIN transcript t ON t.id = gt.transcript_id JOIN gene g ON g.hgnc_id = t.gene_id "
        "WHERE gt.genepanel_name = %s AND gt.genepanel_version = %s",
        (gp_name, gp_version)).fetchall()
    lines = []
    seen = set()
    for (chrom, start, end, symbol, transcript, strand, cds_start, cds_end, exon_starts,
         exon_ends) in sorted(rows, key=lambda r: (chromosome_key(r[0]), r[1], r[4])):
        if transcript in seen:
            continue
        seen.add(transcript)
        exons = sorted(zip(exon_starts or [], exon_ends or []))
        thick_start = cds_start if cds_start is not None else start
        thick_end = cds_end if cds_end is not None else start
        lines.append("\t".join(str(v) for v in (
            chrom, start, end, f"{symbol}({transcript})", 0, strand, thick_start, thick_end,
            0, len(exons), ",".join(str(e - s) for s, e in exons) + ",",
            ",".join(str(s - start) for s, _ in exons) + ",")))
    return text_file("".join(line + "\n" for line in lines), "genepanel.bed")


@router.route("GET", f"{API}/igv/tracks/dynamic/classifications/", resource_log=False,
              summary="Current classifications as GFF3 (cacheable 30 min)")
def classifications_track(ctx):
    limited = refuse_if_limited(ctx, "DYNAMIC/classifications")
    rows = ctx.conn.execute(
        "SELECT al.chromosome, al.start_position, al.open_end_position, al.genome_reference, "
        "al.vcf_pos, al.vcf_ref, al.vcf_alt, aa.classification::text, aa.date_created, "
        "al.caller_type::text, al.length "
        "FROM alleleassessment aa JOIN allele al ON al.id = aa.allele_id "
        "WHERE aa.date_superceeded IS NULL").fetchall()
    lines = ["##gff-version 3"]
    for (chrom, start, end, reference, pos, ref, alt, classification, created, caller_type,
         length) in sorted(rows, key=lambda r: (chromosome_key(r[0]), r[1], r[2])):
        if caller_type == "cnv":
            # Over the bases it deletes or duplicates, as the variants track draws it: a
            # duplication's row ends one base after its start (import.md 2.4).
            end = start + length
        # An insertion before the first base starts at -1 (import.md 2.4): GFF counts from 1.
        start = max(start, 0)
        link = f"/workflows/variants/{reference}/{chrom}-{pos}-{ref}-{alt}"
        link = quote(link, safe="/-")
        attributes = "; ".join([
            f"Name=Class {classification}",
            f"Assessment=<a href='{link}' target='_blank'>Open in ELLA</a>",
            f"Date created={created.astimezone(timezone.utc).strftime('%Y-%m-%d')}"])
        lines.append("\t".join(str(v) for v in (
            chrom, "ELLA interpretation", "Classification", start + 1, max(end, start + 1),
            ".", ".", ".", attributes)))
    # The lab's classifications: never in a proxy; in the browser for 30 minutes as in
    # ELLA, unless the track is limited to some groups.
    return text_file("".join(line + "\n" for line in lines), "classifications.gff3",
                     cache="private, no-store" if limited else "private, max-age=1800")


def _analysis_alleles(ctx, analysis_id):
    """Alleles (of the `allele_ids` query) that belong to the analysis, sorted by position."""
    require_analysis(ctx.conn, ctx.user, analysis_id)
    allele_ids = ctx.request.id_list_arg("allele_ids") or []
    if not allele_ids:
        return []
    # The analysis' variants as a set (the UNION of both genotype columns): a join on
    # `al.id IN (g.allele_id, g.secondallele_id)` compared every id with every genotype
    # (75 s for an exome's 50,000 variants).
    rows = ctx.conn.execute(
        "SELECT al.id, al.chromosome, al.start_position, al.open_end_position, "
        "al.vcf_pos, al.vcf_ref, al.vcf_alt, al.change_type::text, al.length, "
        "al.caller_type::text FROM allele al WHERE al.id = ANY(%(ids)s) "
        f"AND al.id IN ({ANALYSIS_ALLELE_IDS})",
        {"analysis_id": analysis_id, "ids": allele_ids}).fetchall()
    return sorted(rows, key=lambda r: (chromosome_key(r[1]), r[4], r[0]))


@router.route("GET", f"{API}/igv/tracks/dynamic/variants/<int:analysis_id>/",
              access="analysis", resource_log=False,
              summary="The given variants of an analysis as VCF")
def variants_track(ctx, analysis_id):
    alleles = _analysis_alleles(ctx, analysis_id)
    refuse_if_limited(ctx, "DYNAMIC/variants")
    samples = ctx.conn.execute("SELECT id, identifier FROM sample WHERE analysis_id = %s "
                               "ORDER BY id", (analysis_id,)).fetchall()
    # One column per sample identifier (api.md 2.14; a VCF's names are unique): a patient's
    # SNV and CNV files are two sample rows of one identifier, each holding its own variants.
    columns_of = {}
    for sample_id, identifier in samples:
        columns_of.setdefault(identifier, []).append(sample_id)
    data = {}
    if alleles:
        for allele_id, sample_id, gt_type, copy_number, quality, filter_status in \
                ctx.conn.execute(
                    "SELECT CASE WHEN gsd.secondallele THEN g.secondallele_id ELSE g.allele_id "
                    "END, gsd.sample_id, gsd.type::text, gsd.copy_number, g.variant_quality, "
                    "g.filter_status FROM genotype g JOIN sample s ON s.id = g.sample_id "
                    "JOIN genotypesampledata gsd ON gsd.genotype_id = g.id "
                    "WHERE s.analysis_id = %s ORDER BY g.id", (analysis_id,)):
            data[(allele_id, sample_id)] = (gt_type, copy_number)
            # A variant in two VCFs: the site's QUAL and FILTER of the first deposited.
            data.setdefault((allele_id, "site"), (quality, filter_status))
    lines = [
        "##fileformat=VCFv4.1",
        '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="Type of structural variant">',
        '##INFO=<ID=SVLEN,Number=.,Type=Integer,Description="Difference in length between '
        'REF and ALT alleles">',
        '##INFO=<ID=END,Number=1,Type=Integer,Description="End position of the variant">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=CN,Number=1,Type=Integer,Description="Copy number">',
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]
                  + list(columns_of)),
    ]
    for (allele_id, chrom, start, end, pos, ref, alt, change_type, length,
         caller_type) in alleles:
        quality, filter_status = data.get((allele_id, "site"), (None, None))
        cnv = caller_type == "cnv"
        info = "."
        if cnv:
            svtype = change_type.split("_")[0].upper()
            svlen = -length if change_type.startswith("del") else length
            # END as the caller wrote it: POS (the padding base) + |SVLEN| (VCF 4.2 1.4.5).
            # Not the allele row's end: a duplication's ends one base after its start
            # (import.md 2.4), and a deletion's at pos0 + length, one base short.
            info = f"SVTYPE={svtype};SVLEN={svlen};END={pos + length}"
        columns = []
        for sample_ids in columns_of.values():
            gt_type, copy_number = next(
                (data[(allele_id, s)] for s in sample_ids if (allele_id, s) in data),
                (None, None))
            # A sample seen without the variant is 0/0; only one without coverage (or no
            # data) is missing, ./. (ELLA's spec writes 0/1 for all but Homozygous).
            gt = {"Homozygous": "1/1", "Heterozygous": "0/1", "Reference": "0/0"}.get(
                gt_type, "./.")
            if cnv and svtype == "DUP" and gt_type == "Reference" and (copy_number or 0) > 2:
                # Called without GT and its CN gave no type (a sample of unknown sex on X:
                # stored as Reference, import.md 2.9), it still counts as present by its
                # copy number (2.7): not 0/0, no variant, but as called.
                gt = "./."
            if cnv:
                gt += ":" + ("." if copy_number is None else str(copy_number))
            columns.append(gt)
        lines.append("\t".join([
            chrom, str(pos), ".", ref, alt, "." if quality is None else str(quality),
            filter_status or ".", info, "GT:CN" if cnv else "GT"] + columns))
    return text_file("".join(line + "\n" for line in lines), "analysis-variants.vcf")


@router.route("GET", f"{API}/igv/tracks/dynamic/regions_of_interest/<int:analysis_id>/",
              access="analysis", resource_log=False,
              summary="The given variants of an analysis as BED regions")
def regions_of_interest_track(ctx, analysis_id):
    alleles = _analysis_alleles(ctx, analysis_id)
    refuse_if_limited(ctx, "DYNAMIC/regions_of_interest")
    # An insertion before the first base starts at -1 (import.md 2.4): a BED start is not
    # negative, so it covers the first base.
    lines = [f"{chrom}\t{max(start, 0)}\t{max(start + length, max(start, 0) + 1)}\n"
             for _, chrom, start, _, _, _, _, _, length, _ in alleles]
    return text_file("".join(lines), "analysis-regions-of-interest.bed")


# -- static and analysis track files --------------------------------------------------------------

def _static_file(ctx, *parts):
    root = igv_root(ctx)
    tracks = _dir(os.path.join(root, "tracks")) if root else None
    relative = "/".join(parts)
    if tracks is None:
        raise NotFound(f"No static track {relative}")
    # Access first: a hidden track answers the same whether it exists or not, so its name
    # (often a sample's) cannot be confirmed by guessing.
    applied, entry = merged_track_config(load_track_config(root), f"STATIC/{relative}")
    if not applied or not visible_to(entry, group_name(ctx)):
        raise Forbidden("not authorized")
    if inside(tracks, *parts) is None:
        raise NotFound(f"No static track {relative}")
    return serve_track(ctx.request, tracks, list(parts))


def _analysis_file(ctx, analysis_id, *parts):
    name, _, _ = require_analysis(ctx.conn, ctx.user, analysis_id)
    # Before looking for the file: a limited track answers alike whether it exists or not.
    refuse_if_limited(ctx, "ANALYSIS/" + "/".join(parts))
    root = analysis_tracks_root(ctx, name)
    if root is None:
        raise NotFound("Requested analysis id doesn't contain any tracks.")
    return serve_track(ctx.request, root, list(parts), cache=PATIENT_FILE_CACHE)


def _register_file_routes():
    for depth in range(MAX_SUBDIRS + 1):
        dirs = [f"dir_{chr(ord('a') + i)}" for i in range(depth)]
        segments = "".join(f"<{d}>/" for d in dirs)

        def static(ctx, _dirs=tuple(dirs), filepath=None, **kw):
            return _static_file(ctx, *[kw[d] for d in _dirs], filepath)
        static.__name__ = f"static_track_file_{depth}" if depth else "static_track_file"
        router.add("GET", f"{API}/igv/tracks/static/{segments}<filepath>", static,
                   access="track-groups", resource_log=False,
                   summary="Static track file from $IGV_DATA/tracks (index=1, Range)")

        def analysis(ctx, analysis_id, _dirs=tuple(dirs), filename=None, **kw):
            return _analysis_file(ctx, analysis_id, *[kw[d] for d in _dirs], filename)
        analysis.__name__ = f"analysis_track_file_{depth}" if depth else "analysis_track_file"
        router.add("GET", f"{API}/igv/tracks/analyses/<int:analysis_id>/{segments}<filename>",
                   analysis, access="analysis", resource_log=False,
                   summary="Analysis track file from $ANALYSES_PATH/<analysis>/tracks "
                           "(index=1, Range)")


_register_file_routes()
