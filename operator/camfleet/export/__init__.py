"""Footage export (COMPLIANCE R3, R15, R16): copy a time range of a camera's recording, as evidence.

- selection.py  pure: which chain segments overlap the requested ranges; gaps; pruned segments
- document.py   pure: manifest.json, SHA256SUMS and the summary line, as data
- files.py      copy-while-hashing, fsynced atomic writes, clearing an unfinished export
- masking.py    a masked copy of one segment: the verified original re-encoded by ffmpeg with the mask polygons
                blanked (camfleet.privacy_masks rasterizes them)
- process.py    one export start to finish (verify source, select, copy or mask, write records, read back)
- cli.py        `camfleet export` (runs in the export Job)
- verify.py     `camfleet export-verify DIR [--recording REC]`: the files, and each original against the chain
- job.py        pure: the export volume claim and the Job (with the camera's masks) the operator creates once
                approved
- errors.py     failure kinds and exit codes (the Job's pod failure policy acts on them)
"""
