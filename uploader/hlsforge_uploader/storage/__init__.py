"""Where the uploader keeps uploads and reads outputs: one interface (``interface``), two
backends (``volume``: the shared RWX volume; ``bucket``: S3, with ``bucket_copy`` and
``bucket_direct`` for direct uploads), chosen once by ``backend``. Built on the shared
``hlsforge_storage`` (locations, multipart writes, commit records)."""
