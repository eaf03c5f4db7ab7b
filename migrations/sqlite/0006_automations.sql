-- Event-triggered automations: versions of their steps, participations (durable, with their
-- current step and next run time, claimed by workers), the log of executed steps, idempotency
-- keys of trigger calls, and what a product block needs in the catalogue.

ALTER TABLE products ADD COLUMN url TEXT;
ALTER TABLE products ADD COLUMN image_url TEXT;
ALTER TABLE products ADD COLUMN price TEXT;
ALTER TABLE products ADD COLUMN review_url TEXT;

CREATE TABLE automations (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    trigger_code TEXT NOT NULL,
    trigger_kind TEXT NOT NULL CHECK (trigger_kind IN ('external', 'subscribed', 'confirmed', 'tag_added', 'date_field')),
    -- JSON: the list key, tag or date field (with its offset) of an internal trigger.
    trigger_config TEXT NOT NULL DEFAULT '{}',
    -- The opt-in whose subscribers marketing e-mails may go to.
    list_id INTEGER,
    reentry TEXT NOT NULL CHECK (reentry IN ('single', 'multiple')),
    draft_steps TEXT NOT NULL,
    published_version INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    archived_at INTEGER,
    UNIQUE (org_id, id),
    UNIQUE (trigger_code),
    FOREIGN KEY (org_id, list_id) REFERENCES lists (org_id, id)
);

CREATE TABLE automation_versions (
    org_id INTEGER NOT NULL,
    automation_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    steps TEXT NOT NULL,
    published_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, automation_id, version),
    FOREIGN KEY (org_id, automation_id) REFERENCES automations (org_id, id)
);

-- One contact's passage through one version of an automation. step is the index of the next
-- step to run, at next_run_at; workers lease due rows.
CREATE TABLE participations (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    id INTEGER PRIMARY KEY,
    automation_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    contact_id INTEGER,
    fields TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL CHECK (status IN ('active', 'done', 'stopped')),
    step INTEGER NOT NULL DEFAULT 0,
    next_run_at INTEGER,
    locked_until INTEGER,
    steps_run INTEGER NOT NULL DEFAULT 0,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    stop_reason TEXT,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, automation_id, version) REFERENCES automation_versions (org_id, automation_id, version)
);
CREATE INDEX participations_due ON participations (next_run_at) WHERE status = 'active';
CREATE INDEX participations_by_contact ON participations (org_id, automation_id, contact_id, status);

-- What each executed step did (the participation's history, and why a step skipped).
CREATE TABLE participation_log (
    org_id INTEGER NOT NULL,
    participation_id INTEGER NOT NULL,
    step INTEGER NOT NULL,
    run INTEGER NOT NULL,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT,
    at INTEGER NOT NULL,
    PRIMARY KEY (org_id, participation_id, run)
);

-- Answers of trigger calls by Idempotency-Key: a retried call gets the first answer.
CREATE TABLE idempotency_keys (
    org_id INTEGER NOT NULL,
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, scope, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);

-- Two-legged OAuth 1.0a consumers of the /integrationservice routes (Spotler integrations).
-- HMAC-SHA1 needs the shared secret itself, so it is stored as issued.
CREATE TABLE oauth_consumers (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    id INTEGER PRIMARY KEY,
    consumer_key TEXT NOT NULL UNIQUE,
    secret TEXT NOT NULL,
    scopes TEXT NOT NULL,
    name TEXT,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

-- Nonces seen within the timestamp window: a replayed request is refused.
CREATE TABLE oauth_nonces (
    consumer_id INTEGER NOT NULL,
    nonce TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (consumer_id, nonce)
);
CREATE INDEX oauth_nonces_by_age ON oauth_nonces (seen_at);
