"""The tested NumPy implementation of a Transformer encoder, grown stage by stage in the notebooks.

Stage -> module:
  01 tokens -> one-hot             helpers.tokens
  02-03 embeddings, positions      helpers.embeddings
  04-05 attention, multi-head      helpers.attention
  06-07 layer norm, feed-forward   helpers.layers
  08-09 block, stack               helpers.encoder
  PyTorch weights in and out       helpers.interop
  pictures                         helpers.plotting   (imports matplotlib; loaded on first use)
  PyTorch reference answers        helpers.reference  (safetensors fixtures; no torch needed)
  .safetensors files in NumPy      helpers.safetensors_numpy (no pickle; bfloat16 upcast to float32)
  10 pretrained MiniLM             helpers.pretrained, helpers.wordpiece (loaded on first use)
  11-12 backward pass, grad checks helpers.backward, helpers.gradcheck
"""

import importlib

from . import attention, backward, embeddings, encoder, gradcheck, interop, layers, tokens
from .attention import (
    AttentionParams,
    merge_heads,
    multi_head_attention,
    scaled_dot_product_attention,
    softmax,
    split_heads,
)
from .embeddings import embed, encoder_input, sinusoidal_positional_encoding
from .encoder import (
    EncoderBlockParams,
    count_parameters,
    encoder_block,
    encoder_stack,
    init_encoder_block,
    init_encoder_stack,
)
from .interop import from_torch_encoder, from_torch_encoder_layer, to_torch_encoder_layer
from .layers import FeedForwardParams, LayerNormParams, feed_forward, gelu, layer_norm, relu
from .tokens import Vocabulary, one_hot, pad_batch

__version__ = "0.1.0"

_LAZY = {"plotting", "pretrained", "reference", "wordpiece"}


def __getattr__(name):
    # matplotlib (plotting) and the pretrained loader cost time to import: load them on first use.
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'helpers' has no attribute {name!r}")
