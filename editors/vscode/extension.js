// The archc extension: starts `archc lsp` (a language server on stdio) for .arch files.
// Everything the editor shows (shapes as inlay hints, diagnostics, hover, completion,
// navigation, rename, formatting) comes from the server; see the repository's README.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

async function startClient() {
  const config = vscode.workspace.getConfiguration("archc");
  const [command, ...args] = config.get("server.command", ["archc", "lsp"]);
  if (!command) {
    vscode.window.showErrorMessage("archc: archc.server.command is empty.");
    return;
  }
  const serverOptions = { command, args, transport: TransportKind.stdio };
  const clientOptions = {
    documentSelector: [{ language: "arch" }],
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher("**/*.arch") },
  };
  client = new LanguageClient("archc", "archc", serverOptions, clientOptions);
  try {
    await client.start();
  } catch (err) {
    vscode.window.showErrorMessage(
      `archc: could not start the language server (${command} ${args.join(" ")}): ${err}. ` +
        "Install it with `pip install 'archc[lsp]'`, or set archc.server.command.",
    );
  }
}

async function activate(context) {
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration("archc.server.command")) {
        if (client) {
          await client.stop();
        }
        await startClient();
      }
    }),
  );
  await startClient();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
