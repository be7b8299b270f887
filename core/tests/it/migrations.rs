//! Migrations: a landed migration is never edited (an installation that ran it recorded its
//! checksum, and sqlx refuses to start when the file says otherwise), and every table with an
//! `updated_at` keeps it by the one trigger.

use std::collections::BTreeMap;

/// `version sha384` of every landed migration, one per line.
const LANDED: &str = include_str!("landed_migrations.txt");

#[test]
fn landed_migrations_are_never_edited() {
    let landed: BTreeMap<i64, &str> = LANDED
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (version, sum) = l.split_once(' ').expect("a line is `version checksum`");
            (version.parse().expect("a version is a number"), sum.trim())
        })
        .collect();
    let mut new = Vec::new();
    for m in slipway_core::db::MIGRATOR.iter() {
        let sum = hex::encode(&m.checksum);
        match landed.get(&m.version) {
            Some(&was) => assert_eq!(
                was, sum,
                "migration {} ({}) was edited after it landed: undo the edit and put the change \
                 in a new migration",
                m.version, m.description
            ),
            None => new.push(format!("{} {sum}", m.version)),
        }
    }
    for version in landed.keys() {
        assert!(
            slipway_core::db::MIGRATOR
                .iter()
                .any(|m| m.version == *version),
            "landed migration {version} is gone"
        );
    }
    assert!(
        new.is_empty(),
        "new migrations: add them to core/tests/it/landed_migrations.txt:\n{}",
        new.join("\n")
    );
}

#[tokio::test]
async fn every_updated_at_is_kept_by_the_trigger() {
    let core = testkit::fresh_core().await;
    let untended: Vec<String> = sqlx::query_scalar(
        "select c.table_name::text from information_schema.columns c
         where c.table_schema = 'public' and c.column_name = 'updated_at'
           and not exists (
             select 1 from information_schema.triggers t
             where t.event_object_table = c.table_name and t.trigger_name = 'set_updated_at'
               and t.event_manipulation = 'UPDATE')
         order by 1",
    )
    .fetch_all(core.pool())
    .await
    .unwrap();
    assert!(
        untended.is_empty(),
        "tables without the set_updated_at trigger: {untended:?}"
    );

    // It moves on an update that does not name it.
    let set: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "insert into orgs (id, name, updated_at) values (gen_random_uuid(), 'trigger-test', now() - interval '1 hour')
         returning updated_at",
    )
    .fetch_one(core.pool())
    .await
    .unwrap();
    let moved: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "update orgs set name = 'trigger-test-2' where name = 'trigger-test' returning updated_at",
    )
    .fetch_one(core.pool())
    .await
    .unwrap();
    assert!(
        moved > set + chrono::Duration::minutes(59),
        "{set} -> {moved}"
    );
}
