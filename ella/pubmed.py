"""PubMed records to ELLA reference dicts (import.md 5.4 and 6), and the efetch client.

- `parse_pubmed_xml(text)`: E-utilities XML (`PubmedArticle` / `PubmedBookArticle`, alone or
  in a `PubmedArticleSet`), rules of import.md 6.2. The DOCTYPE naming NLM's PubMed DTD (as
  NCBI sends it) is dropped; any other DOCTYPE or entity declaration is refused: no entity
  tricks reach the parser.
- `parse_medline(text)`: MEDLINE text (`PMID- `, `TI  - ` ...), the rules of ELLA's MEDLINE
  parser (journal `TA` as is, full `DP` as year, abstract sections split at `LABEL:`).
- `read_id_file(path)`, `efetch_url(...)`, `fetch_references(...)`: the `ella-refs fetch`
  client (batches of 200 ids, a real rate limit, retries with back-off).
- `write_references(path, refs)`: the JSON-lines references file (`references-YYMMDD.json`).

Every result is a list of dicts with the keys `pubmed_id, authors, title, journal, year,
abstract, published` (`authors`/`abstract` omitted when absent).
"""

import html
import http.client
import json
import os
import re
import stat
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from datetime import date

from ella.hidden_files import new_hidden_file
from ella.text import NotUtf8, utf8_text

_FORMAT_TAGS = re.compile(r"</?(?:i|b|u)>")
# NCBI's answers start with a DOCTYPE naming NLM's public PubMed DTD, which the parser never
# loads; only that form is accepted (and dropped). Any other DOCTYPE (an internal subset, a
# SYSTEM file) or entity declaration is refused, so no entity tricks reach the parser.
_EXTERNAL_DOCTYPE = re.compile(
    r'<!DOCTYPE\s+Pubmed(?:ArticleSet|Article|BookArticle)\s+PUBLIC\s+"-//NLM//DTD [^"<>\[\]]*"'
    r'\s+"https?://[^"<>\[\]]*"\s*>')
_DECLARATION = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)


class PubmedParseError(ValueError):
    pass


def _text(element):
    """All text inside an element (nested tags such as <sup> kept as text), or None."""
    if element is None:
        return None
    return "".join(element.itertext())


def _find_text(parent, path):
    return _text(parent.find(path)) if parent is not None else None


def _author_names(author_list):
    names = []
    for author in author_list.findall("Author"):
        name = _find_text(author, "LastName")
        if name is None:
            name = _find_text(author, "CollectiveName")
        if name is None:
            continue
        initials = _find_text(author, "Initials")
        if initials:
            name += " " + initials
        names.append(name)
    return names


def _format_authors(names):
    if not names:
        return None
    if len(names) > 2:
        return f"{names[0]} et al."
    return " & ".join(names)


def _abstract(abstract):
    if abstract is None:
        return None
    parts = []
    for item in abstract.findall("AbstractText"):
        text = _text(item)
        if not text:
            continue
        label = item.get("Label")
        parts.append(f"{label}: {text}" if label else text)
    result = "\n".join(parts).strip()
    return result or None


def _year(pub_date):
    year = _find_text(pub_date, "Year")
    if year is None:
        year = _find_text(pub_date, "MedlineDate")
    return year


def _article(element):
    citation = element.find("MedlineCitation")
    if citation is None:
        raise PubmedParseError("PubmedArticle without MedlineCitation")
    article = citation.find("Article")
    if article is None:
        raise PubmedParseError("PubmedArticle without Article")
    journal = article.find("Journal")
    issue = journal.find("JournalIssue") if journal is not None else None
    name = _find_text(journal, "ISOAbbreviation")
    if name is None:
        name = _find_text(journal, "Title")
    journal_text = (name or "") + ": "
    volume = _find_text(issue, "Volume")
    if volume:
        journal_text += volume
    number = _find_text(issue, "Issue")
    if number:
        journal_text += f"({number})"
    pages = _find_text(article, "Pagination/MedlinePgn")
    if pages:
        journal_text += ", " + pages
    result = {
        "pubmed_id": _pmid(citation),
        "title": _find_text(article, "ArticleTitle"),
        "journal": journal_text,
        "year": _year(issue.find("PubDate") if issue is not None else None),
        "published": True,
    }
    author_list = article.find("AuthorList")
    if author_list is not None:
        authors = _format_authors(_author_names(author_list))
        if authors:
            result["authors"] = authors
    abstract = _abstract(article.find("Abstract"))
    if abstract:
        result["abstract"] = abstract
    return result


def _book_article(element):
    document = element.find("BookDocument")
    if document is None:
        raise PubmedParseError("PubmedBookArticle without BookDocument")
    book = document.find("Book")
    if book is None:
        raise PubmedParseError("PubmedBookArticle without Book")
    article_title = _find_text(document, "ArticleTitle")
    if article_title is not None:
        title, book_title = article_title, _find_text(book, "BookTitle")
    else:
        title, book_title = _find_text(book, "BookTitle"), None

    editors = None
    authors = None
    book_authors = book.find("AuthorList")
    if book_authors is not None and book_authors.get("Type") == "editors":
        editors = _format_authors(_author_names(book_authors))
        document_authors = document.find("AuthorList")
        if document_authors is not None:
            authors = _format_authors(_author_names(document_authors))
    elif book_authors is not None:
        authors = _format_authors(_author_names(book_authors))

    parts = []
    if editors:
        single = "&" not in editors and "et al" not in editors
        parts.append(f"{editors} ({'ed' if single else 'eds'}).")
    if book_title:
        parts.append(book_title)
    for path in ("Publisher/PublisherName", "Publisher/PublisherLocation"):
        value = _find_text(book, path)
        if value:
            parts.append(value)
    journal = ("In: " if editors or book_title else "") + ", ".join(parts) + "."

    result = {
        "pubmed_id": _pmid(document),
        "title": title,
        "journal": journal,
        "year": _year(book.find("PubDate")),
        "published": True,
    }
    if authors:
        result["authors"] = authors
    abstract = _abstract(document.find("Abstract"))
    if abstract:
        result["abstract"] = abstract
    return result


MAX_PUBMED_ID = 2**31 - 1  # reference.pubmed_id is an integer column


def valid_pmid(text):
    """The PMID of `text` (ASCII digits, 1 to MAX_PUBMED_ID), or None."""
    text = text.strip() if isinstance(text, str) else ""
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    return int(text) if 0 < int(text) <= MAX_PUBMED_ID else None


def _pmid(parent):
    raw = _find_text(parent, "PMID")
    pmid = valid_pmid(raw)
    if pmid is None:
        raise PubmedParseError(f"missing or invalid PMID: {raw!r}")
    return pmid


def parse_pubmed_xml(text, on_unknown=None, allow_empty=False):
    """Reference dicts of the PubMed XML records in `text` (str or bytes).

    An element other than PubmedArticle/PubmedBookArticle in the set is an error, unless
    `on_unknown(element)` is given: then it is called and the element skipped. With
    `allow_empty` a set without records gives []."""
    if isinstance(text, bytes):
        try:  # (NCBI answers UTF-8; a proxy's Latin-1 page killed `ella-refs fetch`)
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PubmedParseError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") \
                from None
    text = _FORMAT_TAGS.sub("", text)
    # An encoding declaration is meaningless for an already decoded string.
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)
    text = _EXTERNAL_DOCTYPE.sub("", text, count=1)
    # Checked on exactly the text the parser gets: a declaration split by a format tag
    # (`<!<i>ENTITY`) is one once the tags are gone.
    if _DECLARATION.search(text):
        raise PubmedParseError("PubMed XML with an entity declaration or a DOCTYPE other than "
                               "NLM's PubMed DTD is not accepted")
    try:
        root = ET.fromstring(text.strip())
    except ET.ParseError as exc:
        raise PubmedParseError(f"not valid XML: {exc}") from None
    if root.tag in ("PubmedArticle", "PubmedBookArticle"):
        records = [root]
    elif root.tag in ("PubmedArticleSet", "PubmedBookArticleSet"):
        records = list(root)
    else:
        # A proxy's XHTML error page (or NCBI's <eFetchResult><ERROR>) answered with 200 had
        # its elements skipped as unknown: every id of the batch "not in the answer".
        raise PubmedParseError(f"not PubMed XML: the root element is <{root.tag[:60]}> "
                               "(expected PubmedArticleSet)")
    result = []
    for number, record in enumerate(records, 1):
        if record.tag in ("PubmedArticle", "PubmedBookArticle"):
            parse = _article if record.tag == "PubmedArticle" else _book_article
            try:
                result.append(parse(record))
            except PubmedParseError as exc:
                if len(records) == 1:
                    raise
                # Which of a set's records (a fetch of hundreds): the message named none.
                raise PubmedParseError(f"record {number} (<{record.tag}>) of "
                                       f"{len(records)}: {exc}") from None
        elif on_unknown is not None:
            on_unknown(record)
        else:
            raise PubmedParseError(f"unexpected element <{record.tag}> (expected PubmedArticle "
                                   "or PubmedBookArticle)")
    if not result and not allow_empty:
        raise PubmedParseError("no PubmedArticle or PubmedBookArticle found")
    return result


# --------------------------------------------------------------------------------------------
# MEDLINE text format

_MEDLINE_TAG = re.compile(r"^([A-Z][A-Z0-9]{0,3}) {0,3}- ?(.*)$")
# A section label: an upper-case word ending in ":" after white space ("METHODS:").
# Only from the start of a run of white space: tried at every blank of a long run, the
# pattern took quadratic time (a 95 KB abstract of blanks held a worker for minutes).
_MEDLINE_LABEL = re.compile(r"(?<!\s)\s+(?=[A-Z]+:)")


def _medline_fields(numbered_lines, source):
    """[(tag, value, line number)] of one record from [(line number, line)]; continuation
    lines (6 spaces) are joined with one space, HTML character references decoded."""
    fields = []  # (tag, [its parts], line number); joined once (joining per line was quadratic)
    for number, line in numbered_lines:
        if "\x00" in line:
            # PostgreSQL's text cannot hold it: `deposit` refused the converted file later.
            raise PubmedParseError(f"{source}line {number}: contains a NUL character")
        if line.startswith("      "):
            if not fields:
                raise PubmedParseError(f"{source}line {number}: continuation line without a tag")
            fields[-1][1].append(line.strip())
            continue
        match = _MEDLINE_TAG.match(line) if len(line) >= 5 and line[4] == "-" else None
        if not match:
            raise PubmedParseError(f"{source}line {number}: not a MEDLINE line "
                                   f"(expected 'TAG - value'): {line[:60]!r}")
        fields.append((match.group(1), [match.group(2).strip()], number))
    return [(tag, html.unescape(" ".join(part for part in parts if part)), at)
            for tag, parts, at in fields]


def _medline_record(fields, source):
    values = {}
    for tag, value, _ in fields:
        values.setdefault(tag, []).append(value)

    def first(tag):
        found = [v for v in values.get(tag, []) if v]
        return found[0] if found else None

    pmid_text = first("PMID")
    pubmed_id = valid_pmid(pmid_text)
    if pubmed_id is None:
        raise PubmedParseError(f"{source}line {fields[0][2]}: record without a valid PMID "
                               f"({pmid_text!r})")
    names = [v for v in values.get("AU", []) + values.get("CN", []) if v]
    authors = _format_authors(names)
    editors = _format_authors([v for v in values.get("ED", []) if v])

    journal_name = first("TA") or first("JT")
    if journal_name is not None or first("BTI") is None:
        # journal article: "<TA>: <VI>(<IP>), <PG>" without a trailing ": "
        title = first("TI")
        journal = (journal_name or "") + ": "
        if first("VI"):
            journal += first("VI")
        if first("IP"):
            journal += f"({first('IP')})"
        if first("PG"):
            journal += ", " + first("PG")
        if journal.endswith(": "):
            journal = journal[:-2]
    else:
        # book (BTI) or a chapter of it (TI + BTI), as the XML rules for PubmedBookArticle
        if first("TI"):
            title, book_title = first("TI"), first("BTI")
        else:
            title, book_title = first("BTI"), None
        parts = []
        if editors:
            single = "&" not in editors and "et al" not in editors
            parts.append(f"{editors} ({'ed' if single else 'eds'}).")
        parts += [v for v in (book_title, first("PB"), first("PL")) if v]
        journal = ("In: " if editors or book_title else "") + ", ".join(parts) + "."

    result = {"pubmed_id": pubmed_id, "title": title, "journal": journal,
              "year": first("DP"), "published": True}
    if authors:
        result["authors"] = authors
    abstract = "\n".join(v for v in values.get("AB", []) if v)
    abstract = _MEDLINE_LABEL.sub("\n", abstract).strip()
    if abstract:
        result["abstract"] = abstract
    return result


def parse_medline(text, source=""):
    """Reference dicts of the MEDLINE-format records in `text` (str or bytes). Records start
    at a `PMID-` line (blank lines between them are optional). Errors name the line;
    `source` (e.g. "file.txt: ") prefixes the message."""
    if isinstance(text, bytes):
        try:
            text = utf8_text(text)
        except NotUtf8 as exc:
            raise PubmedParseError(f"{source}{exc}") from None
    text = text.lstrip("\ufeff")
    records, current, start = [], [], None
    # Only \n, \r\n or \r ends a line: str.splitlines() also splits at U+2028, form feeds
    # and the like, which may stand in a title or abstract.
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if line.startswith("PMID") and line[4:5] == "-":
            if current:
                records.append((start, current))
            current, start = [], number
        elif start is None:
            raise PubmedParseError(f"{source}line {number}: expected a record starting with "
                                   f"'PMID- ', found {line[:60]!r}")
        current.append((number, line))
    if current:
        records.append((start, current))
    if not records:
        raise PubmedParseError(f"{source}no MEDLINE record (no 'PMID- ' line) found")
    return [_medline_record(_medline_fields(numbered, source), source)
            for _, numbered in records]


def parse_references_text(text, source="", on_unknown=None):
    """XML or MEDLINE, told apart by the first non-blank character. `on_unknown`: as for
    `parse_pubmed_xml`."""
    if isinstance(text, bytes):
        try:
            text = utf8_text(text)
        except NotUtf8 as exc:
            raise PubmedParseError(f"{source}{exc}") from None
    if text.lstrip("\ufeff \t\r\n").startswith("<"):
        try:
            return parse_pubmed_xml(text.lstrip("\ufeff"), on_unknown=on_unknown)
        except PubmedParseError as exc:
            raise PubmedParseError(f"{source}{exc}") from None
    return parse_medline(text, source)


# --------------------------------------------------------------------------------------------
# The references file

REFERENCE_KEYS = ("pubmed_id", "authors", "title", "journal", "abstract", "year", "published")


def default_output_name(today=None):
    """`references-YYMMDD.json` (upstream wrote `.txt`; the content is JSON lines)."""
    return f"references-{(today or date.today()).strftime('%y%m%d')}.json"


def reference_line(ref):
    """One JSON line, keys in column order, null values left out."""
    ordered = {k: ref[k] for k in REFERENCE_KEYS if ref.get(k) is not None}
    return json.dumps(ordered, ensure_ascii=False)


def write_references(path, refs):
    """Write the JSON-lines file (sorted by pubmed_id); returns the line count. A file is
    replaced atomically, through a symbolic link the file it names (the link itself was
    replaced); what is no regular file (`-o /dev/stdout`, a pipe) is written to directly."""
    refs = sorted(refs, key=lambda r: r["pubmed_id"])
    text = "".join(reference_line(ref) + "\n" for ref in refs)
    if os.path.exists(path) and not os.path.isfile(path):  # (both follow links)
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        return len(refs)
    target = os.path.realpath(path)
    # A new file (a predictable `<target>.tmp<pid>`, opened plainly, had a link planted there
    # in a shared directory written through).
    tmp, out = new_hidden_file(*os.path.split(target))
    try:
        with out:
            try:  # a file replaced keeps its permissions (not the umask's)
                os.fchmod(out.fileno(), stat.S_IMODE(os.stat(target).st_mode))
            except FileNotFoundError:
                pass
            out.write(text.encode("utf-8"))
        os.replace(tmp, target)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return len(refs)


# --------------------------------------------------------------------------------------------
# PubMed id files and the efetch client

EFETCH_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/efetch.fcgi"
BATCH_SIZE = 200


class FetchError(Exception):
    """efetch failed for good (offline, retries used up, a refused request)."""


def read_id_file(path):
    """PubMed ids (ints, first occurrence order, duplicates dropped) from a file of
    whitespace-separated ids; `#` starts a comment. A bad token raises ValueError naming
    the line."""
    ids, seen = [], set()
    try:
        with open(path, "rb") as handle:
            # An id list saved by Excel or Notepad starts with a byte-order mark (skipped).
            text = utf8_text(handle.read())
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except NotUtf8 as exc:
        raise ValueError(f"{path}: {exc}") from None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")  # (as line_at counts)
    for number, line in enumerate(lines, start=1):
        for token in line.split("#", 1)[0].split():
            value = valid_pmid(token)
            if value is None:
                raise ValueError(f"{path}: line {number}: {token[:40]!r} is not a "
                                 "PubMed id (a positive whole number)")
            if value not in seen:
                seen.add(value)
                ids.append(value)
    if not ids:
        raise ValueError(f"{path}: no PubMed ids in the file")
    return ids


def efetch_base_url():
    return os.environ.get("NCBI_EUTILS_URL") or EFETCH_URL


def efetch_url(ids, base=None, api_key=None, email=None, tool=None):
    query = {"db": "pubmed", "id": ",".join(str(i) for i in ids), "retmode": "xml"}
    for key, value in (("api_key", api_key), ("email", email), ("tool", tool)):
        if value:
            query[key] = value
    return (base or efetch_base_url()) + "?" + urllib.parse.urlencode(query, safe=",")


def batches(ids, size=BATCH_SIZE):
    return [ids[i:i + size] for i in range(0, len(ids), size)]


class RateLimiter:
    """At most `per_second` calls in any one-second window: successive calls are spaced by a
    little more than 1/per_second on the monotonic clock (NCBI: 3/s, 10/s with an API key)."""

    def __init__(self, per_second, clock=time.monotonic, sleep=time.sleep):
        self.interval = 1.0 / per_second * 1.05
        self.clock, self.sleep = clock, sleep
        self.last = None

    def wait(self):
        if self.last is not None:
            delay = self.last + self.interval - self.clock()
            if delay > 0:
                self.sleep(delay)
        self.last = self.clock()


def could_not_connect(exc):
    """Could not connect at all (no route, refused, no DNS, connect timeout), as opposed to a
    bad or slow answer. urllib wraps the errors of connecting and sending in URLError; one
    raised bare came while waiting for or reading the answer: the server was reached."""
    if not isinstance(exc, urllib.error.URLError) or isinstance(exc, urllib.error.HTTPError):
        return False
    reason = exc.reason
    return isinstance(reason, OSError) and not isinstance(reason, ConnectionResetError)


class EfetchClient:
    """Fetch PubMed XML in batches with a rate limit and retries.

    Retried (with back-off `retry_wait * 2**n`, at most `max_wait` s, HTTP Retry-After
    honoured): HTTP 429 and 5xx, connection drops, incomplete reads and responses that are
    not PubMed XML. Up to `attempts` tries per batch. A connection failure on the very
    first request means "offline" and fails at once."""

    def __init__(self, base=None, api_key=None, email=None, tool="ella-refs", attempts=10,
                 retry_wait=2.0, max_wait=30.0, timeout=60.0, log=None, sleep=time.sleep):
        self.base = base or efetch_base_url()
        if urllib.parse.urlsplit(self.base).scheme not in ("http", "https") or \
                not urllib.parse.urlsplit(self.base).netloc:
            # Checked here: urllib's own error would quote the whole URL, API key included.
            raise FetchError(f"the efetch URL {self.base!r} (NCBI_EUTILS_URL) is not an "
                             "http(s) URL")
        self.api_key, self.email, self.tool = api_key, email, tool
        self.attempts, self.retry_wait, self.max_wait = attempts, retry_wait, max_wait
        self.timeout = timeout
        self.sleep = sleep
        self.limiter = RateLimiter(10 if api_key else 3, sleep=sleep)
        self.log = log or (lambda text: print(text, file=sys.stderr, flush=True))
        self.requests = 0

    def _get(self, url):
        self.limiter.wait()
        self.requests += 1
        request = urllib.request.Request(url, headers={"User-Agent": f"{self.tool or 'ella'}"})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return response.read()

    def fetch_batch(self, ids):
        """Reference dicts of one batch (ids missing from the answer are simply absent)."""
        url = efetch_url(ids, self.base, self.api_key, self.email, self.tool)
        host = urllib.parse.urlsplit(self.base).netloc
        last = None
        for attempt in range(1, self.attempts + 1):
            wait = min(self.max_wait, self.retry_wait * 2 ** (attempt - 1))
            try:
                body = self._get(url)
                skipped = []
                refs = parse_pubmed_xml(body, on_unknown=skipped.append, allow_empty=True)
                for element in skipped:
                    text = " ".join("".join(element.itertext()).split())[:100]
                    self.log(f"warning: skipped <{element.tag}> in the efetch answer"
                             + (f": {text}" if text else ""))
                return refs
            except urllib.error.HTTPError as exc:
                if exc.code != 429 and exc.code < 500:
                    raise FetchError(f"efetch at {host} refused the request: HTTP {exc.code} "
                                     f"{exc.reason}") from None
                last = f"HTTP {exc.code} {exc.reason}"
                after = exc.headers.get("Retry-After") if exc.headers else None
                if after and after.strip().isdigit():
                    wait = min(max(wait, float(after)), 2 * self.max_wait)
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                if self.requests == 1 and could_not_connect(exc):
                    reason = getattr(exc, "reason", exc)
                    raise FetchError(f"cannot reach NCBI E-utilities at {host} ({reason}); "
                                     "`ella-refs fetch` needs internet: run it on a connected "
                                     "machine and carry the file in") from None
                last = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            except PubmedParseError as exc:
                last = f"unusable answer: {exc}"
            if attempt < self.attempts:
                self.log(f"warning: efetch attempt {attempt}/{self.attempts} failed ({last}); "
                         f"retrying in {wait:g} s")
                self.sleep(wait)
        raise FetchError(f"efetch failed {self.attempts} times for a batch of {len(ids)} ids "
                         f"starting with {ids[0]} (last: {last}); nothing was written")

    def fetch(self, ids, progress=None):
        """All references of `ids`; returns (refs, missing ids)."""
        refs, parts = [], batches(ids)
        for number, batch in enumerate(parts, start=1):
            if progress:
                progress(f"batch {number}/{len(parts)}: {len(batch)} ids")
            refs += self.fetch_batch(batch)
        found = {r["pubmed_id"] for r in refs}
        missing = [i for i in ids if i not in found]
        wanted = set(ids)
        unique = {}
        for ref in refs:
            if ref["pubmed_id"] in wanted:
                unique.setdefault(ref["pubmed_id"], ref)
        return list(unique.values()), missing
