"""A local OpenAI-compatible server that answers in a set time and fails on purpose: starlette on uvicorn, on
a loopback port. The endpoint benchmark runs it as a process of its own; the tests run it in a thread.

    python -m benchmarks.local_endpoint --port 8011 --delay-ms 50
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from contracts.task import build_answer


@dataclass
class Behaviour:
    """What the fake server does; tests change it between runs."""

    models: tuple[str, ...] = ("fake-vlm",)
    delay_s: float = 0.0  # each answer takes this long
    key: str | None = None  # the bearer key it requires (None: any)
    fail_first: int = 0  # answer the first N attempts at each image with ``fail_status``
    fail_status: int = 429
    always_fail: frozenset[str] = frozenset()  # image digests (first 12 hex) that always get ``fail_status``
    list_models: bool = True  # False: GET /v1/models is 404
    attempts: Counter = field(default_factory=Counter)  # attempts per image digest
    in_flight: int = 0
    max_in_flight: int = 0
    requests: int = 0
    bodies: list = field(default_factory=list)
    keep_bodies: bool = True  # a long benchmark keeps none


def image_digest(data_url: str) -> str:
    return hashlib.sha256(base64.b64decode(data_url.split(",", 1)[1])).hexdigest()[:12]


def answer_for(digest: str) -> str:
    """A deterministic answer in the task's format, different per image."""
    n = int(digest[:6], 16)
    return build_answer(
        f"Item {digest[:4]}", ("SCARVES", "SNEAKERS", "CROSSBODY")[n % 3], float(100 + n % 900)
    )


def build_app(behaviour: Behaviour):
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    def refused(request) -> JSONResponse | None:
        if behaviour.key and request.headers.get("authorization") != f"Bearer {behaviour.key}":
            return JSONResponse(
                {"error": {"message": "Incorrect API key provided", "type": "auth"}}, status_code=401
            )
        return None

    async def models(request):
        if not behaviour.list_models:
            return JSONResponse({"error": {"message": "not found"}}, status_code=404)
        if response := refused(request):
            return response
        return JSONResponse(
            {"object": "list", "data": [{"id": m, "object": "model"} for m in behaviour.models]}
        )

    async def chat(request):
        if response := refused(request):
            return response
        body = await request.json()
        behaviour.requests += 1
        if behaviour.keep_bodies:
            behaviour.bodies.append(body)
        part = next(p for p in body["messages"][-1]["content"] if p["type"] == "image_url")
        digest = image_digest(part["image_url"]["url"])
        behaviour.attempts[digest] += 1
        behaviour.in_flight += 1
        behaviour.max_in_flight = max(behaviour.max_in_flight, behaviour.in_flight)
        try:
            if behaviour.delay_s:
                await asyncio.sleep(behaviour.delay_s)
        finally:
            behaviour.in_flight -= 1
        if digest in behaviour.always_fail or behaviour.attempts[digest] <= behaviour.fail_first:
            return JSONResponse(
                {"error": {"message": f"failing on purpose ({behaviour.fail_status})"}},
                status_code=behaviour.fail_status,
                headers={"retry-after-ms": "5"},
            )
        if body.get("model") not in behaviour.models:
            return JSONResponse({"error": {"message": "no such model"}}, status_code=404)
        message = {"role": "assistant", "content": answer_for(digest)}
        return JSONResponse(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            }
        )

    routes = [Route("/v1/models", models), Route("/v1/chat/completions", chat, methods=["POST"])]
    return Starlette(routes=routes)


class FakeEndpoint:
    """The fake server, running in a thread until ``stop``."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        import uvicorn

        self.behaviour = behaviour or Behaviour()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        config = uvicorn.Config(build_app(self.behaviour), log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> FakeEndpoint:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def main() -> None:
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument("--delay-ms", type=float, default=50.0, help="how long each answer takes")
    parser.add_argument("--model", default="fake-vlm")
    args = parser.parse_args()
    behaviour = Behaviour(models=(args.model,), delay_s=args.delay_ms / 1000, keep_bodies=False)
    uvicorn.run(build_app(behaviour), host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
