#!/usr/bin/env python3
"""Run trio-websocket 0.12.2's own tests (tests/test_connection.py of its
sdist) against picows_like.trio and print a table.

    python tests/compat/run_trio_websocket_suite.py [-- pytest args...]

* downloads the sdist with pip (checked against its sha256) into
  build/compat-trio/ and extracts only tests/test_connection.py (nothing of it
  is committed, trio_websocket itself is never importable from there);
* runs it with pytest and pytest-trio (trio_mode) through
  trio_websocket_shim.py, which makes ``import trio_websocket`` resolve to
  picows_like.trio;
* prints passed / failed / skipped / internal / deviation counts.
  "internal": a failed test that uses trio-websocket internals (a private
  attribute, a patched private method or wsproto objects): counted apart;
  "deviation": a failed test listed in DEVIATIONS with the reason.  Exits 1
  when any other test fails.
"""
import argparse
import os
import re
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET

import run_picows_suite  # noqa: E402 (tests/compat, the script's own folder)

VERSION = "0.12.2"
SDIST_NAME = f"trio_websocket-{VERSION}.tar.gz"
SDIST_SHA256 = "22c72c436f3d1e264d0910a3951934798dcc5b00ae56fc4ee079d46c7cf20fae"

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))

# What marks a test as touching trio-websocket's internals (comments left out).
INTERNAL = re.compile(r"\._(?!_)\w+|['\"]_(?!_)\w+['\"]|_impl\.\w+|CloseConnection|wsproto")

# Where picows_like.trio behaves unlike trio-websocket on purpose: test -> reason.
DEVIATIONS = {
    "test_handshake_exception_before_accept":
        "the server closes without answering (its handler raised): our client raises "
        "HandshakeError at once, where trio-websocket's client waits for connect_timeout; "
        "the test expects the server's ValueError alone in the nursery's group",
}


def fetch_sdist(python, cache_dir):
    return run_picows_suite.fetch_sdist(python, cache_dir, f"trio-websocket=={VERSION}",
                                        SDIST_NAME, SDIST_SHA256)


def extract_tests(sdist, cache_dir):
    root = os.path.join(cache_dir, f"trio_websocket-{VERSION}-tests")
    os.makedirs(root, exist_ok=True)
    name = f"trio_websocket-{VERSION}/tests/test_connection.py"
    with tarfile.open(sdist) as tar:
        data = tar.extractfile(name).read()
    with open(os.path.join(root, "test_connection.py"), "wb") as f:
        f.write(data)
    with open(os.path.join(root, "pytest.ini"), "w") as f:
        f.write("[pytest]\ntrio_mode = true\n")
    return root


def test_sources(path):
    """test name -> its source text (decorators included)."""
    text = open(path, encoding="utf-8").read()
    out = {}
    blocks = re.split(r"\n(?=@|async def |def |class )", text)
    for block in blocks:
        m = re.search(r"^(?:async )?def (test_\w+)", block, re.M)
        if m:
            code = "\n".join(line.split("#", 1)[0] for line in block.splitlines())
            out[m.group(1)] = code
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args()
    cache_dir = os.path.join(REPO_ROOT, "build", "compat-trio")
    root = extract_tests(fetch_sdist(args.python, cache_dir), cache_dir)
    report = os.path.join(cache_dir, "report.xml")
    if os.path.exists(report):
        os.remove(report)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([HERE, REPO_ROOT, env.get("PYTHONPATH", "")])
    cmd = [args.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
           "trio_websocket_shim", "-p", "no:asyncio", "--rootdir", root, "-c",
           os.path.join(root, "pytest.ini"), f"--junitxml={report}",
           os.path.join(root, "test_connection.py")] + args.pytest_args
    proc = subprocess.run(cmd, cwd=root, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=1200)
    if not os.path.exists(report):
        print(proc.stdout[-5000:])
        sys.exit("pytest wrote no report")
    sources = test_sources(os.path.join(root, "test_connection.py"))
    counts = dict.fromkeys(["passed", "failed", "skipped", "internal", "deviation"], 0)
    failed = []
    for case in ET.parse(report).getroot().iter("testcase"):
        name = case.get("name")
        base = name.split("[")[0]
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if case.find("skipped") is not None:
            counts["skipped"] += 1
        elif problem is not None:
            internal = bool(INTERNAL.search(sources.get(base, "")))
            kind = "deviation" if base in DEVIATIONS else "internal" if internal else "failed"
            counts[kind] += 1
            msg = (problem.get("message") or "").splitlines()
            failed.append((kind, name, msg[0][:150] if msg else ""))
        else:
            counts["passed"] += 1
    print("trio-websocket %s tests/test_connection.py against picows_like.trio" % VERSION)
    print(" ".join(f"{k:>9}" for k in counts))
    print(" ".join(f"{v:9}" for v in counts.values()))
    for kind, name, msg in sorted(failed):
        print(f"  {kind:8} {name}: {msg}")
    for name, reason in DEVIATIONS.items():
        print(f"deviation {name}: {reason}")
    if args.verbose:
        print(proc.stdout[-20000:])
    sys.exit(1 if counts["failed"] else 0)


if __name__ == "__main__":
    main()
