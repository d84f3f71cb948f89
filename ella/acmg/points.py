"""Suggested classification by the ClinGen SVI point system (Tavtigian et al. 2018, 2020).

Each counted code scores by its strength: supporting 1, moderate 2, strong 4, very strong 8,
benign codes the negative (BA1, stand-alone benign, counts as very strong benign: -8). As in
ELLA's engine only the strongest code per base criterion counts and REQ_*, OTHER, PNW*/BNW*
score nothing. The class follows the sum and the configured thresholds.
"""

from ella.acmg.classification import CLASS_NAMES, normalize, strength

ENGINE_NAME = "points"
ENGINE_VERSION = "ClinGen-SVI-Tavtigian-2020"
POINTS = {"PVS": 8, "PS": 4, "PM": 2, "PP": 1, "BA": -8, "BS": -4, "BP": -1}
# P >= 10, LP 6..9, VUS 0..5, LB -1..-6, B <= -7.
DEFAULT_THRESHOLDS = {"pathogenic": 10, "likely_pathogenic": 6, "likely_benign": -1,
                      "benign": -7}


def check_thresholds(thresholds):
    """Full thresholds (defaults filled in); ValueError unless B < LB < 0 < LP < P: no
    evidence (0 points) is always a VUS."""
    merged = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    unknown = sorted(set(merged) - set(DEFAULT_THRESHOLDS))
    if unknown:
        raise ValueError(f"unknown point threshold(s): {', '.join(unknown)}")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in merged.values()):
        raise ValueError("point thresholds must be integers")
    if not (merged["benign"] < merged["likely_benign"] < 0
            < merged["likely_pathogenic"] < merged["pathogenic"]):
        raise ValueError("point thresholds must satisfy benign < likely_benign < 0 < "
                         "likely_pathogenic < pathogenic")
    return merged


def code_points(code):
    return POINTS.get(strength(code), 0) if not code.startswith(("REQ", "OTHER")) else 0


def class_of_points(total, thresholds):
    if total >= thresholds["pathogenic"]:
        return 5
    if total >= thresholds["likely_pathogenic"]:
        return 4
    if total <= thresholds["benign"]:
        return 1
    if total <= thresholds["likely_benign"]:
        return 2
    return 3


def classify(codes, thresholds=None):
    """{class, classification, message, contributors, meta: {engine, version, points,
    thresholds}} of a list of code strings."""
    thresholds = check_thresholds(thresholds)
    normalized = normalize([c for c in codes if isinstance(c, str) and c])
    counted = [c for c in normalized if code_points(c)]
    total = sum(code_points(c) for c in counted)
    klass = class_of_points(total, thresholds)
    contributors = sorted(counted, key=lambda c: (-abs(code_points(c)), c))
    return {"class": klass, "classification": CLASS_NAMES[klass],
            "message": CLASS_NAMES[klass] if counted else "None",
            "contributors": contributors,
            "meta": {"engine": ENGINE_NAME, "version": ENGINE_VERSION, "points": total,
                     "thresholds": thresholds}}
