"""Bar files: the one reader (CSV, CSV.gz, Parquet), its checks, and ``Bars``, the validated columns."""

from ingenium.bars.columns import ALIASES, OPTIONAL, REQUIRED, parse_mapping
from ingenium.bars.errors import BarFileError
from ingenium.bars.files import fields_in
from ingenium.bars.reader import bars_from_columns, read_bars
from ingenium.bars.spacing import GapPolicy
from ingenium.bars.table import BarBatch, Bars
from ingenium.bars.values import zone_named

__all__ = [
    "ALIASES",
    "OPTIONAL",
    "REQUIRED",
    "BarBatch",
    "BarFileError",
    "Bars",
    "GapPolicy",
    "bars_from_columns",
    "fields_in",
    "parse_mapping",
    "read_bars",
    "zone_named",
]
