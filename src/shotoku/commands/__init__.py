"""One module per ``shotoku`` subcommand (see :mod:`shotoku.cli`)."""
