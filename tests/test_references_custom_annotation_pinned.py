"""References, PubMed parsing and custom annotation: behaviours pinned by import.md 5.4 and 6,
api.md 1.8, 4.13, 4.15 and 4.19 and the README (references and custom annotation), on a real
PostgreSQL where a database is involved."""

import json

import psycopg
import pytest

from api_helpers import add_user, logged_in_client
from ella.deposit.custom_annotation import deposit_custom_annotations, read_custom_annotations
from ella.deposit.references import ReferenceError, deposit_references, read_references
from ella.pubmed import PubmedParseError, parse_medline, parse_pubmed_xml, read_id_file
from helpers import run_cli
from workflow_helpers import analysis_alleles, payload, setup_analysis, start_round

REFS = "/api/v1/references/"
MAX_PMID = 2147483647


def book_xml(pmid=1, editors=(), article_title=None):
    """A PubmedBookArticle: a book (or a chapter of it when `article_title` is given)."""
    editor_list = ""
    if editors:
        editor_list = '<AuthorList Type="editors">' + "".join(
            f"<Author><LastName>{last}</LastName><Initials>{initials}</Initials></Author>"
            for last, initials in editors) + "</AuthorList>"
    chapter = f"<ArticleTitle>{article_title}</ArticleTitle>" if article_title else ""
    return ("<PubmedBookArticle><BookDocument>"
            f"<PMID Version=\"1\">{pmid}</PMID><Book><Publisher>"
            "<PublisherName>Univ Press</PublisherName>"
            "<PublisherLocation>Oslo</PublisherLocation></Publisher>"
            "<BookTitle>Gene Book</BookTitle><PubDate><Year>2020</Year></PubDate>"
            f"{editor_list}</Book>{chapter}</BookDocument></PubmedBookArticle>")


def article_xml(pmid):
    return ("<PubmedArticle><MedlineCitation>"
            f"<PMID Version=\"1\">{pmid}</PMID><Article><Journal><Title>J Test</Title>"
            "<JournalIssue><PubDate><Year>2021</Year></PubDate></JournalIssue></Journal>"
            "<ArticleTitle>Boundary article</ArticleTitle></Article></MedlineCitation>"
            "</PubmedArticle>")


# --- PubMed XML and MEDLINE (import.md 6.2) ---------------------------------------------------

def test_two_editors_of_a_book_are_eds_and_one_is_ed():
    """import.md 6.2: `<editors> (eds).`, or `(ed).` only for a single editor without `&`
    or `et al`: two editors joined with ` & ` are `(eds)`, in PubMed XML and MEDLINE text."""
    [two] = parse_pubmed_xml(book_xml(editors=[("Pagon", "RA"), ("Adam", "MP")],
                                      article_title="A chapter"))
    assert two["journal"] == "In: Pagon RA & Adam MP (eds)., Gene Book, Univ Press, Oslo."
    [one] = parse_pubmed_xml(book_xml(editors=[("Pagon", "RA")], article_title="A chapter"))
    assert one["journal"] == "In: Pagon RA (ed)., Gene Book, Univ Press, Oslo."
    medline = ("PMID- 2\nTI  - A chapter\nBTI - Gene Book\nED  - Pagon RA\nED  - Adam MP\n"
               "PB  - Univ Press\nPL  - Oslo\nDP  - 2020\n")
    [text] = parse_medline(medline)
    assert text["journal"] == "In: Pagon RA & Adam MP (eds)., Gene Book, Univ Press, Oslo."
    [single] = parse_medline(medline.replace("ED  - Adam MP\n", ""))
    assert single["journal"] == "In: Pagon RA (ed)., Gene Book, Univ Press, Oslo."


def test_a_chapter_without_editors_is_in_its_book():
    """import.md 6.2: the book string starts with `In: ` if there are editors *or a book
    title* (a chapter: ArticleTitle given, the book's title follows `In: `)."""
    [chapter] = parse_pubmed_xml(book_xml(article_title="A chapter"))
    assert chapter["title"] == "A chapter"
    assert chapter["journal"] == "In: Gene Book, Univ Press, Oslo."
    [whole] = parse_pubmed_xml(book_xml())
    assert whole["title"] == "Gene Book" and whole["journal"] == "Univ Press, Oslo."
    [text] = parse_medline("PMID- 3\nTI  - A chapter\nBTI - Gene Book\nPB  - Univ Press\n"
                           "PL  - Oslo\n")
    assert text["journal"] == "In: Gene Book, Univ Press, Oslo."


def test_pmid_bounds_in_xml_medline_and_id_files(tmp_path):
    """README (References): a PMID must be a whole number from 1 to 2147483647: the top one
    is read, 0 is refused, in PubMed XML, MEDLINE text and `ella-refs fetch`'s id file."""
    assert [r["pubmed_id"] for r in parse_pubmed_xml(article_xml(MAX_PMID))] == [MAX_PMID]
    assert [r["pubmed_id"] for r in parse_medline(f"PMID- {MAX_PMID}\nTI  - x\n")] == [MAX_PMID]
    with pytest.raises(PubmedParseError):
        parse_pubmed_xml(article_xml(0))
    with pytest.raises(PubmedParseError):
        parse_medline("PMID- 0\nTI  - x\n")
    with pytest.raises(PubmedParseError):
        parse_pubmed_xml(article_xml(MAX_PMID + 1))
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{MAX_PMID}\n", encoding="utf-8")
    assert read_id_file(str(ids)) == [MAX_PMID]
    ids.write_text("5\n0\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: '0'"):
        read_id_file(str(ids))


# --- `deposit references` (import.md 5.4, 6.3) -----------------------------------------------

def _write(tmp_path, items, name="refs.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("pubmed_id", [0, True, MAX_PMID + 1])
def test_deposit_refuses_a_pubmed_id_that_is_no_pmid(db_url, tmp_path, pubmed_id):
    """import.md 5.4: `pubmed_id` is an int, a PMID from 1 to 2147483647 (README): 0, `true`
    (JSON's boolean, not a number) and 2147483648 are refused with the line named, and the
    domain call refuses them too; nothing is written."""
    path = _write(tmp_path, [{"pubmed_id": 5, "title": "ok"},
                             {"pubmed_id": pubmed_id, "title": "bad"}])
    with pytest.raises(ReferenceError, match=r": line 2: pubmed_id"):
        read_references(path)
    with psycopg.connect(db_url) as conn:
        with pytest.raises(ValueError):
            deposit_references(conn, [{"pubmed_id": pubmed_id, "title": "bad"}])
        assert conn.execute("SELECT count(*) FROM reference").fetchone()[0] == 0


def test_deposit_takes_the_largest_pmid(db_url, tmp_path):
    """README (References): PMIDs go up to 2147483647, which `deposit references` stores."""
    path = _write(tmp_path, [{"pubmed_id": MAX_PMID, "title": "Top"}])
    with psycopg.connect(db_url) as conn:
        assert deposit_references(conn, read_references(path)) == {"created": 1, "updated": 0}
        assert conn.execute("SELECT pubmed_id, title, published FROM reference").fetchall() == [
            (MAX_PMID, "Top", True)]


def test_deposit_a_key_given_as_null_is_overwritten_with_null(db_url, tmp_path):
    """import.md 6.3: an existing reference gets *each given key* overwritten; a key given as
    null (a retracted abstract) clears the column, keys not given are kept."""
    first = {"pubmed_id": 77, "title": "T", "authors": "Doe J", "abstract": "Old abstract",
             "year": "2001"}
    with psycopg.connect(db_url) as conn:
        deposit_references(conn, read_references(_write(tmp_path, [first])))
        result = deposit_references(conn, read_references(_write(
            tmp_path, [{"pubmed_id": 77, "abstract": None, "year": "2002"}], "second.jsonl")))
        assert result == {"created": 0, "updated": 1}
        assert conn.execute("SELECT title, authors, abstract, year FROM reference "
                            "WHERE pubmed_id = 77").fetchall() == [("T", "Doe J", None, "2002")]


# --- GET/POST references/ (api.md 1.8, 4.13) ---------------------------------------------------

@pytest.fixture
def client(api_app, db_url):
    add_user(db_url, "pinref", "pinrefgroup")
    return logged_in_client(api_app, db_url, "pinref")


def _manual(client, **columns):
    r = client.post(REFS, {"manual": {"published": False, **columns}})
    assert r.status == 200, r.body
    return r.json


def test_search_words_must_all_match(client):
    """api.md 1.8: every word of `search_string` must match (prefixes AND-ed): two words of
    two different references find neither."""
    fish = _manual(client, title="Zebrafish fins")
    mouse = _manual(client, title="Mouse tails")
    for text, expected in (("zebrafish", [fish["id"]]), ("mouse tail", [mouse["id"]]),
                           ("zebrafish mouse", []), ("fins tails", [])):
        r = client.get(REFS, query={"s": {"search_string": text}})
        assert r.status == 200 and [x["id"] for x in r.json] == expected, text
        assert r.header("Total-Count") == str(len(expected))


def test_search_results_are_ordered_by_rank(client):
    """api.md 1.8: search results are ordered by `ts_rank`: a word in the title (weight A)
    ranks before the same word in the journal only (weight B), whatever the ids."""
    in_journal = _manual(client, title="Other things", journal="Zebrafish Reports")
    in_title = _manual(client, title="Zebrafish development", journal="J Dev")
    r = client.get(REFS, query={"s": {"search_string": "zebrafish"}})
    assert r.status == 200
    assert [x["id"] for x in r.json] == [in_title["id"], in_journal["id"]]
    first = client.get(REFS, query={"s": {"search_string": "zebrafish"}, "per_page": 1})
    assert [x["id"] for x in first.json] == [in_title["id"]]


def test_the_largest_pmid_is_taken_by_post(client):
    """README (References): a PMID is a whole number from 1 to 2147483647; `POST references/`
    takes the top one from PubMed XML and as a manual reference's `pubmed_id`."""
    r = client.post(REFS, {"pubmedData": article_xml(MAX_PMID)})
    assert r.status == 200, r.body
    assert r.json["pubmed_id"] == MAX_PMID and r.json["title"] == "Boundary article"
    created = r.json
    r = client.post(REFS, {"manual": {"title": "Boundary article", "pubmed_id": MAX_PMID}})
    assert r.status == 200, r.body
    assert r.json == created


# --- custom annotation (README: `ella-deposit custom_annotation`; api.md 4.15, 4.19) ----------

def _alleles_and_user(url):
    with psycopg.connect(url) as conn:
        alleles = [r[0] for r in conn.execute("SELECT id FROM allele ORDER BY id LIMIT 2")]
        user = conn.execute('SELECT id FROM "user" ORDER BY id LIMIT 1').fetchone()[0]
    return alleles, user


def _custom_rows(url, allele_id):
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT id, annotations, previous_annotation_id, "
                            "date_superceeded IS NULL FROM customannotation "
                            "WHERE allele_id = %s ORDER BY id", (allele_id,)).fetchall()


def _custom_file(tmp_path, lines):
    path = tmp_path / "custom.jsonl"
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n"
                            for line in lines), encoding="utf-8")
    return str(path)


def test_custom_annotation_versions_chain_each_to_the_one_before(adopted_demo_db_url, tmp_path):
    """README: each line supersedes the allele's *current* row (datamodel versioning): three
    versions of one variant form a chain, each naming the one before, one current, the last
    merged over the second (its groups kept where the line names none)."""
    (allele, _), user = _alleles_and_user(adopted_demo_db_url)
    lines = [{"allele_id": allele, "user_id": user,
              "annotations": {"prediction": {"repeat": "repeat"}}},
             {"allele_id": allele, "user_id": user,
              "annotations": {"external": {"other_extdb": "second"}}},
             {"allele_id": allele, "user_id": user,
              "annotations": {"prediction": {"repeat": "non_repeat"}}}]
    with psycopg.connect(adopted_demo_db_url) as conn:
        result = deposit_custom_annotations(conn, read_custom_annotations(
            _custom_file(tmp_path, lines)))
    assert result == {"created": 3, "superseded": 2}
    rows = _custom_rows(adopted_demo_db_url, allele)
    assert [(r[2], r[3]) for r in rows] == [(None, False), (rows[0][0], False),
                                            (rows[1][0], True)]
    assert rows[2][1] == {"prediction": {"repeat": "non_repeat"},
                          "external": {"other_extdb": "second"}}
    # And a later file supersedes the newest version, not an old one.
    with psycopg.connect(adopted_demo_db_url) as conn:
        deposit_custom_annotations(conn, read_custom_annotations(_custom_file(tmp_path, [
            {"allele_id": allele, "user_id": None, "annotations": {"references": []}}])))
    rows = _custom_rows(adopted_demo_db_url, allele)
    assert len(rows) == 4 and rows[3][2] == rows[2][0]
    assert [r[3] for r in rows] == [False, False, False, True]


@pytest.mark.parametrize("line, reason", [
    ('{"allele_id": A, "user_id": U, "annotations": {"references": [1, "x"]}}',
     "annotations.references must be a list of JSON objects"),
    ('{"allele_id": A, "user_id": U, "annotations": {}, "comment": "x"}',
     "unknown key(s) 'comment'"),
    ('{"allele_id": A, "user_id": "U", "annotations": {}}',
     "user_id must be a positive integer or null"),
    ('{"allele_id": A, "user_id": true, "annotations": {}}',
     "user_id must be a positive integer or null"),
    ('{"allele_id": A, "user_id": U}', "annotations is missing"),
    ('{"allele_id": A, "user_id": 999999, "annotations": {}}', "user_id 999999 does not exist"),
    # Cut short: the column where it ends (JSON read on past the line ending: "column 1").
    ('{"annotations": {"prediction": {}}', "not valid JSON: column 35: Expecting ',' delimiter"),
])
def test_custom_annotation_bad_line_is_named_and_nothing_written(adopted_demo_db_url, tmp_path,
                                                                  line, reason):
    """README: the line format is `{allele_id, user_id, annotations}` (user_id an existing
    user or null, `annotations.references` a list of objects); a bad line is one `error:`
    line naming it, and the whole file writes nothing."""
    (allele, _), user = _alleles_and_user(adopted_demo_db_url)
    good = json.dumps({"allele_id": allele, "user_id": user,
                       "annotations": {"prediction": {"repeat": "repeat"}}})
    bad = line.replace("A", str(allele)).replace("U", str(user))
    path = _custom_file(tmp_path, [good, bad])
    result = run_cli("ella-deposit", "custom_annotation", path, db_url=adopted_demo_db_url)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    [message] = result.stderr.strip().splitlines()
    assert message.startswith(f"error: {path}: line 2: {reason}"), message
    assert _custom_rows(adopted_demo_db_url, allele) == []


def test_custom_annotation_reference_must_carry_its_own_pubmed_id(adopted_demo_db_url,
                                                                    tmp_path):
    """A reference is found by its id or its PubMed id: a line naming reference R with
    another reference's PubMed id was stored, and the variant's page could show the other
    study. Refused with its line; the reference's own PubMed id, or none, is fine."""
    (allele, _), user = _alleles_and_user(adopted_demo_db_url)
    with psycopg.connect(adopted_demo_db_url) as conn:
        reference = conn.execute("INSERT INTO reference (pubmed_id, title, published) VALUES "
                                 "(31000001, 't', true) RETURNING id").fetchone()[0]
    line = {"allele_id": allele, "user_id": user,
            "annotations": {"references": [{"id": reference, "pubmed_id": 123}]}}
    path = _custom_file(tmp_path, [line])
    result = run_cli("ella-deposit", "custom_annotation", path, db_url=adopted_demo_db_url)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.strip() == (
        f"error: {path}: line 1: reference id {reference} has PubMed id 31000001, not 123 "
        "(give the reference's own, or leave pubmed_id out)")
    assert _custom_rows(adopted_demo_db_url, allele) == []
    for pubmed_id in (31000001, None):
        line["annotations"]["references"] = [{"id": reference, "pubmed_id": pubmed_id}]
        result = run_cli("ella-deposit", "custom_annotation", _custom_file(tmp_path, [line]),
                         db_url=adopted_demo_db_url)
        assert result.returncode == 0, result.stderr
    assert len(_custom_rows(adopted_demo_db_url, allele)) == 2


def test_finalize_needs_the_current_custom_annotation(api_app, db_url, ella_config, tmp_path):
    """api.md 4.15: `custom_annotation_id` must equal the current custom annotation id (both
    null when none): once the variant has one, null or a superseded id is refused with 409
    and nothing is created; the current id is accepted."""
    c1, _, analyses, _ = setup_analysis(api_app, db_url, ella_config, tmp_path)
    start_round(db_url, analyses[0], "wfuser1")
    allele_id, annotation_id = analysis_alleles(db_url, analyses[0])[0]
    first = c1.post("/api/v1/customannotations/", {
        "allele_id": allele_id, "annotations": {"prediction": {"repeat": "repeat"}}})
    assert first.status == 200, first.body
    second = c1.post("/api/v1/customannotations/", {
        "allele_id": allele_id, "annotations": {"prediction": {"repeat": "non_repeat"}}})
    assert second.status == 200, second.body
    url = f"/api/v1/workflows/analyses/{analyses[0]}/actions/finalizeallele/"
    body = payload(allele_id, annotation_id)
    for stale in (None, first.json["id"]):
        body["custom_annotation_id"] = stale
        result = c1.post(url, body)
        assert result.status == 409, (stale, result.body)
        assert result.json["message"] == ("Cannot finalize: provided custom_annotation_id does "
                                          "not match latest annotation id")
        with psycopg.connect(db_url) as conn:
            assert conn.execute("SELECT count(*) FROM alleleassessment WHERE allele_id = %s",
                                (allele_id,)).fetchone()[0] == 0
    body["custom_annotation_id"] = second.json["id"]
    result = c1.post(url, body)
    assert result.status == 200, result.body
