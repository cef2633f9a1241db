//! COM_FIELD_LIST: a model table's fields answered byte for byte as the backend answers for a native table with the
//! same columns; a native table's (for admins) as the backend answers; refusals with an error, the session going on.

use mysql_async::prelude::Queryable;

use crate::raw::{RawClient, Reply};
use crate::support::{direct, fresh_database, Proxy, ADMIN, TENANT_1};

const COLUMNS: &str =
    "name VARCHAR(64) NOT NULL DEFAULT 'x', n INT, score DECIMAL(10,2) NOT NULL, \
                       born DATE, note TEXT, at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP";

/// Sends COM_FIELD_LIST and returns every packet of the answer, the terminator included.
async fn field_list(raw: &mut RawClient, table: &str, wildcard: &str) -> Vec<Vec<u8>> {
    let mut command = vec![0x04];
    command.extend_from_slice(table.as_bytes());
    command.push(0);
    command.extend_from_slice(wildcard.as_bytes());
    raw.command(&command).await;
    let mut packets = Vec::new();
    loop {
        let packet = raw.read().await.expect("an answer");
        let last = matches!(packet.first(), Some(0xFE | 0xFF)) && packet.len() < 0xFF_FFFF;
        packets.push(packet);
        if last {
            return packets;
        }
    }
}

/// A raw client logged in to the backend directly, in `database`, as a user made for it.
async fn direct_raw(database: &str) -> RawClient {
    let user = format!("u{}", &database[2..14]);
    let mut root = direct(None).await;
    root.query_drop(format!(
        "CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY 'pw'"
    ))
    .await
    .unwrap();
    root.query_drop(format!("GRANT ALL ON *.* TO '{user}'@'%'"))
        .await
        .unwrap();
    let address = crate::support::backend()
        .root_url
        .rsplit('@')
        .next()
        .expect("a host in the backend URL")
        .parse()
        .expect("an address");
    let mut raw = RawClient::login(address, (&user, "pw")).await;
    let mut use_db = vec![0x02];
    use_db.extend_from_slice(database.as_bytes());
    raw.command(&use_db).await;
    assert_eq!(raw.reply().await, Reply::Ok);
    raw
}

#[tokio::test]
async fn a_model_table_lists_its_fields_as_its_native_twin_does() {
    let proxy = Proxy::start().await;
    let mut tenant = proxy.tenant(1).await;
    tenant
        .query_drop(format!("CREATE TABLE model_item ({COLUMNS}, INDEX (name))"))
        .await
        .unwrap();
    let native = fresh_database().await;
    direct(Some(&native))
        .await
        .query_drop(format!(
            "CREATE TABLE model_item (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, {COLUMNS}, \
             created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, INDEX (name)) DEFAULT CHARSET=utf8mb4"
        ))
        .await
        .unwrap();
    let mut theirs = direct_raw(&native).await;
    let mut ours = RawClient::login(proxy.address, TENANT_1).await;
    for wildcard in ["", "n%", "SCORE", "nothing"] {
        let expected = field_list(&mut theirs, "model_item", wildcard).await;
        let through = field_list(&mut ours, "model_item", wildcard).await;
        // Both databases are named t_ and 32 hex digits, so the bytes line up once the name is swapped.
        let through: Vec<Vec<u8>> = through
            .into_iter()
            .map(|p| swap(&p, proxy.database.as_bytes(), native.as_bytes()))
            .collect();
        assert_eq!(
            through.len(),
            expected.len(),
            "{wildcard:?}: {through:?} vs {expected:?}"
        );
        // The terminator's status flags are the session's; the definitions must be identical.
        let n = expected.len() - 1;
        assert_eq!(through[..n], expected[..n], "{wildcard:?}");
        assert_eq!(through[n][0], 0xFE);
    }
    assert_eq!(field_list(&mut ours, "model_item", "").await.len(), 10);
}

fn swap(packet: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    match packet.windows(from.len()).position(|w| w == from) {
        Some(at) => [&packet[..at], to, &packet[at + from.len()..]].concat(),
        None => packet.to_vec(),
    }
}

#[tokio::test]
async fn an_admin_lists_a_native_tables_fields_as_the_backend_does() {
    let proxy = Proxy::start().await;
    let mut admin = proxy.admin().await;
    admin
        .query_drop(format!(
            "CREATE TABLE plain (id INT NOT NULL PRIMARY KEY, {COLUMNS}, kind ENUM('a','b') NOT NULL, \
             t TIME(2) NOT NULL, blob_col BLOB)"
        ))
        .await
        .unwrap();
    let mut theirs = direct_raw(&proxy.database).await;
    let mut ours = RawClient::login(proxy.address, ADMIN).await;
    for wildcard in ["", "%e"] {
        let expected = field_list(&mut theirs, "plain", wildcard).await;
        let through = field_list(&mut ours, "plain", wildcard).await;
        let n = expected.len() - 1;
        assert_eq!(through.len(), expected.len(), "{wildcard:?}");
        assert_eq!(through[..n], expected[..n], "{wildcard:?}");
    }
    // A table that is not there: the backend's own error.
    let missing = field_list(&mut ours, "nowhere", "").await;
    assert_eq!(u16::from_le_bytes([missing[0][1], missing[0][2]]), 1146);
}

#[tokio::test]
async fn a_tenant_lists_no_backend_table_and_bad_requests_are_refused() {
    let proxy = Proxy::start().await;
    let mut raw = RawClient::login(proxy.address, TENANT_1).await;
    for table in ["entry_data", "stardust_models", "nowhere"] {
        let answer = field_list(&mut raw, table, "").await;
        assert_eq!(answer.len(), 1, "{table}: only an error");
        assert_eq!(
            u16::from_le_bytes([answer[0][1], answer[0][2]]),
            1146,
            "{table}"
        );
    }
    raw.command(&[0x04, b't']).await;
    assert!(
        matches!(raw.reply().await, Reply::Err(1210, _)),
        "no NUL after the table"
    );
    assert!(
        matches!(raw.query(b"SELECT 1").await, Reply::Other(_)),
        "the session goes on"
    );
}
