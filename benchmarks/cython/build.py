"""Build the Cython echo clients (picows_cy, picows_like_cy) on demand, cached.

Each module is compiled by this interpreter's Cython + setuptools in a scratch
copy of this directory (setup.py, the .pyx and echo_listener.pxi), against the
library as installed: the only thing we pass is PYTHONPATH, so that the build
process finds the same package (and its .pxd files) that the benchmark's
clients import.  Results land in benchmarks/.cython-build/<module>-<digest>/,
keyed by a digest of everything the build depends on, so only the first run
compiles (about 10-30 s per module here).

    python benchmarks/cython/build.py        # build both, print where they are
"""
from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE_ROOT = HERE.parent / ".cython-build"
MODULES = {"picows_cy": "picows", "picows_like_cy": "picows_like"}   # module -> library
BUILD_TIMEOUT = 300


def _digest(module: str, package_dir: Path) -> str:
    import Cython
    h = hashlib.sha256()
    sources = [HERE / "setup.py", HERE / "echo_listener.pxi", HERE / f"{module}.pyx"]
    for path in sources + sorted(package_dir.glob("*.pxd")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for item in (Cython.__version__, sys.version, platform.platform(), str(package_dir),
                 os.environ.get("CC", ""), os.environ.get("CFLAGS", ""),
                 sysconfig.get_config_var("CC") or ""):
        h.update(item.encode() + b"\0")
    return h.hexdigest()[:16]


def start_build(module: str, package_dir: Path):
    """Start building `module` against the library in `package_dir` (its directory
    on disk). Returns ("cached", dir) or ("building", handle for finish_build)."""
    try:
        target = CACHE_ROOT / f"{module}-{_digest(module, package_dir)}"
    except ImportError as exc:
        return "failed", f"Cython is not installed: {exc}"
    if (target / ".built").exists():
        return "cached", target
    work = Path(tempfile.mkdtemp(prefix=f"echo-{module}-"))
    for name in ("setup.py", "echo_listener.pxi", f"{module}.pyx"):
        shutil.copy(HERE / name, work / name)
    env = dict(os.environ, ECHO_CY_MODULE=module, PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(package_dir.parent),
                                                         os.environ.get("PYTHONPATH")])))
    log = open(work / "build.log", "w+")
    proc = subprocess.Popen([sys.executable, "setup.py", "build_ext", "--inplace"],
                            cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    return "building", (module, proc, work, log, target, time.monotonic())


def finish_build(handle) -> tuple[Path | None, str]:
    """Wait for a build; returns (directory with the module, message) or (None, reason)."""
    module, proc, work, log, target, t0 = handle
    try:
        try:
            proc.wait(timeout=BUILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None, f"build timed out after {BUILD_TIMEOUT} s"
        log.seek(0)
        output = log.read()
        built = sorted(work.glob(f"{module}*.so")) + sorted(work.glob(f"{module}*.pyd"))
        if proc.returncode != 0 or not built:
            return None, f"build failed (exit {proc.returncode}): {output.strip()[-1500:]}"
        target.mkdir(parents=True, exist_ok=True)
        (CACHE_ROOT / ".gitignore").write_text("*\n")      # build products, never committed
        shutil.copy(built[0], target / built[0].name)
        seconds = time.monotonic() - t0
        (target / ".built").write_text(f"{seconds:.1f}")
        return target, f"built in {seconds:.0f} s"
    finally:
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def build_all(package_dirs: dict[str, Path | None]) -> dict[str, tuple[Path | None, str]]:
    """Build (in parallel) every module whose library dir is known. Returns module ->
    (directory to put on sys.path, or None; message)."""
    results, pending = {}, {}
    for module, library in MODULES.items():
        package_dir = package_dirs.get(library)
        if package_dir is None:
            results[module] = (None, f"{library} is not importable")
            continue
        state, value = start_build(module, Path(package_dir))
        if state == "building":
            pending[module] = value
        else:
            results[module] = (value, "cached build") if state == "cached" else (None, value)
    for module, handle in pending.items():
        results[module] = finish_build(handle)
    return results


if __name__ == "__main__":
    import importlib
    dirs = {}
    for lib in MODULES.values():
        try:
            dirs[lib] = Path(importlib.import_module(lib).__file__).resolve().parent
        except ImportError:
            dirs[lib] = None
    for mod, (path, msg) in build_all(dirs).items():
        print(f"{mod}: {path or 'NOT BUILT'} ({msg})")
