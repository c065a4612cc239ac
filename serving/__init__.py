"""The BentoML scoring service (builds on ``features`` and registry artifacts, never ``training``)."""
