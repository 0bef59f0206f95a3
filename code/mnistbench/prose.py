"""The report's sentences that depend on what was measured.

Each function takes ``report.facts`` and returns Markdown text: the sentence
with its numbers when they were measured, a shorter one (or "not measured
yet") when they were not, so a report rendered from any results folder (a CPU
study, a GPU campaign cut short by its budget) never prints "n/a". Nothing here
computes a number; the words that depend on the data are chosen from facts.
"""

from __future__ import annotations

from .formatting import fmt_pct


def platform(f: dict) -> str:
    if f["device_kind"] == "GPU":
        return (f"{f['device_name']} (GPU, driver {f['driver']}), host CPU {f['cpu']}; Python {f['python']}, "
                f"JAX {f['jax']} ({f['jax_cuda']}), PyTorch {f['torch']} (CUDA {f['cuda']})")
    return f"{f['device_name']} (CPU); Python {f['python']}, JAX {f['jax']}, PyTorch {f['torch']}"


def fusion(f: dict) -> str:
    if "hlo_ops_before" not in f:
        return ""
    text = (f"On the {f['fusion_device']}, XLA rewrote the step's {f['hlo_ops_before']} HLO operations (calls "
            f"inlined; {f['hlo_shape_ops']} broadcasts, reshapes and transposes) into {f['xla_ops_after']} top-level "
            f"operations, {f['xla_fusions']} of them fusions.")
    if "calls_torch_eager" in f:
        text += (" Besides fusing, jit changes how often the loop calls into the framework: PyTorch eager "
                 f"dispatches {f['calls_torch_eager']} top-level operators per step (the backward's from its "
                 "autograd engine), the jitted step is one call.")
    return text


def fair(f: dict) -> str:
    """The comparison at equal granularity."""
    if "fair_device" not in f:
        return ("No variant beyond the two defaults has been measured yet; "
                "*python -m mnistbench campaign* measures them.")
    sentences = []
    if "fair_framework_op_small" in f:
        sentences.append(f"At one call per operation, JAX eager was {f['fair_framework_op_small']} than PyTorch "
                         f"eager at batch {f['fair_small']}")
    if "fair_framework_step_small" in f:
        graph = (f", and {f['fair_framework_graph_small']} than its CUDA graph"
                 if "fair_framework_graph_small" in f else "")
        sentences.append(f"at one call per step, JAX's jitted step was {f['fair_framework_step_small']} than "
                         "PyTorch's whole step under torch.compile [@ansel2024] (fullgraph=True, no graph break)"
                         + graph)
    text = "; ".join(sentences) + "." if sentences else ""
    if "fair_headline_ratio_small" in f:
        text += (f" On the {f['fair_device']}, the headline's ratio (PyTorch eager over JAX jit) is "
                 f"{f['fair_headline_ratio_small']}: going from operator to step granularity (PyTorch "
                 f"{f['fair_torch_step_small']}) accounts for a factor {f['fair_granularity_part_small']} of it "
                 f"and the framework at equal granularity for {f['fair_framework_part_small']} (at batch "
                 f"{f['fair_large']}: {f['fair_granularity_part_large']} and {f['fair_framework_part_large']}).")
        if not f["fair_on_main_device"] and "main_headline_ratio" in f:
            text += (f" On the {f['main_device']} the same ratio is {f['main_headline_ratio']} (@tbl-results); "
                     "how it splits there needs the variants measured on that device.")
    if "fair_jax_epoch_small" in f:
        text += f" One call per epoch (lax.scan) made JAX's epoch {f['fair_jax_epoch_small']} than the jitted loop."
    return text.strip()


def compile_overhead(f: dict) -> str:
    text = (f"JAX's first epoch at batch {f['batch_small']} took {f['jax_first_small']} against a steady "
            f"{f['jax_steady_small']}; the measured compilation ({f['jax_compile_min']} to {f['jax_compile_max']} "
            f"over all JAX runs) explains at least {f['compile_share_min']} of that excess in every run. Tracing "
            f"and lowering took at most {f['trace_lower_max']}; XLA's optimization and code generation take the rest")
    if "tf32_compile" in f:
        text += (f", and depend on the matmul precision: with TF32 (seed {f['tf32_seeds']}) the step compiled in "
                 f"{f['tf32_compile']}, against {f['tf32_vs_f32_compile']} in float32")
    text += "."
    if f["device_kind"] == "GPU":
        measured = f.get("autotune_off")
        text += (" With XLA's autotuning of GPU kernels switched off the step compiled in "
                 + ", ".join(f"{off} instead of {cold} at batch {b}" for b, off, cold in measured) + "."
                 if measured else " How much of the rest is XLA autotuning its GPU kernels has not been measured "
                 "on this GPU yet.")
    text += (f" JAX compiles evaluate in the first validation ({f['jax_eval_first_min']} to "
             f"{f['jax_eval_first_max']}), outside the timed epoch but not the user's wait; PyTorch eager compiles "
             f"nothing, and its first epoch {f['torch_first_vs_steady']}.")
    if "jax_step_cold_64" in f and "jax_step_warm_64" in f:
        text += (f" A persistent compilation cache serves a second process: on the {f['compile_device']} the "
                 f"jitted step (batch 64) compiled in {f['jax_step_cold_64']} cold and {f['jax_step_warm_64']} warm")
        if "torch_compile_step_cold_64" in f:
            text += (f", torch.compile's first call took {f['torch_compile_step_cold_64']} and "
                     f"{f['torch_compile_step_warm_64']}")
        changes = f.get("break_even_changes", [])
        if changes:
            text += ", and JAX's break-even with PyTorch eager " + join(
                [f"{moved(cold, warm)} at batch {b}" for b, cold, warm in changes])
        text += "."
    return text


def moved(cold: str, warm: str) -> str:
    """A break-even's change from a cold to a warm cache, as words."""
    if cold == warm:
        return {"epoch": f"stayed at {cold}", "never": "never came"}.get(cold.split()[0], f"stayed {short(cold)}")
    return f"moved from {short(cold)} to {short(warm)}"


def short(break_even: str) -> str:
    """A break-even without its explanation: 'epoch 23', 'never', 'beyond 1000 epochs'."""
    return break_even.split(" (")[0].replace("not within", "beyond")


def per_step(f: dict) -> str:
    host_bound = f["torch_step_growth_value"] < 2  # far less than the samples' growth: a fixed cost dominates
    text = (f"From batch {f['batch_small']} to {f['batch_large']} ({f['batch_growth']} the samples) a PyTorch "
            f"eager step took {f['torch_step_growth']} as long, a JAX step {f['jax_step_growth']} (@fig-overview d): "
            + ("consistent with a PyTorch step bound by the host issuing its operator calls rather than by the "
               "device" if host_bound else "the PyTorch step grows with its arithmetic"))
    if "overhead_where" in f:
        text += f" (host and device time per step: supplement, on {f['overhead_where']})"
    return text + "."


def donation(f: dict) -> str:
    if "donated_steady" not in f:
        return "The step without donation (the jit-no-donation variant) has not been measured yet."
    return (f"On the {f['donation_device']} ({f['donation_seeds']} seeds, batch {f['donation_batch']}), the step "
            f"without donation had a steady epoch of {f['no_donation_steady']} against {f['donated_steady']} "
            f"({f['no_donation_vs_donated']}), {f['donation_in_spread']} the donated step's epoch-to-epoch range "
            f"({f['donated_epoch_min']} to {f['donated_epoch_max']}). What donation saves is memory: XLA aliases "
            f"{f['donation_aliased']} of outputs to inputs, and the compiled step's peak is {f['donated_step_peak']} "
            f"against {f['copied_step_peak']}.")


def amortization(f: dict) -> str:
    reached = [f"from {text} at batch {b}" if text.startswith("epoch") else
               f"{short(text)} at batch {b}" + (" (its steady epoch is not faster)" if text.startswith("never") else "")
               for b, text in f["break_evens"]]
    return (f"Larger batches mean fewer steps per epoch, so fixed costs shrink: at batch {f['batch_large']} JAX "
            f"reached {f['jax_peak_frac_large']} of the measured matmul peak, PyTorch {f['torch_peak_frac_large']}. "
            "But the gap per epoch shrinks with it while the compile cost remains, so JAX's *total* time falls "
            f"below PyTorch eager's {join(reached)} (@fig-overview c); after {f['epochs']} epochs "
            f"{f['first_to_finish']}.")


def updates(f: dict) -> str:
    if "updates_acc_reference" not in f:
        return ("Fewer steps also mean fewer updates; the accuracy at an equal number of updates has not been "
                "measured yet (*evidence updates*).")
    arms = []
    if "updates_acc_epochs" in f:
        arms.append(f"{f['updates_acc_epochs']} in as many epochs ({f['updates_n_epochs']} updates)")
    if "updates_acc_updates" in f:
        arms.append(f"{f['updates_acc_updates']} with about as many updates ({f['updates_n_updates']})")
    if "updates_acc_sqrt" in f:
        arms.append(f"{f['updates_acc_sqrt']} with the learning rate scaled by the square root of the batch ratio "
                    f"({f['updates_lr_sqrt']})")
    if "updates_acc_linear" in f:
        outcome = "diverged" if f["updates_acc_linear"] == "diverged" else f"reached {f['updates_acc_linear']}"
        arms.append(f"and {outcome} with linear scaling ({f['updates_lr_linear']})")
    return (f"Fewer steps also mean fewer updates, and one learning rate serves every batch size. On the "
            f"{f['updates_device']} (JAX twin, {f['updates_seeds']} seeds), batch 64 reached "
            f"{f['updates_acc_reference']} in {f['updates_epochs_reference']} epochs ({f['updates_n_reference']} "
            f"updates); batch {f['updates_large']} reached " + ", ".join(arms) + f". {verdict(f)}")


def verdict(f: dict) -> str:
    """What sets the accuracy, in one sentence, from the share of the equal-epochs gap each arm closes."""
    closed = f.get("updates_closed", {})
    if "updates_gap" not in f or not closed:
        return ""
    shares = join([f"{ARM_WORDS[key]} closes {fmt_pct(share)}" for key, share in closed.items()])
    if max(closed.values()) >= 0.9:
        return (f"Of the {f['updates_gap']}-point gap at equal epochs, {shares}: the number of updates and the "
                "learning rate, not the batch size, set the accuracy here.")
    return (f"Of the {f['updates_gap']}-point gap at equal epochs, {shares}: the number of updates and the "
            "learning rate set part of the accuracy, the batch size itself the rest.")


ARM_WORDS = {"updates": "training for as many updates", "sqrt": "a square-root-scaled learning rate",
             "linear": "a linearly scaled one"}


def join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def paragraphs(f: dict) -> dict[str, str]:
    """Every generated passage of the report, by name, in reading order; a CPU machine is
    named in full (with its versions) once, then as "CPU machine"."""
    texts = {"platform": platform(f), "fusion": fusion(f), "fair": fair(f), "compile": compile_overhead(f),
             "per_step": per_step(f), "donation": donation(f), "amortization": amortization(f),
             "updates": updates(f)}
    seen = set()
    for name, text in texts.items():
        for label in {value for value in f.values() if isinstance(value, str) and "(CPU;" in value}:
            if label in text:
                first = text.index(label) + len(label)
                kept = text[:first] if label not in seen else text[:first].replace(label, "CPU machine")
                text = kept + text[first:].replace(label, "CPU machine")
                seen.add(label)
        texts[name] = text
    return texts
