"""One throwaway PostgreSQL server per test session, one database per test."""

pytest_plugins = ["reprospective_db.fixtures"]  # pg_server, pg_database, empty_pg_database, pg_url, pg
