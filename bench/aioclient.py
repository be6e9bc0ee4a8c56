"""A small asyncio HTTP/1.1 load client: many keep-alive connections, one thread, no GIL queueing.

Fifty Python threads measuring latency would mostly measure each other (every wake-up waits for
the GIL); one event loop with fifty connections measures the server.
"""

from __future__ import annotations

import asyncio
import time


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str,
               headers: bytes) -> int:
    writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n")
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def _run(port: int, paths: list[str], clients: int, headers: dict[str, str],
               per_client_rate: float | None) -> tuple[list[float], list[int], float]:
    work: asyncio.Queue[str] = asyncio.Queue()
    for path in paths:
        work.put_nowait(path)
    header_bytes = b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items())
    latencies: list[float] = []
    failures: list[int] = []

    async def client(number: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # Paced clients start spread over one interval, or they would all fire at the same instant.
        next_at = time.perf_counter() + (number / clients / per_client_rate if per_client_rate else 0)
        try:
            while not work.empty():
                path = work.get_nowait()
                if per_client_rate:
                    await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                    next_at += 1 / per_client_rate
                started = time.perf_counter()
                try:
                    status = await asyncio.wait_for(_get(reader, writer, path, header_bytes), 30)
                except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
                    writer.close()  # the server closed the keep-alive connection: open another
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    status = await asyncio.wait_for(_get(reader, writer, path, header_bytes), 30)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    failures.append(status)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    return latencies, failures, time.perf_counter() - started


def get_many(port: int, paths: list[str], clients: int, headers: dict[str, str],
             per_client_rate: float | None = None) -> tuple[list[float], float]:
    """GET every path once over `clients` keep-alive connections; (latencies in s, wall seconds).

    Without a rate each connection sends its next request when the last is answered (a closed
    loop: capacity, and latency is mostly queueing); with one, each keeps to that many per second.
    """
    latencies, failures, wall = asyncio.run(_run(port, paths, clients, headers, per_client_rate))
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. status {failures[0]}")
    return latencies, wall
