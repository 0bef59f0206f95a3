"""The PyTorch network's trainers, by how often Python dispatches work to the device:

- ``TorchTrainer`` (eager): every operator of ``networks.torch_mlp.train_step`` from Python.
- ``TorchCompiledTrainer`` (compile): the whole step (gather, forward, loss,
  backward, momentum update, loss sum) as one ``torch.compile`` graph.
- ``TorchCudaGraphTrainer`` (cudagraph, cudagraph-epoch; GPU only): ``train_step``
  for one step, or for every step of an epoch, captured once in a CUDA graph and replayed.

Each mirrors ``jax_trainers.JaxTrainer``: data copied once, the epoch's
permutation uploaded at its start, steps queued without host round-trips (the
loss is summed on the device), and ``sync`` waits for the GPU.
"""

from __future__ import annotations

import functools
import time

import numpy as np
import torch
from torch import nn

from ..devices import torch_device_type
from ..networks import torch_mlp
from ..networks.config import Config
from ..networks.weights import initial_weights
from .trainer import steps_to_run


class _TorchRun:
    """The model, the data and the epoch's bookkeeping on one device (no optimizer: the
    compiled trainer updates its parameters itself)."""

    compile_split: dict[str, float] | None = None

    def __init__(self, config: Config, data, device: str = "cpu"):
        torch_mlp.set_matmul_precision(config)
        self.config = config
        self.device = torch.device(torch_device_type(device))
        put = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(self.device)
        self.x_train, self.y_train_onehot = put(data.x_train), put(data.y_train_onehot)
        self.eval_sets = {"val": (put(data.x_val), put(data.y_val_onehot)),
                          "test": (put(data.x_test), put(data.y_test_onehot))}
        self.model = torch_mlp.build_model(config.layer_sizes).to(self.device)
        torch_mlp.load_weights(self.model, initial_weights(config))
        self.n_train = len(data.x_train)
        self.n_batches = self.n_train // config.batch_size
        self.loss_sum = torch.zeros((), device=self.device)
        self.steps_taken = 0

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def epoch_loss(self) -> float:
        """The mean batch loss of the steps run since ``start_epoch``."""
        return float(self.loss_sum) / self.steps_taken

    def evaluate(self, split: str) -> tuple[float, float]:
        return torch_mlp.evaluate(self.model, *self.eval_sets[split])

    def reset_peak_memory(self) -> bool:
        """Start this run's own peak (PyTorch's can be reset: a session's later runs have theirs)."""
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        return True

    def peak_memory_bytes(self) -> int | None:
        return int(torch.cuda.max_memory_allocated()) if self.device.type == "cuda" else None

    def record_fields(self) -> dict:
        return {}

    def weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return torch_mlp.export_weights(self.model)


class TorchTrainer(_TorchRun):
    """The eager epoch loop: batches are slices of the device permutation (a view, no
    copy from the host), each step ``torch_mlp.train_step`` operator by operator."""

    def __init__(self, config: Config, data, device: str = "cpu"):
        super().__init__(config, data, device)
        self.optimizer = torch_mlp.make_optimizer(self.model, config)
        self.sync()

    def start_epoch(self, order: np.ndarray) -> None:
        self.order = torch.from_numpy(order.astype(np.int64)).to(self.device)
        self.loss_sum = torch.zeros((), device=self.device)
        self.steps_taken = 0

    def run_epoch(self, max_steps: int | None = None) -> None:
        """Queue the epoch's next steps (all that are left, or ``max_steps``) without waiting."""
        size, first = self.config.batch_size, self.steps_taken
        steps = steps_to_run(first, self.n_batches, max_steps)
        for i in range(first, first + steps):
            idx = self.order[i * size:(i + 1) * size]
            self.loss_sum += torch_mlp.train_step(self.model, self.optimizer, self.x_train[idx],
                                                  self.y_train_onehot[idx])
        self.steps_taken += steps


def batch_rows(batches: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """Row ``step`` (a device scalar) of the epoch's (n_batches, batch) index table,
    without reading the step on the host (``index_select``, not ``batches[step]``)."""
    return batches.index_select(0, step.view(1)).view(-1)


class _StepCounterTrainer(_TorchRun):
    """Trainers whose step reads its batch through a step counter on the device:
    the epoch's permutation sits in a static (n_batches, batch) index table."""

    def __init__(self, config: Config, data, device: str = "cpu"):
        super().__init__(config, data, device)
        self.step_counter = torch.zeros((), dtype=torch.int64, device=self.device)
        self.batches = torch.zeros((self.n_batches, config.batch_size), dtype=torch.int64, device=self.device)

    def start_epoch(self, order: np.ndarray) -> None:
        used = order[:self.n_batches * self.config.batch_size].astype(np.int64)
        self.batches.copy_(torch.from_numpy(used).view(self.n_batches, -1))
        self.loss_sum.zero_()
        self.step_counter.zero_()
        self.steps_taken = 0


def whole_step(params: dict, velocity: dict, loss_sum, step, x_train, y_train_onehot, batches, *, model: nn.Module,
               learning_rate: float, momentum: float) -> None:
    """One training step as a function of tensors, updating them in place, for
    ``torch.compile(fullgraph=True)`` (which cannot trace ``loss.backward()``): gather
    batch ``step``, ``torch_mlp.loss_fn`` and its gradient (``torch.func``), the momentum
    update (``torch.optim.SGD``'s rule with its foreach kernels) and the loss sum."""
    idx = batch_rows(batches, step)
    x, y = x_train[idx], y_train_onehot[idx]

    def batch_loss(values):
        return torch_mlp.loss_fn(lambda inputs: torch.func.functional_call(model, values, (inputs,)), x, y)

    grads, loss = torch.func.grad_and_value(batch_loss)(params)
    names = list(params)
    torch._foreach_mul_([velocity[n] for n in names], momentum)
    torch._foreach_add_([velocity[n] for n in names], [grads[n] for n in names])
    torch._foreach_add_([params[n] for n in names], [velocity[n] for n in names], alpha=-learning_rate)
    loss_sum.add_(loss)
    step.add_(1)


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
        self.sync()

    def _step(self) -> None:
        self.compiled_step(self.params, self.velocity, self.loss_sum, self.step_counter, self.x_train,
                           self.y_train_onehot, self.batches)

    def run_epoch(self, max_steps: int | None = None) -> None:
        steps = steps_to_run(self.steps_taken, self.n_batches, max_steps)
        self.steps_taken += steps
        if self.compile_split is None:
            start = time.perf_counter()
            self._step()
            self.sync()
            self.compile_split = {"first_call_s": time.perf_counter() - start}  # the compile and one step
            steps -= 1
        for _ in range(steps):
            self._step()

    def record_fields(self) -> dict:
        counters = torch._dynamo.utils.counters
        graphs = counters["stats"]["unique_graphs"]
        return {"graph_breaks": sum(counters["graph_break"].values()), "graphs": graphs,
                "recompiles": max(0, graphs - 1)}


class TorchCudaGraphTrainer(_StepCounterTrainer):
    """PyTorch's documented whole-network CUDA-graph recipe: warm up on a side
    stream, capture ``torch_mlp.train_step`` (forward, backward and
    ``optimizer.step()``) once with static inputs, replay. One replay runs
    ``steps_per_replay`` steps (1, or a whole epoch); the loss is summed and the
    step counter advanced inside the graph.
    """

    WARMUP_STEPS = 3

    def __init__(self, config: Config, data, device: str = "gpu", whole_epoch: bool = False):
        if device != "gpu":
            raise ValueError("CUDA graphs need a GPU")
        super().__init__(config, data, device)
        self.optimizer = torch_mlp.make_optimizer(self.model, config)
        self.steps_per_replay = self.n_batches if whole_epoch else 1
        self.graph: torch.cuda.CUDAGraph | None = None
        self.sync()

    def _graph_steps(self, count: int) -> None:
        for _ in range(count):
            idx = batch_rows(self.batches, self.step_counter)
            self.loss_sum.add_(torch_mlp.train_step(self.model, self.optimizer, self.x_train[idx],
                                                    self.y_train_onehot[idx]))
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
        steps = steps_to_run(self.steps_taken, self.n_batches, max_steps)
        if self.steps_per_replay > 1:  # one replay is the whole epoch: max_steps cannot cut it
            steps = self.n_batches
        if self.graph is None:
            self._capture()
        for _ in range(steps // self.steps_per_replay):
            self.graph.replay()
        self.steps_taken += steps

    def record_fields(self) -> dict:
        return {"graph_replays_per_epoch": self.n_batches // self.steps_per_replay,
                "steps_per_replay": self.steps_per_replay}
