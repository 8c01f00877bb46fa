#!/usr/bin/env python
"""Fan-in benchmark: one client process holding N WebSocket connections
(default 1,000), each receiving a stream of small frames from one server
process. picows_like client vs picows client (aiofastnet off), same server,
asyncio and uvloop, interleaved runs, medians.

Per run (fresh server and client processes, pinned to CPU 0 and 1):
  * memory per idle connection: RSS after N idle connections minus RSS
    before them (one warm-up connection already open), divided by N, in the
    client and in the server process;
  * total frames/s the client receives over a fixed window after a warm-up;
  * delivery check: the server ends every connection with "END <frames sent>"
    and the client's per-connection count must equal it.
See benchmarks/README.md.

    python benchmarks/fanin.py --quick                 # < 2 minutes
    python benchmarks/fanin.py                         # full: both servers, ~6 minutes
"""

from __future__ import annotations

import argparse
import json
import random
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from _fanin_common import raise_nofile, rss_bytes
from _parser_report import fmt, machine_info, machine_lines, markdown_table, text_table, \
    write_results

HERE = Path(__file__).resolve().parent
SERVER, CLIENT = HERE / "_fanin_server.py", HERE / "_fanin_client.py"
CONTENDERS = {"picows_like": "picows_like client", "picows": "picows client (afn off)"}
BASELINE = "picows"
FULL = {"servers": "picows,picows_like", "rounds": 5, "warmup": 0.5, "duration": 2.0}
QUICK = {"servers": "picows", "rounds": 3, "warmup": 0.3, "duration": 1.0}


class ChildError(RuntimeError):
    pass


class Child:
    """A helper process we talk to by lines; killed if anything goes wrong."""

    def __init__(self, name: str, args: list[str], workdir: Path):
        self.name = name
        self.stderr_path = workdir / f"{name}.stderr"
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen([sys.executable] + args, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=stderr, text=True,
                                         cwd=HERE)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def expect(self, tag: str, timeout: float):
        """Wait for the line starting with `tag`; returns its JSON (or text) payload."""
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                raise ChildError(f"{self.name}: no {tag} within {timeout:.0f} s\n{self.tail()}")
        line = self.proc.stdout.readline().strip()
        if not line.startswith(tag):
            raise ChildError(f"{self.name}: expected {tag}, got {line!r}\n{self.tail()}")
        rest = line[len(tag):].strip()
        return json.loads(rest) if rest[:1] in ("{", "[") else rest

    def tail(self) -> str:
        try:
            return self.stderr_path.read_text()[-1500:]
        except OSError:
            return ""

    def stop(self, timeout: float = 10) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=timeout)
        except (subprocess.TimeoutExpired, OSError):
            self.proc.kill()
            self.proc.wait(timeout=5)


def one_run(server_impl: str, client_impl: str, loop: str, cfg, workdir: Path) -> dict:
    """Fresh server + client; never raises: a failure becomes {"ok": False, "error": ...}."""
    n = cfg.connections
    common = ["--loop", loop, "--connections", str(n), "--size", str(cfg.size)]
    server = client = None
    try:
        server = Child(f"server-{server_impl}-{loop}", [str(SERVER), "--impl", server_impl,
                       "--batch-frames", str(cfg.batch_frames)] + common
                       + (["--cpu", str(cfg.server_cpu)] if cfg.pin else []), workdir)
        port = server.expect("PORT", 30)
        client = Child(f"client-{client_impl}-{loop}", [str(CLIENT), "--impl", client_impl,
                       "--port", port, "--server-pid", str(server.pid), "--warmup", str(cfg.warmup), "--duration",
                       str(cfg.duration)] + common
                       + (["--cpu", str(cfg.client_cpu)] if cfg.pin else [])
                       + (["--tracemalloc"] if cfg.tracemalloc else []), workdir)
        client.expect("WARM", 30)
        time.sleep(0.1)
        server_before = rss_bytes(server.pid)
        client.send("GO")
        connected = client.expect("CONNECTED", 60 + n / 20)
        time.sleep(0.2)
        server_after = rss_bytes(server.pid)
        server.send("START")
        client.send("MEASURE")
        measured = client.expect("MEASURED", cfg.warmup + cfg.duration + 30)
        server.send("STOP")
        stopped = server.expect("STOPPED", 30)
        client.send("FINISH")
        done = client.expect("DONE", 90)
    except (ChildError, OSError, ValueError) as exc:
        return {"ok": False, "error": str(exc).splitlines()[0][:300], "detail": str(exc)[-1500:]}
    finally:
        for child in (client, server):
            if child is not None:
                child.stop()
    problems = []
    if not done["ok"]:
        problems.append(f"{done['missing_end']} connections without END, "
                        f"{done['mismatched']} with a count mismatch {done['mismatch_examples']}")
    if stopped["connections"] != n + 1 or done["server_sent"] != stopped["frames_sent"]:
        problems.append(f"server streamed to {stopped['connections']} connections / sent "
                        f"{stopped['frames_sent']} frames; client saw END for "
                        f"{done['server_sent']} frames on {n + 1} connections")
    mem = lambda key: (connected["after"][key] - connected["before"][key]) / n
    return {
        "ok": not problems, "error": "; ".join(problems) or None,
        "fps": measured["fps"], "window_frames": measured["frames"],
        **{k: measured[k] for k in ("client_cpu", "client_wait", "server_cpu", "server_wait")},
        "active_connections": measured["active_connections"],
        "client_rss_per_conn": mem("rss"),
        "client_traced_per_conn": mem("traced") if cfg.tracemalloc else None,
        "server_rss_per_conn": (server_after - server_before) / n,
        "connect_s": connected["connect_s"],
        "frames_checked": done["received"], "frames_sent": stopped["frames_sent"],
    }


def summarize(runs: list[dict]) -> dict:
    ok = [r for r in runs if r["ok"]]
    s = {"runs": len(runs), "ok_runs": len(ok), "errors": [r["error"] for r in runs if not r["ok"]],
         "frames_checked": sum(r["frames_checked"] for r in ok)}
    if not ok:
        return s
    fps = [r["fps"] for r in ok]
    med = lambda key: statistics.median(r[key] for r in ok) if ok[0][key] is not None else None
    s.update({"fps_median": statistics.median(fps),
              "spread": (max(fps) - min(fps)) / statistics.median(fps),
              "client_rss_per_conn": med("client_rss_per_conn"),
              "client_traced_per_conn": med("client_traced_per_conn"),
              "server_rss_per_conn": med("server_rss_per_conn"),
              "client_rss_per_conn_all": [round(r["client_rss_per_conn"]) for r in ok],
              "connect_s": med("connect_s"),
              **{k: med(k) for k in ("client_cpu", "client_wait", "server_cpu", "server_wait")},
              "active_min": min(r["active_connections"] for r in ok)})
    return s


def run_cell(server_impl: str, loop: str, cfg, rng, workdir: Path) -> dict:
    runs = {key: [] for key in cfg.contenders}
    orders = []
    for round_no in range(cfg.rounds):
        order = list(cfg.contenders) if round_no == 0 else rng.sample(cfg.contenders,
                                                                      len(cfg.contenders))
        orders.append(order)
        for key in order:
            print(f"  [server {server_impl}, {loop}] round {round_no + 1}/{cfg.rounds}: {key}",
                  file=sys.stderr, flush=True)
            result = one_run(server_impl, key, loop, cfg, workdir)
            if not result["ok"]:
                print(f"    FAILED: {result['error']}", file=sys.stderr, flush=True)
            runs[key].append(result)
    summary = {key: summarize(r) for key, r in runs.items()}
    base = summary.get(BASELINE, {})
    for s in summary.values():
        for field, ref in (("vs_picows", "fps_median"), ("mem_vs_picows", "client_rss_per_conn")):
            s[field] = (s[ref] / base[ref] if s.get(ref) is not None and base.get(ref) else None)
    return {"server": server_impl, "loop": loop, "orders": orders, "contenders": summary,
            "runs": runs}


COLUMNS = ("client", "frames/s", "spread", "vs picows", "CPU cli/srv", "wait cli/srv",
           "client RSS/conn", "mem vs picows",
           "server RSS/conn", "connect s", "runs ok", "frames checked")


def cell_rows(cell: dict, traced: bool) -> list[list[str]]:
    rows = []
    for key, s in cell["contenders"].items():
        if "fps_median" not in s:
            rows.append([CONTENDERS[key], "FAILED"] + ["-"] * (len(COLUMNS) - 3)
                        + [f"0/{s['runs']}"])
            continue
        client_mem = fmt(s["client_rss_per_conn"], ",.0f") + " B"
        if traced:
            client_mem += f" (traced {fmt(s['client_traced_per_conn'], ',.0f')} B)"
        rows.append([CONTENDERS[key], fmt(s["fps_median"], ",.0f"), f"{100 * s['spread']:.1f}%",
                     fmt(s["vs_picows"], ".3f"), f"{100 * s['client_cpu']:.0f}/{100 * s['server_cpu']:.0f}%",
                     f"{100 * s['client_wait']:.0f}/{100 * s['server_wait']:.0f}%", client_mem, fmt(s["mem_vs_picows"], ".3f"),
                     fmt(s["server_rss_per_conn"], ",.0f") + " B", fmt(s["connect_s"], ".2f"),
                     f"{s['ok_runs']}/{s['runs']}", f"{s['frames_checked']:,}"])
    return rows


def describe(report: dict) -> list[str]:
    cfg = report["config"]
    return [f"Fan-in benchmark, {report['started']}"] + machine_lines(report["machine"]) + [
        f"{cfg['connections']:,} connections in one client process, {cfg['size']} B frames "
        f"(server writes {cfg['batch_frames']}-frame batches); {cfg['rounds']} interleaved rounds "
        f"of fresh server + client; window {cfg['duration']} s after {cfg['warmup']} s warm-up; "
        f"pinning: {cfg['pinning']}; RLIMIT_NOFILE soft limit {cfg['nofile']}",
        "frames/s: median over runs of frames received per second by the client process; "
        "CPU cli/srv: CPU time / window of the client / server process; wait cli/srv: time "
        "runnable but waiting for a CPU (other load on the machine; high = noisy run); client "
        "CPU + wait near 100% = the client never idles, i.e. it is the bottleneck as intended "
        "(the server polls, so its CPU says little); "
        "RSS/conn: (RSS with N idle connections - RSS before them) / N, /proc/PID/statm, "
        "median over runs" + ("; traced: tracemalloc (Python allocators only)"
                              if cfg["tracemalloc"] else ""),
        "frames checked: frames received in ok runs, each connection's count equal to what "
        "the server says it sent (END frame)"]


def cell_title(cell: dict) -> str:
    return f"server {cell['server']}, {cell['loop']}"


def notes(report: dict) -> list[str]:
    out = []
    for cell in report["cells"]:
        for key, s in cell["contenders"].items():
            for error in sorted(set(s["errors"])):
                out.append(f"{cell_title(cell)}: {CONTENDERS[key]} failed "
                           f"{s['errors'].count(error)}x: {error}")
            if s.get("active_min", report["config"]["connections"] + 1) \
                    < report["config"]["connections"] + 1:
                out.append(f"{cell_title(cell)}: {CONTENDERS[key]}: only {s['active_min']} "
                           f"connections had received data when the window ended")
    return out


def render_text(report: dict) -> str:
    traced = report["config"]["tracemalloc"]
    out = describe(report) + [""]
    for cell in report["cells"]:
        out += [f"== {cell_title(cell)} ==", text_table(COLUMNS, cell_rows(cell, traced)), ""]
    out += [f"note: {n}" for n in notes(report)]
    out.append(f"wall time: {report['wall_time_s']:.0f} s")
    return "\n".join(out)


def render_markdown(report: dict) -> str:
    traced = report["config"]["tracemalloc"]
    head = describe(report)
    out = [f"# {head[0]}", ""] + [f"- {line}" for line in head[1:]] + [
        f"- Command: `{report['config']['command']}`; wall time {report['wall_time_s']:.0f} s", ""]
    for cell in report["cells"]:
        out += [f"## {cell_title(cell)}", "", markdown_table(COLUMNS, cell_rows(cell, traced)), ""]
    out += [f"- {n}" for n in notes(report)]
    return "\n".join(out) + "\n"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"shorter: {QUICK}")
    parser.add_argument("--connections", "-n", type=int, default=1000)
    parser.add_argument("--servers", help="comma-separated server implementations: "
                                          "picows,picows_like (full: both, quick: picows)")
    parser.add_argument("--loops", default="asyncio,uvloop")
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--size", type=int, default=64, help="payload bytes per frame (< 126)")
    parser.add_argument("--batch-frames", type=int, default=64,
                        help="frames per server write (one batch per connection per sweep)")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--warmup", type=float)
    parser.add_argument("--duration", type=float, help="measured window in seconds")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also trace the client's Python allocations while connecting")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--no-pin", dest="pin", action="store_false")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out-dir", type=Path, default=HERE / "results")
    args = parser.parse_args()
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.servers = [s for s in args.servers.split(",") if s]
    args.loops = [s for s in args.loops.split(",") if s]
    args.contenders = [c for c in args.contenders.split(",") if c]
    if set(args.servers) - {"picows", "picows_like"} or set(args.contenders) - set(CONTENDERS):
        parser.error("implementations are picows and picows_like")
    if not 0 < args.size < 126:
        parser.error("--size must be 1..125 (the delivery check tells frames apart by size)")
    return args


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # so that `finally` stops children
    # Fail here, clearly, rather than in a child: both children need N + a few descriptors.
    nofile = raise_nofile(args.connections + 64)
    started, started_at = time.monotonic(), datetime.now(timezone.utc)
    machine = machine_info()
    rng = random.Random(args.seed)
    cells = []
    with tempfile.TemporaryDirectory(prefix="fanin-bench-") as tmp:
        for server_impl in args.servers:
            for loop in args.loops:
                cells.append(run_cell(server_impl, loop, args, rng, Path(tmp)))
    report = {
        "started": started_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "machine": machine,
        "config": {"command": " ".join([Path(sys.executable).name] + sys.argv),
                   "quick": args.quick, "connections": args.connections, "servers": args.servers,
                   "loops": args.loops, "contenders": args.contenders, "size": args.size,
                   "batch_frames": args.batch_frames, "rounds": args.rounds,
                   "warmup": args.warmup, "duration": args.duration,
                   "tracemalloc": args.tracemalloc, "seed": args.seed, "nofile": nofile,
                   "pinning": f"server cpu{args.server_cpu}, client cpu{args.client_cpu}"
                              if args.pin else "off"},
        "cells": cells,
        "wall_time_s": time.monotonic() - started,
    }
    print(render_text(report))
    stem = f"fanin-{'quick-' if args.quick else ''}{started_at.strftime('%Y%m%d-%H%M%S')}"
    path = write_results(args.out_dir, stem, report, render_markdown(report))
    print(f"results: {path}.json, {path}.md")
    return 0 if all(s.get("ok_runs") == s.get("runs") for c in cells
                    for s in c["contenders"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
