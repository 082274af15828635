//! Settled records how a team decides: proposals, stances, one named decider
//! and an append-only, tamper-evident log of what was agreed.
//!
//! Layout: `domain` holds the rules (no I/O), `ledger` the one write path and
//! the log, `db` all SQL, `mail` the outbox worker, `services` the writes
//! that are not log entries (with their permission checks), `web` routes
//! and pages, `cli` the subcommands. Imports run one way, from the top of
//! this order down: `cli`, `startup`, `demo` > `web` > `services` >
//! `config` > `mail` > `ledger` > `error` > `db` > `domain`, `format`,
//! `keys`, `password` (checked by `.ci/imports.py`, which has the whole
//! table and its reasons).

pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod format;
pub mod keys;
pub mod ledger;
pub mod mail;
pub mod password;
pub mod services;
pub mod startup;
pub mod web;
