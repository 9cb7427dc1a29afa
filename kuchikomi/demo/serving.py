"""Serving a local stand-in site (the demo portal, the Google fake) on a background thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def serve_handler(
    handler: type[BaseHTTPRequestHandler], *, host: str, port: int, name: str
) -> Iterator[str]:
    """Serve ``handler`` until the block ends; yields the base URL (``http://host:port``).

    ``port=0`` picks a free port.
    """
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        bound_host, bound_port = server.server_address[:2]
        yield f"http://{bound_host!s}:{bound_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
