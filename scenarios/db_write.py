"""GET /db?query=write (scenario db-write; scenarios/db.py has the request and its check)."""

from scenarios.db import DbWriteUser


class WriteUser(DbWriteUser):
    abstract = False
