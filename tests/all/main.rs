//! Integration tests of smsnode: the real SMS node component in the real host, the sandbox
//! provider, the webhook service and SQLite, all on 127.0.0.1.

mod cli;
mod hostile;
mod send;
mod runtime;
mod serve;
mod sender_choice;
mod support;
mod waits;
mod webhooks;
