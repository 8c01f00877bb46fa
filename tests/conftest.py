"""pytest configuration for the picows_like test suite.

* ``PICOWS_LIKE_TEST_AGAINST_PICOWS=1`` makes ``import picows_like`` return the
  real ``picows`` package, so the suite can be validated against the reference
  implementation.  Tests marked ``stricter_than_picows`` are skipped in that
  mode (they check behaviour the reference does not implement).
  ``PICOWS_LIKE_RUN_STRICTER=1`` together with it runs those tests anyway, to
  see them fail against the reference.
* Every async test runs on both the default asyncio loop and on uvloop through
  a parametrized ``event_loop_policy`` fixture (ids "asyncio" / "uvloop");
  plain (sync) tests are kept once (their uvloop copy is deselected).
* Every async test is additionally bounded by a hard per-test timeout
  (``PICOWS_LIKE_TEST_TIMEOUT`` seconds, default 10) as a safety net; the tests
  themselves bound every await with much smaller timeouts.
* pytest's own settings (``testpaths``, ``asyncio_mode = "auto"``,
  ``asyncio_default_fixture_loop_scope``) are in pyproject.toml; "strict" mode
  works too, since async tests carry ``@pytest.mark.asyncio``.  pytest-asyncio
  >= 1.3 warns that overriding ``event_loop_policy`` is deprecated (it still
  works in 1.x); that warning is filtered below.
"""

import asyncio
import functools
import inspect
import os
import sys

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(TESTS_DIR)

# Make helpers.py importable as a plain module.
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

AGAINST_PICOWS = os.environ.get("PICOWS_LIKE_TEST_AGAINST_PICOWS") == "1"
# Set PICOWS_LIKE_RUN_STRICTER=1 together with the switch above to run (and
# see fail) the stricter_than_picows tests against the reference anyway.
RUN_STRICTER = os.environ.get("PICOWS_LIKE_RUN_STRICTER") == "1"

if AGAINST_PICOWS:
    import picows

    sys.modules["picows_like"] = picows
else:
    try:
        import picows_like  # noqa: F401
    except ImportError:
        # Running e.g. `pytest tests` without the repo root on sys.path.
        if REPO_ROOT not in sys.path:
            sys.path.insert(0, REPO_ROOT)

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a test requirement
    uvloop = None

PER_TEST_TIMEOUT = float(os.environ.get("PICOWS_LIKE_TEST_TIMEOUT", "10"))


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "stricter_than_picows: the test checks behaviour that the reference "
        "picows 2.3.1 does not implement; skipped when "
        "PICOWS_LIKE_TEST_AGAINST_PICOWS=1",
    )
    # We intentionally override event_loop_policy (requested design);
    # pytest-asyncio >= 1.3 flags that as deprecated.
    config.addinivalue_line(
        "filterwarnings",
        "ignore:Overriding the \"event_loop_policy\" fixture is deprecated"
        ":pytest.PytestDeprecationWarning",
    )


def _loop_policy_params():
    params = [pytest.param(asyncio.DefaultEventLoopPolicy(), id="asyncio")]
    if uvloop is not None:
        params.append(pytest.param(uvloop.EventLoopPolicy(), id="uvloop"))
    else:  # pragma: no cover
        params.append(pytest.param(None, id="uvloop",
                                   marks=pytest.mark.skip(reason="uvloop is not installed")))
    return params


@pytest.fixture(scope="session", params=_loop_policy_params())
def event_loop_policy(request):
    return request.param


def _with_timeout(fn):
    @functools.wraps(fn)
    async def wrapper(*args, **kwargs):
        if not hasattr(asyncio, "timeout"):  # Python < 3.11
            return await asyncio.wait_for(fn(*args, **kwargs), PER_TEST_TIMEOUT)
        cm = asyncio.timeout(PER_TEST_TIMEOUT)
        try:
            async with cm:
                return await fn(*args, **kwargs)
        except TimeoutError as exc:
            if cm.expired():
                raise AssertionError(
                    f"test did not finish within {PER_TEST_TIMEOUT} s (safety net)") from exc
            raise
    return wrapper


def pytest_collection_modifyitems(config, items):
    skip_stricter = pytest.mark.skip(
        reason="stricter than the reference picows (PICOWS_LIKE_TEST_AGAINST_PICOWS=1)")

    # event_loop_policy is an autouse fixture, so plain (sync) unit tests are
    # parametrized too; running them on both loops is pointless: keep one copy.
    keep, dropped = [], []
    for item in items:
        fn = getattr(item, "obj", None)
        callspec = getattr(item, "callspec", None)
        if (fn is not None and not inspect.iscoroutinefunction(fn) and callspec is not None
                and "[uvloop" in item.nodeid):
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep

    for item in items:
        if AGAINST_PICOWS and not RUN_STRICTER and item.get_closest_marker("stricter_than_picows"):
            item.add_marker(skip_stricter)
        fn = getattr(item, "obj", None)
        if fn is not None and inspect.iscoroutinefunction(fn):
            item.obj = _with_timeout(fn)
