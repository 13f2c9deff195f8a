// Account pages: the copy buttons and adding a passkey. Everything else on these pages works without
// JavaScript; these two need a browser API (clipboard, WebAuthn). Loaded with the response's CSP nonce.
(() => {
  'use strict';

  // Copy buttons: hidden until this script runs, so a browser without JavaScript shows no dead button.
  for (const button of document.querySelectorAll('button[data-copy]')) {
    const target = document.getElementById(button.dataset.copy);
    if (!target || !navigator.clipboard) continue;
    button.hidden = false;
    const label = button.textContent;
    button.addEventListener('click', async () => {
      const text = target.tagName === 'OL' || target.tagName === 'UL'
        ? [...target.querySelectorAll('li')].map((li) => li.textContent.trim()).join('\n')
        : target.textContent.trim();
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = button.dataset.copied;
        setTimeout(() => { button.textContent = label; }, 2000);
      } catch {
        // Clipboard refused (permissions): the text stays selectable on the page.
      }
    });
  }

  // Adding a passkey: options and verification go through the page's own form endpoints (CSRF token,
  // rate limits, the TOTP gate), and @simplewebauthn/browser runs the ceremony.
  const box = document.getElementById('passkey-add');
  const lib = window.SimpleWebAuthnBrowser;
  if (!box || !lib || !lib.browserSupportsWebAuthn()) return;
  box.hidden = false;
  const button = document.getElementById('passkey-add-button');
  const status = document.getElementById('passkey-add-status');
  const nameInput = box.querySelector('input[name=name]');
  const token = () => {
    const body = new URLSearchParams();
    for (const input of box.querySelectorAll('input[type=hidden]')) body.set(input.name, input.value);
    return body;
  };
  const post = async (url, body) => {
    const res = await fetch(url, { method: 'POST', credentials: 'same-origin', headers: { accept: 'application/json' }, body });
    const data = await res.json().catch(() => ({}));
    return { ok: res.ok, data };
  };
  button.addEventListener('click', async () => {
    button.disabled = true;
    status.textContent = status.dataset.working;
    try {
      const options = await post(button.dataset.options, token());
      if (options.data.location) { window.location.assign(options.data.location); return; }
      if (!options.ok) throw new Error(options.data.message || 'options');
      const credential = await lib.startRegistration({ optionsJSON: options.data.options });
      const body = token();
      body.set('credential', JSON.stringify(credential));
      if (nameInput && nameInput.value.trim()) body.set('name', nameInput.value.trim());
      const verified = await post(button.dataset.verify, body);
      if (verified.data.location) { window.location.assign(verified.data.location); return; }
      if (!verified.ok) throw new Error(verified.data.message || 'verify');
      status.textContent = status.dataset.added;
      window.location.assign(verified.data.next);
    } catch (err) {
      status.textContent = `${status.dataset.failed}${err && err.message && !/^(options|verify)$/.test(err.message) ? ` (${err.message})` : ''}`;
      button.disabled = false;
    }
  });
})();
