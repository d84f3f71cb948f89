"""PubMed XML records (`PubmedArticle` / `PubmedBookArticle`) to reference dicts (import.md 6.2).

`parse_pubmed_xml(text)` accepts one record element, or a `PubmedArticleSet` wrapping several,
and returns a list of dicts with the keys `pubmed_id, authors, title, journal, year, abstract,
published` (`authors`/`abstract` omitted when absent). Documents with a DOCTYPE (and so any
entity declaration) are refused: no entity tricks reach the parser.
"""

import re
import xml.etree.ElementTree as ET

_FORMAT_TAGS = re.compile(r"</?(?:i|b|u)>")
_DOCTYPE = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)


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


def _pmid(parent):
    raw = _find_text(parent, "PMID")
    try:
        return int(raw.strip())
    except (AttributeError, ValueError):
        raise PubmedParseError(f"missing or invalid PMID: {raw!r}") from None


def parse_pubmed_xml(text):
    """Reference dicts of the PubMed XML records in `text` (str or bytes)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if _DOCTYPE.search(text):
        raise PubmedParseError("PubMed XML with a DOCTYPE or entity declaration is not accepted")
    text = _FORMAT_TAGS.sub("", text)
    # An encoding declaration is meaningless for an already decoded string.
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)
    try:
        root = ET.fromstring(text.strip())
    except ET.ParseError as exc:
        raise PubmedParseError(f"not valid XML: {exc}") from None
    records = [root] if root.tag in ("PubmedArticle", "PubmedBookArticle") else list(root)
    result = []
    for record in records:
        if record.tag == "PubmedArticle":
            result.append(_article(record))
        elif record.tag == "PubmedBookArticle":
            result.append(_book_article(record))
        else:
            raise PubmedParseError(f"unexpected element <{record.tag}> (expected PubmedArticle "
                                   "or PubmedBookArticle)")
    if not result:
        raise PubmedParseError("no PubmedArticle or PubmedBookArticle found")
    return result
