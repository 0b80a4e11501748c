"""Out-of-process executors: one scheduling loop (`scheduler`) over a small backend that only computes.

`local` runs tasks in spawned worker processes on this machine (`--workers N`), `ray` as Ray tasks on a private
local Ray or a cluster (`--executor ray`). Both take the same picklable tasks (`alseg.tasks`), and in both the
driver alone writes the store, so workers need no shared disk.
"""
