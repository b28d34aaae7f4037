"""Issue 14, speed: how long after an edit `archc lsp` delivers diagnostics and inlay hints.

A real client (pygls) starts `archc lsp` over stdio, opens each bundled spec and edits the
comment at the end of the network's last call line (each edit a new text, so nothing is
served from the parse cache but the prelude and `use`d files), or with `--edit code` the
argument of a layer it adds there (`dropout(0.N)`: the network's AST changes at each edit, so
it is expanded again; its shapes do not). After each edit
it asks for the inlay hints of the whole file, as an editor does, and times the edit until
both the diagnostics for that version and the hints have arrived. Target: median < 50 ms for
the largest bundled spec. Then bursts of edits faster than analysis: stale versions should
be dropped, not analysed (the number of diagnostics published per burst says so). Also the
analysis alone, in process, for where the time goes. On a shared machine wall times follow
the load, so the server's CPU time per edit (from /proc) and the analysis' thread CPU time
are printed too: they hardly depend on the load. No timed asserts anywhere.

    python bench/lsp_latency.py [--edits 100] [--specs tv_resnet tv_densenet] [--ten]
                                [--edit comment|code|newline|delete] [--hints whole|visible]

`--hints visible` asks for the hints of the 60 lines around the edit instead of the whole file:
what VS Code asks for (its editor's visible range), so that the server only makes the hints
of the definitions on screen (archc/lsp/hints.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.arch"), key=lambda p: p.stat().st_size)


class Client:
    """A pygls client that notes when each (uri, version)'s diagnostics arrive."""

    def __init__(self) -> None:
        self.lsp = LanguageClient("lsp-latency", "1")
        self.arrived: dict[tuple[str, int | None], float] = {}

        @self.lsp.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def _published(params: types.PublishDiagnosticsParams) -> None:
            self.arrived[(params.uri, params.version)] = time.perf_counter()

    async def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        await self.lsp.start_io(sys.executable, "-m", "archc", "lsp", env=env)
        await self.lsp.initialize_async(types.InitializeParams(
            capabilities=types.ClientCapabilities(), root_uri=ROOT.as_uri()))
        self.lsp.initialized(types.InitializedParams())

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (Linux /proc), in seconds."""
        pid = self.lsp._server.pid  # type: ignore[union-attr]
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def diagnostics(self, uri: str, version: int) -> float:
        while (uri, version) not in self.arrived:
            await asyncio.sleep(0.0005)
        return self.arrived[(uri, version)]

    async def stop(self) -> None:
        await self.lsp.shutdown_async(None)
        self.lsp.exit(None)
        await self.lsp.stop()


# What each edit types at the end of the network's last call line: the version's number in a
# comment (the AST stays the same), or in an argument of a layer it adds (the network changes;
# dropout keeps the shape, so the rest of the file checks as before).
EDITS = {"comment": ("  # ", ""), "code": (" dropout(0.", ")")}
LINE_EDITS = ("newline", "delete")  # each edit adds or removes a line (see the doc)
VISIBLE_LINES = 60  # `--hints visible`: a screen of lines around the edit


def third(lines: list[str]) -> int:
    """The first layer line (`  ...(`) from a third of the file on."""
    return next(i for i in range(len(lines) // 3, len(lines))
                if lines[i].startswith("  ") and "(" in lines[i] and "{" not in lines[i])


def line_edit(lines: list[str], at: int, edit: str, version: int) -> list[str]:
    """The text's lines at `version` of a line edit at line `at`: `newline`, as many blank
    lines below it as the version (Enter, again and again: no text comes back, so nothing
    comes from a parse cache); `delete`, an odd version has `dropout(0.<version>)` pasted
    below it, an even one has it deleted (the text of every even version is the same)."""
    if edit == "newline":
        return [*lines[:at + 1], *[""] * version, *lines[at + 1:]]
    return [*lines[:at + 1], *([f"  dropout(0.{version})"] if version % 2 else []),
            *lines[at + 1:]]


class Editor:
    """One open document, typed into at the end of a line."""

    def __init__(self, client: Client, path: Path, edit: str = "comment"):
        self.client, self.uri, self.edit = client, path.as_uri(), edit
        self.text = path.read_text(encoding="utf-8")
        lines = self.text.split("\n")
        self.line = max(i for i, t in enumerate(lines) if t.startswith("  ") and "(" in t)
        if edit in LINE_EDITS:
            self.line = third(lines)
            lines = line_edit(lines, self.line, edit, 1)
        else:
            before, after = EDITS[edit]
            lines[self.line] += f"{before}1{after}"
            self.col = len(lines[self.line]) - 1 - len(after)  # where the number starts
        self.text = "\n".join(lines)
        self.count = len(lines)  # lines in the document now
        self.end = len(lines[self.line])
        self.width = 1
        self.version = 1
        client.lsp.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=self.uri, language_id="arch", version=1, text=self.text)))

    def change(self) -> types.TextDocumentContentChangePartial:
        """This version's change: a line added or removed (line edits), else the number."""
        if self.edit in LINE_EDITS:
            at = types.Position(self.line, self.end)
            self.count += 1 if self.edit == "newline" or self.version % 2 else -1
            if self.edit == "newline" or self.version % 2:  # Enter; a line pasted
                text = "\n" + ("" if self.edit == "newline" else f"  dropout(0.{self.version})")
                return types.TextDocumentContentChangePartial(range=types.Range(at, at),
                                                              text=text)
            pasted = len(f"  dropout(0.{self.version - 1})")  # deleted
            return types.TextDocumentContentChangePartial(
                range=types.Range(at, types.Position(self.line + 1, pasted)), text="")
        rng = types.Range(types.Position(self.line, self.col),
                          types.Position(self.line, self.col + self.width))
        new = str(self.version)
        self.width = len(new)
        return types.TextDocumentContentChangePartial(range=rng, text=new)

    def type_one(self) -> None:
        """The next edit: the comment's number replaced by the new version's, or a line."""
        self.version += 1
        change = self.change()
        self.client.lsp.text_document_did_change(types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=self.uri, version=self.version), [change]))

    async def hints(self, visible: bool = False) -> list[types.InlayHint]:
        """The hints of the whole file, or (`visible`) of the screen around the edited line, as
        VS Code asks for them: the editor's visible range, here VISIBLE_LINES lines."""
        first, last = 0, self.count
        if visible:
            first = max(0, self.line - VISIBLE_LINES // 2)
            last = min(self.count, first + VISIBLE_LINES)
        shown = types.Range(types.Position(first, 0), types.Position(last, 0))
        return await self.client.lsp.text_document_inlay_hint_async(
            types.InlayHintParams(types.TextDocumentIdentifier(self.uri), shown)) or []


async def edit_latency(client: Client, path: Path, edits: int, edit: str,
                       visible: bool = False) -> tuple[list[float], int, float]:
    """Wall ms per edit, the number of hints, and the server's mean CPU ms per edit."""
    ed = Editor(client, path, edit)
    await client.diagnostics(ed.uri, 1)
    times, n_hints = [], 0
    for i in range(edits + 5):  # the first 5 warm up
        if i == 5:
            cpu = client.cpu_seconds()
        start = time.perf_counter()
        ed.type_one()
        hints = await ed.hints(visible)
        done = max(time.perf_counter(), await client.diagnostics(ed.uri, ed.version))
        if i >= 5:
            times.append(1000 * (done - start))
        n_hints = len(hints)
    return times, n_hints, 1000 * (client.cpu_seconds() - cpu) / edits


async def burst(client: Client, path: Path, size: int, rounds: int, edit: str
                ) -> tuple[float, float]:
    """Edits sent back to back: ms until the last version's diagnostics, and how many
    versions of each burst were analysed and published."""
    ed = Editor(client, path, edit)
    ed.uri = ed.uri + f"?burst{size}"  # a second document, not the one timed above
    ed.client.lsp.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=ed.uri, language_id="arch", version=1, text=ed.text)))
    await client.diagnostics(ed.uri, 1)
    times, published = [], []
    for _ in range(rounds):
        first = ed.version + 1
        start = time.perf_counter()
        for _ in range(size):
            ed.type_one()
        times.append(1000 * (await client.diagnostics(ed.uri, ed.version) - start))
        await asyncio.sleep(0.2)  # anything still in flight arrives
        published.append(sum((ed.uri, v) in client.arrived for v in range(first, ed.version + 1)))
    return statistics.median(times), statistics.mean(published)


def ten_times(largest: Path, folder: Path) -> Path:
    """A spec ten times the largest bundled one: its definitions copied ten times, renamed."""
    import re

    text = largest.read_text(encoding="utf-8")
    names = re.findall(r"^(?:block|network)\s+(\w+)", text, re.M)
    copies = []
    for k in range(10):
        copy = text
        for name in names:
            copy = re.sub(rf"\b{name}\b", f"{name}_{k}", copy)
        copies.append(copy)
    path = folder / f"{largest.stem}_x10.arch"
    path.write_text("\n".join(copies), encoding="utf-8")
    return path


def in_process(path: Path, repeat: int, edit: str) -> float:
    """The analysis alone (archc.lsp.analysis), no protocol, with what the server keeps of
    the last analysis (archc/pipeline/driver.py Memo, archc/lsp/analysis.py Kept,
    archc/lsp/reparse.py Reparser), the same edits as
    the server gets: median thread CPU ms."""
    sys.path.insert(0, str(ROOT))
    from archc.lsp.analysis import Kept, analyze, run
    from archc.lsp.reparse import Reparser
    from archc.pipeline.driver import Memo

    lines, times, memo, kept = path.read_text(encoding="utf-8").split("\n"), [], Memo(), Kept()
    parse = Reparser(memo, kept)
    line = max(i for i, t in enumerate(lines) if t.startswith("  ") and "(" in t)
    at = third(lines)
    for i in range(repeat + 3):
        if edit in LINE_EDITS:  # as Editor: first the line added (newline) or removed
            text = "\n".join(line_edit(lines, at, edit, i + 1))
        else:
            before, after = EDITS[edit]
            text = "\n".join([*lines[:line], f"{lines[line]}{before}{i + 1}{after}",
                              *lines[line + 1:]])
        start = time.thread_time()
        run(analyze(str(path), text, i, parse, memo=memo, kept=kept))
        if i >= 3:
            times.append(1000 * (time.thread_time() - start))
    return statistics.median(times)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edits", type=int, default=100)
    ap.add_argument("--specs", nargs="*", help="bundled spec names (default: all)")
    ap.add_argument("--ten", action="store_true",
                    help="also a spec ten times the largest bundled one (the issue's target)")
    ap.add_argument("--edit", choices=sorted([*EDITS, *LINE_EDITS]), default="comment",
                    help="type the number into a comment (default) or into a layer's argument, "
                         "or add lines (newline: Enter, again and again) or paste and delete "
                         "one (delete)")
    ap.add_argument("--hints", choices=("whole", "visible"), default="whole",
                    help="after each edit ask for the hints of the whole file (default), or "
                         f"of the {VISIBLE_LINES} lines around the edit, as VS Code asks for "
                         "the visible range")
    args = ap.parse_args()
    specs = [p for p in SPECS if not args.specs or p.stem in args.specs]
    if args.ten:
        import tempfile

        specs.append(ten_times(SPECS[-1], Path(tempfile.mkdtemp())))
    print(f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f}, {time.strftime('%Y-%m-%d')}, "
          f"edits: {args.edit}, hints: {args.hints}")
    client = Client()
    await client.start()
    print(f"{'spec':<16}{'bytes':>7}{'hints':>7}{'median ms':>11}{'p90 ms':>9}"
          f"{'server CPU ms':>15}{'analysis CPU ms':>17}")
    medians = {}
    for path in specs:
        times, n_hints, cpu = await edit_latency(client, path, args.edits, args.edit,
                                                 args.hints == "visible")
        medians[path.stem] = statistics.median(times)
        p90 = statistics.quantiles(times, n=10)[-1]
        print(f"{path.stem:<16}{path.stat().st_size:>7}{n_hints:>7}{medians[path.stem]:>11.1f}"
              f"{p90:>9.1f}{cpu:>15.1f}{in_process(path, 20, args.edit):>17.1f}")
    largest = specs[-1]
    slowest = max(medians, key=lambda k: medians[k])
    print(f"largest bundled spec ({largest.stem}, {largest.stat().st_size} bytes): median "
          f"{medians[largest.stem]:.1f} ms after an edit until diagnostics and hints "
          f"(target < 50 ms); slowest: {slowest} {medians[slowest]:.1f} ms; load average now "
          f"{os.getloadavg()[0]:.2f}")
    for size in (5, 20):
        ms, analysed = await burst(client, largest, size, 10, args.edit)
        print(f"burst of {size} edits back to back: last version's diagnostics after "
              f"{ms:.1f} ms; versions analysed and published per burst: {analysed:.1f} of "
              f"{size}")
    await client.stop()


if __name__ == "__main__":
    asyncio.run(main())
