"""Best-effort progress events from workers to a local driver.

Workers of a local run are separate processes started by the runner, so they tell the
driver what they finished with small datagrams on a Unix socket the driver listens on
(``pipeline.progress``). Sending never blocks and never fails a bundle: on a cluster
the socket does not exist and events are simply dropped; Beam's metrics still count.
"""

from __future__ import annotations

import json
import socket
from typing import Any


class ProgressSender:
    def __init__(self, socket_path: str | None) -> None:
        self._path = socket_path
        self._sock: socket.socket | None = None

    def send(self, **event: Any) -> None:
        if not self._path:
            return
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.setblocking(False)
            self._sock.sendto(json.dumps(event).encode(), self._path)
        except OSError:
            pass  # no driver listening (a cluster run), or its queue is full: drop it

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
