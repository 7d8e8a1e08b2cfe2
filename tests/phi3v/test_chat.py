"""Phi-3's chat format around the task: the prompt, and what training appends to it."""

from contracts.task import build_answer
from phi3v.chat import END, build_prompt


def test_prompt_and_answer_make_the_missions_training_target():
    """The prompt followed by the answer and <|end|> is exactly the mission's training target."""
    answer = build_answer("EKD Wool Cape", "PONCHOS & CAPES", 2490.0)
    assert build_prompt() + answer + END == (
        "<|user|>\n<|image_1|>What is shown in this image?<|end|><|assistant|>\n"
        "Product: EKD Wool Cape, Category: PONCHOS & CAPES, Full Price: 2490.0<|end|>"
    )


def test_prompt_ends_with_the_assistant_turn():
    """Generation starts right after `<|assistant|>\\n`."""
    assert build_prompt().endswith("<|assistant|>\n")
