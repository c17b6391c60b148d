"""GET /db?query=rows (scenario db-rows; scenarios/db.py has the request and its check)."""

from scenarios.db import DbRowsUser


class RowsUser(DbRowsUser):
    abstract = False
