"""An offline byte-level BPE tokenizer for the tiny model, with Phi-3's chat special tokens.

Trained on the texts it is given (the training split's titles, categories and answers) so a few thousand ids
cover the catalogue; digits are split one per token so prices are spelled digit by digit and stay learnable.
The result is a standard `tokenizer.json` inside a transformers fast tokenizer, so
`save_pretrained`/`AutoTokenizer.from_pretrained` round-trip it. Same corpus (as a sequence) and vocab size
give the same tokenizer.

Ids 0, 1, 2 are `<unk>`, `<s>`, `</s>` as in Phi-3. `<s>` is prepended to every encoded text
(add_special_tokens), as Phi-3's Llama tokenizer does. The image tag `<|image_1|>` is not a token: the
processor splits the text at it and writes negative placeholder ids itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from contracts.task import QUESTION, build_answer

from .chat import ASSISTANT, END, USER, build_prompt

UNK, BOS, EOS = "<unk>", "<s>", "</s>"
ENDOFTEXT = "<|endoftext|>"
# Order fixes the ids: 0 <unk>, 1 <s>, 2 </s>, then Phi-3's chat markers.
SPECIAL_TOKENS: tuple[str, ...] = (UNK, BOS, EOS, ENDOFTEXT, USER, ASSISTANT, END)
DEFAULT_VOCAB_SIZE = 2048

# Used when no corpus is given: chat markers, digits and words typical of the catalogue.
BUILTIN_CORPUS: tuple[str, ...] = (
    build_prompt(),
    QUESTION,
    "0 1 2 3 4 5 6 7 8 9 . , : $",
    build_answer("Check Cashmere Scarf", "SCARVES", 590.0),
    build_answer("EKD Wool Cape", "PONCHOS & CAPES", 2490.0),
    build_answer("Mini Frances Bag", "SHOULDER", 1790.0),
    build_answer("House Check Cotton and Leather Sneakers", "SNEAKERS", 650.0),
    build_answer("Cropped Nylon Quilted Jacket", "QUILTED JACKETS", 1290.0),
    build_answer("Check and Leather Card Case", "WALLETS & CARD CASES", 390.0),
    build_answer("Cotton Gabardine Belted Bucket Hat", "HATS & GLOVES", 450.0),
    build_answer("Long Kensington Heritage Trench Coat", "TRENCH COATS", 2890.0),
    "Product Category Full Price Check Leather Wool Cotton Silk Nylon Cashmere Bag Coat Jacket Shirt Dress",
    "Trench Scarf Sneakers Boots Belt Wallet Hat Cap Skirt Trousers Knit Sweater Hoodie Polo Logo Print",
)


def build_tiny_tokenizer(
    corpus: Iterable[str] | None = None, vocab_size: int = DEFAULT_VOCAB_SIZE
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on `corpus` (or the built-in one) and wrap it as a transformers tokenizer.

    Args:
        corpus: texts to learn merges from; iterated once, in order.
        vocab_size: upper bound on the vocabulary (special tokens and the 256 byte symbols included); a small
            corpus yields fewer ids.

    Returns:
        A fast tokenizer with bos `<s>`, eos and pad `<|endoftext|>`, unk `<unk>`; `<|user|>`, `<|assistant|>`
        and `<|end|>` are special tokens (skipped by `decode(..., skip_special_tokens=True)`).
    """
    texts = list(BUILTIN_CORPUS if corpus is None else corpus)
    if vocab_size < len(SPECIAL_TOKENS) + 256:
        raise ValueError(f"vocab_size {vocab_size} is below the {len(SPECIAL_TOKENS) + 256} fixed ids")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=ENDOFTEXT,
        unk_token=UNK,
        pad_token=ENDOFTEXT,
        additional_special_tokens=[EOS, USER, ASSISTANT, END],
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
