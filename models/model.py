"""The selector network: a small transformer encoder over a window of features.

Input: ``x[B, L, F]`` (the last ``L`` minutes of ``F`` scale-free, standardized
features) and ``regime[B]`` (codes of ``engine.snapshot.REGIMES``, -1 unknown).
Output: ``K`` logits, one per selectable indicator; ``sigmoid`` of a logit is
the indicator's weight, the model's estimate that its directional reading will
be right (and worth the costs) over the next ``horizon`` minutes.

Why patch means plus the last minute: the cost of a window is dominated by
projecting ``F`` features into the model, once per token. Averaging each run of
``patch`` minutes into one token (120 minutes -> 12 tokens) keeps the shape of
the whole window visible at a tenth of the cost, and the last minute enters
unaveraged as its own token, because a directional reading is decided by where
the close sits *now*. On Linux ``engine.blas`` gives MLX an optimized BLAS
(MKL); with the reference BLAS the ``mlx[cpu]`` wheel bundles (its fallback) a
product is 20-40x slower, so every FLOP counts there.

The seeds' prior (session AVWAP 0.9, day AVWAP 0.8) enters as the initial
output bias ``logit(prior)``; it is a starting point the data may overrule,
never a label.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, cast

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_REGIMES = 5  # engine.snapshot.REGIMES plus "unknown" (-1)

# exp(x) = 2**n * e**r, |r| <= ln2/2: Cody-Waite reduction and Cephes' expf polynomial
_LOG2E, _LN2_HI, _LN2_LO = 1.4426950408889634, 0.693359375, -2.12194440e-4
_EXP_POLY = (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
             1.6666665459e-1, 5.0000001201e-1)


def _exp_poly(x: mx.array) -> mx.array:
    x = mx.clip(x, -87.3, 88.3)
    n = mx.floor(x * _LOG2E + 0.5)
    r = x - n * _LN2_HI - n * _LN2_LO
    poly = mx.full(r.shape, _EXP_POLY[0], dtype=r.dtype)
    for c in _EXP_POLY[1:]:
        poly = poly * r + c
    two_n = mx.view(mx.left_shift(n.astype(mx.int32) + 127, 23), mx.float32)
    return (poly * r * r + r + 1.0) * two_n


_exp_fn = mx.custom_function(_exp_poly)


@_exp_fn.vjp
def _exp_vjp(primals: mx.array, cotangent: mx.array, output: mx.array) -> mx.array:
    return cotangent * output  # d exp(x) = exp(x) dx


def fast_exp(x: mx.array) -> mx.array:
    """``exp`` for float32 within 1e-7 relative, from arithmetic MLX's CPU does quickly.

    Why: ``mx.exp`` on the Linux CPU backend costs ~60 ns an element (100x NumPy's)
    and was the largest single cost of the selector's forward (the attention's
    softmax). Inputs are clipped to [-87.3, 88.3] (the float32
    range of the result); its gradient is its value.
    """
    return cast(mx.array, _exp_fn(x))


def fast_attention(att: nn.MultiHeadAttention, x: mx.array) -> mx.array:
    """``att(x, x, x)`` with the softmax written out on ``fast_exp`` (same parameters).

    On the Linux CPU backend MLX's fused attention spends most of its time in
    ``exp`` (``SelectorModel.encode``)."""
    h = att.num_heads
    q = mx.unflatten(att.query_proj(x), -1, (h, -1)).transpose(0, 2, 1, 3)
    k = mx.unflatten(att.key_proj(x), -1, (h, -1)).transpose(0, 2, 3, 1)
    v = mx.unflatten(att.value_proj(x), -1, (h, -1)).transpose(0, 2, 1, 3)
    s = (q * math.sqrt(1 / q.shape[-1])) @ k
    e = fast_exp(s - s.max(axis=-1, keepdims=True))
    p = e / e.sum(axis=-1, keepdims=True)
    return att.out_proj((p @ v).transpose(0, 2, 1, 3).flatten(-2, -1))


@dataclass
class ModelArgs:
    """Architecture (stored in ``config.json``; ``from_dict`` ignores unknown keys)."""

    n_features: int
    n_outputs: int
    lookback: int = 120
    patch: int = 10
    dims: int = 32
    heads: int = 4
    layers: int = 2
    mlp_dims: int = 64
    dropout: float = 0.0
    prior: list[float] = field(default_factory=list)  # initial weight per output (len K)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelArgs:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def tokens(self) -> int:
        """Patch-mean tokens (the last-minute token comes on top)."""
        return max(1, self.lookback // self.patch)


def logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


class SelectorModel(nn.Module):
    """Patch-mean and last-minute tokens, positional and regime embeddings, encoder, head."""

    def __init__(self, args: ModelArgs) -> None:
        super().__init__()
        self.args = args
        self.embed = nn.Linear(args.n_features, args.dims)
        self.pos = nn.Embedding(args.tokens + 1, args.dims)
        self.regime = nn.Embedding(N_REGIMES, args.dims)
        self.encoder = nn.TransformerEncoder(args.layers, args.dims, args.heads,
                                             args.mlp_dims, dropout=args.dropout)
        self.head = nn.Linear(2 * args.dims, args.n_outputs)
        prior = args.prior or [0.5] * args.n_outputs
        if len(prior) != args.n_outputs:
            raise ValueError(f"prior has {len(prior)} entries for {args.n_outputs} outputs")
        # small initial head weights: the prior, not noise, decides the first picks
        self.head.weight = self.head.weight * 0.1
        self.head.bias = mx.array([logit(p) for p in prior], dtype=mx.float32)

    def __call__(self, x: mx.array, regime: mx.array) -> mx.array:
        """Logits ``[B, K]`` for windows ``x[B, L, F]`` (the last ``tokens*patch`` minutes)."""
        return self.from_tokens(self.tokens_of(x), regime)

    def tokens_of(self, x: mx.array) -> mx.array:
        """``[B, tokens + 1, F]``: the patch means of the window, then its last minute.

        Split from ``from_tokens`` so the live selector, which keeps the patch sums
        of every symbol's window up to date minute by minute, skips reading whole
        windows (``models.live``)."""
        a = self.args
        b = x.shape[0]
        n = a.tokens * a.patch
        body = x[:, x.shape[1] - n:, :].reshape(b, a.tokens, a.patch, a.n_features).mean(axis=2)
        return mx.concatenate([body, x[:, -1:, :]], axis=1)

    def from_tokens(self, seq: mx.array, regime: mx.array) -> mx.array:
        """Logits ``[B, K]`` for tokens ``seq[B, tokens + 1, F]`` (``tokens_of``)."""
        h = self.embed(seq) + self.pos.weight[None]
        h = h + self.regime(mx.clip(regime + 1, 0, N_REGIMES - 1))[:, None, :]
        h = self.encode(h)
        pooled = mx.concatenate([h[:, -1, :], mx.mean(h, axis=1)], axis=-1)
        return self.head(pooled)


    def encode(self, h: mx.array) -> mx.array:
        """``self.encoder(h, None)`` (MLX's pre-norm ``TransformerEncoder``, its
        layers and dropout as they are) with ``fast_attention`` for the attention."""
        for layer in self.encoder.layers:
            h = h + layer.dropout1(fast_attention(layer.attention, layer.ln1(h)))
            y = layer.dropout2(layer.activation(layer.linear1(layer.ln2(h))))
            h = h + layer.linear2(y)
        out: mx.array = self.encoder.ln(h)
        return out


def loss_fn(model: SelectorModel, x: mx.array, regime: mx.array, y: mx.array) -> mx.array:
    """Mean binary cross-entropy over the batch and the K outputs."""
    return mx.mean(nn.losses.binary_cross_entropy(model(x, regime), y, with_logits=True))


def make_optimizer(lr: float, weight_decay: float = 1e-4) -> optim.Optimizer:
    return optim.AdamW(learning_rate=lr, weight_decay=weight_decay)


StepFn = Callable[[mx.array, mx.array, mx.array], mx.array]


def make_train_step(model: SelectorModel, opt: optim.Optimizer,
                    group: mx.distributed.Group | None = None) -> StepFn:
    """One compiled step: loss, gradients, (all-reduce,) optimizer update.

    The model's and the optimizer's state are the compiled function's implicit
    inputs and outputs, so the whole update is one graph; the caller runs
    ``mx.eval(state)`` once per step. With a distributed group of size N each
    process passes its own shard of the global batch and the gradients are
    averaged with ``nn.average_gradients`` (one all-reduce of the packed
    gradients): equal shards make that exactly the gradient of the mean loss
    over the global batch.
    """
    state = [model.state, opt.state]
    value_and_grad = nn.value_and_grad(model, loss_fn)
    size = group.size() if group is not None else 1

    def step(x: mx.array, regime: mx.array, y: mx.array) -> mx.array:
        loss, grads = value_and_grad(model, x, regime, y)
        if size > 1:
            grads = nn.average_gradients(grads, group)
            loss = mx.distributed.all_sum(loss, group=group) / size
        opt.update(model, grads)
        return loss

    compiled: StepFn = mx.compile(step, inputs=state, outputs=state)
    return compiled


def predict(model: SelectorModel, x: mx.array, regime: mx.array) -> mx.array:
    """Weights ``[B, K]`` in (0, 1)."""
    return mx.sigmoid(model(x, regime))
