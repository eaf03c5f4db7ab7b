-- Contact imports may write data-model records (`records.COLLECTION.FIELD` columns): how
-- many records each import inserted or changed.
ALTER TABLE imports ADD COLUMN records INTEGER NOT NULL DEFAULT 0;
