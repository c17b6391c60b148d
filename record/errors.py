"""The one user-facing error type, caught once in run_bench.main()."""


class UserError(Exception):
    """Bad input from the user: printed as one line, exit status 1."""
