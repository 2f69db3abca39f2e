"""Benchmarks: scripts that measure learnbot at realistic scale (wall time, peak memory).

Performance goals live here, not in timed tests. Run them all with ``python -m bench``
or one with ``python -m bench.import_people --help``. ``bench.orggen`` generates the
organisations they use.
"""
