"""Create or upgrade the database and load the library, the reference municipalities and
the demo users. ``sagsflow init`` calls :func:`initialise`; it is safe to run again.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from alembic import command
from alembic.config import Config
from argon2 import PasswordHasher
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from processes import municipalities, timekeeping
from processes.library import ModelInvalid, data_dir
from processes.models import Role, User, UserRole
from processes.roles import ROLES

DEMO_PASSWORD = "demo"
# The demo's national administrator: no municipality; registers municipalities (issue 13).
NATIONAL_ADMIN = "national.admin"
# The virtual clock of a new demo installation starts on a Monday morning (case time).
DEMO_START = datetime(2027, 1, 4, 8, 0, tzinfo=timezone.utc)


def upgrade_database(engine: Engine) -> None:
    """Run Alembic migrations up to head on ``engine``."""
    config = Config()
    config.set_main_option("script_location", str(data_dir("alembic")))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def seed_roles(session: Session) -> None:
    for key, (da, en) in ROLES.items():
        role = session.get(Role, key)
        if role is None:
            session.add(Role(key=key, name_da=da, name_en=en))
        else:
            role.name_da, role.name_en = da, en


@dataclass(frozen=True)
class DemoUser:
    username: str
    municipality: str
    roles: tuple[str, ...]
    full_name: str


def demo_users(municipality_keys: list[str]) -> list[DemoUser]:
    """One demo user per municipality and role (``aaby.sagsbehandler``) and an
    administrator per municipality (``aaby.admin``) who also leads the team."""
    users = []
    for key in municipality_keys:
        for role, (da, _en) in ROLES.items():
            users.append(DemoUser(f"{key}.{role}", key, (role,), f"{da} ({key.capitalize()})"))
        users.append(DemoUser(f"{key}.admin", key, ("teamleder",), f"Administrator ({key.capitalize()})"))
    return users


def seed_demo_users(session: Session, now: datetime) -> list[DemoUser]:
    from processes.models import Municipality
    hasher = PasswordHasher()
    password_hash = hasher.hash(DEMO_PASSWORD)
    keys = list(session.scalars(select(Municipality.key).order_by(Municipality.key)))
    created = []
    for demo in demo_users(keys):
        if session.scalar(select(User.id).where(User.username == demo.username)) is not None:
            continue
        municipality_id = session.scalar(select(Municipality.id).where(Municipality.key == demo.municipality))
        user = User(municipality_id=municipality_id, username=demo.username, full_name=demo.full_name,
                    password_hash=password_hash, is_admin=demo.username.endswith(".admin"), created_at=now)
        user.roles = [UserRole(role_key=r) for r in demo.roles]
        session.add(user)
        created.append(demo)
    if keys and session.scalar(select(User.id).where(User.username == NATIONAL_ADMIN)) is None:
        session.add(User(municipality_id=None, username=NATIONAL_ADMIN, full_name="National administrator",
                         password_hash=password_hash, is_national_admin=True, created_at=now))
        created.append(DemoUser(NATIONAL_ADMIN, "", (), "National administrator"))
    return created


def load_reference_municipalities(session: Session, now: datetime, folders: list[Path] | None = None) -> list[str]:
    """Validate every folder first, then register them all (nothing is stored on error)."""
    configs = []
    problems = []
    for folder in folders if folders is not None else municipalities.reference_folders():
        try:
            configs.append(municipalities.load_folder(folder))
        except ModelInvalid as exc:
            problems.extend(exc.problems)
    if problems:
        raise ModelInvalid(problems)
    for config in configs:
        municipalities.register(session, config, now, update=True)
    return [c.key for c in configs]


# Fictional citizens (made-up names and CPR numbers) so the demo inboxes are not empty.
DEMO_CASES = (
    ("aaby", "rehabilitering", "010180-1001", "Anna Andersen (demo)", {}),
    ("aaby", "sygedagpenge", "020285-1002", "Bo Bertelsen (demo)", {}),
    ("boegeby", "rehabilitering", "030375-1003", "Camilla Christensen (demo)", {}),
    ("boegeby", "fleksjob", "040470-1004", "Dennis Dam (demo)", {"overdragelse": {"visitationsdato": "2027-01-04"}}),
    ("cederholm", "rehabilitering", "050565-1005", "Eva Eriksen (demo)", {}),
    ("cederholm", "foertidspension", "060660-1006", "Frank Frederiksen (demo)",
     {"overdragelse": {"indstillingsdato": "2027-01-04"}}),
)


def seed_demo_cases(sessions, after_history: bool = False) -> int:
    """Start the demo cases once (only into an installation without cases, or one whose
    only cases are the demo history just built)."""
    from processes.engine import Engine
    from processes.models import Case
    with sessions() as session:
        if not after_history and session.scalar(select(Case.id).limit(1)) is not None:
            return 0
    engine = Engine(sessions)
    for municipality, case_type, cpr, name, data in DEMO_CASES:
        engine.start_case(municipality, case_type, cpr, name, data)
    return len(DEMO_CASES)


def initialise(engine: Engine, sessions, demo: bool = True, virtual_clock: datetime | None = None,
               history: bool = False, progress=None, after_day=None, seed: int | None = None) -> dict:
    """Create or upgrade the schema, seed roles, load municipalities; with ``demo`` add
    demo users and (unless the installation already has one) a virtual clock.

    With ``history`` (and ``demo`` and ``virtual_clock``) a new installation (no clock, no
    cases yet) starts its clock a year before ``virtual_clock`` and gets that year of
    cases from :mod:`processes.history` (``progress`` and ``after_day`` are passed on)
    before the demo cases start on the demo date."""
    from processes import history as demo_history
    upgrade_database(engine)
    with sessions.begin() as session:
        from processes.models import Case
        fresh = not timekeeping.is_virtual(session) and session.scalar(select(Case.id).limit(1)) is None
        with_history = bool(history and demo and virtual_clock is not None and fresh)
        if virtual_clock is not None and not timekeeping.is_virtual(session):
            timekeeping.enable_virtual(session, demo_history.history_start(virtual_clock) if with_history
                                       else virtual_clock)
        now = timekeeping.now(session)
        seed_roles(session)
        session.flush()
        keys = load_reference_municipalities(session, now)
        users = seed_demo_users(session, now) if demo else []
    built = None
    if with_history:
        from processes.engine import Engine as CaseEngine
        driver = demo_history.HistoryDriver(CaseEngine(sessions), seed=seed or demo_history.DEFAULT_SEED,
                                            after_day=after_day)
        built = driver.run(virtual_clock, progress=progress)
    cases = seed_demo_cases(sessions, after_history=with_history) if demo else 0
    return {"municipalities": keys, "users_created": len(users), "demo_cases": cases, "history": built}


def open_installation(url: str, start: datetime | None = None, reference: bool = True, users: bool = True):
    """An initialised installation for tests, benchmarks and simulations: schema, roles,
    (with ``reference``) the reference municipalities and (with ``users``) their demo
    users; with ``start`` a virtual clock starting then. Returns a Runtime."""
    from processes.runtime import open_runtime
    rt = open_runtime(url)
    upgrade_database(rt.db)
    with rt.sessions.begin() as session:
        if start is not None:
            timekeeping.enable_virtual(session, start)
        seed_roles(session)
        session.flush()
        if reference:
            now = timekeeping.now(session)
            load_reference_municipalities(session, now)
            if users:
                seed_demo_users(session, now)
    return rt

