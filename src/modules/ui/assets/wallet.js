// Solana wallet sign-in for the hosted pages, shown only when a wallet with signMessage is present
// (Phantom, Solflare, Backpack inject window.solana / window.phantom.solana). Gets a challenge from the
// REST route, has the wallet sign its exact text, and posts {publicKey, signature} through the page's form.
(function () {
  'use strict';
  var button = document.getElementById('wallet-button');
  var form = document.getElementById('wallet-form');
  var wallet = (window.phantom && window.phantom.solana) || window.solflare || window.solana;
  if (!button || !form || !wallet || typeof wallet.signMessage !== 'function' || typeof wallet.connect !== 'function') return;
  var failed = document.getElementById('wallet-error');
  var ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
  function base58(bytes) {
    var digits = [0];
    for (var i = 0; i < bytes.length; i++) {
      var carry = bytes[i];
      for (var j = 0; j < digits.length; j++) { carry += digits[j] << 8; digits[j] = carry % 58; carry = (carry / 58) | 0; }
      while (carry) { digits.push(carry % 58); carry = (carry / 58) | 0; }
    }
    var out = '';
    for (var k = 0; k < bytes.length && bytes[k] === 0; k++) out += '1';
    for (var m = digits.length - 1; m >= 0; m--) out += ALPHABET[digits[m]];
    return out;
  }
  button.hidden = false;
  button.addEventListener('click', function () {
    button.disabled = true;
    if (failed) failed.hidden = true;
    var publicKey;
    Promise.resolve(wallet.connect()).then(function (c) {
      var pk = (c && c.publicKey) || wallet.publicKey;
      publicKey = typeof pk === 'string' ? pk : pk.toBase58();
      return fetch(form.getAttribute('data-challenge'), {
        method: 'POST', credentials: 'omit',
        headers: { 'content-type': 'application/json', 'x-tenant-id': form.getAttribute('data-tenant') },
        body: JSON.stringify({ publicKey: publicKey }),
      });
    }).then(function (r) {
      if (!r.ok) throw new Error('challenge ' + r.status);
      return r.json();
    }).then(function (ch) {
      return wallet.signMessage(new TextEncoder().encode(ch.message), 'utf8');
    }).then(function (signed) {
      var sig = signed && signed.signature ? signed.signature : signed;
      form.querySelector('input[name=publicKey]').value = publicKey;
      form.querySelector('input[name=signature]').value = base58(new Uint8Array(sig));
      form.submit();
    }).catch(function () {
      button.disabled = false;
      if (failed) { failed.hidden = false; failed.focus(); }
    });
  });
})();
