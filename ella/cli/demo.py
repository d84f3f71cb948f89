"""`ella-demo`: load the demo data (gene panels, groups, filter configs, users, analyses)."""

import argparse
import sys

from ella.cli.common import (Audit, CommandError, load_settings, require_ready_database,
                             run_main)
from ella.db import connect, table_exists
from ella.deposit.analysis_config import AnalysisConfigError
from ella.deposit.filterconfigs import FilterconfigError
from ella.deposit.genepanel import GenepanelError
from ella.deposit.users import UsersError
from ella.deposit.variants import DepositError
from ella.vcf import VcfError

# The demo files' problems (e.g. an edited demo/users.json): one line, exit 1.
DEMO_INPUT_ERRORS = (AnalysisConfigError, FilterconfigError, GenepanelError, UsersError,
                     DepositError, VcfError)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="ella-demo",
        description="Load the demo data of demo/ and genepanels/ella-demo into DB_URL (one "
                    "transaction; re-running adds only what is missing). For a local "
                    "installation only: the demo users share a known password.")
    parser.add_argument("--force", action="store_true",
                        help="load it also into a database that holds users, analyses, user "
                             "groups or gene panels of its own (never a lab's database)")
    parser.add_argument("--check", action="store_true",
                        help="only refuse, as the load would, a database that holds users, "
                             "analyses, user groups or gene panels the demo did not add, "
                             "writing nothing (`make run` asks "
                             "before it creates or migrates the schema of a DB_URL it is "
                             "given); an empty database passes")
    args = parser.parse_args(argv)
    if args.check:
        return run_main(lambda: _check(args.force))
    return run_main(lambda: _run(argv, args.force))


def _refuse_foreign_data(conn, force):
    from ella.demo import data_not_from_the_demo  # late: --help needs no database code
    foreign = data_not_from_the_demo(conn)
    if foreign and not force:
        raise CommandError(
            f"the database holds {foreign} the demo did not add: the demo adds users "
            "with a known password, so it is loaded only into a database of its own "
            "(is DB_URL the one you meant?). Give --force to load it anyway.")


def _check(force):
    """Nothing is written, nor audited: a lab's database is left exactly as it was."""
    _config, env = load_settings()
    with connect(env["DB_URL"]) as conn:
        if table_exists(conn, "user") and table_exists(conn, "analysis"):
            try:
                _refuse_foreign_data(conn, force)
            except DEMO_INPUT_ERRORS as exc:  # an edited or missing demo file: one line
                raise CommandError(str(exc)) from None
    return 0


def _run(argv, force):
    # Imported late: --help needs no database code.
    from ella.demo import load_demo
    config, env = load_settings()
    audit = Audit(env["DB_URL"], "demo", "load", argv)

    def body():
        with connect(env["DB_URL"]) as conn:
            require_ready_database(conn, config)
            _refuse_foreign_data(conn, force)
            load_demo(conn, config, echo=audit.echo)
        audit.echo("Demo data loaded.")
        return 0

    return audit.run(body, DEMO_INPUT_ERRORS)


if __name__ == "__main__":
    sys.exit(main())
