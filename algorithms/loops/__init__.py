"""The loops around the losses, one module each, and what every loop shares.

- :mod:`~algorithms.loops.training_run`: :class:`TrainingRun` (seeds, networks, optimisers, the
  learning step, evaluation, metrics, checkpoints) and :func:`train`, which hands one to a loop;
- :mod:`~algorithms.loops.off_policy` (replay, Discrete actions), :mod:`~algorithms.loops.off_policy_continuous`
  (replay, Box actions, actor and critics), :mod:`~algorithms.loops.on_policy` (rollouts),
  :mod:`~algorithms.loops.episodic` (whole episodes), :mod:`~algorithms.loops.model_based` (learn a model, plan);
- :mod:`~algorithms.loops.env_runner` (stepping vector envs, evaluation episodes),
  :mod:`~algorithms.loops.actors` (deterministic policies), :mod:`~algorithms.loops.metrics_log`,
  :mod:`~algorithms.loops.seeding`;
- :mod:`~algorithms.loops.gradcheck_batches`: a small real batch of each loop's kind, for
  ``tinygrad-rl gradcheck`` and ``graph`` only.

The loops are registered (:func:`algorithms.registry.register_loop`) in :mod:`algorithms.builtin`.
"""
