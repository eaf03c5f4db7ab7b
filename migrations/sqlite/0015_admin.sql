-- The admin UI: each user's language and time zone, and sign-in sessions. A session is
-- stored by the SHA-256 of its cookie value; the cookie alone can open it.
ALTER TABLE users ADD COLUMN language TEXT NOT NULL DEFAULT 'en';
ALTER TABLE users ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'Europe/Amsterdam';

CREATE TABLE admin_sessions (
    id_hash TEXT PRIMARY KEY,
    org_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
);
CREATE INDEX admin_sessions_user ON admin_sessions (org_id, user_id);
