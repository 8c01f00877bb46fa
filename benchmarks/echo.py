#!/usr/bin/env python
"""Single-connection WebSocket echo benchmark: picows_like vs picows and friends.

For every (event loop, message size) cell, one echo server process (pinned to
CPU 0) serves while each contender's client runs in its own process (pinned to
CPU 1), one at a time, interleaved round by round. Each run: connect, warm up,
then strict request/response echo for a fixed duration. Reports median round
trips per second, ratios to picows (aiofastnet off) and to a raw-TCP floor,
and pooled latency percentiles. See benchmarks/README.md.

    python benchmarks/echo.py --quick              # < 3 minutes
    python benchmarks/echo.py                      # full: 5 sizes x 5 rounds x 1 s
    python benchmarks/echo.py --server picows_like # picows_like as the echo server
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from _bench_common import runqueue_wait_ns

HERE = Path(__file__).resolve().parent
CLIENT = HERE / "_echo_client.py"
SERVER = HERE / "_echo_server.py"
RESULTS_DIR = HERE / "results"


@dataclass(frozen=True)
class Contender:
    key: str     # name understood by _echo_client.py
    label: str


CONTENDERS = (
    Contender("picows_like", "picows_like (afn off)"),
    Contender("picows", "picows (afn off)"),
    Contender("picows_afn", "picows (afn on)"),
    Contender("picows_aa", "picows A/A (afn off)"),
    Contender("websockets", "websockets"),
    Contender("aiohttp", "aiohttp"),
    Contender("raw", "raw TCP floor"),
)
BASELINE, FLOOR, AA_TWIN = "picows", "raw", "picows_aa"
LABELS = {c.key: c.label for c in CONTENDERS}

FULL = {"sizes": [64, 256, 8192, 102400, 1048576], "rounds": 5, "duration": 1.0, "warmup": 0.3,
        "retries": 2}
QUICK = {"sizes": [64, 8192, 102400, 1048576], "rounds": 3, "duration": 0.5, "warmup": 0.15,
         "retries": 0}


# --- child processes ------------------------------------------------------------------------

class EchoServer:
    """The echo server process; it exits when we close its stdin (or if we die)."""

    def __init__(self, impl: str, loop: str, cpu: int | None, max_lifetime: float, workdir: Path):
        self.args = [sys.executable, str(SERVER), "--impl", impl, "--loop", loop,
                     "--max-lifetime", str(int(max_lifetime))]
        if cpu is not None:
            self.args += ["--cpu", str(cpu)]
        self.stderr_path = workdir / f"server-{impl}-{loop}.stderr"
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> "EchoServer":
        with open(self.stderr_path, "ab") as stderr:
            self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=stderr, text=True)
        line = read_line(self.proc.stdout, timeout=20)
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"echo server did not start: {line!r}\n{self.stderr_tail()}")
        self.port = int(line.split()[1])
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except (subprocess.TimeoutExpired, OSError):
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.proc = None

    def stderr_tail(self) -> str:
        try:
            return self.stderr_path.read_text()[-2000:]
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def read_line(stream, timeout: float) -> str:
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        if not sel.select(timeout):
            return ""
    return stream.readline().strip()


def run_client(contender: str, loop: str, port: int, size: int, cfg, lat_path: Path) -> dict:
    """One client process, one measured run. Never raises: failures become {"ok": False}."""
    cmd = [sys.executable, str(CLIENT), "--contender", contender, "--loop", loop,
           "--port", str(port), "--size", str(size), "--warmup", str(cfg.warmup),
           "--duration", str(cfg.duration), "--lat-file", str(lat_path)]
    if cfg.pin:
        cmd += ["--cpu", str(cfg.client_cpu)]
    timeout = 30 + 3 * (cfg.warmup + cfg.duration)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:          # subprocess.run has killed the child
        return {"ok": False, "error": f"client timed out after {timeout:.0f} s"}
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        result = {"ok": False, "error": f"client exited {proc.returncode}: "
                                        f"{proc.stderr.strip()[-500:]}"}
    if result["ok"]:
        latencies = array("q")
        latencies.frombytes(lat_path.read_bytes())
        result["latencies_ns"] = latencies
    return result


def probe_environment() -> dict:
    """Library versions as seen by the child interpreter, and picows_like's status."""
    proc = subprocess.run([sys.executable, str(CLIENT), "--probe"],
                          capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"probe failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine_info(probe: dict) -> dict:
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "usable_cpus": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average_at_start": list(os.getloadavg()),
        "platform": platform.platform(),
        "python": probe["python"],
        "python_executable": probe["executable"],
        "versions": probe["versions"],
    }


# --- measurement ------------------------------------------------------------------------------

def percentile(sorted_values, q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    rank = math.ceil(q / 100 * len(sorted_values))
    return sorted_values[min(len(sorted_values), max(1, rank)) - 1]


def summarize(runs: list[dict], max_cpu_wait: float) -> dict:
    """Median RPS and pooled latencies, over the clean runs if there are any."""
    ok = [r for r in runs if r["ok"]]
    clean = [r for r in ok if r["cpu_wait"] is None or r["cpu_wait"] <= max_cpu_wait]
    used = clean or ok
    summary = {"rps_per_run": [round(r["rps"], 1) for r in ok],
               "cpu_wait_per_run": [r["cpu_wait"] for r in ok],
               "runs_used": len(used), "noisy": not clean,
               "errors": [r["error"] for r in runs if not r["ok"]]}
    if not used:
        return summary
    rps = [r["rps"] for r in used]
    waits = [r["cpu_wait"] for r in used if r["cpu_wait"] is not None]
    pooled = sorted(x for r in used for x in r["latencies_ns"])
    median = statistics.median(rps)
    summary.update({
        "rps_median": median,
        "spread": (max(rps) - min(rps)) / median,
        "cpu_wait": statistics.median(waits) if waits else None,
        "latency_samples": len(pooled),
        "content_checks": sum(r["content_checks"] for r in used),
        "p50_us": percentile(pooled, 50) / 1e3,
        "p99_us": percentile(pooled, 99) / 1e3,
        "p99_9_us": percentile(pooled, 99.9) / 1e3,
    })
    return summary


def measured_run(contender: str, loop: str, size: int, server: EchoServer, cfg, workdir: Path) -> dict:
    """One client run, plus how long our processes waited for a CPU (others' load) meanwhile."""
    if not server.alive():
        server.stop()
        server.start()
        return {"ok": False, "error": "echo server had died; restarted", "cpu_wait": None}
    server_wait = runqueue_wait_ns(server.proc.pid)
    result = run_client(contender, loop, server.port, size, cfg, workdir / "latencies.bin")
    server_wait_end = runqueue_wait_ns(server.proc.pid)
    result["cpu_wait"] = None
    separate_cpus = cfg.pin and cfg.server_cpu != cfg.client_cpu   # else they wait for each other
    if result["ok"] and separate_cpus and None not in (server_wait, server_wait_end, result["cpu_wait_s"]):
        waited = result["cpu_wait_s"] + (server_wait_end - server_wait) / 1e9
        result["cpu_wait"] = round(100 * waited / result["span_s"], 2)
    return result


def run_cell(loop: str, size: int, contenders, server: EchoServer, cfg, rng, workdir: Path) -> dict:
    runs = {c.key: [] for c in contenders}
    orders = []
    for round_no in range(cfg.rounds):
        order = list(contenders) if round_no == 0 else rng.sample(contenders, len(contenders))
        orders.append([c.key for c in order])
        for c in order:
            progress(f"  [{loop} {human_size(size)}] round {round_no + 1}/{cfg.rounds}: {c.label}")
            for _attempt in range(1 + cfg.retries):     # rerun right away if others disturbed it
                result = measured_run(c.key, loop, size, server, cfg, workdir)
                runs[c.key].append(result)
                if not result["ok"] or (result["cpu_wait"] or 0) <= cfg.max_cpu_wait:
                    break
    progress("")
    summaries = {key: summarize(r, cfg.max_cpu_wait) for key, r in runs.items()}
    for s in summaries.values():
        if "rps_median" not in s:
            continue
        for ref_key, field in ((BASELINE, "vs_picows"), (FLOOR, "vs_floor")):
            ref = summaries.get(ref_key, {}).get("rps_median")
            s[field] = s["rps_median"] / ref if ref else None
    return {"loop": loop, "size": size, "orders": orders, "contenders": summaries}


# --- reporting --------------------------------------------------------------------------------

def human_size(size: int) -> str:
    if size >= 1 << 20 and size % (1 << 20) == 0:
        return f"{size >> 20} MiB"
    if size >= 1024 and size % 1024 == 0:
        return f"{size >> 10} KiB"
    return f"{size} B"


def progress(message: str) -> None:
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\033[K{message}")
        sys.stderr.flush()


def fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


COLUMNS = ("contender", "median RPS", "runs", "spread", "cpu wait", "vs picows", "vs floor",
           "p50 us", "p99 us", "p99.9 us")


def cell_rows(cell: dict) -> list[list[str]]:
    rows = []
    for key, s in cell["contenders"].items():
        if "rps_median" not in s:
            rows.append([LABELS[key], "FAILED"] + ["-"] * (len(COLUMNS) - 2))
            continue
        rows.append([LABELS[key], fmt(s["rps_median"], ",.0f") + ("*" if s["noisy"] else ""),
                     f"{s['runs_used']}/{len(s['rps_per_run'])}",
                     fmt(100 * s["spread"], ".1f") + "%" if s["runs_used"] > 1 else "-", fmt(s["cpu_wait"], ".1f") + "%",
                     fmt(s["vs_picows"], ".3f"), fmt(s["vs_floor"], ".3f"),
                     fmt(s["p50_us"], ".1f"), fmt(s["p99_us"], ".1f"), fmt(s["p99_9_us"], ".1f")])
    return rows


def text_table(rows: list[list[str]], header=COLUMNS) -> str:
    widths = [max(len(r[i]) for r in [list(header)] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def markdown_table(rows: list[list[str]], header=COLUMNS) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def cell_title(cell: dict) -> str:
    return f"{cell['loop']}, {human_size(cell['size'])}"


def ratio_matrix(cells: list[dict], contenders) -> tuple[list[str], list[list[str]]]:
    """Rows: contenders; columns: cells; values: median RPS relative to picows (afn off)."""
    header = ["vs picows (afn off)"] + [cell_title(c) for c in cells]
    rows = [[c.label] + [fmt(cell["contenders"][c.key].get("vs_picows"), ".3f") for cell in cells]
            for c in contenders]
    return header, rows


def notes_for(report: dict) -> list[str]:
    notes = list(report["notes"])
    for cell in report["cells"]:
        for key, s in cell["contenders"].items():
            for error in sorted(set(s["errors"])):
                notes.append(f"{cell_title(cell)}: {LABELS[key]} failed {s['errors'].count(error)}x: {error}")
    noisy = [f"{cell_title(cell)} {LABELS[key]}" for cell in report["cells"]
             for key, s in cell["contenders"].items() if s.get("noisy")]
    if noisy:
        notes.append(f"* = in every run our processes waited > {report['config']['max_cpu_wait']:g}% of the "
                     f"time for a CPU busy with others ({len(noisy)} entries, e.g. {'; '.join(noisy[:3])}): "
                     f"noisy, rerun when the machine is quiet.")
    aa_gaps = [abs(cell["contenders"][AA_TWIN]["vs_picows"] - 1) for cell in report["cells"]
               if cell["contenders"].get(AA_TWIN, {}).get("vs_picows") is not None]
    if aa_gaps:
        notes.append(f"A/A noise: picows vs its identical twin differ by {100 * max(aa_gaps):.1f}% at most "
                     f"(median {100 * statistics.median(aa_gaps):.1f}%) - smaller ratio differences are noise.")
    return notes


def render_text(report: dict) -> str:
    m, cfg = report["machine"], report["config"]
    out = [f"Echo benchmark, {report['started']}",
           f"CPU: {m['cpu_model']} x{m['cpu_count']} | Python {m['python']} | {m['platform']}",
           "Versions: " + ", ".join(f"{k} {v or 'n/a'}" for k, v in m["versions"].items()),
           f"Server: {cfg['server']} (aiofastnet off) | rounds {cfg['rounds']} x {cfg['duration']} s "
           f"(+{cfg['warmup']} s warm-up) | pinning: {cfg['pinning']}", ""]
    for cell in report["cells"]:
        out += [f"== {cell_title(cell)} ==", text_table(cell_rows(cell)), ""]
    header, rows = ratio_matrix(report["cells"], report["contender_order"])
    out += ["== median RPS relative to picows (afn off) ==", text_table(rows, header), ""]
    out += [f"note: {n}" for n in notes_for(report)]
    out.append(f"wall time: {report['wall_time_s']:.0f} s")
    return "\n".join(out)


def render_markdown(report: dict) -> str:
    m, cfg = report["machine"], report["config"]
    out = [f"# Echo benchmark, {report['started']}", "",
           f"- CPU: {m['cpu_model']}, {m['cpu_count']} cores; {m['platform']}",
           f"- Python {m['python']}; " + ", ".join(f"{k} {v or 'n/a'}" for k, v in m["versions"].items()),
           f"- Server: {cfg['server']} (aiofastnet off); {cfg['rounds']} rounds x {cfg['duration']} s "
           f"after {cfg['warmup']} s warm-up; pinning: {cfg['pinning']}",
           f"- Command: `{cfg['command']}`; wall time {report['wall_time_s']:.0f} s", ""]
    for cell in report["cells"]:
        out += [f"## {cell_title(cell)}", "", markdown_table(cell_rows(cell)), ""]
    header, rows = ratio_matrix(report["cells"], report["contender_order"])
    out += ["## Median RPS relative to picows (afn off)", "", markdown_table(rows, header), ""]
    out += [f"- {n}" for n in notes_for(report)]
    return "\n".join(out) + "\n"


def to_json(report: dict) -> str:
    return json.dumps({**report, "contender_order": [c.key for c in report["contender_order"]],
                       "labels": LABELS}, indent=1)


# --- main -------------------------------------------------------------------------------------

def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"fewer sizes, rounds and shorter runs: {QUICK}")
    parser.add_argument("--server", choices=("picows", "picows_like"), default="picows",
                        help="echo server implementation (aiofastnet off either way)")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")],
                        help="comma-separated message sizes in bytes")
    parser.add_argument("--loops", default="asyncio,uvloop", help="comma-separated: asyncio,uvloop")
    parser.add_argument("--contenders", default=",".join(c.key for c in CONTENDERS),
                        help="comma-separated subset of: " + ",".join(c.key for c in CONTENDERS))
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--duration", type=float, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per run (same connection)")
    parser.add_argument("--retries", type=int,
                        help="reruns of a run disturbed by other processes (default: 2, quick: 0)")
    parser.add_argument("--max-cpu-wait", type=float, default=5.0,
                        help="a run is clean if client + server waited for a CPU at most this %% of its time")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin processes to CPUs")
    parser.add_argument("--seed", type=int, default=1, help="seed for the per-round shuffles")
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.loops = [x for x in args.loops.split(",") if x]
    wanted = set(args.contenders.split(","))
    unknown = wanted - set(LABELS)
    if unknown:
        parser.error(f"unknown contenders: {', '.join(sorted(unknown))}")
    args.contenders = [c for c in CONTENDERS if c.key in wanted]
    return args


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # so that `finally` stops children
    started, started_at = time.monotonic(), datetime.now(timezone.utc)
    probe = probe_environment()
    machine = machine_info(probe)
    notes, contenders = [], list(args.contenders)

    if probe["picows_like_error"]:
        if args.server == "picows_like":
            print(f"cannot use picows_like as the server: {probe['picows_like_error']}", file=sys.stderr)
            return 2
        if any(c.key == "picows_like" for c in contenders):
            notes.append(f"picows_like skipped (not importable): {probe['picows_like_error']}")
            contenders = [c for c in contenders if c.key != "picows_like"]
    if "uvloop" in args.loops and not probe["versions"]["uvloop"]:
        notes.append("uvloop skipped (not installed)")
        args.loops.remove("uvloop")
    if args.pin and (not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2):
        notes.append("fewer than 2 usable CPUs: server and client share a CPU")
    if not args.pin or args.server_cpu == args.client_cpu:
        notes.append("cpu wait not measured: client and server are not pinned to separate CPUs")

    per_run = (args.warmup + args.duration + 5) * (1 + args.retries)
    max_lifetime = 120 + per_run * len(contenders) * len(args.sizes) * args.rounds * len(args.loops)
    rng = random.Random(args.seed)
    cells = []
    with tempfile.TemporaryDirectory(prefix="echo-bench-") as tmp:
        workdir = Path(tmp)
        for loop in args.loops:
            with EchoServer(args.server, loop, args.server_cpu if args.pin else None,
                            max_lifetime, workdir) as server:
                for size in args.sizes:
                    cells.append(run_cell(loop, size, contenders, server, args, rng, workdir))

    report = {
        "started": started_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "machine": machine,
        "config": {"command": " ".join([Path(sys.executable).name] + sys.argv),
                   "server": args.server, "loops": args.loops, "sizes": args.sizes,
                   "rounds": args.rounds, "duration": args.duration, "warmup": args.warmup,
                   "seed": args.seed, "quick": args.quick, "retries": args.retries,
                   "max_cpu_wait": args.max_cpu_wait,
                   "pinning": f"server cpu{args.server_cpu}, client cpu{args.client_cpu}"
                              if args.pin else "off"},
        "contender_order": contenders,
        "cells": cells,
        "notes": notes,
        "wall_time_s": time.monotonic() - started,
    }
    print(render_text(report))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stamp = started_at.strftime("%Y%m%d-%H%M%S")
    stem = args.out_dir / f"echo-{'quick-' if args.quick else ''}{stamp}"
    stem.with_suffix(".json").write_text(to_json(report))
    stem.with_suffix(".md").write_text(render_markdown(report))
    print(f"results: {stem}.json, {stem}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
