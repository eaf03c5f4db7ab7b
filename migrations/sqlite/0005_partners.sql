-- Partner opt-ins at checkout: partners (promoters, producers) that own opt-ins, points of sale
-- with their settings, products from the ticket system, the checkout widgets handed out, the
-- partner a token may act for, consent ledger context and scheduled partner exports.

CREATE TABLE partners (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('promoter', 'producer', 'other')),
    name TEXT NOT NULL,
    privacy_url TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (org_id, id),
    UNIQUE (org_id, key)
);

CREATE TABLE partner_texts (
    org_id INTEGER NOT NULL,
    partner_id INTEGER NOT NULL,
    language TEXT NOT NULL,
    description TEXT NOT NULL,
    PRIMARY KEY (org_id, partner_id, language),
    FOREIGN KEY (org_id, partner_id) REFERENCES partners (org_id, id) ON DELETE CASCADE
);

-- The owner of an opt-in: NULL is the organisation itself.
ALTER TABLE lists ADD COLUMN partner_id INTEGER REFERENCES partners (id);
CREATE INDEX lists_by_partner ON lists (org_id, partner_id);

CREATE TABLE points_of_sale (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    partner_optins BOOLEAN NOT NULL DEFAULT FALSE,
    double_optin BOOLEAN NOT NULL DEFAULT TRUE,
    -- The origin allowed to frame the widget page; NULL: any.
    frame_origin TEXT,
    -- CSS variables of the widget page, as a JSON object.
    theme TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (org_id, id),
    UNIQUE (org_id, key)
);

CREATE TABLE pos_partners (
    org_id INTEGER NOT NULL,
    pos_id INTEGER NOT NULL,
    partner_id INTEGER NOT NULL,
    PRIMARY KEY (org_id, pos_id, partner_id),
    FOREIGN KEY (org_id, pos_id) REFERENCES points_of_sale (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, partner_id) REFERENCES partners (org_id, id)
);

CREATE TABLE products (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    id INTEGER PRIMARY KEY,
    external_id TEXT NOT NULL,
    title TEXT NOT NULL,
    starts_at INTEGER,
    partner_id INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (org_id, id),
    UNIQUE (org_id, external_id),
    FOREIGN KEY (org_id, partner_id) REFERENCES partners (org_id, id)
);
CREATE INDEX products_by_partner ON products (org_id, partner_id);

-- A widget handed to a ticket shop for one order: the opt-ins shown with their exact texts
-- (JSON), single use. The address is removed once the widget is used or expired.
CREATE TABLE checkout_widgets (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    id INTEGER PRIMARY KEY,
    pos_id INTEGER NOT NULL,
    token_id INTEGER,
    email TEXT,
    language TEXT NOT NULL,
    order_ref TEXT,
    shown TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    submitted_at INTEGER,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, pos_id) REFERENCES points_of_sale (org_id, id)
);
CREATE INDEX checkout_widgets_by_expiry ON checkout_widgets (expires_at) WHERE email IS NOT NULL;

-- A token may act for one partner (partner:read / partner:write).
ALTER TABLE api_tokens ADD COLUMN partner_id INTEGER REFERENCES partners (id);

-- Where a consent was given (point of sale, order): JSON, covered by the hash chain.
ALTER TABLE consent_events ADD COLUMN context TEXT;
CREATE INDEX consent_events_by_list ON consent_events (org_id, list_id, seq);

DROP TRIGGER consent_events_no_update;
CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events
WHEN NOT (NEW.email IS NULL AND NEW.ip IS NULL AND NEW.user_agent IS NULL
    AND NEW.org_id IS OLD.org_id AND NEW.seq IS OLD.seq AND NEW.contact_id IS OLD.contact_id AND NEW.list_id IS OLD.list_id AND NEW.action IS OLD.action
    AND NEW.source IS OLD.source AND NEW.actor IS OLD.actor AND NEW.token_id IS OLD.token_id AND NEW.text_shown IS OLD.text_shown AND NEW.occurred_at IS OLD.occurred_at AND NEW.pii_digest IS OLD.pii_digest AND NEW.prev_hash IS OLD.prev_hash AND NEW.hash IS OLD.hash
    AND NEW.context IS OLD.context)
BEGIN
    SELECT RAISE(ABORT, 'consent_events is append-only; only personal data may be erased');
END;

-- A partner's consents written to a folder on a schedule (for an SFTP server to pick up).
CREATE TABLE partner_exports (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    id INTEGER PRIMARY KEY,
    partner_id INTEGER NOT NULL,
    folder TEXT NOT NULL,
    format TEXT NOT NULL CHECK (format IN ('csv', 'json')),
    every_minutes INTEGER NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0,
    next_run_at INTEGER NOT NULL,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, partner_id) REFERENCES partners (org_id, id)
);
CREATE INDEX partner_exports_due ON partner_exports (next_run_at);
