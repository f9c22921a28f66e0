"""BPMN expressions and scripts run in RestrictedPython, never plain exec."""
import pytest

from processes.scripting import (
    RestrictedEnvironment, ScriptRejected, add_duration, add_working_days, subtract_duration,
)

ESCAPES = [
    "import os",
    "__import__('os').getpid()",
    "x = ().__class__.__base__.__subclasses__()",
    "open('/etc/passwd').read()",
    "getattr(policy, '__class__')",
]


@pytest.mark.parametrize("script", ESCAPES)
def test_escape_attempts_are_refused(script):
    env = RestrictedEnvironment()
    with pytest.raises((ScriptRejected, NameError, ImportError, AttributeError, TypeError)):
        env.execute(script, {"policy": {}})


def test_models_can_compute_with_data_and_helpers():
    env = RestrictedEnvironment()
    ctx = {"policy": {"fj_opfoelgning": "P30M"}, "ansaettelse_start": "2027-01-04", "talks": [1, 2, 3]}
    env.execute("frist = add_duration(ansaettelse_start, policy['fj_opfoelgning'])\nantal = len(talks)", ctx)
    assert ctx["frist"] == "2029-07-04T00:00:00+02:00"       # midnight 2029-07-04 in Copenhagen
    assert ctx["antal"] == 3
    assert env.evaluate("indstilling == 'fleksjob' and antal >= 3", {"indstilling": "fleksjob", "antal": 3})


def test_date_helpers_use_danish_calendar_days():
    assert add_duration("2027-01-04", "P3W") == "2027-01-25T00:00:00+01:00"
    assert subtract_duration("2028-01-11", "P2W") == "2027-12-28T00:00:00+01:00"
    assert add_working_days("2027-02-19", 5) == "2027-02-26T00:00:00+01:00"   # Friday + 5 working days
    with pytest.raises(ValueError):
        add_duration("2027-01-04", "3 weeks")
