"""Train, evaluate, CLI and run records for clothes-changing video re-id.

Sub-packages by job: ``config`` (typed configs and files), ``evaluation`` (ranking
metrics, re-ranking, features I/O; needs nothing else of the suite), ``training``
(session, trainer, losses, loaders, run folders), ``tools`` (pack, profile, model
table) and ``cli`` (one module per command); ``records`` is the run-record contract.
"""

# the loggers of the suite's packages: run folders' log.txt and the console listen to these
SUITE_LOGGERS = ("ccvid", "samplers", "temporal_models", "benchmark", "leaderboards")
