"""Evaluation generation throughput: batched greedy decoding of the answer with the KV cache, by batch size.

    python -m benchmarks.generate_throughput                                      # CPU: tiny preset
    python -m benchmarks.generate_throughput --preset phi3v-random --batch-sizes 1,8,32 --json out/gen.json

Prompts are the evaluation prompts (``processor.encode_example(image, None)``), left-padded by
``phi3v.generate.collate_prompts`` and decoded by ``model.generate`` (greedy, ``use_cache=True``), the
path ``evaluate`` takes. A random-weights model would not stop at ``<|end|>`` the way a trained one does, so
every row decodes exactly ``--new-tokens`` tokens (default: the longest synthetic answer plus ``<|end|>``,
what a trained model says); samples/s is then the rate of a trained model answering in that many tokens.

Rows per batch size: ``model`` times prefill + decode on pre-encoded prompts (collation and host-to-device
copies included); ``end-to-end`` (``--end-to-end``) times ``phi3v.generate.generate_answers`` on PIL
images, the HD transform on the CPU included. ``--static-cache`` uses transformers' static KV cache (with
generate's own compile off) and ``--compile`` adds compiled decode steps (on CUDA: CUDA graphs via mode
"reduce-overhead"), both as ``evaluate --compile`` does (``phi3v.generate.compile_decoding``); both are
guarded: where our model or the installed transformers refuse them, the row says why.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import torch

from benchmarks import harness, synthetic_rows
from finetune import flops
from phi3v.generate import STATIC_WIDTH_MULTIPLE, collate_prompts, compile_decoding, generate_answers
from phi3v.loading import load_model
from phi3v.presets import PRESETS

COLUMNS = [
    ("mode", "mode", ""),
    ("batch_size", "batch", "d"),
    ("samples_per_s", "samples/s", ".2f"),
    ("new_tokens_per_s", "new tok/s", ".1f"),
    ("batch_ms", "batch ms", ".1f"),
    ("ms_per_new_token", "ms/step", ".2f"),
    ("peak_memory_gib", "peak GiB", ".2f"),
    ("achieved_tflops", "TFLOP/s", ".3f"),
    ("mfu_pct", "MFU %", ".2f"),
    ("mfu_measured_pct", "% of measured peak", ".2f"),
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    cuda = torch.cuda.is_available()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="phi3v-random" if cuda else "tiny", choices=sorted(PRESETS))
    p.add_argument("--device", default=None, help="cuda, cpu, cuda:N [default: cuda if present]")
    p.add_argument("--batch-sizes", default="1,8,16,32" if cuda else "1,4", help="comma-separated sweep")
    p.add_argument("--batches", type=int, default=3 if cuda else 1, help="timed batches per batch size")
    p.add_argument("--warmup", type=int, default=1, help="untimed batches per batch size first")
    p.add_argument(
        "--new-tokens", type=int, default=0, help="tokens decoded per row [default: answer length]"
    )
    p.add_argument("--num-crops", type=int, default=None, help="HD crop grid bound [default: the preset's]")
    p.add_argument("--image-size", type=int, default=336, help="long side of the synthetic images (px)")
    p.add_argument("--aspect-ratios", default="1.0", help="comma-separated width/height ratios of the images")
    p.add_argument("--data", default=None, help="a DATASET dir to draw rows from instead of synthetic rows")
    p.add_argument("--attn", default="sdpa", choices=["sdpa", "flash_attention_2", "eager"])
    p.add_argument("--dtype", default=None, choices=["bf16", "fp32"], help="[default: bf16 CUDA, fp32 CPU]")
    p.add_argument("--static-cache", action=argparse.BooleanOptionalAction, default=False)
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=False)
    p.add_argument("--end-to-end", action=argparse.BooleanOptionalAction, default=False)
    p.add_argument("--causal-attention-flops", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--peak-size", type=int, default=None, help="matmul side for the peak [8192 GPU, 512 CPU]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0: default")
    p.add_argument("--json", default=None, help="write the results here as JSON")
    args = p.parse_args(argv)
    args.sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    if not args.sizes or min(args.sizes) < 1 or args.batches < 1 or args.warmup < 0:
        p.error("--batch-sizes must be positive integers, --batches >= 1, --warmup >= 0")
    if args.compile and not args.static_cache:
        p.error("--compile compiles the decode steps on the static KV cache: add --static-cache")
    args.aspects = tuple(float(a) for a in args.aspect_ratios.split(","))
    return args


def generate_batch(
    model, processor, encodings: list[dict], device: torch.device, new_tokens: int, static: bool
) -> torch.Tensor:
    """One left-padded batch through ``model.generate``: greedy, KV cache, exactly ``new_tokens`` tokens;
    returns the new tokens. On the static cache, prompt widths are rounded up as ``generate_answers`` does."""
    batch = collate_prompts(encodings, processor.pad_token_id, STATIC_WIDTH_MULTIPLE if static else 1)
    batch = {k: v.to(device) for k, v in batch.items()}
    batch["pixel_values"] = batch["pixel_values"].to(model.dtype)
    extra = {"cache_implementation": "static", "disable_compile": True} if static else {}
    with torch.inference_mode():
        out = model.generate(
            **batch,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,  # a random model must not stop early: a fixed answer length
            do_sample=False,
            use_cache=True,
            eos_token_id=list(processor.stop_token_ids),
            pad_token_id=processor.pad_token_id,
            **extra,
        )
    return out[:, batch["input_ids"].shape[1] :]


def run_model_rows(args, model, processor, device, rows, peak, new_tokens) -> list[dict[str, Any]]:
    shape = flops.shape_from_config(model.config)
    crop = processor.image_processor.crop_size
    results = []
    for bs in args.sizes:
        need = bs * (args.warmup + args.batches)
        encodings = synthetic_rows.encode_pool(
            processor, rows[:need], None, image_size=args.image_size, with_answer=False
        )

        def measure(bs=bs, encodings=encodings) -> dict[str, Any]:
            harness.reset_memory(device)
            timer = harness.Timer(device)
            total_flops = 0.0
            for b in range(args.warmup + args.batches):
                chunk = encodings[b * bs : (b + 1) * bs]
                if b < args.warmup:
                    generate_batch(model, processor, chunk, device, new_tokens, args.static_cache)
                    continue
                with timer:
                    out = generate_batch(model, processor, chunk, device, new_tokens, args.static_cache)
                generated = out.shape[1]
                if generated != new_tokens:
                    raise RuntimeError(f"generate made {generated} tokens per row, not {new_tokens}")
                for e in chunk:
                    c = synthetic_rows.count_tokens(e, crop)
                    prompt = flops.SampleTokens(c.text_tokens, c.image_tokens, c.crops, 1)
                    total_flops += flops.generation_flops(
                        shape, prompt, new_tokens, causal=args.causal_attention_flops
                    ).total
            n = bs * args.batches
            achieved = total_flops / timer.seconds
            return {
                "mode": "model"
                + ("+static" if args.static_cache else "")
                + ("+compile" if args.compile else ""),
                "batch_size": bs,
                "samples": n,
                "seconds": timer.seconds,
                "samples_per_s": n / timer.seconds,
                "new_tokens_per_s": n * new_tokens / timer.seconds,
                "batch_ms": 1e3 * timer.seconds / args.batches,
                "ms_per_new_token": 1e3 * timer.seconds / args.batches / new_tokens,
                "peak_memory_gib": harness.peak_memory_gib(device),
                "flops_per_sample": total_flops / n,
                "achieved_tflops": achieved / 1e12,
                **harness.mfu_fields(achieved, peak),
            }

        try:
            row = harness.run_guarded(measure, device)
        except Exception as exc:  # noqa: BLE001 - a refused lever (static cache, compile) becomes a row
            if not (args.static_cache or args.compile):
                raise
            row = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:90]}"}
        row.setdefault("batch_size", bs)
        row.setdefault("mode", "model")
        results.append(row)
        print(f"  batch {bs}: " + (row.get("error") or f"{row['samples_per_s']:.2f} samples/s"), flush=True)
    return results


def run_end_to_end(args, model, processor, device, rows, new_tokens) -> list[dict[str, Any]]:
    results = []
    for bs in args.sizes:
        images = [
            synthetic_rows.render_image(i, r.aspect, args.image_size)
            for i, r in enumerate(rows[: bs * args.batches])
        ]
        settings = {"batch_size": bs, "max_new_tokens": new_tokens, "static_cache": args.static_cache}
        generate_answers(model, processor, images[:bs], **settings)  # warm-up (and compilation)
        harness.reset_memory(device)
        t0 = time.perf_counter()
        result = generate_answers(model, processor, images, **settings)
        harness.synchronize(device)
        seconds = time.perf_counter() - t0
        if result.fallback:
            print(f"  end-to-end batch {bs}: {result.fallback}", flush=True)
        results.append(
            {
                "mode": "end-to-end"
                + ("+static" if args.static_cache and not result.fallback else "")
                + ("+compile" if args.compile and not result.fallback else ""),
                "fallback": result.fallback,
                "batch_size": bs,
                "samples": len(images),
                "seconds": seconds,
                "samples_per_s": len(images) / seconds,
                # a random model stops wherever <|end|> happens to come: count what it generated
                "new_tokens_per_s": result.new_tokens / seconds,
                "batch_ms": 1e3 * seconds / args.batches,
                "peak_memory_gib": harness.peak_memory_gib(device),
            }
        )
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = harness.pick_device(args.device)
    started = time.perf_counter()
    peak = harness.measure_matmul_peak(device, size=args.peak_size)
    dtype_name = args.dtype or ("bf16" if device.type == "cuda" else "fp32")
    dtype = torch.bfloat16 if dtype_name == "bf16" else torch.float32
    need = max(args.sizes) * (args.warmup + args.batches)
    if args.data:
        rows, _ = synthetic_rows.rows_from_dataset(args.data, need, seed=args.seed)
    else:
        rows = synthetic_rows.synthetic_rows(max(need, 64), seed=args.seed, aspects=args.aspects)
    corpus = [r.answer for r in rows] + [r.title for r in rows] if args.preset == "tiny" else None
    overrides = {"num_crops": args.num_crops} if args.num_crops else {}
    model, processor = load_model(
        args.preset,
        dtype=dtype,
        device=device,
        attn_implementation=args.attn,
        seed=args.seed,
        corpus=corpus,
        overrides=overrides,
    )
    model.eval()
    answer_lengths = [
        len(processor.tokenizer(r.answer, add_special_tokens=False).input_ids) + 1 for r in rows
    ]
    new_tokens = args.new_tokens or max(answer_lengths)
    notes = []
    if args.compile:
        notes.append(f"decode steps compiled (mode={compile_decoding(model)})")
    print(f"device: {harness.device_name(device)}")
    print(harness.mfu_label(peak))
    enc = processor.encode_example(synthetic_rows.render_image(0, rows[0].aspect, args.image_size), None)
    c = synthetic_rows.count_tokens(enc, processor.image_processor.crop_size)
    print(
        f"prompts: {args.preset} ({dtype_name}), num_crops {processor.image_processor.num_crops}, "
        f"{c.image_tokens} image + {c.text_tokens} text tokens; {new_tokens} new tokens per answer "
        f"(mean answer {sum(answer_lengths) / len(answer_lengths):.1f} incl. <|end|>)"
    )
    results = run_model_rows(args, model, processor, device, rows, peak, new_tokens)
    if args.end_to_end:
        results += run_end_to_end(args, model, processor, device, rows, new_tokens)
    shown = [r if "error" not in r else {**r, "samples_per_s": r["error"]} for r in results]
    table = harness.render_table(shown, COLUMNS)
    print()
    print(table)
    print(
        f"\nMFU against the measured {peak.dtype} matmul peak{' (CPU)' if device.type == 'cpu' else ''}; "
        "decoding is memory-bound, so a low MFU is expected there."
    )
    best = max((r for r in results if "samples_per_s" in r and "error" not in r), default=None,
               key=lambda r: r["samples_per_s"])  # fmt: skip
    report = {
        "benchmark": "generate_throughput",
        "device": harness.device_name(device),
        "device_type": device.type,
        "peak": peak.as_dict(),
        "args": {k: v for k, v in vars(args).items() if k not in ("aspects", "sizes")},
        "prompt": {"image_tokens": c.image_tokens, "text_tokens": c.text_tokens, "crops": c.crops},
        "new_tokens": new_tokens,
        "dtype": dtype_name,
        "results": results,
        "table": table,
        "best_samples_per_s": best["samples_per_s"] if best else math.nan,
        "notes": notes,
        "versions": harness.versions(),
        "wall_s": time.perf_counter() - started,
    }
    if args.json:
        harness.write_json(args.json, report)
        print(f"wrote {args.json}")
    return report


if __name__ == "__main__":
    main()
