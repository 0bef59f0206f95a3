"""The same network in PyTorch: ``jax_mlp``'s twin, with the same names where the concepts match.

``nn.Linear`` layers with ReLU, ``F.cross_entropy`` on one-hot labels (with
class probabilities as targets it is the mean softmax cross-entropy of
``jax_mlp.loss_fn``), and ``torch.optim.SGD(momentum=m)``, whose rule with the
default dampening 0 and nesterov False is v <- m*v + g, p <- p - lr*v: the rule
in ``jax_mlp.momentum_update``. Starting weights are loaded from the shared
NumPy arrays (``weights``), so both frameworks begin from the same point.

Where JAX returns new arrays, PyTorch changes its tensors in place: the model
owns its parameters, ``loss.backward()`` records the forward pass on a tape and
accumulates gradients into each parameter's ``.grad``, and ``optimizer.step()``
updates the parameters and the momentum buffers where they are.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import Config

TORCH_PRECISION = {"float32": "highest", "tf32": "high"}


def build_model(layer_sizes: tuple[int, ...]) -> nn.Sequential:
    """Linear layers with ReLU between them; no activation after the last."""
    layers: list[nn.Module] = []
    for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def load_weights(model: nn.Sequential, weights: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Copy shared (W[in, out], b) arrays into the model (Linear stores W transposed)."""
    linears = [m for m in model if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for layer, (w, b) in zip(linears, weights, strict=True):
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
            layer.bias.copy_(torch.from_numpy(b))


def export_weights(model: nn.Sequential) -> list[tuple[np.ndarray, np.ndarray]]:
    """The model's weights in the shared (W[in, out], b) layout."""
    return [(m.weight.detach().cpu().numpy().T.copy(), m.bias.detach().cpu().numpy().copy())
            for m in model if isinstance(m, nn.Linear)]


def make_optimizer(model: nn.Module, config: Config) -> torch.optim.SGD:
    """SGD with heavy-ball momentum: jax_mlp.momentum_update's rule, applied in place."""
    return torch.optim.SGD(model.parameters(), lr=config.learning_rate, momentum=config.momentum)


def loss_fn(model: nn.Module, x: torch.Tensor, y_onehot: torch.Tensor) -> torch.Tensor:
    """Mean softmax cross-entropy of the model's logits against one-hot labels."""
    return F.cross_entropy(model(x), y_onehot)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
               y_onehot: torch.Tensor) -> torch.Tensor:
    """One step on one batch, in place: clear the gradients, the loss, its backward pass
    over the autograd tape, the momentum update. Returns the (detached) batch loss, still
    on the device."""
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model, x, y_onehot)
    loss.backward()
    optimizer.step()
    return loss.detach()


@torch.inference_mode()
def evaluate(model: nn.Module, x: torch.Tensor, y_onehot: torch.Tensor) -> tuple[float, float]:
    """(mean loss, accuracy) on one-hot labels, as Python floats (jax_mlp.evaluate returns arrays)."""
    logits = model(x)
    loss = F.cross_entropy(logits, y_onehot)
    accuracy = (logits.argmax(dim=1) == y_onehot.argmax(dim=1)).float().mean()
    return float(loss), float(accuracy)


def set_matmul_precision(config: Config) -> None:
    """Pin float32 matmuls to full precision ("highest") or TF32 ("high")."""
    torch.set_float32_matmul_precision(TORCH_PRECISION[config.matmul_precision])
