"""The chat template: one format, the prompt a prefix of the training text, prices as the seed writes them."""

from finetune.chat import build_answer, build_prompt, build_training_text


def test_training_text_matches_mission_format():
    """The full conversation is exactly the mission's training target."""
    answer = build_answer("EKD Wool Cape", "PONCHOS & CAPES", 2490.0)
    assert build_training_text(answer) == (
        "<|user|>\n<|image_1|>What is shown in this image?<|end|><|assistant|>\n"
        "Product: EKD Wool Cape, Category: PONCHOS & CAPES, Full Price: 2490.0<|end|>"
    )


def test_prompt_is_prefix_and_ends_with_assistant_turn():
    """Generation starts right after `<|assistant|>\\n`; training adds only answer and `<|end|>`."""
    prompt = build_prompt()
    assert prompt.endswith("<|assistant|>\n")
    text = build_training_text("x")
    assert text.startswith(prompt) and text[len(prompt) :] == "x<|end|>"


def test_price_formatted_as_python_float():
    """Prices read like str(float): ints and strings become `2490.0`, decimals stay."""
    assert build_answer("T", "C", 2490).endswith("Full Price: 2490.0")
    assert build_answer("T", "C", "32").endswith("Full Price: 32.0")
    assert build_answer("T", "C", 1290.5).endswith("Full Price: 1290.5")
