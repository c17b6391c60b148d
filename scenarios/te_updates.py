"""GET /te/updates?queries=N (scenario te-updates; scenarios/te.py has the request and its
check)."""

from scenarios.te import TeUpdatesBase


class TeUpdatesUser(TeUpdatesBase):
    abstract = False
