//! The mock provider's tests, in one binary: a real server on 127.0.0.1:0 driven
//! over HTTP.

mod lifecycle;
mod load;
mod outcomes;
mod refusals;
mod runware;
