"""Measurement harness shared by the benchmarks: device, matmul peak, timing, memory, the table and JSON.

MFU is reported against the GPU's datasheet peak (``finetune.flops.datasheet_peak``, the one table the product
uses too); an unknown GPU gets no MFU and says so. A measured matmul peak (a large square matmul in bf16 on
CUDA, fp32 on CPU, timed in the same process just before the benchmark) stands beside it as its own column.
"""

from __future__ import annotations

import gc
import importlib.metadata
import json
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from finetune.flops import peak_flops


@dataclass(frozen=True)
class Peak:
    """A measured matmul peak: FLOP/s, the dtype it was measured in, the size and how it was timed."""

    flops_per_s: float
    dtype: str
    size: int
    iters: int
    label: str  # e.g. "bf16 matmul peak (measured, 8192^3)"
    datasheet_flops_per_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "flops_per_s": self.flops_per_s,
            "tflops_per_s": self.flops_per_s / 1e12,
            "dtype": self.dtype,
            "size": self.size,
            "iters": self.iters,
            "label": self.label,
            "datasheet_flops_per_s": self.datasheet_flops_per_s,
        }


def pick_device(name: str | None) -> torch.device:
    """``name`` ("cuda", "cpu", "cuda:1"), or CUDA when there is one, else CPU."""
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_memory(device: torch.device) -> None:
    """Free what the previous measurement left and start a fresh peak-memory count."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_gib(device: torch.device) -> float | None:
    """Peak GPU memory allocated by tensors since ``reset_memory`` (None on CPU: not measured there)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return None


def datasheet_peak(device: torch.device) -> float | None:
    return peak_flops(device)


def mfu_fields(achieved_flops_per_s: float, peak: Peak) -> dict[str, float | None]:
    """MFU against the datasheet peak (None for an unknown GPU or a CPU) and against the measured peak."""
    datasheet = peak.datasheet_flops_per_s
    return {
        "mfu": achieved_flops_per_s / datasheet if datasheet else None,
        "mfu_pct": 100 * achieved_flops_per_s / datasheet if datasheet else None,
        "mfu_measured": achieved_flops_per_s / peak.flops_per_s,
        "mfu_measured_pct": 100 * achieved_flops_per_s / peak.flops_per_s,
    }


def mfu_label(peak: Peak) -> str:
    """What the MFU columns are measured against, in words."""
    if peak.datasheet_flops_per_s:
        head = f"MFU against the GPU's datasheet bf16 peak ({peak.datasheet_flops_per_s / 1e12:.0f} TFLOP/s)"
    else:
        head = "MFU not reported: no datasheet peak for this device (a CPU or a GPU the table does not know)"
    return f"{head}; beside it, against the {peak.label}: {peak.flops_per_s / 1e12:.3f} TFLOP/s"


def measure_matmul_peak(device: torch.device, *, size: int | None = None, iters: int | None = None) -> Peak:
    """Time ``iters`` square matmuls of side ``size`` (bf16 on CUDA, fp32 on CPU) and return FLOP/s.

    The best of three timed rounds is kept (clocks ramp up; the first round can be slow), after warm-up.
    """
    cuda = device.type == "cuda"
    dtype = torch.bfloat16 if cuda else torch.float32
    size = size or (8192 if cuda else 512)
    iters = iters or (50 if cuda else 4)
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, device=device, dtype=dtype, generator=gen)
    b = torch.randn(size, size, device=device, dtype=dtype, generator=gen)
    out = torch.empty(size, size, device=device, dtype=dtype)
    for _ in range(3):
        torch.matmul(a, b, out=out)
    synchronize(device)
    best = math.inf
    for _ in range(3):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(iters):
                torch.matmul(a, b, out=out)
            end.record()
            end.synchronize()
            seconds = start.elapsed_time(end) / 1e3
        else:
            t0 = time.perf_counter()
            for _ in range(iters):
                torch.matmul(a, b, out=out)
            seconds = time.perf_counter() - t0
        best = min(best, seconds)
    del a, b, out
    flops = 2.0 * size**3 * iters / best
    name = "bf16" if cuda else "fp32"
    where = "" if cuda else ", CPU: fp32 stands in for bf16"
    return Peak(
        flops_per_s=flops,
        dtype=name,
        size=size,
        iters=iters,
        label=f"{name} matmul peak (measured, {size}^3 x {iters}{where})",
        datasheet_flops_per_s=datasheet_peak(device),
    )


class Timer:
    """Wall-clock seconds of a block, with the device synchronised at both ends (GPU work is async)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds = 0.0

    def __enter__(self) -> Timer:
        synchronize(self.device)
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        synchronize(self.device)
        self.seconds += time.perf_counter() - self._t0


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for package in ("torch", "transformers", "peft", "bitsandbytes", "liger-kernel", "flash-attn"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    found["cuda"] = torch.version.cuda
    found["gpu"] = gpu_state()
    return found


def gpu_state() -> dict[str, str] | None:
    """The GPU's name, driver and clocks now and at most (``nvidia-smi``): what makes two machines' figures
    differ; None without a GPU."""
    import subprocess

    fields = "name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,clocks.max.mem,power.limit,memory.total"
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.splitlines()[0]  # fmt: skip
    except (OSError, subprocess.SubprocessError, IndexError):
        return None
    return dict(zip(fields.split(","), (v.strip() for v in out.split(",")), strict=False))


def fmt(value: Any, spec: str = ".1f") -> str:
    """A table cell: '-' for None, the error text for a string, ``spec`` for numbers."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return "-"
    return format(value, spec)


def render_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, str]]) -> str:
    """Rows as a fixed-width text table; ``columns`` are (key, header, format spec)."""
    cells = [[header for _, header, _ in columns]]
    for row in rows:
        cells.append([fmt(row.get(key), spec) for key, _, spec in columns])
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = []
    for n, r in enumerate(cells):
        lines.append(
            "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json(path: str | os.PathLike, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON atomically (temporary sibling, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    tmp.replace(path)


def run_guarded(fn: Callable[[], dict[str, Any]], device: torch.device) -> dict[str, Any]:
    """Run one measurement; an out-of-memory error becomes a row saying so (the others still run)."""
    try:
        return fn()
    except torch.cuda.OutOfMemoryError as exc:
        message = f"OOM ({str(exc).splitlines()[0][:80]})"
    # freed here, outside the except block: the exception's traceback holds the failed run's tensors
    reset_memory(device)
    return {"error": message}
