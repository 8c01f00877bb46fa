#!/usr/bin/env python3
"""Run picows 2.3.1's own test suite against picows_like and print a table.

    python tests/compat/run_picows_suite.py [--python PY] [-- pytest args...]

* downloads the picows 2.3.1 sdist with pip (checked against its sha256) into
  build/compat-picows/ and extracts its tests/ there (nothing of it is committed);
* runs them with pytest under PY (default: this interpreter; it must have
  picows_like importable and pytest, pytest-asyncio, async-timeout, anyio,
  tiny-proxy, python-socks, aiofastnet, uvloop installed) with picows_shim.py,
  which makes ``import picows`` resolve to picows_like;
* prints passed / failed / private-skipped / deviation / other counts per test
  file, and exits 1 when a test fails that is not listed below.

Every variant of picows' parametrization (asyncio/uvloop, tcp/ssl, native/aiofastnet)
runs.  Categories:

passed, failed
skipped          skipped by picows' suite itself (platform, ...)
private          the test uses a picows internal (a private name, or a module of
                 picows' implementation): reported by the shim, not run to the end
deviation        listed in DEVIATIONS: picows breaks an RFC MUST or a security rule
                 there.  With an opt-in the test runs with it (so its other
                 assertions count) and must pass; without one its failure is expected.
pending          listed in PENDING: work done on another branch; a failure is expected
                 until that branch is merged.
websockets       a test of picows.websockets (picows' imitation of the websockets
                 library) that fails here and also fails when picows.websockets is the
                 websockets library itself: picows_like.websockets follows websockets.
                 Found mechanically: failed tests of that layer are run a second time
                 against websockets.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import namedtuple

PICOWS_VERSION = "2.3.1"
SDIST_NAME = f"picows-{PICOWS_VERSION}.tar.gz"
SDIST_SHA256 = "d850ef8d999691e221ccc644a3708771d3a14d45822bca7723223054b6022198"

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))

Listed = namedtuple("Listed", "match reason opt_in params", defaults=("",))

# The one list of where picows_like deliberately behaves unlike picows 2.3.1
# (docs/migration.rst repeats it for users).  match: "file.py::test_name" (all its
# parametrized cases) or "file.py" (the whole file).
DEVIATIONS = [
    Listed("test_basics.py::test_echo",
           "RFC 6455 5.2 / 5.4: RSV bits no negotiated extension defines, and a new data frame "
           "inside a fragmented message, MUST fail the connection; picows delivers them.  "
           "accept_rsv_bits=True (an extension of the application's is in effect) restores "
           "picows' behaviour for both.",
           {"accept_rsv_bits": True}),
    Listed("test_ws_logic.py::test_close_frame_invalid_utf8_reason_from_client",
           "RFC 6455 5.5.1: an endpoint that receives a CLOSE and has not sent one MUST send a "
           "CLOSE in response; picows_like sends it when the listener did not, so "
           "close_handshake.sent is set where picows leaves None.", {}),
    Listed("test_ws_logic.py::test_server_internal_error",
           "Security (CWE-209): the text of an exception raised by the listener factory is "
           "logged, not sent to the client; the 500 body is fixed (picows sends str(exc)).", {}),
]

# Tests that talk to a public server; skipped when it does not resolve.
NETWORK_HOST = "echo.websocket.org"
NEEDS_NETWORK = [
    Listed("test_redirects_and_proxies.py::test_proxy_dns_resolution",
           f"connects to wss://{NETWORK_HOST}", {}),
]

# Failures expected until work in progress lands (none now).
PENDING: list = []


def find_listed(table, nodeid):
    """The entry of `table` that covers a test: match is "file.py::test_name" (every
    parametrized case, or those whose id contains `params`) or "file.py"."""
    short = nodeid.split("/")[-1]
    name, _, ids = short.partition("[")
    for entry in table:
        if name == entry.match or name.split("::")[0] == entry.match:
            if not entry.params or entry.params in ids:
                return entry
    return None


# ---------------------------------------------------------------- sdist

def fetch_sdist(python, cache_dir, requirement=f"picows=={PICOWS_VERSION}", name=SDIST_NAME,
                sha256=SDIST_SHA256):
    """The sdist of `requirement` from the package index, cached in `cache_dir`
    and checked against its sha256 (the trio-websocket runner uses it too)."""
    path = os.path.join(cache_dir, name)
    if os.path.exists(path) and _sha256(path) == sha256:
        return path
    os.makedirs(cache_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        subprocess.run([python, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                        "--no-deps", "--no-binary", ":all:", requirement, "-d", tmp], check=True)
        got = os.path.join(tmp, name)
        digest = _sha256(got)
        if digest != sha256:
            sys.exit(f"{name}: sha256 {digest}, expected {sha256}")
        os.replace(got, path)
    return path
    os.makedirs(cache_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        subprocess.run([python, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                        "--no-deps", "--no-binary", "picows", f"picows=={PICOWS_VERSION}",
                        "-d", tmp], check=True)
        got = os.path.join(tmp, SDIST_NAME)
        digest = _sha256(got)
        if digest != SDIST_SHA256:
            sys.exit(f"{SDIST_NAME}: sha256 {digest}, expected {SDIST_SHA256}")
        os.replace(got, path)
    return path


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def extract_tests(sdist, cache_dir):
    """Extract only tests/ (never picows/ itself: it must not be importable)."""
    root = os.path.join(cache_dir, f"picows-{PICOWS_VERSION}-tests")
    shutil.rmtree(root, ignore_errors=True)
    prefix = f"picows-{PICOWS_VERSION}/tests/"
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers()
                   if m.name.startswith(prefix) and (m.isfile() or m.isdir())]
        for m in members:
            m.name = m.name[len(f"picows-{PICOWS_VERSION}/"):]
        tar.extractall(root, members=members)
    with open(os.path.join(root, "pytest.ini"), "w") as f:
        # picows' [tool.pytest.ini_options]
        f.write("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
                "testpaths = tests\n")
    return root


# ---------------------------------------------------------------- table

COLUMNS = ["passed", "failed", "skipped", "private", "deviation", "pending", "websockets"]


def classify(nodeid, outcome):
    if outcome == "websockets":
        return outcome
    if outcome in ("passed", "skipped", "private"):
        if outcome == "passed" and find_listed(DEVIATIONS, nodeid) is not None:
            return "deviation"
        return outcome
    deviation = find_listed(DEVIATIONS, nodeid)
    if deviation is not None and not deviation.opt_in:
        return "deviation"
    if find_listed(PENDING, nodeid) is not None:
        return "pending"
    return "failed"


def print_table(results, verbose):
    per_file = {}
    failures = {}       # (category, test without its parameters) -> [count, first detail]
    for nodeid, (outcome, detail) in sorted(results.items()):
        category = classify(nodeid, outcome)
        fname = nodeid.split("::")[0].split("/")[-1]
        row = per_file.setdefault(fname, dict.fromkeys(COLUMNS, 0))
        row[category] += 1
        if category in ("failed", "websockets") or (verbose and category != "passed"):
            key = (category, nodeid.split("[")[0] if not verbose else nodeid)
            failures.setdefault(key, [0, detail])[0] += 1
    width = max([len(f) for f in per_file] + [10])
    print(f"{'file':{width}} " + " ".join(f"{c:>9}" for c in COLUMNS))
    total = dict.fromkeys(COLUMNS, 0)
    for fname, row in sorted(per_file.items()):
        print(f"{fname:{width}} " + " ".join(f"{row[c]:9}" for c in COLUMNS))
        for c in COLUMNS:
            total[c] += row[c]
    print(f"{'total':{width}} " + " ".join(f"{total[c]:9}" for c in COLUMNS))
    if failures:
        print("\n" + ("not passed:" if verbose else "failed / websockets (cases, first reason):"))
        for (category, test), (count, detail) in failures.items():
            times = f" x{count}" if count > 1 else ""
            print(f"  {category:9} {test}{times}: {detail}")
    if DEVIATIONS:
        print("\ndeviations (picows breaks an RFC MUST or a security rule there):")
        for d in DEVIATIONS:
            opt = f" [runs with {d.opt_in}]" if d.opt_in else ""
            print(f"  {d.match}: {d.reason}{opt}")
    if PENDING:
        print("\npending on another branch:")
        for p in PENDING:
            cases = f"[*{p.params}*]" if p.params else ""
            print(f"  {p.match}{cases}: {p.reason}")
    return total


def run_pytest(python, root, env, report, targets):
    if os.path.exists(report):
        os.remove(report)
    env = dict(env, PICOWS_COMPAT_REPORT=report)
    cmd = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "picows_shim",
           "-c", os.path.join(root, "pytest.ini"), "--rootdir", root, "--tb=line", "-rN",
           *targets]
    if not any(a.startswith("tests") or "::" in a for a in targets):
        cmd.append("tests")
    proc = subprocess.run(cmd, cwd=root, env=env)
    if not os.path.exists(report):
        print(f"pytest exited with {proc.returncode} and wrote no results", file=sys.stderr)
        return None
    with open(report) as f:
        return json.load(f)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter of the venv to test (default: this one)")
    ap.add_argument("--cache-dir", default=os.path.join(REPO_ROOT, "build", "compat-picows"))
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="list every test that did not pass, with its reason")
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = ap.parse_args(argv)

    sdist = fetch_sdist(args.python, args.cache_dir)
    root = extract_tests(sdist, args.cache_dir)
    report = os.path.join(args.cache_dir, "results.json")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [HERE, REPO_ROOT] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    results = run_pytest(args.python, root, env, report, args.pytest_args)
    if results is None:
        return 1
    # Failed tests of picows' websockets layer: do they fail with websockets itself too?
    ws_failed = [n for n, (outcome, _) in results.items() if outcome == "failed"
                 and n.split("/")[-1].startswith("test_websockets_") and "::" in n
                 and classify(n, outcome) == "failed"]
    if ws_failed:
        print(f"\nrunning {len(ws_failed)} failed test(s) of picows.websockets against the "
              f"websockets library itself:")
        ws_env = dict(env, PICOWS_COMPAT_WEBSOCKETS="websockets", PICOWS_COMPAT_TEST_TIMEOUT="10")
        reference = run_pytest(args.python, root, ws_env, report + ".websockets", ws_failed) or {}
        version = subprocess.run([args.python, "-c", "import websockets; print(websockets.__version__)"],
                                 capture_output=True, text=True).stdout.strip()
        for nodeid in ws_failed:
            outcome, detail = reference.get(nodeid, ("passed", ""))
            if outcome == "failed":
                results[nodeid] = ["websockets", f"fails with websockets {version} too: {detail}"]
    print()
    total = print_table(results, args.verbose)
    return 1 if total["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
