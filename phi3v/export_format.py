"""Saved models in the published checkpoint's form, so tools on transformers 4.x load them too.

transformers 5 writes its own form (tokenizer class `TokenizersBackend`, merges as pairs that tokenizers 0.19
cannot parse, no `auto_map`); the upstream remote code and the pipelines built around it need transformers
4.x. Here the tokenizer files are written as microsoft/Phi-3-vision-128k-instruct publishes them
(`LlamaTokenizer`, merges as "a b" strings, `special_tokens_map.json`), and `auto_map` is written only where
the code files it names are copied beside it.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizerBase

from .chat import CHAT_TEMPLATE

TOKENIZER_CLASS = "LlamaTokenizer"  # the published tokenizer_config.json's; 4.x resolves it to the fast one
TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
SPECIAL_TOKENS_MAP = "special_tokens_map.json"
CONFIG_FILE = "config.json"
PREPROCESSOR_CONFIG = "preprocessor_config.json"
# The files whose `auto_map` names the model's remote code.
AUTO_MAP_FILES = (CONFIG_FILE, PREPROCESSOR_CONFIG)
_NAMED_TOKENS = ("bos_token", "eos_token", "unk_token", "pad_token")
_RELATIVE_IMPORT = re.compile(r"^\s*(?:from\s+\.(\w+)\s+import|import\s+\.(\w+)\s*$)", re.MULTILINE)


def _write_json(path: Path, data: Any, *, sort_keys: bool = True) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    text = json.dumps(data, indent=2, sort_keys=sort_keys, ensure_ascii=False) + "\n"
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def legacy_tokenizer_json(data: dict[str, Any]) -> dict[str, Any]:
    """`tokenizer.json` with BPE merges as "a b" strings: the form tokenizers before 0.20 parse.

    Merges whose pieces hold a space cannot be written so; those files keep the pair form.
    """
    model = data.get("model") or {}
    merges = model.get("merges")
    if not merges or isinstance(merges[0], str) or any(" " in a or " " in b for a, b in merges):
        return data
    return {**data, "model": {**model, "merges": [f"{a} {b}" for a, b in merges]}}


def _token_fields(token: Any) -> dict[str, Any]:
    fields = ("content", "lstrip", "normalized", "rstrip", "single_word")
    return {name: getattr(token, name) for name in fields}


def _extra_special_tokens(tokenizer: PreTrainedTokenizerBase) -> list[str]:
    # transformers 5 names them `extra_special_tokens`, 4.x `additional_special_tokens`
    extra = getattr(tokenizer, "extra_special_tokens", None)
    extra = extra if extra is not None else getattr(tokenizer, "additional_special_tokens", [])
    return [str(t) for t in extra]


def published_tokenizer_config(tokenizer: PreTrainedTokenizerBase) -> dict[str, Any]:
    """`tokenizer_config.json` with the published file's keys, values read from `tokenizer`.

    `add_bos_token`/`add_eos_token` say what encoding does (transformers 4.x rebuilds the post-processor from
    them); the chat template is the one training used (`chat.CHAT_TEMPLATE`).
    """
    specials = tokenizer("", add_special_tokens=True).input_ids
    added = tokenizer.added_tokens_decoder
    return {
        "add_bos_token": tokenizer.bos_token_id is not None and tokenizer.bos_token_id in specials,
        "add_eos_token": tokenizer.eos_token_id is not None and tokenizer.eos_token_id in specials,
        "added_tokens_decoder": {
            str(i): {**_token_fields(added[i]), "special": added[i].special} for i in sorted(added)
        },
        "additional_special_tokens": _extra_special_tokens(tokenizer),
        **{name: getattr(tokenizer, name) for name in _NAMED_TOKENS},
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": bool(tokenizer.clean_up_tokenization_spaces),
        "legacy": False,
        "model_max_length": int(tokenizer.model_max_length),
        "padding_side": tokenizer.padding_side,
        "sp_model_kwargs": {},
        "tokenizer_class": TOKENIZER_CLASS,
        "use_default_system_prompt": False,
    }


def special_tokens_map(tokenizer: PreTrainedTokenizerBase) -> dict[str, Any]:
    """`special_tokens_map.json` as published: the named tokens with their flags, then the extra ones."""
    by_content = {str(t): t for t in tokenizer.added_tokens_decoder.values()}
    out: dict[str, Any] = {"additional_special_tokens": _extra_special_tokens(tokenizer)}
    for name in _NAMED_TOKENS:
        value = getattr(tokenizer, name)
        if value is not None:
            token = by_content.get(str(value))
            out[name] = _token_fields(token) if token is not None else {"content": str(value)}
    return out


def save_tokenizer(tokenizer: PreTrainedTokenizerBase, directory: str | Path) -> None:
    """Write `tokenizer.json`, `tokenizer_config.json` and `special_tokens_map.json` in the published form."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data = legacy_tokenizer_json(json.loads(tokenizer.backend_tokenizer.to_str()))
    _write_json(directory / TOKENIZER_FILE, data, sort_keys=False)  # vocab in id order, as published
    _write_json(directory / TOKENIZER_CONFIG, published_tokenizer_config(tokenizer))
    _write_json(directory / SPECIAL_TOKENS_MAP, special_tokens_map(tokenizer))


# -- remote code -----------------------------------------------------------------------------------------


def _modules(auto_map: dict[str, Any]) -> set[str]:
    """Module names an `auto_map` points at ("module.Class", "repo--module.Class", or a pair of them)."""
    refs = [r for v in auto_map.values() for r in (v if isinstance(v, (list, tuple)) else [v]) if r]
    return {str(r).split("--")[-1].rsplit(".", 1)[0] for r in refs}


def _with_relative_imports(folder: Path, modules: set[str]) -> set[str] | None:
    """`modules` plus the modules they import relatively (transitively), or None when a file is missing."""
    seen: set[str] = set()
    todo = sorted(modules)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = folder / f"{name}.py"
        if not path.is_file():
            return None
        seen.add(name)
        for a, b in _RELATIVE_IMPORT.findall(path.read_text(encoding="utf-8", errors="replace")):
            todo.append(a or b)
    return seen


def remote_code(base: Path | None) -> tuple[dict[str, dict], list[Path]]:
    """The `auto_map` of each file in `AUTO_MAP_FILES` whose code `base` holds, and the code files to copy.

    A map is kept only when every module it names (and each module those import relatively) is a file in
    `base`; otherwise the export would point at code it does not hold.
    """
    maps: dict[str, dict] = {}
    files: set[str] = set()
    if base is None or not base.is_dir():
        return maps, []
    for name in AUTO_MAP_FILES:
        try:
            auto_map = json.loads((base / name).read_text(encoding="utf-8")).get("auto_map")
        except (OSError, ValueError, AttributeError):
            continue
        if not isinstance(auto_map, dict) or not auto_map:
            continue
        modules = _with_relative_imports(base, _modules(auto_map))
        if modules is not None:
            maps[name] = auto_map
            files |= modules
    return maps, [base / f"{m}.py" for m in sorted(files)]


def finish_export(directory: str | Path, base: Path | None) -> bool:
    """Give a saved model dir the published config keys: `auto_map` with its code files copied from `base`
    (the base model's folder) when it holds them, none otherwise; `torch_dtype` beside `dtype` for 4.x.

    Returns:
        Whether config.json got an `auto_map` (the model's code lies beside it).
    """
    directory = Path(directory)
    maps, code = remote_code(base)
    for path in code:
        shutil.copyfile(path, directory / path.name)
    for name in AUTO_MAP_FILES:
        path = directory / name
        if not path.is_file():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        data.pop("auto_map", None)
        if name in maps:
            data["auto_map"] = maps[name]
        if name == CONFIG_FILE and data.get("dtype") is not None:
            data["torch_dtype"] = data["dtype"]
        _write_json(path, data)
    return CONFIG_FILE in maps and (directory / CONFIG_FILE).is_file()
