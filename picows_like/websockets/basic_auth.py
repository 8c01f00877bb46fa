"""HTTP Basic Authentication pieces shared by the asyncio, sync and legacy
servers: the header values (as ``websockets.headers`` has them) and the
check of a fixed credentials list, compared in constant time."""
import base64
import binascii
import hmac
from typing import Any, Callable, Iterable, Tuple

from .exceptions import InvalidHeaderValue

__all__ = ["build_www_authenticate_basic", "parse_authorization_basic", "is_credentials",
           "credentials_checker"]


def is_credentials(value: Any) -> bool:
    """True for a (username, password) pair of strings."""
    try:
        username, password = value
    except (TypeError, ValueError):
        return False
    return isinstance(username, str) and isinstance(password, str)


def credentials_checker(credentials: Any) -> Callable[[str, str], bool]:
    """check(username, password) for `credentials`, one pair or an iterable
    of pairs (TypeError otherwise).  Passwords are compared with
    hmac.compare_digest, so the time taken does not tell how much matched."""
    if is_credentials(credentials):
        pairs = [credentials]
    elif isinstance(credentials, Iterable):
        pairs = list(credentials)
        if not all(is_credentials(item) for item in pairs):
            raise TypeError(f"invalid credentials argument: {credentials}")
    else:
        raise TypeError(f"invalid credentials argument: {credentials}")
    table = dict(pairs)

    def check(username: str, password: str) -> bool:
        expected = table.get(username)
        if expected is None:
            return False
        return hmac.compare_digest(expected.encode(errors="surrogateescape"),
                                   password.encode(errors="surrogateescape"))
    return check


def build_www_authenticate_basic(realm: str) -> str:
    """The WWW-Authenticate header value asking for Basic credentials."""
    quoted = realm.replace("\\", "\\\\").replace('"', '\\"')
    return f'Basic realm="{quoted}", charset="UTF-8"'


def parse_authorization_basic(header: str) -> Tuple[str, str]:
    """(username, password) from an ``Authorization: Basic ...`` value;
    InvalidHeaderValue when it is something else."""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise InvalidHeaderValue("Authorization", f"unsupported scheme: {scheme}")
    try:
        decoded = base64.b64decode(token.strip().encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidHeaderValue("Authorization", "expected base64-encoded credentials") \
            from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise InvalidHeaderValue("Authorization", "expected username:password credentials")
    return username, password
