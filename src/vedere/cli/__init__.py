"""The ``vedere`` command line: one module per subcommand, each thin over the API."""
