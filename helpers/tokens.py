"""Stage 01: tokens as integer ids, one-hot rows, and padded batches.

Shapes: a sentence is ``n`` ids; a batch is ``(B, n)``; one-hot rows are ``(..., n, vocab_size)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

from ._checks_internal import check_ids_in_range, int_array, positive_int

__all__ = ["one_hot", "pad_batch", "Vocabulary", "tokenize"]


def one_hot(token_ids, vocab_size: int, dtype=np.float64) -> np.ndarray:
    """One-hot rows for integer ids.

    token_ids: int array of shape (..., n), each id in [0, vocab_size).
    Returns: array of shape (..., n, vocab_size) with a single 1 per row.
    """
    ids = int_array(token_ids, "token_ids")
    vocab_size = positive_int(vocab_size, "vocab_size")
    check_ids_in_range(ids, vocab_size)
    rows = np.zeros(ids.shape + (int(vocab_size),), dtype=dtype)
    np.put_along_axis(rows, ids[..., None], 1, axis=-1)
    return rows


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int = 0, length: int | None = None):
    """Pad sentences of different lengths into one rectangular batch.

    sequences: B lists (or arrays) of token ids.
    length: pad to this many positions (the "list size" hyperparameter); defaults to the
        longest sentence. A sentence longer than ``length`` raises ValueError.
    Returns: ``(ids, mask)``, ids int64 of shape (B, n_max), mask bool of shape (B, n_max)
        with True for real tokens and False for padding.
    """
    if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__iter__"):
        raise TypeError(f"sequences must be a list of id sequences, got {type(sequences).__name__}")
    seqs = [int_array(s, f"sequences[{i}]").reshape(-1) for i, s in enumerate(sequences)]
    if not seqs:
        raise ValueError("pad_batch needs at least one sequence, got 0")
    lengths = np.array([len(s) for s in seqs])
    n_max = int(lengths.max()) if length is None else positive_int(length, "length", minimum=0)
    pad_id = positive_int(pad_id, "pad_id", minimum=0)
    if lengths.max() > n_max:
        raise ValueError(
            f"length={n_max} is shorter than the longest sequence ({int(lengths.max())} tokens)"
        )
    mask = np.arange(n_max)[None, :] < lengths[:, None]
    ids = np.full((len(seqs), n_max), pad_id, dtype=np.int64)
    ids[mask] = np.concatenate(seqs) if lengths.sum() else np.zeros(0, dtype=np.int64)
    return ids, mask


_WORD_OR_PUNCT = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Lower-case ``text`` and split it into words and single punctuation marks."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return _WORD_OR_PUNCT.findall(text.lower())


class Vocabulary:
    """A small word-level vocabulary: word <-> id.

    Id 0 is ``<pad>`` and id 1 is ``<unk>`` (used for words never seen).
    """

    PAD = "<pad>"
    UNK = "<unk>"

    def __init__(self, words: Iterable[str]):
        if isinstance(words, str) or not hasattr(words, "__iter__"):
            raise TypeError(f"words must be an iterable of str, got {type(words).__name__}")
        self.itos: list[str] = [self.PAD, self.UNK]
        for word in words:
            if not isinstance(word, str):
                raise TypeError(f"every word must be a str, got {type(word).__name__} {word!r}")
            if word not in self.itos:
                self.itos.append(word)
        self.stoi = {word: i for i, word in enumerate(self.itos)}

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> "Vocabulary":
        """Build a vocabulary from texts, words in order of first appearance."""
        return cls(word for text in texts for word in tokenize(text))

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int:
        return 1

    def __len__(self) -> int:
        return len(self.itos)

    def __repr__(self) -> str:
        return f"Vocabulary(size={len(self)})"

    def encode(self, text: str) -> np.ndarray:
        """Text -> int64 ids of shape (n,); unknown words map to ``unk_id``."""
        return np.array([self.stoi.get(w, self.unk_id) for w in tokenize(text)], dtype=np.int64)

    def decode(self, ids) -> list[str]:
        """Ids of shape (n,) -> list of n words."""
        ids = int_array(ids, "ids").reshape(-1)
        check_ids_in_range(ids, len(self), "ids")
        return [self.itos[i] for i in ids]
