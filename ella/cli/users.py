"""`ella-users`: user groups and users (ELLA's `ella-cli users ...`).

Sub-commands and options take ELLA's spellings (`add_groups`, `--first_name`, `-dry`) and the
hyphenated ones (`add-groups`, `--first-name`, `--dry-run`). Each command is one transaction:
on any error nothing is written. Every command but `list` writes a clilog row (group "users");
one-time passwords are printed but stored masked there.
"""

import argparse
import sys

from ella.cli.common import (Audit, CommandError, ask_reason, confirm, is_utf8,
                             require_input_file, require_known_schema, run_main,
                             settings_with_database)
from ella.db import connect
from ella.deposit import users as domain
from ella.passwords import PasswordPolicyError

MASK = "*********"
MODIFY_PROMPT = ("Are you sure you want to modify user with command line arguments? If not, "
                 "consider using the 'add_many' command with a JSON file instead. "
                 "Type 'y' to confirm.")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="ella-users",
        description="Manage ELLA user groups and users in the database DB_URL (password rules "
                    "from ELLA_CONFIG's user.auth). Each command is one transaction.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name, help_text, description=None, reason=False):
        aliases = [name.replace("_", "-")] if "_" in name else []
        p = sub.add_parser(name, aliases=aliases, help=help_text,
                           description=description or help_text)
        p.set_defaults(canonical=name)
        if reason:
            p.add_argument("--reason", help="reason stored in the audit log (clilog); without "
                                            "it the command asks for one")
        return p

    p = add("add_groups", "create or update user groups from a JSON file",
            "Create or update user groups from a JSON list of {name, genepanels: [[name, "
            "version] or [name]], import_groups?: [group names], default_import_genepanel?: "
            "[name, version] or [name], config: {...}}. [name] means every official version. "
            "An existing group keeps its unofficial panels; everything else is overwritten.")
    p.add_argument("json_file", help="usergroups.json")
    p.add_argument("--name", action="append", default=[], metavar="NAME",
                   help="only this group (case-insensitive; repeatable)")
    p.add_argument("-dry", "--dry-run", "--dry_run", dest="dry_run", action="store_true",
                   help="check the file and list the groups, change nothing")

    p = add("add_many", "create or update users from a JSON file",
            "Create or update users from a JSON list of {username, first_name, last_name, "
            "email, group}. New users get a one-time password (printed here, expired so it "
            "must be changed at the first login); existing users get every given field "
            "updated (also active, config, password hash, password_expiry).")
    p.add_argument("json_file", help="users.json")
    p.add_argument("--group", action="append", default=[], metavar="NAME",
                   help="only users of this group (case-insensitive; repeatable)")
    p.add_argument("-dry", "--dry-run", "--dry_run", dest="dry_run", action="store_true",
                   help="do everything, then roll back")

    p = add("reset_password", "give a user a new one-time password (also unlocks)",
            "Generate a new one-time password, expired so it must be changed at the next "
            "login; reset the failed-login counter (unlock) and log out every session.")
    p.add_argument("username")

    p = add("lock", "deactivate a user and log out every session", reason=True)
    p.add_argument("username")

    p = add("activate", "re-activate a deactivated user (extension; not in ELLA)",
            "Set the user active again. A user locked by failed logins is unlocked with "
            "reset_password instead.", reason=True)
    p.add_argument("username")

    p = add("modify", "change a user's name, e-mail or group (asks for 'y')",
            "Change the given fields of one user. Values of several words may be given "
            "without quotes.")
    p.add_argument("username")
    for option in ("new_username", "first_name", "last_name", "email", "user_group"):
        p.add_argument(f"--{option}", f"--{option.replace('_', '-')}", dest=option, nargs="+",
                       metavar="WORD")

    p = add("list", "list users with their group and gene panels")
    p.add_argument("--group", action="append", default=[], metavar="NAME",
                   help="only users of this group (case-insensitive; repeatable; ALL = all)")
    p.add_argument("--username", metavar="USERNAME", help="only this user")

    add("activity", "list user sessions, most recent activity first")
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.canonical in ("add_groups", "add_many"):
        require_input_file(parser, args.canonical, args.json_file)  # exit 2, as every tool
    if args.canonical == "modify" and not any(getattr(args, o) for o in domain.MODIFIABLE):
        parser.error("modify: give at least one of --new_username, --first_name, --last_name, "
                     "--email, --user_group")
    return run_main(lambda: _run(args, argv))


def _run(args, argv):
    config, db_url = settings_with_database()
    command = args.canonical
    if command == "list":  # reads only, so not audited: the argument check of Audit.run
        if not all(map(is_utf8, argv)):
            raise CommandError("an argument is not valid UTF-8 text")
        with connect(db_url, application_name="ella-users") as conn:
            return _list(conn, config, args, None)
    audit = Audit(db_url, "users", command, argv, reason=getattr(args, "reason", None))

    def body():
        if command in ("lock", "activate"):
            # Asked only without --reason (`--reason None` is no reason, not a question).
            audit.reason = ask_reason(args.reason)  # inside: an interrupted prompt is audited
        with connect(db_url, application_name="ella-users") as conn:
            if command not in READ_ONLY:
                require_known_schema(conn, config)
            try:
                return COMMANDS[command](conn, config, args, audit)
            except BaseException:
                conn.rollback()
                raise

    return audit.run(body, (domain.UsersError, PasswordPolicyError))


def _add_groups(conn, config, args, audit):
    groups = domain.parse_usergroups(args.json_file, domain.read_json_list(args.json_file))
    selected = domain.selected_group_names(groups, args.name)
    if not selected:
        raise CommandError(f"{args.json_file}: no user group to add"
                           + (f" matching --name {', '.join(args.name)}" if args.name else ""))
    for group in groups:
        if group["name"] in selected:
            for note in group["notes"]:
                audit.echo(f"Warning: {note}")
    results = domain.add_groups(conn, groups, args.name)
    for result in results:
        for name, version, count in result["lost_unfinished"]:
            audit.echo(f"Warning: user group {result['name']} no longer has gene panel {name} "
                       f"{version}: {count} unfinished analyses on it (not started or in "
                       "work) leave the group's work lists; give the group that version too "
                       "to keep them")
    if args.dry_run:
        conn.rollback()
        for result in results:
            verb = "add" if result["status"] == "added" else "update"
            audit.echo(f"Would {verb} group '{result['name']}'")
        return 0
    for result in results:
        if result["status"] == "added":
            audit.echo(f"Added user group {result['name']}")
        else:
            audit.echo(f"User group {result['name']} already exists, updating record...")
    conn.commit()
    return 0


def _add_many(conn, config, args, audit):
    users = domain.parse_users(args.json_file, domain.read_json_list(args.json_file))
    for user in users:
        for note in user.get("notes", ()):
            audit.echo(f"Warning: {note}")
    results = domain.add_many(conn, users, config["user"]["auth"], args.group)
    for result in results:
        name = result["username"]
        if result["status"] == "added":
            who = f"Added user {name} ({result['last_name']}, {result['first_name']}, " \
                  f"{result['email']}) with password "
            audit.echo(who + result["password"], secret=who + MASK)
            if result["ignored"]:
                audit.echo(f"Ignored {', '.join(result['ignored'])} of new user {name}: new "
                           "users always get a one-time password")
        elif result["status"] == "updated":
            audit.echo(f"Modified user {name}:")
            for key, old, new in result["changes"]:
                audit.echo(f"{key}: {old} ---> {new}")
        else:
            audit.echo(f"No modifications made to user {name}")
    if not results:
        # Nothing matched --group: nothing to commit, and nothing "added successfully".
        audit.echo("No users to add" + (f" in group(s) {', '.join(args.group)}"
                                         if args.group else ""))
        conn.rollback()
        return 0
    if args.dry_run:
        conn.rollback()
        audit.echo("!!! DRY RUN: Rolling back changes")
        return 0
    # Said before the commit, as the passwords are: with the output closed (`| head -1`)
    # the command fails with nothing stored, never after storing everything.
    audit.echo("Users added successfully")
    conn.commit()
    return 0


def _reset_password(conn, config, args, audit):
    user, password = domain.reset_password(conn, args.username, config["user"]["auth"])
    line = (f"Reset password for user {user['username']} ({user['last_name']}, "
            f"{user['first_name']}) with password ")
    audit.echo(line + password, secret=line + MASK)  # shown before it is stored
    conn.commit()
    return 0


def _lock(conn, config, args, audit):
    user = domain.lock_user(conn, args.username)
    conn.commit()
    audit.echo(f"User {user['username']} ({user['last_name']}, {user['first_name']}) has been "
               "deactivated")
    return 0


def _activate(conn, config, args, audit):
    user, changed = domain.activate_user(conn, args.username)
    conn.commit()
    audit.echo(f"User {user['username']} ({user['last_name']}, {user['first_name']}) "
               + ("has been activated" if changed else "is already active (nothing changed)"))
    return 0


def _modify(conn, config, args, audit):
    values = {option: " ".join(getattr(args, option)) for option in domain.MODIFIABLE
              if getattr(args, option)}
    if not confirm(MODIFY_PROMPT, "y", conn=conn):
        audit.echo("Lacking confirmation, aborting...")
        return 0
    user, changes = domain.modify_user(conn, args.username, **values)
    conn.commit()
    for key, old, new in changes:
        audit.echo(f"{key}: {domain.shown_value(key, old)} ---> {domain.shown_value(key, new)}")
    if not changes:
        audit.echo(f"No modifications made to user {user['username']}")
    audit.echo(f"User {values.get('new_username', user['username'])} modified")
    return 0


def format_table(rows, columns):
    """Plain aligned text table with a header line."""
    def text(value):
        if value is None:
            return ""
        return value.isoformat() if hasattr(value, "isoformat") else str(value)
    cells = [[text(row[c]) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]
    return lines


def _list(conn, config, args, audit):
    rows = domain.list_users(conn, args.group, args.username)
    if not rows:
        print("No result")
        return 0
    for line in format_table(rows, ("id", "username", "first_name", "last_name",
                                    "password_expiry", "usergroup", "genepanels")):
        print(line)
    return 0


def _activity(conn, config, args, audit):
    # Logged for usage only: the table goes to the terminal, not to clilog.
    rows = domain.user_activity(conn)
    if not rows:
        print("No result")
        return 0
    for line in format_table(rows, ("id", "username", "first_name", "last_name",
                                    "last_activity")):
        print(line)
    return 0


READ_ONLY = ("activity",)  # checked by its query alone, as `list`
COMMANDS = {
    "add_groups": _add_groups, "add_many": _add_many, "reset_password": _reset_password,
    "lock": _lock, "activate": _activate, "modify": _modify, "list": _list,
    "activity": _activity,
}


if __name__ == "__main__":
    sys.exit(main())
