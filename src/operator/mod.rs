//! Operators of the contact centre, the branch desks and the web-meeting desk, and their
//! roles. An operator logs in through the login broker like any person; the `operators` row
//! is what gives that person roles.

use serde::{Deserialize, Serialize};

/// What an operator may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Branch desk: issues PINs and registers delegations in person.
    Sportello,
    /// Contact centre: the call-back queue, inbound phone requests, phone PIN checks.
    ContactCenter,
    /// Web-meeting desk: delegations registered in a video call.
    WebMeeting,
    /// Manages operators.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Sportello,
        Role::ContactCenter,
        Role::WebMeeting,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Sportello => "sportello",
            Role::ContactCenter => "contact_center",
            Role::WebMeeting => "web_meeting",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}
