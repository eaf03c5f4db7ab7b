-- The activity log: every delivery outcome, bounce, complaint, open, click, unsubscribe and
-- consent change as one raw row, read by GET /api/v1/events and by activity exports. The rows
-- are written by triggers in the same transaction as the event itself, so none is missed.
-- SQLite has one writer at a time, so ids grow in commit order and a cursor on id never
-- skips a row that commits later. Personal data (e-mail, external id) is not copied here: it
-- is read from the contact when the log is read, so an erasure leaves nothing behind.

-- The automation an automation e-mail belongs to.
ALTER TABLE deliveries ADD COLUMN automation_id INTEGER;

CREATE TABLE activity (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL,
    -- sent | failed | bounce | complaint | open | click | unsubscribe | consent
    kind TEXT NOT NULL,
    at INTEGER NOT NULL,
    contact_id INTEGER,
    mailing_id INTEGER,
    automation_id INTEGER,
    delivery_id INTEGER,
    list_id INTEGER,
    detail TEXT NOT NULL
);
CREATE INDEX activity_by_org ON activity (org_id, id);
CREATE INDEX activity_by_contact ON activity (org_id, contact_id);

CREATE TRIGGER activity_delivery AFTER UPDATE OF status ON deliveries
WHEN NEW.status IN ('sent', 'failed') AND OLD.status IS NOT NEW.status
BEGIN
    INSERT INTO activity (org_id, kind, at, contact_id, mailing_id, automation_id, delivery_id, detail)
    VALUES (NEW.org_id, NEW.status, NEW.updated_at, NEW.contact_id, NEW.mailing_id, NEW.automation_id, NEW.id,
        json_object('response', NEW.smtp_response, 'message_id', NEW.message_id));
END;

CREATE TRIGGER activity_mail_event AFTER INSERT ON mail_events
BEGIN
    INSERT INTO activity (org_id, kind, at, contact_id, mailing_id, automation_id, delivery_id, detail)
    SELECT NEW.org_id,
        CASE WHEN NEW.kind IN ('bounce_hard', 'bounce_soft') THEN 'bounce' ELSE NEW.kind END,
        NEW.at, NEW.contact_id, NEW.mailing_id, d.automation_id, NEW.delivery_id,
        CASE
            WHEN NEW.kind IN ('bounce_hard', 'bounce_soft') THEN json_object('bounce', substr(NEW.kind, 8), 'reason', NEW.detail, 'source', NEW.source)
            WHEN NEW.kind = 'click' THEN json_object('url', COALESCE(l.url, NEW.detail), 'flagged', json(CASE WHEN NEW.flagged THEN 'true' ELSE 'false' END))
            WHEN NEW.kind = 'open' THEN json_object('flagged', json(CASE WHEN NEW.flagged THEN 'true' ELSE 'false' END))
            ELSE json_object('reason', NEW.detail, 'source', NEW.source)
        END
    FROM (SELECT 1)
    LEFT JOIN deliveries d ON d.org_id = NEW.org_id AND d.id = NEW.delivery_id
    LEFT JOIN mailing_links l ON l.org_id = NEW.org_id AND l.mailing_id = NEW.mailing_id AND l.idx = NEW.link_idx;
END;

CREATE TRIGGER activity_consent AFTER INSERT ON consent_events
BEGIN
    INSERT INTO activity (org_id, kind, at, contact_id, list_id, detail)
    VALUES (NEW.org_id, 'consent', NEW.occurred_at, NEW.contact_id, NEW.list_id,
        json_object('action', NEW.action, 'source', NEW.source, 'ledger_seq', NEW.seq));
END;
