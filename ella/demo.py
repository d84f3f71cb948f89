"""The demo data `make run` loads, so a newcomer sees real data at once (demo/README.md).

Gene panels (genepanels/ella-demo, plus HBOC_v01 again as HBOC v1.0.0, the panel the real
TestAnalysis-001 names), user groups, ELLA's demo filter configs, users with one known demo
password, and the two real test analyses. Everything in one transaction; re-running only adds
what is missing (existing users keep their passwords, existing analyses are not touched).
"""

from ella.db import PROJECT_ROOT
from ella.deposit.analysis import deposit_analysis, summary_line
from ella.deposit.analysis_config import resolve_analysis_config
from ella.deposit.filterconfigs import deposit_filterconfigs, read_filterconfigs_file
from ella.deposit.genepanel import GenepanelError, deposit_genepanel, folder_files, \
    read_panel_files, split_folder_name
from ella.deposit.users import add_groups, add_many, parse_usergroups, parse_users, read_json_list
from ella.passwords import hash_password, password_expiry, set_password

DEMO_DIR = PROJECT_ROOT / "demo"
PANELS_DIR = PROJECT_ROOT / "genepanels" / "ella-demo"
# Known on purpose: this is demo data for a local installation, never for production.
DEMO_PASSWORD = "Demo-pass-1"


def _demo_panels():
    """[((name, version), folder)] of the demo's gene panels."""
    try:
        folders = sorted(folder for folder in PANELS_DIR.iterdir() if folder.is_dir())
    except OSError as exc:
        raise GenepanelError(f"the demo's gene panel folder {PANELS_DIR} cannot be read: "
                             f"{exc.strerror or exc}") from None
    return [(split_folder_name(folder), folder) for folder in folders] + \
        [(("HBOC", "v1.0.0"), PANELS_DIR / "HBOC_v01")]


def _panels(conn, echo):
    for (name, version), folder in _demo_panels():
        if conn.execute("SELECT 1 FROM genepanel WHERE name = %s AND version = %s",
                        (name, version)).fetchone():
            continue
        result = deposit_genepanel(conn, name, version, read_panel_files(*folder_files(folder)))
        if result["status"] == "created":  # not one another run deposited meanwhile
            echo(f"Gene panel {name} {version} deposited")


def _panels_of_another_content(conn):
    """"name version" of the stored panels that carry a demo panel's name and version but
    not its transcripts: the demo's panel names are a real lab's (OUS's), and a lab that
    deposited its own HBOC v01 has no demo data."""
    others = []
    for (name, version), folder in _demo_panels():
        stored = {row[0] for row in conn.execute(
            "SELECT t.transcript_name FROM genepanel_transcript gt "
            "JOIN transcript t ON t.id = gt.transcript_id "
            "WHERE gt.genepanel_name = %s AND gt.genepanel_version = %s", (name, version))}
        if not stored:
            continue  # not stored (a panel has at least one transcript)
        files = read_panel_files(*folder_files(folder))
        if stored != {t["transcript_name"] for t in files.transcripts}:
            others.append(f"{name} {version}")
    return others


DEMO_ANALYSES = (DEMO_DIR / "analyses" / "TestAnalysis-001",
                 DEMO_DIR / "analyses" / "brca_sample_2.HBOC_v01.vcf")


def data_not_from_the_demo(conn):
    """A description of the users, analyses, user groups and gene panels in the database
    that the demo did not add ("" when there are none): loading the demo beside them would
    give a lab's database (also one set up as far as its groups and panels, before its
    users) four users with a known password, and demo variants whose annotation supersedes
    its own."""
    demo_users = [u["username"] for u in read_json_list(DEMO_DIR / "users.json")]
    demo_groups = [g["name"] for g in read_json_list(DEMO_DIR / "usergroups.json")]
    # By name and version, then by content: the demo's panel names are a real lab's (OUS's).
    demo_panels = [f"{name} {version}" for (name, version), _ in _demo_panels()]
    not_demo = _panels_of_another_content(conn)
    demo_analyses = [resolve_analysis_config(source)["name"] for source in DEMO_ANALYSES]
    found = []
    for one, many, query, demo in (
            ("user", "users", 'SELECT username FROM "user" WHERE NOT username = ANY(%s) '
             "ORDER BY id", demo_users),
            ("analysis", "analyses", "SELECT name FROM analysis WHERE NOT name = ANY(%s) "
             "ORDER BY id", demo_analyses),
            ("user group", "user groups", "SELECT name FROM usergroup WHERE NOT name = "
             "ANY(%s) ORDER BY id", demo_groups),
            ("gene panel", "gene panels", "SELECT name || ' ' || version FROM genepanel "
             "WHERE NOT name || ' ' || version = ANY(%s) ORDER BY date_created, name, version",
             demo_panels)):
        names = [r[0] for r in conn.execute(query, (demo,))]
        if one == "gene panel":
            names += [f"{panel} (not the demo's content)" for panel in not_demo]
        if names:
            shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
            found.append(f"{len(names)} {many if len(names) > 1 else one} ({shown})")
    return ", ".join(found[:-1]) + " and " + found[-1] if len(found) > 1 else "".join(found)


def _exists(conn, table, name):
    """Whether a row of `table` (a fixed name) has this name, in any version."""
    return conn.execute(f"SELECT 1 FROM {table} WHERE name = %s LIMIT 1",
                        (name,)).fetchone() is not None


def load_demo(conn, config, echo=print):
    with conn.transaction():
        _panels(conn, echo)
        # Only what is missing: a group, filter config or user changed since (another panel,
        # a new version, another group) stays as it is.
        groups_file = DEMO_DIR / "usergroups.json"
        groups = [g for g in parse_usergroups(groups_file, read_json_list(groups_file))
                  if not _exists(conn, "usergroup", g["name"])]
        for result in add_groups(conn, groups):
            echo(f"User group {result['name']}: {result['status']}")
        filterconfigs = [f for f in read_filterconfigs_file(DEMO_DIR / "filterconfigs.json")
                         if not (isinstance(f, dict)
                                 and _exists(conn, "filterconfig", f.get("name")))]
        if filterconfigs:
            deposit_filterconfigs(conn, config, filterconfigs)
            for entry in filterconfigs:
                echo(f"Filter config {entry['name']} added")
        users_file = DEMO_DIR / "users.json"
        auth = config["user"]["auth"]
        users = [u for u in parse_users(users_file, read_json_list(users_file))
                 if not conn.execute('SELECT 1 FROM "user" WHERE username = %s',
                                     (u["username"],)).fetchone()]
        for result in add_many(conn, users, auth) if users else ():
            if result["status"] == "added":
                user_id = conn.execute('SELECT id FROM "user" WHERE username = %s',
                                       (result["username"],)).fetchone()[0]
                set_password(conn, user_id, hash_password(DEMO_PASSWORD),
                             password_expiry(auth["password_expiry_days"]))
                echo(f"User {result['username']} added (demo password {DEMO_PASSWORD})")
        for source in DEMO_ANALYSES:
            analysis = resolve_analysis_config(source)
            if conn.execute("SELECT 1 FROM analysis WHERE name = %s",
                            (analysis["name"],)).fetchone():
                continue
            echo(summary_line(deposit_analysis(conn, config, analysis)))
