"""The per-connection options of ws_connect and ws_create_server: their
defaults (the one definition the signatures refer to), their checks, and the
logger resolution both share."""
import dataclasses
import logging
import sys
from typing import Any, Mapping, Optional, Sequence, Union

from ._enums import WSAutoPingStrategy
from .extensions.permessage_deflate import resolve as resolve_compression

WSLoggerLike = Optional[Union[str, logging.Logger, logging.LoggerAdapter]]

# The read buffer is allocated at this size up front for every connection;
# anything larger is a mistake, and near sys.maxsize the allocation size
# (plus the buffer's slack) would overflow.
MAX_READ_BUFFER_INIT_SIZE = 1 << 30
# Smaller requests are raised to this (as picows raises them to 2048): the
# buffer must hold at least a frame header and some payload.
MIN_READ_BUFFER_INIT_SIZE = 256


@dataclasses.dataclass(frozen=True)
class WSOptionDefaults:
    """Defaults of the options every connection takes (picows' values).
    ws_connect's and ws_create_server's signatures take their defaults from
    CLIENT_DEFAULTS / SERVER_DEFAULTS; they differ only where picows' do."""
    disconnect_on_exception: bool = True
    websocket_handshake_timeout: Optional[float] = 5
    enable_auto_ping: bool = False
    auto_ping_idle_timeout: float = 10
    auto_ping_reply_timeout: float = 10
    auto_ping_strategy: WSAutoPingStrategy = WSAutoPingStrategy.PING_WHEN_IDLE
    enable_auto_pong: bool = True
    max_frame_size: int = 10 * 1024 * 1024
    read_buffer_init_size: int = 16 * 1024
    close_timeout: Optional[float] = 5.0
    accept_rsv_bits: bool = False
    validate_utf8: bool = False
    compression: Any = None
    subprotocols: Optional[Sequence[str]] = None


CLIENT_DEFAULTS = WSOptionDefaults()
# A server pings less eagerly (picows: 20 s instead of 10 s).
SERVER_DEFAULTS = WSOptionDefaults(auto_ping_idle_timeout=20, auto_ping_reply_timeout=20)
# The keyword arguments protocol_options() takes, in one list.
OPTION_NAMES = tuple(f.name for f in dataclasses.fields(WSOptionDefaults))


def options_from(arguments: Mapping[str, Any]) -> dict:
    """protocol_options() applied to the option arguments found in
    `arguments` (a caller's ``locals()``), so the option list is written
    once instead of in every caller."""
    return protocol_options(**{name: arguments[name] for name in OPTION_NAMES})


def resolve_logger(logger_name: WSLoggerLike, default_suffix: str) -> Any:
    """`picows_like.<name>` for a str (default suffix for None); a logger-like
    object is used as it is."""
    if logger_name is None:
        return logging.getLogger(f"picows_like.{default_suffix}")
    if isinstance(logger_name, str):
        return logging.getLogger(f"picows_like.{logger_name}")
    return logger_name


def protocol_options(*, disconnect_on_exception: bool, websocket_handshake_timeout: Optional[float],
                     enable_auto_ping: bool, auto_ping_idle_timeout: float,
                     auto_ping_reply_timeout: float, auto_ping_strategy: Any,
                     enable_auto_pong: bool, max_frame_size: int, read_buffer_init_size: int,
                     close_timeout: Optional[float], accept_rsv_bits: bool,
                     validate_utf8: bool = False, compression: Any = None,
                     subprotocols: Optional[Sequence[str]] = None) -> dict:
    """Validate the per-connection options (ValueError up front, never an
    assert) and return them as WSProtocol keyword arguments."""
    if websocket_handshake_timeout is not None and \
            not websocket_handshake_timeout > 0:      # NaN too
        raise ValueError("websocket_handshake_timeout must be > 0 or None")
    if enable_auto_ping:
        if auto_ping_idle_timeout is None or not auto_ping_idle_timeout > 0:
            raise ValueError("auto_ping_idle_timeout must be > 0")
        if auto_ping_reply_timeout is None or not auto_ping_reply_timeout > 0:
            raise ValueError("auto_ping_reply_timeout must be > 0")
    if auto_ping_strategy not in (WSAutoPingStrategy.PING_WHEN_IDLE,
                                  WSAutoPingStrategy.PING_PERIODICALLY):
        raise ValueError(f"auto_ping_strategy must be a WSAutoPingStrategy, "
                         f"got {auto_ping_strategy!r}")
    strategy = WSAutoPingStrategy(auto_ping_strategy)
    if max_frame_size is None or max_frame_size <= 0:
        raise ValueError("max_frame_size must be > 0")
    if max_frame_size > sys.maxsize:
        raise ValueError("max_frame_size must be <= sys.maxsize (which means no limit)")
    if read_buffer_init_size is None or read_buffer_init_size <= 0:
        raise ValueError("read_buffer_init_size must be > 0")
    # Not an error below the minimum: picows raises small values silently too.
    read_buffer_init_size = max(read_buffer_init_size, MIN_READ_BUFFER_INIT_SIZE)
    if read_buffer_init_size > MAX_READ_BUFFER_INIT_SIZE:
        raise ValueError(f"read_buffer_init_size must be <= {MAX_READ_BUFFER_INIT_SIZE}")
    if close_timeout is not None and not close_timeout >= 0:
        raise ValueError("close_timeout must be >= 0 or None")
    if isinstance(subprotocols, str):
        raise TypeError("subprotocols must be a list of str, not a str")
    if subprotocols is not None:
        subprotocols = list(subprotocols)
        for p in subprotocols:
            if not isinstance(p, str) or not p or any(c in p for c in ' ,;"\t'):
                raise ValueError(f"invalid subprotocol {p!r}")
    return dict(
        compression=resolve_compression(compression),
        subprotocols=subprotocols or None,
        disconnect_on_exception=bool(disconnect_on_exception),
        websocket_handshake_timeout=websocket_handshake_timeout,
        enable_auto_ping=bool(enable_auto_ping),
        auto_ping_idle_timeout=float(auto_ping_idle_timeout),
        auto_ping_reply_timeout=float(auto_ping_reply_timeout),
        auto_ping_strategy=strategy,
        enable_auto_pong=bool(enable_auto_pong),
        max_frame_size=int(max_frame_size),
        read_buffer_init_size=int(read_buffer_init_size),
        close_timeout=-1.0 if close_timeout is None else float(close_timeout),
        accept_rsv_bits=bool(accept_rsv_bits),
        validate_utf8=bool(validate_utf8),
    )
