"""Instructions per received frame, counted by callgrind (parser.py --instructions).

Wall-clock rates on a shared machine move with the neighbours; instruction
counts do not. For each contender and cell we run a child process under
`valgrind --tool=callgrind` that sets up the receiver, does one checked
warm-up pass, then P more passes over the same stream, for P = P1 and P2,
and report (I(P2) - I(P1)) / ((P2 - P1) * frames per pass): the user-space
work one frame costs (copy into the buffer, parsing, unmasking, listener
call), set-up cancelled out.

Child usage (run by parser.py): python _parser_cg.py CONTENDER SIDE SIZE READ STREAM PASSES
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MIN_FRAMES = 64          # per pass, so that the passes outweigh start-up jitter


def count_instructions(contender: str, side: str, size: int, read_size: int, stream: int,
                       passes: int) -> int:
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
           str(HERE / "_parser_cg.py"), contender, side, str(size), str(read_size), str(stream),
           str(passes)]
    # A fixed hash seed: start-up work (dict lookups) then repeats exactly between runs.
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                         env={**os.environ, "PYTHONHASHSEED": "0"})
    found = re.search(r"Collected : (\d+)", out.stderr)
    if out.returncode != 0 or not found:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return int(found.group(1))


def instructions_per_frame(contender: str, side: str, size: int, read_size: int, stream: int,
                           passes: tuple[int, int]) -> dict:
    from _parser_setup import build_stream
    stream = max(stream, MIN_FRAMES * (size + 14))   # large frames: enough of them per pass
    _, frames_per_pass, _ = build_stream(size, side == "server", stream)
    p1, p2 = passes
    i1 = count_instructions(contender, side, size, read_size, stream, p1)
    i2 = count_instructions(contender, side, size, read_size, stream, p2)
    per_frame = (i2 - i1) / ((p2 - p1) * frames_per_pass)
    return {"per_frame": per_frame, "per_payload_byte": per_frame / size,
            "frames_per_pass": frames_per_pass, "passes": [p1, p2], "instructions": [i1, i2]}


async def _child(contender: str, side: str, size: int, read_size: int, stream: int,
                 passes: int) -> None:
    from parser import FeedRunner, ProtocolRunner
    from _parser_setup import build_stream
    masked = side == "server"
    data, frames_per_pass, payloads = build_stream(size, masked, stream)
    runner = FeedRunner(masked) if contender == "feed" else ProtocolRunner(contender, masked)
    runner.verify(data, read_size, payloads * (frames_per_pass // len(payloads)))
    for _ in range(passes):
        frames, payload, _ = runner.run(data, read_size)
        if frames != frames_per_pass or payload != frames_per_pass * size:
            raise SystemExit(f"pass delivered {frames} frames / {payload} B")


if __name__ == "__main__":
    name, side, size, read_size, stream, passes = sys.argv[1:7]
    asyncio.run(_child(name, side, int(size), int(read_size), int(stream), int(passes)))
