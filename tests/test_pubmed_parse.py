"""ella.pubmed.parse_pubmed_xml on ELLA's 9 PubMed test records (import.md 6.2)."""

import json
from pathlib import Path

import pytest

from ella.pubmed import PubmedParseError, parse_pubmed_xml

DATA = Path(__file__).resolve().parent / "data" / "pubmed"
EXPECTED = [json.loads(line) for line in
            (DATA / "references-from-xml.jsonl").read_text(encoding="utf-8").splitlines()]
XML_FILES = sorted(DATA.glob("*.xml"))


def test_all_nine_files_present():
    assert len(XML_FILES) == 9
    assert {int(p.stem) for p in XML_FILES} == {e["pubmed_id"] for e in EXPECTED}


@pytest.mark.parametrize("path", XML_FILES, ids=lambda p: p.stem)
def test_parse_matches_expected(path):
    parsed = parse_pubmed_xml(path.read_text(encoding="utf-8"))
    assert len(parsed) == 1
    expected = next(e for e in EXPECTED if e["pubmed_id"] == int(path.stem))
    # compare as JSON (key for key, type for type)
    assert json.loads(json.dumps(parsed[0])) == expected


def test_bytes_and_wrapper_set():
    texts = [p.read_text(encoding="utf-8") for p in XML_FILES[:3]]
    wrapped = ('<?xml version="1.0" encoding="utf-8"?>\n<PubmedArticleSet>'
               + "".join(texts) + "</PubmedArticleSet>")
    parsed = parse_pubmed_xml(wrapped.encode("utf-8"))
    assert [r["pubmed_id"] for r in parsed] == [int(p.stem) for p in XML_FILES[:3]]


def test_formatting_tags_removed_and_nested_text_kept():
    text = ("<PubmedArticle><MedlineCitation><PMID>1</PMID><Article><Journal><Title>J</Title>"
            "<JournalIssue><PubDate><MedlineDate>1999 Spring</MedlineDate></PubDate>"
            "</JournalIssue></Journal><ArticleTitle>The <i>BRCA1</i> x<sup>2</sup> y"
            "</ArticleTitle><Abstract><AbstractText Label=\"A\"></AbstractText>"
            "<AbstractText Label=\"B\">two</AbstractText><AbstractText>three</AbstractText>"
            "</Abstract><AuthorList><Author><LastName>Doe</LastName><Initials>J</Initials>"
            "</Author><Author><CollectiveName>Group</CollectiveName></Author></AuthorList>"
            "</Article></MedlineCitation></PubmedArticle>")
    [ref] = parse_pubmed_xml(text)
    assert ref == {"pubmed_id": 1, "title": "The BRCA1 x2 y", "journal": "J: ",
                   "year": "1999 Spring", "authors": "Doe J & Group",
                   "abstract": "B: two\nthree", "published": True}


@pytest.mark.parametrize("text", [
    '<!DOCTYPE x [<!ENTITY a "aaaa">]><PubmedArticle>&a;</PubmedArticle>',
    '<!DOCTYPE PubmedArticle SYSTEM "file:///etc/passwd"><PubmedArticle/>',
    "<PubmedArticle><MedlineCitation>",          # not well-formed
    "<Other/>",                                    # wrong element
    "<PubmedArticleSet></PubmedArticleSet>",       # nothing in it
    "<PubmedArticle><MedlineCitation><PMID>x</PMID><Article/></MedlineCitation></PubmedArticle>",
    "",
])
def test_bad_input_rejected(text):
    with pytest.raises(PubmedParseError):
        parse_pubmed_xml(text)
