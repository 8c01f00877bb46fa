"""Echo benchmark of websockets' legacy API: picows_like.websockets.legacy vs
websockets.legacy (and the raw floor).

    python benchmarks/legacy_echo.py --quick               # ~1 minute
    python benchmarks/legacy_echo.py --same-cpu            # both ends on one CPU
    python benchmarks/legacy_echo.py --instructions        # callgrind, per round trip

The method is websockets_layer.py's (persistent server and client processes,
interleaved windows in shuffled order, paired ratios with ~95% intervals;
``--instructions`` counts CPU instructions per round trip with client and
server in one process); only the contenders differ: ``picows_like`` is
``picows_like.websockets.legacy`` and ``websockets`` is ``websockets.legacy``
(``serve(handler, host, port)`` / ``connect(uri)`` on both ends, handler
``async for msg in ws: await ws.send(msg)``, compression=None,
ping_interval=None, 16 MiB max_size).  Results go to
benchmarks/results/legacy_echo-*.md / .json.
"""
import os
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import websockets_layer as wl  # noqa: E402


def layer(impl: str):
    """(connect, serve) of a contender's legacy API."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if impl == "picows_like":
            root = os.environ.get("PICOWS_LIKE_ROOT", str(wl.REPO_ROOT))
            if root not in sys.path:
                sys.path.insert(0, root)
            from picows_like.websockets.legacy.client import connect
            from picows_like.websockets.legacy.server import serve
        elif impl == "websockets":
            from websockets.legacy.client import connect
            from websockets.legacy.server import serve
        else:
            raise ValueError(impl)
    return connect, serve


# Children are started as `python <wl.__file__> --role ...`: make them run
# this script, with the legacy contenders.
wl.layer = layer
wl.IMPLS = ("picows_like", "websockets", "raw")
wl.__file__ = __file__


def main() -> int:
    started = time.time()
    code = wl.main()
    if "--role" in sys.argv:
        return code
    # websockets_layer names its result files and title after itself.
    for path in (HERE / "results").glob("websockets_layer-*"):
        if path.stat().st_mtime >= started - 1:
            text = path.read_text().replace(
                "websockets-layer echo", "legacy API echo (picows_like.websockets.legacy vs "
                "websockets.legacy)").replace("picows_like.websockets |",
                                              "picows_like.websockets.legacy |").replace(
                "| websockets |", "| websockets.legacy |")
            path.with_name(path.name.replace("websockets_layer", "legacy_echo")).write_text(text)
            path.unlink()
    return code


if __name__ == "__main__":
    sys.exit(main())
