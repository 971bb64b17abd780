//! The engine room: Lua states, value transfer between them, cancellation and error reports.

pub mod args;
