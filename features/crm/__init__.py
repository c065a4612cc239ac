"""The raw CRM export -> canonical tables stage: schema, dataset I/O, validation, importers, data checks."""
