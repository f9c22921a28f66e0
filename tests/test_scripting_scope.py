"""RestrictedEnvironment.evaluate builds its scope from the names the compiled expression
can look up; these tests hold it to the earlier definition (a copy of the globals, the
external context and the whole task data for every evaluation): the same value, or the
same exception with the same message, for every expression and context below."""
import copy
import json

import pytest

from processes import scripting
from processes.scripting import (
    LimitExceeded, ReadOnlyList, ReadOnlyPolicy, RestrictedEnvironment, ScriptRejected, budget, parse_duration,
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
        # the same effect on the task data: none (the policy view is read-only at any depth)
        assert context == reference_context == DATA


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


NESTED_POLICY = {"frist": "P3W", "liste": [1, [2, 3]], "kontakt": {"dage": [1, 2], "kanal": "brev"},
                 "par": (4, [5])}
CHANGES_OF_THE_POLICY = [
    "policy['liste'].append(3)",
    "policy['liste'][1].extend([4])",
    "policy['liste'][0] = 9",
    "del policy['liste'][0]",
    "policy['liste'].sort(reverse=True)",
    "policy['liste'].pop()",
    "policy['kontakt']['kanal'] = 'sms'",
    "policy['kontakt']['dage'].insert(0, 7)",
    "policy['kontakt'].update({'kanal': 'sms'})",
    "policy['kontakt'].setdefault('ny', 1)",
    "del policy['kontakt']['kanal']",
    "policy['par'][1].append(6)",
    "x = dict(policy)\nx['kontakt']['kanal'] = 'sms'",      # a shallow copy holds the same values
    "x = policy['kontakt']\nx['kanal'] = 'sms'",
    "list.append(policy['liste'], 3)",                       # the type's own method, through a builtin
    "dict.update(policy['kontakt'], {'kanal': 'sms'})",
    "dict.update(policy, {'frist': 'P104W'})",               # the view itself, changed for later reads
    "dict.pop(policy, 'frist')",
]


@pytest.mark.parametrize("script", CHANGES_OF_THE_POLICY)
def test_a_script_cannot_change_a_nested_policy_value(script):
    env = RestrictedEnvironment()
    context = {"policy": copy.deepcopy(NESTED_POLICY), "x": None}
    with pytest.raises(ScriptRejected, match="^policy values are read-only to model code$"):
        with budget():
            env.execute(script, context)
    assert context["policy"] == NESTED_POLICY
    assert type(context["policy"]) is dict


def test_nested_policy_values_read_as_before():
    env = RestrictedEnvironment()
    context = {"policy": copy.deepcopy(NESTED_POLICY)}
    script = """laes = [policy['liste'] == [1, [2, 3]], policy['liste'][1] == [2, 3], 2 in policy['liste'][1],
        [1, [2, 3]] == policy['liste'], policy['kontakt'] == {'dage': [1, 2], 'kanal': 'brev'},
        'kanal' in policy['kontakt'], len(policy['liste']), policy['liste'][-1][0], policy['par'][1],
        [d * 2 for d in policy['kontakt']['dage']], sorted(policy['kontakt']), policy['kontakt'].get('kanal'),
        policy['liste'][:1] + [0], list(policy['kontakt'].items()), isinstance(policy['liste'], list)]
egen = list(policy['kontakt']['dage'])
egen.append(3)
kopi = policy['kontakt']"""
    with budget():
        env.execute(script, context)
    assert context["laes"] == [True, True, True, True, True, True, 2, 2, [5], [2, 4], ["dage", "kanal"], "brev",
                               [1, 0], [("dage", [1, 2]), ("kanal", "brev")], True]
    assert context["egen"] == [1, 2, 3] and type(context["egen"]) is list
    assert context["policy"] == NESTED_POLICY
    # a policy value left in the case data is stored as JSON like any dict, and the next
    # task's copy of the data (Spiff deep-copies it) is plain again
    assert json.loads(json.dumps(context["kopi"])) == {"dage": [1, 2], "kanal": "brev"}
    handed_on = copy.deepcopy(context)
    assert type(handed_on["kopi"]) is dict and type(handed_on["kopi"]["dage"]) is list
    handed_on["kopi"]["dage"].append(3)
    assert context["policy"] == NESTED_POLICY


def test_an_expression_gives_nested_policy_values_as_plain_values():
    env = RestrictedEnvironment()
    for expression, expected in (("policy['liste']", [1, [2, 3]]), ("policy['kontakt']", NESTED_POLICY["kontakt"]),
                                 ("policy", NESTED_POLICY)):
        result = env.evaluate(expression, {"policy": copy.deepcopy(NESTED_POLICY)})
        assert result == expected
        assert not isinstance(result, (ReadOnlyList, ReadOnlyPolicy))
    with pytest.raises(ScriptRejected, match="read-only"):
        env.evaluate("policy['kontakt']['dage'].append(3)", {"policy": copy.deepcopy(NESTED_POLICY)})
