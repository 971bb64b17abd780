//! Run configuration and the parsers for the CLI's duration and size flags.
