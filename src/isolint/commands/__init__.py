"""The commands of the `isolint` command line (cli.py puts them in its group), one module per command or pair of them, and the options they share."""
