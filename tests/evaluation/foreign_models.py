"""Tiny random vision-language models of two transformers architectures, built offline from configs: LLaVA
(CLIP + Llama) and Idefics3 (SigLIP-style encoder + Llama; SmolVLM's architecture). Each is saved with its
processor, tokenizer and chat template, as a hub repository lays them out, for ``--model hf:DIR``."""

from __future__ import annotations

from pathlib import Path

import torch

CORPUS = [
    "Product: Check Cashmere Scarf, Category: SCARVES, Full Price: 450.0",
    "Product: Long Kensington Trench Coat, Category: TRENCH COATS, Full Price: 2490.0",
    "What is shown in this image? Answer in exactly this format, on one line: user assistant",
]


def _tokenizer(specials: list[str], **roles):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, **roles)


def _template(image: str, start: str, end: str, assistant: str) -> str:
    return (
        start + "{% for m in messages %}{{ m['role'] | capitalize }}: {% if m['content'] is string %}"
        "{{ m['content'] }}{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}"
        + image
        + "{% else %}"
        "{{ c['text'] }}{% endif %}{% endfor %}{% endif %}" + end + "\n{% endfor %}"
        "{% if add_generation_prompt %}" + assistant + "{% endif %}"
    )


def tiny_llava(out: Path, seed: int = 0) -> Path:
    """LLaVA: a 2-layer CLIP (28-px images, 4 patches) and a 2-layer Llama, about 80k parameters."""
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    tokenizer = _tokenizer(
        ["<pad>", "<s>", "</s>", "<image>"], bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    image_processor = CLIPImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28})
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=_template("<image>", "", "", "Assistant:"),
    )
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=28,
            patch_size=14,
        ),
        text_config=LlamaConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            vocab_size=len(tokenizer),
            max_position_embeddings=256,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        ),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-1,
    )
    return _save(LlavaForConditionalGeneration, config, processor, out, seed)


def tiny_idefics3(out: Path, seed: int = 0) -> Path:
    """Idefics3 (SmolVLM's architecture): images split into 32-px crops plus a global view, 4 tokens each."""
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    grid = [f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6)]
    specials = [
        "<|endoftext|>",
        "<|im_start|>",
        "<end_of_utterance>",
        "<fake_token_around_image>",
        "<image>",
        "<global-img>",
        *grid,
    ]
    tokenizer = _tokenizer(
        specials, bos_token="<|im_start|>", eos_token="<end_of_utterance>", pad_token="<|endoftext|>"
    )
    image_processor = Idefics3ImageProcessorPil(
        size={"longest_edge": 64}, max_image_size={"longest_edge": 32}, do_image_splitting=True
    )
    processor = Idefics3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        image_seq_len=4,
        chat_template=_template("<image>", "<|im_start|>", "<end_of_utterance>", "Assistant:"),
    )
    config = Idefics3Config(
        text_config={
            "model_type": "llama",
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": 512,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        scale_factor=2,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        pad_token_id=tokenizer.pad_token_id,
    )
    return _save(Idefics3ForConditionalGeneration, config, processor, out, seed)


def _save(model_class, config, processor, out: Path, seed: int) -> Path:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(config)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
