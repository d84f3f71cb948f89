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
from ella.deposit.genepanel import deposit_genepanel, folder_files, read_panel_files, \
    split_folder_name
from ella.deposit.users import add_groups, add_many, parse_usergroups, parse_users, read_json_list
from ella.passwords import hash_password, password_expiry, set_password

DEMO_DIR = PROJECT_ROOT / "demo"
PANELS_DIR = PROJECT_ROOT / "genepanels" / "ella-demo"
# Known on purpose: this is demo data for a local installation, never for production.
DEMO_PASSWORD = "Demo-pass-1"


def _panels(conn, echo):
    wanted = [(split_folder_name(folder), folder) for folder in sorted(PANELS_DIR.iterdir())
              if folder.is_dir()]
    wanted.append((("HBOC", "v1.0.0"), PANELS_DIR / "HBOC_v01"))
    for (name, version), folder in wanted:
        if conn.execute("SELECT 1 FROM genepanel WHERE name = %s AND version = %s",
                        (name, version)).fetchone():
            continue
        deposit_genepanel(conn, name, version, read_panel_files(*folder_files(folder)))
        echo(f"Gene panel {name} {version} deposited")


def load_demo(conn, config, echo=print):
    with conn.transaction():
        _panels(conn, echo)
        groups_file = DEMO_DIR / "usergroups.json"
        for result in add_groups(conn, parse_usergroups(groups_file,
                                                        read_json_list(groups_file))):
            echo(f"User group {result['name']}: {result['status']}")
        deposit_filterconfigs(conn, config, read_filterconfigs_file(DEMO_DIR / "filterconfigs.json"))
        users_file = DEMO_DIR / "users.json"
        auth = config["user"]["auth"]
        for result in add_many(conn, parse_users(users_file, read_json_list(users_file)), auth):
            if result["status"] == "added":
                user_id = conn.execute('SELECT id FROM "user" WHERE username = %s',
                                       (result["username"],)).fetchone()[0]
                set_password(conn, user_id, hash_password(DEMO_PASSWORD),
                             password_expiry(auth["password_expiry_days"]))
                echo(f"User {result['username']} added (demo password {DEMO_PASSWORD})")
        for source in (DEMO_DIR / "analyses" / "TestAnalysis-001",
                       DEMO_DIR / "analyses" / "brca_sample_2.HBOC_v01.vcf"):
            analysis = resolve_analysis_config(source)
            if conn.execute("SELECT 1 FROM analysis WHERE name = %s",
                            (analysis["name"],)).fetchone():
                continue
            echo(summary_line(deposit_analysis(conn, config, analysis)))
