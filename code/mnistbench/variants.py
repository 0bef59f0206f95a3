"""Other ways to write the same training loop, kept apart from the main
comparison (which stays the plain, idiomatic code in jax_mlp and torch_mlp).

- ``jax-scan``: a whole epoch inside one compiled function (``lax.scan`` over
  the batches), so Python dispatches once per epoch instead of once per step.
- ``jax-no-donation``: the main JAX step without buffer donation, so every
  update allocates fresh parameter and velocity buffers.
- ``torch-compile``: the model and the optimizer step under ``torch.compile``
  (TorchInductor generates fused kernels).
- ``torch-cudagraphs``: the model under ``torch.compile(mode="reduce-overhead")``,
  which replays its forward and backward as CUDA graphs; the optimizer step is
  compiled separately and is not in the graph (GPU only).

Each variant is a trainer with the same interface as the main ones, so
``experiment.train_and_time`` times them exactly like the main runs.
"""

from __future__ import annotations

import functools
import time

VARIANTS = ("jax-loop", "jax-scan", "jax-no-donation", "torch-eager", "torch-compile", "torch-cudagraphs")
GPU_ONLY = ("torch-cudagraphs",)


def scan_epoch(params, velocity, loss_sum, x_train, y_train_onehot, order, *, n_batches: int, **hyper):
    """Every step of an epoch in one program: ``lax.scan`` carries the state."""
    import jax
    import jax.numpy as jnp

    from .jax_mlp import train_step

    def body(state, step):
        return train_step(*state, x_train, y_train_onehot, order, step, **hyper), None

    state, _ = jax.lax.scan(body, (params, velocity, loss_sum), jnp.arange(n_batches))
    return state


def jax_scan_trainer(config, data, device):
    """A JaxTrainer whose epoch is one call of a jitted ``scan_epoch``."""
    import jax

    from .jax_mlp import JaxTrainer

    class JaxScanTrainer(JaxTrainer):
        def __init__(self):
            super().__init__(config, data, device)
            epoch = functools.partial(scan_epoch, n_batches=self.n_batches, batch_size=config.batch_size,
                                      learning_rate=config.learning_rate, momentum=config.momentum)
            self.epoch_fn = jax.jit(epoch, donate_argnums=(0, 1, 2))

        def _compile(self):
            args = (self.params, self.velocity, self.loss_sum, self.x_train, self.y_train_onehot, self.order)
            t0 = time.perf_counter()
            traced = self.epoch_fn.trace(*args)
            t1 = time.perf_counter()
            lowered = traced.lower()
            t2 = time.perf_counter()
            lowered.compile()
            self.compile_split = {"trace_s": t1 - t0, "lower_s": t2 - t1, "compile_s": time.perf_counter() - t2}

        def run_epoch(self):
            if self.compile_split is None:
                self._compile()
            self.params, self.velocity, self.loss_sum = self.epoch_fn(
                self.params, self.velocity, self.loss_sum, self.x_train, self.y_train_onehot, self.order)

    return JaxScanTrainer()


def torch_compiled_trainer(config, data, device, mode: str | None):
    """A TorchTrainer whose model and optimizer step run under torch.compile."""
    import torch
    import torch.nn.functional as F

    from .torch_mlp import TorchTrainer

    class CompiledTrainer(TorchTrainer):
        def __init__(self):
            super().__init__(config, data, device)
            self.compiled_model = torch.compile(self.model, mode=mode)
            self.compiled_optimizer_step = torch.compile(self.optimizer.step)

        def run_epoch(self):
            size = self.config.batch_size
            for i in range(self.n_batches):
                idx = self.order[i * size:(i + 1) * size]
                self.optimizer.zero_grad(set_to_none=True)
                loss = F.cross_entropy(self.compiled_model(self.x_train[idx]), self.y_train[idx])
                loss.backward()
                self.compiled_optimizer_step()
                self.loss_sum += loss.detach()

    return CompiledTrainer()


MEMORY_FIELDS = ("argument_size_in_bytes", "output_size_in_bytes", "alias_size_in_bytes", "temp_size_in_bytes",
                 "peak_memory_in_bytes")


def compiled_step_memory(trainer) -> dict | None:
    """XLA's static memory analysis of a JAX trainer's compiled step (or scanned
    epoch): argument, output, aliased (donated) and temporary bytes. Call after
    training: lowering again hits the compilation cache. None for PyTorch."""
    if hasattr(trainer, "epoch_fn"):
        function, extra = trainer.epoch_fn, ()
    elif hasattr(trainer, "step") and hasattr(trainer, "order"):
        function, extra = trainer.step, (0,)
    else:
        return None
    args = (trainer.params, trainer.velocity, trainer.loss_sum, trainer.x_train, trainer.y_train_onehot,
            trainer.order, *extra)
    analysis = function.trace(*args).lower().compile().memory_analysis()
    if analysis is None:
        return None
    return {field: int(getattr(analysis, field)) for field in MEMORY_FIELDS if hasattr(analysis, field)}


def make_variant_trainer(name: str, config, data, device: str):
    """The trainer for variant ``name`` (one of VARIANTS)."""
    if name in GPU_ONLY and device != "gpu":
        raise ValueError(f"{name} needs a GPU")
    if name == "jax-loop":
        from .jax_mlp import JaxTrainer

        return JaxTrainer(config, data, device)
    if name == "jax-no-donation":
        from .jax_mlp import JaxTrainer

        return JaxTrainer(config, data, device, donate=False)
    if name == "jax-scan":
        return jax_scan_trainer(config, data, device)
    if name == "torch-eager":
        from .torch_mlp import TorchTrainer

        return TorchTrainer(config, data, device)
    if name == "torch-compile":
        return torch_compiled_trainer(config, data, device, mode=None)
    if name == "torch-cudagraphs":
        return torch_compiled_trainer(config, data, device, mode="reduce-overhead")
    raise ValueError(f"unknown variant {name!r}; choose from {', '.join(VARIANTS)}")
