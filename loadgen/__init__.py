"""The Locust side of the harness: what runs inside Locust's processes, beside the scenario
files. `locust_plugin.py` is handed to Locust as an extra `-f` file, so any Locust file (ours in
scenarios/, or a user's own) gets the same raw-record recorder, options and exact stop.
Imported only inside Locust processes (Locust monkey-patches the standard library)."""
