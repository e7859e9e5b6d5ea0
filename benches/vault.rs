//! The vault's unit of work: tokenize (validate, encrypt, fingerprint, durable insert)
//! and detokenize (read, decrypt, hand to a connector).
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
