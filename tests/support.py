"""Helpers for tests that start real processes (uvicorn, celery) on this machine. The process classes
live in apps.core.processes (`manage.py soak` uses them too)."""

from __future__ import annotations

import contextlib
import socket
import struct

from apps.core.processes import (  # noqa: F401 - the tests import them from here
    BIN,
    ROOT,
    CeleryWorker,
    MatcherProcess,
    Process,
    StreamServer,
    WebPool,
    WebServer,
    database_url,
    free_port,
    process_env,
    procfile_command,
)


class TcpProxy:
    """A TCP proxy to a local port whose connections a test can cut, as a network drop would: `cut()`
    closes every open connection and refuses new ones until `restore()`. The browser tests put it
    between Chromium and the web server to drop the WebSocket for real."""

    def __init__(self, target_port: int):
        import threading

        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.down = threading.Event()
        self.lock = threading.Lock()
        self.sockets: set[socket.socket] = set()
        self.closed = False
        self.threads = [threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        import threading

        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # the listener was shut down
            try:
                upstream = None if self.down.is_set() else socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                upstream = None
            with self.lock:  # a cut() between the check above and here still reaches this connection
                if upstream is None or self.down.is_set():
                    for s in (client, upstream):
                        if s is not None:
                            self._arm_reset(s)
                            s.close()
                    continue
                self.sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                thread = threading.Thread(target=self._pump, args=(source, sink), daemon=True)
                thread.start()
                self.threads.append(thread)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            # Shutting the other direction down wakes its pump, which closes its own socket.
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_RD)
            with self.lock:
                self.sockets.discard(source)
            source.close()

    @staticmethod
    def _arm_reset(s: socket.socket) -> None:
        # SO_LINGER 0: the close sends a RST, as a dropped route or a dead proxy would.
        with contextlib.suppress(OSError):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def cut(self) -> None:
        """Resets every open connection now and refuses new ones until restore()."""
        with self.lock:
            self.down.set()
            open_sockets = list(self.sockets)
        for s in open_sockets:
            self._arm_reset(s)
            # A close from this thread would not wake the pump blocked in recv() on it; a shutdown does,
            # and the pump's close then sends the reset.
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RD)

    def restore(self) -> None:
        self.down.clear()

    def close(self) -> None:
        self.closed = True
        self.cut()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes accept()
        self.listener.close()
        for thread in self.threads:
            thread.join(timeout=5)
