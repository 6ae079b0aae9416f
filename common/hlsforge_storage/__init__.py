"""Where media lives: the shared volume and S3, the areas a job may use, and who owns what.

``locations`` parses and validates every location (a volume path or ``s3://bucket/key``) in one
place; ``areas`` and ``claims`` say where a job may read and write and which job owns a location;
``s3``, ``s3_tree`` and ``multipart`` are the boto3 side; the two commit protocols sit side by
side: ``volume_commit`` (one rename) and ``s3_commit`` (an output is visible only through its
commit record, written last with ``If-None-Match: *``).
"""
