"""Sagsflow's exception hierarchy. Every layer maps these to its own surface
(the CLI to a one-line message and exit code, the API to an HTTP status).

- SagsflowError
  - NotFound        unknown id, or an id in another municipality (404)
  - Forbidden       the user lacks the task's role (403)
  - Conflict        the task is no longer open, was claimed or changed meanwhile (409)
  - InvalidInput    bad input; ``errors`` maps field ids to messages (400/422)
  - ClockError      a virtual-clock operation on a real-clock installation
  - ConfigurationError  a municipality or policy Sagsflow refuses (processes.library.ModelInvalid too)
  - ModelFault      model code (script, condition, timer) failed or went over its limits in a
                    step; the step rolled back (422, names the element)
  - EngineFault     Sagsflow's own code or SpiffWorkflow failed in a step, not the model's
                    code: a bug to report, not one for the model's maintainer; the step
                    rolled back (500)
"""


class SagsflowError(Exception):
    status = 400


class NotFound(SagsflowError):
    status = 404


class Forbidden(SagsflowError):
    status = 403


class Conflict(SagsflowError):
    status = 409


class InvalidInput(SagsflowError):
    status = 422

    def __init__(self, message: str, errors: dict | None = None):
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in (errors or {}).items())
        super().__init__(f"{message} ({detail})" if detail else message)
        self.message = message
        self.errors = errors or {}


class ClockError(SagsflowError):
    status = 400


class ConfigurationError(SagsflowError):
    status = 422


class ModelFault(SagsflowError):
    """Model code failed while a step ran, or went over its budget (``docs/modelling.md``,
    "Limits"). The step's transaction is rolled back: the case is as it was before."""

    status = 422

    def __init__(self, element: str | None, detail: str):
        self.element = element
        self.detail = detail
        super().__init__(f"the model failed in element {element}: {detail}" if element
                         else f"the model failed: {detail}")


class EngineFault(SagsflowError):
    """A step failed in Sagsflow's own code or in SpiffWorkflow, not in model code (an
    unexpected exception, say an ``AttributeError`` inside Spiff's timer bookkeeping).
    The step's transaction is rolled back; the original exception is the ``__cause__``,
    so logs keep its traceback."""

    status = 500

    def __init__(self, detail: str):
        self.detail = detail
        super().__init__(f"the step failed inside the engine (not in the model's code); nothing is saved: {detail}")
