"""Phi-3-Vision processor: the HD image transform, image-tag expansion and the training encoding.

Facts followed (the hub's image_processing_phi3_v.py / processing_phi3_v.py):

- HD transform: a portrait image is transposed to landscape first and the result transposed back (PIL's
  two-pass resize does not commute with a transpose, so only this gives upstream's pixels). With the long
  side as width and r = width / height, the largest `scale` with scale * ceil(scale / r) <= num_crops sets
  the width to scale * crop; the height follows the aspect ratio (bilinear resize) and is padded with white,
  centred, up to a multiple of crop. The padded image is normalised with CLIP's mean and std, cut into crops
  row-major, and a global view (bicubic resize of the padded image to one crop) goes first. `pixel_values`
  is (images, num_crops + 1, 3, crop, crop), filled up with blank (zero) crops; `image_sizes` the padded
  (h, w) in pixels.
- Tokens for an image padded to h x w crops: (h*w + 1)*m^2 + 1 + (h + 1)*m, m^2 = `num_img_tokens` per crop
  (144 for 336-px crops). `<|image_k|>` in the text becomes that many copies of -k.
- The text is split at the image tags and each piece is tokenized on its own with the tokenizer's special
  tokens, so with Phi-3's tokenizer each piece starts with `<s>` (as upstream does).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import AutoTokenizer, BatchFeature, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from contracts.errors import UserError

from .chat import END, build_prompt
from .export_format import PREPROCESSOR_CONFIG, TOKENIZER_FILE, save_tokenizer

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGE_TAG = re.compile(r"<\|image_(\d+)\|>")
IGNORE_INDEX = -100  # labels where no loss is computed (the prompt, image placeholders, padding)


def hd_grid(width: int, height: int, num_crops: int, crop_size: int) -> tuple[int, int, int, int]:
    """Where the HD transform puts an image of `width` x `height` pixels.

    Returns:
        (resized_width, resized_height, h_crops, w_crops): the size the image is resized to (aspect ratio
        kept) and the grid of crops it is padded to, h_crops * w_crops <= num_crops.
    """
    if num_crops < 1:
        raise UserError(
            f"num_crops must be at least 1, got {num_crops} "
            "(every image needs one crop besides its global view)"
        )
    if width < 1 or height < 1:
        raise UserError(f"image of size {width}x{height} has no pixels")
    long_side, short_side = max(width, height), min(width, height)
    ratio = long_side / short_side
    scale = 1
    while scale * math.ceil(scale / ratio) <= num_crops:
        scale += 1
    scale -= 1
    new_long = scale * crop_size
    new_short = max(1, int(new_long / ratio))
    crops_short = math.ceil(new_short / crop_size)
    if width >= height:
        return new_long, new_short, crops_short, scale
    return new_short, new_long, scale, crops_short


@dataclass
class Phi3VImageProcessor:
    """HD transform of PIL images into `pixel_values` and `image_sizes` (see the module docstring).

    Fields are what `preprocessor_config.json` holds; the hub's file (no `crop_size`) loads with crop_size
    336.
    """

    num_crops: int = 16
    crop_size: int = 336
    num_img_tokens: int = 144  # merged tokens per crop, m^2
    image_mean: tuple[float, ...] = OPENAI_CLIP_MEAN
    image_std: tuple[float, ...] = OPENAI_CLIP_STD
    extra: dict = field(default_factory=dict, repr=False)  # other keys of the file, written back unchanged

    def __post_init__(self) -> None:
        if self.num_crops < 1:
            raise UserError(f"num_crops must be at least 1, got {self.num_crops}")
        side = math.isqrt(self.num_img_tokens)
        if side * side != self.num_img_tokens:
            raise ValueError(
                f"num_img_tokens {self.num_img_tokens} is not a square (tokens per crop side squared)"
            )

    def num_image_tokens(self, h_crops: int, w_crops: int) -> int:
        """Image tokens for an image padded to h_crops x w_crops crops."""
        m = math.isqrt(self.num_img_tokens)
        return (h_crops * w_crops + 1) * m * m + 1 + (h_crops + 1) * m

    def num_tokens_for_size(self, width: int, height: int) -> int:
        """Image tokens for a raw image of `width` x `height` pixels (no pixels needed)."""
        _, _, h_crops, w_crops = hd_grid(width, height, self.num_crops, self.crop_size)
        return self.num_image_tokens(h_crops, w_crops)

    def padded_size(self, width: int, height: int) -> tuple[int, int]:
        """The (h, w) in pixels that ``transform`` pads an image of ``width`` x ``height`` to."""
        _, _, h_crops, w_crops = hd_grid(width, height, self.num_crops, self.crop_size)
        return h_crops * self.crop_size, w_crops * self.crop_size

    def hd_image(self, image: Image.Image) -> Image.Image:
        """The padded HD image (RGB, whole crops each way) that crops and global view are taken from.

        Built in the landscape frame as upstream does: a portrait image is transposed, resized and padded, and
        transposed back, so its pixels are exactly the transpose of its transpose's.
        """
        c = self.crop_size
        image = image if image.mode == "RGB" else image.convert("RGB")
        portrait = image.width < image.height
        if portrait:
            image = image.transpose(Image.Transpose.TRANSPOSE)
        new_w, new_h, h_crops, w_crops = hd_grid(image.width, image.height, self.num_crops, c)
        resized = image.resize((new_w, new_h), Image.Resampling.BILINEAR)
        padded_h, padded_w = h_crops * c, w_crops * c
        canvas = Image.new("RGB", (padded_w, padded_h), (255, 255, 255))
        canvas.paste(resized, ((padded_w - new_w) // 2, (padded_h - new_h) // 2))
        return canvas.transpose(Image.Transpose.TRANSPOSE) if portrait else canvas

    def transform(self, image: Image.Image) -> tuple[torch.Tensor, tuple[int, int]]:
        """One image -> ((num_crops + 1, 3, c, c) crops, global view first; padded (h, w) in pixels)."""
        c = self.crop_size
        canvas = self.hd_image(image)
        padded_h, padded_w = canvas.height, canvas.width
        h_crops, w_crops = padded_h // c, padded_w // c
        pixels = torch.from_numpy(np.asarray(canvas, dtype=np.float32) / 255.0).permute(2, 0, 1)
        mean = torch.tensor(self.image_mean).view(3, 1, 1)
        std = torch.tensor(self.image_std).view(3, 1, 1)
        pixels = (pixels - mean) / std  # (3, H, W)
        glb = torch.nn.functional.interpolate(pixels[None], size=(c, c), mode="bicubic", align_corners=False)
        sub = pixels.reshape(3, h_crops, c, w_crops, c).permute(1, 3, 0, 2, 4).reshape(-1, 3, c, c)
        out = torch.zeros(self.num_crops + 1, 3, c, c)
        out[0] = glb[0]
        out[1 : 1 + sub.shape[0]] = sub
        return out, (padded_h, padded_w)

    def __call__(self, images: Sequence[Image.Image]) -> dict:
        """Images -> `pixel_values` (n, num_crops + 1, 3, c, c), `image_sizes` (n, 2), `num_img_tokens`
        list."""
        crops, sizes = zip(*(self.transform(im) for im in images), strict=True) if images else ((), ())
        c = self.crop_size
        return {
            "pixel_values": torch.stack(crops) if crops else torch.zeros(0, self.num_crops + 1, 3, c, c),
            "image_sizes": torch.tensor(sizes, dtype=torch.long).reshape(-1, 2),
            "num_img_tokens": [self.num_image_tokens(h // c, w // c) for h, w in sizes],
        }

    def to_dict(self) -> dict:
        data = asdict(self)
        extra = data.pop("extra")
        data["image_mean"], data["image_std"] = list(self.image_mean), list(self.image_std)
        return {
            **extra,
            **data,
            "image_processor_type": "Phi3VImageProcessor",
            "processor_class": "Phi3VProcessor",
        }

    @classmethod
    def from_dict(cls, data: dict, **overrides) -> Phi3VImageProcessor:
        data = {**data, **overrides}
        known = {
            k: data.pop(k)
            for k in ("num_crops", "crop_size", "num_img_tokens", "image_mean", "image_std")
            if k in data
        }
        for k in ("image_processor_type", "processor_class", "auto_map"):
            data.pop(k, None)
        if "image_mean" in known:
            known["image_mean"], known["image_std"] = tuple(known["image_mean"]), tuple(known["image_std"])
        return cls(**known, extra=data)


class Phi3VProcessor:
    """Tokenizer plus HD image processor, one example at a time (like upstream); batching is the collator's
    job.

    API other modules rely on:

    - `processor(text, images, return_tensors="pt")` -> BatchFeature with `input_ids` (1, T) where
      `<|image_k|>` is expanded to that image's token count of -k ids, `attention_mask` (1, T), `pixel_values`
      (n, num_crops + 1, 3, c, c), `image_sizes` (n, 2). Without images: the tokenized text alone.
    - `encode_example(image, answer)` -> dict of 1-D `input_ids`, `labels` (or None), `pixel_values`
      (num_crops + 1, 3, c, c), `image_sizes` (2,); the prompt is `phi3v.chat.build_prompt()`.
    - `decode_answer(token_ids)` -> the answer text (special tokens skipped, stops at `<|end|>`).
    - `stop_token_ids`: ids that end generation (`<|end|>` and the tokenizer's eos).
    - `save_pretrained(dir)` / `Phi3VProcessor.from_pretrained(dir, **image_overrides)`: tokenizer files (in
      the published checkpoint's form, `export_format`) plus `preprocessor_config.json`.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, image_processor: Phi3VImageProcessor):
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        end_id = tokenizer.convert_tokens_to_ids(END)
        if end_id is None or end_id == tokenizer.unk_token_id:
            raise ValueError(f"the tokenizer has no {END} token")
        self.end_token_id: int = end_id

    @property
    def stop_token_ids(self) -> list[int]:
        """Token ids that end an answer in generation: `<|end|>` first, then the tokenizer's eos."""
        ids = [self.end_token_id]
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id not in ids:
            ids.append(self.tokenizer.eos_token_id)
        return ids

    @property
    def pad_token_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return pad if pad is not None else self.tokenizer.eos_token_id

    def _tokenize_with_images(self, text: str, num_img_tokens: Sequence[int]) -> list[int]:
        tags = [int(k) for k in IMAGE_TAG.findall(text)]
        if sorted(set(tags)) != list(range(1, len(num_img_tokens) + 1)):
            raise ValueError(
                f"image tags {sorted(set(tags))} must be <|image_1|>..<|image_{len(num_img_tokens)}|>, "
                f"one per image given ({len(num_img_tokens)})"
            )
        chunks = IMAGE_TAG.split(text)[::2]  # split() interleaves the captured tag numbers
        ids: list[int] = list(self.tokenizer(chunks[0]).input_ids)
        for tag, chunk in zip(tags, chunks[1:], strict=True):
            ids += [-tag] * num_img_tokens[tag - 1]
            ids += self.tokenizer(chunk).input_ids
        return ids

    def __call__(
        self, text: str, images: Sequence[Image.Image] | None = None, return_tensors: str = "pt"
    ) -> BatchFeature:
        if not images:
            return BatchFeature(dict(self.tokenizer([text])), tensor_type=return_tensors)
        vision = self.image_processor(images)
        input_ids = torch.tensor(
            [self._tokenize_with_images(text, vision["num_img_tokens"])], dtype=torch.long
        )
        data = {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "pixel_values": vision["pixel_values"],
            "image_sizes": vision["image_sizes"],
        }
        return BatchFeature(data, tensor_type=return_tensors)

    def encode_example(
        self, image: Image.Image, answer: str | None, *, with_pixels: bool = True
    ) -> dict[str, torch.Tensor | None]:
        """One training or generation example (``with_pixels=False``: the text alone, from the image's size,
        without the HD transform's pixel work; ``pixel_values`` is then None).

        The sequence is the prompt (`build_prompt()` with the image tag expanded) followed, when `answer` is
        given, by the answer and `<|end|>`; no eos is appended: `<|end|>` is where the model learns to stop.

        Returns:
            `input_ids` (T,), `labels` (T,) -- -100 on the prompt and the image placeholders, the token ids on
            the answer and the closing `<|end|>`; None when `answer` is None -- `pixel_values` (num_crops + 1,
            3, c, c) and `image_sizes` (2,).
        """
        ip = self.image_processor
        if with_pixels:
            vision = ip([image])
            pixel_values, image_size, num_tokens = (
                vision["pixel_values"][0],
                vision["image_sizes"][0],
                vision["num_img_tokens"],
            )
        else:
            pixel_values = None
            image_size = torch.tensor(ip.padded_size(image.width, image.height), dtype=torch.long)
            num_tokens = [ip.num_tokens_for_size(image.width, image.height)]
        prompt_ids = self._tokenize_with_images(build_prompt(), num_tokens)
        labels = None
        ids = prompt_ids
        if answer is not None:
            target = f"{answer}{END}"
            full = self._tokenize_with_images(build_prompt() + target, num_tokens)
            # In context when the prompt's tokens stay a prefix of the whole text's (always with the tiny
            # tokenizer); else the answer alone, so the prompt still matches what generation sees.
            if full[: len(prompt_ids)] == prompt_ids:
                answer_ids = full[len(prompt_ids) :]
            else:
                answer_ids = list(self.tokenizer(target, add_special_tokens=False).input_ids)
            ids = prompt_ids + answer_ids
            labels = torch.tensor([IGNORE_INDEX] * len(prompt_ids) + answer_ids, dtype=torch.long)
        return {
            "input_ids": torch.tensor(ids, dtype=torch.long),
            "labels": labels,
            "pixel_values": pixel_values,
            "image_sizes": image_size,
        }

    def decode_answer(self, token_ids: Sequence[int] | torch.Tensor) -> str:
        """Generated ids -> answer text: image placeholders dropped, cut at the first stop token, specials
        skipped."""
        ids = [int(t) for t in (token_ids.tolist() if isinstance(token_ids, torch.Tensor) else token_ids)]
        stops = set(self.stop_token_ids)
        cut = next((i for i, t in enumerate(ids) if t in stops), len(ids))
        kept = [t for t in ids[:cut] if t >= 0]
        return self.tokenizer.decode(kept, skip_special_tokens=True).strip()

    def save_pretrained(self, directory: str | Path) -> None:
        """Write the tokenizer files and `preprocessor_config.json` into `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_tokenizer(self.tokenizer, directory)
        text = json.dumps(self.image_processor.to_dict(), indent=2, sort_keys=True) + "\n"
        tmp = directory / f".{PREPROCESSOR_CONFIG}.tmp"
        tmp.write_text(text)
        tmp.replace(directory / PREPROCESSOR_CONFIG)

    @classmethod
    def from_pretrained(cls, directory: str | Path, **image_overrides) -> Phi3VProcessor:
        """Load from a directory holding tokenizer files and `preprocessor_config.json` (ours or the hub's).

        `image_overrides` (e.g. num_crops=4, crop_size=...) replace fields of the file.
        """
        directory = Path(directory)
        config_path = directory / PREPROCESSOR_CONFIG
        data = json.loads(config_path.read_text()) if config_path.exists() else {}
        # tokenizer.json as it is, whatever class tokenizer_config.json names (as transformers 4.x loads it):
        # transformers 5's LlamaTokenizer would rebuild the pipeline and drop a byte-level pre-tokenizer
        loader = PreTrainedTokenizerFast if (directory / TOKENIZER_FILE).is_file() else AutoTokenizer
        tokenizer = loader.from_pretrained(str(directory))
        return cls(tokenizer, Phi3VImageProcessor.from_dict(data, **image_overrides))
