"""The ``sagsflow`` command.

Every command that fails on bad input (unknown id, invalid JSON, a task that is no
longer open, a user without the task's role) prints one line on stderr, exits non-zero
and changes nothing: the engine's transaction rolls back before the message is shown.
"""
from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from sqlalchemy import select

from processes import setup, timekeeping, users
from processes.engine import Actor, mask_cpr
from processes.errors import SagsflowError
from processes.library import ModelInvalid
from processes.models import Case, Municipality, User
from processes.roles import ROLES
from processes.runtime import Runtime, open_runtime
from processes.scripting import parse_duration

LOCAL = ZoneInfo("Europe/Copenhagen")
EXIT_CODES = {404: 3, 403: 4, 409: 5, 422: 6, 400: 2}


def local(value: datetime | None, with_time: bool = True) -> str:
    if value is None:
        return "-"
    value = value.astimezone(LOCAL)
    return value.strftime("%Y-%m-%d %H:%M") if with_time else value.strftime("%Y-%m-%d")


class SagsflowGroup(click.Group):
    """Turns Sagsflow's errors into one line on stderr and a distinct exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            click.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(2)
        except ModelInvalid as exc:
            for problem in exc.problems:
                click.echo(f"error: {problem}", err=True)
            sys.exit(6)
        except SagsflowError as exc:
            click.echo(f"error: {exc}", err=True)
            errors = getattr(exc, "errors", None)
            if errors:
                for field_id, messages in errors.items():
                    click.echo(f"  {field_id}: {' '.join(messages)}", err=True)
            sys.exit(EXIT_CODES.get(exc.status, 1))


def _runtime(ctx) -> Runtime:
    obj = ctx.ensure_object(dict)
    if "runtime" not in obj:
        obj["runtime"] = open_runtime(obj.get("url"))
        ctx.call_on_close(obj["runtime"].close)
    return obj["runtime"]


def _json_arg(text: str | None, what: str) -> dict:
    if not text:
        return {}
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise click.UsageError(f"cannot read {what} file: {exc}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.UsageError(f"{what} is not valid JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(value, dict):
        raise click.UsageError(f"{what} must be a JSON object")
    return value


def _actor(rt: Runtime, username: str | None) -> Actor:
    if not username:
        return Actor.system("cli")
    with rt.sessions() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise click.UsageError(f"unknown user {username!r}")
        return Actor.for_user(user)


@click.group(cls=SagsflowGroup)
@click.option("--database-url", envvar="SAGSFLOW_DATABASE_URL", default=None,
              help="SQLAlchemy URL (default: SQLite in var/sagsflow.sqlite3).")
@click.pass_context
def main(ctx, database_url):
    """Sagsflow: BPMN case processes for Danish job centres."""
    ctx.ensure_object(dict)["url"] = database_url


@main.command()
@click.option("--demo/--no-demo", default=True, show_default=True, help="Create the demo users.")
@click.option("--virtual-clock/--real-clock", default=None,
              help="Run on a virtual clock (default with --demo) that `clock advance` moves.")
@click.option("--start", "start", default=None, help="Start of the virtual clock (ISO date or datetime).")
@click.option("--history/--no-history", default=True, show_default=True,
              help="Give a new demo database a year of cases before the demo date (run through the engine).")
@click.pass_context
def init(ctx, demo, virtual_clock, start, history):
    """Create or upgrade the database and load the model library, the reference
    municipalities and (with --demo) the demo users. Safe to run again."""
    rt = _runtime(ctx)
    use_virtual = demo if virtual_clock is None else virtual_clock
    begin = None
    if use_virtual:
        begin = setup.DEMO_START
        if start:
            try:
                begin = datetime.fromisoformat(start)
            except ValueError:
                raise click.UsageError(f"--start is not an ISO date: {start!r}") from None
            if begin.tzinfo is None:
                begin = (begin.replace(hour=9) if len(start) == 10 else begin).replace(tzinfo=LOCAL)
    result = setup.initialise(rt.db, rt.sessions, demo=demo, virtual_clock=begin, history=history,
                              progress=_history_progress, after_day=_history_worker(rt))
    with rt.sessions() as session:
        clock = "virtual" if timekeeping.is_virtual(session) else "real"
        now = timekeeping.now(session)
    click.echo(f"database ready: {rt.url}")
    click.echo(f"municipalities: {', '.join(result['municipalities']) or '-'}")
    click.echo(f"clock: {clock}, now {local(now)}")
    if demo:
        click.echo(f"demo users: <municipality>.<role>, e.g. aaby.sagsbehandler, password '{setup.DEMO_PASSWORD}'"
                   f" ({result['users_created']} created)")
        built = result.get("history")
        if built is not None:
            click.echo(f"history: {built.cases} cases from {local(built.start, False)}, {built.completed} tasks"
                       f" completed in {built.seconds:.0f} s" + (f", {len(built.failed)} left open" if built.failed
                                                                 else ""))
        if result["demo_cases"]:
            click.echo(f"demo cases started: {result['demo_cases']} (see `sagsflow tasks`)")


def _history_progress(month: str, done: int, total: int, result) -> None:
    bar = "#" * done + "." * (total - done)
    click.echo(f"history {month} [{bar}] {done}/{total} months, {result.cases} cases,"
               f" {result.completed} tasks completed")


def _history_worker(rt: Runtime):
    """What the worker does between the history's days: deadline notifications and the
    outbox (letters become case documents on the day they are written)."""
    from worker import escalation
    from worker.outbox import default_transports, deliver_next
    transports = default_transports(rt.engine.specs)

    def drain() -> None:
        while max(escalation.scan(rt.sessions).values()) >= escalation.BATCH:
            pass
        while deliver_next(rt.sessions, transports) is not None:
            pass
    return drain


# ------------------------------------------------------------------------- cases
@main.group()
def case():
    """Start and inspect citizens' cases."""


@case.command("start")
@click.argument("municipality")
@click.argument("case_type")
@click.option("--cpr", required=True, help="The citizen's CPR number (use fictional numbers in demos).")
@click.option("--name", "citizen_name", required=True, help="The citizen's name.")
@click.option("--age", type=int, default=None, help="The citizen's age.")
@click.option("--data", "data_json", default=None, help="Initial process data as a JSON object (or @file).")
@click.option("--user", "username", default=None, help="Act as this user (default: the system).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def case_start(ctx, municipality, case_type, cpr, citizen_name, age, data_json, username, as_json):
    """Start a CASE_TYPE process for a citizen in MUNICIPALITY (e.g. aaby fleksjob)."""
    rt = _runtime(ctx)
    data = _json_arg(data_json, "--data")
    instance = rt.engine.start_case(municipality, case_type, cpr, citizen_name, data,
                                    _actor(rt, username), age=age)
    if as_json:
        click.echo(json.dumps({"case_id": instance.case_id, "instance_id": instance.id,
                               "process": instance.process_id, "status": instance.status}))
    else:
        click.echo(f"started {instance.process_id} as instance {instance.id} in case {instance.case_id}")


def _case_payload(detail: dict) -> dict:
    case_row, users = detail["case"], detail.get("users", {})
    return {
        "case_id": case_row.id, "citizen": case_row.citizen_name, "cpr": mask_cpr(case_row.cpr),
        "municipality": detail["municipality"].key, "now": detail["now"].isoformat(),
        "instances": [{"id": i.id, "process": i.process_id, "status": i.status,
                       "model_version": i.model_version.version if i.model_version else None,
                       "started_at": i.started_at.isoformat(),
                       "completed_at": i.completed_at.isoformat() if i.completed_at else None}
                      for i in detail["instances"]],
        "open_tasks": [_task_json(t) for t in detail["tasks"] if t.state == "open"],
        "history": [dict(_task_json(t), completed_by=users.get(t.completed_by_id),
                         closed_at=t.closed_at.isoformat() if t.closed_at else None)
                    for t in detail["tasks"] if t.state != "open"],
        "deadlines": [{"instance_id": t.instance_id, "timer": t.bpmn_id, "name": t.name,
                       "rule": t.deadline_rule, "due_at": t.due_at.isoformat(), "task": t.attached_to}
                      for t in detail["timers"]],
        "breaches": [{"timer": b.bpmn_id, "rule": b.deadline_rule, "due_at": b.due_at.isoformat(),
                      "fired_at": b.fired_at.isoformat()} for b in detail["breaches"]],
        "letters": [{"id": o.id, "template": o.payload.get("template"), "created_at": o.created_at.isoformat(),
                     "sent_at": o.sent_at.isoformat() if o.sent_at else None} for o in detail["letters"]],
    }


def _task_json(t) -> dict:
    return {"id": t.id, "instance_id": t.instance_id, "case_id": t.case_id, "process": t.process_id,
            "task": t.bpmn_id, "name": t.name, "role": t.role, "state": t.state,
            "due_at": t.due_at.isoformat() if t.due_at else None, "rule": t.deadline_rule,
            "claimed_by": t.claimed_by_id}


@case.command("show")
@click.argument("case_id", type=int)
@click.option("--user", "username", default=None, help="View as this user (the view is audited).")
@click.option("--json", "as_json", is_flag=True, help="Print the case as JSON.")
@click.pass_context
def case_show(ctx, case_id, username, as_json):
    """Show a case: processes, history, open tasks and pending deadlines with dates."""
    rt = _runtime(ctx)
    detail = rt.engine.case_detail(case_id, _actor(rt, username))
    with rt.sessions() as session:
        ids = {t.completed_by_id for t in detail["tasks"] if t.completed_by_id}
        detail["users"] = {u.id: u.username for u in session.scalars(select(User).where(User.id.in_(ids)))}
    payload = _case_payload(detail)
    if as_json:
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    click.echo(f"Case {payload['case_id']}: {payload['citizen']} ({payload['cpr']}), "
               f"{detail['municipality'].name}; now {local(detail['now'])}")
    click.echo("\nProcesses:")
    for i in detail["instances"]:
        click.echo(f"  #{i.id} {i.process_id} (model v{i.model_version.version}) {i.status}, "
                   f"started {local(i.started_at)}" + (f", ended {local(i.completed_at)}" if i.completed_at else ""))
    click.echo("\nOpen tasks:")
    for t in [t for t in detail["tasks"] if t.state == "open"] or []:
        click.echo(f"  [{t.id}] {t.name} ({t.process_id}/{t.bpmn_id}) role {t.role}, due {local(t.due_at)}")
    if not any(t.state == "open" for t in detail["tasks"]):
        click.echo("  (none)")
    click.echo("\nPending deadlines:")
    for t in detail["timers"]:
        rule = f" [{t.deadline_rule}]" if t.deadline_rule else ""
        click.echo(f"  {local(t.due_at, False)}  {t.name}{rule} (#{t.instance_id} {t.bpmn_id})")
    if not detail["timers"]:
        click.echo("  (none)")
    if detail["breaches"]:
        click.echo("\nBreached deadlines:")
        for b in detail["breaches"]:
            click.echo(f"  {local(b.due_at, False)}  {b.bpmn_id} [{b.deadline_rule or '-'}]")
    click.echo("\nHistory:")
    for t in [t for t in detail["tasks"] if t.state != "open"]:
        who = detail["users"].get(t.completed_by_id, "system") if t.state == "completed" else "-"
        click.echo(f"  {local(t.closed_at)}  {t.state:9} {t.name} ({t.role}) by {who}")
    if detail["letters"]:
        click.echo("\nLetters:")
        for o in detail["letters"]:
            click.echo(f"  {local(o.created_at)}  {o.payload.get('template')} "
                       f"({'sent ' + local(o.sent_at) if o.sent_at else 'queued'})")


# ------------------------------------------------------------------------- tasks
@main.command()
@click.option("--municipality", default=None, help="Only tasks of this municipality (key).")
@click.option("--role", "roles", multiple=True, help="Only tasks of this role (repeatable).")
@click.option("--user", "username", default=None, help="The inbox of this user: their municipality and roles.")
@click.option("--case", "case_id", type=int, default=None, help="Only tasks of this case.")
@click.option("--json", "as_json", is_flag=True, help="Print the tasks as JSON.")
@click.pass_context
def tasks(ctx, municipality, roles, username, case_id, as_json):
    """List open tasks (an inbox)."""
    rt = _runtime(ctx)
    municipality_id, role_filter = None, set(roles) or None
    if username:
        actor = _actor(rt, username)
        municipality_id = actor.municipality_id
        role_filter = (role_filter & actor.roles) if role_filter else actor.roles
    if municipality:
        with rt.sessions() as session:
            found = session.scalar(select(Municipality.id).where(Municipality.key == municipality))
        if found is None:
            raise click.UsageError(f"unknown municipality {municipality!r}")
        if municipality_id not in (None, found):
            raise click.UsageError("--municipality differs from the user's municipality")
        municipality_id = found
    rows = rt.engine.open_tasks(municipality_id, role_filter, case_id)
    with rt.sessions() as session:
        cases = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_({t.case_id for t in rows})))}
    if as_json:
        click.echo(json.dumps([dict(_task_json(t), citizen=cases[t.case_id].citizen_name,
                                    cpr=mask_cpr(cases[t.case_id].cpr)) for t in rows], ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no open tasks")
    for t in rows:
        click.echo(f"[{t.id}] {local(t.due_at, False):10}  {t.role:22} {t.name}  "
                   f"(case {t.case_id}, {cases[t.case_id].citizen_name}, {mask_cpr(cases[t.case_id].cpr)}, {t.process_id})")


@main.group()
def task():
    """Work on one task."""


@task.command("complete")
@click.argument("task_id", type=int)
@click.option("--data", "data_json", default=None, help="The form as a JSON object (or @file).")
@click.option("--user", "username", required=True, help="The user completing the task (needs its role).")
@click.pass_context
def task_complete(ctx, task_id, data_json, username):
    """Complete an open task with its form data."""
    rt = _runtime(ctx)
    data = _json_arg(data_json, "--data")
    done = rt.engine.complete_task(task_id, data, _actor(rt, username))
    click.echo(f"completed task {done.id} ({done.name})")
    for t in rt.engine.open_tasks(case_id=done.case_id):
        if t.created_at >= done.closed_at:
            click.echo(f"  new: [{t.id}] {t.name} -> {t.role}, due {local(t.due_at, False)}")


@task.command("show")
@click.argument("task_id", type=int)
@click.option("--user", "username", required=True, help="The user looking at the task.")
@click.pass_context
def task_show(ctx, task_id, username):
    """Show an open task and its form fields."""
    rt = _runtime(ctx)
    actor = _actor(rt, username)
    found = rt.engine.task(task_id, actor)
    click.echo(f"[{found.id}] {found.name} ({found.process_id}/{found.bpmn_id}) role {found.role}, "
               f"{found.state}, due {local(found.due_at)}")
    for field in rt.engine.task_form(found):
        choices = f" one of {', '.join(o['id'] for o in field['options'])}" if field["options"] else ""
        click.echo(f"  {field['id']}: {field['type']}{' (required)' if field['required'] else ''}"
                   f"{choices}  {field['label']}")


for _name, _unclaim in (("claim", False), ("unclaim", True)):
    def _make(unclaim):
        @click.argument("task_id", type=int)
        @click.option("--user", "username", required=True, help="The user.")
        @click.pass_context
        def command(ctx, task_id, username):
            rt = _runtime(ctx)
            done = rt.engine.claim_task(task_id, _actor(rt, username), unclaim=unclaim)
            click.echo(f"{'unclaimed' if unclaim else 'claimed'} task {done.id} ({done.name})")
        command.__doc__ = "Release a claimed task." if unclaim else "Claim a task so others see it is yours."
        return command
    task.command(_name)(_make(_unclaim))


# ------------------------------------------------------------------------- clock
@main.group()
def clock():
    """The installation's clock (a demo or test installation has a virtual one)."""


@clock.command("show")
@click.pass_context
def clock_show(ctx):
    """Print the current time and whether the clock is virtual."""
    rt = _runtime(ctx)
    with rt.sessions() as session:
        kind = "virtual" if timekeeping.is_virtual(session) else "real"
        now = timekeeping.now(session)
    click.echo(f"{local(now)} ({kind} clock, Europe/Copenhagen; {now.isoformat()})")


@clock.command("advance")
@click.argument("duration")
@click.option("--no-fire", is_flag=True, help="Only move the clock; leave firing to the worker.")
@click.pass_context
def clock_advance(ctx, duration, no_fire):
    """Move the virtual clock forward by an ISO 8601 DURATION (P3W, P30M, PT2H) and fire
    the timers that fall due on the way, in order."""
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
    rt = _runtime(ctx)
    try:
        parsed = parse_duration(duration)
    except Exception:
        raise click.UsageError(f"not an ISO 8601 duration: {duration!r} (e.g. P3W, P30M, PT2H)") from None
    with rt.sessions() as session:
        timekeeping.require_virtual(session)
        start = timekeeping.now(session)
    delta = TimerEventDefinition.get_timedelta_from_start(parsed, start)
    fired = []
    target = rt.engine.advance_clock(delta, fire=not no_fire, progress=fired.append, actor=Actor.system("cli"))
    click.echo(f"clock moved from {local(start)} to {local(target)}; "
               f"{len(fired)} due time(s) passed" + ("" if not no_fire else " (not fired)"))


# ---------------------------------------------------------------- municipalities
@main.group()
def municipality():
    """Municipalities and their configuration."""


@municipality.command("add")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--user", "username", default="cli", help="Recorded as who registered it.")
@click.option("--demo-users", is_flag=True, help="Also create demo users (<key>.<role>, password 'demo').")
@click.option("--update", is_flag=True, help="Change a municipality that is already registered (audited).")
@click.pass_context
def municipality_add(ctx, path, username, demo_users, update):
    """Register a municipality from a folder (or a zip of it) with municipality.json and
    models (with --update: change an existing one)."""
    from processes import archives, municipalities
    rt = _runtime(ctx)
    config = archives.load_zip(path.read_bytes(), path.name) if path.is_file() else municipalities.load_folder(path)
    with rt.sessions.begin() as session:
        now = timekeeping.now(session)
        municipalities.register(session, config, now, changed_by=username, update=update)
        if demo_users:
            setup.seed_demo_users(session, now)
    click.echo(f"registered {config.key} ({config.name}): "
               + ", ".join(f"{ct}={'shared' if shared else m.file_name}" for ct, (m, shared) in config.models.items()))
    # Not errors (the models are registered): texts without English show in Danish.
    for model, _shared in config.models.values():
        for problem in model.warnings:
            click.echo(f"warning: {problem}", err=True)


@municipality.command("list")
@click.pass_context
def municipality_list(ctx):
    """List the registered municipalities."""
    rt = _runtime(ctx)
    with rt.sessions() as session:
        for m in session.scalars(select(Municipality).order_by(Municipality.key)):
            click.echo(f"{m.key:12} {m.name}")


from sagsflow.policy_cli import policy  # noqa: E402  (its commands use this module's runtime)
main.add_command(policy)
from sagsflow.kpi_cli import kpi, kpi_refresh  # noqa: E402
main.add_command(kpi)
from sagsflow.eventlog_cli import eventlog_group  # noqa: E402
main.add_command(eventlog_group)
main.add_command(kpi_refresh)
from sagsflow.model_cli import model  # noqa: E402
main.add_command(model)
from sagsflow.simulate_cli import simulate  # noqa: E402
main.add_command(simulate)

# ------------------------------------------------------------------------ worker
@main.command()
@click.option("--status", "show_status", is_flag=True, help="Show lag, queue sizes and the workers' last ticks.")
@click.option("--once", is_flag=True, help="Run one poll cycle (drain what is due now) and exit.")
@click.option("--interval", type=float, default=1.0, show_default=True, help="Seconds between polls.")
@click.option("--log-level", default="INFO", show_default=True, help="DEBUG logs every fired timer.")
@click.option("--json", "as_json", is_flag=True, help="With --status or --once: print JSON.")
@click.pass_context
def worker(ctx, show_status, once, interval, log_level, as_json):
    """Fire due timers, deliver messages, letters and notifications (run one or many)."""
    from worker import logs, status as worker_status
    from worker.service import run_worker
    if show_status:
        rt = _runtime(ctx)
        with rt.sessions() as session:
            report = worker_status.collect(session)
        click.echo(json.dumps(report, default=str, indent=2) if as_json else worker_status.render(report))
        return
    logs.configure(log_level)
    stats = run_worker(ctx.ensure_object(dict).get("url"), interval=interval, once=once)
    if once:
        click.echo(json.dumps(dict(stats)) if as_json else
                   ", ".join(f"{k} {v}" for k, v in sorted(stats.items())) or "nothing due")


# --------------------------------------------------------------------- web app
@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on (0: any free port).")
@click.option("--threads", default=8, show_default=True, type=int, help="Web server threads.")
@click.option("--worker/--no-worker", "with_worker", default=True, show_default=True,
              help="Also run the background worker (timers, messages, letters) in this process.")
@click.pass_context
def run(ctx, host, port, threads, with_worker):
    """Start the caseworker web application (and the worker) and print its address."""
    from waitress import create_server
    from inbox import create_app, freeze_startup_objects
    rt = _runtime(ctx)
    app = create_app(rt)
    freeze_startup_objects()
    server = create_server(app, host=host, port=port, threads=threads)
    background = None
    if with_worker:
        from worker.service import start_background
        background = start_background(rt.url)
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    click.echo(f"Sagsflow is running: open http://{shown}:{server.effective_port}/")
    click.echo(f"  database {rt.url}; worker {'running' if background else 'off'}; Ctrl+C stops")
    click.echo(f"  log in as <municipality>.<role>, e.g. aaby.sagsbehandler, password '{setup.DEMO_PASSWORD}'"
               " (demo installations)")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        if background is not None:
            background.stop()


@main.group()
def user():
    """Users of the web application and the API."""


@user.command("token")
@click.argument("username")
@click.pass_context
def user_token(ctx, username):
    """Issue a new API token for USERNAME (it expires after 90 days) and print it once."""
    from inbox.tokens import issue_token
    from processes.engine import Engine
    rt = _runtime(ctx)
    with rt.sessions.begin() as session:
        found = session.scalar(select(User).where(User.username == username))
        if found is None:
            raise click.UsageError(f"unknown user {username!r}")
        token = issue_token(session, found)
        Engine.audit(session, Actor.system("cli"), "user.token", found.municipality_id, None, None,
                     {"user": username}, timekeeping.now(session))
    click.echo(token)


@user.command("absent")
@click.argument("username")
@click.option("--until", "until", default=None, help="Last day away (YYYY-MM-DD); omit to mark the user present.")
@click.option("--from", "start", default=None, help="First day away (YYYY-MM-DD); default: at once.")
@click.option("--substitute", default=None, help="A colleague (username) who takes the owner tasks meanwhile.")
@click.pass_context
def user_absent(ctx, username, until, start, substitute):
    """Mark USERNAME away up to and including a Danish date: tasks of the cases they own
    (owner tasks) go to the substitute or the role meanwhile and come back after (audited)."""
    from datetime import date as _date
    try:
        day = _date.fromisoformat(until) if until else None
        first = _date.fromisoformat(start) if start else None
    except ValueError:
        raise click.UsageError(f"--from and --until must be dates YYYY-MM-DD, got {start or until!r}") from None
    rt = _runtime(ctx)
    with rt.sessions.begin() as session:
        stand_in = users.by_username(session, substitute) if substitute else None
        moved = users.set_absent(session, Actor.system("cli"), users.by_username(session, username), day,
                                 timekeeping.now(session), start=first, substitute=stand_in)
    if not day:
        click.echo(f"{username}: present" + (f"; {moved['returned']} task(s) returned" if moved["returned"] else ""))
        return
    click.echo(f"{username}: away {'from ' + start + ' ' if start else ''}until {until}"
               + (f", substitute {substitute}" if substitute else ""))
    if moved["handed_on"] or moved["returned"]:
        click.echo(f"{moved['handed_on']} task(s) handed on, {moved['returned']} returned")


@user.command("add")
@click.argument("username")
@click.option("--municipality", default=None, help="The municipality (key) the user works in.")
@click.option("--name", "full_name", required=True, help="The user's full name.")
@click.option("--role", "roles", multiple=True, help="A role (repeatable); see `sagsflow user roles --help`.")
@click.option("--admin", "is_admin", is_flag=True, help="Also administrator of the municipality.")
@click.option("--national", is_flag=True, help="A national administrator (no municipality, no roles).")
@click.pass_context
def user_add(ctx, username, municipality, full_name, roles, is_admin, national):
    """Create a user and print a one-time password (changed at the first sign-in)."""
    from processes import policy_changes
    rt = _runtime(ctx)
    if not national and not municipality:
        raise click.UsageError("--municipality is required (or --national)")
    with rt.sessions.begin() as session:
        found = policy_changes.municipality_by_key(session, municipality) if municipality else None
        created, password = users.create_user(session, Actor.system("cli"), found, username, full_name, roles,
                                              timekeeping.now(session), is_admin=is_admin, national=national)
        name = created.username
    click.echo(f"created {name}; one-time password (shown once, must be changed at first sign-in): {password}")


@user.command("list")
@click.option("--municipality", default=None, help="Only users of this municipality (key).")
@click.option("--json", "as_json", is_flag=True, help="Print the users as JSON.")
@click.pass_context
def user_list(ctx, municipality, as_json):
    """List users with their municipality, roles and state."""
    rt = _runtime(ctx)
    with rt.sessions() as session:
        keys = dict(session.execute(select(Municipality.id, Municipality.key)).all())
        query = select(User).order_by(User.username)
        if municipality:
            found = session.scalar(select(Municipality.id).where(Municipality.key == municipality))
            if found is None:
                raise click.UsageError(f"unknown municipality {municipality!r}")
            query = query.where(User.municipality_id == found)
        rows = [{"username": u.username, "name": u.full_name, "municipality": keys.get(u.municipality_id),
                 "roles": sorted(u.role_keys), "admin": u.is_admin, "national_admin": u.is_national_admin,
                 "active": u.active, "absent_until": u.absent_until.isoformat() if u.absent_until else None}
                for u in session.scalars(query)]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        flags = [f for f, on in (("admin", r["admin"]), ("national admin", r["national_admin"]),
                                 ("DEACTIVATED", not r["active"])) if on]
        away = f" away until {r['absent_until']}" if r["absent_until"] else ""
        click.echo(f"{r['username']:32} {r['municipality'] or '-':12} {','.join(r['roles']) or '-'}"
                   + (f"  [{', '.join(flags)}]" if flags else "") + away)


@user.command("deactivate")
@click.argument("username")
@click.option("--reactivate", is_flag=True, help="Let a deactivated user sign in again.")
@click.pass_context
def user_deactivate(ctx, username, reactivate):
    """Stop USERNAME: no sign-in, sessions and API tokens ended, claimed tasks back to the
    role's inbox, the teamleder told (audited)."""
    from datetime import timezone
    rt = _runtime(ctx)
    with rt.sessions.begin() as session:
        found, now = users.by_username(session, username), timekeeping.now(session)
        if reactivate:
            users.reactivate(session, Actor.system("cli"), found, now)
            click.echo(f"{username}: active")
            return
        released = users.deactivate(session, Actor.system("cli"), found, now, datetime.now(timezone.utc))
        lines = [f"  task {t.id} ({t.name}) back to the {t.role} inbox" for t in released]
    click.echo(f"{username}: deactivated; sessions and API tokens ended")
    for line in lines:
        click.echo(line)


@user.command("roles", help="Show or change USERNAME's roles (audited). Roles: " + ", ".join(ROLES) + ".")
@click.argument("username")
@click.option("--set", "set_roles", multiple=True, help="Exactly these roles (repeatable).")
@click.option("--add", "add", multiple=True, help="Add a role (repeatable).")
@click.option("--remove", "remove", multiple=True, help="Remove a role (repeatable).")
@click.pass_context
def user_roles(ctx, username, set_roles, add, remove):
    rt = _runtime(ctx)
    if set_roles and (add or remove):
        raise click.UsageError("use --set alone, or --add/--remove")
    with rt.sessions.begin() as session:
        found = users.by_username(session, username)
        if set_roles or add or remove:
            wanted = set(set_roles) if set_roles else (found.role_keys | set(add)) - set(remove)
            users.set_roles(session, Actor.system("cli"), found, wanted, timekeeping.now(session))
        shown = sorted(found.role_keys)
    click.echo(f"{username}: {', '.join(shown) or '(no roles)'}")


@user.command("password")
@click.argument("username")
@click.pass_context
def user_password(ctx, username):
    """Give USERNAME a new one-time password (printed once); their sessions and tokens end."""
    from datetime import timezone
    rt = _runtime(ctx)
    with rt.sessions.begin() as session:
        password = users.reset_password(session, Actor.system("cli"), users.by_username(session, username),
                                        timekeeping.now(session), datetime.now(timezone.utc))
    click.echo(f"{username}: one-time password (shown once, must be changed at first sign-in): {password}")


if __name__ == "__main__":
    main()
