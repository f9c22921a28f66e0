"""Marshmallow schemas of the REST API (requests and responses)."""
from __future__ import annotations

from marshmallow import Schema, fields, missing, validate

from inbox.limits import MAX_PAGE
from inbox.queries import CLAIM_FILTERS, DUE_STATES, SORTS


class ApiErrorSchema(Schema):
    code = fields.Integer(required=True)
    status = fields.String(required=True)
    message = fields.String()
    errors = fields.Dict(metadata={"description": "Field id → list of messages (Danish)."})


class TaskListArgs(Schema):
    role = fields.List(fields.String(), load_default=list, metadata={"description": "Only these roles (repeatable)."})
    process = fields.String(load_default="")
    due = fields.String(load_default="", validate=validate.OneOf(("",) + DUE_STATES))
    claim = fields.String(load_default="", validate=validate.OneOf(("",) + CLAIM_FILTERS))
    sort = fields.String(load_default="frist", validate=validate.OneOf(tuple(SORTS)))
    dir = fields.String(load_default="asc", validate=validate.OneOf(("asc", "desc")))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=25, validate=validate.Range(min=1, max=200))
    scope = fields.String(load_default="mine", validate=validate.OneOf(("mine", "team")),
                          metadata={"description": "`team`: every role (teamleder only)."})


class ListItemFieldSchema(Schema):
    id = fields.String(required=True)
    label = fields.String()
    type = fields.String(metadata={"description": "string, long, boolean, date, enum"})
    options = fields.List(fields.Dict())


class FormFieldSchema(Schema):
    id = fields.String(required=True)
    label = fields.String()
    type = fields.String(metadata={"description": "string, long, boolean, date, enum, list (a JSON list of "
                                                  "objects with the keys of `items`; blank rows are dropped)"})
    # a dict's .items would be read for fields without columns: look the key up explicitly
    items = fields.Function(lambda spec: ListItemFieldSchema(many=True).dump(spec["items"]) if "items" in spec
                            else missing, metadata={"description": "Columns of a list field (id, label, type, options)."})
    rows = fields.Integer(metadata={"description": "Blank rows the web form shows for a list field."})
    past_only = fields.Boolean(metadata={"description": "A date after today (case clock) is refused."})
    check_message = fields.String(metadata={"description": "Shown next to the field when its cross-field "
                                                          "check fails (422, keyed by the field id)."})
    required = fields.Boolean()
    options = fields.List(fields.Dict())
    min = fields.Integer()
    max = fields.Integer()
    minlength = fields.Integer()
    maxlength = fields.Integer()
    multiline = fields.Boolean()
    default = fields.Raw()


class TaskSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    task = fields.String(attribute="bpmn_id")
    process = fields.String(attribute="process_id")
    role = fields.String()
    state = fields.String()
    case_id = fields.Integer()
    instance_id = fields.Integer()
    citizen = fields.String()
    cpr = fields.String(metadata={"description": "Masked: DDMMÅÅ-XXXX"})
    due_at = fields.DateTime(allow_none=True)
    due_state = fields.String(metadata={"description": "overskredet, snart, ok or ingen"})
    deadline_rule = fields.String(allow_none=True)
    claimed_by = fields.String(allow_none=True)
    revision = fields.Integer()
    created_at = fields.DateTime()


class ShownSchema(Schema):
    """One item of what the task shows of its case (the model's ``show``)."""
    label = fields.String()
    kind = fields.String(metadata={"description": "`field` (an earlier answer) or `milestone`"})
    value = fields.Raw(allow_none=True, metadata={"description": "The value as the case holds it"})
    text = fields.String(allow_none=True, metadata={"description": "The value in words (enum label, ja/nej, date)"})
    date = fields.Date(allow_none=True, metadata={"description": "A milestone's date"})
    set_by_task = fields.Integer(allow_none=True, metadata={"description": "The completed task that set it"})
    set_at = fields.DateTime(allow_none=True)
    missing = fields.Boolean(metadata={"description": "Not given (or reached) yet"})


class TaskDetailSchema(TaskSchema):
    form = fields.List(fields.Nested(FormFieldSchema))
    data = fields.Dict(allow_none=True)
    completed_by = fields.String(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    case_context = fields.List(fields.Nested(ShownSchema), metadata={
        "description": "What the model declares the task shows of the case (docs/modelling.md)"})


class TaskPageSchema(Schema):
    items = fields.List(fields.Nested(TaskSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
    pages = fields.Integer()


class CompleteSchema(Schema):
    data = fields.Dict(required=True, metadata={"description": "The form: field id → value."})
    revision = fields.Integer(load_default=None, allow_none=True,
                              metadata={"description": "The task revision the form was filled from."})
    idempotency_key = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=8, max=100),
        metadata={"description": "A fresh random key per submission (e.g. a UUID): a retry with the same key "
                                 "and data after a lost answer is answered 200 again and completes nothing twice."})


class CompletedSchema(Schema):
    task = fields.Nested(TaskDetailSchema)
    next_tasks = fields.List(fields.Nested(TaskSchema))


class ReassignSchema(Schema):
    username = fields.String(required=True)


class StartCaseSchema(Schema):
    case_type = fields.String(required=True)
    cpr = fields.String(required=True)
    citizen_name = fields.String(required=True)
    age = fields.Integer(load_default=None, allow_none=True)


class StartedSchema(Schema):
    case_id = fields.Integer()
    instance_id = fields.Integer()
    process = fields.String()
    status = fields.String()
    open_tasks = fields.List(fields.Nested(TaskSchema))


class InstanceSchema(Schema):
    id = fields.Integer()
    process = fields.String(attribute="process_id")
    status = fields.String()
    model_version = fields.Integer()
    started_at = fields.DateTime()
    completed_at = fields.DateTime(allow_none=True)
    current = fields.List(fields.String(), metadata={"description": "BPMN ids of the open tasks"})


class HistorySchema(Schema):
    id = fields.Integer()
    name = fields.String()
    task = fields.String()
    process = fields.String()
    role = fields.String()
    state = fields.String()
    completed_by = fields.String(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)


class DeadlineSchema(Schema):
    instance_id = fields.Integer()
    timer = fields.String()
    name = fields.String()
    rule = fields.String(allow_none=True)
    due_at = fields.DateTime()
    task = fields.String(allow_none=True)


class LetterSchema(Schema):
    id = fields.Integer()
    template = fields.String()
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)
    document_id = fields.Integer(allow_none=True)
    title = fields.String(allow_none=True)


class MilestoneSchema(Schema):
    key = fields.String(metadata={"description": "Milestone key (processes/milestones.py)."})
    label = fields.String()
    date = fields.String(metadata={"description": "Danish calendar date (YYYY-MM-DD)."})
    process = fields.String()
    instance_id = fields.Integer()
    recorded_at = fields.DateTime()
    actor = fields.String()


class ServiceTargetSchema(Schema):
    key = fields.String(metadata={"description": "The policy parameter that sets the target."})
    label = fields.String()
    start = fields.String(metadata={"description": "First date of the start milestone."})
    due = fields.String(metadata={"description": "Last day the end milestone meets the target."})
    end = fields.String(allow_none=True, metadata={"description": "First date of the end milestone, if any."})
    state = fields.String(metadata={"description": "met, late, open or overdue"})
    duration = fields.String()


class CaseSchema(Schema):
    id = fields.Integer()
    citizen = fields.String()
    cpr = fields.String(metadata={"description": "Masked: DDMMÅÅ-XXXX"})
    municipality = fields.String()
    status = fields.String()
    now = fields.DateTime()
    instances = fields.List(fields.Nested(InstanceSchema))
    open_tasks = fields.List(fields.Nested(TaskSchema))
    history = fields.List(fields.Nested(HistorySchema))
    deadlines = fields.List(fields.Nested(DeadlineSchema))
    breaches = fields.List(fields.Nested(DeadlineSchema))
    letters = fields.List(fields.Nested(LetterSchema))
    owner = fields.String(allow_none=True, metadata={"description": "Username of the case owner."})
    milestones = fields.List(fields.Nested(MilestoneSchema))
    service_targets = fields.List(fields.Nested(ServiceTargetSchema))


class ApiTokenSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    created_at = fields.DateTime()
    expires_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)
    state = fields.String(metadata={"description": "aktiv, udloebet (expired) or tilbagekaldt (revoked)"})


class KpiArgs(Schema):
    compare = fields.String(load_default="", metadata={"description": "Other municipalities' keys, comma-separated."})
    from_ = fields.Date(data_key="from", load_default=None,
                        metadata={"description": "First day of the period (default: 12 months back)."})
    to = fields.Date(load_default=None, metadata={"description": "Last day of the period (default: today)."})
    case_type = fields.String(load_default=None, metadata={"description": "Only cases of this type."})
    model_version = fields.Integer(load_default=None, metadata={"description": "Own cases on this model version."})
    policy_version = fields.Integer(load_default=None, metadata={"description": "Own cases under this policy version."})


class KpiColumnSchema(Schema):
    key = fields.String(required=True, metadata={"description": "Municipality key, or `national`."})
    name = fields.String()
    own = fields.Boolean()
    figures = fields.Dict(metadata={"description": "Every measure (docs/analytics.md); figures of other "
                                                   "municipalities and the nation built on 1-4 cases are \"<5\"."})


class KpiRowSchema(Schema):
    group = fields.String()
    key = fields.String()
    label = fields.String()
    values = fields.List(fields.String(allow_none=True), metadata={"description": "One per column, as displayed."})


class KpiSchema(Schema):
    filters = fields.Dict()
    computed_at = fields.String()
    columns = fields.List(fields.Nested(KpiColumnSchema))
    rows = fields.List(fields.Nested(KpiRowSchema))
