"""Walk a citizen's case through the persisted engine, the way users would.

The walk lives in :mod:`processes.scenarios` (the studio's scenario tests run on it);
the tests import it from here."""
from processes.scenarios import LOCAL, Walk, local_date  # noqa: F401
