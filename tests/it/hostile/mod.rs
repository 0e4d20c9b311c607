//! Hostile input (issue 10): any config, CSV or webhook body costs bounded
//! time and memory and ends in a clear error, and no secret reaches any
//! output, file or ledger.

mod config_input;
mod csv_input;
mod mutation;
mod readonly;
mod secrets;
mod webhook_input;
mod webhook_slow;
