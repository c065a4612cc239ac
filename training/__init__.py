"""Model training, evaluation and the MLflow registry (builds on ``features``)."""
