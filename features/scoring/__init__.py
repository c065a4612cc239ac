"""The applied model shared by training and serving: scorer, factor naming, model kinds, the pyfunc."""

#: The built-in models (``training/specs``): what the service serves, the report describes and monitor judges.
MODELS = ("lead_score", "close_probability")
