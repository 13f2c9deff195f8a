/**
 * The browser side of a WebAuthn ceremony, in the shape of `@simplewebauthn/browser`
 * (`startRegistration({optionsJSON})`, `startAuthentication({optionsJSON})`), so either that
 * package's functions or the defaults below (the browser's own JSON API, no dependency) can be passed.
 */
export type StartRegistration = (a: { optionsJSON: any }) => Promise<Record<string, unknown>>;
export type StartAuthentication = (a: { optionsJSON: any }) => Promise<Record<string, unknown>>;

interface PublicKeyCredentialStatics {
  parseCreationOptionsFromJSON?(o: unknown): CredentialCreationOptions['publicKey'];
  parseRequestOptionsFromJSON?(o: unknown): CredentialRequestOptions['publicKey'];
}

function webauthn(): { statics: PublicKeyCredentialStatics; credentials: CredentialsContainer } {
  const g = globalThis as unknown as { PublicKeyCredential?: PublicKeyCredentialStatics; navigator?: { credentials?: CredentialsContainer } };
  if (!g.PublicKeyCredential || !g.navigator?.credentials) {
    throw new TypeError('WebAuthn is not available here: pass startRegistration/startAuthentication (e.g. from @simplewebauthn/browser)');
  }
  if (!g.PublicKeyCredential.parseCreationOptionsFromJSON || !g.PublicKeyCredential.parseRequestOptionsFromJSON) {
    throw new TypeError('This browser lacks the WebAuthn JSON API: pass startRegistration/startAuthentication from @simplewebauthn/browser');
  }
  return { statics: g.PublicKeyCredential, credentials: g.navigator.credentials };
}

const toJSON = (c: Credential | null): Record<string, unknown> => {
  if (!c) throw new Error('The passkey ceremony was cancelled');
  return (c as unknown as { toJSON(): Record<string, unknown> }).toJSON();
};

/** navigator.credentials.create() from the server's options JSON; the credential as JSON. */
export const browserStartRegistration: StartRegistration = async ({ optionsJSON }) => {
  const w = webauthn();
  return toJSON(await w.credentials.create({ publicKey: w.statics.parseCreationOptionsFromJSON!(optionsJSON) }));
};

/** navigator.credentials.get() from the server's options JSON; the assertion as JSON. */
export const browserStartAuthentication: StartAuthentication = async ({ optionsJSON }) => {
  const w = webauthn();
  return toJSON(await w.credentials.get({ publicKey: w.statics.parseRequestOptionsFromJSON!(optionsJSON) }));
};
