-- Internal automation triggers, and the outside systems automation steps talk to.
--
-- Consent changes (confirm, assert) and added tags are written to automation_events by
-- triggers, in the same transaction as the change itself, when the organisation has a
-- published automation that listens for them; the engine turns each event into
-- participations and deletes it in one transaction, so no event is lost or used twice.

CREATE TABLE automation_events (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    contact_id INTEGER NOT NULL,
    -- confirm | assert (with list_id) or tag (with tag)
    kind TEXT NOT NULL,
    list_id INTEGER,
    tag TEXT
);

CREATE INDEX automations_by_trigger ON automations (org_id, trigger_kind);

CREATE TRIGGER automation_events_consent AFTER INSERT ON consent_events
WHEN NEW.action IN ('confirm', 'assert') AND NEW.contact_id IS NOT NULL AND NEW.list_id IS NOT NULL
    AND EXISTS (SELECT 1 FROM automations WHERE org_id = NEW.org_id AND trigger_kind IN ('subscribed', 'confirmed')
        AND published_version IS NOT NULL AND archived_at IS NULL)
BEGIN
    INSERT INTO automation_events (org_id, contact_id, kind, list_id) VALUES (NEW.org_id, NEW.contact_id, NEW.action, NEW.list_id);
END;

CREATE TRIGGER automation_events_tag AFTER INSERT ON contact_tags
WHEN EXISTS (SELECT 1 FROM automations WHERE org_id = NEW.org_id AND trigger_kind = 'tag_added'
    AND published_version IS NOT NULL AND archived_at IS NULL)
BEGIN
    INSERT INTO automation_events (org_id, contact_id, kind, tag) VALUES (NEW.org_id, NEW.contact_id, 'tag', NEW.tag);
END;

-- The day (YYYY-MM-DD, UTC) a date-field automation last looked for contacts whose day it is.
ALTER TABLE automations ADD COLUMN date_scanned_on TEXT;

-- The HTTP SMS gateway of an organisation: URL and body are templates over to, text and
-- sender; headers (JSON object) carry the gateway's authentication.
CREATE TABLE sms_gateways (
    org_id INTEGER PRIMARY KEY REFERENCES organizations (id),
    url TEXT NOT NULL,
    method TEXT NOT NULL CHECK (method IN ('GET', 'POST', 'PUT')),
    headers TEXT NOT NULL DEFAULT '{}',
    body TEXT,
    content_type TEXT,
    sender TEXT,
    updated_at INTEGER NOT NULL
);
