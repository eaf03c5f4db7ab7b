-- The MailingLijst-compatible API: member keys with their IP allowlist, rights per action and
-- accounts; list codes ("rubrieken") and list fields ("vrije velden") with their values per
-- contact; sandbox organisations whose mail never leaves the machine; BODYPOST mailing data.

ALTER TABLE organizations ADD COLUMN sandbox BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE mailings ADD COLUMN description TEXT;
ALTER TABLE mailings ADD COLUMN owner TEXT;

-- A member key (a GUID; only its SHA-256 is stored). org_id is the member; actions is a
-- space-separated set of action names; allowed_ips holds addresses and CIDR ranges.
CREATE TABLE ml_keys (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    key_hash TEXT NOT NULL UNIQUE,
    display_prefix TEXT NOT NULL,
    actions TEXT NOT NULL,
    allowed_ips TEXT NOT NULL DEFAULT '',
    any_ip BOOLEAN NOT NULL DEFAULT FALSE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

-- The accounts (organisations) a key may act on, by the number callers pass as `a=`.
CREATE TABLE ml_key_accounts (
    key_id INTEGER NOT NULL REFERENCES ml_keys (id),
    account INTEGER NOT NULL,
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    PRIMARY KEY (key_id, account),
    UNIQUE (key_id, org_id)
);

CREATE TABLE list_codes (
    org_id INTEGER NOT NULL,
    id INTEGER PRIMARY KEY,
    list_id INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('code', 'field')),
    name TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    field_type TEXT NOT NULL DEFAULT 'text' CHECK (field_type IN ('text', 'date', 'number', 'yesno')),
    created_at INTEGER NOT NULL,
    UNIQUE (org_id, id),
    UNIQUE (org_id, list_id, kind, name),
    FOREIGN KEY (org_id, list_id) REFERENCES lists (org_id, id)
);

CREATE TABLE contact_codes (
    org_id INTEGER NOT NULL,
    contact_id INTEGER NOT NULL,
    code_id INTEGER NOT NULL,
    value TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (org_id, contact_id, code_id),
    FOREIGN KEY (org_id, contact_id) REFERENCES contacts (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, code_id) REFERENCES list_codes (org_id, id) ON DELETE CASCADE
);
