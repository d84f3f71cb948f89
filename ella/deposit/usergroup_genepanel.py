"""Give a user group access to one more gene panel (`ella-deposit
append_genepanel_to_usergroup`)."""

from ella.deposit.users import UsersError, group_of_same_text


class UsergroupGenepanelError(Exception):
    pass


def append_genepanel_to_usergroup(conn, name, version, usergroup):
    """Link panel (name, version) to the group. Returns True if added, False if it was
    already linked; raises when the panel or the group does not exist."""
    with conn.transaction():
        if conn.execute("SELECT 1 FROM genepanel WHERE name = %s AND version = %s",
                        (name, version)).fetchone() is None:
            raise UsergroupGenepanelError(f"Genepanel ({name},{version}) does not exist")
        try:  # named exactly, but in any Unicode form (a name typed on a Mac)
            row = group_of_same_text(conn, usergroup, lock=True)
        except UsersError as exc:  # stored look-alikes of an adopted database
            raise UsergroupGenepanelError(str(exc)) from None
        if row is None:
            raise UsergroupGenepanelError(f"User group {usergroup} does not exist")
        group_id = row[0]
        if conn.execute("SELECT 1 FROM usergroupgenepanel WHERE usergroup_id = %s "
                        "AND genepanel_name = %s AND genepanel_version = %s",
                        (group_id, name, version)).fetchone():
            return False
        conn.execute("INSERT INTO usergroupgenepanel (usergroup_id, genepanel_name, "
                     "genepanel_version) VALUES (%s, %s, %s)", (group_id, name, version))
        return True
