"""`alseg suggest`: which of a user's unlabeled images to annotate next, and the continuing annotation loop.

Modules: `options` (the command's options, borrowed from `alseg bench`), `labeled` (the labeled set from
--labeled), `checkpoint` (model.pt in and out), `run` (the workflow), `events` (pool-pass progress),
`outputs` (suggestions.csv, suggest.json), `sheet` (the contact sheet and the HTML page), `ui` (the terminal).
Nothing is imported here, so that the CLI can load `options` without torch.
"""
