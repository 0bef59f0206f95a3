"""The same network in PyTorch, written the way a PyTorch user would.

``nn.Linear`` layers with ReLU, ``F.cross_entropy`` (mean softmax
cross-entropy; integer targets give the same value as one-hot ones), and
``torch.optim.SGD(momentum=m)``, whose rule with the default dampening 0 and
nesterov False is v <- m*v + g, p <- p - lr*v: the rule in ``jax_mlp``.
Starting weights are loaded from the shared NumPy arrays, so both frameworks
begin from the same point.
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
    return torch.optim.SGD(model.parameters(), lr=config.learning_rate, momentum=config.momentum)


def train_step(model, optimizer, x_batch, y_batch) -> torch.Tensor:
    """One SGD step; returns the (detached) batch loss, still on the device."""
    optimizer.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x_batch), y_batch)
    loss.backward()
    optimizer.step()
    return loss.detach()


@torch.inference_mode()
def evaluate(model, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean loss, accuracy) on integer labels ``y``."""
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    accuracy = (logits.argmax(dim=1) == y).float().mean()
    return float(loss), float(accuracy)


def set_matmul_precision(config: Config) -> None:
    """Pin float32 matmuls to full precision ("highest") or TF32 ("high")."""
    torch.set_float32_matmul_precision(TORCH_PRECISION[config.matmul_precision])


def torch_device(device: str) -> torch.device:
    return torch.device("cuda" if device == "gpu" else "cpu")


class TorchTrainer:
    """Model, optimizer and data on one device, and the epoch loop.

    Mirrors ``jax_mlp.JaxTrainer``: data copied once, the epoch's permutation
    uploaded at its start, steps queued without host round-trips (the loss
    is summed on the device), and ``sync`` waits for the GPU.
    """

    def __init__(self, config: Config, data, device: str = "cpu", weights=None):
        from .jax_mlp import initial_weights  # the shared starting point

        set_matmul_precision(config)
        self.config = config
        self.device = torch_device(device)
        put = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(self.device)
        self.x_train, self.y_train = put(data.x_train), put(data.y_train.astype(np.int64))
        self.eval_sets = {"val": (put(data.x_val), put(data.y_val.astype(np.int64))),
                          "test": (put(data.x_test), put(data.y_test.astype(np.int64)))}
        self.model = build_model(config.layer_sizes).to(self.device)
        load_weights(self.model, weights if weights is not None else initial_weights(config))
        self.optimizer = make_optimizer(self.model, config)
        self.n_train = len(data.x_train)
        self.n_batches = self.n_train // config.batch_size
        self.sync()

    def start_epoch(self, order: np.ndarray) -> None:
        self.order = torch.from_numpy(order.astype(np.int64)).to(self.device)
        self.loss_sum = torch.zeros((), device=self.device)

    def run_epoch(self) -> None:
        size = self.config.batch_size
        for i in range(self.n_batches):
            idx = self.order[i * size:(i + 1) * size]
            self.loss_sum += train_step(self.model, self.optimizer, self.x_train[idx], self.y_train[idx])

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def epoch_loss(self) -> float:
        return float(self.loss_sum) / self.n_batches

    def evaluate(self, split: str) -> tuple[float, float]:
        return evaluate(self.model, *self.eval_sets[split])

    def peak_memory_bytes(self) -> int | None:
        return int(torch.cuda.max_memory_allocated()) if self.device.type == "cuda" else None

    def weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return export_weights(self.model)
