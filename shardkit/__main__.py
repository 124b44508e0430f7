"""``python -m shardkit`` runs the command line."""

from shardkit.cli import main

if __name__ == "__main__":
    main()
