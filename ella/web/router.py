"""The route table: path patterns with typed parameters, and the OpenAPI document made from it.

Patterns are ELLA's (`/api/v1/users/<int:user_id>/`). `<int:x>` matches non-negative decimal
integers and is passed as int (beyond PostgreSQL's integer range: 400); `<x>` matches one
path segment (no `/`; a NUL character: 400). A route that ends in a slash is also served
without it (ELLA answers 308 there; serving it directly is compatible).
Every route says who may call it (`auth`: "login", "optional" or "open") and which object
access rule its handler applies (`access`), so tests can walk the table.
"""

import re
from dataclasses import dataclass, field

from ella.web.errors import BadRequest, MethodNotAllowed, NotFound
from ella.web.validation import digits_to_int

AUTH_KINDS = ("login", "optional", "open")
_PARAM = re.compile(r"<(?:(int):)?([a-z_]+)>")


def _operation_id(method, pattern):
    """`get_workflows_analyses_analysis_id_actions_finalize` for GET
    /api/v1/workflows/analyses/<int:analysis_id>/actions/finalize/."""
    words = re.sub(r"[^a-z0-9]+", "_", _PARAM.sub(r"\2", pattern.removeprefix("/api/v1")))
    return f"{method.lower()}_{words.strip('_')}"


@dataclass
class Route:
    method: str
    pattern: str
    handler: object
    auth: str = "login"
    summary: str = ""
    # Object-level access rule the handler enforces: None (no object of a gene panel or
    # analysis is exposed), "genepanel", "analysis", "group" ... (documented per route).
    access: str | None = None
    log_payload: bool = True     # False: resourcelog.payload stays NULL (passwords)
    log_response: bool = False   # True: resourcelog.response stores the body
    resource_log: bool = True    # False: no resourcelog row at all (polled/IGV data routes)
    regex: re.Pattern = field(init=False, repr=False)
    params: list = field(init=False, repr=False)

    def __post_init__(self):
        if self.auth not in AUTH_KINDS:
            raise ValueError(f"{self.pattern}: auth must be one of {AUTH_KINDS}")
        self.params = []
        parts, pos = [], 0
        for match in _PARAM.finditer(self.pattern):
            parts.append(re.escape(self.pattern[pos:match.start()]))
            kind, name = match.groups()
            self.params.append((name, kind or "str"))
            parts.append(f"(?P<{name}>[0-9]+)" if kind == "int" else f"(?P<{name}>[^/]+)")
            pos = match.end()
        tail = self.pattern[pos:]
        if tail.endswith("/"):
            parts.append(re.escape(tail[:-1]) + "/?")
        else:
            parts.append(re.escape(tail))
        self.regex = re.compile("^" + "".join(parts) + "$")

    def match(self, path):
        """The path's parameter values (`int` ones still as their digits), or None."""
        # (fullmatch: `$` matches before a final newline too, and `currentuser/%0a` was
        # served, audited under a path no query for the route finds.)
        m = self.regex.fullmatch(path)
        if not m:
            return None
        values = {}
        for name, kind in self.params:
            # PATH_INFO is already percent-decoded by the server (PEP 3333); decoding again
            # would turn a file named a%20b.bed into "a b.bed".
            raw = m.group(name)
            if kind == "str" and ("/" in raw or raw == ""):
                return None
            values[name] = raw
        return values

    def convert(self, values):
        """Matched values as the handler gets them: ints within the database's integer
        range, no NUL character (PostgreSQL text refuses it); 400 otherwise."""
        kinds = dict(self.params)
        for name, raw in values.items():
            if kinds[name] == "int":
                values[name] = digits_to_int(raw, f"Path parameter {name}")
            elif "\x00" in raw:
                raise BadRequest(f"Path parameter {name} contains a NUL character")

        return values


class Router:
    def __init__(self):
        self.routes = []

    def add(self, method, pattern, handler, **options):
        for existing in self.routes:
            if existing.method == method and existing.pattern == pattern:
                raise ValueError(f"route {method} {pattern} defined twice")
        self.routes.append(Route(method, pattern, handler, **options))

    def route(self, method, pattern, **options):
        def register(fn):
            self.add(method, pattern, fn, **options)
            return fn
        return register

    def methods(self, path):
        """The methods `path` answers (HEAD with GET, OPTIONS with any), sorted; empty when
        no route matches it."""
        found = {route.method for route in self.routes if route.match(path) is not None}
        if "GET" in found:
            found.add("HEAD")
        return sorted(found | {"OPTIONS"}) if found else []

    def hides_payload(self, path):
        """Whether a route of `path` keeps its payload out of resourcelog (any method)."""
        return any(not route.log_payload for route in self.routes
                   if route.match(path) is not None)

    def resolve(self, method, path):
        """(route, path params); NotFound / MethodNotAllowed otherwise."""
        matched = False
        for route in self.routes:
            values = route.match(path)
            if values is None:
                continue
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, route.convert(values)
            matched = True
        if matched:
            allowed = self.methods(path)  # the message names what the Allow header lists
            raise MethodNotAllowed(f"The method is not allowed for the requested URL "
                                   f"(allowed: {', '.join(allowed)}).", allowed)
        raise NotFound(f"No API route for {path}")

    def openapi(self, version):
        """An OpenAPI 3 document of every route."""
        paths = {}
        for route in sorted(self.routes, key=lambda r: (r.pattern, r.method)):
            path = _PARAM.sub(lambda m: "{" + m.group(2) + "}", route.pattern)
            operation = {
                "summary": route.summary or route.handler.__doc__ or "",
                # From the path, not the handler: OpenAPI wants each operationId unique, and
                # handlers share names (two `search`es, one finalize for analyses and variants).
                "operationId": _operation_id(route.method, route.pattern),
                "responses": {"200": {"description": "success"},
                              "default": {"description": "error: {\"message\": ...}"}},
                "x-ella-auth": route.auth,
            }
            if route.access:
                operation["x-ella-access"] = route.access
            if route.auth == "login":
                operation["security"] = [{"session": []}]
            if route.params:
                operation["parameters"] = [
                    {"name": name, "in": "path", "required": True,
                     "schema": {"type": "integer", "minimum": 0} if kind == "int"
                     else {"type": "string"}}
                    for name, kind in route.params]
            paths.setdefault(path, {})[route.method.lower()] = operation
        return {
            "openapi": "3.0.3",
            "info": {"title": "ELLA API v1 (this service)", "version": version},
            "components": {"securitySchemes": {"session": {
                "type": "apiKey", "in": "cookie", "name": "AuthenticationToken"}}},
            "paths": paths,
        }


router = Router()
