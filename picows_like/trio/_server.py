"""The server side of picows_like.trio: serve_websocket(), WebSocketServer,
wrap_server_stream()."""
import ssl
from functools import partial
from typing import Any, Awaitable, Callable, List, Optional, Sequence, Union

import trio

from ..websockets.server import ServerProtocol
from ._connection import (CONN_TIMEOUT, MAX_MESSAGE_SIZE, MESSAGE_QUEUE_SIZE, RECEIVE_BYTES,
                          Endpoint, WebSocketConnection, WebSocketRequest, _deflate)
from ._errors import ConnectionClosed


def _server_protocol(max_message_size: int, compression: Any) -> ServerProtocol:
    deflate = _deflate(compression)
    return ServerProtocol(max_size=max_message_size,
                          extensions=None if deflate is None else [deflate])


async def wrap_server_stream(nursery: trio.Nursery, stream: trio.abc.Stream,
                             message_queue_size: int = MESSAGE_QUEUE_SIZE,
                             max_message_size: int = MAX_MESSAGE_SIZE,
                             receive_buffer_size: Optional[int] = RECEIVE_BYTES, *,
                             compression: Any = None) -> WebSocketRequest:
    """Read a client's upgrade request from `stream`; the reader task runs in `nursery`."""
    connection = WebSocketConnection(stream, _server_protocol(max_message_size, compression),
                                     message_queue_size=message_queue_size,
                                     receive_buffer_size=receive_buffer_size)
    nursery.start_soon(connection._reader_task)
    return await connection._get_request()


class WebSocketServer:
    """Serves WebSocket connections on trio listeners, calling `handler`
    with a WebSocketRequest for each."""

    def __init__(self, handler: Callable[[WebSocketRequest], Awaitable[None]],
                 listeners: Sequence[Any], *, handler_nursery: Optional[trio.Nursery] = None,
                 message_queue_size: int = MESSAGE_QUEUE_SIZE,
                 max_message_size: int = MAX_MESSAGE_SIZE,
                 compression: Any = None,
                 receive_buffer_size: Optional[int] = RECEIVE_BYTES,
                 connect_timeout: float = CONN_TIMEOUT,
                 disconnect_timeout: float = CONN_TIMEOUT) -> None:
        if len(listeners) == 0:
            raise ValueError("Listeners must contain at least one item.")
        self._handler = handler
        self._handler_nursery = handler_nursery
        self._listeners = listeners
        self._message_queue_size = message_queue_size
        self._max_message_size = max_message_size
        self._compression = _deflate(compression)
        self._receive_buffer_size = receive_buffer_size
        self._connect_timeout = connect_timeout
        self._disconnect_timeout = disconnect_timeout

    @property
    def port(self) -> int:
        """The port of the (single, socket) listener."""
        if len(self._listeners) > 1:
            raise RuntimeError("Cannot get port because this server has more than 1 listener.")
        listener = self.listeners[0]
        try:
            return listener.port  # type: ignore[union-attr]
        except AttributeError:
            raise RuntimeError(f"This socket does not have a port: {listener!r}") from None

    @property
    def listeners(self) -> List[Union[Endpoint, str]]:
        """An Endpoint per TCP listener, repr() for other listeners."""
        result: List[Union[Endpoint, str]] = []
        for listener in self._listeners:
            sock, is_ssl = None, False
            if isinstance(listener, trio.SocketListener):
                sock = listener.socket
            elif isinstance(listener, trio.SSLListener):
                sock = getattr(listener.transport_listener, "socket", None)
                is_ssl = True
            if sock is not None:
                name = sock.getsockname()
                result.append(Endpoint(name[0], name[1], is_ssl))
            else:
                result.append(repr(listener))
        return result

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled (``await nursery.start(server.run)`` returns the server)."""
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(trio.serve_listeners, self._handle_connection,
                                        list(self._listeners),
                                        handler_nursery=self._handler_nursery))
            task_status.started(self)
            await trio.sleep_forever()

    async def _handle_connection(self, stream: trio.abc.Stream) -> None:
        async with trio.open_nursery() as nursery:
            connection = WebSocketConnection(
                stream, _server_protocol(self._max_message_size, self._compression),
                message_queue_size=self._message_queue_size,
                receive_buffer_size=self._receive_buffer_size)
            nursery.start_soon(connection._reader_task)
            request = None
            with trio.move_on_after(self._connect_timeout) as scope:
                try:
                    request = await connection._get_request()
                except ConnectionClosed:
                    pass
            if scope.cancelled_caught or request is None:
                nursery.cancel_scope.cancel()
                await stream.aclose()
                return
            try:
                await self._handler(request)
            finally:
                with trio.move_on_after(self._disconnect_timeout):
                    await connection.aclose()


async def serve_websocket(handler: Callable[[WebSocketRequest], Awaitable[None]],
                          host: Union[str, bytes, None], port: int,
                          ssl_context: Optional[ssl.SSLContext], *,
                          handler_nursery: Optional[trio.Nursery] = None,
                          message_queue_size: int = MESSAGE_QUEUE_SIZE,
                          max_message_size: int = MAX_MESSAGE_SIZE,
                          compression: Any = None,
                          receive_buffer_size: Optional[int] = RECEIVE_BYTES,
                          connect_timeout: float = CONN_TIMEOUT,
                          disconnect_timeout: float = CONN_TIMEOUT,
                          task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Serve WebSockets over TCP (TLS with `ssl_context`) until cancelled;
    ``await nursery.start(serve_websocket, ...)`` returns the WebSocketServer."""
    listeners: Sequence[Any]
    if ssl_context is None:
        listeners = await trio.open_tcp_listeners(port, host=host)
    else:
        listeners = await trio.open_ssl_over_tcp_listeners(port, ssl_context, host=host,
                                                           https_compatible=True)
    server = WebSocketServer(handler, listeners, handler_nursery=handler_nursery,
                             message_queue_size=message_queue_size,
                             max_message_size=max_message_size,
                             compression=compression,
                             receive_buffer_size=receive_buffer_size,
                             connect_timeout=connect_timeout,
                             disconnect_timeout=disconnect_timeout)
    await server.run(task_status=task_status)
