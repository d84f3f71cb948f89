"""Streaming multipart/form-data uploads (RFC 7578).

The request body is read in chunks; the part of the file field goes into a temporary file
while it is hashed, so an upload never sits in memory whole, and the parsing cost grows with
the size only (`email.parser` over the whole body used ~11 times the upload's size and
minutes of CPU for a body of many short lines). A body without Content-Length (chunked
transfer encoding) is read to its end, never beyond the limit.
"""

import email.parser
import email.policy
import hashlib
import os
import re
import secrets
from dataclasses import dataclass

CHUNK = 64 * 1024
MAX_PART_HEADERS = 16 * 1024  # bytes of one part's header block
_BOUNDARY = re.compile(r';\s*boundary=(?:"([^"\r\n]{1,70})"|([^\s;"]{1,70}))', re.IGNORECASE)


class UploadError(ValueError):
    """A malformed upload (answered 400)."""


class UploadTooLarge(ValueError):
    """More than the limit (answered 413)."""


@dataclass
class ReceivedFile:
    filename: str
    mimetype: str | None
    size: int
    sha256: str
    path: str  # the temporary file; the caller moves it into place or deletes it


class _Body:
    """The request body in chunks, refusing more than `limit` bytes."""

    def __init__(self, stream, length, limit):
        self.stream, self.left, self.limit, self.total = stream, length, limit, 0

    def read(self):
        size = CHUNK if self.left is None else min(CHUNK, self.left)
        data = self.stream.read(size) if (self.stream is not None and size) else b""
        if self.left is not None:
            self.left = self.left - len(data) if data else 0
        self.total += len(data)
        if self.total > self.limit:
            raise UploadTooLarge(f"Request body too large (more than the limit of "
                                 f"{self.limit} bytes)")
        return data


def _read_until(body, buf, marker, sink=None, max_bytes=None):
    """Consume `buf` (refilled from `body`) up to and including `marker`; the bytes before
    it go to `sink` (at most `max_bytes` of them). False when the body ends first."""
    seen = 0

    def emit(data):
        nonlocal seen
        seen += len(data)
        if max_bytes is not None and seen > max_bytes:
            raise UploadError("Malformed multipart body (a part's headers are too long)")
        if sink is not None and data:
            sink(bytes(data))

    keep = len(marker) - 1  # a marker can straddle two chunks
    while True:
        found = buf.find(marker)
        if found >= 0:
            emit(buf[:found])
            del buf[:found + len(marker)]
            return True
        if len(buf) > keep:
            emit(buf[:len(buf) - keep])
            del buf[:len(buf) - keep]
        data = body.read()
        if not data:
            return False
        buf += data


def _fill(body, buf, size):
    while len(buf) < size:
        data = body.read()
        if not data:
            return
        buf += data


def _part_headers(raw):
    """(name, filename or None, Content-Type or None) of a form-data part."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw + b"\r\n\r\n")
    if message.get_content_disposition() != "form-data":
        return None, None, None
    encoding = (message.get("Content-Transfer-Encoding") or "binary").strip().lower()
    if encoding not in ("binary", "8bit", "7bit"):
        raise UploadError(f"Unsupported Content-Transfer-Encoding {encoding[:40]!r} in a part "
                          "(RFC 7578: parts are sent as they are)")
    mimetype = message.get_content_type() if message.get("Content-Type") else None
    return (message.get_param("name", header="content-disposition"), message.get_filename(),
            mimetype)


# What a multipart body may carry besides the file: boundaries, part headers and small form
# fields. `limit` is the file's (app.max_upload_size, as the UI checks it).
FORM_OVERHEAD = 64 * 1024


def receive_file(environ, limit, tmp_dir, field="file"):
    """The first part named `field` of the request's multipart body, stored in a temporary
    file under `tmp_dir`; the file may have up to `limit` bytes. UploadError / UploadTooLarge
    for what cannot be taken."""
    content_type = environ.get("CONTENT_TYPE") or ""
    if not content_type.lower().startswith("multipart/form-data"):
        raise UploadError(f"Expected multipart/form-data with a field '{field}'")
    if "\r" in content_type or "\n" in content_type:
        raise UploadError("Malformed Content-Type header")
    match = _BOUNDARY.search(content_type)
    if not match:
        raise UploadError("Malformed multipart body (no boundary)")
    delimiter = b"--" + (match.group(1) or match.group(2)).encode("latin-1", "replace")
    raw_length = (environ.get("CONTENT_LENGTH") or "").strip()
    length = int(raw_length) if raw_length.isdigit() and len(raw_length) <= 18 else None
    if length is None and "chunked" not in (environ.get("HTTP_TRANSFER_ENCODING") or "").lower():
        length = 0
    if length is not None and length > limit + FORM_OVERHEAD:
        raise UploadTooLarge(f"Request body too large ({length} bytes) for a file of at most "
                             f"{limit} bytes")
    body, buf = _Body(environ.get("wsgi.input"), length, limit + FORM_OVERHEAD), bytearray()
    if not _read_until(body, buf, delimiter):
        raise UploadError("Malformed multipart body (no boundary)")
    received = None
    try:
        while True:
            _fill(body, buf, 2)
            if buf[:2] == b"--":
                break  # the closing delimiter
            if not _read_until(body, buf, b"\r\n", max_bytes=1024):
                raise UploadError("Malformed multipart body (truncated)")
            headers = bytearray()
            _fill(body, buf, 2)
            if buf[:2] == b"\r\n":  # a part without headers
                del buf[:2]
            elif not _read_until(body, buf, b"\r\n\r\n", headers.extend, MAX_PART_HEADERS):
                raise UploadError("Malformed multipart body (truncated)")
            name, filename, mimetype = _part_headers(bytes(headers))
            if received is None and name == field:
                received = _receive_part(body, buf, b"\r\n" + delimiter, filename, mimetype,
                                         tmp_dir, field, limit)
            elif not _read_until(body, buf, b"\r\n" + delimiter):
                raise UploadError("Malformed multipart body (truncated)")
    except BaseException:
        if received is not None:
            os.unlink(received.path)
        raise
    if received is None:
        raise UploadError(f"Missing multipart field '{field}'")
    return received


def _receive_part(body, buf, end, filename, mimetype, tmp_dir, field, limit):
    if not filename:
        raise UploadError(f"The field '{field}' has no filename")
    # Browsers (old IE) may send a full client path: keep the last component.
    filename = re.split(r"[\\/]", filename)[-1].strip()
    if not filename or filename in (".", ".."):
        raise UploadError(f"The field '{field}' has no usable filename")
    if "\x00" in filename or "\x00" in (mimetype or ""):
        raise UploadError(f"The field '{field}' has a NUL character in its filename or type, "
                          "which cannot be stored")
    os.makedirs(tmp_dir, exist_ok=True)
    path = os.path.join(tmp_dir, secrets.token_hex(16))
    digest, size = hashlib.sha256(), 0
    try:
        with open(path, "xb") as out:
            def write(data):
                nonlocal size
                size += len(data)
                if size > limit:
                    raise UploadTooLarge(f"The file is larger than the limit of {limit} bytes")
                digest.update(data)
                out.write(data)
            if not _read_until(body, buf, end, write):
                raise UploadError("Malformed multipart body (truncated)")
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        os.unlink(path)
        raise
    return ReceivedFile(filename, mimetype, size, digest.hexdigest(), path)
