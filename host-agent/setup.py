"""The one compiled part: the copy_text() SQLite aggregate (host_agent/store/_copy_text.c)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "host_agent.store._copy_text",
            sources=["host_agent/store/_copy_text.c"],
            libraries=["sqlite3"],  # the same libsqlite3 Python's sqlite3 module uses
            extra_compile_args=["-O2", "-Wall", "-Wextra"],
        )
    ]
)
