"""The ACMG rule language: rule objects, the parser and the applier (acmg.md 2.2-2.4).

A rule's `query(data)` returns the list of leaf rules that made it match; an empty list means
no match. Aggregate rules are queried with the list of codes passed so far, the others with
the value at their source in the flattened data document.
"""

from abc import ABC, abstractmethod
import copy
import re


def _as_list(data):
    return data if isinstance(data, list) else [data]


def _code_matches(pattern, code):
    """A listed code matches a passed code exactly, or by prefix when it ends in `*`."""
    if isinstance(pattern, str) and pattern.endswith("*"):
        return isinstance(code, str) and code.startswith(pattern[:-1])
    return pattern == code


class Rule(ABC):
    """A rule of the rule language; every concrete operator class says how it queries."""

    op = None

    def __init__(self, value, source=None, code=None, aggregate=False):
        self.value = value
        self.source = source
        self.code = code
        self.aggregate = aggregate

    @abstractmethod
    def query(self, data):
        """True when the rule holds for the data document."""

    def match(self, data):
        return self.value

    def rules(self):
        """This rule and every nested rule."""
        return [self]

    def __repr__(self):
        return f"{type(self).__name__}({self.code!r}, {self.source!r}, {self.value!r})"


class InRule(Rule):
    op = "$in"

    def query(self, data):
        return [self] if self.match(data) else []

    def match(self, data):
        items = _as_list(data)
        return [v for v in self.value if any(v == d for d in items)]


def _number(value):
    """`value` as float() reads it, an integer as it is: Python compares integers with
    floats exactly, where float() of one beyond 1e308 (an annotation value) raised
    OverflowError."""
    return value if isinstance(value, int) else float(value)


class GtRule(Rule):
    op = "$gt"

    def query(self, data):
        try:
            return [self] if _number(data) > _number(self.value) else []
        except (TypeError, ValueError):
            return []


class LtRule(Rule):
    op = "$lt"

    def query(self, data):
        try:
            return [self] if _number(data) < _number(self.value) else []
        except (TypeError, ValueError):
            return []


class RangeRule(Rule):
    op = "$range"

    def query(self, data):
        low, high = self.value
        try:
            return [self] if low < data < high else []
        except TypeError:
            return []


class AllRule(Rule):
    """Aggregate: every listed code is among the passed codes."""
    op = "$all"

    def query(self, data):
        codes = _as_list(data)
        # An empty list is satisfied (acmg.md 2.3: every listed code has passed).
        ok = all(any(_code_matches(p, c) for c in codes) for p in self.value)
        return [self] if ok else []


class AtLeastRule(Rule):
    """Aggregate: (listed code, distinct passed code) hits >= threshold."""
    op = "$at_least"

    def __init__(self, threshold, value, source=None, code=None, aggregate=True):
        super().__init__(value, source, code, aggregate)
        self.threshold = threshold

    def query(self, data):
        codes = set(c for c in _as_list(data) if isinstance(c, str))
        hits = sum(1 for p in dict.fromkeys(self.value) for c in codes if _code_matches(p, c))
        return [self] if hits >= self.threshold else []


class NotRule(Rule):
    op = "$not"

    def query(self, data):
        return [] if self.value.query(data) else [self.value]

    def rules(self):
        return [self] + self.value.rules()


class AndRule(Rule):
    """All sub-rules match; the result is all their results. Composite rules have no source
    of their own (acmg.md 2.4 QUIRK: a non-aggregate composite rule therefore never passes)."""

    def query(self, data):
        if data is None or data == [] or data == {}:
            return []
        result = []
        for rule in self.value:
            found = rule.query(data)
            if not found:
                return []
            result.extend(found)
        return result

    def match(self, data):
        return None

    def rules(self):
        return [self] + [r for sub in self.value for r in sub.rules()]


class OrRule(AndRule):
    """At least one sub-rule matches; the result is the matching ones' results."""

    def query(self, data):
        if data is None or data == [] or data == {}:
            return []
        result = []
        for rule in self.value:
            result.extend(rule.query(data))
        return result


# -- parser ---------------------------------------------------------------------------------

class RuleError(ValueError):
    pass


def parse_rule(expr, code, source=None, aggregate=False):
    """One rule expression (acmg.md 2.3) as a Rule. Sources are inherited by nested
    operators; composite ($and/$or) rules carry no source themselves."""
    if not isinstance(expr, dict):
        return InRule([expr], source, code, aggregate)
    if not expr:
        raise RuleError(f"{code}: empty rule")
    key = next(iter(expr))
    value = expr[key]
    if key == "$$aggregate":
        return parse_rule(value, code, None, True)
    if key == "$in":
        if not isinstance(value, list):
            raise RuleError(f"{code}: $in needs a list")
        return InRule(list(value), source, code, aggregate)
    if key == "$gt":
        return GtRule(value, source, code, aggregate)
    if key == "$lt":
        return LtRule(value, source, code, aggregate)
    if key == "$range":
        if not isinstance(value, list) or len(value) != 2:
            raise RuleError(f"{code}: $range needs [low, high]")
        return RangeRule(list(value), source, code, aggregate)
    if key in ("$and", "$or"):
        if not isinstance(value, list):
            raise RuleError(f"{code}: {key} needs a list")
        cls = AndRule if key == "$and" else OrRule
        return cls([parse_rule(v, code, source, aggregate) for v in value], None, code, aggregate)
    if key == "$not":
        return NotRule(parse_rule(value, code, source, aggregate), source, code, aggregate)
    if key == "$all":
        if not isinstance(value, list):
            raise RuleError(f"{code}: $all needs a list of codes")
        return AllRule(list(value), None, code, True)
    if key == "$atleast":
        if not isinstance(value, list) or not value or not isinstance(value[0], int):
            raise RuleError(f"{code}: $atleast needs [n, code, ...]")
        return AtLeastRule(value[0], list(value[1:]), None, code, True)
    if key.startswith("$"):
        raise RuleError(f"{code}: unknown operator {key}")
    return parse_rule(value, code, key, aggregate)


def parse_rules(entries):
    """[{code, rule}] -> {code: [Rule]}, codes in order of first appearance."""
    by_code = {}
    for entry in entries:
        code = entry["code"]
        by_code.setdefault(code, []).append(parse_rule(entry["rule"], code))
    return by_code


# -- applier --------------------------------------------------------------------------------

def flatten(doc, prefix=""):
    """Nested dicts become dotted keys; anything else (lists, scalars, None) is a leaf."""
    flat = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        elif isinstance(value, dict):
            continue
        else:
            flat[name] = value
    return flat


def _glob(pattern):
    return re.compile("^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$")


def _with_source(rule, old, new):
    copied = copy.deepcopy(rule)
    for r in copied.rules():
        if r.source == old:
            r.source = new
    return copied


def expand_multi_source(rules, flat):
    """Replace each rule whose source contains `.*.` by one copy per matching key."""
    result = []
    for rule in rules:
        if rule.source and ".*." in rule.source:
            pattern = _glob(rule.source)
            result.extend(_with_source(rule, rule.source, key)
                          for key in flat if pattern.match(key))
        else:
            result.append(rule)
    return result


def apply_rules(rules_by_code, doc):
    """(passed, notpassed) lists of top-level rules, in evaluation order."""
    flat = flatten(doc)
    rule_list = [r for rules in rules_by_code.values() for r in rules]
    passed, notpassed = [], []
    for rule in expand_multi_source(rule_list, flat):
        if rule.aggregate:
            ok = rule.query([p.code for p in passed])
        elif rule.source is not None and rule.source in flat:
            ok = rule.query(flat[rule.source])
        else:
            ok = False
        (passed if ok else notpassed).append(rule)
    return passed, notpassed


def code_output(rule, flat):
    """ELLA's shape of one passed rule: {code, source, value, match, op}."""
    if isinstance(rule, (AndRule, OrRule)):
        return {"code": rule.code, "source": None, "match": None, "op": None}
    if rule.aggregate:
        value = rule.value if not isinstance(rule, NotRule) else None
        return {"code": rule.code, "source": None, "value": value,
                "match": value, "op": rule.op}
    data = flat.get(rule.source)
    value = rule.value if not isinstance(rule, NotRule) else rule.value.value
    return {"code": rule.code, "source": rule.source, "value": _as_list(value),
            "match": _as_list(rule.match(data)) if not isinstance(rule, NotRule) else None,
            "op": rule.op}
