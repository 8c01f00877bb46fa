"""Small reporting helpers shared by benchmarks/parser.py and benchmarks/fanin.py:
machine description, tables, file output."""

from __future__ import annotations

import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

from _bench_common import import_picows_like, read_cpu_model


def human_size(size: int) -> str:
    if size >= 1 << 20 and size % (1 << 20) == 0:
        return f"{size >> 20} MiB"
    if size >= 1024 and size % 1024 == 0:
        return f"{size >> 10} KiB"
    return f"{size} B"


def fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict:
    """CPU, OS, Python and the versions (and location) of the libraries compared."""
    cpu_model = read_cpu_model()
    try:
        pl = import_picows_like()
        picows_like = f"{getattr(pl, '__version__', '?')} ({Path(pl.__file__).parent})"
    except ImportError as exc:
        picows_like = f"not importable: {exc}"
    return {
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "versions": {"picows_like": picows_like, "picows": _version("picows"),
                     "uvloop": _version("uvloop"), "Cython": _version("Cython")},
    }


def machine_lines(m: dict) -> list[str]:
    return [f"CPU: {m['cpu_model']} x{m['cpu_count']} | Python {m['python']} | {m['platform']} "
            f"| load {m['load_average_at_start']}",
            "Versions: " + ", ".join(f"{k} {v or 'n/a'}" for k, v in m["versions"].items())]


def text_table(header, rows) -> str:
    widths = [max(len(r[i]) for r in [list(header)] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def markdown_table(header, rows) -> str:
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def write_results(out_dir: Path, stem: str, report: dict, markdown: str) -> Path:
    """results/<stem>.json (raw, git-ignored) and results/<stem>.md; returns the stem path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / stem
    path.with_suffix(".json").write_text(json.dumps(report, indent=1, default=str))
    path.with_suffix(".md").write_text(markdown)
    return path
