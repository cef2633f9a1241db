//! End-to-end tests: the proxy in-process on port 0 in front of a real backend started from local binaries.

mod raw;
mod support;

mod adversarial;
mod auth;
mod bootstrap;
mod chatter;
mod cli;
mod crashes;
mod daemons;
mod differential;
mod drivers;
mod grammar;
mod hostile;
mod invariant;
mod lifecycle;
mod load;
mod models;
mod operability;
mod packets;
mod passthrough;
mod plans;
mod policy;
mod prepared;
mod rows;
mod scan;
mod shapes;
mod system_schema;
mod transactions;
