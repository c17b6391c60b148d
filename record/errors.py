"""The one user-facing error type, caught once in run_bench.main()."""


class UserError(Exception):
    """Bad input from the user: printed as one line, exit status 1."""


def first_line(exc: BaseException, empty: str = "") -> str:
    """The first line of an exception's message (a driver's message can run to several, a
    traceback never belongs in a one-line reason); `empty`, else the type's name, for none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else (empty or type(exc).__name__)
