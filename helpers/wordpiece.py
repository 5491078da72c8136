"""Stage 10 (capstone): BERT's WordPiece tokenizer, in plain Python.

Notebook 01 split text into whole words; a pretrained model needs *its own* tokens, ids into its
vocabulary of V = 30522 word pieces. Text -> ids in three steps, as BERT (and the ``tokenizers``
library with all-MiniLM-L6-v2's ``tokenizer.json``) does:

1. normalise: drop control characters, turn every whitespace into a space, put spaces around
   CJK ideographs, strip accents (Unicode NFD, then drop the combining marks), lower-case;
2. pre-tokenise: split on whitespace, and make every punctuation mark a word of its own;
3. WordPiece: cut each word greedily into the longest pieces found in the vocabulary, later
   pieces spelled with a ``##`` prefix ("tokenization" -> "token", "##ization"); a word that
   cannot be cut (or is longer than 100 characters) becomes ``[UNK]``.

Then ``[CLS] ... [SEP]`` go around each sentence, long ones are truncated to ``max_length``
tokens (specials included) and a batch is padded with ``[PAD]`` (id 0) plus a mask.
Shapes: a sentence gives n ids; a batch gives ids and mask of shape (B, n). No dependency but NumPy.

Fidelity: the same ids as ``tokenizers`` on every character whose Unicode category is the same
in Python's Unicode tables (14.0 for Python 3.11) and in the older ones that library is built
with; about a hundred characters added or re-classified since (e.g. U+2E55, a bracket added in
Unicode 14) are split differently. The tests compare both on a varied corpus.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np

from .tokens import pad_batch

__all__ = [
    "load_vocab",
    "normalize",
    "basic_tokenize",
    "wordpiece",
    "WordPieceTokenizer",
    "is_cjk",
    "is_punctuation",
]

# Unicode's White_Space property (what Rust's char::is_whitespace and so `tokenizers` use).
_WHITESPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)

# The CJK ideograph blocks BERT splits into single characters (Chinese, and the kanji/hanja
# shared by Japanese and Korean; hiragana, katakana and hangul are not in them).
_CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)

_ASCII_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def is_cjk(char: str) -> bool:
    """True for a CJK ideograph (each one becomes a word of its own)."""
    cp = ord(char)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def is_punctuation(char: str) -> bool:
    """ASCII punctuation (``$``, ``+``, ``^`` too) or any Unicode punctuation (category P*)."""
    return char in _ASCII_PUNCTUATION or unicodedata.category(char).startswith("P")


def _is_control(char: str) -> bool:
    # Tab, newline and carriage return are control characters that BERT keeps as whitespace.
    # Unassigned code points (category Cn) are kept, as `tokenizers` keeps them (they end as [UNK]).
    return char not in "\t\n\r" and unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs")


def load_vocab(path) -> dict[str, int]:
    """vocab.txt -> {token: id}: one token per line, the id is the line number (from 0)."""
    try:
        with open(path, encoding="utf-8") as f:
            return {line.rstrip("\n"): i for i, line in enumerate(f)}
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: a vocabulary must be UTF-8 text, one token per line ({err})") from None


# ASCII text (most English) has no accents, no CJK and one-to-one lower-casing: a translation
# table and a regular expression give the same words as the general loops below, ~5x faster.
_ASCII_CLEAN = {c: None for c in range(32) if chr(c) not in "\t\n\r"} | {127: None} | {
    ord(c): " " for c in "\t\n\r"}
_ASCII_WORDS = re.compile(r"[^\s!-/:-@\[-`{-~]+|[!-/:-@\[-`{-~]")


def normalize(text: str, lowercase: bool = True) -> str:
    """BERT's normaliser: clean, space out CJK ideographs, strip accents, lower-case.

    "Héllo\\tWörld 你好" -> "hello world  你  好 ".
    """
    if text.isascii():
        text = text.translate(_ASCII_CLEAN)
        return text.lower() if lowercase else text
    out = []
    for char in text:
        if char == "\x00" or char == "\ufffd" or _is_control(char):
            continue                                   # invisible junk: dropped
        if char in _WHITESPACE:
            out.append(" ")
        elif is_cjk(char):
            out.append(f" {char} ")
        else:
            out.append(char)
    text = "".join(out)
    if lowercase:
        # Accents: NFD splits "é" into "e" + a combining accent (category Mn), which we drop.
        text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
        # One character at a time, as the Rust library does (str.lower() would turn a
        # word-final "Σ" into "ς", the vocabulary's tokenizer keeps "σ").
        text = "".join(c.lower() for c in text)
    return text


def basic_tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Normalise, then split on whitespace and around every punctuation mark.

    "Don't panic!" -> ["don", "'", "t", "panic", "!"].
    """
    if text.isascii():
        return _ASCII_WORDS.findall(normalize(text, lowercase))
    words, current = [], []
    for char in normalize(text, lowercase):
        if char in _WHITESPACE or is_punctuation(char):
            if current:
                words.append("".join(current))
                current = []
            if char not in _WHITESPACE:
                words.append(char)
        else:
            current.append(char)
    if current:
        words.append("".join(current))
    return words


def wordpiece(word: str, vocab, unk_token: str = "[UNK]", max_chars: int = 100,
              prefix: str = "##") -> list[str]:
    """Greedy longest-match-first: cut ``word`` into vocabulary pieces, left to right.

    At each position take the longest piece in ``vocab`` (spelled ``##piece`` after the first).
    If no piece fits somewhere, or the word has more than ``max_chars`` characters, the whole
    word is ``[unk_token]``. "unaffable" -> ["un", "##aff", "##able"] in BERT's vocabulary.
    """
    if len(word) > max_chars:
        return [unk_token]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else prefix + word[start:end]
            if piece in vocab:
                break
            end -= 1
        if end == start:                               # nothing matched: the word is unknown
            return [unk_token]
        pieces.append(piece)
        start = end
    return pieces


class WordPieceTokenizer:
    """all-MiniLM-L6-v2's tokenizer: text -> ids (n,), or a batch -> (ids, mask) of shape (B, n).

    vocab: {token: id}, e.g. from ``load_vocab("vocab.txt")`` (V = 30522 for BERT-base uncased).
    max_length: longest sequence, [CLS] and [SEP] included (sentence-transformers' max_seq_length
        for this model is 256); longer texts lose their tail.
    Special tokens typed in the text ("[MASK]", "[SEP]", ...) are kept whole, as in ``tokenizers``.
    """

    def __init__(self, vocab: dict[str, int], max_length: int = 256, lowercase: bool = True,
                 unk_token: str = "[UNK]", cls_token: str = "[CLS]", sep_token: str = "[SEP]",
                 pad_token: str = "[PAD]", mask_token: str = "[MASK]", max_chars_per_word: int = 100):
        specials = (unk_token, cls_token, sep_token, pad_token, mask_token)
        missing = [t for t in specials if t not in vocab]
        if missing:
            raise ValueError(f"vocab lacks the special tokens {missing}")
        if max_length < 2:
            raise ValueError(f"max_length must leave room for [CLS] and [SEP] (>= 2), got {max_length}")
        self.vocab = dict(vocab)
        self.ids_to_tokens = {i: t for t, i in self.vocab.items()}
        self.max_length = int(max_length)
        self.lowercase = lowercase
        self.unk_token, self.cls_token, self.sep_token = unk_token, cls_token, sep_token
        self.pad_token, self.mask_token = pad_token, mask_token
        self.max_chars_per_word = max_chars_per_word
        self.special_tokens = specials
        # Longest first, so that a longer special token wins over a prefix of it.
        self._special_re = re.compile(
            "(" + "|".join(re.escape(t) for t in sorted(specials, key=len, reverse=True)) + ")"
        )
        # Words repeat a lot (the, a, of ...): cache their pieces.
        self._pieces = lru_cache(maxsize=65536)(self._word_pieces)

    @classmethod
    def from_file(cls, vocab_path, **kwargs) -> WordPieceTokenizer:
        return cls(load_vocab(vocab_path), **kwargs)

    def __repr__(self) -> str:
        return f"WordPieceTokenizer(V={self.vocab_size}, max_length={self.max_length})"

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def pad_id(self) -> int:
        return self.vocab[self.pad_token]

    @property
    def cls_id(self) -> int:
        return self.vocab[self.cls_token]

    @property
    def sep_id(self) -> int:
        return self.vocab[self.sep_token]

    @property
    def unk_id(self) -> int:
        return self.vocab[self.unk_token]

    def _word_pieces(self, word: str) -> tuple[str, ...]:
        return tuple(wordpiece(word, self.vocab, self.unk_token, self.max_chars_per_word))

    def tokenize(self, text: str) -> list[str]:
        """Text -> word pieces, without [CLS]/[SEP] and without truncation."""
        if not isinstance(text, str):
            raise ValueError(f"text must be a str, got {type(text).__name__}")
        tokens = []
        for i, chunk in enumerate(self._special_re.split(text)):
            if i % 2:                                  # a special token typed in the text
                tokens.append(chunk)
                continue
            for word in basic_tokenize(chunk, self.lowercase):
                tokens.extend(self._pieces(word))
        return tokens

    def convert_tokens_to_ids(self, tokens: Iterable[str]) -> list[int]:
        return [self.vocab.get(t, self.unk_id) for t in tokens]

    def convert_ids_to_tokens(self, ids) -> list[str]:
        ids = np.asarray(ids).reshape(-1)
        unknown = [i for i in ids.tolist() if i not in self.ids_to_tokens]
        if unknown:
            raise ValueError(f"ids must be ids of this vocabulary (V = {self.vocab_size}), got {unknown[:5]}")
        return [self.ids_to_tokens[int(i)] for i in ids]

    def encode(self, text: str) -> np.ndarray:
        """Text -> int64 ids (n,): [CLS] pieces [SEP], at most ``max_length`` of them."""
        pieces = self.tokenize(text)[: self.max_length - 2]
        return np.array([self.cls_id, *self.convert_tokens_to_ids(pieces), self.sep_id], dtype=np.int64)

    def __call__(self, texts: str | Sequence[str]):
        """Sentences -> ``(ids, mask)``, both (B, n) with n the longest sentence's length.

        ids int64, padded with [PAD] = 0; mask bool, True = real token (helpers.tokens.pad_batch).
        """
        if isinstance(texts, str):
            texts = [texts]
        return pad_batch([self.encode(t) for t in texts], pad_id=self.pad_id)
