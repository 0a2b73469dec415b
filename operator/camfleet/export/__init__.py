"""Footage export (COMPLIANCE R3, R15, R16): copy a time range of a camera's recording, as evidence.

- selection.py  pure: which chain segments overlap the requested ranges; gaps; pruned segments
- document.py   pure: manifest.json, SHA256SUMS and the summary line, as data
- files.py      copy-while-hashing, fsynced atomic writes, clearing an unfinished export
- process.py    one export start to finish (verify source, select, copy, write records, read back)
- cli.py        `camfleet export` (runs in the export Job)
- verify.py     `camfleet export-verify DIR`
- job.py        pure: the export volume claim and the Job the operator creates once two people approved
- errors.py     failure kinds and exit codes (the Job's pod failure policy acts on them)
"""
