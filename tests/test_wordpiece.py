"""helpers.wordpiece: BERT's basic tokenizer + WordPiece, checked rule by rule on a toy vocabulary,
then id for id against the `tokenizers` library on all-MiniLM-L6-v2's real vocabulary: live when
`tokenizers` is installed, otherwise against the committed fixture (scripts/make_minilm_fixtures.py).
"""

from __future__ import annotations

import random
import unicodedata

import numpy as np
import pytest

from helpers.pretrained import load_minilm_reference, model_dir
from helpers.wordpiece import (
    WordPieceTokenizer,
    basic_tokenize,
    is_cjk,
    is_punctuation,
    load_vocab,
    normalize,
    wordpiece,
)

TOY_VOCAB = {t: i for i, t in enumerate(
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "want", "##ed", "runn",
     "##ing", ",", "the", "a", "##b", "b", "c", "##c"]
)}


@pytest.fixture(scope="module")
def toy():
    return WordPieceTokenizer(TOY_VOCAB, max_length=8)


@pytest.fixture(scope="module")
def folder():
    # The model package is a project dependency (make install): missing, this fails loudly.
    return model_dir()


@pytest.fixture(scope="module")
def tokenizer(folder):
    return WordPieceTokenizer.from_file(folder / "vocab.txt", max_length=256)


@pytest.fixture(scope="module")
def reference():
    arrays, texts = load_minilm_reference("tokens")
    offsets = arrays["offsets"]
    expected = [arrays["ids"][offsets[i]:offsets[i + 1]].tolist() for i in range(len(offsets) - 1)]
    return texts["texts"], expected


# --- the rules, one at a time ------------------------------------------------------------------

def test_normalize_cleans_strips_accents_and_lowercases():
    assert normalize("Héllo\tWÖRLD\x00\u200b!") == "hello world!"
    assert normalize("东京") == " 东  京 "
    assert normalize("Ångström", lowercase=False) == "Ångström"


def test_basic_tokenize_splits_whitespace_and_punctuation():
    assert basic_tokenize("Don't panic!") == ["don", "'", "t", "panic", "!"]
    assert basic_tokenize("  a,b  ") == ["a", ",", "b"]
    assert basic_tokenize("") == [] and basic_tokenize(" \n\t ") == []
    assert basic_tokenize("naïve 東京") == ["naive", "東", "京"]
    assert basic_tokenize("$5+3^2") == ["$", "5", "+", "3", "^", "2"]     # ASCII symbols are punctuation


def test_ascii_fast_path_matches_general_path():
    # Appending a character the cleaner drops (U+200B) forces the general, per-character path.
    rng = random.Random(0)
    for _ in range(2000):
        text = "".join(rng.choice([chr(c) for c in range(128)]) for _ in range(rng.randint(0, 25)))
        assert basic_tokenize(text) == basic_tokenize(text + "\u200b"), repr(text)


def test_character_classes():
    assert is_cjk("東") and is_cjk("字") and not is_cjk("カ") and not is_cjk("한")
    assert is_punctuation("!") and is_punctuation("$") and is_punctuation("¿") and not is_punctuation("a")


def test_wordpiece_greedy_longest_match_first():
    assert wordpiece("unaffable", TOY_VOCAB) == ["un", "##aff", "##able"]
    assert wordpiece("wanted", TOY_VOCAB) == ["want", "##ed"]
    assert wordpiece("running", TOY_VOCAB) == ["runn", "##ing"]
    assert wordpiece("unwanted", TOY_VOCAB) == ["[UNK]"]           # "##want" is not a piece
    assert wordpiece("bcc", TOY_VOCAB) == ["b", "##c", "##c"]


def test_wordpiece_long_word_is_unknown():
    vocab = {"a": 0, "##a": 1}
    assert wordpiece("a" * 100, vocab) == ["a"] + ["##a"] * 99
    assert wordpiece("a" * 101, vocab) == ["[UNK]"]


def test_encode_adds_specials_and_truncates(toy):
    assert toy.convert_ids_to_tokens(toy.encode("unaffable, the")) == [
        "[CLS]", "un", "##aff", "##able", ",", "the", "[SEP]"]
    ids = toy.encode("a a a a a a a a a a")
    assert ids.shape == (8,) and ids.dtype == np.int64
    assert toy.convert_ids_to_tokens(ids) == ["[CLS]"] + ["a"] * 6 + ["[SEP]"]
    assert toy.convert_ids_to_tokens(toy.encode("")) == ["[CLS]", "[SEP]"]


def test_typed_special_tokens_stay_whole(toy):
    assert toy.tokenize("the [MASK] a[SEP]b") == ["the", "[MASK]", "a", "[SEP]", "b"]


def test_batch_is_padded_with_a_mask(toy):
    ids, mask = toy(["the a", "the", ""])
    assert ids.shape == mask.shape == (3, 4)
    assert mask.sum(axis=1).tolist() == [4, 3, 2]
    assert (ids[~mask] == toy.pad_id).all()


def test_bad_input_is_a_clear_error(toy):
    with pytest.raises(ValueError, match="must be a str"):
        toy.tokenize(3)
    with pytest.raises(ValueError, match="special tokens"):
        WordPieceTokenizer({"a": 0})
    with pytest.raises(ValueError, match="max_length"):
        WordPieceTokenizer(TOY_VOCAB, max_length=1)


# --- the real vocabulary -----------------------------------------------------------------------

def test_vocab_file(folder):
    vocab = load_vocab(folder / "vocab.txt")
    assert len(vocab) == 30522
    assert [vocab[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")] == [0, 100, 101, 102, 103]


def test_same_ids_as_committed_reference(tokenizer, reference):
    texts, expected = reference
    assert len(texts) >= 20
    for text, ids in zip(texts, expected, strict=True):
        assert tokenizer.encode(text).tolist() == ids, f"text {text[:60]!r}"


def test_truncation_to_256(tokenizer, reference):
    texts, expected = reference
    longest = max(expected, key=len)
    assert len(longest) == 256 and longest[0] == tokenizer.cls_id and longest[-1] == tokenizer.sep_id


def _live_tokenizer(require_module, folder):
    tokenizers = require_module("tokenizers", "the live tokenizer comparison needs `tokenizers`")
    ref = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    ref.enable_truncation(max_length=256)
    ref.no_padding()
    return ref


def test_same_ids_as_tokenizers_live(require_module, folder, tokenizer, reference):
    ref = _live_tokenizer(require_module, folder)
    texts, expected = reference
    for text, ids in zip(texts, expected, strict=True):
        assert ref.encode(text).ids == ids, f"the committed fixture is stale for {text[:60]!r}: rerun the script"
        assert tokenizer.encode(text).tolist() == ids


# Scripts and symbols whose Unicode categories have not changed since Unicode 9, so that our tables
# (Python's) and the Rust library's agree on every character.
_FUZZ_ALPHABET = (
    [chr(c) for c in range(0x20, 0x7F)] * 4 + list(" \t\n\r\x0b\x0c\x00\x7f\x85\xa0") * 6
    + [chr(c) for c in range(0xA1, 0x250)]          # Latin-1, Latin extended: accents, ß, ĳ
    + [chr(c) for c in range(0x370, 0x3FF)]          # Greek
    + [chr(c) for c in range(0x400, 0x460)]          # Cyrillic
    + [chr(c) for c in range(0x2000, 0x2070)]        # general punctuation, spaces, zero-widths
    + [chr(c) for c in range(0x3000, 0x3100)]        # CJK punctuation, hiragana, katakana
    + [chr(c) for c in range(0x4E00, 0x4F00)]        # CJK ideographs
    + [chr(c) for c in range(0xAC00, 0xAD00)]        # hangul
    + [chr(c) for c in range(0x1F600, 0x1F650)]      # emoji
    + ["[MASK]", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "##", "e\u0301", "\u0130", "\ufb01"]
)


def test_same_ids_as_tokenizers_on_random_text(require_module, folder, tokenizer):
    ref = _live_tokenizer(require_module, folder)
    rng = random.Random(20240601)
    alphabet = [c for c in _FUZZ_ALPHABET if all(unicodedata.category(ch) != "Cn" for ch in c)]
    for _ in range(1500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        assert tokenizer.encode(text).tolist() == ref.encode(text).ids, repr(text)
