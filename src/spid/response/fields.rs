//! Reading required pieces of a verified tree, and the time windows with clock skew.

use super::ResponseError;
use crate::spid::{time, xml};
use chrono::{DateTime, Duration, Utc};
use roxmltree::Node;

/// An attribute that must be present and not blank.
pub(super) fn required<'a>(
    node: Node<'a, '_>,
    name: &str,
    what: &'static str,
) -> Result<&'a str, ResponseError> {
    node.attribute(name)
        .filter(|v| !v.trim().is_empty())
        .ok_or(ResponseError::Missing(what))
}

/// The one child `ns:local` of `node`: absent is `Missing`, several is `Duplicate`.
pub(super) fn single<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &'static str,
    local: &'static str,
    what: &'static str,
) -> Result<Node<'a, 'i>, ResponseError> {
    let mut found = xml::children(node, ns, local);
    let first = found.next().ok_or(ResponseError::Missing(what))?;
    if found.next().is_some() {
        return Err(ResponseError::Duplicate(what));
    }
    Ok(first)
}

/// The text of an element that must not be blank.
pub(super) fn text(node: Node<'_, '_>, what: &'static str) -> Result<String, ResponseError> {
    let text = xml::text(node);
    if text.is_empty() {
        return Err(ResponseError::Missing(what));
    }
    Ok(text)
}

/// A required xs:dateTime attribute.
pub(super) fn instant(
    node: Node<'_, '_>,
    name: &str,
    what: &'static str,
) -> Result<DateTime<Utc>, ResponseError> {
    time::parse(required(node, name, what)?).ok_or(ResponseError::BadTime(what))
}

/// The acceptance windows, widened by the clock skew both ways.
pub(super) struct Clock {
    pub now: DateTime<Utc>,
    pub skew: Duration,
    pub request_issued: DateTime<Utc>,
}

impl Clock {
    /// An IssueInstant: not before the request (equal is fine: spid-sp-test copies it) and
    /// not after now.
    pub fn issued(&self, at: DateTime<Utc>, what: &'static str) -> Result<(), ResponseError> {
        if at < earlier(self.request_issued, self.skew) {
            return Err(ResponseError::IssuedBeforeRequest(what));
        }
        if at > later(self.now, self.skew) {
            return Err(ResponseError::IssuedInFuture(what));
        }
        Ok(())
    }

    /// A NotBefore: reached by now.
    pub fn reached(&self, at: DateTime<Utc>, what: &'static str) -> Result<(), ResponseError> {
        if at > later(self.now, self.skew) {
            return Err(ResponseError::NotYetValid(what));
        }
        Ok(())
    }

    /// A NotOnOrAfter: not yet passed.
    pub fn unexpired(&self, at: DateTime<Utc>, what: &'static str) -> Result<(), ResponseError> {
        if at <= earlier(self.now, self.skew) {
            return Err(ResponseError::Expired(what));
        }
        Ok(())
    }
}

fn earlier(at: DateTime<Utc>, skew: Duration) -> DateTime<Utc> {
    at.checked_sub_signed(skew.abs())
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn later(at: DateTime<Utc>, skew: Duration) -> DateTime<Utc> {
    at.checked_add_signed(skew.abs())
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}
