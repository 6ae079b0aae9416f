"""Where media lives: one interface over the shared volume and S3.

``locations`` parses and validates every location (a volume path or ``s3://bucket/key``) in one
place; ``s3`` and ``multipart`` are the boto3 side; ``tree`` reads a finished output the same way
from a directory or from an S3 prefix; ``published`` is the S3 commit protocol (an output is
visible only through its commit record, written last with ``If-None-Match: *``).
"""
