"""The Ray engine: the same run on a cluster. engine.py drives it from this process, tasks.py
is what runs in Ray tasks and actors, session.py connects to the cluster and quiets Ray.
Only *where* documents are translated differs from a local run (run.py)."""
