from processes.models import Municipality, User
from sqlalchemy import select, func


def test_runtime_loads_reference_municipalities(runtime):
    with runtime.sessions() as s:
        keys = list(s.scalars(select(Municipality.key).order_by(Municipality.key)))
        users = s.scalar(select(func.count()).select_from(User))
    assert keys == ["aaby", "boegeby", "cederholm"]
    assert users == 3 * 14                # one per role (13 with jobcenterrepraesentant) and an admin
