"""The chat format of the training target, held once.

    prompt:  <|user|>\\n<|image_1|>What is shown in this image?<|end|><|assistant|>\\n
    target:  Product: {title}, Category: {category3_code}, Full Price: {full_price}<|end|>

(one string, the target right after the prompt)

`build_prompt()` is the text a model sees before it answers (generation), `build_training_text(answer)` the
whole conversation (training); both come from the same pieces, so the prompt is always a prefix of the
training text.
"""

from __future__ import annotations

USER = "<|user|>"
ASSISTANT = "<|assistant|>"
END = "<|end|>"
IMAGE_TAG = "<|image_1|>"
QUESTION = "What is shown in this image?"


def build_prompt() -> str:
    """The conversation up to and including ``<|assistant|>\\n``: what the model is given before it
    answers."""
    return f"{USER}\n{IMAGE_TAG}{QUESTION}{END}{ASSISTANT}\n"


def format_price(full_price: float | int | str) -> str:
    """A price as the seed writes it: Python's ``str(float)``, e.g. ``2490.0``."""
    return str(float(full_price))


PRICE_LABEL = "Full Price:"  # the answer's last field; finetune's --token-noise leaves it and the price alone


def build_answer(title: str, category3_code: str, full_price: float | int | str) -> str:
    """The answer the model must learn: ``Product: {title}, Category: {category3_code}, Full Price:
    {full_price}``."""
    return f"Product: {title}, Category: {category3_code}, {PRICE_LABEL} {format_price(full_price)}"


def build_training_text(answer: str) -> str:
    """Prompt, answer and the closing ``<|end|>``: one training conversation."""
    return f"{build_prompt()}{answer}{END}"
