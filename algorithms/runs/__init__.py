"""Everything that runs, saves and shows runs: the command line, run folders, checkpoints and resuming,
evaluation and recording, summaries, comparison plots, TensorBoard, and the gradient-study commands.

- :mod:`~algorithms.runs.cli` (``tinygrad-rl``), :mod:`~algorithms.runs.arguments` (what its commands share),
  :mod:`~algorithms.runs.study` (``gradcheck``, ``graph``), :mod:`~algorithms.runs.compare_runs` (``plot``);
- :mod:`~algorithms.runs.experiment` (a training run as a folder), :mod:`~algorithms.runs.run_folder`
  (claiming and locking it), :mod:`~algorithms.runs.record`, :mod:`~algorithms.runs.summary`,
  :mod:`~algorithms.runs.plots`, :mod:`~algorithms.runs.tensorboard_log`;
- what the loops write through: :mod:`~algorithms.runs.checkpoint` (atomic files, weights),
  :mod:`~algorithms.runs.resume` (resumable state), :mod:`~algorithms.runs.threads` (process settings).
"""
