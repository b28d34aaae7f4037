#!/usr/bin/env bash
# Build the VS Code extension: editors/vscode/archc.vsix (install it with
# `code --install-extension editors/vscode/archc.vsix`). Needs Node.js >= 20 and npm, and a
# Python where archc's dependencies are installed ($PYTHON, default python3): the TextMate
# grammar is generated from the compiler's tables (keywords, ops, joins, functions).
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p syntaxes
PYTHONPATH="$(cd ../.. && pwd)${PYTHONPATH:+:$PYTHONPATH}" "${PYTHON:-python3}" \
  -m archc.lsp.tmgrammar > syntaxes/arch.tmLanguage.json
npm install --no-audit --no-fund  # as package-lock.json says; quick when already done
node --test tests/extension.test.js
npm run --silent test:grammar
npx vsce package --allow-missing-repository --out archc.vsix
