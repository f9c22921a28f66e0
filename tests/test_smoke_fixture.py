from processes.models import Municipality, User
from processes.roles import ROLES
from sqlalchemy import select, func


def test_runtime_loads_reference_municipalities(runtime):
    with runtime.sessions() as s:
        keys = list(s.scalars(select(Municipality.key).order_by(Municipality.key)))
        users = s.scalar(select(func.count()).select_from(User))
    assert keys == ["aaby", "boegeby", "cederholm"]
    # one demo user per role and an administrator per municipality, and the national administrator
    assert len(ROLES) == 15 and users == 3 * (len(ROLES) + 1) + 1
