"""HTTP Basic Auth for the legacy server (``websockets.legacy.auth``)."""
import functools
import http
from typing import Any, Awaitable, Callable, Optional, Tuple

from ..basic_auth import (build_www_authenticate_basic, credentials_checker,
                          parse_authorization_basic)
from ..datastructures import Headers
from ..exceptions import InvalidHeader
from .server import WebSocketServerProtocol

__all__ = ["BasicAuthWebSocketServerProtocol", "basic_auth_protocol_factory"]

Credentials = Tuple[str, str]


class BasicAuthWebSocketServerProtocol(WebSocketServerProtocol):
    """A server protocol that answers 401 unless the request carries valid
    Basic credentials; ``username`` is set once they are checked."""

    realm: str = ""
    username: Optional[str] = None

    def __init__(self, *args: Any, realm: Optional[str] = None,
                 check_credentials: Optional[Callable[[str, str], Awaitable[bool]]] = None,
                 **kwargs: Any) -> None:
        if realm is not None:
            self.realm = realm
        self._check_credentials = check_credentials
        super().__init__(*args, **kwargs)

    async def check_credentials(self, username: str, password: str) -> bool:
        """Whether the credentials are valid (the check_credentials
        argument, or override this)."""
        if self._check_credentials is not None:
            return await self._check_credentials(username, password)
        return False

    async def process_request(self, path: str, request_headers: Headers) -> Any:
        response = await super().process_request(path, request_headers)
        if response is not None:
            return response
        try:
            authorization = request_headers["Authorization"]
        except KeyError:
            return (http.HTTPStatus.UNAUTHORIZED,
                    [("WWW-Authenticate", build_www_authenticate_basic(self.realm))],
                    b"Missing credentials\n")
        try:
            username, password = parse_authorization_basic(authorization)
        except InvalidHeader:
            return (http.HTTPStatus.UNAUTHORIZED,
                    [("WWW-Authenticate", build_www_authenticate_basic(self.realm))],
                    b"Unsupported credentials\n")
        if not await self.check_credentials(username, password):
            return (http.HTTPStatus.UNAUTHORIZED,
                    [("WWW-Authenticate", build_www_authenticate_basic(self.realm))],
                    b"Invalid credentials\n")
        self.username = username
        return None


def basic_auth_protocol_factory(realm: Optional[str] = None, credentials: Any = None,
                                check_credentials: Optional[Callable[[str, str],
                                                                     Awaitable[bool]]] = None,
                                create_protocol: Optional[Callable[..., Any]] = None
                                ) -> Callable[..., BasicAuthWebSocketServerProtocol]:
    """A ``create_protocol`` for serve() enforcing HTTP Basic Auth with
    ``credentials`` (a pair or a list of pairs) or ``check_credentials``
    (a coroutine function)."""
    if (credentials is None) == (check_credentials is None):
        raise TypeError("provide either credentials or check_credentials")
    if credentials is not None:
        check = credentials_checker(credentials)

        async def check_credentials(username: str, password: str) -> bool:
            return check(username, password)

    if create_protocol is None:
        create_protocol = BasicAuthWebSocketServerProtocol
    return functools.partial(create_protocol, realm=realm,
                             check_credentials=check_credentials)
