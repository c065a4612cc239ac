"""Feature families: one module per family, each a function of the frame rows (``features.pit.rows``) that
returns its columns; ``features.pit.build`` runs them per entity."""
