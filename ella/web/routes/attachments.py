"""Attachments: upload, download, metadata list (api.md 2.13, 4.28; datamodel.md 4.9).

Files are content-addressed under `app.attachment_storage`: `<storage>/<sha256[0:2]>/<sha256>`,
written first to `<storage>/tmp/<random hex>` and then renamed into place; identical uploads
share one file but each upload gets its own `attachment` row. A 300x300 JPEG thumbnail
(`<sha256>.thumbnail`) is made with ImageMagick `convert` when it is on PATH; without it, or
when it fails, the thumbnail is null.
"""

import base64
import email.parser
import email.policy
import hashlib
import os
import re
import secrets
import shutil
import subprocess
import unicodedata
from datetime import datetime, timezone
from urllib.parse import quote

from ella import auth
from ella.web.access import require_analysis
from ella.web.errors import ApiError, BadRequest, NotFound
from ella.web.http import FileResponse, Response
from ella.web.listing import page_args, page_headers, q_to_sql
from ella.web.router import router

API = "/api/v1"
THUMBNAIL_SIZE = "300x300"
THUMBNAIL_TIMEOUT = 30  # seconds

Q_COLUMNS = {
    "id": ("a.id", "integer"),
    "sha256": ("a.sha256", "text"),
    "filename": ("a.filename", "text"),
    "size": ("a.size", "integer"),
    "mimetype": ("a.mimetype", "text"),
    "extension": ("a.extension", "text"),
    "user_id": ("a.user_id", "integer"),
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


def store_file(root, data):
    """Write `data` content-addressed into `root`; returns (sha256, final path)."""
    digest = hashlib.sha256(data).hexdigest()
    tmp_dir = os.path.join(root, "tmp")
    os.makedirs(tmp_dir, exist_ok=True)
    tmp_path = os.path.join(tmp_dir, secrets.token_hex(16))
    try:
        with open(tmp_path, "xb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        final = stored_path(root, digest)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        os.replace(tmp_path, final)
    finally:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
    return digest, final


def make_thumbnail(path):
    """`<path>.thumbnail` (300x300 JPEG of the first page/frame) when ImageMagick can read the
    file; failures are ignored (no thumbnail)."""
    convert = shutil.which("convert")
    target = path + ".thumbnail"
    if convert is None or os.path.exists(target):
        return
    tmp = f"{target}.{secrets.token_hex(8)}"
    try:
        result = subprocess.run(
            [convert, f"{path}[0]", "-thumbnail", THUMBNAIL_SIZE, "-background", "white",
             "-flatten", f"jpeg:{tmp}"],
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


# -- multipart ---------------------------------------------------------------------------------

def parse_upload(content_type, body):
    """(filename, mimetype, bytes) of the multipart field `file`."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise BadRequest("Expected multipart/form-data with a field 'file'")
    if "\r" in content_type or "\n" in content_type:
        raise BadRequest("Malformed Content-Type header")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1",
                                                                                 "replace")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart() or not message.get_boundary():
        raise BadRequest("Malformed multipart body (no boundary)")
    for part in message.iter_parts():
        if part.get_content_disposition() != "form-data":
            continue
        if part.get_param("name", header="content-disposition") != "file":
            continue
        filename = part.get_filename()
        if not filename:
            raise BadRequest("The field 'file' has no filename")
        # Browsers (old IE) may send a full client path: keep the last component.
        filename = re.split(r"[\\/]", filename)[-1].strip()
        if not filename or filename in (".", ".."):
            raise BadRequest("The field 'file' has no usable filename")
        data = part.get_payload(decode=True) or b""
        mimetype = part.get("Content-Type")
        mimetype = part.get_content_type() if mimetype else None
        if "\x00" in filename or "\x00" in (mimetype or ""):
            raise BadRequest("The field 'file' has a NUL character in its filename or type, "
                             "which cannot be stored")
        return filename, mimetype, data
    raise BadRequest("Missing multipart field 'file'")


def extension_of(filename):
    return filename.rsplit(".", 1)[1] if "." in filename else ""


# -- routes --------------------------------------------------------------------------------------

@router.route("POST", f"{API}/attachments/upload/", log_payload=False,
              summary="Upload a file (multipart field 'file'); answers {id}")
def upload(ctx):
    root = storage_root(ctx.config)
    limit = int(ctx.config["app"].get("max_upload_size") or 50 * 1024 * 1024)
    body = ctx.request.body(limit=limit)  # 413 on Content-Length > limit, before reading
    filename, mimetype, data = parse_upload(ctx.request.environ.get("CONTENT_TYPE") or "", body)
    digest, path = store_file(root, data)
    make_thumbnail(path)
    attachment_id = ctx.conn.execute(
        "INSERT INTO attachment (sha256, filename, size, date_created, mimetype, extension, "
        "user_id) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (digest, filename, len(data), datetime.now(timezone.utc), mimetype,
         extension_of(filename), ctx.user["id"])).fetchone()[0]
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
    except OSError:
        raise NotFound(f"The file of attachment {attachment_id} is missing from the "
                       "storage") from None
    content_type = mimetype if mimetype and re.fullmatch(r"[\w.+-]+/[\w.+-]+", mimetype) \
        else "application/octet-stream"
    return FileResponse(file, 0, size, 200, content_type,
                    [("Content-Disposition", content_disposition(filename)),
                     ("X-Content-Type-Options", "nosniff"),
                     ("Cache-Control", "private, max-age=0")])


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
