"""websockets' ``websockets.extensions``: the permessage-deflate factories
(:mod:`.permessage_deflate`), mapped onto picows_like's engine deflate."""
from .permessage_deflate import (ClientPerMessageDeflateFactory,
                                 ServerPerMessageDeflateFactory)

__all__ = ["ClientPerMessageDeflateFactory", "ServerPerMessageDeflateFactory"]
