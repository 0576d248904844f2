-- Parent–child links of the persons registry (the family unit ANPR would confirm, domain §1.9):
-- the online parent registration checks a link exists. Loaded with `procura persons link`.
CREATE TABLE family_links (
    parent_cf   TEXT NOT NULL,
    child_cf    TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (parent_cf, child_cf)
);
CREATE INDEX family_links_child ON family_links (child_cf);
