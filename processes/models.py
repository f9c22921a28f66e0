"""The database schema (SQLAlchemy 2 declarative). Alembic migrations mirror it.

Every row that belongs to a municipality carries ``municipality_id``. The process
instance row holds instance-only Spiff state; the spec is stored once per model version.
``human_task``, ``timer`` and ``message_subscription`` are projections rewritten on every
engine step, so the inbox and the worker never deserialize a workflow to answer a query.
"""
from __future__ import annotations

from datetime import date as date_type, datetime, timezone
from typing import Any, Optional

from sqlalchemy import (
    JSON, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, TypeDecorator,
    UniqueConstraint, text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UtcDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Municipality(Base):
    __tablename__ = "municipality"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class Role(Base):
    __tablename__ = "role"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_da: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))


class User(Base):
    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    # NULL only for a national administrator (``is_national_admin``), who belongs to no
    # municipality: they register municipalities and see no municipality's cases.
    municipality_id: Mapped[Optional[int]] = mapped_column(ForeignKey("municipality.id"), index=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[Optional[str]] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_national_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # A deactivated user cannot sign in; their sessions and API tokens were ended.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # Set with a one-time password: the user must choose their own at the next sign-in.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # Away (holiday, illness) from ``absent_from`` (or at once) up to and including
    # ``absent_until``, Danish dates: owner tasks go to ``substitute_id`` or the role
    # meanwhile and come back after (``processes.absence``).
    absent_until: Mapped[Optional[date_type]] = mapped_column(Date)
    absent_from: Mapped[Optional[date_type]] = mapped_column(Date)
    substitute_id: Mapped[Optional[int]] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime]
    roles: Mapped[list["UserRole"]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def role_keys(self) -> set[str]:
        return {r.role_key for r in self.roles}


class UserRole(Base):
    __tablename__ = "user_role"
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), primary_key=True)
    role_key: Mapped[str] = mapped_column(ForeignKey("role.key"), primary_key=True)


class ModelVersion(Base):
    """One immutable, parsed BPMN model. ``municipality_id`` is NULL for shared models."""

    __tablename__ = "model_version"
    __table_args__ = (UniqueConstraint("municipality_id", "process_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[Optional[int]] = mapped_column(ForeignKey("municipality.id"), index=True)
    process_id: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    file_name: Mapped[str] = mapped_column(String(300))
    bpmn_xml: Mapped[str] = mapped_column(Text, deferred=True)
    spec_json: Mapped[str] = mapped_column(Text, deferred=True)
    metadata_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class PolicyVersion(Base):
    """Effective-dated policy values of one municipality and case type."""

    __tablename__ = "policy_version"
    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), index=True)
    case_type: Mapped[str] = mapped_column(String(64))
    effective_from: Mapped[datetime]
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    changed_by: Mapped[Optional[str]] = mapped_column(String(100))
    created_at: Mapped[datetime]


class MunicipalModel(Base):
    """Which model version a municipality uses for a case type (new cases only)."""

    __tablename__ = "municipal_model"
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), primary_key=True)
    case_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id"))


class Case(Base):
    """A citizen's case in one municipality; it holds one or more process instances."""

    __tablename__ = "sag"
    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), index=True)
    cpr: Mapped[str] = mapped_column(String(11), index=True)
    citizen_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="open")
    # The owning caseworker (koordinerende sagsbehandler in a ressourceforløb); tasks
    # marked owner_task go to this user's inbox (docs/modelling.md, "Case owner").
    owner_id: Mapped[Optional[int]] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime]
    instances: Mapped[list["ProcessInstance"]] = relationship(
        back_populates="case", order_by="ProcessInstance.id", lazy="selectin")

    # The inbox sorts a municipality's tasks by citizen name.
    __table_args__ = (Index("ix_sag_municipality_citizen", "municipality_id", "citizen_name"),)


class ProcessInstance(Base):
    __tablename__ = "process_instance"
    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("sag.id"), index=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id"))
    policy_version_id: Mapped[Optional[int]] = mapped_column(ForeignKey("policy_version.id"))
    process_id: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="running")
    state: Mapped[str] = mapped_column(Text)
    serializer_version: Mapped[str] = mapped_column(String(20))
    spiff_version: Mapped[str] = mapped_column(String(20))
    next_due_at: Mapped[Optional[datetime]]
    version: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime]
    completed_at: Mapped[Optional[datetime]]
    updated_at: Mapped[datetime]
    case: Mapped[Case] = relationship(back_populates="instances")
    model_version: Mapped[ModelVersion] = relationship(lazy="select")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_process_instance_due", "next_due_at",
              postgresql_where=text("next_due_at IS NOT NULL"),
              sqlite_where=text("next_due_at IS NOT NULL")),
    )


class HumanTask(Base):
    """The inbox projection: one row per user task that is or was READY."""

    __tablename__ = "human_task"
    id: Mapped[int] = mapped_column(primary_key=True)
    task_guid: Mapped[str] = mapped_column(String(36), unique=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("sag.id"), index=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"))
    process_id: Mapped[str] = mapped_column(String(100))
    bpmn_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(ForeignKey("role.key"))
    state: Mapped[str] = mapped_column(String(20), default="open")  # open|completed|cancelled
    claimed_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("app_user.id"))
    # The case owner this task was handed on from while they are away (processes.absence).
    held_for_id: Mapped[Optional[int]] = mapped_column(ForeignKey("app_user.id"), index=True)
    completed_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("app_user.id"))
    due_at: Mapped[Optional[datetime]]
    deadline_rule: Mapped[Optional[str]] = mapped_column(String(100))
    created_at: Mapped[datetime]
    closed_at: Mapped[Optional[datetime]]
    data: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    # Not stored: set by Engine.complete_task when a retried submission was already committed.
    replayed = False

    __table_args__ = (
        Index("ix_human_task_inbox", "municipality_id", "state", "role", "due_at"),
    )


class Timer(Base):
    """Pending timers of an instance (projection): what falls due when."""

    __tablename__ = "timer"
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), primary_key=True)
    task_guid: Mapped[str] = mapped_column(String(36), primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("sag.id"), index=True)
    bpmn_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(300))
    due_at: Mapped[datetime] = mapped_column(index=True)
    deadline_rule: Mapped[Optional[str]] = mapped_column(String(100))
    attached_to: Mapped[Optional[str]] = mapped_column(String(200))


class MessageSubscription(Base):
    """A catch event waiting for a message (projection)."""

    __tablename__ = "message_subscription"
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), primary_key=True)
    task_guid: Mapped[str] = mapped_column(String(36), primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("sag.id"), index=True)
    message_name: Mapped[str] = mapped_column(String(200), index=True)
    correlation: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Message(Base):
    """A message thrown by one instance, routed within its case by the engine."""

    __tablename__ = "message"
    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("sag.id"), index=True)
    source_instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    name: Mapped[str] = mapped_column(String(200))
    payload: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    correlations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    delivered_at: Mapped[Optional[datetime]] = mapped_column(index=True)
    target_instance_id: Mapped[Optional[int]] = mapped_column(ForeignKey("process_instance.id"))
    error: Mapped[Optional[str]] = mapped_column(Text)


class AuditEvent(Base):
    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[Optional[int]] = mapped_column(ForeignKey("municipality.id"), index=True)
    case_id: Mapped[Optional[int]] = mapped_column(ForeignKey("sag.id"), index=True)
    instance_id: Mapped[Optional[int]] = mapped_column(ForeignKey("process_instance.id"))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(index=True)  # the case clock (virtual on a demo)
    recorded_at: Mapped[Optional[datetime]]  # the wall clock when written, where known


class Outbox(Base):
    """Side effects (letters, notifications), written in the step, delivered after commit."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), index=True)
    case_id: Mapped[Optional[int]] = mapped_column(ForeignKey("sag.id"), index=True)
    instance_id: Mapped[Optional[int]] = mapped_column(ForeignKey("process_instance.id"))
    kind: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[Optional[datetime]]
    sent_at: Mapped[Optional[datetime]]
    last_error: Mapped[Optional[str]] = mapped_column(Text)


class DeadlineEvent(Base):
    """A statutory or local deadline that was breached (its timer fired)."""

    __tablename__ = "deadline_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("sag.id"), index=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    process_id: Mapped[str] = mapped_column(String(100))
    bpmn_id: Mapped[str] = mapped_column(String(200))
    deadline_rule: Mapped[Optional[str]] = mapped_column(String(100))
    due_at: Mapped[datetime]
    fired_at: Mapped[datetime]
    task_guid: Mapped[str] = mapped_column(String(36), unique=True)


class Milestone(Base):
    """A dated step of a case that waiting times are measured between (``processes.milestones``).

    Recorded when a flow node marked ``milestone`` completes; ``date`` is a Danish
    calendar date. A key may occur many times on a case; measures use the first. A node
    marked ``milestone_items:<key>`` records a row per item (``item``: the intervention,
    the decision's result), each with its own date."""

    __tablename__ = "milestone"
    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("sag.id"), index=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    process_id: Mapped[str] = mapped_column(String(100))
    bpmn_id: Mapped[str] = mapped_column(String(200))
    task_guid: Mapped[str] = mapped_column(String(36))
    key: Mapped[str] = mapped_column(String(64))
    # what the milestone is about when a node records one per item ("milestone_items:<key>":
    # an intervention's name, a decision's result); "" for a plain milestone
    item: Mapped[str] = mapped_column(String(200), default="", server_default="")
    date: Mapped[date_type] = mapped_column(Date)
    recorded_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))

    __table_args__ = (Index("ix_milestone_municipality_key", "municipality_id", "key", "date"),
                      UniqueConstraint("task_guid", "key", "item", name="uq_milestone_task_key_item"))


class ClockSetting(Base):
    """The virtual clock of an installation that uses one (demo, test, simulation)."""

    __tablename__ = "clock"
    scope: Mapped[str] = mapped_column(String(50), primary_key=True)
    now: Mapped[datetime]


class Document(Base):
    """A letter rendered from the outbox and stored with the case."""

    __tablename__ = "document"
    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("sag.id"), index=True)
    instance_id: Mapped[Optional[int]] = mapped_column(ForeignKey("process_instance.id"))
    outbox_id: Mapped[Optional[int]] = mapped_column(ForeignKey("outbox.id"), unique=True)
    template: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(50), default="text/html")
    created_at: Mapped[datetime]


class SavedFilter(Base):
    """A caseworker's saved inbox filter."""

    __tablename__ = "saved_filter"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class WorkerHeartbeat(Base):
    """One row per running worker process: what ``sagsflow worker --status`` reads."""

    __tablename__ = "worker_heartbeat"
    worker_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    last_tick_at: Mapped[datetime]
    steps: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="running")


class Notification(Base):
    """A note in an inbox: a task falling due soon, a breached deadline, a failed delivery.

    Addressed to a role of the municipality (``recipient_role``; ``"admin"`` means the
    municipality's administrators) and optionally to one user. Written by the worker when
    it delivers a ``notification`` outbox row, so each is created once (``outbox_id``).
    """

    __tablename__ = "notification"
    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"))
    recipient_role: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("app_user.id"))
    case_id: Mapped[Optional[int]] = mapped_column(ForeignKey("sag.id"), index=True)
    task_id: Mapped[Optional[int]] = mapped_column(ForeignKey("human_task.id"))
    kind: Mapped[str] = mapped_column(String(50))  # due_soon | deadline_breach | delivery_failed
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    # What the title and body were made from (processes.notices.render), so that each
    # reader sees the note in their language; None on notes written before it was kept.
    args: Mapped[Optional[dict]] = mapped_column(JSON)
    outbox_id: Mapped[Optional[int]] = mapped_column(ForeignKey("outbox.id"), unique=True)
    created_at: Mapped[datetime]
    read_at: Mapped[Optional[datetime]]

    __table_args__ = (
        Index("ix_notification_inbox", "municipality_id", "recipient_role", "read_at"),
    )


class LoginSession(Base):
    """A signed-in browser session; signing out deletes it (``inbox.security``)."""

    __tablename__ = "login_session"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the cookie's token
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class LoginFailure(Base):
    """A failed sign-in, counted per account and per address to slow and lock guessing."""

    __tablename__ = "login_failure"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(index=True)


class ApiToken(Base):
    """An API token of a user (SHA-256 digest only); it expires and can be revoked."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[Optional[datetime]]


class ModelDraft(Base):
    """A process designer's work on a municipality's model of one case type (the studio).

    A draft is edited freely and may hold errors (``problems``, from the last save);
    publishing turns it into an immutable :class:`ModelVersion` and a
    :class:`ModelPublication`. ``scenarios`` are its dated walks (``processes.scenarios``)."""

    __tablename__ = "model_draft"
    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"))
    case_type: Mapped[str] = mapped_column(String(64))
    base_version_id: Mapped[Optional[int]] = mapped_column(ForeignKey("model_version.id"))
    title: Mapped[str] = mapped_column(String(200))
    bpmn_xml: Mapped[str] = mapped_column(Text)
    scenarios: Mapped[list[Any]] = mapped_column(default=list)
    problems: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | published
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime]
    published_version_id: Mapped[Optional[int]] = mapped_column(ForeignKey("model_version.id"))

    __table_args__ = (Index("ix_model_draft_municipality", "municipality_id", "case_type"),)


class ModelPublication(Base):
    """A model version put in force for a municipality's new cases of a case type from a
    date, with who and why. The newest publication in force wins over ``MunicipalModel``
    (the registered folder's choice); ``processes.catalogue.version_in_force``."""

    __tablename__ = "model_publication"
    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"))
    case_type: Mapped[str] = mapped_column(String(64))
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id"))
    effective_from: Mapped[datetime]
    comment: Mapped[str] = mapped_column(Text)
    scenarios: Mapped[list[Any]] = mapped_column(default=list)
    published_by: Mapped[str] = mapped_column(String(100))
    published_at: Mapped[datetime]

    __table_args__ = (Index("ix_model_publication_in_force", "municipality_id", "case_type", "effective_from"),)


class AnalyticsSnapshot(Base):
    """Pre-computed manager figures (``processes.analytics.refresh``), refreshed by the
    worker: one row per municipality (NULL: national) and case type ('' = all) for the
    standard period (12 months up to ``period_to``). ``figures`` are unsuppressed and
    without case ids or distributions; interfaces suppress other municipalities' as for
    live figures."""

    __tablename__ = "analytics_snapshot"
    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[Optional[int]] = mapped_column(ForeignKey("municipality.id"))
    case_type: Mapped[str] = mapped_column(String(64), default="")
    period_from: Mapped[date_type] = mapped_column(Date)
    period_to: Mapped[date_type] = mapped_column(Date)
    computed_at: Mapped[datetime]     # case clock
    refreshed_at: Mapped[datetime]    # wall clock: how old the figures are
    figures: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("ix_analytics_snapshot_lookup", "case_type", "municipality_id"),)


class AnalyticsCube(Base):
    """The pre-aggregation behind filtered manager figures (``processes.analytics``, "the
    cube"), refreshed with the snapshot: per municipality (NULL: national), level
    ('group': one case type, model version and policy version; 'type': merged per case
    type, '' = all), and ``bucket`` (a month of cohort dates, 'YYYY-MM+' for the days after
    today in today's month, '' for what is not per month), the observations in ``data``."""

    __tablename__ = "analytics_cube"
    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[Optional[int]] = mapped_column(ForeignKey("municipality.id"))
    level: Mapped[str] = mapped_column(String(8))
    case_type: Mapped[str] = mapped_column(String(64), default="")
    model_version: Mapped[Optional[int]]
    policy_version: Mapped[Optional[int]]
    bucket: Mapped[str] = mapped_column(String(8))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    cube_from: Mapped[date_type] = mapped_column(Date)
    computed_at: Mapped[datetime]     # case clock
    refreshed_at: Mapped[datetime]    # wall clock

    __table_args__ = (Index("ix_analytics_cube_lookup", "municipality_id", "level", "case_type", "bucket"),)


class SimulationRun(Base):
    """A leder's what-if simulation (the *Simulér* page, ``processes.simulation.runs``):
    what was asked (``request``: variants, seed, replications; ``scenario``: the changes
    laid over the default scenario), its state (``queued`` → ``running`` → ``done`` or
    ``failed``), progress, and the result with the own municipality's actual figures.
    ``created_at`` is case time; ``started_at``, ``heartbeat_at`` and ``finished_at`` are
    wall-clock time (is the worker running it alive?)."""

    __tablename__ = "simulation_run"
    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    title: Mapped[str] = mapped_column(String(200))
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)
    scenario: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued | running | done | failed
    progress: Mapped[float] = mapped_column(Float, default=0.0)        # 0..1
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[Optional[str]] = mapped_column(String(100))
    started_at: Mapped[Optional[datetime]]
    heartbeat_at: Mapped[Optional[datetime]]
    finished_at: Mapped[Optional[datetime]]
    note: Mapped[Optional[str]] = mapped_column(Text)    # the last thing that happened to it (restart, ...)
    error: Mapped[Optional[str]] = mapped_column(Text)   # why it failed
    result: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)

    __table_args__ = (Index("ix_simulation_run_municipality", "municipality_id", "id"),
                      Index("ix_simulation_run_status", "status", "id"))


class DiagramDrawing(Base):
    """A model version's diagram as bpmn-js drew it in a caseworker's browser (the case
    page, ``inbox/drawings.py``): sanitized SVG with the shapes' bounds, kept so the next
    browser of the same municipality shows it without loading bpmn-js. One per
    municipality and ``key`` (the model's SHA-256, the language and the renderer); the
    first accepted drawing stays (never replaced). No case data: a model's drawing.
    ``body`` is the gzip-compressed JSON the browser shows (``svg``, ``logo``, ``box``,
    ``bounds``)."""

    __tablename__ = "diagram_drawing"
    __table_args__ = (UniqueConstraint("municipality_id", "key", name="uq_diagram_drawing_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"))
    key: Mapped[str] = mapped_column(String(100))
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id"))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
