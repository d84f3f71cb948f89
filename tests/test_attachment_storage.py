"""The attachment storage in the states a lab's server gets into (api.md 4.28,
config-cli-ops.md 2.3): read-only, full, a file there but unreadable, a migrated row's
mimetype; and an upload's file durable before its row commits. Nothing half-written is left,
and the answer says what is wrong instead of a bare 500."""

import copy
import hashlib
import os
import subprocess

import psycopg
import pytest

from api_helpers import add_user, logged_in_client
from ella.web.app import create_app

BOUNDARY = "----auditBoundaryQ2x"


def multipart(filename, data, content_type="application/octet-stream"):
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{filename}\"\r\n").encode("utf-8")
    if content_type:
        head += f"Content-Type: {content_type}\r\n".encode()
    return head + b"\r\n" + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def upload(client, filename, data, headers=None, **kwargs):
    return client.request("POST", "/api/v1/attachments/upload/",
                          raw=multipart(filename, data, **kwargs),
                          content_type=f"multipart/form-data; boundary={BOUNDARY}",
                          headers=headers)


def count_rows(db_url):
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT count(*) FROM attachment").fetchone()[0]


def all_files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, fs in os.walk(root) for f in fs)


@pytest.fixture
def storage(tmp_path):
    root = tmp_path / "attachments"
    root.mkdir()
    return root


@pytest.fixture
def make_app(db_url, ella_config):
    apps = []

    def build(storage_dir, max_upload_size=None):
        config = copy.deepcopy(ella_config)
        config["app"]["attachment_storage"] = str(storage_dir) if storage_dir else None
        if max_upload_size is not None:
            config["app"]["max_upload_size"] = max_upload_size
        app = create_app(config, {"DB_URL": db_url, "COOKIE_SECURE": False})
        apps.append(app)
        return app

    yield build
    for app in apps:
        app._drop_connection()


@pytest.fixture
def client(make_app, storage, db_url):
    add_user(db_url, "audituser", "auditgroup")
    return logged_in_client(make_app(storage), db_url, "audituser")


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
