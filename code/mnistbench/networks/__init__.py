"""The assignment's answer: the config, the data, the pure-JAX network and its PyTorch twin.

Read in one sitting: ``config`` (the settings both frameworks read), ``data``
(split, standardize, one-hot), ``jax_mlp`` (init, forward, loss, the ``grad``
update and the jitted step), ``torch_mlp`` (the same network in PyTorch),
``weights`` (the shared starting point) and ``equivalence`` (the tolerances
that hold the twins equal). Nothing here knows about processes, clocks or
records, and the only files read are MNIST's, through ``mnist_files``: the
benchmark (``bench``) wraps these functions to time them.
"""
