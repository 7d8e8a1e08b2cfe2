"""Phi-3-Vision, native: config, model, image embedding, processor and the offline tiny tokenizer.

Importing this package registers `phi3_v` with transformers' Auto classes, so `AutoConfig` and
`AutoModelForCausalLM` resolve the hub's config.json to these classes without remote code.
"""

from transformers import AutoConfig, AutoModelForCausalLM

from .configuration import Phi3VConfig
from .modeling import Phi3VForCausalLM, Phi3VModel
from .processing import Phi3VImageProcessor, Phi3VProcessor
from .tokenizer import build_tiny_tokenizer

AutoConfig.register(Phi3VConfig.model_type, Phi3VConfig, exist_ok=True)
AutoModelForCausalLM.register(Phi3VConfig, Phi3VForCausalLM, exist_ok=True)

__all__ = [
    "Phi3VConfig",
    "Phi3VForCausalLM",
    "Phi3VModel",
    "Phi3VImageProcessor",
    "Phi3VProcessor",
    "build_tiny_tokenizer",
]
