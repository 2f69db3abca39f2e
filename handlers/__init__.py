"""Platform-neutral entrances: what a chat interaction asks of the domain, on person ids.

Each platform's inbound listeners (``platforms/<name>/listeners``) translate their own
ids and payloads at the edge and call into ``learning`` through these.
"""
