"""What-if simulation (issue 11, docs/simulation.md): scenario, kernel, agreement,
determinism, calibration."""
from __future__ import annotations

import json

import pytest

from processes import history
from processes.errors import InvalidInput
from processes.simulation.scenario import default_scenario, draw, load_scenario, validation_errors


# ------------------------------------------------------------------ scenario
def test_the_default_scenario_is_valid_and_a_partial_one_is_laid_over_it(tmp_path):
    assert validation_errors(default_scenario()) == {}
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"meetings": {"slots_per_day": 3}, "durations": {"tasks": {"book_moede": {"wait": [2, 2]}}}}))
    scenario = load_scenario(path)
    assert scenario["meetings"]["slots_per_day"] == 3
    assert scenario["meetings"]["weekdays"] == default_scenario()["meetings"]["weekdays"]
    assert scenario["durations"]["tasks"]["book_moede"] == {"wait": [2, 2]}
    assert scenario["durations"]["tasks"]["vurder_rute"] == default_scenario()["durations"]["tasks"]["vurder_rute"]


@pytest.mark.parametrize("raw, field, words", [
    ({"meetings": {"slots_per_day": 0}}, "meetings.slots_per_day", "minimum"),
    ({"arrivals": {"rehabilitering": {"per_week": -1}}}, "arrivals.rehabilitering.per_week", "minimum"),
    ({"arrivals": {"hundeluft": {"per_week": 1}}}, "arrivals", "hundeluft"),
    ({"durations": {"tasks": {"book_moede": {"wait": {"dist": "gamma", "k": 2}}}}},
     "durations.tasks.book_moede.wait", "not a distribution"),
    ({"durations": {"tasks": {"book_moede": {"wait": [9, 2]}}}}, "durations.tasks.book_moede.wait", "above high"),
    ({"decisions": {"flags": {"bisidder_deltog": 1.5}}}, "decisions.flags.bisidder_deltog", "maximum"),
    ({"staff": {"sagsbehandler": {"count": 0}}}, "staff.sagsbehandler.count", "minimum"),
    ({"start": "2027-13-40"}, "start", "date"),
    ({"meeting": {}}, "(scenario)", "meeting"),
])
def test_scenario_errors_name_the_field(raw, field, words):
    with pytest.raises(InvalidInput) as caught:
        load_scenario(raw)
    assert field in caught.value.errors, caught.value.errors
    assert any(words in message for message in caught.value.errors[field]), caught.value.errors


def test_a_scenario_file_that_is_not_json_is_refused(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{nope")
    with pytest.raises(InvalidInput, match="not JSON"):
        load_scenario(path)


def test_the_history_driver_reads_its_tables_from_the_default_scenario():
    scenario = default_scenario()
    assert history.CHOICES == scenario["decisions"]["choices"]
    assert history.FLAGS == scenario["decisions"]["flags"]
    assert history.DELAYS["forberedende_del"] == tuple(scenario["durations"]["tasks"]["forberedende_del"]["wait"])
    assert history.AT_ONCE == frozenset(scenario["durations"]["at_once"])


def test_distributions_draw_within_their_bounds():
    import random
    rng = random.Random(1)
    assert all(2 <= draw(rng, [2, 5]) <= 5 for _ in range(200))
    assert all(1 <= draw(rng, {"dist": "triangular", "low": 1, "mode": 2, "high": 4}) <= 4 for _ in range(200))
    assert draw(rng, {"dist": "fixed", "value": 3}) == 3
    values = [draw(rng, {"dist": "lognormal", "mean": 10, "sd": 3}) for _ in range(4000)]
    assert 9.5 < sum(values) / len(values) < 10.5
