"""``route`` / ``unix_route``: a threaded server dispatching connections to
handlers by URL, as ``websockets.sync.router`` (werkzeug's URL maps)."""
import http
import urllib.parse
from typing import Any, Callable, Optional

from ..http11 import Request, Response
from .server import Server, ServerConnection, serve

__all__ = ["route", "unix_route", "Router"]


class Router:
    """Matches a request's path against a werkzeug ``Map``; the matched
    endpoint is the connection's handler, called with the URL's parameters
    as keyword arguments."""

    def __init__(self, url_map: Any, server_name: Optional[str] = None,
                 url_scheme: str = "ws") -> None:
        self.url_map = url_map
        self.server_name = server_name
        self.url_scheme = url_scheme
        for rule in url_map.iter_rules():
            rule.websocket = True

    def get_server_name(self, connection: ServerConnection, request: Request) -> str:
        if self.server_name is None:
            return request.headers["Host"]  # type: ignore[no-any-return]
        return self.server_name

    def redirect(self, connection: ServerConnection, url: str) -> Response:
        response = connection.respond(http.HTTPStatus.FOUND, f"Found at {url}")
        response.headers["Location"] = url
        return response

    def not_found(self, connection: ServerConnection) -> Response:
        return connection.respond(http.HTTPStatus.NOT_FOUND, "Not Found")

    def route_request(self, connection: ServerConnection,
                      request: Request) -> Optional[Response]:
        """process_request: a 302 or 404 answer, or None with the handler set."""
        from werkzeug.exceptions import NotFound
        from werkzeug.routing import RequestRedirect
        adapter = self.url_map.bind(server_name=self.get_server_name(connection, request),
                                    url_scheme=self.url_scheme)
        try:
            parsed = urllib.parse.urlparse(request.path)
            handler, kwargs = adapter.match(path_info=parsed.path, query_args=parsed.query)
        except RequestRedirect as redirect:
            return self.redirect(connection, redirect.new_url)
        except NotFound:
            return self.not_found(connection)
        connection.handler, connection.handler_kwargs = handler, kwargs  # type: ignore
        return None

    def handler(self, connection: ServerConnection) -> None:
        connection.handler(connection, **connection.handler_kwargs)  # type: ignore


def route(url_map: Any, *args: Any, server_name: Optional[str] = None, ssl: Any = None,
          create_router: Optional[type] = None, **kwargs: Any) -> Server:
    """``serve`` dispatching each connection by its path through `url_map`
    (a ``werkzeug.routing.Map`` whose endpoints are handlers taking the
    connection and the URL's parameters).  404 for an unknown path, 302 for
    werkzeug's redirects (built with `server_name`, else the Host header,
    and wss:// when `ssl` is given; ``ssl=True`` only marks TLS terminated
    in front of us).  A given ``process_request`` runs first."""
    try:
        import werkzeug.routing  # noqa: F401
    except ImportError:
        raise ImportError("route() requires werkzeug") from None
    url_scheme = "ws" if ssl is None else "wss"
    if ssl is not True and ssl is not None:
        kwargs["ssl"] = ssl
    router = (create_router or Router)(url_map, server_name, url_scheme)
    user_process_request: Optional[Callable[..., Any]] = kwargs.pop("process_request", None)
    if user_process_request is None:
        process_request = router.route_request
    else:
        def process_request(connection: ServerConnection,
                            request: Request) -> Optional[Response]:
            response = user_process_request(connection, request)  # type: ignore[misc]
            if response is not None:
                return response  # type: ignore[no-any-return]
            return router.route_request(connection, request)
    return serve(router.handler, *args, process_request=process_request, **kwargs)


def unix_route(url_map: Any, path: Any = None, **kwargs: Any) -> Server:
    """``route`` on a Unix socket."""
    return route(url_map, unix=True, path=path, **kwargs)
