"""GET /te/plaintext (scenario te-plaintext; scenarios/te.py has the request and its check)."""

from scenarios.te import TePlaintextBase


class TePlaintextUser(TePlaintextBase):
    abstract = False
