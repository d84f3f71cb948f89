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
    """As NCBI's efetch sends it: XML declaration, the DOCTYPE of NLM's PubMed DTD (which is
    never loaded), the set."""
    texts = [p.read_text(encoding="utf-8") for p in XML_FILES[:3]]
    wrapped = ('<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE PubmedArticleSet PUBLIC '
               '"-//NLM//DTD PubMedArticle, 1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/'
               'pubmed/out/pubmed_250101.dtd">\n<PubmedArticleSet>'
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
    '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD x//EN" "https://x.dtd" [<!ENTITY a "b">]>'
    '<PubmedArticleSet>&a;</PubmedArticleSet>',
    '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD x//EN" "https://x.dtd">'
    '<!DOCTYPE x><PubmedArticleSet/>',
    # A declaration split by a format tag is one once the tags are removed (it reached the
    # parser, which expanded the entity into the title).
    '<!<i>DOCTYPE PubmedArticle [<!<b>ENTITY e "x">]><PubmedArticle><MedlineCitation>'
    '<PMID>5</PMID><Article><ArticleTitle>&e;</ArticleTitle></Article></MedlineCitation>'
    '</PubmedArticle>',
    '<?xml version="1.0"?><!<u>DOCTYPE x [<!<i>ENTITY e SYSTEM "file:///etc/passwd">]>'
    '<PubmedArticle/>',
    "<PubmedArticle><MedlineCitation>",          # not well-formed
    "<Other/>",                                    # wrong element
    "<PubmedArticleSet></PubmedArticleSet>",       # nothing in it
    "<PubmedArticle><MedlineCitation><PMID>x</PMID><Article/></MedlineCitation></PubmedArticle>",
    "",
])
def test_bad_input_rejected(text):
    with pytest.raises(PubmedParseError):
        parse_pubmed_xml(text)


# ---------------------------------------------------------------------------------------------
# MEDLINE text (the `.pubmed` twins of the XML files) and the acceptance criteria P1-P9

from ella.pubmed import parse_medline, parse_references_text  # noqa: E402

MEDLINE_EXPECTED = {e["pubmed_id"]: e for e in (
    json.loads(line) for line in
    (DATA / "references-from-medline.jsonl").read_text(encoding="utf-8").splitlines())}
MEDLINE_FILES = sorted(DATA.glob("*.pubmed"))
XML_BY_ID = {e["pubmed_id"]: e for e in EXPECTED}


def test_all_nine_medline_files_present():
    assert {int(p.stem) for p in MEDLINE_FILES} == set(MEDLINE_EXPECTED) == set(XML_BY_ID)


@pytest.mark.parametrize("path", MEDLINE_FILES, ids=lambda p: p.stem)
def test_medline_matches_expected(path):
    parsed = parse_medline(path.read_bytes())  # 8896564.pubmed has CRLF line ends
    assert parsed == [MEDLINE_EXPECTED[int(path.stem)]]


def test_medline_several_records_and_format_detection():
    text = "\n".join(p.read_text(encoding="utf-8") for p in MEDLINE_FILES[:3])
    parsed = parse_references_text(text)
    assert [r["pubmed_id"] for r in parsed] == [int(p.stem) for p in MEDLINE_FILES[:3]]
    assert parse_references_text(XML_FILES[0].read_bytes()) == [XML_BY_ID[int(XML_FILES[0].stem)]]


@pytest.mark.parametrize("separator", ["\u2028", "\x85", "\x0c", "\x1e"])
def test_medline_only_newlines_end_a_line(separator):
    """A Unicode line or paragraph separator, a form feed and the like stay in the value
    (str.splitlines() split the line there and refused the record)."""
    [ref] = parse_medline(f"PMID- 5\nAB  - foo{separator}bar\nTA  - J\n")
    assert ref["abstract"] == f"foo{separator}bar" and ref["journal"] == "J"


@pytest.mark.parametrize("end", ["\r", "\r\n"])
def test_medline_with_carriage_returns_as_line_ends(end):
    """Bare CR (old Mac files) and CRLF still end lines, as in text-mode reading."""
    text = end.join(["PMID- 5", "TI  - A title", "TA  - J Test", ""])
    for parsed in (parse_medline(text), parse_references_text(text.encode())):
        assert [(r["pubmed_id"], r["title"], r["journal"]) for r in parsed] == [
            (5, "A title", "J Test")]


def test_medline_details():
    text = ("PMID- 5\nTI  - A title\n      continued &amp; done\nAU  - Doe J\nCN  - Group\n"
            "TA  - J Test\nDP  - 2020 Jan\nAB  - BACKGROUND: one two\n      three. RESULTS: "
            "x. A/B: not split. CASE REPORT: y\n")
    [ref] = parse_medline(text)
    assert ref == {"pubmed_id": 5, "title": "A title continued & done", "authors": "Doe J & Group",
                   "journal": "J Test", "year": "2020 Jan", "published": True,
                   "abstract": "BACKGROUND: one two three.\nRESULTS: x. A/B: not split. CASE\n"
                               "REPORT: y"}


@pytest.mark.parametrize("text, where", [
    ("TI  - no pmid first\n", "line 1"),
    ("PMID- 7\nTI  - ok\nthis is garbage\n", "line 3"),
    ("PMID- x\nTI  - bad id\n", "line 1"),
    ("", "no MEDLINE record"),
    ("\n\n", "no MEDLINE record"),
])
def test_medline_bad_input_names_the_line(text, where):
    with pytest.raises(PubmedParseError) as info:
        parse_medline(text, source="f.txt: ")
    assert str(info.value).startswith("f.txt: ")
    assert where in str(info.value)


def test_malformed_xml_names_the_line():
    with pytest.raises(PubmedParseError) as info:
        parse_references_text("<PubmedArticleSet>\n<PubmedArticle>\n</PubmedArticleSet>",
                              source="x.xml: ")
    assert str(info.value).startswith("x.xml: not valid XML") and "line 3" in str(info.value)


def _both(pmid):
    return XML_BY_ID[pmid], MEDLINE_EXPECTED[pmid]


def _parsed_both(pmid):
    return (parse_pubmed_xml((DATA / f"{pmid}.xml").read_text(encoding="utf-8"))[0],
            parse_medline((DATA / f"{pmid}.pubmed").read_bytes())[0])


def test_p1_medline_date_year():
    xml, medline = _parsed_both(11485765)
    assert xml["year"] == medline["year"] == "2001 Jul-Aug"


def test_p2_collective_name():
    for ref in _parsed_both(8896564):
        assert ref["authors"] == "Fanconi anaemia/Breast cancer consortium"


def test_p3_et_al_journal_without_volume_no_abstract():
    xml, medline = _parsed_both(24122059)
    assert xml["authors"] == medline["authors"] == "Maggi L et al."
    assert xml["journal"] == "J. Neurol.: "
    assert medline["journal"] == "J Neurol"
    assert "abstract" not in xml and "abstract" not in medline


def test_p4_no_issue():
    for ref in _parsed_both(23374456):
        assert ref["journal"] == "J Med Case Rep: 7, 35"


def test_p5_single_author_sections():
    for ref in _parsed_both(21550946):
        assert ref["authors"] == "Lietman SA"
        lines = ref["abstract"].split("\n")
        assert [line.split(":")[0] for line in lines] == ["OBJECTIVE", "METHODS", "RESULTS",
                                                          "CONCLUSION"]


def test_p6_two_authors_one_section():
    for ref in _parsed_both(16160809):
        assert ref["authors"] == "Ptok M & Morlot S"
        assert "\n" not in ref["abstract"]


def test_p7_full_journal_title():
    for ref in _parsed_both(24891336):
        assert ref["journal"] == "Arthritis & rheumatology (Hoboken, N.J.): 66(9), 2621-7"


def test_p8_whole_book():
    for ref in _parsed_both(24432435):
        assert ref["title"].startswith("Risk Assessment, Genetic Counseling, and Genetic "
                                       "Testing for BRCA-Related Cancer")
        assert ref["journal"] == ("Agency for Healthcare Research and Quality (US), "
                                  "Rockville (MD).")


def test_p9_book_chapter():
    for ref in _parsed_both(20301425):
        assert ref["title"] == "BRCA1 and BRCA2 Hereditary Breast and Ovarian Cancer"
        assert ref["journal"] == ("In: Pagon RA et al. (eds)., GeneReviews(®), University of "
                                  "Washington, Seattle, Seattle (WA).")


def test_a_bad_record_of_a_set_and_a_nul_in_medline_are_named():
    """A record without a PMID in a fetch of hundreds failed with "missing or invalid PMID:
    None", naming no record; a NUL in MEDLINE text was converted, and `deposit` refused the
    converted file one step later."""
    good = XML_FILES[0].read_text(encoding="utf-8")
    article = good[good.index("<PubmedArticle>"):good.rindex("</PubmedArticle>") + 17]
    broken = "<PubmedArticle><MedlineCitation><Article/></MedlineCitation></PubmedArticle>"
    with pytest.raises(PubmedParseError) as refused:
        parse_pubmed_xml(f"<PubmedArticleSet>{article}{broken}</PubmedArticleSet>")
    assert str(refused.value) == ("record 2 (<PubmedArticle>) of 2: missing or invalid PMID: "
                                  "None")
    with pytest.raises(PubmedParseError, match=r"^x\.txt: line 2: contains a NUL character$"):
        parse_medline("PMID- 1\nTI  - a\x00b\n", source="x.txt: ")
