ALTER TABLE spid_idp_metadata DROP COLUMN profile;
