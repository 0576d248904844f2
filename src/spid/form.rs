//! The form of the HTTP-POST binding (`SAMLResponse` or `SAMLRequest`, `RelayState`), read in
//! one linear pass: the general form parser keeps every field and compares repeated names
//! pairwise, which a 256 KiB body of repeated names turns into a quadratic cost (issue 11).

use super::dsig::{self, RedirectParam};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormError {
    #[error("not a form")]
    Malformed,
    #[error("field {0} repeated")]
    Repeated(&'static str),
}

/// The binding's fields of a POSTed form, URL-decoded; any other field is ignored.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PostForm {
    pub saml_request: Option<String>,
    pub saml_response: Option<String>,
    pub relay_state: Option<String>,
}

impl PostForm {
    /// Reads an `application/x-www-form-urlencoded` body. Empty values count as absent (as
    /// the OAuth parameters do); a repeated binding field is refused.
    pub fn parse(body: &[u8]) -> Result<Self, FormError> {
        let text = std::str::from_utf8(body).map_err(|_| FormError::Malformed)?;
        let [saml_request, saml_response, relay_state] =
            fields(text, ["SAMLRequest", "SAMLResponse", "RelayState"])?;
        Ok(Self {
            saml_request,
            saml_response,
            relay_state,
        })
    }

    /// The one SAML message of the form and which it is.
    pub fn message(&self) -> Option<(RedirectParam, &str)> {
        match (&self.saml_request, &self.saml_response) {
            (Some(r), None) => Some((RedirectParam::SamlRequest, r)),
            (None, Some(r)) => Some((RedirectParam::SamlResponse, r)),
            _ => None,
        }
    }
}

/// The values of `names` in a form body or a query string, URL-decoded, in one pass; any other
/// field is ignored, an empty value counts as absent, a repeated one is refused.
pub fn fields<const N: usize>(
    text: &str,
    names: [&'static str; N],
) -> Result<[Option<String>; N], FormError> {
    let mut values: [Option<String>; N] = std::array::from_fn(|_| None);
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let Some((field, slot)) = names
            .iter()
            .zip(values.iter_mut())
            .find(|(n, _)| **n == name)
        else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        let value = dsig::form_decode(value).map_err(|_| FormError::Malformed)?;
        if slot.replace(value).is_some() {
            return Err(FormError::Repeated(field));
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_binding_fields() {
        let form = PostForm::parse(b"SAMLResponse=PHg%2B%0A+&RelayState=ab&other=1&other=2")
            .unwrap_or_default();
        assert_eq!(form.saml_response.as_deref(), Some("PHg+\n "));
        assert_eq!(form.relay_state.as_deref(), Some("ab"));
        assert_eq!(
            form.message(),
            Some((RedirectParam::SamlResponse, "PHg+\n "))
        );
    }

    #[test]
    fn refuses_repeats_and_garbage() {
        assert_eq!(
            PostForm::parse(b"SAMLResponse=a&SAMLResponse=b"),
            Err(FormError::Repeated("SAMLResponse"))
        );
        assert_eq!(
            PostForm::parse(b"SAMLResponse=%zz"),
            Err(FormError::Malformed)
        );
        assert_eq!(PostForm::parse(b"\xff"), Err(FormError::Malformed));
        let both = PostForm::parse(b"SAMLResponse=a&SAMLRequest=b").unwrap_or_default();
        assert_eq!(both.message(), None);
        assert_eq!(PostForm::parse(b"SAMLResponse="), Ok(PostForm::default()));
    }
}
