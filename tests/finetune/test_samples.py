"""Training samples decode through the same batched generation as evaluate."""

from __future__ import annotations

from contracts.dataset.reader import IMAGE_PATH, load_image, read_split
from contracts.task import build_answer
from finetune.samples import MAX_ANSWER_TOKENS, sample_predictions
from phi3v.generate import generate_answers
from phi3v.loading import load_model


def test_samples_are_evaluates_answers_for_the_first_rows(handmade_dataset, fast_config):
    """The first N validation rows, each with evaluate's greedy answer, its target and file name; the model
    goes back to training mode."""
    model, processor = load_model("tiny", seed=0)
    model.train()
    frame = read_split(handmade_dataset, "validation")
    samples = sample_predictions(model, processor, frame, fast_config(sample_predictions=3))
    images = [load_image(p) for p in frame[IMAGE_PATH][:3]]
    expected = generate_answers(model.eval(), processor, images, max_new_tokens=MAX_ANSWER_TOKENS).texts
    assert [s.prediction for s in samples] == expected
    assert [s.file_name for s in samples] == list(frame["file_name"][:3])
    assert samples[0].target == build_answer(
        frame["title"][0], frame["category3_code"][0], frame["full_price"][0]
    )
    assert max(s.image.size[0] for s in samples) <= 256
    model.train()
    assert sample_predictions(model, processor, frame, fast_config(sample_predictions=0)) == []
    assert model.training
