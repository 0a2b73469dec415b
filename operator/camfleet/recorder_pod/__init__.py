"""The recorder that runs in each recorder pod, and `camfleet verify` (COMPLIANCE R2-R4, R17, R19).

ffmpeg copies a camera's RTSP stream into fixed-length segments on the retention volume without re-encoding.
This package supervises it and

- records every finished segment in a SHA-256 hash chain (manifest.py; `camfleet verify DIR`, verify.py),
- deletes a segment only once its retention has passed, never earlier, and never under legal hold
  (retention.py),
- alarms when the volume cannot hold a full retention period, and stops recording rather than delete early when
  the volume is full (capacity.py),
- exports Prometheus metrics and a readiness probe (metrics.py, http.py).

Pure decisions (retention, capacity, backoff, readiness, redaction, the chain) are separate from the I/O in
supervisor.py, and all time comes from an injectable clock (clock.py).
"""
