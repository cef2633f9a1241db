//! StarDust: a MySQL-wire-protocol proxy that gives multi-tenant applications user-defined fields at native
//! index speed. The modules below are listed in the order a query meets them; blank lines keep rustfmt from
//! sorting them.

/// Accepts connections, one task each, bounded drain on shutdown.
pub mod server;

/// The wire: handshake, auth, command loop, chatter, error codes.
pub mod protocol;

/// Parse and classify statements; the tenant policy.
pub mod sql;

/// Virtual-table statements into backend SQL (AST edits, pure).
pub mod rewrite;

/// The write path for model rows: shadow-table coercion, entries and slot pages in one transaction.
pub mod write;

/// The in-process daemons: Reconciler (backfills, import jobs), Liberator (sweeps).
pub mod daemons;

/// Import and export jobs: submission, status, the artifact directory's repair.
pub mod jobs;

/// Durable artifact files: temp, fsync, rename, directory fsync; checks and sweeps.
pub mod artifact;

/// `stardust verify` / `repair`: slots against the JSON.
pub mod verify;

/// SHOW and information_schema answers for model tables (pure).
pub mod introspect;

/// Model DDL on `model_*` tables: registry changes and slot reservations.
pub mod ddl;

/// The real MySQL/MariaDB: pool, engine dialect, bootstrap.
pub mod backend;

/// The registry snapshot: models, fields, slots (pure data).
pub mod catalog;

/// The registry on the backend: loading, caching by version, changing it.
pub mod registry;

/// The TOML configuration contract.
pub mod config;

/// A throwaway backend from local binaries (dev and tests).
pub mod embedded;

/// The crate error and its protocol-neutral kinds.
pub mod error;

/// Signals to a cancellation token.
pub mod shutdown;

/// What every connection shares.
pub mod state;

/// What each session is doing, for SHOW PROCESSLIST and `stardust.processlist`.
pub mod processlist;

/// Statement, pool, cache and queue metrics; the Prometheus endpoint.
pub mod metrics;

pub use error::{Error, Kind};
