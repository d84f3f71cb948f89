"""A read while `ella-delete` commits between two of the read's statements: it answers what
it saw first (200) or 404, never 500. Reads ran in READ COMMITTED, so a statement after the
commit missed the row an earlier one had found (the overview of every user refreshing at
that moment answered 500)."""

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from api_client import Client
from ella.deposit.delete import delete_alleleinterpretations, delete_analysis
from ella.web.app import create_app
from workflow_helpers import analysis_alleles, setup_analysis

WF = "/api/v1/workflows/analyses"
WA = "/api/v1/workflows/alleles"


class CommitBeforeStatement:
    """Commits `deleter` just before the API's `at`-th statement (counting the others)."""

    def __init__(self, monkeypatch):
        self.deleter, self.count, self.at = None, 0, None
        original = psycopg.Cursor.execute
        hook = self

        def execute(cur, query, params=None, **kwargs):
            if hook.deleter is not None and cur.connection is not hook.deleter:
                hook.count += 1
                if hook.count == hook.at:
                    hook.deleter.commit()
            return original(cur, query, params, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "execute", execute)


def _statuses_at_every_step(pg_server, ella_config, template, cookies, path, delete, hook):
    """The read's status with the delete committed before its 1st, 2nd, ... statement."""
    statuses, at = [], 1
    while True:
        with pg_server.throwaway("readdel", template=template) as url:
            app = create_app(ella_config, {"DB_URL": url, "COOKIE_SECURE": False})
            client = Client(app)
            client.cookies.update(cookies)
            with psycopg.connect(url) as deleter:
                delete(deleter)
                hook.deleter, hook.count, hook.at = deleter, 0, at
                try:
                    statuses.append(client.get(path).status)
                finally:
                    statements, hook.deleter = hook.count, None
            app._drop_connection()
        if at > statements:
            return statuses
        at += 1


@pytest.fixture
def analysis_template(api_app, db_url, ella_config, tmp_path):
    client, _, analyses, _ = setup_analysis(api_app, db_url, ella_config, tmp_path)
    analysis_id = analyses[0]
    assert client.post(f"{WF}/{analysis_id}/actions/start/", {}).status == 200
    assert client.post(f"{WF}/{analysis_id}/logs/", {"message": "x"}).status == 200
    api_app._drop_connection()
    return conninfo_to_dict(db_url)["dbname"], dict(client.cookies), analysis_id


@pytest.mark.parametrize("path", ["/api/v1/analyses/{id}/", "/api/v1/overviews/analyses/",
                                  WF + "/{id}/logs/", WF + "/{id}/filterconfigs/"])
def test_an_analysis_read_while_the_analysis_is_deleted(analysis_template, pg_server,
                                                        ella_config, monkeypatch, path):
    template, cookies, analysis_id = analysis_template
    statuses = _statuses_at_every_step(
        pg_server, ella_config, template, cookies, path.format(id=analysis_id),
        lambda conn: delete_analysis(conn, analysis_id), CommitBeforeStatement(monkeypatch))
    assert set(statuses) <= {200, 404}, statuses
    assert statuses[0] in (200, 404) and len(statuses) > 2


def test_a_variant_round_read_while_its_rounds_are_deleted(api_app, db_url, ella_config,
                                                           pg_server, monkeypatch):
    client, _, analyses, _ = setup_analysis(api_app, db_url, ella_config)
    allele_id, _ = analysis_alleles(db_url, analyses[0])[0]
    assert client.post(f"{WA}/{allele_id}/actions/start/", {
        "gp_name": "HBOC", "gp_version": "v1.0.0"}).status == 200
    assert client.post(f"{WA}/{allele_id}/logs/", {"message": "x"}).status == 200
    api_app._drop_connection()
    statuses = _statuses_at_every_step(
        pg_server, ella_config, conninfo_to_dict(db_url)["dbname"], dict(client.cookies),
        f"{WA}/{allele_id}/logs/",
        lambda conn: delete_alleleinterpretations(conn, allele_id, True),
        CommitBeforeStatement(monkeypatch))
    assert set(statuses) <= {200, 404}, statuses
