"""`archc lsp` against a client stream that is not well formed: a message claiming more bytes
than the server takes ends the session with a message (it was a MemoryError traceback), and a
message that is not JSON is answered with JSON-RPC's parse error (-32700, id null)."""

from __future__ import annotations

import json
import subprocess
import sys

from .lsp_util import ROOT


def _session(stream: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "archc", "lsp"], input=stream, cwd=ROOT,
                          capture_output=True, timeout=60)


def _message(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def test_a_message_too_long_ends_the_session_with_a_message() -> None:
    done = _session(b"Content-Length: 99999999999999\r\n\r\n")
    assert done.returncode == 0, done.stderr
    err = done.stderr.decode()
    assert "a message of 99,999,999,999,999 bytes (the limit is 268,435,456); stopping" in err
    assert "MemoryError" not in err and "Traceback" not in err


def test_a_message_not_json_gets_a_parse_error_and_the_session_goes_on() -> None:
    shutdown = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "shutdown"}).encode()
    done = _session(_message(b'{"jsonrpc": "2.0", "id": 1, "method": ') + _message(shutdown)
                    + _message(b'{"jsonrpc": "2.0", "method": "exit"}'))
    bodies = [json.loads(part.split(b"\r\n\r\n", 1)[1])
              for part in done.stdout.split(b"Content-Length: ")[1:]]
    errors = [b for b in bodies if "error" in b]
    assert errors[0]["id"] is None and errors[0]["error"]["code"] == -32700, bodies
    assert errors[0]["error"]["message"].startswith("not JSON: Expecting value")
    assert {"jsonrpc": "2.0", "id": 7, "result": None} in bodies, bodies  # shutdown answered
    assert done.returncode == 0
