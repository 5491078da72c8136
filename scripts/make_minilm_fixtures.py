"""Regenerate helpers/reference_data/minilm_*.safetensors: the reference answers for all-MiniLM-L6-v2.

- minilm_tokens:     ids from the `tokenizers` library (the model's tokenizer.json, truncation to
                     256 tokens, no padding) for a varied corpus (punctuation, accents, unknown
                     and long words, CJK, numbers, empty and blank strings, typed special tokens).
- minilm_embeddings: sentence-transformers' embeddings (N, 384) of a set of sentences, and, for
                     one sentence, the hidden state after every layer (n_layers + 1, n, 384) and
                     every attention map (n_layers, h, n, n) from the Hugging Face BertModel.

Learners without PyTorch check our NumPy model against these in tests and in notebook 10; the
tests also recompute them live whenever the reference libraries are installed. The texts are
stored as JSON in the files' metadata, the numbers as tensors: safetensors, never pickles.

Run from the project folder after `make reference` (no network needed: the model is the installed
package's):   .venv/bin/python scripts/make_minilm_fixtures.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")          # never reach for the hub: the files are local
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "helpers" / "reference_data"

# Cases for the tokenizer: each exercises one rule of BERT's basic tokenizer or of WordPiece.
TOKENIZER_CORPUS = [
    "",                                                   # empty: just [CLS] [SEP]
    "   \t\n  ",                                          # only whitespace
    "Hello, world!",
    "Don't panic: it's 3.14159 km/h (roughly) -- ok?!",   # punctuation splits words
    "The quick brown fox jumps over the lazy dog.",
    "Transformers' self-attention mixes information between tokens.",
    "unaffable tokenization embeddings",                  # words cut into ## pieces
    "supercalifragilisticexpialidocious",                 # a long word, many pieces
    "x" * 100,                                            # 100 characters: still cut into pieces
    "y" * 101,                                            # 101 characters: [UNK]
    "naïve café résumé Ångström façade",                  # accents stripped (NFD)
    "ÉCOLE NORMALE SUPÉRIEURE",                           # upper case + accents
    "Straße İstanbul ΣΟΦΟΣ σοφός",                        # special lower-casing
    "東京は日本の首都です。",                              # CJK ideographs split one by one
    "我喜欢自然语言处理",
    "한국어 텍스트와 カタカナ",                             # hangul and katakana are not split
    "numbers: 1,000,000 and 42nd and 3.5e-7 and 2024-01-01",
    "emoji 😀 and symbols © ® ™ € £ ¥ § ¶",
    "tabs\tnew\nlines\r\nnbsp\u00a0ideographic\u3000space",
    "control\x00chars\x07and\ufffdreplacement\u200bzero-width",
    "C++ & C# are <languages>; e-mail: someone@example.com",
    "Hello [MASK] world [SEP] glued[CLS]in",              # special tokens typed in the text
    "qwxzvbnm zzyzx blorptastic",                         # unknown-ish words
    "¿Qué tal? ¡Muy bien! « guillemets » — dash … ellipsis",
    "ﬁne ligature and Ⅻ roman numeral",                   # compatibility characters
    "word " * 300,                                        # 300 words: truncated to 256 tokens
]

# Sentences for the embedding parity check (and notebook 10's similarity and search demos).
SENTENCES = [
    "The cat sits on the mat.",
    "A kitten is sleeping on a rug.",
    "Dogs love playing fetch in the park.",
    "The stock market fell sharply today.",
    "Investors worry about rising interest rates.",
    "How do I bake sourdough bread at home?",
    "A simple recipe for crusty homemade bread.",
    "Self-attention lets every token look at every other token.",
    "Transformers mix information between the words of a sentence.",
    # queries for the semantic search
    "Which pet is lying on the carpet?",
    "Why are shares going down?",
    "How does a transformer model work?",
    # edge cases
    "",
    "naïve café résumé, déjà vu!",
    "東京は日本の首都です。",
    "word " * 300,
]

# The sentence whose layers and attention maps are stored (and pictured in the notebook).
ATTENTION_SENTENCE = "The animal didn't cross the street because it was too tired."


def tokens_fixture(model_folder: Path) -> None:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_folder / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=256)
    tokenizer.no_padding()
    ids = [tokenizer.encode(text).ids for text in TOKENIZER_CORPUS]
    offsets = np.cumsum([0] + [len(i) for i in ids]).astype(np.int64)
    save_file(
        {"ids": np.array([t for row in ids for t in row], dtype=np.int64), "offsets": offsets},
        OUT / "minilm_tokens.safetensors",
        metadata={"texts": json.dumps(TOKENIZER_CORPUS, ensure_ascii=False), "max_length": "256"},
    )


def embeddings_fixture(model_folder: Path) -> None:
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer, BertModel

    model = SentenceTransformer(str(model_folder), device="cpu")
    assert model.max_seq_length == 256, model.max_seq_length
    embeddings = model.encode(SENTENCES, batch_size=32, convert_to_numpy=True)

    # The same weights in Hugging Face's BertModel, with the attention maps it can return.
    bert = BertModel.from_pretrained(str(model_folder), attn_implementation="eager").eval()
    batch = AutoTokenizer.from_pretrained(str(model_folder))([ATTENTION_SENTENCE], return_tensors="pt")
    with torch.no_grad():
        out = bert(**batch, output_hidden_states=True, output_attentions=True)
    save_file(
        {
            "embeddings": embeddings.astype(np.float32),                                   # (N, 384)
            "attention_ids": batch["input_ids"][0].numpy().astype(np.int64),               # (n,)
            "hidden_states": torch.stack(out.hidden_states)[:, 0].numpy(),                 # (7, n, 384)
            "attentions": torch.stack(out.attentions)[:, 0].numpy(),                       # (6, 12, n, n)
        },
        OUT / "minilm_embeddings.safetensors",
        metadata={
            "sentences": json.dumps(SENTENCES, ensure_ascii=False),
            "attention_sentence": ATTENTION_SENTENCE,
            "made_with": f"sentence-transformers {_version('sentence_transformers')}, "
                         f"transformers {_version('transformers')}, torch {torch.__version__}",
        },
    )


def _version(module: str) -> str:
    import importlib

    return importlib.import_module(module).__version__


def main() -> None:
    from helpers.pretrained import model_dir

    folder = model_dir()
    OUT.mkdir(parents=True, exist_ok=True)
    tokens_fixture(folder)
    embeddings_fixture(folder)
    for name in ("minilm_tokens", "minilm_embeddings"):
        path = OUT / f"{name}.safetensors"
        print(f"wrote {path.relative_to(OUT.parents[1])} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
