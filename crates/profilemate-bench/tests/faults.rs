//! Runs against fault-injecting loopback servers.
