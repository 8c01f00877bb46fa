"""Every example runs (so the examples never rot).

Each file in examples/ is run as a program, against its own local server,
and must exit with status 0 within a time bound.  Examples that another
test already runs with more specific checks are listed in RUN_ELSEWHERE;
any new example is picked up automatically (give it a quick mode in
ARGS if its default run is long).  Plain synchronous tests: each example
starts its own event loop, so they are not repeated per loop policy.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = REPO_ROOT / "examples"

# Run by other tests (with checks of their output).
RUN_ELSEWHERE = {
    "tls_echo.py": "tests/test_redirects_proxies_routing.py::test_example_tls_echo",
    "proxy_client.py": "tests/test_redirects_proxies_routing.py::test_example_proxy_client",
    "routing_server.py": "tests/test_redirects_proxies_routing.py::test_example_routing_server",
    "json_heartbeat_client.py": "tests/test_liveness.py",
    "send_reuse_external_bytearray.py": "tests/test_cython_api.py",
}

# Quick-mode arguments and what the output must contain.
ARGS = {
    "echo_demo.py": ["--seconds", "1"],
    "multi_worker_server.py": ["--seconds", "0.3", "--clients", "8", "--work-us", "0", "50"],
    "broadcast_server.py": ["--clients", "10", "--updates", "500"],
    "roundtrip_time.py": ["--rounds", "50"],
}
EXPECT = {
    "echo_demo.py": "summary:",
    "multi_worker_server.py": "2 workers / 1 worker",
    "graceful_shutdown.py": "GOING_AWAY",
    "fragmented_messages.py": "done",
    "broadcast_server.py": "done",
    "roundtrip_time.py": "done",
    "backpressure.py": "done",
    "subprotocols.py": "done",
    "sansio_client.py": "closed cleanly",
    "trio_server.py": "refused with 404",
    "trio_feed_client.py": "60 ticks in order",
}
TIMEOUT = 30


def _examples():
    return sorted(p.name for p in EXAMPLES.glob("*.py") if p.name not in RUN_ELSEWHERE)


def test_every_example_is_run_somewhere():
    names = {p.name for p in EXAMPLES.glob("*.py")}
    assert set(RUN_ELSEWHERE) <= names, set(RUN_ELSEWHERE) - names
    for name, where in RUN_ELSEWHERE.items():
        test_file = REPO_ROOT / where.split("::")[0]
        assert name in test_file.read_text(), f"{where} no longer runs {name}"


@pytest.mark.parametrize("name", _examples())
def test_example_runs(name):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + [
        p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *ARGS.get(name, [])],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    if name in EXPECT:
        assert EXPECT[name] in proc.stdout, proc.stdout
