import pytest

from mnistbench.bench.session import FULL
from mnistbench.report import plots, tables
from tests.factories import run_record


@pytest.fixture
def runs():
    return [run_record(fw, b, seed=s, epoch_times=(10.0 if fw == "jax" else 2.0, 1.0 + s, 1.0), steps=50_000 // b)
            for fw in ("jax", "torch") for b in (64, 256, 1024) for s in (0, 1)]


def updates_record():
    arm = {"seed": 0, "train_loss": [0.3, 0.2], "val_loss": [0.2, 0.25], "val_accuracy": [0.96, 0.97]}
    diverged = {"seed": 0, "train_loss": [2.0, None], "val_loss": [2.3, None], "val_accuracy": [0.1, None]}
    return {"data": {"parts": {"seed 0": {"rows": [{**arm, "arm": "reference", "batch_size": 64},
                                                   {**diverged, "arm": "linear learning rate", "batch_size": 1024}]}}}}


@pytest.mark.parametrize("draw, data", [(plots.curves, "runs"), (plots.updates, "updates")])
def test_figures_are_written_as_pdf_and_png(draw, data, runs, tmp_path):
    argument = {"runs": runs, "updates": updates_record()}[data]
    fig = draw(argument, folder=tmp_path)
    stem = draw.__defaults__[-1]  # the figure's file name
    assert (tmp_path / f"{stem}.pdf").stat().st_size > 1000
    assert (tmp_path / f"{stem}.png").stat().st_size > 1000
    for ax in fig.axes:
        assert ax.get_xlabel()  # every axis says what it shows
    assert fig.axes[0].get_ylabel()


def test_unchanged_data_gives_unchanged_files(runs, tmp_path):
    plots.curves(runs, folder=tmp_path / "a")
    plots.curves(runs, folder=tmp_path / "b")
    assert (tmp_path / "a/curves.pdf").read_bytes() == (tmp_path / "b/curves.pdf").read_bytes()


def test_the_report_figure_gives_each_framework_its_own_panels_one_colour_per_batch_and_readable_text(runs,
                                                                                                      tmp_path):
    fig = plots.curves(runs, folder=tmp_path)
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["(a) JAX", "(b) PyTorch", "(c) JAX", "(d) PyTorch"]
    colours = [[line.get_color() for line in ax.get_lines()] for ax in fig.axes]
    assert all(len(c) == 3 and c == colours[0] for c in colours)  # batch 64, 256, 1024 in every panel, alike
    assert len(set(colours[0])) == 3 and set(plots.BATCH_STYLES) == set(FULL.batch_sizes)  # the grid's sizes
    assert fig.get_size_inches()[0] <= 7.1  # printed at its size on the page: no shrinking
    sizes = [t.get_fontsize() for ax in fig.axes for t in (ax.title, ax.xaxis.label, ax.yaxis.label,
                                                          *ax.get_xticklabels(), *ax.get_yticklabels())]
    assert min(sizes) >= 8.5 and min(t.get_fontsize() for t in fig.legends[0].get_texts()) >= 8.5


def test_results_markdown_covers_every_framework_and_batch(runs):
    text = tables.results_markdown(runs)
    lines = text.splitlines()
    assert len(lines) == 2 + 6
    rows = lines[2:]
    assert sum(line.startswith("| JAX ") for line in rows) == 3
    assert sum(line.startswith("| PyTorch ") for line in rows) == 3
    assert "98.00 %" in text  # accuracy from the records


def test_seconds_formatting():
    assert tables.seconds(0.125) == "125 ms" and tables.seconds(12.345) == "12.35 s"
    assert tables.seconds_range(1.0, [0.9, 1.2]) == "1.00 s (900 ms–1.20 s)"
    assert tables.seconds_range(0.0171, [0.0169, 0.0172]) == "17.1 (16.9–17.2) ms"  # a digit more, not a lone 17
    assert tables.seconds_range(0.017, [0.017, 0.017]) == "17 ms"


def test_summary_text_has_one_table_per_study(runs):
    cpu = [run_record("jax", 64, device_kind="cpu")]
    text = tables.summary_text(runs + cpu)
    assert text.count("Framework") == 2 and "Test GPU (GPU; JAX 0, PyTorch 0)" in text and "Test CPU (CPU; " in text


def test_each_study_names_the_code_that_measured_it(runs):
    from mnistbench.provenance import code_version

    current = [run_record("jax", 64, device_kind="cpu")]
    current[0]["platform"]["code_version"] = code_version()
    text = tables.summary_text(runs + current)
    assert text.count("measured by older code (commit abcdef0)") == 1  # the GPU study's
    assert text.count("measured by the current code (commit abcdef0)") == 1


def test_a_run_without_a_steady_epoch_shows_no_share_of_peak():
    """One epoch holds the compile: its FLOP/s over the peak would not be the steady share the column means."""
    [row] = tables.summarize([run_record("torch", 64, epoch_times=(10.0,))])
    assert tables.display_row(row)["Share of peak"] == "-"
    [row] = tables.summarize([run_record("torch", 64)])
    assert tables.display_row(row)["Share of peak"] == "50.0 %"


def test_the_platforms_table_is_one_table_its_caption_can_follow():
    """A CPU-only folder leaves the GPU columns empty: they stay ("-"), with no note between table and caption."""

    from mnistbench.report.studies import Study

    cpu = [run_record(fw, 64, device_kind="cpu") for fw in ("jax", "torch")]
    text = tables.platforms_markdown(Study(all_runs=cpu, all_evidence=[]))
    assert all(line.startswith("|") for line in text.splitlines()) and "Test CPU (CPU)" in text


def test_the_platforms_caption_names_every_commit_of_a_device_once_in_order_and_its_days():
    """Each commit that measured a device's records (runs and the evidence of their setup), not only the first."""
    from mnistbench.report.studies import Study

    def made(record, commit, timestamp):
        record["platform"]["git"]["commit"], record["timestamp"] = commit, timestamp
        return record

    cpu = [made(run_record("jax", 64, device_kind="cpu"), "bbbbbbb0", "2026-12-07T01:00:00+00:00"),
           made(run_record("torch", 64, device_kind="cpu"), "aaaaaaa0", "2026-12-06T21:00:00+00:00"),
           made(run_record("jax", 256, device_kind="cpu"), "bbbbbbb0", "2026-12-07T02:00:00+00:00")]
    assert tables.commits_text(Study(all_runs=cpu, all_evidence=[])) == "CPU: aaaaaaa, bbbbbbb, 2026-12-06 to 07"

