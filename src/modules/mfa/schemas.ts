import { z } from 'zod';
import { RECOVERY_CODE_INPUT } from './recovery-codes.js';
import { CHALLENGE_RE, MFA_TOKEN_RE } from './kv-store.js';

export const TotpCode = z.string().regex(/^\d{6}$/, 'must be the 6-digit code shown by the authenticator app')
  .describe('6-digit TOTP code (RFC 6238, SHA-1, 30 s); send it as a string to keep leading zeros');
export const RecoveryCode = z.string().regex(RECOVERY_CODE_INPUT, 'must be a recovery code such as ABCD-EFGH-JKMN-PQRS')
  .describe('one of the recovery codes shown at /mfa/enable (XXXX-XXXX-XXXX-XXXX; case and hyphens ignored)');
const TotpOrRecoveryCode = z.string().refine((s) => /^\d{6}$/.test(s) || RECOVERY_CODE_INPUT.test(s), 'must be a 6-digit TOTP code or a recovery code (XXXX-XXXX-XXXX-XXXX)')
  .describe('a 6-digit TOTP code or a recovery code');

export const CodeBody = z.object({ code: TotpCode }).strict().meta({ id: 'MfaCodeBody' });
export const RecoveryBody = z.object({ code: RecoveryCode }).strict().meta({ id: 'MfaRecoveryBody' });
export const DisableBody = z.object({ code: TotpOrRecoveryCode }).strict().meta({ id: 'MfaDisableBody' });

export const LoginMfaBody = z.object({
  mfaToken: z.string().regex(MFA_TOKEN_RE, 'must be the mfaToken from the login response (mfa_…)'),
  code: TotpCode.optional(),
  recoveryCode: RecoveryCode.optional(),
}).strict()
  .refine((b) => (b.code === undefined) !== (b.recoveryCode === undefined), { message: 'send exactly one of code or recoveryCode', path: ['code'] })
  .meta({ id: 'LoginMfaBody' });

export const TotpCompleteBody = z.object({
  challenge: z.string().regex(CHALLENGE_RE, 'must be the challenge from the totp_required answer (ch_…)'),
  code: TotpCode,
}).strict().meta({ id: 'TotpCompleteBody' });

export const MfaSetupResponse = z.object({
  secret: z.string().describe('base32 TOTP secret (160 bits), to type into an authenticator app; shown at setup only'),
  otpauthUri: z.string().describe('otpauth://totp/… URI with issuer, algorithm=SHA1, digits=6, period=30'),
  qrCodeDataUrl: z.string().describe('the otpauthUri as a QR code: data:image/svg+xml;base64,… (usable as an <img src>)'),
}).meta({ id: 'MfaSetupResponse' });

export const MfaEnableResponse = z.object({
  enabled: z.literal(true),
  recoveryCodes: z.array(z.string()).describe('ten single-use recovery codes, shown this once'),
  otherSessionsRevoked: z.number().int().describe('the user\'s other sessions were ended'),
}).meta({ id: 'MfaEnableResponse' });

export const MfaDisableResponse = z.object({
  enabled: z.literal(false),
  otherSessionsRevoked: z.number().int(),
}).meta({ id: 'MfaDisableResponse' });

export const MfaStatusResponse = z.object({
  enabled: z.boolean(),
  recoveryCodesRemaining: z.number().int(),
}).meta({ id: 'MfaStatusResponse' });

export const StepUpResponse = z.object({
  stepUpExpiresAt: z.iso.datetime().describe('gated routes pass without a challenge until then (5 minutes)'),
  accessToken: z.string().describe('a new access token for this session with "otp" in amr'),
  expiresIn: z.number().int(),
}).meta({ id: 'StepUpResponse' });

export const RecoveryStepUpResponse = StepUpResponse.extend({
  recoveryCodesRemaining: z.number().int(),
}).meta({ id: 'RecoveryStepUpResponse' });

export const RecoveryCodesResponse = z.object({
  recoveryCodes: z.array(z.string()).describe('ten new single-use recovery codes, shown this once; the old ones no longer work'),
}).meta({ id: 'RecoveryCodesResponse' });

export const TotpCompleteResponse = z.object({
  completed: z.literal(true),
  method: z.string().describe('repeat this method …'),
  path: z.string().describe('… on this path, with the header X-TOTP-Challenge: <challenge>'),
  expiresAt: z.iso.datetime(),
}).meta({ id: 'TotpCompleteResponse' });
