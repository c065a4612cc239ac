"""The applied model shared by training and serving: scorer, factor naming, model kinds, the pyfunc."""

#: The built-in models (``training/specs``): what the service serves, the report describes and monitor judges.
MODELS = ("lead_score", "close_probability")
#: The kind of the model a new CRM is scored with before its data can train an ML model (``training.prior``);
#: answers, ``/v1/models`` and reports call every other model ``ml``.
PRIOR = "prior"
ML = "ml"


def served_kind(model_kind: str) -> str:
    """``prior`` or ``ml``: what an answer says of the model behind it (``Scorer.model_kind``)."""
    return PRIOR if model_kind == PRIOR else ML
