#!/usr/bin/env python
"""Receive-path throughput in one process: picows_like vs picows 2.3.1.

A stream of back-to-back BINARY frames is pushed through each library's
upgraded WSProtocol the way the event loop does it: get_buffer(), copy one
read into the buffer returned, buffer_updated(). A read is min(read size,
len(buffer)), as for a socket that always has more data. Server side parses
masked frames (what clients send), client side unmasked frames. Both
libraries get the same minimal Python WSListener (counts frames, sums
payload_size); every repetition checks the counts and that nothing was
written back (a parse error would send CLOSE). picows_like's sans-I/O
FrameParser.feed() is an extra row. See benchmarks/README.md.

    python benchmarks/parser.py --quick     # < 1 minute
    python benchmarks/parser.py             # full, ~3 minutes
    python benchmarks/parser.py --instructions [--quick]   # callgrind instructions per frame
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from time import perf_counter_ns

from _bench_common import import_ws_library, pin_to_cpu
from _parser_report import (fmt, human_size, machine_info, machine_lines, markdown_table,
                            text_table, write_results)
from _parser_setup import build_stream, feed, make_receiver

HERE = Path(__file__).resolve().parent
CONTENDERS = {"picows_like": "picows_like (Python listener)",
              "picows": "picows (Python listener)",
              "feed": "picows_like FrameParser.feed()",
              "picows_like_cy": "picows_like (Cython listener)",
              "picows_cy": "picows (Cython listener)"}
DEFAULT_CONTENDERS = ("picows_like", "picows", "feed")
CYTHON_CONTENDERS = ("picows_like_cy", "picows_cy")
BASELINE = "picows"
FULL = {"sizes": [64, 1024, 65536], "reads": [65536, 262144], "rounds": 7, "rep_time": 0.3,
        "stream": 8 << 20}
QUICK = {"sizes": [64, 1024, 65536], "reads": [65536, 262144], "rounds": 3, "rep_time": 0.08,
         "stream": 2 << 20}


def check_payloads(who: str, got: list[bytes], expected: list[bytes]) -> None:
    if got != expected:
        bad = next((i for i, (g, e) in enumerate(zip(got, expected)) if g != e), None)
        raise RuntimeError(f"{who}: delivered {len(got)} payloads, expected {len(expected)}; "
                           f"first wrong payload: #{bad}")


# Callgrind mode: one read size (the largest realistic one), few passes (valgrind is ~50x slower).
INSTR = {"sizes": [64, 1024, 65536], "reads": [262144], "cg_stream": 1 << 20, "cg_passes": (1, 4),
         "rounds": 1, "rep_time": 0.0, "stream": 0}
INSTR_QUICK = {**INSTR, "sizes": [64, 65536]}


def baseline_for(contender: str) -> str:
    """Cython-listener rows compare with picows' Cython-listener row, the rest with picows'
    Python-listener row."""
    return "picows_cy" if contender.endswith("_cy") else BASELINE


class FeedRunner:
    """picows_like's Python-level FrameParser.feed(), given the same reads."""

    def __init__(self, masked: bool):
        from picows_like._parser import FrameParser
        self.parser = FrameParser(masked)

    def verify(self, stream: bytes, read_size: int, expected: list[bytes]) -> None:
        view = memoryview(stream)
        got = [frame[5] for pos in range(0, len(view), read_size)
               for frame in self.parser.feed(view[pos:pos + read_size])]
        check_payloads("FrameParser.feed()", got, expected)

    def run(self, stream: bytes, read_size: int) -> tuple[int, int, int]:
        frames = payload = reads = 0
        view = memoryview(stream)
        for pos in range(0, len(view), read_size):
            for frame in self.parser.feed(view[pos:pos + read_size]):
                frames += 1
                payload += len(frame[5])
            reads += 1
        return frames, payload, reads


class ProtocolRunner:
    """An upgraded WSProtocol of one library on a fake transport."""

    def __init__(self, contender: str, masked: bool):
        impl = contender.removesuffix("_cy")
        listener_class = None
        if contender.endswith("_cy"):
            from _parser_cython import counting_listener_class
            listener_class = counting_listener_class(impl)
        self.receiver = make_receiver(impl, import_ws_library(impl), is_client=not masked,
                                      listener_class=listener_class)

    def verify(self, stream: bytes, read_size: int, expected: list[bytes]) -> None:
        listener = self.receiver.listener
        listener.record = []
        try:
            feed(self.receiver.protocol, stream, read_size)
            self.receiver.check_quiet()
            check_payloads(self.receiver.impl, listener.record, expected)
        finally:
            listener.record = None

    def run(self, stream: bytes, read_size: int) -> tuple[int, int, int]:
        listener = self.receiver.listener
        listener.frames = listener.payload_bytes = 0
        reads, _ = feed(self.receiver.protocol, stream, read_size)
        self.receiver.check_quiet()
        return listener.frames, listener.payload_bytes, reads

    def close(self) -> None:
        self.receiver.close()


def one_repetition(runner, stream: bytes, frames_per_pass: int, size: int, read_size: int,
                   rep_time: float) -> dict:
    """Whole passes over the stream until rep_time has elapsed; checks every pass."""
    frames = payload = reads = passes = 0
    deadline_ns = int(rep_time * 1e9)
    t0 = perf_counter_ns()
    while True:
        f, p, r = runner.run(stream, read_size)
        if f != frames_per_pass or p != frames_per_pass * size:
            raise RuntimeError(f"{type(runner).__name__}: pass delivered {f} frames / {p} B, "
                               f"expected {frames_per_pass} / {frames_per_pass * size}")
        frames += f
        payload += p
        reads += r
        passes += 1
        elapsed = perf_counter_ns() - t0
        if elapsed >= deadline_ns:
            break
    seconds = elapsed / 1e9
    return {"frames": frames, "passes": passes, "reads": reads, "seconds": seconds,
            "fps": frames / seconds, "mbps": payload / seconds / 1e6,
            "wire_mbps": passes * len(stream) / seconds / 1e6}


def run_cell(masked: bool, size: int, read_size: int, cfg, rng) -> dict:
    stream, frames_per_pass, payloads = build_stream(size, masked, cfg.stream)
    expected = payloads * (frames_per_pass // len(payloads))
    runners = {}
    for key in cfg.contenders:
        runners[key] = FeedRunner(masked) if key == "feed" else ProtocolRunner(key, masked)
        # Warm-up pass (and buffer growth) that also checks every payload's content.
        runners[key].verify(stream, read_size, expected)
    reps = {key: [] for key in runners}
    orders = []
    for round_no in range(cfg.rounds):
        order = list(runners) if round_no == 0 else rng.sample(list(runners), len(runners))
        orders.append(order)
        for key in order:
            gc.collect()
            reps[key].append(one_repetition(runners[key], stream, frames_per_pass, size,
                                            read_size, cfg.rep_time))
    for runner in runners.values():
        if hasattr(runner, "close"):
            runner.close()
    summary = {}
    for key, rs in reps.items():
        fps = [r["fps"] for r in rs]
        med = statistics.median(fps)
        summary[key] = {"fps_median": med, "mbps_median": statistics.median(r["mbps"] for r in rs),
                        "spread": (max(fps) - min(fps)) / med,
                        "avg_read": sum(r["passes"] for r in rs) * len(stream)
                                    / sum(r["reads"] for r in rs),
                        "reps": rs}
    for key, s in summary.items():
        base = summary.get(baseline_for(key), {}).get("fps_median")
        s["vs_picows"] = s["fps_median"] / base if base else None
    return {"side": "server (masked)" if masked else "client (unmasked)", "size": size,
            "read_size": read_size, "frames_per_pass": frames_per_pass,
            "stream_bytes": len(stream), "orders": orders, "contenders": summary}


COLUMNS = ("contender", "frames/s", "payload MB/s", "spread", "avg read", "vs picows*")


VS_NOTE = ("vs picows* = relative to picows with the same kind of listener (Cython rows to "
           "picows' Cython row, the others to picows' Python-listener row)")


def cell_title(cell: dict) -> str:
    return (f"{cell['side']}, {human_size(cell['size'])} frames, "
            f"{human_size(cell['read_size'])} reads")


def cell_rows(cell: dict) -> list[list[str]]:
    return [[CONTENDERS[key], fmt(s["fps_median"], ",.0f"), fmt(s["mbps_median"], ",.0f"),
             f"{100 * s['spread']:.1f}%", human_size(int(s["avg_read"])) if s["avg_read"] >= 1024
             else f"{s['avg_read']:.0f} B", fmt(s["vs_picows"], ".3f")]
            for key, s in cell["contenders"].items()]


def ratio_matrix(report: dict) -> tuple[list[str], list[list[str]]]:
    cells = report["cells"]
    header = ["frames/s vs picows*"] + [
        f"{'srv' if c['side'].startswith('server') else 'cli'} {human_size(c['size'])}"
        f" / {human_size(c['read_size'])}" for c in cells]
    rows = [[CONTENDERS[key]] + [fmt(c["contenders"][key]["vs_picows"], ".3f") for c in cells]
            for key in report["config"]["contenders"]]
    return header, rows


def describe(report: dict) -> list[str]:
    cfg = report["config"]
    return [f"Parser benchmark, {report['started']}"] + machine_lines(report["machine"]) + [
        f"In-process (fake transport, handshake bytes fed first); {cfg['rounds']} interleaved "
        f"rounds x >= {cfg['rep_time']} s per contender and cell, medians; stream "
        f"~{human_size(cfg['stream'])} per pass; pinning: {cfg['pinning']}",
        "frames/s and payload MB/s are medians; spread = (max - min) / median frames/s; "
        "avg read = bytes per buffer_updated (a read is min(read size, len(get_buffer())))",
        VS_NOTE]


def render_text(report: dict) -> str:
    out = describe(report) + [""]
    for cell in report["cells"]:
        out += [f"== {cell_title(cell)} ==", text_table(COLUMNS, cell_rows(cell)), ""]
    header, rows = ratio_matrix(report)
    out += ["== frames/s relative to picows* ==", text_table(header, rows), "",
            f"wall time: {report['wall_time_s']:.0f} s"]
    return "\n".join(out)


def render_markdown(report: dict) -> str:
    head = describe(report)
    out = [f"# {head[0]}", ""] + [f"- {line}" for line in head[1:]] + [
        f"- Command: `{report['config']['command']}`; wall time {report['wall_time_s']:.0f} s", ""]
    header, rows = ratio_matrix(report)
    out += ["## frames/s relative to picows*", "", markdown_table(header, rows), ""]
    for cell in report["cells"]:
        out += [f"## {cell_title(cell)}", "", markdown_table(COLUMNS, cell_rows(cell)), ""]
    return "\n".join(out)


INSTR_COLUMNS = ("contender", "instructions/frame", "per payload byte", "vs picows*")


def run_instructions(args) -> list[dict]:
    """Callgrind mode: instructions per frame for every cell and contender."""
    from _parser_cg import instructions_per_frame
    cells = []
    for side in args.sides:
        for size in args.sizes:
            for read_size in args.reads:
                print(f"  {side} {human_size(size)} / {human_size(read_size)} (callgrind) ...",
                      file=sys.stderr, flush=True)
                counts = {key: instructions_per_frame(key, side, size, read_size,
                                                      args.cg_stream, args.cg_passes)
                          for key in args.contenders}
                for key, c in counts.items():
                    base = counts.get(baseline_for(key), {}).get("per_frame")
                    c["vs_picows"] = c["per_frame"] / base if base else None
                cells.append({"side": "server (masked)" if side == "server"
                              else "client (unmasked)", "size": size, "read_size": read_size,
                              "contenders": counts})
    return cells


def instr_rows(cell: dict) -> list[list[str]]:
    return [[CONTENDERS[key], fmt(c["per_frame"], ",.0f"), fmt(c["per_payload_byte"], ".2f"),
             fmt(c["vs_picows"], ".3f")] for key, c in cell["contenders"].items()]


def render_instructions(report: dict, markdown: bool) -> str:
    cfg = report["config"]
    head = [f"Parser benchmark (callgrind), {report['started']}"] + machine_lines(
        report["machine"]) + [
        f"Instructions per received frame (user space: buffer copy, parsing, unmasking, "
        f"listener call) = (I(P2) - I(P1)) / ((P2 - P1) x frames per pass), P = "
        f"{cfg['cg_passes']}, ~{human_size(cfg['cg_stream'])} and >= 64 frames per pass; "
        f"lower is better",
        VS_NOTE]
    if markdown:
        out = [f"# {head[0]}", ""] + [f"- {line}" for line in head[1:]] + [
            f"- Command: `{cfg['command']}`; wall time {report['wall_time_s']:.0f} s", ""]
        for cell in report["cells"]:
            out += [f"## {cell_title(cell)}", "", markdown_table(INSTR_COLUMNS, instr_rows(cell)),
                    ""]
        return "\n".join(out)
    out = head + [""]
    for cell in report["cells"]:
        out += [f"== {cell_title(cell)} ==", text_table(INSTR_COLUMNS, instr_rows(cell)), ""]
    return "\n".join(out + [f"wall time: {report['wall_time_s']:.0f} s"])


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"shorter: {QUICK}")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions per frame with callgrind instead of timing "
                             f"(defaults: {INSTR}, quick: {INSTR_QUICK})")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")],
                        help="comma-separated payload sizes in bytes")
    parser.add_argument("--reads", type=lambda s: [int(x) for x in s.split(",")],
                        help="comma-separated maximum read sizes in bytes")
    parser.add_argument("--sides", default="server,client",
                        help="server: parse masked frames; client: unmasked")
    parser.add_argument("--contenders", default=",".join(DEFAULT_CONTENDERS),
                        help="comma-separated subset of: " + ",".join(CONTENDERS))
    parser.add_argument("--cython", action="store_true",
                        help="add both libraries with a Cython (cdef class) counting listener, "
                             "built on first use: " + ",".join(CYTHON_CONTENDERS))
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--rep-time", type=float, help="seconds per repetition (whole passes)")
    parser.add_argument("--stream", type=int, help="approximate bytes per pass")
    parser.add_argument("--cpu", type=int, default=1, help="CPU to pin to")
    parser.add_argument("--no-pin", dest="pin", action="store_false")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out-dir", type=Path, default=HERE / "results")
    args = parser.parse_args()
    if args.instructions:
        defaults = INSTR_QUICK if args.quick else INSTR
    else:
        defaults = QUICK if args.quick else FULL
    for name, value in defaults.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    args.contenders = [c for c in args.contenders.split(",") if c]
    if args.cython:
        args.contenders += [c for c in CYTHON_CONTENDERS if c not in args.contenders]
    unknown = set(args.contenders) - set(CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders: {', '.join(sorted(unknown))}")
    args.sides = [s for s in args.sides.split(",") if s]
    if set(args.sides) - {"server", "client"}:
        parser.error("--sides takes server and/or client")
    return args


async def run_all(args, rng) -> list[dict]:
    # A running loop is needed only because the protocols are built with one.
    cells = []
    for side in args.sides:
        for size in args.sizes:
            for read_size in args.reads:
                print(f"  {side} {human_size(size)} / {human_size(read_size)} ...",
                      file=sys.stderr, flush=True)
                cells.append(run_cell(side == "server", size, read_size, args, rng))
    return cells


def main() -> int:
    args = parse_args()
    started, started_at = time.monotonic(), datetime.now(timezone.utc)
    pinning = pin_to_cpu(args.cpu) if args.pin else "unpinned"
    machine = machine_info()
    rng = random.Random(args.seed)
    cells = run_instructions(args) if args.instructions else asyncio.run(run_all(args, rng))
    report = {
        "started": started_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "machine": machine,
        "config": {"command": " ".join([Path(sys.executable).name] + sys.argv),
                   "quick": args.quick, "sizes": args.sizes, "reads": args.reads,
                   "sides": args.sides, "contenders": args.contenders, "rounds": args.rounds,
                   "rep_time": args.rep_time, "stream": args.stream, "seed": args.seed,
                   "pinning": pinning, "instructions": args.instructions,
                   "cg_stream": getattr(args, "cg_stream", None),
                   "cg_passes": getattr(args, "cg_passes", None)},
        "cells": cells,
        "wall_time_s": time.monotonic() - started,
    }
    if args.instructions:
        text, markdown = render_instructions(report, False), render_instructions(report, True)
    else:
        text, markdown = render_text(report), render_markdown(report)
    print(text)
    kind = "parser-instructions-" if args.instructions else "parser-"
    stem = f"{kind}{'quick-' if args.quick else ''}{started_at.strftime('%Y%m%d-%H%M%S')}"
    path = write_results(args.out_dir, stem, report, markdown)
    print(f"results: {path}.json, {path}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
