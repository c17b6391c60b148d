"""Locust files, one per workload. Run only by Locust in its own process, never imported by
the harness (Locust monkey-patches the standard library on import)."""
