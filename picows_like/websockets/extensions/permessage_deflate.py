"""websockets' permessage-deflate extension factories on picows_like's engine.

``ClientPerMessageDeflateFactory`` / ``ServerPerMessageDeflateFactory`` take
websockets' arguments and stand for one
:class:`picows_like.extensions.permessage_deflate.WSPerMessageDeflate`
(``to_core()``), whose zlib streams the engine runs in C.  They are accepted
by ``extensions=`` of the legacy API (``picows_like.websockets.legacy``), of
the asyncio API and of the sans-I/O ``ClientProtocol`` / ``ServerProtocol``
(they offer ``offer()``, ``accept_response()`` and ``accept_offers()`` as
``WSPerMessageDeflate`` does).

``compress_settings`` maps ``level`` and ``memLevel`` to zlib's settings;
``wbits`` is refused (ValueError) as in websockets: the window comes from the
negotiation.  Not supported: ``require_client_max_window_bits=True`` and other
extension classes (NotImplementedError naming them).
"""
from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union

from ...extensions.permessage_deflate import WSPerMessageDeflate

__all__ = ["ClientPerMessageDeflateFactory", "ServerPerMessageDeflateFactory",
           "enable_client_permessage_deflate", "enable_server_permessage_deflate",
           "core_deflate", "PerMessageDeflate"]


def _zlib_settings(compress_settings: Optional[Mapping[str, Any]]) -> dict:
    settings = dict(compress_settings or {})
    if "wbits" in settings:
        raise ValueError("compress_settings must not include wbits, "
                         "set client_max_window_bits instead")
    unknown = set(settings) - {"level", "memLevel"}
    if unknown:
        raise NotImplementedError(
            f"picows_like does not support compress_settings {sorted(unknown)} "
            f"(only level and memLevel)")
    out = {}
    if "level" in settings:
        out["level"] = settings["level"]
    if "memLevel" in settings:
        out["mem_level"] = settings["memLevel"]
    return out


def _bits(value: Any, name: str) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 8 <= value <= 15:
        raise ValueError(f"{name} must be in 8..15 or None, got {value!r}")
    return value


class _Factory:
    name = "permessage-deflate"
    _core: WSPerMessageDeflate

    def to_core(self) -> WSPerMessageDeflate:
        """The engine's settings this factory stands for."""
        return self._core

    # The WSPerMessageDeflate interface, for the sans-I/O protocols.
    def offer(self) -> str:
        return self._core.offer()

    def accept_response(self, header_values: List[str]) -> WSPerMessageDeflate:
        return self._core.accept_response(header_values)

    def accept_offers(self, header_values: List[str]
                      ) -> Optional[Tuple[WSPerMessageDeflate, str]]:
        return self._core.accept_offers(header_values)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._core!r})"


class ClientPerMessageDeflateFactory(_Factory):
    """Client-side permessage-deflate offer, as in websockets.

    ``client_max_window_bits=True`` (the default) sends the bare parameter
    (the server may limit our window); an int asks for that window.
    """

    def __init__(self, server_no_context_takeover: bool = False,
                 client_no_context_takeover: bool = False,
                 server_max_window_bits: Optional[int] = None,
                 client_max_window_bits: Union[int, bool, None] = True,
                 compress_settings: Optional[Mapping[str, Any]] = None) -> None:
        if client_max_window_bits is True or client_max_window_bits is None:
            client_bits = None
        else:
            client_bits = _bits(client_max_window_bits, "client_max_window_bits")
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_settings = compress_settings
        self._core = WSPerMessageDeflate(
            server_no_context_takeover=bool(server_no_context_takeover),
            client_no_context_takeover=bool(client_no_context_takeover),
            server_max_window_bits=_bits(server_max_window_bits, "server_max_window_bits"),
            client_max_window_bits=client_bits, **_zlib_settings(compress_settings))


class ServerPerMessageDeflateFactory(_Factory):
    """Server-side permessage-deflate acceptance, as in websockets."""

    def __init__(self, server_no_context_takeover: bool = False,
                 client_no_context_takeover: bool = False,
                 server_max_window_bits: Optional[int] = None,
                 client_max_window_bits: Optional[int] = None,
                 compress_settings: Optional[Mapping[str, Any]] = None,
                 require_client_max_window_bits: bool = False) -> None:
        if require_client_max_window_bits:
            raise NotImplementedError("picows_like does not support "
                                      "require_client_max_window_bits=True")
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_settings = compress_settings
        self.require_client_max_window_bits = require_client_max_window_bits
        self._core = WSPerMessageDeflate(
            server_no_context_takeover=bool(server_no_context_takeover),
            client_no_context_takeover=bool(client_no_context_takeover),
            server_max_window_bits=_bits(server_max_window_bits, "server_max_window_bits"),
            client_max_window_bits=_bits(client_max_window_bits, "client_max_window_bits"),
            **_zlib_settings(compress_settings))


class PerMessageDeflate:
    """What was agreed for one connection, as websockets' PerMessageDeflate
    describes it from this side ("local" = our sending direction).  The
    compression itself runs in the engine, so encode()/decode() are not
    offered."""
    name = "permessage-deflate"

    def __init__(self, remote_no_context_takeover: bool, local_no_context_takeover: bool,
                 remote_max_window_bits: int, local_max_window_bits: int) -> None:
        self.remote_no_context_takeover = remote_no_context_takeover
        self.local_no_context_takeover = local_no_context_takeover
        self.remote_max_window_bits = remote_max_window_bits
        self.local_max_window_bits = local_max_window_bits

    @classmethod
    def from_core(cls, agreed: WSPerMessageDeflate, is_client: bool) -> "PerMessageDeflate":
        return cls(remote_no_context_takeover=agreed.recv_resets(is_client),
                   local_no_context_takeover=agreed.send_resets(is_client),
                   remote_max_window_bits=agreed.send_window_bits(not is_client),
                   local_max_window_bits=agreed.send_window_bits(is_client))

    def encode(self, frame: Any) -> Any:
        raise NotImplementedError("PerMessageDeflate.encode: picows_like compresses in its engine")

    def decode(self, frame: Any, *, max_size: Optional[int] = None) -> Any:
        raise NotImplementedError("PerMessageDeflate.decode: picows_like inflates in its engine")

    def __repr__(self) -> str:
        return (f"PerMessageDeflate("
                f"remote_no_context_takeover={self.remote_no_context_takeover}, "
                f"local_no_context_takeover={self.local_no_context_takeover}, "
                f"remote_max_window_bits={self.remote_max_window_bits}, "
                f"local_max_window_bits={self.local_max_window_bits})")


def enable_client_permessage_deflate(extensions: Optional[Sequence[Any]]) -> List[Any]:
    """websockets' default client offer (memLevel 5), unless one is there."""
    extensions = list(extensions or [])
    if not any(getattr(e, "name", None) == "permessage-deflate" for e in extensions):
        extensions.append(ClientPerMessageDeflateFactory(
            compress_settings={"memLevel": 5}))
    return extensions


def enable_server_permessage_deflate(extensions: Optional[Sequence[Any]]) -> List[Any]:
    """websockets' default server settings (12-bit windows, memLevel 5)."""
    extensions = list(extensions or [])
    if not any(getattr(e, "name", None) == "permessage-deflate" for e in extensions):
        extensions.append(ServerPerMessageDeflateFactory(
            server_max_window_bits=12, client_max_window_bits=12,
            compress_settings={"memLevel": 5}))
    return extensions


def core_deflate(extensions: Optional[Sequence[Any]]) -> Optional[WSPerMessageDeflate]:
    """The engine's settings for an ``extensions=`` list: the first
    permessage-deflate factory's (or WSPerMessageDeflate); None for none.
    The engine runs permessage-deflate only: NotImplementedError for any
    other extension."""
    found = None
    for ext in extensions or ():
        if isinstance(ext, WSPerMessageDeflate):
            core = ext
        elif isinstance(ext, _Factory):
            core = ext.to_core()
        else:
            raise NotImplementedError(
                f"picows_like does not support the extension {ext!r} in extensions= "
                f"(only permessage-deflate: ClientPerMessageDeflateFactory / "
                f"ServerPerMessageDeflateFactory)")
        if found is None:
            found = core
    return found
