"""Request-independent helpers: body reading, validation, the batch processor."""
