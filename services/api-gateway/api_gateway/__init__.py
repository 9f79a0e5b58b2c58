"""Reprospective's API gateway and web dashboard: reads every host's rows from PostgreSQL,
writes only ``monitored_directories``."""
