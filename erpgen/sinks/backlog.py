"""The statements of one psycopg connection, sent in order by a thread of their own.

An extension writes each block's rows to six tables as the block comes: with one COPY after the other, the
server sat idle between two of them while the client finished the one and encoded the first rows of the
next, and while the client simulated a block itself. Queued here, the client hands a COPY its pieces and goes
on; the thread sends them, and the server goes from one statement to the next without waiting (figures:
bench/README.md).

What the caller sees is what a synchronous connection would give: the statements run in the order they were
queued, in the caller's transaction; the first error stops the rest (the others are drained, not sent) and is
raised in the caller at its next call, or at settle(), which also waits for everything queued. The caller
settles before it uses the connection itself.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future

# Statements queued and not yet sent, and encoded pieces of COPYs not yet sent (of all of them: a piece is up
# to a few MB): a few blocks' worth, enough to keep the server busy while the client simulates, and bounded
# so that a slow server does not let the client's memory grow.
STATEMENTS_AHEAD = 64
PIECES_AHEAD = 32

_END = object()  # a COPY's last piece has been queued
_CANCEL = object()  # the caller gave a COPY up: fail it


class Cancelled(Exception):
    """The caller gave a COPY up before its last piece (its own error is the one it raises)."""


class CopyJob:
    """One COPY ... FROM STDIN: its pieces as the caller encodes them, then `after` (the statements that
    follow it, such as the key probes that check what it wrote), run on the same cursor."""

    def __init__(self, backlog: Backlog, statement, before: tuple[str, ...] = ()):
        self.backlog, self.statement, self.before = backlog, statement, before
        self.pieces: queue.Queue = queue.Queue()  # bounded by the backlog's room
        self.after: list[Callable] = []
        self.taken = False  # whether the thread has taken its last piece (or the cancel)

    def write(self, piece: bytes) -> None:
        self.backlog.raise_error()
        if piece:
            self.backlog.room.acquire()
            self.pieces.put(piece)

    def finish(self, after: Iterable[Callable] = ()) -> None:
        self.after = list(after)
        self._close(_END)

    def cancel(self) -> None:
        self._close(_CANCEL)

    def _close(self, mark) -> None:
        if self.backlog.open is self:
            self.backlog.open = None
            self.pieces.put(mark)

    def run(self, conn) -> None:
        with conn.cursor() as cur:
            for statement in self.before:
                cur.execute(statement)
            with cur.copy(self.statement) as copy:
                while (piece := self._next()) is not _END:
                    if piece is _CANCEL:
                        raise Cancelled
                    copy.write(piece)
            for step in self.after:
                step(cur)

    def drain(self) -> None:
        while not self.taken:
            self._next()

    def _next(self):
        piece = self.pieces.get()
        self.taken = piece is _END or piece is _CANCEL
        if not self.taken:
            self.backlog.room.release()
        return piece


class _Call:
    """A statement or more, fn(cursor), with nothing to stream; what fn returns is the answer."""

    def __init__(self, fn: Callable):
        self.fn = fn
        self.answer: Future = Future()

    def run(self, conn) -> None:
        try:
            with conn.cursor() as cur:
                self.answer.set_result(self.fn(cur))
        except BaseException as exc:
            self.answer.set_exception(exc)
            raise

    def drain(self) -> None:
        if not self.answer.done():
            self.answer.set_exception(Cancelled("an earlier statement failed"))


class Backlog:
    """The thread that sends what is queued on psycopg connection `conn`, in order."""

    def __init__(self, conn):
        self.conn = conn
        self.queued: queue.Queue = queue.Queue(maxsize=STATEMENTS_AHEAD)
        self.room = threading.Semaphore(PIECES_AHEAD)
        self.open: CopyJob | None = None  # the COPY whose pieces the caller is writing
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._send, name="erpgen-backlog", daemon=True)
        self.thread.start()

    def copy(self, statement, before: tuple[str, ...] = ()) -> CopyJob:
        """A COPY queued now, after the statements `before`; write its pieces to it, then finish it."""
        self.raise_error()
        job = self.open = CopyJob(self, statement, before)
        self.queued.put(job)
        return job

    def call(self, fn: Callable) -> Future:
        """fn(cursor), queued; its answer when it has run (the first error instead, if one came before)."""
        self.raise_error()
        call = _Call(fn)
        self.queued.put(call)
        return call.answer

    def settle(self) -> None:
        """Wait until everything queued has been sent; raise the first error, if any."""
        self.queued.join()
        self.raise_error()

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    def close(self, *, discard: bool = False) -> None:
        """Stop the thread once what is queued is sent, or drained (after an error, or with `discard`: the
        caller rolls back, so what is still queued need not reach the server)."""
        if discard and self.error is None:
            self.error = Cancelled("the transaction is rolled back")
        if self.open is not None:  # a COPY the caller left (interrupted before it could finish or cancel it)
            self.open.cancel()
        self.queued.put(None)
        self.thread.join()

    def _send(self) -> None:
        while True:
            job = self.queued.get()
            try:
                if job is None:
                    return
                if self.error is None:
                    job.run(self.conn)
                else:
                    job.drain()
            except BaseException as exc:
                self.error = exc
                job.drain()
            finally:
                self.queued.task_done()
