"""RestrictedEnvironment.evaluate builds its scope from the names the compiled expression
can look up; these tests hold it to the earlier definition (a copy of the globals, the
external context and the whole task data for every evaluation): the same value, or the
same exception with the same message, for every expression and context below."""
import copy

import pytest

from processes import scripting
from processes.scripting import (
    LimitExceeded, ReadOnlyPolicy, RestrictedEnvironment, ScriptRejected, budget, parse_duration,
)


def copying_evaluate(env, expression, context, external_context=None):
    """The earlier evaluate, kept here as the reference."""
    scope = copy.copy(env.globals)
    scope.update(external_context or {})
    scope.update(context)
    if isinstance(scope.get("policy"), dict):
        scope["policy"] = ReadOnlyPolicy(scope["policy"])
    result = scripting.run_expression(expression, scope)
    return dict(result) if isinstance(result, ReadOnlyPolicy) else result


def outcome(evaluate, *args):
    try:
        with budget(operations=2_000):
            return ("value", evaluate(*args))
    except BaseException as exc:  # noqa: BLE001 - the exception is the outcome compared
        return ("raised", type(exc), str(exc))


DATA = {
    "policy": {"frist": "P3W", "antal": 2, "liste": [1, 2]},
    "indstilling": "fleksjob",
    "talks": [3, 1, 2],
    "grænse": 2,
    "borger": {"navn": "A", "alder": 40},
    "len": "shadowed builtin",
    "danish_date": "shadowed helper",
    "tekst": "ab",
    "today": None,
}

EXPRESSIONS = [
    "indstilling == 'fleksjob'",
    "[t for t in talks if t > grænse]",                  # a data name inside a comprehension
    "{k: v for k, v in borger.items() if v != grænse}",
    "sorted(talks, key=lambda t: t - grænse)",           # a data name inside a lambda
    "any(t == grænse for t in talks)",                   # ... and a generator expression
    "[[t * grænse for t in talks] for _x in talks]" .replace("_x", "x"),
    "policy",                                            # read-only view returned as a dict
    "policy['frist']",
    "policy.get('antal')",
    "policy.update({'frist': 'P1D'})",
    "policy.pop('frist')",
    "policy['liste'].append(3)",
    "len",                                               # data shadows a builtin
    "danish_date",                                       # ... and a helper
    "abs(-grænse)",                                      # a builtin nobody shadows
    "add_duration('2027-01-04', policy['frist'])",
    "ukendt + 1",                                        # NameError
    "borger.navn",                                       # AttributeError from the guard
    "borger['mangler']",
    "(y := grænse + 1) * y",                             # walrus
    "[z := t for t in talks][-1] + z",                   # walrus in a comprehension
    "[u for t in range(900) for u in range(900)]",        # the budget's operation count
    "tekst * 2_000_000",                                 # the size guard
    "2 ** 100_000",
    "f'{tekst:>5}'",
    "today",
    "sag",                                               # from the external context
    "indstilling if sag else None",
]


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_evaluate_gives_what_a_full_copy_of_the_scope_gives(expression):
    env = RestrictedEnvironment()
    for external in (None, {}, {"sag": 7, "indstilling": "from external", "grænse": 99}):
        context = copy.deepcopy(DATA)
        new = outcome(env.evaluate, expression, context, external)
        reference_context = copy.deepcopy(DATA)
        old = outcome(copying_evaluate, env, expression, reference_context, external)
        assert new == old, (expression, external)
        # the same effect on the task data (none, except that the policy view is shallow:
        # ``policy['liste'].append(3)`` changes the list in both)
        assert context == reference_context


def test_data_shadows_guards_and_builtins_as_before():
    env = RestrictedEnvironment()
    for context in ({"_getiter_": "not callable", "talks": [1]}, {"__builtins__": {}, "x": 1}):
        assert outcome(env.evaluate, "[t for t in talks]", dict(context)) == \
            outcome(copying_evaluate, env, "[t for t in talks]", dict(context))
        assert outcome(env.evaluate, "len([x])", dict(context)) == \
            outcome(copying_evaluate, env, "len([x])", dict(context))


def test_globals_stay_unchanged():
    env = RestrictedEnvironment()
    before = dict(env.globals)
    env.evaluate("[z := t for t in talks]", {"talks": [1, 2]})
    env.evaluate("(w := 1)", {})
    assert env.globals == before
    assert "z" not in env.globals and "w" not in env.globals


def test_a_spent_budget_stays_spent_across_evaluations():
    env = RestrictedEnvironment()
    with budget(operations=300):
        with pytest.raises(LimitExceeded, match="operations"):
            env.evaluate("[t for t in range(900)]", {})
        with pytest.raises(LimitExceeded, match="operations"):
            env.evaluate("1", {})


def test_parse_duration_hands_out_a_new_dict_every_time():
    first = parse_duration("P1Y2M3D")
    first.pop("years")
    assert parse_duration("P1Y2M3D") == {"years": 1, "months": 2, "days": 3}
    assert parse_duration("P1Y2M3D") is not parse_duration("P1Y2M3D")
    for refused, error in (("P200Y", LimitExceeded), ("P3X", Exception), (3, ValueError)):
        for _ in range(2):   # a refusal is not cached
            with pytest.raises(error):
                parse_duration(refused)
    with pytest.raises(ScriptRejected, match="longer than"):
        parse_duration("P200Y")
