"""A Python twin of the in-database JSON-schema validator, for bulk deposits.

`validate_json_schema` in sql/triggers/010_json_schema_validation.sql is the authority: the
annotation trigger runs it for every row, at 1-3 ms per annotation document. A deposit of
thousands of annotations instead checks each document here (tens of microseconds), by
compiling a schema once into nested closures with exactly the same keyword subset and the same
semantics as the PL/pgSQL function:

- JSON types of the Python value as it will be stored (tuples are arrays; bool is not a
  number); "integer" is any number without a fractional part (3.0 included);
- enum/const/uniqueItems use jsonb equality (1 equals 1.0; true does not equal 1);
- `pattern`/`patternProperties` are PostgreSQL regular expressions. Only patterns from a
  conservative subset whose meaning is the same in PostgreSQL and Python are compiled
  (`.` matching newlines, `$` only at the very end); any other pattern makes the schema
  unsupported;
- `$ref`: only "#" and "#/..." pointers; siblings of $ref are ignored.

`compile_schema` raises `UnsupportedSchema` for anything it cannot mirror exactly (an unknown
$ref form, an unresolvable $ref, a pattern outside the subset); callers then let the database
validate. tests/test_json_schema_compiled.py checks the verdicts against the SQL function.
"""

import math
import re
from decimal import Decimal

import jsonschema


class UnsupportedSchema(Exception):
    """The schema uses something this compiler does not mirror exactly."""


_OBJECT, _ARRAY, _STRING, _NUMBER, _BOOLEAN, _NULL = ("object", "array", "string", "number",
                                                      "boolean", "null")


def json_type(value):
    if isinstance(value, str):
        return _STRING
    if isinstance(value, bool):
        return _BOOLEAN
    if isinstance(value, (int, float, Decimal)):
        return _NUMBER
    if isinstance(value, dict):
        return _OBJECT
    if isinstance(value, (list, tuple)):
        return _ARRAY
    if value is None:
        return _NULL
    raise UnsupportedSchema(f"not a JSON value: {type(value).__name__}")


def _is_number(value):
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _exact(number):
    """A number as PostgreSQL's numeric reads it from the JSON text."""
    if isinstance(number, float):
        return Decimal(repr(number))
    return number if isinstance(number, Decimal) else Decimal(number)


def _has_type(name, value):
    if name == "integer":
        return _is_number(value) and (isinstance(value, int)
                                      or (math.isfinite(value) and value == int(value)))
    return json_type(value) == name


def canonical(value):
    """A hashable form in which two values are equal exactly when their jsonb values are."""
    if type(value) is str:  # the common enum member, without the type dispatch
        return (_STRING, value)
    kind = json_type(value)
    if kind == _NUMBER:
        # Exact decimal values; Python's numeric equality and hashing make 1 == 1.0.
        return (_NUMBER, _exact(value) if isinstance(value, float) else value)
    if kind == _ARRAY:
        return (_ARRAY, tuple(canonical(v) for v in value))
    if kind == _OBJECT:
        return (_OBJECT, frozenset((k, canonical(v)) for k, v in value.items()))
    return (kind, value)


# PostgreSQL ARE and Python re agree on these constructs: literals, bracket expressions of
# literals and ranges, groups, alternation, the quantifiers * + ? {m} {m,} {m,n} (and their
# lazy forms), ^ and $ (translated to \Z: no match before a final newline, as in PostgreSQL),
# and a backslash before punctuation. Everything else (classes like \d or [[:alpha:]], \b,
# back references, look-arounds, flags) is refused.
_BOUND = re.compile(r"\{[0-9]+(,[0-9]*)?\}")
_PUNCTUATION = set("\\.^$|?*+()[]{}-/:,;!\"'#%&<=>@`~ ")


def translate_pattern(pattern):
    """The Python regex with the same meaning as a PostgreSQL regex (unanchored search)."""
    if not isinstance(pattern, str):
        raise UnsupportedSchema(f"pattern {pattern!r} is not a string")
    out, i, in_class = [], 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            if i + 1 >= len(pattern) or pattern[i + 1] not in _PUNCTUATION:
                raise UnsupportedSchema(f"pattern {pattern!r}: escape not supported")
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            if char == "[":
                raise UnsupportedSchema(f"pattern {pattern!r}: nested bracket expression")
            if char == "]":
                in_class = False
            out.append(char)
        elif char == "[":
            in_class = True
            out.append(char)
            if pattern[i + 1:i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1:i + 2] == "]":   # a leading ] is a literal in both dialects
                out.append("\\]")
                i += 1
        elif char == "$":
            out.append(r"\Z")
        elif char == "(" and pattern[i + 1:i + 2] == "?":
            raise UnsupportedSchema(f"pattern {pattern!r}: (? constructs not supported")
        elif char == "{":
            bound = _BOUND.match(pattern, i)
            if bound is None:
                raise UnsupportedSchema(f"pattern {pattern!r}: '{{' is not a bound {{m,n}}")
            out.append(bound.group())
            i = bound.end()
            continue
        elif char.isalnum() or char == "_" or char in ".^|?*+()-/:;!\"'#%&<=>@`~ ,":
            out.append(char)
        else:
            raise UnsupportedSchema(f"pattern {pattern!r}: character {char!r} not supported")
        i += 1
    if in_class:
        raise UnsupportedSchema(f"pattern {pattern!r}: unterminated bracket expression")
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error as exc:
        raise UnsupportedSchema(f"pattern {pattern!r}: {exc}") from None


# Exact Python types of each JSON kind (the values come from json.loads or our converters;
# subclasses are not expected, and an unexpected type simply fails every type check).
_KIND_TYPES = {_OBJECT: (dict,), _ARRAY: (list, tuple), _STRING: (str,),
               _NUMBER: (int, float, Decimal), _BOOLEAN: (bool,), _NULL: (type(None),)}


def _always(value):
    return True


def _all(checks):
    """One predicate that is true when every check is (the common sizes without a loop)."""
    checks = tuple(checks)
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda value: first(value) and second(value)

    def every(value):
        for check in checks:
            if not check(value):
                return False
        return True
    return every


def _gated(types, check):
    """`check` applies only to values of these Python types (keywords of one JSON kind)."""
    types = frozenset(types)
    return lambda value: type(value) not in types or check(value)


def _number_keyword(schema, key):
    value = schema.get(key)
    return value if _is_number(value) else None


def _size_bounds(schema, low_key, high_key, checks):
    """minLength/maxLength, minItems/maxItems, minProperties/maxProperties: the value's length
    (characters, items, keys) within the bounds that are numbers."""
    low = _number_keyword(schema, low_key)
    if low is not None:
        checks.append(lambda v: len(v) >= low)
    high = _number_keyword(schema, high_key)
    if high is not None:
        checks.append(lambda v: len(v) <= high)


def _resolve(root, ref):
    if ref == "#":
        return root
    if not isinstance(ref, str) or not ref.startswith("#/"):
        raise UnsupportedSchema(f"$ref {ref!r} is not a '#/...' pointer")
    node = root
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise UnsupportedSchema(f"$ref {ref!r} does not resolve")
    return node


class _Compiler:
    def __init__(self, root):
        self.root = root
        self.refs = {}
        self.compiling = set()

    def compile(self, schema):
        if isinstance(schema, bool):
            return _always if schema else (lambda value: False)
        if not isinstance(schema, dict):
            return _always
        if "$ref" in schema:
            return self._ref(schema["$ref"])
        checks = []
        self._common(schema, checks)
        for kind, collect in ((_NUMBER, self._number), (_STRING, self._string),
                              (_ARRAY, self._array), (_OBJECT, self._object)):
            found = []
            collect(schema, found)
            if found:
                checks.append(_gated(_KIND_TYPES[kind], _all(found)))
        self._combinators(schema, checks)
        return _all(checks)

    def _ref(self, ref):
        if ref in self.refs:
            return self.refs[ref]
        if ref in self.compiling:
            # A recursive reference: looked up when called, once its compilation is done.
            return lambda value: self.refs[ref](value)
        self.compiling.add(ref)
        self.refs[ref] = self.compile(_resolve(self.root, ref))
        self.compiling.discard(ref)
        return self.refs[ref]

    def _common(self, schema, checks):
        if "properties" in schema and not isinstance(schema["properties"], dict):
            raise UnsupportedSchema("'properties' is not an object")
        for key in ("required", "type"):
            if isinstance(schema.get(key), list) and not all(
                    isinstance(n, str) for n in schema[key]):
                raise UnsupportedSchema(f"'{key}' lists a non-string")
        if "type" in schema:
            wanted = schema["type"]
            names = tuple(wanted) if isinstance(wanted, list) else (wanted,)
            types = frozenset(t for n in names for t in _KIND_TYPES.get(n, ()))
            if "integer" in names:
                checks.append(lambda value: type(value) in types or _has_type("integer", value))
            else:
                checks.append(lambda value: type(value) in types)
        if isinstance(schema.get("enum"), list):
            allowed = {canonical(v) for v in schema["enum"]}
            checks.append(lambda value: canonical(value) in allowed)
        if "const" in schema:
            const = canonical(schema["const"])
            checks.append(lambda value: canonical(value) == const)

    def _number(self, schema, checks):
        minimum, maximum = _number_keyword(schema, "minimum"), _number_keyword(schema, "maximum")
        exclusive_min_flag = schema.get("exclusiveMinimum") is True
        exclusive_max_flag = schema.get("exclusiveMaximum") is True
        if minimum is not None:
            bound = _exact(minimum)
            if exclusive_min_flag:
                checks.append(lambda v: _exact(v) > bound)
            else:
                checks.append(lambda v: _exact(v) >= bound)
        if maximum is not None:
            bound_max = _exact(maximum)
            if exclusive_max_flag:
                checks.append(lambda v: _exact(v) < bound_max)
            else:
                checks.append(lambda v: _exact(v) <= bound_max)
        exclusive_min = _number_keyword(schema, "exclusiveMinimum")
        if exclusive_min is not None:
            bound_emin = _exact(exclusive_min)
            checks.append(lambda v: _exact(v) > bound_emin)
        exclusive_max = _number_keyword(schema, "exclusiveMaximum")
        if exclusive_max is not None:
            bound_emax = _exact(exclusive_max)
            checks.append(lambda v: _exact(v) < bound_emax)
        multiple = _number_keyword(schema, "multipleOf")
        if multiple is not None:
            if multiple == 0:
                raise UnsupportedSchema("multipleOf 0")
            step = _exact(multiple)
            checks.append(lambda v: _exact(v) % step == 0)

    def _string(self, schema, checks):
        _size_bounds(schema, "minLength", "maxLength", checks)
        if "pattern" in schema:
            search = translate_pattern(schema["pattern"]).search
            checks.append(lambda v: search(v) is not None)

    def _array(self, schema, checks):
        _size_bounds(schema, "minItems", "maxItems", checks)
        if schema.get("uniqueItems") is True:
            checks.append(lambda v: len({canonical(x) for x in v}) == len(v))
        items = schema.get("items")
        if isinstance(items, list):
            positional = tuple(self.compile(s) for s in items)
            extra = self.compile(schema["additionalItems"]) if "additionalItems" in schema \
                else None

            def tuple_items(v):
                for check, item in zip(positional, v):
                    if not check(item):
                        return False
                if extra is not None:
                    for item in v[len(positional):]:
                        if not extra(item):
                            return False
                return True
            checks.append(tuple_items)
        elif "items" in schema:
            each = self.compile(items)

            def every_item(v):
                for item in v:
                    if not each(item):
                        return False
                return True
            checks.append(every_item)

    def _object(self, schema, checks):
        required = schema.get("required")
        if isinstance(required, list):
            names = tuple(r for r in required if isinstance(r, str))

            def has_required(v):
                for name in names:
                    if name not in v:
                        return False
                return True
            checks.append(has_required)
        _size_bounds(schema, "minProperties", "maxProperties", checks)
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else None
        if properties:
            compiled = {key: self.compile(sub) for key, sub in properties.items()}

            def check_properties(v):
                for key, item in v.items():
                    check = compiled.get(key)
                    if check is not None and not check(item):
                        return False
                return True
            checks.append(check_properties)
        patterns = schema.get("patternProperties")
        patterns = patterns if isinstance(patterns, dict) else {}
        compiled_patterns = tuple((translate_pattern(p).search, self.compile(sub))
                                  for p, sub in patterns.items())
        if compiled_patterns:
            def check_patterns(v):
                for search, check in compiled_patterns:
                    for key, item in v.items():
                        if search(key) is not None and not check(item):
                            return False
                return True
            checks.append(check_patterns)
        if "additionalProperties" in schema:
            additional = self.compile(schema["additionalProperties"])
            named = frozenset(properties or ())
            searches = tuple(search for search, _ in compiled_patterns)

            def check_additional(v):
                for key, item in v.items():
                    if key in named or any(s(key) is not None for s in searches):
                        continue
                    if not additional(item):
                        return False
                return True
            checks.append(check_additional)
        dependencies = schema.get("dependencies")
        if isinstance(dependencies, dict):
            compiled_deps = []
            for key, sub in dependencies.items():
                if isinstance(sub, list):
                    if not all(isinstance(n, str) for n in sub):
                        raise UnsupportedSchema("'dependencies' lists a non-string")
                    names = tuple(sub)
                    compiled_deps.append((key, lambda v, names=names: all(n in v for n in names)))
                else:
                    compiled_deps.append((key, self.compile(sub)))

            def check_dependencies(v):
                for key, check in compiled_deps:
                    if key in v and not check(v):
                        return False
                return True
            checks.append(check_dependencies)

    def _combinators(self, schema, checks):
        if isinstance(schema.get("allOf"), list):
            subs = tuple(self.compile(s) for s in schema["allOf"])
            checks.append(lambda v: all(s(v) for s in subs))
        if isinstance(schema.get("anyOf"), list):
            any_subs = tuple(self.compile(s) for s in schema["anyOf"])
            checks.append(lambda v: any(s(v) for s in any_subs))
        if isinstance(schema.get("oneOf"), list):
            one_subs = tuple(self.compile(s) for s in schema["oneOf"])
            checks.append(lambda v: sum(1 for s in one_subs if s(v)) == 1)
        if "not" in schema:
            negated = self.compile(schema["not"])
            checks.append(lambda v: not negated(v))


def compile_schema(schema):
    """A function value -> bool with the verdict of the SQL validate_json_schema(schema, value).

    Raises UnsupportedSchema when the schema cannot be mirrored exactly."""
    return _Compiler(schema).compile(schema)


class SchemaVersions:
    """The SQL schema_version(data, name): the highest version whose schema accepts `data`.

    `versions` is [(version, schema)] as stored in the `jsonschema` table for one name."""

    def __init__(self, versions):
        ordered = sorted(versions, key=lambda v: -v[0])
        self.checks = [(version, compile_schema(schema)) for version, schema in ordered]
        self.newest = ordered[0][1] if ordered else None

    def problem(self, value):
        """Why the newest schema refuses `value`, for an error message: jsonschema's best
        match, with where in the document it is (only called for a refused value)."""
        error = jsonschema.exceptions.best_match(
            jsonschema.Draft7Validator(self.newest or {}).iter_errors(value))
        if error is None:
            return "no schema version accepts it"
        where = ".".join(str(step) for step in error.absolute_path) or "the document"
        return f"{where}: {error.message[:300]}"

    def version_of(self, value):
        for version, check in self.checks:
            if check(value):
                return version
        return None
