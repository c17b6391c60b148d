"""GET /te/json (scenario te-json; scenarios/te.py has the request and its check)."""

from scenarios.te import TeJsonBase


class TeJsonUser(TeJsonBase):
    abstract = False
