"""Attachments API (api.md 2.13, 4.28; datamodel.md 4.9) through the WSGI app."""

import base64
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from api_client import Client
from api_helpers import add_user, logged_in_client

BOUNDARY = "----ellaTestBoundary7MA4YWxk"


def multipart(filename, data, content_type="application/octet-stream", field="file"):
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n"
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; "
            f"filename=\"{filename}\"\r\n").encode("utf-8")
    if content_type:
        head += f"Content-Type: {content_type}\r\n".encode()
    return head + b"\r\n" + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def upload(client, filename, data, headers=None, **kwargs):
    return client.request("POST", "/api/v1/attachments/upload/",
                          raw=multipart(filename, data, **kwargs), headers=headers,
                          content_type=f"multipart/form-data; boundary={BOUNDARY}")


def upload_part(client, part_headers, data="data"):
    """Upload a body of one part with these header lines (CR LF separated, as written)."""
    body = f"--{BOUNDARY}\r\n{part_headers}\r\n\r\n{data}\r\n--{BOUNDARY}--\r\n"
    return client.request("POST", "/api/v1/attachments/upload/", raw=body.encode("utf-8"),
                          content_type=f"multipart/form-data; boundary={BOUNDARY}")


@pytest.fixture
def client(attach_app, storage, db_url):
    add_user(db_url, "attuser", "attgroup")
    return logged_in_client(attach_app(storage), db_url, "attuser")


def test_upload_stores_content_addressed_file_and_row(client, storage, db_url):
    data = bytes(range(256)) * 4 + b"\r\n--not-a-boundary\r\n\r\n"
    result = upload(client, "Report.final.PDF", data, content_type="application/pdf")
    assert result.status == 200, result.body
    assert set(result.json) == {"id"}
    digest = hashlib.sha256(data).hexdigest()
    stored = storage / digest[:2] / digest
    assert stored.read_bytes() == data
    assert os.listdir(storage / "tmp") == []  # the temporary upload was renamed away
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT a.sha256, a.filename, a.size, a.mimetype, a.extension, "
                           "u.username, a.date_created IS NOT NULL FROM attachment a "
                           'JOIN "user" u ON u.id = a.user_id WHERE a.id = %s',
                           (result.json["id"],)).fetchone()
    assert row == (digest, "Report.final.PDF", len(data), "application/pdf", "PDF",
                   "attuser", True)


def test_same_content_twice_shares_file_but_gets_two_rows(client, storage):
    first = upload(client, "a.txt", b"same content")
    second = upload(client, "noextension", b"same content", content_type=None)
    assert first.status == second.status == 200
    assert first.json["id"] != second.json["id"]
    listed = client.get("/api/v1/attachments/",
                        query={"q": {"id": [first.json["id"], second.json["id"]]}}).json
    assert [a["sha256"] for a in listed] == [hashlib.sha256(b"same content").hexdigest()] * 2
    assert listed[1]["extension"] == "" and listed[1]["mimetype"] is None
    files = [f for d in storage.iterdir() if d.name != "tmp" for f in d.iterdir()]
    assert len([f for f in files if not f.name.endswith(".thumbnail")]) == 1


def test_an_upload_removes_what_killed_uploads_left(client, storage):
    """A worker killed mid-upload (gunicorn's timeout, the OOM killer) left its temporary
    file in `tmp/` for ever; the storage filled up with them. The next upload removes those
    older than a day, and nothing else there."""
    tmp = storage / "tmp"
    tmp.mkdir()
    day_and_more = os.stat(storage).st_mtime - 25 * 3600
    stale, live, foreign = tmp / ("ab" * 16), tmp / ("cd" * 16), tmp / "notes.txt"
    for path in (stale, live, foreign):
        path.write_bytes(b"part of an upload")
    for path in (stale, foreign):
        os.utime(path, (day_and_more, day_and_more))
    assert upload(client, "a.txt", b"content").status == 200
    assert sorted(os.listdir(tmp)) == sorted([live.name, foreign.name])


def test_download_has_original_filename_and_content(client):
    data = b"\x00\x01binary\xff" * 100
    attachment_id = upload(client, "scan 1.bin", data).json["id"]
    result = client.get(f"/api/v1/attachments/{attachment_id}")
    assert result.status == 200
    assert result.body == data
    assert result.header("Content-Type") == "application/octet-stream"
    assert result.header("Content-Disposition") == 'attachment; filename="scan 1.bin"'


def test_download_is_sent_in_chunks(client):
    from ella.web.http import FileResponse
    data = os.urandom(3 * FileResponse.CHUNK + 5)
    attachment_id = upload(client, "big.bin", data).json["id"]
    captured, body = client.open("GET", f"/api/v1/attachments/{attachment_id}")
    try:
        chunks = list(body)
    finally:
        body.close()
    assert captured["status"] == 200 and b"".join(chunks) == data
    assert len(chunks) == 4 and max(map(len, chunks)) == FileResponse.CHUNK


def test_download_filename_is_sanitised_for_the_header(client):
    attachment_id = upload(client, "résumé x;y.txt", b"hi", content_type="text/plain").json["id"]
    result = client.get(f"/api/v1/attachments/{attachment_id}")
    assert result.header("Content-Type") == "text/plain"
    assert result.header("Content-Disposition") == (
        "attachment; filename=\"resume xy.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20x%3By.txt")


def test_content_disposition_never_breaks_the_header():
    from ella.web.routes.attachments import content_disposition
    value = content_disposition('a"b\\c\r\nSet-Cookie: x.txt')
    assert "\r" not in value and "\n" not in value
    ascii_value = value.split("; filename*=")[0]
    assert ascii_value == 'attachment; filename="abcSet-Cookie: x.txt"'
    assert content_disposition("plain.pdf") == "attachment; filename=plain.pdf"
    # Fullwidth quotation mark and semicolon become '"' and ';' under NFKD: still removed.
    value = content_disposition("x\uff02\uff1bfilename=evil.html")
    assert value.split("; filename*=")[0] == 'attachment; filename="xfilename=evil.html"'


def test_client_path_in_filename_is_dropped(client):
    attachment_id = upload(client, "../../etc/evil.png", b"x").json["id"]
    listed = client.get("/api/v1/attachments/", query={"q": {"id": attachment_id}}).json
    assert listed[0]["filename"] == "evil.png"


def test_unknown_attachment_is_404(client):
    result = client.get("/api/v1/attachments/999999")
    assert result.status == 404
    assert "999999" in result.json["message"]


def test_list_shape_filter_and_headers_without_slicing(client):
    ids = [upload(client, f"f{i}.txt", f"content {i}".encode()).json["id"] for i in range(3)]
    result = client.get("/api/v1/attachments/", query={"q": {"id": ids}, "per_page": 2})
    assert result.status == 200
    assert [a["id"] for a in result.json] == ids  # pg*: headers but no slicing
    assert result.header("Total-Count") == "3"
    assert result.header("Per-Page") == "2"
    assert result.header("Total-Pages") == "2"
    assert result.header("Page") == "1"
    item = result.json[0]
    assert set(item) == {"id", "sha256", "filename", "size", "date_created", "mimetype",
                         "extension", "thumbnail", "user"}
    assert item["size"] == len(b"content 0")
    assert item["user"]["username"] == "attuser"
    assert set(item["user"]) == {"id", "username", "first_name", "last_name", "full_name",
                                 "abbrev_name", "active", "user_group_name"}
    empty = client.get("/api/v1/attachments/", query={"q": {"id": []}})
    assert empty.json == [] and empty.header("Total-Count") == "0"
    assert client.get("/api/v1/attachments/", query={"q": {"nope": 1}}).status == 400


def test_thumbnail_made_with_convert(client, storage, tmp_path, monkeypatch):
    """A stand-in `convert` on PATH: the first frame is converted to a 300x300 JPEG stored
    next to the file and served base64-encoded."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "convert"
    fake.write_text("#!/bin/sh\n"
                    "echo \"$@\" > \"$(dirname \"$0\")/args\"\n"
                    "for a in \"$@\"; do last=\"$a\"; done\n"
                    "printf '\\377\\330\\377thumb' > \"${last#jpeg:}\"\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    data = b"\x89PNG\r\n\x1a\n fake image"
    attachment_id = upload(client, "img.png", data, content_type="image/png").json["id"]
    digest = hashlib.sha256(data).hexdigest()
    args = (bin_dir / "args").read_text()
    # The coder is named, so ImageMagick does not guess it from the content.
    assert f"png:{storage / digest[:2] / digest}[0]" in args and "300x300" in args
    # Made under an upload's temporary name in tmp/, which the sweep of killed uploads
    # cleans (beside the file, what a killed worker left stayed for good).
    output = Path(args.split()[-1].removeprefix("jpeg:"))
    assert output.parent == storage / "tmp" and re.fullmatch(r"[0-9a-f]{32}", output.name)
    assert not output.exists()
    assert (storage / digest[:2] / f"{digest}.thumbnail").read_bytes() == b"\xff\xd8\xffthumb"
    item = client.get("/api/v1/attachments/", query={"q": {"id": attachment_id}}).json[0]
    assert base64.b64decode(item["thumbnail"]) == b"\xff\xd8\xffthumb"
    # Content ImageMagick would run as a script (MVG, SVG) is never given to it.
    (bin_dir / "args").unlink()
    for name, script in (("x.mvg", b"push graphic-context\nviewbox 0 0 1 1\n"
                                   b"image over 0,0 0,0 'text:/etc/passwd'\n"),
                         ("x.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>")):
        other = upload(client, name, script).json["id"]
        item = client.get("/api/v1/attachments/", query={"q": {"id": other}}).json[0]
        assert item["thumbnail"] is None and not (bin_dir / "args").exists()


def test_no_thumbnail_for_unreadable_file(client):
    attachment_id = upload(client, "notes.weird", b"plain bytes, not an image").json["id"]
    item = client.get("/api/v1/attachments/", query={"q": {"id": attachment_id}}).json[0]
    assert item["thumbnail"] is None


def test_no_thumbnail_without_convert(client, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    attachment_id = upload(client, "x.png", b"\x89PNG whatever").json["id"]
    item = client.get("/api/v1/attachments/", query={"q": {"id": attachment_id}}).json[0]
    assert item["thumbnail"] is None


def test_too_large_upload_is_refused_before_reading(attach_app, storage, db_url):
    add_user(db_url, "attuser", "attgroup")
    client = logged_in_client(attach_app(storage, max_upload_size=100), db_url, "attuser")

    class Unreadable:
        def read(self, *args):
            raise AssertionError("body must not be read")

    # More than the file limit plus what a form may carry around the file (64 KiB).
    body = multipart("big.bin", b"x" * (100 + 65 * 1024))
    result = client.request("POST", "/api/v1/attachments/upload/", raw=body,
                            content_type=f"multipart/form-data; boundary={BOUNDARY}",
                            headers={"wsgi.input": Unreadable()})
    assert result.status == 413
    assert result.json["message"].startswith("Request body too large")
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM attachment").fetchone()[0] == 0
    assert not (storage / "tmp").exists() or os.listdir(storage / "tmp") == []


def test_the_limit_is_the_files_size_not_the_forms(attach_app, storage, db_url):
    """config-cli-ops.md 2.3: app.max_upload_size is the attachment's size, as the UI checks
    it: a file of exactly the limit is taken though the form around it is larger; one byte
    more is 413 and leaves nothing behind."""
    add_user(db_url, "attuser", "attgroup")
    client = logged_in_client(attach_app(storage, max_upload_size=1000), db_url, "attuser")
    assert upload(client, "exact.bin", b"x" * 1000).status == 200
    refused = upload(client, "over.bin", b"x" * 1001)
    assert refused.status == 413
    assert refused.json["message"] == "The file is larger than the limit of 1000 bytes"
    assert os.listdir(storage / "tmp") == []
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT filename FROM attachment").fetchall() == [("exact.bin",)]
    zero = logged_in_client(attach_app(storage, max_upload_size=0), db_url, "attuser")
    for data in (b"x", b""):  # 0 takes no file (it meant 50 MiB), not even an empty one
        refused = upload(zero, "any.bin", data)
        assert refused.status == 413
        assert refused.json["message"] == ("Attachments are turned off here "
                                           "(app.max_upload_size is 0)")


def test_missing_storage_config_is_a_clear_error(attach_app, db_url):
    add_user(db_url, "attuser", "attgroup")
    client = logged_in_client(attach_app(None), db_url, "attuser")
    result = upload(client, "a.txt", b"x")
    assert result.status == 503
    assert "attachment_storage" in result.json["message"]


def test_bad_multipart_requests(client):
    wrong_field = client.request(
        "POST", "/api/v1/attachments/upload/", raw=multipart("a.txt", b"x", field="upload"),
        content_type=f"multipart/form-data; boundary={BOUNDARY}")
    assert wrong_field.status == 400 and "'file'" in wrong_field.json["message"]
    not_multipart = client.post("/api/v1/attachments/upload/", {"file": "x"})
    assert not_multipart.status == 400


@pytest.mark.parametrize("filename_param", [
    'filename="a\x00b.txt"',                         # NUL in the filename
    "filename*=UTF-8''a%00b.txt",                     # the same, RFC 2231 encoded
])
def test_nul_in_the_file_fields_is_400(client, db_url, filename_param):
    """PostgreSQL text cannot hold NUL: refused, not a 500 from the INSERT."""
    result = upload_part(client, f'Content-Disposition: form-data; name="file"; {filename_param}')
    assert result.status == 400 and "NUL character" in result.json["message"], result.body
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM attachment").fetchone() == (0,)


@pytest.mark.parametrize("filename_param, message", [
    # Shown as "invoiceexe.pdf"; saved by the browser as the .exe it is.
    ("filename*=UTF-8''invoice%E2%80%AEfdp.exe", "control character U+202E"),
    ("filename*=UTF-8''a%0D%0Ab.txt", "control character U+000D"),
    ('filename="\x01\x02.txt"', "control character U+0001"),   # offered as `.txt`
    ("filename*=UTF-8''a%E2%80%A8b.txt", "control character U+2028"),
    # Stored as two U+FFFD, a name nobody gave the file.
    ("filename*=UTF-8''%FF%FE.txt", "a filename* that is not valid UTF-8"),
    ("filename*=US-ASCII''%E9t%E9.txt", "a filename* that is not valid US-ASCII"),
])
def test_a_filename_hiding_or_reordering_characters_is_400(client, db_url, filename_param,
                                                           message):
    result = upload_part(client, f'Content-Disposition: form-data; name="file"; {filename_param}')
    assert result.status == 400 and message in result.json["message"], result.body
    assert count_rows(db_url) == 0
    # Letters of any script and a zero-width non-joiner (Persian names) are no control.
    ok = upload_part(client, "Content-Disposition: form-data; name=\"file\"; "
                             "filename*=UTF-8''%D9%85%DB%8C%E2%80%8C%D8%B1%D9%88%D9%85.pdf")
    assert ok.status == 200, ok.body


def test_login_required(attach_app, storage):
    anonymous = Client(attach_app(storage))
    assert upload(anonymous, "a.txt", b"x").status == 403
    assert anonymous.get("/api/v1/attachments/").status == 403
    assert anonymous.get("/api/v1/attachments/1").status == 403


def test_an_upload_from_a_form_of_another_origin_is_refused(client, storage, db_url):
    """An HTML form on a sibling host of the site posts multipart with the user's cookie
    (SameSite=Lax lets it); the browser says so in Sec-Fetch-Site."""
    result = upload(client, "r.pdf", b"forged", headers={"HTTP_SEC_FETCH_SITE": "same-site"})
    assert result.status == 403
    assert count_rows(db_url) == 0 and not os.path.exists(storage / "tmp")
    assert upload(client, "r.pdf", b"mine", headers={"HTTP_SEC_FETCH_SITE": "same-origin"}
                  ).status == 200


def test_upload_is_resource_logged_without_payload(client, db_url):
    upload(client, "a.txt", b"secret file content")
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT payload, statuscode FROM resourcelog WHERE resource = "
                           "'/api/v1/attachments/upload/'").fetchone()
    assert row == (None, 200)


def test_analysis_attachments_disabled_and_access_checked(demo_api_app, demo_db_url):
    group1 = logged_in_client(demo_api_app, demo_db_url, "testuser1")
    group2 = logged_in_client(demo_api_app, demo_db_url, "testuser4")
    with psycopg.connect(demo_db_url) as conn:
        analysis_id = conn.execute("SELECT id FROM analysis WHERE genepanel_name IN "
                                   "('HBOC', 'HBOCUTV') ORDER BY id LIMIT 1").fetchone()[0]
    result = group1.get(f"/api/v1/attachments/analyses/{analysis_id}/0/")
    assert result.status == 404 and "disabled" in result.json["message"]
    assert group2.get(f"/api/v1/attachments/analyses/{analysis_id}/0/").status == 403
    assert group1.get("/api/v1/attachments/analyses/999999/0/").status == 404


# -- streamed multipart (ella/web/multipart.py) ---------------------------------------------

def _stored_sha(client, attachment_id):
    return client.get("/api/v1/attachments/", query={"q": {"id": attachment_id}}).json[0][
        "sha256"]


def test_upload_is_streamed_not_held_in_memory(client):
    """The file goes to disk while it is read and hashed: Python memory stays near a few
    chunks whatever the size (email.parser took ~11 times the upload)."""
    import tracemalloc

    from ella.web.multipart import CHUNK

    data = os.urandom(8 * 1024 * 1024)

    class Stream:  # the body as a server hands it over, without a copy held here
        def __init__(self, parts):
            self.parts, self.buffer = iter(parts), b""

        def read(self, size):
            while len(self.buffer) < size:
                more = next(self.parts, None)
                if more is None:
                    break
                self.buffer += more
            out, self.buffer = self.buffer[:size], self.buffer[size:]
            return out

    head, tail = multipart("big.bin", b"").split(b"\r\n--" + BOUNDARY.encode() + b"--")
    pieces = [head] + [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)] + [
        b"\r\n--" + BOUNDARY.encode() + b"--" + tail]
    length = sum(map(len, pieces))
    tracemalloc.start()
    try:
        result = client.request("POST", "/api/v1/attachments/upload/", raw=b"x",
                                content_type=f"multipart/form-data; boundary={BOUNDARY}",
                                headers={"wsgi.input": Stream(pieces),
                                         "CONTENT_LENGTH": str(length)})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.status == 200, result.body
    assert peak < 16 * CHUNK, f"peak {peak / 2**20:.1f} MiB for an 8 MiB upload"
    assert _stored_sha(client, result.json["id"]) == hashlib.sha256(data).hexdigest()


def test_boundary_lookalikes_across_chunk_edges_are_data(client):
    """Bytes that begin like the closing delimiter, placed across every chunk edge, are
    file content; the stored file is byte for byte the upload."""
    from ella.web.multipart import CHUNK
    almost = b"\r\n--" + BOUNDARY.encode()[:-1]
    data = bytearray(os.urandom(3 * CHUNK))
    for edge in (CHUNK, 2 * CHUNK):
        for shift in range(0, len(almost) + 2, 3):
            at = edge - shift
            data[at:at + len(almost)] = almost
    data = bytes(data) + b"\r\n--"  # also at the very end
    result = upload(client, "tricky.bin", data)
    assert result.status == 200, result.body
    assert _stored_sha(client, result.json["id"]) == hashlib.sha256(data).hexdigest()
    downloaded = client.get(f"/api/v1/attachments/{result.json['id']}").body
    assert downloaded == data


@pytest.mark.parametrize("error", ["ConnectionResetError", "InvalidChunkSize"])
def test_a_client_gone_mid_upload_is_a_400_and_leaves_nothing(client, storage, db_url, caplog,
                                                              error):
    """The body's read raising (a connection reset, a chunked body cut off or with a broken
    chunk size: gunicorn's reader raises, its parse errors no OSError) was a 500 with an error
    traceback; it is the body's end."""
    import io
    import logging

    from gunicorn.http.errors import InvalidChunkSize

    class Gone(io.RawIOBase):
        def __init__(self, head):
            self.head = head

        def read(self, size=-1):
            if self.head:
                out, self.head = self.head[:size], self.head[size:]
                return out
            if error == "InvalidChunkSize":
                raise InvalidChunkSize(b"ZZ")
            raise ConnectionResetError(104, "Connection reset by peer")

    head = multipart("a.bin", b"x" * 100000)[:-100]
    with caplog.at_level(logging.ERROR):
        result = client.request("POST", "/api/v1/attachments/upload/", raw=b"x",
                                content_type=f"multipart/form-data; boundary={BOUNDARY}",
                                headers={"wsgi.input": Gone(head), "CONTENT_LENGTH": "1000000"})
    assert (result.status, result.json) == (400, {
        "message": "Malformed multipart body (truncated: the request ended early, "
                   f"{error})"})
    assert not [r for r in caplog.records if r.exc_info]
    assert os.listdir(storage / "tmp") == []
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM attachment").fetchone()[0] == 0


def test_chunked_upload_without_content_length(attach_app, storage, db_url):
    """A chunked request (no Content-Length; nginx passes it on unbuffered) is read to its
    end, but not beyond the limit."""
    import io
    add_user(db_url, "attuser", "attgroup")
    client = logged_in_client(attach_app(storage, max_upload_size=10_000), db_url, "attuser")
    results = []
    for data, status in ((b"chunked data", 200), (b"x" * 20_000, 413)):
        body = multipart("c.txt", data)
        result = client.request("POST", "/api/v1/attachments/upload/", raw=body,
                                content_type=f"multipart/form-data; boundary={BOUNDARY}",
                                headers={"CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING":
                                         "chunked", "wsgi.input": io.BytesIO(body)})
        assert result.status == status, result.body
        results.append(result)
    assert client.get(f"/api/v1/attachments/{results[0].json['id']}").body == b"chunked data"
    assert os.listdir(storage / "tmp") == []  # the refused one left nothing


@pytest.mark.parametrize("body, message", [
    (multipart("t.txt", b"cut short")[:-20], "Malformed multipart body (truncated)"),
    (multipart("t.txt", b"no end")[:-(len(BOUNDARY) + 8)], "Malformed multipart body"),
    (multipart("t.txt", b"aGk=", content_type="text/plain\r\nContent-Transfer-Encoding: "
               "base64"), "Unsupported Content-Transfer-Encoding 'base64'"),
    (b"no delimiter at all", "Malformed multipart body (no boundary)"),
    # 900 '(' read as nested comments by email.parser: a RecursionError, answered 500.
    (multipart("t.txt", b"x", content_type="text/plain; " + "(" * 900),
     "Malformed multipart body (a part header's parameters"),
    (multipart("t.txt", b"x", content_type="text/pl\x00ain"),  # NUL, which text cannot hold
     "Malformed multipart body (a part's Content-Type 'text/pl\\x00ain' is not type/subtype)"),
    (multipart("t.txt", b"x", content_type="text/plain (comment"),
     "Malformed multipart body (a part's Content-Type"),
    # A part's headers over 4 KiB (a browser's are under 1 KiB).
    (multipart("t.txt", b"x", content_type="text/plain" + "; a=b" * 1000),
     "Malformed multipart body (a part's headers are too long)"),
    (multipart("t.txt", b"x", content_type="text/plain\r\nno colon"),
     "Malformed multipart body (a part header without a name)"),
])
def test_malformed_bodies_are_400_and_leave_nothing(client, storage, db_url, body, message):
    result = client.request("POST", "/api/v1/attachments/upload/", raw=body,
                            content_type=f"multipart/form-data; boundary={BOUNDARY}")
    assert result.status == 400 and result.json["message"].startswith(message), result.json
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM attachment").fetchone()[0] == 0
    assert not (storage / "tmp").exists() or os.listdir(storage / "tmp") == []


def test_a_form_of_many_parts_around_the_file_is_413(client, db_url):
    """The README's "up to 64 KiB of form around it": 4,000 small fields before a small file
    took seconds to read (minutes at the body limit), and were accepted."""
    field = (f"Content-Disposition: form-data; name=x\r\n\r\n\r\n--{BOUNDARY}\r\n").encode()
    body = (f"--{BOUNDARY}\r\n".encode() + field * 4000
            + b'Content-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n'
            + b"hello\r\n" + f"--{BOUNDARY}--\r\n".encode())
    result = client.request("POST", "/api/v1/attachments/upload/", raw=body,
                            content_type=f"multipart/form-data; boundary={BOUNDARY}")
    assert result.status == 413 and "form around the file" in result.json["message"]
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM attachment").fetchone()[0] == 0


@pytest.mark.parametrize("disposition, filename", [
    ('name="file"; filename="a\\"b.txt"', 'a"b.txt'),            # a quoted-pair
    ("name=file; filename=plain.txt;", "plain.txt"),                # tokens, a trailing ';'
    ("name=\"file\"; filename=\"x.txt\"; filename*=UTF-8''r%C3%A9.txt", "r\u00e9.txt"),
    ('NAME="file";\r\n FILENAME="folded.txt"', "folded.txt"),      # an obsolete fold
    # Old IE and Edge send the full Windows path, its backslashes as they are.
    ('name="file"; filename="C:\\Users\\kari\\report.txt"', "report.txt"),
])
def test_part_headers_as_clients_write_them(client, db_url, disposition, filename):
    result = upload_part(client, f"content-disposition: Form-Data; {disposition}\r\n"
                                 "Content-Type: Text/Plain; charset=utf-8")
    assert result.status == 200, result.body
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT filename, mimetype FROM attachment WHERE id = %s",
                            (result.json["id"],)).fetchone() == (filename, "text/plain")

def test_a_file_name_sent_in_latin_1_keeps_its_letters(client, db_url):
    """An older client's name that is no UTF-8 was stored with U+FFFD for each letter beyond
    ASCII (`\ufffdt\ufffd.txt`, a name nobody gave the file); read as Latin-1, it is
    `été.txt`."""
    body = (f"--{BOUNDARY}\r\n".encode()
            + b'Content-Disposition: form-data; name="file"; filename="\xe9t\xe9.txt"\r\n\r\n'
            + b"hello\r\n" + f"--{BOUNDARY}--\r\n".encode())
    result = client.request("POST", "/api/v1/attachments/upload/", raw=body,
                            content_type=f"multipart/form-data; boundary={BOUNDARY}")
    assert result.status == 200, result.body
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT filename FROM attachment WHERE id = %s",
                            (result.json["id"],)).fetchone() == ("\u00e9t\u00e9.txt",)


# -- the storage in the states a lab's server gets into (config-cli-ops.md 2.3): read-only,
# full, a file there but unreadable, a migrated row's mimetype; nothing half-written is
# left, and the answer says what is wrong instead of a bare 500 ---------------------------

def count_rows(db_url):
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT count(*) FROM attachment").fetchone()[0]


def all_files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, fs in os.walk(root) for f in fs)


def _mount(*args):
    subprocess.run(["mount", *args], check=True, capture_output=True)


@pytest.fixture
def readonly(storage):
    """The storage directory made read-only by a bind mount (root ignores file modes)."""
    if os.geteuid() != 0:
        pytest.skip("needs root for a bind mount")
    _mount("--bind", str(storage), str(storage))
    try:
        _mount("-o", "remount,ro,bind", str(storage))
        yield storage
    finally:
        subprocess.run(["umount", str(storage)], check=False)


@pytest.fixture
def tiny_fs(storage):
    """The storage directory on a 256 KiB tmpfs (a disk that fills up)."""
    if os.geteuid() != 0:
        pytest.skip("needs root for a tmpfs mount")
    _mount("-t", "tmpfs", "-o", "size=256k", "tmpfs", str(storage))
    try:
        yield storage
    finally:
        subprocess.run(["umount", str(storage)], check=False)


# -- storage that cannot be written -------------------------------------------------

def test_read_only_storage_is_a_clear_503_and_stores_nothing(client, readonly, db_url):
    """config-cli-ops.md 2.3: attachment_storage unusable => uploads fail; a missing
    directory was a 503 naming it, a read-only (or not the service user's) one a bare 500."""
    result = upload(client, "a.txt", b"hello")
    assert count_rows(db_url) == 0
    assert all_files(readonly) == []
    assert (result.status, result.json) == (503, {"message": (
        "The attachment storage cannot be written (Read-only file system): the file was not "
        "stored; tell your system administrator")})


def test_full_disk_is_a_clear_error_and_leaves_nothing(client, tiny_fs, db_url):
    """ENOSPC while the upload is written: nothing half-written stays, no row, and the answer
    says why (507 Insufficient Storage), not a bare 500."""
    result = upload(client, "big.bin", os.urandom(512 * 1024))
    assert count_rows(db_url) == 0
    assert all_files(tiny_fs) == []  # the partial temporary file is removed
    assert (result.status, result.json) == (507, {"message": (
        "The attachment storage is full (No space left on device): the file was not stored; "
        "tell your system administrator")})


def test_full_disk_then_space_again_works(client, tiny_fs, db_url):
    upload(client, "big.bin", os.urandom(512 * 1024))
    ok = upload(client, "small.bin", b"small")
    assert ok.status == 200
    assert client.get(f"/api/v1/attachments/{ok.json['id']}").body == b"small"


def test_new_hash_directory_is_made_durable(client, storage, monkeypatch):
    """The row is committed only after its file is durable (README backup section: 'a file
    is stored (and synced) before the row naming it commits'). When the upload creates the
    `<sha[:2]>/` directory, that directory's own entry lives in the storage root: the root is
    fsynced too, or a power loss could drop the new directory (and the file in it) while the
    committed row names it."""
    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        try:
            synced.append(os.path.realpath(os.readlink(f"/proc/self/fd/{fd}")))
        except OSError:
            pass
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    data = b"fresh content for a new prefix directory"
    assert upload(client, "x.bin", data).status == 200
    digest = hashlib.sha256(data).hexdigest()
    assert os.path.realpath(storage / digest[:2]) in synced
    assert os.path.realpath(storage) in synced, synced


def test_migrated_non_ascii_mimetype_does_not_break_download(client, db_url, storage):
    """A row from an upstream database may hold any mimetype the browser sent; the download
    answers with application/octet-stream (gunicorn refused the non-ASCII header)."""
    attachment_id = upload(client, "a.bin", b"abc").json["id"]
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE attachment SET mimetype = 'text/\u4e2d\u6587' WHERE id = %s",
                     (attachment_id,))
    result = client.get(f"/api/v1/attachments/{attachment_id}")
    assert result.status == 200, result.status
    assert result.body == b"abc"
    assert result.header("Content-Type") == "application/octet-stream"
    # Evidence about a patient: not kept in the browser's cache (max-age=0 let it store it).
    assert result.header("Cache-Control") == "private, no-store"
    # An uploaded HTML or SVG file is never run by a browser that sniffs its content.
    assert result.header("X-Content-Type-Options") == "nosniff"


@pytest.mark.parametrize("error", [PermissionError(13, "Permission denied"),
                                   OSError(5, "Input/output error")])
def test_unreadable_file_is_a_server_error_not_404(client, monkeypatch, error):
    """A file that exists but cannot be read (wrong owner/mode after a restore, an I/O
    error) was a 404 'missing from the storage': the user was told the lab's record is
    gone, and the operator heard nothing. Only a file really absent says so."""
    import builtins

    from ella.web.routes import attachments
    attachment_id = upload(client, "a.bin", b"abc").json["id"]
    real_open = builtins.open

    def failing_open(path, *args, **kwargs):
        if "/attachments/" in str(path):
            raise error
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(attachments, "open", failing_open, raising=False)
    result = client.get(f"/api/v1/attachments/{attachment_id}")
    assert (result.status, result.json) == (503, {"message": (
        f"The file of attachment {attachment_id} cannot be read from the storage "
        f"({error.strerror}); tell your system administrator")})


def test_a_content_length_of_other_digits_is_no_length(client, storage):
    """`²` is a digit to str.isdigit(), not to int(): an upload with it as its Content-Length
    ended in a 500. It is read as no length (an empty form here: a 400)."""
    result = client.request("POST", "/api/v1/attachments/upload/", raw=f"--{BOUNDARY}--\r\n"
                            .encode(), content_type=f"multipart/form-data; boundary={BOUNDARY}",
                            headers={"CONTENT_LENGTH": "\u00b2"})
    assert result.status == 400, result.body[:300]
    assert not any(storage.rglob("*.*"))


def test_an_html_attachment_opened_in_a_browser_runs_no_script(client):
    """An uploaded HTML or SVG file is sent with its own type; opened as a page (a link
    followed where the disposition is ignored) its script would run with the API's origin and
    the reader's session. Every answer, errors too, says: no script, nothing loaded, no
    framing, no sniffing - also where no nginx adds its headers."""
    attachment_id = upload(client, "page.html", b"<script>fetch('/api/v1/users/')</script>",
                           content_type="text/html").json["id"]
    answers = [client.get(f"/api/v1/attachments/{attachment_id}"),
               client.get("/api/v1/attachments/999999"), client.get("/api/v1/users/")]
    assert [a.status for a in answers] == [200, 404, 200]
    assert answers[0].header("Content-Type") == "text/html"
    for answer in answers:
        assert answer.header("Content-Security-Policy") == \
            "default-src 'none'; frame-ancestors 'none'; sandbox"
        assert [v for k, v in answer.headers if k == "X-Content-Type-Options"] == ["nosniff"]
