"""GET /te/db (scenario te-db; scenarios/te.py has the request and its check)."""

from scenarios.te import TeDbBase


class TeDbUser(TeDbBase):
    abstract = False
