//! The Italian texts of desk bookings. The confirmation SMS is the one of the web-meeting
//! guide (seed 000, "Notifica della prenotazione via SMS"):
//!
//! > Gentile Utente, le confermiamo la prenotazione allo sportello 'DELEGHE IDENTITA' DIGITALI IN
//! > WEB MEETING' in modalità web meeting per il giorno 19/07/2022 ore 09:00:00. Troverà tutte le
//! > informazioni nelle scadenze del suo myINPS, sotto la voce 'Calendario'.
//!
//! and the e-mail repeats the MyINPS calendar card of the same guide. The reminder ("circa 30
//! minuti prima … ricorda all'utente lo sportello scelto e l'orario di prenotazione") and the
//! cancellation follow the same form.

use super::templates::{Block, Rendered, TemplateError, param};
use super::{PostalAddress, Template};
use serde_json::Value;

/// What the web-meeting guide asks both people to bring (seed 000, the MyINPS card).
const WEB_MEETING_DOCUMENTS: &str = "Le comunichiamo che sia il delegato che il delegante \
    dovranno essere entrambi presenti al web meeting muniti di documenti di riconoscimento \
    dell'identità personale validi con fotografia e di ogni altra documentazione inerente alla \
    prenotazione: modello AA08 compilato e sottoscritto, con firma autografa o digitale, e copia \
    del documento di riconoscimento dell'identità personale. Ciascun documento dovrà essere \
    presentato in formato pdf di dimensione massima 3 Mb.";

const RECORDING: &str = "Il servizio in videochiamata sarà oggetto di registrazione: se in fase \
    di accesso non acconsentite alla registrazione, il servizio non potrà essere erogato nella \
    modalità richiesta.";

pub(super) fn render(
    template: Template,
    params: &Value,
    address: Option<PostalAddress>,
) -> Result<Rendered, TemplateError> {
    let t = template.as_str();
    let p = |name: &'static str| param(params, t, name);
    let (desk, mode, date, time) = (p("desk")?, p("mode")?, p("date")?, p("time")?);
    let (reference, kind, office) = (p("reference")?, p("kind")?, p("office")?);
    let myinps = params
        .get("myinps")
        .and_then(Value::as_bool)
        .ok_or(TemplateError::Param {
            template: t,
            param: "myinps",
        })?;
    let web = kind == "web_meeting";
    let join_from = p("join_from").ok();
    // In person the office matters; the web meeting and the call-back happen where the person is.
    let at_office = match kind.as_str() {
        "in_person" | "pin_in_person" => format!(" presso la sede {office}"),
        _ => String::new(),
    };
    let when = format!("per il giorno {date} ore {time}");
    let text = |s: String| Block::Text(s);
    let mut body = Vec::new();
    let (subject, sms) = match template {
        Template::BookingConfirmed => {
            let where_to = if myinps {
                "Troverà tutte le informazioni nelle scadenze del suo myINPS, sotto la voce \
                 'Calendario'."
                    .to_owned()
            } else {
                format!("Codice prenotazione: {reference}.")
            };
            let sms = format!(
                "Gentile Utente, le confermiamo la prenotazione allo sportello '{desk}' in \
                 modalità {mode}{at_office} {when}. {where_to}"
            );
            body.push(text(format!(
                "la sua prenotazione in modalità {mode} per lo sportello '{desk}'{at_office}, \
                 {when}, è stata regolarmente registrata (codice prenotazione {reference})."
            )));
            if web {
                body.push(text(WEB_MEETING_DOCUMENTS.into()));
                body.push(text(RECORDING.into()));
                if let Some(from) = &join_from {
                    body.push(text(format!(
                        "Potrà accedere al web meeting dalle {from} del {date}, dal dettaglio \
                         della prenotazione in MyINPS (\"Le mie prenotazioni\")."
                    )));
                }
            } else if kind == "phone_callback" {
                body.push(text(
                    "Un operatore INPS la chiamerà al numero di cellulare indicato, nel giorno \
                     e all'ora della prenotazione."
                        .into(),
                ));
            } else {
                body.push(text(
                    "Si presenti in sede nel giorno e all'ora prenotati con il codice di \
                     prenotazione e un documento di riconoscimento."
                        .into(),
                ));
            }
            (
                format!("INPS - Prenotazione confermata (codice {reference})"),
                sms,
            )
        }
        Template::BookingReminder => {
            let join = match (&join_from, web) {
                (Some(from), true) => {
                    format!(" Potrà accedere al web meeting dalle {from} dal suo myINPS.")
                }
                _ => String::new(),
            };
            let sms = format!(
                "Gentile Utente, le ricordiamo la prenotazione allo sportello '{desk}' in \
                 modalità {mode}{at_office} per oggi, {date} ore {time}.{join}"
            );
            body.push(text(format!(
                "le ricordiamo la prenotazione allo sportello '{desk}' in modalità \
                 {mode}{at_office} per oggi, {date} ore {time} (codice {reference}).{join}"
            )));
            (format!("INPS - Promemoria prenotazione {reference}"), sms)
        }
        _ => {
            let why = match (
                params.get("cancelled_by").and_then(Value::as_str),
                p("reason").ok(),
            ) {
                (Some("operator"), Some(r)) => format!(" da un operatore INPS: {r}"),
                (Some("closure"), Some(n)) => format!(" per la chiusura dello sportello: {n}"),
                (Some("person" | "operator" | "closure"), _) => String::new(),
                _ => {
                    return Err(TemplateError::Param {
                        template: t,
                        param: "cancelled_by",
                    });
                }
            };
            let sms = format!(
                "Gentile Utente, la prenotazione allo sportello '{desk}' {when} è stata \
                 cancellata{why}."
            );
            body.push(text(format!(
                "la prenotazione allo sportello '{desk}'{at_office} {when} (codice {reference}) \
                 è stata cancellata{why}. Può prenotare un nuovo appuntamento da MyINPS, \
                 dall'app INPS Mobile o chiamando il Contact Center."
            )));
            (format!("INPS - Prenotazione {reference} cancellata"), sms)
        }
    };
    Ok(Rendered {
        subject,
        greeting: "Gentile utente,".into(),
        body,
        sms,
        secret: None,
        reference: Some(reference),
        address,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn web_meeting() -> Value {
        json!({
            "desk": "DELEGHE IDENTITA' DIGITALI IN WEB MEETING",
            "office": "Sportello telematico",
            "kind": "web_meeting",
            "mode": "web meeting",
            "date": "19/07/2022",
            "time": "09:00:00",
            "reference": "PRN-K7QM2XHT",
            "myinps": true,
            "join_from": "08:45",
        })
    }

    #[test]
    fn the_confirmation_sms_is_the_guides() {
        let r = render(Template::BookingConfirmed, &web_meeting(), None).unwrap();
        assert_eq!(
            r.sms,
            "Gentile Utente, le confermiamo la prenotazione allo sportello 'DELEGHE IDENTITA' \
             DIGITALI IN WEB MEETING' in modalità web meeting per il giorno 19/07/2022 ore \
             09:00:00. Troverà tutte le informazioni nelle scadenze del suo myINPS, sotto la voce \
             'Calendario'."
        );
        assert!(
            r.plain_text()
                .contains("modello AA08 compilato e sottoscritto")
        );
        assert!(r.plain_text().contains("dalle 08:45"));
    }

    #[test]
    fn other_desks_and_guests() {
        let mut p = web_meeting();
        p["kind"] = json!("in_person");
        p["mode"] = json!("accesso in sede");
        p["desk"] = json!("SERVIZI VELOCI");
        p["office"] = json!("ROMA MONTEVERDE GIANICOLENSE");
        p["myinps"] = json!(false);
        let r = render(Template::BookingConfirmed, &p, None).unwrap();
        assert_eq!(
            r.sms,
            "Gentile Utente, le confermiamo la prenotazione allo sportello 'SERVIZI VELOCI' in \
             modalità accesso in sede presso la sede ROMA MONTEVERDE GIANICOLENSE per il giorno \
             19/07/2022 ore 09:00:00. Codice prenotazione: PRN-K7QM2XHT."
        );
        let r = render(Template::BookingReminder, &web_meeting(), None).unwrap();
        assert_eq!(
            r.sms,
            "Gentile Utente, le ricordiamo la prenotazione allo sportello 'DELEGHE IDENTITA' \
             DIGITALI IN WEB MEETING' in modalità web meeting per oggi, 19/07/2022 ore 09:00:00. \
             Potrà accedere al web meeting dalle 08:45 dal suo myINPS."
        );
        let mut p = web_meeting();
        p["cancelled_by"] = json!("closure");
        p["reason"] = json!("assemblea del personale");
        let r = render(Template::BookingCancelled, &p, None).unwrap();
        assert!(
            r.sms.ends_with(
                "è stata cancellata per la chiusura dello sportello: assemblea del personale."
            ),
            "{}",
            r.sms
        );
        p["cancelled_by"] = json!("nobody");
        assert!(render(Template::BookingCancelled, &p, None).is_err());
        p["myinps"] = json!("yes");
        assert!(render(Template::BookingConfirmed, &p, None).is_err());
    }
}
