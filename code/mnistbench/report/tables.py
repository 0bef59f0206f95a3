"""Tables as text: the results of every study (terminal and supplement), the report's results and
platforms, and the pipe table the supplement's sections fill."""

from __future__ import annotations

from tabulate import tabulate

from ..bench.results import started_process
from ..bench.selection import default_variant_runs, study_key, summarize
from ..bench.variants import DEFAULT_VARIANT
from .analysis import median
from .formatting import accuracy, code_note, commit_of, flops_text, plural, ratio_text, seconds, seconds_range

FRAMEWORK_NAMES = {"jax": "JAX", "torch": "PyTorch"}
# a side of a comparison (framework-variant) as the documents name it: 'JAX jit', 'torch.compile'
SIDE_NAMES = {"torch-compile": "torch.compile", "torch-cudagraph": "PyTorch CUDA graph"}
LEGEND = ("Times: median over seeds, (range) over seeds; accuracy: mean ± standard deviation over seeds; "
          "epochs exclude validation.")


def side_name(side: str) -> str:
    """A side (framework-variant) as the documents name it."""
    framework, _, variant = side.partition("-")
    return SIDE_NAMES.get(side, f"{FRAMEWORK_NAMES.get(framework, framework)} {variant}".strip())


def display_row(row: dict, with_variant: bool = False) -> dict:
    """One ``selection.summarize`` row as formatted strings."""
    return {
        "Framework": FRAMEWORK_NAMES[row["framework"]], **({"Variant": row["variant"]} if with_variant else {}),
        "Batch": row["batch_size"],
        "First epoch": seconds_range(row["first_epoch_s"], row["first_epoch_range_s"]),
        "Steady epoch": seconds_range(row["steady_epoch_s"], row["steady_epoch_range_s"]),
        "Compile": seconds(row["compile_total_s"]),
        "Test accuracy": accuracy(row["test_accuracy"], row["test_accuracy_std"]),
        # over the matmul peak probed in the run's own process; a first epoch's FLOP/s would include its compile
        "Share of peak": f"{100 * row['fraction_of_peak']:.1f} %" if row["steady_epoch_s"] is not None else "-",
        "Runs": row["repeats"] if row["valid_runs"] == row["repeats"]
        else f"{row['valid_runs']}/{row['repeats']} valid",
    }


def summary_text(records: list[dict], fmt: str = "simple") -> str:
    """A results table per study, each titled with its device, software, settings and code, and the legend."""
    if not records:
        return "no result records"
    rows = summarize(records)
    studies = list(dict.fromkeys(row["study"] for row in rows))
    firsts = {study_key(r): r for r in reversed(records)}  # a record of each study, to name its code
    titles = []
    for study in studies:
        row = next(r for r in rows if r["study"] == study)
        title = (f"{row['device']} ({row['device_kind'].upper()}; {row['software']}), {row['precision']} matmuls, "
                 f"{plural(row['epochs'], 'epoch')}")
        if row["train_subset"]:
            title += f", first {row['train_subset']} training images only (smoke run)"
        if row["compilation_cache"]:
            title += ", with a persistent compilation cache"
        note = code_note(firsts[study]) or f", measured by the current code (commit {commit_of(firsts[study])})"
        titles.append(title + note)
    blocks = []
    for study, title in zip(studies, titles):
        if titles.count(title) > 1:  # same device and length, other settings, code or software
            title += f" [settings {study.settings}, code {study.code_version}, software {study.software}]"
        chosen = [row for row in rows if row["study"] == study]
        with_variant = any(row["variant"] != DEFAULT_VARIANT[row["framework"]] for row in chosen)
        title = f"**{title}**\n" if fmt == "pipe" else title  # Markdown needs a blank line before a table
        blocks.append(title + "\n" + tabulate([display_row(row, with_variant) for row in chosen], headers="keys",
                                              tablefmt=fmt, disable_numparse=True))
    return "\n\n".join(blocks) + "\n\n" + LEGEND


def results_markdown(records: list[dict]) -> str:
    """The report's results table, each framework's default: the first epoch and the first validation
    (JAX compiles its step in the one and ``evaluate`` in the other), the steady epoch, accuracy, and the
    steady rate in FLOP/s beside its share of the peak probed in the run's own process."""
    rows = []
    for row in summarize(default_variant_runs(records)):
        runs = [r for r in default_variant_runs(records) if (r["framework"], r["batch_size"]) == (
            row["framework"], row["batch_size"]) and study_key(r) == row["study"]]
        cold = [r for r in runs if started_process(r)]
        first = [r["epoch_times_s"][0] for r in cold]
        validation = [r["val_times_s"][0] for r in cold]
        rows.append({"Framework": FRAMEWORK_NAMES[row["framework"]], "Batch": row["batch_size"],
                     "First epoch": seconds_range(median(first), [min(first), max(first)]) if first else "-",
                     "First validation": seconds(median(validation)) if validation else "-",
                     "Steady epoch": seconds_range(row["steady_epoch_s"], row["steady_epoch_range_s"]),
                     "Test accuracy": accuracy(row["test_accuracy"], row["test_accuracy_std"]),
                     "Steady FLOP/s (of peak)": "-" if row["steady_epoch_s"] is None else
                     f"{flops_text(row['achieved_flops'])} ({100 * row['fraction_of_peak']:.1f} %)"})
    return tabulate(rows, headers="keys", tablefmt="pipe", disable_numparse=True,
                    colalign=("left",) + ("right",) * (len(rows[0]) - 1) if rows else ())


def platforms_markdown(study) -> str:
    """The machines of the GPU and the CPU study: device, host CPU and system, software and CUDA (the
    reach of a GPU, where the records say it: a lent VM's kernel names it); their code: ``commits_text``."""
    rows = []
    for kind in ("gpu", "cpu"):
        runs = study.study_of(kind)
        if runs:
            device, platform = runs[0]["device"], runs[0]["platform"]
            cuda = {r["framework"]: r["device"].get("cuda") for r in runs}  # PyTorch's CUDA; JAX's plugin
            host = platform["cpu"].replace("(R)", "").replace(" Processor", "")
            system = "Linux " + platform.get("os", "Linux-?").split("-")[1]  # the kernel's version
            rows.append({"Device": device["name"] if kind == "gpu" else f"{host} (CPU)",
                         "Host CPU, system": f"{host}, {system}",
                         "Python, JAX, PyTorch": f"{platform['python']}, {platform['jax']}, {platform['torch']}",
                         "Driver, CUDA": (f"{device['driver']}, " + "; ".join(
                             f"CUDA {version}" if framework == "torch" else version
                             for framework, version in sorted(cuda.items(), reverse=True) if version)
                             if device.get("driver") else "-")})
    return tabulate(rows, headers="keys", tablefmt="pipe", disable_numparse=True)  # its caption follows it


def commits_text(study) -> str:
    """'GPU: e0102aa, 2026-11-24; CPU: c5a76e6, 5dad1bf, 2026-12-06 to 07': per device, the commits that
    made its records (its study's runs and the evidence of the same setup), oldest first, and their days."""
    texts = []
    for kind in ("gpu", "cpu"):
        runs = study.study_of(kind)
        if runs:
            records = sorted(runs + [r for r in study.all_evidence if study.same_setup(r, runs[0])],
                             key=lambda r: r["timestamp"])
            first, last = records[0]["timestamp"][:10], records[-1]["timestamp"][:10]
            days = first if first == last else f"{first} to {last[8:] if last[:8] == first[:8] else last}"
            texts.append(f"{kind.upper()}: {', '.join(dict.fromkeys(map(commit_of, records)))}, {days}")
    return "; ".join(texts)


def markdown(rows: list[dict], absent: dict[str, str] | None = None) -> str:
    """A pipe table of formatted rows. A column that holds nothing in any row ("n/a" or "-") is left
    out, and ``absent[column]`` (what it would hold, and why it does not) is said below the table."""
    if not rows:
        return "(not measured)"
    empty = [key for key in rows[0] if all(row[key] in ("n/a", "-") for row in rows)]
    table = tabulate([{k: v for k, v in row.items() if k not in empty} for row in rows], headers="keys",
                     tablefmt="pipe", disable_numparse=True)
    notes = [f"*{key}*: {(absent or {}).get(key, 'not measured')}." for key in empty]
    return table + ("\n\n" + " ".join(notes) if notes else "")


def interval_text(row: dict) -> str:
    """'0.82× [0.78, 0.86]': a paired ratio and its interval."""
    return ratio_text(row["ratio"], row["low"], row["high"])
