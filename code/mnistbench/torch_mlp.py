"""The same network in PyTorch, and its trainers at three dispatch granularities.

``nn.Linear`` layers with ReLU, ``F.cross_entropy`` (mean softmax
cross-entropy; integer targets give the same value as one-hot ones), and
``torch.optim.SGD(momentum=m)``, whose rule with the default dampening 0 and
nesterov False is v <- m*v + g, p <- p - lr*v: the rule in ``jax_mlp``.
Starting weights are loaded from the shared NumPy arrays, so both frameworks
begin from the same point.

Trainers, by how often Python dispatches work to the device:
- ``TorchTrainer`` (eager): every operator of the step from Python.
- ``TorchCompiledTrainer`` (compile): the whole step (gather, forward, loss,
  backward, momentum update, loss sum) as one ``torch.compile`` graph.
- ``TorchCudaGraphTrainer`` (cudagraph, cudagraph-epoch; GPU only): one step,
  or every step of an epoch, captured once in a CUDA graph and replayed.
"""

from __future__ import annotations

import functools
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import Config
from .weights import initial_weights

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


def batch_rows(batches: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """Row ``step`` (a device scalar) of the epoch's (n_batches, batch) index table,
    without reading the step on the host (``index_select``, not ``batches[step]``)."""
    return batches.index_select(0, step.view(1)).view(-1)


def whole_step(params: dict, velocity: dict, loss_sum, step, x_train, y_train, batches, *, model: nn.Module,
               learning_rate: float, momentum: float) -> None:
    """One training step as a function of tensors, updating them in place: gather
    batch ``step``, forward, loss, backward (``torch.func``), the momentum update
    (``torch.optim.SGD``'s rule and foreach kernels) and the loss sum."""
    idx = batch_rows(batches, step)
    x, y = x_train[idx], y_train[idx]

    def batch_loss(values):
        return F.cross_entropy(torch.func.functional_call(model, values, (x,)), y)

    grads, loss = torch.func.grad_and_value(batch_loss)(params)
    names = list(params)
    torch._foreach_mul_([velocity[n] for n in names], momentum)
    torch._foreach_add_([velocity[n] for n in names], [grads[n] for n in names])
    torch._foreach_add_([params[n] for n in names], [velocity[n] for n in names], alpha=-learning_rate)
    loss_sum.add_(loss)
    step.add_(1)


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
    """Model, optimizer and data on one device, and the eager epoch loop.

    Mirrors ``jax_mlp.JaxTrainer``: data copied once, the epoch's permutation
    uploaded at its start, steps queued without host round-trips (the loss
    is summed on the device), and ``sync`` waits for the GPU. Batches are
    slices of the device permutation: a view, no copy from the host.
    """

    compile_split: dict[str, float] | None = None

    def __init__(self, config: Config, data, device: str = "cpu"):
        set_matmul_precision(config)
        self.config = config
        self.device = torch_device(device)
        put = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(self.device)
        self.x_train, self.y_train = put(data.x_train), put(data.y_train.astype(np.int64))
        self.eval_sets = {"val": (put(data.x_val), put(data.y_val.astype(np.int64))),
                          "test": (put(data.x_test), put(data.y_test.astype(np.int64)))}
        self.model = build_model(config.layer_sizes).to(self.device)
        load_weights(self.model, initial_weights(config))
        self.optimizer = make_optimizer(self.model, config)
        self.n_train = len(data.x_train)
        self.n_batches = self.n_train // config.batch_size
        self.sync()

    def start_epoch(self, order: np.ndarray) -> None:
        self.order = torch.from_numpy(order.astype(np.int64)).to(self.device)
        self.loss_sum = torch.zeros((), device=self.device)

    def run_epoch(self, max_steps: int | None = None) -> None:
        """Queue the epoch's steps (its first ``max_steps`` only, when given) without waiting."""
        size = self.config.batch_size
        for i in range(min(max_steps or self.n_batches, self.n_batches)):
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

    def record_fields(self) -> dict:
        return {}

    def weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return export_weights(self.model)


class _StepCounterTrainer(TorchTrainer):
    """Trainers whose step reads its batch through a step counter on the device:
    the epoch's permutation sits in a static (n_batches, batch) index table."""

    def __init__(self, config: Config, data, device: str = "cpu"):
        super().__init__(config, data, device)
        self.step_counter = torch.zeros((), dtype=torch.int64, device=self.device)
        self.batches = torch.zeros((self.n_batches, config.batch_size), dtype=torch.int64, device=self.device)
        self.loss_sum = torch.zeros((), device=self.device)

    def start_epoch(self, order: np.ndarray) -> None:
        used = order[:self.n_batches * self.config.batch_size].astype(np.int64)
        self.batches.copy_(torch.from_numpy(used).view(self.n_batches, -1))
        self.loss_sum.zero_()
        self.step_counter.zero_()


class TorchCompiledTrainer(_StepCounterTrainer):
    """The whole step under ``torch.compile(fullgraph=True)``: one graph, or an error.

    The first call compiles (timed apart as ``compile_split["first_call_s"]``,
    the one step it also runs included); Dynamo's counters say whether it ever
    broke the graph or compiled again.
    """

    def __init__(self, config: Config, data, device: str = "cpu"):
        super().__init__(config, data, device)
        self.params = {name: p.detach() for name, p in self.model.named_parameters()}  # shares storage
        self.velocity = {name: torch.zeros_like(p) for name, p in self.params.items()}
        step = functools.partial(whole_step, model=self.model, learning_rate=config.learning_rate,
                                 momentum=config.momentum)
        torch._dynamo.reset()  # as in a fresh process: no graphs, guards or counters of another trainer
        torch._dynamo.utils.counters.clear()
        self.compiled_step = torch.compile(step, fullgraph=True, dynamic=False)  # one static shape, as in XLA

    def _step(self) -> None:
        self.compiled_step(self.params, self.velocity, self.loss_sum, self.step_counter, self.x_train, self.y_train,
                           self.batches)

    def run_epoch(self, max_steps: int | None = None) -> None:
        remaining = min(max_steps or self.n_batches, self.n_batches)
        if self.compile_split is None:
            start = time.perf_counter()
            self._step()
            self.sync()
            self.compile_split = {"first_call_s": time.perf_counter() - start}  # the compile and one step
            remaining -= 1
        for _ in range(remaining):
            self._step()

    def record_fields(self) -> dict:
        counters = torch._dynamo.utils.counters
        graphs = counters["stats"]["unique_graphs"]
        return {"graph_breaks": sum(counters["graph_break"].values()), "graphs": graphs,
                "recompiles": max(0, graphs - 1)}


class TorchCudaGraphTrainer(_StepCounterTrainer):
    """PyTorch's documented whole-network CUDA-graph recipe: warm up on a side
    stream, capture forward, backward and ``optimizer.step()`` once with static
    inputs, replay. One replay runs ``steps_per_replay`` steps (1, or a whole
    epoch); the loss is summed and the step counter advanced inside the graph.
    """

    WARMUP_STEPS = 3

    def __init__(self, config: Config, data, device: str = "gpu", whole_epoch: bool = False):
        if torch_device(device).type != "cuda":
            raise ValueError("CUDA graphs need a GPU")
        super().__init__(config, data, device)
        self.steps_per_replay = self.n_batches if whole_epoch else 1
        self.graph: torch.cuda.CUDAGraph | None = None

    def _graph_steps(self, count: int) -> None:
        for _ in range(count):
            idx = batch_rows(self.batches, self.step_counter)
            loss = F.cross_entropy(self.model(self.x_train[idx]), self.y_train[idx])
            loss.backward()
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.loss_sum.add_(loss.detach())
            self.step_counter.add_(1)

    def _capture(self) -> None:
        """Warm up (then undo the warm-up's updates), capture, and time both."""
        start = time.perf_counter()
        initial = [p.detach().clone() for p in self.model.parameters()]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self._graph_steps(self.WARMUP_STEPS)
        torch.cuda.current_stream().wait_stream(side)
        with torch.no_grad():
            for p, p0 in zip(self.model.parameters(), initial):
                p.copy_(p0)
            for state in self.optimizer.state.values():
                state["momentum_buffer"].zero_()  # m * 0 + g = g: the same as SGD's first step
        self.loss_sum.zero_()
        self.step_counter.zero_()
        self.sync()
        warmed = time.perf_counter()
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self._graph_steps(self.steps_per_replay)
        self.sync()
        self.compile_split = {"warmup_s": warmed - start, "capture_s": time.perf_counter() - warmed}

    def run_epoch(self, max_steps: int | None = None) -> None:
        if self.graph is None:
            self._capture()
        replays = self.n_batches // self.steps_per_replay
        for _ in range(replays if self.steps_per_replay > 1 else min(max_steps or replays, replays)):
            self.graph.replay()

    def record_fields(self) -> dict:
        return {"graph_replays_per_epoch": self.n_batches // self.steps_per_replay,
                "steps_per_replay": self.steps_per_replay}
