"""``python -m host_agent`` runs the command line (``reprospective-agent``)."""

from host_agent.cli import main

raise SystemExit(main())
