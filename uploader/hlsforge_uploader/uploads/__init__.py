"""Uploads, from the first byte to a TranscodeJob: the two ways in and the rules they share.

- ``streamed``: a body sent to ``POST /v1/uploads``, raw or as a form (``form``), checked as it
  arrives by ``body`` (cap, sniff, fingerprint) and ``rate_floor`` (the slowest it may come);
- ``direct``: a file the client PUT to the bucket itself (S3 only), its pending record in
  ``direct_record``;
- ``idempotency``: the ``Idempotency-Key``, with the job's name as the store;
- ``acceptance``: how both end, the probe's verdict and the TranscodeJob.
"""
