"""The results format: the contract between the harness that writes a run and the analysis that
reads it. Standard library and pyarrow only, so the harness, the Locust side and the analysis
can all import it without importing each other."""
