"""Entry point for ``python -m hftperf``."""

from hftperf.cli import main

if __name__ == "__main__":
    main()
