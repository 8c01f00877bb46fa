#!/usr/bin/env python
"""Single-connection WebSocket echo benchmark: picows_like vs picows and friends.

Paired, finely interleaved measurement (see benchmarks/README.md, "Method"):
for every (server, transport, event loop) group, one echo server process and
one persistent client process per contender are started; for every message
size (a cell) each client opens a fresh connection and warms up, then the
coordinator runs many short measuring windows, one contender at a time in a
new shuffled order every round. Each contender's RPS is divided by the
baseline's (picows, aiofastnet off) from the same round; we report the median
of those paired ratios with a distribution-free 95% confidence interval, and
call a lead "outside noise" only if the interval clears 1 by more than the
A/A twin's deviation.

    python benchmarks/echo.py --quick                 # < 3 minutes
    python benchmarks/echo.py                         # full, < 15 minutes
    python benchmarks/echo.py --servers picows,picows_like
    python benchmarks/echo.py --same-cpu --transports tcp --sizes 256
"""

from __future__ import annotations

import argparse
import importlib.util
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

from _bench_common import HOST, read_cpu_model, runqueue_wait_ns

HERE = Path(__file__).resolve().parent
CLIENT = HERE / "_echo_client.py"
SERVER = HERE / "_echo_server.py"
CYTHON_BUILD = HERE / "cython" / "build.py"
RESULTS_DIR = HERE / "results"


@dataclass(frozen=True)
class Contender:
    key: str     # name understood by _echo_client.py
    label: str


CONTENDERS = (
    Contender("picows", "picows (afn off) = baseline"),
    Contender("picows_aa", "picows A/A twin (afn off)"),
    Contender("picows_afn", "picows (afn on)"),
    Contender("picows_cy", "picows, Cython listener"),
    Contender("picows_like", "picows_like (afn off)"),
    Contender("picows_like_cy", "picows_like, Cython listener"),
    Contender("picows_like_afn", "picows_like (afn on)"),
    Contender("websockets", "websockets (asyncio API)"),
    Contender("aiohttp", "aiohttp"),
    Contender("raw", "raw floor (no WS parsing)"),
    # The server role: the baseline's very client (picows, afn off) against a
    # picows_like echo server running beside the picows one, so its ratio is
    # picows_like server / picows server, paired like every other ratio.
    Contender("srv_like", "picows client -> picows_like server"),
)
BASELINE, FLOOR, AA_TWIN = "picows", "raw", "picows_aa"
LABELS = {c.key: c.label for c in CONTENDERS}
# Extra paired ratios (numerator, denominator) shown next to the ratios to the baseline.
# Both with aiofastnet (picows' default when it is installed; picows_like's default for TLS).
HEAD_TO_HEAD = (("picows_like_cy", "picows_cy"), ("picows_like_afn", "picows_afn"))
SHORT = {"picows_aa": "A/A", "picows_afn": "picows afn", "picows_cy": "picows cy",
         "picows_like": "picows_like", "picows_like_cy": "picows_like cy",
         "websockets": "websockets", "aiohttp": "aiohttp", "raw": "raw floor",
         "srv_like": "picows_like server",
         "picows_like_afn": "picows_like afn",
         "picows_like_cy/picows_cy": "picows_like cy / picows cy",
         "picows_like_afn/picows_afn": "picows_like afn / picows afn"}

FULL = {"sizes": [64, 256, 8192, 102400, 1048576], "tls_sizes": [64, 256, 8192, 102400, 1048576],
        "rounds": 15, "window": 0.2, "settle": 0.02, "warmup": 0.3}
QUICK = {"sizes": [64, 8192, 1048576], "tls_sizes": [64, 8192],
         "rounds": 9, "window": 0.12, "settle": 0.02, "warmup": 0.15}
CONFIDENCE = 0.95


# --- child processes ------------------------------------------------------------------------

class LineReader:
    """Reads newline-terminated lines from a child's stdout pipe, with a timeout."""

    def __init__(self, fd: int):
        self.fd = fd
        self.buf = b""

    def readline(self, timeout: float) -> str | None:
        """The next line, or None on timeout or EOF."""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.fd, selectors.EVENT_READ)
            while b"\n" not in self.buf:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    return None
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    return None
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()


class Child:
    """A child process that we talk to over its stdin/stdout; it exits when its stdin closes."""

    def __init__(self, name: str, args: list[str], workdir: Path):
        self.name = name
        self.args = args
        self.stderr_path = workdir / f"{name}.stderr"
        self.proc: subprocess.Popen | None = None
        self.reader: LineReader | None = None
        self.error: str | None = None

    def spawn(self) -> None:
        with open(self.stderr_path, "ab") as stderr:
            self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=stderr)
        self.reader = LineReader(self.proc.stdout.fileno())

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
        self.proc.stdout.close()
        self.proc = None

    def stderr_tail(self, n: int = 600) -> str:
        try:
            return self.stderr_path.read_text(errors="replace").strip()[-n:]
        except OSError:
            return ""


class EchoServer(Child):
    """The echo server (picows or picows_like, aiofastnet off); prints its port."""

    def __init__(self, impl: str, loop: str, certfile: Path | None, cpu: int | None,
                 max_lifetime: float, workdir: Path):
        args = [sys.executable, str(SERVER), "--impl", impl, "--loop", loop,
                "--max-lifetime", str(int(max_lifetime))]
        if certfile:
            args += ["--certfile", str(certfile)]
        if cpu is not None:
            args += ["--cpu", str(cpu)]
        super().__init__(f"server-{impl}-{loop}", args, workdir)
        self.scheme = "wss" if certfile else "ws"
        self.port = 0

    def start(self) -> "EchoServer":
        self.spawn()
        line = self.reader.readline(timeout=30) or ""
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"echo server did not start: {line!r}\n{self.stderr_tail()}")
        self.port = int(line.split()[1])
        return self

    @property
    def url(self) -> str:
        return f"{self.scheme}://{HOST}:{self.port}/"

    def cpu_wait_ns(self) -> int | None:
        return runqueue_wait_ns(self.proc.pid) if self.alive() else None


class ClientProc(Child):
    """One contender's persistent client process (see _echo_client.py for its commands)."""

    def __init__(self, key: str, loop: str, cafile: Path | None, cy_dir: Path | None,
                 cpu: int | None, max_lifetime: float, workdir: Path):
        args = [sys.executable, str(CLIENT), "--contender", key, "--loop", loop,
                "--max-lifetime", str(int(max_lifetime))]
        if cafile:
            args += ["--cafile", str(cafile)]
        if cy_dir:
            args += ["--cy-dir", str(cy_dir)]
        if cpu is not None:
            args += ["--cpu", str(cpu)]
        super().__init__(f"client-{key}-{loop}", args, workdir)
        self.key = key
        self.start_failed = False

    def wait_ready(self, timeout: float = 60) -> bool:
        """After spawn(): True once the client has imported everything."""
        line = self.reader.readline(timeout)
        try:
            ready = json.loads(line)
        except (TypeError, ValueError):
            ready = {"ready": False, "error": f"no ready line ({line!r}): {self.stderr_tail()}"}
        if not ready.get("ready"):
            self.error = ready.get("error", "did not start")
            self.start_failed = True
            self.stop()
            return False
        return True

    def command(self, cmd: dict, timeout: float) -> dict:
        """Send one command, return its answer; never raises. A client that does not
        answer in time is killed (the answer then says why)."""
        if not self.alive():
            return {"ok": False, "error": self.error or "client process is not running"}
        try:
            self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
            self.proc.stdin.flush()
            line = self.reader.readline(timeout)
        except OSError as exc:
            line, why = None, f"pipe error: {exc}"
        else:
            why = f"no answer within {timeout:.0f} s"
        if line is None:
            dead = not self.alive()
            self.stop()
            self.error = (f"client process died: {self.stderr_tail()}" if dead else why)
            return {"ok": False, "error": self.error}
        try:
            return json.loads(line)
        except ValueError:
            return {"ok": False, "error": f"unexpected output from the client: {line[:200]!r}"}


def start_clients(keys, loop, cafile, cy_dirs, cfg, max_lifetime, workdir) -> dict[str, ClientProc]:
    """Spawn every contender's client at once (imports overlap), then wait for each."""
    clients = {key: ClientProc(key, loop, cafile, cy_dirs.get(key),
                               cfg.client_cpu if cfg.pin else None, max_lifetime, workdir)
               for key in keys}
    for c in clients.values():
        c.spawn()
    for c in clients.values():
        c.wait_ready()
    return clients


def make_tls_files(workdir: Path) -> tuple[Path, Path]:
    """A throwaway CA (trustme) and a certificate for 127.0.0.1 signed by it."""
    import trustme
    ca = trustme.CA()
    cert = ca.issue_cert(HOST, "localhost")
    server_pem, ca_pem = workdir / "server.pem", workdir / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    ca.cert_pem.write_to_path(str(ca_pem))
    return server_pem, ca_pem


def probe_environment() -> dict:
    """Library versions as seen by the child interpreter, and where the libraries live."""
    proc = subprocess.run([sys.executable, str(CLIENT), "--probe"],
                          capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"probe failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def build_cython_clients(probe: dict) -> dict[str, tuple[Path | None, str]]:
    """Build (or find cached) benchmarks/cython modules; module -> (dir or None, message)."""
    spec = importlib.util.spec_from_file_location("echo_cython_build", CYTHON_BUILD)
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    dirs = {lib: Path(d) for lib, d in probe["package_dirs"].items()}
    return build.build_all(dirs)


def machine_info(probe: dict) -> dict:
    cpu_model = read_cpu_model()
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

def run_cell(group: dict, size: int, clients: dict[str, ClientProc],
             servers: dict[str, EchoServer], cfg, rng: random.Random, workdir: Path) -> dict:
    """One (group, size) cell: connect + warm up every client, then cfg.rounds rounds of
    one window per contender in a shuffled order; finally collect the latencies.
    `servers`: the group's echo server under None, the picows_like one under
    "srv_like" when that contender runs."""
    server_of = {key: servers.get(key, servers[None]) for key in clients}
    errors = {key: [] for key in clients}
    connected = []
    for key, client in clients.items():
        progress(f"  [{cell_name(group, size)}] connecting {key}")
        answer = client.command({"cmd": "connect", "url": server_of[key].url, "size": size,
                                 "warmup": cfg.warmup}, timeout=cfg.warmup + 40)
        if answer["ok"]:
            connected.append(key)
        else:
            errors[key].append(answer["error"])
    active = list(connected)
    separate_cpus = cfg.pin and cfg.server_cpu != cfg.client_cpu
    rounds = []
    for round_no in range(cfg.rounds):
        order = rng.sample(active, len(active))
        results = {}
        for key in order:
            progress(f"  [{cell_name(group, size)}] round {round_no + 1}/{cfg.rounds}: {key}")
            if cfg.fresh and round_no > 0:
                answer = clients[key].command({"cmd": "reconnect", "url": server_of[key].url,
                                               "size": size,
                                               "warmup": cfg.rewarm}, timeout=cfg.rewarm + 40)
                if not answer["ok"]:
                    errors[key].append(answer["error"])
                    active.remove(key)
                    continue
            server = server_of[key]
            server_wait0 = server.cpu_wait_ns()
            answer = clients[key].command({"cmd": "run", "settle": cfg.settle, "seconds": cfg.window},
                                          timeout=cfg.settle + cfg.window + 30)
            server_wait1 = server.cpu_wait_ns()
            if not answer["ok"]:
                errors[key].append(answer["error"])
                active.remove(key)         # its connection is gone for this cell
                continue
            answer["cpu_wait"] = None      # % of the window our processes waited for a CPU
            if separate_cpus and None not in (server_wait0, server_wait1, answer["cpu_wait_s"]):
                waited = answer["cpu_wait_s"] + (server_wait1 - server_wait0) / 1e9
                answer["cpu_wait"] = round(100 * waited / answer["span_s"], 2)
            results[key] = answer
        rounds.append({"order": order, "results": results})
        dead = [s for s in servers.values() if not s.alive()]
        if dead:
            for key in active:
                errors[key].append(f"echo server died: {dead[0].stderr_tail()}")
            break
    progress("")
    latencies = {}
    for key in connected:
        lat_path = workdir / "latencies.bin"
        answer = clients[key].command({"cmd": "finish", "lat_file": str(lat_path)}, timeout=30)
        if answer["ok"]:
            lat = array("q")
            lat.frombytes(lat_path.read_bytes())
            latencies[key] = lat
    cell = {**group, "size": size, "rounds": rounds,
            "errors": {k: v for k, v in errors.items() if v}}
    cell["summary"] = summarize_cell(cell, latencies, list(clients), cfg)
    return cell


def median_ci(values: list[float], confidence: float = CONFIDENCE):
    """Distribution-free confidence interval for the median of `values`: the k-th
    smallest and k-th largest value, with the largest k for which
    P(Binomial(n, 1/2) < k) <= (1 - confidence) / 2 (the sign-test interval; it
    assumes only independent rounds). Returns (low, high, coverage), or None if
    n is too small (n < 6 for 95%)."""
    n = len(values)
    k, below = 0, 0.0
    for j in range(n):
        p = math.comb(n, j) / 2 ** n
        if below + p > (1 - confidence) / 2:
            break
        below += p
        k = j + 1
    if k == 0:
        return None
    xs = sorted(values)
    return xs[k - 1], xs[n - k], 1 - 2 * below


def percentile(sorted_values, q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    rank = math.ceil(q / 100 * len(sorted_values))
    return sorted_values[min(len(sorted_values), max(1, rank)) - 1]


def paired(rounds: list[dict], used: list[int], num: str, den: str) -> dict | None:
    """Median of the per-round ratios RPS(num) / RPS(den) and its interval."""
    ratios = [r["results"][num]["rps"] / r["results"][den]["rps"]
              for r in (rounds[i] for i in used)
              if num in r["results"] and den in r["results"]]
    if not ratios:
        return None
    ci = median_ci(ratios)
    return {"median": statistics.median(ratios), "n": len(ratios),
            "ci": None if ci is None else [ci[0], ci[1]],
            "coverage": None if ci is None else ci[2]}


def verdict(ratio: dict | None, aa_dev: float) -> str:
    """'faster' / 'slower' only if the whole interval lies beyond 1 +- the A/A deviation."""
    if ratio is None:
        return "-"
    if ratio["ci"] is None:
        return "n/a"                     # too few rounds for an interval
    low, high = ratio["ci"]
    if low > 1 + aa_dev:
        return "faster"
    if high < 1 - aa_dev:
        return "slower"
    return "noise"


def summarize_cell(cell: dict, latencies: dict, keys: list[str], cfg) -> dict:
    rounds = cell["rounds"]
    clean = [i for i, r in enumerate(rounds)
             if all(w["cpu_wait"] is None or w["cpu_wait"] <= cfg.max_cpu_wait
                    for w in r["results"].values())]
    # Rounds where someone else's load delayed us are left out, unless that leaves
    # fewer than half of them (then all are used and the cell is marked noisy).
    use_clean = len(clean) >= max(1, math.ceil(len(rounds) / 2))
    used = clean if use_clean else list(range(len(rounds)))
    aa = paired(rounds, used, AA_TWIN, BASELINE)
    aa_dev = abs(aa["median"] - 1) if aa else 0.0
    out = {"rounds_used": len(used), "rounds_done": len(rounds), "clean_rounds": len(clean),
           "noisy": not use_clean, "aa_deviation": aa_dev if aa else None, "contenders": {},
           "head_to_head": {}}
    for key in keys:
        windows = [(i, r["results"][key]) for i, r in enumerate(rounds) if key in r["results"]]
        used_windows = [w for i, w in windows if i in used]
        s = {"windows_used": len(used_windows), "windows_done": len(windows)}
        if used_windows:
            rps = [w["rps"] for w in used_windows]
            waits = [w["cpu_wait"] for w in used_windows if w["cpu_wait"] is not None]
            s.update({"rps_median": statistics.median(rps), "rps_per_round": rps,
                      "cpu_wait": statistics.median(waits) if waits else None,
                      "vs_baseline": paired(rounds, used, key, BASELINE) if key != BASELINE else None,
                      "vs_floor": paired(rounds, used, key, FLOOR) if key != FLOOR else None})
            s["verdict"] = ("A/A" if key == AA_TWIN else verdict(s["vs_baseline"], aa_dev)
                            if key != BASELINE else "baseline")
        lat = latencies.get(key)
        if lat is not None and used_windows:
            # The file holds every window's round trips in order: keep the used rounds'.
            pooled, offset = array("q"), 0
            for i, w in windows:
                if i in used:
                    pooled.extend(lat[offset:offset + w["count"]])
                offset += w["count"]
            pooled = sorted(pooled)
            if pooled:
                s.update({"latency_samples": len(pooled), "p50_us": percentile(pooled, 50) / 1e3,
                          "p99_us": percentile(pooled, 99) / 1e3,
                          "p99_9_us": percentile(pooled, 99.9) / 1e3})
        out["contenders"][key] = s
    for num, den in HEAD_TO_HEAD:
        if num in keys and den in keys:
            ratio = paired(rounds, used, num, den)
            out["head_to_head"][f"{num}/{den}"] = {"ratio": ratio, "verdict": verdict(ratio, aa_dev)}
    return out


# --- reporting --------------------------------------------------------------------------------

def human_size(size: int) -> str:
    if size >= 1 << 20 and size % (1 << 20) == 0:
        return f"{size >> 20} MiB"
    if size >= 1024 and size % 1024 == 0:
        return f"{size >> 10} KiB"
    return f"{size} B"


def cell_name(group: dict, size: int) -> str:
    return f"{group['server']} server, {group['transport']}, {group['loop']}, {human_size(size)}"


def progress(message: str) -> None:
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\033[K{message}")
        sys.stderr.flush()


def fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def fmt_ratio(ratio: dict | None, digits: int = 3) -> str:
    if ratio is None:
        return "-"
    ci = ratio["ci"]
    interval = "[n/a]" if ci is None else f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"
    return f"{ratio['median']:.{digits}f} {interval}"


COLUMNS = ("contender", "median RPS", "vs picows [95% CI]", "verdict", "vs floor",
           "p50 us", "p99 us", "p99.9 us", "cpu wait", "windows")


def cell_rows(cell: dict) -> list[list[str]]:
    rows = []
    summary = cell["summary"]
    for key, s in summary["contenders"].items():
        if "rps_median" not in s:
            rows.append([LABELS[key], "FAILED"] + ["-"] * (len(COLUMNS) - 2))
            continue
        vs_floor = s["vs_floor"]
        rows.append([LABELS[key], fmt(s["rps_median"], ",.0f"),
                     fmt_ratio(s["vs_baseline"]) if key != BASELINE else "1 (baseline)",
                     s["verdict"], fmt(vs_floor and vs_floor["median"], ".3f"),
                     fmt(s.get("p50_us"), ".1f"), fmt(s.get("p99_us"), ".1f"),
                     fmt(s.get("p99_9_us"), ".1f"), fmt(s["cpu_wait"], ".1f") + "%"
                     if s["cpu_wait"] is not None else "-",
                     f"{s['windows_used']}/{s['windows_done']}"])
    for name, h in summary["head_to_head"].items():
        num, den = name.split("/")
        rows.append([f"{SHORT[name]} (head to head)", "", fmt_ratio(h["ratio"]), h["verdict"]]
                    + [""] * (len(COLUMNS) - 4))
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
    s = cell["summary"]
    title = cell_name(cell, cell["size"])
    title += f" ({s['rounds_used']}/{s['rounds_done']} rounds used"
    if s["aa_deviation"] is not None:
        title += f", A/A deviation {100 * s['aa_deviation']:.1f}%"
    return title + (", NOISY: most rounds disturbed)" if s["noisy"] else ")")


def matrix(cells: list[dict], keys: list[str]) -> tuple[list[str], list[list[str]]]:
    """Rows: cells; columns: contenders' paired median ratio to picows and its interval;
    + / - mark a lead / lag outside noise."""
    cols = [k for k in keys if k != BASELINE]
    h2h = [f"{a}/{b}" for a, b in HEAD_TO_HEAD if a in keys and b in keys]
    header = ["cell (vs picows afn off)"] + [SHORT[k] for k in cols + h2h]
    mark = {"faster": "+", "slower": "-"}
    rows = []
    for cell in cells:
        s = cell["summary"]
        row = [cell_name(cell, cell["size"]).replace(" server", "") + ("*" if s["noisy"] else "")]
        for k in cols:
            c = s["contenders"].get(k, {})
            row.append(fmt_ratio(c.get("vs_baseline"), 2) + mark.get(c.get("verdict"), "")
                       if c.get("vs_baseline") else "-")
        for name in h2h:
            h = s["head_to_head"][name]
            row.append(fmt_ratio(h["ratio"], 2) + mark.get(h["verdict"], "") if h["ratio"] else "-")
        rows.append(row)
    return header, rows


def notes_for(report: dict) -> list[str]:
    cfg = report["config"]
    notes = list(report["notes"])
    for cell in report["cells"]:
        for key, errs in cell["errors"].items():
            for error in sorted(set(errs)):
                notes.append(f"{cell_name(cell, cell['size'])}: {LABELS[key]} failed "
                             f"{errs.count(error)}x: {error}")
    noisy = [cell_name(c, c["size"]) for c in report["cells"] if c["summary"]["noisy"]]
    if noisy:
        which = (f"all {len(noisy)} cells" if len(noisy) == len(report["cells"])
                 else "; ".join(noisy))
        notes.append(f"* = fewer than half of the rounds were clean (some window waited > "
                     f"{cfg['max_cpu_wait']:g}% of its time for a CPU busy with others), so all "
                     f"rounds were used: {which}")
    gaps = [c["summary"]["aa_deviation"] for c in report["cells"]
            if c["summary"]["aa_deviation"] is not None]
    if gaps:
        notes.append(f"A/A deviation |median(picows twin / picows) - 1|: max {100 * max(gaps):.1f}%, "
                     f"median {100 * statistics.median(gaps):.1f}% over {len(gaps)} cells")
    return notes


METHOD = ("Paired ratios: per round, RPS / RPS of picows (afn off) measured in the same round; "
          "median over rounds, 95% distribution-free (sign-test / order-statistic) interval. "
          "+/- (verdict faster/slower) only when the whole interval lies beyond 1 +- the cell's "
          "A/A deviation; otherwise 'noise'.")


def header_lines(report: dict) -> list[str]:
    m, cfg = report["machine"], report["config"]
    return [f"CPU: {m['cpu_model']} x{m['cpu_count']} | Python {m['python']} | {m['platform']}",
            "Versions: " + ", ".join(f"{k} {v or 'n/a'}" for k, v in m["versions"].items()),
            f"Servers: {', '.join(cfg['servers'])} (aiofastnet off) | {cfg['rounds']} rounds x "
            f"{cfg['window']} s windows (+{cfg['settle']} s settle; {cfg['warmup']} s warm-up per "
            f"connection) | "
            + ("a fresh connection per contender every round (+" + str(cfg.get("rewarm")) + " s warm-up)"
               if cfg.get("fresh_connection_every_round") else "one connection per contender per cell")
            + f" | pinning: {cfg['pinning']}",
            f"Command: {cfg['command']} | wall time {report['wall_time_s']:.0f} s",
            METHOD]


def render_text(report: dict) -> str:
    out = [f"Echo benchmark, {report['started']}"] + header_lines(report) + [""]
    for cell in report["cells"]:
        out += [f"== {cell_title(cell)} ==", text_table(cell_rows(cell)), ""]
    header, rows = matrix(report["cells"], report["contender_order"])
    out += ["== median paired RPS ratio vs picows (afn off) [95% CI]; + / - = outside noise ==",
            text_table(rows, header), ""]
    out += [f"note: {n}" for n in notes_for(report)]
    out.append(f"wall time: {report['wall_time_s']:.0f} s")
    return "\n".join(out)


def render_markdown(report: dict) -> str:
    out = [f"# Echo benchmark, {report['started']}", ""] + [f"- {line}" for line in header_lines(report)]
    out.append("")
    header, rows = matrix(report["cells"], report["contender_order"])
    out += ["## Median paired RPS ratio vs picows (afn off) [95% CI]; + / - = outside noise", "",
            markdown_table(rows, header), ""]
    for cell in report["cells"]:
        out += [f"## {cell_title(cell)}", "", markdown_table(cell_rows(cell)), ""]
    out += [f"- {n}" for n in notes_for(report)]
    return "\n".join(out) + "\n"


# --- main -------------------------------------------------------------------------------------

def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    csv = lambda s: [x for x in s.split(",") if x]
    sizes = lambda s: [int(x) for x in s.split(",") if x]
    parser.add_argument("--quick", action="store_true", help=f"smaller run (< 3 min): {QUICK}")
    parser.add_argument("--servers", type=csv, default=["picows"],
                        help="comma-separated echo servers, each measured against every client: "
                             "picows,picows_like (default: picows)")
    parser.add_argument("--server", dest="servers", type=lambda s: [s],
                        help="a single echo server: picows or picows_like")
    parser.add_argument("--transports", type=csv, default=["tcp", "tls"], help="tcp,tls")
    parser.add_argument("--sizes", type=sizes, help="message sizes (bytes) of the TCP cells")
    parser.add_argument("--tls-sizes", type=sizes, help="message sizes (bytes) of the TLS cells")
    parser.add_argument("--loops", type=csv, default=["asyncio", "uvloop"], help="asyncio,uvloop")
    parser.add_argument("--contenders", type=csv, default=[c.key for c in CONTENDERS],
                        help="comma-separated subset of: " + ",".join(c.key for c in CONTENDERS)
                             + f" ({BASELINE} is always included)")
    parser.add_argument("--rounds", type=int, help="rounds per cell (one window per contender each)")
    parser.add_argument("--window", type=float, help="measured seconds per window")
    parser.add_argument("--settle", type=float,
                        help="unmeasured round trips at the start of each window (seconds)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per new connection")
    parser.add_argument("--same-connection", dest="fresh", action="store_false",
                        help="keep one connection per contender for the whole cell (default: a "
                             "fresh connection every round, so per-connection luck averages out)")
    parser.add_argument("--rewarm", type=float, default=0.05,
                        help="warm-up seconds of each round's fresh connection")
    parser.add_argument("--max-cpu-wait", type=float, default=5.0,
                        help="a window is clean if client + server waited for a CPU at most this "
                             "%% of its time (measured only with separate pinned CPUs)")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--same-cpu", action="store_true",
                        help="server and clients on the same CPU (--client-cpu): measures CPU cost "
                             "without cross-CPU wake-ups")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin processes to CPUs")
    parser.add_argument("--seed", type=int, default=1, help="seed for the per-round shuffles")
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.same_cpu:
        args.server_cpu = args.client_cpu
    for what, values, allowed in (("servers", args.servers, ("picows", "picows_like")),
                                  ("transports", args.transports, ("tcp", "tls")),
                                  ("loops", args.loops, ("asyncio", "uvloop")),
                                  ("contenders", args.contenders, LABELS)):
        unknown = set(values) - set(allowed)
        if unknown or not values:
            parser.error(f"--{what}: unknown or empty: {', '.join(sorted(unknown))}")
    wanted = set(args.contenders) | {BASELINE}
    args.contenders = [c.key for c in CONTENDERS if c.key in wanted]
    return args


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # so that `finally` stops children
    started, started_at = time.monotonic(), datetime.now(timezone.utc)
    probe = probe_environment()
    machine = machine_info(probe)
    notes, keys = [], list(args.contenders)

    if probe["picows_like_error"]:
        if "picows_like" in args.servers:
            print(f"cannot use picows_like as the server: {probe['picows_like_error']}", file=sys.stderr)
            return 2
        dropped = [k for k in keys if k.startswith("picows_like")]
        if dropped:
            notes.append(f"{', '.join(dropped)} skipped (picows_like not importable): "
                         f"{probe['picows_like_error']}")
            keys = [k for k in keys if k not in dropped]
    cy_dirs = {}
    if any(k.endswith("_cy") for k in keys):
        t0 = time.monotonic()
        for module, (path, message) in build_cython_clients(probe).items():
            if module not in keys:
                continue
            if path is None:
                notes.append(f"{module} skipped: {message[-600:]}")
                print(f"{module} skipped: {message}", file=sys.stderr)
                keys.remove(module)
            else:
                cy_dirs[module] = path
                notes.append(f"{module}: {message} ({path.name})")
        print(f"Cython clients ready in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    if "uvloop" in args.loops and not probe["versions"]["uvloop"]:
        notes.append("uvloop skipped (not installed)")
        args.loops.remove("uvloop")
    if args.pin and (not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2):
        notes.append("fewer than 2 usable CPUs: server and client share a CPU")
    if not args.pin or args.server_cpu == args.client_cpu:
        notes.append("cpu wait not measured (every round counts as clean): client and server "
                     "are not pinned to separate CPUs")

    groups = [{"server": s, "transport": t, "loop": lo}
              for s in args.servers for t in args.transports for lo in args.loops]
    n_cells = sum(len(args.sizes if g["transport"] == "tcp" else args.tls_sizes) for g in groups)
    per_round = args.settle + args.window + 0.01 + (args.rewarm + 0.02 if args.fresh else 0)
    per_cell = len(keys) * (args.warmup + 0.3 + args.rounds * per_round)
    max_lifetime = 300 + 3 * per_cell * n_cells      # safety net for children we fail to stop
    print(f"{n_cells} cells x {len(keys)} contenders, about {per_cell * n_cells / 60:.1f} min",
          file=sys.stderr)
    rng = random.Random(args.seed)
    cells, children = [], []
    try:
        with tempfile.TemporaryDirectory(prefix="echo-bench-") as tmp:
            workdir = Path(tmp)
            certfile = cafile = None
            if "tls" in args.transports:
                certfile, cafile = make_tls_files(workdir)
            for group in groups:
                tls = group["transport"] == "tls"
                sizes = args.tls_sizes if tls else args.sizes
                if not sizes:
                    continue
                group_keys = keys
                if "srv_like" in keys and group["server"] != "picows":
                    group_keys = [k for k in keys if k != "srv_like"]   # it is the baseline's
                servers = {}
                for key, impl in ((None, group["server"]), ("srv_like", "picows_like")):
                    if key is None or key in group_keys:
                        servers[key] = EchoServer(impl, group["loop"], certfile if tls else None,
                                                  args.server_cpu if args.pin else None,
                                                  max_lifetime, workdir)
                        children.append(servers[key])
                        servers[key].start()
                clients = start_clients(group_keys, group["loop"], cafile if tls else None,
                                        cy_dirs, args, max_lifetime, workdir)
                children.extend(clients.values())
                for size in sizes:
                    for server in servers.values():
                        if not server.alive():
                            notes.append(f"{cell_name(group, size)}: {server.name} had died, "
                                         f"restarted")
                            server.stop()
                            server.start()
                    for client in clients.values():
                        if client.proc is None and not client.start_failed:
                            client.spawn()       # it crashed or hung in an earlier cell: retry
                            client.wait_ready()
                    t0 = time.monotonic()
                    cell = run_cell(group, size, clients, servers, args, rng, workdir)
                    cells.append(cell)
                    print(f"[{len(cells)}/{n_cells}] {cell_name(group, size)}: "
                          f"{time.monotonic() - t0:.0f} s", file=sys.stderr)
                for child in [*servers.values(), *clients.values()]:
                    child.stop()
                    if child.error and child.name.startswith("client-"):
                        notes.append(f"{child.name}: {child.error}")
    finally:
        for child in children:
            child.stop()

    report = {
        "started": started_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "machine": machine,
        "config": {"command": " ".join([Path(sys.executable).name] + sys.argv),
                   "servers": args.servers, "transports": args.transports, "loops": args.loops,
                   "sizes": args.sizes, "tls_sizes": args.tls_sizes, "rounds": args.rounds,
                   "window": args.window, "settle": args.settle, "warmup": args.warmup,
                   "fresh_connection_every_round": args.fresh, "rewarm": args.rewarm,
                   "seed": args.seed, "quick": args.quick, "max_cpu_wait": args.max_cpu_wait,
                   "confidence": CONFIDENCE,
                   "pinning": f"server cpu{args.server_cpu}, clients cpu{args.client_cpu}"
                              if args.pin else "off"},
        "contender_order": keys,
        "labels": LABELS,
        "cells": cells,
        "notes": notes,
        "wall_time_s": time.monotonic() - started,
    }
    print(render_text(report))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stamp = started_at.strftime("%Y%m%d-%H%M%S")
    stem = args.out_dir / f"echo-{'quick-' if args.quick else ''}{stamp}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1))
    stem.with_suffix(".md").write_text(render_markdown(report))
    print(f"results: {stem}.json, {stem}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
