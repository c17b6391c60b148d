"""tornado-bench analysis: load (files → DataFrames), aggregate (pure), plot/report."""
