"""Point-in-time features and labels: timelines, the history index, the catalog, keywords, the builder."""
