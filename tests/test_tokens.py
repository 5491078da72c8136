"""helpers.tokens: one-hot rows, padded batches, the word-level vocabulary."""

import numpy as np
import pytest

from helpers.tokens import Vocabulary, one_hot, pad_batch, tokenize

# ---------------------------------------------------------------- one_hot


def test_one_hot_has_a_single_one_per_row_at_the_id():
    ids = np.array([3, 0, 4, 4, 1])
    rows = one_hot(ids, 5)
    assert rows.shape == (5, 5)
    assert rows.dtype == np.float64
    for i, token in enumerate(ids):
        expected = np.zeros(5)
        expected[token] = 1.0
        np.testing.assert_array_equal(rows[i], expected)


def test_one_hot_accepts_leading_batch_dims_and_dtype(rng):
    ids = rng.integers(0, 7, size=(2, 3, 4))
    rows = one_hot(ids, 7, dtype=np.float32)
    assert rows.shape == (2, 3, 4, 7)
    assert rows.dtype == np.float32
    for index in np.ndindex(ids.shape):
        np.testing.assert_array_equal(rows[index], one_hot(ids[index][None], 7, np.float32)[0])
    np.testing.assert_array_equal(rows.argmax(-1), ids)
    np.testing.assert_array_equal(rows.sum(-1), 1)


def test_one_hot_of_python_list_and_empty_input():
    np.testing.assert_array_equal(one_hot([1, 0], 2), [[0, 1], [1, 0]])
    assert one_hot(np.zeros(0, dtype=np.int64), 4).shape == (0, 4)


@pytest.mark.parametrize("bad", [[0, 5], [-1, 2], [7]])
def test_one_hot_rejects_ids_outside_the_vocabulary(bad):
    with pytest.raises(ValueError, match=r"token_ids must lie in \[0, 5\) for a vocabulary of size 5") as err:
        one_hot(np.array(bad), 5)
    outside = [b for b in bad if not 0 <= b < 5]
    assert str(outside) in str(err.value)  # the message names the offending ids


@pytest.mark.parametrize("ids, dtype", [(np.array([0.0, 1.0]), "float64"), (np.array([True, False]), "bool")])
def test_one_hot_rejects_non_integer_ids(ids, dtype):
    with pytest.raises(ValueError, match=f"token_ids must be an integer array, got dtype {dtype}"):
        one_hot(ids, 3)


@pytest.mark.parametrize("vocab_size", [0, -2])
def test_one_hot_rejects_non_positive_vocab_size(vocab_size):
    with pytest.raises(ValueError, match=f"vocab_size must be a positive integer, got {vocab_size}"):
        one_hot(np.array([0]), vocab_size)


# ---------------------------------------------------------------- pad_batch


def test_pad_batch_pads_to_the_longest_sentence():
    ids, mask = pad_batch([[5, 6, 7], [8], [9, 10]])
    np.testing.assert_array_equal(ids, [[5, 6, 7], [8, 0, 0], [9, 10, 0]])
    np.testing.assert_array_equal(mask, [[True, True, True], [True, False, False], [True, True, False]])
    assert ids.dtype == np.int64 and mask.dtype == bool


def test_pad_batch_with_length_and_pad_id():
    ids, mask = pad_batch([np.array([4, 2]), [3]], pad_id=9, length=4)
    np.testing.assert_array_equal(ids, [[4, 2, 9, 9], [3, 9, 9, 9]])
    np.testing.assert_array_equal(mask.sum(1), [2, 1])
    # A length equal to the longest sentence is allowed and means no padding for it.
    ids, mask = pad_batch([[1, 2, 3]], length=3)
    assert ids.shape == (1, 3) and mask.all()


def test_pad_batch_rejects_a_sentence_longer_than_length():
    with pytest.raises(ValueError, match=r"length=2 is shorter than the longest sequence \(3 tokens\)"):
        pad_batch([[1], [1, 2, 3]], length=2)


def test_pad_batch_handles_an_empty_sentence():
    ids, mask = pad_batch([[1, 2], []])
    np.testing.assert_array_equal(ids, [[1, 2], [0, 0]])
    np.testing.assert_array_equal(mask, [[True, True], [False, False]])


def test_pad_batch_rejects_no_sentences_and_float_ids():
    with pytest.raises(ValueError, match="at least one sequence, got 0"):
        pad_batch([])
    with pytest.raises(ValueError, match=r"sequences\[1\] must be an integer array, got dtype float64"):
        pad_batch([[1, 2], [1.5]])


def test_pad_batch_mask_selects_exactly_the_original_ids(rng):
    seqs = [rng.integers(1, 50, size=k) for k in (4, 1, 6, 3)]
    ids, mask = pad_batch(seqs, length=8)
    assert ids.shape == mask.shape == (4, 8)
    for row, seq in enumerate(seqs):
        np.testing.assert_array_equal(ids[row][mask[row]], seq)
        assert (ids[row][~mask[row]] == 0).all()


# ---------------------------------------------------------------- tokenize and Vocabulary


def test_tokenize_lowercases_and_splits_punctuation():
    assert tokenize("The cat, the HAT!") == ["the", "cat", ",", "the", "hat", "!"]
    assert tokenize("") == []


def test_vocabulary_reserves_pad_and_unk_and_keeps_first_appearance_order():
    vocab = Vocabulary(["b", "a", "b", "c"])
    assert vocab.itos == ["<pad>", "<unk>", "b", "a", "c"]
    assert (vocab.pad_id, vocab.unk_id) == (0, 1)
    assert vocab.stoi[Vocabulary.PAD] == vocab.pad_id and vocab.stoi[Vocabulary.UNK] == vocab.unk_id
    assert len(vocab) == 5
    assert repr(vocab) == "Vocabulary(size=5)"
    for i, word in enumerate(vocab.itos):
        assert vocab.stoi[word] == i


def test_vocabulary_encode_decode_roundtrip_and_unknown_words():
    vocab = Vocabulary.from_texts(["The cat sat.", "The dog sat!"])
    assert vocab.itos[2:] == ["the", "cat", "sat", ".", "dog", "!"]
    ids = vocab.encode("the dog sat.")
    assert ids.dtype == np.int64 and ids.shape == (4,)
    np.testing.assert_array_equal(ids, [vocab.stoi[w] for w in ["the", "dog", "sat", "."]])
    assert vocab.decode(ids) == ["the", "dog", "sat", "."]
    unknown = vocab.encode("The zebra sat")
    np.testing.assert_array_equal(unknown, [vocab.stoi["the"], vocab.unk_id, vocab.stoi["sat"]])
    assert vocab.decode(unknown) == ["the", "<unk>", "sat"]
    assert vocab.encode("").shape == (0,)


def test_vocabulary_decode_rejects_bad_ids():
    vocab = Vocabulary(["a", "b"])
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 4\) for a vocabulary of size 4, got \[4\]"):
        vocab.decode([1, 4])
    with pytest.raises(ValueError, match="ids must be an integer array, got dtype float64"):
        vocab.decode(np.array([1.0]))


def test_vocabulary_feeds_pad_batch():
    vocab = Vocabulary.from_texts(["a b c", "a"])
    ids, mask = pad_batch([vocab.encode("a b c"), vocab.encode("c"), vocab.encode("")], pad_id=vocab.pad_id)
    assert ids.shape == (3, 3)
    assert vocab.decode(ids[0]) == ["a", "b", "c"]
    assert vocab.decode(ids[1]) == ["c", "<pad>", "<pad>"]
    assert not mask[2].any()
