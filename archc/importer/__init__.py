"""`archc import` and `archc summary --torch`: an existing torch.nn.Module traced (torch.fx /
torch.export), mapped onto archc's ops, written as a spec, proven."""
