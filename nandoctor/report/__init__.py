"""One reporter per output format; each renders a finished analysis and nothing else."""

FORMATS = ("text", "json")
