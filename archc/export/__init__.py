"""`archc export -o model.py`: the checked network written as standalone PyTorch source, one class
per block definition."""
