#!/usr/bin/env python3
"""Thin entry to the ``dnahlm`` CLI for a checkout: ``python cli.py --help``."""
from dnahlm_rag.cli.app import main

if __name__ == "__main__":
    main()
