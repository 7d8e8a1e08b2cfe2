"""Any transformers vision-language model as a system: ``--model hf:ID_OR_DIR``.

The model loads with ``AutoProcessor`` and ``AutoModelForImageTextToText`` (or, for a config that class does
not know, ``AutoModelForCausalLM``: what remote code such as the published Phi-3-Vision's asks for, with
``--trust-remote-code`` only). It was never trained on our answer's format, so each row is one user turn
through the model's own chat template: the image, then the prompt (the task's question and one instruction
stating the format, ``contracts.task.FOREIGN_PROMPT``, or ``--prompt FILE``). Greedy decoding, batches of
``--batch-size`` left-padded rows; the lenient parser reads what comes back. Answers are stored in the
response cache (``evaluation.cache``) as they come.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contracts.errors import UserError
from evaluation.cache import response_cache
from evaluation.config import DEFAULT_MAX_NEW_TOKENS
from evaluation.model import capped_threads, torch_settings, torch_threads
from evaluation.systems import Answers, Progress, System, loading_bars

if TYPE_CHECKING:
    from evaluation.config import EvalConfig
    from evaluation.data import EvalSet

PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")


def check_hf_dir(path: Path) -> None:
    """Refuse a local dir that cannot be loaded as a vision-language model: no config.json, no processor or
    tokenizer files.

    Raises:
        UserError: naming what is missing and how to add it.
    """
    if not (path / "config.json").is_file():
        raise UserError(f"hf:{path} has no config.json: give a dir written by save_pretrained, or a hub id")
    missing = [what for what, names in (("processor", PROCESSOR_FILES), ("tokenizer", TOKENIZER_FILES))
               if not any((path / n).is_file() for n in names)]  # fmt: skip
    if missing:
        raise UserError(
            f"hf:{path} has no {' or '.join(missing)} files ({', '.join(PROCESSOR_FILES)}, "
            f"{', '.join(TOKENIZER_FILES[:2])}): save the processor beside the model "
            "(processor.save_pretrained)"
        )


def _local_identity(path: Path) -> dict[str, Any]:
    """What tells this dir's model apart: its config and the size and time of each weights file."""
    files = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin", ".json", ".jinja"))
    return {"path": str(path), "files": [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]}


class TransformersModel(System):
    """A vision-language model of transformers, run in this process (on the first process under torchrun)."""

    def __init__(self, source: str, cfg: EvalConfig, prompt: str) -> None:
        if not source:
            raise UserError("--model hf: needs a hub id or a dir: --model hf:ID_OR_DIR")
        path = Path(source).expanduser()
        self.local = path.is_dir()
        if self.local:
            check_hf_dir(path)
            self.source = str(path.absolute())
        elif source.startswith(("/", "./", "../", "~")) or path.exists():
            raise UserError(
                f"no such model dir: hf:{source} (give a dir written by save_pretrained, or a hub id)"
            )
        else:
            self.source = source
        self.name = f"hf:{path.absolute().name if self.local else source}"
        self.prompt, self.trust_remote_code = prompt, cfg.trust_remote_code
        self.device, self.dtype = torch_settings(cfg.device, cfg.dtype)
        self.threads, note = capped_threads(cfg.threads)
        self.notes = [note] if note else []
        self.batch_size = cfg.batch_size
        self.max_new_tokens = cfg.max_new_tokens or DEFAULT_MAX_NEW_TOKENS
        self.use_cache, self.cache_dir, self.quiet = not cfg.no_cache, cfg.cache_dir, cfg.quiet
        self.info = {"name": self.name, "spec": f"hf:{source}", "kind": "hf",
                     "path": self.source if self.local else None, "run": None, "prompt": prompt,
                     "trust_remote_code": self.trust_remote_code,
                     "decoding": "greedy, through the model's own chat template"}  # fmt: skip
        self.model = self.processor = self.cache = None

    def prepare(self, data: EvalSet) -> None:
        """Load the processor and the model; the chat prompt is built once."""
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText, AutoProcessor

        remote = {"trust_remote_code": self.trust_remote_code}
        try:
            config = AutoConfig.from_pretrained(self.source, **remote)
            processor = AutoProcessor.from_pretrained(self.source, **remote)
        except (OSError, ValueError) as exc:
            if not self.trust_remote_code and ("custom code" in str(exc) or "trust_remote_code" in str(exc)):
                raise UserError(
                    f"hf:{self.source} ships code of its own to load: pass --trust-remote-code to run it "
                    "(only for code you trust)"
                ) from None
            raise UserError(f"cannot load hf:{self.source} ({_one_line(exc)})") from None
        if getattr(processor, "chat_template", None) is None:
            raise UserError(
                f"hf:{self.source} has no chat template (chat_template.jinja): the prompt goes through the "
                "model's own template; give a chat model"
            )
        dtype = self.dtype if self.dtype is not None else "auto"
        with loading_bars(self.quiet):
            try:
                try:
                    model = AutoModelForImageTextToText.from_pretrained(self.source, dtype=dtype, **remote)
                except (
                    ValueError
                ):  # a config this class does not know (remote code): what its config asks for
                    model = AutoModelForCausalLM.from_pretrained(self.source, dtype=dtype, **remote)
            except (OSError, ValueError) as exc:
                raise UserError(f"cannot load hf:{self.source} ({_one_line(exc)})") from None
        self.model = model.to(self.device).eval()
        tokenizer = getattr(processor, "tokenizer", processor)
        tokenizer.padding_side = "left"  # generation appends on the right
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.processor = processor
        turn = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": self.prompt}]}]
        self.text = processor.apply_chat_template(turn, add_generation_prompt=True, tokenize=False)
        settings = self.settings(self.max_new_tokens)
        identity = _local_identity(Path(self.source)) if self.local else {
            "id": self.source, "commit": getattr(config, "_commit_hash", None)}  # fmt: skip
        identity |= {"kind": "hf", "trust_remote_code": self.trust_remote_code, "dtype": settings["dtype"]}
        self.cache = response_cache(self.use_cache, self.cache_dir, self.name, identity)

    def settings(self, max_new_tokens: int) -> dict[str, Any]:
        dtype = str(next(self.model.parameters()).dtype).replace("torch.", "")
        return {"max_new_tokens": max_new_tokens, "do_sample": False, "dtype": dtype,
                "device": str(self.device).split(":")[0]}  # fmt: skip

    def answer(
        self, data: EvalSet, *, progress: Progress | None = None, max_new_tokens: int | None = None
    ) -> Answers:
        import torch

        budget = max_new_tokens or self.max_new_tokens
        settings = self.settings(budget)
        texts: list[str | None] = [None] * len(data)
        todo = []
        start = time.perf_counter()
        for i in range(len(data)):
            key = self.cache.key(prompt=self.text, image=data.image_bytes(i), settings=settings)
            texts[i] = self.cache.get(key)
            if texts[i] is None:
                todo.append((i, key))
            elif progress is not None:
                progress(1)
        with torch_threads(self.threads), torch.inference_mode():
            for b in range(0, len(todo), self.batch_size):
                batch = todo[b : b + self.batch_size]
                inputs = self.processor(
                    text=[self.text] * len(batch),
                    images=[[data.load_image(i)] for i, _ in batch],
                    padding=True,
                    return_tensors="pt",
                )
                dtype = next(self.model.parameters()).dtype
                inputs = {k: (v.to(self.device, dtype) if v.is_floating_point() else v.to(self.device))
                          for k, v in inputs.items() if hasattr(v, "to")}  # fmt: skip
                out = self.model.generate(**inputs, max_new_tokens=budget, do_sample=False)
                generated = out[:, inputs["input_ids"].shape[1] :]
                for (i, key), text in zip(
                    batch, self.processor.batch_decode(generated, skip_special_tokens=True), strict=True
                ):
                    texts[i] = text.strip()
                    self.cache.put(key, texts[i])
                if progress is not None:
                    progress(len(batch))
        speed = {"device": str(self.device), "dtype": settings["dtype"], "batch_size": self.batch_size,
                 "max_new_tokens": budget, "threads": self.threads, "generated": len(todo),
                 "cached": len(data) - len(todo)}  # fmt: skip
        return Answers(texts=texts, seconds=time.perf_counter() - start, notes=list(self.notes), speed=speed)

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
        self.model = self.processor = None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]
