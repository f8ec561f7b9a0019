"""homecat: a DuckDB catalog of long-form home recordings and wav2vec2 continued pretraining."""

__version__ = "0.1.0"
