"""Phi-3-Vision, native: config, model, image embedding, processor and the offline tiny tokenizer."""

from .configuration import Phi3VConfig
from .modeling import Phi3VForCausalLM, Phi3VModel
from .processing import Phi3VImageProcessor, Phi3VProcessor
from .tokenizer import build_tiny_tokenizer

__all__ = [
    "Phi3VConfig",
    "Phi3VForCausalLM",
    "Phi3VModel",
    "Phi3VImageProcessor",
    "Phi3VProcessor",
    "build_tiny_tokenizer",
]
