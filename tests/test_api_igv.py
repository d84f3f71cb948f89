"""IGV routes (api.md 2.14, 4.25) on the real ELLA database, with temporary IGV_DATA and
ANALYSES_PATH folders."""

import copy
import json
import os
from urllib.parse import unquote

import psycopg
import pytest

from api_client import Client
from api_helpers import logged_in_client
from ella.migrate import adopt
from ella.web.app import create_app

FASTA = b">1\n" + b"ACGT" * 250 + b"\n"

TRACK_CONFIG = {
    "STATIC/.*": {"url": "/api/v1/igv/tracks/static/<TRACK_FILEPATH>",
                  "limit_to_groups": None, "presets": ["Default"]},
    "STATIC/private/": {"limit_to_groups": ["testgroup02"], "igv": {"color": "red"}},
    "STATIC/hidden": {"limit_to_groups": []},
    "ANALYSIS/.*": {"url": "/api/v1/igv/tracks/analyses/<ANALYSIS_ID>/<TRACK_FILEPATH>",
                    "limit_to_groups": None, "show": True},
    "DYNAMIC/variants": {"url": "/api/v1/igv/tracks/dynamic/variants/<ANALYSIS_ID>/"
                                "?allele_ids=<ALLELE_IDS>",
                         "limit_to_groups": None, "show": True, "igv": {"name": "Variants",
                                                                        "type": "variant"}},
    "DYNAMIC/genepanel": {"url": "/api/v1/igv/tracks/dynamic/genepanel/<GENEPANEL_NAME>/"
                                 "<GENEPANEL_VERSION>/",
                          "limit_to_groups": ["testgroup01"], "description": "Panel"},
    "DYNAMIC/regions_of_interest": {"url": "x", "type": "roi"},  # no limit_to_groups: hidden
}


@pytest.fixture
def dirs(tmp_path, igv_analysis):
    igv = tmp_path / "igv-data"
    tracks = igv / "tracks"
    (tracks / "private").mkdir(parents=True)
    (tracks / "sub" / "deeper").mkdir(parents=True)
    (igv / "human_g1k_v37_decoy.fasta").write_bytes(FASTA)
    (igv / "cytoBand.txt").write_text("1\t0\t100\tp36\tgneg\n")
    (igv / "not_listed.txt").write_text("secret\n")
    (tracks / "common.bed").write_text("1\t10\t20\n")
    (tracks / "reads.bam").write_bytes(b"BAM\x01" + bytes(100))
    (tracks / "reads.bai").write_bytes(b"BAI\x01")
    (tracks / "calls.vcf.gz").write_bytes(b"\x1f\x8bvcf")
    (tracks / "calls.vcf.gz.tbi").write_bytes(b"TBI\x01")
    (tracks / "hidden.bed").write_text("1\t1\t2\n")
    (tracks / "notes.txt").write_text("not a track\n")
    (tracks / "private" / "p.bed").write_text("1\t5\t6\n")
    (tracks / "sub" / "deeper" / "nested.bw").write_bytes(b"BW")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "escape.bed").write_text("stolen\n")
    os.symlink(outside / "escape.bed", tracks / "escape.bed")
    os.symlink(outside, tracks / "linkdir")
    (igv / "track_config.json").write_text(json.dumps(TRACK_CONFIG))
    analyses = tmp_path / "analyses"
    atracks = analyses / igv_analysis[1] / "tracks"
    atracks.mkdir(parents=True)
    (atracks / "sample.bam").write_bytes(b"ANALYSISBAM")
    (atracks / "sample.bam.bai").write_bytes(b"ANALYSISBAI")
    return {"igv": igv, "analyses": analyses, "outside": outside, "tmp": tmp_path}


@pytest.fixture
def make_app(demo_db_url, ella_config):
    with psycopg.connect(demo_db_url) as conn:
        adopt(conn, ella_config, echo=lambda *_: None)
    apps = []

    def build(igv_data=None, analyses_path=None):
        app = create_app(copy.deepcopy(ella_config), {
            "DB_URL": demo_db_url, "COOKIE_SECURE": False,
            "IGV_DATA": str(igv_data) if igv_data else None,
            "ANALYSES_PATH": str(analyses_path) if analyses_path else None})
        apps.append(app)
        return app

    yield build
    for app in apps:
        app._drop_connection()


@pytest.fixture
def app(make_app, dirs):
    return make_app(dirs["igv"], dirs["analyses"])


@pytest.fixture
def user1(app, demo_db_url):
    return logged_in_client(app, demo_db_url, "testuser1")


@pytest.fixture
def user4(app, demo_db_url):
    return logged_in_client(app, demo_db_url, "testuser4")


# -- track configuration ---------------------------------------------------------------------

def test_track_config_for_group1(user1, igv_analysis, demo_db_url):
    analysis_id = igv_analysis[0]
    result = user1.get(f"/api/v1/igv/tracks/{analysis_id}", query={"allele_ids": "3,4"})
    assert result.status == 200, result.body
    tracks = result.json
    assert set(tracks) == {"STATIC/calls.vcf.gz", "STATIC/common.bed", "STATIC/reads.bam",
                           "STATIC/sub/deeper/nested.bw", "ANALYSIS/sample.bam",
                           "DYNAMIC/variants", "DYNAMIC/genepanel"}
    assert tracks["STATIC/common.bed"] == {
        "applied_rules": ["STATIC/.*"], "presets": ["Default"],
        "igv": {"name": "STATIC/common.bed",
                "url": "/api/v1/igv/tracks/static/common.bed"}}
    assert tracks["STATIC/reads.bam"]["igv"]["indexURL"] == \
        "/api/v1/igv/tracks/static/reads.bam?index=1"
    assert tracks["STATIC/sub/deeper/nested.bw"]["igv"]["url"] == \
        "/api/v1/igv/tracks/static/sub/deeper/nested.bw"
    assert tracks["ANALYSIS/sample.bam"]["igv"]["url"] == \
        f"/api/v1/igv/tracks/analyses/{analysis_id}/sample.bam"
    assert tracks["ANALYSIS/sample.bam"]["show"] is True
    assert tracks["DYNAMIC/variants"]["igv"] == {
        "name": "Variants", "type": "variant",
        "url": f"/api/v1/igv/tracks/dynamic/variants/{analysis_id}/?allele_ids=3,4"}
    with psycopg.connect(demo_db_url) as conn:
        name, version = conn.execute("SELECT genepanel_name, genepanel_version FROM analysis "
                                     "WHERE id = %s", (analysis_id,)).fetchone()
    assert tracks["DYNAMIC/genepanel"]["igv"]["url"] == \
        f"/api/v1/igv/tracks/dynamic/genepanel/{name}/{version}/"
    assert tracks["DYNAMIC/genepanel"]["description"] == "Panel"
    assert "limit_to_groups" not in tracks["DYNAMIC/genepanel"]


def test_track_config_group_limits_and_merging(user1, dirs, igv_analysis):
    config = dict(TRACK_CONFIG)
    config["STATIC/private/"] = {"limit_to_groups": ["testgroup01"], "igv": {"color": "red"}}
    (dirs["igv"] / "track_config.json").write_text(json.dumps(config))
    tracks = user1.get(f"/api/v1/igv/tracks/{igv_analysis[0]}/").json
    private = tracks["STATIC/private/p.bed"]
    assert private["applied_rules"] == ["STATIC/.*", "STATIC/private/"]
    assert private["igv"] == {"name": "STATIC/private/p.bed", "color": "red",
                              "url": "/api/v1/igv/tracks/static/private/p.bed"}
    assert private["presets"] == ["Default"]


def test_other_group_gets_403_on_analysis_routes(user4, igv_analysis):
    analysis_id = igv_analysis[0]
    for path in (f"/api/v1/igv/tracks/{analysis_id}/",
                 f"/api/v1/igv/tracks/dynamic/variants/{analysis_id}/?allele_ids=1",
                 f"/api/v1/igv/tracks/dynamic/regions_of_interest/{analysis_id}/",
                 f"/api/v1/igv/tracks/analyses/{analysis_id}/sample.bam"):
        path, _, query = path.partition("?")
        assert user4.get(path, query=query).status == 403, path
    assert user4.get("/api/v1/igv/tracks/dynamic/genepanel/HBOC/v01/").status == 403


def test_unknown_analysis_is_404(user1):
    assert user1.get("/api/v1/igv/tracks/999999/").status == 404


def test_empty_track_config_without_igv_data(make_app, demo_db_url, igv_analysis, tmp_path):
    empty = tmp_path / "empty-igv"
    empty.mkdir()
    for igv_data in (None, tmp_path / "missing", empty):
        client = logged_in_client(make_app(igv_data), demo_db_url, "testuser1")
        result = client.get(f"/api/v1/igv/tracks/{igv_analysis[0]}")
        assert result.status == 200 and result.json == {}, igv_data


def test_visible_track_without_url_is_an_error(user1, dirs, igv_analysis):
    config = dict(TRACK_CONFIG)
    config["DYNAMIC/classifications"] = {"limit_to_groups": None}
    (dirs["igv"] / "track_config.json").write_text(json.dumps(config))
    assert user1.get(f"/api/v1/igv/tracks/{igv_analysis[0]}/").status == 500


def test_track_config_default_file_is_the_fallback(user1, dirs, igv_analysis):
    os.rename(dirs["igv"] / "track_config.json", dirs["igv"] / "track_config_default.json")
    assert "STATIC/common.bed" in user1.get(f"/api/v1/igv/tracks/{igv_analysis[0]}/").json


# -- reference resources and byte ranges ---------------------------------------------------

def test_reference_file_full_and_ranges(user1, dirs):
    full = user1.get("/api/v1/igv/human_g1k_v37_decoy.fasta")
    assert full.status == 200 and full.body == FASTA
    assert full.header("Accept-Ranges") == "bytes"
    ranged = user1.get("/api/v1/igv/human_g1k_v37_decoy.fasta",
                       headers={"HTTP_RANGE": "bytes=3-10"})
    assert ranged.status == 206 and ranged.body == FASTA[3:11]
    assert ranged.header("Content-Range") == f"bytes 3-10/{len(FASTA)}"
    by_args = user1.get("/api/v1/igv/human_g1k_v37_decoy.fasta", query={"start": 0, "end": 2})
    assert by_args.status == 206 and by_args.body == b">1\n"
    open_end = user1.get("/api/v1/igv/human_g1k_v37_decoy.fasta",
                         headers={"HTTP_RANGE": "bytes=1000-"})
    assert open_end.body == FASTA[1000:]
    assert open_end.header("Content-Range") == f"bytes 1000-{len(FASTA) - 1}/{len(FASTA)}"
    suffix = user1.get("/api/v1/igv/cytoBand.txt", headers={"HTTP_RANGE": "bytes=-5"})
    assert suffix.status == 206 and suffix.body == b"gneg\n"
    too_far = user1.get("/api/v1/igv/cytoBand.txt", headers={"HTTP_RANGE": "bytes=5000-"})
    assert too_far.status == 416
    # RFC 9110: a suffix of an empty file is unsatisfiable; another unit or several ranges
    # are ignored (the whole file; no multipart/byteranges); an absurd number is invalid.
    (dirs["igv"] / "cytoBand.txt").write_bytes(b"")
    empty = user1.get("/api/v1/igv/cytoBand.txt", headers={"HTTP_RANGE": "bytes=-5"})
    assert (empty.status, empty.header("Content-Range")) == (416, "bytes */0")
    for header in ("items=0-3", "bytes=0-1,4-5", "bytes=5000-,0-1"):
        whole = user1.get("/api/v1/igv/human_g1k_v37_decoy.fasta",
                          headers={"HTTP_RANGE": header})
        assert (whole.status, whole.body) == (200, FASTA), header
    huge = user1.get("/api/v1/igv/human_g1k_v37_decoy.fasta",
                     headers={"HTTP_RANGE": "bytes=" + "9" * 5000 + "-"})
    assert huge.status == 416
    # A last position (or suffix length) past the file, of any length, means its end (RFC
    # 9110 14.1.1; twenty digits were a 416).
    for last in ("9" * 20, "9" * 101, "9" * 5000):
        rest = user1.get("/api/v1/igv/human_g1k_v37_decoy.fasta",
                         headers={"HTTP_RANGE": f"bytes=0-{last}"})
        assert (rest.status, rest.body) == (206, FASTA), last
        suffix = user1.get("/api/v1/igv/human_g1k_v37_decoy.fasta",
                           headers={"HTTP_RANGE": f"bytes=-{last}"})
        assert (suffix.status, suffix.body) == (206, FASTA), last
    # Byte offsets are not ids: beyond 2**31 (a file over 2 GB) they are fine.
    beyond = user1.get("/api/v1/igv/cytoBand.txt", query={"start": 2**31, "end": 2**32})
    assert beyond.status == 416 and beyond.header("Content-Range").startswith("bytes */")


@pytest.mark.parametrize("method, headers", [
    ("GET", {}), ("GET", {"HTTP_RANGE": "bytes=1-"}), ("HEAD", {})])
def test_large_files_are_streamed_in_chunks(user1, dirs, method, headers):
    """A reference genome or BAM file is gigabytes: sent in bounded chunks (HEAD sends
    nothing), never read whole; the file is closed when the server closes the body."""
    import tracemalloc

    from ella.web.http import FileResponse
    size = 32 * 1024 * 1024
    with open(dirs["igv"] / "human_g1k_v37_decoy.fasta", "wb") as f:
        f.truncate(size)  # sparse: no disk used
    tracemalloc.start()
    try:
        captured, body = user1.open(method, "/api/v1/igv/human_g1k_v37_decoy.fasta",
                                    headers=headers)
        sizes = [len(chunk) for chunk in body]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        if hasattr(body, "close"):
            body.close()
    expected = 0 if method == "HEAD" else size - (1 if headers else 0)
    assert sum(sizes) == expected and max(sizes) <= FileResponse.CHUNK
    assert dict(captured["headers"])["Content-Length"] == str(size - (1 if headers else 0))
    assert peak < 4 * FileResponse.CHUNK, f"peak {peak / 2**20:.1f} MiB"


def test_a_file_replaced_while_served_is_one_file_s_length_and_bytes(user1, dirs,
                                                                      monkeypatch):
    """The size was taken from the path and the file then opened: a re-run of
    ella-igv-download renaming a new file into place between the two answered one file's
    Content-Length with the other's bytes."""
    import ella.web.routes.igv as igv_module
    path = dirs["igv"] / "human_g1k_v37_decoy.fasta"
    replacement = b">1\nNNNNNNNNNN\n"

    def replaced_then_opened(name, *args, **kwargs):
        if os.path.realpath(name) == os.path.realpath(path):
            staged = path.with_name(".new")
            staged.write_bytes(replacement)
            os.replace(staged, path)  # as ella-igv-download puts a file in place
        return open(name, *args, **kwargs)

    monkeypatch.setattr(igv_module, "open", replaced_then_opened, raising=False)
    result = user1.get("/api/v1/igv/human_g1k_v37_decoy.fasta")
    assert (result.status, result.header("Content-Length"), result.body) == (
        200, str(len(replacement)), replacement)


def test_reference_file_must_be_listed(user1):
    result = user1.get("/api/v1/igv/not_listed.txt")
    assert result.status == 403
    assert result.json["message"] == "File is not in list of permitted accessible files."
    assert user1.get("/api/v1/igv/..").status == 403
    assert user1.get("/api/v1/igv/%2e%2e").status == 403


def test_listed_reference_file_outside_igv_data_is_not_served(make_app, demo_db_url, dirs,
                                                              ella_config):
    os.remove(dirs["igv"] / "cytoBand.txt")
    os.symlink(dirs["outside"] / "escape.bed", dirs["igv"] / "cytoBand.txt")
    client = logged_in_client(make_app(dirs["igv"]), demo_db_url, "testuser1")
    assert client.get("/api/v1/igv/cytoBand.txt").status == 404
    unset = logged_in_client(make_app(None), demo_db_url, "testuser1")
    assert unset.get("/api/v1/igv/human_g1k_v37_decoy.fasta").status == 404


def test_igv_data_routes_are_not_resource_logged(user1, igv_analysis, demo_db_url):
    with psycopg.connect(demo_db_url) as conn:
        before = conn.execute("SELECT coalesce(max(id), 0) FROM resourcelog").fetchone()[0]
    user1.get("/api/v1/igv/cytoBand.txt")
    user1.get("/api/v1/igv/tracks/static/common.bed")
    user1.get("/api/v1/igv/tracks/dynamic/classifications/")
    user1.get(f"/api/v1/igv/tracks/dynamic/variants/{igv_analysis[0]}/")
    user1.get(f"/api/v1/igv/tracks/{igv_analysis[0]}/")
    with psycopg.connect(demo_db_url) as conn:
        logged = [r[0] for r in conn.execute(
            "SELECT resource FROM resourcelog WHERE resource LIKE '/api/v1/igv/%%' AND id > %s",
            (before,))]
    assert logged == [f"/api/v1/igv/tracks/{igv_analysis[0]}/"]


def test_login_required(app):
    anonymous = Client(app)
    assert anonymous.get("/api/v1/igv/cytoBand.txt").status == 403
    assert anonymous.get("/api/v1/igv/tracks/dynamic/classifications/").status == 403
    assert anonymous.get("/api/v1/igv/tracks/static/common.bed").status == 403


# -- static and analysis track files -------------------------------------------------------

def test_static_track_files(user1):
    assert user1.get("/api/v1/igv/tracks/static/common.bed").body == b"1\t10\t20\n"
    bam = user1.get("/api/v1/igv/tracks/static/reads.bam", headers={"HTTP_RANGE": "bytes=0-3"})
    assert bam.status == 206 and bam.body == b"BAM\x01"
    assert user1.get("/api/v1/igv/tracks/static/reads.bam", query={"index": 1}).body == \
        b"BAI\x01"
    assert user1.get("/api/v1/igv/tracks/static/calls.vcf.gz", query={"index": 1}).body == \
        b"TBI\x01"
    assert user1.get("/api/v1/igv/tracks/static/common.bed", query={"index": 1}).status == 404
    assert user1.get("/api/v1/igv/tracks/static/sub/deeper/nested.bw").body == b"BW"


def test_hidden_track_files_are_not_served(user1, dirs, igv_analysis):
    """The track list leaves out hidden files and folders; a URL still served them (a file
    server's `.snapshot` copy, an editor's hidden backup of a patient's track)."""
    tracks = dirs["igv"] / "tracks"
    (tracks / ".old.bed").write_text("1\t1\t2\n")
    (tracks / ".snapshot").mkdir()
    (tracks / ".snapshot" / "common.bed").write_text("1\t1\t2\n")
    assert user1.get("/api/v1/igv/tracks/static/.old.bed").status == 404
    assert user1.get("/api/v1/igv/tracks/static/.snapshot/common.bed").status == 404
    assert user1.get("/api/v1/igv/tracks/static/common.bed").status == 200
    analysis_tracks = dirs["analyses"] / igv_analysis[1] / "tracks"
    (analysis_tracks / ".sample.bam").write_bytes(b"BAM\x01")
    base = f"/api/v1/igv/tracks/analyses/{igv_analysis[0]}"
    assert user1.get(f"{base}/.sample.bam").status == 404
    assert user1.get(f"{base}/sample.bam").status == 200


def test_a_track_file_name_that_is_not_utf8_is_left_out(user1, dirs, igv_analysis, caplog):
    """A track copied from a Latin-1 share (`Bj\\xf8rn.bed`) made the track list of every
    analysis a 500: its name could be neither quoted into a URL nor put into the JSON. The
    log says so once per name, not on every page."""
    from ella.web.routes import igv
    igv._SAID_NOT_UTF8.clear()  # (a worker's memory of names said)
    tracks = os.fsencode(dirs["igv"] / "tracks")
    with open(os.path.join(tracks, b"Bj\xf8rn.bed"), "w") as handle:
        handle.write("1\t1\t2\n")
    os.mkdir(os.path.join(tracks, b"\xe6ldre"))
    with open(os.path.join(tracks, b"\xe6ldre", b"x.bed"), "w") as handle:
        handle.write("1\t1\t2\n")
    for _ in range(3):
        listed = user1.get(f"/api/v1/igv/tracks/{igv_analysis[0]}")
        assert listed.status == 200, listed.body
    assert "STATIC/common.bed" in listed.json
    assert not any("rn.bed" in key or "ldre" in key for key in listed.json)
    said = [r.getMessage() for r in caplog.records if "is not UTF-8" in r.getMessage()]
    assert len(said) == 2, said  # the file and the folder, once each


def test_tracks_limited_to_other_groups_are_not_served(user1, dirs, igv_analysis):
    """The track list of a group left out a track the config limits to other groups (a
    lab's patient BAM files, the variants track), but its URL served it all the same."""
    config = dict(TRACK_CONFIG)
    config["ANALYSIS/.*\\.bam"] = {"limit_to_groups": ["testgroup03"]}
    config["DYNAMIC/variants"] = dict(TRACK_CONFIG["DYNAMIC/variants"],
                                      limit_to_groups=["testgroup03"])
    (dirs["igv"] / "track_config.json").write_text(json.dumps(config))
    analysis_id = igv_analysis[0]
    listed = user1.get(f"/api/v1/igv/tracks/{analysis_id}/").json
    assert "ANALYSIS/sample.bam" not in listed and "DYNAMIC/variants" not in listed
    base = f"/api/v1/igv/tracks/analyses/{analysis_id}"
    assert user1.get(f"{base}/sample.bam").status == 403
    assert user1.get(f"{base}/sample.bam", query={"index": 1}).status == 403
    assert user1.get(f"{base}/no-such.bam").status == 403  # alike whether it exists or not
    variants = user1.get(f"/api/v1/igv/tracks/dynamic/variants/{analysis_id}/",
                         query={"allele_ids": "1"})
    assert variants.status == 403
    # Tracks the config does not limit are served as before.
    assert user1.get(f"/api/v1/igv/tracks/dynamic/regions_of_interest/{analysis_id}/",
                     query={"allele_ids": "1"}).status == 200


def test_a_limit_naming_the_group_in_another_unicode_form_lets_it_see_its_tracks(
        user1, dirs, igv_analysis, demo_db_url):
    """A track config written on a Mac names `Ålesund` as `A` and a ring: the group's own
    limited tracks were hidden from it and refused ("not authorized")."""
    import unicodedata
    with psycopg.connect(demo_db_url) as conn:
        conn.execute("UPDATE usergroup SET name = %s WHERE id = (SELECT group_id FROM \"user\" "
                     "WHERE username = 'testuser1')", ("\u00c5lesund",))
    config = dict(TRACK_CONFIG)
    config["ANALYSIS/.*\\.bam"] = {"limit_to_groups": [unicodedata.normalize("NFD",
                                                                            "\u00c5lesund")]}
    (dirs["igv"] / "track_config.json").write_text(json.dumps(config))
    analysis_id = igv_analysis[0]
    assert "ANALYSIS/sample.bam" in user1.get(f"/api/v1/igv/tracks/{analysis_id}/").json
    assert user1.get(f"/api/v1/igv/tracks/analyses/{analysis_id}/sample.bam").status == 200


def test_limits_hold_through_linked_folders_and_in_the_browsers_cache(user1, dirs,
                                                                      igv_analysis):
    """A symbolic link to a limited folder (`alias -> private`) served its files under a
    name the limit does not match, though the track list never follows a linked folder;
    a limited classifications track stayed in the browser's cache for 30 minutes (the next
    user of a shared workstation is answered from it); a `limit_to_groups` written as a
    string let every group whose name is part of it through."""
    tracks = dirs["igv"] / "tracks"
    os.symlink("private", tracks / "alias")
    assert user1.get("/api/v1/igv/tracks/static/private/p.bed").status == 403
    assert user1.get("/api/v1/igv/tracks/static/alias/p.bed").status == 404
    analysis_tracks = dirs["analyses"] / igv_analysis[1] / "tracks"
    (analysis_tracks / "sub").mkdir()
    (analysis_tracks / "sub" / "x.bam").write_bytes(b"BAM")
    os.symlink("sub", analysis_tracks / "alias")
    base = f"/api/v1/igv/tracks/analyses/{igv_analysis[0]}"
    assert user1.get(f"{base}/sub/x.bam").status == 200
    assert user1.get(f"{base}/alias/x.bam").status == 404

    url = "/api/v1/igv/tracks/dynamic/classifications/"
    assert user1.get(url).header("Cache-Control") == "private, max-age=1800"
    config = dict(TRACK_CONFIG)
    config["DYNAMIC/classifications"] = {"url": url, "limit_to_groups": ["testgroup01"]}
    (dirs["igv"] / "track_config.json").write_text(json.dumps(config))
    assert user1.get(url).header("Cache-Control") == "private, no-store"
    config["DYNAMIC/classifications"]["limit_to_groups"] = "xtestgroup01x"
    (dirs["igv"] / "track_config.json").write_text(json.dumps(config))
    assert user1.get(url).status == 403


def test_file_names_with_percent_and_space(user1, dirs):
    """PATH_INFO arrives percent-decoded from the server (PEP 3333; `a%2520b.bed` on the
    wire is `a%20b.bed` here): decoded once, not twice."""
    tracks = dirs["igv"] / "tracks"
    (tracks / "a%20b.bed").write_text("percent\n")
    (tracks / "a b.bed").write_text("space\n")
    assert user1.get("/api/v1/igv/tracks/static/a%20b.bed").body == b"percent\n"
    assert user1.get("/api/v1/igv/tracks/static/a b.bed").body == b"space\n"


def test_static_track_group_limits(user1, user4):
    result = user1.get("/api/v1/igv/tracks/static/private/p.bed")
    assert result.status == 403 and result.json["message"] == "not authorized"
    assert user4.get("/api/v1/igv/tracks/static/private/p.bed").body == b"1\t5\t6\n"
    assert user1.get("/api/v1/igv/tracks/static/hidden.bed").status == 403
    # A hidden folder answers the same for a missing file: names cannot be confirmed.
    missing = user1.get("/api/v1/igv/tracks/static/private/no-such-sample.bed")
    assert (missing.status, missing.json) == (result.status, result.json)
    assert user4.get("/api/v1/igv/tracks/static/private/no-such-sample.bed").status == 404


def test_static_track_traversal_is_refused(user1):
    for path in ("/api/v1/igv/tracks/static/../human_g1k_v37_decoy.fasta",
                 "/api/v1/igv/tracks/static/..%2Fhuman_g1k_v37_decoy.fasta",
                 "/api/v1/igv/tracks/static/escape.bed",
                 "/api/v1/igv/tracks/static/linkdir/escape.bed",
                 "/api/v1/igv/tracks/static/notes.txt",
                 "/api/v1/igv/tracks/static/missing.bed"):
        result = user1.get(path)
        assert result.status in (403, 404), path
        assert b"stolen" not in result.body and b"ACGT" not in result.body


def test_analysis_track_files(user1, igv_analysis, dirs):
    base = f"/api/v1/igv/tracks/analyses/{igv_analysis[0]}"
    bam = user1.get(f"{base}/sample.bam")
    assert bam.body == b"ANALYSISBAM"
    index = user1.get(f"{base}/sample.bam", query={"index": "1"})
    assert index.body == b"ANALYSISBAI"
    # A patient's reads stay out of every cache (they had no Cache-Control at all: kept on a
    # shared workstation's disk after logout); other files out of shared ones.
    assert bam.header("Cache-Control") == index.header("Cache-Control") == "private, no-store"
    assert user1.get("/api/v1/igv/tracks/static/common.bed").header("Cache-Control") == \
        "private"
    assert user1.get(f"{base}/..").status == 404
    os.symlink(dirs["outside"] / "escape.bed",
               dirs["analyses"] / igv_analysis[1] / "tracks" / "link.bed")
    assert user1.get(f"{base}/link.bed").status == 404
    assert user1.get("/api/v1/igv/tracks/analyses/999999/sample.bam").status == 404


def test_a_listed_file_the_service_cannot_read_is_said_not_a_bare_500(user1, igv_analysis,
                                                                     monkeypatch, caplog):
    """A pipeline's BAM of mode 0640 in a group the service is not in (or a download run as
    root under umask 077) is listed, and opening it failed as `500 Internal Server Error`."""
    import builtins

    from ella.web.routes import igv as igv_routes

    def refused(path, *args, **kwargs):
        if str(path).endswith("sample.bam"):
            raise PermissionError(13, "Permission denied", str(path))
        return builtins.open(path, *args, **kwargs)
    monkeypatch.setattr(igv_routes, "open", refused, raising=False)
    answer = user1.get(f"/api/v1/igv/tracks/analyses/{igv_analysis[0]}/sample.bam")
    assert answer.status == 503
    assert answer.json == {"message": "The IGV file sample.bam cannot be read by the service "
                                      "(Permission denied); tell your system administrator"}
    assert "sample.bam: cannot read it: [Errno 13] Permission denied" in caplog.text
    assert user1.get(f"/api/v1/igv/tracks/analyses/{igv_analysis[0]}/sample.bam",
                     query={"index": "1"}).body == b"ANALYSISBAI"


@pytest.mark.parametrize("kind", ["STATIC", "ANALYSIS"])
def test_tracks_in_sub_folders_are_offered_only_where_they_are_served(user1, dirs, igv_analysis,
                                                                      kind):
    """Eight folders deep a track is listed and served; deeper it is not listed (it was
    listed at any depth, served at four at most: a dead URL in igv.js)."""
    root = dirs["igv"] / "tracks" if kind == "STATIC" else \
        dirs["analyses"] / igv_analysis[1] / "tracks"
    folders = [f"d{n}" for n in range(1, 10)]
    for depth in (8, 9):
        folder = root.joinpath(*folders[:depth])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"at{depth}.bed").write_text(f"1\t10\t{depth}\n")
    tracks = user1.get(f"/api/v1/igv/tracks/{igv_analysis[0]}").json
    listed = {name.split("/")[-1] for name in tracks if name.startswith(f"{kind}/d1/")}
    assert listed == {"at8.bed"}
    track = tracks[f"{kind}/" + "/".join(folders[:8]) + "/at8.bed"]
    assert user1.get(track["igv"]["url"]).body == b"1\t10\t8\n"


# -- dynamic tracks --------------------------------------------------------------------------

def _analysis_alleles(demo_db_url, analysis_id):
    with psycopg.connect(demo_db_url) as conn:
        return conn.execute(
            "SELECT DISTINCT al.id, al.chromosome, al.vcf_pos, al.vcf_ref, al.vcf_alt, "
            "al.start_position, al.length FROM allele al JOIN genotype g ON g.allele_id = al.id "
            "JOIN sample s ON s.id = g.sample_id WHERE s.analysis_id = %s ORDER BY al.id",
            (analysis_id,)).fetchall()


def test_variants_vcf(user1, igv_analysis, demo_db_url):
    alleles = _analysis_alleles(demo_db_url, igv_analysis[0])[:3]
    ids = ",".join(str(a[0]) for a in alleles) + ",999999"
    result = user1.get(f"/api/v1/igv/tracks/dynamic/variants/{igv_analysis[0]}/",
                       query={"allele_ids": ids})
    assert result.status == 200
    assert "analysis-variants.vcf" in result.header("Content-Disposition")
    lines = result.body.decode().splitlines()
    assert lines[0] == "##fileformat=VCFv4.1"
    header = [l for l in lines if l.startswith("#CHROM")][0].split("\t")
    with psycopg.connect(demo_db_url) as conn:
        identifiers = [r[0] for r in conn.execute(
            "SELECT identifier FROM sample WHERE analysis_id = %s ORDER BY id", (igv_analysis[0],))]
    assert header[9:] == identifiers
    records = [l.split("\t") for l in lines if not l.startswith("#")]
    assert sorted((r[0], int(r[1]), r[3], r[4]) for r in records) == \
        sorted((a[1], a[2], a[3], a[4]) for a in alleles)
    assert all(r[8] == "GT" and r[9] in ("0/1", "1/1") for r in records)
    # A sample without the variant is 0/0, one without coverage ./. (both were ./.).
    for allele, gt_type, written in ((alleles[0], "Reference", "0/0"),
                                     (alleles[1], "No coverage", "./.")):
        with psycopg.connect(demo_db_url) as conn:
            conn.execute("UPDATE genotypesampledata SET type = %s WHERE genotype_id IN "
                         "(SELECT g.id FROM genotype g JOIN sample s ON s.id = g.sample_id "
                         "WHERE g.allele_id = %s AND s.analysis_id = %s)",
                         (gt_type, allele[0], igv_analysis[0]))
        result = user1.get(f"/api/v1/igv/tracks/dynamic/variants/{igv_analysis[0]}/",
                           query={"allele_ids": str(allele[0])})
        [record] = [l.split("\t") for l in result.body.decode().splitlines()
                    if not l.startswith("#")]
        assert record[9] == written, gt_type
    empty = user1.get(f"/api/v1/igv/tracks/dynamic/variants/{igv_analysis[0]}/")
    assert [l for l in empty.body.decode().splitlines() if not l.startswith("#")] == []


def test_regions_of_interest_bed(user1, igv_analysis, demo_db_url):
    alleles = _analysis_alleles(demo_db_url, igv_analysis[0])[:2]
    result = user1.get(f"/api/v1/igv/tracks/dynamic/regions_of_interest/{igv_analysis[0]}",
                       query={"allele_ids": ",".join(str(a[0]) for a in alleles)})
    assert result.status == 200
    assert sorted(result.body.decode().splitlines()) == \
        sorted(f"{a[1]}\t{a[5]}\t{a[5] + a[6]}" for a in alleles)


def test_genepanel_bed12(user1, demo_db_url):
    result = user1.get("/api/v1/igv/tracks/dynamic/genepanel/HBOC/v01/")
    assert result.status == 200
    lines = [l.split("\t") for l in result.body.decode().splitlines()]
    with psycopg.connect(demo_db_url) as conn:
        expected = conn.execute(
            "SELECT t.transcript_name, g.hgnc_symbol, t.tx_start, t.tx_end, "
            "cardinality(t.exon_starts) FROM genepanel_transcript gt JOIN transcript t "
            "ON t.id = gt.transcript_id JOIN gene g ON g.hgnc_id = t.gene_id "
            "WHERE gt.genepanel_name = 'HBOC' AND gt.genepanel_version = 'v01'").fetchall()
    assert len(lines) == len(expected) > 0
    by_name = {l[3]: l for l in lines}
    for transcript, symbol, start, end, exons in expected:
        line = by_name[f"{symbol}({transcript})"]
        assert len(line) == 12
        assert (int(line[1]), int(line[2]), int(line[9])) == (start, end, exons)
        sizes = [int(x) for x in line[10].rstrip(",").split(",")]
        starts = [int(x) for x in line[11].rstrip(",").split(",")]
        assert starts[0] == 0 and start + starts[-1] + sizes[-1] == end
    assert user1.get("/api/v1/igv/tracks/dynamic/genepanel/Nope/v9/").status == 404


def test_classifications_gff3(user1, demo_db_url):
    result = user1.get("/api/v1/igv/tracks/dynamic/classifications/")
    assert result.status == 200
    # The lab's classifications, to a logged-in user: the browser's cache, no proxy's.
    assert result.header("Cache-Control") == "private, max-age=1800"
    assert result.header("Content-Type").startswith("text/plain")
    lines = result.body.decode().splitlines()
    with psycopg.connect(demo_db_url) as conn:
        current = conn.execute("SELECT count(*) FROM alleleassessment "
                               "WHERE date_superceeded IS NULL").fetchone()[0]
    records = [l.split("\t") for l in lines if not l.startswith("#")]
    assert len(records) == current
    for record in records:
        assert record[1:3] == ["ELLA interpretation", "Classification"]
        assert record[8].startswith("Name=Class ")
        assert "; Assessment=<a href='/workflows/variants/" in record[8]
        assert "; Date created=" in record[8]


def test_search(user1):
    brca2 = user1.get("/api/v1/igv/search/", query={"q": "brca2"}).json
    assert len(brca2) == 1 and brca2[0]["chromosome"] == "13"
    assert brca2[0]["start"] < brca2[0]["end"]
    assert user1.get("/api/v1/igv/search/", query={"q": "BRCA"}).json[0]["chromosome"] in \
        ("13", "17")
    assert user1.get("/api/v1/igv/search/", query={"q": "nosuchgene"}).json == []
    slashless = user1.get("/api/v1/igv/search", query={"q": "BRCA2"})
    assert slashless.status == 200 and slashless.json == brca2


def _add_allele_in_analysis(demo_db_url, analysis_id, row):
    with psycopg.connect(demo_db_url) as conn:
        allele_id = conn.execute(
            "INSERT INTO allele (genome_reference, chromosome, start_position, "
            "open_end_position, change_from, change_to, change_type, vcf_pos, vcf_ref, vcf_alt, "
            "length, caller_type) VALUES ('GRCh37', %(chromosome)s, %(start_position)s, "
            "%(open_end_position)s, %(change_from)s, %(change_to)s, %(change_type)s, "
            "%(vcf_pos)s, %(vcf_ref)s, %(vcf_alt)s, %(length)s, %(caller_type)s) RETURNING id",
            row).fetchone()[0]
        sample_id = conn.execute("SELECT id FROM sample WHERE analysis_id = %s ORDER BY id "
                                 "LIMIT 1", (analysis_id,)).fetchone()[0]
        genotype_id = conn.execute(
            "INSERT INTO genotype (allele_id, sample_id, variant_quality, filter_status) "
            "VALUES (%s, %s, 100, 'PASS') RETURNING id", (allele_id, sample_id)).fetchone()[0]
        conn.execute("INSERT INTO genotypesampledata (genotype_id, secondallele, multiallelic, "
                     "type, sample_id) VALUES (%s, false, false, 'Heterozygous', %s)",
                     (genotype_id, sample_id))
        user_id = conn.execute("SELECT id FROM \"user\" ORDER BY id LIMIT 1").fetchone()[0]
        conn.execute("INSERT INTO alleleassessment (classification, evaluation, user_id, "
                     "date_created, allele_id, genepanel_name, genepanel_version) "
                     "VALUES ('3', '{}', %s, now(), %s, 'HBOC', 'v01')", (user_id, allele_id))
    return allele_id


def _insertion_at_position_1():
    from ella.alleles import build_allele
    # VCF 4.1: an insertion before the first base is written with the base after it.
    return build_allele("1", 1, "A", "TA", None, None)


def test_an_insertion_before_the_first_base_gives_valid_bed_and_gff3_lines(user1, igv_analysis,
                                                                          demo_db_url):
    """Such an insertion starts at -1 (import.md 2.4): the regions track wrote a negative
    BED start and the classifications track a GFF3 start of 0."""
    row = _insertion_at_position_1()
    assert row["start_position"] == -1  # as the importer stores it (import.md 2.4)
    allele_id = _add_allele_in_analysis(demo_db_url, igv_analysis[0], row)
    result = user1.get(f"/api/v1/igv/tracks/dynamic/regions_of_interest/{igv_analysis[0]}/",
                       query={"allele_ids": str(allele_id)})
    assert result.status == 200
    [line] = result.body.decode().splitlines()
    chrom, start, end = line.split("\t")
    # BED: 0 <= chromStart <= chromEnd
    assert (int(start), int(end)) == (0, 1), line
    result = user1.get("/api/v1/igv/tracks/dynamic/classifications/")
    assert result.status == 200
    records = [line.split("\t") for line in result.body.decode().splitlines()
               if not line.startswith("#")]
    mine = [r for r in records if "/1-1-A-TA" in r[8]]
    assert len(mine) == 1
    assert mine[0][3:5] == ["1", "1"]  # GFF3 counts from 1


def test_a_listed_track_with_a_backslash_in_its_name_is_served(user1, dirs, igv_analysis):
    """The track list offered a file named `a\\b.bed` whose URL answered 404 (on Linux a
    backslash is an ordinary file-name character)."""
    (dirs["igv"] / "tracks" / "a\\b.bed").write_text("1\t1\t2\n")
    tracks = user1.get(f"/api/v1/igv/tracks/{igv_analysis[0]}/").json
    assert "STATIC/a\\b.bed" in tracks
    url = unquote(tracks["STATIC/a\\b.bed"]["igv"]["url"])
    result = user1.get(url)
    assert (result.status, result.body) == (200, b"1\t1\t2\n")


def test_track_config_linked_outside_igv_data_is_used_not_the_default(user1, dirs, igv_analysis,
                                                                     tmp_path):
    """track_config.json kept elsewhere and linked into IGV_DATA (a config folder, a
    mounted file) was passed over for the default one, whose group limits may be wider
    (api.md 4.25: the default is the fallback when there is no track_config.json)."""
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    custom = dict(TRACK_CONFIG)
    custom["STATIC/.*"] = {"url": "/api/v1/igv/tracks/static/<TRACK_FILEPATH>",
                           "limit_to_groups": ["nobody"]}
    (config_dir / "track_config.json").write_text(json.dumps(custom))
    os.remove(dirs["igv"] / "track_config.json")
    os.symlink(config_dir / "track_config.json", dirs["igv"] / "track_config.json")
    permissive = dict(TRACK_CONFIG)
    (dirs["igv"] / "track_config_default.json").write_text(json.dumps(permissive))
    tracks = user1.get(f"/api/v1/igv/tracks/{igv_analysis[0]}/").json
    assert "STATIC/common.bed" not in tracks
    assert user1.get("/api/v1/igv/tracks/static/common.bed").status == 403


def test_tracks_of_an_analysis_folder_that_is_a_linked_folder(user1, dirs, igv_analysis, tmp_path):
    """The watcher moves an analysis folder that is a link as the link (README): its tracks
    (api.md 4.25: `$ANALYSES_PATH/<analysis name>/tracks`) were neither listed nor served."""
    storage = tmp_path / "storage"
    storage.mkdir()
    folder = dirs["analyses"] / igv_analysis[1]
    os.rename(folder, storage / igv_analysis[1])
    os.symlink(storage / igv_analysis[1], folder)  # absolute target, as the README asks
    tracks = user1.get(f"/api/v1/igv/tracks/{igv_analysis[0]}/").json
    assert "ANALYSIS/sample.bam" in tracks
    result = user1.get(f"/api/v1/igv/tracks/analyses/{igv_analysis[0]}/sample.bam")
    assert (result.status, result.body) == (200, b"ANALYSISBAM")
