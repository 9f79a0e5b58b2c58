"""The asyncpg options every connection of the project's programs uses, whatever sits between
them and PostgreSQL.

Through PgBouncer in transaction pooling mode (a common way for a fleet of hosts to reach one
server) each transaction may run on another server connection, and each server connection
serves many clients in turn. asyncpg's statement cache prepares *named* statements, numbered
per process (``__asyncpg_stmt_1__``, ...): the next transaction may not find one ("prepared
statement does not exist"), and another host's process preparing the same name on the same
server connection collides with it ("already exists"). Without the cache, asyncpg sends unnamed
statements, parsed again with each execution, which hold through any pooler; the project's
programs send few statements per connection (the sync one per batch of thousands of rows), so
the cache would gain nothing measurable.
"""

from __future__ import annotations

from typing import Any

#: Keyword arguments for ``asyncpg.connect`` and ``asyncpg.create_pool``.
ASYNCPG_OPTIONS: dict[str, Any] = {"statement_cache_size": 0}
