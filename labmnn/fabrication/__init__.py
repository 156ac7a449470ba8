"""From model to print and back: load series, validation, identification, export for printing."""
