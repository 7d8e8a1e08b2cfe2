"""The benchmarks run at tiny size on CPU and report what they promise; the reference baseline is faithful."""

from __future__ import annotations

import json
import math

import pytest
import torch

from benchmarks import generate_throughput, harness, reference_recipe, synthetic_rows, train_throughput
from finetune import flops
from phi3v.loading import load_model

# the smallest settings that still run every code path: one 112-px crop grid, one step, a 64^3 peak
TINY = ["--device", "cpu", "--preset", "tiny", "--num-crops", "1", "--image-size", "112", "--peak-size", "64"]
TINY_IMAGE_TOKENS = (1 * 1 + 1) * 16 + 1 + (1 + 1) * 4  # 1x1 grid of 112-px crops, m = 4: 41 tokens
# what finetune trains for the tiny default (14-px patches: 4x4 merged tokens per crop, m = 4): 41 tokens
TRAINED_TINY_IMAGE_TOKENS = (1 * 1 + 1) * 16 + 1 + (1 + 1) * 4


@pytest.fixture(scope="module")
def train_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "train.json"
    argv = [*TINY, "--batch-size", "2", "--steps", "1", "--warmup", "0", "--reference-accum", "4"]
    argv += ["--reference-max-length", "96", "--json", str(out)]
    report = train_throughput.main(argv)
    return report, out


@pytest.mark.slow
def test_train_benchmark_reports_every_method(train_report):
    """Every method gives a row with positive rates and FLOPs; QLoRA is skipped on CPU with a reason."""
    report, out = train_report
    assert json.loads(out.read_text())["results"] == json.loads(json.dumps(report["results"], default=str))
    rows = {r["method"]: r for r in report["results"]}
    assert set(rows) == {"lora-bf16", "full-bf16", "reference"}
    assert [s["method"] for s in report["skipped"]] == ["qlora"]
    assert "CUDA" in report["skipped"][0]["reason"]
    for r in rows.values():
        assert "error" not in r, r
        for key in ("samples_per_s", "text_tokens_per_s", "step_ms", "flops_per_sample", "achieved_tflops"):
            assert r[key] > 0 and math.isfinite(r[key]), (r["method"], key)
        # no datasheet peak on a CPU: no MFU, only the share of the measured matmul peak
        assert r["mfu"] is None and 0 < r["mfu_measured"] and math.isfinite(r["mfu_measured"])
        assert r["peak_memory_gib"] is None  # not measured on CPU
        assert r["compute_dtype"] == "fp32"  # no bf16 autocast on CPU
    assert report["peak"]["dtype"] == "fp32" and "CPU" in report["peak"]["label"]
    assert rows["reference"]["vs_reference"] == pytest.approx(1.0)
    assert rows["reference"]["micro_batch"] == 1 and rows["reference"]["grad_accum"] == 4
    assert rows["reference"]["image_tokens_per_s"] == 0  # the raw image never reaches the model
    for name in ("lora-bf16", "full-bf16"):
        assert rows[name]["image_tokens_per_sample"] == TRAINED_TINY_IMAGE_TOKENS
        assert rows[name]["micro_batch"] == 2
    assert rows["lora-bf16"]["trainable_parameters"] < rows["full-bf16"]["trainable_parameters"]
    assert rows["lora-bf16"]["freeze_vision"] and not rows["full-bf16"]["freeze_vision"]


@pytest.mark.slow
def test_train_benchmark_flops_follow_the_counting(train_report):
    """A row's FLOPs per sample equal finetune.flops applied to its token counts (tiny: 2 crops per image)."""
    report, _ = train_report
    rows = {r["method"]: r for r in report["results"]}
    given = rows["full-bf16"]["model_shape"]
    shape = flops.ModelShape(flops.DecoderShape(**given["decoder"]), flops.VisionShape(**given["vision"]))
    # the tiny vocabulary follows the tokenizer trained on the rows; every other size is what finetune trains
    trained = load_model("tiny", device="meta")[0].config
    assert shape.vision == flops.shape_from_config(trained).vision
    assert all(r["model_shape"] == given for r in rows.values())
    full = rows["full-bf16"]
    # text tokens and answer tokens vary by row: check the per-part numbers that do not depend on them
    vision = flops.training_flops(
        shape,
        flops.SampleTokens(0, TRAINED_TINY_IMAGE_TOKENS, 2, 0),
        flops.method_modes("full", freeze_vision=False),
    )
    assert full["flops_breakdown_per_sample"]["vision_linear"] == pytest.approx(vision.vision_linear)
    assert full["flops_breakdown_per_sample"]["projection"] == pytest.approx(vision.projection)
    frozen = flops.training_flops(
        shape,
        flops.SampleTokens(0, TRAINED_TINY_IMAGE_TOKENS, 2, 0),
        flops.method_modes("lora", freeze_vision=True, lora_rank=64, lora_targets=("qkv_proj",)),
    )
    lora = rows["lora-bf16"]["flops_breakdown_per_sample"]
    assert lora["vision_linear"] == pytest.approx(frozen.vision_linear)  # frozen: forward only
    assert frozen.vision_linear < vision.vision_linear / 2
    length = report["args"]["reference_max_length"]
    expected = flops.training_flops(
        shape, flops.SampleTokens(length, 0, 0, length - 1), flops.method_modes("full", freeze_vision=False)
    ).total
    assert rows["reference"]["flops_per_sample"] == pytest.approx(expected)


@pytest.mark.slow
def test_train_benchmark_prints_the_table(train_report):
    """The printed table has the promised columns and a row per method that ran."""
    text = train_report[0]["table"]
    for header in ("method", "micro-batch", "accum", "samples/s", "img tok/s", "text tok/s", "step ms"):
        assert header in text
    for header in ("peak GiB", "GFLOP/sample", "TFLOP/s", "MFU %", "x ref"):
        assert header in text
    assert all(m in text for m in ("lora-bf16", "full-bf16", "reference"))


@pytest.mark.slow
def test_train_levers_keep_the_loss():
    """The full logits instead of the answer rows' and unfused AdamW: the same first-step loss."""
    base = [*TINY, "--methods", "lora-bf16", "--batch-size", "2", "--steps", "1", "--warmup", "0"]
    base += ["--no-length-grouping"]
    plain = train_throughput.main(base)["results"][0]
    changed = train_throughput.main([*base, "--no-labels-only-logits", "--no-fused-adamw"])["results"][0]
    assert "error" not in changed
    assert changed["first_loss"] == pytest.approx(plain["first_loss"], rel=1e-4)


def test_kernels_are_chosen_for_the_device():
    """auto applies nothing on a CPU; liger asked for where it cannot run is one clear error; a liger that
    is there is applied on CUDA (a stand-in module records the call)."""
    import sys
    import types

    from contracts.errors import UserError
    from finetune import kernels

    model = load_model("tiny", device="meta")[0]
    assert kernels.speed_up(model, "auto", False, torch.device("cpu")) == []
    with pytest.raises(UserError, match="--kernels liger needs a CUDA GPU"):
        kernels.speed_up(model, "liger", False, torch.device("cpu"))
    calls = []
    fake = types.ModuleType("liger_kernel.transformers")
    fake.apply_liger_kernel_to_phi3 = lambda **kw: calls.append(kw)
    sys.modules.setdefault("liger_kernel", types.ModuleType("liger_kernel"))
    old = sys.modules.get("liger_kernel.transformers")
    sys.modules["liger_kernel.transformers"] = fake
    try:
        notes = kernels.speed_up(model, "auto", False, torch.device("cuda"))
    finally:
        if old is None:
            del sys.modules["liger_kernel.transformers"]
        else:
            sys.modules["liger_kernel.transformers"] = old
    assert notes == ["kernels: liger-kernel (Phi-3)"] and calls[0]["model"] is model and calls[0]["rms_norm"]
    assert kernels.compile_layers(model) == model.config.num_hidden_layers + 3  # decoder + read CLIP layers


def test_profile_lists_the_costliest_operators_with_their_shares(capsys):
    argv = [*TINY, "--methods", "lora-bf16", "--batch-size", "2", "--steps", "1", "--warmup", "0"]
    rows = train_throughput.main([*argv, "--profile", "1", "--profile-rows", "5"])["results"][0]["profile"]
    assert len(rows) == 5
    times = [r["ms_per_step"] for r in rows]
    assert times == sorted(times, reverse=True) and times[0] > 0
    assert 0 < sum(r["share"] for r in rows) <= 1.0 + 1e-9  # shares of one total, nothing counted twice
    assert "profile: 1 steps, operators by self CPU time" in capsys.readouterr().out


def test_out_of_memory_becomes_a_row():
    """A method that runs out of GPU memory gives an OOM row instead of ending the run."""

    def fails():
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    row = harness.run_guarded(fails, torch.device("cpu"))
    assert row["error"].startswith("OOM")


def test_train_benchmark_refuses_unknown_methods():
    with pytest.raises(SystemExit):
        train_throughput.parse_args(["--methods", "lora,dora"])


@pytest.mark.slow
def test_generate_benchmark_sweeps_batch_sizes(tmp_path, capsys):
    """Greedy decoding of exactly --new-tokens per row, one row per batch size, positive samples/s."""
    out = tmp_path / "gen.json"
    argv = [*TINY, "--batch-sizes", "1,2", "--batches", "1", "--warmup", "0", "--new-tokens", "3"]
    report = generate_throughput.main([*argv, "--json", str(out)])
    assert json.loads(out.read_text())["new_tokens"] == 3
    rows = report["results"]
    assert [r["batch_size"] for r in rows] == [1, 2]
    for r in rows:
        assert r["samples_per_s"] > 0 and r["new_tokens_per_s"] == pytest.approx(3 * r["samples_per_s"])
        assert r["flops_per_sample"] > 0 and r["mfu"] is None and r["mfu_measured"] > 0
    assert report["prompt"]["image_tokens"] == TINY_IMAGE_TOKENS
    text = capsys.readouterr().out
    assert "samples/s" in text and "new tok/s" in text and "batch" in text and "fp32 matmul peak" in text


@pytest.mark.slow
def test_generate_benchmark_times_the_compiled_static_cache_path(monkeypatch):
    """--static-cache --compile goes through evaluate's own lever (compile_decoding; an eager backend here,
    for speed), in the model rows and in generate_answers end to end; --compile alone is refused."""
    import functools

    from phi3v.generate import compile_decoding

    torch._dynamo.reset()
    monkeypatch.setattr(
        generate_throughput, "compile_decoding", functools.partial(compile_decoding, backend="eager")
    )
    argv = [
        *TINY,
        "--batch-sizes",
        "2",
        "--batches",
        "1",
        "--warmup",
        "0",
        "--new-tokens",
        "3",
        "--end-to-end",
    ]
    report = generate_throughput.main([*argv, "--static-cache", "--compile"])
    torch._dynamo.reset()
    assert [r["mode"] for r in report["results"]] == ["model+static+compile", "end-to-end+static+compile"]
    assert all(r["samples_per_s"] > 0 and not r.get("fallback") for r in report["results"])
    with pytest.raises(SystemExit):
        generate_throughput.parse_args(["--compile"])


def test_reference_example_is_512_left_padded_text_without_image_placeholders():
    """The reference tokenizes the tag as text, pads on the left to 512 and keeps the raw (H, W, 3) image."""
    _, processor = load_model("tiny", device="meta")
    side = processor.tokenizer.padding_side
    answer = "Product: Wool Scarf, Category: SCARVES, Full Price: 450.0"
    enc = reference_recipe.encode_reference_example(
        processor.tokenizer, answer, synthetic_rows.render_image(0, 1.5, 60)
    )
    assert processor.tokenizer.padding_side == side  # left padding only while encoding
    assert enc["input_ids"].shape == (512,)
    assert (enc["input_ids"] >= 0).all()  # no image placeholders: the image is never expanded
    assert enc["attention_mask"][0] == 0 and enc["attention_mask"][-1] == 1  # left padding
    assert enc["pixel_values"].shape == (40, 60, 3) and enc["pixel_values"].dtype == torch.uint8


def test_reference_step_trains_text_weights_only_and_divides_gradients():
    """Loss on every position; no gradient reaches the vision tower; the optimizer sees gradients / accum."""
    model, processor = load_model("tiny")
    recipe = reference_recipe.ReferenceRecipe(
        model, processor.tokenizer, torch.device("cpu"), accumulation_steps=4
    )
    answer = "Product: Cape, Category: N.A., Full Price: 32.0"
    sample = reference_recipe.encode_reference_example(
        processor.tokenizer, answer, synthetic_rows.render_image(0, 1.0, 28), max_length=48
    )
    assert recipe.micro_step(sample) > 0
    vision = model.model.vision_embed_tokens.img_processor.vision_model
    assert all(p.grad is None for p in vision.parameters())  # the image never reached the model
    head = model.lm_head.weight
    before, weights = head.grad.clone(), head.detach().clone()
    seen = {}
    real_step = recipe.optimizer.step

    def step():
        seen["grad"] = head.grad.clone()
        real_step()

    recipe.optimizer.step = step
    recipe.optimizer_step()
    torch.testing.assert_close(seen["grad"], before / 4)
    assert not torch.equal(head.detach(), weights)
    assert head.grad is None  # zero_grad after the step


def test_count_tokens_matches_the_processor():
    """Image tokens are the negative ids; crops: the global view plus the h x w grid; labels shift by one."""
    _, processor = load_model("tiny", device="meta", overrides={"num_crops": 4})
    row = synthetic_rows.synthetic_rows(1, seed=3)[0]
    enc = processor.encode_example(synthetic_rows.render_image(0, 1.0, 224), row.answer)
    c = synthetic_rows.count_tokens(enc, processor.image_processor.crop_size)
    assert c.image_tokens == processor.image_processor.num_image_tokens(2, 2)
    assert c.crops == 5
    assert c.text_tokens + c.image_tokens == enc["input_ids"].shape[0]
    assert c.head_tokens == int((enc["labels"] != -100).sum())


def test_synthetic_rows_are_deterministic_and_in_range():
    a, b = synthetic_rows.synthetic_rows(50, seed=1), synthetic_rows.synthetic_rows(50, seed=1)
    assert a == b
    assert all(1 <= len(r.title) <= 71 and 32 <= r.full_price <= 70_000 for r in a)
    assert synthetic_rows.render_image(0, 2.0, 336).size == (336, 168)
    assert synthetic_rows.render_image(0, 0.5, 336).size == (168, 336)


def test_one_datasheet_table_for_every_mfu():
    """finetune and the benchmarks read the same datasheet peaks; the PCIe H100 is not taken for the SXM one;
    an unknown GPU has none (its MFU is not reported)."""
    from finetune.flops import datasheet_peak

    assert datasheet_peak("NVIDIA H100 80GB HBM3") == 989e12
    assert datasheet_peak("NVIDIA H100 PCIe") == 756e12
    assert datasheet_peak("NVIDIA H200") == 989e12
    assert datasheet_peak("NVIDIA A100-SXM4-80GB") == 312e12
    assert datasheet_peak("NVIDIA GeForce RTX 4090") is None
    peak = harness.Peak(2e12, "bf16", 64, 1, "bf16 matmul peak (measured)", datasheet_flops_per_s=None)
    assert (
        harness.mfu_fields(1e12, peak)["mfu"] is None
        and harness.mfu_fields(1e12, peak)["mfu_measured"] == 0.5
    )
    assert "not reported" in harness.mfu_label(peak)
