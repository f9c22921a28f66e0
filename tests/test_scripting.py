"""BPMN expressions and scripts run in RestrictedPython, never plain exec."""
import pytest

from processes.scripting import (
    RestrictedEnvironment, ScriptRejected, add_duration, add_working_days, subtract_duration,
)

# Each escape with the one exception and message that refuses it (issue 16: a test that
# accepts any of several exception types would also pass if the escape got further).
ESCAPES = [
    ("import os", ImportError, r"^__import__ not found$"),
    ("__import__('os').getpid()", ScriptRejected, r'"__import__" is an invalid variable name because it starts with "_"'),
    ("x = ().__class__.__base__.__subclasses__()", ScriptRejected,
     r'"__subclasses__" is an invalid attribute name because it starts with "_"'),
    ("open('/etc/passwd').read()", NameError, r"^name 'open' is not defined$"),
    ("getattr(policy, '__class__')", NameError, r"^name 'getattr' is not defined$"),
]


@pytest.mark.parametrize("script,error,message", ESCAPES, ids=[e[0] for e in ESCAPES])
def test_escape_attempts_are_refused(script, error, message):
    env = RestrictedEnvironment()
    with pytest.raises(error, match=message) as refused:
        env.execute(script, {"policy": {}})
    assert type(refused.value) is error


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


def test_a_missing_attribute_is_an_error_not_none():
    """``x.name`` compiles to the sandbox's ``_getattr_(x, name)``; RestrictedPython's
    ``safer_getattr`` alone would give ``None`` for a misspelt name, and a gateway
    condition on it would quietly take the wrong branch."""
    from datetime import date
    env = RestrictedEnvironment()
    data = {"startdato": date(2027, 1, 4), "indstilling": {"udfald": "fleksjob"}}
    assert env.evaluate("startdato.year", data) == 2027
    with pytest.raises(AttributeError, match=r"^'datetime.date' object has no attribute 'ukendt'$"):
        env.evaluate("startdato.ukendt", data)
    with pytest.raises(AttributeError, match=r"^'dict' object has no attribute 'udfald'$"):
        env.evaluate('indstilling.udfald == "fleksjob"', data)
    with pytest.raises(AttributeError, match=r"^'ReadOnlyPolicy' object has no attribute 'frist'$"):
        env.execute("x = policy.frist", {"policy": {"frist": "P3W"}})
    # a script that expects the attribute may be missing handles it as in Python
    ctx = {"startdato": "2027-01-04"}
    with pytest.raises(AttributeError, match=r"^'str' object has no attribute 'ukendt'$"):
        env.execute("dag = startdato.ukendt", ctx)
    env.execute("try:\n    dag = startdato.ukendt\nexcept AttributeError:\n    dag = 0", ctx)
    assert ctx["dag"] == 0
    # the guards are as before: private and format names, methods on a budget
    with pytest.raises(ScriptRejected, match='"_ukendt" is an invalid attribute name'):
        env.evaluate("startdato._ukendt", data)
    with pytest.raises(NotImplementedError, match="format"):
        env.evaluate("'{}'.format", data)
    assert env.evaluate("'-'.join(['a', 'b'])", data) == "a-b"


def test_getattr_with_an_explicit_default_still_gives_the_default():
    """Model code has no ``getattr`` builtin (ESCAPES); the sandbox's own ``_getattr_``
    returns a default passed to it, and raises without one."""
    from datetime import date
    from processes.scripting import _restricted_globals
    guarded = _restricted_globals()["_getattr_"]
    assert guarded(date(2027, 1, 4), "ukendt", 0) == 0
    assert guarded(date(2027, 1, 4), "ukendt", None) is None
    assert guarded(date(2027, 1, 4), "month", 0) == 1
    with pytest.raises(AttributeError, match="has no attribute 'ukendt'"):
        guarded(date(2027, 1, 4), "ukendt")
    with pytest.raises(AttributeError, match="invalid attribute name"):
        guarded(date(2027, 1, 4), "__class__", 0)  # a default does not open the private names
