"""Notifications written before 0016 get the ``args`` their Danish title and body were made
from, read back from the text where that is certain (processes.notices.recover_args), so
an English reader sees them in English like newer notes. Notes it cannot read back (a
deactivation note, a text of another shape) keep ``args`` NULL and show their Danish.

Revision ID: 0018_notification_args_recovered
Revises: 0017_diagram_drawing
"""
from alembic import op
import sqlalchemy as sa

from processes.notices import RECOVERABLE, recover_args

revision = "0018_notification_args_recovered"
down_revision = "0017_diagram_drawing"
branch_labels = None
depends_on = None

NOTIFICATION = sa.table("notification", sa.column("id", sa.Integer()), sa.column("kind", sa.String()),
                        sa.column("title", sa.String()), sa.column("body", sa.Text()), sa.column("args", sa.JSON()))


def upgrade() -> None:
    bind = op.get_bind()
    after = 0
    while True:
        rows = bind.execute(sa.select(NOTIFICATION.c.id, NOTIFICATION.c.kind, NOTIFICATION.c.title, NOTIFICATION.c.body)
                            .where(NOTIFICATION.c.args.is_(None), NOTIFICATION.c.kind.in_(RECOVERABLE),
                                   NOTIFICATION.c.id > after)
                            .order_by(NOTIFICATION.c.id).limit(1000)).all()
        if not rows:
            return
        for note_id, kind, title, body in rows:
            args = recover_args(kind, title, body)
            if args is not None:
                bind.execute(NOTIFICATION.update().where(NOTIFICATION.c.id == note_id).values(args=args))
        after = rows[-1].id


def downgrade() -> None:
    """Nothing to undo: the recovered ``args`` render the same Danish the notes hold."""
