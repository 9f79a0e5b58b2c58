from __future__ import annotations

import pytest
from host_agent.common.data_sync import DataSyncManager
from host_agent.common.database import DesktopActivityDatabase, FileChangeDatabase


@pytest.fixture
def desktop_db(data_dir):
    db = DesktopActivityDatabase(data_dir / "desktop_activity.db")
    yield db
    db.close()


@pytest.fixture
def files_db(data_dir):
    db = FileChangeDatabase(data_dir / "file_changes.db")
    yield db
    db.close()


@pytest.fixture
async def manager_factory(data_dir):
    """Build initialised sync managers on the test's data folder; all are closed at the end."""
    made: list[DataSyncManager] = []

    async def make(url: str, **kwargs) -> DataSyncManager:
        kwargs.setdefault("batch_size", 100)
        manager = DataSyncManager(url, data_dir / "desktop_activity.db", data_dir / "file_changes.db", **kwargs)
        await manager.initialize()
        made.append(manager)
        return manager

    yield make
    for manager in made:
        await manager.close()
