-- CIE SAML ("Entra con CIE") runs on the same SAML service-provider code and tables as SPID; the
-- IdP metadata of each federation are kept apart: `spid` (AgID registry, test IdPs) or `cie`.
ALTER TABLE spid_idp_metadata ADD COLUMN profile TEXT NOT NULL DEFAULT 'spid';
