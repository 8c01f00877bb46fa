"""Draw benchmarks/results/chart.png from the latest result files:
instructions.json (CPU work per round trip, lower is better) and
compression.json (compressed echo RPS, higher is better).

    python benchmarks/chart.py
"""
import json
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    instr = json.loads((RESULTS / "instructions.json").read_text())
    cells = list(instr)
    libs = [lib for lib in ("picows_like", "picows-afn-off", "picows-afn-on")
            if all(lib in instr[c] for c in cells)]
    width = 0.8 / len(libs)
    for i, lib in enumerate(libs):
        values = [instr[c][lib] / instr[c]["picows-afn-off"] for c in cells]
        axes[0].bar([x + i * width for x in range(len(cells))], values, width, label=lib)
    axes[0].set_xticks([x + width * (len(libs) - 1) / 2 for x in range(len(cells))])
    axes[0].set_xticklabels([c.replace("/", "\n") + " B" for c in cells])
    axes[0].axhline(1.0, color="grey", linewidth=0.8)
    axes[0].set_title("CPU instructions per echo round trip\n(relative to picows, lower is better)")
    axes[0].legend()

    comp = json.loads((RESULTS / "compression.json").read_text())
    sizes = sorted({int(k.split("/")[0]) for k in comp})
    libs = ["picows_like", "websockets", "aiohttp"]
    width = 0.8 / len(libs)
    for i, lib in enumerate(libs):
        axes[1].bar([x + i * width for x in range(len(sizes))],
                    [comp[f"{s}/{lib}"]["rps"] for s in sizes], width, label=lib)
    axes[1].set_xticks([x + width for x in range(len(sizes))])
    axes[1].set_xticklabels([f"{s} B" for s in sizes])
    axes[1].set_yscale("log")
    axes[1].set_title("Compressed echo round trips per second\n(permessage-deflate, higher is better)")
    axes[1].legend()
    fig.tight_layout()
    out = RESULTS / "chart.png"
    fig.savefig(out, dpi=90)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
