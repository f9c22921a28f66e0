"""API endpoints of the studio's model comparison and case migration (issue 12), on the
``/api/v1`` blueprint of :mod:`inbox.api` (so they are in the OpenAPI document). They
need the role ``procesdesigner`` and act on the token user's municipality only."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from inbox import schemas
from inbox.access import require_role, runtime
from inbox.api import _actor, blp
from processes import migration, studio, timekeeping
from processes.catalogue import version_in_force
from processes.errors import Conflict
from processes.library import CASE_TYPES
from processes.models import ModelVersion


class ModelArgs(Schema):
    case_type = fields.String(load_default=None, validate=validate.OneOf(CASE_TYPES),
                              metadata={"description": "One case type (default: all)."})


class ModelDiffSchema(Schema):
    case_type = fields.String()
    from_version_id = fields.Integer()
    to_version_id = fields.Integer()
    changes = fields.List(fields.Dict(), metadata={"description": "element, name, change, property, old, new"})
    policy = fields.List(fields.Dict(), metadata={"description": "key, old, new, read_old, read_new"})


class MigrationSchema(Schema):
    case_type = fields.String()
    target_version_id = fields.Integer()
    cases = fields.List(fields.Dict(), metadata={
        "description": "case_id, instance_id, from_version, status (clean|changed|blocked), waiting, reasons, moved"})


class MigrateBodySchema(Schema):
    case_type = fields.String(required=True, validate=validate.OneOf(CASE_TYPES))
    case_ids = fields.List(fields.Integer(), load_default=list, metadata={"description": "Only these cases"})
    confirm = fields.Boolean(load_default=False, metadata={"description": "false: dry run; true: move them"})


class RevertBodySchema(Schema):
    case_id = fields.Integer(required=True, metadata={"description": "The case (sag) number"})


class RevertSchema(Schema):
    case_id = fields.Integer()
    instance_id = fields.Integer()
    process = fields.String()
    from_version_id = fields.Integer(metadata={"description": "The version it was moved to"})
    to_version_id = fields.Integer(metadata={"description": "The version it is back on"})


def _case_types(args) -> list[str]:
    return [args["case_type"]] if args.get("case_type") else list(CASE_TYPES)


@blp.route("/models/diff")
@blp.arguments(ModelArgs, location="query")
@blp.response(200, ModelDiffSchema(many=True))
@blp.alt_response(403, schema=schemas.ApiErrorSchema)
def model_diff(args):
    """What changed in the model in force for new cases against the version it replaced."""
    actor = _actor()
    require_role(actor, studio.DESIGNER)
    out = []
    with runtime().sessions() as db:
        now = timekeeping.now(db)
        for case_type in _case_types(args):
            current_id = version_in_force(db, actor.municipality_id, case_type, now)
            if current_id is None:
                continue
            current = db.get(ModelVersion, current_id)
            other = studio.previous_version(db, current, actor.municipality_id)
            out.append({"case_type": case_type, "from_version_id": other.id, "to_version_id": current.id,
                        "changes": studio.diff_facts(other.bpmn_xml, current.bpmn_xml),
                        "policy": studio.policy_diff(
                            other.bpmn_xml, current.bpmn_xml,
                            studio.policy_values(db, actor.municipality_id, case_type,
                                                 studio.version_date(db, other, actor.municipality_id)),
                            studio.policy_values(db, actor.municipality_id, case_type,
                                                 studio.version_date(db, current, actor.municipality_id)))})
    return out


def _dry_runs(db, municipality_id: int, case_types: list[str], case_ids: list[int]) -> list[dict]:
    now = timekeeping.now(db)
    out = []
    for case_type in case_types:
        target = version_in_force(db, municipality_id, case_type, now)
        if target is None:
            continue
        cases = [{"case_id": r.case_id, "instance_id": r.instance_id, "from_version": r.from_version,
                  "status": r.status, "waiting": [w.__dict__ for w in r.waiting], "reasons": r.reasons}
                 for r in migration.dry_run(db, municipality_id, case_type, target)
                 if not case_ids or r.case_id in case_ids]
        out.append({"case_type": case_type, "target_version_id": target, "cases": cases})
    return out


@blp.route("/models/migrations")
@blp.arguments(ModelArgs, location="query")
@blp.response(200, MigrationSchema(many=True))
@blp.alt_response(403, schema=schemas.ApiErrorSchema)
def migration_dry_run(args):
    """Dry run: what moving each running case to the model in force would do."""
    actor = _actor()
    require_role(actor, studio.DESIGNER)
    with runtime().sessions() as db:
        return _dry_runs(db, actor.municipality_id, _case_types(args), [])


@blp.route("/models/migrations", methods=["POST"])
@blp.arguments(MigrateBodySchema)
@blp.response(200, MigrationSchema)
@blp.alt_response(403, schema=schemas.ApiErrorSchema)
@blp.alt_response(422, schema=schemas.ApiErrorSchema)
def migrate_cases(body):
    """Move running cases of a case type to the model in force (all that can, or
    ``case_ids``), each in its own engine step, audited; without ``confirm`` a dry run."""
    actor = _actor()
    require_role(actor, studio.DESIGNER)
    with runtime().sessions() as db:
        plan = _dry_runs(db, actor.municipality_id, [body["case_type"]], body["case_ids"])
    if not plan:
        return {"case_type": body["case_type"], "target_version_id": None, "cases": []}
    result = plan[0]
    if body["confirm"]:
        for case in result["cases"]:
            if case["status"] == "blocked":
                case["moved"] = False
                continue
            try:
                migration.migrate_instance(runtime().engine, case["instance_id"], result["target_version_id"], actor)
                case["moved"] = True
            except Conflict as exc:
                case["moved"], case["reasons"] = False, [str(exc)]
    return result


@blp.route("/models/migrations/revert", methods=["POST"])
@blp.arguments(RevertBodySchema)
@blp.response(200, RevertSchema)
@blp.alt_response(403, schema=schemas.ApiErrorSchema)
@blp.alt_response(404, schema=schemas.ApiErrorSchema)
@blp.alt_response(409, schema=schemas.ApiErrorSchema)
def revert_case(body):
    """Put a moved case back on its previous model version, while nothing has happened on
    the new one (409 otherwise, and the case is left as it is); audited."""
    actor = _actor()
    require_role(actor, studio.DESIGNER)
    return migration.revert_case(runtime().engine, actor.municipality_id, body["case_id"], actor)
