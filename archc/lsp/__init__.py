"""`archc lsp`: a language server for .arch specs, built on the compiler's own passes.

server.py (documents, analysis scheduling), handlers.py (one handler per LSP method),
analysis.py (the compiler run on an editor's text, cached), reparse.py (an edit's statements
parsed again, the rest of the AST kept), and one module per feature:
diagnostics, hints, hover, complete, navigate. pygls and lsprotocol are the optional
`lsp` extra: `pip install 'archc[lsp]'`.
"""
