"""Hashing images: safe decoding, one pipeline, every signal type (CLI and HTTP alike).

The default limits live here, free of heavy imports, for the command line's parser.
"""

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")
