"""permessage-deflate (RFC 7692): parameters and their negotiation.

The compression itself is in picows_like/_deflate.pyx (zlib's C API).  This
module only turns `Sec-WebSocket-Extensions` offers and answers into a
negotiated `WSPerMessageDeflate`, on either side, and says why it refuses.
"""
import re
from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Tuple, Union


NAME = "permessage-deflate"
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_QUOTED_PAIR = re.compile(r"\\(.)")     # RFC 9110 quoted-pair in a quoted-string
_PARAMS = ("server_no_context_takeover", "client_no_context_takeover",
           "server_max_window_bits", "client_max_window_bits")


class WSNegotiationError(ValueError):
    """An extension offer or answer that cannot be accepted."""


@dataclass(frozen=True)
class WSPerMessageDeflate:
    """permessage-deflate settings: what to offer (client), what to accept
    (server), and, on `WSTransport.compression`, what was negotiated.

    Window bits are 8..15.  `client_max_window_bits=None` in a client offer
    still sends the bare parameter, telling the server it may limit our
    window.  `min_size`: messages shorter than this are sent uncompressed
    (deflate framing costs more than it saves on tiny payloads).  `level`
    defaults to 1 (zlib's fastest): on market-data JSON it compresses 3-4x
    faster than level 6 for ~20% more bytes (benchmarks/compression.py);
    raise it when bandwidth matters more than latency.
    """
    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: Optional[int] = None
    client_max_window_bits: Optional[int] = None
    level: int = 1
    mem_level: int = 8
    min_size: int = 64

    def __post_init__(self) -> None:
        for name in ("server_max_window_bits", "client_max_window_bits"):
            bits = getattr(self, name)
            if bits is not None and not (isinstance(bits, int) and 8 <= bits <= 15):
                raise ValueError(f"{name} must be in 8..15 or None, got {bits!r}")
        if not -1 <= self.level <= 9:
            raise ValueError("level must be in -1..9")
        if not 1 <= self.mem_level <= 9:
            raise ValueError("mem_level must be in 1..9")
        if self.min_size < 0:
            raise ValueError("min_size must be >= 0")

    # -- helpers for the transport ------------------------------------------

    def send_window_bits(self, is_client: bool) -> int:
        bits = self.client_max_window_bits if is_client else self.server_max_window_bits
        return 15 if bits is None else bits

    def send_resets(self, is_client: bool) -> bool:
        return self.client_no_context_takeover if is_client else self.server_no_context_takeover

    def recv_resets(self, is_client: bool) -> bool:
        return self.server_no_context_takeover if is_client else self.client_no_context_takeover

    # -- client side --------------------------------------------------------

    def offer(self) -> str:
        """The client's Sec-WebSocket-Extensions value."""
        parts = [NAME]
        if self.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        if self.client_no_context_takeover:
            parts.append("client_no_context_takeover")
        if self.server_max_window_bits is not None:
            parts.append(f"server_max_window_bits={self.server_max_window_bits}")
        if self.client_max_window_bits is None:
            parts.append("client_max_window_bits")
        else:
            parts.append(f"client_max_window_bits={self.client_max_window_bits}")
        return "; ".join(parts)

    def accept_response(self, header_values: List[str]) -> "WSPerMessageDeflate":
        """Check the server's answer to our offer; the negotiated settings."""
        extensions = parse_extensions(header_values)
        if len(extensions) != 1 or extensions[0][0] != NAME:
            raise WSNegotiationError(
                f"server accepted extensions we did not offer: {', '.join(header_values)}")
        params = _check_params(extensions[0][1])
        server_bits = params.get("server_max_window_bits")
        if server_bits is True:
            raise WSNegotiationError("server_max_window_bits needs a value in a response")
        if self.server_no_context_takeover and "server_no_context_takeover" not in params:
            raise WSNegotiationError("server ignored our server_no_context_takeover")
        if self.server_max_window_bits is not None and (
                server_bits is None or server_bits > self.server_max_window_bits):
            raise WSNegotiationError("server ignored our server_max_window_bits")
        client_bits = params.get("client_max_window_bits")
        if client_bits is True:
            raise WSNegotiationError("client_max_window_bits needs a value in a response")
        if client_bits is not None and self.client_max_window_bits is not None \
                and client_bits > self.client_max_window_bits:
            raise WSNegotiationError("server raised our client_max_window_bits")
        return replace(
            self,
            server_no_context_takeover="server_no_context_takeover" in params,
            client_no_context_takeover=self.client_no_context_takeover
            or "client_no_context_takeover" in params,
            server_max_window_bits=server_bits,
            client_max_window_bits=client_bits if client_bits is not None
            else self.client_max_window_bits)

    # -- server side --------------------------------------------------------

    def accept_offers(self, header_values: List[str]) -> Optional[Tuple["WSPerMessageDeflate", str]]:
        """Pick the first acceptable permessage-deflate offer; return the
        negotiated settings and the response header value, or None."""
        for name, raw in parse_extensions(header_values):
            if name != NAME:
                continue
            try:
                return self._accept_offer(_check_params(raw))
            except WSNegotiationError:
                continue                # RFC 7692 5: decline, try the next offer
        return None

    def _accept_offer(self, params: Dict[str, Union[bool, int]]) -> Tuple["WSPerMessageDeflate", str]:
        server_nct = self.server_no_context_takeover or "server_no_context_takeover" in params
        client_nct = self.client_no_context_takeover or "client_no_context_takeover" in params
        offered_server = params.get("server_max_window_bits")
        if offered_server is True:
            raise WSNegotiationError("server_max_window_bits needs a value in an offer")
        server_bits = offered_server
        if self.server_max_window_bits is not None:
            server_bits = min(self.server_max_window_bits, server_bits or 15)
        offered_client = params.get("client_max_window_bits")
        client_bits: Optional[int] = None
        if self.client_max_window_bits is not None:
            if offered_client is None:
                raise WSNegotiationError("client cannot limit its window")
            client_bits = self.client_max_window_bits if offered_client is True \
                else min(self.client_max_window_bits, offered_client)
        elif isinstance(offered_client, int) and offered_client is not True:
            client_bits = offered_client
        agreed = replace(self, server_no_context_takeover=server_nct,
                         client_no_context_takeover=client_nct,
                         server_max_window_bits=server_bits,
                         client_max_window_bits=client_bits)
        parts = [NAME]
        if server_nct:
            parts.append("server_no_context_takeover")
        if client_nct:
            parts.append("client_no_context_takeover")
        if server_bits is not None:
            parts.append(f"server_max_window_bits={server_bits}")
        if client_bits is not None:
            parts.append(f"client_max_window_bits={client_bits}")
        return agreed, "; ".join(parts)


def resolve(compression: Union[None, str, WSPerMessageDeflate]) -> Optional[WSPerMessageDeflate]:
    """The `compression` keyword: None, "deflate" or a WSPerMessageDeflate."""
    if compression is None:
        return None
    if compression == "deflate":
        return WSPerMessageDeflate()
    if isinstance(compression, WSPerMessageDeflate):
        return compression
    raise ValueError(f"compression must be None, 'deflate' or WSPerMessageDeflate, "
                     f"got {compression!r}")


def parse_extensions(header_values: List[str]) -> List[Tuple[str, List[Tuple[str, Optional[str]]]]]:
    """Parse Sec-WebSocket-Extensions values (RFC 6455 9.1) into
    [(name, [(param, value or None), ...]), ...]; WSNegotiationError when malformed."""
    result = []
    for header in header_values:
        for item in header.split(","):
            if not item.strip():
                continue
            name, *params = [p.strip() for p in item.split(";")]
            if not name or not _TOKEN.issuperset(name):
                raise WSNegotiationError(f"malformed extension {item.strip()!r}")
            parsed = []
            for param in params:
                key, sep, value = param.partition("=")
                key, value = key.strip(), value.strip()
                if len(value) >= 2 and value[0] == value[-1] == '"':
                    value = _QUOTED_PAIR.sub(r"\1", value[1:-1])     # "\1\0" is 10
                if not key or not _TOKEN.issuperset(key) or (sep and
                                                             (not value or not _TOKEN.issuperset(value))):
                    raise WSNegotiationError(f"malformed extension parameter {param!r}")
                parsed.append((key, value if sep else None))
            result.append((name, parsed))
    return result


def _check_params(params: List[Tuple[str, Optional[str]]]) -> Dict[str, Union[bool, int]]:
    """permessage-deflate parameters: known names, no repeats, valid values.
    Window bits without a value map to True."""
    out: Dict[str, Union[bool, int]] = {}
    for key, value in params:
        if key not in _PARAMS:
            raise WSNegotiationError(f"unknown permessage-deflate parameter {key!r}")
        if key in out:
            raise WSNegotiationError(f"repeated permessage-deflate parameter {key!r}")
        if key.endswith("_no_context_takeover"):
            if value is not None:
                raise WSNegotiationError(f"{key} takes no value")
            out[key] = True
        elif value is None:
            out[key] = True
        else:
            if not value.isdigit() or not 8 <= int(value) <= 15 or value != str(int(value)):
                raise WSNegotiationError(f"{key} must be 8..15, got {value!r}")
            out[key] = int(value)
    return out

