"""One module per command: HELP, add_arguments(parser), main(args, extra_args) -> exit code."""
