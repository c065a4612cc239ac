"""The manager report: one HTML page for sales managers, its charts, fonts, template and browser check."""
