//! Endpoints shaped exactly like those of the systems Handbill replaces, so that an integration
//! moves over by changing only the host name. They translate and call the same services.

pub mod mailinglijst;
pub mod spotler;
pub mod stager;
