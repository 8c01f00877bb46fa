"""Reconnecting feeds for the callback API.

``ws_connect_forever(listener_factory, url, ...)`` keeps one WebSocket
connection up: it connects with ``ws_connect``, waits until the connection
ends, and connects again, with exponential backoff and jitter after network
errors and after "going away" closes (1001, 1006 = no CLOSE, 1011-1014), the
way ``async for ws in websockets.connect(...)`` does::

    feed = ws_connect_forever(MyListener, "wss://example.com/feed",
                              on_connected=lambda transport, listener: ...)
    ...
    await feed.stop()            # or: async with ws_connect_forever(...) as feed:

Each connection gets a fresh listener from ``listener_factory``; use
``on_connected`` (or the listener's own ``on_ws_connected``) to subscribe
again after a reconnect.  The current connection is ``feed.transport`` /
``feed.listener`` (None while disconnected); ``await feed.wait_connected()``
waits for one.

When to retry and how long to wait is one RetryPolicy (delays, the close
codes that back off, the connect errors worth retrying), shared with the
websockets layer's ``async for ws in connect(...)``: DEFAULT_RETRY_POLICY.
"""
import asyncio
import logging
import random
import time
from typing import (Any, Callable, Collection, FrozenSet, Generator, Iterable, Iterator, Optional,
                    Tuple)

from ._enums import WSCloseCode
from .client import ws_connect
from .exceptions import WSConnectionClosedBeforeHandshake, WSInvalidStatusError
from .url import redact_url

__all__ = ["backoff", "retryable_exception", "ws_connect_forever", "WSReconnectingClient",
           "RECONNECT_CLOSE_CODES", "RetryPolicy", "DEFAULT_RETRY_POLICY"]

# Closes after which reconnecting is worth it but should back off; the one
# definition, used by ws_connect_forever and by the websockets layer's
# ``async for ws in connect(...)``.  Going away (1001), no CLOSE at all
# (1006, a network failure), the "come back later" codes 1012-1014, and the
# server's internal error 1011: a server that just failed is the one a burst
# of immediate reconnects would hurt most, so it gets the backoff too (the
# union of the two sets the two layers used to keep apart).
RECONNECT_CLOSE_CODES = frozenset({
    WSCloseCode.GOING_AWAY, WSCloseCode.ABNORMAL_CLOSURE, WSCloseCode.INTERNAL_ERROR,
    WSCloseCode.SERVICE_RESTART, WSCloseCode.TRY_AGAIN_LATER, WSCloseCode.BAD_GATEWAY})

_log = logging.getLogger("picows_like.reconnect")


class RetryPolicy:
    """When to reconnect and how long to wait first: one policy for
    ws_connect_forever and the websockets layer's ``async for ws in
    connect(...)``.

    Delays (``delays()``, or call the policy): a random one in
    [0, initial_delay) first (RFC 6455 7.2.3 jitter), then min_delay growing
    by `factor` up to max_delay, each with +-`jitter` (a fraction) so that
    many clients do not reconnect in lockstep; websockets' defaults.

    Closes: ``backs_off_after(code)`` for the codes in `close_codes`
    (RECONNECT_CLOSE_CODES by default).

    Connect errors, told apart by type only (never by message text):
    ``network_errors`` (OSError, timeouts), the connection closed before a
    full handshake response (WSConnectionClosedBeforeHandshake) and an HTTP
    status in `retry_statuses` (500, 502, 503, 504) are transient
    (``is_retryable``); anything else (bad URL, 4xx, invalid handshake) is
    fatal.  The websockets layer asks the same questions of its own
    exception types (``retries_status``, ``network_errors``).
    """

    network_errors: Tuple[type, ...] = (OSError, asyncio.TimeoutError, TimeoutError)

    def __init__(self, initial_delay: float = 5.0, min_delay: float = 3.1,
                 max_delay: float = 90.0, factor: float = 1.618, jitter: float = 0.1,
                 close_codes: Iterable[int] = RECONNECT_CLOSE_CODES,
                 retry_statuses: Iterable[int] = (500, 502, 503, 504)) -> None:
        if min(initial_delay, min_delay, max_delay) < 0 or factor < 1 or not 0 <= jitter < 1:
            raise ValueError("delays must be >= 0, factor >= 1 and 0 <= jitter < 1")
        self.initial_delay = initial_delay
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.factor = factor
        self.jitter = jitter
        self.close_codes: FrozenSet[int] = (
            close_codes if isinstance(close_codes, frozenset)
            else frozenset(int(c) for c in close_codes))
        self.retry_statuses: FrozenSet[int] = frozenset(int(s) for s in retry_statuses)

    def __repr__(self) -> str:
        return (f"RetryPolicy(initial_delay={self.initial_delay}, min_delay={self.min_delay}, "
                f"max_delay={self.max_delay}, factor={self.factor}, jitter={self.jitter})")

    def delays(self) -> Generator[float, None, None]:
        """A fresh sequence of reconnection delays (seconds)."""
        yield random.random() * self.initial_delay
        delay = self.min_delay
        low, high = 1.0 - self.jitter, 1.0 + self.jitter
        while True:
            yield min(delay, self.max_delay) * random.uniform(low, high)
            if delay < self.max_delay:
                delay *= self.factor

    __call__ = delays           # a policy is a `reconnect_delays` factory too

    def backs_off_after(self, close_code: Optional[int]) -> bool:
        """Whether a connection that ended with `close_code` (the CLOSE
        received; None or 1006 for none) is followed by a delay."""
        return (1006 if close_code is None else int(close_code)) in self.close_codes

    def retries_status(self, status: int) -> bool:
        """Whether an HTTP `status` refusing the upgrade is worth a retry."""
        return int(status) in self.retry_statuses

    def is_retryable(self, exc: BaseException) -> bool:
        """Whether a connect error of picows_like's is transient."""
        if isinstance(exc, self.network_errors):
            return True
        if isinstance(exc, WSInvalidStatusError):
            return exc.response is not None and self.retries_status(exc.response.status)
        # The connection dropped before a full response is transient; any
        # other malformed response is fatal.
        return isinstance(exc, WSConnectionClosedBeforeHandshake)


DEFAULT_RETRY_POLICY = RetryPolicy()
"""The policy ws_connect_forever and the websockets layer's connect() use
unless given another."""


def backoff(initial_delay: float = 5.0, min_delay: float = 3.1, max_delay: float = 90.0,
            factor: float = 1.618) -> Generator[float, None, None]:
    """Reconnection delays: RetryPolicy(...).delays() with these values."""
    return RetryPolicy(initial_delay, min_delay, max_delay, factor).delays()


def retryable_exception(exc: BaseException) -> bool:
    """Default classification of connect errors: DEFAULT_RETRY_POLICY's."""
    return DEFAULT_RETRY_POLICY.is_retryable(exc)


class WSReconnectingClient:
    """Handle returned by ws_connect_forever(); see the module docstring."""

    def __init__(self, listener_factory: Callable, url: str, *,
                 retry_policy: Optional[RetryPolicy] = None,
                 reconnect_delays: Optional[Callable[[], Iterator[float]]] = None,
                 reconnect_close_codes: Optional[Collection[int]] = None,
                 is_retryable: Optional[Callable[[BaseException], bool]] = None,
                 stable_after: float = 5.0,
                 on_connected: Optional[Callable[[Any, Any], Any]] = None,
                 on_disconnected: Optional[Callable[[Any, Any], Any]] = None,
                 logger: Optional[logging.Logger] = None,
                 **ws_connect_kwargs: Any) -> None:
        self._listener_factory = listener_factory
        self._url = url
        self._shown_url = redact_url(url)        # for logs: no credentials
        policy = DEFAULT_RETRY_POLICY if retry_policy is None else retry_policy
        self.retry_policy = policy
        # The three keywords override one part of the policy each.
        self._reconnect_delays = policy.delays if reconnect_delays is None else reconnect_delays
        self._reconnect_close_codes = policy.close_codes if reconnect_close_codes is None \
            else frozenset(int(c) for c in reconnect_close_codes)
        self._is_retryable = policy.is_retryable if is_retryable is None else is_retryable
        self._stable_after = stable_after
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self._logger = logger or _log
        self._kwargs = ws_connect_kwargs
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._connected_event = asyncio.Event()
        self.transport: Any = None
        self.listener: Any = None
        self.connect_count = 0
        """Number of successful connections so far."""
        self.last_error: Optional[BaseException] = None
        """The last connect error (retryable or not)."""
        self._task = self._loop.create_task(self._run())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._shown_url} connects={self.connect_count}>"

    # -- public API ----------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return not self._task.done()

    async def wait_connected(self) -> Tuple[Any, Any]:
        """Wait for a live connection; return (transport, listener).  Raises
        the fatal error if connecting gave up, RuntimeError once stopped."""
        while True:
            if self.transport is not None and not self.transport.is_disconnected:
                return self.transport, self.listener
            if self._task.done():
                error = None if self._task.cancelled() else self._task.exception()
                if error is not None:
                    raise error
                raise RuntimeError("the reconnecting client is stopped")
            waiter = self._loop.create_task(self._connected_event.wait())
            try:
                await asyncio.wait([waiter, self._task], return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()

    async def stop(self, code: int = WSCloseCode.OK, reason: str = "",
                   timeout: Optional[float] = 5.0) -> None:
        """Stop reconnecting; close the current connection with `code`
        (waiting up to `timeout` for the closing handshake).  Idempotent."""
        self._stopping = True
        self._stop_event.set()
        transport = self.transport
        if transport is not None and not transport.is_disconnected:
            transport.send_close(code, reason.encode() if reason else None)
            try:
                await asyncio.wait_for(asyncio.shield(transport.wait_disconnected()), timeout)
            except asyncio.TimeoutError:
                transport.disconnect(False)
            except Exception:
                pass
        if not self._task.done():
            self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        except Exception:
            pass

    async def wait_stopped(self) -> None:
        """Wait until the client stops (stop() or a fatal connect error,
        which is raised here)."""
        await asyncio.shield(self._task)

    async def __aenter__(self) -> "WSReconnectingClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    # -- the loop ----------------------------------------------------------------

    async def _sleep(self, delay: float) -> None:
        try:
            await asyncio.wait_for(self._stop_event.wait(), delay)
        except asyncio.TimeoutError:
            pass

    async def _run(self) -> None:
        delays: Optional[Iterator[float]] = None
        while not self._stopping:
            connecting = self._loop.create_task(
                ws_connect(self._listener_factory, self._url, **self._kwargs))
            try:
                transport, listener = await asyncio.shield(connecting)
            except asyncio.CancelledError:
                _discard(connecting)
                raise
            except Exception as exc:
                self.last_error = exc
                if not self._is_retryable(exc):
                    self._logger.error("connecting to %s failed, giving up: %r",
                                       self._shown_url, exc)
                    raise
                if delays is None:
                    delays = self._reconnect_delays()
                delay = next(delays)
                self._logger.info("connecting to %s failed (%r); retrying in %.2fs",
                                  self._shown_url, exc, delay)
                await self._sleep(delay)
                continue
            if self._stopping:
                _discard(connecting)
                break
            self.connect_count += 1
            self.transport, self.listener = transport, listener
            started = time.monotonic()
            self._connected_event.set()
            if self._on_connected is not None:
                await _maybe_await(self._on_connected, transport, listener)
            try:
                await transport.wait_disconnected()
            except Exception as exc:
                self._logger.info("connection to %s failed: %r", self._shown_url, exc)
            self._connected_event.clear()
            if self._on_disconnected is not None:
                await _maybe_await(self._on_disconnected, transport, listener)
            if self._stopping:
                break
            handshake = transport.close_handshake
            received = handshake.recv if handshake is not None else None
            code = 1006 if received is None else int(received.code)
            uptime = time.monotonic() - started
            if code in self._reconnect_close_codes or uptime < self._stable_after:
                if delays is None or uptime >= self._stable_after:
                    delays = self._reconnect_delays()
                delay = next(delays)
                self._logger.info("connection to %s closed (code %d); reconnecting in %.2fs",
                                  self._shown_url, code, delay)
                await self._sleep(delay)
            else:
                delays = None
                self._logger.info("connection to %s closed (code %d); reconnecting",
                                  self._shown_url, code)


def _discard(connecting: "asyncio.Task") -> None:
    """Drop a connection attempt: cancel it, or close what it opened."""
    if not connecting.done():
        connecting.cancel()             # the core aborts a half-open connection
    elif not connecting.cancelled() and connecting.exception() is None:
        transport, _ = connecting.result()
        transport.send_close(WSCloseCode.OK)
        transport.disconnect()


async def _maybe_await(fn: Callable, *args: Any) -> None:
    try:
        result = fn(*args)
        if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
            await result
    except Exception:
        _log.exception("exception in a reconnect callback")


def ws_connect_forever(listener_factory: Callable, url: str, **kwargs: Any) -> WSReconnectingClient:
    """Keep a connection to `url` up until stopped; see WSReconnectingClient.

    Keywords: ``retry_policy`` (a RetryPolicy, default DEFAULT_RETRY_POLICY,
    shared with the websockets layer), or one part of it:
    ``reconnect_delays`` (a generator factory), ``reconnect_close_codes``
    (closes that back off before reconnecting, default 1001/1006/1011-1014),
    ``is_retryable(exc)`` (connect errors worth retrying), ``stable_after`` (seconds; a connection that ends
    sooner also backs off), ``on_connected(transport, listener)`` and
    ``on_disconnected(transport, listener)`` (plain or async callables; on_connected
    runs after the listener's own on_ws_connected, and frames may already
    have reached the listener), 
    ``logger``; everything else goes to ws_connect().  Must be called with
    a running event loop; returns at once, connecting in the background.
    """
    return WSReconnectingClient(listener_factory, url, **kwargs)
