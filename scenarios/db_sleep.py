"""GET /db?query=sleep (scenario db-sleep; scenarios/db.py has the request and its check)."""

from scenarios.db import DbSleepUser


class DbSleepQueryUser(DbSleepUser):
    abstract = False
