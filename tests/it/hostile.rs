//! Hostile input by machine, against the running proxy: seeded random bytes before login, and random command
//! packets after it (unknown command bytes, truncated and malformed bodies, invalid UTF-8). Every one gets an
//! answer or a closed connection within a bound — never a hang — and the proxy keeps serving, with no session
//! left behind. `STARDUST_HOSTILE_SEED` replays a run, `STARDUST_HOSTILE_CASES` sets its length (default 200).

use std::time::Duration;

use mysql_async::prelude::Queryable;

use crate::raw::RawClient;
use crate::support::{Proxy, Random, TENANT_1};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn bytes(random: &mut Random, max: u64) -> Vec<u8> {
    let len = random.below(max + 1);
    (0..len).map(|_| random.next() as u8).collect()
}

/// Reads one command's whole answer; false when the server closed the connection.
async fn answer(client: &mut RawClient, command: u8) -> bool {
    let Some(first) = client.read().await else {
        return false;
    };
    // OK, ERR, EOF, and COM_STATISTICS's one-packet text are whole answers; anything else opens a result set,
    // read to its terminator (the client asked for CLIENT_DEPRECATE_EOF: one OK packet headed 0xFE).
    if matches!(first.first(), Some(0x00 | 0xFF | 0xFE)) || command == 0x09 {
        return true;
    }
    while let Some(packet) = client.read().await {
        if matches!(packet.first(), Some(0xFF))
            || (packet.first() == Some(&0xFE) && packet.len() < 0xFF_FFFF)
        {
            return true;
        }
    }
    false
}

/// A bound on a hang, not a synchronisation: a stuck session fails the test here instead of stalling it.
async fn bounded<T>(what: &str, work: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), work)
        .await
        .unwrap_or_else(|_| panic!("no answer within 30 s: {what}"))
}

#[tokio::test]
async fn random_bytes_before_and_after_login_get_answers_and_the_proxy_keeps_serving() {
    let seed = setting("STARDUST_HOSTILE_SEED", 18);
    let cases = setting("STARDUST_HOSTILE_CASES", 200);
    let mut random = Random(seed.max(1));
    let proxy = Proxy::start().await;

    for case in 0..cases {
        let what = format!("seed {seed} case {case}");
        if random.chance(30) {
            // Before login: a packet header with any length and sequence, or none, then garbage; then hang up.
            let (mut client, _) = RawClient::connect(proxy.address).await;
            let garbage = bytes(&mut random, 200);
            if random.chance(50) {
                client.write(random.below(4) as u8, &garbage).await;
                // A whole packet is answered (an error, or an auth switch) or the connection closes.
                let _ = bounded(&what, client.read()).await;
            } else {
                // Unframed bytes may leave the proxy waiting for the rest of a packet: until the client hangs
                // up, or its 10-second login timeout.
                client.write_raw(&garbage).await;
            }
            continue;
        }
        let mut client = RawClient::login(proxy.address, TENANT_1).await;
        for _ in 0..random.below(8) + 1 {
            let command = *random.pick(&[
                0x00, 0x02, 0x03, 0x03, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0C, 0x0E,
                0x11, 0x12, 0x16, 0x16, 0x17, 0x17, 0x1A, 0x1B, 0x1C, 0x1D, 0x1F, 0x20, 0x7F, 0xFE,
                0xFF,
            ]);
            let mut payload = vec![command];
            match command {
                // COM_QUERY: invalid UTF-8 or SQL-ish noise.
                0x03 if random.chance(50) => payload.extend_from_slice(
                    random
                        .pick(&[
                            "SELECT 1".as_bytes(),
                            b"SELECT \xff\xfe",
                            b"SELECT * FROM entry_data",
                            b"SELEC",
                            b"",
                            b"/*",
                            b"SELECT '",
                        ])
                        .as_ref(),
                ),
                // COM_STMT_EXECUTE / RESET / FETCH / KILL: a statement or connection id, then noise.
                0x17 | 0x1A | 0x1C | 0x0C => {
                    payload.extend_from_slice(
                        &(random.below(3) as u32).to_le_bytes()[..random.below(5) as usize],
                    );
                    payload.extend(bytes(&mut random, 40));
                }
                _ => payload.extend(bytes(&mut random, 60)),
            }
            client.command(&payload).await;
            if !bounded(&what, answer(&mut client, command)).await {
                break;
            }
        }
    }

    // The proxy serves on, and no session of the hostile clients outlives its connection.
    let mut conn = proxy.tenant(1).await;
    assert_eq!(
        conn.query_first::<i64, _>("SELECT 42").await.unwrap(),
        Some(42)
    );
    for _ in 0..3000 {
        if proxy.state.sessions.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        proxy.state.sessions.len(),
        1,
        "only the last client's session is left"
    );
}
