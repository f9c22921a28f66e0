"""Service targets warn like deadlines (issue 8, 2026-12-01 follow-up): the worker's
escalation scan tells the case owner and the responsible role when a target falls due
within 3 days, and the teamleder when it is missed; each notice once."""
from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import select

from processes.milestones import target_status
from processes.models import Case, Milestone, Outbox, User
from test_domain_lib import register_domby
from walk import Walk
from worker import escalation


def target_notices(rt) -> list[tuple]:
    with rt.sessions() as session:
        rows = session.scalars(select(Outbox).where(Outbox.kind == "notification",
                                                    Outbox.idempotency_key.like("target_%"))
                               .order_by(Outbox.id))
        return [(r.idempotency_key.split(":")[0], r.case_id, r.payload["recipient_role"],
                 r.payload["user_id"], r.payload["title"], r.payload["body"]) for r in rows]


def test_service_target_due_soon_and_missed_are_told_once_each(sqlite_runtime, tmp_path):
    """Domby: preparation start → decision within 2 weeks. Both cases start Monday
    2027-01-04, so the target is due 2027-01-18; 'due soon' is from 2027-01-15 (3 days)."""
    rt = sqlite_runtime
    register_domby(rt, tmp_path, policy={"maal_forberedelse_afgoerelse": "P2W"})
    done = Walk(rt, "domby", "rehabilitering")
    waiting = Walk(rt, "domby", "rehabilitering", cpr="020290-2345")
    with rt.sessions.begin() as session:
        owner = session.scalars(select(User).where(User.username == "domby.sagsbehandler")).one()
        session.get(Case, waiting.case_id).owner_id = owner_id = owner.id

    done.at("2027-01-14")
    assert escalation.scan(rt.sessions)["target_soon"] == 0
    assert target_notices(rt) == []                              # due in 4 days: not yet

    done.at("2027-01-15")
    counts = escalation.scan(rt.sessions)
    assert (counts["target_soon"], counts["target_breach"]) == (2, 0)
    assert escalation.scan(rt.sessions)["target_soon"] == 0       # once only
    assert sorted(target_notices(rt), key=lambda n: n[1]) == [
        ("target_soon", done.case_id, "sagsbehandler", None,
         "Servicemål nærmer sig: Fra forberedelse til afgørelse", f"Målet er 18.01.2027 (sag {done.case_id})."),
        ("target_soon", waiting.case_id, "sagsbehandler", owner_id,
         "Servicemål nærmer sig: Fra forberedelse til afgørelse", f"Målet er 18.01.2027 (sag {waiting.case_id})."),
    ]

    done.complete("book_moede", bookingdato="2027-01-04", moededato="2027-01-18")
    done.complete("skriv_indstilling", indstilling="fleksjob")
    done.at("2027-01-18")
    done.complete("afgoer", afgoerelse="fleksjob", afgoerelsesdato="2027-01-18")   # met on the due day

    done.at("2027-01-18", hour=23)                               # the whole due day counts
    assert escalation.scan(rt.sessions)["target_breach"] == 0
    done.at("2027-01-19", hour=0)
    counts = escalation.scan(rt.sessions)
    assert counts["target_breach"] == 1
    assert escalation.scan(rt.sessions)["target_breach"] == 0
    assert target_notices(rt)[-1] == (
        "target_breach", waiting.case_id, "teamleder", owner_id,
        "Servicemål overskredet: Fra forberedelse til afgørelse",
        f"Målet var 18.01.2027 (sag {waiting.case_id}, start 04.01.2027).")

    # The worker delivers them as notifications the addressees see.
    from worker.outbox import default_transports, deliver_next
    transports = default_transports(rt.engine.specs)
    while deliver_next(rt.sessions, transports) is not None:
        pass
    from inbox import create_app
    from test_inbox import Browser, text
    page = text(Browser(create_app(rt, TESTING=True), "domby.teamleder").get("/beskeder"))
    assert "Servicemål overskredet: Fra forberedelse til afgørelse" in page


def _row(key, day, process="rehabilitering"):
    return Milestone(key=key, date=date.fromisoformat(day), process_id=process)


def test_a_target_of_another_scheme_does_not_apply_before_the_case_has_that_process():
    """Decision → first ressourceforløb talk within 4 weeks: a case whose decision was
    fleksjob never gets an RF talk and must not show the target as missed."""
    rows = [_row("afgoerelse", "2027-01-04")]
    policy = {"maal_afgoerelse_foerste_samtale": "P4W"}.get
    now = datetime(2027, 3, 1, 9, tzinfo=timezone.utc)
    assert target_status(rows, policy, now, {"rehabilitering", "fleksjob"}) == []
    [status] = target_status(rows, policy, now, {"rehabilitering", "ressourceforloeb"})
    assert (status["due"], status["state"], status["role"]) == ("2027-02-01", "overdue",
                                                                 "koordinerende_sagsbehandler")
