"""Fine-tuning throughput: samples/s, tokens/s, step time, peak memory and MFU per method, in one run.

    python -m benchmarks.train_throughput                                 # CPU: tiny preset, a few steps
    python -m benchmarks.train_throughput --preset phi3v-random --json out/train.json     # on a GPU

Methods: ``lora-bf16``, ``full-bf16``, ``qlora`` (CUDA + bitsandbytes, else skipped with a line saying so)
run the product's own path: ``finetune.setup.build_model`` (dtype, LoRA wiring, QLoRA quantisation,
gradient checkpointing), ``build_optimizer`` (AdamW, fused on CUDA), ``LengthGroupedBatches``,
``collate_examples`` and the training step of ``finetune.loop`` (bf16 autocast on CUDA, loss summed over
answer tokens and divided by the global batch's answer tokens, gradient clipping, scheduler). ``reference``
is the reference recipe's way (``reference_recipe.py``): batch 1, 512 padded tokens, loss on every token,
fp32 AdamW on all weights, gradients divided by hand every 64 samples.

MFU: model FLOPs per sample (``finetune.flops``: 6N trained, 4N frozen base under LoRA, frozen vision
forward only, each part with its own tokens, plus attention) times samples/s, over the bf16 matmul peak
measured in this run (fp32 on CPU, labelled so). Timing covers whole optimizer steps, collation and host to
device copies included, after ``--warmup`` steps; the device is synchronised at both ends of each step.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import time
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks import harness, reference_recipe, synthetic_rows
from finetune import data, flops, kernels
from finetune.collate import collate_examples
from finetune.config import KERNEL_CHOICES, TrainConfig, resolve
from finetune.loss import answer_loss_sum
from finetune.model import model_overrides, tokenizer_corpus
from phi3v.loading import load_model
from phi3v.presets import PRESETS
from phi3v.processing import IGNORE_INDEX

METHODS = ("lora-bf16", "full-bf16", "qlora", "reference")
PRODUCT_METHOD = {"lora-bf16": "lora", "full-bf16": "full", "qlora": "qlora"}

COLUMNS = [
    ("method", "method", ""),
    ("compute_dtype", "dtype", ""),
    ("micro_batch", "micro-batch", "d"),
    ("grad_accum", "accum", "d"),
    ("samples_per_s", "samples/s", ".3f"),
    ("image_tokens_per_s", "img tok/s", ".0f"),
    ("text_tokens_per_s", "text tok/s", ".0f"),
    ("step_ms", "step ms", ".1f"),
    ("peak_memory_gib", "peak GiB", ".2f"),
    ("gflops_per_sample", "GFLOP/sample", ".2f"),
    ("achieved_tflops", "TFLOP/s", ".3f"),
    ("mfu_pct", "MFU %", ".1f"),
    ("mfu_measured_pct", "% of measured peak", ".1f"),
    ("vs_reference", "x ref", ".2f"),
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    cuda = torch.cuda.is_available()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="phi3v-random" if cuda else "tiny", choices=sorted(PRESETS))
    p.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, of {', '.join(METHODS)}")
    p.add_argument("--device", default=None, help="cuda, cpu, cuda:N [default: cuda if present]")
    p.add_argument("--batch-size", type=int, default=4 if cuda else 2, help="micro-batch (not the reference)")
    p.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step")
    p.add_argument("--num-crops", type=int, default=None, help="HD crop grid bound [default: the preset's]")
    p.add_argument("--image-size", type=int, default=336, help="long side of the synthetic images (px)")
    p.add_argument(
        "--aspect-ratios",
        default="1.0",
        help="comma-separated width/height ratios of the images (several: image-token counts differ)",
    )
    p.add_argument("--data", default=None, help="a DATASET dir to draw rows from instead of synthetic rows")
    p.add_argument(
        "--rows",
        type=int,
        default=synthetic_rows.CATALOGUE_ROWS,
        help="catalogue size the pool is drawn from",
    )
    p.add_argument(
        "--pool", type=int, default=0, help="examples encoded and cycled [default: what the steps use]"
    )
    p.add_argument("--steps", type=int, default=10 if cuda else 2, help="timed optimizer steps")
    p.add_argument("--warmup", type=int, default=3 if cuda else 1, help="untimed optimizer steps first")
    p.add_argument("--attn", default="sdpa", choices=["sdpa", "flash_attention_2", "eager"])
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="finetune --compile (per layer)",
    )
    p.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=False)
    p.add_argument(
        "--kernels", default="auto", choices=KERNEL_CHOICES, help="finetune --kernels (auto: liger on a GPU)"
    )
    p.add_argument(
        "--lora-fp32-inputs",
        action="store_true",
        help="peft's cast of each adapter's input to fp32 under autocast (what finetune switches off)",
    )
    p.add_argument(
        "--fused-adamw", action=argparse.BooleanOptionalAction, default=None, help="[default: on CUDA only]"
    )
    p.add_argument(
        "--length-grouping",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="batch examples of similar length (image + text tokens) as the trainer does",
    )
    p.add_argument(
        "--labels-only-logits",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="lm_head on answer positions only, as finetune computes the loss (off: the full logits)",
    )
    p.add_argument(
        "--full-weights", default="fp32", choices=["fp32", "bf16"], help="full-bf16 master weights"
    )
    p.add_argument("--lora-rank", type=int, default=64)
    p.add_argument("--freeze-vision", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--reference-dtype", default="fp32", choices=["fp32", "bf16"])
    p.add_argument(
        "--reference-accum", type=int, default=reference_recipe.ACCUMULATION_STEPS, help="the script's 64"
    )
    p.add_argument(
        "--reference-max-length",
        type=int,
        default=reference_recipe.MAX_LENGTH,
        help="the script's 512 (smaller: tests only)",
    )
    p.add_argument("--causal-attention-flops", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--peak-size", type=int, default=None, help="matmul side for the peak [8192 GPU, 512 CPU]")
    p.add_argument(
        "--profile", type=int, default=0, help="N more steps under torch.profiler: top ops printed"
    )
    p.add_argument("--profile-rows", type=int, default=25, help="ops listed by --profile")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0: default")
    p.add_argument("--json", default=None, help="write the results here as JSON")
    args = p.parse_args(argv)
    args.method_list = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in args.method_list if m not in METHODS]
    if unknown:
        p.error(f"--methods: unknown {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    if args.batch_size < 1 or args.grad_accum < 1 or args.steps < 1 or args.warmup < 0:
        p.error("--batch-size, --grad-accum, --steps must be >= 1 and --warmup >= 0")
    args.aspects = tuple(float(a) for a in args.aspect_ratios.split(","))
    return args


# -- data -------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Pool:
    rows: list[synthetic_rows.Row]
    images: list | None  # PIL images when read from a DATASET dir; None: rendered on demand
    frame: pd.DataFrame  # title / category3_code / full_price, for the tiny tokenizer's corpus

    def corpus(self) -> list[str]:
        """Texts a preset's own tokenizer is trained on (presets with a fixed vocabulary ignore them)."""
        return tokenizer_corpus(self.frame)


def make_pool(args: argparse.Namespace, size: int) -> Pool:
    if args.data:
        rows, images = synthetic_rows.rows_from_dataset(args.data, size, seed=args.seed)
    else:
        catalogue = synthetic_rows.synthetic_rows(args.rows, seed=args.seed, aspects=args.aspects)
        rows, images = catalogue[:size], None
    frame = pd.DataFrame(
        {
            "title": [r.title for r in rows],
            "category3_code": [r.category3_code for r in rows],
            "full_price": [r.full_price for r in rows],
        }
    )
    return Pool(rows, images, frame)


# -- model FLOPs ------------------------------------------------------------------------------------------


def sample_flops(
    shape: flops.ModelShape, tokens: flops.SampleTokens, modes: flops.MethodModes, causal: bool
) -> flops.FlopsBreakdown:
    return flops.training_flops(shape, tokens, modes, causal=causal)


# -- the product's methods --------------------------------------------------------------------------------


def train_config(args: argparse.Namespace, method: str) -> TrainConfig:
    cfg = TrainConfig(
        data="(benchmark)",
        out="(benchmark)",
        model=args.preset,
        method=PRODUCT_METHOD[method],
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        gradient_checkpointing=args.gradient_checkpointing,
        num_crops=args.num_crops,
        attn_implementation=args.attn,
        lora_rank=args.lora_rank,
        freeze_vision=args.freeze_vision,
        seed=args.seed,
        max_steps=args.warmup + args.steps,
        warmup_steps=0,
    )
    return resolve(cfg)


def loss_sum(
    model: nn.Module, batch: dict[str, torch.Tensor], device: torch.device, bf16: bool, labels_only: bool
) -> torch.Tensor:
    """Cross-entropy summed over answer tokens: ``finetune``'s own loss, or (``labels_only`` off) the loss
    over the full logits, the lever's other side."""
    if labels_only:
        return answer_loss_sum(model, batch, device, bf16)
    inputs = {k: v.to(device, non_blocking=True) for k, v in batch.items() if k != "labels"}
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    labels = batch["labels"].to(device)
    with autocast:
        logits = model(**inputs, use_cache=False).logits
    shifted = labels[:, 1:]
    keep = shifted != IGNORE_INDEX
    return F.cross_entropy(logits[:, :-1][keep].float(), shifted[keep], reduction="sum")


def run_product(
    method: str,
    args: argparse.Namespace,
    device: torch.device,
    pool: Pool,
    examples: list,
    peak: harness.Peak,
) -> dict[str, Any]:
    from finetune.model import build_model
    from finetune.optim import build_optimizer, build_scheduler

    cfg = train_config(args, method)
    model, processor, _ = build_model(cfg, pool.frame, device)
    notes = []
    if method == "full-bf16" and args.full_weights == "bf16":
        model.to(torch.bfloat16)
    notes += kernels.speed_up(model, args.kernels, args.compile, device)
    if args.lora_fp32_inputs:
        for module in model.modules():
            if hasattr(module, "cast_input_dtype_enabled"):
                module.cast_input_dtype_enabled = True
    optimizer = build_optimizer(model, cfg, device)
    fused = args.fused_adamw if args.fused_adamw is not None else device.type == "cuda"
    if fused != bool(optimizer.defaults.get("fused")):
        # keep each group's own lr (the tiny default trains its vision tower at a fraction of --lr)
        groups = [
            {"params": g["params"], "weight_decay": g["weight_decay"], "lr": g["lr"]}
            for g in optimizer.param_groups
        ]
        optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95), fused=fused or None)
    scheduler = build_scheduler(optimizer, cfg, cfg.max_steps)
    forward_model = model
    bf16 = device.type == "cuda" or (method == "full-bf16" and args.full_weights == "bf16")
    lengths = [int(e["input_ids"].shape[0]) for e in examples]
    if args.length_grouping:
        plan = data.LengthGroupedBatches(lengths, cfg.batch_size, seed=cfg.seed, grad_accum=cfg.grad_accum)

        def micro_batches(step: int) -> list[list[int]]:
            return plan.micro_batches(step)[1]

    else:
        per_step = cfg.batch_size * cfg.grad_accum

        def micro_batches(step: int) -> list[list[int]]:
            start = step * per_step
            idx = [(start + i) % len(examples) for i in range(per_step)]
            return [idx[a : a + cfg.batch_size] for a in range(0, per_step, cfg.batch_size)]

    crop_size = processor.image_processor.crop_size
    counts = [synthetic_rows.count_tokens(e, crop_size) for e in examples]
    shape = flops.shape_from_config(model.config)
    modes = flops.method_modes(
        "full" if cfg.method == "full" else "lora",
        freeze_vision=bool(cfg.freeze_vision),
        lora_rank=cfg.lora_rank if cfg.method != "full" else 0,
        lora_targets=tuple(cfg.lora_target_list()),
    )
    trainable = [p for p in model.parameters() if p.requires_grad]
    harness.reset_memory(device)
    timer = harness.Timer(device)
    totals = {"samples": 0, "image": 0, "text": 0, "pad": 0, "flops": 0.0}
    breakdown: dict[str, float] = {}
    loss_value = math.nan
    first_loss = math.nan
    forward_model.train()
    torch.manual_seed(args.seed)  # dropout masks, as the trainer seeds them: same flags, same losses

    def optimizer_step(step: int) -> tuple[list[list[int]], list[dict[str, torch.Tensor]], float, int]:
        micro = micro_batches(step)
        batches = [collate_examples([examples[i] for i in ix], processor.pad_token_id) for ix in micro]
        answer_tokens = sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in batches)
        total = 0.0
        for batch in batches:
            loss = loss_sum(forward_model, batch, device, bf16, args.labels_only_logits)
            (loss / answer_tokens).backward()
            total += float(loss.detach())
        if cfg.max_grad_norm > 0:
            nn.utils.clip_grad_norm_(trainable, cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        return micro, batches, total, answer_tokens

    for step in range(args.warmup + args.steps):
        timed = step >= args.warmup
        with timer if timed else contextlib.nullcontext():
            micro, batches, total, answer_tokens = optimizer_step(step)
        loss_value = total / answer_tokens
        first_loss = loss_value if step == 0 else first_loss
        if not timed:
            continue
        for ix, batch in zip(micro, batches, strict=True):
            totals["pad"] += int((batch["attention_mask"] == 0).sum())
            for i in ix:
                c = counts[i]
                totals["samples"] += 1
                totals["image"] += c.image_tokens
                totals["text"] += c.text_tokens
                fl = sample_flops(shape, c, modes, args.causal_attention_flops)
                totals["flops"] += fl.total
                for k, v in fl.as_dict().items():
                    breakdown[k] = breakdown.get(k, 0.0) + v
    profile = profile_steps(args, device, lambda i: optimizer_step(args.warmup + args.steps + i))
    result = summarize(
        method,
        compute_dtype="bf16" if bf16 else "fp32",
        micro_batch=cfg.batch_size,
        grad_accum=cfg.grad_accum,
        seconds=timer.seconds,
        steps=args.steps,
        totals=totals,
        peak=peak,
        device=device,
    )
    n = max(1, totals["samples"])
    result.update(
        loss=loss_value,
        first_loss=first_loss,
        flops_breakdown_per_sample={k: v / n for k, v in breakdown.items()},
        trainable_parameters=sum(p.numel() for p in trainable),
        freeze_vision=bool(cfg.freeze_vision),
        model_shape=dataclasses.asdict(shape),
        notes=notes,
    )
    if profile is not None:
        result["profile"] = profile
    # free the GPU before the next method (the step closure holds these names)
    forward_model = model = optimizer = scheduler = trainable = None  # noqa: F841
    harness.reset_memory(device)
    return result


def profile_steps(
    args: argparse.Namespace, device: torch.device, run_step: Any
) -> list[dict[str, Any]] | None:
    """``--profile N``: N more optimizer steps under torch.profiler; prints and returns the costliest ops.

    On a GPU the kernels ranked by their device time (on a CPU the operators by self CPU time), each with its
    share of the total: the way to see whether attention, the matmuls or memory-bound glue holds MFU down.
    """
    if not args.profile:
        return None
    from torch.profiler import ProfilerActivity, profile

    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    harness.synchronize(device)
    with profile(activities=activities) as prof:
        for i in range(args.profile):
            run_step(i)
        harness.synchronize(device)
    averages = list(prof.key_averages())
    key = "self_device_time_total" if cuda else "self_cpu_time_total"
    if cuda:
        # the kernels alone: an operator's self device time is its kernels' again, and would count twice
        averages = [e for e in averages if e.device_type == torch.autograd.DeviceType.CUDA]
    rows = sorted(averages, key=lambda e: getattr(e, key, 0.0), reverse=True)[: args.profile_rows]
    total = sum(getattr(e, key, 0.0) for e in averages) or 1.0
    out = [
        {
            "op": e.key,
            "calls": e.count,
            "ms_per_step": getattr(e, key) / 1e3 / args.profile,
            "share": getattr(e, key) / total,
        }
        for e in rows
    ]
    print(f"profile: {args.profile} steps, {'kernels by device' if cuda else 'operators by self CPU'} time")
    for r in out:
        print(
            f"  {r['ms_per_step']:9.2f} ms/step  {100 * r['share']:5.1f}%  {r['calls']:6d}x  {r['op'][:90]}"
        )
    return out


def summarize(
    method: str,
    *,
    compute_dtype: str,
    micro_batch: int,
    grad_accum: int,
    seconds: float,
    steps: int,
    totals: dict[str, float],
    peak: harness.Peak,
    device: torch.device,
) -> dict[str, Any]:
    samples = totals["samples"]
    achieved = totals["flops"] / seconds if seconds > 0 else math.nan
    return {
        "method": method,
        "compute_dtype": compute_dtype,
        "micro_batch": micro_batch,
        "grad_accum": grad_accum,
        "timed_steps": steps,
        "timed_samples": samples,
        "seconds": seconds,
        "samples_per_s": samples / seconds,
        "image_tokens_per_s": totals["image"] / seconds,
        "text_tokens_per_s": totals["text"] / seconds,
        "image_tokens_per_sample": totals["image"] / samples,
        "text_tokens_per_sample": totals["text"] / samples,
        "pad_tokens_per_sample": totals["pad"] / samples,
        "step_ms": 1e3 * seconds / steps,
        "peak_memory_gib": harness.peak_memory_gib(device),
        "flops_per_sample": totals["flops"] / samples,
        "gflops_per_sample": totals["flops"] / samples / 1e9,
        "achieved_tflops": achieved / 1e12,
        **harness.mfu_fields(achieved, peak),
    }


# -- the reference recipe ---------------------------------------------------------------------------------


def run_reference(
    args: argparse.Namespace, device: torch.device, pool: Pool, peak: harness.Peak
) -> dict[str, Any]:
    dtype = torch.float32 if args.reference_dtype == "fp32" else torch.bfloat16
    # the same model as the product's methods (the tiny default's sizes included); only the recipe differs
    overrides = model_overrides(train_config(args, "full-bf16"))
    model, processor = load_model(
        args.preset,
        dtype=dtype,
        device=device,
        attn_implementation="sdpa",
        seed=args.seed,
        corpus=pool.corpus(),
        overrides=overrides,
    )
    model.config.use_cache = False
    tokenizer = processor.tokenizer
    n_micro = args.steps
    samples = []
    for i in range(min(len(pool.rows), args.warmup + n_micro + 2)):
        row = pool.rows[i]
        image = (
            pool.images[i]
            if pool.images is not None
            else synthetic_rows.render_image(i, row.aspect, args.image_size)
        )
        samples.append(
            reference_recipe.encode_reference_example(tokenizer, row.answer, image, args.reference_max_length)
        )
    recipe = reference_recipe.ReferenceRecipe(
        model, tokenizer, device, accumulation_steps=args.reference_accum
    )
    harness.reset_memory(device)
    # warm-up: micro steps, and one optimizer step (AdamW allocates its state on the first)
    for k in range(max(1, args.warmup)):
        recipe.micro_step(samples[k % len(samples)])
    recipe.optimizer_step()
    micro_timer = harness.Timer(device)
    loss = math.nan
    for k in range(n_micro):
        with micro_timer:
            loss = recipe.micro_step(samples[(args.warmup + k) % len(samples)])
    opt_timer = harness.Timer(device)
    opt_steps = 2
    for k in range(opt_steps):
        recipe.micro_step(samples[k % len(samples)])  # gradients must exist, as in a real optimizer step
        with opt_timer:
            recipe.optimizer_step()
    t_micro = micro_timer.seconds / n_micro
    t_opt = opt_timer.seconds / opt_steps
    accum = args.reference_accum
    step_seconds = accum * t_micro + t_opt  # one optimizer step: accum samples, then the update
    real_text = sum(int(s["attention_mask"].sum()) for s in samples) / len(samples)
    shape = flops.shape_from_config(model.config)
    # the loss covers all 512 positions (padding included), so all 512 are model tokens of this objective
    length = args.reference_max_length
    tokens = flops.SampleTokens(text_tokens=length, image_tokens=0, crops=0, head_tokens=length - 1)
    fl = flops.training_flops(
        shape, tokens, flops.method_modes("full", freeze_vision=False), causal=args.causal_attention_flops
    )
    totals = {"samples": accum, "image": 0, "text": real_text * accum, "pad": 0, "flops": fl.total * accum}
    result = summarize(
        "reference",
        compute_dtype=args.reference_dtype,
        micro_batch=1,
        grad_accum=accum,
        seconds=step_seconds,
        steps=1,
        totals=totals,
        peak=peak,
        device=device,
    )
    result.update(
        loss=loss,
        pad_tokens_per_sample=length - real_text,
        micro_step_ms=1e3 * t_micro,
        optimizer_step_ms=1e3 * t_opt,
        timed_micro_steps=n_micro,
        timed_optimizer_steps=opt_steps,
        flops_breakdown_per_sample=fl.as_dict(),
        trainable_parameters=sum(p.numel() for p in model.parameters()),
        model_shape=dataclasses.asdict(shape),
        notes=["text only: the raw image is dropped, as upstream drops pixel_values without image_sizes"],
    )
    del recipe, model
    harness.reset_memory(device)
    return result


# -- main -------------------------------------------------------------------------------------------------


def skip_reason(method: str, device: torch.device) -> str | None:
    if method != "qlora":
        return None
    if device.type != "cuda":
        return "needs CUDA (4-bit weights run through bitsandbytes)"
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        return "needs bitsandbytes (pip install 'phi3v-catalogue[gpu]')"
    return None


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = harness.pick_device(args.device)
    started = time.perf_counter()
    peak = harness.measure_matmul_peak(device, size=args.peak_size)
    per_step = args.batch_size * args.grad_accum
    pool_size = args.pool or min(args.rows, per_step * (args.warmup + args.steps))
    pool_size = max(pool_size, args.warmup + args.steps + 2)
    pool = make_pool(args, pool_size)
    print(f"device: {harness.device_name(device)}")
    print(f"{peak.label}: {peak.flops_per_s / 1e12:.3f} TFLOP/s", end="")
    if peak.datasheet_flops_per_s:
        print(f"  (datasheet dense bf16: {peak.datasheet_flops_per_s / 1e12:.0f})", end="")
    print()
    results: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    examples = None
    token_summary = None
    for method in args.method_list:
        reason = skip_reason(method, device)
        if reason:
            print(f"{method}: skipped ({reason})")
            skipped.append({"method": method, "reason": reason})
            continue
        if method == "reference":
            row = harness.run_guarded(lambda: run_reference(args, device, pool, peak), device)
        else:
            if examples is None:
                # the processor alone (the model on the meta device: nothing allocated), with the sizes
                # the product trains with, so the samples fit the model build_model makes
                overrides = model_overrides(train_config(args, method))
                _, processor = load_model(
                    args.preset,
                    device="meta",
                    seed=args.seed,
                    corpus=pool.corpus(),
                    overrides=overrides,
                )
                examples = synthetic_rows.encode_pool(
                    processor, pool.rows, pool.images, image_size=args.image_size
                )
                counts = [
                    synthetic_rows.count_tokens(e, processor.image_processor.crop_size) for e in examples
                ]
                token_summary = {
                    "num_crops": processor.image_processor.num_crops,
                    "image_tokens_per_sample": sum(c.image_tokens for c in counts) / len(counts),
                    "text_tokens_per_sample": sum(c.text_tokens for c in counts) / len(counts),
                    "crops_per_sample": sum(c.crops for c in counts) / len(counts),
                    "answer_tokens_per_sample": sum(c.head_tokens for c in counts) / len(counts),
                    "pool": len(examples),
                }
                print(
                    f"samples: {args.preset}, num_crops {token_summary['num_crops']}, "
                    f"{token_summary['image_tokens_per_sample']:.0f} image + "
                    f"{token_summary['text_tokens_per_sample']:.1f} text tokens per sample "
                    f"({token_summary['crops_per_sample']:.0f} crops encoded), pool of {len(examples)}"
                )
            row = harness.run_guarded(
                lambda method=method, examples=examples: run_product(
                    method, args, device, pool, examples, peak
                ),
                device,
            )
        row.setdefault("method", method)
        results.append(row)
    reference = next((r for r in results if r["method"] == "reference" and "error" not in r), None)
    for r in results:
        if reference and "samples_per_s" in r:
            r["vs_reference"] = r["samples_per_s"] / reference["samples_per_s"]
    shown = [r if "error" not in r else {**r, "samples_per_s": r["error"]} for r in results]
    table = harness.render_table(shown, COLUMNS)
    print()
    print(table)
    print(
        f"\n{harness.mfu_label(peak)}; model FLOPs: finetune/flops.py; 'x ref' = samples/s over the reference"
    )
    print("recipe's as it runs here (batch 1, fp32, 512 padded tokens).")
    for r in results:
        for note in r.get("notes", []):
            print(f"note: {r['method']}: {note}")
    report = {
        "benchmark": "train_throughput",
        "device": harness.device_name(device),
        "device_type": device.type,
        "peak": peak.as_dict(),
        "args": {k: v for k, v in vars(args).items() if k not in ("aspects",)},
        "samples": token_summary,
        "results": results,
        "skipped": skipped,
        "table": table,
        "versions": harness.versions(),
        "wall_s": time.perf_counter() - started,
    }
    if args.json:
        harness.write_json(args.json, report)
        print(f"wrote {args.json}")
    return report


if __name__ == "__main__":
    main()
