"""Serving benchmark: the real ``salesml serve`` under open-loop load and in batches, beside in-process scoring.

Run: ``.venv/bin/python -m benchmarks.serve [--quick] [--duration S] [--rate R] [--batches N]``. In a temporary
directory (never the repository's own stores) it synthesises a CRM (``salesml data synth``), trains lead_score
with a few trials into a private MLflow store, exports it into a private BentoML store and starts ``salesml serve``
on a free loopback port, as a user does. Then:

1. one lead with a realistic 100-activity history (calls, e-mails, visits, web visits... over the ~10 days before
   ``as_of``, inbound and outbound), scored with the top-5 factors, sent open-loop at a fixed rate (default
   100 requests/s for 60 s) over keep-alive connections (``httpx.AsyncClient``, one connection a request in
   flight): each request leaves at its slot whether or not earlier ones have answered, and every request's
   latency is kept, from its slot to its answer (abandoned, and counted as an error, ``--cap`` s after its slot).
   Each request sends the same lead under its own id (``BENCH-0001-000042``), as a CRM sends different leads:
   calls in flight together are scored in shared batches (``serving.batching``), which calls about one lead
   cannot share;
2. batches of 1,000 leads with 20-100 activities each, one request at a time: leads/s (median over the batches);
3. the single-lead request scored in-process on the service's own code path (``ServingContext.leads`` ->
   ``build_features`` -> ``Scorer.predict_with_factors``), the scorer and context read from the BentoML store as
   the service reads them: median over many runs, and the ratio HTTP p50 / in-process;
4. the floor: the same open-loop load and batches on ``benchmarks.floor`` (the service's guard, request parsing and
   response models, nothing scored; ``--no-floor`` skips it), so the report tells the framework's share of each
   figure on this machine from salesml's.

Prints a markdown section and, at full size, writes its section of BENCHMARKS.md. ``--quick`` is a smoke run of
every step on the smallest store (``benchmarks.stores.QUICK_STORE``) for a few seconds; ``--workdir`` keeps the
stores and reuses them.
Targets from the issue: single lead p50 <= 5 ms, p99 <= 15 ms, no errors at 100 requests/s; >= 5,000 leads/s in
batches of 1,000.

Modules: ``payloads`` (request bodies), ``load`` (the load generator), ``inprocess`` (the service's code path
timed without HTTP), ``report`` (the markdown section); ``__main__`` runs them.
"""
