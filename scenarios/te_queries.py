"""GET /te/queries?queries=N (scenario te-queries; scenarios/te.py has the request and its
check)."""

from scenarios.te import TeQueriesBase


class TeQueriesUser(TeQueriesBase):
    abstract = False
