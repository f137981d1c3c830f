"""The sample data set: a reproducible random walk of several symbols, shipped as ``sample_bars.csv``."""

from services.data.sample import (
    SAMPLE_BARS,
    SAMPLE_FILE,
    SAMPLE_SEED,
    SAMPLE_START,
    SAMPLE_SYMBOLS,
    sample_csv,
    write_sample,
)

__all__ = [
    "SAMPLE_BARS",
    "SAMPLE_FILE",
    "SAMPLE_SEED",
    "SAMPLE_START",
    "SAMPLE_SYMBOLS",
    "sample_csv",
    "write_sample",
]
