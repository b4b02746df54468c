"""The content codings: zstd (``compression.zstd`` on Python 3.14+, else ``zstandard``),
brotli and gzip, at the levels of the settings."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable

Compress = Callable[[bytes], bytes]


def _zstd(level: int) -> Compress:
    try:
        from compression import zstd  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        import zstandard

        local = threading.local()

        def compress(data: bytes) -> bytes:
            # A compressor is cheap to reuse and unsafe to share between threads.
            compressor = getattr(local, "compressor", None)
            if compressor is None:
                compressor = local.compressor = zstandard.ZstdCompressor(level=level)
            result: bytes = compressor.compress(data)
            return result

        return compress

    def compress_stdlib(data: bytes) -> bytes:
        result: bytes = zstd.compress(data, level=level)
        return result

    return compress_stdlib


def _brotli(level: int) -> Compress:
    import brotli  # type: ignore[import-untyped,unused-ignore]

    def compress(data: bytes) -> bytes:
        result: bytes = brotli.compress(data, quality=level)
        return result

    return compress


def _gzip(level: int) -> Compress:
    def compress(data: bytes) -> bytes:
        # gzip framing (wbits 31), mtime 0: the same body always gives the same bytes.
        compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
        return compressor.compress(data) + compressor.flush()

    return compress


def compressors(levels: dict[str, int]) -> dict[str, Compress]:
    """``{coding: compress}`` for the codings named in ``levels``."""
    makers = {"zstd": _zstd, "br": _brotli, "gzip": _gzip}
    return {coding: makers[coding](level) for coding, level in levels.items()}
