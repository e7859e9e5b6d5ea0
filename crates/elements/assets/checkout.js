// Tessera's hosted checkout page: the card fields are this page's own (card-frame.js
// formats and checks them); paying posts the card to this origin, which creates the
// PaymentMethod and confirms the session's PaymentIntent. Amounts never come from here.
(function () {
  'use strict';
  var form = document.getElementById('checkout');
  var button = document.getElementById('pay');
  var message = document.getElementById('message');
  var digits = function (s) { return s.replace(/\D/g, ''); };

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var exp = digits(document.getElementById('exp').value);
    var invalid = form.querySelector('[aria-invalid="true"]');
    if (invalid || exp.length !== 4 || !digits(document.getElementById('cvc').value)) {
      message.textContent = document.getElementById('error').textContent || 'Your card details are incomplete.';
      return;
    }
    var body = new URLSearchParams();
    body.append('card[number]', digits(document.getElementById('cardnumber').value));
    body.append('card[exp_month]', String(parseInt(exp.slice(0, 2), 10)));
    body.append('card[exp_year]', '20' + exp.slice(2));
    body.append('card[cvc]', digits(document.getElementById('cvc').value));
    ['name', 'email'].forEach(function (k) {
      var v = document.getElementById(k).value;
      if (v) { body.append('billing_details[' + k + ']', v); }
    });
    button.disabled = true;
    message.textContent = 'Processing…';
    fetch(form.getAttribute('action'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: body.toString(),
      credentials: 'omit',
      cache: 'no-store'
    }).then(function (r) { return r.json(); }).then(function (answer) {
      if (answer.redirect) {
        window.location.assign(answer.redirect);
        return;
      }
      message.textContent = answer.error || 'The payment could not be completed. Try again.';
      button.disabled = false;
    }, function () {
      message.textContent = 'Could not reach the payment service. Check your connection and try again.';
      button.disabled = false;
    });
  });
})();
