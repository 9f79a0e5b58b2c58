"""Operating the agent: status, manual sync, held-back rows, the control socket, retention,
the local PostgreSQL and the systemd unit. The command line (:mod:`host_agent.cli`) parses and
delegates here; these modules return data or raise :class:`host_agent.core.errors.AgentError`.
"""
