import type { ModuleDef } from '../module.js';
import { sessionRoutes } from './routes.js';

export const sessionsModule: ModuleDef = {
  name: 'sessions',
  plugin: sessionRoutes,
  discovery: (config) => ({
    refresh: { method: 'POST', path: `${config.basePath}/refresh`, body: { refreshToken: 'string' }, note: 'rotates on every use; reusing an old refresh token ends the session' },
    logout: { method: 'POST', path: `${config.basePath}/logout`, auth: 'Bearer access token' },
    user: { method: 'GET', path: `${config.basePath}/user`, auth: 'Bearer access token or API key' },
    sessions: { list: `GET ${config.basePath}/sessions`, revoke: `DELETE ${config.basePath}/sessions/{id}`, revokeAll: `DELETE ${config.basePath}/sessions (TOTP step-up when MFA is on)` },
  }),
};
