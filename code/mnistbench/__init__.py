"""A from-scratch JAX MLP and its PyTorch twin on MNIST, timed honestly."""

import time as _time

# When this process started its work (the package is imported first, before JAX or PyTorch):
# the first record of a process counts its imports in its wall time.
PROCESS_STARTED = _time.perf_counter()
