"""The cost split and the time to accuracy as the documents print them (``costs`` computes them):
the supplement's sections and the report's table."""

from __future__ import annotations

from ..bench.compare import CONFIDENCE
from .costs import (
    FIT_TOLERANCE,
    TARGET_ACCURACY,
    Bounded,
    cost_split,
    eager_split,
    fusions_by_size,
    peaks,
    report_fits,
    time_to_accuracy,
)
from .formatting import flops_text, seconds
from .studies import Study
from .supplement import each_device, heading
from .tables import FRAMEWORK_NAMES, markdown, side_name

LEVEL = f"{100 * CONFIDENCE:.0f}%"  # the fitted costs' intervals

def cost_split_section(study: Study) -> str:
    """Each device's cost split: the line per side, JAX eager taken apart, the jitted step's fusions."""
    def render(record: dict) -> str:
        fits = cost_split(record["data"])
        probed = peaks(record["data"])
        lines = markdown([{
            "Side": side_name(fit.variant), "Fixed a, ms": processes_text(fit.a, fit.a_processes, 1e3, 3),
            "Per sample c, µs": processes_text(fit.c, fit.c_processes, 1e6, 2),
            "b* = a / c": f"{fit.crossing.value:.0f}", f"Pooled {LEVEL} interval of c": bounded_text(fit.c, 1e6, 1),
            "c / floor": f"{fit.over_floor:.1f}" if fit.over_floor else "-",
            "Largest residual": f"{100 * max(fit.residuals.values(), key=abs):+.0f}%",
            "Line fits": "yes" if fit.fits else "no", "Points": str(fit.points)} for fit in fits])
        eager = markdown([{"Batch": str(r["batch_size"]), "Eager step": seconds(r["step_s"]),
                           "Transformation": seconds(r["transform_s"]),
                           "Dispatch (calls × one)": f"{seconds(r['dispatch_s'])} ({r['calls']})",
                           "Arithmetic (jit's step)": seconds(r["arithmetic_s"]),
                           "Unexplained": seconds(r["unexplained_s"])} for r in eager_split(record["data"])])
        fusions = markdown([{"Batch": str(r["batch_size"]), "Fusions with a matmul": str(r["with_matmul"]),
                             "Without": str(r["without_matmul"]), "Matmuls alone": str(r["matmuls_outside_fusions"]),
                             "The update's loops": str(r["update_loops"])}
                            for r in fusions_by_size(record["data"])])
        floor = fits[0].floor_per_sample_s if fits else None
        return "\n\n".join([
            "Each framework's probed matmul peak: " + ", ".join(f"{FRAMEWORK_NAMES[fw]} {flops_text(v)}"
                                                                for fw, v in probed.items())
            + (f"; the floor per sample, a sample's training FLOPs at the higher: {1e6 * floor:.2f} µs." if floor else
               "."),
            "**t(b) = a + c b** per side (the fit over every point; in brackets each process's own; a side the "
            f"line misses by more than {100 * FIT_TOLERANCE:.0f}% at some size does not fit)\n\n{lines}",
            "**JAX eager's step, taken apart** (the step and the jitted step's arithmetic: means over the "
            "processes; the transformation and dispatch: medians; the transformation is `jax.make_jaxpr` of the "
            f"gradient: tracing and transposing, no arithmetic)\n\n{eager}",
            f"**The jitted step's optimized program, by batch size**\n\n{fusions}"])
    if not study.evidence("cost-split"):
        return "*Not measured yet:* `python -m mnistbench campaign --device cpu` (its cost-split item)."
    return each_device(study, "cost-split", "the cost split", render)


def processes_text(pooled: Bounded, processes: list[float], scale: float, digits: int) -> str:
    """'16.80 (16.74, 16.85)': the fit over every point, then each process's own fit, lowest first."""
    own = ", ".join(f"{value * scale:.{digits}f}" for value in sorted(processes))
    return f"{pooled.value * scale:.{digits}f}" + (f" ({own})" if own else "")


def bounded_text(quantity: Bounded, scale: float, digits: int) -> str:
    """'55.6 [54.4, 56.9]': a fitted quantity and its interval, scaled."""
    value, low, high = (f"{x * scale:.{digits}f}" for x in quantity)
    return f"{value} [{low}, {high}]"


def time_to_accuracy_section(study: Study) -> str:
    runs = [r for r in study.study_of("cpu") if r.get("elapsed_s")]
    if not runs:
        return "*Not measured yet:* a grid whose runs record each epoch's time since their process began."
    rows = time_to_accuracy(runs, TARGET_ACCURACY)
    return f"{heading(runs[0])}\n\n" + markdown([{
        "Framework": FRAMEWORK_NAMES[r["framework"]], "Batch": str(r["batch_size"]),
        f"Seconds to {100 * TARGET_ACCURACY:g}% (median, range)": "-" if r["median_s"] is None else
        f"{r['median_s']:.1f} ({r['range_s'][0]:.1f}–{r['range_s'][1]:.1f})",
        "Runs that got there": f"{r['reached']} of {r['runs']}",
        "Start-up before it, s": "-" if r["start_up_s"] is None else f"{r['start_up_s']:.1f}"} for r in rows])


def report_table(study) -> str:
    """The report's table of the CPU's cost split: per side a and c (each process's own fit beside), b* (where
    the line fits) and c over the floor."""
    return markdown([{"Side": side_name(fit.variant), "Fixed a, ms": processes_text(fit.a, fit.a_processes, 1e3, 2),
                      "Per sample c, µs": processes_text(fit.c, fit.c_processes, 1e6, 1),
                      "b* = a / c": f"{fit.crossing.value:.0f}" if fit.fits else "-",
                      "c / floor": f"{fit.over_floor:.2f}", "Line fits": "yes" if fit.fits else "no"}
                     for fit in report_fits(study)])
