//! Integration tests: the real app on port 0, a fresh SQLite file per test,
//! talked to over HTTP with a cookie-keeping client that does not follow
//! redirects.

mod accounts;
mod admin;
mod announce;
mod contract;
mod decode;
mod digest;
mod edges;
mod feeds;
mod helpers;
mod hooks;
mod input;
mod instances;
mod invitations;
mod live;
mod log;
mod mail;
mod manage;
mod markup;
mod mentions;
mod overdue;
mod password;
mod ready;
mod renamed;
mod rules;
mod search;
mod security;
mod smtp;
mod status;
mod tokens;
mod verifiable;
