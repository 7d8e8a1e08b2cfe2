"""Building or loading a model and its processor: ``load_model(spec)`` for a preset, a model dir or a hub id;
``run_model_dir(RUN)`` for the model a RUN dir saved.

Random presets are built from their seed (with the preset's tokenizer and start); loaded models come from
safetensors through ``Phi3VForCausalLM.from_pretrained`` (no ``trust_remote_code``). A local dir is checked
before anything is built (``check_model_dir``), so a damaged export is one clear line.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from contracts import run_layout
from contracts.errors import UserError
from phi3v.modeling import Phi3VForCausalLM
from phi3v.presets import DEFAULT_PRESET, PRESETS, PROCESSOR_KEYS, Preset, build_config
from phi3v.processing import Phi3VImageProcessor, Phi3VProcessor
from phi3v.tokenizer import DEFAULT_VOCAB_SIZE, build_tiny_tokenizer

ATTN_IMPLEMENTATIONS = ("eager", "sdpa", "flash_attention_2")


def _check_attn(attn_implementation: str | None) -> str:
    attn = attn_implementation or "sdpa"
    if attn not in ATTN_IMPLEMENTATIONS:
        raise UserError(f"--attn-implementation {attn!r}: choose one of {', '.join(ATTN_IMPLEMENTATIONS)}")
    if attn == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
        raise UserError(
            "--attn-implementation flash_attention_2 needs the flash-attn package: install it or use sdpa"
        )
    return attn


def _set_generation_defaults(model: Phi3VForCausalLM, processor: Phi3VProcessor) -> None:
    # Answers end with <|end|>; generation stops there (or at eos) and pads with the tokenizer's pad id.
    model.generation_config.eos_token_id = processor.stop_token_ids
    model.generation_config.pad_token_id = processor.pad_token_id
    model.generation_config.bos_token_id = processor.tokenizer.bos_token_id


MIMETIC_QK = (0.7, 0.7)  # W_q^T W_k ~ a Z + b I


MIMETIC_VO = (0.4, 0.4)  # W_v^T W_o^T ~ a Z - b I


@torch.no_grad()
def mimetic_attention_init(vision_model: torch.nn.Module, seed: int) -> None:
    """Start each CLIP self-attention layer as trained ones look (Trockman & Kolter, "Mimetic Initialization
    of Self-Attention Layers", ICML 2023): query and key weights whose product is near the identity (a token
    attends to tokens like itself), value and output weights whose product is near minus the identity, each
    plus a random part ``Z`` with entries of variance 1/width.

    An image encoder learned from a few thousand images reads them sooner from this start (docs/results.md).
    Presets that ask for it (``Preset.mimetic_init``) get it when built from their seed; loaded weights are
    never touched.
    """
    gen = torch.Generator().manual_seed(seed + 7_919)

    def factors(product: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A, B with A^T B = product (split evenly through the SVD)."""
        u, s, vh = torch.linalg.svd(product)
        root = s.sqrt()
        return (u * root).T, (vh.T * root).T

    (a_qk, b_qk), (a_vo, b_vo) = MIMETIC_QK, MIMETIC_VO
    for layer in vision_model.encoder.layers:
        attn = layer.self_attn
        width = attn.q_proj.weight.shape[1]
        eye = torch.eye(width)
        q, k = factors(a_qk * (torch.randn(width, width, generator=gen) / width**0.5) + b_qk * eye)
        v, o = factors(a_vo * (torch.randn(width, width, generator=gen) / width**0.5) - b_vo * eye)
        # weights are (out, in): scores use W_q^T W_k; the output projection follows the values, so
        # W_v^T W_o^T = product needs W_o = B^T
        for linear, weight in ((attn.q_proj, q), (attn.k_proj, k), (attn.v_proj, v), (attn.out_proj, o.T)):
            linear.weight.copy_(weight.to(linear.weight.device, linear.weight.dtype))


def _random_model(
    preset: Preset,
    *,
    dtype: torch.dtype | None,
    device: str | torch.device | None,
    attn: str,
    seed: int,
    corpus: Iterable[str] | None,
    overrides: dict[str, Any],
) -> tuple[Phi3VForCausalLM, Phi3VProcessor]:
    config_overrides = {k: v for k, v in overrides.items() if k not in PROCESSOR_KEYS}
    config = build_config(preset.name, **config_overrides)
    tokenizer = build_tiny_tokenizer(
        corpus if preset.tokenizer_from_corpus else None,
        vocab_size=config.vocab_size if preset.tokenizer_from_corpus else DEFAULT_VOCAB_SIZE,
    )
    if preset.tokenizer_from_corpus:  # the tokenizer's size, rounded up to a multiple of 64 for matmul shapes
        config.vocab_size = -(-len(tokenizer) // 64) * 64
    if len(tokenizer) > config.vocab_size:
        raise UserError(f"the tokenizer has {len(tokenizer)} ids but the model only {config.vocab_size}")
    config._attn_implementation = attn
    with torch.random.fork_rng(devices=[]), torch.device(device or "cpu"):
        torch.manual_seed(seed)
        model = Phi3VForCausalLM._from_config(config, dtype=dtype)
    if preset.mimetic_init:
        mimetic_attention_init(model.model.vision_embed_tokens.img_processor.vision_model, seed)
    image_processor = Phi3VImageProcessor(
        num_crops=overrides.get("num_crops", preset.num_crops),
        crop_size=config.crop_size,
        num_img_tokens=config.tokens_per_crop,
    )
    return model, Phi3VProcessor(tokenizer, image_processor)


def _local_snapshot(spec: str) -> Path:
    """A local dir holding `spec`'s tokenizer and processor files (the dir itself, or a hub download)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    from huggingface_hub import snapshot_download

    # the model's code files and card too (small): exports copy the code beside their auto_map (never run
    # here) and name the base's licence
    patterns = ["*.json", "tokenizer.model", "*.jinja", "*.py", "README.md"]
    return Path(snapshot_download(spec, allow_patterns=patterns))


HUB_ID_PATTERN = re.compile(r"[\w.-]+/[\w.-]+")


def base_model_source(spec: str) -> tuple[str | None, Path | None]:
    """Where the weights of ``spec`` come from: (hub id, local folder holding its files).

    The hub id is None for random presets and local dirs; the folder is None for random presets and for hub
    models not in the local hub cache (nothing is downloaded here).
    """
    if spec in PRESETS:
        if PRESETS[spec].weights == "random":
            return None, None
        spec = PRESETS[spec].weights
    path = Path(spec).expanduser()
    if path.is_dir():
        return None, path
    if not HUB_ID_PATTERN.fullmatch(spec):
        return None, None
    from huggingface_hub import snapshot_download

    try:
        return spec, Path(snapshot_download(spec, local_files_only=True))
    except (OSError, ValueError):  # not in the cache (or offline mode): the id alone
        return spec, None


def check_model_dir(path: Path) -> None:
    """Refuse a local model dir that cannot load, before anything is built: no ``config.json``, no weights,
    or a weights file that is cut short or damaged (its safetensors header is read, not the tensors).

    Raises:
        UserError: naming the file and the fix.
    """
    from safetensors import SafetensorError, safe_open

    config = path / "config.json"
    if not config.is_file():
        adapters_only = (path / "adapter").is_dir()
        raise UserError(
            f"{path} holds LoRA adapters only until its run finishes: finish it with `finetune --resume`"
            if adapters_only
            else f"{path} has no config.json: it is no saved model (a RUN dir's model/ or best/, or a "
            "downloaded checkpoint)"
        )
    try:
        json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise UserError(
            f"cannot read {config} ({exc}): the saved model is damaged; export it again"
        ) from None
    index = path / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UserError(f"cannot read {index} ({exc}): the saved model is damaged") from None
    else:
        shards = ["model.safetensors"]
    for name in shards:
        weights = path / name
        if not weights.is_file():
            raise UserError(
                f"{path} has no {name}: the saved model is incomplete; export or download it again"
            )
        try:
            with safe_open(weights, framework="pt"):
                pass
        except (OSError, SafetensorError) as exc:
            raise UserError(
                f"{weights} is damaged ({exc}): export the model again (or resume its run)"
            ) from None


def _pretrained_model(
    spec: str,
    *,
    dtype: torch.dtype | None,
    device: str | torch.device | None,
    attn: str,
    overrides: dict[str, Any],
) -> tuple[Phi3VForCausalLM, Phi3VProcessor]:
    config_overrides = {k: v for k, v in overrides.items() if k not in PROCESSOR_KEYS}
    try:
        # device_map puts the weights straight onto the device (no full copy in host memory first)
        model = Phi3VForCausalLM.from_pretrained(
            spec,
            dtype=dtype if dtype is not None else "auto",
            attn_implementation=attn,
            device_map=torch.device(device) if device is not None else None,
            **config_overrides,
        )
        folder = _local_snapshot(spec)
    except OSError as exc:
        reason = " ".join(str(exc).split())  # one line, whatever transformers wrote
        raise UserError(
            f"cannot load model {spec!r} ({reason}); give a preset ({', '.join(PRESETS)}), "
            "a model dir or a hub id"
        ) from None
    image_overrides = {"crop_size": model.config.crop_size, "num_img_tokens": model.config.tokens_per_crop}
    if "num_crops" in overrides:
        image_overrides["num_crops"] = overrides["num_crops"]
    return model, Phi3VProcessor.from_pretrained(folder, **image_overrides)


def load_model(
    spec: str = DEFAULT_PRESET,
    *,
    dtype: torch.dtype | None = None,
    device: str | torch.device | None = None,
    attn_implementation: str | None = None,
    seed: int = 0,
    corpus: Iterable[str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> tuple[Phi3VForCausalLM, Phi3VProcessor]:
    """Build or load a model and its processor.

    Args:
        spec: a preset name (`tiny`, `phi3v`, `phi3v-random`), a local dir (config.json + safetensors, sharded
            with model.safetensors.index.json or not, + tokenizer and preprocessor files: the hub repository's
            layout or what `model.save_pretrained(d)` + `processor.save_pretrained(d)` write), or a hub id.
        dtype: parameter dtype; None: float32 for random presets, the checkpoint's dtype ("auto") for loaded
        ones. device: where the model goes (random presets are built there directly); None: CPU.
        attn_implementation: "sdpa" (default), "eager" or "flash_attention_2" (needs flash-attn installed).
        seed: initialisation seed of random presets (the global RNG state is left as it was).
        corpus: texts the tiny tokenizer is trained on (the training split's titles, categories and answers);
            None: a small built-in corpus. Ignored for loaded models.
        overrides: config fields for random presets (see `build_config`), plus `num_crops` for the processor
            of any spec.

    Returns:
        (model, processor), the model in eval mode, its generation config set to stop at `<|end|>`.

    Raises:
        UserError: unknown preset, missing dir, unreachable hub id, or flash_attention_2 without flash-attn.
    """
    overrides = dict(overrides or {})
    attn = _check_attn(attn_implementation)
    if spec in PRESETS:
        preset = PRESETS[spec]
        if preset.weights == "random":
            model, processor = _random_model(
                preset, dtype=dtype, device=device, attn=attn, seed=seed, corpus=corpus, overrides=overrides
            )
        else:
            model, processor = _pretrained_model(
                preset.weights, dtype=dtype, device=device, attn=attn, overrides=overrides
            )
    elif Path(spec).expanduser().is_dir() or HUB_ID_PATTERN.fullmatch(spec):
        if Path(spec).expanduser().is_dir():
            check_model_dir(Path(spec).expanduser())
        model, processor = _pretrained_model(spec, dtype=dtype, device=device, attn=attn, overrides=overrides)
    else:
        raise UserError(
            f"no preset, dir or hub id {spec!r}: choose one of {', '.join(PRESETS)}, a model dir or a hub id"
        )
    _set_generation_defaults(model, processor)
    model.eval()
    return model, processor


CHECKPOINTS = ("final", "best")  # RUN/model, RUN/best


def run_model_dir(run: str | Path, checkpoint: str = "final") -> Path:
    """The saved model of the RUN dir ``run``: ``RUN/model`` (``final``, merged weights at the end of the run)
    or ``RUN/best`` (the lowest validation loss).

    Raises:
        UserError: ``run`` is no RUN dir, or it lacks the model asked for (naming what to do instead).
    """
    run = Path(run).expanduser()
    if checkpoint not in CHECKPOINTS:
        raise UserError(f"--checkpoint must be one of {', '.join(CHECKPOINTS)}, got {checkpoint!r}")
    if not run_layout.is_run_dir(run):
        raise UserError(f"{run} is no RUN dir (its config.json records no training): give one from finetune")
    sub = run_layout.BEST_DIR if checkpoint == "best" else run_layout.MODEL_DIR
    if (run / sub).is_dir():
        return (run / sub).absolute()
    if sub == run_layout.MODEL_DIR:
        best = (run / run_layout.BEST_DIR).is_dir()
        raise UserError(
            f"RUN dir {run} has not finished (no {sub}/): "
            + ("evaluate its best checkpoint with --checkpoint best, or " if best else "")
            + f"finish it with `finetune --out {run} --resume`"
        )
    raise UserError(
        f"RUN dir {run} has no {sub}/ (it has not validated yet): use --checkpoint final once it has finished"
    )


def read_run_records(run: str | Path) -> dict[str, Any]:
    """What a RUN dir says about its training: ``run_config`` (config.json) and ``train_dataset``
    (dataset.json, with the training data's fingerprint); None for a file that cannot be read."""
    records: dict[str, Any] = {}
    for key, name in (("run_config", run_layout.CONFIG_FILE), ("train_dataset", run_layout.DATASET_FILE)):
        try:
            records[key] = json.loads((Path(run) / name).read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            records[key] = None
    return records
