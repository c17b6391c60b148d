"""tornado-bench server variants: one module per concurrency strategy, one launcher."""
