-- The write probe of GET /healthz: one row, rewritten at most every few
-- seconds, so a full or read-only disk turns the health check red before
-- people meet it on a form. A read alone (SELECT 1) succeeds on such a disk.
CREATE TABLE health_probe (
    id INTEGER PRIMARY KEY,
    checked_at TEXT NOT NULL
);
