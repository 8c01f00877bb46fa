"""WebSocket URL parsing (RFC 6455 3): ws[s]://host[:port]/path[?query]."""
import urllib.parse
from dataclasses import dataclass
from typing import NewType, Optional

from .exceptions import WSInvalidURL

WSHost = NewType("WSHost", str)
WSPort = NewType("WSPort", int)

# gen-delims and sub-delims of RFC 3987: kept as they are when quoting an IRI.
_DELIMS = ":/?#[]@!$&'()*+,;="


@dataclass(eq=False, frozen=True)
class WSParsedURL:
    """A parsed ws:// or wss:// URL; `port` is always set."""
    url: str
    scheme: str
    is_secure: bool
    netloc: str
    host: WSHost
    port: WSPort
    path: str
    query: str
    username: Optional[str] = None
    password: Optional[str] = None

    def __repr__(self) -> str:
        # Never show credentials from the userinfo: a repr ends up in logs.
        return f"WSParsedURL({redact_url(self.url)!r})"

    @property
    def redacted_url(self) -> str:
        """`url` with its userinfo credentials replaced by ``***``, for
        logs and error messages."""
        return redact_url(self.url)

    @property
    def origin(self) -> tuple:
        """(is_secure, host, port): two URLs with the same origin may share
        credentials; a redirect to another origin drops them."""
        return self.is_secure, self.host.lower(), self.port

    @property
    def resource_name(self) -> str:
        """Request target for the upgrade request, e.g. ``/ws?a=1``."""
        name = self.path or "/"
        return f"{name}?{self.query}" if self.query else name

    @property
    def user_info(self) -> Optional[tuple]:
        """(username, password) when both are in the URL, else None."""
        if self.username is None or self.password is None:
            return None
        return self.username, self.password


def redact_url(url: str) -> str:
    """`url` safe to log: the password of its userinfo becomes ``***``
    (``ws://alice:***@host/``); a userinfo without a password, often a
    token, becomes ``***`` as a whole (``ws://***@host/``).  Works on
    malformed URLs too (everything before the last ``@`` of the authority
    is userinfo, as urllib.parse splits it)."""
    url = str(url)
    scheme, sep, rest = url.partition("//")
    if not sep:
        scheme, rest = "", url
    end = len(rest)
    for ch in "/?#":
        pos = rest.find(ch)
        if 0 <= pos < end:
            end = pos
    authority, tail = rest[:end], rest[end:]
    userinfo, at, hostport = authority.rpartition("@")
    if not at:
        return url
    user, colon, _ = userinfo.partition(":")
    userinfo = f"{user}:***" if colon else "***"
    return f"{scheme}{sep}{userinfo}@{hostport}{tail}"


def parse_url(url: str, check_scheme: bool = True) -> WSParsedURL:
    """Parse and validate `url`; raise WSInvalidURL with the reason."""
    try:
        parsed = urllib.parse.urlparse(url)
        port = parsed.port
    except ValueError as exc:
        raise WSInvalidURL(redact_url(url), str(exc)) from None
    if check_scheme and parsed.scheme not in ("ws", "wss"):
        raise WSInvalidURL(redact_url(url), "scheme isn't ws or wss")
    if not parsed.hostname:
        raise WSInvalidURL(redact_url(url), "hostname isn't provided")
    if parsed.fragment:
        raise WSInvalidURL(redact_url(url), "fragment identifier is meaningless")

    is_secure = parsed.scheme in ("wss", "https")
    host, path, query = parsed.hostname, parsed.path, parsed.query
    username, password = parsed.username, parsed.password
    if not url.isascii():
        # An IRI: encode it into a URI.
        host = host.encode("idna").decode()
        path = urllib.parse.quote(path, safe=_DELIMS)
        query = urllib.parse.quote(query, safe=_DELIMS)
        if username is not None:
            username = urllib.parse.quote(username, safe=_DELIMS)
        if password is not None:
            password = urllib.parse.quote(password, safe=_DELIMS)
    return WSParsedURL(url, parsed.scheme, is_secure, parsed.netloc, WSHost(host),
                       WSPort(port or (443 if is_secure else 80)), path, query,
                       username, password)
