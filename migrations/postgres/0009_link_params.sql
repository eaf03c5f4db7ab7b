-- Encrypted link parameters: per organisation, the query parameter every click redirect adds
-- to the link's target, holding chosen contact fields sealed with the organisation's key
-- (XChaCha20-Poly1305; the venue's website opens it with the same key).
CREATE TABLE link_params (
    org_id BIGINT PRIMARY KEY REFERENCES organizations (id),
    name TEXT NOT NULL,
    -- JSON array of contact field names.
    fields TEXT NOT NULL,
    -- 32 bytes, hex.
    key TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
