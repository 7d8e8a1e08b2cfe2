"""``serve``: anything ``evaluate`` can load, behind OpenAI's chat completions API, on a real ASGI server
(starlette on uvicorn).

    GET  /v1/models              {"object": "list", "data": [{"id": NAME, "object": "model", ...}]}
    POST /v1/chat/completions    OpenAI's request (the image as a data URL in an image_url content part);
                                 the answer in OpenAI's chat.completion shape

The served system answers the task's question about the one image of the last user turn, exactly as it does
inside ``evaluate`` (our models were trained on that one question; an hf: model gets its prompt); the
request's text is not read. ``max_tokens`` (or ``max_completion_tokens``) limits the answer. Requests that
arrive together (within ``--batch-wait-ms``, up to ``--batch-size``) are answered in one batch, so a client
with many requests in flight gets batched decoding. Only ``data:`` image URLs are taken: the server fetches
nothing.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from contracts.errors import UserError
from evaluation.config import ServeConfig
from evaluation.data import IMAGE_BYTES, EvalSet, decode_image
from evaluation.systems import System


class BadRequest(Exception):
    """A request the server cannot answer: its status and OpenAI-style error body."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code = status, code

    def body(self) -> dict:
        return {
            "error": {"message": str(self), "type": "invalid_request_error", "param": None, "code": self.code}
        }


def request_image(body: Any) -> bytes:
    """The bytes of the image in the last user turn of a chat completion request.

    Raises:
        BadRequest: no messages, no image, more than one, or an image that is not a base64 data URL.
    """
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
        raise BadRequest(400, "the request needs 'messages', a list with one user turn")
    users = [m for m in body["messages"] if isinstance(m, dict) and m.get("role") == "user"]
    content = users[-1].get("content") if users else None
    parts = content if isinstance(content, list) else []
    urls = [p.get("image_url") for p in parts if isinstance(p, dict) and p.get("type") == "image_url"]
    urls = [u.get("url") if isinstance(u, dict) else u for u in urls]
    if len(urls) != 1:
        raise BadRequest(
            400, f"the last user turn must hold exactly one image_url part, it holds {len(urls)}"
        )
    url = urls[0]
    if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url:
        raise BadRequest(
            400, "the image must be a base64 data URL (data:image/jpeg;base64,...): nothing is fetched"
        )
    try:
        return base64.b64decode(url.split(";base64,", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(400, "the image's data URL is not valid base64") from None


def token_limit(body: dict) -> int | None:
    """``max_completion_tokens`` or ``max_tokens`` of a request (None: the system's own limit)."""
    value = body.get("max_completion_tokens", body.get("max_tokens"))
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise BadRequest(400, f"max_tokens must be a positive integer, got {value!r}")
    return value


def completion(name: str, text: str) -> dict:
    """An answer in OpenAI's chat.completion shape."""
    return {
        "id": f"chatcmpl-{secrets.token_hex(12)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": name,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
    }


@dataclass
class _Pending:
    image: bytes
    limit: int | None
    done: asyncio.Future = field(repr=False)


class Batcher:
    """Collects requests that arrive together and lets the system answer them as one batch, one batch at a
    time, in a worker thread (the event loop keeps taking requests meanwhile)."""

    def __init__(self, system: System, train: pd.DataFrame | None, batch_size: int, wait_s: float) -> None:
        self.system, self.train, self.batch_size, self.wait_s = system, train, batch_size, wait_s
        self.queue: asyncio.Queue[_Pending] | None = None
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        self.queue = asyncio.Queue()
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def answer(self, image: bytes, limit: int | None) -> str:
        pending = _Pending(image, limit, asyncio.get_running_loop().create_future())
        await self.queue.put(pending)
        return await pending.done

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            deadline = time.monotonic() + self.wait_s
            while len(batch) < self.batch_size:
                left = deadline - time.monotonic()
                try:
                    batch.append(
                        self.queue.get_nowait()
                        if left <= 0
                        else await asyncio.wait_for(self.queue.get(), left)
                    )
                except (asyncio.TimeoutError, asyncio.QueueEmpty):
                    break
            for limit in dict.fromkeys(p.limit for p in batch):  # one batch per token limit, in arrival order
                group = [p for p in batch if p.limit == limit]
                try:
                    texts = await asyncio.to_thread(self._answer, [p.image for p in group], limit)
                except Exception as exc:  # noqa: BLE001 - told to each waiting request, the server goes on
                    for p in group:
                        if not p.done.done():
                            p.done.set_exception(exc)
                    continue
                for p, text in zip(group, texts, strict=True):
                    if not p.done.done():
                        p.done.set_result(text)

    def _answer(self, images: list[bytes], limit: int | None) -> list[str]:
        for i, image in enumerate(images):
            decode_image(image, f"request {i}")  # a bad image fails its batch with one clear line
        rows = pd.DataFrame({IMAGE_BYTES: images})
        data = EvalSet(rows=rows, split="requests", train=self.train)
        answers = self.system.answer(data, max_new_tokens=limit)
        return [text or "" for text in answers.texts]


def build_app(system: System, name: str, batcher: Batcher):
    """The starlette app serving ``system`` as the model ``name``."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def models(request: Request) -> JSONResponse:
        entry = {"id": name, "object": "model", "created": 0, "owned_by": "phi3v-catalogue"}
        return JSONResponse({"object": "list", "data": [entry]})

    async def chat(request: Request) -> JSONResponse:
        try:
            try:
                body = await request.json()
            except ValueError:
                raise BadRequest(400, "the request body is not JSON") from None
            if isinstance(body, dict) and body.get("model") not in (None, name):
                asked = body.get("model")
                raise BadRequest(404, f"the model {asked!r} does not exist: this server serves {name!r}",
                                 "model_not_found")  # fmt: skip
            if isinstance(body, dict) and body.get("stream"):
                raise BadRequest(400, "streaming is not supported: send stream=false")
            image, limit = request_image(body), token_limit(body)
            try:
                text = await batcher.answer(image, limit)
            except UserError as exc:
                raise BadRequest(400, str(exc)) from None
        except BadRequest as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return JSONResponse(completion(name, text))

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    routes = [Route("/v1/models", models), Route("/v1/chat/completions", chat, methods=["POST"])]
    return Starlette(routes=routes, lifespan=lifespan)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, taken before the model loads.

    Raises:
        UserError: the port is in use or the address is not this machine's.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(
        socket.SOL_SOCKET, socket.SO_REUSEADDR, 1
    )  # a port in TIME_WAIT is free; one in use is not
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == 98 or "in use" in str(exc):
            raise UserError(
                f"port {port} on {host} is in use: choose another --port (or stop what holds it)"
            ) from None
        raise UserError(f"cannot listen on {host}:{port} ({exc.strerror}): check --host and --port") from None
    sock.listen(2048)
    return sock


@dataclass
class Server:
    """A server ready to run: its socket, the uvicorn server, the system it serves and its URL."""

    sock: socket.socket
    uvicorn: Any
    system: System
    name: str

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"http://{host if ':' not in host else f'[{host}]'}:{port}/v1"

    def run(self) -> None:
        """Serve until stopped (Ctrl-C, SIGTERM, or ``stop``)."""
        try:
            self.uvicorn.run(sockets=[self.sock])
        finally:
            self.sock.close()
            self.system.close()

    def stop(self) -> None:
        self.uvicorn.should_exit = True


def build_server(cfg: ServeConfig) -> Server:
    """Take the port, resolve and load the system, and set up uvicorn (nothing is served until ``run``).

    Raises:
        UserError: a port in use, a model that cannot load, a baseline without --data.
    """
    import uvicorn

    from evaluation.data import read_eval_set
    from evaluation.systems import resolve_systems

    sock = bind(cfg.host, cfg.port)
    try:
        settings = cfg.eval_config()
        (system,) = resolve_systems(settings)
        train = None
        if cfg.data:
            train = read_eval_set(cfg.data, "train").rows
        system.prepare(EvalSet(rows=pd.DataFrame({IMAGE_BYTES: []}), split="requests", train=train,
                               data_dir=cfg.data))  # fmt: skip
        name = cfg.name or system.name
        batcher = Batcher(system, train, cfg.batch_size, cfg.batch_wait_ms / 1000)
        config = uvicorn.Config(
            build_app(system, name, batcher),
            log_level="warning" if cfg.quiet else "info",
            access_log=not cfg.quiet,
            timeout_graceful_shutdown=5,
        )
        return Server(sock, uvicorn.Server(config), system, name)
    except BaseException:
        sock.close()
        raise
