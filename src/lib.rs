//! SolVM: a Lua 5.4 runtime with Go-style concurrency and a batteries-included standard library.
//!
//! The binary (`src/main.rs`) is a thin CLI over [`runtime::run`]; everything a script can touch lives in
//! [`builtins`], and everything that makes goroutines possible (states, value transfer, cancellation,
//! error reports) lives in [`runtime`].

pub mod builtins;
pub mod config;
pub mod runtime;
