"""Live model quality from the prediction log: what ``salesml monitor`` reports and ``GET /v1/monitoring`` answers.

Each served model's logged predictions are joined with the outcomes an export shows (``outcomes``), measured where
labels arrived and estimated where they have not (``quality``), cut by slices, and compared with the training
reference logged with the model (``drift``); ``summary`` puts it together per model. Every alert names the threshold
it crossed (``thresholds``, from the model's spec). The package itself imports nothing: a spec reads its thresholds
without the analysis behind them loading.
"""
