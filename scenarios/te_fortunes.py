"""GET /te/fortunes (scenario te-fortunes; scenarios/te.py has the request and its check)."""

from scenarios.te import TeFortunesBase


class TeFortunesUser(TeFortunesBase):
    abstract = False
