"""Point-in-time features and labels: the join (timeline), entity frames and labels, the history index, the
catalog, keywords, one module per feature family, and the builder that runs them."""
