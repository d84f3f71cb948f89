"""`ella-db`: create, migrate, refresh, adopt and inspect the ELLA database."""

import argparse
import sys

from ella import ELLA_HEAD_REVISION
from ella.cli.common import Audit, CommandError, confirm, load_settings, run_main
from ella.db import PRIVILEGE_HINT, SCHEMA_OWNER_HINT, act_as_schema_owner, connect
from ella.migrate import (STATE_ADVICE, MigrationError, adopt, at_head,
                          detect_state, drop_everything, ella_schema_lacking,
                          encoding_problem, locale_warning,
                          migrate, migration_files, migration_history, pending_migrations,
                          status)
from ella.refresh import RefreshError, refresh


def build_parser():
    parser = argparse.ArgumentParser(
        prog="ella-db",
        description="Manage the ELLA database schema. The database is DB_URL; the config "
                    "(frequency groups for the shadow tables) is ELLA_CONFIG.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name, help_text, description=None):
        p = sub.add_parser(name, help=help_text, description=description or help_text)
        p.add_argument("--reason", help="reason for the change, stored in the audit log (clilog)")
        return p

    p = add("make-production", "create ELLA's schema in an empty database (then refresh)",
            "Create ELLA's schema at its head revision in an empty database, then build the "
            "shadow tables and triggers. On a database this service already manages it does "
            "what migrate does; any other non-empty database is refused.")
    p.add_argument("-f", "--force", action="store_true",
                   help="accepted for compatibility with ELLA's CLI; nothing here needs it")
    add("migrate", "apply pending migrations (an empty database gets the whole schema), then "
                   "refresh; with none pending, refresh when the functions and triggers were "
                   "installed by another version")
    p = add("refresh", "re-install functions/triggers and rebuild the annotation shadow tables",
            "Re-apply sql/triggers/, insert missing JSON schema rows, rebuild the annotation "
            "shadow tables with the frequency columns of the config, back-fill "
            "reference.search. Safe to re-run. Blocks annotation writes while it runs.")
    p.add_argument("-f", "--force", action="store_true",
                   help="accepted for compatibility with ELLA's CLI (no prompt here)")
    add("status", "show the schema state, pending migrations and shadow-column differences")
    add("compare", "exit 0 when the database is at head with nothing pending, else 1")
    add("current", "print the ELLA revision stored in alembic_version")
    p = add("drop", "drop everything in schema public (asks for CONFIRM unless --yes)")
    p.add_argument("-f", "--yes", dest="yes", action="store_true",
                   help="do not ask for confirmation")
    add("adopt", "take over an existing ELLA database at revision "
                 f"{ELLA_HEAD_REVISION} without changing its data")
    # ELLA's names, so that its upgrade runbook (`database upgrade head`, then `refresh`)
    # works as written.
    p = add("upgrade", "ELLA's name for migrate: `upgrade head`")
    p.add_argument("revision", help="head (migrations are applied in order up to the newest)")
    add("history", "ELLA's name for status (lists the applied migrations)")
    p = add("downgrade", "refused: migrations are not undone (restore a backup instead)")
    p.add_argument("revision", help="the revision ELLA would go back to")
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    hint = PRIVILEGE_HINT if args.command in READ_ONLY else SCHEMA_OWNER_HINT
    return run_main(lambda: _run(args, argv), privilege_hint=hint)


# Commands that only read the schema: any role that may read it can run them, unaudited.
READ_ONLY = ("status", "compare", "current", "history")
# Commands that create tables, functions or triggers (`drop` recreates schema public, which
# in PostgreSQL before 15 only a superuser may).
CREATING = ("make-production", "migrate", "upgrade", "refresh", "adopt")


def _run(args, argv):
    config, env = load_settings()
    db_url = env["DB_URL"]
    audit = Audit(db_url, "database", args.command, argv, reason=args.reason)

    def body():
        with connect(db_url) as conn:
            if args.command in CREATING:
                acting = act_as_schema_owner(conn)
                if acting and acting[2]:
                    audit.echo(f"Connected as {acting[1]}: working as {acting[0]}, the "
                               "owner of the schema, so that what this creates is theirs")
                elif acting:
                    audit.echo(f"Warning: connected as {acting[1]}, not as {acting[0]}, who "
                               "owns the database but may not create in schema public: what "
                               f"this creates is {acting[1]}'s, and {acting[0]} cannot use it "
                               f"(GRANT CREATE ON SCHEMA public TO {acting[0]}, or ALTER SCHEMA "
                               f"public OWNER TO {acting[0]}, then run this again)")
            return COMMANDS[args.command](conn, config, args, audit)

    if args.command in READ_ONLY:
        try:
            return body()
        except (MigrationError, RefreshError) as exc:
            raise CommandError(str(exc)) from exc
    return audit.run(body, (MigrationError, RefreshError))


def _make_production(conn, config, args, audit):
    state = detect_state(conn)
    conn.rollback()
    if state.kind not in ("empty", "ours"):
        if state.kind == "ella":
            raise CommandError("this is an existing ELLA database: run `ella-db adopt` to take "
                               "it over (it changes no data)")
        raise CommandError(f"Database schema 'public' is not empty: {state.message}")
    _refuse_a_new_schema_outside_utf8(conn, state)
    migrate(conn, config, echo=audit.echo)
    _warn_about_locale(conn, audit)
    audit.echo("All done!")
    return 0


def _warn_about_locale(conn, audit):
    for warning in (encoding_problem(conn), locale_warning(conn)):
        if warning:
            audit.echo(f"Warning: {warning}")


def _refuse_a_new_schema_outside_utf8(conn, state):
    """An empty database not in UTF8 gets no schema (a new one costs nothing to create
    again); one in use only gets a warning."""
    problem = encoding_problem(conn)
    if problem and state.kind == "empty":
        raise CommandError(problem[0].upper() + problem[1:])


def _migrate(conn, config, args, audit):
    state = detect_state(conn)
    conn.rollback()
    _refuse_a_new_schema_outside_utf8(conn, state)
    migrate(conn, config, echo=audit.echo)
    return 0


def _refresh(conn, config, args, audit):
    state = detect_state(conn)
    conn.rollback()
    if state.kind not in ("ours", "ella"):
        raise CommandError(state.message or "the database is empty: run "
                           "`ella-db make-production` first")
    if state.kind == "ours":
        # This code's functions and triggers fit its own migrations only: over a database
        # that newer code migrated they would replace newer ones without a word.
        pending = pending_migrations(conn, migration_files())  # refuses a newer database
        conn.rollback()
        if pending:
            raise CommandError(f"migrations are pending ({', '.join(f.name for f in pending)}):"
                               " run `ella-db migrate`, which refreshes too")
    refresh(conn, config, echo=audit.echo)
    return 0


def _status(conn, config, args, audit):
    info = status(conn, config)
    print(f"State: {info['state']}")
    print(f"Database revision: {info['revision'] or '-'}")
    print(f"ELLA head revision: {info['head']}")
    note = info["message"] or STATE_ADVICE.get(info["state"])
    if note:
        print(f"Note: {note}")
    history = migration_history(conn)
    conn.rollback()
    print("Applied migrations:" + ("" if history else " none"))
    for filename, applied_at, how in history:
        print(f"  {applied_at:%Y-%m-%d %H:%M:%S%z}  {how:<8} {filename}")
    print("Pending migrations: " + (", ".join(info["pending"]) or "none"))
    if info["shadow_differences"]:
        for line in info["shadow_differences"]:
            print(f"Shadow tables differ from the config: {line}")
    elif info["state"] in ("ours", "ella"):
        print("Shadow tables match the config.")
    if info["state"] in ("ours", "ella"):
        lacking = ella_schema_lacking(conn)
        conn.rollback()
        print(f"ELLA's schema: {lacking}." if lacking else "ELLA's schema: complete.")
    if info["functions_outdated"]:
        print(f"Functions and triggers: {info['functions_outdated']}; run `ella-db refresh`.")
    elif info["state"] == "ours":
        print("Functions and triggers: this version's.")
    for warning in (encoding_problem(conn), locale_warning(conn)):
        if warning:
            print(f"Warning: {warning}")
    return 0


def _compare(conn, config, args, audit):
    info = status(conn, config)
    print(f"Database HEAD: {info['revision'] or '-'}")
    print(f"Migration script HEAD: {ELLA_HEAD_REVISION}")
    ok, message = at_head(conn, config)
    if not ok:
        if info["revision"] != ELLA_HEAD_REVISION:
            print("Database HEAD does not match migration script HEAD!")
        print(f"Not ready: {message}")
        return 1
    # Read here, not in at_head (every deposit and start): an index or constraint of ELLA's
    # dropped by hand after adoption (a unique index kept two current assessments of a
    # variant apart) was at head.
    lacking = ella_schema_lacking(conn)
    if lacking:
        print(f"Not ready: {lacking} (recreate it from ELLA's definition, or restore the "
              "database from its backup)")
        return 1
    print(message)
    return 0


def _current(conn, config, args, audit):
    info = status(conn, config)
    print(info["revision"] or "-")
    return 0


def _drop(conn, config, args, audit):
    if not confirm(f"THIS WILL WIPE OUT THE DATABASE {conn.info.dbname!r} COMPLETELY! "
                   "Type 'CONFIRM' to confirm.", "CONFIRM", args.yes, conn=conn):
        raise CommandError("Lacking confirmation, aborting...")
    drop_everything(conn)
    audit.echo("Database dropped!")
    return 0


def _adopt(conn, config, args, audit):
    adopt(conn, config, echo=audit.echo)
    _warn_about_locale(conn, audit)
    return 0


def _upgrade(conn, config, args, audit):
    if args.revision != "head":
        raise CommandError(f"upgrade goes to head only, not to {args.revision!r}: this "
                           "service's migrations are applied in order up to the newest "
                           "(`ella-db upgrade head`, the same as `ella-db migrate`)")
    return _migrate(conn, config, args, audit)


def _downgrade(conn, config, args, audit):
    raise CommandError("downgrade is not supported: migrations are not undone here; restore "
                       "the backup taken before the upgrade (README, Production: Back up)")


COMMANDS = {
    "make-production": _make_production, "migrate": _migrate, "refresh": _refresh,
    "status": _status, "compare": _compare, "current": _current, "drop": _drop, "adopt": _adopt,
    "upgrade": _upgrade, "history": _status, "downgrade": _downgrade,
}


if __name__ == "__main__":
    import sys as _sys
    _sys.exit(main())
