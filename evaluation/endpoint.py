"""An OpenAI-compatible chat endpoint as a system: ``--model openai:NAME --base-url URL``.

This is how vLLM, SGLang, TGI, llama.cpp servers and hosted APIs are benchmarked. Each row is one chat
completion request through the ``openai`` client: the image as a base64 data URL in an ``image_url`` content
part, then the prompt; temperature 0 and a token limit; ``--concurrency`` requests in flight. The client
retries 429s, 5xx and time-outs with exponential backoff (``--retries``, honouring ``Retry-After``); a row
whose retries run out is left unanswered with its reason and the run goes on. Before any row is sent, the
server is asked for its models (``GET /models``): an unreachable URL, a refused key or an unknown model name
is one line. The key comes from ``OPENAI_API_KEY`` when set (local servers need none).
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from typing import TYPE_CHECKING, Any

from contracts.errors import UserError
from evaluation.cache import response_cache
from evaluation.config import DEFAULT_MAX_NEW_TOKENS
from evaluation.systems import Answers, Progress, System

if TYPE_CHECKING:
    from evaluation.config import EvalConfig
    from evaluation.data import EvalSet

KEY_VARIABLE = "OPENAI_API_KEY"
NO_KEY = "none"  # what the client sends where no key is set: local servers ignore it
CHECK_TIMEOUT_S = 10.0


def image_data_url(data: bytes) -> str:
    """``data:image/...;base64,...`` for an image file's bytes (its type read from its first bytes)."""
    return f"data:{image_mime(data)};base64,{base64.b64encode(data).decode('ascii')}"


def image_mime(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"GIF8"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/jpeg"


def chat_messages(prompt: str, image: bytes) -> list[dict[str, Any]]:
    """One user turn: the image, then the prompt."""
    return [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": image_data_url(image)}},
                {"type": "text", "text": prompt},
            ],
        }
    ]


def error_reason(exc: BaseException) -> str:
    """Why a request failed, in one line (for predictions.jsonl)."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return "timed out (after retries)"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return f"connection failed (after retries): {type(cause).__name__}: {str(cause)[:160]}".rstrip(": ")
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {' '.join(str(exc.message).split())[:200]}"
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"


class Endpoint(System):
    """A model behind an OpenAI-compatible ``/chat/completions``."""

    def __init__(self, model: str, cfg: EvalConfig, prompt: str) -> None:
        if not model:
            raise UserError(
                "--model openai: needs the served model's name: --model openai:NAME --base-url URL"
            )
        self.model, self.prompt = model, prompt
        self.base_url = (
            cfg.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        ).rstrip("/")
        self.api_key = os.environ.get(KEY_VARIABLE) or None
        self.name = f"openai:{model}"
        self.max_tokens = cfg.max_new_tokens or DEFAULT_MAX_NEW_TOKENS
        self.concurrency, self.timeout, self.retries = cfg.concurrency, cfg.request_timeout, cfg.retries
        self.use_cache, self.cache_dir = not cfg.no_cache, cfg.cache_dir
        self.info = {"name": self.name, "spec": self.name, "kind": "endpoint", "path": None, "run": None,
                     "base_url": self.base_url, "model": model, "prompt": prompt,
                     "decoding": f"chat completion at {self.base_url}, temperature 0"}  # fmt: skip
        self.cache = None
        self.notes: list[str] = []

    def _client(self, asynchronous: bool, **kwargs):
        import openai

        cls = openai.AsyncOpenAI if asynchronous else openai.OpenAI
        return cls(base_url=self.base_url, api_key=self.api_key or NO_KEY, **kwargs)

    def prepare(self, data: EvalSet) -> None:
        """Ask the server for its models: it must answer, accept the key and serve this model.

        Raises:
            UserError: unreachable, 401, an unknown model name, another refusal.
        """
        import openai

        client = self._client(False, timeout=CHECK_TIMEOUT_S, max_retries=1)
        try:
            served = [m.id for m in client.models.list()]
        except openai.AuthenticationError:
            fix = f"set {KEY_VARIABLE} to a key it accepts" if self.api_key else f"set {KEY_VARIABLE}"
            raise UserError(f"{self.base_url} refused the request (401 Unauthorized): {fix}") from None
        except openai.NotFoundError:
            served = None  # a server without GET /models: the name is checked by the first answer
            self.notes.append(
                f"{self.base_url} lists no models (GET /models: 404): the name {self.model!r} is unchecked"
            )
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            cause = exc.__cause__ or exc
            why = f"{type(cause).__name__}: {' '.join(str(cause).split())[:120]}"
            raise UserError(
                f"cannot reach --base-url {self.base_url} ({why}): start the server, or fix the URL"
            ) from None
        except openai.APIStatusError as exc:
            raise UserError(
                f"{self.base_url} answered GET /models with HTTP {exc.status_code}: check --base-url"
            ) from None
        finally:
            client.close()
        if served is not None and self.model not in served:
            listed = ", ".join(served[:8]) + (", …" if len(served) > 8 else "") if served else "none"
            raise UserError(
                f"{self.base_url} serves no model {self.model!r} (it serves: {listed}): "
                "fix --model openai:NAME"
            )
        identity = {"kind": "openai-chat", "base_url": self.base_url, "model": self.model}
        self.cache = response_cache(self.use_cache, self.cache_dir, self.name, identity)

    def answer(
        self, data: EvalSet, *, progress: Progress | None = None, max_new_tokens: int | None = None
    ) -> Answers:
        max_tokens = max_new_tokens or self.max_tokens
        start = time.perf_counter()
        texts, reasons, sent = asyncio.run(self._answer_all(data, max_tokens, progress))
        seconds = time.perf_counter() - start
        speed = {"requests": sent, "cached": len(data) - sent, "concurrency": self.concurrency,
                 "max_new_tokens": max_tokens, "unanswered": len(reasons)}  # fmt: skip
        return Answers(texts=texts, seconds=seconds, reasons=reasons, notes=list(self.notes), speed=speed)

    async def _answer_all(self, data: EvalSet, max_tokens: int, progress: Progress | None):
        from openai.types.chat import ChatCompletion

        settings = {"model": self.model, "temperature": 0, "max_tokens": max_tokens}
        texts: list[str | None] = [None] * len(data)
        reasons: dict[int, str] = {}
        gate = asyncio.Semaphore(self.concurrency)
        sent = 0
        client = self._client(True, timeout=self.timeout, max_retries=self.retries)

        async def one(i: int) -> None:
            nonlocal sent
            image = data.image_bytes(i)
            key = self.cache.key(prompt=self.prompt, image=image, settings=settings)
            cached = self.cache.get(key)
            if cached is None:
                async with gate:
                    sent += 1
                    try:
                        # the client's own request path (its retries, backoff and errors), without the
                        # typed-argument walk of chat.completions.create: most of the client's CPU time
                        # per request went to walking the image's data URL through it
                        response = await client.post(
                            "/chat/completions",
                            cast_to=ChatCompletion,
                            body={"messages": chat_messages(self.prompt, image), **settings},
                        )
                    except Exception as exc:  # noqa: BLE001 - any failure leaves this row unanswered
                        reasons[i] = error_reason(exc)
                    else:
                        content = response.choices[0].message.content if response.choices else None
                        if content is None:
                            reasons[i] = "the response held no text"
                        else:
                            texts[i] = content
                            self.cache.put(key, content)  # as it arrives: a killed run keeps it
            else:
                texts[i] = cached
            if progress is not None:
                progress(1)

        try:
            await asyncio.gather(*(one(i) for i in range(len(data))))
        finally:
            await client.close()
        return texts, reasons, sent

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
