//! Signing a webhook delivery: HMAC-SHA256 over a typical event body.
#![forbid(unsafe_code)]

fn main() {
    divan::main();
}

#[divan::bench(args = [1, 2])]
fn sign_event(secrets: usize) -> String {
    let body = format!(
        "{{\"id\":\"evt_1\",\"object\":\"event\",\"data\":{{\"object\":{{{}}}}}}}",
        "\"k\":\"v\",".repeat(150)
    );
    let keys: Vec<&str> =
        ["whsec_first_secret_value", "whsec_second_secret_value"][..secrets].to_vec();
    tessera_crypto::webhook::header(&keys, divan::black_box(1_700_000_000), body.as_bytes())
}
