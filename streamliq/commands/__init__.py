"""Subcommands of the `streamliq` command line, one module each.

Every module has `add_parser(subparsers)`, which registers the subcommand and sets
`run=<function(args) -> exit status>` as its default.
"""
