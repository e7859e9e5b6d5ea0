// Tessera card fields: runs inside the card-fields frame on the vault origin. The card
// number, expiry and CVC live only in this frame; they are sent from here to the vault
// origin's API and never to the merchant's page, which only hears brand, completeness
// and error messages.
(function () {
  'use strict';

  var params = new URLSearchParams(window.location.search);
  var key = params.get('key') || '';
  var parentOrigin = params.get('origin') || '';
  var $ = function (id) { return document.getElementById(id); };
  var number = $('cardnumber');
  var expiry = $('exp');
  var cvc = $('cvc');
  var brandLabel = $('brand');
  var errorLine = $('error');

  var BRANDS = [
    ['amex', /^3[47]/, [4, 6, 5], 15, 4],
    ['diners', /^(36|30[0-5]|38|39)/, [4, 6, 4], 14, 3],
    ['discover', /^(6011|65|64[4-9])/, [4, 4, 4, 4], 16, 3],
    ['jcb', /^35/, [4, 4, 4, 4], 16, 3],
    ['unionpay', /^62/, [4, 4, 4, 4], 16, 3],
    ['mastercard', /^(5[1-5]|222[1-9]|22[3-9]|2[3-6]|27[01]|2720)/, [4, 4, 4, 4], 16, 3],
    ['visa', /^4/, [4, 4, 4, 4], 16, 3]
  ];
  var BRAND_NAMES = {
    amex: 'American Express', diners: 'Diners Club', discover: 'Discover', jcb: 'JCB',
    unionpay: 'UnionPay', mastercard: 'Mastercard', visa: 'Visa', unknown: ''
  };

  function digits(s) { return s.replace(/\D/g, ''); }

  function brandOf(d) {
    for (var i = 0; i < BRANDS.length; i++) {
      if (BRANDS[i][1].test(d)) {
        return { name: BRANDS[i][0], groups: BRANDS[i][2], length: BRANDS[i][3], cvc: BRANDS[i][4] };
      }
    }
    return { name: 'unknown', groups: [4, 4, 4, 4, 3], length: 16, cvc: 3 };
  }

  function luhn(d) {
    var sum = 0;
    for (var i = 0; i < d.length; i++) {
      var n = d.charCodeAt(d.length - 1 - i) - 48;
      if (i % 2 === 1) { n *= 2; if (n > 9) { n -= 9; } }
      sum += n;
    }
    return d.length >= 12 && sum % 10 === 0;
  }

  function format(d, groups) {
    var out = [];
    var at = 0;
    for (var i = 0; i < groups.length && at < d.length; i++) {
      out.push(d.slice(at, at + groups[i]));
      at += groups[i];
    }
    if (at < d.length) { out.push(d.slice(at)); }
    return out.join(' ');
  }

  function post(message) {
    if (parentOrigin) { window.parent.postMessage(message, parentOrigin); }
  }

  // What each field says about itself: null when complete, '' when incomplete but
  // not wrong (yet), or an error message.
  function numberState() {
    var d = digits(number.value);
    var b = brandOf(d);
    if (!d) { return ''; }
    if (d.length < b.length && d.length < 19) { return ''; }
    return luhn(d) ? null : 'Your card number is invalid.';
  }

  function expiryState(final) {
    var d = digits(expiry.value);
    if (!d) { return ''; }
    var month = parseInt(d.slice(0, 2), 10);
    if (d.length >= 2 && (month < 1 || month > 12)) { return "Your card's expiration month is invalid."; }
    if (d.length < 4) { return final ? 'Your card\'s expiration date is incomplete.' : ''; }
    var year = 2000 + parseInt(d.slice(2, 4), 10);
    var now = new Date();
    var nowMonth = now.getUTCFullYear() * 12 + now.getUTCMonth() + 1;
    if (year * 12 + month < nowMonth) { return "Your card's expiration year is in the past."; }
    return null;
  }

  function cvcState(final) {
    var d = digits(cvc.value);
    var want = brandOf(digits(number.value)).cvc;
    if (!d) { return ''; }
    if (d.length < want) { return final ? "Your card's security code is incomplete." : ''; }
    return d.length === want ? null : "Your card's security code is invalid.";
  }

  var last = '';
  function report(final) {
    var d = digits(number.value);
    var brand = brandOf(d).name;
    var states = [numberState(), expiryState(final), cvcState(final)];
    var fields = [number, expiry, cvc];
    var message = '';
    for (var i = 0; i < states.length; i++) {
      var wrong = typeof states[i] === 'string' && states[i] !== '';
      fields[i].setAttribute('aria-invalid', wrong ? 'true' : 'false');
      if (wrong && !message) { message = states[i]; }
    }
    errorLine.textContent = message;
    brandLabel.textContent = BRAND_NAMES[brand] || '';
    brandLabel.setAttribute('data-brand', brand);
    var change = {
      type: 'tessera:change',
      brand: brand,
      empty: !d && !digits(expiry.value) && !digits(cvc.value),
      complete: states[0] === null && states[1] === null && states[2] === null,
      error: message ? { message: message } : null
    };
    var summary = JSON.stringify(change);
    if (summary !== last) { last = summary; post(change); }
  }

  number.addEventListener('input', function () {
    var d = digits(number.value);
    var b = brandOf(d);
    d = d.slice(0, b.name === 'unknown' ? 19 : b.length);
    number.value = format(d, b.groups);
    report(false);
    if (d.length === b.length && luhn(d)) { expiry.focus(); }
  });
  expiry.addEventListener('input', function () {
    var d = digits(expiry.value).slice(0, 4);
    if (d.length === 1 && d > '1') { d = '0' + d; }
    expiry.value = d.length > 2 ? d.slice(0, 2) + ' / ' + d.slice(2) : d;
    report(false);
    if (d.length === 4 && expiryState(true) === null) { cvc.focus(); }
  });
  cvc.addEventListener('input', function () {
    cvc.value = digits(cvc.value).slice(0, 4);
    report(false);
  });
  [number, expiry, cvc].forEach(function (f) {
    f.addEventListener('blur', function () { report(true); });
    f.addEventListener('focus', function () { post({ type: 'tessera:focus' }); });
  });

  // The merchant's style for the inputs, from a small allow-list of properties.
  try {
    var style = JSON.parse(params.get('style') || '{}');
    var base = style.base || {};
    var allowed = { color: 'color', fontSize: 'fontSize', fontFamily: 'fontFamily', backgroundColor: 'backgroundColor' };
    [number, expiry, cvc].forEach(function (f) {
      Object.keys(allowed).forEach(function (k) {
        if (typeof base[k] === 'string' && base[k].length < 100) { f.style[allowed[k]] = base[k]; }
      });
    });
  } catch (e) { /* no style */ }

  function form(fields) {
    var body = new URLSearchParams();
    Object.keys(fields).forEach(function (k) {
      if (fields[k] !== undefined && fields[k] !== null && fields[k] !== '') { body.append(k, String(fields[k])); }
    });
    return body;
  }

  function billing(body, details) {
    if (!details || typeof details !== 'object') { return; }
    ['name', 'email', 'phone'].forEach(function (k) {
      if (typeof details[k] === 'string') { body.append('billing_details[' + k + ']', details[k]); }
    });
    var a = details.address;
    if (a && typeof a === 'object') {
      ['line1', 'line2', 'city', 'state', 'postal_code', 'country'].forEach(function (k) {
        if (typeof a[k] === 'string') { body.append('billing_details[address][' + k + ']', a[k]); }
      });
    }
  }

  function call(method, path, body) {
    return fetch(path, {
      method: method,
      headers: method === 'POST' ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {},
      body: method === 'POST' ? body.toString() : undefined,
      credentials: 'omit',
      cache: 'no-store'
    }).then(function (r) {
      return r.json().then(function (json) { return { ok: r.ok, json: json }; });
    }, function () {
      return { ok: false, json: { error: { type: 'api_connection_error', message: 'Could not reach the payment service. Check your connection and try again.' } } };
    });
  }

  function createPaymentMethod(details) {
    report(true);
    var e = [numberState(), expiryState(true), cvcState(true)];
    var incomplete = e.filter(function (s) { return s !== null; });
    if (incomplete.length) {
      var message = incomplete.filter(function (s) { return s; })[0] || 'Your card details are incomplete.';
      return Promise.resolve({ error: { type: 'validation_error', code: 'incomplete', message: message } });
    }
    var exp = digits(expiry.value);
    var body = form({
      type: 'card',
      'card[number]': digits(number.value),
      'card[exp_month]': String(parseInt(exp.slice(0, 2), 10)),
      'card[exp_year]': '20' + exp.slice(2, 4),
      'card[cvc]': digits(cvc.value),
      key: key
    });
    billing(body, details);
    return call('POST', '/v1/payment_methods', body).then(function (r) {
      return r.ok ? { paymentMethod: r.json } : { error: r.json.error };
    });
  }

  function intentId(secret) {
    var m = /^(pi_[A-Za-z0-9]+)_secret_[A-Za-z0-9]+$/.exec(secret || '');
    return m ? m[1] : null;
  }

  function confirm(secret, details, returnUrl) {
    var id = intentId(secret);
    if (!id) { return Promise.resolve({ error: { type: 'invalid_request_error', message: 'Invalid client secret.' } }); }
    return createPaymentMethod(details).then(function (created) {
      if (created.error) { return created; }
      var body = form({ client_secret: secret, key: key, payment_method: created.paymentMethod.id, return_url: returnUrl });
      return call('POST', '/v1/payment_intents/' + id + '/confirm', body).then(function (r) {
        if (r.ok) { return { paymentIntent: r.json }; }
        return { error: r.json.error, paymentIntent: r.json.error && r.json.error.payment_intent };
      });
    });
  }

  function retrieve(secret) {
    var id = intentId(secret);
    if (!id) { return Promise.resolve({ error: { type: 'invalid_request_error', message: 'Invalid client secret.' } }); }
    var q = new URLSearchParams({ client_secret: secret, key: key });
    return call('GET', '/v1/payment_intents/' + id + '?' + q.toString()).then(function (r) {
      return r.ok ? { paymentIntent: r.json } : { error: r.json.error };
    });
  }

  window.addEventListener('message', function (event) {
    // Only the page this frame was mounted for may ask it anything.
    if (event.origin !== parentOrigin || event.source !== window.parent) { return; }
    var m = event.data;
    if (!m || typeof m !== 'object' || typeof m.req !== 'number') { return; }
    var work;
    if (m.type === 'tessera:create-payment-method') {
      work = createPaymentMethod(m.billing_details);
    } else if (m.type === 'tessera:confirm') {
      work = confirm(m.clientSecret, m.billing_details, m.returnUrl);
    } else if (m.type === 'tessera:retrieve') {
      work = retrieve(m.clientSecret);
    } else if (m.type === 'tessera:focus') {
      number.focus();
      return;
    } else if (m.type === 'tessera:clear') {
      number.value = expiry.value = cvc.value = '';
      report(false);
      return;
    } else {
      return;
    }
    work.then(function (result) {
      post({ type: 'tessera:result', req: m.req, result: result });
    });
  });

  post({ type: 'tessera:ready' });
})();
