"""The reference recipe's way of training, reproduced as a baseline for the benchmark only (never shipped).

The reference (the seed's Phi-3-vision training script, Phi-3CookBook, after Brett Young's W&B report) does,
per sample:

- ``tokenizer(text, truncation=True, padding="max_length", max_length=512)`` on the whole conversation with
  the tokenizer's left padding: the ``<|image_1|>`` tag is tokenized as plain text, never expanded into
  image placeholders;
- the image as a raw ``np.array(PIL image)`` (H, W, 3) moved to the GPU as ``pixel_values``, with no HD
  transform and no ``image_sizes``. The upstream model runs its image embedding only when both
  ``pixel_values`` and ``image_sizes`` are given (``Phi3VModel.forward``), and only at negative placeholder
  ids, of which there are none; so the image is silently dropped and the model trains on the 512 text
  tokens alone. The faithful, runnable equivalent with our model is exactly that: the raw array is made and
  moved to the device as the reference does, and not passed to the model (ours raises an error for pixels
  without sizes instead of dropping them). This costs the baseline no vision work at all, which can only
  make it faster than a baseline that encoded the image: the ratio it gives is conservative;
- ``labels = input_ids``: loss on the prompt, the answer and all padding (the model's mean cross-entropy over
  the 511 shifted positions). Image placeholders would be clamped to id 0 (there are none here);
- batch size 1; ``loss.backward()`` every sample; every ``accumulation_steps`` (64) samples each gradient is
  divided by 64 by hand, then ``AdamW(model.parameters(), lr=5e-5)`` steps (torch's default implementation,
  not fused) and ``zero_grad()``;
- every sample, ``argmax`` over the logits, decode, and a price parsed from the last word
  (``extract_price_from_predictions``), plus ``loss.item()`` for logging: both kept, as they cost a sync and
  a (512, vocab) argmax per step.

Precision: the issue and mission define the baseline as full fine-tuning in fp32 (fp32 weights, fp32
AdamW states, no autocast), which is what runs by default. (The script loads with ``torch_dtype="auto"``,
which for the published bf16 checkpoint gives bf16 weights; ``dtype=torch.bfloat16`` measures that variant.)
Attention is SDPA, our default: FlashAttention-2, which the hub config names, has no fp32 kernels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from phi3v.chat import END, build_prompt

MAX_LENGTH = 512
ACCUMULATION_STEPS = 64
LEARNING_RATE = 5e-5


def encode_reference_example(
    tokenizer, answer: str, image: Image.Image, max_length: int = MAX_LENGTH
) -> dict[str, torch.Tensor]:
    """One sample as the reference's Dataset makes it: 512 left-padded text ids and the raw image array."""
    text = build_prompt() + answer + END
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        enc = tokenizer(text, truncation=True, padding="max_length", max_length=max_length)
    finally:
        tokenizer.padding_side = side
    return {
        "input_ids": torch.tensor(enc["input_ids"], dtype=torch.long),
        "attention_mask": torch.tensor(enc["attention_mask"], dtype=torch.long),
        "pixel_values": torch.from_numpy(np.array(image.convert("RGB"))),  # (H, W, 3) uint8, no transform
    }


def extract_price(predictions: torch.Tensor, tokenizer) -> float:
    """The reference's price read-out: the last whitespace-separated word of the decoded argmax ids."""
    text = tokenizer.decode(predictions[0].clamp(min=0).tolist(), skip_special_tokens=True)
    try:
        return float(text.split()[-1].replace(",", ""))
    except (ValueError, IndexError):
        return 0.0


@dataclass
class ReferenceRecipe:
    """The reference's training step on ``model`` (fp32 by default), one sample per micro-step."""

    model: torch.nn.Module
    tokenizer: object
    device: torch.device
    accumulation_steps: int = ACCUMULATION_STEPS
    lr: float = LEARNING_RATE

    def __post_init__(self) -> None:
        # all weights, as the script passes model.parameters(); weights that never get a gradient (the
        # unused vision tower) are skipped by AdamW and get no state
        for p in self.model.parameters():
            p.requires_grad_(True)
        self.model.train()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.lr)

    def micro_step(self, sample: dict[str, torch.Tensor]) -> float:
        """Forward, loss on every position, backward; the argmax price read-out; returns the loss."""
        input_ids = sample["input_ids"][None].to(self.device)
        attention_mask = sample["attention_mask"][None].to(self.device)
        sample["pixel_values"][None].to(self.device)  # moved as the reference does, then unused (see above)
        labels = input_ids.clone().detach().clamp(min=0)
        outputs = self.model(
            input_ids=input_ids, attention_mask=attention_mask, labels=labels, use_cache=False
        )
        predictions = torch.argmax(outputs.logits, dim=-1)
        extract_price(predictions, self.tokenizer)
        outputs.loss.backward()
        return float(outputs.loss.item())

    def optimizer_step(self) -> None:
        """Gradients divided by hand, AdamW step, zero_grad (every ``accumulation_steps`` samples)."""
        for param in self.model.parameters():
            if param.grad is not None:
                param.grad /= self.accumulation_steps
        self.optimizer.step()
        self.optimizer.zero_grad()
