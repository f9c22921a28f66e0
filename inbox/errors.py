"""Errors as pages (HTML) or as JSON (under /api/): Sagsflow's errors keep their status."""
from __future__ import annotations

from flask import Flask, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from processes.errors import EngineFault, ModelFault, SagsflowError

API_PREFIX = "/api/"


def _titles() -> dict[int, str]:
    return {
        400: _("Forkert forespørgsel"), 401: _("Log ind for at fortsætte"),
        403: _("Du har ikke adgang"), 404: _("Siden findes ikke"),
        409: _("Opgaven er ændret"), 422: _("Oplysningerne er ikke gyldige"),
    }


def api_error(status: int, message: str, errors: dict | None = None):
    body = {"code": status, "status": _STATUS.get(status, "Error"), "message": message}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="sagsflow"'
    return response


_STATUS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 409: "Conflict", 422: "Unprocessable Entity",
           500: "Internal Server Error"}


def register(app: Flask) -> None:
    @app.errorhandler(SagsflowError)
    def sagsflow_error(exc: SagsflowError):
        if isinstance(exc, EngineFault):  # a bug, not the user's or the model's: keep its traceback
            current_app.logger.error("step failed inside the engine: %s", exc, exc_info=exc)
        if request.path.startswith(API_PREFIX):
            return api_error(exc.status, str(exc), getattr(exc, "errors", None))
        if isinstance(exc, ModelFault):  # name the element, so the model's maintainer can find it
            return render_template("error.html", status=exc.status, title=_("Processen kunne ikke fortsætte"),
                                   message=_("Processens model fejlede i elementet »%(element)s«, og intet er "
                                             "gemt. Kontakt den, der vedligeholder modellen. Fejlen: %(detail)s",
                                             element=exc.element or "-", detail=exc.detail)), exc.status
        if isinstance(exc, EngineFault):
            return render_template("error.html", status=exc.status, title=_("Der opstod en fejl i Sagsflow"),
                                   message=_("Trinnet kunne ikke gennemføres på grund af en fejl i Sagsflow, ikke i "
                                             "processens model, og intet er gemt. Prøv igen, og kontakt supporten, "
                                             "hvis fejlen gentager sig.")), exc.status
        return render_template("error.html", status=exc.status, title=_titles().get(exc.status, ""),
                               message=None), exc.status

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return render_template("error.html", status=400, title=_("Formularen er udløbet"),
                               message=_("Siden var for gammel. Gå tilbage, genindlæs siden og prøv igen.")), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if request.path.startswith(API_PREFIX):
            data = getattr(exc, "data", None) or {}
            errors = data.get("messages")
            if isinstance(errors, dict) and len(errors) == 1 and next(iter(errors)) in ("json", "query"):
                errors = next(iter(errors.values()))
            return api_error(exc.code or 500, exc.description or "", errors)
        return render_template("error.html", status=exc.code, title=_titles().get(exc.code, exc.name),
                               message=None), exc.code
