"""Attachments and IGV routes (api.md 2.13, 2.14, 4.25, 4.28; README "Routes"): behaviour
pinned at its edges (who an upload is recorded for, what an upload leaves in the storage,
byte-range bounds, which variants and tracks a user is given)."""

import copy
import hashlib
import json
import os

import psycopg
import pytest

from api_helpers import add_user, logged_in_client
from ella.web.app import create_app
from ella.web.multipart import CHUNK

BOUNDARY = "----ellaPinnedBoundary9QX2"
DELIMITER = f"--{BOUNDARY}".encode()


def part(name, data, filename=None, content_type=None):
    disposition = f'Content-Disposition: form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = disposition + (f"\r\nContent-Type: {content_type}" if content_type else "")
    return DELIMITER + b"\r\n" + head.encode() + b"\r\n\r\n" + data + b"\r\n"


def form(*parts):
    return b"".join(parts) + DELIMITER + b"--\r\n"


def post_form(client, body, headers=None):
    return client.request("POST", "/api/v1/attachments/upload/", raw=body, headers=headers,
                          content_type=f"multipart/form-data; boundary={BOUNDARY}")


def upload(client, filename, data):
    return post_form(client, form(part("file", data, filename)))


def rows(db_url):
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT id, sha256, filename, size, user_id FROM attachment "
                            "ORDER BY id").fetchall()


def left_in_tmp(storage):
    tmp = storage / "tmp"
    return sorted(os.listdir(tmp)) if tmp.exists() else []


@pytest.fixture
def uploader(attach_app, storage, db_url):
    add_user(db_url, "pinned_uploader", "pinned_group")
    return logged_in_client(attach_app(storage), db_url, "pinned_uploader")


# -- attachments: the row -------------------------------------------------------------------

def test_an_upload_is_recorded_for_the_user_who_sent_it(attach_app, storage, db_url):
    """api.md 4.28: the attachment row's `user_id` is the caller's, and the list's `user`
    (api.md 3.5 Attachment) is that user, here one whose id is not its group's id."""
    for n in range(3):
        add_user(db_url, f"pinned_other{n}", "pinned_others")
    user_id = add_user(db_url, "pinned_sender", "pinned_sender_group")
    with psycopg.connect(db_url) as conn:
        group_id = conn.execute('SELECT group_id FROM "user" WHERE id = %s',
                                (user_id,)).fetchone()[0]
    assert group_id != user_id
    client = logged_in_client(attach_app(storage), db_url, "pinned_sender")
    attachment_id = upload(client, "evidence.pdf", b"%PDF-1.4 evidence").json["id"]
    assert [r[4] for r in rows(db_url) if r[0] == attachment_id] == [user_id]
    [item] = client.get("/api/v1/attachments/", query={"q": {"id": [attachment_id]}}).json
    assert (item["user"]["id"], item["user"]["username"]) == (user_id, "pinned_sender")


def test_two_file_fields_store_the_first_and_leave_no_temporary_file(uploader, storage,
                                                                     db_url):
    """api.md 2.13: the upload is the multipart field `file`; a form with two such parts
    stores the first one, and README (storage: uploads in progress in `tmp/`) nothing of
    the other stays behind in `tmp/`."""
    body = form(part("file", b"first file", "first.txt"),
                part("file", b"second file", "second.txt"))
    result = post_form(uploader, body)
    assert result.status == 200, result.body
    [row] = rows(db_url)
    assert row[1:4] == (hashlib.sha256(b"first file").hexdigest(), "first.txt", 10)
    assert left_in_tmp(storage) == []


def test_a_body_cut_off_after_the_file_part_is_400_and_leaves_nothing(uploader, storage,
                                                                      db_url):
    """README "Routes": a body that ends early (the client gone) is a 400 and leaves
    nothing, also when it ends right after the file's part, before the closing delimiter."""
    body = part("file", b"complete file bytes", "a.txt") + DELIMITER
    result = post_form(uploader, body)
    assert result.status == 400, result.body
    assert rows(db_url) == [] and left_in_tmp(storage) == []


@pytest.mark.parametrize("before_edge", [1, 2, 5, len(DELIMITER), len(DELIMITER) + 1])
def test_a_delimiter_across_a_read_boundary_ends_the_file(uploader, storage, db_url,
                                                          before_edge):
    """README "Routes": the upload is streamed in chunks; the delimiter that ends the file
    may arrive split over two reads, and the stored file is exactly the uploaded bytes."""
    head = part("file", b"", "edge.bin")[:-2]  # the part up to its data
    size = CHUNK - len(head) - before_edge
    data = bytes(range(251)) * (size // 251) + b"z" * (size % 251)
    body = form(part("file", data, "edge.bin"))
    result = post_form(uploader, body)
    assert result.status == 200, result.body
    [row] = rows(db_url)
    assert row[1:4] == (hashlib.sha256(data).hexdigest(), "edge.bin", len(data))
    assert uploader.get(f"/api/v1/attachments/{row[0]}").body == data


def test_form_fields_beyond_64_kib_around_the_file_are_413(attach_app, storage, db_url):
    """README "Routes": the file may have up to app.max_upload_size bytes, with up to
    64 KiB of form around it (413 beyond): a form field of 64 KiB beside a small file is
    too much, one of 60 KiB is taken."""
    add_user(db_url, "pinned_former", "pinned_group")
    client = logged_in_client(attach_app(storage, max_upload_size=1024 * 1024), db_url,
                              "pinned_former")
    small = form(part("note", b"n" * (60 * 1024)), part("file", b"file", "f.txt"))
    assert post_form(client, small).status == 200
    large = form(part("note", b"n" * (64 * 1024)), part("file", b"file", "g.txt"))
    result = post_form(client, large)
    assert result.status == 413 and "form around the file" in result.json["message"]
    assert [r[2] for r in rows(db_url)] == ["f.txt"]
    assert left_in_tmp(storage) == []


def test_a_filename_star_of_an_unknown_charset_is_400(uploader, storage, db_url):
    """README "Routes": `filename*` (RFC 5987, UTF-8'' or ISO-8859-1'') is read for the
    name; one in another charset is a malformed upload: 400, nothing stored, not a 500."""
    body = (DELIMITER + b"\r\nContent-Disposition: form-data; name=\"file\"; "
            b"filename*=x-no-such-charset''a.txt\r\n\r\ndata\r\n" + DELIMITER + b"--\r\n")
    result = post_form(uploader, body)
    assert result.status == 400, result.body
    assert rows(db_url) == [] and left_in_tmp(storage) == []


# -- attachments: the storage ---------------------------------------------------------------

def test_a_storage_directory_that_does_not_exist_is_503_and_is_not_made(attach_app,
                                                                        tmp_path, db_url):
    """README (Attachments: a directory that must exist): a storage directory that is not
    there (an unmounted volume) is a 503 naming it; the upload does not make it and store
    the file elsewhere than the lab's storage."""
    missing = tmp_path / "not-mounted"
    add_user(db_url, "pinned_mountless", "pinned_group")
    client = logged_in_client(attach_app(missing), db_url, "pinned_mountless")
    result = upload(client, "a.txt", b"evidence")
    assert result.status == 503, result.body
    assert "does not exist" in result.json["message"]
    assert not missing.exists() and rows(db_url) == []


def test_a_file_missing_from_the_storage_is_404_not_503(uploader, storage):
    """README "Routes": download answers 404 only for a file that is not there (503 for
    one that cannot be read): a file gone from the storage is a 404 saying so."""
    data = b"to be lost"
    attachment_id = upload(uploader, "lost.txt", data).json["id"]
    digest = hashlib.sha256(data).hexdigest()
    os.remove(storage / digest[:2] / digest)
    result = uploader.get(f"/api/v1/attachments/{attachment_id}")
    assert result.status == 404, result.body
    assert "missing from the storage" in result.json["message"]


def test_only_temporary_files_of_uploads_are_swept(uploader, storage):
    """README "Routes": an upload first removes the temporary files of uploads killed more
    than a day ago from the storage's `tmp/`; another old file there whose name merely
    begins like one (32 hex digits and more) is not one of them and stays."""
    tmp = storage / "tmp"
    tmp.mkdir()
    old = os.stat(storage).st_mtime - 25 * 3600
    stale, lookalike = tmp / ("ef" * 16), tmp / (("ef" * 16) + ".keep")
    for path in (stale, lookalike):
        path.write_bytes(b"x")
        os.utime(path, (old, old))
    assert upload(uploader, "a.txt", b"content").status == 200
    assert os.listdir(tmp) == [lookalike.name]


def test_a_failing_thumbnail_tool_gives_no_thumbnail(uploader, storage, tmp_path,
                                                     monkeypatch):
    """api.md 4.28 / README: a thumbnail is made when possible; when ImageMagick fails
    (here: it writes a partial output, then exits 1) the thumbnail is null."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "convert"
    fake.write_text("#!/bin/sh\n"
                    "for a in \"$@\"; do last=\"$a\"; done\n"
                    "printf 'partial' > \"${last#jpeg:}\"\n"
                    "exit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    data = b"\x89PNG\r\n\x1a\n broken image"
    attachment_id = upload(uploader, "broken.png", data).json["id"]
    digest = hashlib.sha256(data).hexdigest()
    assert not (storage / digest[:2] / f"{digest}.thumbnail").exists()
    [item] = uploader.get("/api/v1/attachments/", query={"q": {"id": [attachment_id]}}).json
    assert item["thumbnail"] is None


# -- IGV ------------------------------------------------------------------------------------

FASTA = b">1\n" + b"ACGT" * 25 + b"\n"
IGV_CONFIG = {
    "STATIC/.*": {"url": "/api/v1/igv/tracks/static/<TRACK_FILEPATH>",
                  "limit_to_groups": None},
    "ANALYSIS/.*": {"url": "/api/v1/igv/tracks/analyses/<ANALYSIS_ID>/<TRACK_FILEPATH>",
                    "limit_to_groups": None},
    "DYNAMIC/variants": {"url": "/api/v1/igv/tracks/dynamic/variants/<ANALYSIS_ID>/",
                         "limit_to_groups": None},
}


@pytest.fixture
def igv_dirs(tmp_path, igv_analysis):
    igv = tmp_path / "igv-data"
    (igv / "tracks").mkdir(parents=True)
    (igv / "human_g1k_v37_decoy.fasta").write_bytes(FASTA)
    (igv / "tracks" / "common.bed").write_text("1\t10\t20\n")
    (igv / "track_config.json").write_text(json.dumps(IGV_CONFIG))
    analyses = tmp_path / "analyses"
    (analyses / igv_analysis[1] / "tracks").mkdir(parents=True)
    (analyses / igv_analysis[1] / "tracks" / "sample.bam").write_bytes(b"BAM")
    return {"igv": igv, "analyses": analyses}


@pytest.fixture
def igv_user(adopted_demo_db_url, ella_config, igv_dirs):
    app = create_app(copy.deepcopy(ella_config), {
        "DB_URL": adopted_demo_db_url, "COOKIE_SECURE": False,
        "IGV_DATA": str(igv_dirs["igv"]), "ANALYSES_PATH": str(igv_dirs["analyses"])})
    yield logged_in_client(app, adopted_demo_db_url, "testuser1")
    app._drop_connection()


def write_track_config(igv_dirs, config):
    (igv_dirs["igv"] / "track_config.json").write_text(json.dumps(config))


def fasta_range(client, value):
    return client.get("/api/v1/igv/human_g1k_v37_decoy.fasta", headers={"HTTP_RANGE": value})


def test_byte_ranges_at_the_edges_of_the_file(igv_user):
    """api.md 4.25 / README "Routes" (206 for a byte range, 416 for a range outside it),
    RFC 9110 14.1: `bytes=0-0` is the first byte; a last position equal to the size, or a
    suffix longer than the file, means up to its end; a suffix of 0 bytes is 416."""
    size = len(FASTA)
    first = fasta_range(igv_user, "bytes=0-0")
    assert (first.status, first.body, first.header("Content-Range")) == (
        206, FASTA[:1], f"bytes 0-0/{size}")
    last = fasta_range(igv_user, f"bytes={size - 1}-{size - 1}")
    assert (last.status, last.body) == (206, FASTA[-1:])
    for value in (f"bytes=2-{size}", f"bytes=2-{size + 1}"):
        to_end = fasta_range(igv_user, value)
        assert (to_end.status, to_end.body, to_end.header("Content-Range")) == (
            206, FASTA[2:], f"bytes 2-{size - 1}/{size}"), value
        assert to_end.header("Content-Length") == str(size - 2)
    for value in (f"bytes=-{size}", f"bytes=-{size + 50}"):
        suffix = fasta_range(igv_user, value)
        assert (suffix.status, suffix.body, suffix.header("Content-Range")) == (
            206, FASTA, f"bytes 0-{size - 1}/{size}"), value
    nothing = fasta_range(igv_user, "bytes=-0")
    assert (nothing.status, nothing.header("Content-Range")) == (416, f"bytes */{size}")


def _allele_of_another_analysis(db_url, analysis_id):
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT g.allele_id FROM genotype g JOIN sample s ON s.id = g.sample_id "
            "WHERE s.analysis_id <> %(a)s AND g.allele_id NOT IN (SELECT g2.allele_id FROM "
            "genotype g2 JOIN sample s2 ON s2.id = g2.sample_id WHERE s2.analysis_id = %(a)s) "
            "ORDER BY g.allele_id LIMIT 1", {"a": analysis_id}).fetchone()[0]


def _allele_of_the_analysis(db_url, analysis_id):
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT g.allele_id FROM genotype g JOIN sample s ON s.id = g.sample_id "
            "WHERE s.analysis_id = %s ORDER BY g.allele_id LIMIT 1", (analysis_id,)).fetchone()[0]


def test_dynamic_tracks_leave_out_variants_of_other_analyses(igv_user, igv_analysis,
                                                             adopted_demo_db_url):
    """api.md 2.14: the variants and regions tracks are the given variants *of the
    analysis*: an allele id of another analysis' patient in `allele_ids` is left out."""
    analysis_id = igv_analysis[0]
    own = _allele_of_the_analysis(adopted_demo_db_url, analysis_id)
    foreign = _allele_of_another_analysis(adopted_demo_db_url, analysis_id)
    ids = f"{own},{foreign}"
    vcf = igv_user.get(f"/api/v1/igv/tracks/dynamic/variants/{analysis_id}/",
                       query={"allele_ids": ids})
    assert vcf.status == 200
    records = [line for line in vcf.body.decode().splitlines() if not line.startswith("#")]
    bed = igv_user.get(f"/api/v1/igv/tracks/dynamic/regions_of_interest/{analysis_id}/",
                       query={"allele_ids": ids})
    assert bed.status == 200
    assert len(records) == 1 and len(bed.body.decode().splitlines()) == 1
    with psycopg.connect(adopted_demo_db_url) as conn:
        chrom, pos = conn.execute("SELECT chromosome, vcf_pos FROM allele WHERE id = %s",
                                  (own,)).fetchone()
    assert records[0].split("\t")[:2] == [chrom, str(pos)]


def test_igv_options_of_matching_entries_are_merged_key_by_key(igv_user, igv_dirs,
                                                               igv_analysis):
    """api.md 4.25: all matching entries are merged in file order, `igv` sub-objects merged
    key-wise (a later entry's igv options add to, and override, an earlier one's)."""
    config = dict(IGV_CONFIG)
    config["STATIC/.*"] = dict(IGV_CONFIG["STATIC/.*"], igv={"color": "red", "height": 40})
    config["STATIC/common"] = {"igv": {"color": "blue"}}
    write_track_config(igv_dirs, config)
    tracks = igv_user.get(f"/api/v1/igv/tracks/{igv_analysis[0]}/").json
    track = tracks["STATIC/common.bed"]
    assert track["applied_rules"] == ["STATIC/.*", "STATIC/common"]
    assert track["igv"] == {"name": "STATIC/common.bed", "color": "blue", "height": 40,
                            "url": "/api/v1/igv/tracks/static/common.bed"}


def test_track_config_regexes_match_from_the_start(igv_user, igv_dirs, igv_analysis):
    """api.md 4.25: keys are regexes matched from the start of the track id: `common` does
    not apply to `STATIC/common.bed` (it would limit the track to no group)."""
    config = dict(IGV_CONFIG)
    config["common"] = {"limit_to_groups": []}
    write_track_config(igv_dirs, config)
    tracks = igv_user.get(f"/api/v1/igv/tracks/{igv_analysis[0]}/").json
    assert tracks["STATIC/common.bed"]["applied_rules"] == ["STATIC/.*"]
    assert igv_user.get("/api/v1/igv/tracks/static/common.bed").status == 200


def test_hidden_track_files_are_not_offered(igv_user, igv_dirs, igv_analysis):
    """README "Routes": hidden files and folders are neither offered nor served: the track
    list leaves out `.backup.bed` and `.snapshot/x.bed` (static) and `.old.bam` (analysis)."""
    tracks = igv_dirs["igv"] / "tracks"
    (tracks / ".backup.bed").write_text("1\t1\t2\n")
    (tracks / ".snapshot").mkdir()
    (tracks / ".snapshot" / "x.bed").write_text("1\t1\t2\n")
    (igv_dirs["analyses"] / igv_analysis[1] / "tracks" / ".old.bam").write_bytes(b"BAM")
    listed = igv_user.get(f"/api/v1/igv/tracks/{igv_analysis[0]}/").json
    assert sorted(listed) == ["ANALYSIS/sample.bam", "DYNAMIC/variants", "STATIC/common.bed"]


def test_a_gene_panel_track_limited_to_other_groups_is_403(igv_user, igv_dirs):
    """README "Routes": a track the track config's `limit_to_groups` keeps from the caller's
    group is not served by URL either, 403: dynamic tracks alike (the panel track)."""
    config = dict(IGV_CONFIG)
    config["DYNAMIC/genepanel"] = {"url": "x", "limit_to_groups": ["testgroup02"]}
    write_track_config(igv_dirs, config)
    result = igv_user.get("/api/v1/igv/tracks/dynamic/genepanel/HBOC/v01/")
    assert (result.status, result.json) == (403, {"message": "not authorized"})
    del config["DYNAMIC/genepanel"]
    write_track_config(igv_dirs, config)
    assert igv_user.get("/api/v1/igv/tracks/dynamic/genepanel/HBOC/v01/").status == 200


def test_search_takes_transcript_names_of_nine_characters(igv_user, adopted_demo_db_url):
    """api.md 4.25: for terms of >= 9 characters (and no gene symbol), a transcript named
    `TERM.*` is found: a 9-character RefSeq name without its version gives its locus."""
    with psycopg.connect(adopted_demo_db_url) as conn:
        name, chrom, start, end = conn.execute(
            "SELECT transcript_name, chromosome, tx_start, tx_end FROM transcript "
            "WHERE transcript_name ~ '^[A-Z]{2}_[0-9]{6}[.]' AND NOT EXISTS (SELECT 1 FROM "
            "gene WHERE lower(hgnc_symbol) LIKE lower(split_part(transcript_name, '.', 1)) "
            "|| '%%') ORDER BY transcript_name DESC LIMIT 1").fetchone()
    term = name.split(".")[0]
    assert len(term) == 9
    found = igv_user.get("/api/v1/igv/search/", query={"q": term.lower()}).json
    assert len(found) == 1 and found[0]["chromosome"] == chrom


def test_classifications_track_shows_only_current_classifications(igv_user,
                                                                  adopted_demo_db_url):
    """api.md 4.25: the classifications track is one line per *current* allele assessment:
    one superseded by a newer classification is not drawn (its old class would show)."""
    with psycopg.connect(adopted_demo_db_url) as conn:
        assessment_id, chrom, pos, ref, alt = conn.execute(
            "SELECT aa.id, al.chromosome, al.vcf_pos, al.vcf_ref, al.vcf_alt FROM "
            "alleleassessment aa JOIN allele al ON al.id = aa.allele_id "
            "WHERE aa.date_superceeded IS NULL AND al.caller_type = 'snv' "
            "ORDER BY aa.id LIMIT 1").fetchone()
        conn.execute("UPDATE alleleassessment SET date_superceeded = now() WHERE id = %s",
                     (assessment_id,))
        current = conn.execute("SELECT count(*) FROM alleleassessment "
                               "WHERE date_superceeded IS NULL").fetchone()[0]
    body = igv_user.get("/api/v1/igv/tracks/dynamic/classifications/").body.decode()
    records = [line for line in body.splitlines() if not line.startswith("#")]
    assert len(records) == current
    assert not [r for r in records if f"/{chrom}-{pos}-{ref}-{alt}'" in r]
