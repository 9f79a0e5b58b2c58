"""The plan's module names, kept importable: ``common.data_sync.DataSyncManager`` and
``common.database.DesktopActivityDatabase`` / ``FileChangeDatabase``. The code lives in
:mod:`host_agent.sync` and :mod:`host_agent.store`."""
