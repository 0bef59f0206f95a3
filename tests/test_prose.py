"""The report's data-dependent sentences: their words follow the numbers, and a
missing measurement shortens a sentence instead of printing 'n/a'."""

from mnistbench import prose, report


def break_even(batch_size, epoch=None, never=False, measured=True):
    return {"batch_size": batch_size, "break_even_epoch": epoch, "never": never, "measured": measured,
            "horizon": 1000}


AMORTIZATION = {"batch_large": "1024", "jax_peak_frac_large": "80%", "torch_peak_frac_large": "70%", "epochs": "10",
                "first_to_finish": "PyTorch is ahead at every batch size"}


def test_a_break_even_that_never_comes_is_its_own_clause_and_a_reversed_lead_says_loses():
    facts = {**AMORTIZATION, "epoch_leads": [(64, 0.25), (1024, -0.11)],
             "break_evens": [break_even(64, 3), break_even(256, 40, measured=False), break_even(1024, never=True)]}
    text = prose.amortization(facts)
    assert "JAX saves 250 ms at batch 64 and loses 110 ms at batch 1024 against PyTorch eager" in text
    assert "from epoch 3 at batch 64 and from epoch 40 (extrapolated) at batch 256" in text
    assert "at batch 1024 it never does" in text and "never at batch" not in text


def test_no_break_even_at_all_is_said_once():
    facts = {**AMORTIZATION, "epoch_leads": [(64, -0.5), (1024, -0.1)],
             "break_evens": [break_even(64, never=True), break_even(1024, never=True)]}
    text = prose.amortization(facts)
    assert "never falls below PyTorch eager's (at batch 64 and 1024" in text and "loses 500 ms" in text


def test_a_cache_that_changes_nothing_reads_as_such():
    assert prose.moved(break_even(64, 3), break_even(64, 3)) == "stayed at epoch 3 at batch 64"
    assert prose.moved(break_even(1024, never=True), break_even(1024, never=True)) == (
        "was not reached at batch 1024 with either cache")
    assert prose.moved(break_even(256, 18, measured=False), break_even(256, 8)) == (
        "moved from epoch 18 (extrapolated) to epoch 8 at batch 256")


def test_the_updates_verdict_gives_shares_and_what_is_left_never_a_cause():
    facts = {"updates_gap": "0.84", "updates_closed": {"updates": 0.48, "sqrt": 0.46}, "updates_left": "0.44"}
    text = prose.verdict(facts)
    assert text == ("Of the 0.84-point gap at equal epochs, training for as many updates closes 48% and a "
                    "square-root-scaled learning rate closes 46%; the best of them leaves 0.44 points.")
    assert "batch size itself" not in text
    assert prose.verdict({**facts, "updates_closed": {"updates": -0.1, "sqrt": 0.0}}).startswith("None of these")


def test_diverged_seeds_are_counted_beside_the_mean_of_the_others():
    row = {"test_accuracy": 0.9792, "diverged": 1, "seeds": 3}
    assert report.accuracy_text(row) == "97.92% (1 of 3 seeds diverged)"
    assert report.accuracy_text({**row, "diverged": 0}) == "97.92%"
    assert report.accuracy_text({**row, "test_accuracy": None}) == "diverged"


def test_the_fair_paragraph_starts_with_a_capital_and_is_never_empty():
    assert prose.fair({"fair_device": "X (CPU; JAX 0, PyTorch 0)", "fair_framework_step_small": "1.1× slower",
                       "fair_on_main_device": True}).startswith("At one call per step")
    lonely = prose.fair({"fair_device": "X (CPU; JAX 0, PyTorch 0)", "fair_on_main_device": True})
    assert lonely.startswith("The variants measured so far on the X (CPU; JAX 0, PyTorch 0)")


def test_the_framework_part_says_whom_it_favours():
    steady = {("torch", "eager"): {64: 6.0}, ("jax", "jit"): {64: 2.0}, ("torch", "compile"): {64: 1.5}}
    split = report.headline_split(steady, 64, "small")
    assert split["fair_headline_ratio_small"] == "3.0×" and split["fair_granularity_part_small"] == "4.0×"
    assert split["fair_framework_part_small"] == "0.8× (in PyTorch's favour)"


def test_one_cpu_machine_is_named_in_full_once_two_are_always_named_in_full():
    one = "Xeon (CPU; JAX 1, PyTorch 2)"
    facts = {"fusion_device": one, "donation_device": one}
    texts = {"fusion": f"On the {one}, a.", "donation": f"On the {one}, b; on the {one}, c."}
    assert prose.shorten_cpu_labels(texts, facts) == {
        "fusion": f"On the {one}, a.", "donation": "On the CPU machine, b; on the CPU machine, c."}
    other = "Xeon (CPU; JAX 3, PyTorch 2)"
    texts = {"fusion": f"On the {one}, a.", "donation": f"On the {other}, b; on the {one}, c."}
    assert prose.shorten_cpu_labels(texts, {"fusion_device": one, "donation_device": other}) == texts


def test_a_repeated_verb_is_said_once():
    assert prose.join_clauses(["moved from a to b at batch 64", "moved from c to d at batch 256",
                               "was not reached at batch 1024"]) == (
        "moved from a to b at batch 64, from c to d at batch 256 and was not reached at batch 1024")
    assert prose.join_clauses(["saves 1 s at batch 64", "saves 2 s at batch 1024"]) == (
        "saves 1 s at batch 64 and 2 s at batch 1024")
