"""Agents: networks, rollouts, GAE and evaluation."""

from discover.agents.gae import gae
from discover.agents.networks import AgentNetworks, make_networks
from discover.agents.rollout import Transition, make_evaluate, make_rollout

__all__ = ["AgentNetworks", "Transition", "gae", "make_evaluate", "make_networks", "make_rollout"]
