"""Tabular RL on NumPy arrays: dynamic programming, TD control, Monte Carlo, exploration, the unified agent,
planning with a learned model (Dyna-Q, Dyna-Q+, prioritized sweeping)."""
# TD control, Monte Carlo, exploration strategies, the unified agent
from .result import TabularResult
from .exploration import ExplorationStrategy, EpsilonGreedy, Boltzmann, UCB
from .agent import UnifiedAgent, td_target, TD_ALGORITHMS
from .td import q_learning, sarsa, expected_sarsa, td_control
from .monte_carlo import mc_prediction, mc_control
# Dynamic programming on tabular models
from .dp import DPResult, action_values, policy_evaluation, policy_iteration, value_iteration
# Planning with a learned model: Dyna-Q, Dyna-Q+, prioritized sweeping (S&B chapter 8)
from .planning import DeterministicModel, PlanningResult, dyna_q, dyna_q_plus, prioritized_sweeping
