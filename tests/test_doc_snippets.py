"""Every code block in README.md and docs/*.rst runs, so no published snippet can rot.

What counts as a block:

* README.md: a fenced block (three backticks, any info string);
* docs/*.rst: a literal block (the indented text after a paragraph ending in ``::``) or a
  ``.. code-block::`` / ``.. code::`` directive.  Other directives (``.. autoclass::``,
  ``.. toctree::``, ...) are not blocks.

Each block is run as a Python program in its own process (bounded to ``TIMEOUT``
seconds), with the interpreter running the tests, and must exit 0 with no traceback or
logged exception on stderr.  A block that is not meant to run (a shell command, a
configuration file, Cython, a fragment) says so, with its reason, on the line before it
or before the paragraph that introduces it:

* in Markdown: ``<!-- not-run: reason -->``
* in reStructuredText: ``.. not-run: reason`` (a comment: Sphinx does not show it)

The one change made to a block before it runs: a port it binds on 127.0.0.1 (written
``"127.0.0.1", N``) is replaced, everywhere in the block, by a free port, so that the
test does not depend on what else runs on the machine.

``python tests/test_doc_snippets.py`` lists every block with its verdict.
"""
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import List, NamedTuple, Optional

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60
NOT_RUN_MD = re.compile(r"^\s*<!--\s*not-run:\s*(.*?)\s*-->\s*$")
NOT_RUN_RST = re.compile(r"^\.\.\s+not-run:\s*(.*?)\s*$")
FENCE = re.compile(r"^(\s*)(```+|~~~+)(.*)$")
RST_CODE_DIRECTIVE = re.compile(r"^\s*\.\.\s+(code-block|code|sourcecode)::(.*)$")
BOUND_PORT = re.compile(r"""["']127\.0\.0\.1["']\s*,\s*(\d{2,5})\b""")


class Block(NamedTuple):
    source: str             # path relative to the repository
    line: int               # 1-based line of the first line of code
    language: str           # the fence's info string or the directive's argument
    code: str
    not_run: Optional[str]  # the reason, when the block is marked not to run

    @property
    def id(self) -> str:
        return f"{self.source}:{self.line}"


def _doc_files() -> List[Path]:
    files = [REPO_ROOT / "README.md"] + sorted((REPO_ROOT / "docs").glob("*.rst"))
    return [f for f in files if f.is_file()]


def _markdown_blocks(rel: str, lines: List[str]) -> List[Block]:
    blocks = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = m.group(1), m.group(2), m.group(3).strip()
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        code = "\n".join(line[len(indent):] for line in lines[i + 1:j]) + "\n"
        blocks.append(Block(rel, i + 2, info, code, _marker_before(lines, i, NOT_RUN_MD)))
        i = j + 1
    return blocks


def _marker_before(lines: List[str], start: int, pattern: "re.Pattern[str]") -> Optional[str]:
    """The not-run reason just above lines[start] (blank lines between are fine), if any.
    An rst comment may go on over indented lines: they are part of the reason."""
    k = start - 1
    while k >= 0 and not lines[k].strip():
        k -= 1
    end = k
    while k > 0 and lines[k].startswith((" ", "\t")) and lines[k - 1].strip():
        k -= 1              # the continuation lines of a multi-line rst comment
    if k >= 0:
        m = pattern.match(lines[k])
        if m:
            rest = " ".join(line.strip() for line in lines[k + 1:end + 1])
            return " ".join(filter(None, [m.group(1), rest]))
    return None


def _rst_blocks(rel: str, lines: List[str]) -> List[Block]:
    blocks = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        directive = RST_CODE_DIRECTIVE.match(line)
        literal = (stripped.endswith("::") and not stripped.startswith("..")
                   and not stripped.startswith(":"))
        if not (directive or literal):
            i += 1
            continue
        if directive:
            language, intro = directive.group(2).strip(), i
        else:
            language = ""
            intro = i               # the marker goes above the paragraph's first line
            while intro > 0 and lines[intro - 1].strip():
                intro -= 1
        base_indent = len(line) - len(line.lstrip())
        j = i + 1
        if directive:               # skip the directive's options (":linenos:", ...)
            while j < len(lines) and lines[j].strip().startswith(":"):
                j += 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        k = j
        while k < len(lines) and (not lines[k].strip()
                                  or len(lines[k]) - len(lines[k].lstrip()) > base_indent):
            k += 1
        body = lines[j:k]
        while body and not body[-1].strip():
            body.pop()
        if body:
            indent = min(len(b) - len(b.lstrip()) for b in body if b.strip())
            code = "\n".join(b[indent:] for b in body) + "\n"
            blocks.append(Block(rel, j + 1, language, code,
                                _marker_before(lines, intro, NOT_RUN_RST)))
        i = max(k, i + 1)
    return blocks


def collect_blocks() -> List[Block]:
    blocks: List[Block] = []
    for path in _doc_files():
        rel = path.relative_to(REPO_ROOT).as_posix()
        lines = path.read_text(encoding="utf-8").split("\n")
        if path.suffix == ".md":
            blocks += _markdown_blocks(rel, lines)
        else:
            blocks += _rst_blocks(rel, lines)
    return blocks


def _orphan_markers() -> List[str]:
    """not-run markers that stand before no block (a typo or a moved block)."""
    orphans = []
    for path in _doc_files():
        rel = path.relative_to(REPO_ROOT).as_posix()
        marked = sum(1 for b in BLOCKS if b.source == rel and b.not_run is not None)
        pattern = NOT_RUN_MD if path.suffix == ".md" else NOT_RUN_RST
        lines = path.read_text(encoding="utf-8").split("\n")
        markers = [n for n, line in enumerate(lines, 1) if pattern.match(line)]
        if len(markers) != marked:
            orphans.append(f"{rel}: {len(markers)} markers for {marked} marked blocks "
                           f"(markers on lines {markers})")
    return orphans


BLOCKS = collect_blocks()
RUNNABLE = [b for b in BLOCKS if b.not_run is None]
NOT_RUN = [b for b in BLOCKS if b.not_run is not None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _with_free_ports(code: str) -> str:
    for port in sorted(set(BOUND_PORT.findall(code))):
        code = re.sub(rf"\b{port}\b", str(_free_port()), code)
    return code


def test_inventory():
    """The extraction finds the blocks, each skipped block gives a reason, no marker
    is left without a block, and the counts are as listed at the end of the output."""
    sources = {b.source for b in BLOCKS}
    assert "README.md" in sources and "docs/quickstart.rst" in sources, sources
    assert len(RUNNABLE) >= 3, [b.id for b in RUNNABLE]
    assert not [b.id for b in NOT_RUN if not b.not_run], "a not-run marker needs a reason"
    assert not _orphan_markers(), f"not-run markers before no code block: {_orphan_markers()}"
    print(f"\n{len(BLOCKS)} code blocks: {len(RUNNABLE)} run, {len(NOT_RUN)} not run")


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_block_runs(block, tmp_path):
    if os.environ.get("PICOWS_LIKE_TEST_AGAINST_PICOWS") == "1":
        pytest.skip("the documentation describes picows_like itself")
    try:
        compile(block.code, block.id, "exec")
    except SyntaxError as exc:
        pytest.fail(f"{block.id} is not Python ({exc}); if it is not meant to run, mark it "
                    f"with a not-run comment (see this module's docstring)")
    script = tmp_path / "snippet.py"
    script.write_text(_with_free_ports(block.code), encoding="utf-8")
    import picows_like
    env = dict(os.environ)
    package_parent = str(Path(picows_like.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)
    report = f"{block.id}\n--- stdout\n{proc.stdout[-2000:]}\n--- stderr\n{proc.stderr[-4000:]}"
    assert proc.returncode == 0, report
    assert "Traceback" not in proc.stderr and "Exception" not in proc.stderr, report


def main() -> None:
    for b in BLOCKS:
        verdict = "run" if b.not_run is None else f"not run: {b.not_run}"
        print(f"{b.id:32} {b.language or '-':8} {verdict}")
    print(f"{len(BLOCKS)} code blocks: {len(RUNNABLE)} run, {len(NOT_RUN)} not run")


if __name__ == "__main__":
    main()
