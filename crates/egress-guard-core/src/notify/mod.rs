//! What people and machines receive: the `Message` trait and its limits, a group's notice (with its observed-egress
//! section), the reports of an event and a sweep, their e-mail text, the chat card, Security Hub's findings, and the
//! kill switch's notice.

pub mod asff;
pub mod chat;
pub mod digest;
pub mod message;
pub mod notice;
pub mod notice_text;
pub mod observed;
pub mod parts;
pub mod report;
pub mod sweep_text;
pub mod switch;
