-- Failed sign-ins per email address (issue #20), so that throttling is per
-- account and the same on every instance, rather than per client address
-- only (behind a reverse proxy every client shares one). Keyed by the
-- normalised address whether or not an account uses it, so the answers say
-- nothing about accounts. A success deletes the row; rows a day old count
-- for nothing and are swept.
CREATE TABLE sign_in_failures (
    email_norm TEXT    PRIMARY KEY,
    failures   INTEGER NOT NULL,
    last_at    TEXT    NOT NULL
);
