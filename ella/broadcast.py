"""Broadcast messages shown on top of every page of the UI (table `broadcast`)."""

from ella.text import control_character


def add_broadcast(conn, message):
    """Insert an active message; returns its id. Empty text, or a control character (a line
    break split `list`'s table, and the UI's banner shows one line), raises ValueError."""
    message = message.strip()
    if not message:
        raise ValueError("Message empty")
    odd = control_character(message)
    if odd is not None:
        raise ValueError(f"the message holds a control character ({odd!r}): write it on one "
                         "line")
    with conn.transaction():
        return conn.execute("INSERT INTO broadcast (date_created, message, active) "
                            "VALUES (now(), %s, true) RETURNING id", (message,)).fetchone()[0]


def list_broadcasts(conn, include_inactive=False, tail=None):
    """[(id, date_created, active, message)], oldest first. `tail=N`: the newest N messages,
    active or not."""
    if tail:
        rows = conn.execute("SELECT id, date_created, active, message FROM broadcast "
                            "ORDER BY date_created DESC, id DESC LIMIT %s", (tail,)).fetchall()
        return rows[::-1]
    return conn.execute("SELECT id, date_created, active, message FROM broadcast "
                        "WHERE active OR %s ORDER BY date_created, id",
                        (include_inactive,)).fetchall()


def active_broadcasts(conn):
    return list_broadcasts(conn)


def deactivate_broadcast(conn, message_id):
    """Set the message inactive; False if there is no such message."""
    with conn.transaction():
        return conn.execute("UPDATE broadcast SET active = false WHERE id = %s RETURNING id",
                            (message_id,)).fetchone() is not None
