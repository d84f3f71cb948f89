"""GET/POST references/ through the WSGI app on a real PostgreSQL (api.md 2.6, 3.5, 4.13)."""

import json
from pathlib import Path

import psycopg
import pytest

from api_client import Client
from api_helpers import add_user, logged_in_client

URL = "/api/v1/references/"
DATA = Path(__file__).resolve().parent / "data" / "pubmed"
EXPECTED = {json.loads(line)["pubmed_id"]: json.loads(line) for line in
            (DATA / "references-from-xml.jsonl").read_text(encoding="utf-8").splitlines()}
SHAPE = {"id": int, "authors": (str, type(None)), "title": (str, type(None)),
         "journal": (str, type(None)), "year": (str, type(None)),
         "abstract": (str, type(None)), "pubmed_id": (int, type(None)), "published": bool}


def check_shape(ref):
    assert list(ref) == list(SHAPE)
    for key, types in SHAPE.items():
        assert isinstance(ref[key], types), (key, ref[key])
        if types is int:
            assert not isinstance(ref[key], bool)


@pytest.fixture
def client(api_app, db_url):
    add_user(db_url, "refuser", "refgroup")
    return logged_in_client(api_app, db_url, "refuser")


@pytest.fixture
def loaded(client):
    """All 9 PubMed test records posted; {pubmed_id: reference}."""
    result = {}
    for path in sorted(DATA.glob("*.xml")):
        r = client.post(URL, {"pubmedData": path.read_text(encoding="utf-8")})
        assert r.status == 200, r.body
        result[r.json["pubmed_id"]] = r.json
    return result


def test_login_required(api_app):
    anonymous = Client(api_app)
    assert anonymous.get(URL).status == 403
    assert anonymous.post(URL, {"manual": {"title": "x", "published": False}}).status == 403


def test_post_pubmed_xml_creates_and_returns_existing(client, loaded, db_url):
    assert set(loaded) == set(EXPECTED)
    for pubmed_id, ref in loaded.items():
        check_shape(ref)
        expected = dict(EXPECTED[pubmed_id])
        for key in ("authors", "abstract"):
            expected.setdefault(key, None)
        assert {k: v for k, v in ref.items() if k != "id"} == expected
    # posting again returns the existing row unchanged, no new row
    again = client.post(URL, {"pubmedData": (DATA / "8896564.xml").read_text()})
    assert again.status == 200 and again.json == loaded[8896564]
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*), count(search) FROM reference").fetchone() == (9, 9)


def test_post_pubmed_data_as_ncbi_and_pubmed_give_it(client):
    """api.md 4.13: PubMed XML (here as efetch sends it, with NLM's DOCTYPE) or MEDLINE
    text; both give the same reference."""
    xml = (DATA / "11485765.xml").read_text(encoding="utf-8")
    efetch = ('<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD '
              'PubMedArticle, 1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/'
              f'pubmed_250101.dtd">\n<PubmedArticleSet>\n{xml}</PubmedArticleSet>\n')
    from_xml = client.post(URL, {"pubmedData": efetch})
    assert from_xml.status == 200, from_xml.body
    assert from_xml.json["pubmed_id"] == 11485765
    medline = client.post(URL, {"pubmedData": (DATA / "16160809.pubmed").read_text()})
    assert medline.status == 200, medline.body
    check_shape(medline.json)
    assert medline.json["pubmed_id"] == 16160809 and medline.json["title"]


def test_get_by_q_and_pagination(client, loaded):
    ids = sorted(r["id"] for r in loaded.values())
    r = client.get(URL, query={"q": {"pubmed_id": [8896564, 20301425]}})
    assert r.status == 200
    assert sorted(x["pubmed_id"] for x in r.json) == [8896564, 20301425]
    for ref in r.json:
        check_shape(ref)
        assert ref == loaded[ref["pubmed_id"]]
    assert r.header("Total-Count") == "2"

    r = client.get(URL, query={"q": {"id": []}})
    assert r.status == 200 and r.json == [] and r.header("Total-Count") == "0"
    r = client.get(URL, query={"q": "null"})
    assert r.status == 200 and len(r.json) == 9

    r = client.get(URL, query={"q": {"id": ids}, "per_page": 4, "page": 3})
    assert r.status == 200 and [x["id"] for x in r.json] == ids[8:]
    assert (r.header("Total-Count"), r.header("Total-Pages"), r.header("Page"),
            r.header("Per-Page")) == ("9", "3", "3", "4")
    # string ids as the UI may send them
    r = client.get(URL, query={"q": {"id": str(ids[0])}})
    assert [x["id"] for x in r.json] == [ids[0]]


def test_full_text_search(client, loaded):
    # prefix match on stemmed words, all words required
    r = client.get(URL, query={"s": {"search_string": "fanconi anaem"}})
    assert r.status == 200
    assert [x["pubmed_id"] for x in r.json] == [8896564]
    check_shape(r.json[0])
    assert r.header("Total-Count") == "1"
    # by author and journal
    r = client.get(URL, query={"s": {"search_string": "Pagon"}})
    assert 20301425 in [x["pubmed_id"] for x in r.json]
    r = client.get(URL, query={"s": {"search_string": "1996"}})
    assert [x["pubmed_id"] for x in r.json] == [8896564]
    # hyphenated words, and a whole title (a compound lexeme was parsed apart again into
    # unstemmed parts: "Ehlers-Danlos" found nothing)
    titles = {r["pubmed_id"]: r["title"] for r in client.get(URL).json}
    for text, pubmed_id in (("Ehlers-Danlos", 23374456), ("vascular-type ehlers", 23374456),
                            ("BRCA-Related", 24432435), *[(t, p) for p, t in titles.items()]):
        r = client.get(URL, query={"s": {"search_string": text}})
        assert pubmed_id in [x["pubmed_id"] for x in r.json], text
    # stop words only / nothing matching
    for text in ("the of", "", "zzzznotthere"):
        r = client.get(URL, query={"s": {"search_string": text}})
        assert r.status == 200 and r.json == [] and r.header("Total-Count") == "0"
    # pagination over the search
    everything = client.get(URL, query={"s": {"search_string": "gene"}})
    assert everything.status == 200 and len(everything.json) >= 2
    first = client.get(URL, query={"s": {"search_string": "gene"}, "per_page": 1})
    assert first.json == everything.json[:1]
    assert first.header("Total-Count") == str(len(everything.json))
    # injection-looking text is just text
    for text in ("'; DROP TABLE reference; --", "a' & b:* | !", "\\'x", "<->"):
        r = client.get(URL, query={"s": {"search_string": text}})
        assert r.status == 200 and isinstance(r.json, list)
    assert len(client.get(URL).json) == 9


BAD_QUERIES = [
    {"q": "{not json"}, {"q": '{"nosuchcolumn": 1}'}, {"q": '{"id": "abc"}'},
    {"q": '{"id": {"$bad": 1}}'}, {"q": "[1]"}, {"q": '{"id": 1}', "s": '{"search_string": "x"}'},
    {"s": '{"search_string": 1}'}, {"s": '"brca"'}, {"s": '{"search_string": "x", "y": 1}'},
    {"s": "{bad"}, {"page": "x"}, {"per_page": "0"},
    {"q": '{"id": "1; DROP TABLE reference"}'},
]


def test_bad_queries_400(client):
    for query in BAD_QUERIES:
        r = client.get(URL, query=query)
        assert r.status == 400, (query, r.body)
        assert isinstance(r.json["message"], str)


def test_a_reference_too_long_to_index_is_a_400_saying_so(client, db_url):
    """A tsvector holds 1 MiB: a title of 150,000 words failed the search trigger, answered
    with the general "A value in the request is too large to store"."""
    title = " ".join(f"w{i}" for i in range(150_000))
    result = client.post(URL, {"manual": {"title": title, "authors": "Doe J"}})
    assert result.status == 400
    assert result.json["message"].startswith(
        "The reference cannot be stored: its authors, title, journal and year are too long "
        "to index for the reference search (string is too long for tsvector")
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM reference").fetchone() == (0,)


def test_manual_reference(client, db_url):
    manual = {"title": "A manual one", "authors": "Doe J", "journal": "J. Test",
              "year": "2020", "abstract": None, "published": False}
    r = client.post(URL, {"manual": manual})
    assert r.status == 200, r.body
    check_shape(r.json)
    assert r.json["pubmed_id"] is None and r.json["published"] is False
    assert {k: r.json[k] for k in manual} == manual
    again = client.post(URL, {"manual": manual})
    assert again.status == 200 and again.json == r.json
    other = client.post(URL, {"manual": dict(manual, title="Another")})
    assert other.status == 200 and other.json["id"] != r.json["id"]
    # Without `published` a new reference is published (ELLA's model default); the lookup
    # uses the columns given only.
    unpublished_unsaid = {"title": "Not said", "authors": "Roe R", "year": "2024"}
    created = client.post(URL, {"manual": unpublished_unsaid})
    assert created.status == 200, created.body
    assert created.json["published"] is True and created.json["title"] == "Not said"
    assert client.post(URL, {"manual": unpublished_unsaid}).json["id"] == created.json["id"]
    assert client.post(URL, {"manual": {"title": "Not said"}}).json["id"] == created.json["id"]
    found = client.get(URL, query={"s": {"search_string": "manual"}})
    assert [x["id"] for x in found.json] == [r.json["id"]]
    # A PubMed id can be given once: the same again is the existing reference, a different
    # one with that id is refused (was a unique-violation 500).
    with_id = client.post(URL, {"manual": dict(manual, title="Third", pubmed_id=777)})
    assert with_id.status == 200
    assert client.post(URL, {"manual": dict(manual, title="Third", pubmed_id=777)}).json == \
        with_id.json
    clash = client.post(URL, {"manual": dict(manual, title="Fourth", pubmed_id=777)})
    assert clash.status == 409 and clash.json == {
        "message": f"A different reference with pubmed_id 777 exists (id {with_id.json['id']})"}
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM reference").fetchone()[0] == 4


def test_a_manual_reference_whose_pubmed_id_another_request_took_meanwhile(api_app, client,
                                                                         db_url):
    """PubMed data for the same PMID committed between the manual request's lookup and its
    insert (the manual lock does not hold those): the request answered 409 "A different
    reference" for a row equal to all it gave, and 200 when sent again."""
    import threading
    from helpers import wait_for_lock_wait
    results = []
    with psycopg.connect(db_url) as other:
        taken = other.execute("INSERT INTO reference (pubmed_id, title, published) VALUES "
                              "(4242, 'Raced', true) RETURNING id").fetchone()[0]
        request = threading.Thread(target=lambda: results.append(client.post(
            URL, {"manual": {"pubmed_id": 4242, "title": "Raced"}})))
        request.start()
        try:
            wait_for_lock_wait(db_url)  # its insert waits on the unique index
        finally:
            other.commit()
            request.join()
            api_app._drop_connection()
    assert results[0].status == 200, results[0].body
    assert results[0].json["id"] == taken


BAD_BODIES = [
    {}, {"pubmedData": "<x/>", "manual": {"title": "t", "published": False}},
    {"pubmedData": 5}, {"pubmedData": "<bad"},
    {"pubmedData": '<!DOCTYPE a [<!ENTITY e "x">]><PubmedArticle>&e;</PubmedArticle>'},
    {"pubmedData": '<!<i>DOCTYPE a [<!<i>ENTITY e "x">]><PubmedArticle><MedlineCitation>'
                   '<PMID>5</PMID><Article><ArticleTitle>&e;</ArticleTitle></Article>'
                   '</MedlineCitation></PubmedArticle>'},
    # PMIDs reference.pubmed_id cannot hold (was a 500), or that are no PMID (was stored).
    {"pubmedData": "PMID- 99999999999\nTI  - too large"}, {"pubmedData": "PMID- -7\nTI  - x"},
    {"pubmedData": (DATA / "8896564.xml").read_text().replace(">8896564<", ">-7<", 1)},
    {"pubmedData": "TI  - no PMID line"}, {"pubmedData": "plain text"},
    {"manual": "x"}, {"manual": {}},
    {"manual": {"title": 1, "published": False}}, {"manual": {"published": "no"}},
    {"manual": {"title": "t", "published": False, "id": 3}},
    {"manual": {"title": "t", "published": False, "search": "x"}},
    {"manual": {"title": "t", "pubmed_id": 0}}, {"manual": {"title": "t", "pubmed_id": -5}},
    {"other": 1}, [1],
]


def test_bad_posts_400(client, db_url):
    for body in BAD_BODIES:
        r = client.post(URL, body)
        assert r.status == 400, (body, r.body)
        assert isinstance(r.json["message"], str)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM reference").fetchone()[0] == 0


def test_wrapped_two_records_rejected(client):
    texts = [p.read_text() for p in sorted(DATA.glob("*.xml"))[:2]]
    r = client.post(URL, {"pubmedData": "<PubmedArticleSet>" + "".join(texts)
                          + "</PubmedArticleSet>"})
    assert r.status == 400
