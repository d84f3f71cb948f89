"""Object access rules shared by the route handlers (api.md 1.6, DESIGN.md).

A user sees a gene panel, and everything tied to one (an analysis, an interpretation round,
an import job), only when the panel is one of the user's group's panels; two exceptions are
spelled out below: the group's variant work on a panel version it lost (`RoundAccess`,
`require_working_genepanel`), and imports on the panels of a group it imports for
(`require_import_genepanel`, ella/import_rights.py). Handlers call these helpers instead of
writing their own checks; a refusal is 403 (the object exists but is not the user's), an
unknown id 404.
"""

from ella.import_rights import may_import_on
from ella.web.errors import Forbidden, NotFound


def group_panels(conn, user):
    """{(name, version)} of the user's group's gene panels."""
    return {(n, v) for n, v in conn.execute(
        "SELECT genepanel_name, genepanel_version FROM usergroupgenepanel WHERE usergroup_id = %s",
        (user["group_id"],))}


# A variant round on a version of one of the group's panels that the group no longer has (it
# was given a new version meanwhile) is still the group's work: one a member did or has in
# work, or the Not started one after a member's round sent to review (not finalized) on that
# version; its earlier rounds by members too (the group's history of the variant).
# alleleinterpretation has no index on allele_id (ELLA's schema): the previous round is found
# by one backward walk of the primary key for a single round, and for a panel version by one
# window over the rounds of its variants (a subquery per round was tens of seconds on a few
# 100,000 rounds).
_MEMBERS = 'SELECT id FROM "user" WHERE group_id = %(group_id)s'
_ROUND_OF_GROUP_WORK = (
    "SELECT 1 FROM alleleinterpretation r WHERE r.id = %(id)s AND "
    f"(r.user_id IN ({_MEMBERS}) OR (r.status = 'Not started' AND EXISTS ("
    "SELECT 1 FROM (SELECT q.user_id, q.finalized, q.genepanel_name, q.genepanel_version "
    "FROM alleleinterpretation q WHERE q.allele_id = r.allele_id AND q.id < r.id "
    "ORDER BY q.id DESC LIMIT 1) p "
    f"WHERE NOT p.finalized AND p.user_id IN ({_MEMBERS}) "
    "AND p.genepanel_name = r.genepanel_name AND p.genepanel_version = r.genepanel_version)))")
_VERSION_OF_GROUP_WORK = (
    # An aggregate, not EXISTS or LIMIT 1: a plan made to stop at the first row joined the
    # variants' rounds by a nested loop (minutes on a few 100,000 rounds).
    "WITH chain AS (SELECT r.status, r.user_id, r.genepanel_name, r.genepanel_version, "
    "lag(r.user_id) OVER w AS previous_user_id, lag(r.finalized) OVER w AS previous_finalized, "
    "lag(r.genepanel_name) OVER w AS previous_name, "
    "lag(r.genepanel_version) OVER w AS previous_version "
    "FROM alleleinterpretation r WHERE r.allele_id IN (SELECT allele_id "
    "FROM alleleinterpretation WHERE genepanel_name = %(name)s "
    "AND genepanel_version = %(version)s) "
    "WINDOW w AS (PARTITION BY r.allele_id ORDER BY r.id)) "
    "SELECT coalesce(bool_or("
    f"c.user_id IN ({_MEMBERS}) OR (c.status = 'Not started' "
    f"AND NOT c.previous_finalized AND c.previous_user_id IN ({_MEMBERS}) "
    "AND c.previous_name = c.genepanel_name AND c.previous_version = c.genepanel_version)), "
    "false) FROM chain c WHERE c.genepanel_name = %(name)s AND c.genepanel_version = %(version)s")


class RoundAccess:
    """Which rounds of a variant workflow a user's group may read and change (403 otherwise;
    ELLA does not check): those on one of the group's panels, and those of the group's work
    on another version of one of its panels (`_ROUND_OF_GROUP_WORK`: a round a member did or
    has in work, the Not started one after a member sent it to review), so a round whose
    panel the group lost to a new version can still be finished and shown by the group that
    started it. Another group cannot take over a round in work, nor a group without any
    version of its panel by way of its owner moving there. `allows` reads the round as the
    caller locked it."""

    def __init__(self, conn, user):
        self.conn = conn
        self.group_id = user["group_id"]
        self.panels = group_panels(conn, user)

    def allows(self, round_row):
        if (round_row["genepanel_name"], round_row["genepanel_version"]) in self.panels:
            return True
        if round_row["genepanel_name"] not in {name for name, _ in self.panels}:
            return False
        return self.conn.execute(_ROUND_OF_GROUP_WORK, {
            "id": round_row["id"], "group_id": self.group_id}).fetchone() is not None


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
    if may_import_on(conn, user["group_id"], name, version):
        return
    raise Forbidden(f"Gene panel {name} {version} is not available to your user group nor to "
                    "a group it imports for")


def require_working_genepanel(conn, user, name, version):
    """For the routes of a variant round's page (its panel, similar variants, transcript
    selection, ACMG suggestions, IGV panel tracks, gene comments): the group's panels, and
    also a version of one of them that the group's variant work is on (`RoundAccess`: a
    round the group may finish or show after it lost that version to a new one)."""
    if not conn.execute("SELECT 1 FROM genepanel WHERE name = %s AND version = %s",
                        (name, version)).fetchone():
        raise NotFound(f"No gene panel {name} {version}")
    panels = group_panels(conn, user)
    if (name, version) in panels:
        return
    params = {"name": name, "version": version, "group_id": user["group_id"]}
    in_work = name in {n for n, _ in panels} and (
        # A member's round first (the usual case, and cheap), then the chains of rounds.
        conn.execute("SELECT 1 FROM alleleinterpretation WHERE genepanel_name = %(name)s "
                     f"AND genepanel_version = %(version)s AND user_id IN ({_MEMBERS}) "
                     "LIMIT 1", params).fetchone() is not None
        or conn.execute(_VERSION_OF_GROUP_WORK, params).fetchone()[0])
    if not in_work:
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
