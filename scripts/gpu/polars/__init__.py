"""Stand-in for polars on the lent GPU machine (its 54 MB runtime wheel does not fit the transfer).
ultralytics' trainer reads results.csv with polars inside try/except; anything else fails loudly."""


def read_csv(*args, **kwargs):
    raise RuntimeError("polars is not installed on this machine")


def __getattr__(name):
    raise RuntimeError(f"polars.{name}: polars is not installed on this machine")
