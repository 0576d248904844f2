//! The desk's PIN form when a legal representative asks (domain §2.3): through HTTP, each
//! refusal of `POST /v1/operator/pin/desk` said on the form beside its field, with what the
//! operator typed kept; a tutore with the decree and a parent of a minor with the
//! self-declaration get the envelope, the request recorded with the representation and its
//! documents, audited with the operator as actor, as the API does.

use crate::console_support::*;
use crate::oidc_support::*;
use diesel::prelude::*;
use procura::config::IssuanceEligibility;
use procura::db::schema::{audit_log, pin_request_documents, pin_requests};
use procura::person::CodiceFiscale;

/// A logged-in desk operator's form posts: (status, page or PDF as text lossily).
struct DeskForm {
    b: reqwest::Client,
    url: String,
    csrf: String,
}

impl DeskForm {
    async fn open(live: &LiveApp, operator: &CodiceFiscale) -> Self {
        let b = browser();
        let page = console_login(live, &b, "/console/sportello", operator).await;
        assert!(page.contains("Il suo rappresentante legale"), "{page}");
        Self {
            csrf: input_value(&page, "csrf"),
            url: format!("{}/console/sportello/pin", live.base),
            b,
        }
    }

    /// The PIN of `person` asked by `tutore` (Trib. Roma 12/2024), with the three documents.
    async fn post_by_tutore(
        &self,
        person: &CodiceFiscale,
        tutore: &CodiceFiscale,
    ) -> (u16, String) {
        self.post(
            &[
                ("codice_fiscale", person.as_str()),
                ("requester", "rappresentante"),
                ("representative_codice_fiscale", tutore.as_str()),
                ("representative_role", "tutore"),
                ("representative_reference", "Trib. Roma 12/2024"),
            ],
            &[("mv35", PDF), ("id_document", PDF), ("decree", PDF)],
        )
        .await
    }

    async fn post(&self, fields: &[(&str, &str)], files: &[(&str, &[u8])]) -> (u16, String) {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        let (ct, body) = multipart(&all, files);
        let resp = self
            .b
            .post(&self.url)
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// The fields of a request by a representative for `holder`.
fn rep<'a>(
    holder: &'a str,
    cf: &'a str,
    role: &'a str,
    reference: &'a str,
) -> Vec<(&'static str, &'a str)> {
    vec![
        ("codice_fiscale", holder),
        ("requester", "rappresentante"),
        ("representative_codice_fiscale", cf),
        ("representative_role", role),
        ("representative_reference", reference),
    ]
}

#[actix_web::test]
async fn each_refusal_of_a_representative_request_is_said_beside_its_field() {
    let live = LiveApp::spawn().await;
    let gianni = person("GLLGNN70A01H501");
    operator_with_pin(&live.app, &gianni, "Gianni", "Galli", &["sportello"]).await;
    let anna = person("VRDNNA90A41H501");
    add_person(&live.app, &anna, "Anna", "Verdi").await;
    let tutore = person("BNCPLA60A01H501");
    let form = DeskForm::open(&live, &gianni).await;
    let docs: [(&str, &[u8]); 3] = [("mv35", PDF), ("id_document", PDF), ("decree", PDF)];
    let (holder, tutore_cf) = (anna.as_str(), tutore.as_str());

    // The representative's codice fiscale is wrong: said beside it, everything typed kept.
    let (status, page) = form
        .post(
            &rep(holder, "BNCPLA60A01H50", "tutore", "Trib. Roma 12/2024"),
            &docs,
        )
        .await;
    assert_eq!(status, 422, "{page}");
    assert!(
        error_beside(&page, "representative_codice_fiscale")
            .contains("Codice fiscale del rappresentante")
    );
    for kept in [anna.as_str(), "BNCPLA60A01H50", "Trib. Roma 12/2024"] {
        assert!(
            page.contains(&format!("value=\"{kept}\"")),
            "{kept} lost:\n{page}"
        );
    }
    assert!(
        page.contains("<option value=\"tutore\" selected>"),
        "{page}"
    );
    assert!(page.contains("value=\"rappresentante\" checked"), "{page}");
    assert!(page.contains("i file vanno scelti di nuovo"), "{page}");
    assert!(
        page.contains("href=\"#f-representative_codice_fiscale\""),
        "{page}"
    );

    // Every other refusal, each said beside its field in the API's words.
    let without_decree: [(&str, &[u8]); 2] = [("mv35", PDF), ("id_document", PDF)];
    let bad_decree: [(&str, &[u8]); 2] = [("id_document", PDF), ("decree", b"MZ not a pdf")];
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a [(&'a str, &'a [u8])],
        &'a [(&'a str, &'a str)],
    );
    let cases: [Case; 7] = [
        // No role chosen.
        (
            tutore_cf,
            "",
            "Trib. Roma 12/2024",
            &docs,
            &[("representative_role", "Scegli il ruolo")],
        ),
        // A delegate is not a representative (messaggio 4590/2016), as the API refuses it.
        (
            tutore_cf,
            "delegato",
            "delega del 1/12/2026",
            &docs,
            &[(
                "representative_role",
                "non può essere richiesto da un delegato",
            )],
        ),
        // The holder cannot represent themself.
        (
            anna.as_str(),
            "tutore",
            "Trib. Roma 12/2024",
            &docs,
            &[(
                "representative_codice_fiscale",
                "persona diversa dal titolare",
            )],
        ),
        // A parent only for a minor.
        (
            tutore_cf,
            "genitore",
            "autocertificazione",
            &docs,
            &[("representative_role", "figlio minorenne")],
        ),
        // The reference of the decree or self-declaration is required.
        (
            tutore_cf,
            "curatore",
            "",
            &docs,
            &[("representative_reference", "Indicare gli estremi")],
        ),
        // Neither the decree nor the self-declaration.
        (
            tutore_cf,
            "amministratore_di_sostegno",
            "decreto 5/2025",
            &without_decree,
            &[(
                "representation_documents",
                "decreto di nomina o l&#39;autocertificazione",
            )],
        ),
        // A decree that is not a PDF, JPEG or PNG; a missing MV35.
        (
            tutore_cf,
            "tutore",
            "Trib. Roma 12/2024",
            &bad_decree,
            &[
                ("decree", "Decreto: documento non accettato"),
                ("mv35", "Modulo MV35: carica il documento"),
            ],
        ),
    ];
    for (representative, role, reference, files, errors) in cases {
        let (status, page) = form
            .post(&rep(holder, representative, role, reference), files)
            .await;
        assert_eq!(status, 422, "{role} / {reference}: {page}");
        for (field, said) in errors {
            assert!(error_beside(&page, field).contains(said), "{field}: {page}");
        }
    }

    // A represented person not in the registry.
    let stranger = person("BNCLGU80A01H501");
    let mut fields = rep(holder, tutore_cf, "tutore", "Trib. Roma 12/2024");
    fields[0] = ("codice_fiscale", stranger.as_str());
    let (status, page) = form.post(&fields, &docs).await;
    assert_eq!(status, 422);
    assert!(error_beside(&page, "codice_fiscale").contains("non è nell&#39;anagrafe"));

    // Nothing was issued on the way.
    let requests: i64 = live
        .app
        .with_db(|c, _, _| pin_requests::table.count().get_result(c).unwrap())
        .await;
    assert_eq!(requests, 0);
}

#[actix_web::test]
async fn a_tutore_and_a_parent_get_the_envelope_with_the_representation_recorded() {
    let live = LiveApp::spawn().await;
    let gianni = person("GLLGNN70A01H501");
    let op = operator_with_pin(&live.app, &gianni, "Gianni", "Galli", &["sportello"]).await;
    let anna = person("VRDNNA90A41H501");
    add_person(&live.app, &anna, "Anna", "Verdi").await;
    let luca = person("RSSLCU15A01H501");
    add_person(&live.app, &luca, "Luca", "Rossi").await;
    let tutore = person("BNCPLA60A01H501");
    let mother = person("RSSMRA80A41H501");
    let form = DeskForm::open(&live, &gianni).await;

    let (status, pdf) = form.post_by_tutore(&anna, &tutore).await;
    assert_eq!(status, 200, "{pdf}");
    assert!(pdf.starts_with("%PDF-"));
    let (status, pdf) = form
        .post(
            &[
                ("codice_fiscale", luca.as_str()),
                ("requester", "rappresentante"),
                ("representative_codice_fiscale", mother.as_str()),
                ("representative_role", "genitore"),
                (
                    "representative_reference",
                    "autocertificazione del 3/12/2026",
                ),
            ],
            &[
                ("mv35", PDF),
                ("id_document", PDF),
                ("self_declaration", PDF),
            ],
        )
        .await;
    assert_eq!(status, 200, "{pdf}");

    // Stored as the API stores it: the representation and each document archived.
    let rows = live
        .app
        .with_db(|c, _, _| {
            pin_requests::table
                .order(pin_requests::created_at.asc())
                .select((
                    pin_requests::id,
                    pin_requests::codice_fiscale,
                    pin_requests::channel,
                    pin_requests::status,
                    pin_requests::representative_cf,
                    pin_requests::representation,
                    pin_requests::representation_ref,
                ))
                .load::<(
                    String,
                    String,
                    String,
                    String,
                    Option<String>,
                    Option<String>,
                    Option<String>,
                )>(c)
                .unwrap()
        })
        .await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let (anna_id, luca_id) = if rows[0].1 == anna.as_str() {
        (rows[0].0.clone(), rows[1].0.clone())
    } else {
        (rows[1].0.clone(), rows[0].0.clone())
    };
    for (id, holder, rep, role, reference) in [
        (&anna_id, &anna, &tutore, "tutore", "Trib. Roma 12/2024"),
        (
            &luca_id,
            &luca,
            &mother,
            "genitore",
            "autocertificazione del 3/12/2026",
        ),
    ] {
        let row = rows.iter().find(|r| &r.0 == id).unwrap();
        assert_eq!(row.1, holder.as_str());
        assert_eq!((row.2.as_str(), row.3.as_str()), ("sportello", "issued"));
        assert_eq!(row.4.as_deref(), Some(rep.as_str()));
        assert_eq!(row.5.as_deref(), Some(role));
        assert_eq!(row.6.as_deref(), Some(reference));
    }
    let kinds = |id: String| {
        live.app.with_db(move |c, _, _| {
            let mut k = pin_request_documents::table
                .filter(pin_request_documents::request_id.eq(id))
                .select(pin_request_documents::kind)
                .load::<String>(c)
                .unwrap();
            k.sort();
            k
        })
    };
    assert_eq!(kinds(anna_id).await, ["decree", "id_document", "mv35"]);
    assert_eq!(
        kinds(luca_id).await,
        ["id_document", "mv35", "self_declaration"]
    );

    // Audited with the operator as actor, on behalf of the represented person, with the
    // representation in the record — as `POST /v1/operator/pin/desk` audits it.
    let actor = format!("operator:{}", op.id);
    let submitted = live
        .app
        .with_db(move |c, _, _| {
            audit_log::table
                .filter(audit_log::actor.eq(actor))
                .filter(audit_log::action.eq("pin.request.submitted"))
                .select(audit_log::detail)
                .load::<Option<String>>(c)
                .unwrap()
        })
        .await;
    assert_eq!(submitted.len(), 2, "{submitted:?}");
    let details = submitted
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        details.contains("\"representation\":\"tutore\""),
        "{details}"
    );
    assert!(
        details.contains("\"representation\":\"genitore\""),
        "{details}"
    );
}

#[actix_web::test]
async fn a_representative_refused_by_the_eligibility_policy_is_told_on_the_form() {
    let live = LiveApp::spawn_with(|c| {
        c.issuance.eligibility = IssuanceEligibility::ForeignResidentsOnly;
    })
    .await;
    let gianni = person("GLLGNN70A01H501");
    operator_with_pin(&live.app, &gianni, "Gianni", "Galli", &["sportello"]).await;
    let anna = person("VRDNNA90A41H501");
    add_person(&live.app, &anna, "Anna", "Verdi").await;
    let tutore = person("BNCPLA60A01H501");
    let form = DeskForm::open(&live, &gianni).await;
    let (status, page) = form.post_by_tutore(&anna, &tutore).await;
    assert_eq!(status, 422, "{page}");
    assert!(
        page.contains("non è più rilasciato a questa categoria"),
        "{page}"
    );
    assert!(page.contains("value=\"Trib. Roma 12/2024\""), "{page}");
}
