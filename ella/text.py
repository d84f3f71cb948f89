"""Checks of text read from files, folder names and the command line."""


def is_utf8(text):
    """False for text with undecodable bytes (a name from a Latin-1 share, argv and stdin:
    Python keeps such bytes as surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
