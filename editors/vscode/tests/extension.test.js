// The client's wiring, with VS Code and vscode-languageclient replaced by stubs: it starts
// the configured command over stdio for `arch` documents, restarts it when the setting
// changes, and says how to install the server when it cannot start. Run: node --test tests/
"use strict";

const assert = require("node:assert");
const Module = require("node:module");
const test = require("node:test");

const started = [];
let failStart = false;
let settings = { "server.command": ["archc", "lsp"] };
let onConfig;
const errors = [];

class LanguageClient {
  constructor(id, name, serverOptions, clientOptions) {
    Object.assign(this, { id, serverOptions, clientOptions, stopped: false });
  }
  async start() {
    started.push(this);
    if (failStart) throw new Error("spawn archc ENOENT");
  }
  async stop() {
    this.stopped = true;
  }
}

const stubs = {
  vscode: {
    workspace: {
      getConfiguration: () => ({ get: (key, fallback) => settings[key] ?? fallback }),
      createFileSystemWatcher: (glob) => ({ glob }),
      onDidChangeConfiguration: (fn) => ((onConfig = fn), { dispose() {} }),
    },
    window: { showErrorMessage: (m) => errors.push(m) },
  },
  "vscode-languageclient/node": { LanguageClient, TransportKind: { stdio: 0 } },
};
const load = Module._load;
Module._load = function (request, ...rest) {
  return request in stubs ? stubs[request] : load.call(this, request, ...rest);
};
const extension = require("../extension.js");

test("starts archc lsp over stdio for arch documents, restarts on a new command", async () => {
  await extension.activate({ subscriptions: [] });
  const first = started[0];
  assert.deepStrictEqual(first.serverOptions, { command: "archc", args: ["lsp"], transport: 0 });
  assert.deepStrictEqual(first.clientOptions.documentSelector, [{ language: "arch" }]);
  assert.strictEqual(first.clientOptions.synchronize.fileEvents.glob, "**/*.arch");
  settings = { "server.command": ["/venv/bin/python", "-m", "archc", "lsp"] };
  await onConfig({ affectsConfiguration: (key) => key === "archc.server.command" });
  assert.ok(first.stopped);
  assert.deepStrictEqual(started[1].serverOptions.args, ["-m", "archc", "lsp"]);
  await extension.deactivate();
  assert.ok(started[1].stopped);
});

test("a server that cannot start: a message saying how to install it", async () => {
  failStart = true;
  settings = { "server.command": ["archc", "lsp"] };
  await extension.activate({ subscriptions: [] });
  assert.match(errors.at(-1), /pip install 'archc\[lsp\]'/);
});
