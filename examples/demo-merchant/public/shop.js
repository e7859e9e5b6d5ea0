// The demo shop's page script: mounts Tessera's card fields and pays with tessera.js.
'use strict';

const config = JSON.parse(document.getElementById('config').textContent);
const tessera = Tessera(config.publishableKey);
const card = tessera.elements().create('card', { style: { base: { fontSize: '16px' } } });
card.mount('#card-element');

const message = document.getElementById('message');
const button = document.getElementById('pay');

function show(state, text) {
  message.dataset.state = state;
  message.textContent = text;
}

card.on('change', (event) => {
  if (event.error) {
    show('invalid', event.error.message);
  } else if (message.dataset.state === 'invalid') {
    show('', '');
  }
  button.dataset.brand = event.brand;
});

document.getElementById('pay-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  button.disabled = true;
  show('working', 'Processing…');
  try {
    const product = document.getElementById('product').value;
    const created = await fetch('/create-payment-intent', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ product }),
    }).then((r) => r.json());
    if (!created.clientSecret) {
      show('error', created.error || 'Could not start the payment.');
      return;
    }
    const { paymentIntent, error } = await tessera.confirmCardPayment(created.clientSecret, {
      payment_method: { card, billing_details: { name: document.getElementById('name').value } },
    });
    if (error) {
      show('error', error.message);
      return;
    }
    // Confirmed in the browser; the shop believes it only once its server has checked.
    const verified = await fetch(`/verify?payment_intent=${encodeURIComponent(paymentIntent.id)}`).then((r) => r.json());
    if (verified.status === 'succeeded') {
      show('succeeded', `Payment succeeded: ${verified.id}`);
      message.dataset.paymentIntent = verified.id;
    } else {
      show('error', `Payment ${verified.status}.`);
    }
  } finally {
    button.disabled = false;
  }
});
