//! Settled records how a team decides: proposals, stances, one named decider
//! and an append-only, tamper-evident log of what was agreed.
//!
//! Layout: `domain` holds the rules (no I/O), `ledger` the one write path and
//! the log, `db` all SQL, `web` routes and pages, `cli` the subcommands.

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
pub mod startup;
pub mod web;
