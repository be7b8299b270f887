//! Core's integration tests, in one binary: the ledger and queue against a throwaway
//! PostgreSQL, the migrations, and archives unpacked into build contexts.

mod addons;
mod archives;
mod layout;
mod ledger;
mod migrations;
