"""`python -m nandoctor` is the same as the `nandoctor` command."""

from .cli import main

main()
