"""Object access rules shared by the route handlers (api.md 1.6, DESIGN.md).

A user sees a gene panel, and everything tied to one (an analysis, an interpretation round,
an import job), only when the panel is one of the user's group's panels. Handlers call these
helpers instead of writing their own checks; a refusal is 403 (the object exists but is not
the user's), an unknown id 404.
"""

from ella.web.errors import Forbidden, NotFound


def group_panels(conn, user):
    """{(name, version)} of the user's group's gene panels."""
    return {(n, v) for n, v in conn.execute(
        "SELECT genepanel_name, genepanel_version FROM usergroupgenepanel WHERE usergroup_id = %s",
        (user["group_id"],))}


class RoundAccess:
    """Which rounds of a variant workflow a user's group may change (403 otherwise; ELLA does
    not check): those on one of the group's panels, and an Ongoing one that a member of the
    group has in work on another version of one of the group's panels, so a round whose
    panel the group lost to a new version can still be finished by the group that started
    it. Another group cannot take over a round in work, nor a group without any version of
    its panel by way of its owner moving there. `allows` reads the round as the caller
    locked it."""

    def __init__(self, conn, user):
        self.conn = conn
        self.group_id = user["group_id"]
        self.panels = group_panels(conn, user)

    def allows(self, round_row):
        if (round_row["genepanel_name"], round_row["genepanel_version"]) in self.panels:
            return True
        owner = round_row.get("user_id")
        if owner is None or round_row.get("status") != "Ongoing" or \
                round_row["genepanel_name"] not in {name for name, _ in self.panels}:
            return False
        found = self.conn.execute('SELECT group_id FROM "user" WHERE id = %s',
                                  (owner,)).fetchone()
        return found is not None and found[0] == self.group_id


def require_genepanel(conn, user, name, version):
    """The panel must exist (404) and be one of the user's group's panels (403)."""
    if not conn.execute("SELECT 1 FROM genepanel WHERE name = %s AND version = %s",
                        (name, version)).fetchone():
        raise NotFound(f"No gene panel {name} {version}")
    if (name, version) not in group_panels(conn, user):
        raise Forbidden(f"Gene panel {name} {version} is not available to your user group")


def require_import_genepanel(conn, user, name, version):
    """A panel an import job may name (404 if none, 403 otherwise): the group's own, or one
    of a group it imports for (`usergroupimport`: a lab importing a clinic's analyses on a
    panel it made for the clinic, api.md 3.1 `import_groups`)."""
    if not conn.execute("SELECT 1 FROM genepanel WHERE name = %s AND version = %s",
                        (name, version)).fetchone():
        raise NotFound(f"No gene panel {name} {version}")
    if (name, version) in group_panels(conn, user) or conn.execute(
            "SELECT 1 FROM usergroupimport i JOIN usergroupgenepanel p "
            "ON p.usergroup_id = i.usergroupimport_id WHERE i.usergroup_id = %s "
            "AND p.genepanel_name = %s AND p.genepanel_version = %s",
            (user["group_id"], name, version)).fetchone():
        return
    raise Forbidden(f"Gene panel {name} {version} is not available to your user group nor to "
                    "a group it imports for")


def require_readable_genepanel(conn, user, name, version):
    """For routes that only read a panel's content (the round view's panel, similar variants,
    transcript selection, ACMG suggestions, IGV panel tracks): the group's panels, and also
    the panel of a variant round a member of the group has in work (Ongoing), which
    `RoundAccess` lets the group finish after it lost that panel to a new version (the group
    has another version of it)."""
    if not conn.execute("SELECT 1 FROM genepanel WHERE name = %s AND version = %s",
                        (name, version)).fetchone():
        raise NotFound(f"No gene panel {name} {version}")
    if (name, version) in group_panels(conn, user):
        return
    in_work = conn.execute(
        'SELECT 1 FROM alleleinterpretation ai JOIN "user" u ON u.id = ai.user_id '
        "WHERE ai.genepanel_name = %s AND ai.genepanel_version = %s AND ai.status = 'Ongoing' "
        "AND u.group_id = %s LIMIT 1", (name, version, user["group_id"])).fetchone()
    if in_work is None or name not in {n for n, _ in group_panels(conn, user)}:
        raise Forbidden(f"Gene panel {name} {version} is not available to your user group")


def require_allele(conn, allele_id):
    """The allele must exist (404). Variants themselves are not group-bound (api.md 1.6)."""
    if not conn.execute("SELECT 1 FROM allele WHERE id = %s", (allele_id,)).fetchone():
        raise NotFound(f"No allele with id {allele_id}")


def require_analysis(conn, user, analysis_id, lock=False):
    """The analysis must exist (404) and its panel be one of the user's group's (403).
    Returns (name, genepanel_name, genepanel_version). `lock` keeps it until the request's
    transaction ends, for a row that will refer to it: an `ella-delete analysis` committing
    in between makes this a 404 (after waiting for it), not a failed foreign key."""
    row = conn.execute("SELECT name, genepanel_name, genepanel_version FROM analysis "
                       "WHERE id = %s" + (" FOR KEY SHARE" if lock else ""),
                       (analysis_id,)).fetchone()
    if row is None:
        raise NotFound(f"No analysis with id {analysis_id}")
    if (row[1], row[2]) not in group_panels(conn, user):
        raise Forbidden(f"Analysis {analysis_id} is not available to your user group")
    return row


def accessible_panel_condition(alias="a", placeholder="%(group_id)s"):
    """SQL condition for rows whose genepanel_name/version columns under `alias` are one of
    the group's panels. The group id is a query parameter: the named `group_id` by default,
    or pass placeholder="%s" to combine it with positional parameters."""
    return ("EXISTS (SELECT 1 FROM usergroupgenepanel ugp WHERE ugp.usergroup_id = "
            f"{placeholder} AND ugp.genepanel_name = {alias}.genepanel_name "
            f"AND ugp.genepanel_version = {alias}.genepanel_version)")
