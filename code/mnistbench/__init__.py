"""A from-scratch JAX MLP and its PyTorch twin on MNIST, timed honestly."""
