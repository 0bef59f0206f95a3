"""The report's sentences that depend on what was measured.

Each function takes ``report.facts`` and returns Markdown text: the sentence
with its numbers when they were measured, a shorter one (or "not measured
yet") when they were not, so a report rendered from any results folder (a CPU
study, a GPU campaign cut short by its budget) never prints "n/a". Nothing here
computes a number; the words that depend on the data are chosen from facts.
"""

from __future__ import annotations

from .formatting import break_even_words, fmt_pct
from .formatting import seconds as seconds_text


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
        sentences.append(f"at one call per operation, JAX eager was {f['fair_framework_op_small']} than PyTorch "
                         f"eager at batch {f['fair_small']}")
    if "fair_framework_step_small" in f:
        graph = (f", and {f['fair_framework_graph_small']} than its CUDA graph"
                 if "fair_framework_graph_small" in f else "")
        sentences.append(f"at one call per step, JAX's jitted step was {f['fair_framework_step_small']} than "
                         "PyTorch's whole step under torch.compile [@ansel2024] (fullgraph=True, no graph break)"
                         + graph)
    text = capital("; ".join(sentences)) + "." if sentences else ""
    if "fair_headline_ratio_small" in f:
        text += (f" On the {f['fair_device']}, the headline's ratio (PyTorch eager over JAX jit) at batch "
                 f"{f['fair_small']}, {f['fair_headline_ratio_small']}, is a factor {f['fair_granularity_part_small']} "
                 f"from operator to step granularity (PyTorch {f['fair_torch_step_small']}) times "
                 f"{f['fair_framework_part_small']} from the framework at equal granularity")
        if "fair_headline_ratio_large" in f:
            text += (f"; at batch {f['fair_large']}, {f['fair_headline_ratio_large']} is "
                     f"{f['fair_granularity_part_large']} times {f['fair_framework_part_large']}")
        text += "."
        if not f["fair_on_main_device"] and "main_headline_ratio" in f:
            text += (f" On the {f['main_device']} the same ratio is {f['main_headline_ratio']} (@tbl-results); "
                     "how it splits there needs the variants measured on that device.")
    if "fair_jax_epoch_small" in f:
        text += f" One call per epoch (lax.scan) made JAX's epoch {f['fair_jax_epoch_small']} than the jitted loop."
    return text.strip() or (f"The variants measured so far on the {f['fair_device']} do not yet pair up at "
                            "equal granularity; *python -m mnistbench campaign* measures the rest.")


def compile_overhead(f: dict) -> str:
    text = (f"JAX's first epoch at batch {f['batch_small']} took {f['jax_first_small']} against a steady "
            f"{f['jax_steady_small']}; the measured compilation took {f['jax_compile_min']} to "
            f"{f['jax_compile_max']} over all JAX runs")
    if "compile_share_min" in f:
        text += f" and explains at least {f['compile_share_min']} of that excess in every run"
    text += (f". Tracing and lowering took at most {f['trace_lower_max']}; XLA's optimization and code "
             "generation take the rest.")
    if f["device_kind"] == "GPU":
        measured = f.get("autotune_off")
        text += (" With XLA's autotuning of GPU kernels switched off the step compiled in "
                 + join([f"{off} instead of {cold} at batch {b}" for b, off, cold in measured]) + "."
                 if measured else " How much of the rest is XLA autotuning its GPU kernels has not been measured "
                 "on this GPU yet.")
    if "tf32_compile" in f:
        text += (f" With TF32 matmuls ({f['tf32_seeds']}) the step compiled in "
                 + join([f"{tf32} instead of {f32} at batch {b}" for b, tf32, f32 in f["tf32_compile"]]) + ".")
    text += (f" JAX compiles evaluate in the first validation ({f['jax_eval_first_min']} to "
             f"{f['jax_eval_first_max']}), outside the timed epoch but not the user's wait")
    if "torch_first_vs_steady" in f:
        text += f"; PyTorch eager compiles nothing, and its first epoch {f['torch_first_vs_steady']}"
    text += "."
    if "jax_step_cold" in f and "jax_step_warm" in f:
        text += (f" A persistent compilation cache serves a second process: on the {f['compile_device']} the "
                 f"jitted step (batch {f['compile_batch']}) compiled in {f['jax_step_cold']} cold and "
                 f"{f['jax_step_warm']} warm")
        if "torch_compile_step_cold" in f and "torch_compile_step_warm" in f:
            text += (f", torch.compile's first call took {f['torch_compile_step_cold']} and "
                     f"{f['torch_compile_step_warm']}")
        changes = f.get("break_even_changes", [])
        if changes:
            text += ", and JAX's break-even with PyTorch eager " + join_clauses([moved(c, w) for c, w in changes])
        text += "."
    return text


def moved(cold: dict, warm: dict) -> str:
    """A break-even's change from a cold to a warm cache, as a clause naming its batch size."""
    before, after, batch = break_even_words(cold), break_even_words(warm), cold["batch_size"]
    if before != after:
        return f"moved from {before} to {after} at batch {batch}"
    if before == "never":
        return f"was not reached at batch {batch} with either cache"
    return f"stayed at {before} at batch {batch}" if before.startswith("epoch") else f"stayed {before} at batch {batch}"


# A PyTorch step that grows by less than this share of the batch's growth is dominated by a
# cost that does not scale with the samples: issuing its operators from the host.
HOST_BOUND_SHARE = 0.25


def per_step(f: dict) -> str:
    host_bound = f["torch_step_growth_share"] < HOST_BOUND_SHARE
    text = (f"From batch {f['batch_small']} to {f['batch_large']} ({f['batch_growth']} the samples) a PyTorch "
            f"eager step took {f['torch_step_growth']} as long, a JAX step {f['jax_step_growth']} (@fig-overview d): "
            + ("consistent with a PyTorch step bound by the host issuing its operator calls rather than by the "
               "device" if host_bound else "the PyTorch step grows with its arithmetic"))
    if "overhead_device" in f:
        text += " (host and device time per step: supplement)"
    return text + "."


def donation(f: dict) -> str:
    if "donated_steady" not in f:
        return "The step without donation (the jit-no-donation variant) has not been measured yet."
    return (f"On the {f['donation_device']} ({f['donation_seeds']} seeds, batch {f['donation_batch']}), the step "
            f"without donation had a steady epoch of {f['no_donation_steady']} against {f['donated_steady']} "
            f"({f['no_donation_vs_donated']}), {f['donation_in_spread']} the donated step's epoch-to-epoch range "
            f"({f['donated_epoch_min']} to {f['donated_epoch_max']}). In memory, XLA aliases "
            f"{f['donation_aliased']} of outputs to inputs, and the compiled step's peak is {f['donated_step_peak']} "
            f"against {f['copied_step_peak']} without donation.")


def amortization(f: dict) -> str:
    leads = join_clauses([f"{'saves' if lead > 0 else 'loses'} {seconds_text(abs(lead))} at batch {b}"
                          for b, lead in f["epoch_leads"]])
    reached = [f"from {break_even_words(row)} at batch {row['batch_size']}" if row["break_even_epoch"] else
               f"{break_even_words(row)} at batch {row['batch_size']}"
               for row in f["break_evens"] if not row["never"]]
    never = [str(row["batch_size"]) for row in f["break_evens"] if row["never"]]
    if reached:
        crossing = f"JAX's *total* time falls below PyTorch eager's {join(reached)}"
        if never:
            crossing += (f"; at batch {join(never)} it never does, as JAX's steady epoch is not the shorter "
                         "there")
    else:
        crossing = (f"JAX's *total* time never falls below PyTorch eager's (at batch {join(never)} JAX's "
                    "steady epoch is not the shorter)")
    return (f"Larger batches mean fewer steps per epoch, so fixed costs shrink: at batch {f['batch_large']} JAX "
            f"reached {f['jax_peak_frac_large']} of the measured matmul peak, PyTorch {f['torch_peak_frac_large']}. "
            f"Per steady epoch (with validation) JAX {leads} against PyTorch eager, while its compilation "
            f"stays, so {crossing} (@fig-overview c). After {f['epochs']} epochs {f['first_to_finish']}.")


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
            f"{f['updates_device']} (JAX twin, {f['updates_seeds']} seeds), batch {f['updates_small']} reached "
            f"{f['updates_acc_reference']} in {f['updates_epochs_reference']} epochs ({f['updates_n_reference']} "
            f"updates); batch {f['updates_large']} reached " + ", ".join(arms) + f". {verdict(f)}")


def verdict(f: dict) -> str:
    """How much of the equal-epochs gap each arm closes, and what is left: measured shares, no cause."""
    closed = f.get("updates_closed", {})
    if "updates_gap" not in f or not closed:
        return ""
    if max(closed.values()) <= 0:
        return (f"None of these closes any of the {f['updates_gap']}-point gap at equal epochs.")
    shares = join([f"{ARM_WORDS[key]} closes {fmt_pct(share)}" for key, share in closed.items()])
    return (f"Of the {f['updates_gap']}-point gap at equal epochs, {shares}; the best of them leaves "
            f"{f['updates_left']} points.")


ARM_WORDS = {"updates": "training for as many updates", "sqrt": "a square-root-scaled learning rate",
             "linear": "a linearly scaled learning rate"}


def capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def join_clauses(clauses: list[str]) -> str:
    """Clauses joined, a verb said once while it repeats: 'moved from a to b at batch 64
    and from c to d at batch 256'."""
    verbs = [clause.split(" ", 1)[0] for clause in clauses]
    return join([clause.split(" ", 1)[1] if i and verbs[i] == verbs[i - 1] else clause
                 for i, clause in enumerate(clauses)])


def paragraphs(f: dict) -> dict[str, str]:
    """Every generated passage of the report, by name, in reading order."""
    texts = {"platform": platform(f), "fusion": fusion(f), "fair": fair(f), "compile": compile_overhead(f),
             "per_step": per_step(f), "donation": donation(f), "amortization": amortization(f),
             "updates": updates(f)}
    return shorten_cpu_labels(texts, f)


def shorten_cpu_labels(texts: dict[str, str], f: dict) -> dict[str, str]:
    """A CPU machine named in full (with its versions) once, then as "CPU machine";
    with two CPU setups among the facts, both keep their full names."""
    labels = {value for key, value in f.items() if key.endswith("_device") and "(CPU;" in str(value)}
    if len(labels) != 1:
        return texts
    label = labels.pop()
    first = next((name for name, text in texts.items() if label in text), None)
    shortened = {}
    for name, text in texts.items():
        keep = text.index(label) + len(label) if name == first else 0  # the first mention stays in full
        shortened[name] = text[:keep] + text[keep:].replace(label, "CPU machine")
    return shortened
