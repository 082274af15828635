-- Former keys of renamed teams (projection of key_renamed): old decision ids
-- such as ARCH-12 keep redirecting, and pull requests that mention them
-- still link.
CREATE TABLE team_key_aliases (
    key     TEXT   PRIMARY KEY,
    team_id BIGINT NOT NULL REFERENCES teams (id),
    log_idx BIGINT NOT NULL
);
