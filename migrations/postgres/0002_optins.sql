-- Opt-in registration: confirmation links, sender identity, mail template overrides, the
-- per-address resend limit and the server's signing secret.

ALTER TABLE organizations ADD COLUMN sender_email TEXT;
ALTER TABLE organizations ADD COLUMN sender_name TEXT;

ALTER TABLE contacts ADD COLUMN verification_sent_at BIGINT;

ALTER TABLE lists ADD COLUMN send_welcome BOOLEAN NOT NULL DEFAULT TRUE;

-- Single-use confirmation links of the double opt-in flow (only the SHA-256 of the token).
CREATE TABLE confirm_tokens (
    token_hash TEXT PRIMARY KEY,
    org_id BIGINT NOT NULL REFERENCES organizations (id),
    contact_id BIGINT NOT NULL,
    list_ids TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    FOREIGN KEY (org_id, contact_id) REFERENCES contacts (org_id, id) ON DELETE CASCADE
);
CREATE INDEX confirm_tokens_by_contact ON confirm_tokens (org_id, contact_id);
CREATE INDEX confirm_tokens_by_expiry ON confirm_tokens (expires_at) WHERE used_at IS NULL;

-- Per opt-in and language overrides of the verification and welcome mails.
CREATE TABLE mail_templates (
    org_id BIGINT NOT NULL,
    list_id BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('verification', 'welcome')),
    language TEXT NOT NULL,
    subject TEXT NOT NULL,
    html TEXT NOT NULL,
    text TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, list_id, kind, language),
    FOREIGN KEY (org_id, list_id) REFERENCES lists (org_id, id) ON DELETE CASCADE
);

-- Secrets shared by all nodes (e.g. the key that signs unsubscribe links).
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
