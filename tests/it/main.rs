//! End-to-end tests: the proxy in-process on port 0 in front of a real backend started from local binaries.

mod raw;
mod support;

mod auth;
mod bootstrap;
mod change_user;
mod chatter;
mod cli;
mod cursors;
mod daemons;
mod differential;
mod drivers;
mod field_list;
mod grammar;
mod invariant;
mod large_packets;
mod lifecycle;
mod models;
mod multi_results;
mod packets;
mod passthrough;
mod plans;
mod policy;
mod prepared;
mod rows;
mod scan;
mod shapes;
mod share_lock;
mod system_schema;
mod tls;
mod transactions;
