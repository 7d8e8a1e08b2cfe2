"""Phi-3's chat format around the task's question (``contracts.task``), held once.

    prompt:  <|user|>\\n<|image_1|>What is shown in this image?<|end|><|assistant|>\\n
    target:  {answer}<|end|>

``build_prompt()`` is the text a model sees before it answers; training appends the answer and ``<|end|>``,
so the prompt is always a prefix of the training text.
"""

from __future__ import annotations

from contracts.task import QUESTION

USER = "<|user|>"
ASSISTANT = "<|assistant|>"
END = "<|end|>"
IMAGE_TAG = "<|image_1|>"
# Phi-3's chat template without the newline after <|end|>: rendered with one user message holding IMAGE_TAG
# and the question, and add_generation_prompt, it gives ``build_prompt()`` (what the model was trained on).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>' + '\\n' + message['content'] + '<|end|>' }}"
    "{% endfor %}{% if add_generation_prompt and messages[-1]['role'] != 'assistant' %}"
    "{{ '<|assistant|>\\n' }}{% endif %}"
)


def build_prompt(question: str = QUESTION) -> str:
    """The conversation up to and including ``<|assistant|>\\n``: what the model is given before it
    answers."""
    return f"{USER}\n{IMAGE_TAG}{question}{END}{ASSISTANT}\n"
