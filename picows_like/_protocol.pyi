import asyncio
from typing import Any

from ._listener import WSListener
from ._transport import WSTransport

class WSProtocolCore:
    @property
    def transport(self) -> WSTransport: ...
    @property
    def listener(self) -> WSListener: ...
    def __init__(self, is_client: bool, listener_factory: Any, loop: Any, logger: Any,
                 **options: Any) -> None: ...

class WSProtocol(WSProtocolCore, asyncio.BufferedProtocol): ...
