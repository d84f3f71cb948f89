"""Streaming multipart/form-data uploads (RFC 7578).

The request body is read in chunks; the part of the file field goes into a temporary file
while it is hashed, so an upload never sits in memory whole, and the parsing cost grows with
the size only (`email.parser` over the whole body used ~11 times the upload's size and
minutes of CPU for a body of many short lines). A body without Content-Length (chunked
transfer encoding) is read to its end, never beyond the limit.
"""

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from urllib.parse import unquote

from ella.text import bidi_control, control_character

CHUNK = 64 * 1024
MAX_PART_HEADERS = 4 * 1024  # bytes of one part's header block (a browser's are < 1 KiB)
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
        try:
            data = self.stream.read(size) if (self.stream is not None and size) else b""
        except Exception as exc:  # (gunicorn's chunk parse errors are no OSError)
            # The client went away mid-upload (a reset, a chunked body cut off or with a
            # broken chunk size: gunicorn's reader raises): not a fault of ours (it was a 500).
            raise UploadError(f"Malformed multipart body (truncated: the request ended "
                              f"early, {type(exc).__name__})") from None
        if self.left is not None:
            self.left = self.left - len(data) if data else 0
        self.total += len(data)
        if self.total > self.limit:
            raise UploadTooLarge(f"Request body too large (more than the limit of "
                                 f"{self.limit} bytes)")
        return data


class _Budget:
    """Bytes the form around the file may still take (FORM_OVERHEAD in all)."""

    def __init__(self, size):
        self.left = size

    def take(self, count):
        self.left -= count
        if self.left < 0:
            raise UploadTooLarge(f"Too much form around the file (more than {FORM_OVERHEAD} "
                                 "bytes besides the file)")


def _read_until(body, buf, marker, sink=None, max_bytes=None, budget=None):
    """Consume `buf` (refilled from `body`) up to and including `marker`; the bytes before
    it go to `sink` (at most `max_bytes` of them) and count against `budget`. False when the
    body ends first."""
    seen = 0

    def emit(data):
        nonlocal seen
        seen += len(data)
        if max_bytes is not None and seen > max_bytes:
            raise UploadError("Malformed multipart body (a part's headers are too long)")
        if budget is not None:
            budget.take(len(data))
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


# A header parameter: `; name=token` or `; name="quoted \\"string\\""`. Matched from one
# position to the next, so parsing is linear in the header's length.
_PARAMETER = re.compile(r'\s*;\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*'
                        r'(?:"((?:[^"\\]|\\.)*)"|([^;]*))')
# Only \" and \\ are unescaped in a quoted value: browsers send a Windows path's backslashes
# as they are (HTML escapes only '"', CR and LF), and the base name is taken after them.
_QUOTED_PAIR = re.compile(r'\\(["\\])')
_TOKEN = r"[!#$%&'*+.^_`|~0-9a-z-]+"
_MEDIA_TYPE = re.compile(f"{_TOKEN}/{_TOKEN}")


def _header_fields(raw):
    """{lower-case name: value} of a part's header block (UTF-8, as browsers send names; a
    block that is not UTF-8, from an older client, is read as Latin-1: `été.txt` was stored
    as `\ufffdt\ufffd.txt`, a name nobody gave the file)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    fields, last = {}, None
    for line in text.split("\r\n"):
        if line[:1] in (" ", "\t") and last is not None:  # an obsolete folded line
            fields[last] += " " + line.strip()
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise UploadError("Malformed multipart body (a part header without a name)")
        last = name.strip().lower()
        fields[last] = value.strip()
    return fields


def _value_and_parameters(value):
    """('form-data', {'name': ..., 'filename': ...}) of a header value, parameters by
    lower-case name, quoted strings unquoted."""
    main, semicolon, rest = value.partition(";")
    parameters, position, rest = {}, 0, semicolon + rest
    while rest[position:].strip("; \t"):  # (a trailing ';' is tolerated)
        match = _PARAMETER.match(rest, position)
        if not match:
            raise UploadError("Malformed multipart body (a part header's parameters cannot "
                              "be read)")
        quoted, token = match.group(2), match.group(3)
        parameters[match.group(1).lower()] = _QUOTED_PAIR.sub(r"\1", quoted) \
            if quoted is not None else token.strip()
        position = match.end()
    return main.strip().lower(), parameters


def _extended_value(value):
    """The text of an RFC 5987 `filename*` value (`UTF-8''r%C3%A9sum%C3%A9.txt`)."""
    charset, quote, rest = value.partition("'")
    _, quote2, encoded = rest.partition("'")
    charset = charset.strip().lower()
    if not (quote and quote2) or charset not in ("utf-8", "iso-8859-1", "us-ascii"):
        raise UploadError("Malformed multipart body (a filename* that is not UTF-8'' or "
                          "ISO-8859-1'' encoded)")
    try:
        return unquote(encoded, encoding=charset, errors="strict")
    except UnicodeDecodeError:
        # (was stored with U+FFFD in place of the bytes: a name nobody had given the file)
        raise UploadError(f"Malformed multipart body (a filename* that is not valid "
                          f"{charset.upper()})") from None


def _part_headers(raw):
    """(name, filename or None, Content-Type or None) of a form-data part. A small parser
    for the two headers a form part has: `email.parser` took ~70 µs per header byte, and a
    run of '(' (comments, parsed recursively) ended in a RecursionError."""
    fields = _header_fields(raw) if raw else {}
    disposition, parameters = _value_and_parameters(fields.get("content-disposition", ""))
    if disposition != "form-data":
        return None, None, None
    encoding = fields.get("content-transfer-encoding", "binary").strip().lower()
    if encoding not in ("binary", "8bit", "7bit"):
        raise UploadError(f"Unsupported Content-Transfer-Encoding {encoding[:40]!r} in a part "
                          "(RFC 7578: parts are sent as they are)")
    filename = _extended_value(parameters["filename*"]) if "filename*" in parameters \
        else parameters.get("filename")
    mimetype = None
    if fields.get("content-type"):
        mimetype = _value_and_parameters(fields["content-type"])[0]
        if not _MEDIA_TYPE.fullmatch(mimetype):
            raise UploadError(f"Malformed multipart body (a part's Content-Type "
                              f"{mimetype[:40]!r} is not type/subtype)")
    return parameters.get("name"), filename, mimetype


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
    length = int(raw_length) if raw_length.isascii() and raw_length.isdigit() \
        and len(raw_length) <= 18 else None  # (`²` is a digit to isdigit, not to int)
    if length is None and "chunked" not in (environ.get("HTTP_TRANSFER_ENCODING") or "").lower():
        length = 0
    if length is not None and length > limit + FORM_OVERHEAD:
        raise UploadTooLarge(f"Request body too large ({length} bytes) for a file of at most "
                             f"{limit} bytes")
    body, buf = _Body(environ.get("wsgi.input"), length, limit + FORM_OVERHEAD), bytearray()
    # Everything but the file's own bytes counts against the form's budget (up to 64 KiB of
    # form around the file, README "Routes"): thousands of small parts took minutes to read.
    budget = _Budget(FORM_OVERHEAD)
    if not _read_until(body, buf, delimiter, budget=budget):
        raise UploadError("Malformed multipart body (no boundary)")
    received = None
    try:
        while True:
            budget.take(len(delimiter))
            _fill(body, buf, 2)
            if buf[:2] == b"--":
                break  # the closing delimiter
            if not _read_until(body, buf, b"\r\n", max_bytes=1024, budget=budget):
                raise UploadError("Malformed multipart body (truncated)")
            headers = bytearray()
            _fill(body, buf, 2)
            if buf[:2] == b"\r\n":  # a part without headers
                del buf[:2]
            elif not _read_until(body, buf, b"\r\n\r\n", headers.extend, MAX_PART_HEADERS,
                                 budget):
                raise UploadError("Malformed multipart body (truncated)")
            name, filename, mimetype = _part_headers(bytes(headers))
            if received is None and name == field:
                received = _receive_part(body, buf, b"\r\n" + delimiter, filename, mimetype,
                                         tmp_dir, field, limit)
            elif not _read_until(body, buf, b"\r\n" + delimiter, budget=budget):
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
    # Every user may download an attachment by the name it is listed with: a line break or
    # other control character hid part of it (`\x01\x02.txt` was offered as `.txt`), and a
    # direction control showed `invoice\u202efdp.exe` as "invoiceexe.pdf".
    odd = control_character(filename) or bidi_control(filename)
    if odd:
        raise UploadError(f"The field '{field}' has a filename with the control character "
                          f"U+{ord(odd):04X}; rename the file")
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
