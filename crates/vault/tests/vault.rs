//! The vault's promises: encrypted at rest, records bound to their identity, keyed
//! fingerprints per account, CVC erased after authorization, rotation.

use std::sync::{Arc, Mutex};

use tessera_core::card::{CardChecks, CardRejection};
use tessera_core::ports::{
    Authorization, AuthorizationRequest, CardInput, CardVault, Decision, ThreeDSecure,
    TokenizeError,
};
use tessera_crypto::MasterKey;
use tessera_vault::{ChargeableCard, Connector, Vault};
use zeroize::Zeroizing;

/// Records what the vault lends it: whether a CVC was present.
#[derive(Default)]
struct Recorder {
    saw_cvc: Mutex<Vec<bool>>,
    require_authentication: bool,
}

impl Connector for Recorder {
    fn authorize(&self, card: &ChargeableCard<'_>, _: &AuthorizationRequest) -> Authorization {
        assert_eq!(card.number.last4(), "4242");
        self.saw_cvc.lock().unwrap().push(card.cvc.is_some());
        Authorization {
            decision: if self.require_authentication {
                Decision::AuthenticationRequired
            } else {
                Decision::Approved
            },
            checks: CardChecks::default(),
            three_d_secure: None,
            processor_data: String::new(),
        }
    }

    fn test_card_number(&self, alias: &str) -> Option<&'static str> {
        (alias == "pm_card_visa").then_some("4242424242424242")
    }
}

fn input(number: &str, cvc: Option<&str>) -> CardInput {
    CardInput {
        number: Zeroizing::new(number.to_owned()),
        exp_month: 12,
        exp_year: 2040,
        cvc: cvc.map(|c| Zeroizing::new(c.to_owned())),
    }
}

fn request() -> AuthorizationRequest {
    AuthorizationRequest {
        amount: 1000,
        currency: "usd".into(),
        three_d_secure: ThreeDSecure::Automatic,
        off_session: false,
        set_up_for_off_session: false,
        has_address_line1: false,
        has_postal_code: false,
        decline_on_cvc_failure: false,
        attempt: "pi_test/1".into(),
    }
}

fn master() -> MasterKey {
    MasterKey::parse(&"5a".repeat(32)).unwrap()
}

/// CVCs still held in the vault database under `dir`.
fn cvcs_held(dir: &std::path::Path) -> i64 {
    let db = rusqlite::Connection::open(dir.join("vault.db")).unwrap();
    db.query_row(
        "SELECT count(*) FROM cards WHERE cvc_ct IS NOT NULL",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

fn files_contain(dir: &std::path::Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|e| {
        let bytes = std::fs::read(e.unwrap().path()).unwrap_or_default();
        bytes.windows(needle.len()).any(|w| w == needle)
    })
}

#[test]
fn numbers_are_encrypted_at_rest_and_cvc_is_erased_after_authorization() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Arc::new(Recorder::default());
    let vault = Vault::open(&dir.path().join("vault.db"), &master(), recorder.clone()).unwrap();
    let facts = vault
        .tokenize("acct_1", "pm_1", input("4242 4242 4242 4242", Some("123")))
        .unwrap();
    assert_eq!(facts.last4, "4242");
    assert!(!files_contain(dir.path(), b"4242424242424242"));

    vault.authorize("acct_1", "pm_1", &request()).unwrap();
    vault.authorize("acct_1", "pm_1", &request()).unwrap();
    assert_eq!(
        *recorder.saw_cvc.lock().unwrap(),
        vec![true, false],
        "CVC must be gone after the first decision"
    );
    drop(vault);
    assert_eq!(cvcs_held(dir.path()), 0);
}

#[test]
fn cvcs_erased_while_other_cards_are_stored_are_erased_for_good() {
    // Under load an erasure joins the transaction of a card being stored and is
    // committed with it: no second authorization may see the CVC meanwhile, and none
    // may be left once the vault is closed.
    let dir = tempfile::tempdir().unwrap();
    let recorder = Arc::new(Recorder::default());
    let vault =
        Arc::new(Vault::open(&dir.path().join("vault.db"), &master(), recorder.clone()).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let vault = vault.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let pm = format!("pm_{t}_{i}");
                    vault
                        .tokenize("acct_1", &pm, input("4242424242424242", Some("123")))
                        .unwrap();
                    vault.authorize("acct_1", &pm, &request()).unwrap();
                    vault.authorize("acct_1", &pm, &request()).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let saw = recorder.saw_cvc.lock().unwrap().clone();
    assert_eq!(saw.len(), 400);
    assert_eq!(
        saw.iter().filter(|&&cvc| cvc).count(),
        200,
        "each CVC is lent once, to its first authorization"
    );
    drop(vault);
    assert_eq!(cvcs_held(dir.path()), 0);
}

#[test]
fn cvc_survives_a_pending_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Arc::new(Recorder {
        require_authentication: true,
        ..Default::default()
    });
    let vault = Vault::open(&dir.path().join("vault.db"), &master(), recorder.clone()).unwrap();
    vault
        .tokenize("acct_1", "pm_1", input("4242424242424242", Some("123")))
        .unwrap();
    vault.authorize("acct_1", "pm_1", &request()).unwrap();
    vault.authorize("acct_1", "pm_1", &request()).unwrap();
    assert_eq!(*recorder.saw_cvc.lock().unwrap(), vec![true, true]);
}

#[test]
fn a_card_is_only_usable_by_its_own_account_and_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.db");
    let vault = Vault::open(&path, &master(), Arc::new(Recorder::default())).unwrap();
    vault
        .tokenize("acct_1", "pm_1", input("4242424242424242", None))
        .unwrap();
    vault
        .tokenize("acct_1", "pm_2", input("4242424242424242", None))
        .unwrap();
    assert!(vault.authorize("acct_2", "pm_1", &request()).is_err());
    drop(vault);

    // Move pm_1's ciphertext onto pm_2: it must fail to decrypt there.
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute("UPDATE cards SET pan_ct = (SELECT pan_ct FROM cards WHERE payment_method = 'pm_1') WHERE payment_method = 'pm_2'", [])
        .unwrap();
    drop(db);
    let vault = Vault::open(&path, &master(), Arc::new(Recorder::default())).unwrap();
    assert!(vault.authorize("acct_1", "pm_1", &request()).is_ok());
    assert!(vault.authorize("acct_1", "pm_2", &request()).is_err());
}

#[test]
fn fingerprints_match_within_an_account_only() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::open(
        &dir.path().join("vault.db"),
        &master(),
        Arc::new(Recorder::default()),
    )
    .unwrap();
    let a1 = vault
        .tokenize("acct_a", "pm_1", input("4242424242424242", None))
        .unwrap();
    let a2 = vault
        .tokenize("acct_a", "pm_2", input("4242-4242-4242-4242", None))
        .unwrap();
    let b = vault
        .tokenize("acct_b", "pm_3", input("4242424242424242", None))
        .unwrap();
    assert_eq!(a1.fingerprint, a2.fingerprint);
    assert_ne!(a1.fingerprint, b.fingerprint);
}

#[test]
fn invalid_cards_are_rejected_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::open(
        &dir.path().join("vault.db"),
        &master(),
        Arc::new(Recorder::default()),
    )
    .unwrap();
    let reject = |card| match vault.tokenize("acct", "pm_x", card) {
        Err(TokenizeError::Rejected(r)) => r,
        other => panic!("expected a rejection, got {other:?}"),
    };
    assert_eq!(
        reject(input("4242424242424241", None)),
        CardRejection::IncorrectNumber
    );
    assert_eq!(
        reject(input("4242424242424242", Some("12"))),
        CardRejection::InvalidCvc
    );
    assert_eq!(
        reject(input("378282246310005", Some("123"))),
        CardRejection::InvalidCvc
    );
    let mut bad_month = input("4242424242424242", None);
    bad_month.exp_month = 13;
    assert_eq!(reject(bad_month), CardRejection::InvalidExpiryMonth);
    let mut past = input("4242424242424242", None);
    past.exp_year = 2001;
    assert_eq!(reject(past), CardRejection::InvalidExpiryYear);
}

#[test]
fn rotation_moves_every_record_to_the_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.db");
    let vault = Vault::open(&path, &master(), Arc::new(Recorder::default())).unwrap();
    vault
        .tokenize("acct_1", "pm_old", input("4242424242424242", Some("123")))
        .unwrap();
    let new_key = vault.rotate_data_key().unwrap();
    vault
        .tokenize("acct_1", "pm_new", input("4242424242424242", None))
        .unwrap();
    // Old data still decrypts under the retired key before re-encryption.
    assert!(vault.authorize("acct_1", "pm_old", &request()).is_ok());
    assert_eq!(vault.reencrypt().unwrap(), 1);
    assert_eq!(vault.reencrypt().unwrap(), 0);
    drop(vault);
    let db = rusqlite::Connection::open(&path).unwrap();
    let under_new: i64 = db
        .query_row(
            "SELECT count(*) FROM cards WHERE data_key = ?1",
            [&new_key],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(under_new, 2);
    // A wrong master key cannot open the vault.
    let wrong = MasterKey::parse(&"11".repeat(32)).unwrap();
    assert!(Vault::open(&path, &wrong, Arc::new(Recorder::default())).is_err());
}

#[test]
fn ready_made_test_cards_resolve_through_the_connector() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::open(
        &dir.path().join("vault.db"),
        &master(),
        Arc::new(Recorder::default()),
    )
    .unwrap();
    let facts = vault
        .tokenize_test_card("acct", "pm_1", "pm_card_visa")
        .unwrap()
        .unwrap();
    assert_eq!(facts.last4, "4242");
    assert!(
        vault
            .tokenize_test_card("acct", "pm_2", "pm_card_nonsense")
            .is_none()
    );
}

#[test]
fn unused_cvcs_expire() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::open(
        &dir.path().join("vault.db"),
        &master(),
        Arc::new(Recorder::default()),
    )
    .unwrap();
    vault
        .tokenize("acct_1", "pm_1", input("4242424242424242", Some("123")))
        .unwrap();
    assert_eq!(
        vault.erase_unused_cvcs(3600).unwrap(),
        0,
        "a fresh CVC is kept for its checkout"
    );
    assert_eq!(vault.erase_unused_cvcs(0).unwrap(), 1);
    drop(vault);
    assert_eq!(cvcs_held(dir.path()), 0);
}

#[test]
fn an_authorization_stands_when_the_cvc_cannot_be_erased_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Arc::new(Recorder::default());
    let vault = Vault::open(&dir.path().join("vault.db"), &master(), recorder.clone()).unwrap();
    vault
        .tokenize("acct_1", "pm_1", input("4242424242424242", Some("123")))
        .unwrap();
    // Another process holds the database's write lock for longer than the vault waits.
    let other = rusqlite::Connection::open(dir.path().join("vault.db")).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let authorization = vault.authorize("acct_1", "pm_1", &request()).unwrap();
    assert_eq!(
        authorization.decision,
        Decision::Approved,
        "the processor's answer is kept though the erasure failed"
    );
    assert_eq!(*recorder.saw_cvc.lock().unwrap(), [true]);
    other.execute_batch("ROLLBACK").unwrap();
    drop(other);
    // The CVC expiry erases what was left.
    assert_eq!(vault.erase_unused_cvcs(0).unwrap(), 1);
    drop(vault);
    assert_eq!(cvcs_held(dir.path()), 0);
}
