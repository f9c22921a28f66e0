"""REST API under /api/v1 (OpenAPI at /api/v1/openapi.json), with bearer tokens.

Same operations and the same access rules as the pages: ids of another municipality
answer 404, a task outside the user's roles 403, a stale or repeated completion 409,
invalid form data 422 with Danish messages per field, malformed JSON 400, and a missing
or unknown token 401.
"""
from __future__ import annotations

from datetime import date

from flask import Flask, g, request
from flask_smorest import Api, Blueprint
from sqlalchemy import select

from inbox import auth, notifications, schemas, tokens
from inbox.access import LEDER, STARTS_CASES, TEAMLEDER, readable_task, require_role, runtime, task_for
from inbox.cases import case_view, validate_start
from inbox.formatting import answer_value
from processes.milestones import BY_KEY as MILESTONES
from inbox.errors import api_error
from inbox.limits import LimitedParser
from inbox.queries import InboxQuery, due_state, inbox_page, process_choices
from processes import analytics, task_context, timekeeping
from processes.engine import Actor, Engine, mask_cpr
from processes.errors import InvalidInput
from processes.models import Case, HumanTask, Municipality, User
from processes.scripting import danish_date


class _Api(Api):
    """flask-smorest's Api without its app-wide error handler: :mod:`inbox.errors` answers
    JSON under /api/ and HTML pages everywhere else."""

    def _register_error_handlers(self):
        pass


blp = Blueprint("api", __name__, url_prefix="/api/v1", description="Sagsflow caseworker API")
blp.ARGUMENTS_PARSER = LimitedParser()
_RESPONSES = {code: schemas.ApiErrorSchema for code in (400, 401, 403, 404, 409, 422)}


def register(app: Flask) -> None:
    app.config.setdefault("API_TITLE", "Sagsflow")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api = _Api(app, spec_kwargs={"components": {"securitySchemes": {
        "bearer": {"type": "http", "scheme": "bearer",
                   "description": "A token from `sagsflow user token USERNAME` or the API key page."}}},
        "security": [{"bearer": []}]})
    api.register_blueprint(blp)


@blp.before_request
def authenticate():
    if request.path.endswith("/openapi.json"):
        return None
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    with runtime().sessions() as db:
        user = tokens.user_for_token(db, token)
    if user is None:
        return api_error(401, "a valid bearer token is required")
    g.api_user = user
    g.api_actor = Actor.for_user(user)
    return None


def _actor() -> Actor:
    return g.api_actor


def _task_json(task: HumanTask, case: Case, claimer: str | None, now) -> dict:
    return {"id": task.id, "name": task.name, "bpmn_id": task.bpmn_id, "process_id": task.process_id,
            "role": task.role, "state": task.state, "case_id": task.case_id, "instance_id": task.instance_id,
            "citizen": case.citizen_name, "cpr": mask_cpr(case.cpr), "due_at": task.due_at,
            "due_state": due_state(task.due_at, now), "deadline_rule": task.deadline_rule,
            "claimed_by": claimer, "revision": task.revision, "created_at": task.created_at}


def _task_detail(task_id: int, audit: bool) -> dict:
    actor = _actor()
    with runtime().sessions.begin() as db:
        task = readable_task(db, actor, task_id)
        case = db.get(Case, task.case_id)
        names = {u.id: u.username for u in db.scalars(
            select(User).where(User.id.in_({task.claimed_by_id, task.completed_by_id} - {None})))}
        now = timekeeping.now(db)
        if audit:
            Engine.audit(db, actor, "task.view", task.municipality_id, task.case_id, task.instance_id,
                         {"task": task.bpmn_id, "via": "api"}, now)
        body = _task_json(task, case, names.get(task.claimed_by_id), now)
        shown = task_context.shown_items(db, task)
    body.update(form=runtime().engine.task_form(task), data=task.data,
                completed_by=names.get(task.completed_by_id), closed_at=task.closed_at,
                case_context=[_shown_json(item) for item in shown])
    return body


def _shown_json(item: task_context.Shown) -> dict:
    plain = item.spec is not None and item.spec.get("type") != "list" and not item.missing
    return {"label": item.label, "kind": item.kind, "value": item.value, "date": item.day,
            "text": answer_value(item.value, item.spec) if plain else None,
            "set_by_task": item.source.id if item.source else None,
            "set_at": item.source.closed_at if item.source else None, "missing": item.missing}


def _open_tasks_json(case_id: int, exclude: set[int] = frozenset()) -> list[dict]:
    rows = [t for t in runtime().engine.open_tasks(case_id=case_id) if t.id not in exclude]
    with runtime().sessions() as db:
        now = timekeeping.now(db)
        case = db.get(Case, case_id)
        names = {u.id: u.username for u in db.scalars(
            select(User).where(User.id.in_({t.claimed_by_id for t in rows} - {None})))}
        return [_task_json(t, case, names.get(t.claimed_by_id), now) for t in rows]


@blp.route("/tasks")
@blp.arguments(schemas.TaskListArgs, location="query")
@blp.response(200, schemas.TaskPageSchema)
@blp.alt_response(401, schema=schemas.ApiErrorSchema)
@blp.alt_response(403, schema=schemas.ApiErrorSchema)
def list_tasks(args):
    """The inbox: open tasks of my roles in my municipality (filter, sort, page)."""
    actor = _actor()
    team = args["scope"] == "team"
    if team:
        require_role(actor, TEAMLEDER)
    query = InboxQuery(roles=tuple(args["role"]), process=args["process"], due=args["due"],
                       claim=args["claim"], sort=args["sort"], desc=args["dir"] == "desc",
                       page=args["page"], per_page=args["per_page"], team=team)
    with runtime().sessions() as db:
        now = timekeeping.now(db)
        page = inbox_page(db, actor, query, now)
    return {"items": [_task_json(r.task, _CaseView(r.citizen, r.cpr), r.claimed_by, now) for r in page.rows],
            "total": page.total, "page": query.page, "per_page": query.per_page, "pages": page.pages}


class _CaseView:
    def __init__(self, citizen_name: str, cpr: str):
        self.citizen_name, self.cpr = citizen_name, cpr


@blp.route("/tasks/<int:task_id>")
@blp.response(200, schemas.TaskDetailSchema)
@blp.alt_response(404, schema=schemas.ApiErrorSchema)
@blp.alt_response(403, schema=schemas.ApiErrorSchema)
def get_task(task_id: int):
    """One task with its form schema (fields, types, required, choices)."""
    return _task_detail(task_id, audit=True)


@blp.route("/tasks/<int:task_id>/claim", methods=["POST"])
@blp.response(200, schemas.TaskDetailSchema)
@blp.alt_response(409, schema=schemas.ApiErrorSchema)
def claim_task(task_id: int):
    """Claim a task (others see it is yours)."""
    runtime().engine.claim_task(task_id, _actor())
    return _task_detail(task_id, audit=False)


@blp.route("/tasks/<int:task_id>/unclaim", methods=["POST"])
@blp.response(200, schemas.TaskDetailSchema)
@blp.alt_response(409, schema=schemas.ApiErrorSchema)
def unclaim_task(task_id: int):
    """Release a task you claimed."""
    runtime().engine.claim_task(task_id, _actor(), unclaim=True)
    return _task_detail(task_id, audit=False)


@blp.route("/tasks/<int:task_id>/complete", methods=["POST"])
@blp.arguments(schemas.CompleteSchema)
@blp.response(200, schemas.CompletedSchema)
@blp.alt_response(409, schema=schemas.ApiErrorSchema)
@blp.alt_response(422, schema=schemas.ApiErrorSchema)
def complete_task(body, task_id: int):
    """Complete a task with its form data; pass `revision` to refuse a stale form (409).

    Pass a fresh `idempotency_key` with each submission to retry it safely: when the
    first attempt was committed but its answer was lost, the retry with the same key
    and data answers 200 again (changing nothing) instead of 409, and `next_tasks` lists
    the tasks that completion opened which are still open."""
    actor = _actor()
    with runtime().sessions() as db:
        case_id = task_for(db, actor, task_id).case_id
    before = {t.id for t in runtime().engine.open_tasks(case_id=case_id)}
    done = runtime().engine.complete_task(task_id, body["data"], actor, revision=body["revision"],
                                          idempotency_key=body["idempotency_key"])
    if done.replayed:
        before = {t.id for t in runtime().engine.open_tasks(case_id=case_id) if t.created_at != done.closed_at}
    return {"task": _task_detail(task_id, audit=False), "next_tasks": _open_tasks_json(case_id, before)}


@blp.route("/tasks/<int:task_id>/reassign", methods=["POST"])
@blp.arguments(schemas.ReassignSchema)
@blp.response(200, schemas.TaskDetailSchema)
@blp.alt_response(403, schema=schemas.ApiErrorSchema)
def reassign_task(body, task_id: int):
    """A teamleder gives a task to a colleague who holds its role."""
    actor = _actor()
    require_role(actor, TEAMLEDER)
    with runtime().sessions() as db:
        task_for(db, actor, task_id, need_role=False)  # another municipality's task: 404
        to_user = db.scalar(select(User).where(User.username == body["username"],
                                               User.municipality_id == actor.municipality_id))
    if to_user is None:
        raise InvalidInput("unknown user", {"username": ["Ukendt bruger."]})
    runtime().engine.reassign_task(task_id, to_user, actor)
    with runtime().sessions() as db:
        task = db.get(HumanTask, task_id)
        case = db.get(Case, task.case_id)
        body = _task_json(task, case, to_user.username, timekeeping.now(db))
    body.update(form=runtime().engine.task_form(task), data=task.data, completed_by=None, closed_at=None)
    return body


@blp.route("/cases/<int:case_id>")
@blp.response(200, schemas.CaseSchema)
@blp.alt_response(404, schema=schemas.ApiErrorSchema)
@blp.alt_response(403, schema=schemas.ApiErrorSchema)
def get_case(case_id: int):
    """Everything about one citizen's case (the view is written to the audit log)."""
    detail = case_view(case_id, _actor())
    names = {user_id: user.username for user_id, user in detail["users"].items()}
    documents = {d.outbox_id: d for d in detail["documents"]}
    case, now = detail["case"], detail["now"]
    return {
        "id": case.id, "citizen": case.citizen_name, "cpr": mask_cpr(case.cpr),
        "municipality": detail["municipality"].key, "status": case.status, "now": now,
        "instances": [{"id": i.id, "process_id": i.process_id, "status": i.status,
                       "model_version": i.model_version.version, "started_at": i.started_at,
                       "completed_at": i.completed_at,
                       "current": sorted({t.bpmn_id for t in detail["tasks"]
                                          if t.instance_id == i.id and t.state == "open"})}
                      for i in detail["instances"]],
        "open_tasks": [_task_json(t, case, names.get(t.claimed_by_id), now)
                       for t in detail["tasks"] if t.state == "open"],
        "history": [{"id": t.id, "name": t.name, "task": t.bpmn_id, "process": t.process_id, "role": t.role,
                     "state": t.state, "completed_by": names.get(t.completed_by_id), "closed_at": t.closed_at}
                    for t in detail["tasks"] if t.state != "open"],
        "deadlines": [{"instance_id": t.instance_id, "timer": t.bpmn_id, "name": t.name, "rule": t.deadline_rule,
                       "due_at": t.due_at, "task": t.attached_to} for t in detail["timers"]],
        "breaches": [{"instance_id": b.instance_id, "timer": b.bpmn_id, "name": b.bpmn_id, "rule": b.deadline_rule,
                      "due_at": b.due_at} for b in detail["breaches"]],
        "letters": [{"id": o.id, "template": o.payload.get("template"), "created_at": o.created_at,
                     "sent_at": o.sent_at, "document_id": documents[o.id].id if o.id in documents else None,
                     "title": documents[o.id].title if o.id in documents else None} for o in detail["letters"]],
        "owner": detail["owner"].username if detail["owner"] else None,
        "milestones": [{"key": m.key, "label": MILESTONES[m.key].label if m.key in MILESTONES else m.key,
                        "item": m.item or None, "date": m.date.isoformat(), "process": m.process_id,
                        "instance_id": m.instance_id,
                        "recorded_at": m.recorded_at, "actor": m.actor} for m in detail["milestones"]],
        "service_targets": [{k: t[k] for k in ("key", "label", "start", "due", "end", "state", "duration")}
                            for t in detail["targets"]],
    }


@blp.route("/cases", methods=["POST"])
@blp.arguments(schemas.StartCaseSchema)
@blp.response(201, schemas.StartedSchema)
@blp.alt_response(403, schema=schemas.ApiErrorSchema)
@blp.alt_response(422, schema=schemas.ApiErrorSchema)
def start_case(body):
    """Start a case type for a citizen in my municipality (needs the sagsbehandler role)."""
    actor = _actor()
    require_role(actor, STARTS_CASES)
    with runtime().sessions() as db:
        case_types = process_choices(db, actor)
        municipality = db.get(Municipality, actor.municipality_id)
    errors = validate_start(body, case_types)
    if errors:
        raise InvalidInput("the case cannot be started", errors)
    instance = runtime().engine.start_case(municipality.key, body["case_type"], body["cpr"],
                                           body["citizen_name"], actor=actor, age=body.get("age"))
    return {"case_id": instance.case_id, "instance_id": instance.id, "process": instance.process_id,
            "status": instance.status, "open_tasks": _open_tasks_json(instance.case_id)}


@blp.route("/tokens")
@blp.response(200, schemas.ApiTokenSchema(many=True))
@blp.alt_response(401, schema=schemas.ApiErrorSchema)
def list_tokens():
    """My API tokens, newest first, with when each expires and whether it was revoked."""
    with runtime().sessions() as db:
        return [_token_json(row) for row in tokens.tokens_of(db, g.api_user)]


@blp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@blp.response(200, schemas.ApiTokenSchema)
@blp.alt_response(404, schema=schemas.ApiErrorSchema)
def revoke_token(token_id: int):
    """Revoke one of my tokens (it stops working at once; repeating it changes nothing)."""
    return _token_json(auth.revoke(g.api_user, token_id))


def _token_json(row) -> dict:
    return {"id": row.id, "name": row.name, "created_at": row.created_at, "expires_at": row.expires_at,
            "revoked_at": row.revoked_at, "state": tokens.token_state(row)}


@blp.route("/notifications")
@blp.arguments(notifications.NotificationListArgs, location="query")
@blp.response(200, notifications.NotificationPageSchema)
@blp.alt_response(401, schema=schemas.ApiErrorSchema)
def list_notifications(args):
    """My notifications, newest first: those addressed to me, to a role I hold, or (failed
    deliveries) to my municipality's administrators if I am one."""
    with runtime().sessions() as db:
        page = notifications.notification_page(db, g.api_user, args["page"], args["per_page"], args["unread"])
    return {"items": page.items, "total": page.total, "unread": page.unread, "page": page.page,
            "per_page": page.per_page, "pages": page.pages}


@blp.route("/notifications/<int:notification_id>/read", methods=["POST"])
@blp.response(200, notifications.NotificationSchema)
@blp.alt_response(404, schema=schemas.ApiErrorSchema)
def read_notification(notification_id: int):
    """Mark one of my notifications read (repeating it changes nothing); any other id is 404."""
    with runtime().sessions.begin() as db:
        notifications.mark_read(db, g.api_user, notification_id)
    with runtime().sessions() as db:
        return notifications.notification_for(db, g.api_user, notification_id)


@blp.route("/notifications/read", methods=["POST"])
@blp.response(200, notifications.MarkedReadSchema)
def read_all_notifications():
    """Mark all my unread notifications read."""
    with runtime().sessions.begin() as db:
        marked = notifications.mark_read(db, g.api_user)
        return {"marked": marked, "unread": notifications.unread_count(db, g.api_user)}


@blp.route("/analytics/kpis")
@blp.arguments(schemas.KpiArgs, location="query")
@blp.response(200, schemas.KpiSchema)
@blp.alt_response(403, schema=schemas.ApiErrorSchema)
@blp.alt_response(404, schema=schemas.ApiErrorSchema)
@blp.alt_response(422, schema=schemas.ApiErrorSchema)
def analytics_kpis(args):
    """My municipality's manager measures beside others' and the national figure (role leder;
    docs/analytics.md). Other municipalities' figures are aggregates, suppressed below 5 cases."""
    actor = _actor()
    require_role(actor, LEDER)
    with runtime().sessions() as db:
        now = timekeeping.now(db)
        own = db.get(Municipality, actor.municipality_id).key
        filters = analytics.make_filters(date.fromisoformat(danish_date(now)), args["from_"], args["to"],
                                         args["case_type"], args["model_version"], args["policy_version"])
        others = [k.strip() for k in args["compare"].split(",") if k.strip()]
        result = analytics.compare(db, own, others, filters, now)
    return {**result, "rows": analytics.comparison_rows(result)}


from inbox import studio_api  # noqa: E402,F401  (the studio's endpoints on this blueprint)
