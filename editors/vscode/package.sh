#!/usr/bin/env bash
# Build the VS Code extension: editors/vscode/archc.vsix (install it with
# `code --install-extension editors/vscode/archc.vsix`). Needs Node.js >= 20 and npm.
set -euo pipefail
cd "$(dirname "$0")"
npm install --no-audit --no-fund  # as package-lock.json says; quick when already done
node --check extension.js
npm run --silent test:grammar
npx vsce package --allow-missing-repository --out archc.vsix
