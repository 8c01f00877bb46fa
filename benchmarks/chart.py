"""Draw benchmarks/results/chart.png from the latest result files:
instructions.json (CPU work per round trip, lower is better),
compression.json (compressed echo RPS, higher is better) and the newest
echo-*.json (paired RPS ratios to picows with their 95% intervals, one panel
per event loop). A panel whose file is missing is left out.

    python benchmarks/chart.py
"""
import json
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
# Echo contenders drawn (ratios to picows, aiofastnet off), in this order.
ECHO_SERIES = ("picows_like", "picows_like_cy", "picows_like_afn", "srv_like", "picows_cy",
               "picows_afn", "picows_aa", "websockets", "aiohttp", "raw")


def human_size(size: int) -> str:
    for shift, unit in ((20, "MiB"), (10, "KiB")):
        if size >= 1 << shift and size % (1 << shift) == 0:
            return f"{size >> shift} {unit}"
    return f"{size} B"


def instructions_panel(ax, instr: dict) -> None:
    cells = list(instr)
    libs = [lib for lib in ("picows_like", "picows-afn-off", "picows-afn-on")
            if all(lib in instr[c] for c in cells)]
    width = 0.8 / len(libs)
    for i, lib in enumerate(libs):
        values = [instr[c][lib] / instr[c]["picows-afn-off"] for c in cells]
        ax.bar([x + i * width for x in range(len(cells))], values, width, label=lib)
    ax.set_xticks([x + width * (len(libs) - 1) / 2 for x in range(len(cells))])
    ax.set_xticklabels([c.replace("/", "\n") + " B" for c in cells])
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_title("CPU instructions per echo round trip\n(relative to picows, lower is better)")
    ax.legend()


def compression_panel(ax, comp: dict) -> None:
    sizes = sorted({int(k.split("/")[0]) for k in comp})
    libs = ["picows_like", "websockets", "aiohttp"]
    width = 0.8 / len(libs)
    for i, lib in enumerate(libs):
        ax.bar([x + i * width for x in range(len(sizes))],
               [comp[f"{s}/{lib}"]["rps"] for s in sizes], width, label=lib)
    ax.set_xticks([x + width for x in range(len(sizes))])
    ax.set_xticklabels([f"{s} B" for s in sizes])
    ax.set_yscale("log")
    ax.set_title("Compressed echo round trips per second\n(permessage-deflate, higher is better)")
    ax.legend()


def echo_panel(ax, report: dict, loop: str) -> None:
    """Median paired ratio to picows (dot) and its 95% interval (bar) per cell."""
    server = report["config"]["servers"][0]
    cells = [c for c in report["cells"] if c["loop"] == loop and c["server"] == server]
    series = [k for k in ECHO_SERIES if k in report["contender_order"]]
    width = 0.8 / max(1, len(series))
    for i, key in enumerate(series):
        xs, ys, err = [], [], [[], []]
        for x, cell in enumerate(cells):
            ratio = cell["summary"]["contenders"].get(key, {}).get("vs_baseline")
            if not ratio:
                continue
            low, high = ratio["ci"] or (ratio["median"], ratio["median"])
            xs.append(x - 0.4 + (i + 0.5) * width)
            ys.append(ratio["median"])
            err[0].append(ratio["median"] - low)
            err[1].append(high - ratio["median"])
        ax.errorbar(xs, ys, yerr=err, fmt="o", markersize=3.5, capsize=2, linewidth=1,
                    color=plt.cm.tab10(i), label=report["labels"].get(key, key))
    ax.set_xticks(range(len(cells)))
    ax.set_xticklabels([f"{human_size(c['size'])}\n{c['transport']}" for c in cells])
    for x in range(1, len(cells)):
        ax.axvline(x - 0.5, color="0.9", linewidth=0.8)
    ax.axhline(1.0, color="grey", linewidth=0.8)
    kind = "quick run" if report["config"].get("quick") else "full run"
    ax.set_title(f"Echo RPS relative to picows (afn off), {loop}, {server} server\n"
                 f"paired median + 95% interval, higher is better ({kind} {report['started'][:10]})",
                 fontsize=10)


def main() -> None:
    instr_path, comp_path = RESULTS / "instructions.json", RESULTS / "compression.json"
    echo_paths = sorted(RESULTS.glob("echo-*.json"), key=lambda p: p.stat().st_mtime)
    echo = json.loads(echo_paths[-1].read_text()) if echo_paths else None
    if echo is not None and "contender_order" in echo and echo["cells"] \
            and "summary" not in echo["cells"][0]:
        echo = None                                  # a file from the old method
    top = [p for p in (instr_path, comp_path) if p.exists()]
    loops = echo["config"]["loops"] if echo else []
    rows = (1 if top else 0) + (1 if loops else 0)
    if rows == 0:
        raise SystemExit(f"no result files in {RESULTS}")
    fig = plt.figure(figsize=(13, 4.8 * rows))
    grid = fig.add_gridspec(rows, max(2, len(loops)))
    if top:
        for i, path in enumerate(top):
            ax = fig.add_subplot(grid[0, i])
            data = json.loads(path.read_text())
            (instructions_panel if path == instr_path else compression_panel)(ax, data)
    if loops:
        axes = [fig.add_subplot(grid[rows - 1, i]) for i in range(len(loops))]
        for ax, loop in zip(axes, loops):
            echo_panel(ax, echo, loop)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8)
        print(f"echo panel from {echo_paths[-1].name}")
    fig.tight_layout(rect=(0, 0.06 if loops else 0, 1, 1))
    out = RESULTS / "chart.png"
    fig.savefig(out, dpi=90)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
