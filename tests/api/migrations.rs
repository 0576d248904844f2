//! Migrations: reversible on the test backend, paired by name across both trees, and no
//! foreign key without an index (a delete on the parent would scan the child table).

use crate::helpers::{TestApp, blocking};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use procura::db::{DbConn, migrate};
use std::collections::BTreeSet;

#[actix_web::test]
async fn up_down_up() {
    let app = TestApp::spawn().await; // already up
    let mut conn = app.conn();
    blocking(move || {
        let tables_up = tables(&mut conn);
        assert!(
            tables_up.contains("persons") && tables_up.contains("audit_log"),
            "{tables_up:?}"
        );
        let reverted = migrate::revert_all(&mut conn).unwrap();
        assert_eq!(
            reverted.len(),
            migrate::names(&migrate::SQLITE).unwrap().len()
        );
        assert!(migrate::has_pending(&mut conn).unwrap());
        let left: BTreeSet<String> = tables(&mut conn)
            .into_iter()
            .filter(|t| !t.starts_with("__diesel"))
            .collect();
        assert!(
            left.is_empty(),
            "down migrations left tables behind: {left:?}"
        );
        migrate::run_pending(&mut conn).unwrap();
        assert!(!migrate::has_pending(&mut conn).unwrap());
        assert_eq!(tables(&mut conn), tables_up);
        // The audit head is seeded again, so appends work after a round trip.
        let head: i64 = diesel::sql_query("SELECT last_seq AS n FROM audit_head")
            .get_result::<Count>(&mut conn)
            .unwrap()
            .n;
        assert_eq!(head, 0);
    })
    .await;
}

#[test]
fn both_trees_have_the_same_migration_names() {
    let dir_names = |backend: &str| -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend);
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        names
    };
    let sqlite = dir_names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, dir_names("postgres"));
    assert_eq!(
        migrate::names(&migrate::SQLITE).unwrap(),
        migrate::names(&migrate::POSTGRES).unwrap()
    );
    for name in &sqlite {
        for backend in ["sqlite", "postgres"] {
            for file in ["up.sql", "down.sql"] {
                let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("migrations")
                    .join(backend)
                    .join(name)
                    .join(file);
                assert!(path.is_file(), "missing {}", path.display());
            }
        }
    }
}

#[actix_web::test]
async fn every_foreign_key_is_indexed() {
    let app = TestApp::spawn().await;
    let mut conn = app.conn();
    blocking(move || {
        assert_eq!(unindexed_foreign_keys(&mut conn), Vec::<String>::new());

        // The check itself must be able to fail: an unindexed foreign key is reported,
        // and indexing it (as the leading column) clears it.
        diesel::connection::SimpleConnection::batch_execute(
            &mut *conn,
            "CREATE TABLE fk_probe (id BIGINT PRIMARY KEY, person TEXT REFERENCES persons (codice_fiscale))",
        )
        .unwrap();
        assert_eq!(unindexed_foreign_keys(&mut conn), vec!["fk_probe.person".to_owned()]);
        diesel::connection::SimpleConnection::batch_execute(
            &mut *conn,
            "CREATE INDEX fk_probe_person_idx ON fk_probe (person)",
        )
        .unwrap();
        assert_eq!(unindexed_foreign_keys(&mut conn), Vec::<String>::new());
    })
    .await;
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn tables(conn: &mut DbConn) -> BTreeSet<String> {
    let sql = match conn {
        DbConn::Sqlite(_) => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        DbConn::Postgres(_) => {
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()"
        }
    };
    names(conn, sql).into_iter().collect()
}

/// `table.column` of every foreign key whose columns do not lead some index.
fn unindexed_foreign_keys(conn: &mut DbConn) -> Vec<String> {
    let sql = match conn {
        DbConn::Sqlite(_) => {
            "SELECT m.name || '.' || f.\"from\" AS name
               FROM sqlite_master m, pragma_foreign_key_list(m.name) f
              WHERE m.type = 'table'
                AND NOT EXISTS (
                    SELECT 1 FROM pragma_index_list(m.name) il, pragma_index_info(il.name) ii
                     WHERE ii.seqno = 0 AND ii.name = f.\"from\")
                AND NOT EXISTS (
                    SELECT 1 FROM pragma_table_info(m.name) ti
                     WHERE ti.pk = 1 AND ti.name = f.\"from\")
              ORDER BY 1"
        }
        DbConn::Postgres(_) => {
            "SELECT c.conrelid::regclass::text || '.' || a.attname AS name
               FROM pg_constraint c
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
              WHERE c.contype = 'f'
                AND NOT EXISTS (
                    SELECT 1 FROM pg_index i
                     WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])
              ORDER BY 1"
        }
    };
    names(conn, sql)
}

/// The `name` column of every row `sql` returns.
fn names(conn: &mut DbConn, sql: &str) -> Vec<String> {
    diesel::sql_query(sql)
        .load::<Name>(conn)
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect()
}
