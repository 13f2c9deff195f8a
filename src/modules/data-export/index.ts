import type { ModuleDef } from '../module.js';
import { dataExportRoutes } from './routes.js';

export const dataExportModule: ModuleDef = {
  name: 'dataExport',
  plugin: dataExportRoutes,
  discovery: (config) => ({
    export: {
      method: 'GET', path: `${config.basePath}/user/export`, auth: 'Authorization: Bearer <accessToken>, or an API key with scope user:read',
      returns: '{exportedAt, profile, sessions, apiKeys (masked), memberships, passkeys, wallets, federatedIdentities, mfa, auditEvents}; no secrets or hashes',
    },
  }),
};
