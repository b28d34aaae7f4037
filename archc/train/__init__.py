"""Training: data, the training loop, checkpoints and the `train` / `eval` commands.

Only this subsystem (and the torch emitter) imports torch, and it does so lazily: importing
`archc.train` or `archc.train.cli` stays cheap.
"""
