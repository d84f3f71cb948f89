"""HTTP requests (urllib) whose whole answer must arrive before a deadline.

A socket timeout bounds each wait for data, and each byte that arrives starts it again: a
service or proxy sending its status line and headers a byte at a time held the caller for
as long as it kept sending. Here a timer shuts the request's socket down at the deadline,
which ends any read under way (also inside urllib and http.client, and through TLS).
"""

import http.client
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request


class Deadline:
    """Shuts down the sockets it watches once `seconds` have passed; `cut` tells the reader
    that its answer was cut there. Use as a context manager around the request."""

    def __init__(self, seconds):
        self.expired = False
        self.watched = False  # a connection was made (and so could be cut)
        self._lock = threading.Lock()
        self._twins = []  # duplicates of the sockets: shutdown acts on the socket they share
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc_info):
        self._timer.cancel()
        with self._lock:
            for twin in self._twins:
                twin.close()
            self._twins = []

    @property
    def cut(self):
        """Whether the deadline passed with a connection made: what failed after it is the
        cut's doing. (One that failed before any connection, e.g. a slow name lookup, sent
        nothing and is no answer cut short.)"""
        return self.expired and self.watched

    def watch(self, sock):
        """Watch a connected socket (before any TLS handshake on it); returns it."""
        with self._lock:
            twin = sock.dup()
            self._twins.append(twin)
            self.watched = True
            if self.expired:
                _shut(twin)
        return sock

    def _expire(self):
        with self._lock:
            self.expired = True
            for twin in self._twins:
                _shut(twin)

    def opener(self):
        """A urllib opener (proxies and the rest as urllib's default) whose connections
        this deadline watches."""
        return urllib.request.build_opener(_HTTPHandler(self), _HTTPSHandler(self),
                                           _HTTPRedirectHandler())


def _shut(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # not connected (any more): nothing to end


def _watched(connection_class):
    class Watched(connection_class):
        def __init__(self, deadline, *args, **kwargs):
            super().__init__(*args, **kwargs)
            create = self._create_connection
            self._create_connection = lambda *a, **kw: deadline.watch(create(*a, **kw))
    return Watched


_WatchedHTTP = _watched(http.client.HTTPConnection)
_WatchedHTTPS = _watched(http.client.HTTPSConnection)


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline):
        super().__init__()
        self.deadline = deadline

    def http_open(self, req):
        return self.do_open(lambda *a, **kw: _WatchedHTTP(self.deadline, *a, **kw), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline):
        super().__init__()
        self.deadline = deadline

    def https_open(self, req):
        return self.do_open(lambda *a, **kw: _WatchedHTTPS(self.deadline, *a, **kw), req,
                            context=self._context)


class RedirectRefused(urllib.error.HTTPError):
    """A redirect out of http(s), not followed."""


class _HTTPRedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follows redirects to http(s) only: urllib's own also follows one to ftp://, whose
    connection no deadline watches (a server sending its greeting a byte at a time held
    the caller as long as it liked)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        scheme = urllib.parse.urlsplit(newurl).scheme.lower()
        if scheme not in ("http", "https"):
            raise RedirectRefused(req.full_url, code, f"a redirect to {scheme}:// is not "
                                  "followed", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)
