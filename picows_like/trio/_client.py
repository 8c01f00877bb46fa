"""The client functions of picows_like.trio: open_websocket() and the rest."""
import ssl
import types
import urllib.parse
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Iterable, Optional, Tuple, Union

import trio

from ..websockets.client import ClientProtocol
from ._connection import (CONN_TIMEOUT, MAX_MESSAGE_SIZE, MESSAGE_QUEUE_SIZE, RECEIVE_BYTES,
                          BaseExceptionGroup, HeaderList, WebSocketConnection, _deflate)
from ._errors import ConnectionTimeout, DisconnectionTimeout, HandshakeError


def _client_protocol(host: str, port: int, secure: bool, resource: str,
                     subprotocols: Optional[Iterable[str]], max_message_size: int,
                     compression: Any = None) -> ClientProtocol:
    uri = types.SimpleNamespace(host=host, port=port, secure=secure, resource_name=resource,
                                user_info=None)
    subs = list(subprotocols) if subprotocols else None
    deflate = _deflate(compression)
    return ClientProtocol(uri, subprotocols=subs, max_size=max_message_size,
                          extensions=None if deflate is None else [deflate])


async def wrap_client_stream(nursery: trio.Nursery, stream: trio.abc.Stream, host: str,
                             resource: str, *, subprotocols: Optional[Iterable[str]] = None,
                             extra_headers: Optional[HeaderList] = None,
                             message_queue_size: int = MESSAGE_QUEUE_SIZE,
                             max_message_size: int = MAX_MESSAGE_SIZE,
                             compression: Any = None,
                             receive_buffer_size: Optional[int] = RECEIVE_BYTES
                             ) -> WebSocketConnection:
    """Run the client handshake on `stream` (`host` is the Host header);
    the reader task runs in `nursery`."""
    proto = _client_protocol(host, 80, False, resource, subprotocols, max_message_size,
                             compression)
    connection = WebSocketConnection(stream, proto, host=host, path=resource,
                                     client_extra_headers=extra_headers,
                                     message_queue_size=message_queue_size,
                                     receive_buffer_size=receive_buffer_size)
    nursery.start_soon(connection._reader_task)
    await connection._open_handshake.wait()
    return connection


async def connect_websocket(nursery: trio.Nursery, host: str, port: int, resource: str, *,
                            use_ssl: Union[bool, ssl.SSLContext],
                            subprotocols: Optional[Iterable[str]] = None,
                            extra_headers: Optional[HeaderList] = None,
                            message_queue_size: int = MESSAGE_QUEUE_SIZE,
                            max_message_size: int = MAX_MESSAGE_SIZE,
                            compression: Any = None,
                            receive_buffer_size: Optional[int] = RECEIVE_BYTES
                            ) -> WebSocketConnection:
    """An open client connection whose reader task runs in `nursery`; the
    caller closes it."""
    if use_ssl is True:
        ssl_context: Optional[ssl.SSLContext] = ssl.create_default_context()
    elif use_ssl is False:
        ssl_context = None
    elif isinstance(use_ssl, ssl.SSLContext):
        ssl_context = use_ssl
    else:
        raise TypeError("`use_ssl` argument must be bool or ssl.SSLContext")
    if ssl_context is None:
        stream: trio.abc.Stream = await trio.open_tcp_stream(host, port)
    else:
        stream = await trio.open_ssl_over_tcp_stream(host, port, ssl_context=ssl_context,
                                                     https_compatible=True)
    host_header = host if port in (80, 443) else f"{host}:{port}"
    return await wrap_client_stream(nursery, stream, host_header, resource,
                                    subprotocols=subprotocols, extra_headers=extra_headers,
                                    message_queue_size=message_queue_size,
                                    max_message_size=max_message_size,
                                    compression=compression,
                                    receive_buffer_size=receive_buffer_size)


def _url_to_host(url: Any, ssl_context: Optional[ssl.SSLContext]
                 ) -> Tuple[str, int, str, Union[bool, ssl.SSLContext]]:
    url = str(url)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError('WebSocket URL scheme must be "ws:" or "wss:"')
    use_ssl: Union[bool, ssl.SSLContext]
    if ssl_context is None:
        use_ssl = parts.scheme == "wss"
    elif parts.scheme == "ws":
        raise ValueError("SSL context must be None for ws: URL scheme")
    else:
        use_ssl = ssl_context
    host = parts.hostname
    if host is None:
        raise ValueError("URL host must not be None")
    port = parts.port if parts.port is not None else (443 if use_ssl else 80)
    resource = parts.path or "/"
    if "?" in url:
        resource += "?" + parts.query
    return host, port, resource, use_ssl


async def connect_websocket_url(nursery: trio.Nursery, url: str,
                                ssl_context: Optional[ssl.SSLContext] = None, *,
                                subprotocols: Optional[Iterable[str]] = None,
                                extra_headers: Optional[HeaderList] = None,
                                message_queue_size: int = MESSAGE_QUEUE_SIZE,
                                max_message_size: int = MAX_MESSAGE_SIZE,
                                compression: Any = None,
                                receive_buffer_size: Optional[int] = RECEIVE_BYTES
                                ) -> WebSocketConnection:
    """connect_websocket() with a ws:// or wss:// URL."""
    host, port, resource, use_ssl = _url_to_host(url, ssl_context)
    return await connect_websocket(nursery, host, port, resource, use_ssl=use_ssl,
                                   subprotocols=subprotocols, extra_headers=extra_headers,
                                   message_queue_size=message_queue_size,
                                   max_message_size=max_message_size,
                                   compression=compression,
                                   receive_buffer_size=receive_buffer_size)


def _reraise(exc: BaseException) -> None:
    """Raise `exc` keeping its __context__ as it is."""
    context = exc.__context__
    try:
        raise exc
    finally:
        exc.__context__ = context
        del exc, context


@asynccontextmanager
async def open_websocket(host: str, port: int, resource: str, *,
                         use_ssl: Union[bool, ssl.SSLContext],
                         subprotocols: Optional[Iterable[str]] = None,
                         extra_headers: Optional[HeaderList] = None,
                         message_queue_size: int = MESSAGE_QUEUE_SIZE,
                         max_message_size: int = MAX_MESSAGE_SIZE,
                         compression: Any = None,
                         receive_buffer_size: Optional[int] = RECEIVE_BYTES,
                         connect_timeout: float = CONN_TIMEOUT,
                         disconnect_timeout: float = CONN_TIMEOUT
                         ) -> AsyncIterator[WebSocketConnection]:
    """Connect on entry, close on exit; yields the WebSocketConnection.

    HandshakeError for a network error, ConnectionTimeout /
    DisconnectionTimeout, ConnectionRejected.  An error in the body or in the
    reader task comes out alone, not inside an exception group."""
    connection: Optional[WebSocketConnection] = None
    open_error: Optional[BaseException] = None
    close_error: Optional[BaseException] = None
    user_error: Optional[BaseException] = None
    try:
        async with trio.open_nursery() as nursery:
            try:
                with trio.fail_after(connect_timeout):
                    connection = await connect_websocket(
                        nursery, host, port, resource, use_ssl=use_ssl,
                        subprotocols=subprotocols, extra_headers=extra_headers,
                        message_queue_size=message_queue_size,
                        max_message_size=max_message_size,
                        compression=compression,
                        receive_buffer_size=receive_buffer_size)
            except trio.TooSlowError:
                open_error = ConnectionTimeout()
            except OSError as exc:
                open_error = HandshakeError()
                open_error.__cause__ = exc
            except HandshakeError as exc:
                open_error = exc
            if connection is None:
                nursery.cancel_scope.cancel()
            else:
                try:
                    yield connection
                except BaseException as exc:
                    user_error = exc
                    raise
                finally:
                    try:
                        with trio.fail_after(disconnect_timeout):
                            await connection.aclose()
                    except trio.TooSlowError:
                        close_error = DisconnectionTimeout()
                    except BaseException as exc:    # noqa: B036 - re-raised below
                        close_error = exc
    except BaseExceptionGroup as group:
        errors = group.exceptions
        if len(errors) == 1:
            _reraise(errors[0])
        real = [e for e in errors if not isinstance(e, trio.Cancelled)]
        if not real:
            _reraise(user_error if user_error is not None else errors[0])
        if len(real) == 1:
            _reraise(real[0])
        if user_error is not None:
            others = [e for e in errors if e is not user_error]
            user_error.__context__ = BaseExceptionGroup(
                "Both internal and user exceptions encountered. This group contains "
                "the internal exception(s).", others)
            _reraise(user_error)
        raise
    finally:
        if close_error is not None:
            _reraise(close_error)
    if open_error is not None:
        _reraise(open_error)


def open_websocket_url(url: str, ssl_context: Optional[ssl.SSLContext] = None, *,
                       subprotocols: Optional[Iterable[str]] = None,
                       extra_headers: Optional[HeaderList] = None,
                       message_queue_size: int = MESSAGE_QUEUE_SIZE,
                       max_message_size: int = MAX_MESSAGE_SIZE,
                       compression: Any = None,
                       receive_buffer_size: Optional[int] = RECEIVE_BYTES,
                       connect_timeout: float = CONN_TIMEOUT,
                       disconnect_timeout: float = CONN_TIMEOUT) -> Any:
    """open_websocket() with a ws:// or wss:// URL."""
    host, port, resource, use_ssl = _url_to_host(url, ssl_context)
    return open_websocket(host, port, resource, use_ssl=use_ssl, subprotocols=subprotocols,
                          extra_headers=extra_headers, message_queue_size=message_queue_size,
                          max_message_size=max_message_size,
                          receive_buffer_size=receive_buffer_size,
                          connect_timeout=connect_timeout,
                          disconnect_timeout=disconnect_timeout,
                          # only when set: open_websocket() sees trio-websocket's keywords
                          **({} if compression is None else {"compression": compression}))
