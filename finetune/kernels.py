"""Faster kernels for training on GPUs: liger-kernel's fused Phi-3 RMSNorm, SwiGLU and RoPE for the decoder
when it is installed (``--kernels auto``), and ``torch.compile`` per transformer layer (``--compile``).

Per layer, as torchtune compiles: every layer has the same code, so one compiled graph serves them all, and
the image glue (data-dependent placeholder counts, image sizes read on the host) stays eager instead of
breaking the graph.
"""

from __future__ import annotations

import torch
from torch import nn

from contracts.errors import UserError

COMPILED_LAYERS = ("Phi3DecoderLayer", "CLIPEncoderLayer")


def apply_liger(model: nn.Module) -> str:
    """liger-kernel's Phi-3 kernels (RMSNorm, SwiGLU, RoPE) on the decoder; the reason when not applied."""
    try:
        from liger_kernel.transformers import apply_liger_kernel_to_phi3
    except ImportError:
        return "liger-kernel is not installed"
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        apply_liger_kernel_to_phi3(
            rope=True,
            cross_entropy=False,
            fused_linear_cross_entropy=False,
            rms_norm=True,
            swiglu=True,
            model=base,
        )
    except Exception as exc:  # an API mismatch leaves the model as it was: slower, never wrong
        return f"liger-kernel failed ({type(exc).__name__}: {str(exc).splitlines()[0][:90]})"
    return ""


def compile_layers(model: nn.Module) -> int:
    """``torch.compile`` each decoder and CLIP layer in place; returns how many."""
    layers = [m for m in model.modules() if type(m).__name__ in COMPILED_LAYERS]
    for layer in layers:
        layer.compile()
    return len(layers)


def speed_up(model: nn.Module, kernels: str, compile_: bool, device: torch.device) -> list[str]:
    """Apply what ``--kernels`` and ``--compile`` ask for; returns one line per choice made.

    Raises:
        UserError: ``--kernels liger`` without liger-kernel or off CUDA.
    """
    notes = []
    if kernels == "liger" or (kernels == "auto" and device.type == "cuda"):
        if kernels == "liger" and device.type != "cuda":
            raise UserError("--kernels liger needs a CUDA GPU (its kernels are Triton's): use --kernels auto")
        reason = apply_liger(model)
        if reason and kernels == "liger":
            raise UserError(f"--kernels liger: {reason} (pip install liger-kernel, or use --kernels auto)")
        notes.append(
            f"kernels: {reason}; the decoder runs eager" if reason else "kernels: liger-kernel (Phi-3)"
        )
    if compile_:
        notes.append(f"compile: torch.compile on {compile_layers(model)} transformer layers")
    return notes
