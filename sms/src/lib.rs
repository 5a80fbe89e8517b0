//! SMS rules shared by the smsnode component and host: segments, templates, E.164, opt-out keywords, retries and the Twilio Messages API.
pub mod a2p;
pub mod e164;
pub mod optout;
pub mod retry;
pub mod segments;
pub mod sender;
pub mod template;
pub mod twilio;
