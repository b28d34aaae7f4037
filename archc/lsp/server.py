"""Language server, wiring: a pygls LanguageServer over stdio. Each edit starts an analysis
of the document (archc/lsp/analysis.py) on a worker thread, so the event loop keeps reading
messages meanwhile; a newer edit of the same document cancels it, and the stale work stops
at its next stage (an edit that comes while an analysis runs waits a moment first, so that
the edits sent behind it are read and it is dropped for them). Requests wait for the
analysis of the text they were made on, then answer from it, or, when the text does not
parse, from the last analysis that did (its lines mapped onto the text as it is now)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcParseError
from pygls.lsp.server import LanguageServer

from archc import __version__
from archc.core.errors import Span
from archc.lsp.analysis import Analysis, Kept, LineMap, Stages, analyze
from archc.lsp.convert import Locator, uri_to_path
from archc.lsp.reparse import Reparser
from archc.pipeline.driver import Memo

log = logging.getLogger(__name__)

REQUEST_FAILED = -32803  # LSP's RequestFailed: the request was valid but cannot be done
# An edit that comes while the last one's analysis still runs (typing faster than it, a paste
# sent as many changes) waits this long before its own starts, so that the edits behind it,
# already sent, are read first and it is dropped for them.
BURST_WAIT_S = 0.005
# How long a thread holds the GIL before another may run (Python's default: 5 ms). The reader
# of stdin is a thread: while an analysis runs, each message waits for the GIL several times.
SWITCH_INTERVAL_S = 0.0005
MAX_MESSAGE = 256 * 2**20  # bytes of one message from the client (a document's text and all)
MAX_HEADER = 8192  # bytes of one header line


@dataclass
class DocState:
    """What the server knows about one open document."""

    uri: str
    path: str
    current: Analysis | None = None  # of the text the last finished analysis read
    good: Analysis | None = None  # the last one whose text parsed
    task: asyncio.Task | None = None
    stop: threading.Event = field(default_factory=threading.Event)  # of the running analysis
    memo: Memo = field(default_factory=Memo)  # the networks of the last analysis (driver.py)
    kept: Kept = field(default_factory=Kept)  # its indexes and counts (analysis.py)
    parse: Reparser = field(init=False)  # its files' texts and ASTs (reparse.py)

    def __post_init__(self) -> None:
        self.parse = Reparser(self.memo, self.kept)  # an edit moving lines hands them on


class BoundedReader:
    """The client's stream, whose messages may not claim more than MAX_MESSAGE bytes: pygls
    reads a message's `Content-Length` bytes at once, so `Content-Length: 99999999999999` was a
    MemoryError traceback. Such a header ends the session with a message on stderr (after it,
    nothing on the stream can be found again: the length is how messages are told apart)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def readline(self) -> bytes:
        return self.stream.readline(MAX_HEADER)

    def read(self, n: int) -> bytes:
        if n > MAX_MESSAGE:
            print(f"archc lsp: a message of {n:,} bytes (the limit is {MAX_MESSAGE:,}); "
                  "stopping", file=sys.stderr)
            return b""  # pygls stops reading at an empty body
        return self.stream.read(n)


class ArchcServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("archc", __version__,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.states: dict[str, DocState] = {}
        # One thread: analyses of several documents queue up instead of sharing the GIL.
        self.analysis_pool = ThreadPoolExecutor(1, thread_name_prefix="archc-analysis")

    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        sys.setswitchinterval(SWITCH_INTERVAL_S)  # (this process is the server: see above)
        super().start_io(cast(BinaryIO, BoundedReader(stdin or sys.stdin.buffer)), stdout)

    # -- documents
    def state(self, uri: str) -> DocState:
        if uri not in self.states:
            self.states[uri] = DocState(uri, str(Path(uri_to_path(uri)).absolute()))
        return self.states[uri]

    def text(self, uri: str) -> str:
        return self.workspace.get_text_document(uri).source

    def locator(self) -> Locator:
        by_path = {s.path: s.uri for s in self.states.values()}

        def open_text(path: str) -> str | None:
            uri = by_path.get(path)
            return self.text(uri) if uri else None

        return Locator(self.workspace.position_codec, open_text, by_path.get)

    # -- analysis
    def schedule(self, uri: str) -> None:
        """Analyse the document's text now; drop any analysis of an older text."""
        st = self.state(uri)
        st.stop.set()  # the running analysis, if any, is stale now
        st.stop = threading.Event()
        doc = self.workspace.get_text_document(uri)
        busy = st.task is not None and not st.task.done()
        st.task = asyncio.ensure_future(self._analyse(st, doc.source, doc.version, st.stop,
                                                      busy))

    async def _analyse(self, st: DocState, text: str, version: int | None,
                       stop: threading.Event, busy: bool = False) -> None:
        if busy:  # edits come faster than analyses: let the next ones in (see BURST_WAIT_S)
            await asyncio.sleep(BURST_WAIT_S)
            if stop.is_set():
                return
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self.analysis_pool, _run_stages,
                                                analyze(st.path, text, version, st.parse,
                                                        memo=st.memo, kept=st.kept), stop)
        except Exception as exc:  # a compiler bug: report it, keep what the editor shows
            self.report_server_error(exc, None)
            return
        if result is None or stop.is_set():  # a newer edit came first
            return
        st.current = result
        if result.parsed:
            st.good = result
        self.publish(st, result)

    def publish(self, st: DocState, a: Analysis) -> None:
        from archc.lsp.diagnostics import diagnostics

        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
            st.uri, diagnostics(a, self.locator()), version=a.version))

    async def latest(self, uri: str) -> tuple[str, Analysis | None]:
        """The document's text and the analysis to answer from (None if there is none yet):
        the current one if it parsed, else the last that did."""
        st = self.state(uri)
        if st.task is None:
            self.schedule(uri)
        while st.task is not None and not st.task.done():
            await asyncio.wait({st.task})  # a newer edit may replace the task meanwhile
        text = self.text(uri)
        if st.current is not None and st.current.parsed and st.current.text == text:
            return text, st.current
        return text, st.good

    def dependents(self, path: str) -> list[str]:
        """Open documents whose last analysis read the file at `path` (through `use`)."""
        out = []
        for st in self.states.values():
            sources = st.current.program.sources if st.current else {}
            if st.path != path and any(_same(p, path) for p in sources):
                out.append(st.uri)
        return out

    def report_server_error(self, error: Exception, source: Any) -> None:
        if isinstance(error, json.JSONDecodeError):  # JSON-RPC's answer to a message not JSON
            self.protocol._send_data({"jsonrpc": "2.0", "id": None, "error": {  # (id unknown)
                "code": JsonRpcParseError.CODE, "message": f"not JSON: {error}"}})
            return
        log.error("archc lsp: %s", error, exc_info=error)
        self.window_log_message(types.LogMessageParams(types.MessageType.Error,
                                                       f"archc lsp: internal error: {error}"))


def _same(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, RuntimeError, ValueError):
        return False


def _run_stages(stages: Stages, stop: threading.Event) -> Analysis | None:
    """Run an analysis (on the worker thread); None when `stop` is set between stages."""
    try:
        while not stop.is_set():
            next(stages)
        return None
    except StopIteration as done:
        return done.value
    finally:
        stages.close()


# ----------------------------------------------------------------------------- positions


def to_analysis(a: Analysis, text: str, line: int) -> int | None:
    """A line of the text now -> the same line in the analysed text (None if edited)."""
    return LineMap(a.text, text).old_line(line)


def to_document(span: Span, a: Analysis, text: str, path: str) -> Span | None:
    """A span of the analysed text -> the text now (None if its lines were edited)."""
    if span.path != path or a.text == text:
        return span
    lines = LineMap(a.text, text)
    line, end = lines.new_line(span.line - 1), lines.new_line((span.end_line or span.line) - 1)
    if line is None or end is None:
        return None
    return Span(span.path, line + 1, span.col, end + 1 if span.end_line else 0, span.end_col)


def fail(message: str) -> JsonRpcException:
    return JsonRpcException(message, REQUEST_FAILED)
