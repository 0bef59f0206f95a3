"""The registry: every way this project writes the training loop, by framework and name.

Variants are grouped by how often Python dispatches work to the device, so
the comparison can be made at equal granularity:

| dispatches per step | JAX                         | PyTorch                            |
|---------------------|-----------------------------|------------------------------------|
| one per operation   | ``eager`` (no ``jit``)       | ``eager`` (the default)            |
| one per step        | ``jit`` (the default),      | ``compile`` (whole step, one graph)|
|                     | ``jit-no-donation``         | ``cudagraph`` (GPU only)           |
| one per epoch       | ``scan`` (``lax.scan``)     | ``cudagraph-epoch`` (GPU only)     |

Every variant starts from the same weights, sees the same batches and
applies the same loss and momentum rule; the tests hold each to its
framework's default with the tolerances in ``networks.equivalence``.
"""

from __future__ import annotations

import dataclasses
import importlib

from ..errors import UserError

GRANULARITIES = ("operation", "step", "epoch")  # Python dispatches: one per operation, step or epoch
DEFAULT_VARIANT = {"jax": "jit", "torch": "eager"}
FRAMEWORKS = tuple(DEFAULT_VARIANT)


@dataclasses.dataclass(frozen=True)
class Variant:
    """One way to write the training loop: a trainer class of ``jax_trainers`` or
    ``torch_trainers`` and the keyword options it is built with."""

    framework: str
    name: str
    granularity: str  # one of GRANULARITIES
    trainer: str  # "module.Class" in this package's bench folder
    summary: str
    options: tuple[tuple[str, object], ...] = ()  # keyword options of the trainer, as (name, value) pairs
    needs_gpu: bool = False
    compiles: bool = False  # its first epoch compiles (or captures) the whole step or epoch first

    @property
    def key(self) -> str:
        return f"{self.framework}-{self.name}"

    @property
    def is_default(self) -> bool:
        return DEFAULT_VARIANT[self.framework] == self.name

    def build(self, config, data, device: str):
        """The trainer, imported only now: a JAX run never imports PyTorch's trainers, nor the reverse."""
        module, cls = self.trainer.split(".")
        trainers = importlib.import_module(f"{__package__}.{module}")
        return getattr(trainers, cls)(config, data, device, **dict(self.options))


REGISTRY: dict[str, Variant] = {v.key: v for v in (
    Variant("jax", "eager", "operation", "jax_trainers.JaxTrainer",
            "the same step without jit: every operation dispatched (and compiled) on its own",
            options=(("jit", False),)),
    Variant("jax", "jit", "step", "jax_trainers.JaxTrainer",
            "the step under jax.jit, state donated: one XLA program per step", compiles=True),
    Variant("jax", "jit-no-donation", "step", "jax_trainers.JaxTrainer",
            "the jitted step without buffer donation: every update allocates new buffers",
            options=(("donate", False),), compiles=True),
    Variant("jax", "scan", "epoch", "jax_trainers.JaxScanTrainer",
            "every step of an epoch in one XLA program (lax.scan)", compiles=True),
    Variant("torch", "eager", "operation", "torch_trainers.TorchTrainer",
            "nn.Module, loss.backward() and torch.optim.SGD, operator by operator"),
    Variant("torch", "compile", "step", "torch_trainers.TorchCompiledTrainer",
            "the whole step (gather to loss sum) in one torch.compile graph, fullgraph=True", compiles=True),
    Variant("torch", "cudagraph", "step", "torch_trainers.TorchCudaGraphTrainer",
            "the whole step captured once in a CUDA graph and replayed each step", needs_gpu=True, compiles=True),
    Variant("torch", "cudagraph-epoch", "epoch", "torch_trainers.TorchCudaGraphTrainer",
            "every step of an epoch captured in one CUDA graph, replayed once per epoch",
            options=(("whole_epoch", True),), needs_gpu=True, compiles=True),
)}


def get(framework: str, name: str | None = None) -> Variant:
    """The variant ``name`` of ``framework`` (its default when None); a UserError names the choices."""
    name = name or DEFAULT_VARIANT[framework]
    key = f"{framework}-{name}"
    if key not in REGISTRY:
        raise UserError(f"{framework} has no variant {name!r}; choose from {', '.join(names(framework))}")
    return REGISTRY[key]


def names(framework: str) -> list[str]:
    return [v.name for v in REGISTRY.values() if v.framework == framework]


def all_names() -> list[str]:
    return sorted({v.name for v in REGISTRY.values()})


def for_device(device: str, frameworks=("jax", "torch")) -> list[Variant]:
    """The variants that run on ``device`` ('cpu' or 'gpu')."""
    return [v for v in REGISTRY.values() if v.framework in frameworks and (device == "gpu" or not v.needs_gpu)]


def check_runs_on(variant: Variant, device: str) -> None:
    if variant.needs_gpu and device != "gpu":
        raise UserError(f"{variant.framework} variant {variant.name!r} needs a GPU (CUDA graphs)")


def resolve_names(requested: list[str] | None, frameworks, device: str) -> list[str] | None:
    """The variant names a grid runs: None (each framework's default), 'all' (every
    variant ``device`` supports), or names that some framework has and ``device`` runs."""
    if requested is None:
        return None
    if requested == ["all"]:
        return sorted({v.name for v in for_device(device, frameworks)})
    for name in requested:
        matching = [v for v in REGISTRY.values() if v.name == name and v.framework in frameworks]
        if not matching:
            choices = sorted({v.name for v in REGISTRY.values() if v.framework in frameworks})
            raise UserError(f"no framework of {', '.join(frameworks)} has a variant {name!r}; choose from "
                            f"{', '.join(choices)}")
        for variant in matching:
            check_runs_on(variant, device)
    return requested
