"""Chat platform adapters: one folder per platform (identity, renderer, transport,
inbound listeners). Nothing outside an adapter's folder names its ids, payloads or APIs.
"""
