"""pytest plugin: run trio-websocket's own tests against picows_like.trio.

Loaded by run_trio_websocket_suite.py (``-p trio_websocket_shim``) before the
tests are imported:

* ``import trio_websocket`` and ``trio_websocket._impl`` resolve to
  picows_like.trio (the installed trio-websocket is never imported);
  ``_impl._TRIO_EXC_GROUP_TYPE``, which the tests import, is set on ours
  (``picows_like.trio._client`` stands for ``_impl``);
* every test gets a safety-net timeout (trio clock);
* the per-test outcome is written by pytest's --junitxml, read by the runner.
"""
import functools
import inspect
import os
import sys

import trio

import picows_like.trio as _ours
from picows_like.trio import _client as _ours_impl

TEST_TIMEOUT = float(os.environ.get("TRIO_COMPAT_TEST_TIMEOUT", "30"))

# trio_websocket._impl is our _client module: the tests patch its
# open_websocket and connect_websocket, which open_websocket_url and
# open_websocket look up there, as in trio-websocket's _impl.
_ours_impl._TRIO_EXC_GROUP_TYPE = BaseExceptionGroup  # type: ignore[attr-defined]  # noqa: F821
sys.modules["trio_websocket"] = _ours
sys.modules["trio_websocket._impl"] = _ours_impl


def _bounded(fn):
    @functools.wraps(fn)
    async def wrapper(*args, **kwargs):
        with trio.fail_after(TEST_TIMEOUT):
            return await fn(*args, **kwargs)
    return wrapper


def pytest_collection_modifyitems(config, items):
    for item in items:
        fn = getattr(item, "obj", None)
        if fn is not None and inspect.iscoroutinefunction(fn):
            item.obj = _bounded(fn)
