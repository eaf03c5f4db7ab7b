-- The mail module: reusable templates, mailings with their audience, one delivery row per
-- recipient (the crash-safe send log) and the tracking and bounce events.

-- Reusable templates: layouts that wrap a mailing's content, and transactional templates.
CREATE TABLE templates (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('layout', 'transactional')),
    name TEXT NOT NULL,
    subject TEXT,
    html TEXT NOT NULL,
    text TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (org_id, id),
    UNIQUE (org_id, key)
);

CREATE TABLE mailings (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    subject TEXT NOT NULL,
    from_name TEXT,
    from_email TEXT NOT NULL,
    reply_to TEXT,
    html TEXT NOT NULL,
    text TEXT,
    layout_id INTEGER,
    segment TEXT,
    track_opens BOOLEAN NOT NULL DEFAULT TRUE,
    track_clicks BOOLEAN NOT NULL DEFAULT TRUE,
    status TEXT NOT NULL CHECK (status IN ('draft', 'scheduled', 'sending', 'paused', 'sent', 'cancelled')),
    scheduled_at INTEGER,
    held_at INTEGER,
    started_at INTEGER,
    finished_at INTEGER,
    plan_cursor INTEGER NOT NULL DEFAULT 0,
    planned BOOLEAN NOT NULL DEFAULT FALSE,
    source TEXT NOT NULL DEFAULT 'api',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, layout_id) REFERENCES templates (org_id, id)
);
CREATE INDEX mailings_by_status ON mailings (org_id, status);
CREATE INDEX mailings_active ON mailings (status) WHERE status IN ('scheduled', 'sending');

CREATE TABLE mailing_lists (
    org_id INTEGER NOT NULL,
    mailing_id INTEGER NOT NULL,
    list_id INTEGER NOT NULL,
    PRIMARY KEY (org_id, mailing_id, list_id),
    FOREIGN KEY (org_id, mailing_id) REFERENCES mailings (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, list_id) REFERENCES lists (org_id, id)
);

-- The links of a mailing's HTML that clicks are tracked for; the redirect only goes here.
CREATE TABLE mailing_links (
    org_id INTEGER NOT NULL,
    mailing_id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    url TEXT NOT NULL,
    PRIMARY KEY (org_id, mailing_id, idx),
    FOREIGN KEY (org_id, mailing_id) REFERENCES mailings (org_id, id) ON DELETE CASCADE
);

-- One row per recipient of a mailing (or per transactional message): the delivery log.
-- contact_id becomes NULL when the contact is erased.
CREATE TABLE deliveries (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    id INTEGER PRIMARY KEY,
    mailing_id INTEGER,
    template_id INTEGER,
    contact_id INTEGER,
    status TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'bounced', 'skipped', 'uncertain', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    locked_by TEXT,
    locked_until INTEGER,
    message_id TEXT,
    smtp_response TEXT,
    sent_at INTEGER,
    soft_bounces INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (org_id, id),
    UNIQUE (org_id, mailing_id, contact_id),
    FOREIGN KEY (org_id, mailing_id) REFERENCES mailings (org_id, id)
);
CREATE INDEX deliveries_queue ON deliveries (org_id, mailing_id, status, id);
CREATE INDEX deliveries_by_contact ON deliveries (org_id, contact_id);

CREATE TABLE mail_events (
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    id INTEGER PRIMARY KEY,
    mailing_id INTEGER,
    delivery_id INTEGER,
    contact_id INTEGER,
    kind TEXT NOT NULL CHECK (kind IN ('bounce_hard', 'bounce_soft', 'complaint', 'open', 'click', 'unsubscribe')),
    link_idx INTEGER,
    flagged BOOLEAN NOT NULL DEFAULT FALSE,
    source TEXT NOT NULL,
    detail TEXT,
    at INTEGER NOT NULL
);
CREATE INDEX mail_events_by_mailing ON mail_events (org_id, mailing_id, kind, at);
CREATE INDEX mail_events_by_contact ON mail_events (org_id, contact_id, kind);
CREATE INDEX mail_events_by_delivery ON mail_events (org_id, delivery_id);
