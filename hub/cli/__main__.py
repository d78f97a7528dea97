"""`python -m hub.cli`: the command line, as the processes `mihub run` starts call it."""

from hub.cli import main

main()
