//! Black-box tests: the real daemon, a real database, real HTTP.

mod harness;

mod admin;
mod cli;
mod faults;
mod forwarding;
mod identity;
mod website;
