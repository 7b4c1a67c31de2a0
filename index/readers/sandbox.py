"""Read PDF, Word and e-mail files in a child process with a memory limit and a timeout.

Their parsers (pdfium in C++, zip and XML, MIME) run on untrusted bytes. A file that makes one
loop, recurse or allocate without end costs the child: it is killed or runs out of its own
address space, the file is skipped with a reason, and the next file gets a fresh child. The
parent (indexer, watcher, API worker) never stops.

Each process that reads such files keeps one child, started on first use (about 0.3 s) and
reused for every file after, so the price per file is one pickle round trip. Requests and
replies are length-prefixed pickles over the child's stdin and stdout.
"""

from __future__ import annotations

import atexit
import os
import pickle
import resource
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

from index.errors import DocumentSkipped, EmptyDocument
from index.readers.base import Extracted, ReadOptions, human_size

# Address space for the child: pdfium and lxml need a few hundred MB on big files; anything
# wanting more than this is a bomb, not a briefing.
MEMORY_LIMIT = 2 * 1024 * 1024 * 1024
# Seconds one file may take. pdfium reads a 500-page report in a few seconds; the limit is for
# files built to hang a parser.
TIMEOUT = 120.0
# With OCR, each textless page costs tesseract 1-5 s: a long scan needs far longer.
OCR_TIMEOUT = 1800.0
_HEADER = 8  # bytes of the length prefix

CRASHED_REASON = "the reader failed on it (damaged or hostile file, or over the memory limit)"


class _Child:
    """One sandbox process and its pipes."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "index.readers.sandbox"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
            env={**os.environ, "PYTHONPATH": _import_path()},
        )
        self.pid = os.getpid()  # a forked copy of this object is not ours to use

    def call(self, request: tuple[str, str, ReadOptions], timeout: float) -> tuple[str, object]:
        """Send a request and wait for its reply; TimeoutError or EOFError on failure."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        data = pickle.dumps(request)
        self.proc.stdin.write(len(data).to_bytes(_HEADER, "big") + data)
        reply = _receive(self.proc.stdout.fileno(), time.monotonic() + timeout)
        kind, value = pickle.loads(reply)
        return kind, value

    def kill(self) -> None:
        """End the child now and reap it."""
        self.proc.kill()
        self.proc.wait()


_lock = threading.Lock()
_child: _Child | None = None


def extract_in_sandbox(fmt: str, path: Path, options: ReadOptions) -> Extracted:
    """Read the file at path in the sandbox child; raise DocumentSkipped with the reason."""
    global _child
    timeout = OCR_TIMEOUT if options.ocr else TIMEOUT
    with _lock:
        if _child is None or _child.pid != os.getpid() or _child.proc.poll() is not None:
            _child = _Child()
        child = _child
        try:
            kind, value = child.call((fmt, str(path), options), timeout)
        except TimeoutError:
            child.kill()
            _child = None
            raise DocumentSkipped(f"took over {timeout:.0f} s to read") from None
        except (EOFError, BrokenPipeError, pickle.UnpicklingError):
            child.kill()
            _child = None
            raise DocumentSkipped(CRASHED_REASON) from None
    if kind == "ok" and isinstance(value, Extracted):
        return value
    if kind == "empty":
        raise EmptyDocument(str(value))
    raise DocumentSkipped(str(value))


def _receive(fd: int, deadline: float) -> bytes:
    buffer = bytearray()
    need = _HEADER
    sized = False
    while True:
        if len(buffer) >= need:
            if sized:
                return bytes(buffer[_HEADER:need])
            need = _HEADER + int.from_bytes(buffer[:_HEADER], "big")
            sized = True
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            raise TimeoutError
        chunk = os.read(fd, max(need - len(buffer), 1 << 16))
        if not chunk:
            raise EOFError
        buffer += chunk


def _import_path() -> str:
    """PYTHONPATH for the child: this checkout first, so it imports the same `index`."""
    root = str(Path(__file__).resolve().parents[2])
    rest = os.environ.get("PYTHONPATH", "")
    return f"{root}{os.pathsep}{rest}" if rest else root


def _forget_in_child() -> None:
    """A forked process (the indexer's parse pool) starts its own child, with a fresh lock."""
    global _child, _lock
    _child = None
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)


@atexit.register
def _stop() -> None:
    # Closing stdin ends the child's loop; it exits on its own (a killed parent does the same).
    if _child is not None and _child.pid == os.getpid() and _child.proc.stdin is not None:
        _child.proc.stdin.close()


# --- the child ---------------------------------------------------------------------------------


def _read_exactly(stream: object, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))  # type: ignore[attr-defined]
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _serve() -> None:
    """The child's loop: read a request, extract, reply, until stdin closes."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    from index.readers import extract_bytes  # after the limit, so imports count against it

    requests = sys.stdin.buffer
    # Replies go to a private copy of stdout; anything a library prints goes to stderr instead
    # of corrupting the stream.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    while True:
        try:
            size = int.from_bytes(_read_exactly(requests, _HEADER), "big")
            fmt, path, options = pickle.loads(_read_exactly(requests, size))
        except EOFError:
            return
        reply: tuple[str, object]
        try:
            reply = ("ok", extract_bytes(fmt, Path(path).read_bytes(), options))
        except EmptyDocument as exc:
            reply = ("empty", exc.reason)
        except DocumentSkipped as exc:
            reply = ("skip", exc.reason)
        except MemoryError:
            reply = ("skip", f"needs over {human_size(MEMORY_LIMIT)} of memory to read")
        except RecursionError:
            reply = ("skip", "nested too deeply to read")
        except OSError as exc:
            reply = ("skip", f"unreadable: {exc}")
        except Exception as exc:  # any parser failure on a hostile file is a skip, not a crash
            reply = ("skip", f"unreadable: {type(exc).__name__}: {exc}"[:300])
        try:
            data = pickle.dumps(reply)
        except MemoryError:
            data = pickle.dumps(("skip", "too large to hand back"))
        replies.write(len(data).to_bytes(_HEADER, "big") + data)
        replies.flush()


if __name__ == "__main__":
    _serve()
