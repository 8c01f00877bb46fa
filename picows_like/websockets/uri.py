"""ws:// and wss:// URIs (as in ``websockets.uri``)."""
import dataclasses
import urllib.parse
from typing import Optional, Tuple

from .exceptions import InvalidURI

__all__ = ["parse_uri", "WebSocketURI"]

# gen-delims and sub-delims of RFC 3987: kept as they are when an IRI is
# turned into a URI.
DELIMS = ":/?#[]@!$&'()*+,;="


@dataclasses.dataclass
class WebSocketURI:
    """A parsed WebSocket URI.

    ``host`` is lower-cased, ``port`` is always set (80 / 443 by default),
    ``path`` and ``query`` may be empty, ``username`` / ``password`` are set
    when the URI carries user information.
    """
    secure: bool
    host: str
    port: int
    path: str
    query: str
    username: Optional[str] = None
    password: Optional[str] = None

    @property
    def resource_name(self) -> str:
        """Path and query as sent on the request line ("/" when the path is empty)."""
        resource = self.path or "/"
        return f"{resource}?{self.query}" if self.query else resource

    @property
    def user_info(self) -> Optional[Tuple[str, str]]:
        """(username, password), or None without user information."""
        if self.username is None:
            return None
        assert self.password is not None
        return self.username, self.password


def parse_uri(uri: str) -> WebSocketURI:
    """Parse and validate a WebSocket URI; InvalidURI when it isn't one.

    Errors of the standard library parser (a port that isn't a number, a
    broken IPv6 literal) surface as they are, like in websockets.
    """
    parts = urllib.parse.urlparse(uri)
    if parts.scheme not in ("ws", "wss"):
        raise InvalidURI(uri, "scheme isn't ws or wss")
    host = parts.hostname
    if host is None:
        raise InvalidURI(uri, "hostname isn't provided")
    if parts.fragment != "":
        raise InvalidURI(uri, "fragment identifier is meaningless")

    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    path, query = parts.path, parts.query
    username, password = parts.username, parts.password
    if username is not None:
        # urlparse accepts a user without a password; Basic auth cannot.
        if password is None:
            raise InvalidURI(uri, "username provided without password")
        username = urllib.parse.unquote(username, errors="strict")
        password = urllib.parse.unquote(password, errors="strict")

    if not uri.isascii():
        # An IRI: convert the host to IDNA and percent-encode path and query.
        host = host.encode("idna").decode()
        path = urllib.parse.quote(path, safe=DELIMS)
        query = urllib.parse.quote(query, safe=DELIMS)
    return WebSocketURI(secure, host, port, path, query, username, password)
