"""Issue 9, item 10: schema-driven fuzzing of the REST API with schemathesis.

Every operation in ``/api/v1/openapi.json`` is called with generated requests, both
ones that fit the document and ones that break it, as a caseworker of Aaby, on SQLite
and PostgreSQL, against a database with open cases in two municipalities so that ids hit
real rows. No answer may be a 500, and every answer must be what the document promises:
a documented status code, content type and body schema; a request that breaks the
schema must be refused. Examples per operation are capped to keep the run to minutes.

One check is left out: ``positive_data_acceptance`` (a schema-valid request must get a
2xx). The document cannot say what a task's form accepts (that is the BPMN model's
field list: unknown fields are 422) nor that text holds no NUL byte (400), so refusals
of that kind are correct answers, not findings.

(schemathesis' own pytest integration does not run under pytest 9 yet, so each
operation's strategy is driven by Hypothesis' ``@given`` directly.)
"""
from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from sqlalchemy import select

from inbox import create_app
from inbox.tokens import issue_token, user_for_token
from processes.models import User
from test_api import Client

# SAGSFLOW_FUZZ_SCALE=10 runs ten times as many examples (a deeper, slower hunt).
SCALE = int(os.environ.get("SAGSFLOW_FUZZ_SCALE", "1"))
EXAMPLES = {GenerationMode.POSITIVE: 30 * SCALE, GenerationMode.NEGATIVE: 15 * SCALE}
CASES = (("aaby", "010190-1234", "Anna Andersen"), ("aaby", "020285-4321", "Bent Bertelsen"),
         ("boegeby", "030375-1111", "Carl Carlsen"))


class FuzzClient(Client):
    def __init__(self, app, runtime, username):
        super().__init__(app, runtime, username)
        self.runtime = runtime

    def ensure_token(self):
        """A fresh token if the fuzzer revoked this one (POST /tokens/{id}/revoke)."""
        with self.runtime.sessions.begin() as session:
            if user_for_token(session, self.token) is None:
                user = session.scalar(select(User).where(User.username == self.username))
                self.token = issue_token(session, user)


def test_every_operation_answers_generated_requests_as_documented(runtime):
    for municipality, cpr, name in CASES:
        runtime.engine.start_case(municipality, "rehabilitering", cpr, name)
    app = create_app(runtime, TESTING=True)
    client = FuzzClient(app, runtime, "aaby.sagsbehandler")
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    # Every API route of the application is documented, so the fuzzer reaches them all.
    routes = {(rule.rule, method) for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
              and not rule.rule.endswith("/openapi.json") for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert len(operations) == len(routes) >= 14
    for operation in operations:
        for mode, examples in EXAMPLES.items():
            @settings(max_examples=examples, deadline=None, database=None, derandomize=SCALE == 1,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case):
                client.ensure_token()
                headers = {} if _drops_authorization(case) else client._headers()
                case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

            call()


def _drops_authorization(case) -> bool:
    """A negative case that leaves out the bearer token on purpose (it must get 401)."""
    data = case.meta.phase.data if case.meta is not None else None
    mutations = getattr(data, "mutations", None) or []
    return "Authorization" in {getattr(data, "parameter", None)} | {getattr(m, "parameter", None) for m in mutations}
