"""Serve an ASGI app with uvicorn on a free 127.0.0.1 port, inside the test's loop."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[int]:
    """Run ``app`` until the block ends; yield the port it listens on."""
    import uvicorn

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            ws="websockets-sansio",
            lifespan="off",
            log_level="warning",
            backlog=1024,
        )
    )
    serve = asyncio.get_running_loop().create_task(server.serve(sockets=[listener]))
    try:
        while not server.started:
            if serve.done():
                serve.result()  # the server failed to start: say why
            await asyncio.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        await serve
