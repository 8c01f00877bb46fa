"""pytest plugin: run picows' own test suite against picows_like.

Loaded by run_picows_suite.py (``-p picows_shim``) before picows' tests are
imported.  It does four things:

* ``import picows`` and every ``picows.<sub>`` import resolve to picows_like
  through an import hook (the installed picows is never imported);
* a test that touches a picows internal (a private name, or a module of
  picows' implementation that has no counterpart here) is reported as
  skipped with the reason "picows internal: <name>" (see PicowsInternal);
* tests listed in run_picows_suite.DEVIATIONS run with their opt-in keywords
  added to every ws_connect/ws_create_server call, so that the rest of the
  test still counts;
* every test gets a safety-net timeout, and the outcome of each test is written
  as JSON to $PICOWS_COMPAT_REPORT for the runner's table.
"""

import asyncio
import functools
import importlib
import importlib.abc
import importlib.machinery
import inspect
import json
import os
import socket
import sys
import types

import pytest

import run_picows_suite as _runner

TEST_TIMEOUT = float(os.environ.get("PICOWS_COMPAT_TEST_TIMEOUT", "30"))

# picows module -> picows_like module.  "picows.websockets.<rest>" maps to
# "picows_like.websockets.<rest>" (see _target_name).
_MODULE_MAP = {
    "picows": "picows_like",
    "picows.picows": "picows_like",       # picows' Cython module holds its whole public API
    "picows.api": "picows_like.client",   # ws_connect / ws_create_server
    "picows.url": "picows_like.url",
    "picows.proxy": "picows_like.proxy",
}


# The modules of picows 2.3.1 (its sdist).  Any other picows.<x> does not exist.
_PICOWS_MODULES = {
    "picows", "picows.api", "picows.common", "picows.picows", "picows.proxy", "picows.url",
    "picows.version", "picows.websockets", "picows.websockets.asyncio",
    "picows.websockets.asyncio.client", "picows.websockets.asyncio.connection",
    "picows.websockets.asyncio.negotiation", "picows.websockets.asyncio.router",
    "picows.websockets.asyncio.server", "picows.websockets.asyncio.utils",
    "picows.websockets.compat", "picows.websockets.exceptions", "picows.websockets.protocol",
    "picows.websockets.typing",
}

# picows' public API outside picows.websockets: its __all__ (plus what picows_like also
# has under the same module).  Other names of picows.picows/api/proxy/... are internals.
_PICOWS_ALL = {
    "WSError", "WSHandshakeError", "WSInvalidMessageError", "WSInvalidStatusError",
    "WSInvalidHeaderError", "WSInvalidUpgradeError", "WSProtocolError", "WSUpgradeRequest",
    "WSUpgradeResponse", "WSUpgradeResponseWithListener", "PICOWS_DEBUG_LL", "WSInvalidURL",
    "WSParsedURL", "WSMsgType", "WSCloseCode", "WSAutoPingStrategy", "WSFrame", "WSTransport",
    "WSListener", "ws_connect", "ws_create_server",
}


class PicowsInternal(Exception):
    """A test used a name that is an implementation detail of picows."""


class _MissingName:
    """A public name picows has and picows_like lacks: any use fails the test."""

    __slots__ = ("_qualname",)

    def __init__(self, qualname):
        object.__setattr__(self, "_qualname", qualname)

    def _fail(self, *args, **kwargs):
        raise AttributeError(f"missing public name {object.__getattribute__(self, '_qualname')}")

    __call__ = __iter__ = __enter__ = __len__ = __bool__ = _fail

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        self._fail()


class _InternalName:
    """Stands for a picows internal: any use raises PicowsInternal."""

    __slots__ = ("_qualname",)

    def __init__(self, qualname):
        object.__setattr__(self, "_qualname", qualname)

    def _fail(self, *args, **kwargs):
        raise PicowsInternal(object.__getattribute__(self, "_qualname"))

    __call__ = __iter__ = __enter__ = __len__ = __bool__ = __index__ = __int__ = _fail

    def __getattr__(self, name):
        if name.startswith("__"):   # introspection (typing, hasattr, copy, ...)
            raise AttributeError(name)
        self._fail()

    def _derived(self, *args):
        # Arithmetic at import time (e.g. in a parametrize list) stays lazy: the
        # test using the result is reported as private when it is set up.
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _derived
    __floordiv__ = __rfloordiv__ = __truediv__ = __rtruediv__ = __neg__ = _derived

    def __repr__(self):
        return f"<picows internal {object.__getattribute__(self, '_qualname')}>"


def _is_private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _target_name(fullname):
    if fullname in _MODULE_MAP:
        return _MODULE_MAP[fullname]
    if fullname == "picows.websockets" or fullname.startswith("picows.websockets."):
        if os.environ.get("PICOWS_COMPAT_WEBSOCKETS") == "websockets":
            # Reference run: picows' websockets layer replaced by websockets itself.
            return fullname[len("picows."):]
        return "picows_like" + fullname[len("picows"):]
    return None


# Opt-in keywords of the running test (from DEVIATIONS); read by the wrappers.
_active_opt_in = {}


def _with_opt_in(fn):
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def wrapper(*args, **kwargs):
            return await fn(*args, **{**_active_opt_in, **kwargs})
    else:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return fn(*args, **{**_active_opt_in, **kwargs})
    return wrapper


class _ProxyModule(types.ModuleType):
    """picows.<x> as seen by the tests: attributes come live from picows_like."""

    def __init__(self, name, target):
        super().__init__(name)
        object.__setattr__(self, "_shim_target", target)
        if target is not None:
            self.__doc__ = target.__doc__
            for fname in ("ws_connect", "ws_create_server"):
                if callable(getattr(target, fname, None)):
                    self.__dict__[fname] = _with_opt_in(getattr(target, fname))

    def __getattr__(self, name):
        target = object.__getattribute__(self, "_shim_target")
        if f"{self.__name__}.{name}" in _PICOWS_MODULES:
            # `from picows import websockets`: the shim's picows.websockets.
            return importlib.import_module(f"{self.__name__}.{name}")
        if target is not None:
            try:
                value = getattr(target, name)
            except AttributeError:
                # picows.websockets mirrors websockets' public API: a public name missing
                # there is ours to add; elsewhere only picows.__all__ is public.
                mirrors_websockets = self.__name__.startswith("picows.websockets")
                if not _is_private(name) and (mirrors_websockets or name in _PICOWS_ALL):
                    # Fails the tests that use it, not the whole file at import.
                    return _MissingName(f"{self.__name__}.{name} ({target.__name__}.{name})")
            else:
                return value
        elif name.startswith("__"):
            raise AttributeError(name)
        # A private name, or any name of a picows module we do not have.
        return _InternalName(f"{self.__name__}.{name}")

    def __dir__(self):
        target = object.__getattribute__(self, "_shim_target")
        return sorted(set(self.__dict__) | set(dir(target) if target is not None else ()))


class _PicowsFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _PICOWS_MODULES:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec):
        target_name = _target_name(spec.name)
        target = None
        if target_name is not None:
            try:
                target = importlib.import_module(target_name)
            except ModuleNotFoundError as exc:
                if exc.name != target_name:
                    raise
        # target None: a module of picows' implementation (e.g. picows.websockets.asyncio.utils);
        # each of its names is an internal.
        module = _ProxyModule(spec.name, target)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def install():
    for name in [n for n in sys.modules if n == "picows" or n.startswith("picows.")]:
        del sys.modules[name]
    sys.meta_path.insert(0, _PicowsFinder())


install()


# ---------------------------------------------------------------- per-test behaviour

def _short_id(nodeid):
    """'tests/test_basics.py::test_echo[...]' -> 'test_basics.py::test_echo'."""
    return nodeid.split("/")[-1].split("[")[0]


def _with_timeout(fn):
    @functools.wraps(fn)
    async def wrapper(*args, **kwargs):
        try:
            return await asyncio.wait_for(fn(*args, **kwargs), TEST_TIMEOUT)
        except asyncio.TimeoutError as exc:
            raise AssertionError(f"test did not finish within {TEST_TIMEOUT} s (safety net)") from exc
    return wrapper


def pytest_collection_modifyitems(config, items):
    for item in items:
        fn = getattr(item, "obj", None)
        if fn is not None and inspect.iscoroutinefunction(fn):
            item.obj = _with_timeout(fn)


_network = None


def _has_network():
    global _network
    if _network is None:
        try:
            socket.getaddrinfo(_runner.NETWORK_HOST, 443)
            _network = True
        except OSError:
            _network = False
    return _network


def pytest_runtest_setup(item):
    if _runner.find_listed(_runner.NEEDS_NETWORK, item.nodeid) and not _has_network():
        pytest.skip(f"needs the internet ({_runner.NETWORK_HOST} does not resolve)")
    callspec = getattr(item, "callspec", None)
    for value in (callspec.params.values() if callspec is not None else ()):
        if isinstance(value, _InternalName):
            value._fail()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    deviation = _runner.find_listed(_runner.DEVIATIONS, item.nodeid)
    _active_opt_in.clear()
    if deviation is not None:
        _active_opt_in.update(deviation.opt_in)
    try:
        yield
    finally:
        _active_opt_in.clear()


def _internal_name(excinfo):
    """The picows internal behind an exception, or None."""
    exc = excinfo.value
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, PicowsInternal):
            return str(exc)
        if isinstance(exc, AttributeError):
            name = getattr(exc, "name", None)
            if isinstance(name, str) and _is_private(name):
                obj = getattr(exc, "obj", None)
                return f"{type(obj).__name__}.{name}" if obj is not None else name
        exc = exc.__cause__
    return None


_results = {}   # nodeid -> [outcome, detail]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if call.excinfo is not None and rep.failed:
        name = _internal_name(call.excinfo)
        if name is not None:
            rep.outcome = "skipped"
            rep.longrepr = (str(item.path), item.location[1] or 0, f"picows internal: {name}")
            rep.user_properties.append(("compat", "private"))


def pytest_runtest_logreport(report):
    entry = _results.setdefault(report.nodeid, ["passed", ""])
    if entry[0] in ("failed", "private"):
        return
    if ("compat", "private") in report.user_properties:
        entry[:] = ["private", report.longrepr[2]]
    elif report.failed:
        entry[:] = ["failed", _failure_line(report)]
    elif report.skipped and report.when in ("setup", "call"):
        entry[:] = ["skipped", report.longrepr[2] if isinstance(report.longrepr, tuple) else ""]


def pytest_collectreport(report):
    if report.failed:
        text = str(report.longrepr)
        if "PicowsInternal" in text:   # a module that uses an internal at import time
            _results[report.nodeid] = ["private", _failure_line(report)]
        else:
            _results[report.nodeid] = ["failed", _failure_line(report)]


def _failure_line(report):
    text = str(report.longrepr) if report.longrepr is not None else ""
    lines = [ln for ln in text.splitlines() if ln.startswith("E ")]
    return (lines[-1] if lines else text.splitlines()[-1] if text else "")[2:200].strip()


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("PICOWS_COMPAT_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump(_results, f, indent=0)
