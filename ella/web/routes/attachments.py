"""Attachments: upload, download, metadata list (api.md 2.13, 4.28; datamodel.md 4.9).

Files are content-addressed under `app.attachment_storage`: `<storage>/<sha256[0:2]>/<sha256>`,
written first to `<storage>/tmp/<random hex>` and then renamed into place; identical uploads
share one file but each upload gets its own `attachment` row. A 300x300 JPEG thumbnail
(`<sha256>.thumbnail`) is made with ImageMagick `convert` when it is on PATH, for PNG, JPEG,
GIF, TIFF, BMP and PDF files (told by their first bytes); otherwise, or when it fails, the
thumbnail is null.
"""

import base64
import errno
import logging
import os
import re
import secrets
import shutil
import subprocess
import time
import unicodedata
from datetime import datetime, timezone
from urllib.parse import quote

from ella import auth
from ella.config import max_upload_size
from ella.web.access import require_analysis
from ella.web.errors import ApiError, BadRequest, NotFound, PayloadTooLarge
from ella.web.http import FileResponse, Response
from ella.web.listing import page_args, page_headers, q_to_sql
from ella.web.multipart import UploadError, UploadTooLarge, receive_file
from ella.web.router import router

log = logging.getLogger(__name__)

API = "/api/v1"
THUMBNAIL_SIZE = "300x300"
THUMBNAIL_TIMEOUT = 30  # seconds
# An upload's temporary file older than this is one whose worker was killed mid-upload
# (nginx hands gunicorn a buffered body, so a live upload takes seconds, not a day).
STALE_UPLOAD_AGE = 24 * 3600  # seconds
TEMPORARY_NAME = re.compile(r"[0-9a-f]{32}")

Q_COLUMNS = {
    "id": ("a.id", "integer"),
    "sha256": ("a.sha256", "text"),
    "filename": ("a.filename", "text"),
    "size": ("a.size", "bigint"),
    "mimetype": ("a.mimetype", "text"),
    "extension": ("a.extension", "text"),
    "user_id": ("a.user_id", "integer"),
    "date_created": ("a.date_created", "timestamptz"),
}


# -- storage ---------------------------------------------------------------------------------

def storage_root(config):
    root = (config.get("app") or {}).get("attachment_storage")
    if not root:
        raise ApiError("Attachment storage is not configured (set app.attachment_storage / "
                       "ATTACHMENT_STORAGE)", 503)
    if not os.path.isdir(root):
        raise ApiError(f"Attachment storage directory does not exist: "
                       f"{os.path.basename(root.rstrip(os.sep)) or root}", 503)
    return root


def stored_path(root, sha256):
    if not re.fullmatch(r"[0-9a-f]{64}", sha256 or ""):
        raise NotFound("Attachment has no stored file")
    return os.path.join(root, sha256[:2], sha256)


def _fsync_directory(path):
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def place_file(root, received):
    """Move an uploaded file (multipart.ReceivedFile) to its content address; returns that
    path. An identical earlier upload's file is simply replaced by the same bytes."""
    final = stored_path(root, received.sha256)
    folder = os.path.dirname(final)
    try:
        new_folder = not os.path.isdir(folder)
        os.makedirs(folder, exist_ok=True)
        os.replace(received.path, final)
        # The rename itself made durable before the row that names the file commits: after
        # a power loss the row could otherwise point at a file that is not there. A folder
        # made for it is an entry of the root, made durable there.
        _fsync_directory(folder)
        if new_folder:
            _fsync_directory(root)
    finally:
        if os.path.exists(received.path):
            os.unlink(received.path)
    return final


# What the storage's state, not the request, makes fail: said so (the lab's IT can act on
# it), instead of a bare 500.
_STORAGE_FULL = {errno.ENOSPC, errno.EDQUOT}
_STORAGE_CLOSED = {errno.EROFS, errno.EACCES, errno.EPERM, errno.EXDEV, errno.EIO}


def storage_failure(exc, doing):
    """An ApiError for an OSError of the attachment storage, or None (not the storage's)."""
    if exc.errno in _STORAGE_FULL:
        log.error("attachment storage full while %s: %s", doing, exc)
        return ApiError(f"The attachment storage is full ({exc.strerror}): the file was not "
                        "stored; tell your system administrator", 507)
    if exc.errno in _STORAGE_CLOSED:
        log.error("attachment storage failed while %s: %s", doing, exc)
        return ApiError(f"The attachment storage cannot be written ({exc.strerror}): the "
                        "file was not stored; tell your system administrator", 503)
    return None


# ImageMagick is given only these formats, named explicitly by their magic bytes: left to
# guess, it would also run an uploaded MVG, MSL or SVG script (which can read local files
# into a thumbnail every user sees).
THUMBNAIL_FORMATS = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"), (b"GIF8", "gif"),
                     (b"II*\x00", "tiff"), (b"MM\x00*", "tiff"), (b"BM", "bmp"),
                     (b"%PDF-", "pdf"))


def thumbnail_format(path):
    """The ImageMagick coder for the file's content, or None (no thumbnail)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return None
    return next((coder for magic, coder in THUMBNAIL_FORMATS if head.startswith(magic)), None)


def make_thumbnail(path, tmp_dir):
    """`<path>.thumbnail` (300x300 JPEG of the first page/frame) when ImageMagick can read the
    file; failures are ignored (no thumbnail). Written first under an upload's temporary
    name in `tmp_dir`, where the sweep of killed uploads also finds what a worker killed
    mid-conversion left (beside the file, nothing ever removed it)."""
    convert = shutil.which("convert")
    target = path + ".thumbnail"
    coder = thumbnail_format(path)
    if convert is None or coder is None or os.path.exists(target):
        return
    tmp = os.path.join(tmp_dir, secrets.token_hex(16))  # (a TEMPORARY_NAME)
    try:
        result = subprocess.run(
            [convert, f"{coder}:{path}[0]", "-thumbnail", THUMBNAIL_SIZE, "-background",
             "white", "-flatten", f"jpeg:{tmp}"],
            capture_output=True, timeout=THUMBNAIL_TIMEOUT, check=False)
        if result.returncode == 0 and os.path.getsize(tmp) > 0:
            os.replace(tmp, target)
    except (OSError, subprocess.SubprocessError):
        pass
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_thumbnail(root, sha256):
    if root is None or not sha256:
        return None
    try:
        with open(stored_path(root, sha256) + ".thumbnail", "rb") as f:
            return base64.b64encode(f.read()).decode("ascii")
    except (OSError, NotFound):
        return None


def extension_of(filename):
    return filename.rsplit(".", 1)[1] if "." in filename else ""


def remove_stale_uploads(tmp_dir, now=None):
    """Remove the temporary files killed uploads left in `tmp_dir` (only names this module
    makes, older than STALE_UPLOAD_AGE); returns how many. Nothing else cleans them up."""
    now = time.time() if now is None else now
    removed = 0
    try:
        entries = list(os.scandir(tmp_dir))
    except FileNotFoundError:
        return 0
    for entry in entries:
        try:
            if TEMPORARY_NAME.fullmatch(entry.name) and entry.is_file(follow_symlinks=False) \
                    and now - entry.stat(follow_symlinks=False).st_mtime > STALE_UPLOAD_AGE:
                os.unlink(entry.path)
                removed += 1
        except FileNotFoundError:  # another worker's sweep took it first
            pass
    if removed:
        log.warning("removed %d temporary file(s) of uploads that never finished from %s",
                    removed, tmp_dir)
    return removed


# -- routes --------------------------------------------------------------------------------------

@router.route("POST", f"{API}/attachments/upload/", log_payload=False,
              summary="Upload a file (multipart field 'file'); answers {id}")
def upload(ctx):
    root = storage_root(ctx.config)
    limit = max_upload_size(ctx.config)
    if limit == 0:
        raise PayloadTooLarge("Attachments are turned off here (app.max_upload_size is 0)")
    tmp_dir = os.path.join(root, "tmp")
    try:  # streamed to a temporary file; 413 on a Content-Length over the limit, unread
        remove_stale_uploads(tmp_dir)
        received = receive_file(ctx.request.environ, limit, tmp_dir)
        stored = place_file(root, received)
    except UploadTooLarge as exc:
        raise PayloadTooLarge(str(exc)) from None
    except UploadError as exc:
        raise BadRequest(str(exc)) from None
    except OSError as exc:
        raise storage_failure(exc, "storing an upload") or exc
    make_thumbnail(stored, tmp_dir)
    attachment_id = ctx.conn.execute(
        "INSERT INTO attachment (sha256, filename, size, date_created, mimetype, extension, "
        "user_id) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (received.sha256, received.filename, received.size, datetime.now(timezone.utc),
         received.mimetype, extension_of(received.filename), ctx.user["id"])).fetchone()[0]
    return {"id": attachment_id}


def content_disposition(filename):
    """`attachment; filename=...` with a header-safe ASCII name (+ RFC 5987 `filename*` when
    the original is not plain ASCII)."""
    # Normalised first, then filtered: NFKD turns fullwidth quotes and semicolons into
    # ASCII ones, which would otherwise end the parameter.
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode(
        "ascii")
    ascii_name = "".join(c for c in ascii_name if c.isprintable() and c not in '"\\;')
    ascii_name = ascii_name.strip() or "attachment"
    if re.fullmatch(r"[A-Za-z0-9!#$&+.^_`|~-]+", ascii_name):
        value = f"attachment; filename={ascii_name}"
    else:
        value = f'attachment; filename="{ascii_name}"'
    if ascii_name != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


@router.route("GET", f"{API}/attachments/<int:attachment_id>",
              summary="Download an attachment with its original filename")
def download(ctx, attachment_id):
    row = ctx.conn.execute("SELECT sha256, filename, mimetype FROM attachment WHERE id = %s",
                           (attachment_id,)).fetchone()
    if row is None:
        raise NotFound(f"No attachment with id {attachment_id}")
    sha256, filename, mimetype = row
    root = storage_root(ctx.config)
    try:
        file = open(stored_path(root, sha256), "rb")  # closed by the response
        size = os.fstat(file.fileno()).st_size
    except FileNotFoundError:
        raise NotFound(f"The file of attachment {attachment_id} is missing from the "
                       "storage") from None
    except OSError as exc:  # there, but not readable (owner, mode, a disk error)
        log.error("attachment %s: cannot read its file: %s", attachment_id, exc)
        raise ApiError(f"The file of attachment {attachment_id} cannot be read from the "
                       f"storage ({exc.strerror}); tell your system administrator",
                       503) from None
    # ASCII only: a header value (ELLA stored whatever the browser sent, and gunicorn refuses
    # a non-ASCII header).
    content_type = mimetype if mimetype and re.fullmatch(r"[\w.+-]+/[\w.+-]+", mimetype,
                                                         re.ASCII) \
        else "application/octet-stream"
    return FileResponse(file, 0, size, 200, content_type,
                    [("Content-Disposition", content_disposition(filename)),
                     ("X-Content-Type-Options", "nosniff"),
                     ("Cache-Control", "private, no-store")])


@router.route("GET", f"{API}/attachments/",
              summary="Attachment metadata with thumbnails (q; pagination headers, no slicing)")
def list_attachments(ctx):
    condition, params = q_to_sql(ctx.request.json_arg("q"), Q_COLUMNS)
    rows = ctx.conn.execute(
        "SELECT a.id, a.sha256, a.filename, a.size, a.date_created, a.mimetype, a.extension, "
        f"a.user_id FROM attachment a WHERE {condition} ORDER BY a.id", params).fetchall()
    root = (ctx.config.get("app") or {}).get("attachment_storage")
    user_ids = sorted({r[7] for r in rows})
    users = {u["id"]: u for u in auth.users(ctx.conn, "u.id = ANY(%s)", (user_ids,),
                                             full=False)} if user_ids else {}
    items = [{"id": i, "sha256": sha, "filename": name, "size": size, "date_created": created,
              "mimetype": mimetype, "extension": ext, "thumbnail": read_thumbnail(root, sha),
              "user": users.get(uid)}
             for i, sha, name, size, created, mimetype, ext, uid in rows]
    page, per_page = page_args(ctx.request)
    return Response.json(items, headers=page_headers(page, per_page, len(items)))


@router.route("GET", f"{API}/attachments/analyses/<int:analysis_id>/<int:index>/",
              access="analysis",
              summary="N-th file of an analysis' attachment folder (disabled in ELLA 1.17)")
def analysis_attachment(ctx, analysis_id, index):
    require_analysis(ctx.conn, ctx.user, analysis_id)
    raise NotFound(f"Analysis attachments are disabled (as in ELLA 1.17): analysis "
                   f"{analysis_id} has no attachment number {index}")
