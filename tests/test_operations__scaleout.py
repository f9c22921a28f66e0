"""Running beyond one machine (issue 15, item 4; docs/operations.md): two web processes
and two workers, each a separate ``sagsflow`` process as on separate hosts, against one
PostgreSQL database. Cases are driven through both web processes at once (the same
completion sent to both, as a double click landing on two hosts behind a load balancer)
while both workers fire the deadlines that fall due; no step is lost and none is done
twice."""
from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import timedelta
from urllib.error import HTTPError
from urllib.request import Request, urlopen

from sqlalchemy import func, select

from conftest import empty_schema, make_runtime
from inbox.tokens import issue_token
from processes import timekeeping
from processes.models import AuditEvent, DeadlineEvent, HumanTask, ProcessInstance, Timer, User
from test_crash import processes, serve, spawn  # noqa: F401  (processes is a fixture)

CASES = 16
FORM = {"samtaledato": "2027-01-04", "situation": "job"}


def _post(base: str, path: str, token: str, body: dict) -> int:
    request = Request(base + path, data=json.dumps(body).encode(), method="POST",
                      headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urlopen(request, timeout=60) as response:
            return response.status
    except HTTPError as exc:
        return exc.code


def _count(rt, *where, model=AuditEvent):
    with rt.sessions() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_two_web_processes_and_two_workers_on_one_database_lose_and_double_nothing(
        pg_database_url, tmp_path, processes):  # noqa: F811
    rt = make_runtime(empty_schema(pg_database_url))   # the run's shared database: start empty
    try:
        for i in range(CASES):
            rt.engine.start_case("boegeby", "fleksjob", f"0101{i:02d}-1234", f"Borger {i}",
                                 {"overdragelse": {"visitationsdato": "2027-01-04"}})
        with rt.sessions.begin() as s:
            token = issue_token(s, s.scalar(select(User).where(User.username == "boegeby.sagsbehandler")))
        webs = [serve(rt, tmp_path, processes, f"web{n}")[1] for n in (1, 2)]
        for n in (1, 2):
            processes.append(spawn(["--database-url", rt.url, "worker", "--interval", "0.2"], tmp_path, f"worker{n}"))
        with rt.sessions() as s:
            tasks = list(s.scalars(select(HumanTask.id).where(HumanTask.bpmn_id == "foerste_samtale")
                                   .order_by(HumanTask.id)))
        assert len(tasks) == CASES
        completed, left = tasks[:CASES // 2], tasks[CASES // 2:]

        # Each completion goes to both web processes at the same moment, with its own key.
        answers: dict[int, list[int]] = {}

        def both(task_id):
            codes = []
            threads = [threading.Thread(target=lambda base=base: codes.append(_post(
                base, f"/api/v1/tasks/{task_id}/complete", token,
                {"data": FORM, "revision": 1, "idempotency_key": str(uuid.uuid4())}))) for base in webs]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            answers[task_id] = sorted(codes)

        for task_id in completed:
            both(task_id)
        assert all(codes == [200, 409] for codes in answers.values()), answers

        # The other cases' first-talk deadlines pass; both workers fire them.
        rt.engine.advance_clock(timedelta(weeks=3, days=1), fire=False)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with rt.sessions() as s:
                due = s.scalar(select(func.count()).select_from(ProcessInstance).where(
                    ProcessInstance.status == "running", ProcessInstance.next_due_at < timekeeping.now(s)))
                breaches = s.scalar(select(func.count()).select_from(DeadlineEvent))
            if breaches >= len(left) and not due:
                break
            time.sleep(0.5)

        assert _count(rt, AuditEvent.action == "task.complete") == len(completed)  # once each
        assert _count(rt, HumanTask.bpmn_id == "foerste_samtale", HumanTask.state == "completed",
                      model=HumanTask) == len(completed)
        assert _count(rt, model=DeadlineEvent) == len(left)                        # each deadline once
        assert _count(rt, HumanTask.bpmn_id == "eskaler_foerste_samtale", model=HumanTask) == len(left)
        assert _count(rt, AuditEvent.action == "deadline.breach") == len(left)
        with rt.sessions() as s:
            fired = s.scalars(select(AuditEvent.detail).where(AuditEvent.action == "timer.fire")).all()
            workers = {d.get("worker") for d in fired if "frist_foerste_samtale" in d.get("timers", [])}
            remaining = s.scalar(select(func.count()).select_from(Timer).where(Timer.bpmn_id == "frist_foerste_samtale"))
        assert sum("frist_foerste_samtale" in d.get("timers", []) for d in fired) == len(left)
        assert remaining == 0
        assert workers  # which worker fired which is the database's choice; both may

        # The escalations are then handled through either web process: again once each.
        with rt.sessions.begin() as s:
            leader = issue_token(s, s.scalar(select(User).where(User.username == "boegeby.teamleder")))
        with rt.sessions() as s:
            escalations = list(s.scalars(select(HumanTask).where(HumanTask.bpmn_id == "eskaler_foerste_samtale")))
        for i, task in enumerate(escalations):
            form = _escalation_form(rt, task)
            code = _post(webs[i % 2], f"/api/v1/tasks/{task.id}/complete", leader,
                         {"data": form, "revision": task.revision, "idempotency_key": str(uuid.uuid4())})
            assert code == 200
        assert _count(rt, AuditEvent.action == "task.complete") == len(completed) + len(left)
        assert all(p.poll() is None for p in processes)  # every web process and worker still runs
    finally:
        rt.close()


def _escalation_form(rt, task) -> dict:
    """A valid answer to the escalation form: the first option of every enum, text elsewhere."""
    data = {}
    for field in rt.engine.task_form(task):
        if field["type"] == "enum":
            data[field["id"]] = field["options"][0]["id"]
        elif field["type"] == "date":
            data[field["id"]] = "2027-01-26"
        elif field["type"] == "boolean":
            data[field["id"]] = False
        elif field["type"] == "long":
            data[field["id"]] = 1
        elif field["required"]:
            data[field["id"]] = "Notat"
    return data
