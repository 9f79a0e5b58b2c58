"""Reprospective's PostgreSQL side shared by the host agent, the API gateway and operators.

- :mod:`reprospective_db.schema`: the migration files (``init/NN_*.sql``) and the one routine
  that applies them, under a transaction-level advisory lock, with ``schema_version`` bookkeeping;
- :mod:`reprospective_db.cluster`: a private PostgreSQL cluster on the machine's own server
  binaries (the agent's embedded default, and the test suites' throwaway server);
- :mod:`reprospective_db.secrets`: keeping passwords out of logs and messages;
- :mod:`reprospective_db.connections`: the asyncpg options every connection uses (they hold
  through PgBouncer);
- :mod:`reprospective_db.cli`: ``reprospective-db upgrade``, for operators.

It imports nothing of the agent or the gateway.
"""
