"""Suggested classification from ACMG codes: ELLA's combination rules (acmg.md 4).

Codes count by their strength prefix (the part before `x`, digits removed); only the
strongest code per base criterion counts. REQ_*, OTHER, PNW*/BNW* count for nothing.
"""

import re

PRECEDENCE = ["PVS", "PS", "PM", "PP", "BA", "BS", "BP"]
PATHOGENIC_GROUPS = ("PVS", "PS", "PM", "PP")
BENIGN_GROUPS = ("BA", "BS", "BP")
CLASS_NAMES = {1: "Benign", 2: "Likely benign", 3: "Uncertain significance",
               4: "Likely pathogenic", 5: "Pathogenic"}
ENGINE_NAME = "ella"
ENGINE_VERSION = "ACMG2015-ELLA-1.17"


def strength(code):
    return re.sub(r"\d", "", code.split("x")[0])


def base(code):
    return code.split("x", 1)[1] if "x" in code else code


def _rank(code):
    s = strength(code)
    return PRECEDENCE.index(s) if s in PRECEDENCE else len(PRECEDENCE)


def normalize(codes):
    """The strongest code per base criterion; a replaced or re-seen criterion moves to the
    end (equal strength keeps the first code)."""
    kept = {}   # base -> code; insertion order is the result order
    for code in codes:
        key = base(code)
        same = kept.pop(key, None)
        kept[key] = code if same is None or _rank(code) < _rank(same) else same
    return list(kept.values())


def occurrences(codes, prefix):
    """Distinct codes starting with `prefix`, sorted."""
    return sorted({c for c in codes if c.startswith(prefix)})


def _groups(codes):
    return {g: occurrences(codes, g) for g in PRECEDENCE}


def pathogenic(codes):
    """Contributors if the codes meet the pathogenic rule, else []."""
    g = _groups(codes)
    pvs, ps, pm, pp = (g[k] for k in PATHOGENIC_GROUPS)
    out = []
    if len(pvs) >= 2:
        out += pvs
    if len(pvs) == 1:
        inner = []
        if ps:
            inner += ps
        if len(pm) >= 2:
            inner += pm
        if len(pm) == 1 and len(pp) == 1:
            inner += pm + pp
        if len(pp) >= 2:
            inner += pp
        if inner:
            out += pvs + inner
    if len(ps) >= 2:
        out += ps
    if len(ps) == 1:
        inner = []
        if len(pm) >= 3:
            inner += pm
        if len(pm) == 2 and len(pp) >= 2:
            inner += pm + pp
        if len(pm) == 1 and len(pp) >= 4:
            inner += pm + pp
        if inner:
            out += ps + inner
    return out


def likely_pathogenic(codes):
    g = _groups(codes)
    pvs, ps, pm, pp = (g[k] for k in PATHOGENIC_GROUPS)
    out = []
    if len(pvs) == 1:
        inner = []
        if len(pm) == 1:
            inner += pm
        if len(pp) == 1:
            inner += pp
        if inner:
            out += pvs + inner
    if len(ps) == 1 and pm:
        out += ps + pm
    if len(ps) == 1 and len(pp) >= 2:
        out += ps + pp
    if len(pm) >= 3:
        out += pm
    if len(pm) == 2 and len(pp) >= 2:
        out += pm + pp
    if len(pm) == 1 and len(pp) >= 4:
        out += pm + pp
    return out


def benign(codes):
    g = _groups(codes)
    out = []
    if g["BA"]:
        out += g["BA"]
    if len(g["BS"]) >= 2:
        out += g["BS"]
    return out


def likely_benign(codes):
    g = _groups(codes)
    out = []
    if len(g["BS"]) == 1 and len(g["BP"]) == 1:
        out += g["BS"] + g["BP"]
    if len(g["BP"]) >= 2:
        out += g["BP"]
    return out


def contradiction(codes):
    g = _groups(codes)
    p = [c for k in PATHOGENIC_GROUPS for c in g[k]]
    b = [c for k in BENIGN_GROUPS for c in g[k]]
    return p + b if p and b else []


def _result(klass, message, contributors, meta):
    return {"class": klass, "classification": CLASS_NAMES[klass], "message": message,
            "contributors": contributors, "meta": meta}


def classify(codes):
    """ELLA's suggested class of a list of code strings."""
    codes = [c for c in codes if isinstance(c, str) and c]
    normalized = normalize(codes)
    meta = {"engine": ENGINE_NAME, "version": ENGINE_VERSION}
    if contradiction(normalized):
        return _result(3, "Contradiction", contradiction(codes), meta)
    for check, klass in ((benign, 1), (pathogenic, 5), (likely_pathogenic, 4),
                         (likely_benign, 2)):
        if check(normalized):
            return _result(klass, CLASS_NAMES[klass], check(codes), meta)
    return _result(3, "None", [], meta)


def engine_config(config):
    """The app config's `classification.engine` with defaults: {name, thresholds?}."""
    engine = dict(((config or {}).get("classification") or {}).get("engine") or {})
    engine.setdefault("name", ENGINE_NAME)
    return engine


def suggested_classification(codes, config):
    """The suggested class by the engine the app config names (ELLA's by default)."""
    engine = engine_config(config)
    if engine["name"] == "points":
        from ella.acmg import points
        return points.classify(codes, engine.get("thresholds"))
    return classify(codes)
