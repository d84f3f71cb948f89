"""Which gene panels a user group may import on: its own, and those of a group it imports for
(`usergroupimport`, api.md 3.1 `import_groups`: a lab importing a clinic's analyses on a
panel it made for the clinic). Used when an import job is posted, read or retried, and by
the poller before it deposits one."""

# SQL condition over a row `j` with genepanel_name/version (a job, an analysis), for the
# group %(group_id)s.
IMPORTABLE_PANEL = (
    "(EXISTS (SELECT 1 FROM usergroupgenepanel own WHERE own.usergroup_id = %(group_id)s "
    "AND own.genepanel_name = j.genepanel_name AND own.genepanel_version = j.genepanel_version) "
    "OR EXISTS (SELECT 1 FROM usergroupimport i JOIN usergroupgenepanel p "
    "ON p.usergroup_id = i.usergroupimport_id WHERE i.usergroup_id = %(group_id)s "
    "AND p.genepanel_name = j.genepanel_name AND p.genepanel_version = j.genepanel_version))")


def may_import_on(conn, group_id, panel_name, panel_version):
    """Whether `group_id` may import on the gene panel (its own, or an imported-for
    group's)."""
    return conn.execute(
        f"SELECT 1 FROM (SELECT %(name)s AS genepanel_name, %(version)s AS genepanel_version) j "
        f"WHERE {IMPORTABLE_PANEL}",
        {"group_id": group_id, "name": panel_name, "version": panel_version}
    ).fetchone() is not None
