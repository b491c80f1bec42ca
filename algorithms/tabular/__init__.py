"""Tabular RL on NumPy arrays: dynamic programming, TD control, Monte Carlo, exploration, the unified agent,
planning with a learned model (Dyna-Q, Dyna-Q+, prioritized sweeping, S&B chapter 8)."""
from .agent import TD_ALGORITHMS, UnifiedAgent, td_target
from .dp import DPResult, action_values, policy_evaluation, policy_iteration, value_iteration
from .exploration import UCB, Boltzmann, EpsilonGreedy, ExplorationStrategy
from .monte_carlo import mc_control, mc_prediction
from .planning import DeterministicModel, PlanningResult, dyna_q, dyna_q_plus, prioritized_sweeping
from .result import TabularResult
from .td import expected_sarsa, q_learning, sarsa, td_control

__all__ = ["TabularResult", "ExplorationStrategy", "EpsilonGreedy", "Boltzmann", "UCB", "UnifiedAgent", "td_target",
           "TD_ALGORITHMS", "q_learning", "sarsa", "expected_sarsa", "td_control", "mc_prediction", "mc_control",
           "DPResult", "action_values", "policy_evaluation", "policy_iteration", "value_iteration",
           "DeterministicModel", "PlanningResult", "dyna_q", "dyna_q_plus", "prioritized_sweeping"]
