//! Decoding Stripe's form encoding: a browser's PaymentMethod creation and a server's
//! PaymentIntent creation with nested options, expansion and metadata.
#![forbid(unsafe_code)]

fn main() {
    divan::main();
}

const PAYMENT_METHOD: &[u8] = b"type=card&card[number]=4242424242424242&card[exp_month]=12&card[exp_year]=2030&card[cvc]=123&billing_details[name]=Jenny+Rosen&billing_details[address][postal_code]=94107&key=pk_test_abc";

const PAYMENT_INTENT: &[u8] = b"amount=2000&currency=usd&payment_method=pm_123&confirm=true&capture_method=manual&payment_method_options[card][request_three_d_secure]=any&metadata[order_id]=6735&metadata[customer_ref]=A-17&expand[0]=latest_charge&expand[1]=payment_method&return_url=https%3A%2F%2Fshop.example%2Fdone";

#[divan::bench]
fn payment_method_create() -> usize {
    let mut p = tessera_api::form::decode("", divan::black_box(PAYMENT_METHOD)).unwrap();
    p.map("card").unwrap().map_or(0, |mut c| {
        c.string("number").unwrap().map_or(0, |n| n.len())
    })
}

#[divan::bench]
fn payment_intent_create() -> usize {
    let mut p =
        tessera_api::form::decode("expand%5B2%5D=customer", divan::black_box(PAYMENT_INTENT))
            .unwrap();
    p.strings("expand").unwrap().map_or(0, |e| e.len())
}
