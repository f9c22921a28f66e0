"""The inbox query: open tasks of the user's roles in the user's municipality.

Filters (role, process, due state, claim), sorting and paging run in SQL against the
``human_task`` projection and its ``(municipality_id, state, role, due_at)`` index, so a
page costs the same with ten or a million open tasks elsewhere.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Mapping

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from inbox.limits import page_number
from processes.engine import Actor
from processes.models import Case, HumanTask, User

SOON = timedelta(days=7)
DUE_STATES = ("overskredet", "snart", "ok", "ingen")
CLAIM_FILTERS = ("mine", "ledige")
SORTS = {
    "frist": lambda: (HumanTask.due_at,),
    "opgave": lambda: (HumanTask.name,),
    "borger": lambda: (Case.citizen_name,),
    "sagstype": lambda: (HumanTask.process_id,),
    "taget": lambda: (Claimer.username,),
    "oprettet": lambda: (HumanTask.created_at,),
}
MAX_PAGE_SIZE = 200

Claimer = aliased(User, name="claimer")


def due_state(due_at: datetime | None, now: datetime) -> str:
    """``overskredet`` (past due), ``snart`` (within 7 days), ``ok``, or ``ingen`` (no deadline)."""
    if due_at is None:
        return "ingen"
    if due_at < now:
        return "overskredet"
    if due_at < now + SOON:
        return "snart"
    return "ok"


@dataclass(frozen=True)
class InboxQuery:
    roles: tuple[str, ...] = ()
    process: str = ""
    due: str = ""
    claim: str = ""
    sort: str = "frist"
    desc: bool = False
    page: int = 1
    per_page: int = 25
    team: bool = False  # a teamleder's view of every role in the municipality

    @classmethod
    def from_args(cls, args: Mapping, per_page: int = 25) -> "InboxQuery":
        getlist = getattr(args, "getlist", None)
        roles = getlist("role") if getlist else args.get("role") or []
        if isinstance(roles, str):
            roles = [roles]
        sort = args.get("sort") or "frist"
        page = page_number(args.get("page"))
        try:
            size = min(MAX_PAGE_SIZE, max(1, int(args.get("per_page") or per_page)))
        except ValueError:
            size = per_page
        return cls(roles=tuple(r for r in roles if r), process=args.get("process") or "",
                   due=args.get("due") if args.get("due") in DUE_STATES else "",
                   claim=args.get("claim") if args.get("claim") in CLAIM_FILTERS else "",
                   sort=sort if sort in SORTS else "frist", desc=args.get("dir") == "desc",
                   page=page, per_page=size)

    def params(self, **changes) -> dict:
        """The query as URL parameters (for links and saved filters); defaults left out."""
        q = replace(self, **changes)
        out: dict = {}
        if q.roles:
            out["role"] = list(q.roles)
        for name in ("process", "due", "claim"):
            if getattr(q, name):
                out[name] = getattr(q, name)
        if q.sort != "frist":
            out["sort"] = q.sort
        if q.desc:
            out["dir"] = "desc"
        if q.page != 1:
            out["page"] = q.page
        return out

    def filter_params(self) -> dict:
        return {k: v for k, v in self.params(page=1).items()}


@dataclass
class InboxRow:
    task: HumanTask
    citizen: str
    cpr: str
    claimed_by: str | None
    claimed_by_name: str | None
    due_state: str


@dataclass
class InboxPage:
    rows: list[InboxRow]
    total: int
    query: InboxQuery
    now: datetime
    roles: tuple[str, ...] = field(default_factory=tuple)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.per_page))


def visible_roles(actor: Actor, query: InboxQuery) -> list[str]:
    """The roles whose tasks this query may show: the user's own (or, in a teamleder's
    team view, every role), narrowed by the role filter."""
    if query.team:
        return list(query.roles)  # empty means every role
    own = sorted(actor.roles)
    return [r for r in own if r in query.roles] if query.roles else own


def inbox_page(session: Session, actor: Actor, query: InboxQuery, now: datetime) -> InboxPage:
    roles = visible_roles(actor, query)
    conditions = [HumanTask.municipality_id == actor.municipality_id, HumanTask.state == "open"]
    if roles or not query.team:
        conditions.append(HumanTask.role.in_(roles))
    if query.process:
        conditions.append(HumanTask.process_id == query.process)
    if query.due == "overskredet":
        conditions.append(HumanTask.due_at < now)
    elif query.due == "snart":
        conditions += [HumanTask.due_at >= now, HumanTask.due_at < now + SOON]
    elif query.due == "ok":
        conditions.append(HumanTask.due_at >= now + SOON)
    elif query.due == "ingen":
        conditions.append(HumanTask.due_at.is_(None))
    if query.claim == "mine":
        conditions.append(HumanTask.claimed_by_id == actor.user_id)
    elif query.claim == "ledige":
        conditions.append(HumanTask.claimed_by_id.is_(None))

    total = session.scalar(select(func.count()).select_from(HumanTask).where(*conditions)) or 0
    order = []
    for column in SORTS[query.sort]():
        order.append(column.desc().nulls_last() if query.desc else column.asc().nulls_last())
    order.append(HumanTask.id.desc() if query.desc else HumanTask.id.asc())
    # Pick the page's task ids first, joining the case or the claimer only when the sort
    # needs them (and then only this municipality's cases), and join the 25 rows after:
    # otherwise PostgreSQL joins every open task of the inbox before it cuts the page.
    case_join = and_(Case.id == HumanTask.case_id, Case.municipality_id == actor.municipality_id)
    ids = select(HumanTask.id.label("id")).where(*conditions)
    if query.sort == "borger":
        ids = ids.join(Case, case_join)
    elif query.sort == "taget":
        ids = ids.outerjoin(Claimer, Claimer.id == HumanTask.claimed_by_id)
    page_ids = ids.order_by(*order).limit(query.per_page).offset((query.page - 1) * query.per_page).subquery()
    stmt = (select(HumanTask, Case.citizen_name, Case.cpr, Claimer.username, Claimer.full_name)
            .join(page_ids, page_ids.c.id == HumanTask.id)
            .join(Case, case_join)
            .outerjoin(Claimer, Claimer.id == HumanTask.claimed_by_id)
            .order_by(*order))
    rows = [InboxRow(task, citizen, cpr, claimer, claimer_name, due_state(task.due_at, now))
            for task, citizen, cpr, claimer, claimer_name in session.execute(stmt)]
    return InboxPage(rows=rows, total=total, query=query, now=now, roles=tuple(roles))


def process_choices(session: Session, actor: Actor) -> list[str]:
    """Case types of the user's municipality (for the process filter and starting a case)."""
    from processes.models import MunicipalModel
    return list(session.scalars(select(MunicipalModel.case_type)
                                .where(MunicipalModel.municipality_id == actor.municipality_id)
                                .order_by(MunicipalModel.case_type)))
