"""The real agent as a child process: :mod:`host_agent.testing`, shared with the benchmarks."""

from host_agent.testing import AGENT_TIMEOUT, AgentProcess

__all__ = ["AGENT_TIMEOUT", "AgentProcess"]
