// tessera.js: Tessera's browser library for merchant pages.
//
//   const tessera = Tessera('pk_test_…');
//   const card = tessera.elements().create('card', { style: { base: { fontSize: '16px' } } });
//   card.mount('#card-element');
//   card.on('change', (e) => { /* e.brand, e.complete, e.empty, e.error */ });
//   const { paymentIntent, error } = await tessera.confirmCardPayment(clientSecret, {
//     payment_method: { card, billing_details: { name: 'Jenny Rosen' } },
//   });
//
// The card fields are a frame served by Tessera's vault origin (the origin this script
// comes from). The card number and CVC are typed into that frame and sent from it to
// Tessera; this page only ever receives the brand, whether the fields are complete,
// error messages, and the resulting PaymentMethod or PaymentIntent.
(function () {
  'use strict';

  var script = document.currentScript;
  var VAULT = new URL(script && script.src ? script.src : window.location.href).origin;
  var nextRequest = 0;

  function TesseraError(message) {
    var e = new Error('Tessera: ' + message);
    e.name = 'TesseraError';
    return e;
  }

  function Tessera(publishableKey) {
    if (!(this instanceof Tessera)) { return new Tessera(publishableKey); }
    if (typeof publishableKey !== 'string' || !/^pk_(test|live)_[A-Za-z0-9]+$/.test(publishableKey)) {
      throw TesseraError('Tessera() needs your publishable key (pk_test_… or pk_live_…); never use a secret key in a browser.');
    }
    var key = publishableKey;
    var elements = [];
    var pending = {};
    var challengeDone = null;

    window.addEventListener('message', function (event) {
      // Messages count only from Tessera's own frames, on Tessera's origin.
      if (event.origin !== VAULT) { return; }
      var m = event.data;
      if (!m || typeof m !== 'object') { return; }
      if (m.type === 'tessera:3ds-done') {
        if (challengeDone) { challengeDone(); }
        return;
      }
      for (var i = 0; i < elements.length; i++) {
        if (elements[i]._frame && event.source === elements[i]._frame.contentWindow) {
          elements[i]._receive(m);
        }
      }
      if (m.type === 'tessera:result' && pending[m.req]) {
        var resolve = pending[m.req];
        delete pending[m.req];
        resolve(m.result);
      }
    });

    function CardElement(options) {
      this._options = options || {};
      this._handlers = {};
      this._frame = null;
      this._ready = null;
      var self = this;
      this._readyPromise = new Promise(function (resolve) { self._ready = resolve; });
    }

    CardElement.prototype.mount = function (target) {
      var container = typeof target === 'string' ? document.querySelector(target) : target;
      if (!container) { throw TesseraError('mount() found no element for ' + String(target)); }
      if (this._frame) { throw TesseraError('this card element is already mounted'); }
      var q = new URLSearchParams({ key: key, origin: window.location.origin });
      if (this._options.style) { q.set('style', JSON.stringify(this._options.style)); }
      var frame = document.createElement('iframe');
      frame.src = VAULT + '/elements/card?' + q.toString();
      frame.title = 'Secure card payment input';
      frame.setAttribute('allow', 'payment');
      frame.setAttribute('frameborder', '0');
      frame.setAttribute('scrolling', 'no');
      frame.style.border = 'none';
      frame.style.width = '100%';
      frame.style.height = (this._options.height || 176) + 'px';
      frame.style.colorScheme = 'normal';
      container.appendChild(frame);
      this._frame = frame;
      return this;
    };

    CardElement.prototype.unmount = function () {
      if (this._frame) { this._frame.remove(); this._frame = null; }
      return this;
    };

    CardElement.prototype.on = function (event, handler) {
      (this._handlers[event] = this._handlers[event] || []).push(handler);
      return this;
    };

    CardElement.prototype.focus = function () { this._post({ type: 'tessera:focus', req: -1 }); };
    CardElement.prototype.clear = function () { this._post({ type: 'tessera:clear', req: -1 }); };

    CardElement.prototype._emit = function (event, payload) {
      (this._handlers[event] || []).forEach(function (h) {
        try { h(payload); } catch (e) { setTimeout(function () { throw e; }); }
      });
    };

    CardElement.prototype._receive = function (m) {
      if (m.type === 'tessera:ready') { this._ready(); this._emit('ready', {}); }
      if (m.type === 'tessera:focus') { this._emit('focus', {}); }
      if (m.type === 'tessera:change') {
        this._emit('change', {
          elementType: 'card', brand: m.brand, complete: !!m.complete, empty: !!m.empty,
          error: m.error ? { message: String(m.error.message) } : undefined
        });
      }
    };

    CardElement.prototype._post = function (message) {
      var frame = this._frame;
      this._readyPromise.then(function () {
        if (frame && frame.contentWindow) { frame.contentWindow.postMessage(message, VAULT); }
      });
    };

    function ask(card, message) {
      if (!(card instanceof CardElement) || !card._frame) {
        return Promise.reject(TesseraError('pass a mounted card element (elements().create("card") then mount())'));
      }
      return new Promise(function (resolve) {
        var req = ++nextRequest;
        pending[req] = resolve;
        message.req = req;
        card._post(message);
      });
    }

    // The 3-D Secure challenge, in a modal frame over the page; resolves when the
    // shopper has answered it.
    function challenge(url) {
      return new Promise(function (resolve) {
        var overlay = document.createElement('div');
        overlay.setAttribute('role', 'dialog');
        overlay.setAttribute('aria-modal', 'true');
        overlay.setAttribute('aria-label', 'Authenticate your payment');
        overlay.style.cssText = 'position:fixed;inset:0;background:rgba(0,0,0,.45);display:flex;align-items:center;justify-content:center;z-index:2147483647';
        var frame = document.createElement('iframe');
        frame.src = url;
        frame.title = '3-D Secure authentication';
        frame.setAttribute('data-tessera', 'challenge');
        frame.style.cssText = 'width:min(420px,95vw);height:min(480px,90vh);border:0;border-radius:8px;background:#fff';
        overlay.appendChild(frame);
        document.body.appendChild(overlay);
        challengeDone = function () {
          challengeDone = null;
          overlay.remove();
          resolve();
        };
      });
    }

    var api = {
      elements: function () {
        return {
          create: function (type, options) {
            if (type !== 'card') { throw TesseraError('only the "card" element exists'); }
            var el = new CardElement(options);
            elements.push(el);
            return el;
          }
        };
      },

      createPaymentMethod: function (data) {
        if (!data || data.type !== 'card') { return Promise.reject(TesseraError('createPaymentMethod needs {type: "card", card: element}')); }
        return ask(data.card, { type: 'tessera:create-payment-method', billing_details: data.billing_details });
      },

      confirmCardPayment: function (clientSecret, data) {
        var pm = (data && data.payment_method) || {};
        var card = pm.card;
        var returnUrl = VAULT + '/3d_secure/done?origin=' + encodeURIComponent(window.location.origin);
        return ask(card, {
          type: 'tessera:confirm', clientSecret: clientSecret,
          billing_details: pm.billing_details, returnUrl: returnUrl
        }).then(function (r) {
          var pi = r.paymentIntent;
          if (r.error || !pi) { return { error: r.error, paymentIntent: pi }; }
          var next = pi.next_action;
          if (pi.status !== 'requires_action' || !next || next.type !== 'redirect_to_url') {
            return { paymentIntent: pi };
          }
          return challenge(next.redirect_to_url.url).then(function () {
            return ask(card, { type: 'tessera:retrieve', clientSecret: clientSecret });
          }).then(function (after) {
            var p = after.paymentIntent;
            if (after.error || !p) { return { error: after.error }; }
            if (p.status === 'requires_payment_method') {
              return {
                error: p.last_payment_error || {
                  type: 'card_error', code: 'payment_intent_authentication_failure',
                  message: 'We are unable to authenticate your payment method. Please choose a different payment method and try again.'
                },
                paymentIntent: p
              };
            }
            return { paymentIntent: p };
          });
        });
      },

      redirectToCheckout: function (options) {
        var id = options && options.sessionId;
        if (typeof id !== 'string' || !/^cs_(test|live)_[A-Za-z0-9]+$/.test(id)) {
          return Promise.resolve({ error: { type: 'invalid_request_error', message: 'redirectToCheckout needs {sessionId: "cs_…"}.' } });
        }
        window.location.assign(VAULT + '/checkout/' + id);
        return new Promise(function () {});
      }
    };
    return api;
  }

  window.Tessera = Tessera;
})();
