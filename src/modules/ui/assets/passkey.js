// Passkey sign-in for the hosted pages. Needs JavaScript (WebAuthn is a browser API): the button stays
// hidden without it. Gets options from the REST route, runs the ceremony with @simplewebauthn/browser
// (served from this origin as webauthn.js), and posts the result through the page's own form, so the
// server finishes the sign-in exactly as for the other methods (MFA step, redirect).
(function () {
  'use strict';
  var button = document.getElementById('passkey-button');
  var form = document.getElementById('passkey-form');
  var lib = window.SimpleWebAuthnBrowser;
  if (!button || !form || !lib || !window.PublicKeyCredential || !lib.browserSupportsWebAuthn()) return;
  var failed = document.getElementById('passkey-error');
  button.hidden = false;
  button.addEventListener('click', function () {
    button.disabled = true;
    if (failed) failed.hidden = true;
    fetch(form.getAttribute('data-options'), {
      method: 'POST', credentials: 'omit',
      headers: { 'content-type': 'application/json', 'x-tenant-id': form.getAttribute('data-tenant') },
      body: '{}',
    }).then(function (r) {
      if (!r.ok) throw new Error('options ' + r.status);
      return r.json();
    }).then(function (options) {
      return lib.startAuthentication({ optionsJSON: options });
    }).then(function (credential) {
      form.querySelector('input[name=credential]').value = JSON.stringify(credential);
      form.submit();
    }).catch(function () {
      button.disabled = false;
      if (failed) { failed.hidden = false; failed.focus(); }
    });
  });
})();
