"""tinygrad_rl: a minimal reverse-mode autodiff Tensor on NumPy, with nn, optim and gradcheck."""
