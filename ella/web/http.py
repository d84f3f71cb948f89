"""Request parsing and JSON responses (WSGI, standard library only)."""

import ipaddress
import json
import re
from datetime import date, datetime
from decimal import Decimal
from urllib.parse import parse_qs

from ella import jsonload
from ella.web.errors import BadRequest, PayloadTooLarge
from ella.web.validation import PG_INT_MAX, digits_to_int

# JSON request bodies larger than this are refused (413) before they are read.
MAX_JSON_BODY = 10 * 1024 * 1024
# Deeper JSON is refused: ELLA's own requests nest far less, and very deep nesting exhausts
# Python's recursion limit when the value is parsed or written out again (a 500).
MAX_JSON_DEPTH = 100

_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)

NO_CACHE = "no-store, no-cache, must-revalidate, post-check=0, pre-check=0"


def _default(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(value):
    """ELLA's encoding: plain json.dumps (ASCII), ISO datetimes with offset, nulls kept."""
    return json.dumps(value, default=_default)


def parse_json(raw, where):
    """JSON text as the handlers and PostgreSQL can take it: NaN, Infinity, NUL characters
    (PostgreSQL text refuses them) and very deep nesting are a 400 here, not a 500 later.
    The checks are those of deposited files (`ella.jsonload`)."""
    try:
        return jsonload.loads(raw, max_depth=MAX_JSON_DEPTH)
    except jsonload.UnstorableJson as exc:
        raise BadRequest(f"JSON in the {where} refused: {exc}") from None
    except UnicodeDecodeError as exc:
        raise BadRequest(f"The {where} is not UTF-8 text (byte {exc.start}: "
                         f"{exc.reason})") from None
    except ValueError as exc:
        raise BadRequest(f"Malformed JSON in the {where}: {exc}") from None


def parse_query(query_string):
    """Query parameters; the first value of a repeated one wins (as in ELLA). A NUL
    character (which PostgreSQL text refuses) is a 400."""
    args = {k: v[0] for k, v in parse_qs(query_string, keep_blank_values=True).items()}
    for key, value in args.items():
        if "\x00" in key or "\x00" in value:
            raise BadRequest(f"Query parameter {key!r} contains a NUL character, which cannot "
                             "be stored")
    return args


def wsgi_path(path_info):
    """PATH_INFO as text: a WSGI server hands over the URL's decoded bytes as Latin-1 (PEP
    3333), so a panel version `v1.0 é` arrived as `v1.0 Ã©` and was never found. A path that
    is no UTF-8 stays as it came (it matches no route's name); one the server gave as text
    already (no PEP 3333 server) too."""
    try:
        return path_info.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return path_info


class Request:
    def __init__(self, environ, trusted_proxies=()):
        self.environ = environ
        # Peers besides loopback and the unix socket whose X-Forwarded-For names the client
        # (FORWARDED_ALLOW_IPS: a tuple of ip_network, or "*").
        self.trusted_proxies = trusted_proxies
        self.method = environ.get("REQUEST_METHOD", "GET").upper()
        self.path = wsgi_path(environ.get("PATH_INFO", "") or "/")
        self.query_string = environ.get("QUERY_STRING", "")
        self.args = {}          # set by parse_args(), which may refuse the query (400)
        self.path_params = {}
        self.user = None        # dict of the logged-in user, set by the app
        self.session_id = None  # usersession.id of a valid session, else None
        self.token = None       # the raw cookie token (never logged)
        self.session_checked = False  # the cookie was looked up (session_id is its answer)
        self._body = None
        # The refusal of a body read in part (a chunked one over the limit, one that broke
        # off): said again, never read on.
        self._refused = None

    @property
    def remote_addr(self):
        """Client address. One proxy hop (our nginx, on the unix socket or loopback, or at an
        address of FORWARDED_ALLOW_IPS: an nginx on another host, API_UPSTREAM) is trusted
        to append X-Forwarded-For; a client reaching gunicorn directly over the network
        cannot write another address into the audit log with that header."""
        peer = self.environ.get("REMOTE_ADDR", "")
        try:
            peer_ip = ipaddress.ip_address(peer.rsplit("%", 1)[0])
            # An IPv4 peer of a dual-stack listener (HOST=::) is `::ffff:10.0.0.5`.
            peer_ip = getattr(peer_ip, "ipv4_mapped", None) or peer_ip
            via_proxy = peer_ip.is_loopback or self.trusted_proxies == "*" or any(
                peer_ip in network for network in self.trusted_proxies)
        except ValueError:
            via_proxy = True  # a unix socket: only our nginx can reach it
        forwarded = self.environ.get("HTTP_X_FORWARDED_FOR", "") if via_proxy else ""
        candidates = [a.strip() for a in forwarded.split(",") if a.strip()][-1:] + [peer]
        for address in candidates:
            try:
                ip = ipaddress.ip_address(address)
            except ValueError:
                continue
            if getattr(ip, "scope_id", None) is not None:
                # PostgreSQL's inet takes no zone (`fe80::1%eth0`): the row was lost, and
                # with it the request's audit.
                ip = ipaddress.ip_address(address.rsplit("%", 1)[0])
            return str(ip)
        return "0.0.0.0"  # unix socket without a proxy header: resourcelog needs an inet

    @property
    def content_length(self):
        try:
            return max(0, int(self.environ.get("CONTENT_LENGTH") or 0))
        except ValueError:
            return 0

    def parse_args(self):
        self.args = parse_query(self.query_string)

    def cookie(self, name):
        """The value of cookie `name` (the first one, as browsers send the most specific path
        first), or None. Read piece by piece: the standard library's SimpleCookie stops at the
        first cookie it cannot parse (a JSON value or a space another application on this host
        set), which would hide a valid session behind it."""
        for piece in self.environ.get("HTTP_COOKIE", "").split(";"):
            key, sep, value = piece.partition("=")
            if sep and key.strip() == name:
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] == '"':
                    value = value[1:-1]
                return value
        return None

    def body(self, limit=MAX_JSON_BODY):
        """The raw request body (bytes), refusing more than `limit` bytes with 413."""
        if self._body is None:
            if self._refused is not None:
                raise self._refused
            stream = self.environ.get("wsgi.input")
            try:
                if self._chunked():
                    # No Content-Length (`Transfer-Encoding: chunked`, which gunicorn ends for
                    # us): read up to one byte past the limit (it was read as no body at all).
                    data = _read_at_most(stream, limit + 1) if stream else b""
                    if len(data) > limit:
                        self._refused = PayloadTooLarge(f"Request body too large (over "
                                                        f"{limit} bytes; the limit is {limit})")
                        raise self._refused
                    self._body = data
                    return self._body
                length = self.content_length
                if length > limit:
                    raise PayloadTooLarge(f"Request body too large ({length} bytes; the limit "
                                          f"is {limit})")
                self._body = stream.read(length) if (stream and length) else b""
            except PayloadTooLarge:
                raise
            except Exception as exc:
                # The server's reader failed: a chunked body cut off or with a broken chunk
                # size (gunicorn's parse errors are no OSError). The client's fault: a 400,
                # not a 500 (nor a request escaping the app, unaudited).
                self._refused = BadRequest(f"Malformed request body (the request ended early "
                                           f"or its chunked encoding is broken: "
                                           f"{type(exc).__name__})")
                raise self._refused from None
        return self._body

    def _chunked(self):
        return not (self.environ.get("CONTENT_LENGTH") or "").strip() and "chunked" in (
            self.environ.get("HTTP_TRANSFER_ENCODING") or "").lower()

    def json(self, required=True):
        """The JSON body, sent as application/json (or +json); bad JSON is a 400.

        A body without a Content-Type is refused too (ELLA reads none): a browser sends one
        (a typeless Blob) from any web page without asking the server first, so a page
        could lock accounts with six login attempts or write in a visitor's name."""
        content_type = (self.environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
        if content_type and content_type != "application/json" and not content_type.endswith("+json"):
            raise BadRequest(f"Expected a JSON body (Content-Type application/json), got "
                             f"{content_type}")
        raw = self.body()
        if not raw.strip():
            if required:
                raise BadRequest("A JSON body is required")
            return None
        if not content_type:
            raise BadRequest("Expected a JSON body with Content-Type application/json; the "
                             "request had no Content-Type")
        return parse_json(raw, "body")

    def json_arg(self, name):
        """A query parameter holding JSON (e.g. `q`); absent, empty or `null` -> None."""
        raw = self.args.get(name)
        if raw is None or raw.strip() in ("", "null"):
            return None
        return parse_json(raw, f"query parameter {name!r}")

    def int_arg(self, name, default=None, minimum=None, maximum=PG_INT_MAX):
        """An integer parameter; by default at most PostgreSQL's integer maximum (pass
        maximum=None for values never given to the database, e.g. byte offsets)."""
        raw = self.args.get(name)
        if raw is None or raw == "":
            return default
        try:
            # ASCII digits: int() also reads `١` (Arabic-Indic one), `1_000` and `²`'s kin.
            if not _INTEGER.fullmatch(raw.strip()):
                raise ValueError(raw)
            value = int(raw)
        except ValueError:
            raise BadRequest(f"Query parameter {name!r} must be an integer, got {raw!r}") from None
        if minimum is not None and value < minimum:
            raise BadRequest(f"Query parameter {name!r} must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise BadRequest(f"Query parameter {name!r} must be at most {maximum}")
        return value

    def id_list_arg(self, name, required=False, unique=True):
        """Comma-separated integer ids (`allele_ids=3,4,5`), each once, in first-seen order
        (an answer per repeated id made a 200 KB query a 300 MB response); with
        `unique=False` as given, repeats included."""
        raw = self.args.get(name)
        if raw is None:
            if required:
                raise BadRequest(f"Missing required arg {name}")
            return None
        ids = []
        for item in raw.split(","):
            item = item.strip()
            if not item:
                continue
            value = digits_to_int(item, f"Query parameter {name!r}: id {item[:20]}")
            if value is None:
                raise BadRequest(f"Query parameter {name!r} must be comma-separated ids, "
                                 f"got {item!r}")
            ids.append(value)
        return list(dict.fromkeys(ids)) if unique else ids


class Response:
    def __init__(self, body=b"", status=200, content_type="application/json", headers=None):
        self.body = body if isinstance(body, bytes) else body.encode("utf-8")
        self.status = status
        self.headers = [("Content-Type", content_type)] + list(headers or [])

    @classmethod
    def json(cls, value, status=200, headers=None):
        return cls(to_json(value), status, "application/json",
                   [("Cache-Control", NO_CACHE)] + list(headers or []))

    @classmethod
    def error(cls, status, message, headers=None):
        return cls.json({"message": message}, status, headers)

    @property
    def content_length(self):
        return len(self.body)

    def chunks(self):
        """The WSGI body iterable."""
        return [self.body]


class JsonPartsResponse(Response):
    """A JSON answer sent in the byte strings it was built in (a list of thousands of
    variants is never joined into one more copy of itself). `body` is not kept: the route
    must not log its response."""

    def __init__(self, parts, status=200, headers=None):
        super().__init__(b"", status, "application/json",
                         [("Cache-Control", NO_CACHE)] + list(headers or []))
        self.parts = parts

    @property
    def content_length(self):
        return sum(len(part) for part in self.parts)

    def chunks(self):
        return self.parts


class FileResponse(Response):
    """`length` bytes of an open binary file from `start`, sent in chunks: a reference genome
    or a BAM file is never read into memory whole. The file is closed when the server closes
    the iterable (also for HEAD, or when the client goes away)."""

    CHUNK = 256 * 1024

    def __init__(self, file, start, length, status=200, content_type="application/octet-stream",
                 headers=None):
        super().__init__(b"", status, content_type, headers)
        self.file, self.start, self.length = file, start, length

    @property
    def content_length(self):
        return self.length

    def chunks(self):
        return _FileChunks(self.file, self.start, self.length, self.CHUNK)


class _FileChunks:
    def __init__(self, file, start, length, chunk):
        self.file, self.start, self.left, self.chunk = file, start, length, chunk

    def __iter__(self):
        self.file.seek(self.start)
        while self.left > 0:
            data = self.file.read(min(self.chunk, self.left))
            if not data:  # the file shrank since its size was taken
                break
            self.left -= len(data)
            yield data

    def close(self):
        self.file.close()


def _read_at_most(stream, size):
    """Up to `size` bytes of a stream whose end the server marks (a chunked body)."""
    parts, left = [], size
    while left > 0:
        part = stream.read(min(left, 1 << 16))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)
