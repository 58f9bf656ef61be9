"""A webhook receiver that answers slowly or at length, on a raw loopback socket (no HTTP framework would
trickle its own status line): for the deadline and body cap of deliveries to merchants' servers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.support.servers import free_port


@dataclass
class SlowReceiver:
    """Answers each request ``200`` with a body of ``body_size`` bytes, sent ``step`` bytes per write with
    ``pause`` seconds between writes; ``trickle_head``: the status line and headers go a byte at a time
    too. ``answers`` records, per connection, how many bytes of how many it sent before the client went
    away — fewer than all means the client hung up on an unfinished answer."""

    body_size: int
    step: int = 1
    pause: float = 0.05
    trickle_head: bool = False
    answers: list[tuple[int, int]] = field(default_factory=list)
    _done: threading.Event = field(default_factory=threading.Event)

    def serve(self, listener: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                self._answer(conn, stop)

    def _answer(self, conn: socket.socket, stop: threading.Event) -> None:
        _read_request(conn)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % self.body_size
        pieces = ([head[i:i + 1] for i in range(len(head))] if self.trickle_head else [head]) + [
            b"x" * min(self.step, self.body_size - offset) for offset in range(0, self.body_size, self.step)]
        sent = 0
        try:
            for piece in pieces:
                if stop.is_set():
                    break
                conn.sendall(piece)
                sent += len(piece)
                if self.pause:
                    time.sleep(self.pause)
        except OSError:
            pass
        self.answers.append((sent, len(head) + self.body_size))
        self._done.set()

    def wait_answered(self, timeout: float = 30.0) -> list[tuple[int, int]]:
        """The answers once the first has ended (the client hung up, or all of it was sent)."""
        assert self._done.wait(timeout), "no answer ended"
        return self.answers


def _read_request(conn: socket.socket) -> None:
    """Read one request: its headers and its Content-Length of body."""
    conn.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return
        body += chunk


@contextmanager
def slow_receiver(receiver: SlowReceiver) -> Iterator[str]:
    """Serve ``receiver`` on a loopback port; yield the URL to deliver to."""
    port = free_port()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(8)
    listener.settimeout(0.1)
    stop = threading.Event()
    thread = threading.Thread(target=receiver.serve, args=(listener, stop), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/hooks"
    finally:
        stop.set()
        thread.join(timeout=10)
        listener.close()
