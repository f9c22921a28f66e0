"""Benchmark: the caseworker's inbox page with 1,000,000 open tasks in PostgreSQL.

Creates its own database, bulk-loads (COPY, not the engine) 100 municipalities with
2,000 cases each and 1,000,000 open tasks spread over the twelve roles (a third of them
for sagsbehandler), with deadlines from 30 days overdue to 90 days ahead and a tenth
claimed, then requests the inbox page (the whole Flask request: session, user, query,
count, template) as caseworkers of random municipalities: the default view, a due
filter, a sort by citizen, page 5, "mine", and a user with three roles. Prints p50 and
p95 per view and overall, and the ratio of p95 to the 50 ms target. Drops the database.

    .venv/bin/python bench/inbox.py [--tasks 1000000] [--municipalities 100] [--requests 300]
"""
from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from processes import setup  # noqa: E402
from processes.roles import ROLES  # noqa: E402
from processes.runtime import open_runtime  # noqa: E402

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TARGET_MS = 50.0
TASK_NAMES = ["Vurdér målgruppe og rute", "Planlæg forberedelsen med borgeren", "Book tid på rehabiliteringsmøde",
              "Hold opfølgningssamtale", "Skriv indstilling", "Træf afgørelse", "Hold kontaktsamtale (ledighedsydelse)"]
PROCESSES = ["rehabilitering", "ressourceforloeb", "fleksjob", "foertidspension", "sygedagpenge"]
EMPTY = "empty inbox (baseline)"
VIEWS = {
    "default (deadline order)": "/",
    "overdue only": "/?due=overskredet",
    "sorted by citizen": "/?sort=borger",
    "page 5": "/?page=5",
    "claimed by me": "/?claim=mine",
}


def copy_rows(raw, table: str, columns: list[str], rows) -> None:
    with raw.cursor() as cur:
        with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def load(url: str, municipalities: int, tasks: int, seed: int = 7) -> dict:
    rng = random.Random(seed)
    rt = open_runtime(url)
    setup.upgrade_database(rt.db)
    now = datetime.now(timezone.utc)
    with rt.sessions.begin() as session:
        setup.seed_roles(session)
        session.flush()
        setup.load_reference_municipalities(session, now)  # gives real model versions
    with rt.db.begin() as conn:
        model_version = conn.scalar(text("SELECT min(id) FROM model_version"))
        first_mid = conn.scalar(text("SELECT max(id) FROM municipality")) + 1
    mids = list(range(first_mid, first_mid + municipalities))
    empty_mid = first_mid + municipalities  # a municipality without tasks: the same page, empty
    cases_per = max(1, tasks // municipalities // 5)
    roles = list(ROLES)
    weights = [len(roles) - 1 if r == "sagsbehandler" else 2 for r in roles]  # sagsbehandler ~1/3
    users: dict[int, dict[str, int]] = {}
    raw = rt.db.raw_connection()
    try:
        dbapi = raw.driver_connection
        copy_rows(dbapi, "municipality", ["id", "key", "name", "config", "created_at"],
                  ((m, f"bench{m}", f"Bench Kommune {m}", "{}", now) for m in mids + [empty_mid]))
        user_rows, role_rows, uid = [], [], 1_000_000
        for m in mids:
            users[m] = {}
            for kind, user_roles in (("sagsbehandler", ["sagsbehandler"]),
                                     ("tre_roller", ["sagsbehandler", "koordinerende_sagsbehandler", "ydelse"])):
                uid += 1
                users[m][kind] = uid
                user_rows.append((uid, m, f"bench{m}.{kind}", kind, None, False, now))
                role_rows += [(uid, r) for r in user_roles]
        uid += 1
        users[empty_mid] = {"sagsbehandler": uid}
        user_rows.append((uid, empty_mid, f"bench{empty_mid}.sagsbehandler", "tom", None, False, now))
        role_rows.append((uid, "sagsbehandler"))
        copy_rows(dbapi, "app_user", ["id", "municipality_id", "username", "full_name", "password_hash",
                                      "is_admin", "created_at"], user_rows)
        copy_rows(dbapi, "user_role", ["user_id", "role_key"], role_rows)
        case_rows, instance_rows, case_ids = [], [], {}
        cid = 0
        for m in mids:
            case_ids[m] = []
            for _ in range(cases_per):
                cid += 1
                case_ids[m].append(cid)
                case_rows.append((cid, m, f"{rng.randint(10101, 311299):06d}-{rng.randint(0, 9999):04d}",
                                  f"Borger {cid}", "open", now))
                instance_rows.append((cid, m, cid, model_version, rng.choice(PROCESSES), "running", "{}",
                                      "1", "3.2.0", 1, now, now))
        copy_rows(dbapi, "sag", ["id", "municipality_id", "cpr", "citizen_name", "status", "created_at"], case_rows)
        copy_rows(dbapi, "process_instance", ["id", "municipality_id", "case_id", "model_version_id", "process_id",
                                              "status", "state", "serializer_version", "spiff_version", "version",
                                              "started_at", "updated_at"], instance_rows)

        def task_rows():
            per = tasks // municipalities
            for m in mids:
                claimers = list(users[m].values())
                for i in range(per):
                    case = rng.choice(case_ids[m])
                    due = None if rng.random() < 0.25 else now + timedelta(hours=rng.randint(-30 * 24, 90 * 24))
                    claimed = rng.choice(claimers) if rng.random() < 0.1 else None
                    yield (str(uuid.uuid4()), case, case, m, rng.choice(PROCESSES), "task", rng.choice(TASK_NAMES),
                           rng.choices(roles, weights)[0], "open", claimed, due, now, 1)
        copy_rows(dbapi, "human_task", ["task_guid", "instance_id", "case_id", "municipality_id", "process_id",
                                        "bpmn_id", "name", "role", "state", "claimed_by_id", "due_at",
                                        "created_at", "revision"], task_rows())
        dbapi.commit()
    finally:
        raw.close()
    with rt.db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    empty = users.pop(empty_mid)["sagsbehandler"]
    return {"runtime": rt, "users": users, "empty_user": empty}


def measure(rt, users: dict, empty_user: int, requests: int, seed: int = 11):
    """Time each request, and the time spent in SQL during it."""
    from sqlalchemy import event
    from inbox import create_app
    app = create_app(rt, TESTING=True)
    sql = {"ms": 0.0, "started": 0.0}

    @event.listens_for(rt.db, "before_cursor_execute")
    def _before(*_args):
        sql["started"] = time.perf_counter()

    @event.listens_for(rt.db, "after_cursor_execute")
    def _after(*_args):
        sql["ms"] += (time.perf_counter() - sql["started"]) * 1000
    rng = random.Random(seed)
    client = app.test_client()
    views = dict(VIEWS)
    views["three roles"] = "/"
    views[EMPTY] = "/"
    timings: dict[str, list[float]] = {name: [] for name in views}
    sql_ms: list[float] = []
    municipalities = list(users)
    for i in range(requests + 30):
        name = list(views)[i % len(views)]
        user_id = users[rng.choice(municipalities)]["tre_roller" if name == "three roles" else "sagsbehandler"]
        if name == EMPTY:
            user_id = empty_user
        with client.session_transaction() as session:
            session["user_id"] = user_id
        sql["ms"] = 0.0
        started = time.perf_counter()
        response = client.get(views[name])
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200 and b"tasks" in response.data, response.status_code
        if i >= 30:  # the first requests warm caches and the connection pool
            timings[name].append(elapsed)
            if name != EMPTY:
                sql_ms.append(sql["ms"])
    return timings, sql_ms


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--municipalities", type=int, default=100)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--url", default=ADMIN_URL, help="PostgreSQL admin URL (a database is created and dropped)")
    args = parser.parse_args()
    name = f"sagsflow_bench_inbox_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = args.url.rsplit("/", 1)[0] + f"/{name}"
    rt = None
    try:
        started = time.perf_counter()
        loaded = load(url, args.municipalities, args.tasks)
        rt = loaded["runtime"]
        with rt.db.connect() as conn:
            count = conn.scalar(text("SELECT count(*) FROM human_task WHERE state = 'open'"))
            per_user = conn.scalar(text(
                "SELECT count(*) FROM human_task WHERE state='open' AND role='sagsbehandler' "
                "AND municipality_id = (SELECT min(municipality_id) FROM human_task)"))
        print(f"loaded {count:,} open tasks in {args.municipalities} municipalities "
              f"({per_user:,} in one sagsbehandler's inbox) in {time.perf_counter() - started:.0f} s")
        timings, sql_ms = measure(rt, loaded["users"], loaded["empty_user"], args.requests)
        print(f"\n{'view':28} {'n':>4} {'p50 ms':>8} {'p95 ms':>8}")
        everything = []
        for view, values in timings.items():
            if view != EMPTY:
                everything += values
            print(f"{view:28} {len(values):>4} {pct(values, 50):>8.1f} {pct(values, 95):>8.1f}")
        p50, p95 = pct(everything, 50), pct(everything, 95)
        print(f"{'all views with tasks':28} {len(everything):>4} {p50:>8.1f} {p95:>8.1f}")
        print(f"{'  of which SQL':28} {len(sql_ms):>4} {pct(sql_ms, 50):>8.1f} {pct(sql_ms, 95):>8.1f}")
        empty = pct(timings[EMPTY], 50)
        print(f"\np50 full inbox / p50 empty inbox = {p50 / empty:.2f} (what the open tasks add to the page itself)")
        print(f"p95 / target ({TARGET_MS:.0f} ms) = {p95 / TARGET_MS:.2f} "
              f"({'met' if p95 < TARGET_MS else 'NOT met'})")
    finally:
        if rt is not None:
            rt.close()
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


if __name__ == "__main__":
    main()
