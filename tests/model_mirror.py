"""A mirror of MediaPipe's model storage, served on 127.0.0.1 from the shared model files."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from keypoints.models import FACE_MODEL, HAND_MODEL, POSE_MODELS


def mirror(root: Path, models: Path, corrupt: bool = False) -> None:
    """The official URL layout under ``root``, with the real files (one byte off if corrupt)."""
    for model in (*POSE_MODELS.values(), FACE_MODEL, HAND_MODEL):
        source = models / model.name
        if not source.is_file():
            continue  # lite and heavy are not among the test assets: the server gives 404
        target = root / model.url_path
        target.parent.mkdir(parents=True, exist_ok=True)
        if corrupt:
            data = bytearray(source.read_bytes())
            data[len(data) // 2] ^= 0xFF
            target.write_bytes(bytes(data))
        else:
            target.symlink_to(source)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serving(
    root: Path, handler: type[http.server.SimpleHTTPRequestHandler] = QuietHandler
) -> Iterator[str]:
    """``root`` served over HTTP on 127.0.0.1 until the block ends; yields its URL."""
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(root))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
