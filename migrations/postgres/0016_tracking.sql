-- Whether a new mailing counts opens and clicks unless it says otherwise (Settings → Tracking).
ALTER TABLE organizations ADD COLUMN track_opens BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE organizations ADD COLUMN track_clicks BOOLEAN NOT NULL DEFAULT TRUE;
