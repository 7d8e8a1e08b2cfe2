"""The HD image transform, image-token counts, and the prompt/answer boundary of encoded examples."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from contracts.errors import UserError
from contracts.task import build_answer
from phi3v import Phi3VImageProcessor, Phi3VProcessor, build_tiny_tokenizer
from phi3v.chat import END, build_prompt
from phi3v.processing import hd_grid

ANSWER = build_answer("Check and Leather Card Case", "WALLETS & CARD CASES", 390.0)


@pytest.fixture(scope="module")
def tokenizer():
    return build_tiny_tokenizer()


def _processor(tokenizer, **image_kwargs):
    return Phi3VProcessor(tokenizer, Phi3VImageProcessor(**image_kwargs))


def _formula(h, w, per_crop=144):
    m = int(per_crop**0.5)
    return (h * w + 1) * per_crop + 1 + (h + 1) * m


@pytest.mark.parametrize(
    ("size", "num_crops", "grid"),
    [
        ((336, 336), 16, (4, 4)),  # square: the full 4x4 grid
        ((1200, 150), 16, (1, 8)),  # wide 8:1: scale 8 (9 * ceil(9/8) = 18 > 16)
        ((150, 1200), 16, (8, 1)),  # tall: the same, transposed
        ((4000, 3000), 16, (3, 4)),  # huge 4:3: width 4 crops, height int(1344 / (4/3)) = 1008 -> 3 crops
        ((10, 10), 16, (4, 4)),  # tiny: upscaled like any other
        ((640, 480), 4, (2, 2)),
        ((200, 900), 4, (4, 1)),  # tall 4.5:1 with 4 crops
        ((900, 200), 1, (1, 1)),
        ((17, 3000), 1, (1, 1)),
    ],
)
def test_hd_grid_and_token_count(tokenizer, size, num_crops, grid):
    """Grid, pixel shapes, image_sizes and token count agree with upstream's arithmetic and the formula."""
    processor = _processor(tokenizer, num_crops=num_crops)
    image = Image.new("RGB", size, (120, 60, 30))
    out = processor(build_prompt(), [image])
    h, w = grid
    assert out["pixel_values"].shape == (1, num_crops + 1, 3, 336, 336)
    assert out["image_sizes"].tolist() == [[h * 336, w * 336]]
    tokens = int((out["input_ids"] == -1).sum())
    assert tokens == _formula(h, w) == processor.image_processor.num_tokens_for_size(*size)
    assert out["attention_mask"].shape == out["input_ids"].shape
    # blank crops after the used ones; the global view and used crops are not blank
    used = 1 + h * w
    assert torch.count_nonzero(out["pixel_values"][0, used:]) == 0
    assert all(torch.count_nonzero(out["pixel_values"][0, k]) > 0 for k in range(used))


def test_known_token_counts():
    """144 tokens per 336-px crop: a 4x4 grid (square, num_crops 16) takes 2509 tokens, 1x1 takes 313."""
    assert _formula(4, 4) == 2509 and _formula(1, 1) == 313
    assert Phi3VImageProcessor(num_crops=16).num_image_tokens(4, 4) == 2509


def test_grid_never_exceeds_num_crops():
    """For many aspect ratios the grid stays within num_crops and keeps the long side on the long axis."""
    for num_crops in (1, 2, 4, 9, 16):
        for width in (1, 7, 50, 333, 336, 337, 1000, 5000):
            for height in (1, 9, 336, 800, 4096):
                new_w, new_h, h, w = hd_grid(width, height, num_crops, 336)
                assert 1 <= h * w <= num_crops
                assert new_w <= w * 336 and new_h <= h * 336
                assert (new_w >= new_h) == (width >= height) or width == height


def test_tiny_crop_size_generalises_the_formula(tokenizer):
    """At 112-px crops with 16 tokens per crop (m = 4) the count is (h*w + 1)*16 + 1 + (h + 1)*4."""
    processor = _processor(tokenizer, num_crops=4, crop_size=112, num_img_tokens=16)
    out = processor(build_prompt(), [Image.new("RGB", (300, 200))])
    assert out["pixel_values"].shape == (1, 5, 3, 112, 112)
    assert out["image_sizes"].tolist() == [[224, 224]]
    assert int((out["input_ids"] == -1).sum()) == (4 + 1) * 16 + 1 + 3 * 4


@pytest.mark.parametrize("num_crops", [0, -3])
def test_non_positive_num_crops_is_a_clear_error(num_crops):
    """num_crops 0 or negative fails at construction with one line naming the fix."""
    with pytest.raises(UserError, match="num_crops must be at least 1"):
        Phi3VImageProcessor(num_crops=num_crops)
    with pytest.raises(UserError, match="num_crops"):
        hd_grid(100, 100, num_crops, 336)


def test_pixels_normalised_and_global_view_first(tokenizer):
    """A white image normalises to CLIP's (1 - mean) / std everywhere; crop 0 is the global view."""
    processor = _processor(tokenizer, num_crops=4, crop_size=112, num_img_tokens=16)
    vision = processor.image_processor([Image.new("RGB", (224, 112), (255, 255, 255))])
    mean = torch.tensor(processor.image_processor.image_mean).view(3, 1, 1)
    std = torch.tensor(processor.image_processor.image_std).view(3, 1, 1)
    white = ((1 - mean) / std).expand(3, 112, 112)
    pixels = vision["pixel_values"][0]
    assert vision["image_sizes"].tolist() == [[112, 224]]
    for k in range(3):  # global view and the two sub-crops
        torch.testing.assert_close(pixels[k], white)


@pytest.mark.parametrize("num_crops", [4, 16])
@pytest.mark.parametrize("size", [(300, 900), (90, 300), (200, 333), (335, 336), (150, 1200), (17, 3000)])
def test_portrait_pixels_are_the_transpose_of_its_landscape(num_crops, size):
    """Upstream resizes and pads a portrait image in the landscape frame: its padded HD image is exactly the
    transpose of its transpose's; crops (row-major) and global view are cut from it as for any image."""
    rng = np.random.default_rng(size[0] * 7 + size[1])
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    ip = Phi3VImageProcessor(num_crops=num_crops)
    transpose = Image.Transpose.TRANSPOSE
    padded = ip.hd_image(image)
    landscape = ip.hd_image(image.transpose(transpose))
    assert np.array_equal(np.asarray(padded), np.asarray(landscape.transpose(transpose)))
    assert (padded.height, padded.width) == ip.padded_size(*size)

    pixels, (h, w) = ip.transform(image)
    c = ip.crop_size
    whole = torch.from_numpy(np.asarray(padded, dtype=np.float32) / 255.0).permute(2, 0, 1)
    whole = (whole - torch.tensor(ip.image_mean).view(3, 1, 1)) / torch.tensor(ip.image_std).view(3, 1, 1)
    glb = torch.nn.functional.interpolate(whole[None], size=(c, c), mode="bicubic", align_corners=False)[0]
    assert torch.equal(pixels[0], glb)
    crops = [whole[:, i * c : (i + 1) * c, j * c : (j + 1) * c] for i in range(h // c) for j in range(w // c)]
    assert torch.equal(pixels[1 : 1 + len(crops)], torch.stack(crops))


def test_labels_cover_exactly_answer_and_end(tokenizer):
    """Decoding the labelled positions gives the answer + `<|end|>`; prompt and placeholders are -100."""
    processor = _processor(tokenizer, num_crops=4, crop_size=112, num_img_tokens=16)
    image = Image.new("RGB", (90, 300), (10, 200, 10))
    example = processor.encode_example(image, ANSWER)
    ids, labels = example["input_ids"], example["labels"]
    assert ids.shape == labels.shape and ids.dtype == labels.dtype == torch.long
    assert tokenizer.decode(labels[labels != -100]) == ANSWER + END
    assert (labels[ids < 0] == -100).all()
    assert torch.equal(labels[labels != -100], ids[labels != -100])
    prompt_only = processor.encode_example(image, None)
    assert prompt_only["labels"] is None
    n = prompt_only["input_ids"].shape[0]
    assert torch.equal(ids[:n], prompt_only["input_ids"])  # training sees generation's exact prompt
    assert (labels[:n] == -100).all() and (labels[n:] != -100).all()
    assert example["pixel_values"].shape == (5, 3, 112, 112) and example["image_sizes"].shape == (2,)


@pytest.mark.parametrize("size", [(112, 112), (90, 300), (500, 120), (17, 3000)])
def test_text_alone_is_the_text_of_the_whole_example(tokenizer, size):
    """with_pixels=False skips the pixel work (for splits that transform images per batch) and gives the
    same ids, labels and padded size, whatever the grid the image gets."""
    processor = _processor(tokenizer, num_crops=6, crop_size=112, num_img_tokens=16)
    image = Image.new("RGB", size, (200, 10, 10))
    for answer in (ANSWER, None):
        whole = processor.encode_example(image, answer)
        text = processor.encode_example(image, answer, with_pixels=False)
        assert text["pixel_values"] is None and whole["pixel_values"] is not None
        for key in ("input_ids", "labels", "image_sizes"):
            a, b = whole[key], text[key]
            assert (a is None and b is None) or torch.equal(a, b), key


def test_prompt_tokens_follow_upstream_layout(tokenizer):
    """`<s><|user|>\\n`, the -1 block, then `<s>` and the question: each text piece starts with bos, like
    upstream."""
    processor = _processor(tokenizer, num_crops=1, crop_size=112, num_img_tokens=16)
    ids = processor.encode_example(Image.new("RGB", (50, 50)), None)["input_ids"].tolist()
    n_img = (1 + 1) * 16 + 1 + 2 * 4
    user = tokenizer.convert_tokens_to_ids("<|user|>")
    first = ids.index(-1)
    assert ids[:2] == [tokenizer.bos_token_id, user]
    assert ids[first : first + n_img] == [-1] * n_img and ids[first + n_img] == tokenizer.bos_token_id
    assert ids[-2:] == tokenizer("<|assistant|>\n", add_special_tokens=False).input_ids


def test_several_images_and_mismatched_tags(tokenizer):
    """`<|image_k|>` becomes -k copies; tags must match the images given."""
    processor = _processor(tokenizer, num_crops=2, crop_size=112, num_img_tokens=16)
    images = [Image.new("RGB", (100, 100)), Image.new("RGB", (300, 100))]
    out = processor("<|image_1|>a<|image_2|>b", images)
    counts = [processor.image_processor.num_tokens_for_size(*im.size) for im in images]
    assert [int((out["input_ids"] == -k).sum()) for k in (1, 2)] == counts
    assert out["pixel_values"].shape == (2, 3, 3, 112, 112)
    with pytest.raises(ValueError, match="image tags"):
        processor("<|image_1|>only one tag", images)
    text_only = processor("no image here")
    assert "pixel_values" not in text_only and (text_only["input_ids"] >= 0).all()
    assert (
        text_only["input_ids"].shape
        == text_only["attention_mask"].shape
        == (1, len(tokenizer("no image here").input_ids))
    )


def test_decode_answer_stops_at_end(tokenizer):
    """decode_answer drops placeholders and specials and stops at the first `<|end|>`."""
    processor = _processor(tokenizer, num_crops=1)
    ids = [-1, -1] + tokenizer(ANSWER + END + "Product: more", add_special_tokens=False).input_ids
    assert processor.decode_answer(ids) == ANSWER
    assert processor.decode_answer(torch.tensor(ids)) == ANSWER


def test_processor_round_trip_and_hub_preprocessor_file(tokenizer, tmp_path):
    """save_pretrained writes standard files that load back; the hub's preprocessor file (no crop_size)
    loads."""
    processor = _processor(tokenizer, num_crops=3, crop_size=112, num_img_tokens=16)
    processor.save_pretrained(tmp_path)
    for name in ("tokenizer.json", "tokenizer_config.json", "preprocessor_config.json"):
        assert (tmp_path / name).is_file()
    again = Phi3VProcessor.from_pretrained(tmp_path)
    image = Image.new("RGB", (150, 90), (1, 2, 3))
    a, b = processor.encode_example(image, ANSWER), again.encode_example(image, ANSWER)
    assert all(torch.equal(a[k], b[k]) for k in a)

    hub = {
        "auto_map": {"AutoProcessor": "processing_phi3_v.Phi3VProcessor"},
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_processor_type": "Phi3VImageProcessor",
        "image_std": [0.26862954, 0.26130258, 0.27577711],
        "num_crops": 16,
        "num_img_tokens": 144,
        "processor_class": "Phi3VProcessor",
        "do_convert_rgb": True,
    }
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(hub))
    loaded = Phi3VProcessor.from_pretrained(tmp_path, num_crops=4)
    assert (loaded.image_processor.crop_size, loaded.image_processor.num_crops) == (336, 4)
    written = loaded.image_processor.to_dict()
    assert written["do_convert_rgb"] is True  # unknown keys are written back unchanged ...
    assert "auto_map" not in written  # ... but not the pointer to remote code we do not ship


def test_tiny_tokenizer_is_deterministic_and_splits_digits():
    """Same corpus, same tokenizer.json; digits are one token each; Phi-3's special ids 0, 1, 2."""
    corpus = [build_answer(f"Wool Coat {i}", "COATS", 1000.0 + i) for i in range(50)]
    a, b = build_tiny_tokenizer(corpus), build_tiny_tokenizer(corpus)
    assert a.backend_tokenizer.to_str() == b.backend_tokenizer.to_str()
    assert a.convert_ids_to_tokens([0, 1, 2]) == ["<unk>", "<s>", "</s>"]
    digits = a("12490", add_special_tokens=False).input_ids
    assert len(digits) == 5 and a.decode(digits) == "12490"
