"""Messages, comments and unit files that send the reader to a README section name one that
exists: `README, "Section"`, `README's "Section"` (a heading), `README, Production: Step`
(a numbered step of Production). A renamed heading left pointers to nothing."""

import re

from helpers import ROOT

SOURCES = [p for pattern in ("ella/**/*.py", "ops/**/*", "bin/*", "Makefile", "Dockerfile")
           for p in ROOT.glob(pattern) if p.is_file() and p.suffix not in (".pyc", ".gz")]
QUOTED = re.compile(r"README(?:, |'s )\\?\"([^\"\\]+)\\?\"")
PRODUCTION_STEP = re.compile(r"README, Production: ([A-Za-z ]+)")


def _pointers(pattern):
    found = []
    for path in SOURCES:
        text = path.read_text(errors="replace")
        text = re.sub(r"\"\s*\n\s*f?\"", "", text)  # Python's "..." "..." continuation
        text = re.sub(r"\s*\n\s*#?\s*", " ", text)  # comments over several lines
        found += [(path.relative_to(ROOT), m.group(1)) for m in pattern.finditer(text)]
    return found


def test_pointers_name_sections_and_steps_that_exist():
    readme = (ROOT / "README.md").read_text()
    headings = {line.lstrip("#").strip() for line in readme.splitlines()
                if line.startswith("#")}
    production = readme.split("\n## Production\n", 1)[1].split("\n## ", 1)[0]
    steps = {m.group(1).lower() for m in re.finditer(r"^\d+\. \*\*([^*]+)\*\*", production,
                                                       re.M)}
    quoted, production_steps = _pointers(QUOTED), _pointers(PRODUCTION_STEP)
    assert len(quoted) >= 6 and len(production_steps) >= 2  # the patterns still find them
    assert [(path, name) for path, name in quoted if name not in headings] == []
    assert [(path, name) for path, name in production_steps
            if name.strip().lower() not in steps] == []
