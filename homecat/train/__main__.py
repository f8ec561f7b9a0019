"""``python -m homecat.train`` and ``accelerate launch -m homecat.train``: one training run from a config file."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import homecat.train
from homecat.errors import HomecatError
from homecat.train.signals import TrainingStopped


def main(argv: list[str] | None = None) -> int:
    from homecat.settings import load_settings

    description = homecat.train.__doc__.split("\n\n")[0]
    parser = argparse.ArgumentParser(prog="python -m homecat.train", description=description)
    parser.add_argument("--config", type=Path, help="YAML config file (env HOMECAT_CONFIG).")
    parser.add_argument("--catalog", type=Path, help="DuckDB catalog (env HOMECAT_CATALOG).")
    parser.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        default=None,
        metavar="CHECKPOINT",
        help="Continue the run: from its newest complete checkpoint, or from the checkpoint folder given.",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.config, {"paths.catalog": args.catalog}).settings
        homecat.train.train(settings, resume=args.resume)
    except HomecatError as exc:
        if os.environ.get("HOMECAT_DEBUG"):
            raise
        if not (isinstance(exc, TrainingStopped) and os.environ.get("RANK", "0") != "0"):  # said once, by rank 0
            for line in exc.lines:
                print(f"Error: {line}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
