// Shown in the 3-D Secure frame once the shopper has answered the challenge: tells the
// merchant page (tessera.js, which opened the frame) that it can look at the result.
(function () {
  'use strict';
  var origin = new URLSearchParams(window.location.search).get('origin');
  if (origin && window.parent !== window) {
    window.parent.postMessage({ type: 'tessera:3ds-done' }, origin);
  }
})();
