"""The one driver every command, the Python API and the language server go through (program.py: load
-> names -> networks -> definitions), and the zoo."""
