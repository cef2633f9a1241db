//! StarDust: a MySQL-wire-protocol proxy that gives multi-tenant applications user-defined fields at native
//! index speed. Modules in the order a query meets them:

pub mod server; // accepts connections, one task each, bounded drain on shutdown
pub mod protocol; // the wire: handshake, auth, command loop, chatter, error codes
pub mod sql; // parse and classify statements; the tenant policy
pub mod backend; // the real MySQL/MariaDB: pool, engine dialect, bootstrap

pub mod config; // the TOML configuration contract
pub mod embedded; // a throwaway backend from local binaries (dev and tests)
pub mod error; // the crate error and its protocol-neutral kinds
pub mod shutdown; // signals to a cancellation token
pub mod state; // what every connection shares

pub use error::{Error, Kind};
