"""tornado-bench harness: suites, cells, process lifecycle, results. Never imports locust."""
