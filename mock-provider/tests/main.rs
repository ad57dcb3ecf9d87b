//! The mock provider's tests, in one binary: a real server on 127.0.0.1:0 driven
//! over HTTP (and the `mock-provider` binary itself, in `cli`).

mod common;

mod cli;
mod hostile;
mod lifecycle;
mod load;
mod outcomes;
mod refusals;
mod runflow;
mod runflow_refusals;
mod runware;
