"""`ella-db refresh` of a config that drops a frequency column, racing the commands that store
a config reading that column (a group's or a user's ACMG config, a filter config). Each
checked the columns without holding anything against the other: a config stored during the
refresh's build read the column the refresh then dropped, the next refresh refused, and
filtering with the config answered 500."""

import json
import os
import subprocess

import psycopg
import pytest

from helpers import ROOT, run_cli, wait_for_lock_wait

DEMO = ROOT / "demo"
SAS = "      GNOMAD_EXOMES: [G, AFR, AMR, ASJ, EAS, FIN, NFE, OTH, SAS]\n"


def _popen(db_url, *args, env=None):
    full_env = {**{k: v for k, v in os.environ.items() if k not in ("DB_URL", "ELLA_CONFIG")},
                "DB_URL": db_url, **(env or {})}
    return subprocess.Popen([str(ROOT / "bin" / args[0]), *args[1:]], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=full_env)


def _acmg():
    return json.loads((DEMO / "usergroups.json").read_text())[0]["config"]["acmg"]


def _filterconfig():
    entry = json.loads((DEMO / "filterconfigs.json").read_text())[0]
    assert "SAS" in json.dumps(entry["filterconfig"])
    entry = dict(entry, name="RaceConfig", usergroups=[{"name": "racegroup", "order": 0}],
                 requirements=[])
    return [entry]


@pytest.mark.parametrize("command", ["add_groups", "filterconfigs"])
def test_a_config_stored_during_a_refresh_is_checked_against_its_columns(
        db_url, ella_config, tmp_path, command):
    from api_helpers import add_user
    from ella.config import DEFAULT_CONFIG_PATH
    add_user(db_url, "raceuser", "racegroup")
    text = DEFAULT_CONFIG_PATH.read_text()
    assert SAS in text
    without_sas = tmp_path / "config.yaml"
    without_sas.write_text(text.replace(SAS, SAS.replace(", SAS", "")))
    if command == "add_groups":
        path = tmp_path / "groups.json"
        path.write_text(json.dumps([{"name": "racegroup", "genepanels": [],
                                     "config": {"acmg": _acmg()}}]))
        args = ("ella-users", "add_groups", str(path))
    else:
        path = tmp_path / "filterconfigs.json"
        path.write_text(json.dumps(_filterconfig()))
        args = ("ella-filterconfigs", "update", str(path), "--reason", "race")
    # The refresh is held just before it swaps in the new shadow table (after its check of
    # the stored configs); the other command runs meanwhile.
    with psycopg.connect(db_url) as blocker:
        blocker.execute("SELECT 1 FROM annotationshadowfrequency LIMIT 1")
        refresh = _popen(db_url, "ella-db", "refresh", "--reason", "race",
                         env={"ELLA_CONFIG": str(without_sas)})
        wait_for_lock_wait(db_url, count=1)
        other = _popen(db_url, *args)
        wait_for_lock_wait(db_url, count=2)  # it waits for the refresh now
    _, refresh_err = refresh.communicate(timeout=120)
    _, other_err = other.communicate(timeout=120)
    assert refresh.returncode == 0, refresh_err
    assert other.returncode == 1 and "GNOMAD_EXOMES.SAS" in other_err, other_err
    with psycopg.connect(db_url) as conn:
        assert "SAS" not in json.dumps(conn.execute(
            "SELECT config FROM usergroup WHERE name = 'racegroup'").fetchone()[0])
        assert conn.execute("SELECT count(*) FROM filterconfig WHERE name = 'RaceConfig'"
                            ).fetchone()[0] == 0
    again = run_cli("ella-db", "refresh", "--reason", "again", db_url=db_url,
                    env={"ELLA_CONFIG": str(without_sas)})
    assert again.returncode == 0, again.stderr


def test_a_demo_load_and_a_refresh_at_once_do_not_deadlock(db_url):
    """`ella-demo` stores its groups (taking the frequency-columns lock) and then deposits the
    demo analyses in the same transaction; a refresh took its table locks on allele and
    annotation before that lock: a deadlock, and the demo rolled back."""
    with psycopg.connect(db_url) as blocker:
        # The demo held between its groups and its filter configs.
        blocker.execute("LOCK TABLE usergroupfilterconfig IN ROW EXCLUSIVE MODE")
        demo = _popen(db_url, "ella-demo")
        wait_for_lock_wait(db_url, count=1)
        refresh = _popen(db_url, "ella-db", "refresh", "--reason", "race")
        wait_for_lock_wait(db_url, count=2)  # the refresh waits for the demo
    _, demo_err = demo.communicate(timeout=300)
    _, refresh_err = refresh.communicate(timeout=300)
    assert demo.returncode == 0, demo_err
    assert "deadlock" not in refresh_err, refresh_err


def test_a_deposit_during_a_refresh_that_adds_a_frequency_column_fills_it(
        db_url, ella_config, tmp_path):
    """The deposit's annotation writer read the shadow table's columns before the refresh
    committed a new one (GNOMAD_EXOMES.SAS), and wrote its rows with the old columns: the new
    column NULL in each, and `compare` said all was well. It now waits for the refresh,
    then finds the columns differ from its config and lets the triggers write the rows."""
    from ella.config import DEFAULT_CONFIG_PATH
    without_sas = tmp_path / "config.yaml"
    without_sas.write_text(DEFAULT_CONFIG_PATH.read_text().replace(SAS, SAS.replace(", SAS", "")))
    env = {"ELLA_CONFIG": str(without_sas)}
    first = run_cli("ella-db", "refresh", "--reason", "no SAS", db_url=db_url, env=env)
    assert first.returncode == 0, first.stderr
    with psycopg.connect(db_url) as blocker:
        # The refresh (with SAS) is held just before it swaps in the new shadow table,
        # holding its locks; the deposit (its config without SAS) starts meanwhile.
        blocker.execute("SELECT 1 FROM annotationshadowfrequency LIMIT 1")
        refresh = _popen(db_url, "ella-db", "refresh", "--reason", "SAS")
        wait_for_lock_wait(db_url, count=1)
        deposit = _popen(db_url, "ella-deposit", "annotation",
                         str(DEMO / "analyses" / "brca_sample_2.HBOC_v01.vcf"), env=env)
        wait_for_lock_wait(db_url, count=2)
    _, refresh_err = refresh.communicate(timeout=120)
    _, deposit_err = deposit.communicate(timeout=120)
    assert refresh.returncode == 0, refresh_err
    assert deposit.returncode == 0, deposit_err
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            'SELECT f."GNOMAD_EXOMES.SAS", (a.annotations #>> '
            "'{frequencies,GNOMAD_EXOMES,freq,SAS}')::float FROM annotation a "
            "JOIN annotationshadowfrequency f ON f.allele_id = a.allele_id "
            "WHERE a.date_superceeded IS NULL").fetchall()
    assert rows and any(annotated is not None for _, annotated in rows)
    assert [shadow for shadow, _ in rows] == [annotated for _, annotated in rows]
    compared = run_cli("ella-db", "compare", db_url=db_url)
    assert compared.returncode == 0, compared.stdout + compared.stderr
