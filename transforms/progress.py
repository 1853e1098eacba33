"""Best-effort progress events from workers to a local driver: the one optional hook.

Workers of a local run are separate processes started by the runner, so they tell the
driver what they finished with small datagrams on a Unix socket the driver listens on
(``pipeline.local.progress``). The driver names that socket in the environment variable
PROGRESS_ENV, which the worker processes inherit; nothing else of the graph knows about
it. On a cluster the variable is unset and events go nowhere; Beam's metrics still count.
Sending waits at most SEND_TIMEOUT_S and never fails a bundle.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

PROGRESS_ENV = "SIGNKPS_PROGRESS_SOCKET"
SEND_TIMEOUT_S = 0.2


class ProgressSender:
    """Sends events to ``socket_path``, by default the one ``PROGRESS_ENV`` names."""

    def __init__(self, socket_path: str | None = None) -> None:
        self._path = socket_path
        self._sock: socket.socket | None = None

    def send(self, **event: Any) -> None:
        path = self._path or os.environ.get(PROGRESS_ENV)
        if not path:
            return
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                # The socket's queue holds few datagrams (net.unix.max_dgram_qlen, often
                # 10): a burst, such as a sign event per listed sign, waits briefly for
                # the driver to read rather than being dropped.
                self._sock.settimeout(SEND_TIMEOUT_S)
            self._sock.sendto(json.dumps(event).encode(), path)
        except OSError:
            pass  # the driver is gone, or it is not reading: drop the event

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
