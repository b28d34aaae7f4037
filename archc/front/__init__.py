"""The front end: text -> syntax tree (`tree`), with error recovery, the work budget and constant
evaluation over the tree."""
