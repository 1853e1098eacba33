"""Best-effort progress events from workers to a local driver.

Workers of a local run are separate processes started by the runner, so they tell the
driver what they finished with small datagrams on a Unix socket the driver listens on
(``pipeline.progress``). Sending waits at most SEND_TIMEOUT_S and never fails a bundle:
on a cluster the socket does not exist and events are simply dropped; Beam's metrics
still count.
"""

from __future__ import annotations

import json
import socket
from typing import Any

SEND_TIMEOUT_S = 0.2


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
                # The socket's queue holds few datagrams (net.unix.max_dgram_qlen, often
                # 10): a burst, such as a sign event per listed sign, waits briefly for
                # the driver to read rather than being dropped.
                self._sock.settimeout(SEND_TIMEOUT_S)
            self._sock.sendto(json.dumps(event).encode(), self._path)
        except OSError:
            pass  # no driver listening (a cluster run), or it is not reading: drop it

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
