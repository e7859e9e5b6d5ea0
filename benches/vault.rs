//! The vault's unit of work: tokenize (validate, encrypt, fingerprint, durable insert)
//! and detokenize (read, decrypt, hand to a connector); and the CVC expiry that runs
//! every minute, on a vault that has stored many cards.
#![forbid(unsafe_code)]

use tessera_core::ports::{AuthorizationRequest, CardInput, CardVault, ThreeDSecure};
use tessera_crypto::random;
use zeroize::Zeroizing;

fn main() {
    divan::main();
}

fn card() -> CardInput {
    CardInput {
        number: Zeroizing::new("4242424242424242".to_owned()),
        exp_month: 12,
        exp_year: 2040,
        cvc: Some(Zeroizing::new("123".to_owned())),
    }
}

#[divan::bench(sample_count = 200)]
fn tokenize(bencher: divan::Bencher) {
    let dir = tempfile::tempdir().unwrap();
    let vault = tessera_benches::vault(dir.path());
    bencher.bench_local(|| {
        let pm = random::object_id("pm_");
        vault.tokenize("acct_bench", &pm, card()).unwrap()
    });
}

#[divan::bench(sample_count = 200)]
fn detokenize_for_authorization(bencher: divan::Bencher) {
    let dir = tempfile::tempdir().unwrap();
    let vault = tessera_benches::vault(dir.path());
    let mut no_cvc = card();
    no_cvc.cvc = None;
    vault.tokenize("acct_bench", "pm_bench", no_cvc).unwrap();
    let request = AuthorizationRequest {
        amount: 2000,
        currency: "usd".into(),
        three_d_secure: ThreeDSecure::Automatic,
        off_session: false,
        set_up_for_off_session: false,
        has_address_line1: false,
        has_postal_code: false,
        decline_on_cvc_failure: false,
        attempt: "pi_test/1".into(),
    };
    bencher.bench_local(|| vault.authorize("acct_bench", "pm_bench", &request).unwrap());
}

/// The CVC expiry (`erase_unused_cvcs`, every minute in `tessera serve`, under the
/// vault's write lock) on a vault that has stored `cards` cards, all charged (their CVCs
/// erased) but for ten checkouts still under way. Nothing is old enough to erase: the
/// time is that of finding so. The cards are written straight into the vault's table,
/// since only their CVC column and age matter here.
#[divan::bench(args = [100_000, 1_000_000], sample_count = 20)]
fn cvc_expiry(bencher: divan::Bencher, cards: usize) {
    let dir = tempfile::tempdir().unwrap();
    drop(tessera_benches::vault(dir.path()));
    let mut conn = rusqlite::Connection::open(dir.path().join("vault.db")).unwrap();
    let data_key: String = conn
        .query_row("SELECT id FROM data_keys LIMIT 1", [], |row| row.get(0))
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let tx = conn.transaction().unwrap();
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO cards (payment_method, account, data_key, pan_ct, cvc_ct, exp_month, exp_year, created_at) \
                 VALUES (?1, 'acct_bench', ?2, ?3, ?4, 12, 2040, ?5)",
            )
            .unwrap();
        for n in 0..cards {
            let under_way = n + 10 >= cards;
            let cvc: Option<&[u8]> = under_way.then_some(&[0u8; 31]);
            // A day of cards, oldest first, as payments would have made them.
            let created = now - 86_400 + (n as i64 * 86_400 / cards as i64);
            insert
                .execute(rusqlite::params![
                    random::object_id("pm_"),
                    data_key,
                    &[0u8; 44][..],
                    cvc,
                    created
                ])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    drop(conn);
    let vault = tessera_benches::vault(dir.path());
    bencher.bench_local(|| assert_eq!(vault.erase_unused_cvcs(3600).unwrap(), 0));
}
