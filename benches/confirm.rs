//! A PaymentIntent created and confirmed through the API pipeline without HTTP:
//! authentication, idempotency, vault authorization, simulator, charge and events,
//! each commit durable.
#![forbid(unsafe_code)]

fn main() {
    divan::main();
}

#[divan::bench(sample_count = 100)]
fn create_and_confirm(bencher: divan::Bencher) {
    let gateway = tessera_benches::gateway();
    let pm = tessera_benches::id_of(&gateway.post(
        "/v1/payment_methods",
        "type=card&card[number]=4242424242424242&card[exp_month]=12&card[exp_year]=2040",
    ));
    let body = format!("amount=2000&currency=usd&payment_method={pm}&confirm=true");
    bencher.bench_local(|| gateway.post("/v1/payment_intents", &body));
}
