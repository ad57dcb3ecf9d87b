//! The mock provider's tests, in one binary: a real server on 127.0.0.1:0 driven
//! over HTTP (and the `mock-provider` binary itself, in `cli`). The load test is a
//! binary of its own, so that it can measure its process's memory alone.

mod cli;
mod hostile;
mod lifecycle;
mod outcomes;
mod refusals;
mod runflow;
mod runflow_refusals;
mod runware;
