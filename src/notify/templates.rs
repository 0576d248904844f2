//! The Italian texts of every [`Template`], rendered from the message's non-secret `params`
//! and, for the PIN halves, the opened secret. A missing or malformed parameter is a
//! [`TemplateError`]: the message cannot be sent as asked and an operator must look at it.

use super::{PostalAddress, Template};
use serde_json::Value;

/// One block of a message body. The secret stands apart so that each channel can show it
/// its own way (on its own line in an e-mail, large and spaced in a letter).
#[derive(Clone, PartialEq, Eq)]
pub enum Block {
    Text(String),
    Secret,
}

/// A rendered message, before a channel gives it its form.
#[derive(Clone)]
pub struct Rendered {
    /// E-mail subject; the "Oggetto" line of a letter. ASCII-friendly, short.
    pub subject: String,
    /// "Gentile Mario,".
    pub greeting: String,
    pub body: Vec<Block>,
    /// The whole SMS text (the secret included), short.
    pub sms: String,
    /// The PIN half, when the message carries one.
    pub secret: Option<String>,
    /// The request reference, when there is one.
    pub reference: Option<String>,
    /// The addressee's postal address, when `params.address` is given (letters need it).
    pub address: Option<PostalAddress>,
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendered")
            .field("subject", &self.subject)
            .field("reference", &self.reference)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl Rendered {
    /// The body as plain text (e-mail, files), the secret on its own indented line.
    pub fn plain_text(&self) -> String {
        let mut out = format!("{}\n\n", self.greeting);
        for block in &self.body {
            match block {
                Block::Text(t) => out.push_str(t),
                Block::Secret => {
                    out.push_str("        ");
                    out.push_str(self.secret.as_deref().unwrap_or_default());
                }
            }
            out.push_str("\n\n");
        }
        out.push_str(SIGNATURE);
        out.push_str("\n\n");
        out.push_str(AUTOMATIC);
        out.push('\n');
        out
    }
}

pub const SIGNATURE: &str = "Cordiali saluti,\nINPS - Istituto Nazionale della Previdenza Sociale";
const AUTOMATIC: &str = "Questo messaggio è stato generato automaticamente: la preghiamo di non \
     rispondere. Per assistenza può chiamare il Contact Center INPS al numero 803 164 \
     (gratuito da rete fissa) o 06 164 164 (da rete mobile).";
const NEVER_SHARE: &str = "Non comunichi il PIN a nessuno: l'INPS non glielo chiederà mai per \
     telefono, per e-mail o per SMS.";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("template {template}: missing or malformed parameter `{param}`")]
    Param {
        template: &'static str,
        param: &'static str,
    },
    #[error("template {0}: the message carries no secret, but the text needs one")]
    NoSecret(&'static str),
}

/// Renders `template` in Italian.
pub fn render(
    template: Template,
    params: &Value,
    secret: Option<&str>,
) -> Result<Rendered, TemplateError> {
    let t = template.as_str();
    let p = |name: &'static str| param(params, t, name);
    let need_secret = || secret.map(str::to_owned).ok_or(TemplateError::NoSecret(t));
    let address = match params.get("address") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            serde_json::from_value::<PostalAddress>(v.clone()).map_err(|_| {
                TemplateError::Param {
                    template: t,
                    param: "address",
                }
            })?,
        ),
    };
    let text = |s: String| Block::Text(s);
    let rendered = match template {
        Template::PinFirstHalf => {
            let (reference, name, half) = (p("reference")?, p("given_name")?, need_secret()?);
            Rendered {
                subject: format!("INPS - Prima parte del PIN (richiesta {reference})"),
                greeting: format!("Gentile {name},"),
                body: vec![
                    text(format!(
                        "come da lei richiesto, le inviamo i primi 8 caratteri del suo PIN \
                         INPS (richiesta {reference}):"
                    )),
                    Block::Secret,
                    text(
                        "Gli altri 8 caratteri le arriveranno con una lettera all'indirizzo di \
                         residenza. Il PIN è formato da 16 caratteri: prima questi 8, poi gli 8 \
                         della lettera. Al primo accesso le sarà chiesto di sceglierne uno \
                         personale di 8 caratteri."
                            .into(),
                    ),
                    text(NEVER_SHARE.into()),
                ],
                sms: format!(
                    "INPS: i primi 8 caratteri del suo PIN (richiesta {reference}) sono {half}. \
                     Gli altri 8 arriveranno per posta. Non li comunichi a nessuno."
                ),
                secret: Some(half),
                reference: Some(reference),
                address,
            }
        }
        Template::PinSecondHalf => {
            let reference = p("reference")?;
            let half = need_secret()?;
            let addr = address.clone().ok_or(TemplateError::Param {
                template: t,
                param: "address",
            })?;
            Rendered {
                subject: format!("Seconda parte del PIN INPS - richiesta {reference}"),
                greeting: format!("Gentile {},", addr.name),
                body: vec![
                    text(format!(
                        "con questa lettera le inviamo la seconda parte del suo PIN INPS, \
                         relativa alla richiesta {reference}. Gli 8 caratteri sono:"
                    )),
                    Block::Secret,
                    text(
                        "I primi 8 caratteri le sono stati inviati per SMS, e-mail o PEC. Per \
                         accedere ai servizi online dell'INPS digiti i 16 caratteri di seguito, \
                         senza spazi: prima gli 8 ricevuti per SMS, e-mail o PEC, poi questi 8. \
                         Al primo accesso le sarà chiesto di scegliere un PIN personale di 8 \
                         caratteri."
                            .into(),
                    ),
                    text(format!(
                        "Conservi questa lettera in un luogo sicuro. {NEVER_SHARE} Se non ha \
                         richiesto il PIN, chiami il Contact Center e comunichi il riferimento \
                         {reference}."
                    )),
                ],
                sms: format!(
                    "INPS: gli ultimi 8 caratteri del suo PIN (richiesta {reference}) sono \
                     {half}. Non li comunichi a nessuno."
                ),
                secret: Some(half),
                reference: Some(reference),
                address,
            }
        }
        Template::PinRecoveryHalf => {
            let (reference, name, half) = (p("reference")?, p("given_name")?, need_secret()?);
            let part = p("part")?;
            let which = match part.as_str() {
                "1" => "la prima parte (i primi 8 caratteri)",
                "2" => "la seconda parte (gli ultimi 8 caratteri)",
                _ => {
                    return Err(TemplateError::Param {
                        template: t,
                        param: "part",
                    });
                }
            };
            Rendered {
                subject: format!("INPS - Nuovo PIN, parte {part} di 2 (richiesta {reference})"),
                greeting: format!("Gentile {name},"),
                body: vec![
                    text(format!(
                        "a seguito della sua richiesta di un nuovo PIN (riferimento \
                         {reference}), le inviamo {which}:"
                    )),
                    Block::Secret,
                    text(
                        "L'altra parte le arriva con un messaggio separato. Il PIN precedente \
                         non è più valido."
                            .into(),
                    ),
                    text(NEVER_SHARE.into()),
                ],
                sms: format!(
                    "INPS: parte {part} di 2 del suo nuovo PIN (richiesta {reference}): {half}. \
                     Non la comunichi a nessuno."
                ),
                secret: Some(half),
                reference: Some(reference),
                address,
            }
        }
        Template::PinRequestCallback => {
            let (reference, name) = (p("reference")?, p("given_name")?);
            Rendered {
                subject: format!("INPS - Richiesta di PIN {reference} in verifica"),
                greeting: format!("Gentile {name},"),
                body: vec![text(format!(
                    "non è stato possibile verificare in automatico la sua richiesta di PIN \
                     {reference}. Un operatore del Contact Center INPS la chiamerà nei \
                     prossimi giorni per completarla: tenga a portata di mano un documento \
                     d'identità."
                ))],
                sms: format!(
                    "INPS: la richiesta di PIN {reference} va completata con un operatore. Il \
                     Contact Center la chiamerà nei prossimi giorni."
                ),
                secret: None,
                reference: Some(reference),
                address,
            }
        }
        Template::PinRequestRejected => {
            let (reference, name, reason) = (p("reference")?, p("given_name")?, p("reason")?);
            Rendered {
                subject: format!("INPS - Richiesta di PIN {reference} non accolta"),
                greeting: format!("Gentile {name},"),
                body: vec![
                    text(format!(
                        "la sua richiesta di PIN {reference} non è stata accolta per il seguente \
                         motivo: {reason}."
                    )),
                    text(
                        "Può presentare una nuova richiesta sul sito www.inps.it o rivolgersi \
                         a una sede INPS."
                            .into(),
                    ),
                ],
                sms: format!(
                    "INPS: la richiesta di PIN {reference} non è stata accolta. Dettagli per \
                     e-mail o su www.inps.it."
                ),
                secret: None,
                reference: Some(reference),
                address,
            }
        }
        Template::PinRequestClosed => {
            let (reference, name) = (p("reference")?, p("given_name")?);
            Rendered {
                subject: format!("INPS - Richiesta di PIN {reference} chiusa"),
                greeting: format!("Gentile {name},"),
                body: vec![text(format!(
                    "il Contact Center INPS ha provato più volte a contattarla senza riuscirci, \
                     perciò la sua richiesta di PIN {reference} è stata chiusa. Se lo desidera, \
                     può presentare una nuova richiesta sul sito www.inps.it."
                ))],
                sms: format!(
                    "INPS: non siamo riusciti a contattarla; la richiesta di PIN {reference} è \
                     stata chiusa. Può presentarne una nuova su www.inps.it."
                ),
                secret: None,
                reference: Some(reference),
                address,
            }
        }
        Template::PinRevoked => {
            let name = p("given_name")?;
            Rendered {
                subject: "INPS - PIN revocato".into(),
                greeting: format!("Gentile {name},"),
                body: vec![text(
                    "il suo PIN INPS è stato revocato e da ora non può più essere usato. Se \
                     non ha chiesto lei la revoca, chiami subito il Contact Center INPS."
                        .into(),
                )],
                sms: "INPS: il suo PIN è stato revocato. Se non l'ha chiesto lei, chiami il \
                      Contact Center 803 164."
                    .into(),
                secret: None,
                reference: None,
                address,
            }
        }
        Template::DelegationRegistered
        | Template::DelegationActivated
        | Template::DelegationEndingSoon
        | Template::DelegationEnded => {
            let (name, other, role) = (p("given_name")?, p("counterpart")?, p("role")?);
            let delegator = match role.as_str() {
                "delegator" => true,
                "delegate" => false,
                _ => {
                    return Err(TemplateError::Param {
                        template: t,
                        param: "role",
                    });
                }
            };
            let relation = if delegator {
                format!("la delega a favore di {other}")
            } else {
                format!("la delega che le consente di operare per conto di {other}")
            };
            let until = p("end_date").ok();
            let (subject, line, sms) = match template {
                Template::DelegationRegistered | Template::DelegationActivated => {
                    let scad = until
                        .as_ref()
                        .map(|d| format!(", valida fino al {d}"))
                        .unwrap_or_default();
                    (
                        "INPS - Delega dell'identità digitale registrata".to_owned(),
                        format!(
                            "le comunichiamo che è attiva {relation}{scad}. Può vederla e \
                             gestirla in MyINPS, sezione \"Deleghe identità digitali\"."
                        ),
                        format!("INPS: è attiva {relation}{scad}. Dettagli in MyINPS."),
                    )
                }
                Template::DelegationEndingSoon => {
                    let d = p("end_date")?;
                    (
                        "INPS - La delega sta per scadere".to_owned(),
                        format!("le ricordiamo che {relation} terminerà il {d}."),
                        format!("INPS: {relation} terminerà il {d}."),
                    )
                }
                _ => (
                    "INPS - Delega terminata".to_owned(),
                    format!(
                        "le comunichiamo che {relation} è terminata e non può più essere usata."
                    ),
                    format!("INPS: {relation} è terminata."),
                ),
            };
            Rendered {
                subject,
                greeting: format!("Gentile {name},"),
                body: vec![text(line)],
                sms,
                secret: None,
                reference: None,
                address,
            }
        }
        Template::BookingConfirmed | Template::BookingReminder | Template::BookingCancelled => {
            super::booking_texts::render(template, params, address)?
        }
    };
    Ok(rendered)
}

/// A non-empty string parameter (numbers are accepted and written as text).
pub(super) fn param(
    params: &Value,
    template: &'static str,
    name: &'static str,
) -> Result<String, TemplateError> {
    let missing = TemplateError::Param {
        template,
        param: name,
    };
    match params.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(missing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ALL: [Template; 14] = [
        Template::PinFirstHalf,
        Template::PinSecondHalf,
        Template::PinRecoveryHalf,
        Template::PinRequestCallback,
        Template::PinRequestRejected,
        Template::PinRequestClosed,
        Template::PinRevoked,
        Template::DelegationRegistered,
        Template::DelegationActivated,
        Template::DelegationEndingSoon,
        Template::DelegationEnded,
        Template::BookingConfirmed,
        Template::BookingReminder,
        Template::BookingCancelled,
    ];

    fn full_params() -> Value {
        json!({
            "reference": "PR-2026-000042",
            "given_name": "Maria",
            "part": 2,
            "counterpart": "Luigi Verdi",
            "role": "delegate",
            "end_date": "31/12/2026",
            "reason": "i dati del documento non corrispondono",
            "desk": "DELEGHE IDENTITA' DIGITALI IN WEB MEETING",
            "office": "ROMA MONTEVERDE GIANICOLENSE",
            "kind": "web_meeting",
            "mode": "web meeting",
            "date": "19/07/2022",
            "time": "09:00:00",
            "myinps": true,
            "join_from": "08:45",
            "cancelled_by": "operator",
            "address": {
                "name": "Maria Rossi", "street": "Via Roma 1", "postal_code": "00184",
                "municipality": "Roma", "province": "RM"
            }
        })
    }

    #[test]
    fn every_template_renders_in_italian_with_its_params() {
        for t in ALL {
            let r = render(t, &full_params(), Some("K7QM2XHT")).unwrap();
            assert!(r.greeting.starts_with("Gentile "), "{t:?}");
            assert!(!r.body.is_empty());
            // SMS stays within two concatenated segments.
            assert!(r.sms.chars().count() <= 306, "{t:?}: {}", r.sms.len());
            let shows_secret = r.body.contains(&Block::Secret);
            assert_eq!(shows_secret, r.secret.is_some(), "{t:?}");
            if shows_secret {
                assert!(r.sms.contains("K7QM2XHT"));
                assert!(r.plain_text().contains("K7QM2XHT"));
            } else {
                assert!(!r.plain_text().contains("K7QM2XHT"));
            }
        }
    }

    #[test]
    fn a_missing_param_or_secret_is_an_error_not_a_panic() {
        for t in ALL {
            assert!(render(t, &json!({}), Some("K7QM2XHT")).is_err(), "{t:?}");
        }
        assert_eq!(
            render(Template::PinFirstHalf, &full_params(), None).unwrap_err(),
            TemplateError::NoSecret("pin_first_half")
        );
        let mut p = full_params();
        p["part"] = json!(3);
        assert!(render(Template::PinRecoveryHalf, &p, Some("x")).is_err());
        p["address"] = json!({"name": "x"});
        assert!(render(Template::PinSecondHalf, &p, Some("x")).is_err());
    }

    #[test]
    fn debug_hides_the_secret() {
        let r = render(Template::PinFirstHalf, &full_params(), Some("K7QM2XHT")).unwrap();
        assert!(!format!("{r:?}").contains("K7QM2XHT"));
    }
}
