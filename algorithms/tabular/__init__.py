"""Tabular RL on NumPy arrays: dynamic programming, TD control, Monte Carlo, exploration, the unified agent."""
