"""The *why*: measurements that explain the timing differences, each in fresh child processes.

An item is measured on a device (``measure``, ``paired``) and becomes one record
``evidence-NAME-DEVICE.json`` (``items``): ``equality`` (every variant against its framework's
default), ``compile`` (compile time per program, batch size and cache setting, and the partial
batch), ``updates`` (accuracy at an equal number of updates), ``paired`` (every variant in
rounds of fresh processes; the statistics are ``bench.compare``'s) and ``cost-split`` (each side's
step across batch sizes, ``costsplit``; JAX eager taken apart). Calls, operations and kernels
per step, and host and device time per step, are measured by the runs themselves (their
``profile``); TF32 runs are runs. The report reads the records (``report.analysis``).
"""
