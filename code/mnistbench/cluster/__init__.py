"""The SLURM route: a device's campaign submitted as one job, requeued until its plan is done."""
